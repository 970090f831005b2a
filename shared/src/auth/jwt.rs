//! The access token: a JWT signed with HS256 (the only algorithm accepted,
//! so `alg: none` or an RS/HS confusion cannot get in), naming the session,
//! its user and org. Issuer, audience and expiry are required and checked.
//!
//! Every token names its key in the `kid` header (a fingerprint of the key),
//! and [`JwtKeys`] holds the current key, which signs, and the previous one,
//! which still verifies: a key rotation does not sign anyone out. Where the
//! keys come from is [`super::keyring`]'s concern.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    domain::{ACCESS_TOKEN_TTL, OrgId, SessionId, UserId},
    sdk_error::SdkFailure,
};

pub const ISSUER: &str = "chatlogger";
pub const AUDIENCE: &str = "chatlogger-dashboard";
/// HS256 keys shorter than the hash output weaken it; refuse them.
pub const MIN_SECRET_BYTES: usize = 32;
/// The environment variable holding the signing key itself: the local stack
/// (`.env.local`, a dev-only value) and tests.
pub const SECRET_VARIABLE: &str = "JWT_SECRET";
/// The environment variable naming the Secrets Manager secret (ARN or name)
/// that holds the signing key: what the template sets on AWS.
pub const SECRET_ID_VARIABLE: &str = "JWT_SECRET_ID";
/// Clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error(
        "set {SECRET_ID_VARIABLE} (the Secrets Manager secret holding the JWT signing key) or, for the local stack only, {SECRET_VARIABLE}"
    )]
    Missing,
    #[error(
        "{SECRET_ID_VARIABLE} and {SECRET_VARIABLE} are both set: a deployment names its secret and must not carry the key itself"
    )]
    Ambiguous,
    #[error("the JWT signing key must be at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
    #[error("could not read the JWT signing key from Secrets Manager: {0}")]
    SecretsManager(#[source] SdkFailure),
    #[error("the JWT secret {0}")]
    Malformed(String),
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

/// One signing key and its id, the `kid` of the tokens it signs.
struct Key {
    id: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(secret: &[u8]) -> Result<Self, JwtConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtConfigError::TooShort);
        }
        Ok(Self {
            id: key_id(secret),
            // Only an empty secret is refused, and the length check is above.
            encoding: EncodingKey::from_secret(secret).map_err(|_| JwtConfigError::TooShort)?,
            decoding: DecodingKey::from_secret(secret).map_err(|_| JwtConfigError::TooShort)?,
        })
    }
}

/// A key's id: the first 16 hex digits of its SHA-256. It names the key in
/// every token, so it must not reveal it; a hash of 32+ random bytes does not.
fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

/// The current signing key and, during a rotation, the previous one.
pub struct JwtKeys {
    current: Key,
    previous: Option<Key>,
    validation: Validation,
}

impl JwtKeys {
    /// One key (the local stack, tests).
    pub fn new(secret: &[u8]) -> Result<Self, JwtConfigError> {
        Self::rotated(secret, None)
    }

    /// `current` signs; `current` and `previous` both verify.
    pub fn rotated(current: &[u8], previous: Option<&[u8]>) -> Result<Self, JwtConfigError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            current: Key::new(current)?,
            previous: previous.map(Key::new).transpose()?,
            validation,
        })
    }

    /// The id of the key that signs.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// A fresh access token for the session, signed with the current key.
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
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.id.clone());
        jsonwebtoken::encode(&header, &claims, &self.current.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The key a token names, if it is one of these.
    fn key_of(&self, token: &str) -> Option<&Key> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|key| key.id == kid)
    }

    /// Whether the token names a key these keys hold (it may still be
    /// invalid); a token naming another key may come from a newer key.
    pub fn knows(&self, token: &str) -> bool {
        self.key_of(token).is_some()
    }

    /// The claims of a valid, unexpired token signed by the key it names.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        self.decode(token, &self.validation)
    }

    /// The claims of a genuine token, expired or not: only for logout, which
    /// may end a session whose access token has lapsed.
    pub fn verify_allowing_expiry(&self, token: &str) -> Option<AccessClaims> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        self.decode(token, &validation)
    }

    fn decode(&self, token: &str, validation: &Validation) -> Option<AccessClaims> {
        let key = self.key_of(token)?;
        jsonwebtoken::decode(token, &key.decoding, validation)
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

    /// Signs with `secret`, naming the test key `SECRET` as the `kid`.
    fn sign(claims: &AccessClaims, alg: Algorithm, secret: &[u8]) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(key_id(SECRET));
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
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
    fn tokens_name_their_key_and_the_previous_key_still_verifies() {
        let old = b"the previous key, long enough to sign!!";
        let before = JwtKeys::new(old).unwrap();
        let (org, user, session) = (OrgId::new(), UserId::new(), SessionId::new());
        let old_token = before.issue(org, user, session);
        let header = jsonwebtoken::decode_header(&old_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(before.current_id()));

        let after = JwtKeys::rotated(SECRET, Some(old)).unwrap();
        let new_token = after.issue(org, user, session);
        assert_ne!(before.current_id(), after.current_id());
        assert_eq!(
            after.verify(&old_token).unwrap().sid,
            session,
            "previous key"
        );
        assert_eq!(
            after.verify(&new_token).unwrap().sid,
            session,
            "current key"
        );
        assert!(after.knows(&old_token) && after.knows(&new_token));
        // Once the old key is rotated out, its tokens stop verifying, and a
        // container that only knows the old key does not know the new one.
        let later = JwtKeys::rotated(b"a third key, also long enough!!!!", Some(SECRET)).unwrap();
        assert!(later.verify(&old_token).is_none() && !later.knows(&old_token));
        assert!(!before.knows(&new_token));
        // A token without a kid, or with a kid of another key, is refused.
        let claims = claims_with(|_| ());
        let no_kid = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert!(after.verify(&no_kid).is_none());
        let mut wrong = Header::new(Algorithm::HS256);
        wrong.kid = Some(key_id(old));
        let mislabelled =
            jsonwebtoken::encode(&wrong, &claims, &EncodingKey::from_secret(SECRET).unwrap())
                .unwrap();
        assert!(
            after.verify(&mislabelled).is_none(),
            "signed by another key than its kid"
        );
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::new(b"short"),
            Err(JwtConfigError::TooShort)
        ));
        assert!(matches!(
            JwtKeys::rotated(SECRET, Some(b"short")),
            Err(JwtConfigError::TooShort)
        ));
    }
}
