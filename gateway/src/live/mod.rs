//! Live call updates over WebSocket: `GET /ws/calls/transcriptions?token=...`.
//!
//! Committed changes reach [`crate::events::Hub`]; one fan-out task routes each to the
//! connections subscribed to its call, through a bounded queue per connection. Publishing never
//! waits for a client: a connection whose queue is full is closed (1013) and resumes with
//! `after_seq`. Turns carry the gateway's sequence numbers, so every connection can tell a gap
//! (it then reads the missing turns from the store) from a repeat (skipped).

pub mod asyncapi;
mod connection;
pub mod protocol;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use plugin_api::CallId;
use poem::http::StatusCode;
use poem::web::websocket::{WebSocket, WebSocketConfig};
use poem::web::{Data, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast, mpsc};
use tracing::{Instrument, debug, info_span, warn};

use crate::auth::{Auth, AuthError};
use crate::config::LiveConfig;
use crate::events::{CallUpdate, Hub};
use crate::http::ApiError;
use crate::store::Store;

/// What the fan-out hands a connection.
#[derive(Debug, Clone)]
pub(crate) enum Feed {
    Update(CallUpdate),
    /// Updates were lost upstream: re-read the subscribed calls from the store (and check the
    /// credential again: a revocation may have been lost with them).
    Resync,
    /// The connection's credential may have been revoked: check it again.
    Revalidate,
}

struct Connection {
    feed: mpsc::Sender<Feed>,
    /// Tells the connection it fell behind and must close.
    overflow: Arc<Notify>,
    /// The principal's id (an API key's or a user's), whose revocation reaches it.
    principal: String,
}

/// Who follows which call, and every open connection.
#[derive(Default)]
pub struct Live {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Connection>>,
    calls: Mutex<HashMap<CallId, Vec<u64>>>,
    /// Open (or opening) connections per principal id, for `max_connections_per_principal`.
    per_principal: Mutex<HashMap<String, usize>>,
}

/// One principal's place among its open connections, held from the handshake until the
/// connection ends (or the upgrade fails).
pub(crate) struct Slot {
    live: Arc<Live>,
    principal: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.live.per_principal.lock() {
            if let Some(count) = counts.get_mut(&self.principal) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&self.principal);
                }
            }
        }
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.connections.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("Live").field("connections", &open).finish()
    }
}

impl Live {
    /// A place for one more connection of `principal`, unless it has `max` already.
    fn reserve(self: &Arc<Self>, principal: &str, max: usize) -> Option<Slot> {
        let mut counts = self.per_principal.lock().ok()?;
        let count = counts.entry(principal.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            live: Arc::clone(self),
            principal: principal.to_owned(),
        })
    }

    fn connect(&self, feed: mpsc::Sender<Feed>, overflow: Arc<Notify>, principal: &str) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut connections) = self.connections.lock() {
            connections.insert(
                id,
                Connection {
                    feed,
                    overflow,
                    principal: principal.to_owned(),
                },
            );
        }
        id
    }

    fn disconnect(&self, connection: u64, calls: impl IntoIterator<Item = CallId>) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.remove(&connection);
        }
        for call in calls {
            self.unsubscribe(connection, call);
        }
    }

    fn subscribe(&self, connection: u64, call: CallId) {
        if let Ok(mut calls) = self.calls.lock() {
            let subscribers = calls.entry(call).or_default();
            if !subscribers.contains(&connection) {
                subscribers.push(connection);
            }
        }
    }

    fn unsubscribe(&self, connection: u64, call: CallId) {
        if let Ok(mut calls) = self.calls.lock() {
            if let Some(subscribers) = calls.get_mut(&call) {
                subscribers.retain(|c| *c != connection);
                if subscribers.is_empty() {
                    calls.remove(&call);
                }
            }
        }
    }

    /// Hands `feed` to `targets` without waiting; a full queue closes that connection.
    fn deliver(&self, targets: &[u64], feed: &Feed) {
        let Ok(mut connections) = self.connections.lock() else {
            return;
        };
        for id in targets {
            let Some(connection) = connections.get(id) else {
                continue;
            };
            match connection.feed.try_send(feed.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    connection.overflow.notify_one();
                    connections.remove(id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    connections.remove(id);
                }
            }
        }
    }

    fn route(&self, update: CallUpdate) {
        if let CallUpdate::CredentialsRevoked(principal) = &update {
            self.revalidate(principal);
            return;
        }
        let Some(call) = update.call_id() else {
            self.resync_all();
            return;
        };
        let targets = match self.calls.lock() {
            Ok(calls) => calls.get(&call).cloned().unwrap_or_default(),
            Err(_) => return,
        };
        if !targets.is_empty() {
            self.deliver(&targets, &Feed::Update(update));
        }
    }

    /// Tells `principal`'s connections to check their credential again.
    fn revalidate(&self, principal: &str) {
        let targets: Vec<u64> = match self.connections.lock() {
            Ok(connections) => connections
                .iter()
                .filter(|(_, c)| c.principal == principal)
                .map(|(id, _)| *id)
                .collect(),
            Err(_) => return,
        };
        self.deliver(&targets, &Feed::Revalidate);
    }

    fn resync_all(&self) {
        let targets: Vec<u64> = match self.connections.lock() {
            Ok(connections) => connections.keys().copied().collect(),
            Err(_) => return,
        };
        self.deliver(&targets, &Feed::Resync);
    }
}

/// What the live stream works with: its config, the store and the credential check it shares
/// with the API, and who follows which call. Handed to its route as request data.
#[derive(Debug)]
pub struct LiveStream {
    config: LiveConfig,
    store: Store,
    auth: Arc<Auth>,
    registry: Arc<Live>,
}

impl LiveStream {
    pub fn new(config: LiveConfig, store: Store, auth: Arc<Auth>) -> Arc<Self> {
        Arc::new(Self {
            config,
            store,
            auth,
            registry: Arc::new(Live::default()),
        })
    }

    /// Routes the hub's updates to subscribed connections until the hub closes.
    pub fn spawn_fanout(&self, hub: &Hub) -> tokio::task::JoinHandle<()> {
        spawn_fanout(hub, Arc::clone(&self.registry))
    }
}

fn spawn_fanout(hub: &Hub, live: Arc<Live>) -> tokio::task::JoinHandle<()> {
    let mut updates = hub.subscribe();
    tokio::spawn(
        async move {
            loop {
                match updates.recv().await {
                    Ok(update) => live.route(update),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(
                            missed,
                            "live fan-out fell behind; subscribers resync from the store"
                        );
                        live.resync_all();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        .instrument(info_span!(parent: None, "live_fanout")),
    )
}

/// `GET /asyncapi.json`: the live stream's AsyncAPI document.
#[handler]
pub async fn asyncapi_document() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(asyncapi::document())
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /ws/calls/transcriptions?token=<access token or API key>`: refused with 401 before the
/// upgrade when the token is missing or invalid, and with 429 when its principal has
/// `[live] max_connections_per_principal` connections open already.
#[handler]
pub async fn transcriptions(
    ws: WebSocket,
    Query(query): Query<TokenQuery>,
    stream: Data<&Arc<LiveStream>>,
) -> Response {
    let Some(token) = query.token.filter(|t| !t.is_empty()) else {
        return unauthorized("the token query parameter is required");
    };
    let principal = match stream.auth.authenticate(&stream.store, &token).await {
        Ok(principal) => principal,
        Err(AuthError::Rejected(rejection)) => return unauthorized(&rejection.message),
        Err(AuthError::Store(e)) => {
            warn!(error = %e, "cannot check a live-stream token");
            return ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response();
        }
    };
    let max = stream.config.max_connections_per_principal;
    let Some(slot) = stream.registry.reserve(principal.id(), max) else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            format!("at most {max} live connections per API key or user; close one first"),
        )
        .into_response();
    };
    let frame_cap = stream
        .config
        .max_frame_bytes
        .saturating_mul(16)
        .max(64 * 1024);
    let stream = Arc::clone(&stream);
    debug!(principal = %principal.name(), "live stream opened");
    ws.config(
        WebSocketConfig::default()
            .max_message_size(Some(frame_cap))
            .max_frame_size(Some(frame_cap)),
    )
    .on_upgrade(move |socket| connection::serve(stream, socket, principal, token, slot))
    .into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response.headers_mut().insert(
        poem::http::header::WWW_AUTHENTICATE,
        poem::http::HeaderValue::from_static("Bearer realm=\"voice-gateway\""),
    );
    response
}
