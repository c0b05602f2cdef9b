//! Recovery gaps: a PostgreSQL statement timeout answers 503, an idempotency key whose first
//! request died recovers after its lease, local calls interrupted by a restart end.

use serde_json::json;

use crate::harness::{
    GatewayConfig, PROVIDERS, TO, TestGateway, id_of, postgres_section, schema_for,
    test_database_url, unique,
};

fn config() -> GatewayConfig {
    GatewayConfig::new()
        .gateway(r#"default_provider = "echo""#)
        .sections(PROVIDERS)
}

/// A webhook whose call row another transaction holds runs past `statement_timeout_ms`: the
/// answer is 503 with `Retry-After` (the vendor retries), not 500, and nothing is stored until
/// the retry after the lock is gone.
#[tokio::test]
async fn a_statement_timeout_answers_503_with_retry_after() {
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = postgres_section(&url, &schema_for(dir.path()), "statement_timeout_ms = 200");
    let gw = TestGateway::start_in(dir, &config().database(&database)).await;
    let id = id_of(
        &gw.create_call(json!({"to": TO, "provider": "frozen"}))
            .await,
    );
    let webhook = json!({
        "event_id": unique("timeout"),
        "call_id": id,
        "turn": {"speaker": "user", "text": "held up", "final": true},
    });

    let mut holder = gw.postgres_connection().await;
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM calls WHERE id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut holder)
        .await
        .expect("row locked");
    let refused = gw.webhook("frozen", &webhook).await;
    let error = refused.expect_error(503);
    assert_eq!(error["error"]["code"], "unavailable", "{error}");
    let wait: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(wait >= 1);
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");

    assert!(gw.transcript(&id).await.is_empty(), "nothing applied");
    gw.apply_webhook("frozen", &webhook).await;
    assert_eq!(gw.transcript(&id).await.len(), 1);
    gw.stop().await;
}
