//! The read side of a load run, through the dashboard API as the org's
//! admin: every chat's messages paged back, and the analytics summary polled
//! until it equals what was acknowledged.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, Url, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::LoadError;

const SESSION_COOKIE: &str = "__Host-chatlogger_session";

pub struct Dashboard {
    client: Client,
    base: Url,
    /// The org's slug: sign-in names the org.
    org: String,
    email: String,
    password: String,
    /// `name=value` of the session cookie, sent as a `Cookie` header.
    session: Option<String>,
}

/// A stored message, as the dashboard lists it (the fields the check uses).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub content: String,
}

#[derive(Deserialize)]
struct Paged<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// The parts of the analytics summary a load run can predict exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub messages: u64,
    pub chats: u64,
    pub tokens: u64,
    pub user_messages: u64,
    pub assistant_messages: u64,
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages ({} user, {} assistant), {} chats, {} tokens",
            self.messages, self.user_messages, self.assistant_messages, self.chats, self.tokens
        )
    }
}

impl Counted {
    fn from_summary(summary: &Value) -> Self {
        let n = |pointer: &str| {
            summary
                .pointer(pointer)
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Self {
            messages: n("/totals/messages"),
            chats: n("/totals/chats"),
            tokens: n("/totals/tokens"),
            user_messages: n("/messages_by_role/user"),
            assistant_messages: n("/messages_by_role/assistant"),
        }
    }
}

/// When the summary first equalled the expectation, or the last one seen.
pub enum AnalyticsOutcome {
    Exact { at: Instant },
    NotReached { last: Counted },
}

impl Dashboard {
    /// Signs in as the admin of `org` (see `setup::LoadOrg`).
    pub fn new(client: Client, base: Url, org: &crate::setup::LoadOrg) -> Self {
        Self {
            client,
            base,
            org: org.slug.clone(),
            email: org.admin_email.clone(),
            password: org.admin_password.clone(),
            session: None,
        }
    }

    async fn sign_in(&mut self) -> Result<String, LoadError> {
        let url = self.url("auth/login");
        let response = self
            .client
            .post(url.clone())
            .header("x-csrf-protection", "1")
            .json(&json!({ "org": self.org, "email": self.email, "password": self.password }))
            .send()
            .await
            .map_err(LoadError::http(&url))?;
        let status = response.status();
        let cookie = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .find(|pair| pair.starts_with(&format!("{SESSION_COOKIE}=")))
            .map(str::to_owned);
        match (status, cookie) {
            (StatusCode::OK, Some(cookie)) => Ok(cookie),
            (status, _) => Err(LoadError::Dashboard {
                what: "the admin's sign-in".into(),
                detail: format!("{status}: {}", response.text().await.unwrap_or_default()),
            }),
        }
    }

    /// Signs in now (and checks the session works), so that later reads
    /// do not pay for it.
    pub async fn sign_in_now(&mut self) -> Result<(), LoadError> {
        self.session = None;
        self.get("users/me", &[]).await.map(drop)
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a relative API path")
    }

    /// GETs JSON, signing in first and once more if the session expired.
    async fn get(&mut self, path: &str, query: &[(&str, &str)]) -> Result<Value, LoadError> {
        let url = self.url(path);
        for _ in 0..2 {
            let cookie = match &self.session {
                Some(cookie) => cookie.clone(),
                None => {
                    let cookie = self.sign_in().await?;
                    self.session = Some(cookie.clone());
                    cookie
                }
            };
            let response = self
                .client
                .get(url.clone())
                .query(query)
                .header(header::COOKIE, cookie)
                .send()
                .await
                .map_err(LoadError::http(&url))?;
            match response.status() {
                StatusCode::OK => {
                    return response.json().await.map_err(LoadError::http(&url));
                }
                StatusCode::UNAUTHORIZED => self.session = None,
                status => {
                    return Err(LoadError::Dashboard {
                        what: format!("GET {path}"),
                        detail: format!("{status}: {}", response.text().await.unwrap_or_default()),
                    });
                }
            }
        }
        Err(LoadError::Dashboard {
            what: format!("GET {path}"),
            detail: "401 right after signing in".into(),
        })
    }

    /// Every stored message of the chat, oldest first, following the cursor.
    pub async fn messages(&mut self, chat_id: &str) -> Result<Vec<StoredMessage>, LoadError> {
        let mut messages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = format!("chats/{chat_id}/messages");
            let mut query = vec![("limit", "100")];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page: Paged<StoredMessage> = serde_json::from_value(self.get(&path, &query).await?)
                .map_err(|error| LoadError::Dashboard {
                    what: format!("GET {path}"),
                    detail: format!("unexpected body: {error}"),
                })?;
            messages.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(messages),
            }
        }
    }

    /// The messages the org's summary counts now (its default range).
    pub async fn summary_messages(&mut self) -> Result<u64, LoadError> {
        let summary = self.get("analytics/orgs/me/summary", &[]).await?;
        Ok(Counted::from_summary(&summary).messages)
    }

    /// Polls the org's summary (its default range: the last 30 days, today
    /// included) until it equals `expected` or `timeout` passes.
    pub async fn wait_for_analytics(
        &mut self,
        expected: &Counted,
        timeout: Duration,
    ) -> Result<AnalyticsOutcome, LoadError> {
        let give_up = Instant::now() + timeout;
        loop {
            let seen = Counted::from_summary(&self.get("analytics/orgs/me/summary", &[]).await?);
            if &seen == expected {
                return Ok(AnalyticsOutcome::Exact { at: Instant::now() });
            }
            if Instant::now() >= give_up {
                return Ok(AnalyticsOutcome::NotReached { last: seen });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
