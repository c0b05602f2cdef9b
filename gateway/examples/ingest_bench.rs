//! Load benchmark of the durable write paths: webhook ingest and call creation. A generator in
//! this process sends the requests, either at full speed (closed loop: `--concurrency` workers,
//! each sending its next request when the last is answered) or at a fixed rate (open loop), and
//! measures each request from the moment it is sent to the moment its answer is read. Runs the
//! real server in-process on loopback; the load generator shares the process (and the CPU) with
//! the gateway, and the database runs on the same machine. Results are in docs/benchmarks.md.
//!
//! `cargo run --release -p voice-gateway --example ingest_bench -- [flags]`
//!
//! Scenarios (`--scenario NAME`):
//! - `ingest-echo`: signed echo webhooks (`POST /webhooks/echo`), one final transcript turn
//!   each, unique event ids, round-robin over `--calls` calls created and moved to
//!   `in_progress` before the warm-up.
//! - `ingest-elevenlabs`: the ElevenLabs `post_call_transcription` webhook
//!   (`POST /webhooks/elevenlabs`, signed with `ElevenLabs-Signature`, a 2-turn transcript and an
//!   analysis), each completing its own call. The setup places as many calls as the phases can
//!   use (the fixed rate times warm-up plus duration; at full speed `--seed-rate` times that)
//!   through `POST /v1/calls`, `--seed-concurrency` at a time, on an ElevenLabs instance whose
//!   vendor is the in-process mock below. At full speed a phase also ends when the calls run out.
//! - `create-echo`: `POST /v1/calls` on the echo provider.
//! - `create-elevenlabs`: `POST /v1/calls` on an ElevenLabs instance whose `base_url` is a mock
//!   vendor on loopback in this process that answers the outbound-call request at once with a
//!   valid body (a fresh `conversation_id` each).
//!
//! Flags (all optional):
//! - `--suite`          run the matrix (each scenario at full speed and at the target rates of
//!   issue #18: ingest 1,000 and 3,000/s on SQLite, 2,000/s on PostgreSQL; create 500/s), each
//!   run in its own child process of this program with a fresh gateway and database (the other
//!   flags are passed on), then print one table
//! - `--scenario NAME`  one run of that scenario (default `ingest-echo`)
//! - `--rate N|max`     requests per second offered, or `max` for full speed (default 2000)
//! - `--duration S`     seconds of the measured phase (default 10; 5 with `--suite`)
//! - `--warmup S`       seconds of the same load before the measured phase, not measured
//!   (default 2; 1 with `--suite`): opens the client's connections and the database pool
//! - `--concurrency N`  at a fixed rate, the most requests in flight at once (default 256; a
//!   request due while the cap is reached waits for a slot, counted as "cap hits"); at full
//!   speed, the number of workers (default 64)
//! - `--calls N`        `ingest-echo`: calls the webhooks are spread over (default 200)
//! - `--seed-rate N`    `ingest-elevenlabs` at full speed: calls placed per second of warm-up
//!   and measured phase (default 2500)
//! - `--seed-concurrency N` setup requests in flight at once (default 32)
//! - `--unsigned`       send unsigned webhooks (the instances then have no secret)
//! - `--no-endpoint`    no application endpoint (see below)
//! - `--events`         also wait (at most 60 s) until the receiver has every event of the
//!   run's calls in the event log (`GET /v1/events`), then print delivered, missing,
//!   duplicates, per-call order and the delivery lag of the events created during the measured
//!   phase
//!
//! Events to applications: with `--suite` or `--scenario`, each run starts a local receiver on
//! loopback (answers 200 `{}` at once) and registers one endpoint subscribed to every event type
//! (`[events]` keeps its default `workers`) after the setup and before the warm-up, so the outbox
//! writes and deliveries are part of the measured path; `--no-endpoint` leaves it out. With
//! `--events` it is registered before the setup (so every event of the run's calls is
//! delivered, and checked); the historic form (no `--suite`, no `--scenario`) registers it only
//! with `--events`.
//!
//! At a fixed rate, request `i` of a phase is due at `start + i / rate` whether or not earlier
//! ones were answered (open loop). Latency is measured from the actual send, not from the due
//! time; a request that starts more than 5 ms after its due time is counted as a late start
//! (the generator, or the in-flight cap, did not keep up).
//!
//! Each run prints its details, and the command ends with one table: scenario, offered rate,
//! achieved rate, p50/p90/p99/max latency, errors (answers other than 200 `applied` for
//! webhooks, other than 201 `initiating` for creates), busy cores over the measured phase (this
//! process: gateway and generator; the whole machine, which includes PostgreSQL), durable commits
//! per request (`voice_gateway::store::durable_commits()`), fsyncs per request (PostgreSQL: the
//! cluster's `pg_stat_wal.wal_sync` over the phase; SQLite: the commits, since WAL with
//! `synchronous = FULL` fsyncs once per commit), this process's VmRSS after the run, and the
//! checks' verdict.
//!
//! Environment:
//! - `BENCH_DATABASE_URL`: a PostgreSQL URL (e.g. `postgres://postgres@127.0.0.1:55000/vg`); the
//!   tables of each run go to a fresh schema `bench_<random>`, dropped at the end unless
//!   `BENCH_KEEP_SCHEMA` is set. Unset: a temporary SQLite file per run. With
//!   `scripts/with-postgres`:
//!   `scripts/with-postgres bash -c 'BENCH_DATABASE_URL=$TEST_DATABASE_URL cargo run --release -p voice-gateway --example ingest_bench -- --suite'`
//! - `BENCH_MAX_CONNECTIONS`: `[database] max_connections` (default 16 for PostgreSQL, 8 for
//!   SQLite, where it sizes the read pool only: SQLite writes use one connection).
//! - `BENCH_DATABASE_EXTRA`: more `[database]` lines for experiments, e.g.
//!   `"retry_attempts = 1"` (separate lines with `;`).
//!
//! Setup: the echo instance's scripted conversation is frozen (`turn_interval_ms = 600000`, so it
//! plays nothing during a run), the reconciler is off, the log level is `warn`. Checks after each
//! run, through the API:
//! - `ingest-echo`: every answer 200 `applied`; the applied receipts
//!   (`GET /v1/webhook-receipts`) and the transcript turns (`GET /v1/calls/{id}/transcript`,
//!   gap-free sequence numbers) match what was sent, and every call is still `in_progress`;
//! - `ingest-elevenlabs`: every answer 200 `applied`; the applied receipts match; every call a
//!   webhook was sent for is `completed` with the webhook's 2 turns (seq 1 and 2), every other
//!   seeded call is still `initiating`;
//! - `create-*`: every answer 201 `initiating`; every created call is retrievable
//!   (`GET /v1/calls/{id}`), `initiating`, and on ElevenLabs carries the `conversation_id` the
//!   mock gave it (each a different one).
//!
//! With `--events`, every event of the run's calls must have reached the receiver, each call's
//! events in strictly increasing `sequence` (duplicates are counted and printed, not failed:
//! delivery is at-least-once). Delivery lag is the receiver's wall-clock time once it has read
//! the request minus the event's `created_at`, for the events created after the measured phase
//! started (so the setup's and warm-up's backlog does not count). `created_at` is the time the
//! gateway took when it received the causing webhook, before the ingest transaction (the event
//! is written in that transaction): the lag is commit-to-receiver plus the ingest's own time up
//! to its commit.
//!
//! The process exits with status 1 when a check of any run fails (an answer other than the
//! expected one, a mismatch in the store, an event missing or out of order).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};
use tokio::sync::Semaphore;
use voice_gateway::auth::Role;
use voice_gateway::config::{EnvSource, Settings};
use voice_gateway::providers::Registry;

/// The echo instance's webhook secret.
const SECRET: &str = "bench-webhook-secret";

/// The ElevenLabs instance's post-call webhook secret.
const ELEVEN_SECRET: &str = "bench-elevenlabs-secret";

/// The ElevenLabs `post_call_transcription` webhook the benchmark sends (conversation and user
/// ids and the timestamp replaced per request): 2 turns with text, a tool call, an analysis.
const ELEVEN_REPORT: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/webhook_post_call_transcription.json");

/// Turns the ElevenLabs report adds to its call (the tool call without a message is left out).
const ELEVEN_TURNS: usize = 2;

/// A request starting later than this after its due time is a late start.
const LATE: Duration = Duration::from_millis(5);

/// How long to wait after the run for the receiver to have every event.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

/// Requests in flight at once when the checks read the store back.
const CHECK_CONCURRENCY: usize = 16;

/// What callers and agents say, in turn.
const LINES: [&str; 4] = [
    "Hi, this is the assistant from Riverside Dental calling about your appointment on Tuesday.",
    "Oh yes, hello. Is it still at three in the afternoon?",
    "It is. Could you confirm you will make it, or would you like to move it to another day?",
    "I will be there, thank you. Could you send me a text reminder the day before?",
];

/// What a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    IngestEcho,
    IngestElevenLabs,
    CreateEcho,
    CreateElevenLabs,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::IngestEcho,
        Scenario::IngestElevenLabs,
        Scenario::CreateEcho,
        Scenario::CreateElevenLabs,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::IngestEcho => "ingest-echo",
            Scenario::IngestElevenLabs => "ingest-elevenlabs",
            Scenario::CreateEcho => "create-echo",
            Scenario::CreateElevenLabs => "create-elevenlabs",
        }
    }

    fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    fn creates(self) -> bool {
        matches!(self, Scenario::CreateEcho | Scenario::CreateElevenLabs)
    }

    /// The provider instance the run's calls are placed on.
    fn provider(self) -> &'static str {
        match self {
            Scenario::IngestEcho | Scenario::CreateEcho => "echo",
            Scenario::IngestElevenLabs | Scenario::CreateElevenLabs => "elevenlabs",
        }
    }

    /// The answer every request must get: HTTP status and `outcome` (webhooks) or the call's
    /// `status` (creates).
    fn expected(self) -> (u16, &'static str) {
        if self.creates() {
            (201, "initiating")
        } else {
            (200, "applied")
        }
    }
}

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rate {
    /// Open loop at this many requests per second.
    Fixed(f64),
    /// Closed loop: as fast as the workers get answers.
    Max,
}

impl Rate {
    fn label(self) -> String {
        match self {
            Rate::Fixed(rate) => format!("{rate:.0}"),
            Rate::Max => "max".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Args {
    suite: bool,
    scenario: Scenario,
    rate: Rate,
    duration: f64,
    warmup: f64,
    calls: usize,
    concurrency: Option<usize>,
    seed_rate: f64,
    seed_concurrency: usize,
    signed: bool,
    endpoint: bool,
    events: bool,
}

impl Args {
    /// In-flight cap (fixed rate) or workers (full speed).
    fn concurrency(&self, rate: Rate) -> usize {
        self.concurrency.unwrap_or(match rate {
            Rate::Fixed(_) => 256,
            Rate::Max => 64,
        })
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: ingest_bench [--suite | --scenario ingest-echo|ingest-elevenlabs|create-echo|create-elevenlabs] \
         [--rate N|max] [--duration S] [--warmup S] [--concurrency N] [--calls N] [--seed-rate N] \
         [--seed-concurrency N] [--unsigned] [--no-endpoint] [--events]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        suite: false,
        scenario: Scenario::IngestEcho,
        rate: Rate::Fixed(2000.0),
        duration: 10.0,
        warmup: 2.0,
        calls: 200,
        concurrency: None,
        seed_rate: 2500.0,
        seed_concurrency: 32,
        signed: true,
        endpoint: false,
        events: false,
    };
    let mut matrix = false;
    let (mut duration, mut warmup) = (None, None);
    let mut no_endpoint = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--unsigned" => args.signed = false,
            "--events" => args.events = true,
            "--no-endpoint" => no_endpoint = true,
            "--suite" => {
                args.suite = true;
                matrix = true;
            }
            _ => {
                let Some(value) = it.next() else { usage() };
                let number = value.parse::<f64>().ok().filter(|n| *n >= 0.0);
                match (flag.as_str(), number) {
                    ("--scenario", _) => {
                        args.scenario = Scenario::parse(&value).unwrap_or_else(|| usage());
                        matrix = true;
                    }
                    ("--rate", _) if value == "max" => args.rate = Rate::Max,
                    ("--rate", Some(n)) if n > 0.0 => args.rate = Rate::Fixed(n),
                    ("--duration", Some(n)) if n > 0.0 => duration = Some(n),
                    ("--warmup", Some(n)) => warmup = Some(n),
                    ("--calls", Some(n)) if n >= 1.0 => args.calls = n as usize,
                    ("--concurrency", Some(n)) if n >= 1.0 => args.concurrency = Some(n as usize),
                    ("--seed-rate", Some(n)) if n >= 1.0 => args.seed_rate = n,
                    ("--seed-concurrency", Some(n)) if n >= 1.0 => {
                        args.seed_concurrency = n as usize
                    }
                    _ => usage(),
                }
            }
        }
    }
    // The suite runs many phases: shorter ones keep it within a few minutes.
    let (default_duration, default_warmup) = if args.suite { (5.0, 1.0) } else { (10.0, 2.0) };
    args.duration = duration.unwrap_or(default_duration);
    args.warmup = warmup.unwrap_or(default_warmup);
    if args.events && no_endpoint {
        usage()
    }
    // Issue #18 measures with one endpoint subscribed to every event type.
    args.endpoint = args.events || (matrix && !no_endpoint);
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
enum Backend {
    Sqlite,
    Postgres { url: String },
}

impl Backend {
    fn from_env() -> Backend {
        match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Backend::Postgres { url },
            _ => Backend::Sqlite,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    fn pg_url(&self) -> Option<&str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres { url } => Some(url),
        }
    }

    /// The runs of `--suite`: each scenario at full speed and at the target rates of #18.
    fn suite(&self) -> Vec<(Scenario, Rate)> {
        let ingest: &[f64] = match self {
            Backend::Sqlite => &[1000.0, 3000.0],
            Backend::Postgres { .. } => &[2000.0],
        };
        let mut runs = Vec::new();
        for scenario in Scenario::ALL {
            runs.push((scenario, Rate::Max));
            let rates: &[f64] = if scenario.creates() { &[500.0] } else { ingest };
            runs.extend(rates.iter().map(|r| (scenario, Rate::Fixed(*r))));
        }
        runs
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

/// Busy cores between two readings: (this process, the whole machine).
fn busy_cores(before: &Cpu, after: &Cpu) -> Option<(f64, f64)> {
    let wall = (after.at - before.at).as_secs_f64() * TICKS;
    if wall <= 0.0 {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let idle = after.machine_idle.saturating_sub(before.machine_idle) as f64 / wall;
    let process = after.process.saturating_sub(before.process) as f64 / wall;
    Some((process, (cores - idle).max(0.0)))
}

/// This process's resident set (VmRSS), in MiB.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
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

/// The counters read around a measured phase.
struct Counters {
    commits: u64,
    pg: Option<PgStats>,
}

async fn counters(backend: &Backend) -> Counters {
    let pg = match backend.pg_url() {
        Some(url) => pg_stats(url).await,
        None => None,
    };
    Counters {
        commits: voice_gateway::store::durable_commits(),
        pg,
    }
}

/// One request's fate.
#[derive(Debug)]
struct Sample {
    /// From the send to the end of the answer, in microseconds.
    latency_us: u64,
    /// From the due time to the send, in microseconds (0 at full speed).
    late_us: u64,
    /// 0 when no answer came (connection error, timeout).
    status: u16,
    /// The answer's `outcome` (webhooks) or call `status` (creates), or what went wrong.
    outcome: String,
    /// When the answer was read, since the phase started.
    done_us: u64,
    /// A create's call: its id and `provider_call_id`.
    created: Option<(String, Option<String>)>,
}

impl Sample {
    fn ok(&self, scenario: Scenario) -> bool {
        let (status, outcome) = scenario.expected();
        self.status == status && self.outcome == outcome
    }
}

/// What every request needs.
struct Target {
    scenario: Scenario,
    http: reqwest::Client,
    base: String,
    key: String,
    run: String,
    signed: bool,
    /// `ingest-echo`: the calls the webhooks go to, round-robin.
    echo_calls: Vec<String>,
    /// `ingest-elevenlabs`: the seeded calls (gateway id, conversation id), one per webhook.
    eleven_calls: Vec<(String, String)>,
    /// `ingest-elevenlabs`: the webhook to send, parsed once.
    eleven_report: Value,
}

impl Target {
    /// How many requests the setup allows (one webhook per seeded call on ElevenLabs).
    fn supply(&self) -> Option<u64> {
        (self.scenario == Scenario::IngestElevenLabs).then_some(self.eleven_calls.len() as u64)
    }

    /// The `i`th echo webhook of the run: a final transcript turn for call `i mod calls`.
    fn echo_webhook(&self, i: u64) -> (String, Option<(&'static str, String)>) {
        let calls = self.echo_calls.len() as u64;
        let call = &self.echo_calls[(i % calls) as usize];
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
            (
                echo_provider::SIGNATURE_HEADER,
                echo_provider::webhook::sign(
                    SECRET,
                    chrono::Utc::now().timestamp(),
                    body.as_bytes(),
                ),
            )
        });
        (body, signature)
    }

    /// The `i`th ElevenLabs webhook: the post-call report completing seeded call `i`.
    fn eleven_webhook(&self, i: u64) -> (String, Option<(&'static str, String)>) {
        let (id, conversation) = &self.eleven_calls[i as usize];
        let mut report = self.eleven_report.clone();
        let now = chrono::Utc::now().timestamp();
        report["event_timestamp"] = json!(now);
        report["data"]["conversation_id"] = json!(conversation);
        report["data"]["user_id"] = json!(id);
        let body = report.to_string();
        let signature = self.signed.then(|| {
            (
                elevenlabs_provider::SIGNATURE_HEADER,
                elevenlabs_provider::signature_header(ELEVEN_SECRET, now, body.as_bytes()),
            )
        });
        (body, signature)
    }

    /// Request `i` of the run.
    fn request(&self, i: u64) -> reqwest::RequestBuilder {
        match self.scenario {
            Scenario::IngestEcho | Scenario::IngestElevenLabs => {
                let (path, (body, signature)) = if self.scenario == Scenario::IngestEcho {
                    ("echo", self.echo_webhook(i))
                } else {
                    ("elevenlabs", self.eleven_webhook(i))
                };
                let mut request = self
                    .http
                    .post(format!("{}/webhooks/{path}", self.base))
                    .header("content-type", "application/json")
                    .body(body);
                if let Some((name, value)) = signature {
                    request = request.header(name, value);
                }
                request
            }
            Scenario::CreateEcho | Scenario::CreateElevenLabs => self
                .http
                .post(format!("{}/v1/calls", self.base))
                .bearer_auth(&self.key)
                .json(&json!({"to": "+14155550123", "provider": self.scenario.provider()})),
        }
    }

    /// Sends `request`; returns the answer's status, its outcome (webhooks) or call status
    /// (creates), and the created call.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (u16, String, Option<(String, Option<String>)>) {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (0, format!("transport error: {e}"), None),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return (status, format!("body not read: {e}"), None),
        };
        let Ok(answer) = serde_json::from_str::<Value>(&text) else {
            return (status, text, None);
        };
        let field = if self.scenario.creates() {
            "status"
        } else {
            "outcome"
        };
        let outcome = answer[field]
            .as_str()
            .or(answer["error"]["code"].as_str())
            .map_or(text.clone(), str::to_owned);
        let created = (self.scenario.creates() && status == 201)
            .then(|| answer["id"].as_str().map(str::to_owned))
            .flatten()
            .map(|id| (id, answer["provider_call_id"].as_str().map(str::to_owned)));
        (status, outcome, created)
    }
}

/// The outcome of one phase.
struct Phase {
    samples: Vec<Sample>,
    cap_hits: u64,
    /// From the phase's start to the last answer.
    elapsed: Duration,
    cpu: Option<(Cpu, Cpu)>,
    /// Whether a full-speed phase ended because the setup's calls ran out.
    ran_out: bool,
}

/// Sends requests from `first` on for `duration` seconds, on the open-loop schedule of `rate`
/// or at full speed with `concurrency` workers; never beyond the target's supply.
async fn run_phase(
    target: &Arc<Target>,
    first: u64,
    rate: Rate,
    duration: f64,
    concurrency: usize,
) -> Phase {
    let limit = target.supply().unwrap_or(u64::MAX);
    let cpu_before = cpu_now();
    let start = Instant::now() + Duration::from_millis(5);
    let mut cap_hits = 0;
    let mut ran_out = false;
    let mut samples = Vec::new();
    match rate {
        Rate::Fixed(rate) => {
            let n = ((rate * duration).round() as u64).min(limit.saturating_sub(first));
            let slots = Arc::new(Semaphore::new(concurrency));
            let mut tasks = Vec::with_capacity(n as usize);
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
                    let sent = Instant::now();
                    let (status, outcome, created) =
                        target.exchange(target.request(first + k)).await;
                    let done = Instant::now();
                    drop(slot);
                    Sample {
                        latency_us: (done - sent).as_micros() as u64,
                        late_us: sent.saturating_duration_since(due).as_micros() as u64,
                        status,
                        outcome,
                        done_us: done.saturating_duration_since(start).as_micros() as u64,
                        created,
                    }
                }));
            }
            samples.reserve(tasks.len());
            for task in tasks {
                samples.push(task.await.unwrap());
            }
        }
        Rate::Max => {
            let next = Arc::new(AtomicU64::new(first));
            let end = start + Duration::from_secs_f64(duration);
            tokio::time::sleep_until(start.into()).await;
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    let target = Arc::clone(target);
                    let next = Arc::clone(&next);
                    tokio::spawn(async move {
                        let mut mine = Vec::new();
                        while Instant::now() < end {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= limit {
                                break;
                            }
                            let sent = Instant::now();
                            let (status, outcome, created) =
                                target.exchange(target.request(i)).await;
                            let done = Instant::now();
                            mine.push(Sample {
                                latency_us: (done - sent).as_micros() as u64,
                                late_us: 0,
                                status,
                                outcome,
                                done_us: done.saturating_duration_since(start).as_micros() as u64,
                                created,
                            });
                        }
                        mine
                    })
                })
                .collect();
            for worker in workers {
                samples.extend(worker.await.unwrap());
            }
            ran_out = next.load(Ordering::Relaxed) >= limit;
        }
    }
    let last = samples.iter().map(|s| s.done_us).max().unwrap_or(0);
    Phase {
        samples,
        cap_hits,
        elapsed: Duration::from_micros(last),
        cpu: cpu_before.zip(cpu_now()),
        ran_out,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// One line of the final table.
struct Line {
    scenario: Scenario,
    rate: Rate,
    achieved: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    errors: u64,
    /// Busy cores over the measured phase: this process, the machine.
    cores: Option<(f64, f64)>,
    commits_per_request: f64,
    fsyncs_per_request: Option<f64>,
    rss_mib: Option<f64>,
    checks_ok: bool,
}

/// Prints the phase's figures; returns how many requests got the expected answer, and the
/// table line's latency and CPU figures.
fn report(phase: &Phase, scenario: Scenario, rate: Rate, args: &Args, backend: &Backend) -> Line {
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
    let expected = scenario.expected();
    let good = phase.samples.iter().filter(|s| s.ok(scenario)).count() as u64;
    let secs = phase.elapsed.as_secs_f64();
    let load = match rate {
        Rate::Fixed(r) => format!(
            "offered {r:.0} req/s, concurrency cap {}",
            args.concurrency(rate)
        ),
        Rate::Max => format!("full speed, {} workers", args.concurrency(rate)),
    };
    println!(
        "database: {}; {}: {load} for {:.1} s, {}",
        backend.name(),
        scenario.name(),
        args.duration,
        if args.signed { "signed" } else { "unsigned" }
    );
    let achieved = if secs > 0.0 { n as f64 / secs } else { 0.0 };
    println!(
        "requests: n={n} in {secs:.2} s = achieved {achieved:.0} req/s (answers per second, phase start to last answer){}",
        if phase.ran_out {
            " (the seeded calls ran out before the duration: raise --seed-rate)"
        } else {
            ""
        }
    );
    let line = Line {
        scenario,
        rate,
        achieved,
        p50: percentile(&latencies, 0.50),
        p90: percentile(&latencies, 0.90),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
        errors: n as u64 - good,
        cores: phase
            .cpu
            .and_then(|(before, after)| busy_cores(&before, &after)),
        commits_per_request: 0.0,
        fsyncs_per_request: None,
        rss_mib: None,
        checks_ok: good == n as u64,
    };
    println!(
        "latency (send -> answer read): p50={:.2} ms p90={:.2} ms p99={:.2} ms p99.9={:.2} ms max={:.2} ms",
        line.p50,
        line.p90,
        line.p99,
        percentile(&latencies, 0.999),
        line.max
    );
    if let Rate::Fixed(_) = rate {
        println!(
            "generator: late starts (>{} ms after due) {late_starts}, start delay p99={:.2} ms max={:.2} ms, in-flight cap hits {}",
            LATE.as_millis(),
            percentile(&late, 0.99),
            percentile(&late, 1.0),
            phase.cap_hits
        );
    }
    println!(
        "answers: {good} {} ({}), errors/other {}",
        expected.1, expected.0, line.errors
    );
    for ((status, outcome), count) in &answers {
        if (*status, outcome.as_str()) != expected {
            println!("  {count} x HTTP {status}: {outcome}");
        }
    }
    if let Some((process, machine)) = line.cores {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "cpu over the phase: machine {machine:.2} of {cores} cores busy; this process (gateway + load generator) {process:.2} cores"
        );
    }
    line
}

/// Gets `path` as JSON with the API key; the status and the body.
async fn get_status(http: &reqwest::Client, base: &str, key: &str, path: &str) -> (u16, Value) {
    let response = http
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Gets `path` as JSON with the API key; panics unless it is a success.
async fn get(http: &reqwest::Client, base: &str, key: &str, path: &str) -> Value {
    let (status, body) = get_status(http, base, key, path).await;
    assert!((200..300).contains(&status), "GET {path}: {status} {body}");
    body
}

/// Runs `task` for each item, `concurrency` at a time; the results in the items' order.
async fn in_parallel<I, F, T>(items: I, concurrency: usize, task: impl Fn(I::Item) -> F) -> Vec<T>
where
    I: IntoIterator,
    F: Future<Output = T>,
{
    futures_util::stream::iter(items.into_iter().map(task))
        .buffered(concurrency)
        .collect()
        .await
}

/// How many applied receipts of `provider` the store lists.
async fn applied_receipts(http: &reqwest::Client, base: &str, key: &str, provider: &str) -> u64 {
    let mut receipts = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let mut path =
            format!("/v1/webhook-receipts?provider={provider}&outcome=applied&limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(http, base, key, &path).await;
        receipts += page["items"].as_array().unwrap().len() as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    receipts
}

/// The sequence numbers of a call's transcript, and its status.
async fn call_state(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    call: &str,
) -> (Vec<i64>, Value) {
    let transcript = get(http, base, key, &format!("/v1/calls/{call}/transcript")).await;
    let seqs = transcript["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seq"].as_i64().unwrap())
        .collect();
    let state = get(http, base, key, &format!("/v1/calls/{call}")).await;
    (seqs, state["status"].clone())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISMATCH" }
}

/// A mock of the ElevenLabs API on loopback: answers every outbound-call request at once with
/// a success and a fresh `conversation_id`; anything else is a 404.
async fn start_mock_vendor(run: &str) -> SocketAddr {
    use poem::listener::{Acceptor, Listener, TcpListener};

    let counter = Arc::new(AtomicU64::new(0));
    let run = run.to_owned();
    let app = poem::endpoint::make(move |request: poem::Request| {
        let counter = Arc::clone(&counter);
        let run = run.clone();
        async move {
            if request.method() != poem::http::Method::POST
                || !request.uri().path().ends_with("/outbound-call")
            {
                return poem::Response::builder()
                    .status(poem::http::StatusCode::NOT_FOUND)
                    .content_type("application/json")
                    .body(r#"{"detail":"Not Found"}"#);
            }
            let _ = request.into_body().into_vec().await;
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let answer = json!({
                "success": true,
                "message": "Call initiated successfully",
                "conversation_id": format!("conv_{run}_{n}"),
                "callSid": format!("CA{run}{n:08}"),
            });
            poem::Response::builder()
                .content_type("application/json")
                .body(answer.to_string())
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
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

/// Starts the application endpoint: on loopback, any path, answers 200 `{}` at once. Records
/// what it gets when `keep` (for the delivery check of `--events`).
async fn start_receiver(keep: bool) -> (SocketAddr, Arrivals) {
    use poem::listener::{Acceptor, Listener, TcpListener};

    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    let app = poem::endpoint::make(move |request: poem::Request| {
        let seen = Arc::clone(&seen);
        async move {
            let webhook_id = request.header("webhook-id").unwrap_or_default().to_owned();
            let body = request.into_body().into_vec().await.unwrap_or_default();
            let at = Utc::now();
            if keep {
                seen.lock().unwrap().push(Arrival {
                    webhook_id,
                    at,
                    body,
                });
            }
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

/// Starts the receiver and registers it as an application endpoint subscribed to every event
/// type; what the receiver gets.
async fn register_endpoint(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    keep: bool,
    workers: usize,
) -> Arrivals {
    let (addr, arrivals) = start_receiver(keep).await;
    let response = http
        .post(format!("{base}/v1/event-endpoints"))
        .bearer_auth(key)
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
    arrivals
}

/// Telemetry is installed once, by the first run.
static TELEMETRY: Once = Once::new();

/// Places `n` calls on `provider` through the API, `concurrency` at a time; their ids and
/// `provider_call_id`s. Each must be created and `initiating`.
async fn create_calls(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    provider: &str,
    n: u64,
    concurrency: usize,
) -> Vec<(String, Option<String>)> {
    in_parallel(0..n, concurrency, |_| async move {
        let response = http
            .post(format!("{base}/v1/calls"))
            .bearer_auth(key)
            .json(&json!({"to": "+14155550123", "provider": provider}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let call: Value = response.json().await.unwrap();
        assert_eq!(status.as_u16(), 201, "create call: {call}");
        assert_eq!(call["status"], "initiating", "{call}");
        (
            call["id"].as_str().unwrap().to_owned(),
            call["provider_call_id"].as_str().map(str::to_owned),
        )
    })
    .await
}

/// One run: a fresh database and gateway, the setup, the warm-up, the measured phase, the
/// checks. Prints its details; returns its line of the table.
async fn run(args: &Args, backend: &Backend, scenario: Scenario, rate: Rate) -> Line {
    let dir = tempfile::tempdir().unwrap();
    let run = format!("bench{:08x}", rand::random::<u32>());
    let schema = format!("bench_{:08x}", rand::random::<u32>());
    let max_connections: u32 = std::env::var("BENCH_MAX_CONNECTIONS")
        .ok()
        .map(|v| v.parse().expect("BENCH_MAX_CONNECTIONS must be a number"))
        .unwrap_or(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres { .. } => 16,
        });
    let extra = std::env::var("BENCH_DATABASE_EXTRA")
        .unwrap_or_default()
        .replace(';', "\n");
    let (url, schema_line) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}/bench.db", dir.path().display()),
            String::new(),
        ),
        Backend::Postgres { url } => (url.clone(), format!("schema = \"{schema}\"")),
    };
    let eleven = if scenario.provider() == "elevenlabs" {
        let mock = start_mock_vendor(&run).await;
        let secrets = if args.signed {
            format!(
                "webhook_secret = \"{ELEVEN_SECRET}\"\ntranscription_secret = \"bench-transcription-secret\""
            )
        } else {
            "allow_unsigned_webhooks = true".to_owned()
        };
        format!(
            r#"
[providers.elevenlabs]
kind = "elevenlabs"
api_key = "bench-api-key"
agent_id = "agent_bench"
agent_phone_number_id = "phnum_bench"
base_url = "http://{mock}"
request_timeout_ms = 5000
{secrets}
"#
        )
    } else {
        String::new()
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
{eleven}
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
    TELEMETRY.call_once(|| voice_gateway::telemetry::init(&settings.log).unwrap());
    let label = match backend {
        Backend::Sqlite => format!("sqlite (temp file, max_connections {max_connections})"),
        Backend::Postgres { url } => format!(
            "postgres {} schema {schema} (max_connections {max_connections})",
            redacted(url)
        ),
    };
    println!("database: {label}");
    if !extra.trim().is_empty() {
        println!("database extra: {}", extra.trim().replace('\n', "; "));
    }
    let workers = settings.events.workers;

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

    // With `--events`, the application endpoint comes before the calls, so that every event of
    // theirs is delivered and checked; otherwise after the setup, which then runs without
    // deliveries (faster seeding), and the measured path has the endpoint's outbox writes all
    // the same.
    let mut receiver = None;
    if args.events {
        receiver = Some(register_endpoint(&http, &base, &key, args.events, workers).await);
    }

    // Setup: the calls the webhooks go to.
    let setup_started = Instant::now();
    let mut target = Target {
        scenario,
        http: http.clone(),
        base: base.clone(),
        key: key.clone(),
        run: run.clone(),
        signed: args.signed,
        echo_calls: Vec::new(),
        eleven_calls: Vec::new(),
        eleven_report: serde_json::from_str(ELEVEN_REPORT).unwrap(),
    };
    let mut setup_webhooks = 0u64;
    match scenario {
        Scenario::IngestEcho => {
            let created = create_calls(
                &http,
                &base,
                &key,
                "echo",
                args.calls as u64,
                args.seed_concurrency,
            )
            .await;
            target.echo_calls = created.into_iter().map(|(id, _)| id).collect();
            // Each answered and moved to in_progress by one webhook.
            let target = &target;
            let answers = in_parallel(&target.echo_calls, args.seed_concurrency, |call| async move {
                let body = json!({"event_id": format!("{}-answered-{call}", target.run), "call_id": call, "status": "in_progress"})
                    .to_string();
                let mut request = target
                    .http
                    .post(format!("{}/webhooks/echo", target.base))
                    .header("content-type", "application/json");
                if target.signed {
                    let signature = echo_provider::webhook::sign(SECRET, Utc::now().timestamp(), body.as_bytes());
                    request = request.header(echo_provider::SIGNATURE_HEADER, signature);
                }
                target.exchange(request.body(body)).await
            })
            .await;
            for (status, outcome, _) in answers {
                assert_eq!((status, outcome.as_str()), (200, "applied"));
            }
            setup_webhooks = target.echo_calls.len() as u64;
            println!(
                "setup: {} echo calls created and in progress in {:.1} s",
                target.echo_calls.len(),
                setup_started.elapsed().as_secs_f64()
            );
        }
        Scenario::IngestElevenLabs => {
            let per_second = match rate {
                Rate::Fixed(r) => r,
                Rate::Max => args.seed_rate,
            };
            let n = (per_second * (args.warmup + args.duration)).ceil() as u64;
            let created =
                create_calls(&http, &base, &key, "elevenlabs", n, args.seed_concurrency).await;
            target.eleven_calls = created
                .into_iter()
                .map(|(id, conversation)| {
                    (id, conversation.expect("the mock gives a conversation_id"))
                })
                .collect();
            let secs = setup_started.elapsed().as_secs_f64();
            println!(
                "setup: {n} ElevenLabs calls placed through POST /v1/calls (mock vendor), {} at a time, in {secs:.1} s ({:.0}/s)",
                args.seed_concurrency,
                n as f64 / secs
            );
        }
        Scenario::CreateEcho | Scenario::CreateElevenLabs => {}
    }
    println!(
        "{} at {}: warm-up {:.1} s, then {:.1} s measured",
        scenario.name(),
        rate.label(),
        args.warmup,
        args.duration
    );
    if args.endpoint && receiver.is_none() {
        receiver = Some(register_endpoint(&http, &base, &key, args.events, workers).await);
    }
    if !args.endpoint {
        println!("events: no endpoint");
    }
    let target = Arc::new(target);
    let concurrency = args.concurrency(rate);

    let warmup = run_phase(&target, 0, rate, args.warmup, concurrency).await;
    let warm_good = warmup.samples.iter().filter(|s| s.ok(scenario)).count() as u64;
    if warm_good != warmup.samples.len() as u64 {
        println!(
            "warm-up: {} of {} answered {:?}",
            warm_good,
            warmup.samples.len(),
            scenario.expected()
        );
    }
    let first = warmup.samples.len() as u64;
    let before = counters(backend).await;
    let measured_from = Utc::now();
    let measured = run_phase(&target, first, rate, args.duration, concurrency).await;
    let answered_at = Utc::now();
    let after = counters(backend).await;
    println!("--- measured phase");
    let mut line = report(&measured, scenario, rate, args, backend);
    let good = measured.samples.len() as u64 - line.errors;
    let requests = measured.samples.len().max(1) as f64;
    line.commits_per_request = after.commits.saturating_sub(before.commits) as f64 / requests;
    line.fsyncs_per_request = match (before.pg, after.pg) {
        (Some(before), Some(after)) => {
            let syncs = after.wal_syncs - before.wal_syncs;
            println!(
                "postgres over the measured phase (cluster-wide): {} commits, {syncs} WAL fsyncs, {} WAL records, {:.1} MB WAL; {:.2} fsyncs per request",
                after.commits - before.commits,
                after.wal_records - before.wal_records,
                (after.wal_bytes - before.wal_bytes) as f64 / 1e6,
                syncs as f64 / requests
            );
            Some(syncs as f64 / requests)
        }
        _ if backend.pg_url().is_some() => None,
        // WAL with synchronous = FULL: one fsync of the log per commit.
        _ => Some(line.commits_per_request),
    };
    println!(
        "durable commits over the measured phase: {} ({:.2} per request)",
        after.commits.saturating_sub(before.commits),
        line.commits_per_request
    );

    // The calls of the run, for the checks.
    let created: Vec<(String, Option<String>)> = warmup
        .samples
        .iter()
        .chain(&measured.samples)
        .filter_map(|s| s.created.clone())
        .collect();
    let run_calls: Vec<String> = match scenario {
        Scenario::IngestEcho => target.echo_calls.clone(),
        Scenario::IngestElevenLabs => target
            .eleven_calls
            .iter()
            .map(|(id, _)| id.clone())
            .collect(),
        Scenario::CreateEcho | Scenario::CreateElevenLabs => {
            created.iter().map(|(id, _)| id.clone()).collect()
        }
    };
    if let Some(arrivals) = &receiver
        && args.events
    {
        let log = event_log(&http, &base, &key, &run_calls).await;
        line.checks_ok &= check_events(&log, arrivals, measured_from, answered_at).await;
    }

    // Verification through the API.
    let sent = first + measured.samples.len() as u64;
    line.checks_ok &= match scenario {
        Scenario::IngestEcho => {
            let receipts = applied_receipts(&http, &base, &key, "echo").await;
            let states = in_parallel(&target.echo_calls, CHECK_CONCURRENCY, |call| {
                call_state(&http, &base, &key, call)
            })
            .await;
            let turns: u64 = states.iter().map(|(seqs, _)| seqs.len() as u64).sum();
            let gaps = states
                .iter()
                .filter(|(seqs, _)| seqs.iter().zip(1..).any(|(seq, expected)| *seq != expected))
                .count();
            let not_in_progress = states.iter().filter(|(_, s)| *s != "in_progress").count();
            let expected_turns = warm_good + good;
            let expected_receipts = setup_webhooks + expected_turns;
            println!(
                "verify: applied receipts {receipts} (expected {expected_receipts}: {setup_webhooks} setup + {warm_good} warm-up + {good} measured) {}",
                verdict(receipts == expected_receipts)
            );
            println!(
                "verify: transcript turns {turns} over {} calls (expected {expected_turns}) {}; calls with seq gaps {gaps}; calls not in_progress {not_in_progress}",
                target.echo_calls.len(),
                verdict(turns == expected_turns && gaps == 0 && not_in_progress == 0)
            );
            receipts == expected_receipts
                && turns == expected_turns
                && gaps == 0
                && not_in_progress == 0
        }
        Scenario::IngestElevenLabs => {
            let receipts = applied_receipts(&http, &base, &key, "elevenlabs").await;
            let calls: Vec<(usize, &String)> = target
                .eleven_calls
                .iter()
                .map(|(id, _)| id)
                .enumerate()
                .collect();
            let states = in_parallel(calls, CHECK_CONCURRENCY, |(i, call)| {
                let (http, base, key) = (&http, &base, &key);
                async move { (i as u64, call_state(http, base, key, call).await) }
            })
            .await;
            // The first `sent` calls got their report: completed with its 2 turns; the rest
            // are untouched.
            let wrong = states
                .iter()
                .filter(|(i, (seqs, status))| {
                    if *i < sent {
                        *status != "completed"
                            || *seqs != (1..=ELEVEN_TURNS as i64).collect::<Vec<_>>()
                    } else {
                        *status != "initiating" || !seqs.is_empty()
                    }
                })
                .count();
            let expected_receipts = warm_good + good;
            println!(
                "verify: applied receipts {receipts} (expected {expected_receipts}: {warm_good} warm-up + {good} measured) {}",
                verdict(receipts == expected_receipts)
            );
            println!(
                "verify: {sent} calls completed with {ELEVEN_TURNS} turns (seq 1..{ELEVEN_TURNS}), {} seeded calls untouched; calls not so: {wrong} {}",
                target.eleven_calls.len() as u64 - sent,
                verdict(wrong == 0)
            );
            receipts == expected_receipts && wrong == 0
        }
        Scenario::CreateEcho | Scenario::CreateElevenLabs => {
            let expected = warm_good + good;
            let states = in_parallel(&created, CHECK_CONCURRENCY, |(id, _)| {
                let (http, base, key) = (&http, &base, &key);
                async move { get_status(http, base, key, &format!("/v1/calls/{id}")).await }
            })
            .await;
            let missing = states.iter().filter(|(status, _)| *status != 200).count();
            let not_initiating = states
                .iter()
                .filter(|(status, call)| *status == 200 && call["status"] != "initiating")
                .count();
            // On ElevenLabs each call keeps the conversation id the mock gave it, each its own.
            let mut vendor_ids_wrong = 0;
            if scenario == Scenario::CreateElevenLabs {
                let prefix = format!("conv_{run}_");
                let mut seen = HashSet::new();
                for ((_, answered), (_, call)) in created.iter().zip(&states) {
                    let stored = call["provider_call_id"].as_str();
                    let fine = stored
                        .is_some_and(|s| s.starts_with(&prefix) && seen.insert(s.to_owned()))
                        && stored == answered.as_deref();
                    if !fine {
                        vendor_ids_wrong += 1;
                    }
                }
            }
            println!(
                "verify: {} calls created (expected {expected}: {warm_good} warm-up + {good} measured) {}; not retrievable {missing}, not initiating {not_initiating}, wrong or repeated conversation ids {vendor_ids_wrong} {}",
                created.len(),
                verdict(created.len() as u64 == expected),
                verdict(missing == 0 && not_initiating == 0 && vendor_ids_wrong == 0)
            );
            created.len() as u64 == expected
                && missing == 0
                && not_initiating == 0
                && vendor_ids_wrong == 0
        }
    };

    server.shutdown().await.unwrap();
    if let Backend::Postgres { url } = backend
        && std::env::var_os("BENCH_KEEP_SCHEMA").is_none()
    {
        let mut conn = AnyConnection::connect(url).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
    }
    line.rss_mib = rss_mib();
    println!(
        "rss after the run: {} MiB (this process, VmRSS); checks {}",
        line.rss_mib.map_or("-".to_owned(), |r| format!("{r:.0}")),
        if line.checks_ok { "ok" } else { "FAILED" }
    );
    line
}
/// Prints the table's title and header (Markdown, as docs/benchmarks.md shows it).
fn print_table_header(runs: usize, args: &Args, backend: &Backend) {
    let fsyncs = match backend {
        Backend::Sqlite => "fsyncs/req (= commits: WAL, synchronous FULL)",
        Backend::Postgres { .. } => "fsyncs/req (pg_stat_wal.wal_sync)",
    };
    println!();
    println!(
        "=== {runs} runs on {}: warm-up {:.1} s, measured {:.1} s, {}, application endpoint {}; latencies in ms; busy cores over the measured phase",
        backend.name(),
        args.warmup,
        args.duration,
        if args.signed { "signed" } else { "unsigned" },
        if args.endpoint {
            "every event type"
        } else {
            "none"
        },
    );
    println!(
        "| Scenario | Offered/s | Achieved/s | p50 | p90 | p99 | max | Errors | Busy cores: process / machine | Commits/req | {fsyncs} | RSS MiB | Checks |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
}

/// The table's line of a run.
fn table_row(line: &Line, args: &Args) -> String {
    let offered = match line.rate {
        Rate::Fixed(r) => format!("{r:.0}"),
        Rate::Max => format!("max ({} workers)", args.concurrency(Rate::Max)),
    };
    format!(
        "| {} | {offered} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {:.2} | {} | {} | {} |",
        line.scenario.name(),
        line.achieved,
        line.p50,
        line.p90,
        line.p99,
        line.max,
        line.errors,
        line.cores
            .map_or("-".to_owned(), |(p, m)| format!("{p:.2} / {m:.2}")),
        line.commits_per_request,
        line.fsyncs_per_request
            .map_or("-".to_owned(), |f| format!("{f:.2}")),
        line.rss_mib.map_or("-".to_owned(), |r| format!("{r:.0}")),
        if line.checks_ok { "ok" } else { "FAILED" },
    )
}

/// `--suite`: each run in a child process of this program (`--scenario` and `--rate`, the
/// other flags passed on), so that each has a fresh process as well as a fresh gateway and
/// database, and its RSS is its own; their output is passed through, and their table lines
/// are gathered into one table. Returns whether every run passed its checks.
fn run_suite(args: &Args, backend: &Backend) -> bool {
    use std::io::BufRead as _;

    let runs = backend.suite();
    let program = std::env::current_exe().unwrap();
    let passed: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--suite")
        .collect();
    let mut rows = Vec::with_capacity(runs.len());
    let mut ok = true;
    for (i, (scenario, rate)) in runs.iter().enumerate() {
        println!(
            "=== run {} of {}: {} at {}",
            i + 1,
            runs.len(),
            scenario.name(),
            rate.label()
        );
        let mut child = std::process::Command::new(&program)
            .args(&passed)
            .args(["--scenario", scenario.name(), "--rate", &rate.label()])
            .args(["--duration", &args.duration.to_string()])
            .args(["--warmup", &args.warmup.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut row = None;
        for text in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let text = text.unwrap();
            if text.starts_with(&format!("| {} |", scenario.name())) {
                row = Some(text.clone());
            }
            println!("{text}");
        }
        let status = child.wait().unwrap();
        ok &= status.success();
        rows.push(row.unwrap_or_else(|| {
            format!(
                "| {} | {} | run failed ({status}) |",
                scenario.name(),
                rate.label()
            )
        }));
    }
    print_table_header(runs.len(), args, backend);
    for row in rows {
        println!("{row}");
    }
    ok
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    sqlx::any::install_default_drivers();
    let backend = Backend::from_env();
    let ok = if args.suite {
        run_suite(&args, &backend)
    } else {
        let line = run(&args, &backend, args.scenario, args.rate).await;
        print_table_header(1, &args, &backend);
        println!("{}", table_row(&line, &args));
        line.checks_ok
    };
    if !ok {
        println!("FAILED: an answer was not the expected one, or a check above says MISMATCH");
        std::process::exit(1);
    }
}
