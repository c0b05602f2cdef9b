//! Lenient readers for vendor JSON: ElevenLabs documents some fields loosely (numbers sent as
//! strings, optional objects sent as `null`), so every field is read through these instead of a
//! strict schema. They never quote a value in an error, so no payload content reaches a log.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

/// A JSON object, with `null` read as absent.
pub(crate) type Object = Map<String, Value>;

/// `object[key]` as an object.
pub(crate) fn object<'a>(object: Option<&'a Object>, key: &str) -> Option<&'a Object> {
    object?.get(key)?.as_object()
}

/// `object[key]` as a non-blank string.
pub(crate) fn text<'a>(object: Option<&'a Object>, key: &str) -> Option<&'a str> {
    object?.get(key)?.as_str().filter(|s| !s.trim().is_empty())
}

/// A number, or a string holding one.
pub(crate) fn number(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    number.filter(|n| n.is_finite())
}

/// `object[key]` as a number.
pub(crate) fn number_at(object: Option<&Object>, key: &str) -> Option<f64> {
    number(object?.get(key)?)
}

/// An integer, or a string holding one.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A point in time given as unix seconds (integer, fractional, or either as a string), or as an
/// RFC 3339 string.
pub(crate) fn unix_time(value: &Value) -> Option<DateTime<Utc>> {
    if let Some(secs) = integer(value) {
        return DateTime::from_timestamp(secs, 0);
    }
    if let Some(secs) = number(value) {
        let millis = (secs * 1000.0).round();
        if millis.abs() < 1e17 {
            return DateTime::from_timestamp_millis(millis as i64);
        }
        return None;
    }
    let raw = value.as_str()?;
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `start + secs`, when both make sense.
pub(crate) fn plus_secs(start: DateTime<Utc>, secs: f64) -> Option<DateTime<Utc>> {
    if !(0.0..1e9).contains(&secs) {
        return None;
    }
    start.checked_add_signed(TimeDelta::milliseconds((secs * 1000.0).round() as i64))
}

/// At most `max` characters of `raw`, marked when cut.
pub(crate) fn truncate(raw: &str, max: usize) -> String {
    let mut chars = raw.chars();
    let mut cut: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_may_be_strings() {
        assert_eq!(number(&json!(1.5)), Some(1.5));
        assert_eq!(number(&json!("22")), Some(22.0));
        assert_eq!(number(&json!("n/a")), None);
        assert_eq!(number(&json!(null)), None);
        assert_eq!(integer(&json!("1739537297")), Some(1_739_537_297));
        assert_eq!(integer(&json!(2.5)), None);
    }

    #[test]
    fn times_are_read_in_every_form() {
        let expected = DateTime::from_timestamp(1_739_537_297, 0);
        assert_eq!(unix_time(&json!(1_739_537_297)), expected);
        assert_eq!(unix_time(&json!("1739537297")), expected);
        assert_eq!(unix_time(&json!("2025-02-14T12:48:17Z")), expected);
        assert_eq!(
            unix_time(&json!(1_739_537_297.5)),
            DateTime::from_timestamp_millis(1_739_537_297_500)
        );
        assert_eq!(unix_time(&json!("yesterday")), None);
        assert_eq!(unix_time(&json!(1e300)), None);
    }

    #[test]
    fn durations_must_be_sane() {
        let start = DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(plus_secs(start, 22.0), DateTime::from_timestamp(1_022, 0));
        assert_eq!(plus_secs(start, -1.0), None);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
