//! A tiny scripted HTTP server standing in for a voice vendor's API: it records every request
//! and answers each `(method, path)` from a queue of scripted replies (then from a standing
//! reply, else 404). Loopback only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{Body, EndpointExt, Request, Response, Route, Server, handler};
use serde_json::Value;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct MockReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long the server waits before answering.
    pub delay: Duration,
}

impl MockReply {
    /// A JSON answer with `status` and the raw `body`.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the mock received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {} body is not JSON ({e}): {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

#[derive(Default)]
struct Script {
    queue: VecDeque<MockReply>,
    standing: Option<MockReply>,
}

/// Checks a request against the shape the vendor's SDK defines; `Err` says what is wrong.
pub type ShapeCheck = fn(&Received) -> Result<(), String>;

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<(String, String), Script>>,
    received: Mutex<Vec<Received>>,
    /// `(method, path prefix, check)`: a request failing its check is answered 422.
    shapes: Mutex<Vec<(String, String, ShapeCheck)>>,
}

impl State {
    fn misshapen(&self, request: &Received) -> Option<String> {
        let shapes = self.shapes.lock().expect("mock lock");
        shapes
            .iter()
            .filter(|(method, prefix, _)| {
                *method == request.method && request.path.starts_with(prefix.as_str())
            })
            .find_map(|(_, _, check)| check(request).err())
    }
}

impl State {
    fn reply_for(&self, method: &str, path: &str) -> Option<MockReply> {
        let mut scripts = self.scripts.lock().expect("mock lock");
        let script = scripts.get_mut(&(method.to_owned(), path.to_owned()))?;
        script.queue.pop_front().or_else(|| script.standing.clone())
    }
}

#[handler]
async fn answer(req: &Request, body: Body, state: Data<&Arc<State>>) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let body = body.into_vec().await.unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            v.to_str()
                .ok()
                .map(|v| (n.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    let received = Received {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
        at: Instant::now(),
    };
    let misshapen = state.misshapen(&received);
    state.received.lock().expect("mock lock").push(received);
    if let Some(problem) = misshapen {
        let body = serde_json::json!({"status": "error", "message": format!("mock: {problem}")});
        return Response::builder()
            .status(poem::http::StatusCode::UNPROCESSABLE_ENTITY)
            .content_type("application/json")
            .body(body.to_string());
    }
    let Some(reply) = state.reply_for(&method, &path) else {
        return Response::builder()
            .status(poem::http::StatusCode::NOT_FOUND)
            .content_type("application/json")
            .body(format!(
                r#"{{"detail":"mock: nothing scripted for {method} {path}"}}"#
            ));
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder()
        .status(poem::http::StatusCode::from_u16(reply.status).expect("scripted status is valid"));
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response.body(reply.body)
}

/// The running mock; stops when dropped.
pub struct MockVendor {
    base_url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl MockVendor {
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("mock vendor binds");
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("mock vendor address");
        let state = Arc::new(State::default());
        let app = Route::new().at("/*path", answer).data(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn with_script(&self, method: &str, path: &str, edit: impl FnOnce(&mut Script)) {
        let mut scripts = self.state.scripts.lock().expect("mock lock");
        edit(
            scripts
                .entry((method.to_owned(), path.to_owned()))
                .or_default(),
        );
    }

    /// Answers the next request to `method path` (after those already queued) with `reply`.
    pub fn enqueue(&self, method: &str, path: &str, reply: MockReply) {
        self.with_script(method, path, |s| s.queue.push_back(reply));
    }

    /// Answers every request to `method path` with `reply` once the queue is empty.
    pub fn always(&self, method: &str, path: &str, reply: MockReply) {
        self.with_script(method, path, |s| s.standing = Some(reply));
    }

    /// Answers requests to `method` on paths starting with `prefix` that fail `check` with 422
    /// (`{"status": "error", "message": "mock: <problem>"}`), whatever is scripted.
    pub fn enforce(&self, method: &str, prefix: &str, check: ShapeCheck) {
        let mut shapes = self.state.shapes.lock().expect("mock lock");
        shapes.push((method.to_owned(), prefix.to_owned(), check));
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("mock lock").clone()
    }

    /// The requests received so far to `method path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }
}

impl Drop for MockVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}
