//! Starts the real gateway in-process on a free loopback port and talks to it over HTTP.

use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;
use voice_gateway::auth::Role;
use voice_gateway::config::{ConfigError, EnvSource, Settings};
use voice_gateway::providers::Registry;
use voice_gateway::server::RunningServer;

use crate::mock_vendor::{MockReply, MockVendor, Received};
use crate::vendors::Vendor;

/// Asserts fields of a JSON value, the expected ones written as for `json!`: each key is a
/// dot-separated path (a missing field reads as null) whose value must equal the key's, e.g.
/// `assert_fields!(call, {"status": "completed", "telephony_ids.twilio_call_sid": sid})`.
macro_rules! assert_fields {
    ($value:expr, $($expected:tt)+) => {
        $crate::harness::assert_json_fields(&$value, &serde_json::json!($($expected)+))
    };
}
pub(crate) use assert_fields;

/// How long a scripted echo call may take to reach a status (its script takes ~300 ms).
pub const WAIT: Duration = Duration::from_secs(10);

/// The secret of the `signed` provider instance.
pub const SECRET: &str = "s3cret";

/// A number every test may call.
pub const TO: &str = "+14155550123";

/// Provider instances every test gateway has:
/// - `echo` (default): the scripted call runs in ~300 ms;
/// - `slow`: 2 s between steps, so a call stays `initiating` for 2 s;
/// - `frozen`: the script never runs within a test, so the test drives the call with its own webhooks;
/// - `signed`: like `echo`, with signed webhooks.
pub const PROVIDERS: &str = r#"
[providers.echo]
kind = "echo"
turn_interval_ms = 50

[providers.slow]
kind = "echo"
turn_interval_ms = 2000

[providers.frozen]
kind = "echo"
turn_interval_ms = 600000

[providers.signed]
kind = "echo"
turn_interval_ms = 50
webhook_secret = "s3cret"
"#;

/// The JWT secret of every test gateway (at least 32 bytes).
pub const JWT_SECRET: &str = "e2e-test-secret-e2e-test-secret-0123456789";

/// Creates an admin API key straight in the store, as an operator would bootstrap one.
async fn admin_api_key(server: &RunningServer) -> String {
    let store = &server.gateway().store;
    let (key, _) = voice_gateway::auth::issue_api_key(store, "e2e admin", Role::Admin, None, None)
        .await
        .expect("admin API key");
    key
}

/// A response, read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "body of a {} response is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts the status and the gateway's error shape:
    /// `{"error": {"code", "message", "details"?}, "request_id"}` with `request_id` equal to the
    /// `x-request-id` header. Returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> Value {
        self.expect_status(status);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "error content type is {content_type:?}; body: {}",
            self.text
        );
        let body = self.json();
        let top = body.as_object().expect("error body is an object");
        let mut keys: Vec<&str> = top.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error", "request_id"], "error body: {body}");
        let error = body["error"].as_object().expect("`error` is an object");
        for key in error.keys() {
            assert!(
                ["code", "message", "details"].contains(&key.as_str()),
                "unexpected key `error.{key}` in {body}"
            );
        }
        assert!(
            error
                .get("code")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty()),
            "error.code: {body}"
        );
        assert!(
            error.get("message").and_then(Value::as_str).is_some(),
            "error.message: {body}"
        );
        let request_id = body["request_id"].as_str().expect("request_id is a string");
        assert!(!request_id.is_empty(), "empty request_id");
        assert_eq!(
            self.header("x-request-id"),
            Some(request_id),
            "x-request-id header differs from the body's request_id"
        );
        body
    }
}

/// The config of a test gateway: what every one shares (a free loopback port; the database,
/// recordings and JWT secret file in the gateway's own dir; [`JWT_SECRET`]) plus what the caller
/// adds. Nothing but the caller's sections names a provider.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    server: String,
    gateway: String,
    auth: String,
    sections: String,
    file: Option<String>,
    database: Option<String>,
    env: Vec<(String, String)>,
}

impl GatewayConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Extra `[server]` keys (e.g. `max_body_bytes = 2048`).
    pub fn server(mut self, keys: &str) -> Self {
        self.server.push_str(keys);
        self.server.push('\n');
        self
    }

    /// `[gateway]` keys besides `recordings_dir` (e.g. `default_provider = "echo"`,
    /// `reconcile_after_secs = 0`).
    pub fn gateway(mut self, keys: &str) -> Self {
        self.gateway.push_str(keys);
        self.gateway.push('\n');
        self
    }

    /// `[auth]` keys besides the JWT secret (e.g. `login_max_failures = 100`).
    pub fn auth(mut self, keys: &str) -> Self {
        self.auth.push_str(keys);
        self.auth.push('\n');
        self
    }

    /// Further tables (e.g. `[providers.*]`), after the shared ones.
    pub fn sections(mut self, toml: &str) -> Self {
        self.sections.push_str(toml);
        self.sections.push('\n');
        self
    }

    /// The whole `[database]` table, instead of the gateway's own database (e.g. another
    /// gateway's, to run two instances on one database).
    pub fn database(mut self, table: &str) -> Self {
        self.database = Some(table.to_owned());
        self
    }

    /// An environment variable the gateway reads its config with (the process's own are not).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Reads the config as the file `name` in the gateway's dir (written there), so relative
    /// paths in it (e.g. a plugin's `path`) are relative to that dir.
    pub fn file(mut self, name: &str) -> Self {
        self.file = Some(name.to_owned());
        self
    }

    /// The whole config file of a gateway whose files live in `dir`.
    pub fn toml(&self, dir: &Path) -> String {
        format!(
            r#"
[server]
host = "127.0.0.1"
port = 0
{server}
{database}

[gateway]
recordings_dir = "{db}/recordings"
{gateway}
[auth]
jwt_secret = "{JWT_SECRET}"
jwt_secret_file = "{db}/jwt-secret"
{auth}
{sections}"#,
            server = self.server,
            gateway = self.gateway,
            auth = self.auth,
            sections = self.sections,
            database = self
                .database
                .clone()
                .unwrap_or_else(|| database_section(dir)),
            db = dir.display(),
        )
    }

    /// The config validated with the [`GatewayConfig::env`] variables only, as a gateway in `dir` reads it (from
    /// the file named by [`GatewayConfig::file`], written first, if any).
    pub fn settings(&self, dir: &Path) -> Result<Settings, ConfigError> {
        let toml = self.toml(dir);
        let file = self.file.as_ref().map(|name| {
            let file = dir.join(name);
            std::fs::write(&file, &toml).expect("config written");
            file
        });
        Settings::from_parts(
            &toml,
            &EnvSource::from_pairs(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            &Registry::builtin(),
            file,
        )
    }
}

/// The PostgreSQL server the suite runs on instead of SQLite, if `TEST_DATABASE_URL` names one
/// (`scripts/with-postgres` starts a throwaway one and sets it).
pub fn test_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The `[database]` table of a gateway whose files live in `dir`: a SQLite file in `dir`, or,
/// on PostgreSQL, a schema of its own named after `dir` (so a gateway restarted on the same
/// dir finds its data, and tests running side by side never see each other's).
pub fn database_section(dir: &Path) -> String {
    match test_database_url() {
        Some(url) => postgres_section(&url, &schema_for(dir), ""),
        None => format!("[database]\nurl = \"sqlite://{}/gw.db\"\n", dir.display()),
    }
}

/// The PostgreSQL schema of the gateway whose files live in `dir`.
pub fn schema_for(dir: &Path) -> String {
    let digest = <Sha256 as sha2::Digest>::digest(dir.display().to_string().as_bytes());
    format!("e2e_{}", &hex::encode(digest)[..20])
}

/// A `[database]` table for PostgreSQL at `url` in `schema`, with `extra` keys.
pub fn postgres_section(url: &str, schema: &str, extra: &str) -> String {
    format!("[database]\nurl = \"{url}\"\nschema = \"{schema}\"\n{extra}\n")
}

/// One running gateway with its own database.
pub struct TestGateway {
    pub base: String,
    /// Sends every request with the admin API key.
    pub client: reqwest::Client,
    /// Sends no credentials.
    pub anonymous: reqwest::Client,
    /// An admin API key created directly in the store when the gateway started.
    pub admin_key: String,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    /// A gateway with the default `[server]` settings and every test provider.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A gateway with extra `[server]` keys (e.g. `max_body_bytes = 2048`).
    pub async fn start_with(server_extra: &str) -> Self {
        let config = GatewayConfig::new()
            .server(server_extra)
            .gateway(r#"default_provider = "echo""#)
            .sections(PROVIDERS);
        Self::start_config(&config).await
    }

    /// A gateway with `config`, in a fresh temp dir.
    pub async fn start_config(config: &GatewayConfig) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), config).await
    }

    /// A gateway with `config` whose files (database, recordings, config file) live in `dir`,
    /// which the caller may have prepared (e.g. with plugin libraries the config names).
    pub async fn start_in(dir: tempfile::TempDir, config: &GatewayConfig) -> Self {
        let settings = config
            .settings(dir.path())
            .unwrap_or_else(|e| panic!("the test config is valid: {e}"));
        let server = voice_gateway::server::start(settings)
            .await
            .expect("the gateway starts");
        let base = format!("http://{}", server.addr());
        let admin_key = admin_api_key(&server).await;
        let mut gateway = Self::attached(base, admin_key, dir);
        gateway.server = Some(server);
        gateway
    }

    /// A client of a gateway running elsewhere (e.g. the real binary in its own process) at
    /// `base`, whose files live in `dir`, called with `admin_key`.
    pub fn attached(base: String, admin_key: String, dir: tempfile::TempDir) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer {admin_key}").parse().expect("header value"),
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .default_headers(headers)
            .build()
            .expect("HTTP client");
        let anonymous = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("HTTP client");
        Self {
            base,
            client,
            anonymous,
            admin_key,
            server: None,
            _dir: dir,
        }
    }

    /// Waits (up to 30 s) until `/health/ready` answers 200: for a gateway started elsewhere.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .anonymous
                .get(self.url("/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gateway is not ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server and hands back its files and admin key, to start it again elsewhere.
    pub async fn stop_keeping_files(mut self) -> (tempfile::TempDir, String) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        (self._dir, self.admin_key)
    }

    /// Where its files live (its database too, on SQLite; its schema's name, on PostgreSQL).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Sends a webhook's headers to `/webhooks/{path}`, declaring a body of `length` bytes that
    /// never comes, and returns the status of the answer: one the gateway gives without reading
    /// the body (a wait for it would hit the 10 s timeout and fail).
    pub async fn webhook_status_without_body(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        length: usize,
    ) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut head = format!(
            "POST /webhooks/{path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("headers");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                .await
                .expect("an answer without the body")
                .expect("read");
            assert!(n > 0, "connection closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        text.split_whitespace()
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"))
    }

    /// A connection of its own to this gateway's PostgreSQL schema (`TEST_DATABASE_URL` set).
    pub async fn postgres_connection(&self) -> sqlx::PgConnection {
        use sqlx::{AssertSqlSafe, Connection};
        let url = test_database_url().expect("TEST_DATABASE_URL");
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
        let search_path = format!("SET search_path TO {}", schema_for(self.dir()));
        sqlx::query(AssertSqlSafe(search_path))
            .execute(&mut conn)
            .await
            .expect("search_path");
        conn
    }

    /// Runs the statement `sql` on this gateway's database directly (e.g. to age a row as
    /// time would, or to stage what a crash leaves behind); returns the rows it changed.
    pub async fn database_execute(&self, sql: &str) -> u64 {
        use sqlx::{AssertSqlSafe, Connection};
        let sql = AssertSqlSafe(sql.to_owned());
        match test_database_url() {
            Some(_) => {
                let mut conn = self.postgres_connection().await;
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .expect("the statement")
                    .rows_affected()
            }
            None => {
                let options =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(self.dir().join("gw.db"));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("SQLite");
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .expect("the statement")
                    .rows_affected()
            }
        }
    }

    /// An integer `sql` selects (one row, one column), asked of this gateway's database
    /// directly: for what the API does not show, e.g. how many bytes a table holds.
    pub async fn database_scalar(&self, sql: &str) -> i64 {
        use sqlx::{AssertSqlSafe, Connection};
        let sql = AssertSqlSafe(sql.to_owned());
        match test_database_url() {
            Some(_) => {
                let mut conn = self.postgres_connection().await;
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("the query")
            }
            None => {
                let options =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(self.dir().join("gw.db"));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("SQLite");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("the query")
            }
        }
    }

    /// The running server (for tests that need its store or settings).
    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `ws://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// A connection to the live call-update stream with `token`.
    pub async fn live_socket(&self, token: &str) -> Socket {
        let url = self.ws_url(&format!("/ws/calls/transcriptions?token={token}"));
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("handshake");
        socket
    }

    /// `path` with query parameters, percent-encoded.
    pub fn url_with(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.url(path)).expect("URL");
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request reaches the gateway");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn get_url(&self, url: &str) -> Reply {
        self.send(self.client.get(url)).await
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        reply.expect_status(200);
        reply.json()
    }

    /// GET `path?query` that must answer 200 with JSON.
    pub async fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let reply = self.get_url(&self.url_with(path, query)).await;
        reply.expect_status(200);
        reply.json()
    }

    /// The `items` of a list endpoint with `query`.
    pub async fn list_items(&self, path: &str, query: &[(&str, &str)]) -> Vec<Value> {
        let page = self.get_query(path, query).await;
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no `items` array in {page}"))
            .clone()
    }

    /// Every item of a paginated list, page by page (`limit=200`, following `next_cursor`).
    pub async fn all_items(&self, path: &str, query: &[(&str, &str)]) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = query.to_vec();
            query.push(("limit", "200"));
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.as_str()));
            }
            let page = self.get_query(path, &query).await;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// A request with any method, content type and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    /// `POST /v1/calls` with `body`, whatever the answer.
    pub async fn create(&self, body: Value) -> Reply {
        self.post_json("/v1/calls", &body).await
    }

    /// Places a call and returns the created call (asserting 201).
    pub async fn create_call(&self, body: Value) -> Value {
        let reply = self.create(body).await;
        reply.expect_status(201);
        reply.json()
    }

    /// Places a call on `provider` to `to` and returns its id.
    pub async fn create_call_on(&self, provider: &str, to: &str) -> String {
        let call = self
            .create_call(json!({"to": to, "provider": provider}))
            .await;
        id_of(&call)
    }

    pub async fn call(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/calls/{id}")).await
    }

    /// Polls the call every 50 ms until it has `status`; panics after [`WAIT`].
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        self.wait_for_status_within(id, status, WAIT).await
    }

    /// Polls the call every 50 ms until it has `status`; panics after `within`.
    pub async fn wait_for_status_within(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let call = self.call(id).await;
            if call["status"] == status {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} did not reach `{status}` within {within:?}; it is: {call}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn transcript(&self, id: &str) -> Vec<Value> {
        let body = self.get_json(&format!("/v1/calls/{id}/transcript")).await;
        assert_eq!(body["call_id"], id, "transcript of another call: {body}");
        body["turns"].as_array().expect("turns is an array").clone()
    }

    pub async fn events(&self, id: &str) -> Vec<Value> {
        let body = self.get_json(&format!("/v1/calls/{id}/events")).await;
        assert_eq!(body["call_id"], id, "events of another call: {body}");
        body["events"]
            .as_array()
            .expect("events is an array")
            .clone()
    }

    /// The webhook receipts that match `query` (e.g. `[("provider", "echo")]`).
    pub async fn receipts(&self, query: &[(&str, &str)]) -> Vec<Value> {
        self.list_items("/v1/webhook-receipts", query).await
    }

    /// Posts a raw webhook body to `/webhooks/{path}` with extra headers.
    pub async fn webhook_raw(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .post(self.url(&format!("/webhooks/{path}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Posts an unsigned webhook to `/webhooks/{provider}`.
    pub async fn webhook(&self, provider: &str, body: &Value) -> Reply {
        self.webhook_raw(provider, &body.to_string(), &[]).await
    }

    /// Posts a webhook that must be applied (200, outcome `applied`); returns the answer.
    pub async fn apply_webhook(&self, provider: &str, body: &Value) -> Value {
        let reply = self.webhook(provider, body).await;
        reply.expect_status(200);
        let answer = reply.json();
        assert_eq!(answer["outcome"], "applied", "webhook answer: {answer}");
        answer
    }

    /// Posts `body` to `/webhooks/{path}` with `headers`.
    pub async fn webhook_with(&self, path: &str, body: &str, headers: &Headers) -> Reply {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.webhook_raw(path, body, &headers).await
    }

    /// Asks the gateway to fetch call `id` from its provider now.
    pub async fn refresh(&self, id: &str) -> Reply {
        self.post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
            .await
    }

    /// Stops the server (also closes the database).
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A gateway whose providers are `V`'s instances, and the mock of `V`'s API they call. Derefs
/// to the gateway. The helpers below serve every vendor (through its [`Vendor`] description);
/// each vendor's tests add their own in an `impl MockedGateway<TheirVendor>`.
pub struct MockedGateway<V> {
    gw: TestGateway,
    pub mock: MockVendor,
    vendor: PhantomData<V>,
}

impl<V: Vendor> MockedGateway<V> {
    /// Reconciliation off: calls change only through the API and webhooks.
    pub async fn start() -> Self {
        Self::start_with(0, 0).await
    }

    pub async fn start_with(reconcile_after_secs: u64, reconcile_interval_secs: u64) -> Self {
        Self::start_sections(reconcile_after_secs, reconcile_interval_secs, "").await
    }

    /// Like [`Self::start`], with further tables after the vendor's (e.g. `[events]`).
    pub async fn start_and(sections: &str) -> Self {
        Self::start_sections(0, 0, sections).await
    }

    async fn start_sections(
        reconcile_after_secs: u64,
        reconcile_interval_secs: u64,
        sections: &str,
    ) -> Self {
        let mock = MockVendor::start().await;
        V::prepare_mock(&mock);
        let config = GatewayConfig::new()
            .gateway(&format!(
                "default_provider = \"{}\"\n\
                 reconcile_after_secs = {reconcile_after_secs}\n\
                 reconcile_interval_secs = {reconcile_interval_secs}",
                V::DEFAULT_PROVIDER
            ))
            .sections(&V::providers_toml(mock.base_url()))
            .sections(sections);
        Self {
            gw: TestGateway::start_config(&config).await,
            mock,
            vendor: PhantomData,
        }
    }

    /// Stops the gateway, then the mock.
    pub async fn stop(self) {
        self.gw.stop().await;
    }

    /// Places a call on `provider` that the vendor accepts as `vendor_id`; returns its id.
    pub async fn accepted_call(&self, provider: &str, vendor_id: &str) -> String {
        self.next_create(V::accepted(self, vendor_id));
        let call = self
            .create_call(json!({"to": TO, "provider": provider}))
            .await;
        assert_fields!(call, {"provider_call_id": vendor_id, "status": "initiating"});
        id_of(&call)
    }

    /// Places a call on `provider` that fails at once (502); returns the error and the call id.
    pub async fn rejected_call(&self, provider: &str) -> (Value, String) {
        let reply = self.create(json!({"to": TO, "provider": provider})).await;
        let error = expect_code(&reply, 502, "provider_rejected");
        let id = error_call_id(&error);
        assert_eq!(self.call(&id).await["status"], "failed");
        (error, id)
    }

    /// Answers the next create (after those already scripted) with `reply`.
    pub fn next_create(&self, reply: MockReply) {
        self.mock.enqueue("POST", V::CREATE_PATH, reply);
    }

    /// Answers every create with `reply` once the scripted ones are used.
    pub fn every_create(&self, reply: MockReply) {
        self.mock.always("POST", V::CREATE_PATH, reply);
    }

    /// The create requests received so far.
    pub fn creates(&self) -> Vec<Received> {
        self.mock.requests("POST", V::CREATE_PATH)
    }

    /// The create requests that carried gateway call `id`.
    pub fn creates_for(&self, id: &str) -> Vec<Received> {
        let mut posts = self.creates();
        posts.retain(|r| gateway_id_sent::<V>(r) == id);
        posts
    }

    /// Posts `body` to `/webhooks/{path}` with the default instance's credentials.
    pub async fn deliver(&self, path: &str, body: &Value) -> Reply {
        let body = body.to_string();
        self.webhook_with(path, &body, &V::credentials(&body)).await
    }

    /// A delivery that must be applied (200, `ok`, `applied`); returns the answer.
    pub async fn apply(&self, path: &str, body: &Value) -> Value {
        let answer = expect_outcome(&self.deliver(path, body).await, "applied");
        assert_eq!(answer["status"], "ok", "{answer}");
        answer
    }

    /// Asserts that `shown` shows none of [`Vendor::hidden`] for `vendor_id`.
    #[track_caller]
    pub fn assert_hidden(&self, shown: &str, vendor_id: &str, what: &str) {
        let secrets = V::SECRETS.iter().map(|s| (*s).to_owned());
        for secret in secrets.chain(V::hidden(self, vendor_id)) {
            assert!(!shown.contains(&secret), "{what} shows {secret}: {shown}");
        }
    }
}

/// The gateway's call id a create request carried.
pub fn gateway_id_sent<V: Vendor>(request: &Received) -> Value {
    field(&request.json(), V::GATEWAY_ID_FIELD).clone()
}

/// Asserts that `request` carries the vendor's API key.
#[track_caller]
pub fn assert_api_key<V: Vendor>(request: &Received) {
    let (name, value) = V::API_KEY_HEADER;
    assert_eq!(request.header(name), Some(value), "{request:?}");
}

/// Asserts a 202 answer leaving the call's outcome unknown; returns the call's id.
#[track_caller]
pub fn expect_unknown_outcome(reply: &Reply) -> String {
    reply.expect_status(202);
    let call = reply.json();
    let id = id_of(&call);
    let location = format!("/v1/calls/{id}");
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert_fields!(call, {"status": "initiating", "status_reason": "vendor_outcome_unknown",
        "provider_call_id": null});
    id
}

impl<V> Deref for MockedGateway<V> {
    type Target = TestGateway;

    fn deref(&self) -> &TestGateway {
        &self.gw
    }
}

/// The binary, with an empty environment (so no `PORT`, `DATABASE_URL`, `VOICE_GATEWAY__...`
/// of the machine interferes) and `dir` as its working directory.
pub fn run_binary(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voice-gateway"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// Held by each test that kills the binary under load and starts it again (crash.rs, and
/// events.rs's): they load the machine for seconds and bound what gets done in that time, so
/// two at once could push each other past their bounds. One at a time; other tests run beside.
pub static KILL_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The binary serving in its own process, killed (SIGKILL) when dropped.
pub struct ServingBinary(std::process::Child);

impl Drop for ServingBinary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `setup`'s files served by the real binary instead, with `config`, on a free port: the
/// process (killed on drop), a client for it once it is ready, and the port (to start the
/// binary again on the same files and port, as a restart would).
pub async fn serve_setup_with_binary(
    setup: TestGateway,
    config: &GatewayConfig,
) -> (ServingBinary, TestGateway, u16) {
    let (dir, admin_key) = setup.stop_keeping_files().await;
    std::fs::write(dir.path().join("gw.toml"), config.toml(dir.path())).expect("config file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let process = serve_binary(dir.path(), port);
    let gateway = TestGateway::attached(format!("http://127.0.0.1:{port}"), admin_key, dir);
    gateway.wait_ready().await;
    (process, gateway, port)
}

/// The binary serving `dir`'s config file `gw.toml` on `port`, as [`run_binary`] runs it (an
/// empty environment but `PORT`), its output in `dir`'s `stdout.log` and `stderr.log`.
pub fn serve_binary(dir: &Path, port: u16) -> ServingBinary {
    let log = |name: &str| std::fs::File::create(dir.join(name)).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_voice-gateway"))
        .arg("--config")
        .arg(dir.join("gw.toml"))
        .arg("serve")
        .env_clear()
        .env("PORT", port.to_string())
        .current_dir(dir)
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .expect("the gateway binary starts");
    ServingBinary(child)
}

/// The `id` of a call (or any object with one).
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no string `id` in {value}"))
        .to_owned()
}

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// A JSON fixture parsed and changed by `edit`.
pub fn edited(raw: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut value: Value = serde_json::from_str(raw).expect("fixture is JSON");
    edit(&mut value);
    value
}

/// A fresh unique string for event ids.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

/// The hex HMAC-SHA256 with `secret` of `{timestamp}.{body}`, as echo, ElevenLabs and VAPI
/// (its `hmac` scheme) sign webhooks; computed here, not by the providers under test.
pub fn timestamped_hmac(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `x-echo-signature` header value for `body` signed with `secret` at `timestamp`.
pub fn echo_signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!(
        "t={timestamp},v1={}",
        timestamped_hmac(secret, timestamp, body)
    )
}

/// What [`assert_fields!`] runs.
#[track_caller]
pub fn assert_json_fields(value: &Value, expected: &Value) {
    let expected = expected.as_object().expect("expected fields are an object");
    for (path, want) in expected {
        assert_eq!(field(value, path), want, "`{path}` of {value}");
    }
}

/// The field at the dot-separated `path` of `value` (null if missing).
pub fn field<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| &v[key])
}

/// `value` with each dot-separated path of the object `fields` set to its value.
pub fn changed(value: &Value, fields: &Value) -> Value {
    let mut value = value.clone();
    for (path, new) in fields.as_object().expect("fields are an object") {
        *path.split('.').fold(&mut value, |v, key| &mut v[key]) = new.clone();
    }
    value
}

/// Request headers, as `(name, value)` pairs.
pub type Headers = Vec<(&'static str, String)>;

/// The JSON fixture `$name` of the provider crate `$krate`.
macro_rules! fixture {
    ($krate:literal, $name:literal) => {
        include_str!(concat!(
            "../../providers/",
            $krate,
            "/tests/fixtures/",
            $name,
            ".json"
        ))
    };
}
pub(crate) use fixture;

/// A JSON text, parsed.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a webhook answer: 200 with `outcome`; returns the answer.
#[track_caller]
pub fn expect_outcome(reply: &Reply, outcome: &str) -> Value {
    reply.expect_status(200);
    let answer = reply.json();
    assert_eq!(answer["outcome"], outcome, "{answer}");
    answer
}

/// Asserts an error answer with `status` and `code`; returns its body.
#[track_caller]
pub fn expect_code(reply: &Reply, status: u16, code: &str) -> Value {
    let error = reply.expect_error(status);
    assert_eq!(error["error"]["code"], code, "{error}");
    error
}

/// The `details.call_id` of an error answer.
pub fn error_call_id(error: &Value) -> String {
    error["error"]["details"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("details.call_id: {error}"))
        .to_owned()
}

/// A free loopback port with nothing listening on it (connections are refused).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The string `key` of each item, sorted.
pub fn sorted<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    let mut values: Vec<&str> = items
        .iter()
        .map(|r| r[key].as_str().unwrap_or(""))
        .collect();
    values.sort_unstable();
    values
}

/// A transcript turn as `(speaker, text, source)`.
pub type Turn = (&'static str, &'static str, &'static str);

/// Asserts the `(speaker, text, source)` of each turn.
#[track_caller]
pub fn assert_turns(turns: &[Value], expected: &[Turn]) {
    let text = |t: &Value, key: &str| t[key].as_str().unwrap_or("").to_owned();
    let got: Vec<[String; 3]> = turns
        .iter()
        .map(|t| [text(t, "speaker"), text(t, "text"), text(t, "source")])
        .collect();
    let expected: Vec<[String; 3]> = expected
        .iter()
        .map(|&(speaker, text, source)| [speaker, text, source].map(str::to_owned))
        .collect();
    assert_eq!(got, expected, "{turns:?}");
}

/// A connection to the live call-update stream.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON frame of the live stream (pings are skipped); panics after 10 s.
pub async fn next_frame(socket: &mut Socket) -> Value {
    // One deadline for the next JSON frame, pings included: a ping must not keep a test waiting
    // for a frame that never comes. Generous, since a loaded CI machine can be slow.
    let frame = async {
        loop {
            let frame = socket
                .next()
                .await
                .expect("the socket stays open")
                .expect("a valid frame");
            if let Message::Text(text) = frame {
                return serde_json::from_str(&text).expect("JSON frame");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), frame)
        .await
        .expect("a frame in time")
}

/// Frames until (and including) the first of type `until`.
pub async fn frames_until(socket: &mut Socket, until: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        let done = frame["type"] == until;
        frames.push(frame);
        if done {
            return frames;
        }
    }
}
