//! The conformance suite: the checks every provider must pass, built-in or loaded from a library.
//!
//! It is plain library code, not a `#[cfg(test)]` module, so that provider crates run it in their
//! tests and the gateway's `plugin check` command runs it against a loaded plugin; it is compiled
//! only with this crate's `conformance` feature, so a plugin that only implements the trait does
//! not build it. It does no I/O, never panics itself, and catches every panic of the provider
//! under test: a panicking provider yields failed checks, not a crashed test run or CLI.
//!
//! A provider's author supplies a [`Subject`]: the factory, a valid and an invalid config, and a
//! few [`Samples`] only they can give (a vendor answer accepting a call, a vendor rejection, a
//! correctly signed webhook). In the provider crate's tests (with this crate as a
//! dev-dependency, `features = ["conformance"]`), [`conformance_tests!`](crate::conformance_tests)
//! emits one `#[test]` per check, named after it:
//!
//! ```ignore
//! use plugin_api::conformance::{Samples, Subject};
//!
//! fn subject() -> Subject<'static> {
//!     Subject {
//!         factory: &AcmeFactory,
//!         valid_config: json!({"api_key": "k", "webhook_secret": "s"}),
//!         invalid_config: json!({"api_key": 42}),
//!         samples: Samples { /* recorded answers and a webhook signed with "s" */ },
//!     }
//! }
//!
//! plugin_api::conformance_tests!(subject());
//! ```
//!
//! [`run`] makes every check at once and returns one [`CheckResult`] per check, always in the
//! order of [`CHECK_NAMES`] (what `plugin check` prints); [`assert_conformant`] panics listing
//! every failed check, and [`assert_check`] runs one check alone.
//!
//! The checks live by what they exercise: the manifest and config (`manifest.rs`), placing a call
//! (`create_call.rs`), webhook verification and parsing (`webhooks.rs`); `mutations.rs` makes the
//! garbage and mutated inputs the never-panic checks feed the provider; `macros.rs` holds
//! [`conformance_tests!`](crate::conformance_tests).
//!
//! The calls the suite makes use one fixed request: [`call_request`], whose gateway id is
//! [`call_id`], to [`TO_NUMBER`], with the variable `customer_name` = [`CUSTOMER_NAME`].

mod create_call;
mod macros;
mod manifest;
mod mutations;
mod webhooks;

#[cfg(test)]
mod tests;

#[doc(hidden)]
pub use macros::lists_every_check;

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::{Headers, HttpResponse};
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
pub const CREATE_CALL_IDEMPOTENCY_KEY_STABLE: &str = "create_call_idempotency_key_stable";
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

/// Every check, in the order [`run`] makes and reports them. A check needs the factory alone, or
/// the provider built from `valid_config`: that is built once per run, for the first check that
/// needs it.
const CHECKS: [Check; 18] = [
    Check::Factory(MANIFEST_WELL_FORMED, manifest::check_manifest),
    Check::Factory(CONFIG_INVALID_REPORTED, manifest::check_invalid_config),
    Check::Builds(CONFIG_VALID_BUILDS),
    Check::Provider(
        CREATE_CALL_REQUEST_WELL_FORMED,
        create_call::check_request_well_formed,
    ),
    Check::Provider(
        CREATE_CALL_CARRIES_CALL_ID,
        create_call::check_carries_call_id,
    ),
    Check::Provider(
        CREATE_CALL_DETERMINISTIC,
        create_call::check_create_call_deterministic,
    ),
    Check::Provider(
        CREATE_CALL_IDEMPOTENCY_KEY_STABLE,
        create_call::check_idempotency_key_stable,
    ),
    Check::Provider(
        CREATE_CALL_RESPONSE_SUCCESS,
        create_call::check_response_success,
    ),
    Check::Provider(
        CREATE_CALL_RESPONSE_VENDOR_ERROR,
        create_call::check_response_vendor_error,
    ),
    Check::Provider(
        CREATE_CALL_RESPONSE_GARBAGE,
        create_call::check_response_garbage,
    ),
    Check::Provider(
        WEBHOOK_SIGNED_SAMPLE_VERIFIES,
        webhooks::check_signed_sample_verifies,
    ),
    Check::Provider(
        WEBHOOK_TAMPERED_BODY_REJECTED,
        webhooks::check_tampered_body_rejected,
    ),
    Check::Provider(
        WEBHOOK_MISSING_SIGNATURE_REJECTED,
        webhooks::check_missing_signature_rejected,
    ),
    Check::Provider(
        WEBHOOK_VERIFY_GARBAGE_NEVER_PANICS,
        webhooks::check_verify_garbage,
    ),
    Check::Provider(
        WEBHOOK_PARSE_GARBAGE_NEVER_PANICS,
        webhooks::check_parse_garbage,
    ),
    Check::Provider(
        WEBHOOK_PARSE_MUTATIONS_NEVER_PANIC,
        webhooks::check_parse_mutations,
    ),
    Check::Provider(WEBHOOK_SAMPLE_PARSES, webhooks::check_sample_parses),
    Check::Provider(
        WEBHOOK_PARSE_DETERMINISTIC,
        webhooks::check_parse_deterministic,
    ),
];

/// Every check [`run`] makes, in the order it reports them.
pub const CHECK_NAMES: [&str; 18] = {
    let mut names = [""; 18];
    let mut index = 0;
    while index < CHECKS.len() {
        names[index] = CHECKS[index].name();
        index += 1;
    }
    names
};

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
    run_selected(subject, |_| true)
}

/// Runs the check called `name` alone (building a provider only if it needs one); `None` if the
/// suite has no such check. Its result is the one [`run`] reports for it. Never panics.
pub fn run_check(subject: &Subject<'_>, name: &str) -> Option<CheckResult> {
    run_selected(subject, |check| check == name).pop()
}

/// Runs the checks `selected` picks, in the order of [`CHECKS`].
fn run_selected(subject: &Subject<'_>, selected: impl Fn(&str) -> bool) -> Vec<CheckResult> {
    let checks: Vec<Check> = CHECKS.into_iter().filter(|c| selected(c.name())).collect();
    let mut results = Vec::with_capacity(checks.len());
    if checks.is_empty() {
        return results;
    }
    let factory_manifest = guarded(|| subject.factory.manifest());
    let mut instance = None;
    for check in checks {
        let outcome = match check {
            Check::Factory(_, check) => check(subject, &factory_manifest),
            Check::Builds(_) => {
                let instance = instance.get_or_insert_with(|| build(subject, &factory_manifest));
                instance.built.clone()
            }
            Check::Provider(_, check) => {
                match &instance
                    .get_or_insert_with(|| build(subject, &factory_manifest))
                    .ready
                {
                    Ok(ready) => check(&Env {
                        provider: ready.provider.as_ref(),
                        subject,
                        request: &ready.request,
                        outbound: ready.outbound,
                        idempotent_create: ready.idempotent_create,
                    }),
                    Err(reason) => Err(format!("not run: {reason}")),
                }
            }
        };
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        results.push(CheckResult {
            name: check.name(),
            passed,
            detail,
        });
    }
    if let Some(Instance {
        ready: Ok(ready), ..
    }) = instance
    {
        // A provider whose drop panics must not take the suite down either.
        let _ = guarded(move || drop(ready));
    }
    results
}

/// Builds the provider from `valid_config`: the outcome of [`CONFIG_VALID_BUILDS`], and what the
/// provider checks run against (or why they cannot).
fn build(subject: &Subject<'_>, factory_manifest: &Result<Manifest, String>) -> Instance {
    let built = guarded(|| {
        subject
            .factory
            .validate_config(&context(), &subject.valid_config)
    });
    let (outcome, provider, instance_manifest) = match built {
        Err(panic) => {
            let reason = format!("validate_config(valid_config) {panic}");
            (Err(reason.clone()), Err(reason), None)
        }
        Ok(Err(problems)) => {
            let reason = format!(
                "validate_config(valid_config) refused it: {}",
                describe_problems(&problems)
            );
            (Err(reason.clone()), Err(reason), None)
        }
        Ok(Ok(provider)) => {
            let instance = guarded(|| provider.manifest());
            let outcome = manifest::check_instance_manifest(factory_manifest, &instance);
            (outcome, Ok(provider), instance.ok())
        }
    };
    let request = call_request(subject.samples.now)
        .map_err(|e| format!("the suite's call request is invalid: {e}"));
    let ready = match (provider, request) {
        (Ok(provider), Ok(request)) => {
            let manifest = instance_manifest
                .as_ref()
                .or(factory_manifest.as_ref().ok());
            let outbound = manifest.is_none_or(|m| m.capabilities.outbound_call);
            // Without a readable manifest every check runs (and fails on what cannot be read).
            let idempotent_create = manifest.is_none_or(|m| m.capabilities.idempotent_create);
            Ok(Ready {
                provider,
                request,
                outbound,
                idempotent_create,
            })
        }
        (Ok(provider), Err(reason)) => {
            let _ = guarded(move || drop(provider));
            Err(reason)
        }
        (Err(reason), _) => Err(reason),
    };
    Instance {
        built: outcome,
        ready,
    }
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

/// Runs the check called `name` alone and returns its result if it passed; panics with it if it
/// failed, or if the suite has no such check. Each test [`conformance_tests!`] emits calls this.
///
/// [`conformance_tests!`]: crate::conformance_tests
#[track_caller]
#[allow(clippy::panic)]
pub fn assert_check(subject: &Subject<'_>, name: &str) -> CheckResult {
    match run_check(subject, name) {
        None => panic!("the conformance suite has no check named '{name}'"),
        Some(result) if !result.passed => panic!("conformance check failed:\n{result}"),
        Some(result) => result,
    }
}

/// `Ok(summary)` if the check passed, `Err(what is wrong)` if not.
type Outcome = Result<String, String>;

/// One entry of [`CHECKS`]: its name and what it needs.
#[derive(Clone, Copy)]
enum Check {
    /// Needs the factory only (and the factory's manifest, or why it could not be read).
    Factory(&'static str, FactoryCheck),
    /// The check that the provider builds from `valid_config`.
    Builds(&'static str),
    /// Needs the provider built from `valid_config`.
    Provider(&'static str, ProviderCheck),
}

type FactoryCheck = fn(&Subject<'_>, &Result<Manifest, String>) -> Outcome;
type ProviderCheck = fn(&Env<'_>) -> Outcome;

impl Check {
    const fn name(&self) -> &'static str {
        match self {
            Check::Factory(name, _) | Check::Builds(name) | Check::Provider(name, _) => name,
        }
    }
}

/// The provider built from `valid_config`, once per run.
struct Instance {
    /// The outcome of [`CONFIG_VALID_BUILDS`].
    built: Outcome,
    /// What the provider checks run against, or why they cannot run.
    ready: Result<Ready, String>,
}

struct Ready {
    provider: Box<dyn Provider>,
    request: CallRequest,
    outbound: bool,
    idempotent_create: bool,
}

/// What the checks that need a built provider are given.
struct Env<'s> {
    provider: &'s dyn Provider,
    subject: &'s Subject<'s>,
    request: &'s CallRequest,
    /// The manifest declares outbound calls: the create-call checks apply.
    outbound: bool,
    /// The manifest declares `idempotent_create`: the gateway resends creates of unknown outcome.
    idempotent_create: bool,
}

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
