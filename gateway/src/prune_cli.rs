//! `voice-gateway prune [--dry-run]`: one retention pass with the config, printing what it
//! removed (or, dry, would remove), one line per category.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use crate::audit::{self, Outcome, Record, Who};
use crate::config::Settings;
use crate::retention::{self, PassError};
use crate::store::Store;

/// How long `prune` waits for a serving instance's pass to finish before giving up.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Runs one pass against the configured database (migrating it first if needed).
pub async fn run(settings: &Settings, dry_run: bool) -> Result<(), String> {
    let store = Store::open(&settings.database)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let result = execute(&store, settings, dry_run).await;
    store.close().await;
    result
}

async fn execute(store: &Store, settings: &Settings, dry_run: bool) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + BUSY_WAIT;
    let report = loop {
        match retention::pass(store, settings, dry_run).await {
            Err(PassError::Busy) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            outcome => break outcome.map_err(|e| e.to_string())?,
        }
    };
    for line in report.lines() {
        println!("{line}");
    }
    if !dry_run && report.total() > 0 {
        let record = Record {
            who: Who::Cli,
            action: "retention.prune",
            target: None,
            client_addr: None,
            outcome: Outcome::Success,
            detail: Some(report.summary()),
        };
        audit::append(store, record).await;
    }
    Ok(())
}
