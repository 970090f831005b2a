//! Password hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1).
//! Hashing costs tens of milliseconds of CPU by design, so async callers run
//! it in `spawn_blocking`.

use argon2::{
    Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version, password_hash::phc,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::ValidationError;

/// A plaintext password on its way to being hashed. Its `Debug` never
/// prints it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Parsed on the way in (so a request with a bad password is a 422 naming
/// the field); deliberately not `Serialize`.
impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(ValidationError::new(format!(
                "password must be {}-{} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A random 24-character password (18 bytes of OS randomness).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 18];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The plaintext, for showing a generated password once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hashes with a fresh salt. CPU-heavy: call from a blocking task.
    pub fn hash(&self) -> PasswordHash {
        let mut salt_bytes = [0u8; 16];
        getrandom::fill(&mut salt_bytes).expect("the OS random source is available");
        let hash: phc::PasswordHash = hasher()
            .hash_password_with_salt(self.0.as_bytes(), &salt_bytes)
            .expect("argon2 accepts any password and a 16-byte salt with valid fixed parameters");
        PasswordHash(hash.to_string())
    }
}

/// A PHC-format argon2id hash string, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    /// Wraps a stored PHC string.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `password` matches. CPU-heavy: call from a blocking task.
    pub fn verify(&self, password: &Password) -> bool {
        self.verify_raw(&password.0)
    }

    /// Like [`Self::verify`], for a sign-in attempt that need not be a valid
    /// new password (every attempt must cost the same).
    pub fn verify_raw(&self, password: &str) -> bool {
        phc::PasswordHash::new(&self.0).is_ok_and(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_uses_owasp_argon2id_parameters_and_verifies() {
        let password = Password::parse("correct horse battery").unwrap();
        let hash = password.hash();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(hash.verify(&password));
        assert!(!hash.verify(&Password::parse("wrong horse battery").unwrap()));
    }

    #[test]
    fn length_is_bounded() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert!(Password::parse(&"x".repeat(12)).is_ok());
    }

    #[test]
    fn generated_passwords_are_valid_and_distinct() {
        let (a, b) = (Password::generate(), Password::generate());
        assert_eq!(a.expose().len(), 24);
        assert_ne!(a.expose(), b.expose());
        assert!(Password::parse(a.expose()).is_ok());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
        assert!(!format!("{:?}", password.hash()).contains("argon2"));
    }
}
