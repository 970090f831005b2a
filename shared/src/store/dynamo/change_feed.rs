//! The ingest change feed: `INGEST#CHANGES` / `FEED`, one global item
//! listing recent changes that make ingest caches stale (key hashes and org
//! ids only, never shown to anyone). Ingest containers read it strongly
//! consistent every few seconds; the writes that revoke or reconfigure a key
//! or change an org's limits append to it in their own transaction, with a
//! condition on the number they read, so concurrent writers never lose each
//! other's entries.
//!
//! An item that cannot be read stops those writes (a 500, with the cause in
//! the log) and makes ingest look keys and limits up on every request; the
//! way out is to delete it: the next change begins a new feed (a new
//! epoch), and every container forgets what it cached.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, number},
    from_item, keys,
    requests::key,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        ApiKeyHash, OrgId,
        ingest_changes::{ChangeEntry, ChangeFeed, IngestChange},
    },
    store::{ChangeFeedStore, Read, StoreError, StoreResult},
};

/// How many times a write re-reads the feed after another writer appended
/// to it between its read and its transaction.
const APPEND_ATTEMPTS: u32 = 8;

#[derive(Serialize, Deserialize)]
struct ChangeFeedItem {
    pk: String,
    sk: String,
    kind: String,
    /// Given when the item is first written: a feed deleted and begun
    /// again is another feed, whatever its numbers.
    epoch: String,
    /// The number of the last entry ever appended.
    seq: u64,
    entries: Vec<EntryItem>,
}

/// One entry: `key_hash` (hex) or `org_id`.
#[derive(Serialize, Deserialize)]
struct EntryItem {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_id: Option<OrgId>,
}

impl From<&ChangeFeed> for ChangeFeedItem {
    fn from(feed: &ChangeFeed) -> Self {
        Self {
            pk: keys::CHANGE_FEED_PK.into(),
            sk: keys::CHANGE_FEED_SK.into(),
            kind: "ingest_changes".into(),
            epoch: feed
                .epoch
                .map(|epoch| epoch.to_string())
                .unwrap_or_default(),
            seq: feed.seq,
            entries: feed
                .entries
                .iter()
                .map(|entry| {
                    let (key_hash, org_id) = match entry.change {
                        IngestChange::ApiKey(hash) => (Some(hash.to_hex()), None),
                        IngestChange::Org(org) => (None, Some(org)),
                    };
                    EntryItem {
                        seq: entry.seq,
                        at: entry.at,
                        key_hash,
                        org_id,
                    }
                })
                .collect(),
        }
    }
}

impl TryFrom<ChangeFeedItem> for ChangeFeed {
    type Error = StoreError;

    fn try_from(item: ChangeFeedItem) -> StoreResult<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("the ingest change feed: {what}"));
        let entries = item
            .entries
            .into_iter()
            .map(|entry| {
                let change = match (entry.key_hash, entry.org_id) {
                    (Some(hash), None) => IngestChange::ApiKey(
                        ApiKeyHash::from_hex(&hash).ok_or_else(|| corrupt("a bad key hash"))?,
                    ),
                    (None, Some(org)) => IngestChange::Org(org),
                    _ => return Err(corrupt("an entry names neither a key nor an org")),
                };
                Ok(ChangeEntry {
                    seq: entry.seq,
                    at: entry.at,
                    change,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let epoch = ulid::Ulid::from_string(&item.epoch).map_err(|_| corrupt("a bad epoch"))?;
        let feed = ChangeFeed {
            epoch: Some(epoch),
            seq: item.seq,
            entries,
        };
        if !feed.is_consistent() {
            return Err(corrupt("its entries are not numbered up to its seq"));
        }
        Ok(feed)
    }
}

fn feed_key() -> Item {
    key(keys::CHANGE_FEED_PK.into(), keys::CHANGE_FEED_SK)
}

impl DynamoStore {
    /// The stored feed, and the condition a write of its next version needs
    /// (nobody appended meanwhile).
    async fn feed_to_append(&self) -> StoreResult<(ChangeFeed, Cond)> {
        match self.get(feed_key(), Read::Consistent).await? {
            None => Ok((ChangeFeed::default(), Cond::IsNew)),
            Some(item) => {
                let feed = ChangeFeed::try_from(from_item::<ChangeFeedItem>(item)?)?;
                let unchanged = Cond::Eq("seq", number(feed.seq));
                Ok((feed, unchanged))
            }
        }
    }

    /// Runs `steps` in one transaction with `change` appended to the ingest
    /// change feed (as the last step), so the change is never stored
    /// without its entry. When only the feed's condition failed (another
    /// writer appended first), reads the feed again and retries. The
    /// outcome is about `steps`' own conditions (their indexes unchanged).
    pub(super) async fn transact_noting(
        &self,
        steps: Vec<Step>,
        change: IngestChange,
    ) -> StoreResult<Transaction> {
        let feed_step = steps.len();
        for _ in 0..APPEND_ATTEMPTS {
            let (mut feed, unchanged) = self.feed_to_append().await?;
            feed.record(change, self.clock.now());
            let mut all = steps.clone();
            all.push(Step::Put {
                item: to_item(&ChangeFeedItem::from(&feed))?,
                condition: Some(unchanged),
            });
            let outcome = self.transact(all).await?;
            if let Transaction::Refused(refused) = &outcome
                && !refused.is_empty()
                && refused.iter().all(|(index, _)| *index == feed_step)
            {
                continue;
            }
            return Ok(outcome);
        }
        Err(StoreError::transient(format!(
            "the ingest change feed changed under each of {APPEND_ATTEMPTS} attempts to append to it"
        )))
    }
}

#[async_trait]
impl ChangeFeedStore for DynamoStore {
    async fn change_feed(&self) -> StoreResult<ChangeFeed> {
        match self.get(feed_key(), Read::Consistent).await? {
            None => Ok(ChangeFeed::default()),
            Some(item) => ChangeFeed::try_from(from_item::<ChangeFeedItem>(item)?),
        }
    }
}
