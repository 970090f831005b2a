//! Checks shared by the free-text newtypes.

use unicode_properties::{GeneralCategory, UnicodeEmoji, UnicodeGeneralCategory};

use super::ValidationError;

/// A character that shows nothing or changes how the text around it is
/// shown: the Unicode *format* characters (bidi overrides and isolates such
/// as U+202E, zero-width spaces and joiners, U+FEFF, soft hyphens, tag
/// characters) and the line and paragraph separators. In a name, title,
/// tag or id they only serve to make two values look alike or to reorder
/// what a reader sees, so those fields refuse them; message content keeps
/// them (it is stored verbatim).
///
/// Some blanks are letters or marks to Unicode and are listed by name: the
/// Hangul fillers, the blank braille pattern, the combining grapheme joiner,
/// the Khmer inherent vowels and the Mongolian variation selectors. A
/// variation selector is invisible unless it follows an emoji (`❤️` is
/// U+2764 U+FE0F): see [`first_invisible`].
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || matches!(
        c,
        '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{2800}'
            | '\u{034F}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180D}' | '\u{180F}'
    ) || is_variation_selector(c)
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The first invisible character of `value`; a text or emoji presentation
/// selector (U+FE0E, U+FE0F) right after an emoji is part of it, not one.
pub(crate) fn first_invisible(value: &str) -> Option<char> {
    let mut previous = None;
    value.chars().find(|&c| {
        let after_emoji = previous.is_some_and(|p: char| p.is_emoji_char());
        previous = Some(c);
        is_invisible(c) && !(matches!(c, '\u{FE0E}' | '\u{FE0F}') && after_emoji)
    })
}

/// Refuses control and invisible characters in `value`, naming the first
/// one found (as U+XXXX: it cannot be shown) and the field.
pub(crate) fn visible(value: &str, what: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(format!(
            "{what} must not contain control characters"
        )));
    }
    match first_invisible(value) {
        Some(c) => Err(ValidationError::new(format!(
            "{what} must not contain invisible or direction-changing characters (found U+{:04X})",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Trims `raw` and checks it is 1..=`max_chars` characters with no control
/// or invisible characters (see [`visible`]). `what` names the field in the
/// error message.
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
    visible(value, what)?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bidi embeddings, overrides and isolates, marks, zero-width
    /// characters, the BOM, a soft hyphen, a tag character, separators.
    pub const INVISIBLE: [char; 31] = [
        '\u{202A}',
        '\u{202B}',
        '\u{202C}',
        '\u{202D}',
        '\u{202E}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{200E}',
        '\u{200F}',
        '\u{061C}',
        '\u{200B}',
        '\u{200C}',
        '\u{200D}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{00AD}',
        '\u{E0041}',
        '\u{2028}',
        '\u{2029}',
        '\u{180E}',
        // Blank letters and marks, and variation selectors not after an emoji.
        '\u{115F}',
        '\u{1160}',
        '\u{3164}',
        '\u{FFA0}',
        '\u{2800}',
        '\u{034F}',
        '\u{FE0F}',
        '\u{FE00}',
        '\u{E0100}',
    ];

    #[test]
    fn bidi_controls_and_zero_width_characters_are_refused() {
        for c in INVISIBLE {
            let error = single_line(&format!("pay{c}pal"), "title", 200).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
        }
    }

    #[test]
    fn visible_text_in_any_script_is_kept() {
        for ok in [
            "Ünïcödé",
            "日本語のタイトル",
            "مرحبا",
            "emoji 🎉",
            "love \u{2764}\u{FE0F}",
            "a\u{00A0}b",
        ] {
            assert_eq!(single_line(ok, "title", 200).unwrap(), ok);
        }
    }
}
