//! Dashboard sessions (`ORG#<org>` / `SESSION#<ulid>`, expired by the
//! table's TTL) and the sign-in attempt counters
//! (`LOGIN#<sha256>` / `WINDOW#<n>`, expired by TTL too).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, number, s},
    from_item, keys,
    requests::key,
    session_item::SessionItem,
    to_item,
    users::{user_from, user_key},
};
use crate::{
    domain::{OrgId, RefreshTokenHash, Session, SessionId, User, UserId},
    store::{LoginThrottleStore, Read, SessionStore, StoreError, StoreResult},
};

fn session_from(item: Item) -> StoreResult<Session> {
    from_item::<SessionItem>(item).and_then(Session::try_from)
}

fn session_key(org: OrgId, id: SessionId) -> Item {
    key(keys::org_pk(org), keys::session_sk(id))
}

fn login_attempts_key(throttle_key: &str, window: u64) -> Item {
    key(
        keys::login_attempts_pk(throttle_key),
        keys::login_window_sk(window),
    )
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, org: OrgId, session: &Session) -> StoreResult<()> {
        match self
            .put_if_new(to_item(&SessionItem::new(org, session))?)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt(format!(
                "session id {} collided",
                session.id
            ))),
        }
    }

    async fn session(&self, org: OrgId, id: SessionId) -> StoreResult<Option<Session>> {
        self.get(session_key(org, id), Read::Consistent)
            .await?
            .map(session_from)
            .transpose()
    }

    async fn session_and_user(
        &self,
        org: OrgId,
        session: SessionId,
        user: UserId,
    ) -> StoreResult<(Option<Session>, Option<User>)> {
        let (session_sk, user_sk) = (keys::session_sk(session), keys::user_sk(user));
        let items = self
            .get_many(
                vec![session_key(org, session), user_key(org, user)],
                Read::Consistent,
            )
            .await?;
        let (mut found_session, mut found_user) = (None, None);
        for item in items {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned();
            if sk.as_deref() == Some(session_sk.as_str()) {
                found_session = Some(session_from(item)?);
            } else if sk.as_deref() == Some(user_sk.as_str()) {
                found_user = Some(user_from(item)?);
            }
        }
        Ok((found_session, found_user))
    }

    async fn rotate_refresh(
        &self,
        org: OrgId,
        session: &Session,
        next: &RefreshTokenHash,
    ) -> StoreResult<bool> {
        let history = session
            .rotated_history()
            .into_iter()
            .map(|hash| s(hash.as_str()))
            .collect();
        let update = Update::default()
            .set("refresh_hash", s(next.as_str()))
            .set("previous_refresh_hashes", AttributeValue::L(history))
            .when(
                Cond::Eq("refresh_hash", s(session.refresh_hash.as_str()))
                    .and(Cond::Eq("revoked", AttributeValue::Bool(false))),
            );
        let updated = self.update(session_key(org, session.id), update).await?;
        Ok(updated.applied().is_some())
    }

    async fn revoke_session(&self, org: OrgId, session: SessionId) -> StoreResult<()> {
        let update = Update::default()
            .set("revoked", AttributeValue::Bool(true))
            .when(Cond::Exists);
        self.update(session_key(org, session), update).await?;
        Ok(())
    }
}

#[async_trait]
impl LoginThrottleStore for DynamoStore {
    async fn reserve_login_attempt(
        &self,
        throttle_key: &str,
        window: u64,
        limit: u32,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Option<u32>> {
        let expiry = Update::default().set("expires_at", number(expires_at.unix_timestamp()));
        self.count_up_to(
            login_attempts_key(throttle_key, window),
            "attempts",
            limit,
            expiry,
        )
        .await
    }

    async fn release_login_attempt(&self, throttle_key: &str, window: u64) -> StoreResult<()> {
        let update = Update::default()
            .increment("attempts", -1)
            .when(Cond::Ge("attempts", number(1)));
        self.update(login_attempts_key(throttle_key, window), update)
            .await?;
        Ok(())
    }
}
