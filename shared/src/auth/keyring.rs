//! The JWT keys of a container, and how a warm container learns of a
//! rotation. Where they come from (a Secrets Manager secret on AWS, a plain
//! key locally) is chosen at start-up: see
//! `crate::adapters::secrets_manager::load_jwt_keyring`.
//!
//! **Rotation.** Putting a new secret value makes it `AWSCURRENT` and the
//! old one `AWSPREVIOUS`. New containers sign with the new key and still
//! accept tokens of the old one. A warm container meeting a token whose
//! `kid` it does not know reads the secret again, at most once per
//! [`MIN_RELOAD_INTERVAL`] (so forged `kid`s cost at most one read a
//! minute), and from then on knows the new key. Rotate at most once per
//! access-token lifetime (15 minutes), or tokens of the key before the
//! previous one stop verifying early (their users refresh).

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::jwt::{AccessClaims, JwtConfigError, JwtKeys};
use crate::domain::{OrgId, SessionId, UserId};

/// The least time between two reads of the secret by one container.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// The JWT keys of a container, and (on AWS) where to reload them from.
pub struct JwtKeyring {
    keys: RwLock<Arc<JwtKeys>>,
    source: Option<Reloadable>,
    reload_interval: Duration,
}

/// Where the signing keys are read from, again after a rotation: Secrets
/// Manager on AWS (`crate::adapters::secrets_manager`).
#[async_trait]
pub trait SigningKeySource: Send + Sync {
    /// The keys as stored now: the current one signs, the previous one (if
    /// any) still verifies.
    async fn read(&self) -> Result<JwtKeys, JwtConfigError>;
}

/// A key source, and when it was last read (a reload waits its turn here).
struct Reloadable {
    source: Box<dyn SigningKeySource>,
    last_read: tokio::sync::Mutex<Instant>,
}

impl From<JwtKeys> for JwtKeyring {
    /// Fixed keys (the local stack's `JWT_SECRET`, tests): nothing to reload.
    fn from(keys: JwtKeys) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            source: None,
            reload_interval: MIN_RELOAD_INTERVAL,
        }
    }
}

impl JwtKeyring {
    /// The keys `source` holds now, read again when a token names a key
    /// this container does not know.
    pub async fn from_source(
        source: impl SigningKeySource + 'static,
    ) -> Result<Self, JwtConfigError> {
        let keys = source.read().await?;
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
            source: Some(Reloadable {
                source: Box::new(source),
                last_read: tokio::sync::Mutex::new(Instant::now()),
            }),
            reload_interval: MIN_RELOAD_INTERVAL,
        })
    }

    /// The same, reloading at most once per `interval` (tests shorten it).
    pub fn with_reload_interval(self, interval: Duration) -> Self {
        Self {
            reload_interval: interval,
            ..self
        }
    }

    /// The keys as they are now.
    pub fn keys(&self) -> Arc<JwtKeys> {
        self.keys
            .read()
            .expect("the key lock is never poisoned")
            .clone()
    }

    /// A fresh access token, signed with the current key.
    pub fn issue(&self, org: OrgId, user: UserId, session: SessionId) -> String {
        self.keys().issue(org, user, session)
    }

    /// The claims of a valid, unexpired token.
    pub async fn verify(&self, token: &str) -> Option<AccessClaims> {
        self.checked(token, JwtKeys::verify).await
    }

    /// The claims of a genuine token, expired or not (logout).
    pub async fn verify_allowing_expiry(&self, token: &str) -> Option<AccessClaims> {
        self.checked(token, JwtKeys::verify_allowing_expiry).await
    }

    async fn checked(
        &self,
        token: &str,
        check: fn(&JwtKeys, &str) -> Option<AccessClaims>,
    ) -> Option<AccessClaims> {
        let keys = self.keys();
        if keys.knows(token) {
            return check(&keys, token);
        }
        // Signed by a key newer than this container's, or forged.
        if !self.reload().await {
            return None;
        }
        check(&self.keys(), token)
    }

    /// Reads the secret again unless that was done within
    /// [`MIN_RELOAD_INTERVAL`]; true when the keys changed.
    async fn reload(&self) -> bool {
        let Some(reloadable) = &self.source else {
            return false;
        };
        let mut last_read = reloadable.last_read.lock().await;
        if last_read.elapsed() < self.reload_interval {
            return false;
        }
        *last_read = Instant::now();
        match reloadable.source.read().await {
            Ok(keys) => {
                let changed = keys.current_id() != self.keys().current_id();
                if changed {
                    tracing::info!(kid = keys.current_id(), "JWT signing key rotated");
                }
                *self.keys.write().expect("the key lock is never poisoned") = Arc::new(keys);
                changed
            }
            Err(error) => {
                tracing::warn!(error = ?error, "could not reload the JWT signing keys");
                false
            }
        }
    }
}
