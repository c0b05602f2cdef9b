//! The fixed sections of the config file, with their defaults.

use plugin_api::Environment;
use serde::{Deserialize, Serialize};

use super::Problem;
use super::cidr::Cidr;

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on (env `HOST`).
    pub host: String,
    /// Port to listen on; 0 picks a free port (env `PORT`).
    pub port: u16,
    /// Largest request body the `/v1` API accepts; larger ones get 413.
    pub max_body_bytes: u64,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed: a request from
    /// one of them is taken to come from the rightmost address in that header that is not a
    /// trusted proxy. Empty: the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// Webhook body bytes all senders together may have buffered at once; a webhook that would
    /// pass it gets 503 with `Retry-After`, before its body is read.
    pub max_webhook_bytes_in_flight: u64,
    /// Connections `/ws/test` (unauthenticated) holds at once; more get 503.
    pub ws_test_max_connections: u32,
    /// A `/ws/test` connection with no message for this long is closed.
    pub ws_test_idle_timeout_secs: u64,
    /// Origins (`scheme://host[:port]`, exact) whose browser pages may call the API (CORS).
    /// Empty: CORS is off, only same-origin pages may.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 8000,
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            max_webhook_bytes_in_flight: 64 * 1024 * 1024,
            ws_test_max_connections: 100,
            ws_test_idle_timeout_secs: 60,
            cors_origins: Vec::new(),
        }
    }
}

impl ServerConfig {
    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if self.host.trim().is_empty() {
            problems.push(Problem::new("server.host", "must not be empty"));
        }
        if self.max_body_bytes < 1024 {
            problems.push(Problem::new(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if !(1024..=u64::from(u32::MAX)).contains(&self.max_webhook_bytes_in_flight) {
            problems.push(Problem::new(
                "server.max_webhook_bytes_in_flight",
                format!("must be between 1024 and {}", u32::MAX),
            ));
        }
        if self.ws_test_max_connections == 0 {
            problems.push(Problem::new(
                "server.ws_test_max_connections",
                "must be at least 1",
            ));
        }
        if self.ws_test_idle_timeout_secs == 0 {
            problems.push(Problem::new(
                "server.ws_test_idle_timeout_secs",
                "must be at least 1",
            ));
        }
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            if let Err(message) = proxy.parse::<Cidr>() {
                problems.push(Problem::new(
                    format!("server.trusted_proxies[{i}]"),
                    message,
                ));
            }
        }
        for (i, origin) in self.cors_origins.iter().enumerate() {
            if let Some(message) = crate::http::headers::origin_problem(origin) {
                problems.push(Problem::new(format!("server.cors_origins[{i}]"), message));
            }
        }
    }

    /// The trusted proxies, parsed (the invalid ones were refused by the check).
    pub fn trusted_proxy_ranges(&self) -> Vec<Cidr> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, or per target `voice_gateway=debug,sqlx=warn` (env `LOG_LEVEL`).
    pub level: String,
    /// `text` or `json`, one object per line (env `LOG_FORMAT`).
    pub format: LogFormat,
    /// `development`, `staging` or `production` (env `ENVIRONMENT`).
    pub environment: Environment,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
            environment: Environment::Development,
        }
    }
}

impl LogConfig {
    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            problems.push(Problem::new(
                "log.level",
                format!("not a valid level or filter: {e}"),
            ));
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...` / `postgresql://...` (env `DATABASE_URL`): the
    /// scheme picks the backend. A SQLite file and its folder are created if missing.
    pub url: String,
    /// Pool size: PostgreSQL's connections, or SQLite's read connections (SQLite writes use
    /// one dedicated connection).
    pub max_connections: u32,
    /// How long one try of an operation waits for a free (or new) connection.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: the schema holding the gateway's tables (created if missing).
    pub schema: String,
    /// PostgreSQL: longest a statement may run (`statement_timeout`); 0 = no limit.
    pub statement_timeout_ms: u64,
    /// SQLite: how long a statement waits for the database lock.
    pub busy_timeout_ms: u64,
    /// Tries in all for an operation that meets a transient error (connection lost, deadlock,
    /// serialization failure, database locked); 1 = no retry.
    pub retry_attempts: u32,
    /// Wait before the first retry; doubles after each one.
    pub retry_backoff_ms: u64,
    /// Longest wait between two tries.
    pub retry_max_backoff_ms: u64,
    /// At `serve` start, how long to wait for an unreachable database (e.g. a container still
    /// starting) before giving up; 0 = give up at once.
    pub startup_wait_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/voice-gateway.db".to_owned(),
            max_connections: 8,
            acquire_timeout_ms: 2000,
            schema: "public".to_owned(),
            statement_timeout_ms: 10_000,
            busy_timeout_ms: 5000,
            retry_attempts: 3,
            retry_backoff_ms: 50,
            retry_max_backoff_ms: 1000,
            startup_wait_secs: 30,
        }
    }
}

/// Which database the store talks to, from the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`: embedded, one gateway instance.
    Sqlite,
    /// `postgres://...` or `postgresql://...`: several instances may share it.
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        match scheme {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err("expected a sqlite://, postgres:// or postgresql:// URL".to_owned()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl DatabaseConfig {
    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if let Err(message) = Backend::from_url(&self.url) {
            problems.push(Problem::new("database.url", message));
        }
        if self.max_connections == 0 {
            problems.push(Problem::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.acquire_timeout_ms == 0 {
            problems.push(Problem::new(
                "database.acquire_timeout_ms",
                "must be at least 1",
            ));
        }
        if !valid_schema(&self.schema) {
            problems.push(Problem::new(
                "database.schema",
                "must be 1 to 63 lowercase letters, digits or '_', starting with a letter or '_'",
            ));
        }
        if self.retry_attempts == 0 {
            problems.push(Problem::new(
                "database.retry_attempts",
                "must be at least 1 (1 = no retry)",
            ));
        }
    }
}

/// An unquoted PostgreSQL identifier, so the schema means the same quoted or not.
fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && schema.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `[gateway]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// The provider instance used when a request names none.
    pub default_provider: String,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_secs: u64,
    /// Timeout of each outbound request to a vendor, unless the provider sets its own.
    pub outbound_timeout_ms: u64,
    /// Webhook bodies are stored raw up to this size; larger ones are stored truncated. Refused
    /// webhooks keep only `ingest::REFUSED_BODY_PREFIX_BYTES`.
    pub receipt_body_limit_bytes: u64,
    /// Where call recordings delivered by webhooks are stored (created if missing).
    pub recordings_dir: String,
    /// A call not ended and unchanged for this long is fetched from its vendor (if the provider can).
    pub reconcile_after_secs: u64,
    /// How often the reconciler looks for such calls; 0 turns it off.
    pub reconcile_interval_secs: u64,
    /// The lease of an `Idempotency-Key`'s claim: a key whose first request has not completed
    /// after this long (the request died mid-flight) is taken over by a retry with the same
    /// key and body, which settles the stored call. Until then a retry gets 409.
    pub idempotency_claim_timeout_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            default_provider: "echo".to_owned(),
            idempotency_ttl_secs: 24 * 60 * 60,
            outbound_timeout_ms: 10_000,
            receipt_body_limit_bytes: 1024 * 1024,
            recordings_dir: "data/recordings".to_owned(),
            reconcile_after_secs: 600,
            reconcile_interval_secs: 60,
            idempotency_claim_timeout_secs: 60,
        }
    }
}

impl GatewayConfig {
    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if self.outbound_timeout_ms == 0 {
            problems.push(Problem::new(
                "gateway.outbound_timeout_ms",
                "must be positive",
            ));
        }
        if self.recordings_dir.trim().is_empty() {
            problems.push(Problem::new("gateway.recordings_dir", "must not be empty"));
        }
        if self.idempotency_ttl_secs == 0 {
            problems.push(Problem::new(
                "gateway.idempotency_ttl_secs",
                "must be positive",
            ));
        }
        if self.idempotency_claim_timeout_secs == 0 {
            problems.push(Problem::new(
                "gateway.idempotency_claim_timeout_secs",
                "must be positive",
            ));
        }
    }
}

/// `[auth]`
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 signing secret, at least 32 bytes (env `JWT_SECRET`). Required in production; empty in
    /// development means one is generated once and kept in `jwt_secret_file`.
    pub jwt_secret: String,
    /// Where the generated development secret is kept (owner-only permissions).
    pub jwt_secret_file: String,
    /// The `iss` claim of access tokens.
    pub issuer: String,
    /// The `aud` claim of access tokens.
    pub audience: String,
    /// Lifetime of access tokens.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: u64,
    /// Failed logins of one username from one client address within the window before each
    /// further attempt waits a growing delay (1 s, doubling with each failure, at most the window).
    pub login_max_failures: u32,
    /// Failed logins from one client address, whatever the username, within the window; past
    /// that, logins from that address wait until the oldest leaves the window.
    pub login_max_failures_per_address: u32,
    /// The window for `login_max_failures` and `login_max_failures_per_address`.
    pub login_window_secs: u64,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &if self.jwt_secret.is_empty() {
                    ""
                } else {
                    "[redacted]"
                },
            )
            .field("jwt_secret_file", &self.jwt_secret_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            jwt_secret_file: "data/jwt-secret".to_owned(),
            issuer: "voice-gateway".to_owned(),
            audience: "voice-gateway-api".to_owned(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            login_max_failures: 5,
            login_max_failures_per_address: 20,
            login_window_secs: 15 * 60,
        }
    }
}

/// Shortest JWT signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

impl AuthConfig {
    pub(super) fn check(&self, environment: Environment, problems: &mut Vec<Problem>) {
        if self.jwt_secret.is_empty() && environment == Environment::Production {
            problems.push(Problem::new(
                "auth.jwt_secret",
                "required in production (set JWT_SECRET)",
            ));
        }
        if !self.jwt_secret.is_empty() && self.jwt_secret.len() < MIN_SECRET_BYTES {
            problems.push(Problem::new("auth.jwt_secret", "must be at least 32 bytes"));
        }
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_secs == 0 {
            problems.push(Problem::new("auth", "token lifetimes must be positive"));
        }
        if self.login_max_failures == 0 || self.login_window_secs == 0 {
            problems.push(Problem::new(
                "auth",
                "login_max_failures and login_window_secs must be positive",
            ));
        }
        if self.login_max_failures_per_address == 0 {
            problems.push(Problem::new(
                "auth.login_max_failures_per_address",
                "must be positive",
            ));
        }
    }
}

/// `[live]`: the live call-update WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// Calls one connection may follow at once.
    pub max_subscriptions_per_connection: usize,
    /// Frames queued for one connection; a client that falls further behind is disconnected
    /// (close code 1013) and resumes with `after_seq`.
    pub queue_size: usize,
    /// Largest client frame accepted.
    pub max_frame_bytes: usize,
    /// How often the server pings; a connection silent for three intervals is closed.
    pub ping_interval_secs: u64,
    /// How often each connection checks its credential again (a revoked one is closed, 1008);
    /// revocations on any instance reach open connections sooner, this is the safety net.
    pub revalidate_secs: u64,
    /// Connections one API key or user may have open at once; beyond, the upgrade answers 429.
    pub max_connections_per_principal: usize,
    /// PostgreSQL: how often each instance re-reads the calls changed lately (at most
    /// `events::RESYNC_BATCH`) and lets their subscribers catch up, so a change whose notice
    /// from another instance was lost still arrives within this many seconds.
    pub resync_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_subscriptions_per_connection: 100,
            queue_size: 256,
            max_frame_bytes: 4096,
            ping_interval_secs: 20,
            revalidate_secs: 30,
            max_connections_per_principal: 20,
            resync_secs: 30,
        }
    }
}

impl LiveConfig {
    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if self.max_subscriptions_per_connection == 0 || self.queue_size < 16 {
            problems.push(Problem::new(
                "live",
                "max_subscriptions_per_connection must be positive and queue_size at least 16",
            ));
        }
        if self.max_frame_bytes < 256 || self.ping_interval_secs == 0 {
            problems.push(Problem::new(
                "live",
                "max_frame_bytes must be at least 256 and ping_interval_secs positive",
            ));
        }
        if self.revalidate_secs == 0 || self.revalidate_secs > 3600 {
            problems.push(Problem::new(
                "live.revalidate_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.max_connections_per_principal == 0 {
            problems.push(Problem::new(
                "live.max_connections_per_principal",
                "must be positive",
            ));
        }
        if self.resync_secs == 0 || self.resync_secs > 3600 {
            problems.push(Problem::new(
                "live.resync_secs",
                "must be between 1 and 3600",
            ));
        }
    }
}

/// `[events]`: normalized call events pushed to application endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// Delivery workers (per instance); each sends up to 8 deliveries (of different calls) at once.
    pub workers: usize,
    /// Timeout of each delivery attempt; success is any 2xx within it.
    pub request_timeout_ms: u64,
    /// Waits before each retry (with jitter); a delivery fails after the last one.
    pub retry_schedule_secs: Vec<u64>,
    /// An endpoint failing every attempt for this long is disabled.
    pub disable_after_hours: u64,
    /// Events are kept this long (the log, redelivery and replay), then pruned.
    pub retention_days: u64,
    /// Lets endpoints resolve to loopback, private, link-local, unique-local and metadata
    /// addresses (tests, local receivers). Never in production.
    pub allow_private_destinations: bool,
    /// Endpoints kept as code: `[events.endpoints.<name>]`, listed read-only by the API.
    pub endpoints: std::collections::BTreeMap<String, ConfigEndpoint>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            request_timeout_ms: 10_000,
            retry_schedule_secs: vec![5, 300, 1800, 7200, 18000, 36000, 36000],
            disable_after_hours: 120,
            retention_days: 30,
            allow_private_destinations: false,
            endpoints: std::collections::BTreeMap::new(),
        }
    }
}

/// `[events.endpoints.<name>]`
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEndpoint {
    pub url: String,
    /// `whsec_` + base64 of 24 to 64 bytes.
    pub secret: String,
    /// Event types sent; omitted = every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for ConfigEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigEndpoint")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("event_types", &self.event_types)
            .finish_non_exhaustive()
    }
}

impl EventsConfig {
    pub(super) fn check(&self, environment: Environment, problems: &mut Vec<Problem>) {
        if self.workers == 0 || self.workers > 256 {
            problems.push(Problem::new("events.workers", "must be 1 to 256"));
        }
        if self.request_timeout_ms == 0 {
            problems.push(Problem::new(
                "events.request_timeout_ms",
                "must be positive",
            ));
        }
        if self.retention_days == 0 {
            problems.push(Problem::new("events.retention_days", "must be positive"));
        }
        if self.disable_after_hours == 0 {
            problems.push(Problem::new(
                "events.disable_after_hours",
                "must be positive",
            ));
        }
        if self.allow_private_destinations && environment == Environment::Production {
            problems.push(Problem::new(
                "events.allow_private_destinations",
                "must be false in production",
            ));
        }
        for (name, endpoint) in &self.endpoints {
            let path = format!("events.endpoints.{name}");
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
                || name.is_empty()
                || name.len() > 64
            {
                problems.push(Problem::new(
                    &path,
                    "endpoint names use lowercase letters, digits, '_' and '-' only",
                ));
            }
            if let Err(e) = crate::delivery::check_url_syntax(&endpoint.url, environment) {
                problems.push(Problem::new(format!("{path}.url"), e));
            }
            if crate::delivery::sign::decode_secret(&endpoint.secret).is_none() {
                problems.push(Problem::new(
                    format!("{path}.secret"),
                    "must be whsec_ followed by the base64 of 24 to 64 bytes",
                ));
            }
            if let Some(types) = &endpoint.event_types {
                if let Err(e) = crate::delivery::check_event_types(types) {
                    problems.push(Problem::new(format!("{path}.event_types"), e));
                }
            }
        }
    }
}

/// `[retention]`: how long stored data is kept. Every age key unset means keep for ever,
/// except `idempotency_hours`, which replaces `gateway.idempotency_ttl_secs` when set (keys
/// still expire after 24 hours by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Raw bodies of acknowledged webhooks (applied or duplicate); the receipt row stays.
    pub webhook_bodies_days: Option<i64>,
    /// Refused webhooks (`rejected`, `unknown_call`), whole rows.
    pub refused_webhooks_days: Option<i64>,
    /// Webhook receipts of any outcome, whole rows.
    pub receipts_days: Option<i64>,
    /// Recordings of ended calls (the file and the call's reference to it).
    pub recordings_days: Option<i64>,
    /// Transcript turns of ended calls.
    pub transcripts_days: Option<i64>,
    /// Ended calls, with everything that hangs off them.
    pub calls_days: Option<i64>,
    /// Audit log rows.
    pub audit_days: Option<i64>,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_hours: Option<i64>,
    /// How often the background pass runs (also once at start).
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            webhook_bodies_days: None,
            refused_webhooks_days: None,
            receipts_days: None,
            recordings_days: None,
            transcripts_days: None,
            calls_days: None,
            audit_days: None,
            idempotency_hours: None,
            interval_secs: 3600,
        }
    }
}

/// The longest age any retention key takes (about 100 years), so cutoffs stay in range.
const MAX_RETENTION_DAYS: i64 = 36_500;

impl RetentionConfig {
    /// The age keys with their key names, in the order a pass applies them.
    pub fn ages(&self) -> [(&'static str, Option<i64>); 8] {
        [
            ("calls_days", self.calls_days),
            ("receipts_days", self.receipts_days),
            ("refused_webhooks_days", self.refused_webhooks_days),
            ("webhook_bodies_days", self.webhook_bodies_days),
            ("recordings_days", self.recordings_days),
            ("transcripts_days", self.transcripts_days),
            ("audit_days", self.audit_days),
            ("idempotency_hours", self.idempotency_hours),
        ]
    }

    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        for (key, value) in self.ages() {
            let max = if key.ends_with("_hours") {
                MAX_RETENTION_DAYS * 24
            } else {
                MAX_RETENTION_DAYS
            };
            match value {
                Some(value) if value < 1 => problems.push(Problem::new(
                    format!("retention.{key}"),
                    "must be at least 1 (leave it out to keep the data)",
                )),
                Some(value) if value > max => problems.push(Problem::new(
                    format!("retention.{key}"),
                    format!("must be at most {max}"),
                )),
                _ => {}
            }
        }
        if self.interval_secs == 0 {
            problems.push(Problem::new(
                "retention.interval_secs",
                "must be at least 1",
            ));
        }
    }
}
