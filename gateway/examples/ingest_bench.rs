//! Load benchmark of webhook ingest: an open-loop generator posts signed echo webhooks (one final
//! transcript turn each, unique event ids, round-robin over many calls) at a fixed rate, and
//! measures each request from the moment it is sent to the moment its answer is read. Runs the
//! real server in-process on loopback; the load generator shares the process (and the CPU) with
//! the gateway, and the database runs on the same machine. Results are in docs/benchmarks.md.
//!
//! `cargo run --release -p voice-gateway --example ingest_bench -- [flags]`
//!
//! Flags (all optional):
//! - `--rate N`         requests per second offered (default 2000)
//! - `--duration S`     seconds of the measured phase (default 10)
//! - `--calls N`        calls the webhooks are spread over, round-robin (default 200)
//! - `--concurrency N`  most requests in flight at once (default 256); a request due while the
//!   cap is reached waits for a slot (counted as "cap hits"; it then usually starts late)
//! - `--warmup S`       seconds at the same rate before the measured phase, not measured
//!   (default 2): opens the client's connections and the database pool
//! - `--unsigned`       send unsigned webhooks (the echo instance then has no secret)
//!
//! Request `i` of a phase is due at `start + i / rate` whether or not earlier ones were answered
//! (open loop). Latency is measured from the actual send, not from the due time; a request that
//! starts more than 5 ms after its due time is counted as a late start (the generator, or the
//! in-flight cap, did not keep up).
//!
//! Environment:
//! - `BENCH_DATABASE_URL`: a PostgreSQL URL (e.g. `postgres://postgres@127.0.0.1:55000/vg`); the
//!   tables go to a fresh schema `bench_<random>`, dropped at the end unless `BENCH_KEEP_SCHEMA`
//!   is set. Unset: a temporary SQLite file. With `scripts/with-postgres`:
//!   `scripts/with-postgres bash -c 'BENCH_DATABASE_URL=$TEST_DATABASE_URL cargo run --release -p voice-gateway --example ingest_bench'`
//! - `BENCH_MAX_CONNECTIONS`: `[database] max_connections` (default 16 for PostgreSQL, 8 for
//!   SQLite, where it sizes the read pool only: SQLite writes use one connection).
//! - `BENCH_DATABASE_EXTRA`: more `[database]` lines for experiments, e.g.
//!   `"retry_attempts = 1"` (separate lines with `;`).
//!
//! Setup: the echo instance's scripted conversation is frozen (`turn_interval_ms = 600000`, so it
//! plays nothing during a run), the reconciler is off, the log level is `warn`. Each call is
//! created through the API and moved to `in_progress` by one webhook before the warm-up. After
//! the run, every answer must have been 200 with outcome `applied`, and the store is checked
//! through the API: applied receipts (`GET /v1/webhook-receipts`) and transcript turns
//! (`GET /v1/calls/{id}/transcript`, with gap-free sequence numbers) must match what was sent.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};
use tokio::sync::Semaphore;
use voice_gateway::auth::Role;
use voice_gateway::config::{EnvSource, Settings};
use voice_gateway::providers::Registry;

/// The echo instance's webhook secret.
const SECRET: &str = "bench-webhook-secret";

/// A request starting later than this after its due time is a late start.
const LATE: Duration = Duration::from_millis(5);

/// What callers and agents say, in turn.
const LINES: [&str; 4] = [
    "Hi, this is the assistant from Riverside Dental calling about your appointment on Tuesday.",
    "Oh yes, hello. Is it still at three in the afternoon?",
    "It is. Could you confirm you will make it, or would you like to move it to another day?",
    "I will be there, thank you. Could you send me a text reminder the day before?",
];

#[derive(Debug, Clone)]
struct Args {
    rate: f64,
    duration: f64,
    calls: usize,
    concurrency: usize,
    warmup: f64,
    signed: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: ingest_bench [--rate N] [--duration S] [--calls N] [--concurrency N] [--warmup S] [--unsigned]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        rate: 2000.0,
        duration: 10.0,
        calls: 200,
        concurrency: 256,
        warmup: 2.0,
        signed: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--unsigned" {
            args.signed = false;
            continue;
        }
        let Some(value) = it.next() else { usage() };
        let number = |v: &str| v.parse::<f64>().ok().filter(|n| *n >= 0.0);
        match (flag.as_str(), number(&value)) {
            ("--rate", Some(n)) if n > 0.0 => args.rate = n,
            ("--duration", Some(n)) if n > 0.0 => args.duration = n,
            ("--calls", Some(n)) if n >= 1.0 => args.calls = n as usize,
            ("--concurrency", Some(n)) if n >= 1.0 => args.concurrency = n as usize,
            ("--warmup", Some(n)) => args.warmup = n,
            _ => usage(),
        }
    }
    args
}

/// The URL with its password (if any) replaced, for printing.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Where the gateway's tables live.
enum Database {
    Sqlite,
    Postgres { url: String, schema: String },
}

impl Database {
    fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }
}

/// CPU counters from /proc (Linux), in clock ticks (USER_HZ, 100 a second): the whole machine's
/// idle time (accounted precisely even on tickless kernels, unlike its busy time) and this
/// process's CPU time, with the moment they were read.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    at: Instant,
    machine_idle: u64,
    process: u64,
}

/// Clock ticks a second in /proc (USER_HZ; 100 on Linux).
const TICKS: f64 = 100.0;

fn cpu_now() -> Option<Cpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait ...
    let idle = fields.get(3)? + fields.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let after = own.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let process = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Cpu {
        at: Instant::now(),
        machine_idle: idle,
        process,
    })
}

/// PostgreSQL's cluster-wide WAL and commit counters.
#[derive(Debug, Clone, Copy, Default)]
struct PgStats {
    commits: i64,
    wal_records: i64,
    wal_bytes: i64,
    wal_syncs: i64,
}

async fn pg_stats(url: &str) -> Option<PgStats> {
    let mut conn = AnyConnection::connect(url).await.ok()?;
    let wal = sqlx::query(
        "SELECT wal_records::bigint AS records, wal_bytes::bigint AS bytes, wal_sync::bigint AS syncs FROM pg_stat_wal",
    )
    .fetch_one(&mut conn)
    .await
    .ok()?;
    let commits = sqlx::query(
        "SELECT xact_commit::bigint AS commits FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .ok()?;
    let stats = PgStats {
        commits: commits.try_get("commits").ok()?,
        wal_records: wal.try_get("records").ok()?,
        wal_bytes: wal.try_get("bytes").ok()?,
        wal_syncs: wal.try_get("syncs").ok()?,
    };
    let _ = conn.close().await;
    Some(stats)
}

/// One request's fate.
#[derive(Debug)]
struct Sample {
    /// From the send to the end of the answer, in microseconds.
    latency_us: u64,
    /// From the due time to the send, in microseconds.
    late_us: u64,
    /// 0 when no answer came (connection error, timeout).
    status: u16,
    /// The answer's `outcome`, or what went wrong.
    outcome: String,
    /// When the answer was read, since the phase started.
    done_us: u64,
}

/// What every request needs.
struct Target {
    http: reqwest::Client,
    url: String,
    calls: Vec<String>,
    run: String,
    signed: bool,
}

impl Target {
    /// The `i`th webhook of the run: a final transcript turn for call `i mod calls`.
    fn webhook(&self, i: u64) -> (String, Option<String>) {
        let calls = self.calls.len() as u64;
        let call = &self.calls[(i % calls) as usize];
        let turn = i / calls; // the turn's number within its call
        let body = json!({
            "event_id": format!("{}-{i}", self.run),
            "call_id": call,
            "echo_call_id": format!("echo-{call}"),
            "timestamp": chrono::Utc::now(),
            "turn": {
                "id": format!("turn-{turn}"),
                "speaker": if turn % 2 == 0 { "agent" } else { "user" },
                "text": LINES[(turn % LINES.len() as u64) as usize],
                "offset_secs": turn as f64 * 4.5,
                "final": true,
            },
        })
        .to_string();
        let signature = self.signed.then(|| {
            echo_provider::webhook::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes())
        });
        (body, signature)
    }

    async fn post(&self, body: String, signature: Option<String>) -> (u16, String) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header(echo_provider::SIGNATURE_HEADER, signature);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => {
                        let outcome = serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| {
                                v["outcome"]
                                    .as_str()
                                    .or(v["error"]["code"].as_str())
                                    .map(str::to_owned)
                            })
                            .unwrap_or(text);
                        (status, outcome)
                    }
                    Err(e) => (status, format!("body not read: {e}")),
                }
            }
            Err(e) => (0, format!("transport error: {e}")),
        }
    }
}

/// The outcome of one phase.
struct Phase {
    samples: Vec<Sample>,
    cap_hits: u64,
    /// From the phase's start to the last answer.
    elapsed: Duration,
    cpu: Option<(Cpu, Cpu)>,
}

/// Sends requests `first .. first + rate * duration` on the open-loop schedule.
async fn run_phase(
    target: &Arc<Target>,
    first: u64,
    rate: f64,
    duration: f64,
    concurrency: usize,
) -> Phase {
    let n = (rate * duration).round() as u64;
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut cap_hits = 0;
    let mut tasks = Vec::with_capacity(n as usize);
    let cpu_before = cpu_now();
    let start = Instant::now() + Duration::from_millis(5);
    for k in 0..n {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
        }
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                cap_hits += 1;
                Arc::clone(&slots).acquire_owned().await.unwrap()
            }
        };
        let target = Arc::clone(target);
        tasks.push(tokio::spawn(async move {
            let (body, signature) = target.webhook(first + k);
            let sent = Instant::now();
            let (status, outcome) = target.post(body, signature).await;
            let done = Instant::now();
            drop(slot);
            Sample {
                latency_us: (done - sent).as_micros() as u64,
                late_us: sent.saturating_duration_since(due).as_micros() as u64,
                status,
                outcome,
                done_us: done.saturating_duration_since(start).as_micros() as u64,
            }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await.unwrap());
    }
    let last = samples.iter().map(|s| s.done_us).max().unwrap_or(0);
    Phase {
        samples,
        cap_hits,
        elapsed: Duration::from_micros(last),
        cpu: cpu_before.zip(cpu_now()),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Prints the phase's figures; returns how many requests were applied.
fn report(phase: &Phase, args: &Args, database: &str) -> u64 {
    let n = phase.samples.len();
    let mut latencies: Vec<u64> = phase.samples.iter().map(|s| s.latency_us).collect();
    latencies.sort_unstable();
    let mut late: Vec<u64> = phase.samples.iter().map(|s| s.late_us).collect();
    late.sort_unstable();
    let late_starts = late
        .iter()
        .filter(|l| **l > LATE.as_micros() as u64)
        .count();
    let mut answers: BTreeMap<(u16, String), u64> = BTreeMap::new();
    for sample in &phase.samples {
        *answers
            .entry((sample.status, sample.outcome.clone()))
            .or_default() += 1;
    }
    let applied = answers
        .get(&(200, "applied".to_owned()))
        .copied()
        .unwrap_or(0);
    let secs = phase.elapsed.as_secs_f64();
    println!(
        "database: {database}; offered {:.0} req/s for {:.1} s over {} calls, concurrency cap {}, {}",
        args.rate,
        args.duration,
        args.calls,
        args.concurrency,
        if args.signed { "signed" } else { "unsigned" }
    );
    println!(
        "requests: n={n} in {secs:.2} s = achieved {:.0} req/s (answers per second, first due to last answered)",
        n as f64 / secs
    );
    println!(
        "latency (send -> answer read): p50={:.2} ms p90={:.2} ms p99={:.2} ms p99.9={:.2} ms max={:.2} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0)
    );
    println!(
        "generator: late starts (>{} ms after due) {late_starts}, start delay p99={:.2} ms max={:.2} ms, in-flight cap hits {}",
        LATE.as_millis(),
        percentile(&late, 0.99),
        percentile(&late, 1.0),
        phase.cap_hits
    );
    let errors = n as u64 - applied;
    println!("answers: {applied} applied (200), errors/other {errors}");
    for ((status, outcome), count) in &answers {
        if (*status, outcome.as_str()) != (200, "applied") {
            println!("  {count} x HTTP {status}: {outcome}");
        }
    }
    if let Some((before, after)) = phase.cpu {
        let wall = (after.at - before.at).as_secs_f64() * TICKS;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if wall > 0.0 {
            let idle = after.machine_idle.saturating_sub(before.machine_idle) as f64 / wall;
            println!(
                "cpu over the phase: machine {:.2} of {cores:.0} cores busy; this process (gateway + load generator) {:.2} cores",
                (cores - idle).max(0.0),
                after.process.saturating_sub(before.process) as f64 / wall,
            );
        }
    }
    applied
}

/// Gets `path` as JSON with the API key.
async fn get(http: &reqwest::Client, base: &str, key: &str, path: &str) -> Value {
    let response = http
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "GET {path}: {status} {body}");
    body
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().unwrap();
    let run = format!("bench{:08x}", rand::random::<u32>());
    let database = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Database::Postgres {
            url,
            schema: format!("bench_{:08x}", rand::random::<u32>()),
        },
        _ => Database::Sqlite,
    };
    let max_connections: u32 = std::env::var("BENCH_MAX_CONNECTIONS")
        .ok()
        .map(|v| v.parse().expect("BENCH_MAX_CONNECTIONS must be a number"))
        .unwrap_or(match database {
            Database::Sqlite => 8,
            Database::Postgres { .. } => 16,
        });
    let extra = std::env::var("BENCH_DATABASE_EXTRA")
        .unwrap_or_default()
        .replace(';', "\n");
    let (url, schema_line) = match &database {
        Database::Sqlite => (
            format!("sqlite://{}/bench.db", dir.path().display()),
            String::new(),
        ),
        Database::Postgres { url, schema } => (url.clone(), format!("schema = \"{schema}\"")),
    };
    let toml = format!(
        r#"
[server]
host = "127.0.0.1"
port = 0
[database]
url = "{url}"
max_connections = {max_connections}
{schema_line}
{extra}
[log]
level = "warn"
[auth]
jwt_secret = "benchmark-secret-benchmark-secret-0123"
jwt_secret_file = "{dir}/jwt-secret"
[gateway]
default_provider = "echo"
reconcile_interval_secs = 0
recordings_dir = "{dir}/recordings"
[providers.echo]
kind = "echo"
turn_interval_ms = 600000
webhook_secret = "{secret}"
"#,
        dir = dir.path().display(),
        secret = if args.signed { SECRET } else { "" },
    );
    let settings = Settings::from_parts(
        &toml,
        &EnvSource::from_pairs([]),
        &Registry::builtin(),
        None,
    )
    .unwrap();
    voice_gateway::telemetry::init(&settings.log).unwrap();
    let label = match &database {
        Database::Sqlite => format!("sqlite (temp file, max_connections {max_connections})"),
        Database::Postgres { url, schema } => format!(
            "postgres {} schema {schema} (max_connections {max_connections})",
            redacted(url)
        ),
    };
    println!("database: {label}");
    if !extra.trim().is_empty() {
        println!("database extra: {}", extra.trim().replace('\n', "; "));
    }
    sqlx::any::install_default_drivers();
    let pg_before = match &database {
        Database::Postgres { url, .. } => pg_stats(url).await,
        Database::Sqlite => None,
    };

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
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Setup: the calls, each answered and moved to in_progress by one webhook.
    let mut calls = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let response = http
            .post(format!("{base}/v1/calls"))
            .bearer_auth(&key)
            .json(&json!({"to": "+14155550123"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let call: Value = response.json().await.unwrap();
        assert!(status.is_success(), "create call: {status} {call}");
        assert_eq!(call["status"], "initiating", "{call}");
        calls.push(call["id"].as_str().unwrap().to_owned());
    }
    let target = Arc::new(Target {
        http: http.clone(),
        url: format!("{base}/webhooks/echo"),
        calls,
        run: run.clone(),
        signed: args.signed,
    });
    for call in &target.calls {
        let body = json!({"event_id": format!("{run}-answered-{call}"), "call_id": call, "status": "in_progress"})
            .to_string();
        let signature = args.signed.then(|| {
            echo_provider::webhook::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes())
        });
        let (status, outcome) = target.post(body, signature).await;
        assert_eq!((status, outcome.as_str()), (200, "applied"));
    }
    let setup_webhooks = target.calls.len() as u64;
    println!(
        "setup: {} calls created and in progress; warm-up {:.1} s, then {:.1} s measured",
        target.calls.len(),
        args.warmup,
        args.duration
    );

    let warmup = run_phase(&target, 0, args.rate, args.warmup, args.concurrency).await;
    let warm_applied = warmup
        .samples
        .iter()
        .filter(|s| s.status == 200 && s.outcome == "applied")
        .count() as u64;
    if warm_applied != warmup.samples.len() as u64 {
        println!(
            "warm-up: {} of {} applied",
            warm_applied,
            warmup.samples.len()
        );
    }
    let first = warmup.samples.len() as u64;
    let measured = run_phase(&target, first, args.rate, args.duration, args.concurrency).await;
    println!("--- measured phase");
    let applied = report(&measured, &args, database.name());

    // Verification through the API: the receipts and the transcripts.
    let mut receipts = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/webhook-receipts?provider=echo&outcome=applied&limit=200".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(&http, &base, &key, &path).await;
        receipts += page["items"].as_array().unwrap().len() as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut turns = 0u64;
    let mut gaps = 0u64;
    let mut not_in_progress = 0u64;
    for call in &target.calls {
        let transcript = get(&http, &base, &key, &format!("/v1/calls/{call}/transcript")).await;
        let seqs: Vec<i64> = transcript["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["seq"].as_i64().unwrap())
            .collect();
        turns += seqs.len() as u64;
        if seqs.iter().zip(1..).any(|(seq, expected)| *seq != expected) {
            gaps += 1;
        }
        let state = get(&http, &base, &key, &format!("/v1/calls/{call}")).await;
        if state["status"] != "in_progress" {
            not_in_progress += 1;
        }
    }
    let expected_turns = warm_applied + applied;
    let expected_receipts = setup_webhooks + expected_turns;
    let verdict = |ok: bool| if ok { "ok" } else { "MISMATCH" };
    println!(
        "verify: applied receipts {receipts} (expected {expected_receipts}: {setup_webhooks} setup + {warm_applied} warm-up + {applied} measured) {}",
        verdict(receipts == expected_receipts)
    );
    println!(
        "verify: transcript turns {turns} over {} calls (expected {expected_turns}) {}; calls with seq gaps {gaps}; calls not in_progress {not_in_progress}",
        target.calls.len(),
        verdict(turns == expected_turns && gaps == 0 && not_in_progress == 0)
    );

    server.shutdown().await.unwrap();
    if let Database::Postgres { url, schema } = &database {
        // The pool's connections are closed, so their statistics are flushed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let (Some(before), Some(after)) = (pg_before, pg_stats(url).await) {
            let syncs = after.wal_syncs - before.wal_syncs;
            let webhooks = expected_receipts as f64;
            println!(
                "postgres (whole run, cluster-wide): {} commits, {} WAL fsyncs, {} WAL records, {:.1} MB WAL; {:.2} fsyncs per ingested webhook",
                after.commits - before.commits,
                syncs,
                after.wal_records - before.wal_records,
                (after.wal_bytes - before.wal_bytes) as f64 / 1e6,
                syncs as f64 / webhooks
            );
        }
        if std::env::var_os("BENCH_KEEP_SCHEMA").is_none() {
            let mut conn = AnyConnection::connect(url).await.unwrap();
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .unwrap();
            let _ = conn.close().await;
        }
    }
}
