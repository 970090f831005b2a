//! Cursor pagination for listing queries. A cursor is the last key a page
//! read, base64url-encoded: opaque to clients, and checked on the way back
//! in, so a cursor can only continue the listing it came from (never jump to
//! another org's partition).

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Default and largest page sizes of every list route.
pub const DEFAULT_PAGE_SIZE: u16 = 50;
pub const MAX_PAGE_SIZE: u16 = 100;
/// Longer cursors are refused unread.
const MAX_CURSOR_CHARS: usize = 1024;

/// What the client asked for: validated page size and an optional cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u16,
    pub cursor: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
            cursor: None,
        }
    }
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// A last page with nothing on it.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// A position in a listing: the string attributes of the last key read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(BTreeMap<String, String>);

impl Cursor {
    pub fn from_key(key: BTreeMap<String, String>) -> Self {
        Self(key)
    }

    pub fn key(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The opaque form given to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&self.0).expect("a string map serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// `None` for anything that is not a cursor this API produced.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(raw).ok()?;
        serde_json::from_slice(&json).ok().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor::from_key(BTreeMap::from([
            ("pk".to_owned(), "ORG#1".to_owned()),
            ("sk".to_owned(), "USER#2".to_owned()),
        ]));
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
