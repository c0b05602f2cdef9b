//! `voice-gateway backup` and `restore` (the real binary) against a gateway that serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::harness::{
    GatewayConfig, PROVIDERS, TO, TestGateway, id_of, run_binary, test_database_url, unique,
};

fn config() -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
        .sections("[log]\nlevel = \"warn\"\n")
}

/// The config file the binary reads for a gateway whose files live in `dir`.
fn config_file(dir: &Path) -> PathBuf {
    let file = dir.join("gw.toml");
    std::fs::write(&file, config().toml(dir)).expect("config written");
    file
}

/// Runs the binary with `dir`'s config off the async runtime.
async fn voice_gateway(dir: &Path, args: &[&str]) -> std::process::Output {
    let dir = dir.to_owned();
    let config = config_file(&dir);
    let mut all = vec!["--config".to_owned(), config.display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run_binary(&dir, &args)
    })
    .await
    .expect("the binary ran")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn turn(id: &str, n: usize) -> serde_json::Value {
    json!({
        "event_id": unique("load"),
        "call_id": id,
        "turn": {"speaker": "user", "text": format!("turn {n}"), "final": true},
    })
}

/// A backup taken while webhooks are being ingested, restored into a new directory: a gateway
/// started there serves every call and turn acknowledged before the backup began. A restore
/// onto a database a gateway serves is refused and changes nothing.
#[tokio::test]
async fn a_backup_under_write_load_restores_into_a_gateway_that_serves_it() {
    if test_database_url().is_some() {
        eprintln!("skipped: SQLite only (PostgreSQL: pg_dump, see the next test)");
        return;
    }
    let gw = Arc::new(TestGateway::start_config(&config()).await);
    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(id_of(
            &gw.create_call(json!({"to": TO, "provider": "frozen"}))
                .await,
        ));
    }
    for (n, id) in calls.iter().enumerate() {
        gw.apply_webhook("frozen", &turn(id, n)).await;
    }
    // Webhooks keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (gw, stop, calls) = (Arc::clone(&gw), Arc::clone(&stop), calls.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = &calls[sent % calls.len()];
                gw.apply_webhook("frozen", &turn(id, sent)).await;
                sent += 1;
            }
            sent
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut acknowledged = Vec::new();
    for id in &calls {
        acknowledged.push(gw.transcript(id).await.len());
    }

    let target = gw.dir().join("backup.db");
    let out = voice_gateway(gw.dir(), &["backup", target.to_str().unwrap()]).await;
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    stop.store(true, Ordering::SeqCst);
    let sent = load.await.expect("load");
    assert!(sent > 0, "webhooks were ingested meanwhile");
    let again = voice_gateway(gw.dir(), &["backup", target.to_str().unwrap()]).await;
    assert!(
        !again.status.success(),
        "an existing backup is never overwritten"
    );

    // Restoring over the database the gateway serves is refused; nothing changes.
    let before: Vec<usize> = {
        let mut counts = Vec::new();
        for id in &calls {
            counts.push(gw.transcript(id).await.len());
        }
        counts
    };
    let refused = voice_gateway(gw.dir(), &["restore", "--force", target.to_str().unwrap()]).await;
    assert!(!refused.status.success(), "restore over a served database");
    assert!(stderr(&refused).contains("in use"), "{}", stderr(&refused));
    for (id, count) in calls.iter().zip(&before) {
        assert_eq!(gw.transcript(id).await.len(), *count, "unchanged");
    }
    gw.apply_webhook("frozen", &turn(&calls[0], 999)).await;

    let fresh = tempfile::tempdir().expect("temp dir");
    let out = voice_gateway(fresh.path(), &["restore", target.to_str().unwrap()]).await;
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let restored = TestGateway::start_in(fresh, &config()).await;
    for (id, count) in calls.iter().zip(&acknowledged) {
        // Served; and, being a local echo call whose script ran in the old process, ended as
        // interrupted by the new one (see `recovery`).
        let call = restored.call(id).await;
        assert_eq!(call["status"], "failed", "{call}");
        assert!(
            call["status_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("interrupted:"))
        );
        let turns = restored.transcript(id).await;
        assert!(
            turns.len() >= *count,
            "{id}: {} turns restored, {count} acknowledged before the backup",
            turns.len()
        );
    }
    // It serves: new webhooks apply to the restored calls, new calls play.
    restored
        .apply_webhook("frozen", &turn(&calls[1], 1000))
        .await;
    let new = id_of(&restored.create_call(json!({"to": TO})).await);
    restored.wait_for_status(&new, "completed").await;
    restored.stop().await;
    Arc::try_unwrap(gw).ok().expect("one owner").stop().await;
}

/// Backing up or restoring a PostgreSQL database is pg_dump's and pg_restore's job: the
/// commands say so and exit non-zero.
#[tokio::test]
async fn backup_and_restore_refuse_postgres_naming_its_tools() {
    if test_database_url().is_none() {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("backup.db");
    for args in [
        vec!["backup", target.to_str().unwrap()],
        vec!["restore", target.to_str().unwrap()],
    ] {
        let out = voice_gateway(dir.path(), &args).await;
        assert!(!out.status.success(), "{args:?}");
        let said = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("pg_dump") && said.contains("pg_restore"),
            "{said}"
        );
    }
    assert!(!target.exists());
}
