//! Dashboard sessions. Signing in creates a [`Session`] item; the browser
//! holds a short-lived access JWT that names it and a [`RefreshToken`] that
//! renews the JWT. Refresh tokens rotate on every use and only their SHA-256
//! is stored; presenting one that was already rotated away proves it leaked,
//! so the whole session is revoked.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{OrgId, SessionId, UserId};

/// How long an access JWT is valid. Every request also re-reads the session
/// and the user, so this bounds nothing security-relevant; it only sets how
/// often the dashboard calls `/auth/refresh`.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// A session's absolute lifetime: after this, sign in again.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How many rotated-away refresh hashes a session remembers to detect reuse.
/// Older tokens are simply refused (401) without revoking the session.
pub const REMEMBERED_REFRESH_HASHES: usize = 32;

const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;

/// A refresh token: `<org id>.<session id>.<32 random bytes, base64url>`.
/// The ids say where the session is stored; the secret proves possession.
/// `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    org_id: OrgId,
    session_id: SessionId,
    raw: String,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefreshToken({}.{}.…)", self.org_id, self.session_id)
    }
}

impl RefreshToken {
    pub fn generate(org_id: OrgId, session_id: SessionId) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let raw = format!("{org_id}.{session_id}.{}", URL_SAFE_NO_PAD.encode(bytes));
        Self {
            org_id,
            session_id,
            raw,
        }
    }

    /// Checks the shape; `None` for anything that is not one of our tokens.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let org_id = OrgId::parse(parts.next()?).ok()?;
        let session_id = SessionId::parse(parts.next()?).ok()?;
        let secret = parts.next()?;
        let secret_ok = secret.len() == SECRET_CHARS
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (secret_ok && parts.next().is_none()).then(|| Self {
            org_id,
            session_id,
            raw: raw.to_owned(),
        })
    }

    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(hex::encode(Sha256::digest(self.raw.as_bytes())))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

/// SHA-256 (hex) of a refresh token: what the session stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenHash(String);

impl RefreshTokenHash {
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The user's session epoch when this session was (last) confirmed. A
    /// password change bumps the user's epoch, which ends every other session.
    pub epoch: u32,
    pub refresh_hash: RefreshTokenHash,
    /// Hashes rotated away, newest first, at most [`REMEMBERED_REFRESH_HASHES`].
    pub previous_refresh_hashes: Vec<RefreshTokenHash>,
    pub revoked: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl Session {
    /// A new session for `user`, with its first refresh token.
    pub fn start(org_id: OrgId, user_id: UserId, epoch: u32) -> (Self, RefreshToken) {
        let id = SessionId::new();
        let token = RefreshToken::generate(org_id, id);
        let now = OffsetDateTime::now_utc();
        let session = Self {
            id,
            user_id,
            epoch,
            refresh_hash: token.hash(),
            previous_refresh_hashes: Vec::new(),
            revoked: false,
            created_at: now,
            expires_at: now + SESSION_TTL,
        };
        (session, token)
    }

    /// Whether the session may still be used by a user at `user_epoch`.
    pub fn is_live(&self, user_id: UserId, user_epoch: u32, now: OffsetDateTime) -> bool {
        !self.revoked
            && self.user_id == user_id
            && self.epoch == user_epoch
            && now < self.expires_at
    }

    /// What a presented refresh token means for this session.
    pub fn classify(&self, token: &RefreshToken) -> RefreshCheck {
        let hash = token.hash();
        if hash == self.refresh_hash {
            RefreshCheck::Current
        } else if self.previous_refresh_hashes.contains(&hash) {
            RefreshCheck::Reused
        } else {
            RefreshCheck::Unknown
        }
    }

    /// This session after replacing its refresh token with `next` (the
    /// current hash joins the remembered ones).
    pub fn rotated_to(&self, next: &RefreshToken) -> Self {
        Self {
            refresh_hash: next.hash(),
            previous_refresh_hashes: self.rotated_history(),
            ..self.clone()
        }
    }

    /// The remembered hashes after rotating away from the current one.
    pub fn rotated_history(&self) -> Vec<RefreshTokenHash> {
        std::iter::once(self.refresh_hash.clone())
            .chain(self.previous_refresh_hashes.iter().cloned())
            .take(REMEMBERED_REFRESH_HASHES)
            .collect()
    }
}

/// See [`Session::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshCheck {
    /// The token in use: rotate it.
    Current,
    /// A token this session already rotated away: someone replayed it, so
    /// revoke the session.
    Reused,
    /// Not a token of this session (forged or too old): refuse, change nothing.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hash_stably() {
        let (org, session) = (OrgId::new(), SessionId::new());
        let token = RefreshToken::generate(org, session);
        let parsed = RefreshToken::parse(token.expose()).unwrap();
        assert_eq!(parsed, token);
        assert_eq!((parsed.org_id(), parsed.session_id()), (org, session));
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(token, RefreshToken::generate(org, session));
        assert!(!format!("{token:?}").contains(&token.expose()[60..]));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = RefreshToken::generate(OrgId::new(), SessionId::new());
        let raw = good.expose();
        for bad in [
            "",
            "a.b.c",
            &raw[..raw.len() - 1],
            &format!("{raw}A"),
            &format!("{raw}.x"),
            &raw.replacen('.', ":", 1),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rotated_tokens_are_recognised_as_reuse() {
        let org = OrgId::new();
        let (mut session, first) = Session::start(org, UserId::new(), 0);
        assert_eq!(session.classify(&first), RefreshCheck::Current);
        let second = RefreshToken::generate(org, session.id);
        session = session.rotated_to(&second);
        assert_eq!(session.classify(&second), RefreshCheck::Current);
        assert_eq!(session.classify(&first), RefreshCheck::Reused);
        let forged = RefreshToken::generate(org, session.id);
        assert_eq!(session.classify(&forged), RefreshCheck::Unknown);
    }

    #[test]
    fn history_is_bounded() {
        let org = OrgId::new();
        let (mut session, _) = Session::start(org, UserId::new(), 0);
        for _ in 0..(REMEMBERED_REFRESH_HASHES + 5) {
            session = session.rotated_to(&RefreshToken::generate(org, session.id));
        }
        assert_eq!(
            session.previous_refresh_hashes.len(),
            REMEMBERED_REFRESH_HASHES
        );
    }

    #[test]
    fn a_session_is_live_only_for_its_user_at_its_epoch() {
        let user = UserId::new();
        let (session, _) = Session::start(OrgId::new(), user, 3);
        let now = OffsetDateTime::now_utc();
        assert!(session.is_live(user, 3, now));
        assert!(!session.is_live(user, 4, now), "password changed");
        assert!(!session.is_live(UserId::new(), 3, now));
        assert!(!session.is_live(user, 3, now + SESSION_TTL));
        let revoked = Session {
            revoked: true,
            ..session
        };
        assert!(!revoked.is_live(user, 3, now));
    }
}
