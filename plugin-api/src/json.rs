//! Lenient readers for vendor JSON: a field of the wrong type reads as absent instead of failing
//! the whole payload, numbers and times are accepted in the forms vendors send them, and nothing
//! here panics or quotes payload content. Every provider parses the same way through these.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

/// A JSON object.
pub type Object = Map<String, Value>;

/// `parent[key]` as an object.
pub fn object<'a>(parent: Option<&'a Object>, key: &str) -> Option<&'a Object> {
    parent?.get(key)?.as_object()
}

/// `parent[key]` as a string that is not blank.
pub fn text<'a>(parent: Option<&'a Object>, key: &str) -> Option<&'a str> {
    parent?.get(key)?.as_str().filter(|s| !s.trim().is_empty())
}

/// The first of `keys` that `parent` has as a non-blank string.
pub fn first_text<'a>(parent: Option<&'a Object>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| text(parent, key))
}

/// `parent[key]` as an array (absent or of another type reads as empty).
pub fn array_at<'a>(parent: Option<&'a Object>, key: &str) -> &'a [Value] {
    parent
        .and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A finite number (a string holding one counts too).
pub fn number(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    number.filter(|n| n.is_finite())
}

/// `parent[key]` as a finite number.
pub fn number_at(parent: Option<&Object>, key: &str) -> Option<f64> {
    number(parent?.get(key)?)
}

/// A whole number (a string holding one counts too).
pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A value as the text it was sent as: strings trimmed, numbers in JSON form.
pub fn raw_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A time given as unix seconds (whole or fractional, number or string) or RFC 3339 text.
pub fn unix_time(value: &Value) -> Option<DateTime<Utc>> {
    if let Some(secs) = integer(value) {
        return DateTime::from_timestamp(secs, 0);
    }
    if let Some(secs) = number(value) {
        return millis_time(secs * 1000.0);
    }
    rfc3339(value.as_str()?)
}

/// `parent[key]` as an RFC 3339 time (e.g. `2026-11-20T10:00:05.000Z`).
pub fn rfc3339_at(parent: Option<&Object>, key: &str) -> Option<DateTime<Utc>> {
    rfc3339(text(parent, key)?)
}

fn rfc3339(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time given as milliseconds since the epoch; absurd values read as absent.
pub fn millis_time(millis: f64) -> Option<DateTime<Utc>> {
    if !millis.is_finite() || millis.abs() >= 1e16 {
        return None;
    }
    DateTime::from_timestamp_millis(millis.round() as i64)
}

/// `start` plus a duration in seconds; negative or absurd durations read as absent.
pub fn plus_secs(start: DateTime<Utc>, secs: f64) -> Option<DateTime<Utc>> {
    if !(0.0..1e9).contains(&secs) {
        return None;
    }
    start.checked_add_signed(TimeDelta::milliseconds((secs * 1000.0).round() as i64))
}

/// How many characters of a vendor's error text an error message quotes.
pub const QUOTED_CHARS: usize = 300;

/// A vendor's answer that is not JSON, as quoted text: its start, trimmed; `None` when blank.
pub fn quoted_text(body: &[u8]) -> Option<String> {
    let raw = String::from_utf8_lossy(body);
    let raw = raw.trim();
    (!raw.is_empty()).then(|| truncate(raw, QUOTED_CHARS))
}

/// `<vendor> answered HTTP <status>[: <message>]`: how every provider words a vendor's error.
pub fn answered(vendor: &str, status: u16, message: Option<String>) -> String {
    match message {
        Some(message) => format!("{vendor} answered HTTP {status}: {message}"),
        None => format!("{vendor} answered HTTP {status}"),
    }
}

/// At most `max` characters of `raw`, marked with `…` when cut (for error messages).
pub fn truncate(raw: &str, max: usize) -> String {
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

    fn as_object(value: Value) -> Object {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn vendor_errors_are_worded_once() {
        assert_eq!(
            answered("Acme", 503, Some("busy".into())),
            "Acme answered HTTP 503: busy"
        );
        assert_eq!(answered("Acme", 500, None), "Acme answered HTTP 500");
        assert_eq!(quoted_text(b"  \n "), None);
        assert_eq!(quoted_text(b" oops "), Some("oops".to_owned()));
        let long = quoted_text("x".repeat(400).as_bytes()).unwrap_or_default();
        assert_eq!(long.chars().count(), QUOTED_CHARS + 1);
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent() {
        let o = as_object(json!({"s": "x", "blank": " ", "n": 2.5, "ns": "3", "a": [1], "o": {}}));
        assert_eq!(text(Some(&o), "s"), Some("x"));
        assert_eq!(text(Some(&o), "blank"), None);
        assert_eq!(text(Some(&o), "n"), None);
        assert_eq!(number_at(Some(&o), "n"), Some(2.5));
        assert_eq!(number_at(Some(&o), "ns"), Some(3.0));
        assert_eq!(number_at(Some(&o), "s"), None);
        assert_eq!(array_at(Some(&o), "a").len(), 1);
        assert!(array_at(Some(&o), "o").is_empty());
        assert!(object(Some(&o), "o").is_some());
        assert!(object(None, "o").is_none());
        assert_eq!(first_text(Some(&o), &["missing", "s"]), Some("x"));
    }

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
        let o = as_object(json!({"t": "2026-11-20T10:00:05.000Z", "bad": "yesterday"}));
        assert_eq!(
            rfc3339_at(Some(&o), "t"),
            DateTime::from_timestamp(1_795_168_805, 0)
        );
        assert_eq!(rfc3339_at(Some(&o), "bad"), None);
        assert_eq!(
            millis_time(1_763_632_800_000.0),
            DateTime::from_timestamp(1_763_632_800, 0)
        );
        assert_eq!(millis_time(f64::NAN), None);
        assert_eq!(millis_time(1e300), None);
    }

    #[test]
    fn durations_must_be_sane() {
        let start = DateTime::from_timestamp(1_000, 0).unwrap_or_default();
        assert_eq!(plus_secs(start, 22.0), DateTime::from_timestamp(1_022, 0));
        assert_eq!(plus_secs(start, -1.0), None);
    }

    #[test]
    fn text_keeps_its_sent_form_and_cuts_by_characters() {
        assert_eq!(
            raw_text(&json!(1_763_632_800_000_u64)).as_deref(),
            Some("1763632800000")
        );
        assert_eq!(raw_text(&json!("abc")).as_deref(), Some("abc"));
        assert_eq!(raw_text(&json!(null)), None);
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
