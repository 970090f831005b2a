//! One chat plugin: creates its chat, then logs its messages one after the
//! other, as a plugin backend would. Every message carries a client-chosen
//! ULID, so a failed or timed-out request is retried with the same id and
//! body (the API answers a repeat with 200 and the stored message). After a
//! message is acknowledged, a share of the time the plugin also re-sends an
//! already acknowledged message blindly, which must be answered 200 and
//! change nothing.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, Url};
use serde_json::{Value, json};

use crate::stats::{Outcome, Recorder};

pub const API_KEY_HEADER: &str = "x-organization-api-key";

/// Settings every plugin shares.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    pub base: Url,
    pub slug: String,
    pub api_key: String,
    pub messages: usize,
    /// The chance, after each acknowledged message, of re-sending an earlier
    /// acknowledged one (0.1 = 10 %).
    pub blind_retry_share: f64,
    /// Attempts per request before the plugin gives up on it (bounds the
    /// run's request count).
    pub max_attempts: u32,
    /// No request starts after this instant (bounds the run's time).
    pub deadline: Instant,
}

/// A message the API acknowledged (201, or 200 for a retry).
#[derive(Debug, Clone)]
pub struct Acked {
    pub id: String,
    pub role: &'static str,
    pub tokens: u64,
    pub content: String,
    body: Value,
}

#[cfg(test)]
impl Acked {
    pub fn for_test(id: &str, content: &str) -> Self {
        Self {
            id: id.into(),
            role: "user",
            tokens: 1,
            content: content.into(),
            body: Value::Null,
        }
    }
}

/// What one plugin did.
#[derive(Debug, Default)]
pub struct PluginReport {
    pub chat_id: Option<String>,
    pub acked: Vec<Acked>,
    /// Messages the plugin gave up on (attempts or time ran out, or a
    /// refusal): never acknowledged.
    pub unacknowledged: usize,
    pub blind_retries: u64,
    /// Blind retries not answered 200: the stored copy was missing or
    /// different.
    pub blind_retry_surprises: Vec<String>,
    /// Refusals (4xx other than 429) with their bodies, for the report.
    pub refusals: Vec<String>,
    pub last_ack: Option<Instant>,
    pub requests: Recorder,
}

/// How a request ended after its retries.
enum Answer {
    Accepted(StatusCode),
    Refused(StatusCode, String),
    GaveUp,
}

pub struct Plugin {
    number: usize,
    settings: PluginSettings,
    client: Client,
    rng: fastrand::Rng,
    report: PluginReport,
}

impl Plugin {
    /// Plugin `number` of the run; `seed` makes its choices (contents,
    /// numbers, which message to re-send) repeatable.
    pub fn new(number: usize, settings: PluginSettings, client: Client, seed: u64) -> Self {
        Self {
            number,
            settings,
            client,
            rng: fastrand::Rng::with_seed(
                seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            report: PluginReport::default(),
        }
    }

    pub async fn run(mut self) -> PluginReport {
        let chat_id = ulid::Ulid::new().to_string();
        let chat = json!({
            "id": chat_id,
            "title": format!("load plugin {}", self.number),
            "tags": ["load", format!("plugin-{}", self.number % 10)],
            "user_id": format!("load-user-{}", self.number),
        });
        let chats = format!("api/v1/orgs/{}/chats", self.settings.slug);
        match self.post(&chats, &chat).await {
            Answer::Accepted(_) => self.report.chat_id = Some(chat_id.clone()),
            Answer::Refused(status, body) => {
                self.report
                    .refusals
                    .push(format!("create chat: {status} {body}"));
                self.report.unacknowledged = self.settings.messages;
                return self.report;
            }
            Answer::GaveUp => {
                self.report.unacknowledged = self.settings.messages;
                return self.report;
            }
        }
        let messages = format!("{chats}/{chat_id}/messages");
        for sequence in 0..self.settings.messages {
            let message = self.message(sequence);
            match self.post(&messages, &message.body).await {
                Answer::Accepted(_) => {
                    self.report.last_ack = Some(Instant::now());
                    self.report.acked.push(message);
                }
                Answer::Refused(status, body) => {
                    self.report.unacknowledged += 1;
                    self.report
                        .refusals
                        .push(format!("message: {status} {body}"));
                }
                Answer::GaveUp => self.report.unacknowledged += 1,
            }
            if !self.report.acked.is_empty() && self.rng.f64() < self.settings.blind_retry_share {
                self.blind_retry(&messages).await;
            }
        }
        self.report
    }

    fn message(&mut self, sequence: usize) -> Acked {
        let id = ulid::Ulid::new().to_string();
        let role = if sequence.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        };
        let tokens = self.rng.u64(1..=400);
        let content = format!("load plugin {} message {sequence}", self.number);
        let body = json!({
            "id": id,
            "role": role,
            "content": content,
            "latency_ms": self.rng.u64(20..=3000),
            "token_count": tokens,
        });
        Acked {
            id,
            role,
            tokens,
            content,
            body,
        }
    }

    async fn blind_retry(&mut self, messages: &str) {
        let earlier = self.rng.usize(..self.report.acked.len());
        let body = self.report.acked[earlier].body.clone();
        self.report.blind_retries += 1;
        match self.post(messages, &body).await {
            Answer::Accepted(StatusCode::OK) => {
                self.report.last_ack = Some(Instant::now());
            }
            Answer::Accepted(status) | Answer::Refused(status, _) => self
                .report
                .blind_retry_surprises
                .push(format!("{} answered {status}", body["id"])),
            Answer::GaveUp => {}
        }
    }

    /// POSTs `body`, retrying timeouts, broken connections, 429 and 5xx with
    /// the same body (so the same id) and a growing pause, at most
    /// `max_attempts` times and never past the deadline.
    async fn post(&mut self, path: &str, body: &Value) -> Answer {
        let url = self.settings.base.join(path).expect("a relative API path");
        for attempt in 0..self.settings.max_attempts {
            if Instant::now() >= self.settings.deadline {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
            }
            let started = Instant::now();
            let sent = self
                .client
                .post(url.clone())
                .header(API_KEY_HEADER, &self.settings.api_key)
                .json(body)
                .send()
                .await;
            // The latency includes reading the body (the request timeout covers it too).
            let answered = match sent {
                Ok(response) => {
                    let status = response.status();
                    response.text().await.map(|text| (status, text))
                }
                Err(error) => Err(error),
            };
            let outcome = match &answered {
                Ok((status, _)) => Outcome::Status(status.as_u16()),
                Err(error) if error.is_timeout() => Outcome::Timeout,
                Err(_) => Outcome::Transport,
            };
            self.report.requests.record(outcome, started.elapsed());
            match answered {
                Ok((status, _)) if status.is_success() => return Answer::Accepted(status),
                Ok((status, text))
                    if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) =>
                {
                    return Answer::Refused(status, text);
                }
                _ => {}
            }
        }
        Answer::GaveUp
    }
}
