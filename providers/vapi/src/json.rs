//! Tolerant readers for VAPI's JSON. VAPI's schemas grow constantly and mark nearly everything
//! optional, so fields are read one by one instead of through a strict schema: a field of an
//! unexpected type reads as absent rather than failing the whole message. Nothing here quotes a
//! value in an error, so no payload content reaches a log through it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// `parent[key]` as an object.
pub(crate) fn obj<'a>(parent: Option<&'a Object>, key: &str) -> Option<&'a Object> {
    parent?.get(key)?.as_object()
}

/// `parent[key]` as a string that is not blank.
pub(crate) fn str_at<'a>(parent: Option<&'a Object>, key: &str) -> Option<&'a str> {
    parent?.get(key)?.as_str().filter(|s| !s.trim().is_empty())
}

/// `parent[key]` as a finite number (a string holding one counts too).
pub(crate) fn num_at(parent: Option<&Object>, key: &str) -> Option<f64> {
    let value = match parent?.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    value.filter(|n| n.is_finite())
}

/// `parent[key]` as an array (absent reads as empty).
pub(crate) fn array_at<'a>(parent: Option<&'a Object>, key: &str) -> &'a [Value] {
    parent
        .and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The first of `keys` that `parent` has as a non-blank string.
pub(crate) fn first_str<'a>(parent: Option<&'a Object>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| str_at(parent, key))
}

/// An RFC 3339 time (VAPI's ISO 8601 strings, e.g. `2026-11-20T10:00:05.000Z`).
pub(crate) fn time_at(parent: Option<&Object>, key: &str) -> Option<DateTime<Utc>> {
    let raw = str_at(parent, key)?;
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time given as milliseconds since the epoch (VAPI's message `timestamp`).
pub(crate) fn millis_time(millis: f64) -> Option<DateTime<Utc>> {
    if !millis.is_finite() || millis.abs() >= 1e16 {
        return None;
    }
    DateTime::from_timestamp_millis(millis.round() as i64)
}

/// A value as the text it was sent as: strings as they are, numbers in JSON form.
pub(crate) fn raw_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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

    fn object(value: Value) -> Object {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent() {
        let o = object(json!({"s": "x", "blank": " ", "n": 2.5, "ns": "3", "a": [1], "o": {}}));
        assert_eq!(str_at(Some(&o), "s"), Some("x"));
        assert_eq!(str_at(Some(&o), "blank"), None);
        assert_eq!(str_at(Some(&o), "n"), None);
        assert_eq!(num_at(Some(&o), "n"), Some(2.5));
        assert_eq!(num_at(Some(&o), "ns"), Some(3.0));
        assert_eq!(num_at(Some(&o), "s"), None);
        assert_eq!(array_at(Some(&o), "a").len(), 1);
        assert!(array_at(Some(&o), "o").is_empty());
        assert!(obj(Some(&o), "o").is_some());
        assert!(obj(None, "o").is_none());
        assert_eq!(first_str(Some(&o), &["missing", "s"]), Some("x"));
    }

    #[test]
    fn times() {
        let o = object(json!({"t": "2026-11-20T10:00:05.000Z", "bad": "yesterday"}));
        assert_eq!(
            time_at(Some(&o), "t"),
            DateTime::from_timestamp(1_795_168_805, 0)
        );
        assert_eq!(time_at(Some(&o), "bad"), None);
        assert_eq!(
            millis_time(1_763_632_800_000.0),
            DateTime::from_timestamp(1_763_632_800, 0)
        );
        assert_eq!(millis_time(f64::NAN), None);
        assert_eq!(millis_time(1e300), None);
    }

    #[test]
    fn raw_text_keeps_the_sent_form() {
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
