//! Many items at once, for the benches and tests that need large tables on
//! moto (which is slow at one write per request): copies of a message the
//! production store wrote, and `BatchWriteItem`s of 25.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, PutRequest, WriteRequest},
};
use chatlogger::{
    domain::{ChatId, MessageId, OrgId},
    store::keys,
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

pub type Item = HashMap<String, AttributeValue>;

/// A copy of `template` (a message item the production store wrote) as the
/// message `id` of `chat`, logged at `created_at`: the same size give or
/// take the timestamp's digits.
pub fn message_copy(
    template: &Item,
    org: OrgId,
    chat: ChatId,
    id: MessageId,
    created_at: OffsetDateTime,
) -> Item {
    let s = AttributeValue::S;
    let mut item = template.clone();
    item.insert(keys::PK.into(), s(keys::messages_pk(org, chat)));
    item.insert(keys::SK.into(), s(keys::message_sk(id)));
    item.insert("id".into(), s(id.to_string()));
    item.insert("chat_id".into(), s(chat.to_string()));
    let created_at = created_at
        .format(&Rfc3339)
        .expect("a time after year 0 formats");
    item.insert("created_at".into(), s(created_at));
    item
}

/// Puts every item, 25 to a `BatchWriteItem`, sending what DynamoDB left
/// unprocessed again.
pub async fn put_all(
    client: &Client,
    table: &str,
    items: Vec<Item>,
) -> Result<(), aws_sdk_dynamodb::Error> {
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut pending: Vec<WriteRequest> = items
            .by_ref()
            .take(25)
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("an item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        while !pending.is_empty() {
            pending = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await?
                .unprocessed_items
                .and_then(|mut tables| tables.remove(table))
                .unwrap_or_default();
        }
    }
    Ok(())
}
