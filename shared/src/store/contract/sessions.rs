//! Sessions, their epochs and refresh rotation, password changes, and the
//! sign-in throttle's counters.

use super::{NOW, password_hash, refresh_hash, session, user};
use crate::{
    clock::ManualClock,
    domain::{OrgId, Session, SessionId, UserId},
    store::{LoginThrottleStore, SessionStore, StoreError, UserStore},
};

/// A session is read alone, or with its user in one read; another org
/// has neither. Creating it again is its own retry; another session with
/// its id is an error.
pub async fn a_session_is_read_with_its_user(
    store: &(impl UserStore + SessionStore),
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let ann = user("ann@example.com", 0);
    store.create_user(acme, &ann).await.unwrap();
    let signed_in = session(&ann, 0);
    store.create_session(acme, &signed_in).await.unwrap();
    let found = Some(signed_in.clone());
    assert_eq!(store.session(acme, signed_in.id).await.unwrap(), found);
    assert_eq!(store.session(globex, signed_in.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_and_user(acme, signed_in.id, ann.id)
            .await
            .unwrap(),
        (found.clone(), Some(ann.clone()))
    );
    assert_eq!(
        store
            .session_and_user(acme, signed_in.id, UserId::new())
            .await
            .unwrap(),
        (found.clone(), None)
    );
    assert_eq!(
        store
            .session_and_user(globex, signed_in.id, ann.id)
            .await
            .unwrap(),
        (None, None)
    );

    store.create_session(acme, &signed_in).await.unwrap();
    let other = Session {
        refresh_hash: refresh_hash("other"),
        ..signed_in.clone()
    };
    assert!(matches!(
        store.create_session(acme, &other).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.session(acme, signed_in.id).await.unwrap(), found);
}

/// A refresh rotates from the hash it read, once: a second rotation from
/// that hash (a copied token) is refused. The session remembers the hash
/// it rotated away from.
pub async fn a_refresh_token_rotates_once(store: &impl SessionStore, _: &ManualClock) {
    let acme = OrgId::new();
    let signed_in = session(&user("ann@example.com", 0), 0);
    store.create_session(acme, &signed_in).await.unwrap();
    let (one, two) = (refresh_hash("one"), refresh_hash("two"));
    assert!(store.rotate_refresh(acme, &signed_in, &one).await.unwrap());
    let rotated = store.session(acme, signed_in.id).await.unwrap().unwrap();
    assert_eq!(rotated.refresh_hash, one);
    assert_eq!(
        rotated.previous_refresh_hashes,
        vec![signed_in.refresh_hash.clone()]
    );

    assert!(!store.rotate_refresh(acme, &signed_in, &two).await.unwrap());
    assert!(
        !store
            .rotate_refresh(OrgId::new(), &rotated, &two)
            .await
            .unwrap()
    );
    let stored = store.session(acme, signed_in.id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_hash, one);
    assert!(store.rotate_refresh(acme, &rotated, &two).await.unwrap());
    let stored = store.session(acme, signed_in.id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_hash, two);
    assert_eq!(
        stored.previous_refresh_hashes,
        vec![one, signed_in.refresh_hash]
    );
}

/// A revoked session stays revoked and cannot rotate; revoking a session
/// that does not exist (or in another org) writes nothing.
pub async fn a_revoked_session_cannot_rotate(store: &impl SessionStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let signed_in = session(&user("ann@example.com", 0), 0);
    store.create_session(acme, &signed_in).await.unwrap();
    store.revoke_session(acme, signed_in.id).await.unwrap();
    store.revoke_session(acme, signed_in.id).await.unwrap();
    let stored = store.session(acme, signed_in.id).await.unwrap().unwrap();
    assert!(stored.revoked);
    assert!(
        !store
            .rotate_refresh(acme, &signed_in, &refresh_hash("next"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.session(acme, signed_in.id).await.unwrap(),
        Some(stored)
    );

    store.revoke_session(globex, signed_in.id).await.unwrap();
    assert_eq!(store.session(globex, signed_in.id).await.unwrap(), None);
    let missing = SessionId::new();
    store.revoke_session(acme, missing).await.unwrap();
    assert_eq!(store.session(acme, missing).await.unwrap(), None);
}

/// A password change stores the hash and moves the user to the kept
/// session's epoch (ending every other session), replacing the kept
/// session in the same write. A change from a stale read of the user is
/// refused.
pub async fn a_password_change_keeps_one_session(
    store: &(impl UserStore + SessionStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let ann = user("ann@example.com", 0);
    store.create_user(acme, &ann).await.unwrap();
    let (this, other) = (session(&ann, 0), session(&ann, 0));
    store.create_session(acme, &this).await.unwrap();
    store.create_session(acme, &other).await.unwrap();
    let keep = Session {
        epoch: 1,
        refresh_hash: refresh_hash("renewed"),
        previous_refresh_hashes: vec![this.refresh_hash.clone()],
        ..this.clone()
    };
    let changed = password_hash("changed");
    assert!(
        store
            .change_password(acme, &ann, &changed, &keep)
            .await
            .unwrap()
    );
    let stored = store.user(acme, ann.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.session_epoch),
        (changed.as_str(), 1)
    );
    assert_eq!(
        store.session(acme, this.id).await.unwrap(),
        Some(keep.clone())
    );
    assert_eq!(store.session(acme, other.id).await.unwrap(), Some(other));

    let stale = password_hash("stale");
    assert!(
        !store
            .change_password(acme, &ann, &stale, &keep)
            .await
            .unwrap()
    );
    let stored = store.user(acme, ann.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_str(), changed.as_str());
}

/// The kept session must exist, unrevoked: else the password change
/// writes nothing.
pub async fn a_password_change_needs_a_live_session(
    store: &(impl UserStore + SessionStore),
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let ann = user("ann@example.com", 0);
    store.create_user(acme, &ann).await.unwrap();
    let revoked = session(&ann, 0);
    store.create_session(acme, &revoked).await.unwrap();
    store.revoke_session(acme, revoked.id).await.unwrap();
    let changed = password_hash("changed");
    let keep = Session {
        epoch: 1,
        ..revoked.clone()
    };
    assert!(
        !store
            .change_password(acme, &ann, &changed, &keep)
            .await
            .unwrap()
    );
    let never = Session {
        epoch: 1,
        ..session(&ann, 0)
    };
    assert!(
        !store
            .change_password(acme, &ann, &changed, &never)
            .await
            .unwrap()
    );
    assert_eq!(store.session(acme, never.id).await.unwrap(), None);
    assert_eq!(store.user(acme, ann.id).await.unwrap(), Some(ann));
    let stored = store.session(acme, revoked.id).await.unwrap().unwrap();
    assert_eq!((stored.epoch, stored.revoked), (0, true));
}

/// Attempts count per key and window up to the limit, at once (an
/// attempt past it is refused and not counted); a released attempt frees
/// its place. Other keys and windows count apart.
pub async fn sign_in_attempts_stop_at_the_limit(store: &impl LoginThrottleStore, _: &ManualClock) {
    let expires = NOW + time::Duration::minutes(15);
    let reserve = |key: &'static str, window| async move {
        store
            .reserve_login_attempt(key, window, 3, expires)
            .await
            .unwrap()
    };
    for n in 1..=3 {
        assert_eq!(reserve("email:ann", 7).await, Some(n));
    }
    assert_eq!(reserve("email:ann", 7).await, None);
    assert_eq!(reserve("email:ann", 7).await, None);
    store.release_login_attempt("email:ann", 7).await.unwrap();
    assert_eq!(reserve("email:ann", 7).await, Some(3));
    assert_eq!(reserve("email:ann", 7).await, None);
    assert_eq!(reserve("email:ann", 8).await, Some(1));
    assert_eq!(reserve("ip:192.0.2.1", 7).await, Some(1));
}

/// Releasing never takes a count below zero, and makes no counter.
pub async fn releasing_an_unused_attempt_changes_nothing(
    store: &impl LoginThrottleStore,
    _: &ManualClock,
) {
    let expires = NOW + time::Duration::minutes(15);
    store.release_login_attempt("email:ann", 7).await.unwrap();
    let reserve = || store.reserve_login_attempt("email:ann", 7, 2, expires);
    assert_eq!(reserve().await.unwrap(), Some(1));
    store.release_login_attempt("email:ann", 7).await.unwrap();
    store.release_login_attempt("email:ann", 7).await.unwrap();
    assert_eq!(reserve().await.unwrap(), Some(1));
    assert_eq!(reserve().await.unwrap(), Some(2));
    assert_eq!(reserve().await.unwrap(), None);
}
