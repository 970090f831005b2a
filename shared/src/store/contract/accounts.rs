//! Orgs, users, API keys, the ingest change feed and the usage counts:
//! unique names claimed once, tenant scoping, listings and their cursors,
//! and the changes ingest caches noted in the feed with them.

use std::collections::BTreeMap;

use serde_json::json;
use time::Duration;

use super::{NOW, api_key, at, every_page, first, org, user};
use crate::{
    clock::{Clock, ManualClock},
    domain::{
        ApiKey, ApiKeyGrant, ApiKeyId, ApiKeyLabel, ApiKeySecret, ApiKeySettings, DisplayName,
        Email, Metadata, Org, OrgId, OrgName, Slug, User, UserId, UserRole,
        ingest_changes::IngestChange,
        limits::{OrgLimits, RateLimit},
    },
    store::{
        ApiKeyChanges, ApiKeyStore, ChangeFeedStore, Claim, HealthStore, OrgChanges, OrgStore,
        PageRequest, StoreError, UsageAdded, UsageStore, UserChanges, UserStore, WindowUsage,
    },
};

/// The org "acme", stored, with one secret key "plugin" stored.
async fn acme_with_key(store: &(impl OrgStore + ApiKeyStore)) -> (Org, ApiKey, ApiKeySecret) {
    let acme = org("acme");
    store.create_org(&acme).await.unwrap();
    let (key, secret) = api_key("plugin", 0);
    store
        .create_api_key(&acme, &key, &secret.hash())
        .await
        .unwrap();
    (acme, key, secret)
}

/// An org claims its slug as it is created: a second org with the slug
/// is refused and nothing of it is written. An id that is taken is a
/// broken id generator, an error, not a taken slug.
pub async fn an_org_claims_its_slug(store: &impl OrgStore, _: &ManualClock) {
    let acme = org("acme");
    assert_eq!(store.create_org(&acme).await.unwrap(), Claim::Created);
    let copycat = org("acme");
    assert_eq!(store.create_org(&copycat).await.unwrap(), Claim::Taken);
    assert_eq!(store.org(copycat.id).await.unwrap(), None);
    assert_eq!(
        store.org_by_slug(&acme.slug).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.org(acme.id).await.unwrap(), Some(acme.clone()));
    let unclaimed = Slug::parse("globex").unwrap();
    assert_eq!(store.org_by_slug(&unclaimed).await.unwrap(), None);

    let same_id = Org {
        slug: unclaimed.clone(),
        ..acme
    };
    assert!(matches!(
        store.create_org(&same_id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.org_by_slug(&unclaimed).await.unwrap(), None);
}

/// The org directory: every org, oldest (id) first, page by page.
pub async fn orgs_are_listed_oldest_first(store: &impl OrgStore, _: &ManualClock) {
    let orgs: Vec<_> = (0..5)
        .map(|n| Org {
            id: OrgId::at(at(n)),
            ..org(&format!("org-{n}"))
        })
        .collect();
    for org in orgs.iter().rev() {
        store.create_org(org).await.unwrap();
    }
    let listed = every_page(2, |page| async move { store.list_orgs(&page).await }).await;
    assert_eq!(listed, orgs);
}

/// An update changes what it names and keeps the rest; a missing org is
/// `None`, and the update does not make one.
pub async fn an_org_update_changes_only_what_it_names(store: &impl OrgStore, _: &ManualClock) {
    let acme = org("acme");
    store.create_org(&acme).await.unwrap();
    let renamed = OrgChanges {
        name: Some(OrgName::parse("Acme Inc").unwrap()),
        ..OrgChanges::default()
    };
    let updated = store.update_org(acme.id, &renamed).await.unwrap().unwrap();
    assert_eq!(updated.name.as_str(), "Acme Inc");
    assert_eq!(
        (updated.settings.clone(), updated.limits),
        (acme.settings, acme.limits)
    );

    let settings = Metadata::parse(json!({ "theme": "dark" })).unwrap();
    let limits = OrgLimits {
        rate_limit: Some(RateLimit::new(50, None)),
        ..OrgLimits::default()
    };
    let configured = OrgChanges {
        settings: Some(settings.clone()),
        limits: Some(limits),
        ..OrgChanges::default()
    };
    let updated = store
        .update_org(acme.id, &configured)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name.as_str(), "Acme Inc");
    assert_eq!((&updated.settings, updated.limits), (&settings, limits));
    assert_eq!(store.org(acme.id).await.unwrap(), Some(updated));

    let nobody = OrgId::new();
    assert_eq!(store.update_org(nobody, &configured).await.unwrap(), None);
    assert_eq!(store.org(nobody).await.unwrap(), None);
}

/// A user claims their address in their org: another user of that org
/// cannot take it, while another org's user with the same address is
/// another account (so creating one reveals nothing about other orgs).
/// The address finds the org's own user only; another org cannot read the
/// user; an id that is taken is an error.
pub async fn an_address_is_claimed_once_per_org(store: &impl UserStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let ann = user("ann@example.com", 0);
    assert_eq!(store.create_user(acme, &ann).await.unwrap(), Claim::Created);
    let twin = user("ann@example.com", 1);
    assert_eq!(store.create_user(acme, &twin).await.unwrap(), Claim::Taken);
    assert_eq!(store.user(acme, twin.id).await.unwrap(), None);
    let elsewhere = user("ann@example.com", 2);
    assert_eq!(
        store.create_user(globex, &elsewhere).await.unwrap(),
        Claim::Created
    );

    assert_eq!(
        store.user_by_email(acme, &ann.email).await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        store.user_by_email(globex, &ann.email).await.unwrap(),
        Some(elsewhere.clone())
    );
    assert_eq!(store.user(acme, ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(store.user(globex, ann.id).await.unwrap(), None);
    let nobody = Email::parse("bob@example.com").unwrap();
    assert_eq!(store.user_by_email(acme, &nobody).await.unwrap(), None);
    assert_eq!(
        store.user_by_email(OrgId::new(), &ann.email).await.unwrap(),
        None
    );

    let same_id = User {
        email: nobody.clone(),
        ..ann
    };
    assert!(matches!(
        store.create_user(acme, &same_id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.user_by_email(acme, &nobody).await.unwrap(), None);
}

/// An org's users, oldest (id) first, page by page; never another org's.
pub async fn users_are_listed_per_org_oldest_first(store: &impl UserStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let users: Vec<_> = (0..5)
        .map(|n| user(&format!("user{n}@acme.example"), n))
        .collect();
    for user in users.iter().rev() {
        store.create_user(acme, user).await.unwrap();
    }
    store
        .create_user(globex, &user("other@globex.example", 2))
        .await
        .unwrap();
    let listed = every_page(2, |page| async move { store.list_users(acme, &page).await }).await;
    assert_eq!(listed, users);
}

/// An update changes what it names; ending sessions bumps the user's
/// session epoch in the same write. Another org's user, or a missing one,
/// is `None` and unchanged.
pub async fn a_user_update_can_end_their_sessions(store: &impl UserStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let ann = user("ann@example.com", 0);
    store.create_user(acme, &ann).await.unwrap();
    let changes = UserChanges {
        display_name: Some(DisplayName::parse("Ann").unwrap()),
        role: Some(UserRole::Viewer),
        disabled: Some(true),
        end_sessions: true,
    };
    assert_eq!(
        store.update_user(globex, ann.id, &changes).await.unwrap(),
        None
    );
    assert_eq!(store.user(globex, ann.id).await.unwrap(), None);

    let updated = store
        .update_user(acme, ann.id, &changes)
        .await
        .unwrap()
        .unwrap();
    let expected = User {
        display_name: Some(DisplayName::parse("Ann").unwrap()),
        role: UserRole::Viewer,
        disabled: true,
        session_epoch: 1,
        ..ann.clone()
    };
    assert_eq!(updated, expected);
    let nothing = UserChanges::default();
    assert_eq!(
        store.update_user(acme, ann.id, &nothing).await.unwrap(),
        Some(expected.clone())
    );
    let again = UserChanges {
        end_sessions: true,
        ..UserChanges::default()
    };
    let ended = store
        .update_user(acme, ann.id, &again)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.session_epoch, 2);
    assert_eq!(
        store
            .update_user(acme, UserId::new(), &again)
            .await
            .unwrap(),
        None
    );
}

/// Deleting a user frees their address in their org; it needs the user in
/// that org, and their address still theirs, else nothing is deleted.
pub async fn deleting_a_user_frees_their_email(store: &impl UserStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let ann = user("ann@example.com", 0);
    store.create_user(acme, &ann).await.unwrap();
    assert!(!store.delete_user(globex, &ann).await.unwrap());
    let elsewhere = User {
        email: Email::parse("someone@example.com").unwrap(),
        ..ann.clone()
    };
    assert!(!store.delete_user(acme, &elsewhere).await.unwrap());
    assert_eq!(store.user(acme, ann.id).await.unwrap(), Some(ann.clone()));

    assert!(store.delete_user(acme, &ann).await.unwrap());
    assert_eq!(store.user(acme, ann.id).await.unwrap(), None);
    assert_eq!(store.user_by_email(acme, &ann.email).await.unwrap(), None);
    assert!(!store.delete_user(acme, &ann).await.unwrap());
    let again = user("ann@example.com", 1);
    assert_eq!(
        store.create_user(acme, &again).await.unwrap(),
        Claim::Created
    );
    assert_eq!(
        store.user_by_email(acme, &ann.email).await.unwrap(),
        Some(again)
    );
}

/// A cursor continues the listing it came from only: another org's
/// listing, or another entity's, refuses it.
pub async fn a_cursor_continues_only_its_own_listing(
    store: &(impl UserStore + ApiKeyStore + OrgStore),
    _: &ManualClock,
) {
    let acme = org("acme");
    store.create_org(&acme).await.unwrap();
    for n in 0..3 {
        store
            .create_user(acme.id, &user(&format!("user{n}@acme.example"), n))
            .await
            .unwrap();
        let (key, secret) = api_key("key", n);
        store
            .create_api_key(&acme, &key, &secret.hash())
            .await
            .unwrap();
    }
    let page = store.list_users(acme.id, &first(1)).await.unwrap();
    let next = PageRequest {
        limit: 1,
        cursor: Some(page.next_cursor.expect("more users")),
    };
    assert_eq!(
        store.list_users(acme.id, &next).await.unwrap().items.len(),
        1
    );
    assert!(matches!(
        store.list_users(OrgId::new(), &next).await,
        Err(StoreError::InvalidCursor)
    ));
    assert!(matches!(
        store.list_api_keys(acme.id, &next).await,
        Err(StoreError::InvalidCursor)
    ));
}

/// A listing goes on past the item its cursor names, even when that item
/// was deleted between two pages.
pub async fn a_listing_goes_on_past_a_deleted_item(store: &impl UserStore, _: &ManualClock) {
    let acme = OrgId::new();
    let users: Vec<_> = (0..3)
        .map(|n| user(&format!("user{n}@acme.example"), n))
        .collect();
    for user in &users {
        store.create_user(acme, user).await.unwrap();
    }
    let page = store.list_users(acme, &first(2)).await.unwrap();
    assert_eq!(page.items, users[..2]);
    assert!(store.delete_user(acme, &users[1]).await.unwrap());
    let next = PageRequest {
        limit: 2,
        cursor: page.next_cursor,
    };
    assert_eq!(
        store.list_users(acme, &next).await.unwrap().items,
        users[2..]
    );
}

/// A key's hash finds its grant (org, slug, key, kind, settings) in one
/// read; the key's metadata is its org's only.
pub async fn an_api_key_is_granted_by_its_hash(
    store: &(impl OrgStore + ApiKeyStore),
    _: &ManualClock,
) {
    let (acme, key, secret) = acme_with_key(store).await;
    assert_eq!(
        store.api_key_grant(&secret.hash()).await.unwrap(),
        Some(ApiKeyGrant {
            org_id: acme.id,
            org_slug: acme.slug.clone(),
            key_id: key.id,
            revoked: false,
            kind: key.kind,
            settings: key.settings.clone(),
        })
    );
    let (_, unknown) = api_key("unknown", 1);
    assert_eq!(store.api_key_grant(&unknown.hash()).await.unwrap(), None);
    assert_eq!(
        store.api_key(acme.id, key.id).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.api_key(OrgId::new(), key.id).await.unwrap(), None);
}

/// Revoking marks the key and its grant, at the store's time; revoking
/// again keeps the first time. Another org cannot revoke it.
pub async fn revoking_a_key_keeps_the_first_time(
    store: &(impl OrgStore + ApiKeyStore),
    clock: &ManualClock,
) {
    let (acme, key, secret) = acme_with_key(store).await;
    let revoked = |grant: Option<ApiKeyGrant>| grant.expect("a grant").revoked;

    assert_eq!(
        store.revoke_api_key(OrgId::new(), key.id).await.unwrap(),
        None
    );
    assert!(!revoked(store.api_key_grant(&secret.hash()).await.unwrap()));

    let first = store
        .revoke_api_key(acme.id, key.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.revoked_at, Some(NOW));
    assert!(revoked(store.api_key_grant(&secret.hash()).await.unwrap()));
    clock.advance(Duration::minutes(1));
    let again = store
        .revoke_api_key(acme.id, key.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(NOW));
    let stored = store.api_key(acme.id, key.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(NOW));
    assert_eq!(
        store
            .revoke_api_key(acme.id, ApiKeyId::new())
            .await
            .unwrap(),
        None
    );
}

/// New settings reach the grant ingest reads, with the key's metadata; a
/// label changes the metadata only. Another org's key, or a missing one,
/// is `None` and unchanged.
pub async fn key_settings_reach_the_grant_and_labels_do_not(
    store: &(impl OrgStore + ApiKeyStore),
    _: &ManualClock,
) {
    let (acme, key, secret) = acme_with_key(store).await;
    let grant = store.api_key_grant(&secret.hash()).await.unwrap();

    let relabelled = ApiKeyChanges {
        label: Some(ApiKeyLabel::parse("widget").unwrap()),
        ..ApiKeyChanges::default()
    };
    let updated = store
        .update_api_key(acme.id, key.id, &relabelled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.label.as_str(), "widget");
    assert_eq!(store.api_key_grant(&secret.hash()).await.unwrap(), grant);

    let settings = ApiKeySettings {
        rate_limit: Some(RateLimit::new(5, None)),
        ..ApiKeySettings::default()
    };
    let limited = ApiKeyChanges {
        settings: Some(settings.clone()),
        ..ApiKeyChanges::default()
    };
    assert_eq!(
        store
            .update_api_key(OrgId::new(), key.id, &limited)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.api_key_grant(&secret.hash()).await.unwrap(), grant);
    let updated = store
        .update_api_key(acme.id, key.id, &limited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.label.as_str(), &updated.settings),
        ("widget", &settings)
    );
    assert_eq!(store.api_key(acme.id, key.id).await.unwrap(), Some(updated));
    let grant = store.api_key_grant(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(grant.settings, settings);
    assert_eq!(
        store
            .update_api_key(acme.id, ApiKeyId::new(), &limited)
            .await
            .unwrap(),
        None
    );
}

/// Ingest's stamp of a key's use lands on the org's key only; a key that
/// does not exist gets no item.
pub async fn touching_a_key_stamps_its_last_use(
    store: &(impl OrgStore + ApiKeyStore),
    _: &ManualClock,
) {
    let (acme, key, _) = acme_with_key(store).await;
    store.touch_api_key(acme.id, key.id, at(60)).await.unwrap();
    let globex = OrgId::new();
    store.touch_api_key(globex, key.id, at(120)).await.unwrap();
    let stored = store.api_key(acme.id, key.id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(at(60)));
    assert_eq!(store.api_key(globex, key.id).await.unwrap(), None);
    let missing = ApiKeyId::new();
    store.touch_api_key(acme.id, missing, at(60)).await.unwrap();
    assert_eq!(store.api_key(acme.id, missing).await.unwrap(), None);
}

/// An org's keys, revoked ones too, oldest (id) first, page by page;
/// never another org's.
pub async fn api_keys_are_listed_per_org_revoked_ones_too(
    store: &(impl OrgStore + ApiKeyStore),
    _: &ManualClock,
) {
    let (acme, globex) = (org("acme"), org("globex"));
    store.create_org(&acme).await.unwrap();
    store.create_org(&globex).await.unwrap();
    let mut keys = Vec::new();
    for n in (0..5).rev() {
        let (key, secret) = api_key(&format!("key {n}"), n);
        store
            .create_api_key(&acme, &key, &secret.hash())
            .await
            .unwrap();
        keys.insert(0, key);
    }
    let (other, secret) = api_key("globex", 2);
    store
        .create_api_key(&globex, &other, &secret.hash())
        .await
        .unwrap();
    keys[1] = store
        .revoke_api_key(acme.id, keys[1].id)
        .await
        .unwrap()
        .unwrap();

    let acme_id = acme.id;
    let listed = every_page(2, |page| async move {
        store.list_api_keys(acme_id, &page).await
    })
    .await;
    assert_eq!(listed, keys);
}

/// A change of what ingest caches (an org's limits, a key's settings or
/// revocation) is noted in the feed with the change, at the store's time;
/// a change ingest does not read (names, labels) or of nothing is not.
pub async fn the_change_feed_notes_what_ingest_caches(
    store: &(impl OrgStore + ApiKeyStore + ChangeFeedStore),
    clock: &ManualClock,
) {
    let (acme, key, secret) = acme_with_key(store).await;
    let last = || async {
        let feed = store.change_feed().await.unwrap();
        assert_eq!(
            feed.entries.last().map(|entry| entry.seq),
            Some(feed.seq).filter(|seq| *seq > 0)
        );
        (
            feed.seq,
            feed.entries.last().map(|entry| (entry.change, entry.at)),
        )
    };
    assert_eq!(last().await, (0, None), "nothing noted yet");
    assert_eq!(store.change_feed().await.unwrap().epoch, None);

    let renamed = OrgChanges {
        name: Some(OrgName::parse("Acme 2").unwrap()),
        ..OrgChanges::default()
    };
    store.update_org(acme.id, &renamed).await.unwrap();
    let relabelled = ApiKeyChanges {
        label: Some(ApiKeyLabel::parse("k2").unwrap()),
        ..ApiKeyChanges::default()
    };
    store
        .update_api_key(acme.id, key.id, &relabelled)
        .await
        .unwrap();
    assert_eq!(
        last().await,
        (0, None),
        "names and labels: nothing ingest reads"
    );

    let limited = OrgChanges {
        limits: Some(OrgLimits {
            rate_limit: Some(RateLimit::new(50, None)),
            ..OrgLimits::default()
        }),
        ..OrgChanges::default()
    };
    let updated = store.update_org(acme.id, &limited).await.unwrap().unwrap();
    assert_eq!(updated.limits, limited.limits.unwrap());
    assert_eq!(updated.name.as_str(), "Acme 2");
    assert_eq!(last().await, (1, Some((IngestChange::Org(acme.id), NOW))));
    let epoch = store.change_feed().await.unwrap().epoch;
    assert!(epoch.is_some(), "the first entry begins the feed");

    clock.advance(Duration::seconds(1));
    let settings = ApiKeyChanges {
        settings: Some(ApiKeySettings {
            rate_limit: Some(RateLimit::new(5, None)),
            ..ApiKeySettings::default()
        }),
        ..ApiKeyChanges::default()
    };
    store
        .update_api_key(acme.id, key.id, &settings)
        .await
        .unwrap();
    let hash = IngestChange::ApiKey(secret.hash());
    assert_eq!(last().await, (2, Some((hash, clock.now()))));

    clock.advance(Duration::seconds(1));
    store.revoke_api_key(acme.id, key.id).await.unwrap();
    assert_eq!(last().await, (3, Some((hash, clock.now()))));

    // A missing org or key: nothing changes, nothing is noted.
    assert_eq!(
        store.update_org(OrgId::new(), &limited).await.unwrap(),
        None
    );
    let missing = ApiKeyId::new();
    assert_eq!(store.revoke_api_key(acme.id, missing).await.unwrap(), None);
    assert_eq!(last().await.0, 3);
    assert_eq!(store.change_feed().await.unwrap().epoch, epoch, "one feed");
}

/// The rate limiter's shared counts add up per org, window and key, and a
/// report answers the counts of the keys it names.
pub async fn usage_adds_up_per_org_window_and_key(store: &impl UsageStore, _: &ManualClock) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let (k1, k2) = (ApiKeyId::at(at(0)), ApiKeyId::at(at(1)));
    let usage = |org, keys: &[(ApiKeyId, u64)]| WindowUsage {
        org,
        keys: keys.iter().copied().collect::<BTreeMap<_, _>>(),
    };
    assert_eq!(
        store
            .add_usage(acme, 100, 3, &[(k1, 2), (k2, 1)])
            .await
            .unwrap(),
        usage(3, &[(k1, 2), (k2, 1)])
    );
    assert_eq!(
        store.add_usage(acme, 100, 4, &[(k1, 4)]).await.unwrap(),
        usage(7, &[(k1, 6)])
    );
    assert_eq!(
        store.add_usage(acme, 101, 1, &[]).await.unwrap(),
        usage(1, &[])
    );
    assert_eq!(
        store.add_usage(globex, 100, 5, &[(k2, 5)]).await.unwrap(),
        usage(5, &[(k2, 5)])
    );
    assert_eq!(
        store.add_usage(acme, 100, 0, &[(k2, 0)]).await.unwrap(),
        usage(7, &[(k2, 1)])
    );
}

/// A capped report adds everything while the capped key stays within its
/// cap, and nothing (answering every count as it stands) once it would not;
/// a window nobody reported to reads as zeros.
pub async fn a_capped_report_adds_nothing_past_its_cap(store: &impl UsageStore, _: &ManualClock) {
    let org = OrgId::new();
    let (capped, other) = (ApiKeyId::at(at(0)), ApiKeyId::at(at(1)));
    assert_eq!(
        store.window_usage(org, 7).await.unwrap(),
        WindowUsage::default()
    );
    let added = store
        .add_usage_within(org, 7, 5, &[(capped, 4), (other, 1)], capped, 10)
        .await
        .unwrap();
    let expected = WindowUsage {
        org: 5,
        keys: BTreeMap::from([(capped, 4), (other, 1)]),
    };
    assert_eq!(added, UsageAdded::Added(expected.clone()));
    // 4 + 6 is the cap: still added.
    let at_cap = store
        .add_usage_within(org, 7, 6, &[(capped, 6)], capped, 10)
        .await
        .unwrap();
    assert_eq!(
        at_cap,
        UsageAdded::Added(WindowUsage {
            org: 11,
            keys: BTreeMap::from([(capped, 10)]),
        })
    );
    // One more would pass it: nothing is written, every count is answered.
    let stands = WindowUsage {
        org: 11,
        keys: BTreeMap::from([(capped, 10), (other, 1)]),
    };
    assert_eq!(
        store
            .add_usage_within(org, 7, 1, &[(capped, 1), (other, 1)], capped, 10)
            .await
            .unwrap(),
        UsageAdded::OverCap(stands.clone())
    );
    // More than the cap at once, even on an empty window: nothing written.
    assert_eq!(
        store
            .add_usage_within(org, 8, 11, &[(capped, 11)], capped, 10)
            .await
            .unwrap(),
        UsageAdded::OverCap(WindowUsage::default())
    );
    assert_eq!(store.window_usage(org, 7).await.unwrap(), stands);
    assert_eq!(
        store.window_usage(org, 8).await.unwrap(),
        WindowUsage::default()
    );
}

/// The health check's one call answers.
pub async fn the_store_answers_a_ping(store: &impl HealthStore, _: &ManualClock) {
    store.ping().await.unwrap();
}
