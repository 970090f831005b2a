//! Reading the table's stream records back into domain changes: what the
//! aggregator is fed. Lives with the adapter because it reads the items'
//! layout (`kind`, keys, attribute names).

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;
use time::OffsetDateTime;

use super::chats::org_from_pk;
use crate::{
    domain::{
        ChatId, MessageId, MessageRole, OrgId,
        analytics::{ChatFacts, MessageFacts, Sequence, StreamChange, Tracked},
    },
    store::{StoreError, StoreResult},
};

/// The kinds of item analytics follow.
const TRACKED_KINDS: [&str; 2] = ["chat", "message"];

/// What the aggregator reads of a chat or message image on the stream.
#[derive(Deserialize)]
struct TrackedImage {
    kind: String,
    #[serde(default)]
    org_id: Option<OrgId>,
    #[serde(default)]
    pk: String,
    id: String,
    #[serde(default)]
    chat_id: Option<ChatId>,
    #[serde(default)]
    role: Option<MessageRole>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default)]
    token_count: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    deleted_at: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl TryFrom<TrackedImage> for Tracked {
    type Error = StoreError;

    fn try_from(image: TrackedImage) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("{} {}: {what}", image.kind, image.id));
        // Chats written before `org_id` was repeated carry it in their key.
        let org = match image.org_id {
            Some(org) => org,
            None => org_from_pk(&image.pk).ok_or_else(|| corrupt("no org"))?,
        };
        let day = image.created_at.to_offset(time::UtcOffset::UTC).date();
        match image.kind.as_str() {
            "message" => Ok(Tracked::Message(MessageFacts {
                org,
                chat: image.chat_id.ok_or_else(|| corrupt("no chat_id"))?,
                id: MessageId::parse(&image.id).map_err(|_| corrupt("bad id"))?,
                role: image.role.ok_or_else(|| corrupt("no role"))?,
                tokens: image.token_count,
                latency_ms: image.latency_ms,
                day,
            })),
            "chat" => Ok(Tracked::Chat(ChatFacts {
                org,
                id: ChatId::parse(&image.id).map_err(|_| corrupt("bad id"))?,
                day,
                tags: image.tags,
                user_id: image.user_id,
                deleted: image.deleted_at.is_some(),
            })),
            _ => Err(corrupt("not a tracked kind")),
        }
    }
}

/// Reads a stream record about the table. `Ok(None)` for items analytics
/// do not follow (users, sessions, aggregates, the aggregator's own
/// items...); an error for a chat or message image that cannot be read.
pub fn stream_change(record: &EventRecord) -> StoreResult<Option<StreamChange>> {
    change_of(
        record.change.sequence_number.clone(),
        &record.change.old_image,
        &record.change.new_image,
    )
}

/// A change from its sequence number and images, however they were read.
pub(super) fn change_of(
    sequence: Option<String>,
    old_image: &serde_dynamo::Item,
    new_image: &serde_dynamo::Item,
) -> StoreResult<Option<StreamChange>> {
    let sequence = sequence
        .map(Sequence::new)
        .ok_or_else(|| StoreError::Corrupt("a stream record without a sequence number".into()))?;
    let old = tracked(old_image)?;
    let new = tracked(new_image)?;
    if old.is_none() && new.is_none() {
        return Ok(None);
    }
    Ok(Some(StreamChange { sequence, old, new }))
}

fn tracked(image: &serde_dynamo::Item) -> StoreResult<Option<Tracked>> {
    let kind = match image.get("kind") {
        Some(serde_dynamo::AttributeValue::S(kind)) => kind.as_str(),
        _ => return Ok(None),
    };
    if !TRACKED_KINDS.contains(&kind) {
        return Ok(None);
    }
    let image: TrackedImage = serde_dynamo::from_item(image.clone())
        .map_err(|e| StoreError::Corrupt(format!("a {kind} image on the stream: {e}")))?;
    Tracked::try_from(image).map(Some)
}
