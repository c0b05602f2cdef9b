//! The suite's own tests, against fake providers (`tests/fake.rs`).

mod fake;

use std::collections::BTreeSet;

use serde_json::json;

use self::fake::{
    FakeFactory, Faults, PanickyFactory, SECRET, SIGNATURE, failed, now, run_with, signature,
    subject,
};
use super::create_call::check_url;
use super::manifest::{is_kind, is_semver, is_snake_case};
use super::mutations::{collect_places, remove_at};
use super::*;

#[test]
fn a_good_provider_passes_every_check() {
    let results = run_with(Faults::default());
    let names: Vec<&str> = results.iter().map(|r| r.name).collect();
    assert_eq!(names, CHECK_NAMES);
    assert!(all_passed(&results), "{results:#?}");
    let factory = FakeFactory(Faults::default());
    assert_conformant(&subject(&factory));
}

#[test]
fn check_names_are_unique_snake_case() {
    let unique: BTreeSet<&str> = CHECK_NAMES.iter().copied().collect();
    assert_eq!(unique.len(), CHECK_NAMES.len());
    assert!(CHECK_NAMES.iter().all(|n| is_snake_case(n)));
}

#[test]
fn each_fault_fails_its_check() {
    let cases: [(Faults, &[&str]); 9] = [
        (
            Faults {
                bad_manifest: true,
                ..Faults::default()
            },
            &[MANIFEST_WELL_FORMED],
        ),
        (
            Faults {
                accepts_any_config: true,
                ..Faults::default()
            },
            &[CONFIG_INVALID_REPORTED],
        ),
        (
            Faults {
                forgets_call_id: true,
                ..Faults::default()
            },
            &[CREATE_CALL_CARRIES_CALL_ID],
        ),
        (
            Faults {
                relative_url: true,
                ..Faults::default()
            },
            &[CREATE_CALL_REQUEST_WELL_FORMED],
        ),
        (
            Faults {
                accepts_anything: true,
                ..Faults::default()
            },
            &[
                CREATE_CALL_RESPONSE_VENDOR_ERROR,
                CREATE_CALL_RESPONSE_GARBAGE,
            ],
        ),
        (
            Faults {
                accepts_unsigned: true,
                ..Faults::default()
            },
            &[WEBHOOK_MISSING_SIGNATURE_REJECTED],
        ),
        (
            Faults {
                unstable_dedupe_key: true,
                ..Faults::default()
            },
            &[WEBHOOK_PARSE_DETERMINISTIC],
        ),
        (
            Faults {
                idempotent: true,
                unstable_idempotency_key: true,
                ..Faults::default()
            },
            &[
                CREATE_CALL_DETERMINISTIC,
                CREATE_CALL_IDEMPOTENCY_KEY_STABLE,
            ],
        ),
        (
            Faults {
                idempotent: true,
                forgets_call_id: true,
                ..Faults::default()
            },
            &[
                CREATE_CALL_CARRIES_CALL_ID,
                CREATE_CALL_IDEMPOTENCY_KEY_STABLE,
            ],
        ),
    ];
    // A provider declaring idempotent creates with a key per call passes every check.
    let idempotent = run_with(Faults {
        idempotent: true,
        ..Faults::default()
    });
    assert!(all_passed(&idempotent), "{idempotent:#?}");
    let stable = idempotent
        .iter()
        .find(|r| r.name == CREATE_CALL_IDEMPOTENCY_KEY_STABLE)
        .map(|r| r.detail.clone())
        .unwrap_or_default();
    assert!(stable.contains("another call"), "{stable}");
    let plugin_failures = run_with(Faults {
        fails_like_a_plugin: true,
        ..Faults::default()
    });
    assert_eq!(
        failed(&plugin_failures),
        [
            WEBHOOK_MISSING_SIGNATURE_REJECTED,
            WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS,
            WEBHOOK_PARSE_GARBAGE_NEVER_PANICS,
            WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC
        ],
        "{plugin_failures:#?}"
    );
    for (faults, expected) in cases {
        let results = run_with(faults);
        assert_eq!(failed(&results), expected, "{faults:?}: {results:#?}");
    }
}

#[test]
fn a_signature_that_does_not_cover_the_body_fails_the_tamper_check() {
    let factory = FakeFactory(Faults {
        signs_without_body: true,
        ..Faults::default()
    });
    let mut subject = subject(&factory);
    // Signed the way this provider checks: over an empty body.
    let (_, headers, _) = subject.samples.signed_webhook.as_mut().unwrap();
    *headers = subject
        .samples
        .unsigned_headers
        .clone()
        .with(SIGNATURE, signature(SECRET, b""));
    let results = run(&subject);
    // Garbage under the sample's signature verifies too.
    assert_eq!(
        failed(&results),
        [
            WEBHOOK_TAMPERED_BODY_REJECTED,
            WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS
        ],
        "{results:#?}"
    );
    // A sample that does not verify fails its own check, not the tamper check.
    let factory = FakeFactory(Faults::default());
    let mut subject = self::subject(&factory);
    let (_, headers, _) = subject.samples.signed_webhook.as_mut().unwrap();
    *headers = Headers::new().with(SIGNATURE, "0000");
    let results = run(&subject);
    assert_eq!(
        failed(&results),
        [WEBHOOK_SIGNED_SAMPLE_VERIFIES],
        "{results:#?}"
    );
}

#[test]
fn a_panic_in_parsing_fails_the_garbage_checks() {
    let results = run_with(Faults {
        panics_on_garbage: true,
        ..Faults::default()
    });
    assert_eq!(
        failed(&results),
        [
            WEBHOOK_PARSE_GARBAGE_NEVER_PANICS,
            WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC
        ]
    );
    let garbage = &results[CHECK_NAMES
        .iter()
        .position(|n| *n == WEBHOOK_PARSE_GARBAGE_NEVER_PANICS)
        .unwrap()];
    assert!(
        garbage.detail.contains("panicked: cannot read the body"),
        "{}",
        garbage.detail
    );
}

#[test]
fn manifest_problems_are_all_listed() {
    let results = run_with(Faults {
        bad_manifest: true,
        ..Faults::default()
    });
    let detail = &results[0].detail;
    for expected in [
        "kind 'Fake-Kind'",
        "version 'one'",
        "'api_key' is listed twice",
        "'WebhookURL' is not snake_case",
        "'WebhookURL' has no description",
        "credential header 'X-Fake-Key' is not a lower-case header name",
        "credential header 'x fake' is not a lower-case header name",
    ] {
        assert!(detail.contains(expected), "{expected} not in {detail}");
    }
}

#[test]
fn valid_config_must_hold_the_required_and_only_declared_keys() {
    let factory = FakeFactory(Faults::default());
    let mut subject = subject(&factory);
    subject.valid_config = json!({"webhook_secret": SECRET, "extra": 1});
    let results = run(&subject);
    assert!(!results[0].passed);
    assert!(
        results[0].detail.contains("required config key 'api_key'"),
        "{}",
        results[0].detail
    );
    assert!(
        results[0].detail.contains("'extra'"),
        "{}",
        results[0].detail
    );
    // The factory refuses it too: every provider check reports why it did not run.
    assert!(!results[2].passed);
    assert!(
        results[3..]
            .iter()
            .all(|r| !r.passed && r.detail.starts_with("not run:")),
        "{results:#?}"
    );
}

#[test]
fn a_local_provider_is_checked_by_its_local_answer() {
    let results = run_with(Faults {
        local: true,
        ..Faults::default()
    });
    assert!(all_passed(&results), "{results:#?}");
    assert!(
        results[3].detail.contains("local answer"),
        "{}",
        results[3].detail
    );
}

#[test]
fn create_call_checks_do_not_apply_without_outbound_calls() {
    let results = run_with(Faults {
        no_outbound: true,
        ..Faults::default()
    });
    assert!(all_passed(&results), "{results:#?}");
    assert!(
        results[3..9]
            .iter()
            .all(|r| r.detail.starts_with("not applicable"))
    );
}

#[test]
fn webhook_checks_do_not_apply_without_a_signed_sample() {
    let factory = FakeFactory(Faults {
        accepts_unsigned: true,
        ..Faults::default()
    });
    let mut subject = subject(&factory);
    subject.samples.signed_webhook = None;
    let results = run(&subject);
    assert!(all_passed(&results), "{results:#?}");
    assert!(
        results
            .iter()
            .filter(|r| r.name.starts_with("webhook_"))
            .all(|r| r.detail.starts_with("not applicable"))
    );
}

#[test]
fn a_panicking_provider_fails_every_check_without_panicking() {
    let mut subject = subject(&PanickyFactory);
    subject.valid_config = json!({});
    subject.invalid_config = json!({"panic_in_validate": true});
    let results = run(&subject);
    assert_eq!(results.len(), CHECK_NAMES.len());
    assert!(results.iter().all(|r| !r.passed), "{results:#?}");
    assert!(
        results[0].detail.contains("panicked: no manifest today"),
        "{}",
        results[0].detail
    );
    assert!(
        results[1].detail.contains("validate_config exploded"),
        "{}",
        results[1].detail
    );
    assert!(
        results[3].detail.contains("build_create_call exploded"),
        "{}",
        results[3].detail
    );
    assert!(
        results[7]
            .detail
            .contains("parse_create_call_response exploded"),
        "{}",
        results[7].detail
    );
    assert!(
        results[10].detail.contains("verify_webhook exploded"),
        "{}",
        results[10].detail
    );
    assert!(
        results[16].detail.contains("non-string panic payload"),
        "{}",
        results[16].detail
    );

    // Even a factory that cannot build: every check fails, none panics.
    subject.valid_config = json!({"panic_in_validate": true});
    let results = run(&subject);
    assert!(results.iter().all(|r| !r.passed), "{results:#?}");
    assert!(
        results[3]
            .detail
            .starts_with("not run: validate_config(valid_config) panicked")
    );
}

#[test]
#[should_panic(expected = "conformance checks failed")]
fn assert_conformant_panics_listing_the_failures() {
    let factory = FakeFactory(Faults {
        forgets_call_id: true,
        ..Faults::default()
    });
    assert_conformant(&subject(&factory));
}

#[test]
fn results_display_their_verdict() {
    let result = CheckResult {
        name: MANIFEST_WELL_FORMED,
        passed: false,
        detail: "no kind".into(),
    };
    assert_eq!(result.to_string(), "[FAIL] manifest_well_formed: no kind");
}

#[test]
fn helpers_accept_and_refuse_what_they_should() {
    assert!(is_semver("0.1.0") && is_semver("1.2.3-beta.1+build.5") && is_semver("10.0.12"));
    assert!(
        !is_semver("1.2") && !is_semver("01.2.3") && !is_semver("1.2.3-") && !is_semver("v1.2.3")
    );
    assert!(is_kind("eleven_labs2") && !is_kind("") && !is_kind("Echo") && !is_kind("a-b"));
    assert_eq!(
        check_url("https://api.example.com:8443/v1?x=1"),
        Ok("https://api.example.com:8443".into())
    );
    assert!(check_url("/v1/calls").is_err());
    assert!(check_url("https:///v1").is_err());
    assert!(check_url("https://a b/").is_err());
    assert!(check_url("ftp://example.com/").is_err());
    let mut places = Vec::new();
    collect_places(
        &json!({"a/b": [1, {"c": 2}]}),
        String::new(),
        0,
        &mut places,
    );
    assert_eq!(places, ["/a~1b", "/a~1b/0", "/a~1b/1", "/a~1b/1/c"]);
    let mut value = json!({"a/b": [1, {"c": 2}]});
    remove_at(&mut value, "/a~1b/0");
    assert_eq!(value, json!({"a/b": [{"c": 2}]}));
    assert_eq!(
        call_request(now()).unwrap().call_id.to_string(),
        "0190f00d-c0de-7a11-8bad-c0ffee000001"
    );
}

#[test]
fn subject_debug_hides_config_values() {
    let factory = FakeFactory(Faults::default());
    let debug = format!("{:?}", subject(&factory));
    assert!(
        debug.contains("api_key") && !debug.contains("k-1"),
        "{debug}"
    );
}

#[test]
fn each_check_run_alone_gives_what_the_whole_run_gives() {
    let one_fault: [fn(&mut Faults); 12] = [
        |f| f.bad_manifest = true,
        |f| f.accepts_any_config = true,
        |f| f.forgets_call_id = true,
        |f| f.relative_url = true,
        |f| f.accepts_anything = true,
        |f| f.signs_without_body = true,
        |f| f.accepts_unsigned = true,
        |f| f.unstable_dedupe_key = true,
        |f| f.panics_on_garbage = true,
        |f| f.local = true,
        |f| f.no_outbound = true,
        |f| f.fails_like_a_plugin = true,
    ];
    let mut cases = vec![Faults::default()];
    for set in one_fault {
        let mut faults = Faults::default();
        set(&mut faults);
        cases.push(faults);
    }
    for faults in cases {
        let factory = FakeFactory(faults);
        let subject = subject(&factory);
        let all = run(&subject);
        for (name, whole) in CHECK_NAMES.iter().zip(&all) {
            let alone = run_check(&subject, name).unwrap();
            if faults.unstable_dedupe_key {
                // Its dedupe keys count the parses made before, by the other checks too.
                assert_eq!((alone.name, alone.passed), (whole.name, whole.passed));
            } else {
                assert_eq!(&alone, whole, "{faults:?}");
            }
        }
    }
    // A provider that cannot be built: each provider check alone says why it did not run.
    let mut subject = subject(&PanickyFactory);
    subject.valid_config = json!({"panic_in_validate": true});
    let all = run(&subject);
    for (name, whole) in CHECK_NAMES.iter().zip(&all) {
        assert_eq!(run_check(&subject, name).as_ref(), Some(whole));
    }
}

#[test]
fn an_unknown_check_is_none() {
    let factory = FakeFactory(Faults::default());
    assert_eq!(run_check(&subject(&factory), "no_such_check"), None);
}

#[test]
fn assert_check_returns_a_passed_check() {
    let factory = FakeFactory(Faults::default());
    let result = assert_check(&subject(&factory), WEBHOOK_SAMPLE_PARSES);
    assert!(
        result.passed && result.name == WEBHOOK_SAMPLE_PARSES,
        "{result}"
    );
}

#[test]
#[should_panic(expected = "conformance check failed:\n[FAIL] create_call_carries_call_id: ")]
fn assert_check_panics_with_a_failed_check() {
    let factory = FakeFactory(Faults {
        forgets_call_id: true,
        ..Faults::default()
    });
    assert_check(&subject(&factory), CREATE_CALL_CARRIES_CALL_ID);
}

#[test]
#[should_panic(expected = "the conformance suite has no check named 'no_such_check'")]
fn assert_check_panics_for_an_unknown_check() {
    let factory = FakeFactory(Faults::default());
    assert_check(&subject(&factory), "no_such_check");
}

#[test]
fn the_macro_list_must_be_the_suite_s_checks() {
    assert!(lists_every_check(&CHECK_NAMES));
    assert!(!lists_every_check(&CHECK_NAMES[1..]));
    let mut swapped = CHECK_NAMES;
    swapped.swap(0, 1);
    assert!(!lists_every_check(&swapped));
    let mut misspelt = CHECK_NAMES;
    misspelt[16] = "webhook_parse_deterministik";
    assert!(!lists_every_check(&misspelt));
    let mut longer = CHECK_NAMES.to_vec();
    longer.push("one_check_more");
    assert!(!lists_every_check(&longer));
}

/// The tests `conformance_tests!` emits, one per check, against the fake provider without faults.
mod generated {
    use super::fake::{FakeFactory, Faults, subject};

    crate::conformance_tests!(subject(&FakeFactory(Faults::default())));
}
