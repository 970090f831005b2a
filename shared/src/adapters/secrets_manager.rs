//! The JWT signing keys, from where the environment says.
//!
//! - **On AWS** the template sets [`SECRET_ID_VARIABLE`] to the Secrets
//!   Manager secret (never the key itself: anyone allowed to read a
//!   function's configuration could read an environment value). Each
//!   container reads the secret's `AWSCURRENT` version (which signs) and its
//!   `AWSPREVIOUS` version (which still verifies) once, at cold start, and
//!   keeps them; [`JwtKeyring`] reads it again after a rotation. The secret
//!   is JSON, `{"signing_key": "<at least 32 bytes>"}`.
//! - **Locally** [`SECRET_VARIABLE`] holds the key itself (`.env.local`).
//!   Setting both is refused, so a deployment cannot quietly carry a plain key.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use serde::Deserialize;

use crate::{
    auth::{
        JwtKeyring,
        jwt::{JwtConfigError, JwtKeys, SECRET_ID_VARIABLE, SECRET_VARIABLE},
        keyring::SigningKeySource,
    },
    sdk_error::SdkFailure,
};

/// The keys the environment names (see the module docs): there is no
/// default anywhere, so a function without them refuses to start.
pub async fn load_jwt_keyring(sdk: &SdkConfig) -> Result<JwtKeyring, JwtConfigError> {
    let setting = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    jwt_keyring(sdk, setting(SECRET_ID_VARIABLE), setting(SECRET_VARIABLE)).await
}

/// [`load_jwt_keyring`] from the values of [`SECRET_ID_VARIABLE`] and
/// [`SECRET_VARIABLE`]: exactly one must be set.
pub async fn jwt_keyring(
    sdk: &SdkConfig,
    secret_id: Option<String>,
    secret: Option<String>,
) -> Result<JwtKeyring, JwtConfigError> {
    match (secret_id, secret) {
        (Some(_), Some(_)) => Err(JwtConfigError::Ambiguous),
        (Some(secret_id), None) => {
            JwtKeyring::from_source(SigningKeySecret::new(Client::new(sdk), secret_id)).await
        }
        (None, Some(secret)) => Ok(JwtKeys::new(secret.as_bytes())?.into()),
        (None, None) => Err(JwtConfigError::Missing),
    }
}

/// A Secrets Manager secret holding the signing key.
pub struct SigningKeySecret {
    client: Client,
    secret_id: String,
}

/// The secret's JSON.
#[derive(Deserialize)]
struct SecretValue {
    signing_key: String,
}

impl SigningKeySecret {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
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

#[async_trait]
impl SigningKeySource for SigningKeySecret {
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
}
