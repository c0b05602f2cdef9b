//! Provider plugins end to end: shared libraries built from this workspace (the example Acme
//! plugin in `examples/provider-plugin` and the test-only plugins in `tests/plugins/`), copied
//! next to a config file in a temp dir and named there as `kind = "dylib"` with a relative `path`,
//! then loaded by the real gateway, in-process, exactly as `voice-gateway serve` loads them.
//!
//! - The example plugin places calls against a local mock of Acme's API and ingests Acme's
//!   signed webhooks like a built-in provider.
//! - Isolation: a panicking plugin, or one answering bytes that are not JSON, fails only its own
//!   requests; the gateway keeps serving every other provider.
//! - Every startup failure (missing file, no entry symbol, another ABI version, an unreadable
//!   manifest, the plugin's own config problems) stops startup naming the provider and the path.
//! - `voice-gateway plugin check` passes the example plugin and fails the faulty ones.
//!
//! The libraries come from the target dir this test binary lives in; when one is missing or older
//! than its sources (e.g. `cargo test -p voice-gateway --test e2e` alone), the first test that
//! needs one builds them all with `cargo build -p <the plugin packages>`.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use plugin_api::conformance::{self, Samples, Subject};
use plugin_api::{Headers, HttpResponse};
use serde_json::{Value, json};
use sha2::Sha256;
use voice_gateway::config::ConfigError;
use voice_gateway::plugins::PluginFactory;

use crate::harness::{GatewayConfig, Reply, TO, TestGateway, id_of, run_binary};
use crate::mock_vendor::{MockReply, MockVendor};

const EXAMPLE: &str = "voice-gateway-example-plugin";
const FAULTY: &str = "voice-gateway-test-plugin-faulty";
const MALFORMED: &str = "voice-gateway-test-plugin-malformed";
const GARBLED: &str = "voice-gateway-test-plugin-garbled";
const WRONG_ABI: &str = "voice-gateway-test-plugin-wrong-abi";
const NO_SYMBOL: &str = "voice-gateway-test-plugin-no-symbol";
/// Every plugin package these tests load.
const PLUGINS: [&str; 6] = [EXAMPLE, FAULTY, MALFORMED, GARBLED, WRONG_ABI, NO_SYMBOL];

const API_KEY: &str = "acme_e2e_api_key";
const WEBHOOK_SECRET: &str = "acme_e2e_webhook_secret";
const SIGNATURE_HEADER: &str = "x-acme-signature";
const DIAL_PATH: &str = "/v1/dial";
const CONFIG_FILE: &str = "voice-gateway.toml";

// ---------------------------------------------------------------------------------------------
// Building and finding the plugin libraries
// ---------------------------------------------------------------------------------------------

/// `target/<profile>`: this binary is `target/<profile>/deps/e2e-<hash>`, and cargo puts the
/// shared libraries it builds in `target/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn workspace_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate is in the workspace")
}

/// Where cargo puts the shared library of `package`.
fn library_path(package: &str) -> PathBuf {
    let file = format!("{DLL_PREFIX}{}{DLL_SUFFIX}", package.replace('-', "_"));
    profile_dir().join(file)
}

/// The newest modification time of `path` or of any file under it.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    let entries = std::fs::read_dir(path).ok()?;
    entries.flatten().filter_map(|e| newest(&e.path())).max()
}

/// Every plugin library exists and is newer than every source it is built from. (After `cargo
/// test --workspace` they are: cargo built them with the rest of the workspace.)
fn plugins_are_fresh() -> bool {
    let sources = [
        "examples/provider-plugin",
        "tests/plugins",
        "plugin-api",
        "Cargo.lock",
    ]
    .iter()
    .filter_map(|p| newest(&workspace_dir().join(p)))
    .max();
    PLUGINS.iter().all(|package| {
        let built = newest(&library_path(package));
        matches!((built, sources), (Some(built), Some(sources)) if built >= sources)
    })
}

/// Builds every plugin package with the same cargo, into the same target dir and profile as
/// this binary: `cargo test -p voice-gateway` alone does not build them.
fn build_plugins() -> Result<(), String> {
    let profile_dir = profile_dir();
    let target_dir = profile_dir.parent().ok_or("no target dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace_dir());
    for package in PLUGINS {
        command.args(["-p", package]);
    }
    match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the plugins failed ({:?}):\n{}",
            command,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The built shared library of `package`; the first call builds them all if needed.
fn library(package: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if plugins_are_fresh() {
            Ok(())
        } else {
            build_plugins()
        }
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    let path = library_path(package);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Copies `package`'s library into `<dir>/plugins/`; returns its path relative to `dir`, as a
/// config file in `dir` names it.
fn install(dir: &Path, package: &str) -> String {
    let built = library(package);
    let name = built.file_name().expect("a file name");
    std::fs::create_dir_all(dir.join("plugins")).expect("plugins dir");
    std::fs::copy(&built, dir.join("plugins").join(name)).expect("library copied");
    format!("plugins/{}", name.to_string_lossy())
}

// ---------------------------------------------------------------------------------------------
// Gateways
// ---------------------------------------------------------------------------------------------

/// The config of a gateway in a temp dir with `providers` (TOML tables), `default` being the
/// default provider, read from `<dir>/voice-gateway.toml` (so plugin paths are relative to the
/// dir); reconciliation off.
fn config(default: &str, providers: &str) -> GatewayConfig {
    GatewayConfig::new()
        .gateway(&format!(
            "default_provider = \"{default}\"\n\
             reconcile_after_secs = 0\n\
             reconcile_interval_secs = 0"
        ))
        .sections(providers)
        .file(CONFIG_FILE)
}

/// The `[providers.acme]` table of the example plugin, calling Acme at `base_url`.
fn acme_toml(path: &str, base_url: &str) -> String {
    format!(
        r#"
[providers.acme]
kind = "dylib"
path = "{path}"

[providers.acme.config]
base_url = "{base_url}"
api_key = "{API_KEY}"
webhook_secret = "{WEBHOOK_SECRET}"
"#
    )
}

/// A running gateway with plugins; the temp dir holds its config, libraries and database.
struct Gateway(TestGateway);

impl std::ops::Deref for Gateway {
    type Target = TestGateway;

    fn deref(&self) -> &TestGateway {
        &self.0
    }
}

impl Gateway {
    /// Starts a gateway whose providers `providers(dir)` gives, `default` being the default.
    async fn start(default: &str, providers: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config(default, &providers(dir.path()));
        Self(TestGateway::start_in(dir, &config).await)
    }

    /// A gateway with the example plugin as `acme` (default) calling `mock`, and an `echo`.
    async fn acme(mock: &MockVendor) -> Self {
        Self::start("acme", |dir| {
            let path = install(dir, EXAMPLE);
            format!(
                "{}\n[providers.echo]\nkind = \"echo\"\nturn_interval_ms = 20\n",
                acme_toml(&path, mock.base_url())
            )
        })
        .await
    }

    /// Posts `body` to the `acme` instance, signed as Acme signs.
    async fn acme_webhook(&self, body: &Value) -> Reply {
        let body = body.to_string();
        let signature = acme_signature(WEBHOOK_SECRET, body.as_bytes());
        self.webhook_raw("acme", &body, &[(SIGNATURE_HEADER, &signature)])
            .await
    }

    /// A signed Acme webhook that must be applied.
    async fn apply(&self, body: &Value) {
        let reply = self.acme_webhook(body).await;
        reply.expect_status(200);
        assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    }

    /// Places an echo call and waits for its scripted conversation to complete.
    async fn echo_call_completes(&self) {
        let reply = self.create(json!({"to": TO, "provider": "echo"})).await;
        reply.expect_status(201);
        self.wait_for_status(&id_of(&reply.json()), "completed")
            .await;
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

/// Acme's `x-acme-signature`: hex HMAC-SHA256 of the raw body.
fn acme_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An Acme webhook about dial `dial_id` (gateway call `reference`) with `extra` fields.
fn acme_event(event_id: &str, dial_id: &str, reference: &str, state: &str, extra: Value) -> Value {
    let mut event = json!({
        "event_id": event_id,
        "dial_id": dial_id,
        "reference": reference,
        "state": state,
    });
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

// ---------------------------------------------------------------------------------------------
// The example plugin, end to end
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn acme_plugin_places_a_call_and_ingests_its_webhooks_like_a_builtin() {
    let mock = MockVendor::start().await;
    mock.enqueue(
        "POST",
        DIAL_PATH,
        MockReply::json(201, r#"{"dial_id": "dial-1", "state": "queued"}"#),
    );
    let gw = Gateway::acme(&mock).await;

    let reply = gw
        .create(json!({"to": TO, "variables": {"customer_name": "Ada", "visits": 3}}))
        .await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["provider"], "acme", "{call}");
    assert_eq!(call["provider_call_id"], "dial-1", "{call}");
    assert_eq!(call["status"], "initiating", "{call}");

    // Exactly one request reached Acme, and it is the documented one.
    let received = mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let sent = &received[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", DIAL_PATH)
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert!(
        sent.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        sent.headers
    );
    assert_eq!(
        sent.json(),
        json!({
            "phone": TO,
            "reference": id,
            "variables": {"customer_name": "Ada", "visits": 3},
        })
    );

    // Acme's webhooks: ringing, talking with two lines, finished with a summary and a cost.
    gw.apply(&acme_event("evt-1", "dial-1", &id, "ringing", json!({})))
        .await;
    assert_eq!(gw.call(&id).await["status"], "ringing");
    let hello = json!({"line": {"speaker": "agent", "text": "Hello Ada!", "at": 0.4}});
    gw.apply(&acme_event("evt-2", "dial-1", &id, "talking", hello))
        .await;
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    let answer =
        json!({"line": {"speaker": "customer", "text": "Hi! Yes, Tuesday works.", "at": 2.1}});
    gw.apply(&acme_event("evt-3", "dial-1", &id, "talking", answer))
        .await;
    // Correlated by Acme's dial id alone, too.
    let finished = acme_event(
        "evt-4",
        "dial-1",
        "",
        "finished",
        json!({"summary": "Booked for Tuesday.", "cost_usd": 0.42}),
    );
    gw.apply(&finished).await;

    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["summary"], "Booked for Tuesday.", "{call}");
    assert_eq!(call["cost"], 0.42, "{call}");
    assert_eq!(call["cost_unit"], "USD", "{call}");
    let turns = gw.transcript(&id).await;
    let said: Vec<(&str, &str, &str)> = turns
        .iter()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or_default(),
                t["text"].as_str().unwrap_or_default(),
                t["source"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("agent", "Hello Ada!", "live"),
            ("user", "Hi! Yes, Tuesday works.", "live")
        ]
    );
    assert_eq!(turns[1]["offset_secs"], 2.1, "{turns:?}");

    // A delivery Acme repeats is acknowledged and applied once.
    let again = gw.acme_webhook(&finished).await;
    again.expect_status(200);
    assert_eq!(again.json()["outcome"], "duplicate", "{}", again.text);
    let talking_again =
        json!({"line": {"speaker": "customer", "text": "Hi! Yes, Tuesday works.", "at": 2.1}});
    let again = gw
        .acme_webhook(&acme_event(
            "evt-3",
            "dial-1",
            &id,
            "talking",
            talking_again,
        ))
        .await;
    assert_eq!(again.json()["outcome"], "duplicate", "{}", again.text);
    assert_eq!(gw.transcript(&id).await.len(), 2);
    assert_eq!(gw.call(&id).await["status"], "completed");
    assert_eq!(
        gw.receipts(&[("provider", "acme"), ("outcome", "applied")])
            .await
            .len(),
        4
    );
    assert_eq!(
        gw.receipts(&[("provider", "acme"), ("outcome", "duplicate")])
            .await
            .len(),
        2
    );
    gw.stop().await;
}

#[tokio::test]
async fn acme_plugin_refuses_bad_signatures_and_malformed_events() {
    let mock = MockVendor::start().await;
    mock.enqueue(
        "POST",
        DIAL_PATH,
        MockReply::json(201, r#"{"dial_id": "dial-2"}"#),
    );
    let gw = Gateway::acme(&mock).await;
    let reply = gw.create(json!({"to": TO})).await;
    reply.expect_status(201);
    let id = id_of(&reply.json());

    let body = acme_event("evt-1", "dial-2", &id, "ringing", json!({})).to_string();
    let forged = acme_signature("not-the-secret", body.as_bytes());
    let refused = gw
        .webhook_raw("acme", &body, &[(SIGNATURE_HEADER, &forged)])
        .await
        .expect_error(401);
    assert_eq!(refused["error"]["code"], "invalid_signature", "{refused}");
    let unsigned = gw.webhook_raw("acme", &body, &[]).await.expect_error(401);
    assert!(
        unsigned["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(SIGNATURE_HEADER)),
        "{unsigned}"
    );
    // A correctly signed body that is not an Acme event: the sender's fault.
    let garbage = r#"{"hello": "world"}"#;
    let signature = acme_signature(WEBHOOK_SECRET, garbage.as_bytes());
    let malformed = gw
        .webhook_raw("acme", garbage, &[(SIGNATURE_HEADER, &signature)])
        .await
        .expect_error(400);
    assert_eq!(
        malformed["error"]["code"], "malformed_webhook",
        "{malformed}"
    );

    // Nothing was applied; every refusal left a receipt saying why.
    assert_eq!(gw.call(&id).await["status"], "initiating");
    let rejected = gw
        .receipts(&[("provider", "acme"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .all(|r| r["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{rejected:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn acme_plugin_vendor_refusals_are_mapped_like_a_builtins() {
    let mock = MockVendor::start().await;
    mock.enqueue(
        "POST",
        DIAL_PATH,
        MockReply::json(400, r#"{"error": "phone is not reachable"}"#),
    );
    mock.enqueue("POST", DIAL_PATH, MockReply::json(504, "{}"));
    let gw = Gateway::acme(&mock).await;

    // A 4xx: refused for good, 502 with Acme's reason; the call is stored failed.
    let refused = gw.create(json!({"to": TO})).await.expect_error(502);
    assert_eq!(refused["error"]["code"], "provider_rejected", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("phone is not reachable"), "{refused}");
    let failed = refused["error"]["details"]["call_id"]
        .as_str()
        .expect("details.call_id");
    assert_eq!(gw.call(failed).await["status"], "failed");

    // A 504: Acme may have dialled, so the call is accepted as pending (202), not failed.
    let reply = gw.create(json!({"to": TO})).await;
    reply.expect_status(202);
    assert_eq!(reply.json()["status"], "initiating", "{}", reply.text);
    assert_eq!(mock.requests("POST", DIAL_PATH).len(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn acme_plugin_is_listed_with_its_manifest() {
    let mock = MockVendor::start().await;
    let gw = Gateway::acme(&mock).await;
    let list = gw.get_json("/v1/providers").await;
    assert_eq!(list["default_provider"], "acme", "{list}");
    let acme = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["name"] == "acme"))
        .unwrap_or_else(|| panic!("acme is not listed: {list}"))
        .clone();
    // Everything, the kind included, comes from the plugin's manifest, as for a built-in.
    assert_eq!(acme["kind"], "acme", "{acme}");
    assert_eq!(acme["version"], env!("CARGO_PKG_VERSION"), "{acme}");
    assert_eq!(acme["description"], "Acme Voice (example plugin)", "{acme}");
    assert_eq!(
        acme["capabilities"],
        json!({
            "outbound_call": true,
            "hangup": false,
            "live_transcript": true,
            "post_call_report": true,
            "fetch_call": false,
            "idempotent_create": false,
        }),
        "{acme}"
    );
    assert!(
        acme["signature_scheme"]
            .as_str()
            .is_some_and(|s| s.contains(SIGNATURE_HEADER)),
        "{acme}"
    );
    assert_eq!(acme["webhook_path"], "/webhooks/acme", "{acme}");
    assert!(
        !list.to_string().contains(API_KEY) && !list.to_string().contains(WEBHOOK_SECRET),
        "secrets are never listed: {list}"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------------

/// `echo` (default), `faulty` (panics) and `steady` (the same library, working).
async fn faulty_gateway() -> Gateway {
    Gateway::start("echo", |dir| {
        let path = install(dir, FAULTY);
        format!(
            r#"
[providers.echo]
kind = "echo"
turn_interval_ms = 20

[providers.faulty]
kind = "dylib"
path = "{path}"
config = {{ mode = "panic" }}

[providers.steady]
kind = "dylib"
path = "{path}"
config = {{ mode = "ok" }}
"#
        )
    })
    .await
}

#[tokio::test]
async fn a_panicking_plugin_fails_only_its_own_calls() {
    let gw = faulty_gateway().await;

    let refused = gw
        .create(json!({"to": TO, "provider": "faulty"}))
        .await
        .expect_error(502);
    assert_eq!(refused["error"]["code"], "provider_rejected", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("panicked") && message.contains("faulty plugin: build_create_call panics"),
        "the error says the plugin panicked, and where: {refused}"
    );
    let failed = refused["error"]["details"]["call_id"]
        .as_str()
        .expect("details.call_id");
    assert_eq!(gw.call(failed).await["status"], "failed");

    // The gateway keeps serving: a built-in provider and the same library's working instance.
    gw.echo_call_completes().await;
    let reply = gw.create(json!({"to": TO, "provider": "steady"})).await;
    reply.expect_status(201);
    gw.wait_for_status(&id_of(&reply.json()), "completed").await;
    // And the panicking instance fails the same way again, without taking anything down.
    gw.create(json!({"to": TO, "provider": "faulty"}))
        .await
        .expect_error(502);
    gw.echo_call_completes().await;
    gw.stop().await;
}

#[tokio::test]
async fn a_panicking_plugin_webhook_answers_500_and_its_receipt_is_rejected() {
    let gw = faulty_gateway().await;
    let body = json!({"call_id": uuid::Uuid::now_v7().to_string(), "state": "ringing"}).to_string();
    // The plugin declares x-faulty-key a credential header (across the ABI).
    let failed = gw
        .webhook_raw("faulty", &body, &[("x-faulty-key", "plugin-credential")])
        .await
        .expect_error(500);
    assert_eq!(failed["error"]["code"], "provider_failed", "{failed}");
    // The unauthenticated sender gets no detail (it is logged, and kept in the receipt).
    assert_eq!(failed["error"]["message"], "internal error", "{failed}");
    let rejected = gw
        .receipts(&[("provider", "faulty"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0]["reason"].as_str().is_some_and(
            |r| r.contains("panicked") && r.contains("faulty plugin: verify_webhook panics")
        ),
        "{rejected:?}"
    );
    // The receipt keeps the body, as for any webhook.
    let receipt = gw
        .get_json(&format!(
            "/v1/webhook-receipts/{}",
            rejected[0]["id"].as_str().expect("receipt id")
        ))
        .await;
    assert!(receipt.to_string().contains("ringing"), "{receipt}");
    assert!(
        receipt
            .to_string()
            .contains(r#"["x-faulty-key","[redacted]"]"#)
            && !receipt.to_string().contains("plugin-credential"),
        "{receipt}"
    );

    // Other providers' webhooks and calls are unaffected.
    gw.echo_call_completes().await;
    gw.stop().await;
}

/// In production an `Unsigned` verdict is refused whoever gives it: here a plugin that does not
/// say it takes unsigned webhooks (so startup lets it through) answers `Unsigned` to everything.
#[tokio::test]
async fn production_refuses_unsigned_webhooks_from_any_provider() {
    let gw = Gateway::start("echo", |dir| {
        let path = install(dir, FAULTY);
        format!(
            r#"
[log]
environment = "production"

[providers.echo]
kind = "echo"
turn_interval_ms = 20
webhook_secret = "s3cret"

[providers.steady]
kind = "dylib"
path = "{path}"
config = {{ mode = "ok" }}
"#
        )
    })
    .await;
    let reply = gw.create(json!({"to": TO, "provider": "steady"})).await;
    reply.expect_status(201);
    let id = id_of(&reply.json());

    // An anonymous sender forges the call's end.
    let forged = json!({"call_id": id, "state": "completed"}).to_string();
    let refused = gw
        .webhook_raw("steady", &forged, &[])
        .await
        .expect_error(401);
    assert_eq!(refused["error"]["code"], "invalid_signature", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unsigned webhooks are refused in production")),
        "{refused}"
    );
    // Its own scheduled webhooks are unsigned too: refused alike, so the call never moves.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(gw.call(&id).await["status"], "initiating");
    let rejected = gw
        .receipts(&[("provider", "steady"), ("outcome", "rejected")])
        .await;
    assert_eq!(
        rejected.len(),
        4,
        "the forged one and three scheduled: {rejected:?}"
    );
    assert!(
        rejected.iter().all(|r| r["reason"]
            .as_str()
            .is_some_and(|m| m.contains("refused in production"))),
        "{rejected:?}"
    );
    assert!(
        gw.receipts(&[("provider", "steady"), ("outcome", "applied")])
            .await
            .is_empty()
    );
    // A signed provider works as ever.
    gw.echo_call_completes().await;
    gw.stop().await;
}

/// `Provider::precheck_webhook` crosses the ABI: the faulty plugin refuses
/// `x-faulty-precheck: refuse` on the headers alone, before its body is read.
#[tokio::test]
async fn a_plugin_may_refuse_a_webhook_on_its_headers() {
    let gw = faulty_gateway().await;
    let headers = [("x-faulty-precheck", "refuse")];
    assert_eq!(
        gw.webhook_status_without_body("steady", &headers, 500_000)
            .await,
        401
    );
    let refused = gw
        .receipts(&[("provider", "steady"), ("outcome", "rejected")])
        .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["body_size"], 0, "{refused:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused on its headers")),
        "{refused:?}"
    );
    // Without the header the body is read and handled as ever.
    let id = id_of(
        &gw.create(json!({"to": TO, "provider": "steady"}))
            .await
            .json(),
    );
    gw.wait_for_status(&id, "completed").await;
    gw.stop().await;
}

#[tokio::test]
async fn a_plugin_answering_malformed_json_fails_each_request_with_a_clear_error() {
    let gw = Gateway::start("echo", |dir| {
        let path = install(dir, GARBLED);
        format!(
            "[providers.echo]\nkind = \"echo\"\nturn_interval_ms = 20\n\n\
             [providers.garbled]\nkind = \"dylib\"\npath = \"{path}\"\n"
        )
    })
    .await;

    let refused = gw
        .create(json!({"to": TO, "provider": "garbled"}))
        .await
        .expect_error(502);
    assert_eq!(refused["error"]["code"], "provider_rejected", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("malformed JSON")),
        "{refused}"
    );
    let failed = gw
        .webhook_raw("garbled", r#"{"state": "ringing"}"#, &[])
        .await
        .expect_error(500);
    assert_eq!(failed["error"]["code"], "provider_failed", "{failed}");
    assert_eq!(failed["error"]["message"], "internal error", "{failed}");
    let rejected = gw
        .receipts(&[("provider", "garbled"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("malformed JSON")),
        "{rejected:?}"
    );
    gw.echo_call_completes().await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Startup failures
// ---------------------------------------------------------------------------------------------

/// The problems of a config whose only provider is `[providers.plugin]` with `table` (TOML
/// lines), in a fresh dir that `table` may install libraries into.
fn startup_problems(table: impl FnOnce(&Path) -> String) -> (tempfile::TempDir, ConfigError) {
    let dir = tempfile::tempdir().expect("temp dir");
    let providers = format!(
        "[providers.plugin]\nkind = \"dylib\"\n{}",
        table(dir.path())
    );
    let config = config("plugin", &providers);
    match config.settings(dir.path()) {
        Ok(_) => panic!("the config was accepted:\n{}", config.toml(dir.path())),
        Err(e) => (dir, e),
    }
}

/// Asserts that the only problem is at `providers.plugin.path`, names the library's full path
/// (the config's folder joined with the relative path), and says `reason`.
#[track_caller]
fn assert_path_problem(dir: &Path, relative: &str, error: &ConfigError, reason: &str) {
    let full = dir.join(relative).display().to_string();
    assert_eq!(error.problems.len(), 1, "{error}");
    let problem = &error.problems[0];
    assert_eq!(problem.path, "providers.plugin.path", "{error}");
    assert!(
        problem.message.contains(&full),
        "the message names {full}: {error}"
    );
    assert!(
        problem.message.contains(reason),
        "the message says {reason:?}: {error}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("providers.plugin.path") && shown.contains(&full),
        "{shown}"
    );
}

#[test]
fn a_plugin_accepting_unsigned_webhooks_stops_startup_in_production() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = install(dir.path(), FAULTY);
    let providers = format!(
        r#"
[log]
environment = "production"

[providers.open]
kind = "dylib"
path = "{path}"
config = {{ mode = "open" }}

[providers.quiet]
kind = "dylib"
path = "{path}"
config = {{ mode = "ok" }}
"#
    );
    let error = config("open", &providers)
        .settings(dir.path())
        .expect_err("refused in production");
    // Only the instance that says so (ingest refuses the other's unsigned webhooks).
    let paths: Vec<&str> = error.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["providers.open.config.mode"], "{error}");
    assert!(error.to_string().contains("unsigned webhooks"), "{error}");
    // Outside production it starts.
    let development = providers.replace("production", "development");
    assert!(config("open", &development).settings(dir.path()).is_ok());
}

#[test]
fn a_missing_plugin_library_stops_startup() {
    let relative = "plugins/libnot-there.so";
    let (dir, error) = startup_problems(|_| format!("path = \"{relative}\"\n"));
    assert_path_problem(dir.path(), relative, &error, "no plugin library at");
}

#[test]
fn a_library_without_the_entry_symbol_stops_startup() {
    let mut relative = String::new();
    let (dir, error) = startup_problems(|dir| {
        relative = install(dir, NO_SYMBOL);
        format!("path = \"{relative}\"\n")
    });
    assert_path_problem(
        dir.path(),
        &relative,
        &error,
        "exports no voice_gateway_plugin_v1 symbol",
    );
}

#[test]
fn a_plugin_of_another_abi_version_stops_startup() {
    let mut relative = String::new();
    let (dir, error) = startup_problems(|dir| {
        relative = install(dir, WRONG_ABI);
        format!("path = \"{relative}\"\n")
    });
    assert_path_problem(
        dir.path(),
        &relative,
        &error,
        "speaks plugin ABI 99; this gateway speaks 1",
    );
}

#[test]
fn a_plugin_with_an_unreadable_manifest_stops_startup() {
    let mut relative = String::new();
    let (dir, error) = startup_problems(|dir| {
        relative = install(dir, MALFORMED);
        format!("path = \"{relative}\"\n")
    });
    assert_path_problem(
        dir.path(),
        &relative,
        &error,
        "unreadable manifest: the plugin answered malformed JSON",
    );
}

#[test]
fn a_plugins_own_config_problems_stop_startup_like_a_builtins() {
    let (_dir, error) = startup_problems(|dir| {
        let path = install(dir, EXAMPLE);
        format!(
            "path = \"{path}\"\n\n[providers.plugin.config]\n\
             base_url = \"ftp://acme.test\"\nwebhook_secret = 42\ncolour = \"blue\"\n"
        )
    });
    let mut problems: Vec<(&str, &str)> = error
        .problems
        .iter()
        .map(|p| (p.path.as_str(), p.message.as_str()))
        .collect();
    problems.sort_unstable();
    assert_eq!(
        problems,
        [
            ("providers.plugin.config.api_key", "missing: Acme's API key"),
            ("providers.plugin.config.base_url", "must be an http(s) URL"),
            ("providers.plugin.config.colour", "unknown key"),
            (
                "providers.plugin.config.webhook_secret",
                "must be a non-empty string"
            ),
        ],
        "every problem, each at its key: {error}"
    );
}

#[test]
fn a_plugin_panicking_while_validating_its_config_stops_startup() {
    let (_dir, error) = startup_problems(|dir| {
        let path = install(dir, FAULTY);
        format!("path = \"{path}\"\nconfig = {{ mode = \"panic_on_config\" }}\n")
    });
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(error.problems[0].path, "providers.plugin.config", "{error}");
    assert!(
        error.problems[0]
            .message
            .contains("faulty plugin: validate_config panics"),
        "{error}"
    );
}

#[test]
fn the_binary_refuses_to_start_with_a_broken_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let relative = install(dir.path(), WRONG_ABI);
    let toml = config(
        "plugin",
        &format!("[providers.plugin]\nkind = \"dylib\"\npath = \"{relative}\"\n"),
    )
    .toml(dir.path());
    let config = dir.path().join(CONFIG_FILE);
    std::fs::write(&config, toml).expect("config written");
    let out = run_binary(
        dir.path(),
        &["--config", config.to_str().expect("UTF-8 path"), "migrate"],
    );
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("providers.plugin.path")
            && stderr.contains(&dir.path().join(&relative).display().to_string())
            && stderr.contains("ABI 99"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("gw.db").exists(),
        "a refused start creates no database"
    );
}

// ---------------------------------------------------------------------------------------------
// The conformance suite through the ABI, and `voice-gateway plugin check`
// ---------------------------------------------------------------------------------------------

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// The example plugin's subject as its author gives it (see its `tests/conformance.rs`).
fn acme_subject(factory: &PluginFactory) -> Subject<'_> {
    let body = acme_event(
        "evt-conformance-1",
        "dial-1",
        &conformance::call_id().to_string(),
        "talking",
        json!({"line": {"speaker": "agent", "text": "Hello Ada!", "at": 0.5}}),
    )
    .to_string()
    .into_bytes();
    let unsigned = Headers::new().with("content-type", "application/json");
    let signed = unsigned
        .clone()
        .with(SIGNATURE_HEADER, acme_signature(WEBHOOK_SECRET, &body));
    Subject {
        factory,
        valid_config: json!({
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "base_url": "https://acme.test",
        }),
        invalid_config: json!({"api_key": 42, "colour": "blue"}),
        samples: Samples {
            now: now(),
            success_response: HttpResponse::json(201, &json!({"dial_id": "dial-1"})),
            error_response: HttpResponse::json(400, &json!({"error": "phone is not valid"})),
            signed_webhook: Some((None, signed, body)),
            unsigned_headers: unsigned,
        },
    }
}

#[test]
fn the_loaded_example_plugin_passes_the_conformance_suite() {
    let factory = PluginFactory::load(&library(EXAMPLE)).expect("the example plugin loads");
    conformance::assert_conformant(&acme_subject(&factory));
}

#[test]
fn a_panicking_plugin_fails_the_conformance_suite_without_crashing_it() {
    let factory = PluginFactory::load(&library(FAULTY)).expect("the faulty plugin loads");
    let mut subject = acme_subject(&factory);
    subject.valid_config = json!({"mode": "panic"});
    subject.invalid_config = json!({"mode": "sideways"});
    let results = conformance::run(&subject);
    assert_eq!(results.len(), conformance::CHECK_NAMES.len());
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(
        failed
            .iter()
            .any(|r| r.name == conformance::CREATE_CALL_REQUEST_WELL_FORMED
                && r.detail.contains("panicked")),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|r| r.name == conformance::WEBHOOK_SIGNED_SAMPLE_VERIFIES),
        "{failed:#?}"
    );
}

/// A `plugin check` file for the example plugin: its config and the samples only its author
/// can give.
fn acme_check_file(dir: &Path) -> PathBuf {
    let body = acme_event(
        "evt-check-1",
        "dial-1",
        &conformance::call_id().to_string(),
        "ringing",
        json!({}),
    )
    .to_string();
    let signature = acme_signature(WEBHOOK_SECRET, body.as_bytes());
    let file = dir.join("acme-check.toml");
    let text = format!(
        r#"
[config]
base_url = "https://acme.test"
api_key = "{API_KEY}"
webhook_secret = "{WEBHOOK_SECRET}"

[invalid_config]
api_key = 42

[samples]
now = "2027-01-15T08:00:00Z"

[samples.success_response]
status = 201
body = '{{"dial_id": "dial-1", "state": "queued"}}'

[samples.error_response]
status = 400
body = '{{"error": "phone is not valid"}}'

[samples.signed_webhook]
body = '{body}'
headers = {{ {SIGNATURE_HEADER} = "{signature}" }}
unsigned_headers = {{ content-type = "application/json" }}
"#
    );
    std::fs::write(&file, text).expect("check file written");
    file
}

#[test]
fn plugin_check_passes_the_example_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = acme_check_file(dir.path());
    let library = library(EXAMPLE);
    let out = run_binary(
        dir.path(),
        &[
            "plugin",
            "check",
            library.to_str().expect("UTF-8 path"),
            "--config",
            check.to_str().expect("UTF-8 path"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "kind acme",
        "ABI 1",
        "outbound_call, live_transcript, post_call_report",
        "api_key (string, required, secret, env ACME_API_KEY)",
        "PASS manifest_well_formed",
        "PASS webhook_tampered_body_rejected",
        " 0 failed",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// The check file shipped beside the example plugin (the one the docs show) passes as it is.
#[test]
fn plugin_check_passes_the_example_plugin_with_its_shipped_check_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/provider-plugin/plugin-check.toml");
    let library = library(EXAMPLE);
    let out = run_binary(
        dir.path(),
        &[
            "plugin",
            "check",
            library.to_str().expect("UTF-8 path"),
            "--config",
            shipped.to_str().expect("UTF-8 path"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("18 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn plugin_check_fails_the_faulty_plugins() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = dir.path().join("faulty-check.toml");
    std::fs::write(&check, "[config]\nmode = \"panic\"\n").expect("check file written");
    let faulty = library(FAULTY);
    let out = run_binary(
        dir.path(),
        &[
            "plugin",
            "check",
            faulty.to_str().expect("UTF-8 path"),
            "--config",
            check.to_str().expect("UTF-8 path"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL create_call_request_well_formed") && stdout.contains("panicked"),
        "{stdout}"
    );

    for (package, reason) in [
        (MALFORMED, "unreadable manifest"),
        (WRONG_ABI, "speaks plugin ABI 99"),
        (NO_SYMBOL, "exports no voice_gateway_plugin_v1 symbol"),
    ] {
        let library = library(package);
        let out = run_binary(
            dir.path(),
            &["plugin", "check", library.to_str().expect("UTF-8 path")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{package}: {out:?}");
        assert!(stderr.contains(reason), "{package}: {stderr}");
    }
}

/// `echo`, `slow` (a plugin whose calls take `SLOW_CALL`, limited to 100 ms) and `steady` (the
/// same library, working).
async fn slow_gateway() -> Gateway {
    Gateway::start("echo", |dir| {
        let path = install(dir, FAULTY);
        format!(
            r#"
[providers.echo]
kind = "echo"
turn_interval_ms = 20

[providers.slow]
kind = "dylib"
path = "{path}"
call_timeout_ms = 100
config = {{ mode = "slow" }}

[providers.steady]
kind = "dylib"
path = "{path}"
config = {{ mode = "ok" }}
"#
        )
    })
    .await
}

#[tokio::test]
async fn a_hung_plugin_fails_its_call_at_the_time_limit_and_the_gateway_keeps_serving() {
    let gw = slow_gateway().await;
    // The server runs on this test's single-threaded runtime: a plugin call on it would hold
    // every other request until the plugin returned.
    let (refused, echo) = tokio::join!(
        gw.create(json!({"to": TO, "provider": "slow"})),
        gw.create(json!({"to": TO, "provider": "echo"})),
    );
    echo.expect_status(201);
    let refused = refused.expect_error(502);
    assert_eq!(refused["error"]["code"], "provider_rejected", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("did not answer within 100 ms"),
        "the error names the time limit: {refused}"
    );
    let failed = refused["error"]["details"]["call_id"]
        .as_str()
        .expect("details.call_id");
    assert_eq!(gw.call(failed).await["status"], "failed");
    gw.wait_for_status(&id_of(&echo.json()), "completed").await;
    gw.stop().await;
}

#[tokio::test]
async fn a_hung_plugin_webhook_answers_503_and_holds_only_its_own_instance() {
    let gw = slow_gateway().await;
    let body = json!({"call_id": uuid::Uuid::now_v7().to_string(), "state": "ringing"}).to_string();
    // More webhooks at once than the instance has slots: the last ones wait for a slot and
    // fail at the same limit.
    let answers =
        futures_util::future::join_all((0..10).map(|_| gw.webhook_raw("slow", &body, &[]))).await;
    for answer in &answers {
        let error = answer.expect_error(503);
        assert_eq!(error["error"]["code"], "provider_timeout", "{error}");
    }
    let rejected = gw
        .receipts(&[("provider", "slow"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), answers.len(), "{rejected:?}");
    // While the slow instance's threads are still asleep, the same library's other instance
    // and the built-in providers work.
    let reply = gw.create(json!({"to": TO, "provider": "steady"})).await;
    reply.expect_status(201);
    gw.wait_for_status(&id_of(&reply.json()), "completed").await;
    gw.echo_call_completes().await;
    gw.stop().await;
}

#[test]
fn a_plugin_call_timeout_must_be_positive() {
    let (_dir, error) = startup_problems(|dir| {
        let path = install(dir, FAULTY);
        format!("path = \"{path}\"\ncall_timeout_ms = 0\nconfig = {{ mode = \"ok\" }}\n")
    });
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(
        error.problems[0].path, "providers.plugin.call_timeout_ms",
        "{error}"
    );
    assert!(error.problems[0].message.contains("not 0"), "{error}");
}

/// A plugin's manifest names environment variables for its keys, as a built-in provider's
/// does: `ACME_API_KEY` and `ACME_WEBHOOK_SECRET` fill the `config` table's keys it leaves out
/// (the table's own values win), so the call carries the key and webhooks verify.
#[tokio::test]
async fn a_plugins_manifest_env_names_fill_its_config() {
    let mock = MockVendor::start().await;
    mock.enqueue(
        "POST",
        DIAL_PATH,
        MockReply::json(201, r#"{"dial_id": "dial-env", "state": "queued"}"#),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = install(dir.path(), EXAMPLE);
    let providers = format!(
        "[providers.acme]\nkind = \"dylib\"\npath = \"{path}\"\n\n[providers.acme.config]\n\
         base_url = \"{}\"\napi_key = \"\"\n",
        mock.base_url()
    );
    let with_env = config("acme", &providers)
        .env("ACME_API_KEY", API_KEY)
        .env("ACME_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let gw = Gateway(TestGateway::start_in(dir, &with_env).await);
    let id = id_of(&gw.create(json!({"to": TO})).await.json());
    let received = mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    // Signed with the secret from the environment: verified and applied.
    gw.apply(&acme_event(
        "evt-env",
        "dial-env",
        &id,
        "ringing",
        json!({}),
    ))
    .await;
    assert_eq!(gw.call(&id).await["status"], "ringing");

    // Without the variables the plugin's own check refuses the missing key.
    let other = tempfile::tempdir().expect("temp dir");
    let copied = install(other.path(), EXAMPLE);
    let error = config("acme", &providers.replace(&path, &copied))
        .settings(other.path())
        .expect_err("api_key is required");
    assert!(
        error.to_string().contains("providers.acme.config.api_key"),
        "{error}"
    );
    gw.0.stop().await;
}
