//! `GET /ws/test`: the echo socket.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::TestGateway;

#[tokio::test]
async fn ws_test_echoes_text_messages() {
    let gw = TestGateway::start().await;
    let url = format!("{}/ws/test", gw.base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("WebSocket handshake");
    for text in ["hello", "second message"] {
        socket
            .send(Message::text(text))
            .await
            .expect("send a message");
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a reply in time")
            .expect("the socket stays open")
            .expect("a valid frame");
        assert_eq!(
            reply,
            Message::text(format!("Message text was: {text}")),
            "reply to {text:?}"
        );
    }
    socket.close(None).await.expect("close");
    gw.stop().await;
}
