//! Where the JWT signing keys come from, and how a warm container learns of
//! a rotation.
//!
//! - **On AWS** the template sets [`SECRET_ID_VARIABLE`] to the Secrets
//!   Manager secret (never the key itself: anyone allowed to read a
//!   function's configuration could read an environment value). Each
//!   container reads the secret's `AWSCURRENT` version (which signs) and its
//!   `AWSPREVIOUS` version (which still verifies) once, at cold start, and
//!   keeps them. The secret is JSON, `{"signing_key": "<at least 32 bytes>"}`.
//! - **Locally** [`SECRET_VARIABLE`] holds the key itself (`.env.local`).
//!   Setting both is refused, so a deployment cannot quietly carry a plain key.
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

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use serde::Deserialize;

use super::jwt::{AccessClaims, JwtConfigError, JwtKeys, SECRET_ID_VARIABLE, SECRET_VARIABLE};
use crate::{
    domain::{OrgId, SessionId, UserId},
    sdk_error::SdkFailure,
};

/// The least time between two reads of the secret by one container.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// The JWT keys of a container, and (on AWS) where to reload them from.
pub struct JwtKeyring {
    keys: RwLock<Arc<JwtKeys>>,
    source: Option<SecretSource>,
    reload_interval: Duration,
}

/// A Secrets Manager secret holding the signing key.
struct SecretSource {
    client: Client,
    secret_id: String,
    /// When the secret was last read (a reload waits its turn here).
    last_read: tokio::sync::Mutex<Instant>,
}

/// The secret's JSON.
#[derive(Deserialize)]
struct SecretValue {
    signing_key: String,
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
    /// The keys the environment names (see the module docs): there is no
    /// default anywhere, so a function without them refuses to start.
    pub async fn load(sdk: &SdkConfig) -> Result<Self, JwtConfigError> {
        let setting = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Self::from_settings(sdk, setting(SECRET_ID_VARIABLE), setting(SECRET_VARIABLE)).await
    }

    /// [`Self::load`] from the values of [`SECRET_ID_VARIABLE`] and
    /// [`SECRET_VARIABLE`]: exactly one must be set.
    pub async fn from_settings(
        sdk: &SdkConfig,
        secret_id: Option<String>,
        secret: Option<String>,
    ) -> Result<Self, JwtConfigError> {
        match (secret_id, secret) {
            (Some(_), Some(_)) => Err(JwtConfigError::Ambiguous),
            (Some(secret_id), None) => {
                Self::from_secrets_manager(Client::new(sdk), secret_id).await
            }
            (None, Some(secret)) => Ok(JwtKeys::new(secret.as_bytes())?.into()),
            (None, None) => Err(JwtConfigError::Missing),
        }
    }

    /// Reads the secret's current and previous versions.
    pub async fn from_secrets_manager(
        client: Client,
        secret_id: impl Into<String>,
    ) -> Result<Self, JwtConfigError> {
        let source = SecretSource {
            client,
            secret_id: secret_id.into(),
            last_read: tokio::sync::Mutex::new(Instant::now()),
        };
        let keys = source.read().await?;
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
            source: Some(source),
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
        let Some(source) = &self.source else {
            return false;
        };
        let mut last_read = source.last_read.lock().await;
        if last_read.elapsed() < self.reload_interval {
            return false;
        }
        *last_read = Instant::now();
        match source.read().await {
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

impl SecretSource {
    /// `AWSCURRENT` signs; `AWSPREVIOUS`, when there is one, verifies. Both
    /// reads run at once.
    async fn read(&self) -> Result<JwtKeys, JwtConfigError> {
        let (current, previous) =
            tokio::join!(self.version("AWSCURRENT"), self.version("AWSPREVIOUS"));
        let current = current?.ok_or_else(|| {
            JwtConfigError::Malformed(format!("{} has no current version", self.secret_id))
        })?;
        let previous = previous?;
        JwtKeys::rotated(current.as_bytes(), previous.as_deref().map(str::as_bytes))
    }

    /// The signing key of one version stage; `None` when no version has it.
    async fn version(&self, stage: &str) -> Result<Option<String>, JwtConfigError> {
        let output = match self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                    && stage != "AWSCURRENT" =>
            {
                return Ok(None);
            }
            Err(error) => return Err(JwtConfigError::SecretsManager(SdkFailure::new(&error))),
        };
        let text = output.secret_string().ok_or_else(|| {
            JwtConfigError::Malformed(format!("{} ({stage}) is not text", self.secret_id))
        })?;
        let value: SecretValue = serde_json::from_str(text).map_err(|_| {
            // The serde error could quote the secret: say what is expected instead.
            JwtConfigError::Malformed(format!(
                "{} ({stage}) must be JSON with a string field signing_key",
                self.secret_id
            ))
        })?;
        Ok(Some(value.signing_key))
    }
}
