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

fn ws_test_url(gw: &TestGateway) -> String {
    format!("{}/ws/test", gw.base.replacen("http://", "ws://", 1))
}

/// The next frame, or `None` once the socket is closed or failed (within 10 s).
async fn next_message<S>(socket: &mut S) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("an answer or a close in time")
        .and_then(Result::ok)
}

#[tokio::test]
async fn ws_test_refuses_messages_over_64_kib() {
    let gw = TestGateway::start().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_test_url(&gw).as_str())
        .await
        .expect("WebSocket handshake");
    let fits = "a".repeat(60 * 1024);
    socket
        .send(Message::text(fits.clone()))
        .await
        .expect("send");
    assert_eq!(
        next_message(&mut socket).await,
        Some(Message::text(format!("Message text was: {fits}")))
    );
    // 1 MiB: not echoed; the connection ends.
    let _ = socket.send(Message::text("b".repeat(1024 * 1024))).await;
    let answer = next_message(&mut socket).await;
    assert!(
        !matches!(&answer, Some(Message::Text(_))),
        "a 1 MiB message was answered"
    );
    gw.stop().await;
}

#[tokio::test]
async fn ws_test_caps_connections_and_closes_idle_ones() {
    let gw =
        TestGateway::start_with("ws_test_max_connections = 2\nws_test_idle_timeout_secs = 1").await;
    let url = ws_test_url(&gw);
    let (mut first, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("first");
    let (_second, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("second");
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third connection was not refused: {other:?}"),
    }
    // Silent for the idle timeout: the server closes them, which frees their places.
    match next_message(&mut first).await {
        None | Some(Message::Close(_)) => {}
        Some(other) => panic!("expected the idle connection to close, got {other:?}"),
    }
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut reopened = reopened.expect("a place frees up once idle connections close");
    reopened.send(Message::text("hi")).await.expect("send");
    assert_eq!(
        next_message(&mut reopened).await,
        Some(Message::text("Message text was: hi"))
    );
    gw.stop().await;
}
