//! The conformance suite: the checks every provider must pass, built-in or loaded from a library.
//!
//! It is plain library code, not a `#[cfg(test)]` module, so that provider crates run it in their
//! tests and the gateway's `plugin check` command runs it against a loaded plugin. It does no I/O,
//! never panics itself, and catches every panic of the provider under test: a panicking provider
//! yields failed checks, not a crashed test run or CLI.
//!
//! A provider's author supplies a [`Subject`]: the factory, a valid and an invalid config, and a
//! few [`Samples`] only they can give (a vendor answer accepting a call, a vendor rejection, a
//! correctly signed webhook). [`run`] returns one [`CheckResult`] per check, always in the order
//! of [`CHECK_NAMES`]; [`assert_conformant`] panics listing every failed check, for tests:
//!
//! ```ignore
//! use plugin_api::conformance::{self, Samples, Subject};
//!
//! #[test]
//! fn acme_is_conformant() {
//!     conformance::assert_conformant(&Subject {
//!         factory: &AcmeFactory,
//!         valid_config: json!({"api_key": "k", "webhook_secret": "s"}),
//!         invalid_config: json!({"api_key": 42}),
//!         samples: Samples { /* recorded answers and a webhook signed with "s" */ },
//!     });
//! }
//! ```
//!
//! The calls the suite makes use one fixed request: [`call_request`], whose gateway id is
//! [`call_id`], to [`TO_NUMBER`], with the variable `customer_name` = [`CUSTOMER_NAME`].

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::{Headers, HttpRequest, HttpResponse};
use crate::ids::{CallId, PhoneNumber, PhoneNumberError};
use crate::model::CallRequest;
use crate::provider::{
    ConfigProblem, CreateCallOutcome, Environment, Manifest, Outbound, ParsedWebhook, Provider,
    ProviderContext, ProviderFactory, Verification, WebhookError, WebhookRequest,
};

/// The gateway call id of the suite's [`call_request`].
pub const CALL_ID: Uuid = Uuid::from_u128(0x0190_f00d_c0de_7a11_8bad_c0ff_ee00_0001);
/// The number the suite's [`call_request`] calls.
pub const TO_NUMBER: &str = "+14155550123";
/// The value of the variable `customer_name` in the suite's [`call_request`].
pub const CUSTOMER_NAME: &str = "Ada Lovelace";
/// The instance name the suite builds providers under.
pub const INSTANCE_NAME: &str = "conformance";

pub const MANIFEST_WELL_FORMED: &str = "manifest_well_formed";
pub const CONFIG_INVALID_REPORTED: &str = "config_invalid_reported";
pub const CONFIG_VALID_BUILDS: &str = "config_valid_builds";
pub const CREATE_CALL_REQUEST_WELL_FORMED: &str = "create_call_request_well_formed";
pub const CREATE_CALL_CARRIES_CALL_ID: &str = "create_call_carries_call_id";
pub const CREATE_CALL_DETERMINISTIC: &str = "create_call_deterministic";
pub const CREATE_CALL_RESPONSE_SUCCESS: &str = "create_call_response_success";
pub const CREATE_CALL_RESPONSE_VENDOR_ERROR: &str = "create_call_response_vendor_error";
pub const CREATE_CALL_RESPONSE_GARBAGE: &str = "create_call_response_garbage";
pub const WEBHOOK_SIGNED_SAMPLE_VERIFIES: &str = "webhook_signed_sample_verifies";
pub const WEBHOOK_TAMPERED_BODY_REJECTED: &str = "webhook_tampered_body_rejected";
pub const WEBHOOK_MISSING_SIGNATURE_REJECTED: &str = "webhook_missing_signature_rejected";
pub const WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS: &str = "webhook_verify_garbage_never_panics";
pub const WEBHOOK_PARSE_GARBAGE_NEVER_PANICS: &str = "webhook_parse_garbage_never_panics";
pub const WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC: &str = "webhook_parse_mutations_never_panic";
pub const WEBHOOK_SAMPLE_PARSES: &str = "webhook_sample_parses";
pub const WEBHOOK_PARSE_DETERMINISTIC: &str = "webhook_parse_deterministic";

/// Every check [`run`] makes, in the order it reports them.
pub const CHECK_NAMES: [&str; 17] = [
    MANIFEST_WELL_FORMED,
    CONFIG_INVALID_REPORTED,
    CONFIG_VALID_BUILDS,
    CREATE_CALL_REQUEST_WELL_FORMED,
    CREATE_CALL_CARRIES_CALL_ID,
    CREATE_CALL_DETERMINISTIC,
    CREATE_CALL_RESPONSE_SUCCESS,
    CREATE_CALL_RESPONSE_VENDOR_ERROR,
    CREATE_CALL_RESPONSE_GARBAGE,
    WEBHOOK_SIGNED_SAMPLE_VERIFIES,
    WEBHOOK_TAMPERED_BODY_REJECTED,
    WEBHOOK_MISSING_SIGNATURE_REJECTED,
    WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS,
    WEBHOOK_PARSE_GARBAGE_NEVER_PANICS,
    WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC,
    WEBHOOK_SAMPLE_PARSES,
    WEBHOOK_PARSE_DETERMINISTIC,
];

/// What only a provider's author can give the suite.
#[derive(Debug, Clone)]
pub struct Samples {
    /// The gateway's clock for the checks: the signed webhook must verify at this time, and it is
    /// the `created_at` of the suite's [`call_request`].
    pub now: DateTime<Utc>,
    /// A vendor answer accepting a call (for a local provider, the answer it makes up itself).
    pub success_response: HttpResponse,
    /// A vendor answer refusing a call.
    pub error_response: HttpResponse,
    /// A webhook signed or authenticated for `valid_config` at `now`: `(topic, headers, body)`.
    /// Pick a scheme that covers the body (an HMAC), or the tampered-body check cannot pass.
    /// `None` skips the webhook checks (as "not applicable"), for providers without webhooks.
    pub signed_webhook: Option<(Option<String>, Headers, Vec<u8>)>,
    /// The same webhook's headers with its signature (or secret) removed.
    pub unsigned_headers: Headers,
}

/// A provider under test.
pub struct Subject<'a> {
    pub factory: &'a dyn ProviderFactory,
    /// A config that builds, with every required key, and with a webhook secret matching
    /// `samples.signed_webhook`.
    pub valid_config: Value,
    /// A config the factory must refuse with at least one problem.
    pub invalid_config: Value,
    pub samples: Samples,
}

impl fmt::Debug for Subject<'_> {
    /// Shows the configs' key names only: their values may be credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |config: &Value| -> Vec<String> {
            config
                .as_object()
                .map(|table| table.keys().cloned().collect())
                .unwrap_or_default()
        };
        f.debug_struct("Subject")
            .field("factory", &"<dyn ProviderFactory>")
            .field("valid_config_keys", &keys(&self.valid_config))
            .field("invalid_config_keys", &keys(&self.invalid_config))
            .field("samples", &self.samples)
            .finish()
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// One of [`CHECK_NAMES`].
    pub name: &'static str,
    pub passed: bool,
    /// What was observed: on failure, what was wrong; on success, a short summary (or why the
    /// check does not apply).
    pub detail: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "[{verdict}] {}: {}", self.name, self.detail)
    }
}

/// The gateway call id of the suite's [`call_request`].
pub fn call_id() -> CallId {
    CallId::from_uuid(CALL_ID)
}

/// The request the suite asks the provider to place: [`call_id`], to [`TO_NUMBER`], with the
/// variable `customer_name`, no agent or number override (the config's defaults apply).
pub fn call_request(created_at: DateTime<Utc>) -> Result<CallRequest, PhoneNumberError> {
    let mut variables = Map::new();
    variables.insert("customer_name".to_owned(), json!(CUSTOMER_NAME));
    Ok(CallRequest {
        call_id: call_id(),
        to: PhoneNumber::parse(TO_NUMBER)?,
        agent_id: None,
        from_number_id: None,
        variables,
        metadata: Map::new(),
        first_message: None,
        created_at,
    })
}

/// True if every check passed.
pub fn all_passed(results: &[CheckResult]) -> bool {
    results.iter().all(|r| r.passed)
}

/// Runs every check against `subject`; one result per entry of [`CHECK_NAMES`], in that order.
/// Never panics, whatever the provider does (short of aborting the process).
pub fn run(subject: &Subject<'_>) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(CHECK_NAMES.len());
    let mut record = |name: &'static str, outcome: Outcome| {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        results.push(CheckResult {
            name,
            passed,
            detail,
        });
    };

    let factory_manifest = guarded(|| subject.factory.manifest());
    record(
        MANIFEST_WELL_FORMED,
        check_manifest(&factory_manifest, &subject.valid_config),
    );
    record(CONFIG_INVALID_REPORTED, check_invalid_config(subject));

    let built = guarded(|| {
        subject
            .factory
            .validate_config(&context(), &subject.valid_config)
    });
    let (provider, instance_manifest) = match built {
        Err(panic) => {
            let reason = format!("validate_config(valid_config) {panic}");
            record(CONFIG_VALID_BUILDS, Err(reason.clone()));
            (Err(reason), None)
        }
        Ok(Err(problems)) => {
            let reason = format!(
                "validate_config(valid_config) refused it: {}",
                describe_problems(&problems)
            );
            record(CONFIG_VALID_BUILDS, Err(reason.clone()));
            (Err(reason), None)
        }
        Ok(Ok(provider)) => {
            let instance = guarded(|| provider.manifest());
            record(
                CONFIG_VALID_BUILDS,
                check_instance_manifest(&factory_manifest, &instance),
            );
            (Ok(provider), instance.ok())
        }
    };

    let request = call_request(subject.samples.now)
        .map_err(|e| format!("the suite's call request is invalid: {e}"));
    match (provider, request) {
        (Ok(provider), Ok(request)) => {
            let outbound = instance_manifest
                .as_ref()
                .or(factory_manifest.as_ref().ok())
                .is_none_or(|m| m.capabilities.outbound_call);
            let env = Env {
                provider: provider.as_ref(),
                subject,
                request: &request,
                outbound,
            };
            for (name, check) in PROVIDER_CHECKS {
                record(name, check(&env));
            }
            // A provider whose drop panics must not take the suite down either.
            let _ = guarded(move || drop(provider));
        }
        (Err(reason), _) | (_, Err(reason)) => {
            for (name, _) in PROVIDER_CHECKS {
                record(name, Err(format!("not run: {reason}")));
            }
        }
    }
    results
}

/// Runs every check and panics listing each failed one: for a provider's tests.
#[track_caller]
#[allow(clippy::panic)]
pub fn assert_conformant(subject: &Subject<'_>) {
    let results = run(subject);
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(ToString::to_string)
        .collect();
    if !failed.is_empty() {
        panic!(
            "{} of {} conformance checks failed:\n{}",
            failed.len(),
            results.len(),
            failed.join("\n")
        );
    }
}

/// `Ok(summary)` if the check passed, `Err(what is wrong)` if not.
type Outcome = Result<String, String>;

/// What the checks that need a built provider are given.
struct Env<'s> {
    provider: &'s dyn Provider,
    subject: &'s Subject<'s>,
    request: &'s CallRequest,
    /// The manifest declares outbound calls: the create-call checks apply.
    outbound: bool,
}

type ProviderCheck = fn(&Env<'_>) -> Outcome;

const PROVIDER_CHECKS: [(&str, ProviderCheck); 14] = [
    (CREATE_CALL_REQUEST_WELL_FORMED, check_request_well_formed),
    (CREATE_CALL_CARRIES_CALL_ID, check_carries_call_id),
    (CREATE_CALL_DETERMINISTIC, check_create_call_deterministic),
    (CREATE_CALL_RESPONSE_SUCCESS, check_response_success),
    (
        CREATE_CALL_RESPONSE_VENDOR_ERROR,
        check_response_vendor_error,
    ),
    (CREATE_CALL_RESPONSE_GARBAGE, check_response_garbage),
    (WEBHOOK_SIGNED_SAMPLE_VERIFIES, check_signed_sample_verifies),
    (WEBHOOK_TAMPERED_BODY_REJECTED, check_tampered_body_rejected),
    (
        WEBHOOK_MISSING_SIGNATURE_REJECTED,
        check_missing_signature_rejected,
    ),
    (WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS, check_verify_garbage),
    (WEBHOOK_PARSE_GARBAGE_NEVER_PANICS, check_parse_garbage),
    (WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC, check_parse_mutations),
    (WEBHOOK_SAMPLE_PARSES, check_sample_parses),
    (WEBHOOK_PARSE_DETERMINISTIC, check_parse_deterministic),
];

const NOT_OUTBOUND: &str = "not applicable: the manifest declares no outbound_call capability";
const NO_WEBHOOK: &str = "not applicable: the subject gives no signed webhook sample";

fn context() -> ProviderContext {
    ProviderContext {
        name: INSTANCE_NAME.to_owned(),
        environment: Environment::Development,
        config_dir: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Panic isolation

/// Runs `f`, turning a panic into `Err("panicked: <message>")`. (A dynamically loaded provider
/// catches its own panics at the library boundary and answers `Verification::Error` or a
/// `Plugin` error instead: the helpers below treat those as failures too.)
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| format!("panicked: {}", panic_message(&payload)))
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}

fn verify(
    env: &Env<'_>,
    topic: Option<&str>,
    headers: &Headers,
    body: &[u8],
) -> Result<Verification, String> {
    let webhook = WebhookRequest {
        topic,
        headers,
        body,
    };
    match guarded(|| {
        env.provider
            .verify_webhook(&webhook, env.subject.samples.now)
    }) {
        Err(panic) => Err(format!("verify_webhook {panic}")),
        Ok(Verification::Error(failure)) => Err(format!("verify_webhook failed: {failure}")),
        Ok(verdict) => Ok(verdict),
    }
}

fn parse(
    env: &Env<'_>,
    topic: Option<&str>,
    headers: &Headers,
    body: &[u8],
) -> Result<Result<ParsedWebhook, String>, String> {
    let webhook = WebhookRequest {
        topic,
        headers,
        body,
    };
    match guarded(|| env.provider.parse_webhook(&webhook)) {
        Err(panic) => Err(format!("parse_webhook {panic}")),
        Ok(Err(WebhookError::Plugin(failure))) => Err(format!("parse_webhook failed: {failure}")),
        Ok(parsed) => Ok(parsed.map_err(|e| e.to_string())),
    }
}

fn build_create_call(env: &Env<'_>) -> Result<Outbound, String> {
    match guarded(|| env.provider.build_create_call(env.request)) {
        Err(panic) => Err(format!("build_create_call {panic}")),
        Ok(Err(error)) => Err(format!("build_create_call failed: {error}")),
        Ok(Ok(outbound)) => Ok(outbound),
    }
}

fn parse_response(env: &Env<'_>, response: &HttpResponse) -> Result<CreateCallOutcome, String> {
    guarded(|| {
        env.provider
            .parse_create_call_response(env.request, response)
    })
    .map_err(|panic| format!("parse_create_call_response {panic}"))
}

fn describe_problems(problems: &[ConfigProblem]) -> String {
    if problems.is_empty() {
        return "no problems listed".to_owned();
    }
    problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                if p.key.is_empty() { "(table)" } else { &p.key },
                p.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn finish(problems: Vec<String>, summary: impl FnOnce() -> String) -> Outcome {
    if problems.is_empty() {
        Ok(summary())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// Manifest and config

fn is_kind(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_snake_case(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.ends_with('_')
        && !name.contains("__")
}

fn is_env_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `MAJOR.MINOR.PATCH`, optionally followed by `-pre` and `+build` parts.
fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let label_ok = |label: Option<&str>| {
        label.is_none_or(|l| {
            !l.is_empty()
                && l.split('.').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
        && label_ok(pre)
        && label_ok(build)
}

fn check_manifest(manifest: &Result<Manifest, String>, valid_config: &Value) -> Outcome {
    let manifest = manifest
        .as_ref()
        .map_err(|panic| format!("ProviderFactory::manifest {panic}"))?;
    let mut problems = Vec::new();
    if !is_kind(&manifest.kind) {
        problems.push(format!("kind '{}' must match [a-z0-9_]+", manifest.kind));
    }
    if !is_semver(&manifest.version) {
        problems.push(format!(
            "version '{}' is not a semantic version (MAJOR.MINOR.PATCH)",
            manifest.version
        ));
    }
    if manifest.description.trim().is_empty() {
        problems.push("description is empty".to_owned());
    }
    let mut seen = BTreeSet::new();
    for key in &manifest.config_keys {
        if !is_snake_case(&key.name) {
            problems.push(format!("config key '{}' is not snake_case", key.name));
        }
        if !seen.insert(key.name.as_str()) {
            problems.push(format!("config key '{}' is listed twice", key.name));
        }
        if key.description.trim().is_empty() {
            problems.push(format!("config key '{}' has no description", key.name));
        }
        if let Some(variable) = &key.env {
            if !is_env_name(variable) {
                problems.push(format!(
                    "config key '{}' names the environment variable '{variable}', not an \
                     UPPER_SNAKE_CASE name",
                    key.name
                ));
            }
        }
    }
    match valid_config.as_object() {
        None => problems.push("the subject's valid_config is not a JSON object".to_owned()),
        Some(table) => {
            for key in manifest.config_keys.iter().filter(|k| k.required) {
                if !table.contains_key(&key.name) {
                    problems.push(format!(
                        "required config key '{}' is missing from the subject's valid_config",
                        key.name
                    ));
                }
            }
            for name in table.keys() {
                if !seen.contains(name.as_str()) {
                    problems.push(format!(
                        "valid_config has the key '{name}', which the manifest does not list \
                         (the gateway refuses undeclared keys)"
                    ));
                }
            }
        }
    }
    finish(problems, || {
        format!(
            "kind '{}', version {}, {} config keys",
            manifest.kind,
            manifest.version,
            manifest.config_keys.len()
        )
    })
}

fn check_invalid_config(subject: &Subject<'_>) -> Outcome {
    let validate = |config: &Value| {
        guarded(|| subject.factory.validate_config(&context(), config))
            .map(|result| result.map(|provider| guarded(move || drop(provider))))
    };
    let mut problems = Vec::new();
    let summary = match validate(&subject.invalid_config) {
        Err(panic) => {
            problems.push(format!("validate_config(invalid_config) {panic}"));
            String::new()
        }
        Ok(Ok(_)) => {
            problems.push("validate_config accepted invalid_config".to_owned());
            String::new()
        }
        Ok(Err(reported)) => {
            if reported.is_empty() {
                problems.push(
                    "validate_config refused invalid_config but listed no problem".to_owned(),
                );
            }
            if reported.iter().any(|p| p.message.trim().is_empty()) {
                problems.push(format!(
                    "a problem has an empty message: {}",
                    describe_problems(&reported)
                ));
            }
            format!(
                "{} problem(s): {}",
                reported.len(),
                describe_problems(&reported)
            )
        }
    };
    // Configs that are not tables at all: refusing or accepting them is the provider's call (the
    // gateway only hands it tables), panicking is not.
    for odd in [
        json!(null),
        json!([]),
        json!("text"),
        json!(42),
        json!({"": {"": []}}),
    ] {
        if let Err(panic) = validate(&odd) {
            problems.push(format!("validate_config({odd}) {panic}"));
        }
    }
    finish(problems, || summary)
}

fn check_instance_manifest(
    factory: &Result<Manifest, String>,
    instance: &Result<Manifest, String>,
) -> Outcome {
    let instance = instance
        .as_ref()
        .map_err(|panic| format!("the instance's manifest {panic}"))?;
    let Ok(factory) = factory else {
        return Ok(format!("built an instance of kind '{}'", instance.kind));
    };
    let mut problems = Vec::new();
    if instance.kind != factory.kind {
        problems.push(format!(
            "the instance's kind '{}' differs from the factory's '{}'",
            instance.kind, factory.kind
        ));
    }
    if instance.version != factory.version {
        problems.push(format!(
            "the instance's version '{}' differs from the factory's '{}'",
            instance.version, factory.version
        ));
    }
    if instance.config_keys != factory.config_keys {
        problems.push("the instance's config keys differ from the factory's".to_owned());
    }
    finish(problems, || {
        format!("built an instance of kind '{}'", instance.kind)
    })
}

// ---------------------------------------------------------------------------------------------
// Placing a call

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_url(url: &str) -> Result<String, String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL contains whitespace or control characters".to_owned());
    }
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err("the URL is not an absolute http(s):// URL".to_owned());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("the URL has no host".to_owned());
    }
    Ok(format!("{scheme}://{host}"))
}

fn check_http_request(request: &HttpRequest) -> Outcome {
    let mut problems = Vec::new();
    let origin = match check_url(&request.url) {
        Ok(origin) => origin,
        Err(problem) => {
            problems.push(problem);
            String::new()
        }
    };
    for (name, value) in request.headers.iter() {
        if name.is_empty() || !name.bytes().all(is_token_char) {
            problems.push(format!("header name {name:?} is not an HTTP token"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            problems.push(format!(
                "the value of header '{name}' contains CR, LF or NUL"
            ));
        }
    }
    let content_type = request.headers.get("content-type");
    if let Some(body) = &request.body {
        let json = content_type.is_none_or(|ct| ct.to_ascii_lowercase().contains("json"));
        if json {
            if let Err(e) = serde_json::from_slice::<Value>(body) {
                problems.push(format!(
                    "the body is not JSON ({e}); content-type {}",
                    content_type.unwrap_or("not set")
                ));
            }
        }
    }
    finish(problems, || {
        format!(
            "{} {origin}, {} header(s), {}",
            serde_json::to_value(request.method)
                .ok()
                .and_then(|m| m.as_str().map(str::to_owned))
                .unwrap_or_default(),
            request.headers.0.len(),
            match &request.body {
                Some(body) => format!("{}-byte body", body.len()),
                None => "no body".to_owned(),
            }
        )
    })
}

fn check_request_well_formed(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    match build_create_call(env)? {
        Outbound::Http(request) => check_http_request(&request),
        Outbound::Local(local) => {
            let mut problems = Vec::new();
            if !(100..=599).contains(&local.response.status) {
                problems.push(format!(
                    "the local answer has HTTP status {}",
                    local.response.status
                ));
            }
            match parse_response(env, &local.response)? {
                CreateCallOutcome::Accepted(_) => {}
                other => problems.push(format!(
                    "parse_create_call_response of its own local answer is not Accepted: {other:?}"
                )),
            }
            // A local provider's scheduled webhooks go through the same ingest pipeline as a
            // vendor's: each must pass verification at its delivery time and parse.
            for (index, hook) in local.scheduled_webhooks.iter().enumerate() {
                let at = TimeDelta::from_std(hook.delay)
                    .ok()
                    .and_then(|delay| env.request.created_at.checked_add_signed(delay))
                    .unwrap_or(env.request.created_at);
                let webhook = WebhookRequest {
                    topic: hook.topic.as_deref(),
                    headers: &hook.headers,
                    body: &hook.body,
                };
                match guarded(|| env.provider.verify_webhook(&webhook, at)) {
                    Err(panic) => {
                        problems.push(format!("scheduled webhook {index}: verify_webhook {panic}"))
                    }
                    Ok(Verification::Rejected(reason) | Verification::Error(reason)) => {
                        problems.push(format!("scheduled webhook {index} is refused: {reason}"))
                    }
                    Ok(_) => {}
                }
                if let Err(e) = parse(env, hook.topic.as_deref(), &hook.headers, &hook.body)? {
                    problems.push(format!("scheduled webhook {index} does not parse: {e}"));
                }
            }
            finish(problems, || {
                format!(
                    "local answer (HTTP {}) accepted; {} scheduled webhook(s) verify and parse",
                    local.response.status,
                    local.scheduled_webhooks.len()
                )
            })
        }
    }
}

fn check_carries_call_id(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let id = env.request.call_id.to_string();
    let contains = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains(&id);
    match build_create_call(env)? {
        Outbound::Http(request) => {
            if request.url.contains(&id) {
                Ok("the URL carries the gateway call id".to_owned())
            } else if request.body.as_deref().is_some_and(contains) {
                Ok("the body carries the gateway call id".to_owned())
            } else {
                Err(format!(
                    "the gateway call id {id} is in neither the URL nor the body: the vendor's \
                     webhooks cannot be tied to the call before its own id is known"
                ))
            }
        }
        Outbound::Local(local) => {
            if contains(&local.response.body) {
                Ok("the local answer carries the gateway call id".to_owned())
            } else if local.scheduled_webhooks.iter().any(|h| contains(&h.body)) {
                Ok("the scheduled webhooks carry the gateway call id".to_owned())
            } else {
                Err(format!(
                    "the gateway call id {id} is in neither the local answer nor the scheduled \
                     webhooks"
                ))
            }
        }
    }
}

fn check_create_call_deterministic(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let first = build_create_call(env)?;
    let second = build_create_call(env)?;
    if first == second {
        Ok("building the same request twice gives equal results".to_owned())
    } else {
        Err("building the same request twice gives different results".to_owned())
    }
}

fn check_response_success(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    match parse_response(env, &env.subject.samples.success_response)? {
        CreateCallOutcome::Accepted(acceptance) => Ok(format!(
            "accepted, vendor call id {}",
            acceptance
                .provider_call_id
                .as_deref()
                .unwrap_or("not given")
        )),
        other => Err(format!("the success sample is not Accepted: {other:?}")),
    }
}

fn check_response_vendor_error(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let status = env.subject.samples.error_response.status;
    match parse_response(env, &env.subject.samples.error_response)? {
        CreateCallOutcome::Accepted(acceptance) => Err(format!(
            "the vendor error sample (HTTP {status}) is Accepted: {acceptance:?}"
        )),
        CreateCallOutcome::Rejected { message, .. }
        | CreateCallOutcome::Indeterminate { message }
            if message.trim().is_empty() =>
        {
            Err(format!(
                "the vendor error sample (HTTP {status}) gives an empty message"
            ))
        }
        CreateCallOutcome::Rejected { retryable, message } => Ok(format!(
            "HTTP {status} rejected (retryable: {retryable}): {message}"
        )),
        CreateCallOutcome::Indeterminate { message } => {
            Ok(format!("HTTP {status} indeterminate: {message}"))
        }
    }
}

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
fn garbage_bodies() -> Vec<(&'static str, Vec<u8>)> {
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

fn check_response_garbage(env: &Env<'_>) -> Outcome {
    if !env.outbound {
        return Ok(NOT_OUTBOUND.to_owned());
    }
    let mut bodies = garbage_bodies();
    let success = &env.subject.samples.success_response.body;
    bodies.push((
        "the success sample cut in half",
        success
            .get(..success.len() / 2)
            .unwrap_or_default()
            .to_vec(),
    ));
    let mut problems = Vec::new();
    let mut tried = 0;
    for status in [200, 500] {
        for (label, body) in &bodies {
            tried += 1;
            let response = HttpResponse {
                status,
                headers: Headers::new().with("content-type", "application/json"),
                body: body.clone(),
            };
            match parse_response(env, &response) {
                Err(panic) => problems.push(format!("HTTP {status} with {label}: {panic}")),
                Ok(CreateCallOutcome::Accepted(_)) if status >= 300 => {
                    problems.push(format!("HTTP {status} with {label} is Accepted"))
                }
                Ok(
                    CreateCallOutcome::Rejected { message, .. }
                    | CreateCallOutcome::Indeterminate { message },
                ) if message.trim().is_empty() => {
                    problems.push(format!("HTTP {status} with {label} gives an empty message"))
                }
                Ok(_) => {}
            }
        }
    }
    finish(problems, || {
        format!("{tried} garbage answers handled without a panic")
    })
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// The signed sample, or the "not applicable" summary.
fn sample<'s>(env: &Env<'s>) -> Result<(Option<&'s str>, &'s Headers, &'s [u8]), Outcome> {
    match &env.subject.samples.signed_webhook {
        Some((topic, headers, body)) => Ok((topic.as_deref(), headers, body.as_slice())),
        None => Err(Ok(NO_WEBHOOK.to_owned())),
    }
}

fn check_signed_sample_verifies(env: &Env<'_>) -> Outcome {
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

fn check_tampered_body_rejected(env: &Env<'_>) -> Outcome {
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

fn check_missing_signature_rejected(env: &Env<'_>) -> Outcome {
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

/// Header values no sender should send.
const GARBAGE_HEADER_VALUES: [&str; 8] = [
    "",
    "garbage",
    "t=,v0=,v1=",
    "t=abc,v0=zz,v1=zz",
    "t=99999999999999999999999,v1=00",
    "=,=,=;;",
    "sha256=",
    "\u{fffd}\u{e9}\u{1f600}",
];

fn check_verify_garbage(env: &Env<'_>) -> Outcome {
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

fn check_parse_garbage(env: &Env<'_>) -> Outcome {
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

/// Webhook samples larger than this are not mutated (each mutation re-serializes the sample).
const MAX_MUTATED_BODY_BYTES: usize = 1024 * 1024;
/// At most this many places in the sample are mutated.
const MAX_MUTATED_PLACES: usize = 300;
/// Places deeper than this in the sample are left alone.
const MAX_MUTATION_DEPTH: usize = 6;

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn collect_places(value: &Value, pointer: String, depth: usize, places: &mut Vec<String>) {
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
fn remove_at(root: &mut Value, pointer: &str) {
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
fn mutations(body: &[u8]) -> Vec<(String, Vec<u8>)> {
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

fn check_parse_mutations(env: &Env<'_>) -> Outcome {
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

fn check_sample_parses(env: &Env<'_>) -> Outcome {
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

fn check_parse_deterministic(env: &Env<'_>) -> Outcome {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::model::{CallEvent, Correlation, StatusUpdate};
    use crate::provider::{
        Acceptance, Capabilities, ConfigKey, ConfigValueKind, LocalOutcome, ProviderError,
    };
    use crate::status::CallStatus;

    const SIGNATURE: &str = "x-fake-signature";
    const SECRET: &str = "fake-secret";

    /// What a fake provider gets wrong.
    #[derive(Debug, Default, Clone, Copy)]
    struct Faults {
        bad_manifest: bool,
        accepts_any_config: bool,
        forgets_call_id: bool,
        relative_url: bool,
        accepts_anything: bool,
        signs_without_body: bool,
        accepts_unsigned: bool,
        unstable_dedupe_key: bool,
        panics_on_garbage: bool,
        local: bool,
        no_outbound: bool,
        /// Answers as a dynamic plugin's adapter does when the plugin panicked.
        fails_like_a_plugin: bool,
    }

    /// A small vendor: `POST https://fake.test/v1/calls` with `{"to", "reference", "name"}`,
    /// answering `{"id"}`; webhooks `{"id", "call", "state"}` signed with a keyed FNV-1a hash of
    /// the body (a stand-in for an HMAC: plugin-api has no crypto).
    struct FakeFactory(Faults);

    struct Fake {
        faults: Faults,
        api_key: String,
        secret: String,
        deliveries: AtomicU64,
    }

    fn signature(secret: &str, body: &[u8]) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in secret.as_bytes().iter().chain(b".").chain(body) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    fn manifest(faults: Faults) -> Manifest {
        let mut keys = vec![
            ConfigKey::new("api_key", ConfigValueKind::String, "Fake API key")
                .required()
                .secret()
                .env("FAKE_API_KEY"),
            ConfigKey::new("webhook_secret", ConfigValueKind::String, "Webhook key").secret(),
        ];
        if faults.bad_manifest {
            keys.push(ConfigKey::new("api_key", ConfigValueKind::String, "again"));
            keys.push(ConfigKey::new("WebhookURL", ConfigValueKind::String, ""));
        }
        Manifest {
            kind: if faults.bad_manifest {
                "Fake-Kind"
            } else {
                "fake"
            }
            .to_owned(),
            version: if faults.bad_manifest { "one" } else { "0.1.0" }.to_owned(),
            description: "A fake vendor for the suite's own tests".to_owned(),
            capabilities: Capabilities {
                outbound_call: !faults.no_outbound,
                ..Capabilities::default()
            },
            signature_scheme: Some(format!("fnv ({SIGNATURE})")),
            config_keys: keys,
        }
    }

    impl ProviderFactory for FakeFactory {
        fn manifest(&self) -> Manifest {
            manifest(self.0)
        }

        fn validate_config(
            &self,
            _context: &ProviderContext,
            config: &Value,
        ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
            let fake = |api_key: &str, secret: &str| -> Box<dyn Provider> {
                Box::new(Fake {
                    faults: self.0,
                    api_key: api_key.to_owned(),
                    secret: secret.to_owned(),
                    deliveries: AtomicU64::new(0),
                })
            };
            if self.0.accepts_any_config {
                return Ok(fake("key", SECRET));
            }
            let Some(table) = config.as_object() else {
                return Err(vec![ConfigProblem::new("", "expected a table")]);
            };
            let mut problems = Vec::new();
            for key in table.keys() {
                if key != "api_key" && key != "webhook_secret" {
                    problems.push(ConfigProblem::new(key, "unknown key"));
                }
            }
            let string = |key: &str| table.get(key).and_then(Value::as_str);
            let api_key = string("api_key").filter(|k| !k.is_empty());
            if api_key.is_none() {
                problems.push(ConfigProblem::new("api_key", "must be a non-empty string"));
            }
            let secret = string("webhook_secret").unwrap_or_default();
            match api_key {
                Some(api_key) if problems.is_empty() => Ok(fake(api_key, secret)),
                _ => Err(problems),
            }
        }
    }

    impl Provider for Fake {
        fn manifest(&self) -> Manifest {
            manifest(self.faults)
        }

        fn build_create_call(&self, request: &CallRequest) -> Result<Outbound, ProviderError> {
            if self.faults.no_outbound {
                return Err(ProviderError::Unsupported("outbound calls".into()));
            }
            let reference = if self.faults.forgets_call_id {
                Value::Null
            } else {
                json!(request.call_id.to_string())
            };
            let body = json!({
                "to": request.to.as_str(),
                "reference": reference,
                "name": request.variables.get("customer_name"),
            });
            if self.faults.local {
                return Ok(Outbound::Local(LocalOutcome {
                    response: HttpResponse::json(
                        200,
                        &json!({"id": format!("fake-{}", request.call_id)}),
                    ),
                    scheduled_webhooks: Vec::new(),
                }));
            }
            let base = if self.faults.relative_url {
                ""
            } else {
                "https://fake.test"
            };
            Ok(Outbound::Http(
                HttpRequest::post_json(format!("{base}/v1/calls"), &body)
                    .header("authorization", format!("Bearer {}", self.api_key)),
            ))
        }

        fn parse_create_call_response(
            &self,
            _request: &CallRequest,
            response: &HttpResponse,
        ) -> CreateCallOutcome {
            let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
            match (response.status, body.get("id").and_then(Value::as_str)) {
                _ if self.faults.accepts_anything => {
                    CreateCallOutcome::Accepted(Acceptance::default())
                }
                (200..=299, Some(id)) => CreateCallOutcome::Accepted(Acceptance {
                    provider_call_id: Some(id.to_owned()),
                    status: Some(CallStatus::Initiating),
                    ..Acceptance::default()
                }),
                (status @ (429 | 503), _) => CreateCallOutcome::Rejected {
                    retryable: true,
                    message: format!("fake answered HTTP {status}"),
                },
                (status @ 400..=499, _) => CreateCallOutcome::Rejected {
                    retryable: false,
                    message: format!("fake answered HTTP {status}"),
                },
                (status, _) => CreateCallOutcome::Indeterminate {
                    message: format!("fake answered HTTP {status}"),
                },
            }
        }

        fn verify_webhook(
            &self,
            webhook: &WebhookRequest<'_>,
            _now: DateTime<Utc>,
        ) -> Verification {
            let Some(given) = webhook.headers.get(SIGNATURE) else {
                return if self.faults.fails_like_a_plugin {
                    Verification::Error("the plugin panicked".to_owned())
                } else if self.faults.accepts_unsigned {
                    Verification::Unsigned
                } else {
                    Verification::Rejected(format!("missing {SIGNATURE}"))
                };
            };
            let signed: &[u8] = if self.faults.signs_without_body {
                b""
            } else {
                webhook.body
            };
            if given == signature(&self.secret, signed) {
                Verification::Verified
            } else {
                Verification::Rejected("signature does not match".to_owned())
            }
        }

        fn parse_webhook(
            &self,
            webhook: &WebhookRequest<'_>,
        ) -> Result<ParsedWebhook, WebhookError> {
            let malformed = |m: &str| WebhookError::Malformed(m.to_owned());
            let body: Value = match serde_json::from_slice(webhook.body) {
                Ok(body) => body,
                Err(e) if self.faults.panics_on_garbage => panic!("cannot read the body: {e}"),
                Err(_) if self.faults.fails_like_a_plugin => {
                    return Err(WebhookError::Plugin("the plugin panicked".to_owned()));
                }
                Err(e) => return Err(WebhookError::Malformed(e.to_string())),
            };
            let id = body
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("no id"))?;
            let call = body
                .get("call")
                .and_then(Value::as_str)
                .and_then(|c| c.parse::<CallId>().ok())
                .ok_or_else(|| malformed("no call"))?;
            let status = match body.get("state").and_then(Value::as_str) {
                Some("ringing") => CallStatus::Ringing,
                Some("done") => CallStatus::Completed,
                _ => return Err(malformed("unknown state")),
            };
            let delivery = self.deliveries.fetch_add(1, Ordering::Relaxed);
            Ok(ParsedWebhook {
                event_type: "state".to_owned(),
                dedupe_key: Some(if self.faults.unstable_dedupe_key {
                    format!("{id}-{delivery}")
                } else {
                    id.to_owned()
                }),
                correlation: Correlation {
                    gateway_call_id: Some(call),
                    provider_call_id: None,
                },
                events: vec![CallEvent::Status(StatusUpdate {
                    status,
                    at: None,
                    reason: None,
                    vendor_status: None,
                })],
                reply: None,
            })
        }
    }

    /// Panics in every method; its factory builds it unless the config says `panic_in_validate`.
    struct PanickyFactory;
    struct Panicky;

    impl ProviderFactory for PanickyFactory {
        fn manifest(&self) -> Manifest {
            panic!("no manifest today")
        }

        fn validate_config(
            &self,
            _context: &ProviderContext,
            config: &Value,
        ) -> Result<Box<dyn Provider>, Vec<ConfigProblem>> {
            if config.get("panic_in_validate").is_some() {
                panic!("validate_config exploded");
            }
            Ok(Box::new(Panicky))
        }
    }

    impl Provider for Panicky {
        fn manifest(&self) -> Manifest {
            panic!("manifest exploded")
        }
        fn build_create_call(&self, _: &CallRequest) -> Result<Outbound, ProviderError> {
            panic!("build_create_call exploded")
        }
        fn parse_create_call_response(
            &self,
            _: &CallRequest,
            _: &HttpResponse,
        ) -> CreateCallOutcome {
            panic!("{}", String::from("parse_create_call_response exploded"))
        }
        fn verify_webhook(&self, _: &WebhookRequest<'_>, _: DateTime<Utc>) -> Verification {
            panic!("verify_webhook exploded")
        }
        fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<ParsedWebhook, WebhookError> {
            std::panic::panic_any(42_u8)
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn samples() -> Samples {
        let body = json!({"id": "evt-1", "call": call_id().to_string(), "state": "ringing"})
            .to_string()
            .into_bytes();
        let unsigned = Headers::new().with("content-type", "application/json");
        let signed = unsigned.clone().with(SIGNATURE, signature(SECRET, &body));
        Samples {
            now: now(),
            success_response: HttpResponse::json(201, &json!({"id": "fake-1"})),
            error_response: HttpResponse::json(422, &json!({"error": "bad number"})),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        }
    }

    fn subject(factory: &dyn ProviderFactory) -> Subject<'_> {
        Subject {
            factory,
            valid_config: json!({"api_key": "k-1", "webhook_secret": SECRET}),
            invalid_config: json!({"api_key": 7, "colour": "blue"}),
            samples: samples(),
        }
    }

    fn failed(results: &[CheckResult]) -> Vec<&'static str> {
        results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.name)
            .collect()
    }

    fn run_with(faults: Faults) -> Vec<CheckResult> {
        let factory = FakeFactory(faults);
        run(&subject(&factory))
    }

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
        let cases: [(Faults, &[&str]); 7] = [
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
        ];
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
            results[9..]
                .iter()
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
            results[6]
                .detail
                .contains("parse_create_call_response exploded"),
            "{}",
            results[6].detail
        );
        assert!(
            results[9].detail.contains("verify_webhook exploded"),
            "{}",
            results[9].detail
        );
        assert!(
            results[15].detail.contains("non-string panic payload"),
            "{}",
            results[15].detail
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
            !is_semver("1.2")
                && !is_semver("01.2.3")
                && !is_semver("1.2.3-")
                && !is_semver("v1.2.3")
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
}
