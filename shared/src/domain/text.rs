//! Checks shared by the free-text newtypes.

use super::ValidationError;

/// Trims `raw` and checks it is 1..=`max_chars` characters with no control
/// characters. `what` names the field in the error message.
pub(crate) fn single_line(
    raw: &str,
    what: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(format!("{what} must not be empty")));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ValidationError::new(format!(
            "{what} must be at most {max_chars} characters (got {chars})"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

/// Implements `Deserialize` through `TryFrom<String>` and `Serialize` as the
/// inner string, for a single-field string newtype.
macro_rules! string_newtype_serde {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = $crate::domain::ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_newtype_serde;

/// Declares a bounded integer newtype that parses from any JSON integer, so
/// a negative, fractional or huge value gets a message naming the field
/// rather than serde's "expected u32".
macro_rules! bounded_int {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = u64)]
        pub struct $name(u64);

        impl $name {
            pub const MIN: u64 = $min;
            pub const MAX: u64 = $max;

            pub fn parse(raw: i128) -> Result<Self, $crate::domain::ValidationError> {
                u64::try_from(raw)
                    .ok()
                    .filter(|value| (Self::MIN..=Self::MAX).contains(value))
                    .map(Self)
                    .ok_or_else(|| {
                        $crate::domain::ValidationError::new(format!(
                            concat!($field, " must be an integer from {} to {}"),
                            Self::MIN,
                            Self::MAX
                        ))
                    })
            }

            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let number = serde_json::Number::deserialize(deserializer)?;
                let raw = number.as_i128().ok_or_else(|| {
                    serde::de::Error::custom(concat!($field, " must be an integer"))
                })?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use bounded_int;
