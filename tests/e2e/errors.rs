//! Every error answers with one JSON shape and the right status.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TO, TestGateway};

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let gw = TestGateway::start().await;

    // Generated when absent, different per request.
    let a = gw.get("/v1/calls/nope").await.expect_error(404);
    let b = gw.get("/v1/calls/nope").await.expect_error(404);
    assert_ne!(a["request_id"], b["request_id"]);

    // A sane incoming id is echoed in the header and the body.
    let reply = gw
        .send(
            gw.client
                .get(gw.url("/v1/calls/nope"))
                .header("X-Request-Id", "e2e-trace_42.a:b"),
        )
        .await;
    let body = reply.expect_error(404);
    assert_eq!(body["request_id"], "e2e-trace_42.a:b");

    let ok = gw
        .send(
            gw.client
                .get(gw.url("/"))
                .header("X-Request-Id", "e2e-ok-1"),
        )
        .await;
    ok.expect_status(200);
    assert_eq!(ok.header("x-request-id"), Some("e2e-ok-1"));

    let created = gw
        .send(
            gw.client
                .post(gw.url("/v1/calls"))
                .header("X-Request-Id", "e2e-create-1")
                .json(&json!({"to": "bad"})),
        )
        .await;
    let body = created.expect_error(422);
    assert_eq!(body["request_id"], "e2e-create-1");
    gw.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let gw = TestGateway::start().await;
    for body in [
        "{\"to\": ",
        "not json at all",
        "{\"to\": \"+14155550123\",}",
    ] {
        gw.raw(Method::POST, "/v1/calls", Some("application/json"), body)
            .await
            .expect_error(400);
    }
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_calls_are_404() {
    let gw = TestGateway::start().await;
    gw.get("/no/such/route").await.expect_error(404);
    gw.get("/v1/nothing-here").await.expect_error(404);
    gw.raw(
        Method::POST,
        "/v1/nothing-here",
        Some("application/json"),
        "{}",
    )
    .await
    .expect_error(404);

    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/v1/calls/{unknown}"),
        format!("/v1/calls/{unknown}/transcript"),
        format!("/v1/calls/{unknown}/events"),
        "/v1/calls/not-a-uuid".to_owned(),
        "/v1/calls/not-a-uuid/transcript".to_owned(),
        "/v1/calls/not-a-uuid/events".to_owned(),
    ] {
        let body = gw.get(&path).await.expect_error(404);
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn wrong_method_is_405() {
    let gw = TestGateway::start().await;
    gw.raw(Method::DELETE, "/v1/calls", None, "")
        .await
        .expect_error(405);
    gw.raw(Method::PUT, "/v1/calls", Some("application/json"), "{}")
        .await
        .expect_error(405);
    gw.raw(
        Method::POST,
        "/v1/providers",
        Some("application/json"),
        "{}",
    )
    .await
    .expect_error(405);
    gw.stop().await;
}

#[tokio::test]
async fn body_over_max_body_bytes_is_413() {
    let gw = TestGateway::start_with("max_body_bytes = 2048").await;
    let big = json!({"to": TO, "metadata": {"padding": "x".repeat(4096)}});
    gw.post_json("/v1/calls", &big).await.expect_error(413);
    // Under the limit it is accepted.
    let small = json!({"to": TO, "provider": "frozen", "metadata": {"padding": "x".repeat(1024)}});
    gw.post_json("/v1/calls", &small).await.expect_status(201);
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the oversized request placed no call"
    );
    gw.stop().await;
}

/// Sends `request` on a fresh connection and returns the status code of the answer.
async fn raw_status(gw: &TestGateway, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gw.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read up to the end of the status line (the server may close early).
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "connection closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    status.parse().expect("numeric status")
}

#[tokio::test]
async fn chunked_body_over_max_body_bytes_is_413() {
    let gw = TestGateway::start_with("max_body_bytes = 2048").await;
    let body = json!({"to": TO, "metadata": {"padding": "x".repeat(4096)}}).to_string();
    let request = format!(
        "POST /v1/calls HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(raw_status(&gw, request.as_bytes()).await, 413);
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let gw = TestGateway::start().await;
    let body = json!({"to": TO}).to_string();
    gw.raw(Method::POST, "/v1/calls", Some("text/plain"), body.clone())
        .await
        .expect_error(415);
    gw.raw(
        Method::POST,
        "/v1/calls",
        Some("application/x-www-form-urlencoded"),
        "to=%2B14155550123",
    )
    .await
    .expect_error(415);
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn invalid_to_is_422_naming_the_field() {
    let gw = TestGateway::start().await;
    for to in [
        "14155550123",
        "+0123456789",
        "+1234",
        "+1415555abcd",
        "",
        "+1234567890123456",
    ] {
        let body = gw
            .post_json("/v1/calls", &json!({"to": to}))
            .await
            .expect_error(422);
        assert_eq!(body["error"]["details"]["field"], "to", "to={to:?}: {body}");
    }
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "no call was placed"
    );
    gw.stop().await;
}

#[tokio::test]
async fn unknown_provider_is_422() {
    let gw = TestGateway::start().await;
    let body = gw
        .post_json("/v1/calls", &json!({"to": TO, "provider": "nope"}))
        .await
        .expect_error(422);
    assert_eq!(body["error"]["details"]["field"], "provider", "{body}");
    assert_eq!(
        gw.get_json("/v1/calls").await["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn missing_to_is_a_json_error() {
    let gw = TestGateway::start().await;
    for body in [json!({}), json!({"variables": {"customer_name": "Ada"}})] {
        let reply = gw.post_json("/v1/calls", &body).await;
        let status = reply.status.as_u16();
        assert!(
            status == 422 || status == 400,
            "missing `to` answered {status}: {}",
            reply.text
        );
        reply.expect_error(status);
    }
    gw.stop().await;
}
