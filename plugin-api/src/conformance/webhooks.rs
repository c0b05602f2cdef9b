//! The checks of webhooks: verification of the signed sample, of tampered, unsigned and garbage
//! ones; parsing of the sample, of garbage and of mutations of the sample.

use super::mutations::{GARBAGE_HEADER_VALUES, MAX_MUTATED_BODY_BYTES, garbage_bodies, mutations};
use super::{Env, Outcome, finish, parse, verify};
use crate::http::Headers;
use crate::provider::{ParsedWebhook, Verification};

const NO_WEBHOOK: &str = "not applicable: the subject gives no signed webhook sample";

/// The signed sample, or the "not applicable" summary.
fn sample<'s>(env: &Env<'s>) -> Result<(Option<&'s str>, &'s Headers, &'s [u8]), Outcome> {
    match &env.subject.samples.signed_webhook {
        Some((topic, headers, body)) => Ok((topic.as_deref(), headers, body.as_slice())),
        None => Err(Ok(NO_WEBHOOK.to_owned())),
    }
}

pub(super) fn check_signed_sample_verifies(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    match verify(env, topic, headers, body)? {
        Verification::Verified => Ok("the signed sample is Verified".to_owned()),
        Verification::Unsigned => Err(
            "the signed sample is accepted as Unsigned: does valid_config configure the secret \
             it was signed with?"
                .to_owned(),
        ),
        Verification::Rejected(reason) | Verification::Error(reason) => {
            Err(format!("the signed sample is refused: {reason}"))
        }
    }
}

pub(super) fn check_tampered_body_rejected(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    let mut flipped = body.to_vec();
    let middle = flipped.len() / 2;
    if let Some(byte) = flipped.get_mut(middle) {
        *byte ^= 0x01;
    } else {
        flipped.push(b' ');
    }
    let mut appended = body.to_vec();
    appended.push(b' ');
    let mut problems = Vec::new();
    for (label, tampered) in [
        ("one byte flipped", flipped),
        ("one byte appended", appended),
    ] {
        match verify(env, topic, headers, &tampered)? {
            Verification::Rejected(_) => {}
            other => problems.push(format!(
                "the sample with {label} is {other:?}, not Rejected"
            )),
        }
    }
    finish(problems, || {
        "a body with a byte flipped or appended is rejected".to_owned()
    })
}

pub(super) fn check_missing_signature_rejected(env: &Env<'_>) -> Outcome {
    let (topic, _, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    let mut problems = Vec::new();
    for (label, headers) in [
        (
            "the unsigned headers",
            &env.subject.samples.unsigned_headers,
        ),
        ("no headers at all", &Headers::new()),
    ] {
        match verify(env, topic, headers, body)? {
            Verification::Rejected(_) => {}
            other => problems.push(format!(
                "the sample with {label} is {other:?}, not Rejected"
            )),
        }
    }
    finish(problems, || {
        "the sample without its signature is rejected".to_owned()
    })
}

pub(super) fn check_verify_garbage(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    let mut problems = Vec::new();
    let mut tried = 0;
    // Garbage bodies under the sample's signature: never a panic, never Verified.
    for (label, garbage) in garbage_bodies() {
        for (which, hs) in [
            ("signed", headers),
            ("unsigned", &env.subject.samples.unsigned_headers),
        ] {
            tried += 1;
            match verify(env, topic, hs, &garbage) {
                Err(panic) => problems.push(format!("{label} with the {which} headers: {panic}")),
                Ok(Verification::Verified) => {
                    problems.push(format!("{label} with the {which} headers is Verified"))
                }
                Ok(_) => {}
            }
        }
    }
    // The sample with each header's value mangled: never a panic.
    let long = "a".repeat(4096);
    for index in 0..headers.0.len() {
        for value in GARBAGE_HEADER_VALUES.iter().copied().chain([long.as_str()]) {
            tried += 1;
            let mut mangled = headers.clone();
            if let Some(slot) = mangled.0.get_mut(index) {
                slot.1 = value.to_owned();
            }
            if let Err(panic) = verify(env, topic, &mangled, body) {
                let name = headers
                    .0
                    .get(index)
                    .map(|(n, _)| n.as_str())
                    .unwrap_or_default();
                problems.push(format!("header '{name}' set to {value:?}: {panic}"));
            }
        }
    }
    // Topics the provider does not serve: never a panic.
    for other in [Some("no-such-topic"), Some(""), Some("../..")] {
        tried += 1;
        if let Err(panic) = verify(env, other, headers, body) {
            problems.push(format!("topic {other:?}: {panic}"));
        }
    }
    finish(problems, || {
        format!("{tried} garbage webhooks verified without a panic or a false Verified")
    })
}

/// The topics garbage is parsed under: none, and the sample's.
fn topics(sample_topic: Option<&str>) -> Vec<Option<&str>> {
    let mut topics = vec![None];
    if sample_topic.is_some() {
        topics.push(sample_topic);
    }
    topics
}

pub(super) fn check_parse_garbage(env: &Env<'_>) -> Outcome {
    let (sample_topic, headers, _) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    let mut problems = Vec::new();
    let (mut refused, mut acknowledged) = (0, 0);
    for topic in topics(sample_topic) {
        for (label, garbage) in garbage_bodies() {
            match parse(env, topic, headers, &garbage) {
                Err(panic) => problems.push(format!("{label} (topic {topic:?}): {panic}")),
                Ok(Err(_)) => refused += 1,
                Ok(Ok(_)) => acknowledged += 1,
            }
        }
    }
    finish(problems, || {
        format!("{refused} garbage bodies refused and {acknowledged} acknowledged, none panicked")
    })
}

pub(super) fn check_parse_mutations(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    if body.len() > MAX_MUTATED_BODY_BYTES {
        return Ok(format!(
            "not applicable: the sample is larger than {MAX_MUTATED_BODY_BYTES} bytes"
        ));
    }
    let mut problems = Vec::new();
    let variants = mutations(body);
    for (label, mutated) in &variants {
        if let Err(panic) = parse(env, topic, headers, mutated) {
            problems.push(format!("the sample with {label}: {panic}"));
        }
    }
    finish(problems, || {
        format!(
            "{} mutations of the sample parsed without a panic",
            variants.len()
        )
    })
}

fn check_parsed(parsed: &ParsedWebhook) -> Vec<String> {
    let mut problems = Vec::new();
    if parsed.event_type.trim().is_empty() {
        problems.push("the event type is empty".to_owned());
    }
    if parsed
        .dedupe_key
        .as_deref()
        .is_some_and(|key| key.trim().is_empty())
    {
        problems
            .push("the dedupe key is an empty string (use None to dedupe on the body)".to_owned());
    }
    if !parsed.events.is_empty() && parsed.correlation.is_empty() {
        problems.push(format!(
            "{} event(s) with no correlation: they cannot be tied to a call",
            parsed.events.len()
        ));
    }
    problems
}

pub(super) fn check_sample_parses(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    let parsed = parse(env, topic, headers, body)?
        .map_err(|e| format!("the signed sample does not parse: {e}"))?;
    finish(check_parsed(&parsed), || {
        format!(
            "event type '{}', {} event(s), dedupe key {}",
            parsed.event_type,
            parsed.events.len(),
            parsed.dedupe_key.as_deref().unwrap_or("none (body hash)")
        )
    })
}

pub(super) fn check_parse_deterministic(env: &Env<'_>) -> Outcome {
    let (topic, headers, body) = match sample(env) {
        Ok(sample) => sample,
        Err(outcome) => return outcome,
    };
    // Parse, verify, parse again, verify again, parse a copy: a provider keeps no state between
    // webhooks, so every answer must be the same.
    let first = parse(env, topic, headers, body)?;
    let first_verdict = verify(env, topic, headers, body)?;
    let second = parse(env, topic, headers, body)?;
    let second_verdict = verify(env, topic, headers, body)?;
    let copy = body.to_vec();
    let third = parse(env, topic, &headers.clone(), &copy)?;
    let mut problems = Vec::new();
    if first_verdict != second_verdict {
        problems.push(format!(
            "verifying the sample twice gives {first_verdict:?}, then {second_verdict:?}"
        ));
    }
    match (&first, &second, &third) {
        (Ok(a), Ok(b), Ok(c)) => {
            if a.dedupe_key != b.dedupe_key || a.dedupe_key != c.dedupe_key {
                problems.push(format!(
                    "the dedupe keys differ: {:?}, {:?}, {:?}",
                    a.dedupe_key, b.dedupe_key, c.dedupe_key
                ));
            } else if a != b || a != c {
                problems.push("parsing the sample again gives different events".to_owned());
            }
        }
        (Err(a), Err(b), Err(c)) if a == b && a == c => {
            problems.push(format!("the signed sample does not parse: {a}"))
        }
        _ => problems.push(format!(
            "parsing the sample three times gives different outcomes: ok={}, ok={}, ok={}",
            first.is_ok(),
            second.is_ok(),
            third.is_ok()
        )),
    }
    finish(problems, || {
        "three parses give equal events and dedupe keys; two verifications agree".to_owned()
    })
}
