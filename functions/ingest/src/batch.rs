//! `POST /api/v1/orgs/{slug}/batch`: up to 100 chats and 100 messages in one
//! request, answered item by item.
//!
//! The envelope is checked first: a body that is not JSON (400), too large
//! (413), not `{chats?, messages?}`, empty or over the item counts (422) is
//! refused whole and writes nothing. Then each item is parsed and checked
//! on its own (a bad item is its own 422), the valid ones are admitted by
//! the rate limiter together (over the limit: 429 for the whole request,
//! nothing written), and logged exactly as the single routes log them:
//! chats first, then messages, with conditional `PutItem`s in parallel.

use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    domain::{Chat, ChatId, Message, Slug, limits::MAX_BATCH_ITEMS},
    http::{ApiError, ErrorDetail, JsonBody, OrgApiKey, parse_json, rate_limit::RateHeaders},
    ingest::{ItemResult, Logged},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{AllOfBuilder, ObjectBuilder, Ref, RefOr, schema::Schema},
};

use crate::{
    IngestState, chats::CreateChatRequest, create_errors::CreateErrors,
    messages::CreateMessageRequest,
};

/// The largest batch body: 100 messages of a few KiB each, with room to spare.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// A batch: chats to create and messages to log, each list in the order its
/// answers come back. Chats are created before any message is logged, so a
/// batch may hold a chat (with its client-chosen `id`) and its first messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// At most 100 chats, as `POST /api/v1/orgs/{slug}/chats` takes them.
    #[serde(default)]
    #[schema(value_type = Vec<CreateChatRequest>)]
    pub chats: Vec<Value>,
    /// At most 100 messages, as `POST .../chats/{chat_id}/messages` takes
    /// them, each with its `chat_id`.
    #[serde(default)]
    #[schema(value_type = Vec<BatchMessage>)]
    pub messages: Vec<Value>,
}

/// A message of a batch: a message body with the `chat_id` it goes to, in
/// one flat object. (Parsed by [`BatchMessage::parse`], not by serde: a
/// flattened struct would not refuse unknown fields.)
#[derive(Debug)]
pub struct BatchMessage {
    pub chat_id: ChatId,
    pub message: CreateMessageRequest,
}

/// The wire shape: `chat_id` and every field of [`CreateMessageRequest`].
impl PartialSchema for BatchMessage {
    fn schema() -> RefOr<Schema> {
        let chat_id = ObjectBuilder::new()
            .property("chat_id", ChatId::schema())
            .required("chat_id")
            .description(Some(
                "A chat of the org: existing, or created by this batch's `chats`",
            ));
        AllOfBuilder::new()
            .item(chat_id)
            .item(Ref::from_schema_name(CreateMessageRequest::name()))
            .into()
    }
}

impl ToSchema for BatchMessage {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            CreateMessageRequest::name().into(),
            CreateMessageRequest::schema(),
        ));
        <CreateMessageRequest as ToSchema>::schemas(schemas);
    }
}

impl BatchMessage {
    /// Parses one item: `chat_id` and the fields of a single message.
    fn parse(item: Value) -> Result<Self, ApiError> {
        let Value::Object(mut fields) = item else {
            return Err(ApiError::InvalidBody(
                "a message must be a JSON object".into(),
            ));
        };
        let chat_id = match fields.remove("chat_id") {
            Some(raw) => parse_json::<ChatId>(raw)
                .map_err(|_| ApiError::InvalidBody("chat_id must be a ULID".into()))?,
            None => return Err(ApiError::InvalidBody("chat_id is missing".into())),
        };
        let message = parse_json(Value::Object(fields))?;
        Ok(Self { chat_id, message })
    }
}

/// What happened to one item: its status (201, 200, 404, 409, 422, ...)
/// and either the stored item or the error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOutcome<T> {
    /// The status the item would have had on its own route.
    pub status: u16,
    /// The chat or message (201 created, 200 a replayed retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl<T> ItemOutcome<T> {
    fn logged(logged: Logged<T>) -> Self {
        let (status, item) = match logged {
            Logged::Created(item) => (StatusCode::CREATED, item),
            Logged::Replayed(item) => (StatusCode::OK, item),
        };
        Self {
            status: status.as_u16(),
            item: Some(item),
            error: None,
        }
    }

    fn failed(error: ApiError) -> Self {
        error.log();
        Self {
            status: error.status().as_u16(),
            item: None,
            error: Some(error.detail()),
        }
    }

    fn of(result: ItemResult<T>) -> Self {
        match result {
            Ok(logged) => Self::logged(logged),
            Err(error) => Self::failed(error.into()),
        }
    }
}

/// Every item's outcome, in the request's order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub chats: Vec<ItemOutcome<Chat>>,
    pub messages: Vec<ItemOutcome<Message>>,
}

/// Checks the envelope: something to log, and not too much of it.
fn check_counts(request: &BatchRequest) -> Result<(), ApiError> {
    for (name, count) in [
        ("chats", request.chats.len()),
        ("messages", request.messages.len()),
    ] {
        if count as u64 > MAX_BATCH_ITEMS {
            return Err(ApiError::InvalidBody(format!(
                "{name} must have at most {MAX_BATCH_ITEMS} entries (got {count})"
            )));
        }
    }
    if request.chats.is_empty() && request.messages.is_empty() {
        return Err(ApiError::InvalidBody(
            "a batch needs at least one chat or message".into(),
        ));
    }
    Ok(())
}

/// Log up to 100 chats and 100 messages in one request.
///
/// Each item is logged as its own route would log it (client ids, replays,
/// conflicts, limits, the key's restrictions) and answered in order in a
/// 207 Multi-Status body; one item's failure never affects another. Costs
/// one DynamoDB write per item, plus half a read unit for each chat this
/// container has not seen within the last minute. Rate limits count items.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{slug}/batch",
    tag = "ingest",
    params(("slug" = Slug, Path, description = "The org's slug; the API key must belong to it")),
    request_body = BatchRequest,
    security(("org_api_key" = [])),
    responses(
        (status = 207, description = "Every item's outcome, in order: `status` 201 (created), 200 (a replayed retry), 404 (no such chat), 409 (the id is taken by different content), 422 (invalid; the message names the field) or 503 (retry that item)", body = BatchResponse),
        CreateErrors,
    )
)]
pub async fn log_batch(
    State(state): State<IngestState>,
    key: OrgApiKey,
    JsonBody(request): JsonBody<BatchRequest, MAX_BATCH_BYTES>,
) -> Result<(StatusCode, RateHeaders, Json<BatchResponse>), ApiError> {
    check_counts(&request)?;
    let now = state.clock.now();
    let chats: Vec<Result<Chat, ApiError>> = request
        .chats
        .into_iter()
        .map(|item| parse_json::<CreateChatRequest>(item)?.into_chat(&key, now))
        .collect();
    let messages: Vec<Result<Message, ApiError>> = request
        .messages
        .into_iter()
        .map(|item| {
            let BatchMessage { chat_id, message } = BatchMessage::parse(item)?;
            message.into_message(chat_id, &key, now)
        })
        .collect();
    let units = chats.iter().filter(|chat| chat.is_ok()).count()
        + messages.iter().filter(|message| message.is_ok()).count();
    let rate = state.limiter.admit(&key.caller(), units as u64).await?;

    let (valid_chats, chat_slots) = split(chats);
    let (valid_messages, message_slots) = split(messages);
    let (logged_chats, logged_messages) = state
        .ingest
        .log_batch(key.org_id, valid_chats, valid_messages)
        .await;
    let response = BatchResponse {
        chats: merge(chat_slots, logged_chats),
        messages: merge(message_slots, logged_messages),
    };
    Ok((StatusCode::MULTI_STATUS, RateHeaders(rate), Json(response)))
}

/// The valid items, and each item's place: `Ok` for the next logged result,
/// `Err` for the refusal it already has.
fn split<T>(items: Vec<Result<T, ApiError>>) -> (Vec<T>, Vec<Result<(), ApiError>>) {
    let mut valid = Vec::new();
    let slots = items
        .into_iter()
        .map(|item| item.map(|item| valid.push(item)))
        .collect();
    (valid, slots)
}

fn merge<T>(slots: Vec<Result<(), ApiError>>, logged: Vec<ItemResult<T>>) -> Vec<ItemOutcome<T>> {
    let mut logged = logged.into_iter();
    slots
        .into_iter()
        .map(|slot| match slot {
            Ok(()) => ItemOutcome::of(logged.next().expect("one result per valid item")),
            Err(refused) => ItemOutcome::failed(refused),
        })
        .collect()
}
