//! The `voice-gateway` binary.

use serde_json::Value;

use crate::harness::{TestGateway, postgres_section, run_binary, schema_for, test_database_url};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_flag_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["--version"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {stdout:?}"
    );
}

#[test]
fn missing_config_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["--config", "/nonexistent.toml", "migrate"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        !dir.path().join("data").exists(),
        "a failed start creates no database"
    );
}

#[test]
fn invalid_config_lists_every_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
[server]
port = 70000
colour = 1

[providers.x]
kind = "nope"

[gateway]
default_provider = "missing"
"#,
    )
    .unwrap();
    let out = run_binary(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
    );
    assert!(!out.status.success(), "{out:?}");
    let stderr = text(&out.stderr);
    for path in [
        "server.port",
        "server.colour",
        "providers.x.kind",
        "gateway.default_provider",
    ] {
        assert!(
            stderr.contains(path),
            "stderr does not name `{path}`:\n{stderr}"
        );
    }
}

#[test]
fn migrate_creates_the_database_and_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("deeper").join("gw.db");
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[log]\nlevel = \"warn\"\n",
            db.display()
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap(), "migrate"];
    let out = run_binary(dir.path(), &args);
    assert!(
        out.status.success(),
        "migrate failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(db.is_file(), "{} was not created", db.display());
    assert!(std::fs::metadata(&db).unwrap().len() > 0);

    // Migrating an up-to-date database succeeds too.
    let again = run_binary(dir.path(), &args);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn migrate_and_user_commands_work_on_postgres_in_a_schema_of_their_own() {
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let database = postgres_section(&url, &schema_for(dir.path()), "");
    std::fs::write(&config, format!("{database}\n[log]\nlevel = \"warn\"\n")).unwrap();
    let config = config.to_str().unwrap();
    for _ in 0..2 {
        let out = run_binary(dir.path(), &["--config", config, "migrate"]);
        assert!(
            out.status.success(),
            "migrate failed: {}",
            text(&out.stderr)
        );
    }
    let out = run_binary(dir.path(), &["--config", config, "user", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("USERNAME"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unreachable_database_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\nacquire_timeout_ms = 300\n",
    )
    .unwrap();
    let out = run_binary(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("database unavailable"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn openapi_command_prints_the_served_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["openapi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value =
        serde_json::from_slice(&out.stdout).expect("`voice-gateway openapi` prints JSON");

    let gw = TestGateway::start().await;
    let served = gw.get_json("/openapi.json").await;
    assert_eq!(printed, served);
    gw.stop().await;
}

#[tokio::test]
async fn asyncapi_command_prints_the_served_live_stream_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["asyncapi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value =
        serde_json::from_slice(&out.stdout).expect("`voice-gateway asyncapi` prints JSON");

    let gw = TestGateway::start().await;
    let served = gw.get_json("/asyncapi.json").await;
    assert_eq!(printed, served);
    assert_eq!(served["asyncapi"], "3.0.0");
    assert_eq!(
        served["channels"]["transcriptions"]["address"],
        "/ws/calls/transcriptions"
    );
    for message in [
        "subscribe",
        "unsubscribe",
        "subscription_confirmed",
        "unsubscribe_confirmed",
        "transcription",
        "call_status",
        "call_completed",
        "error",
    ] {
        assert!(
            served["components"]["messages"].get(message).is_some(),
            "{message} is documented"
        );
    }
    gw.stop().await;
}
