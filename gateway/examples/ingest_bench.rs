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
//! - `--events`         events to applications: before the calls are created, start a local
//!   receiver on loopback (answers 200 `{}` at once) and register one endpoint subscribed to
//!   every event type (`[events]` keeps its default `workers`); after the run, wait (at most
//!   60 s) until the receiver has every event of the benchmark's calls in the event log
//!   (`GET /v1/events`), then print delivered, missing, duplicates, per-call order and the
//!   delivery lag of the events created during the measured phase
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
//!
//! With `--events`, every event of the benchmark's calls must have reached the receiver, each
//! call's events in strictly increasing `sequence` (duplicates are counted and printed, not
//! failed: delivery is at-least-once). Delivery lag is the receiver's wall-clock time once it
//! has read the request minus the event's `created_at`, for the events created after the
//! measured phase started (so the setup's and warm-up's backlog does not count). `created_at`
//! is the time the gateway took when it received the causing webhook, before the ingest
//! transaction (the event is written in that transaction): the lag is commit-to-receiver plus
//! the ingest's own time up to its commit.
//!
//! The process exits with status 1 when a check fails (a mismatch in the store, an event
//! missing or out of order).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
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

/// How long to wait after the run for the receiver to have every event.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

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
    events: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: ingest_bench [--rate N] [--duration S] [--calls N] [--concurrency N] [--warmup S] [--unsigned] [--events]"
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
        events: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--unsigned" {
            args.signed = false;
            continue;
        }
        if flag == "--events" {
            args.events = true;
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

/// One request the local receiver got.
struct Arrival {
    /// The `webhook-id` header: the event's id.
    webhook_id: String,
    /// When the request (headers and body) had been read.
    at: DateTime<Utc>,
    body: Vec<u8>,
}

/// What the receiver got, in arrival order.
type Arrivals = Arc<Mutex<Vec<Arrival>>>;

/// Starts the application endpoint: on loopback, any path, answers 200 `{}` at once.
async fn start_receiver() -> (SocketAddr, Arrivals) {
    use poem::listener::{Acceptor, Listener, TcpListener};

    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    let app = poem::endpoint::make(move |request: poem::Request| {
        let seen = Arc::clone(&seen);
        async move {
            let webhook_id = request.header("webhook-id").unwrap_or_default().to_owned();
            let body = request.into_body().into_vec().await.unwrap_or_default();
            let at = Utc::now();
            seen.lock().unwrap().push(Arrival {
                webhook_id,
                at,
                body,
            });
            poem::Response::builder()
                .content_type("application/json")
                .body("{}")
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (addr, arrivals)
}

/// An event of the log, as `GET /v1/events` lists it.
struct Logged {
    call: String,
    created_at: DateTime<Utc>,
}

/// Every event of `calls` in the event log, by id.
async fn event_log(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    calls: &[String],
) -> HashMap<String, Logged> {
    let mut events = HashMap::new();
    for call in calls {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/events?call_id={call}&limit=200");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get(http, base, key, &path).await;
            for item in page["items"].as_array().unwrap() {
                let created_at = item["created_at"].as_str().unwrap().parse().unwrap();
                events.insert(
                    item["id"].as_str().unwrap().to_owned(),
                    Logged {
                        call: call.clone(),
                        created_at,
                    },
                );
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    events
}

/// Waits for the receiver to have every event of the log, then prints what it got. Returns
/// whether every event arrived, in order per call.
async fn check_events(
    log: &HashMap<String, Logged>,
    arrivals: &Arrivals,
    measured_from: DateTime<Utc>,
    answered_at: DateTime<Utc>,
) -> bool {
    let deadline = Instant::now() + DELIVERY_WAIT;
    loop {
        let have = {
            let arrivals = arrivals.lock().unwrap();
            arrivals
                .iter()
                .map(|a| a.webhook_id.as_str())
                .filter(|id| log.contains_key(*id))
                .collect::<HashSet<_>>()
                .len()
        };
        if have == log.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = Utc::now() - answered_at;
    let arrivals = arrivals.lock().unwrap();
    let mut first: HashMap<&str, &Arrival> = HashMap::new();
    let mut duplicates = 0u64;
    let mut unexpected = 0u64;
    let mut bad_bodies = 0u64;
    let mut out_of_order = 0u64;
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    let mut lags: Vec<u64> = Vec::new();
    let mut negative = 0u64;
    let mut last_measured: Option<DateTime<Utc>> = None;
    for arrival in arrivals.iter() {
        let Some(logged) = log.get(&arrival.webhook_id) else {
            unexpected += 1;
            continue;
        };
        if first.contains_key(arrival.webhook_id.as_str()) {
            duplicates += 1;
            continue;
        }
        first.insert(&arrival.webhook_id, arrival);
        let body: Value = serde_json::from_slice(&arrival.body).unwrap_or_default();
        let (Some(id), Some(call), Some(sequence), Some(created_at)) = (
            body["id"].as_str(),
            body["call_id"].as_str(),
            body["sequence"].as_i64(),
            body["created_at"]
                .as_str()
                .and_then(|c| c.parse::<DateTime<Utc>>().ok()),
        ) else {
            bad_bodies += 1;
            continue;
        };
        if id != arrival.webhook_id || call != logged.call || created_at != logged.created_at {
            bad_bodies += 1;
        }
        let previous = last_seq.insert(call.to_owned(), sequence);
        if previous.is_some_and(|p| p >= sequence) {
            out_of_order += 1;
        }
        if created_at >= measured_from {
            let lag = (arrival.at - created_at).num_microseconds().unwrap_or(0);
            if lag < 0 {
                negative += 1;
            }
            lags.push(lag.max(0) as u64);
            last_measured = Some(last_measured.map_or(arrival.at, |l| l.max(arrival.at)));
        }
    }
    let missing = log.len() - first.len();
    lags.sort_unstable();
    let verdict = |ok: bool| if ok { "ok" } else { "MISMATCH" };
    let ok = missing == 0 && out_of_order == 0 && bad_bodies == 0;
    println!(
        "events: {} in the log for the benchmark's calls, delivered {} (missing {missing}, duplicates {duplicates}, not in the log {unexpected}, bodies not matching the log {bad_bodies}) {}",
        log.len(),
        first.len(),
        verdict(missing == 0 && bad_bodies == 0)
    );
    println!(
        "events: per-call order: {out_of_order} arrivals with a sequence not above the call's previous one, over {} calls {}",
        last_seq.len(),
        verdict(out_of_order == 0)
    );
    let measured = log
        .values()
        .filter(|e| e.created_at >= measured_from)
        .count();
    println!(
        "delivery lag (event created_at -> receiver has it), {} events created in the measured phase: p50={:.2} ms p90={:.2} ms p99={:.2} ms p99.9={:.2} ms max={:.2} ms{}",
        lags.len(),
        percentile(&lags, 0.50),
        percentile(&lags, 0.90),
        percentile(&lags, 0.99),
        percentile(&lags, 0.999),
        percentile(&lags, 1.0),
        if negative > 0 {
            format!(" ({negative} negative, counted as 0: the clock stepped?)")
        } else {
            String::new()
        }
    );
    if lags.len() != measured {
        println!(
            "delivery lag: {measured} measured-phase events in the log, {} delivered",
            lags.len()
        );
    }
    let drained = last_measured.map(|l| (l - answered_at).num_milliseconds());
    println!(
        "events: the last measured-phase event arrived {} after the measured phase's last answer; checked {:.2} s after it",
        drained.map_or("-".to_owned(), |d| format!("{d} ms")),
        waited.num_milliseconds() as f64 / 1000.0
    );
    ok
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
[events]
allow_private_destinations = true
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
    let workers = settings.events.workers;
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

    // The application endpoint, before the calls so that every event of theirs is delivered.
    let receiver = if args.events {
        let (addr, arrivals) = start_receiver().await;
        let response = http
            .post(format!("{base}/v1/event-endpoints"))
            .bearer_auth(&key)
            .json(&json!({"url": format!("http://{addr}/events"), "description": "ingest_bench"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let endpoint: Value = response.json().await.unwrap();
        assert_eq!(status.as_u16(), 201, "create endpoint: {endpoint}");
        println!(
            "events: endpoint {} (every type) -> receiver on {addr}; {workers} delivery workers",
            endpoint["id"].as_str().unwrap_or_default()
        );
        Some(arrivals)
    } else {
        println!("events: no endpoint");
        None
    };

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
    let measured_from = Utc::now();
    let measured = run_phase(&target, first, args.rate, args.duration, args.concurrency).await;
    let answered_at = Utc::now();
    println!("--- measured phase");
    let applied = report(&measured, &args, database.name());
    let mut ok = applied == measured.samples.len() as u64;

    if let Some(arrivals) = &receiver {
        let log = event_log(&http, &base, &key, &target.calls).await;
        ok &= check_events(&log, arrivals, measured_from, answered_at).await;
    }

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
    ok &= receipts == expected_receipts
        && turns == expected_turns
        && gaps == 0
        && not_in_progress == 0;

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
    if !ok {
        println!("FAILED: an answer was not 200 applied, or a check above says MISMATCH");
        std::process::exit(1);
    }
}
