//! WebSocket routes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::Data;
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig};
use poem::{IntoResponse, Response, handler};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::config::ServerConfig;
use crate::http::ApiError;

/// The largest message `/ws/test` reads; a larger one closes the connection.
pub const ECHO_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What bounds `/ws/test`, which needs no login: connections held at once and how long one may
/// stay silent.
#[derive(Debug, Clone)]
pub struct EchoSockets {
    slots: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl EchoSockets {
    pub fn new(server: &ServerConfig) -> Self {
        let slots = usize::try_from(server.ws_test_max_connections).unwrap_or(usize::MAX);
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            idle_timeout: Duration::from_secs(server.ws_test_idle_timeout_secs),
        }
    }
}

/// `GET /ws/test`: the seed's echo socket, answering each text message with
/// `Message text was: {data}`. Messages over [`ECHO_MAX_MESSAGE_BYTES`] end the connection;
/// past `[server] ws_test_max_connections` the handshake is answered 503; a connection silent
/// for `ws_test_idle_timeout_secs` is closed.
#[handler]
pub fn echo_socket(ws: WebSocket, sockets: Data<&EchoSockets>) -> Response {
    let Ok(slot) = Arc::clone(&sockets.slots).try_acquire_owned() else {
        warn!("/ws/test refused a connection: at ws_test_max_connections");
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "too many /ws/test connections; retry later",
        )
        .into_response();
        response
            .headers_mut()
            .insert(poem::http::header::RETRY_AFTER, 1.into());
        return response;
    };
    let idle_timeout = sockets.idle_timeout;
    ws.config(
        WebSocketConfig::default()
            .max_message_size(Some(ECHO_MAX_MESSAGE_BYTES))
            .max_frame_size(Some(ECHO_MAX_MESSAGE_BYTES)),
    )
    .on_upgrade(move |mut socket| async move {
        let _slot = slot;
        loop {
            let Ok(next) = tokio::time::timeout(idle_timeout, socket.next()).await else {
                debug!("/ws/test connection idle: closed");
                let _ = socket
                    .send(Message::close_with(CloseCode::Normal, "idle"))
                    .await;
                break;
            };
            match next {
                Some(Ok(Message::Text(text))) => {
                    let reply = Message::Text(format!("Message text was: {text}"));
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .into_response()
}
