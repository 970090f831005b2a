//! A meter of what DynamoDB reads bill, for the benches and tests that run
//! against moto, whose own `ConsumedCapacity` they do not take on trust.
//!
//! It sits on an SDK client (an interceptor) and sizes every item each read
//! request read as DynamoDB bills it (`chatlogger::store::billing`): a
//! `Query` or `Scan` page's items summed and rounded up to 4 KB, a
//! `GetItem`'s or `BatchGetItem`'s item by item, whole units consistent and
//! half units eventually consistent. An answer may not show an item whole
//! (a projection), or at all (a filter), yet DynamoDB bills it whole: so
//! the meter also sizes every item written through its client and bills a
//! read by those sizes. What it cannot size (an item written elsewhere and
//! read projected, or a filtered one) it counts in [`Reading::unknown`]: a
//! reading with any is not a full bill.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use aws_sdk_dynamodb::{
    Client,
    config::Builder,
    operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        batch_write_item::BatchWriteItemInput,
        delete_item::DeleteItemInput,
        get_item::{GetItemInput, GetItemOutput},
        put_item::PutItemInput,
        query::{QueryInput, QueryOutput},
        scan::{ScanInput, ScanOutput},
        transact_write_items::TransactWriteItemsInput,
        update_item::UpdateItemInput,
    },
    types::AttributeValue,
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            Intercept,
            context::{
                AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
            },
        },
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use chatlogger::store::{
    Read, ReadUnits,
    billing::item_size,
    keys::{PK, SK},
};

type Item = HashMap<String, AttributeValue>;

/// What the reads since the last [`ReadMeter::take`] billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub read: ReadUnits,
    /// Read requests sent (retries included).
    pub requests: u64,
    /// Items read (those a filter left out included).
    pub items: u64,
    /// Items read that the meter could not size: not a full bill if any.
    pub unknown: u64,
}

#[derive(Debug, Default)]
struct State {
    /// The size of every item written through the meter's client, by key.
    sizes: HashMap<(String, String), u64>,
    reading: Reading,
}

/// The meter; clones share it. See the module's doc.
#[derive(Debug, Clone, Default)]
pub struct ReadMeter(Arc<Mutex<State>>);

/// How a read request asked: consistently, and whether for whole items.
#[derive(Debug, Clone, Copy)]
struct Asked {
    read: Read,
    projected: bool,
}

impl Storable for Asked {
    type Storer = StoreReplace<Self>;
}

fn key_of(item: &Item) -> Option<(String, String)> {
    let part = |name: &str| item.get(name)?.as_s().ok().cloned();
    Some((part(PK)?, part(SK)?))
}

fn read_of(consistent: Option<bool>) -> Read {
    if consistent == Some(true) {
        Read::Consistent
    } else {
        Read::Eventual
    }
}

impl ReadMeter {
    /// A DynamoDB client on `sdk` whose requests this meter sees.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> Client {
        Client::from_conf(Builder::from(sdk).interceptor(self.clone()).build())
    }

    /// The reading since the last call, and a fresh start.
    pub fn take(&self) -> Reading {
        std::mem::take(&mut self.state().reading)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn wrote(&mut self, item: &Item) {
        if let Some(key) = key_of(item) {
            self.sizes.insert(key, item_size(item));
        }
    }

    fn forget(&mut self, key: &Item) {
        if let Some(key) = key_of(key) {
            self.sizes.remove(&key);
        }
    }

    /// The billed size of an item an answer holds (whole unless `projected`).
    fn size_of(&mut self, item: &Item, projected: bool) -> u64 {
        match key_of(item).and_then(|key| self.sizes.get(&key).copied()) {
            Some(size) => size,
            None if !projected => item_size(item),
            None => {
                self.reading.unknown += 1;
                item_size(item)
            }
        }
    }

    /// One page of a `Query` or `Scan`: its items' sizes summed, rounded once.
    fn page(&mut self, items: &[Item], scanned: i32, count: i32, asked: Asked) {
        let bytes: u64 = items.iter().map(|i| self.size_of(i, asked.projected)).sum();
        let filtered = u64::try_from(scanned.saturating_sub(count)).unwrap_or(0);
        self.reading.unknown += filtered;
        self.reading.items += items.len() as u64 + filtered;
        self.reading.read += ReadUnits::of_bytes(bytes, asked.read);
    }

    /// Items read one by one (`GetItem`, `BatchGetItem`): each rounded.
    fn each(&mut self, items: &[&Item], asked: Asked) {
        for item in items {
            let size = self.size_of(item, asked.projected);
            self.reading.items += 1;
            self.reading.read += ReadUnits::of_bytes(size, asked.read);
        }
    }
}

impl Intercept for ReadMeter {
    fn name(&self) -> &'static str {
        "ReadMeter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut state = self.state();
        let mut asked = |read, projected| {
            state.reading.requests += 1;
            config
                .interceptor_state()
                .store_put(Asked { read, projected });
        };
        if let Some(query) = input.downcast_ref::<QueryInput>() {
            let projected = query.projection_expression().is_some() || query.select().is_some();
            asked(read_of(query.consistent_read()), projected);
        } else if let Some(scan) = input.downcast_ref::<ScanInput>() {
            let projected = scan.projection_expression().is_some() || scan.select().is_some();
            asked(read_of(scan.consistent_read()), projected);
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            asked(
                read_of(get.consistent_read()),
                get.projection_expression().is_some(),
            );
        } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            // One table at a time, as the store asks.
            let request = batch.request_items().and_then(|t| t.values().next());
            asked(
                read_of(request.and_then(|r| r.consistent_read())),
                request.is_some_and(|r| r.projection_expression().is_some()),
            );
        } else {
            if let Some(put) = input.downcast_ref::<PutItemInput>() {
                if let Some(item) = put.item() {
                    state.wrote(item);
                }
            } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
                for write in batch
                    .request_items()
                    .into_iter()
                    .flat_map(|t| t.values().flatten())
                {
                    if let Some(put) = write.put_request() {
                        state.wrote(put.item());
                    } else if let Some(delete) = write.delete_request() {
                        state.forget(delete.key());
                    }
                }
            } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
                // Its size after the update is not known here.
                if let Some(key) = update.key() {
                    state.forget(key);
                }
            } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
                if let Some(key) = delete.key() {
                    state.forget(key);
                }
            } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
                for action in transaction.transact_items() {
                    if let Some(put) = action.put() {
                        state.wrote(put.item());
                    } else if let Some(update) = action.update() {
                        state.forget(update.key());
                    } else if let Some(delete) = action.delete() {
                        state.forget(delete.key());
                    }
                }
            }
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Ok(output), Some(asked)) = (context.output_or_error(), config.load::<Asked>()) else {
            return Ok(());
        };
        let asked = *asked;
        let mut state = self.state();
        if let Some(query) = output.downcast_ref::<QueryOutput>() {
            state.page(query.items(), query.scanned_count(), query.count(), asked);
        } else if let Some(scan) = output.downcast_ref::<ScanOutput>() {
            state.page(scan.items(), scan.scanned_count(), scan.count(), asked);
        } else if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            match get.item() {
                Some(item) => state.each(&[item], asked),
                // A miss bills the minimum.
                None => state.reading.read += ReadUnits::of_bytes(0, asked.read),
            }
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            let items: Vec<&Item> = batch
                .responses()
                .into_iter()
                .flat_map(|tables| tables.values().flatten())
                .collect();
            state.each(&items, asked);
        }
        Ok(())
    }
}
