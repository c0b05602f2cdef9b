//! `voice-gateway plugin check <path> [--config plugin-check.toml]`: load a plugin, show its
//! manifest, and run the conformance suite every built-in provider passes.
//!
//! The check file holds what only the plugin's author knows:
//!
//! ```toml
//! [config]                   # the plugin's own config, as [providers.<name>.config] holds it
//! base_url = "http://vendor.test"
//! api_key = "test-key"
//! webhook_secret = "test-secret"
//!
//! [invalid_config]           # a config the plugin must refuse (default: a string, not a table)
//!
//! [samples]
//! now = "2026-01-01T00:00:00Z"          # the clock the signed webhook verifies at
//! [samples.success_response]            # a vendor answer accepting a call
//! status = 200
//! body = '{"id": "c-1"}'
//! [samples.error_response]              # a vendor answer refusing one
//! status = 400
//! body = '{"error": "bad number"}'
//! [samples.signed_webhook]              # a webhook signed for [config] at `now`
//! topic = ""
//! body = '{"event": "ringing", "id": "c-1"}'
//! headers = { x-signature = "..." }
//! unsigned_headers = { content-type = "application/json" }
//! ```
//!
//! Without a check file the plugin gets an empty config; without samples, the checks that need
//! them are skipped (shown, not failed).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use plugin_api::abi::ABI_VERSION;
use plugin_api::conformance::{self, CheckResult, Samples, Subject};
use plugin_api::{Headers, HttpResponse, Manifest, ProviderFactory};
use serde::Deserialize;
use serde_json::Value;

use crate::plugins::PluginFactory;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(default)]
    config: Option<toml::Table>,
    #[serde(default)]
    invalid_config: Option<toml::Table>,
    #[serde(default)]
    samples: Option<SampleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleFile {
    now: Option<DateTime<Utc>>,
    success_response: Option<ResponseFile>,
    error_response: Option<ResponseFile>,
    signed_webhook: Option<WebhookFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    unsigned_headers: BTreeMap<String, String>,
    body: String,
}

fn headers(map: BTreeMap<String, String>) -> Headers {
    Headers(map.into_iter().collect())
}

fn response(file: ResponseFile) -> HttpResponse {
    HttpResponse {
        status: file.status,
        headers: headers(file.headers),
        body: file.body.into_bytes(),
    }
}

fn read_check_file(path: Option<&Path>) -> Result<CheckFile, String> {
    let Some(path) = path else {
        return Ok(CheckFile::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

fn print_manifest(path: &Path, manifest: &Manifest) {
    println!("plugin {}", path.display());
    println!(
        "  kind {}  version {}  ABI {ABI_VERSION}",
        manifest.kind, manifest.version
    );
    println!("  {}", manifest.description);
    let c = manifest.capabilities;
    let capabilities: Vec<&str> = [
        (c.outbound_call, "outbound_call"),
        (c.hangup, "hangup"),
        (c.live_transcript, "live_transcript"),
        (c.post_call_report, "post_call_report"),
        (c.fetch_call, "fetch_call"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    println!("  capabilities: {}", capabilities.join(", "));
    println!(
        "  signature: {}",
        manifest.signature_scheme.as_deref().unwrap_or("none")
    );
    println!("  config keys:");
    for key in &manifest.config_keys {
        let mut notes = vec![format!("{:?}", key.kind).to_lowercase()];
        if key.required {
            notes.push("required".into());
        }
        if key.secret {
            notes.push("secret".into());
        }
        if let Some(env) = &key.env {
            notes.push(format!("env {env}"));
        }
        println!(
            "    {} ({}): {}",
            key.name,
            notes.join(", "),
            key.description
        );
    }
}

/// Loads and checks a plugin; `Ok(false)` when a check failed.
pub fn check(path: &Path, check_file: Option<&Path>) -> Result<bool, String> {
    let file = read_check_file(check_file)?;
    let factory = PluginFactory::load(path).map_err(|e| e.to_string())?;
    print_manifest(path, &factory.manifest());

    let to_json = |table: Option<toml::Table>| {
        serde_json::to_value(table.unwrap_or_default()).unwrap_or(Value::Null)
    };
    let samples = file.samples;
    let have_responses = samples
        .as_ref()
        .is_some_and(|s| s.success_response.is_some() && s.error_response.is_some());
    let (now, success, error, webhook) = match samples {
        Some(s) => (
            s.now,
            s.success_response,
            s.error_response,
            s.signed_webhook,
        ),
        None => (None, None, None, None),
    };
    let placeholder = || HttpResponse {
        status: 0,
        headers: Headers::new(),
        body: Vec::new(),
    };
    let unsigned = webhook
        .as_ref()
        .map(|w| headers(w.unsigned_headers.clone()))
        .unwrap_or_default();
    let subject = Subject {
        factory: &factory,
        valid_config: to_json(file.config),
        invalid_config: file
            .invalid_config
            .map_or(Value::String("not a table".into()), |t| to_json(Some(t))),
        samples: Samples {
            now: now.unwrap_or_else(Utc::now),
            success_response: success.map(response).unwrap_or_else(placeholder),
            error_response: error.map(response).unwrap_or_else(placeholder),
            signed_webhook: webhook.map(|w| {
                let topic = Some(w.topic).filter(|t| !t.is_empty());
                (topic, headers(w.headers), w.body.into_bytes())
            }),
            unsigned_headers: unsigned,
        },
    };
    let results = conformance::run(&subject);
    Ok(report(&results, have_responses))
}

/// Prints each check; the response checks without samples are shown as skipped.
fn report(results: &[CheckResult], have_responses: bool) -> bool {
    let needs_responses = [
        conformance::CREATE_CALL_RESPONSE_SUCCESS,
        conformance::CREATE_CALL_RESPONSE_VENDOR_ERROR,
    ];
    println!("conformance:");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for result in results {
        if !have_responses && needs_responses.contains(&result.name) {
            skipped += 1;
            println!("  SKIP {}: no [samples] response given", result.name);
        } else if result.passed {
            passed += 1;
            println!("  PASS {}: {}", result.name, result.detail);
        } else {
            failed += 1;
            println!("  FAIL {}: {}", result.name, result.detail);
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    failed == 0
}
