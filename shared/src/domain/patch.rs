//! Partial updates: in a `PATCH` body a field left out keeps its value, and
//! one sent as `null` removes it. `Option<Option<T>>` tells them apart with
//! [`present`]: `None` (left out), `Some(None)` (`null`), `Some(Some(v))`.

use serde::{Deserialize, Deserializer};

/// For `#[serde(default, deserialize_with = "present")]` on an
/// `Option<Option<T>>` field: a field that is there, even as `null`, is
/// `Some`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The value after a patch of `field`: kept, replaced or removed.
pub fn patched<T>(current: Option<T>, field: Option<Option<T>>) -> Option<T> {
    match field {
        None => current,
        Some(value) => value,
    }
}
