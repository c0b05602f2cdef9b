//! The malformed inputs the never-panic checks feed a provider: garbage bodies, garbage header
//! values, and mutations of the signed webhook sample.

use serde_json::{Value, json};

/// A fixed, pseudo-random byte string, with invalid UTF-8 and NULs.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Bodies no vendor sends on purpose.
pub(super) fn garbage_bodies() -> Vec<(&'static str, Vec<u8>)> {
    const DEPTH: usize = 10_000;
    let mut deep_objects = "{\"a\":".repeat(DEPTH).into_bytes();
    deep_objects.push(b'1');
    deep_objects.extend("}".repeat(DEPTH).into_bytes());
    vec![
        ("an empty body", Vec::new()),
        ("`not json`", b"not json".to_vec()),
        ("`{}`", b"{}".to_vec()),
        ("`[]`", b"[]".to_vec()),
        ("`null`", b"null".to_vec()),
        ("`\"text\"`", b"\"text\"".to_vec()),
        ("`{\"message\":1}`", br#"{"message":1}"#.to_vec()),
        ("`{\"message\":{}}`", br#"{"message":{}}"#.to_vec()),
        (
            "`{\"type\":null,\"data\":[]}`",
            br#"{"type":null,"data":[]}"#.to_vec(),
        ),
        (
            "a huge number",
            br#"{"id":1e999999,"timestamp":-1e400}"#.to_vec(),
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"id\":\"\xff\xfe\"}".to_vec(),
        ),
        ("random bytes", noise(512)),
        ("10000 nested objects", deep_objects),
        ("64 KiB of `[`", vec![b'['; 64 * 1024]),
    ]
}

/// Header values no sender should send.
pub(super) const GARBAGE_HEADER_VALUES: [&str; 8] = [
    "",
    "garbage",
    "t=,v0=,v1=",
    "t=abc,v0=zz,v1=zz",
    "t=99999999999999999999999,v1=00",
    "=,=,=;;",
    "sha256=",
    "\u{fffd}\u{e9}\u{1f600}",
];

/// Webhook samples larger than this are not mutated (each mutation re-serializes the sample).
pub(super) const MAX_MUTATED_BODY_BYTES: usize = 1024 * 1024;
/// At most this many places in the sample are mutated.
const MAX_MUTATED_PLACES: usize = 300;
/// Places deeper than this in the sample are left alone.
const MAX_MUTATION_DEPTH: usize = 6;

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

pub(super) fn collect_places(
    value: &Value,
    pointer: String,
    depth: usize,
    places: &mut Vec<String>,
) {
    if places.len() >= MAX_MUTATED_PLACES || depth > MAX_MUTATION_DEPTH {
        return;
    }
    if !pointer.is_empty() {
        places.push(pointer.clone());
    }
    match value {
        Value::Object(table) => {
            for (key, child) in table {
                collect_places(
                    child,
                    format!("{pointer}/{}", escape_pointer(key)),
                    depth + 1,
                    places,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_places(child, format!("{pointer}/{index}"), depth + 1, places);
            }
        }
        _ => {}
    }
}

/// Removes the value at `pointer` (an object key or an array item).
pub(super) fn remove_at(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(table)) => {
            table.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// The sample with one place replaced by a value of another type, or removed; and the sample cut
/// short at a few lengths.
pub(super) fn mutations(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for eighth in 1..8 {
        let cut = body.len() * eighth / 8;
        out.push((
            format!("the first {cut} bytes"),
            body.get(..cut).unwrap_or_default().to_vec(),
        ));
    }
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        return out;
    };
    let mut places = Vec::new();
    collect_places(&root, String::new(), 0, &mut places);
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5e308),
        json!(""),
        json!("\u{0}\u{fffd}"),
        json!([]),
        json!({}),
    ];
    for place in &places {
        for replacement in &replacements {
            let mut mutated = root.clone();
            if let Some(slot) = mutated.pointer_mut(place) {
                *slot = replacement.clone();
            }
            out.push((
                format!("{place} = {replacement}"),
                serde_json::to_vec(&mutated).unwrap_or_default(),
            ));
        }
        let mut mutated = root.clone();
        remove_at(&mut mutated, place);
        out.push((
            format!("{place} removed"),
            serde_json::to_vec(&mutated).unwrap_or_default(),
        ));
    }
    out
}
