//! Load benchmark of the live stream: many WebSocket subscribers on one call, webhooks ingested
//! at a steady pace, and the delay from sending each webhook to each subscriber receiving its
//! frame. Runs the real server in-process on loopback with a temporary SQLite database.
//!
//! `cargo run --release -p voice-gateway --example live_bench -- [subscribers] [webhooks] [pace_ms]`
//! (defaults 1000, 200, 20). Results are reported in docs/websocket.md.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use voice_gateway::auth::Role;
use voice_gateway::config::{EnvSource, Settings};
use voice_gateway::providers::Registry;

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn report(name: &str, mut micros: Vec<u64>) {
    micros.sort_unstable();
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        micros.len(),
        percentile(&micros, 0.50),
        percentile(&micros, 0.90),
        percentile(&micros, 0.99),
        percentile(&micros, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let subscribers = args.first().copied().unwrap_or(1000) as usize;
    let webhooks = args.get(1).copied().unwrap_or(200) as usize;
    let pace = Duration::from_millis(args.get(2).copied().unwrap_or(20));

    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[server]
host = "127.0.0.1"
port = 0
[database]
url = "sqlite://{db}/bench.db"
[log]
level = "warn"
[auth]
jwt_secret = "benchmark-secret-benchmark-secret-0123"
jwt_secret_file = "{db}/jwt-secret"
[live]
queue_size = 1024
# Every subscriber of the benchmark uses the one key: the per-key cap (20 by default) would
# refuse all but the first few.
max_connections_per_principal = 100000
[providers.echo]
kind = "echo"
turn_interval_ms = 600000
"#,
        db = dir.path().display()
    );
    let settings = Settings::from_parts(
        &toml,
        &EnvSource::from_pairs([]),
        &Registry::builtin(),
        None,
    )
    .unwrap();
    let server = voice_gateway::server::start(settings).await.unwrap();
    let (key, _) = voice_gateway::auth::issue_api_key(
        &server.gateway().store,
        "bench",
        Role::Admin,
        None,
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let call: Value = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth(&key)
        .json(&json!({"to": "+14155550123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let call_id = call["id"].as_str().unwrap().to_owned();

    let start = Instant::now();
    let sent_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..=webhooks).map(|_| AtomicU64::new(0)).collect());
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(subscribers * webhooks)));
    let url = format!(
        "{}/ws/calls/transcriptions?token={key}",
        base.replacen("http", "ws", 1)
    );
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        socket
            .send(Message::text(json!({"subscribe": call_id}).to_string()))
            .await
            .unwrap();
        let confirmed = socket.next().await.unwrap().unwrap();
        assert!(
            confirmed
                .to_text()
                .unwrap()
                .contains("subscription_confirmed")
        );
        let (sent_at, latencies) = (Arc::clone(&sent_at), Arc::clone(&latencies));
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(webhooks);
            while mine.len() < webhooks {
                let Some(Ok(Message::Text(text))) = socket.next().await else {
                    break;
                };
                let frame: Value = serde_json::from_str(&text).unwrap();
                if let Some(seq) = frame["seq"].as_u64() {
                    let now = start.elapsed().as_micros() as u64;
                    mine.push(now.saturating_sub(sent_at[seq as usize].load(Ordering::Relaxed)));
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    println!("{subscribers} subscribers connected; sending {webhooks} webhooks every {pace:?}");

    let mut acks = Vec::with_capacity(webhooks);
    for n in 1..=webhooks {
        let body = json!({"event_id": format!("bench-{n}"), "call_id": call_id, "turn": {"speaker": "user", "text": format!("turn {n}")}});
        sent_at[n].store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        let posted = Instant::now();
        let status = http
            .post(format!("{base}/webhooks/echo"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "webhook answered {status}");
        acks.push(posted.elapsed().as_micros() as u64);
        tokio::time::sleep(pace).await;
    }
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
    }
    report("webhook acknowledged (POST -> 200)", acks);
    let latencies = std::mem::take(&mut *latencies.lock().await);
    println!(
        "frames delivered: {} of {}",
        latencies.len(),
        subscribers * webhooks
    );
    report("webhook sent -> frame received", latencies);
    server.shutdown().await.unwrap();
}
