//! WebSocket routes.

use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocket};
use poem::{IntoResponse, handler};

/// `GET /ws/test`: the seed's echo socket, answering each text message with
/// `Message text was: {data}`.
#[handler]
pub fn echo_socket(ws: WebSocket) -> impl IntoResponse {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Text(text) => {
                    let reply = Message::Text(format!("Message text was: {text}"));
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    })
}
