//! Identifiers and phone numbers: newtypes so an id is never confused with free text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The gateway's own id for a call: a UUIDv7, so ids sort by creation time (cheap cursors and indexes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(Uuid);

impl CallId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CallId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({})", self.0.hyphenated())
    }
}

impl FromStr for CallId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("must start with '+'")]
    MissingPlus,
    #[error("must have 8 to 15 digits after '+', not starting with 0")]
    BadDigits,
}

/// A phone number in E.164 form: `+` then 8 to 15 digits, the first not 0.
///
/// `Debug` and `Display` mask the middle digits (`+1415***0123`) so a number never reaches a log
/// whole; [`PhoneNumber::as_str`] gives the full number for the wire.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        let digits = raw.strip_prefix('+').ok_or(PhoneNumberError::MissingPlus)?;
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PhoneNumberError::BadDigits)
        }
    }

    /// The full number, for requests to vendors and API responses. Never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden: country-ish prefix and last four digits stay.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }

    /// The number as erasure leaves it: the country calling code and the last two digits, every
    /// other digit `*` (`+14155550123` becomes `+1********23`). Not a number one can call: it
    /// only ever reads back through [`PhoneNumber::stored`].
    pub fn erased(&self) -> Self {
        if self.is_erased() {
            return self.clone();
        }
        let digits = &self.0[1..];
        let code = country_code_len(digits);
        let hidden = digits.len().saturating_sub(code + 2);
        Self(format!(
            "+{}{}{}",
            &digits[..code],
            "*".repeat(hidden),
            &digits[code + hidden..]
        ))
    }

    /// Whether this is a number [`PhoneNumber::erased`] made.
    pub fn is_erased(&self) -> bool {
        self.0.contains('*')
    }

    /// Reads a number as stored: E.164, or the erased form of one.
    pub fn stored(raw: &str) -> Result<Self, PhoneNumberError> {
        if raw.contains('*') {
            let digits = raw.strip_prefix('+').ok_or(PhoneNumberError::MissingPlus)?;
            let valid = (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'*');
            return if valid {
                Ok(Self(raw.to_owned()))
            } else {
                Err(PhoneNumberError::BadDigits)
            };
        }
        Self::parse(raw)
    }
}

/// How many of an E.164 number's digits (after `+`) are its country calling code (ITU-T E.164
/// assignments: 1 for zones 1 and 7, 2 or 3 elsewhere).
fn country_code_len(digits: &str) -> usize {
    let two = |list: &[&str]| list.iter().any(|prefix| digits.starts_with(prefix));
    let len = match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        Some(b'2') if two(&["20", "27"]) => 2,
        Some(b'3') if two(&["30", "31", "32", "33", "34", "36", "39"]) => 2,
        Some(b'4') if !digits.starts_with("42") => 2,
        Some(b'5') if !two(&["50", "59"]) => 2,
        Some(b'6') if two(&["60", "61", "62", "63", "64", "65", "66"]) => 2,
        Some(b'8') if two(&["81", "82", "84", "86"]) => 2,
        Some(b'9') if two(&["90", "91", "92", "93", "94", "95", "98"]) => 2,
        _ => 3,
    };
    len.min(digits.len())
}

/// Masks any phone-number-like string: keeps `+` and up to 4 leading digits, and the last 4.
pub fn mask_phone(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let plus = usize::from(chars.first() == Some(&'+'));
    let digits = chars.len() - plus;
    if digits <= 6 {
        return "***".to_owned();
    }
    let head = (digits - 6).min(4) + plus;
    let tail: String = chars[chars.len() - 4..].iter().collect();
    let start: String = chars[..head].iter().collect();
    format!("{start}***{tail}")
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneNumberError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164() {
        for ok in [
            "+14155550123",
            "+442071838750",
            "+12345678",
            "+123456789012345",
        ] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_non_e164() {
        assert_eq!(
            PhoneNumber::parse("14155550123"),
            Err(PhoneNumberError::MissingPlus)
        );
        for bad in [
            "+1234567",
            "+1234567890123456",
            "+04155550123",
            "+1415555012a",
            "+",
            "+1 415 555 0123",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad),
                Err(PhoneNumberError::BadDigits),
                "{bad}"
            );
        }
    }

    #[test]
    fn masks_middle_digits() {
        let number = PhoneNumber::parse("+14155550123").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(number.masked(), "+1415***0123");
        assert_eq!(format!("{number}"), "+1415***0123");
        assert!(!format!("{number:?}").contains("5550123"));
        assert_eq!(mask_phone("+12345678"), "+12***5678");
        assert_eq!(mask_phone("12345"), "***");
    }

    #[test]
    fn erasure_keeps_the_country_code_and_the_last_two_digits() {
        let erase = |raw: &str| {
            PhoneNumber::parse(raw)
                .unwrap_or_else(|e| panic!("{e}"))
                .erased()
        };
        assert_eq!(erase("+14155550123").as_str(), "+1********23");
        assert_eq!(erase("+442071838750").as_str(), "+44********50");
        assert_eq!(erase("+35312345678").as_str(), "+353******78");
        assert_eq!(erase("+74951234567").as_str(), "+7********67");
        let erased = erase("+14155550123");
        assert!(erased.is_erased());
        assert_eq!(erased.erased(), erased);
        assert_eq!(PhoneNumber::stored(erased.as_str()), Ok(erased));
        assert!(PhoneNumber::parse("+1********23").is_err());
        assert!(PhoneNumber::stored("+1**a*****23").is_err());
        assert!(PhoneNumber::stored("+14155550123").is_ok());
    }

    #[test]
    fn call_ids_sort_by_creation() {
        let first = CallId::new();
        let second = CallId::new();
        assert!(first < second);
        assert_eq!(first.to_string().parse::<CallId>().ok(), Some(first));
    }
}
