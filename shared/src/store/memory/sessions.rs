//! Sessions and sign-in attempt counters in memory, with the DynamoDB
//! adapter's conditions: a refresh rotates only from the hash it read and
//! never on a revoked session; a counter grows only below its limit (a
//! counter not stored yet takes its first attempt whatever the limit) and
//! shrinks only above zero.

use std::collections::{btree_map, hash_map};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::MemoryStore;
use crate::{
    domain::{OrgId, RefreshTokenHash, Session, SessionId, User, UserId},
    store::{LoginThrottleStore, SessionStore, StoreError, StoreResult},
};

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, org: OrgId, session: &Session) -> StoreResult<()> {
        match self.data().sessions.entry((org, session.id)) {
            btree_map::Entry::Vacant(entry) => {
                entry.insert(session.clone());
                Ok(())
            }
            // Its own write, retried after the answer was lost.
            btree_map::Entry::Occupied(stored) if stored.get() == session => Ok(()),
            btree_map::Entry::Occupied(_) => Err(StoreError::Corrupt(format!(
                "session id {} collided",
                session.id
            ))),
        }
    }

    async fn session(&self, org: OrgId, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self.data().sessions.get(&(org, id)).cloned())
    }

    async fn session_and_user(
        &self,
        org: OrgId,
        session: SessionId,
        user: UserId,
    ) -> StoreResult<(Option<Session>, Option<User>)> {
        let data = self.data();
        Ok((
            data.sessions.get(&(org, session)).cloned(),
            data.users.get(&(org, user)).cloned(),
        ))
    }

    async fn rotate_refresh(
        &self,
        org: OrgId,
        session: &Session,
        next: &RefreshTokenHash,
    ) -> StoreResult<bool> {
        let mut data = self.data();
        match data.sessions.get_mut(&(org, session.id)) {
            Some(stored) if stored.refresh_hash == session.refresh_hash && !stored.revoked => {
                stored.previous_refresh_hashes = session.rotated_history();
                stored.refresh_hash = next.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_session(&self, org: OrgId, session: SessionId) -> StoreResult<()> {
        if let Some(stored) = self.data().sessions.get_mut(&(org, session)) {
            stored.revoked = true;
        }
        Ok(())
    }
}

#[async_trait]
impl LoginThrottleStore for MemoryStore {
    async fn reserve_login_attempt(
        &self,
        key: &str,
        window: u64,
        limit: u32,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<Option<u32>> {
        let mut data = self.data();
        let attempts = data.login_attempts.entry((key.to_owned(), window));
        match attempts {
            hash_map::Entry::Vacant(entry) => Ok(Some(*entry.insert(1))),
            hash_map::Entry::Occupied(mut entry) if *entry.get() < limit => {
                *entry.get_mut() += 1;
                Ok(Some(*entry.get()))
            }
            hash_map::Entry::Occupied(_) => Ok(None),
        }
    }

    async fn release_login_attempt(&self, key: &str, window: u64) -> StoreResult<()> {
        let mut data = self.data();
        if let Some(attempts) = data
            .login_attempts
            .get_mut(&(key.to_owned(), window))
            .filter(|attempts| **attempts >= 1)
        {
            *attempts -= 1;
        }
        Ok(())
    }
}
