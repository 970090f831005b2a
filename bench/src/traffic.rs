//! What the cost bench's plugins send, in simulated time: each org keeps
//! `rate × 20 s` chats going, each chat 10 messages 20 s apart, created
//! with an end-user id and two tags. Phases are drawn from a seeded RNG, so
//! a run is deterministic and the orgs' chats are staggered.
//!
//! Single requests: a chat is one `POST .../chats` at its first message,
//! each message one `POST .../messages`. Batches: a plugin per org buffers
//! its chats and messages and sends them as one `POST .../batch` once it
//! holds 100 messages.
//!
//! A run starts in a steady state, not with every org opening its first
//! chats at once: chats that began before the start (and, for batches, the
//! plugin's earlier flushes) are history, whose chats the simulation
//! creates directly in the table before it starts.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

/// Messages per chat, and their spacing.
pub const CHAT_MESSAGES: u64 = 10;
pub const MESSAGE_GAP: Duration = Duration::seconds(20);
/// Messages a batching plugin sends at once.
pub const BATCH_MESSAGES: usize = 100;

/// How many orgs log, and how fast each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub orgs: usize,
    /// Messages per second per org.
    pub rate: f64,
}

/// 100 messages per second in all, in three shapes of tenant.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "quiet",
        orgs: 1_000,
        rate: 0.1,
    },
    Profile {
        name: "typical",
        orgs: 100,
        rate: 1.0,
    },
    Profile {
        name: "busy",
        orgs: 10,
        rate: 10.0,
    },
];

impl Profile {
    /// Chats an org keeps going: one message per chat per gap.
    fn chats_per_org(&self) -> u64 {
        (self.rate * MESSAGE_GAP.as_seconds_f64()).round().max(1.0) as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Single,
    Batch,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Single, Mode::Batch];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Batch => "batch",
        }
    }

    /// Warm ingest containers the requests are spread over.
    pub fn containers(self) -> usize {
        match self {
            Mode::Single => 5,
            Mode::Batch => 2,
        }
    }
}

/// A chat of the simulation.
#[derive(Debug, Clone)]
pub struct ChatSpec {
    pub org: usize,
    pub id: Ulid,
    pub user: String,
    pub tags: [&'static str; 2],
    pub created_at: OffsetDateTime,
}

impl ChatSpec {
    pub fn body(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "user_id": self.user,
            "tags": self.tags,
        })
    }
}

/// A message of the simulation.
#[derive(Debug, Clone)]
pub struct MessageSpec {
    pub org: usize,
    pub chat: Ulid,
    pub id: Ulid,
    /// Its place in its chat (0 to 9): even from the user, odd the assistant's.
    pub position: u64,
    pub content_len: usize,
    pub latency_ms: Option<u64>,
    pub tokens: u64,
}

const CONTENT: &str = "Thanks for reaching out. I looked at your account and the invoice from last month: the charge comes from the annual plan renewal, which was set to renew automatically. I can switch you to monthly billing and refund the difference, or keep the annual plan with the loyalty discount applied from today. Let me know which you prefer, and whether the card ending 4242 is still the right one for future charges. ";

impl MessageSpec {
    /// The message as a single request's body (a batch adds `chat_id`).
    pub fn body(&self, with_chat: bool) -> Value {
        let start = (self.id.random() % 97) as usize;
        let content: String = CONTENT
            .chars()
            .cycle()
            .skip(start)
            .take(self.content_len)
            .collect();
        let mut body = json!({
            "id": self.id.to_string(),
            "role": if self.position.is_multiple_of(2) { "user" } else { "assistant" },
            "content": content,
            "token_count": self.tokens,
        });
        if let Some(latency) = self.latency_ms {
            body["latency_ms"] = json!(latency);
        }
        if with_chat {
            body["chat_id"] = json!(self.chat.to_string());
        }
        body
    }
}

/// What a plugin sends.
#[derive(Debug, Clone)]
pub enum Request {
    Chat(ChatSpec),
    Message(MessageSpec),
    Batch {
        org: usize,
        chats: Vec<ChatSpec>,
        messages: Vec<MessageSpec>,
    },
}

impl Request {
    pub fn org(&self) -> usize {
        match self {
            Request::Chat(chat) => chat.org,
            Request::Message(message) => message.org,
            Request::Batch { org, .. } => *org,
        }
    }
}

/// A request and when it is sent.
#[derive(Debug, Clone)]
pub struct Timed {
    pub at: OffsetDateTime,
    pub request: Request,
}

/// A run's traffic: the chats that began before it, and its requests in
/// time order.
pub struct Traffic {
    pub history_chats: Vec<ChatSpec>,
    pub requests: Vec<Timed>,
}

const TAGS: [&str; 12] = [
    "billing",
    "support",
    "sales",
    "onboarding",
    "bug",
    "feature-request",
    "refund",
    "login",
    "pricing",
    "integration",
    "feedback",
    "other",
];
/// End users per org that chats come from.
const END_USERS: u64 = 200;

/// A log-normal draw (median `median`, spread `sigma`), clamped.
fn log_normal(rng: &mut fastrand::Rng, median: f64, sigma: f64, min: f64, max: f64) -> f64 {
    // Box-Muller: a standard normal from two uniforms.
    let (u1, u2) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (median * (sigma * normal).exp()).clamp(min, max)
}

fn millis(at: OffsetDateTime) -> u64 {
    (at.unix_timestamp_nanos() / 1_000_000) as u64
}

/// One event of a plugin, before the mode shapes it into requests.
enum Happening {
    ChatStarts(ChatSpec),
    Message(MessageSpec),
}

impl Traffic {
    /// The traffic of `profile` in `mode` from `start` to `end`.
    pub fn new(
        profile: Profile,
        mode: Mode,
        seed: u64,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Batches: long enough before the start for every plugin to have
        // flushed once, so its buffer holds a random share of a batch.
        let history = match mode {
            Mode::Single => Duration::ZERO,
            Mode::Batch => {
                Duration::seconds_f64(BATCH_MESSAGES as f64 / profile.rate) + 2 * MESSAGE_GAP
            }
        };
        let from = start - history;
        let mut history_chats = Vec::new();
        let mut happenings: Vec<(OffsetDateTime, u64, Happening)> = Vec::new();
        let mut order = 0u64;
        let mut next_order = || {
            order += 1;
            order
        };
        for org in 0..profile.orgs {
            for _ in 0..profile.chats_per_org() {
                let phase =
                    Duration::milliseconds(rng.i64(0..MESSAGE_GAP.whole_milliseconds() as i64));
                // Where the slot's first message falls in its chat.
                let shift = rng.u64(0..CHAT_MESSAGES);
                let mut chat: Option<ChatSpec> = None;
                for k in 0.. {
                    let at = from + phase + MESSAGE_GAP * k as i32;
                    if at >= end {
                        break;
                    }
                    let position = (k + shift) % CHAT_MESSAGES;
                    if position == 0 || chat.is_none() {
                        let created_at = at - MESSAGE_GAP * position as i32;
                        let spec = ChatSpec {
                            org,
                            id: Ulid::from_parts(millis(created_at), rng.u128(..)),
                            user: format!("end-user-{}", rng.u64(0..END_USERS)),
                            tags: {
                                let first = rng.usize(0..TAGS.len());
                                let second = (first + rng.usize(1..TAGS.len())) % TAGS.len();
                                [TAGS[first], TAGS[second]]
                            },
                            created_at,
                        };
                        if position == 0 {
                            happenings.push((
                                at,
                                next_order(),
                                Happening::ChatStarts(spec.clone()),
                            ));
                        } else {
                            // Begun before the traffic did.
                            history_chats.push(spec.clone());
                        }
                        chat = Some(spec);
                    }
                    let chat_id = chat.as_ref().expect("set above").id;
                    let assistant = position % 2 == 1;
                    let message = MessageSpec {
                        org,
                        chat: chat_id,
                        id: Ulid::from_parts(millis(at), rng.u128(..)),
                        position,
                        content_len: rng.usize(440..=560),
                        latency_ms: assistant
                            .then(|| log_normal(&mut rng, 1_800.0, 0.8, 200.0, 20_000.0) as u64),
                        tokens: if assistant {
                            log_normal(&mut rng, 250.0, 0.7, 1.0, 4_000.0) as u64
                        } else {
                            log_normal(&mut rng, 40.0, 0.8, 1.0, 1_000.0) as u64
                        },
                    };
                    happenings.push((at, next_order(), Happening::Message(message)));
                }
            }
        }
        happenings.sort_by_key(|(at, order, _)| (*at, *order));

        let requests = match mode {
            Mode::Single => happenings
                .into_iter()
                .map(|(at, _, happening)| Timed {
                    at,
                    request: match happening {
                        Happening::ChatStarts(chat) => Request::Chat(chat),
                        Happening::Message(message) => Request::Message(message),
                    },
                })
                .collect(),
            Mode::Batch => {
                let mut plugins: BTreeMap<usize, Plugin> = (0..profile.orgs)
                    .map(|org| {
                        let plugin = Plugin {
                            // As if it had flushed before the traffic began,
                            // at a random point of its batch.
                            already: rng.usize(0..BATCH_MESSAGES),
                            chats: Vec::new(),
                            messages: Vec::new(),
                        };
                        (org, plugin)
                    })
                    .collect();
                let mut requests = Vec::new();
                for (at, _, happening) in happenings {
                    let org = match &happening {
                        Happening::ChatStarts(chat) => chat.org,
                        Happening::Message(message) => message.org,
                    };
                    let plugin = plugins.get_mut(&org).expect("every org has a plugin");
                    match happening {
                        Happening::ChatStarts(chat) => plugin.chats.push(chat),
                        Happening::Message(message) => plugin.messages.push(message),
                    }
                    if plugin.messages.len() + plugin.already < BATCH_MESSAGES {
                        continue;
                    }
                    plugin.already = 0;
                    let chats = std::mem::take(&mut plugin.chats);
                    let messages = std::mem::take(&mut plugin.messages);
                    if at < start {
                        // A flush before the run: its chats exist, its
                        // messages are history.
                        history_chats.extend(chats);
                    } else {
                        requests.push(Timed {
                            at,
                            request: Request::Batch {
                                org,
                                chats,
                                messages,
                            },
                        });
                    }
                }
                requests
            }
        };
        Self {
            history_chats,
            requests,
        }
    }
}

struct Plugin {
    /// Messages of its current batch sent before the traffic began.
    already: usize,
    chats: Vec<ChatSpec>,
    messages: Vec<MessageSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        time::macros::datetime!(2026-11-22 10:00 UTC) + Duration::seconds(seconds)
    }

    #[test]
    fn each_profile_logs_100_messages_a_second_in_chats_of_10() {
        for profile in PROFILES {
            let traffic = Traffic::new(profile, Mode::Single, 7, at(0), at(400));
            let messages = traffic
                .requests
                .iter()
                .filter(|r| matches!(r.request, Request::Message(_)))
                .count();
            assert!(
                (39_000..=41_000).contains(&messages),
                "{profile:?}: {messages}"
            );
            let chats = traffic.requests.len() - messages;
            assert!((3_700..=4_300).contains(&chats), "{profile:?}: {chats}");
            assert!(traffic.requests.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }

    #[test]
    fn batches_hold_100_messages_and_the_chats_they_begin() {
        let profile = PROFILES[0];
        let traffic = Traffic::new(profile, Mode::Batch, 7, at(0), at(600));
        assert!(!traffic.requests.is_empty());
        for timed in &traffic.requests {
            let Request::Batch {
                messages, chats, ..
            } = &timed.request
            else {
                panic!("batches only");
            };
            assert_eq!(messages.len(), BATCH_MESSAGES);
            assert!(timed.at >= at(0));
            for chat in chats {
                assert!(chat.created_at <= timed.at);
            }
        }
        // 1,000 orgs flushing every 1,000 s: about 0.6 of them in 600 s.
        assert!((450..=750).contains(&traffic.requests.len()));
    }
}
