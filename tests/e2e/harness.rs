//! Starts the real gateway in-process on a free loopback port and talks to it over HTTP.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use sha2::Sha256;
use voice_gateway::config::{EnvSource, Settings};
use voice_gateway::providers::Registry;
use voice_gateway::server::RunningServer;

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
const PROVIDERS: &str = r#"
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
    use voice_gateway::auth::tokens;
    let key = tokens::new_api_key();
    server
        .gateway()
        .store
        .create_api_key(
            "e2e admin",
            &key[..10],
            &tokens::digest(&key),
            "admin",
            None,
            None,
        )
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
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = format!(
            r#"
[server]
host = "127.0.0.1"
port = 0
{server_extra}

[database]
url = "sqlite://{db}/gw.db"

[gateway]
default_provider = "echo"
recordings_dir = "{db}/recordings"

[auth]
jwt_secret = "{JWT_SECRET}"
jwt_secret_file = "{db}/jwt-secret"
{PROVIDERS}
"#,
            db = dir.path().display()
        );
        let settings = Settings::from_parts(
            &toml,
            &EnvSource::from_pairs([]),
            &Registry::builtin(),
            None,
        )
        .expect("test config is valid");
        let server = voice_gateway::server::start(settings)
            .await
            .expect("the gateway starts");
        let base = format!("http://{}", server.addr());
        let admin_key = admin_api_key(&server).await;
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
            server: Some(server),
            _dir: dir,
        }
    }

    /// The running server (for tests that need its store or settings).
    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
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

    /// Places a call and returns the created call (asserting 201).
    pub async fn create_call(&self, body: Value) -> Value {
        let reply = self.post_json("/v1/calls", &body).await;
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
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let call = self.call(id).await;
            if call["status"] == status {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} did not reach `{status}` within {WAIT:?}; it is: {call}"
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

    /// Stops the server (also closes the database).
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// The `id` of a call (or any object with one).
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no string `id` in {value}"))
        .to_owned()
}

/// A fresh unique string for event ids.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

/// The `x-echo-signature` header value for `body` signed with `secret` at `timestamp`.
pub fn echo_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}
