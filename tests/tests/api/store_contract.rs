//! The storage contract (`chatlogger::store::contract`) against DynamoDB
//! on moto: every case on a table of its own, through the production
//! adapter. shared's unit tests run the same cases against the in-memory
//! store, so the two stores cannot drift apart unseen.

use std::sync::Arc;

use chatlogger::{clock::ManualClock, store::DynamoStore};

use crate::helpers::{new_table, sdk_config};

/// A store on a fresh table, stamping its changes with `clock` (the
/// aggregator's cases use it too: one adapter holds every port).
async fn new_store(clock: Arc<ManualClock>) -> DynamoStore {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table).with_clock(clock)
}

chatlogger::store_contract_tests!(new_store, new_store);
