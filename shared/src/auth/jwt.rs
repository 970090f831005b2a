//! The access token: a JWT signed with HS256 (the only algorithm accepted,
//! so `alg: none` or an RS/HS confusion cannot get in), naming the session,
//! its user and org. Issuer, audience and expiry are required and checked.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    config,
    domain::{ACCESS_TOKEN_TTL, OrgId, SessionId, UserId},
};

pub const ISSUER: &str = "chatlogger";
pub const AUDIENCE: &str = "chatlogger-dashboard";
/// HS256 keys shorter than the hash output weaken it; refuse them.
pub const MIN_SECRET_BYTES: usize = 32;
/// The environment variable holding the signing secret. On AWS the template
/// fills it from Secrets Manager; locally `.env.local` sets a dev-only value.
pub const SECRET_VARIABLE: &str = "JWT_SECRET";
/// Clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(transparent)]
    Missing(#[from] config::MissingSetting),
    #[error("{SECRET_VARIABLE} must be at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub org: OrgId,
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and verification keys, built once per container.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Result<Self, JwtConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtConfigError::TooShort);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Reads [`SECRET_VARIABLE`]. There is no default in any environment, so
    /// a deployment without its secret refuses to start.
    pub fn from_env() -> Result<Self, JwtConfigError> {
        Self::new(config::required(SECRET_VARIABLE)?.as_bytes())
    }

    /// A fresh access token for the session.
    pub fn issue(&self, org: OrgId, user: UserId, session: SessionId) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user,
            org,
            sid: session,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The claims of a genuine token, expired or not: only for logout, which
    /// may end a session whose access token has lapsed.
    pub fn verify_allowing_expiry(&self, token: &str) -> Option<AccessClaims> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        jsonwebtoken::decode(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims_with(f: impl FnOnce(&mut AccessClaims)) -> AccessClaims {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: UserId::new(),
            org: OrgId::new(),
            sid: SessionId::new(),
            iat: now,
            exp: now + 60,
        };
        f(&mut claims);
        claims
    }

    fn sign(claims: &AccessClaims, alg: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(SECRET).unwrap();
        let (org, user, session) = (OrgId::new(), UserId::new(), SessionId::new());
        let claims = keys.verify(&keys.issue(org, user, session)).unwrap();
        assert_eq!((claims.org, claims.sub, claims.sid), (org, user, session));
        assert_eq!(claims.exp - claims.iat, ACCESS_TOKEN_TTL.as_secs() as i64);
    }

    #[test]
    fn wrong_issuer_audience_secret_algorithm_or_expiry_is_refused() {
        let keys = JwtKeys::new(SECRET).unwrap();
        let other_secret = b"another secret that is long enough!!";
        let cases = [
            sign(
                &claims_with(|c| c.iss = "evil".into()),
                Algorithm::HS256,
                SECRET,
            ),
            sign(
                &claims_with(|c| c.aud = "other".into()),
                Algorithm::HS256,
                SECRET,
            ),
            sign(&claims_with(|_| ()), Algorithm::HS256, other_secret),
            sign(&claims_with(|_| ()), Algorithm::HS512, SECRET),
            sign(&claims_with(|c| c.exp -= 3600), Algorithm::HS256, SECRET),
        ];
        for token in &cases {
            assert!(keys.verify(token).is_none(), "{token}");
        }
        // An unsigned token (`alg: none`) with valid claims.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims_with(|_| ())).unwrap());
        assert!(keys.verify(&format!("{header}.{body}.")).is_none());
        assert!(keys.verify("not a token").is_none());
    }

    #[test]
    fn logout_accepts_an_expired_but_genuine_token_only() {
        let keys = JwtKeys::new(SECRET).unwrap();
        let expired = claims_with(|c| c.exp -= 3600);
        assert!(
            keys.verify_allowing_expiry(&sign(&expired, Algorithm::HS256, SECRET))
                .is_some()
        );
        assert!(
            keys.verify_allowing_expiry(&sign(
                &expired,
                Algorithm::HS256,
                b"x".repeat(40).as_slice()
            ))
            .is_none()
        );
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::new(b"short"),
            Err(JwtConfigError::TooShort)
        ));
    }
}
