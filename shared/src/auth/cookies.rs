//! How the tokens travel. Both cookies are `Secure` and `HttpOnly` (no
//! script can read them) and `SameSite=Strict`: the API is only ever called
//! by the dashboard's own `fetch`, never reached by a link from another
//! site, so Strict costs nothing and keeps every cross-site request, even a
//! top-level navigation, from carrying a session. (The dashboard must
//! therefore be served from the same site as the API, e.g.
//! `app.example.com` and `api.example.com`.)
//!
//! - [`SESSION_COOKIE`] holds the access JWT: `__Host-` prefixed, so it is
//!   bound to this host, `Path=/`, with no `Domain`;
//! - [`REFRESH_COOKIE`] holds the refresh token and is sent only to
//!   [`REFRESH_PATH`]. A `__Host-` cookie must have `Path=/`, so it uses the
//!   `__Secure-` prefix instead.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::domain::{RefreshToken, Session};

pub const SESSION_COOKIE: &str = "__Host-chatlogger_session";
pub const REFRESH_COOKIE: &str = "__Secure-chatlogger_refresh";
pub const REFRESH_PATH: &str = "/auth/refresh";

fn cookie(name: &'static str, value: String, path: &'static str) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build()
}

/// Sets both cookies for a session that was just started or refreshed.
///
/// Both live as long as the session. The JWT inside the session cookie
/// expires after [`crate::domain::ACCESS_TOKEN_TTL`] regardless; keeping the
/// cookie lets `POST /auth/logout` find (and end) the session even when the
/// dashboard has been idle past that.
pub fn set_session(
    jar: CookieJar,
    access: String,
    refresh: &RefreshToken,
    session: &Session,
) -> CookieJar {
    let remaining = session.expires_at - time::OffsetDateTime::now_utc();
    let mut access = cookie(SESSION_COOKIE, access, "/");
    access.set_max_age(remaining);
    let mut refresh = cookie(REFRESH_COOKIE, refresh.expose().to_owned(), REFRESH_PATH);
    refresh.set_max_age(remaining);
    jar.add(access).add(refresh)
}

/// Tells the browser to drop both cookies.
pub fn clear_session(jar: CookieJar) -> CookieJar {
    jar.remove(cookie(SESSION_COOKIE, String::new(), "/"))
        .remove(cookie(REFRESH_COOKIE, String::new(), REFRESH_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrgId, UserId};

    #[test]
    fn cookies_carry_every_protective_attribute() {
        let org = OrgId::new();
        let (session, refresh) = Session::start(org, UserId::new(), 0);
        let jar = set_session(CookieJar::new(), "jwt".into(), &refresh, &session);
        let access = jar.get(SESSION_COOKIE).unwrap().to_string();
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60479",
        ] {
            assert!(access.contains(attribute), "{access} lacks {attribute}");
        }
        assert!(!access.contains("Domain"), "__Host- cookies have no Domain");
        let refresh = jar.get(REFRESH_COOKIE).unwrap().to_string();
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/auth/refresh",
        ] {
            assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
        }
    }
}
