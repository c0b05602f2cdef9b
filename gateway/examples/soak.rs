//! Soak test: the gateway serving a steady mixed load for a long time, to show that what it holds
//! stays flat. Echo calls are placed and play their script, a vendor sends transcript webhooks to
//! calls it keeps open (hung up and replaced by new ones every `--rotate-secs`), live subscribers follow every
//! new call over WebSocket, an application endpoint receives every event, and retention prunes
//! old data while all of that runs. Every `--sample-secs` it prints the process's resident memory,
//! its open files, the database's size, the runtime's alive tasks and the stored calls. Figures
//! of a 30-minute run are in docs/benchmarks.md ("Soak"); CI runs it for a minute.
//!
//! `cargo run --release -p voice-gateway --example soak -- [flags]`
//!
//! Flags (all optional):
//! - `--duration-secs S`    how long the load runs (default 1800)
//! - `--sample-secs S`      seconds between samples (default 10)
//! - `--calls-per-sec N`    echo calls placed per second (default 2)
//! - `--webhooks-per-sec N` vendor webhooks per second (default 50)
//! - `--subscribers N`      live WebSocket subscribers, each following every new call (default 16)
//! - `--rotate-secs S`      the vendor's open calls end and are replaced this often (default 30)
//!
//! Retention needs old data, and a soak cannot wait days: every `--rotate-secs` the soak moves
//! the times of calls (and their receipts, events and audit rows) that ended more than a minute
//! ago 400 days into the past, so each `[retention]` rule (all set to a few days, pruning every
//! 10 s) has something to remove. Stored data then stays bounded: at most a few minutes of calls.
//!
//! The run fails (exit 1) if any request was answered other than expected, a subscriber lost its
//! connection, or the endpoint received nothing; growth is reported (first vs last quarter of
//! the samples), not enforced: how flat is flat enough is read from the figures.
//!
//! Environment: `BENCH_DATABASE_URL`, a PostgreSQL URL (tables in a fresh schema `soak_<random>`,
//! dropped at the end); unset, a temporary SQLite file.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use voice_gateway::auth::Role;
use voice_gateway::config::{EnvSource, Settings};
use voice_gateway::providers::Registry;

struct Args {
    duration: Duration,
    sample: Duration,
    calls_per_sec: u64,
    webhooks_per_sec: u64,
    subscribers: usize,
    rotate: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: soak [--duration-secs S] [--sample-secs S] [--calls-per-sec N] \
         [--webhooks-per-sec N] [--subscribers N] [--rotate-secs S]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        duration: Duration::from_secs(1800),
        sample: Duration::from_secs(10),
        calls_per_sec: 2,
        webhooks_per_sec: 50,
        subscribers: 16,
        rotate: Duration::from_secs(30),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value: u64 = given
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match flag.as_str() {
            "--duration-secs" => args.duration = Duration::from_secs(value),
            "--sample-secs" => args.sample = Duration::from_secs(value.max(1)),
            "--calls-per-sec" => args.calls_per_sec = value,
            "--webhooks-per-sec" => args.webhooks_per_sec = value,
            "--subscribers" => args.subscribers = value as usize,
            "--rotate-secs" => args.rotate = Duration::from_secs(value.max(5)),
            _ => usage(),
        }
    }
    args
}

enum Database {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

impl Database {
    fn section(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("url = \"sqlite://{}\"", path.display()),
            Database::Postgres { url, schema } => format!("url = \"{url}\"\nschema = \"{schema}\""),
        }
    }

    /// A connection for the soak's own queries (sizes, counts, moving times back).
    async fn connect(&self) -> AnyConnection {
        match self {
            Database::Sqlite(path) => {
                AnyConnection::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap()
            }
            Database::Postgres { url, schema } => {
                let mut conn = AnyConnection::connect(url).await.unwrap();
                sqlx::query(AssertSqlSafe(format!("SET search_path TO {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn
            }
        }
    }

    /// Bytes the database holds: the SQLite files, or the schema's relations.
    async fn bytes(&self, conn: &mut AnyConnection) -> u64 {
        match self {
            Database::Sqlite(path) => ["", "-wal", "-shm"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
                .map(|m| m.len())
                .sum(),
            Database::Postgres { schema, .. } => {
                let sql = format!(
                    "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) AS n \
                     FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
                     WHERE s.nspname = '{schema}' AND c.relkind IN ('r', 'm')"
                );
                let row = sqlx::query(AssertSqlSafe(sql))
                    .fetch_one(conn)
                    .await
                    .unwrap();
                row.try_get::<i64, _>("n").unwrap() as u64
            }
        }
    }
}

/// Counts of what went wrong, and of what arrived.
#[derive(Default)]
struct Tally {
    calls_placed: AtomicU64,
    webhooks_sent: AtomicU64,
    unexpected: AtomicU64,
    frames: AtomicU64,
    subscribers_lost: AtomicU64,
    events_received: AtomicU64,
}

fn unexpected(tally: &Tally, what: &str, detail: impl std::fmt::Display) {
    let n = tally.unexpected.fetch_add(1, Ordering::Relaxed);
    if n < 10 {
        println!("unexpected {what}: {detail}");
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        match self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!(e.to_string())),
        }
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_files() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The application: answers every event 200 and counts them.
async fn start_receiver(tally: Arc<Tally>) -> String {
    use poem::{EndpointExt, Route, handler, post, web::Data};
    #[handler]
    fn receive(tally: Data<&Arc<Tally>>) -> &'static str {
        tally.events_received.fetch_add(1, Ordering::Relaxed);
        "{}"
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = Route::new().at("/events", post(receive)).data(tally);
    let acceptor = poem::listener::TcpListener::bind(addr.to_string());
    tokio::spawn(async move {
        let _ = poem::Server::new(acceptor).run(app).await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!("http://{addr}/events")
}

/// Places echo calls at the given rate and announces each to the subscribers.
async fn place_calls(
    client: Arc<Client>,
    tally: Arc<Tally>,
    per_sec: u64,
    new_calls: broadcast::Sender<String>,
    running: Arc<AtomicBool>,
) {
    if per_sec == 0 {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_millis(1000 / per_sec));
    while running.load(Ordering::Relaxed) {
        every.tick().await;
        let (status, call) = client
            .post(
                "/v1/calls",
                &json!({"to": "+14155550123", "provider": "echo"}),
            )
            .await;
        if status != 201 {
            unexpected(&tally, "create answer", format!("{status} {call}"));
            continue;
        }
        tally.calls_placed.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = call["id"].as_str() {
            let _ = new_calls.send(id.to_owned());
        }
    }
}

/// The vendor: keeps a set of open calls on the frozen echo instance, sends them transcript
/// webhooks at the given rate, and every `rotate` ends them and opens new ones.
async fn send_webhooks(
    client: Arc<Client>,
    tally: Arc<Tally>,
    per_sec: u64,
    rotate: Duration,
    running: Arc<AtomicBool>,
) {
    if per_sec == 0 {
        return;
    }
    let open = |client: Arc<Client>, tally: Arc<Tally>| async move {
        let mut calls = Vec::new();
        for _ in 0..10 {
            let (status, call) = client
                .post(
                    "/v1/calls",
                    &json!({"to": "+14155550124", "provider": "frozen"}),
                )
                .await;
            match call["id"].as_str() {
                Some(id) if status == 201 => calls.push(id.to_owned()),
                _ => unexpected(&tally, "create answer", format!("{status} {call}")),
            }
        }
        calls
    };
    let mut calls = open(client.clone(), tally.clone()).await;
    let mut rotated = Instant::now();
    let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        every.tick().await;
        if rotated.elapsed() >= rotate || calls.is_empty() {
            // Hung up through the API: the local provider's script ends with the call.
            for id in &calls {
                let hangup = format!("/v1/calls/{id}/hangup");
                let (status, answer) = client.post(&hangup, &json!({})).await;
                if status != 202 {
                    unexpected(&tally, "hang-up answer", format!("{status} {answer}"));
                }
            }
            calls = open(client.clone(), tally.clone()).await;
            rotated = Instant::now();
            continue;
        }
        n += 1;
        let id = &calls[(n as usize) % calls.len()];
        let body = json!({
            "event_id": format!("soak-{n}"),
            "call_id": id,
            "turn": {"speaker": if n % 2 == 0 { "user" } else { "agent" }, "text": format!("turn {n}"), "final": true},
        });
        let (status, answer) = client.post("/webhooks/frozen", &body).await;
        tally.webhooks_sent.fetch_add(1, Ordering::Relaxed);
        if status != 200 || answer["outcome"] != "applied" {
            unexpected(&tally, "webhook answer", format!("{status} {answer}"));
        }
    }
}

/// A live subscriber: follows every new call for 10 s, then unsubscribes.
async fn subscribe(
    ws_url: String,
    tally: Arc<Tally>,
    mut new_calls: broadcast::Receiver<String>,
    running: Arc<AtomicBool>,
) {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(&ws_url).await else {
        tally.subscribers_lost.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut followed: std::collections::VecDeque<(Instant, String)> = Default::default();
    let mut tidy = tokio::time::interval(Duration::from_secs(1));
    while running.load(Ordering::Relaxed) {
        tokio::select! {
            call = new_calls.recv() => {
                let Ok(call) = call else { continue };
                let frame = json!({"subscribe": call, "after_seq": 0}).to_string();
                if socket.send(Message::text(frame)).await.is_err() {
                    break;
                }
                followed.push_back((Instant::now(), call));
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(_))) => {
                    tally.frames.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                _ => {
                    tally.subscribers_lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ = tidy.tick() => {
                while followed.front().is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(10)) {
                    let Some((_, call)) = followed.pop_front() else { break };
                    let frame = json!({"unsubscribe": call}).to_string();
                    if socket.send(Message::text(frame)).await.is_err() {
                        tally.subscribers_lost.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    }
    let _ = socket.close(None).await;
}

/// Moves what ended more than a minute ago 400 days back, so retention has old data to prune.
async fn age(conn: &mut AnyConnection) {
    let now = chrono::Utc::now();
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (long_ago, a_minute_ago) = (
        fmt(now - chrono::TimeDelta::days(400)),
        fmt(now - chrono::TimeDelta::minutes(1)),
    );
    let terminal = "status IN ('completed', 'failed', 'canceled', 'busy', 'no_answer')";
    let statements = [
        format!(
            "UPDATE webhook_receipts SET received_at = '{long_ago}' WHERE received_at < '{a_minute_ago}' \
             AND received_at > '{long_ago}' AND call_id IN (SELECT id FROM calls WHERE {terminal})"
        ),
        format!(
            "UPDATE audit_log SET at = '{long_ago}' WHERE at < '{a_minute_ago}' AND at > '{long_ago}'"
        ),
        format!(
            "UPDATE calls SET created_at = '{long_ago}', updated_at = '{long_ago}', ended_at = '{long_ago}' \
             WHERE {terminal} AND updated_at < '{a_minute_ago}' AND updated_at > '{long_ago}'"
        ),
    ];
    for sql in statements {
        if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await {
            println!("ageing failed: {e}");
        }
    }
}

async fn count(conn: &mut AnyConnection, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}");
    sqlx::query(AssertSqlSafe(sql))
        .fetch_one(conn)
        .await
        .and_then(|row| row.try_get::<i64, _>("n"))
        .unwrap_or(-1)
}

#[derive(Clone, Copy)]
struct Sample {
    secs: u64,
    rss_kib: u64,
    open_files: u64,
    db_bytes: u64,
    tasks: u64,
    calls: i64,
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// First quarter's median against the last quarter's, for each measure.
fn growth(samples: &[Sample]) {
    let quarter = (samples.len() / 4).max(1);
    if samples.len() < 4 {
        println!("growth: too few samples to compare");
        return;
    }
    let (first, last) = (&samples[..quarter], &samples[samples.len() - quarter..]);
    let measure = |name: &str, unit: &str, scale: f64, pick: fn(&Sample) -> u64| {
        let a = median(&mut first.iter().map(pick).collect::<Vec<_>>()) as f64 / scale;
        let b = median(&mut last.iter().map(pick).collect::<Vec<_>>()) as f64 / scale;
        let change = if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
        println!("growth: {name} {a:.1} -> {b:.1} {unit} ({change:+.1}%)");
    };
    measure("resident memory", "MiB", 1024.0, |s| s.rss_kib);
    measure("open files", "", 1.0, |s| s.open_files);
    measure("database", "MiB", 1_048_576.0, |s| s.db_bytes);
    measure("alive tasks", "", 1.0, |s| s.tasks);
    measure("stored calls", "", 1.0, |s| s.calls.max(0) as u64);
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().unwrap();
    let database = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Database::Postgres {
            url,
            schema: format!("soak_{:08x}", rand::random::<u32>()),
        },
        _ => Database::Sqlite(dir.path().join("soak.db")),
    };
    let tally = Arc::new(Tally::default());
    let receiver = start_receiver(tally.clone()).await;
    let toml = format!(
        r#"
[server]
host = "127.0.0.1"
port = 0
[database]
{database}
[log]
level = "warn"
[auth]
jwt_secret = "soak-test-secret-soak-test-secret-0123"
jwt_secret_file = "{dir}/jwt-secret"
[gateway]
default_provider = "echo"
recordings_dir = "{dir}/recordings"
[live]
max_connections_per_principal = {connections}
[events]
allow_private_destinations = true
[events.endpoints.soak]
url = "{receiver}"
secret = "whsec_c29hay10ZXN0LXNlY3JldC1zb2FrLXRlc3Qtc2VjcmV0LTA="
[retention]
interval_secs = 10
webhook_bodies_days = 2
refused_webhooks_days = 2
receipts_days = 3
recordings_days = 3
transcripts_days = 3
calls_days = 4
audit_days = 4
[providers.echo]
kind = "echo"
turn_interval_ms = 100
[providers.frozen]
kind = "echo"
turn_interval_ms = 600000
"#,
        database = database.section(),
        dir = dir.path().display(),
        connections = args.subscribers.max(1) + 4,
    );
    let settings = Settings::from_parts(
        &toml,
        &EnvSource::from_pairs([]),
        &Registry::builtin(),
        None,
    )
    .unwrap_or_else(|e| panic!("soak config: {e}"));
    voice_gateway::telemetry::init(&settings.log).unwrap();
    sqlx::any::install_default_drivers();
    let server = voice_gateway::server::start(settings).await.unwrap();
    let (key, _) = voice_gateway::auth::issue_api_key(
        &server.gateway().store,
        "soak",
        Role::Admin,
        None,
        None,
    )
    .await
    .unwrap();
    let addr = server.addr();
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: format!("http://{addr}"),
        key: key.clone(),
    });
    println!(
        "soak: {} s, {} calls/s, {} webhooks/s, {} subscribers, database {}",
        args.duration.as_secs(),
        args.calls_per_sec,
        args.webhooks_per_sec,
        args.subscribers,
        match &database {
            Database::Sqlite(_) => "sqlite".to_owned(),
            Database::Postgres { schema, .. } => format!("postgres (schema {schema})"),
        }
    );

    let running = Arc::new(AtomicBool::new(true));
    let (new_calls, _) = broadcast::channel(1024);
    let mut tasks = Vec::new();
    for _ in 0..args.subscribers {
        let ws_url = format!("ws://{addr}/ws/calls/transcriptions?token={key}");
        tasks.push(tokio::spawn(subscribe(
            ws_url,
            tally.clone(),
            new_calls.subscribe(),
            running.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tasks.push(tokio::spawn(place_calls(
        client.clone(),
        tally.clone(),
        args.calls_per_sec,
        new_calls.clone(),
        running.clone(),
    )));
    tasks.push(tokio::spawn(send_webhooks(
        client.clone(),
        tally.clone(),
        args.webhooks_per_sec,
        args.rotate,
        running.clone(),
    )));

    let mut conn = database.connect().await;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut aged = Instant::now();
    println!("  secs  rss MiB  open files  db MiB  tasks  calls  placed  webhooks  frames  events");
    while started.elapsed() < args.duration {
        tokio::time::sleep(
            args.sample
                .min(args.duration.saturating_sub(started.elapsed())),
        )
        .await;
        if aged.elapsed() >= args.rotate {
            age(&mut conn).await;
            aged = Instant::now();
        }
        let sample = Sample {
            secs: started.elapsed().as_secs(),
            rss_kib: rss_kib(),
            open_files: open_files(),
            db_bytes: database.bytes(&mut conn).await,
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks() as u64,
            calls: count(&mut conn, "calls").await,
        };
        println!(
            "{:>6}  {:>7.1}  {:>10}  {:>6.1}  {:>5}  {:>5}  {:>6}  {:>8}  {:>6}  {:>6}",
            sample.secs,
            sample.rss_kib as f64 / 1024.0,
            sample.open_files,
            sample.db_bytes as f64 / 1_048_576.0,
            sample.tasks,
            sample.calls,
            tally.calls_placed.load(Ordering::Relaxed),
            tally.webhooks_sent.load(Ordering::Relaxed),
            tally.frames.load(Ordering::Relaxed),
            tally.events_received.load(Ordering::Relaxed),
        );
        samples.push(sample);
    }
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    growth(&samples);
    let placed = tally.calls_placed.load(Ordering::Relaxed);
    let problems = [
        (
            tally.unexpected.load(Ordering::Relaxed),
            "unexpected answers",
        ),
        (
            tally.subscribers_lost.load(Ordering::Relaxed),
            "subscribers lost",
        ),
        (
            u64::from(placed > 0 && tally.frames.load(Ordering::Relaxed) == 0),
            "no live frame received",
        ),
        (
            u64::from(tally.events_received.load(Ordering::Relaxed) == 0),
            "no event received",
        ),
    ];
    server.shutdown().await.unwrap();
    if let Database::Postgres { url, schema } = &database {
        let mut conn = AnyConnection::connect(url).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let failed: Vec<String> = problems
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if failed.is_empty() {
        println!("soak: ok");
    } else {
        println!("soak: FAILED: {}", failed.join(", "));
        std::process::exit(1);
    }
}
