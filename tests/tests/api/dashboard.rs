//! A signed-in dashboard client for the tests: cookies are kept by hand (not
//! by a cookie jar) so the tests can replay, drop or inspect each one.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestOrg};
use chatlogger::{
    accounts,
    domain::{Email, Password, User, UserRole},
};

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_COOKIE: &str = "__Host-chatlogger_session";
pub const REFRESH_COOKIE: &str = "__Secure-chatlogger_refresh";

/// The two cookies of a session.
#[derive(Debug, Clone, Default)]
pub struct Cookies {
    pub session: Option<String>,
    pub refresh: Option<String>,
}

impl Cookies {
    /// Updates from a response's `Set-Cookie` headers (an emptied cookie clears).
    pub fn absorb(&mut self, set_cookies: &[String]) {
        for header in set_cookies {
            let pair = header.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let value = (!value.is_empty()).then(|| value.to_owned());
            match name {
                SESSION_COOKIE => self.session = value,
                REFRESH_COOKIE => self.refresh = value,
                _ => {}
            }
        }
    }
}

/// A full reply: status, JSON body (Null when empty) and headers.
pub struct FullReply {
    pub status: u16,
    pub body: Value,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl FullReply {
    pub fn reply(&self) -> Reply {
        Reply {
            status: self.status,
            body: self.body.clone(),
        }
    }

    pub fn error_code(&self) -> String {
        self.reply().error_code().to_owned()
    }
}

impl TestApp {
    /// Creates a user with [`PASSWORD`] directly in the store.
    pub async fn create_user(&self, org: &TestOrg, email: &str, role: UserRole) -> User {
        accounts::create_user(
            &*self.store,
            &org.org,
            Email::parse(email).unwrap(),
            role,
            Password::parse(PASSWORD).unwrap(),
        )
        .await
        .unwrap()
    }

    /// Sends a request the way the dashboard does: JSON, the CSRF header,
    /// and the session cookies it has (the refresh cookie only to /auth/refresh,
    /// as its Path says).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        cookies: &Cookies,
        body: Option<&Value>,
    ) -> FullReply {
        self.send_via(&self.http, method, path, cookies, body).await
    }

    /// A client whose requests come from `address` (any of 127.0.0.0/8
    /// reaches the test server): another source address for the sign-in
    /// throttle.
    pub fn client_from(address: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(Some(address.parse().unwrap()))
            .build()
            .unwrap()
    }

    /// [`Self::send`] through `client`.
    pub async fn send_via(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
        cookies: &Cookies,
        body: Option<&Value>,
    ) -> FullReply {
        let mut request = client
            .request(method, format!("{}{path}", self.base_url))
            .header("x-csrf-protection", "1");
        let mut cookie_header = Vec::new();
        if let Some(session) = &cookies.session {
            cookie_header.push(format!("{SESSION_COOKIE}={session}"));
        }
        if path.starts_with("/auth/refresh")
            && let Some(refresh) = &cookies.refresh
        {
            cookie_header.push(format!("{REFRESH_COOKIE}={refresh}"));
        }
        if !cookie_header.is_empty() {
            request = request.header("cookie", cookie_header.join("; "));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        full_reply(request.send().await.unwrap()).await
    }

    /// Like [`Self::send`], keeping the cookies the response sets.
    pub async fn send_keeping(
        &self,
        method: Method,
        path: &str,
        cookies: &mut Cookies,
        body: Option<&Value>,
    ) -> FullReply {
        let reply = self.send(method, path, cookies, body).await;
        cookies.absorb(&reply.set_cookies);
        reply
    }

    /// Every page of a listing, following `next_cursor`: each page's items.
    pub async fn pages(&self, session: &Cookies, path: &str) -> Vec<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (mut pages, mut url) = (Vec::new(), path.to_owned());
        loop {
            let reply = self.send(Method::GET, &url, session, None).await;
            assert_eq!(reply.status, 200, "{url}: {}", reply.body);
            pages.push(reply.body["items"].as_array().unwrap().clone());
            match reply.body["next_cursor"].as_str() {
                Some(next) => url = format!("{path}{separator}cursor={next}"),
                None => return pages,
            }
        }
    }

    /// A sign-in to the org of `email` (see [`org_of`]).
    pub async fn login_reply(&self, email: &str, password: &str) -> FullReply {
        self.login_reply_via(&self.http, email, password).await
    }

    /// A sign-in through `client` (see [`Self::client_from`]), to the org
    /// of `email` (see [`org_of`]).
    pub async fn login_reply_via(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> FullReply {
        self.login_reply_in(client, &org_of(email), email, password)
            .await
    }

    /// A sign-in to the org with slug `org`.
    pub async fn login_reply_in(
        &self,
        client: &reqwest::Client,
        org: &str,
        email: &str,
        password: &str,
    ) -> FullReply {
        let body = json!({ "org": org, "email": email, "password": password });
        self.send_via(
            client,
            Method::POST,
            "/auth/login",
            &Cookies::default(),
            Some(&body),
        )
        .await
    }

    /// Signs in and returns the session's cookies.
    pub async fn login(&self, email: &str) -> Cookies {
        let reply = self.login_reply(email, PASSWORD).await;
        assert_eq!(reply.status, 200, "login {email}: {}", reply.body);
        let mut cookies = Cookies::default();
        cookies.absorb(&reply.set_cookies);
        assert!(cookies.session.is_some() && cookies.refresh.is_some());
        cookies
    }
}

/// The tests' convention: a member of the org with slug `acme` has an
/// address at `acme.example`. Sign-in names the org, and this names it
/// from the address.
pub fn org_of(email: &str) -> String {
    let domain = email.trim().rsplit('@').next().unwrap_or_default();
    domain
        .to_lowercase()
        .trim_end_matches(".example")
        .to_owned()
}

pub async fn full_reply(response: reqwest::Response) -> FullReply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("response is not JSON ({status}): {text}"))
    };
    FullReply {
        status,
        body,
        set_cookies,
        headers,
    }
}
