//! The session item (`ORG#<org>` / `SESSION#<ulid>`). It has a file of its
//! own because two entities write it: [`super::sessions`] creates, rotates
//! and revokes sessions, and [`super::users`] puts the caller's session in the
//! same transaction as a password change. Here, both can use it while
//! `sessions` uses `users` (to read a session's user) and not the reverse.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys;
use crate::{
    domain::{OrgId, RefreshTokenHash, Session, SessionId, UserId},
    store::StoreError,
};

/// A dashboard session. `expires_at` is epoch seconds: the table's TTL
/// attribute, so DynamoDB deletes ended sessions on its own.
#[derive(Serialize, Deserialize)]
pub(super) struct SessionItem {
    pk: String,
    sk: String,
    kind: String,
    id: SessionId,
    user_id: UserId,
    epoch: u32,
    refresh_hash: String,
    #[serde(default)]
    previous_refresh_hashes: Vec<String>,
    revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    expires_at: i64,
}

impl SessionItem {
    pub fn new(org: OrgId, session: &Session) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::session_sk(session.id),
            kind: "session".into(),
            id: session.id,
            user_id: session.user_id,
            epoch: session.epoch,
            refresh_hash: session.refresh_hash.as_str().to_owned(),
            previous_refresh_hashes: session
                .previous_refresh_hashes
                .iter()
                .map(|hash| hash.as_str().to_owned())
                .collect(),
            revoked: session.revoked,
            created_at: session.created_at,
            expires_at: session.expires_at.unix_timestamp(),
        }
    }
}

impl TryFrom<SessionItem> for Session {
    type Error = StoreError;

    fn try_from(item: SessionItem) -> Result<Self, StoreError> {
        let expires_at = OffsetDateTime::from_unix_timestamp(item.expires_at)
            .map_err(|e| StoreError::Corrupt(format!("session {}: {e}", item.id)))?;
        Ok(Session {
            id: item.id,
            user_id: item.user_id,
            epoch: item.epoch,
            refresh_hash: RefreshTokenHash::from_stored(item.refresh_hash),
            previous_refresh_hashes: item
                .previous_refresh_hashes
                .into_iter()
                .map(RefreshTokenHash::from_stored)
                .collect(),
            revoked: item.revoked,
            created_at: item.created_at,
            expires_at,
        })
    }
}
