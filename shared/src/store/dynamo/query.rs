//! Listings: `Query` pages of one partition (of the table or of `gsi1`),
//! with cursors that can only continue the listing they came from.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{
    operation::query::builders::QueryFluentBuilder, types::ReturnConsumedCapacity,
};

use super::{
    DynamoStore, Item,
    expr::{Cond, Placeholders, s},
    from_sdk, keys,
};
use crate::store::{
    Cursor, Page, PageRequest, Read, StoreError, StoreResult,
    billing::{PageCost, ReadUnits},
};

/// How many `Query` calls one filtered page may spend looking for matches
/// before it returns what it found, with a cursor.
const MAX_FILTERED_QUERIES: usize = 8;

/// The sort keys a listing covers.
pub(super) enum SortKey {
    Prefix(String),
    /// From the first to the second, both included.
    Between(String, String),
}

impl SortKey {
    fn contains(&self, sort: &str) -> bool {
        match self {
            SortKey::Prefix(prefix) => sort.starts_with(prefix.as_str()),
            SortKey::Between(from, to) => from.as_str() <= sort && sort <= to.as_str(),
        }
    }

    fn condition(&self, attribute: &'static str) -> Cond {
        match self {
            SortKey::Prefix(prefix) => Cond::BeginsWith(attribute, s(prefix.clone())),
            SortKey::Between(from, to) => Cond::Between(attribute, s(from.clone()), s(to.clone())),
        }
    }
}

/// Which items a query walks, and so which cursors may continue it.
pub(super) struct Listing {
    pub index: Option<&'static str>,
    pub partition_attr: &'static str,
    pub partition: String,
    pub sort_attr: &'static str,
    pub sort: SortKey,
    /// Every attribute of a key of this listing (table and index keys).
    pub key_attrs: &'static [&'static str],
    /// Descending sort-key order (newest first, for ULID keys).
    pub newest_first: bool,
    /// Items the listing skips (a `FilterExpression`).
    pub filter: Option<Cond>,
    /// An index can only be read eventually consistent.
    pub read: Read,
    /// Return only the key attributes and these (DynamoDB bills the
    /// items read whole all the same; this only trims the answer).
    pub project: Option<&'static [&'static str]>,
}

impl Listing {
    /// The items of one table partition whose sort key starts with `prefix`.
    pub fn partition(pk: String, prefix: impl Into<String>) -> Self {
        Self {
            index: None,
            partition_attr: keys::PK,
            partition: pk,
            sort_attr: keys::SK,
            sort: SortKey::Prefix(prefix.into()),
            key_attrs: &[keys::PK, keys::SK],
            newest_first: false,
            filter: None,
            read: Read::Consistent,
            project: None,
        }
    }

    /// The items of one `gsi1` partition whose index sort key starts with `prefix`.
    pub fn gsi1(gsi1pk: String, prefix: impl Into<String>) -> Self {
        Self {
            index: Some(keys::GSI1),
            partition_attr: keys::GSI1_PK,
            sort_attr: keys::GSI1_SK,
            key_attrs: &[keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK],
            read: Read::Eventual,
            ..Self::partition(gsi1pk, prefix)
        }
    }

    /// The cursor as a start key, if it is a position in this listing.
    fn start_key(&self, cursor: &Cursor) -> StoreResult<Item> {
        let key = cursor.key();
        let fits = key.len() == self.key_attrs.len()
            && self.key_attrs.iter().all(|attr| key.contains_key(*attr))
            && key.get(self.partition_attr) == Some(&self.partition)
            && key
                .get(self.sort_attr)
                .is_some_and(|sort| self.sort.contains(sort));
        if !fits {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
    }
}

/// The cursor that continues a listing after `last` (a page's last key).
fn cursor_after(last: Item) -> Cursor {
    let key: BTreeMap<String, String> = last
        .into_iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
        .collect();
    Cursor::from_key(key)
}

/// A page of items converted to domain values.
pub(super) fn page_of<T>(
    (items, next_cursor): (Vec<Item>, Option<Cursor>),
    convert: impl Fn(Item) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let items = items.into_iter().map(convert).collect::<StoreResult<_>>()?;
    Ok(Page { items, next_cursor })
}

/// What one `Query` call found.
pub(super) struct Found {
    pub items: Vec<Item>,
    /// Where the next call starts; `None` at the end of the listing.
    pub next: Option<Item>,
    /// What DynamoDB says the call billed (only when asked to meter).
    pub read: Option<ReadUnits>,
    /// The items it read (`ScannedCount`): those its filter dropped too.
    pub scanned: u32,
}

/// What one page of a listing may read, besides its `limit` of items returned.
#[derive(Debug, Clone, Copy)]
pub(super) enum ReadBound {
    /// At most these read units, each item not yet read counted at
    /// `cost.largest_item` bytes.
    Units(ReadUnits, PageCost),
    /// At most this many items read. A `Query`'s `Limit` counts the items
    /// it reads, before its filter, as `ScannedCount` does: so the bound
    /// holds exactly, whatever the filter drops.
    Items(u32),
}

/// What the calls of one page read.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PageRead {
    /// Items read (their `ScannedCount`s): those the filter dropped too.
    pub items: u32,
    /// What they billed: counted only under a [`ReadBound::Units`].
    pub units: ReadUnits,
}

impl DynamoStore {
    /// One page of a listing. With a filter, it queries on (each call
    /// reading at most what is still missing, so the cursor never skips a
    /// match) until the page is full, the listing ends, or
    /// [`MAX_FILTERED_QUERIES`] calls were spent.
    pub(super) async fn query_page(
        &self,
        listing: &Listing,
        page: &PageRequest,
    ) -> StoreResult<(Vec<Item>, Option<Cursor>)> {
        let (items, cursor, _) = self.query_page_within(listing, page, None).await?;
        Ok((items, cursor))
    }

    /// [`Self::query_page`], and with `bound` also a bound on what it
    /// reads: each call's `Limit` is cut to what is left of it, and the
    /// page stops, with a cursor, when not one more item fits. Under
    /// [`ReadBound::Units`] an item is taken at `cost.largest_item` bytes
    /// until read (what was billed so far known from each answer's
    /// `ConsumedCapacity`, or taken at its most). The first call reads at
    /// least one item. Answers what the calls read.
    pub(super) async fn query_page_within(
        &self,
        listing: &Listing,
        page: &PageRequest,
        bound: Option<ReadBound>,
    ) -> StoreResult<(Vec<Item>, Option<Cursor>, PageRead)> {
        let mut start = page
            .cursor
            .as_ref()
            .map(|cursor| listing.start_key(cursor))
            .transpose()?;
        let mut items = Vec::new();
        let mut read = PageRead::default();
        let metered = matches!(bound, Some(ReadBound::Units(..)));
        for call in 0..MAX_FILTERED_QUERIES {
            let missing = u32::from(page.limit) - items.len() as u32;
            let fits = match bound {
                None => u32::MAX,
                Some(ReadBound::Units(max, cost)) => {
                    cost.items_within(max.saturating_sub(read.units))
                }
                Some(ReadBound::Items(max)) => max.saturating_sub(read.items),
            };
            if fits == 0 && call > 0 {
                break;
            }
            let limit = missing.min(fits.max(1));
            let found = self
                .query(listing, start.take(), Some(limit), metered)
                .await?;
            if let Some(ReadBound::Units(_, cost)) = bound {
                read.units += found.read.unwrap_or_else(|| cost.at_most(limit));
            }
            read.items += found.scanned;
            items.extend(found.items);
            start = found.next;
            if start.is_none() || items.len() >= usize::from(page.limit) {
                break;
            }
        }
        Ok((items, start.map(cursor_after), read))
    }

    /// Every item of a listing (for bounded partitions: a range of days of
    /// aggregates, a chat's message keys).
    pub(super) async fn query_all(&self, listing: &Listing) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let found = self.query(listing, start, None, false).await?;
            items.extend(found.items);
            start = found.next;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// One `Query` call: its items, where the next one starts, and (when
    /// `metered`) what DynamoDB says it billed.
    pub(super) async fn query(
        &self,
        listing: &Listing,
        start: Option<Item>,
        limit: Option<u32>,
        metered: bool,
    ) -> StoreResult<Found> {
        let output = self
            .query_request(listing, start)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_return_consumed_capacity(metered.then_some(ReturnConsumedCapacity::Total))
            .send()
            .await
            .map_err(from_sdk)?;
        let read = output
            .consumed_capacity()
            .and_then(|consumed| consumed.capacity_units())
            .map(ReadUnits::from_capacity);
        Ok(Found {
            scanned: u32::try_from(output.scanned_count).unwrap_or(0),
            items: output.items.unwrap_or_default(),
            next: output.last_evaluated_key,
            read,
        })
    }

    /// A `Query` of the listing's key range from `start`, with its filter
    /// and projection.
    fn query_request(&self, listing: &Listing, start: Option<Item>) -> QueryFluentBuilder {
        let mut p = Placeholders::default();
        let key_condition = Cond::Eq(listing.partition_attr, s(listing.partition.clone()))
            .and(listing.sort.condition(listing.sort_attr))
            .render(&mut p);
        let filter = listing.filter.as_ref().map(|f| f.render(&mut p));
        let projection = listing.project.map(|also| {
            let names: Vec<String> = listing
                .key_attrs
                .iter()
                .chain(also)
                .map(|a| p.name(a))
                .collect();
            names.join(", ")
        });
        let (names, values) = p.into_maps();
        self.client
            .query()
            .table_name(&*self.table)
            .set_index_name(listing.index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_filter_expression(filter)
            .set_projection_expression(projection)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_exclusive_start_key(start)
            .scan_index_forward(!listing.newest_first)
            .consistent_read(listing.read == Read::Consistent)
    }
}
