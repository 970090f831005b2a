//! The dashboard's ports on DynamoDB: org and user administration, API-key
//! listing and revocation, sessions and sign-in throttling. Every read of
//! tenant data is keyed under `ORG#<org>`; every multi-item change is one
//! transaction; listings are `Query` pages, never scans.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{
        AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
    },
};
use time::OffsetDateTime;

use super::{
    DynamoStore, IF_EXISTS, Item, NOT_DELETED, cancellation_reasons, from_item, from_sdk,
    from_transaction, is_conditional_failure,
    items::{ApiKeyItem, LoginFailuresItem, OrgItem, SessionItem, UserItem},
    keys, to_item,
};
use crate::{
    domain::{
        ApiKey, ApiKeyId, Org, OrgId, PasswordHash, RefreshTokenHash, Session, SessionId, User,
        UserId,
    },
    store::{
        ApiKeyAdminStore, Cursor, LoginThrottleStore, OrgAdminStore, OrgChanges, Page, PageRequest,
        SessionStore, StoreError, StoreResult, UserAdminStore, UserChanges,
    },
};

/// How many times unprocessed keys of a `BatchGetItem` are asked for again.
const BATCH_GET_ATTEMPTS: usize = 4;
/// DynamoDB's limit on the keys of one `BatchGetItem`.
const MAX_BATCH_GET_KEYS: usize = 100;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A timestamp as stored (RFC 3339 text, like the serialised items).
pub(super) fn rfc3339(at: OffsetDateTime) -> StoreResult<AttributeValue> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

/// An `UpdateItem` in the making: `SET` clauses with placeholder names, so
/// reserved words (`name`, `role`) need no special care.
#[derive(Default)]
pub(super) struct Changes {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl Changes {
    pub fn set(mut self, attribute: &str, value: AttributeValue) -> Self {
        let n = self.set.len();
        self.set.push(format!("#a{n} = :v{n}"));
        self.names.insert(format!("#a{n}"), attribute.to_owned());
        self.values.insert(format!(":v{n}"), value);
        self
    }

    pub fn set_if(self, attribute: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set(attribute, value),
            None => self,
        }
    }

    /// A hand-written `SET` clause, for what `set` cannot say.
    pub fn clause(mut self, clause: &str) -> Self {
        self.set.push(clause.to_owned());
        self
    }

    /// Removes `attribute` from the item.
    pub fn remove(mut self, attribute: &str) -> Self {
        let n = self.names.len();
        self.remove.push(format!("#r{n}"));
        self.names.insert(format!("#r{n}"), attribute.to_owned());
        self
    }

    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn expression(&self) -> String {
        let mut expression = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        expression
    }
}

/// Which items a listing walks, and so which cursors may continue it.
pub(super) struct Listing<'a> {
    pub index: Option<&'static str>,
    pub partition_attr: &'static str,
    pub partition: String,
    pub sort_attr: &'static str,
    pub sort_prefix: &'a str,
    /// Every attribute of a key of this listing (table and index keys).
    pub key_attrs: &'static [&'static str],
    /// Descending sort-key order (newest first, for ULID keys).
    pub newest_first: bool,
    /// Items the listing skips (a `FilterExpression`).
    pub filter: Option<Filter>,
    /// Strongly consistent reads (the default on the table; an index can
    /// only be read eventually consistent).
    pub consistent_read: bool,
}

/// A `FilterExpression` with its placeholders.
#[derive(Default)]
pub(super) struct Filter {
    pub clauses: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: Item,
}

impl Filter {
    /// Skips chat tombstones (chats the dashboard deleted).
    pub fn not_deleted() -> Self {
        Self {
            clauses: vec![NOT_DELETED.to_owned()],
            ..Self::default()
        }
    }
}

/// How many `Query` calls one filtered page may spend looking for matches
/// before it returns what it found, with a cursor.
const MAX_FILTERED_QUERIES: usize = 8;

impl<'a> Listing<'a> {
    /// The org's items whose sort key starts with `prefix` (users, keys).
    pub fn org_items(org: OrgId, prefix: &'a str) -> Self {
        Self::partition(keys::org_pk(org), prefix)
    }

    /// The items of one table partition whose sort key starts with `prefix`.
    pub fn partition(pk: String, prefix: &'a str) -> Self {
        Self {
            index: None,
            partition_attr: keys::PK,
            partition: pk,
            sort_attr: keys::SK,
            sort_prefix: prefix,
            key_attrs: &[keys::PK, keys::SK],
            newest_first: false,
            filter: None,
            consistent_read: true,
        }
    }

    /// The items of one `GSI1` partition whose index sort key starts with `prefix`.
    pub fn gsi1(gsi1pk: String, prefix: &'a str) -> Self {
        Self {
            index: Some(keys::GSI1),
            partition_attr: keys::GSI1_PK,
            partition: gsi1pk,
            sort_attr: keys::GSI1_SK,
            sort_prefix: prefix,
            key_attrs: &[keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK],
            newest_first: false,
            filter: None,
            consistent_read: false,
        }
    }

    /// The cursor as a start key, if it is a position in this listing.
    pub(super) fn start_key(&self, cursor: &Cursor) -> StoreResult<Item> {
        let key = cursor.key();
        let fits = key.len() == self.key_attrs.len()
            && self.key_attrs.iter().all(|attr| key.contains_key(*attr))
            && key.get(self.partition_attr) == Some(&self.partition)
            && key
                .get(self.sort_attr)
                .is_some_and(|sort| sort.starts_with(self.sort_prefix));
        if !fits {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
    }
}

impl DynamoStore {
    /// One conditional `UpdateItem`; the item as updated, or `None` when
    /// `condition` did not hold.
    pub(super) async fn update(
        &self,
        key: Item,
        changes: Changes,
        condition: &str,
    ) -> StoreResult<Option<Item>> {
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .update_expression(changes.expression())
            .set_expression_attribute_names(Some(changes.names))
            .set_expression_attribute_values(Some(changes.values))
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.attributes),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(from_sdk(error)),
        }
    }

    /// A transaction step: a conditional update.
    fn update_step(
        &self,
        key: Item,
        changes: Changes,
        condition: &str,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .update_expression(changes.expression())
            .set_expression_attribute_names(Some(changes.names))
            .set_expression_attribute_values(Some(changes.values))
            .condition_expression(condition)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a transaction; false when any step's condition failed.
    async fn transact(&self, steps: Vec<TransactWriteItem>) -> StoreResult<bool> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                let condition_failed = cancellation_reasons(&error)
                    .is_some_and(|reasons| reasons.iter().any(is_conditional_failure));
                if condition_failed {
                    Ok(false)
                } else {
                    Err(from_transaction(error))
                }
            }
        }
    }

    /// Strongly consistent reads of several items in one `BatchGetItem`.
    pub(super) async fn get_many(&self, item_keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(item_keys.len());
        for chunk in item_keys.chunks(MAX_BATCH_GET_KEYS) {
            found.extend(self.get_batch(chunk.to_vec()).await?);
        }
        Ok(found)
    }

    /// One `BatchGetItem` (at most 100 keys), asking again for unprocessed keys.
    async fn get_batch(&self, item_keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(item_keys.len());
        let mut pending = item_keys;
        for _ in 0..BATCH_GET_ATTEMPTS {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(StoreError::unavailable)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&*self.table, request)
                .send()
                .await
                .map_err(from_sdk)?;
            found.extend(
                output
                    .responses
                    .and_then(|mut tables| tables.remove(&*self.table))
                    .unwrap_or_default(),
            );
            pending = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(&*self.table))
                .map(|unprocessed| unprocessed.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
        }
        Err(StoreError::Throttled)
    }

    /// One page of a listing. With a filter, it queries on (each call
    /// reading at most what is still missing, so the cursor never skips a
    /// match) until the page is full, the listing ends, or
    /// [`MAX_FILTERED_QUERIES`] calls were spent.
    pub(super) async fn query_page(
        &self,
        listing: &Listing<'_>,
        page: &PageRequest,
    ) -> StoreResult<(Vec<Item>, Option<Cursor>)> {
        let mut start = page
            .cursor
            .as_ref()
            .map(|cursor| listing.start_key(cursor))
            .transpose()?;
        let mut items = Vec::new();
        for _ in 0..MAX_FILTERED_QUERIES {
            let missing = usize::from(page.limit) - items.len();
            let mut names = HashMap::from([
                ("#p".to_owned(), listing.partition_attr.to_owned()),
                ("#s".to_owned(), listing.sort_attr.to_owned()),
            ]);
            let mut values = HashMap::from([
                (":p".to_owned(), s(listing.partition.clone())),
                (":s".to_owned(), s(listing.sort_prefix)),
            ]);
            let filter = listing.filter.as_ref().filter(|f| !f.clauses.is_empty());
            if let Some(filter) = filter {
                names.extend(filter.names.clone());
                values.extend(filter.values.clone());
            }
            let output = self
                .client
                .query()
                .table_name(&*self.table)
                .set_index_name(listing.index.map(str::to_owned))
                .key_condition_expression("#p = :p AND begins_with(#s, :s)")
                .set_filter_expression(filter.map(|f| f.clauses.join(" AND ")))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .set_exclusive_start_key(start.take())
                .scan_index_forward(!listing.newest_first)
                .limit(i32::try_from(missing).unwrap_or(i32::MAX))
                .consistent_read(listing.consistent_read)
                .send()
                .await
                .map_err(from_sdk)?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() || items.len() >= usize::from(page.limit) {
                break;
            }
        }
        Ok((items, start.map(cursor_after)))
    }
}

/// The cursor that continues a listing after `last` (a page's last key).
pub(super) fn cursor_after(last: Item) -> Cursor {
    let key: BTreeMap<String, String> = last
        .into_iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
        .collect();
    Cursor::from_key(key)
}

pub(super) fn page_of<T>(
    items: Vec<Item>,
    next_cursor: Option<Cursor>,
    convert: impl Fn(Item) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let items = items.into_iter().map(convert).collect::<StoreResult<_>>()?;
    Ok(Page { items, next_cursor })
}

fn org_from(item: Item) -> StoreResult<Org> {
    from_item::<OrgItem>(item).and_then(Org::try_from)
}

#[async_trait]
impl OrgAdminStore for DynamoStore {
    async fn org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        self.get(keys::org_pk(id), keys::ORG_SK)
            .await?
            .map(org_from)
            .transpose()
    }

    async fn list_orgs(&self, page: &PageRequest) -> StoreResult<Page<Org>> {
        let listing = Listing::gsi1(keys::ORG_DIRECTORY_PK.to_owned(), "ORG#");
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, org_from)
    }

    async fn update_org(&self, id: OrgId, changes: &OrgChanges) -> StoreResult<Option<Org>> {
        let update = Changes::default()
            .set_if("name", changes.name.as_ref().map(|n| s(n.as_str())))
            .set_if(
                "settings",
                changes.settings.as_ref().map(|m| s(m.to_json_text())),
            );
        if update.is_empty() {
            return self.org(id).await;
        }
        self.update(
            key(keys::org_pk(id), keys::ORG_SK.into()),
            update,
            IF_EXISTS,
        )
        .await?
        .map(org_from)
        .transpose()
    }
}

fn user_from(item: Item) -> StoreResult<User> {
    from_item::<UserItem>(item).map(User::from)
}

#[async_trait]
impl UserAdminStore for DynamoStore {
    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        self.get(keys::org_pk(org), &keys::user_sk(id))
            .await?
            .map(user_from)
            .transpose()
    }

    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        let listing = Listing::org_items(org, keys::USER_SK_PREFIX);
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, user_from)
    }

    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        changes: &UserChanges,
    ) -> StoreResult<Option<User>> {
        let update = Changes::default()
            .set_if(
                "display_name",
                changes.display_name.as_ref().map(|n| s(n.as_str())),
            )
            .set_if("role", changes.role.map(|r| s(r.as_str())))
            .set_if("disabled", changes.disabled.map(AttributeValue::Bool));
        if update.is_empty() {
            return self.user(org, id).await;
        }
        self.update(key(keys::org_pk(org), keys::user_sk(id)), update, IF_EXISTS)
            .await?
            .map(user_from)
            .transpose()
    }

    async fn delete_user(&self, org: OrgId, user: &User) -> StoreResult<bool> {
        let delete = |item_key: Item, condition: &str, values: Option<Item>| {
            Delete::builder()
                .table_name(&*self.table)
                .set_key(Some(item_key))
                .condition_expression(condition)
                .set_expression_attribute_values(values)
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(StoreError::unavailable)
        };
        let steps = vec![
            delete(
                key(keys::org_pk(org), keys::user_sk(user.id)),
                IF_EXISTS,
                None,
            )?,
            // Free the address only if it still points at this user.
            delete(
                key(keys::email_pk(&user.email), keys::EMAIL_SK.into()),
                "user_id = :user",
                Some(HashMap::from([(
                    ":user".to_owned(),
                    s(user.id.to_string()),
                )])),
            )?,
        ];
        self.transact(steps).await
    }

    async fn change_password(
        &self,
        org: OrgId,
        user: &User,
        hash: &PasswordHash,
        keep: &Session,
    ) -> StoreResult<bool> {
        let user_update = Changes::default()
            .set("password_hash", s(hash.as_str()))
            .set("session_epoch", AttributeValue::N(keep.epoch.to_string()))
            .value(
                ":current",
                AttributeValue::N(user.session_epoch.to_string()),
            );
        let keep_session = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(to_item(&SessionItem::new(org, keep))?))
            .condition_expression("attribute_exists(pk) AND revoked = :no")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build()
            .map_err(StoreError::unavailable)?;
        let steps = vec![
            self.update_step(
                key(keys::org_pk(org), keys::user_sk(user.id)),
                user_update,
                "attribute_exists(pk) AND session_epoch = :current",
            )?,
            TransactWriteItem::builder().put(keep_session).build(),
        ];
        self.transact(steps).await
    }
}

#[async_trait]
impl ApiKeyAdminStore for DynamoStore {
    async fn list_api_keys(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<ApiKey>> {
        let listing = Listing::org_items(org, keys::API_KEY_SK_PREFIX);
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, |item| {
            from_item::<ApiKeyItem>(item).map(ApiKey::from)
        })
    }

    async fn revoke_api_key(&self, org: OrgId, key_id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let metadata_key = key(keys::org_pk(org), keys::api_key_sk(key_id));
        let Some(stored) = self
            .get(keys::org_pk(org), &keys::api_key_sk(key_id))
            .await?
        else {
            return Ok(None);
        };
        let stored: ApiKeyItem = from_item(stored)?;
        let hash_pk = keys::key_hash_pk_hex(&stored.key_hash);
        let mut key_meta = ApiKey::from(stored);
        let revoked_at = *key_meta
            .revoked_at
            .get_or_insert_with(OffsetDateTime::now_utc);
        let at = rfc3339(revoked_at)?;
        let steps = vec![
            // Keeps the first revocation time when revoked twice.
            self.update_step(
                metadata_key,
                Changes::default()
                    .clause("revoked_at = if_not_exists(revoked_at, :at)")
                    .value(":at", at),
                IF_EXISTS,
            )?,
            self.update_step(
                key(hash_pk, keys::KEY_HASH_SK.into()),
                Changes::default().set("revoked", AttributeValue::Bool(true)),
                IF_EXISTS,
            )?,
        ];
        if self.transact(steps).await? {
            Ok(Some(key_meta))
        } else {
            Err(StoreError::Corrupt(format!(
                "API key {key_id} has no hash lookup item"
            )))
        }
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, org: OrgId, session: &Session) -> StoreResult<()> {
        match self
            .put_if_new(to_item(&SessionItem::new(org, session))?)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt("session id collision".into())),
        }
    }

    async fn session(&self, org: OrgId, id: SessionId) -> StoreResult<Option<Session>> {
        self.get(keys::org_pk(org), &keys::session_sk(id))
            .await?
            .map(|item| from_item::<SessionItem>(item).and_then(Session::try_from))
            .transpose()
    }

    async fn session_and_user(
        &self,
        org: OrgId,
        session: SessionId,
        user: UserId,
    ) -> StoreResult<(Option<Session>, Option<User>)> {
        let (session_sk, user_sk) = (keys::session_sk(session), keys::user_sk(user));
        let items = self
            .get_many(vec![
                key(keys::org_pk(org), session_sk.clone()),
                key(keys::org_pk(org), user_sk.clone()),
            ])
            .await?;
        let (mut found_session, mut found_user) = (None, None);
        for item in items {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned();
            if sk.as_deref() == Some(session_sk.as_str()) {
                found_session = Some(Session::try_from(from_item::<SessionItem>(item)?)?);
            } else if sk.as_deref() == Some(user_sk.as_str()) {
                found_user = Some(user_from(item)?);
            }
        }
        Ok((found_session, found_user))
    }

    async fn rotate_refresh(
        &self,
        org: OrgId,
        session: &Session,
        next: &RefreshTokenHash,
    ) -> StoreResult<bool> {
        let history = session
            .rotated_history()
            .into_iter()
            .map(|hash| s(hash.as_str()))
            .collect();
        let changes = Changes::default()
            .set("refresh_hash", s(next.as_str()))
            .set("previous_refresh_hashes", AttributeValue::L(history))
            .value(":current", s(session.refresh_hash.as_str()))
            .value(":no", AttributeValue::Bool(false));
        let updated = self
            .update(
                key(keys::org_pk(org), keys::session_sk(session.id)),
                changes,
                "refresh_hash = :current AND revoked = :no",
            )
            .await?;
        Ok(updated.is_some())
    }

    async fn revoke_session(&self, org: OrgId, session: SessionId) -> StoreResult<()> {
        self.update(
            key(keys::org_pk(org), keys::session_sk(session)),
            Changes::default().set("revoked", AttributeValue::Bool(true)),
            IF_EXISTS,
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl LoginThrottleStore for DynamoStore {
    async fn login_failures(&self, throttle_keys: &[String], window: u64) -> StoreResult<Vec<u32>> {
        let item_key = |k: &String| key(keys::login_failures_pk(k), keys::login_window_sk(window));
        let items = self
            .get_many(throttle_keys.iter().map(item_key).collect())
            .await?;
        throttle_keys
            .iter()
            .map(|k| {
                let pk = keys::login_failures_pk(k);
                let found = items
                    .iter()
                    .find(|item| item.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(&pk));
                match found {
                    Some(item) => Ok(from_item::<LoginFailuresItem>(item.clone())?.failures),
                    None => Ok(0),
                }
            })
            .collect()
    }

    async fn record_login_failure(
        &self,
        throttle_keys: &[String],
        window: u64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        for k in throttle_keys {
            self.client
                .update_item()
                .table_name(&*self.table)
                .set_key(Some(key(
                    keys::login_failures_pk(k),
                    keys::login_window_sk(window),
                )))
                .update_expression("ADD failures :one SET expires_at = :expires")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":expires",
                    AttributeValue::N(expires_at.unix_timestamp().to_string()),
                )
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Ok(())
    }
}

/// Shared with ingest's `touch_api_key` in the parent module.
pub(super) async fn touch_api_key(
    store: &DynamoStore,
    org: OrgId,
    key_id: ApiKeyId,
    at: OffsetDateTime,
) -> StoreResult<()> {
    let at = rfc3339(at)?;
    store
        .update(
            key(keys::org_pk(org), keys::api_key_sk(key_id)),
            Changes::default().set("last_used_at", at),
            IF_EXISTS,
        )
        .await?;
    Ok(())
}
