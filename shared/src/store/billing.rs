//! What DynamoDB bills for a read, so that a page view can be held to a
//! read budget (see `crate::chats`), and a meter can check it.
//!
//! - An item's size is the UTF-8 bytes of its attribute names plus its
//!   values: strings by their UTF-8 bytes, numbers one byte per two digits
//!   plus one, lists and maps 3 bytes plus 1 per element ([`item_size`]).
//! - A request is billed on the items it **reads**, whatever it returns: a
//!   projection or a filter makes the answer smaller, not the bill. One
//!   request's items are summed and rounded up to 4 KB: a read unit per
//!   4 KB read strongly consistent, half of one eventually consistent; a
//!   request that reads nothing still bills one 4 KB block
//!   ([`ReadUnits::of_bytes`]).
//! - A `Query` page stops at its `Limit` in items or after 1 MB read, so
//!   the most a page can bill follows from its limit and the largest item
//!   it may read ([`PageCost`]).

use std::{
    collections::HashMap,
    fmt,
    ops::{Add, AddAssign},
};

use aws_sdk_dynamodb::types::AttributeValue;

use super::Read;

/// DynamoDB rounds each read request up to this many bytes.
pub const READ_BLOCK_BYTES: u64 = 4096;
/// A `Query` page stops after reading 1 MB (the item that crosses the
/// line counted in, to be safe).
pub const PAGE_BYTES: u64 = 1024 * 1024;

/// Read units, kept in halves: half a unit (4 KB read eventually
/// consistent) is the smallest amount DynamoDB bills.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadUnits {
    halves: u64,
}

impl ReadUnits {
    pub const ZERO: Self = Self { halves: 0 };

    /// `units` whole read units.
    pub const fn whole(units: u64) -> Self {
        Self { halves: units * 2 }
    }

    /// What a request that read `bytes` of items bills: rounded up to
    /// 4 KB, at least one block.
    pub fn of_bytes(bytes: u64, read: Read) -> Self {
        let blocks = bytes.div_ceil(READ_BLOCK_BYTES).max(1);
        Self {
            halves: blocks * halves_per_block(read),
        }
    }

    /// DynamoDB's `ConsumedCapacity` figure (rounded up to a half unit).
    pub fn from_capacity(units: f64) -> Self {
        let halves = (units * 2.0).ceil();
        Self {
            // A negative or NaN answer is no answer: nothing.
            halves: if halves.is_finite() && halves > 0.0 {
                halves as u64
            } else {
                0
            },
        }
    }

    pub fn units(self) -> f64 {
        self.halves as f64 / 2.0
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        Self {
            halves: self.halves.saturating_sub(other.halves),
        }
    }

    /// `count` times this.
    pub fn times(self, count: usize) -> Self {
        Self {
            halves: self
                .halves
                .saturating_mul(u64::try_from(count).unwrap_or(u64::MAX)),
        }
    }

    /// An even share of this among `ways` (rounded down).
    pub fn share(self, ways: usize) -> Self {
        Self {
            halves: self.halves / u64::try_from(ways.max(1)).unwrap_or(u64::MAX),
        }
    }
}

fn halves_per_block(read: Read) -> u64 {
    match read {
        Read::Consistent => 2,
        Read::Eventual => 1,
    }
}

impl Add for ReadUnits {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            halves: self.halves.saturating_add(other.halves),
        }
    }
}

impl AddAssign for ReadUnits {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl std::iter::Sum for ReadUnits {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

impl fmt::Debug for ReadUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadUnits({})", self.units())
    }
}

impl fmt::Display for ReadUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.units())
    }
}

/// The most one `Query` page of a listing can bill, from the largest item
/// the listing may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCost {
    /// Bytes, as DynamoDB sizes items.
    pub largest_item: u64,
    pub read: Read,
}

impl PageCost {
    /// The most a page of at most `limit` items bills: `limit` of the
    /// largest items, or 1 MB and the item that crosses it.
    pub fn at_most(&self, limit: u32) -> ReadUnits {
        let bytes = u64::from(limit)
            .saturating_mul(self.largest_item)
            .min(PAGE_BYTES + self.largest_item);
        ReadUnits::of_bytes(bytes, self.read)
    }

    /// The largest `Limit` whose page cannot bill more than `units` (0 when
    /// not even one item fits). Past the 1 MB page, any limit fits: the
    /// answer is then `i32::MAX`, DynamoDB's largest.
    pub fn items_within(&self, units: ReadUnits) -> u32 {
        const UNBOUNDED: u32 = i32::MAX as u32;
        if units >= self.at_most(UNBOUNDED) {
            return UNBOUNDED;
        }
        let blocks = units.halves / halves_per_block(self.read);
        let items = blocks * READ_BLOCK_BYTES / self.largest_item.max(1);
        u32::try_from(items).unwrap_or(UNBOUNDED)
    }
}

/// An item's size as DynamoDB bills it.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

/// An attribute value's size as DynamoDB counts it (numbers: every digit
/// counted as significant, which can only overstate).
pub fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::N(number) => {
            let digits = number.chars().filter(char::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(bytes) => bytes.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(set) => set
            .iter()
            .map(|n| value_size(&AttributeValue::N(n.clone())))
            .sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_bills_its_bytes_rounded_up_to_4_kb_and_half_when_eventually_consistent() {
        assert_eq!(ReadUnits::of_bytes(0, Read::Eventual).units(), 0.5);
        assert_eq!(ReadUnits::of_bytes(4096, Read::Eventual).units(), 0.5);
        assert_eq!(ReadUnits::of_bytes(4097, Read::Eventual).units(), 1.0);
        assert_eq!(ReadUnits::of_bytes(4097, Read::Consistent).units(), 2.0);
        assert_eq!(
            ReadUnits::from_capacity(12.5),
            ReadUnits::of_bytes(100 * 1024, Read::Eventual)
        );
        assert_eq!(ReadUnits::from_capacity(f64::NAN), ReadUnits::ZERO);
    }

    #[test]
    fn a_pages_limit_is_the_most_items_whose_worst_case_fits() {
        let cost = PageCost {
            largest_item: 10_000,
            read: Read::Eventual,
        };
        // One item of 10,000 bytes: 3 blocks, 1.5 units.
        assert_eq!(cost.at_most(1).units(), 1.5);
        assert_eq!(cost.items_within(ReadUnits::whole(1)), 0);
        assert_eq!(cost.items_within(cost.at_most(1)), 1);
        for units in [2, 7, 50, 129] {
            let budget = ReadUnits::whole(units);
            let items = cost.items_within(budget);
            assert!(cost.at_most(items) <= budget, "{units}");
            assert!(cost.at_most(items + 1) > budget, "{units}");
        }
        // Past a full page (1 MB and an item), any limit bills the same.
        let full = cost.at_most(u32::MAX);
        assert_eq!(
            full,
            ReadUnits::of_bytes(PAGE_BYTES + 10_000, Read::Eventual)
        );
        assert_eq!(cost.items_within(full), i32::MAX as u32);
    }

    #[test]
    fn items_are_sized_by_names_and_values() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("ORG#1".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            (
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::S("ab".into())]),
            ),
        ]);
        assert_eq!(item_size(&item), (2 + 5) + (1 + 4) + (1 + 3 + 1 + 2));
    }
}
