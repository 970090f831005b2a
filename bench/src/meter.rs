//! The cost bench's DynamoDB meter: an SDK interceptor that bills every
//! request a client sends the way DynamoDB on-demand bills it, and files
//! each unit under the cost category of the item it touched.
//!
//! - **Writes**: a write unit per started KB of the larger of the item's
//!   size before and after the write (`PutItem`: the item and what it
//!   replaced; `UpdateItem`: its `ALL_NEW` answer, or the item read back
//!   afterwards with an unmetered client ([`Meter::settle`]); `DeleteItem`:
//!   the item removed). A refused condition bills the same (the item as
//!   stored, or the one offered). `BatchWriteItem` bills each item;
//!   `TransactWriteItems` twice each, condition checks included.
//! - **Index writes**: an item carrying `gsi1pk`/`gsi1sk` is also written
//!   to `gsi1` (projection ALL, so the whole item), per started KB; an
//!   entry removed bills its old size, a moved entry both.
//! - **Reads**: as `chatlogger_local::read_meter::ReadMeter` (and
//!   `chatlogger::store::billing`) bill them: per 4 KB, whole units
//!   strongly consistent, half eventually; a `Query` page summed then
//!   rounded; a `GetItem` or `BatchGetItem` item by item, and a key not
//!   found the minimum.
//!
//! Every meter of one simulation shares one [`Sizes`]: the size (and index
//! key) of every item written through any of them, which is what a write
//! replaces. Items written before metering starts go through a meter too
//! (one that bills nothing), so the sizes are complete.
//!
//! An item the meter cannot file under a category panics: nothing billed
//! may vanish from the bill.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use aws_sdk_dynamodb::{
    Client,
    config::Builder,
    operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
        delete_item::{DeleteItemError, DeleteItemInput, DeleteItemOutput},
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemError, PutItemInput},
        query::{QueryInput, QueryOutput},
        transact_write_items::TransactWriteItemsInput,
        update_item::{UpdateItemError, UpdateItemInput, UpdateItemOutput},
    },
    types::{AttributeValue, ReturnValue},
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            Intercept,
            context::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef},
        },
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use chatlogger::store::{
    Read, ReadUnits, item_size,
    keys::{GSI1_PK, GSI1_SK, PK, SK},
};

type Item = HashMap<String, AttributeValue>;

/// DynamoDB bills writes per started KB.
const WRITE_BLOCK_BYTES: u64 = 1024;

/// Write units for an item of `bytes` (at least one).
pub fn write_units(bytes: u64) -> u64 {
    bytes.div_ceil(WRITE_BLOCK_BYTES).max(1)
}

/// Where a unit goes in the cost table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Message and chat items, their index entries, ingest's chat reads.
    IngestDb,
    /// Key grants, `last_used_at` stamps, org limits, the change feed.
    Lookups,
    /// The rate limiter's `USAGE#` counts.
    RateLimit,
    /// Everything an aggregator reader does.
    Analytics,
}

/// What kind of item a key names (the table's key layout,
/// `chatlogger::store::keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    Message,
    Chat,
    KeyGrant,
    ApiKey,
    Org,
    ChangeFeed,
    Usage,
    /// An org's day counters and tops (`ORG#<org>#STATS`).
    Aggregate,
    /// The aggregator's lease and journals (`AGGREGATOR`).
    Aggregator,
}

impl ItemKind {
    pub fn of(pk: &str, sk: &str) -> Option<Self> {
        if pk == "INGEST#CHANGES" {
            return Some(Self::ChangeFeed);
        }
        if pk.starts_with("KEYHASH#") {
            return Some(Self::KeyGrant);
        }
        if pk == "AGGREGATOR" {
            return Some(Self::Aggregator);
        }
        let org_part = pk.strip_prefix("ORG#")?;
        if org_part.ends_with("#STATS") {
            return Some(Self::Aggregate);
        }
        if org_part.contains("#CHAT#") {
            return sk.starts_with("MSG#").then_some(Self::Message);
        }
        if sk.starts_with("CHAT#") {
            Some(Self::Chat)
        } else if sk.starts_with("APIKEY#") {
            Some(Self::ApiKey)
        } else if sk == "ORG" {
            Some(Self::Org)
        } else if sk.starts_with("USAGE#") {
            Some(Self::Usage)
        } else {
            None
        }
    }
}

/// Whose requests a meter sees, which decides the category of each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    /// Set-up and the simulation's own reads: sizes are kept, nothing billed.
    Nobody,
    /// The ingest containers: by item kind.
    Ingest,
    /// An aggregator reader: all of it analytics (its own table's items,
    /// and the chats and messages it reads or deletes in the ingest table).
    Reader,
}

impl Payer {
    fn category(self, kind: ItemKind) -> Option<Category> {
        use ItemKind::*;
        match (self, kind) {
            (Payer::Ingest, Message | Chat) => Some(Category::IngestDb),
            (Payer::Ingest, KeyGrant | ApiKey | Org | ChangeFeed) => Some(Category::Lookups),
            (Payer::Ingest, Usage) => Some(Category::RateLimit),
            (Payer::Reader, Aggregate | Aggregator | Chat | Message) => Some(Category::Analytics),
            _ => None,
        }
    }
}

/// What one category was billed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub requests: u64,
    /// Table write units (transactions' doubled).
    pub writes: u64,
    /// `gsi1` write units.
    pub index_writes: u64,
    pub reads: ReadUnits,
}

impl Units {
    pub fn write_units(&self) -> u64 {
        self.writes + self.index_writes
    }

    pub fn add(&mut self, other: &Units) {
        self.requests += other.requests;
        self.writes += other.writes;
        self.index_writes += other.index_writes;
        self.reads += other.reads;
    }
}

/// What a meter billed while it was on.
#[derive(Debug, Clone, Default)]
pub struct Bill {
    pub categories: BTreeMap<Category, Units>,
    /// Requests by operation and the kind of item they touched.
    pub requests: BTreeMap<(&'static str, ItemKind), u64>,
    /// New items written, by kind: how many, their bytes (as DynamoDB
    /// sizes items) and their index entries' bytes (storage).
    pub new_items: BTreeMap<ItemKind, NewItems>,
    /// Write units of the chats created, item and index entry (the floor).
    pub chat_create_units: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewItems {
    pub count: u64,
    pub bytes: u64,
    pub index_entries: u64,
    pub index_bytes: u64,
}

impl Bill {
    pub fn units(&self, category: Category) -> Units {
        self.categories.get(&category).copied().unwrap_or_default()
    }

    pub fn total(&self) -> Units {
        let mut total = Units::default();
        for units in self.categories.values() {
            total.add(units);
        }
        total
    }
}

/// An item as stored: its size and its `gsi1` key, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    size: u64,
    index: Option<(String, String)>,
}

impl Stored {
    fn of(item: &Item) -> Self {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        Self {
            size: item_size(item),
            index: text(GSI1_PK).zip(text(GSI1_SK)),
        }
    }
}

/// An item's address: its table and key.
type Address = (String, String, String);

/// Every item written through the simulation's meters, as it is now.
#[derive(Debug, Default)]
pub struct Sizes(Mutex<HashMap<Address, Stored>>);

impl Sizes {
    fn lock(&self) -> MutexGuard<'_, HashMap<Address, Stored>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stored item of `table` of `kind`: their count and bytes (with
    /// their index entries').
    pub fn stored(&self, table: &str, kind: ItemKind) -> NewItems {
        let mut total = NewItems::default();
        for ((t, pk, sk), stored) in self.lock().iter() {
            if t == table && ItemKind::of(pk, sk) == Some(kind) {
                total.count += 1;
                total.bytes += stored.size;
                if stored.index.is_some() {
                    total.index_entries += 1;
                    total.index_bytes += stored.size;
                }
            }
        }
        total
    }
}

/// Requests sent, counted whether the meter is on or not: what the
/// simulation reads around one ingest request (its round trips).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub chat_puts: u64,
    pub message_puts: u64,
    pub chat_reads: u64,
    /// Everything else (lookups, stamps, rate reports), one after another.
    pub other: u64,
}

impl Calls {
    pub fn since(self, before: Calls) -> Calls {
        Calls {
            chat_puts: self.chat_puts - before.chat_puts,
            message_puts: self.message_puts - before.message_puts,
            chat_reads: self.chat_reads - before.chat_reads,
            other: self.other - before.other,
        }
    }
}

/// A write whose item after it the answer did not hold: read back later.
#[derive(Debug, Clone)]
struct Unsettled {
    address: Address,
    before: Option<Stored>,
    category: Category,
    factor: u64,
    billed: bool,
}

#[derive(Debug)]
struct State {
    payer: Payer,
    sizes: Arc<Sizes>,
    on: AtomicBool,
    bill: Mutex<Bill>,
    calls: Mutex<Calls>,
    unsettled: Mutex<Vec<Unsettled>>,
}

/// The meter; clones share it. See the module's doc.
#[derive(Debug, Clone)]
pub struct Meter(Arc<State>);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Meter {
    /// A meter for `payer`, off until [`Meter::start`].
    pub fn new(payer: Payer, sizes: Arc<Sizes>) -> Self {
        Self(Arc::new(State {
            payer,
            sizes,
            on: AtomicBool::new(false),
            bill: Mutex::default(),
            calls: Mutex::default(),
            unsettled: Mutex::default(),
        }))
    }

    /// A DynamoDB client on `sdk` whose requests this meter sees.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> Client {
        Client::from_conf(Builder::from(sdk).interceptor(self.clone()).build())
    }

    /// Bills from now on.
    pub fn start(&self) {
        self.0.on.store(true, Ordering::SeqCst);
    }

    /// Bills nothing from now on (sizes are still kept).
    pub fn stop(&self) {
        self.0.on.store(false, Ordering::SeqCst);
    }

    fn on(&self) -> bool {
        self.0.payer != Payer::Nobody && self.0.on.load(Ordering::SeqCst)
    }

    pub fn bill(&self) -> Bill {
        lock(&self.0.bill).clone()
    }

    /// Every request sent so far (on or off).
    pub fn calls(&self) -> Calls {
        *lock(&self.0.calls)
    }

    /// Bills the writes whose item after them no answer held, reading each
    /// back with `unmetered` (a client no meter bills).
    pub async fn settle(&self, unmetered: &Client) {
        let pending = std::mem::take(&mut *lock(&self.0.unsettled));
        for write in pending {
            let (table, pk, sk) = &write.address;
            let item = unmetered
                .get_item()
                .table_name(table)
                .key(PK, AttributeValue::S(pk.clone()))
                .key(SK, AttributeValue::S(sk.clone()))
                .consistent_read(true)
                .send()
                .await
                .expect("read back an updated item")
                .item;
            let after = item.as_ref().map(Stored::of);
            let units = write_of(write.before.as_ref(), after.as_ref(), write.factor);
            self.0.sizes.lock().remove(&write.address);
            if let Some(after) = after {
                self.0.sizes.lock().insert(write.address.clone(), after);
            }
            if write.billed {
                let mut bill = lock(&self.0.bill);
                let category = bill.categories.entry(write.category).or_default();
                category.writes += units.writes;
                category.index_writes += units.index_writes;
            }
        }
    }

    /// The category of `kind` for this meter's payer; panics for an item
    /// the bill has no place for.
    fn category(&self, kind: Option<ItemKind>, what: &dyn std::fmt::Debug) -> Category {
        if self.0.payer == Payer::Nobody {
            // Bills nothing: any category will do.
            return Category::Analytics;
        }
        kind.and_then(|kind| self.0.payer.category(kind))
            .unwrap_or_else(|| {
                panic!(
                    "the cost bench cannot classify {what:?} (item kind {kind:?}) sent by {:?}: every unit must be billed somewhere",
                    self.0.payer
                )
            })
    }
}

fn text_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn address(table: &str, key: &Item) -> Address {
    (
        table.to_owned(),
        text_of(key, PK).unwrap_or_default(),
        text_of(key, SK).unwrap_or_default(),
    )
}

fn kind_at(address: &Address) -> Option<ItemKind> {
    ItemKind::of(&address.1, &address.2)
}

fn read_of(consistent: Option<bool>) -> Read {
    if consistent == Some(true) {
        Read::Consistent
    } else {
        Read::Eventual
    }
}

/// Table and index write units of one write from `before` to `after`
/// (none: no item), `factor` times (2 in a transaction).
#[derive(Debug, Clone, Copy, Default)]
struct WriteUnits {
    writes: u64,
    index_writes: u64,
}

fn write_of(before: Option<&Stored>, after: Option<&Stored>, factor: u64) -> WriteUnits {
    let larger = before
        .map_or(0, |b| b.size)
        .max(after.map_or(0, |a| a.size));
    let old_entry = before.and_then(|b| b.index.as_ref().map(|key| (key, b.size)));
    let new_entry = after.and_then(|a| a.index.as_ref().map(|key| (key, a.size)));
    // An index entry is put, updated or deleted: one write of its size;
    // an entry whose key changed is deleted and put: two.
    let index_writes = match (old_entry, new_entry) {
        (None, None) => 0,
        (Some((_, size)), None) | (None, Some((_, size))) => write_units(size),
        (Some((old_key, old_size)), Some((new_key, new_size))) if old_key != new_key => {
            write_units(old_size) + write_units(new_size)
        }
        (Some((_, old_size)), Some((_, new_size))) => write_units(old_size.max(new_size)),
    };
    WriteUnits {
        writes: write_units(larger) * factor,
        index_writes,
    }
}

/// What a request will be billed on, noted before it is sent.
#[derive(Debug, Clone)]
enum Plan {
    Get {
        address: Address,
        read: Read,
    },
    BatchGet {
        table: String,
        keys: Vec<Address>,
        read: Read,
    },
    Query {
        read: Read,
        projected: bool,
        table: String,
    },
    Put {
        address: Address,
        after: Stored,
    },
    Update {
        address: Address,
        returns_new: bool,
    },
    Delete {
        address: Address,
    },
    BatchWrite {
        writes: Vec<(Address, Option<Stored>)>,
    },
    Transact {
        steps: Vec<(Address, Step)>,
    },
    /// Control-plane calls DynamoDB does not bill per request.
    Free,
}

#[derive(Debug, Clone)]
enum Step {
    Put(Stored),
    Update,
    Delete,
    Check,
}

impl Storable for Plan {
    type Storer = StoreReplace<Self>;
}

impl Plan {
    fn of(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> Option<Plan> {
        if let Some(get) = input.downcast_ref::<GetItemInput>() {
            return Some(Plan::Get {
                address: address(get.table_name()?, get.key()?),
                read: read_of(get.consistent_read()),
            });
        }
        if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            let (table, request) = batch.request_items()?.iter().next()?;
            return Some(Plan::BatchGet {
                table: table.clone(),
                keys: request.keys().iter().map(|k| address(table, k)).collect(),
                read: read_of(request.consistent_read()),
            });
        }
        if let Some(query) = input.downcast_ref::<QueryInput>() {
            return Some(Plan::Query {
                read: read_of(query.consistent_read()),
                projected: query.projection_expression().is_some() || query.select().is_some(),
                table: query.table_name()?.to_owned(),
            });
        }
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            let item = put.item()?;
            return Some(Plan::Put {
                address: address(put.table_name()?, item),
                after: Stored::of(item),
            });
        }
        if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            return Some(Plan::Update {
                address: address(update.table_name()?, update.key()?),
                returns_new: update.return_values() == Some(&ReturnValue::AllNew),
            });
        }
        if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            return Some(Plan::Delete {
                address: address(delete.table_name()?, delete.key()?),
            });
        }
        if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            let mut writes = Vec::new();
            for (table, requests) in batch.request_items()? {
                for request in requests {
                    if let Some(put) = request.put_request() {
                        writes.push((address(table, put.item()), Some(Stored::of(put.item()))));
                    } else if let Some(delete) = request.delete_request() {
                        writes.push((address(table, delete.key()), None));
                    }
                }
            }
            return Some(Plan::BatchWrite { writes });
        }
        if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            let steps = transaction
                .transact_items()
                .iter()
                .filter_map(|action| {
                    if let Some(put) = action.put() {
                        Some((
                            address(put.table_name(), put.item()),
                            Step::Put(Stored::of(put.item())),
                        ))
                    } else if let Some(update) = action.update() {
                        Some((address(update.table_name(), update.key()), Step::Update))
                    } else if let Some(delete) = action.delete() {
                        Some((address(delete.table_name(), delete.key()), Step::Delete))
                    } else {
                        action
                            .condition_check()
                            .map(|check| (address(check.table_name(), check.key()), Step::Check))
                    }
                })
                .collect();
            return Some(Plan::Transact { steps });
        }
        None
    }

    fn operation(&self) -> &'static str {
        match self {
            Plan::Get { .. } => "GetItem",
            Plan::BatchGet { .. } => "BatchGetItem",
            Plan::Query { .. } => "Query",
            Plan::Put { .. } => "PutItem",
            Plan::Update { .. } => "UpdateItem",
            Plan::Delete { .. } => "DeleteItem",
            Plan::BatchWrite { .. } => "BatchWriteItem",
            Plan::Transact { .. } => "TransactWriteItems",
            Plan::Free => "free",
        }
    }

    /// The kind of the (first) item the request names, for its count.
    fn first_kind(&self) -> Option<ItemKind> {
        match self {
            Plan::Get { address, .. }
            | Plan::Put { address, .. }
            | Plan::Update { address, .. }
            | Plan::Delete { address } => kind_at(address),
            Plan::BatchGet { keys, .. } => keys.first().and_then(kind_at),
            Plan::BatchWrite { writes } => writes.first().and_then(|(a, _)| kind_at(a)),
            Plan::Transact { steps } => steps.first().and_then(|(a, _)| kind_at(a)),
            Plan::Query { .. } | Plan::Free => None,
        }
    }
}

/// Operations that do not touch items (and are not billed by request).
fn is_free(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> bool {
    use aws_sdk_dynamodb::operation::{
        create_table::CreateTableInput, describe_table::DescribeTableInput,
    };
    input.downcast_ref::<DescribeTableInput>().is_some()
        || input.downcast_ref::<CreateTableInput>().is_some()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "CostMeter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let plan = match Plan::of(input) {
            Some(plan) => plan,
            None if is_free(input) => Plan::Free,
            None if self.0.payer == Payer::Nobody => Plan::Free,
            None => panic!(
                "the cost bench's meter does not know how to bill {input:?}: every request must be billed"
            ),
        };
        {
            let mut calls = lock(&self.0.calls);
            match (&plan, plan.first_kind()) {
                (Plan::Put { .. }, Some(ItemKind::Chat)) => calls.chat_puts += 1,
                (Plan::Put { .. }, Some(ItemKind::Message)) => calls.message_puts += 1,
                (Plan::Get { .. }, Some(ItemKind::Chat)) => calls.chat_reads += 1,
                _ => calls.other += 1,
            }
        }
        config.interceptor_state().store_put(plan);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(plan) = config.load::<Plan>().cloned() else {
            return Ok(());
        };
        let Some(outcome) = context.output_or_error() else {
            return Ok(());
        };
        let outcome = match outcome {
            Ok(output) => Outcome::Output(output),
            Err(error) => match error.as_operation_error() {
                Some(error) => Outcome::Refused(error),
                // Never reached DynamoDB (or its answer was lost): a
                // transport failure bills nothing we could know of.
                None => return Ok(()),
            },
        };
        self.bill_request(&plan, &outcome);
        Ok(())
    }
}

/// How a request ended.
enum Outcome<'a> {
    Output(&'a aws_smithy_runtime_api::client::interceptors::context::Output),
    Refused(&'a aws_smithy_runtime_api::client::interceptors::context::Error),
}

/// What one request bills, before it is added to the bill.
#[derive(Default)]
struct Charge {
    by_category: BTreeMap<Category, Units>,
    new_items: Vec<(ItemKind, NewItems)>,
    chat_create_units: u64,
}

impl Charge {
    fn units(&mut self, category: Category) -> &mut Units {
        self.by_category.entry(category).or_default()
    }
}

impl Meter {
    fn bill_request(&self, plan: &Plan, outcome: &Outcome<'_>) {
        if matches!(plan, Plan::Free) {
            return;
        }
        let mut charge = Charge::default();
        let request_kind = match plan {
            Plan::Get { address, read } => {
                let category = self.category(kind_at(address), address);
                let size = match outcome {
                    Outcome::Output(output) => output
                        .downcast_ref::<GetItemOutput>()
                        .and_then(|o| o.item())
                        .map_or(0, item_size),
                    Outcome::Refused(_) => return,
                };
                charge.units(category).reads += ReadUnits::of_bytes(size, *read);
                kind_at(address)
            }
            Plan::BatchGet { table, keys, read } => {
                let Outcome::Output(output) = outcome else {
                    return;
                };
                let output = output
                    .downcast_ref::<BatchGetItemOutput>()
                    .expect("a BatchGetItem answer");
                let found: Vec<&Item> = output
                    .responses()
                    .and_then(|tables| tables.get(table))
                    .map(|items| items.iter().collect())
                    .unwrap_or_default();
                let unprocessed = output
                    .unprocessed_keys()
                    .and_then(|tables| tables.get(table))
                    .map_or(0, |keys| keys.keys().len());
                for item in &found {
                    let at = address(table, item);
                    let category = self.category(kind_at(&at), &at);
                    charge.units(category).reads += ReadUnits::of_bytes(item_size(item), *read);
                }
                // Keys asked for and not found bill the minimum each.
                let missing = keys.len().saturating_sub(found.len() + unprocessed);
                if let Some(first) = keys.first() {
                    let category = self.category(kind_at(first), first);
                    for at in keys {
                        self.category(kind_at(at), at);
                    }
                    charge.units(category).reads += ReadUnits::of_bytes(0, *read).times(missing);
                }
                keys.first().and_then(kind_at)
            }
            Plan::Query {
                read,
                projected,
                table,
            } => {
                let Outcome::Output(output) = outcome else {
                    return;
                };
                let output = output
                    .downcast_ref::<QueryOutput>()
                    .expect("a Query answer");
                let sizes = self.0.sizes.lock();
                let mut bytes = 0;
                let mut kind = None;
                for item in output.items() {
                    let at = address(table, item);
                    kind = kind.or(kind_at(&at));
                    bytes += match sizes.get(&at) {
                        Some(stored) if *projected => stored.size,
                        _ => item_size(item),
                    };
                    self.category(kind_at(&at), &at);
                }
                drop(sizes);
                // An empty page still bills the minimum; it is filed under
                // what this payer queries (only readers query, their journals).
                let category = match kind {
                    Some(kind) => self.category(Some(kind), table),
                    None => self.category(
                        (self.0.payer == Payer::Reader).then_some(ItemKind::Aggregator),
                        table,
                    ),
                };
                charge.units(category).reads += ReadUnits::of_bytes(bytes, *read);
                kind
            }
            Plan::Put { address, after } => {
                let category = self.category(kind_at(address), address);
                let before = self.0.sizes.lock().get(address).cloned();
                match outcome {
                    Outcome::Output(_) => {
                        let units = write_of(before.as_ref(), Some(after), 1);
                        charge.units(category).writes += units.writes;
                        charge.units(category).index_writes += units.index_writes;
                        if before.is_none() {
                            note_new(&mut charge, address, after, units);
                        }
                        self.0.sizes.lock().insert(address.clone(), after.clone());
                    }
                    Outcome::Refused(error) => {
                        let refused = error
                            .downcast_ref::<PutItemError>()
                            .is_some_and(|e| e.is_conditional_check_failed_exception());
                        if !refused {
                            return;
                        }
                        // A refused condition bills the larger of the item
                        // as stored and the one offered; nothing changes.
                        let stored = match error.downcast_ref::<PutItemError>() {
                            Some(PutItemError::ConditionalCheckFailedException(e)) => {
                                e.item().map(Stored::of).or(before)
                            }
                            _ => before,
                        };
                        let larger = stored.map_or(0, |s| s.size).max(after.size);
                        charge.units(category).writes += write_units(larger);
                    }
                }
                kind_at(address)
            }
            Plan::Update {
                address,
                returns_new,
            } => {
                let category = self.category(kind_at(address), address);
                let before = self.0.sizes.lock().get(address).cloned();
                match outcome {
                    Outcome::Output(output) => {
                        let after = output
                            .downcast_ref::<UpdateItemOutput>()
                            .and_then(|o| o.attributes())
                            .filter(|_| *returns_new)
                            .map(Stored::of);
                        match after {
                            Some(after) => {
                                let units = write_of(before.as_ref(), Some(&after), 1);
                                charge.units(category).writes += units.writes;
                                charge.units(category).index_writes += units.index_writes;
                                self.0.sizes.lock().insert(address.clone(), after);
                            }
                            None => lock(&self.0.unsettled).push(Unsettled {
                                address: address.clone(),
                                before,
                                category,
                                factor: 1,
                                billed: self.on(),
                            }),
                        }
                    }
                    Outcome::Refused(error) => {
                        let Some(UpdateItemError::ConditionalCheckFailedException(e)) =
                            error.downcast_ref::<UpdateItemError>()
                        else {
                            return;
                        };
                        let stored = e.item().map(Stored::of).or(before);
                        charge.units(category).writes += write_units(stored.map_or(0, |s| s.size));
                    }
                }
                kind_at(address)
            }
            Plan::Delete { address } => {
                let category = self.category(kind_at(address), address);
                let before = self.0.sizes.lock().get(address).cloned();
                match outcome {
                    Outcome::Output(output) => {
                        let before = output
                            .downcast_ref::<DeleteItemOutput>()
                            .and_then(|o| o.attributes())
                            .map(Stored::of)
                            .or(before);
                        let units = write_of(before.as_ref(), None, 1);
                        charge.units(category).writes += units.writes;
                        charge.units(category).index_writes += units.index_writes;
                        self.0.sizes.lock().remove(address);
                    }
                    Outcome::Refused(error) => {
                        if !error
                            .downcast_ref::<DeleteItemError>()
                            .is_some_and(|e| e.is_conditional_check_failed_exception())
                        {
                            return;
                        }
                        charge.units(category).writes += write_units(before.map_or(0, |s| s.size));
                    }
                }
                kind_at(address)
            }
            Plan::BatchWrite { writes } => {
                let Outcome::Output(output) = outcome else {
                    return;
                };
                let output = output
                    .downcast_ref::<BatchWriteItemOutput>()
                    .expect("a BatchWriteItem answer");
                let left: Vec<Address> = output
                    .unprocessed_items()
                    .into_iter()
                    .flat_map(|tables| tables.iter())
                    .flat_map(|(table, requests)| {
                        requests.iter().filter_map(move |r| {
                            r.put_request()
                                .map(|p| address(table, p.item()))
                                .or_else(|| r.delete_request().map(|d| address(table, d.key())))
                        })
                    })
                    .collect();
                for (at, after) in writes.iter().filter(|(at, _)| !left.contains(at)) {
                    let category = self.category(kind_at(at), at);
                    let before = self.0.sizes.lock().get(at).cloned();
                    let units = write_of(before.as_ref(), after.as_ref(), 1);
                    charge.units(category).writes += units.writes;
                    charge.units(category).index_writes += units.index_writes;
                    if let (None, Some(after)) = (&before, after) {
                        note_new(&mut charge, at, after, units);
                    }
                    let mut sizes = self.0.sizes.lock();
                    match after {
                        Some(after) => sizes.insert(at.clone(), after.clone()),
                        None => sizes.remove(at),
                    };
                }
                writes.first().and_then(|(at, _)| kind_at(at))
            }
            Plan::Transact { steps } => {
                // Cancelled or not, a transaction bills each of its items
                // twice; only a committed one changes them.
                let committed = matches!(outcome, Outcome::Output(_));
                for (at, step) in steps {
                    let category = self.category(kind_at(at), at);
                    let before = self.0.sizes.lock().get(at).cloned();
                    match step {
                        Step::Put(after) => {
                            let units = write_of(before.as_ref(), Some(after), 2);
                            charge.units(category).writes += units.writes;
                            if committed {
                                charge.units(category).index_writes += units.index_writes;
                                if before.is_none() {
                                    note_new(&mut charge, at, after, units);
                                }
                                self.0.sizes.lock().insert(at.clone(), after.clone());
                            }
                        }
                        Step::Update if committed => lock(&self.0.unsettled).push(Unsettled {
                            address: at.clone(),
                            before,
                            category,
                            factor: 2,
                            billed: self.on(),
                        }),
                        Step::Delete if committed => {
                            let units = write_of(before.as_ref(), None, 2);
                            charge.units(category).writes += units.writes;
                            charge.units(category).index_writes += units.index_writes;
                            self.0.sizes.lock().remove(at);
                        }
                        Step::Update | Step::Delete | Step::Check => {
                            charge.units(category).writes +=
                                2 * write_units(before.map_or(0, |s| s.size));
                        }
                    }
                }
                steps.first().and_then(|(at, _)| kind_at(at))
            }
            Plan::Free => None,
        };
        if !self.on() {
            return;
        }
        let mut bill = lock(&self.0.bill);
        let kind = request_kind.unwrap_or(ItemKind::Aggregator);
        let category = self.category(Some(kind), plan);
        bill.categories.entry(category).or_default().requests += 1;
        *bill.requests.entry((plan.operation(), kind)).or_default() += 1;
        for (category, units) in charge.by_category {
            let total = bill.categories.entry(category).or_default();
            total.writes += units.writes;
            total.index_writes += units.index_writes;
            total.reads += units.reads;
        }
        for (kind, items) in charge.new_items {
            let total = bill.new_items.entry(kind).or_default();
            total.count += items.count;
            total.bytes += items.bytes;
            total.index_entries += items.index_entries;
            total.index_bytes += items.index_bytes;
        }
        bill.chat_create_units += charge.chat_create_units;
    }
}

/// A new item: counted for storage, and a chat's writes for the floor.
fn note_new(charge: &mut Charge, at: &Address, item: &Stored, units: WriteUnits) {
    let Some(kind) = kind_at(at) else {
        return;
    };
    let indexed = item.index.is_some();
    charge.new_items.push((
        kind,
        NewItems {
            count: 1,
            bytes: item.size,
            index_entries: u64::from(indexed),
            index_bytes: if indexed { item.size } else { 0 },
        },
    ));
    if kind == ItemKind::Chat {
        charge.chat_create_units += units.writes + units.index_writes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(size: u64, index: Option<&str>) -> Stored {
        Stored {
            size,
            index: index.map(|k| (k.to_owned(), "CHAT#1".to_owned())),
        }
    }

    #[test]
    fn a_write_bills_the_larger_item_per_started_kb_and_its_index_entries() {
        let new = write_of(None, Some(&stored(800, None)), 1);
        assert_eq!((new.writes, new.index_writes), (1, 0));
        let indexed = write_of(None, Some(&stored(1025, Some("u"))), 1);
        assert_eq!((indexed.writes, indexed.index_writes), (2, 2));
        let shrunk = write_of(Some(&stored(3000, None)), Some(&stored(100, None)), 2);
        assert_eq!(shrunk.writes, 6);
        let moved = write_of(
            Some(&stored(500, Some("a"))),
            Some(&stored(500, Some("b"))),
            1,
        );
        assert_eq!(moved.index_writes, 2);
        let removed = write_of(Some(&stored(500, Some("a"))), None, 1);
        assert_eq!((removed.writes, removed.index_writes), (1, 1));
    }

    #[test]
    fn keys_name_their_kinds() {
        let org = "ORG#01J0000000000000000000000";
        assert_eq!(
            ItemKind::of(&format!("{org}#CHAT#01J1"), "MSG#01J2"),
            Some(ItemKind::Message)
        );
        assert_eq!(ItemKind::of(org, "CHAT#01J1"), Some(ItemKind::Chat));
        assert_eq!(ItemKind::of(org, "USAGE#12"), Some(ItemKind::Usage));
        assert_eq!(
            ItemKind::of(&format!("{org}#STATS"), "DAY#2026-11-22"),
            Some(ItemKind::Aggregate)
        );
        assert_eq!(ItemKind::of(org, "SESSION#1"), None);
        assert_eq!(Payer::Reader.category(ItemKind::Usage), None);
        assert_eq!(
            Payer::Ingest.category(ItemKind::KeyGrant),
            Some(Category::Lookups)
        );
    }
}
