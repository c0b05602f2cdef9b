//! Security headers and CORS (issue 15, item 12): `nosniff` on every answer, `no-store` on the
//! auth endpoints, a Content-Security-Policy on the docs page, and CORS only for the configured
//! origins.

use reqwest::Method;
use sha2::Digest;

use crate::auth::user_with_role;
use crate::harness::{Reply, TestGateway};

#[track_caller]
fn assert_nosniff(reply: &Reply, what: &str) {
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {:?}",
        reply.headers
    );
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let gw = TestGateway::start().await;
    assert_nosniff(&gw.get("/health").await, "health");
    assert_nosniff(&gw.get("/v1/calls").await, "an API answer");
    assert_nosniff(&gw.get("/openapi.json").await, "the document");
    assert_nosniff(&gw.get("/docs").await, "the docs page");
    assert_nosniff(&gw.get("/no/such/route").await, "an unknown route");
    let anonymous = gw.send(gw.anonymous.get(gw.url("/v1/calls"))).await;
    anonymous.expect_status(401);
    assert_nosniff(&anonymous, "a 401");
    let webhook = gw.webhook_raw("nobody", "{}", &[]).await;
    webhook.expect_status(404);
    assert_nosniff(&webhook, "a webhook answer");
    let too_large = gw
        .raw(
            Method::POST,
            "/v1/calls",
            Some("application/json"),
            vec![b' '; 2 * 1024 * 1024],
        )
        .await;
    too_large.expect_status(413);
    assert_nosniff(&too_large, "the body limit's answer");
    gw.stop().await;
}

#[tokio::test]
async fn auth_answers_are_never_stored() {
    let gw = TestGateway::start().await;
    let (_, access, refresh) = user_with_role(&gw, "cache-test", "viewer").await;
    let no_store = |reply: &Reply, what: &str| {
        assert_eq!(
            reply.header("cache-control"),
            Some("no-store"),
            "{what}: {:?}",
            reply.headers
        );
    };
    // The login itself (its tokens) and a refused one.
    let token = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ]);
    let refreshed = gw.send(token).await;
    refreshed.expect_status(200);
    no_store(&refreshed, "a token answer");
    let refused = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", "cache-test"),
        ("password", "wrong"),
    ]);
    let refused = gw.send(refused).await;
    refused.expect_status(401);
    no_store(&refused, "a refused login");
    let me = gw
        .send(gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(&access))
        .await;
    me.expect_status(200);
    no_store(&me, "who am I");
    let anonymous_me = gw.send(gw.anonymous.get(gw.url("/v1/auth/me"))).await;
    anonymous_me.expect_status(401);
    no_store(&anonymous_me, "an anonymous who am I");
    // Other answers keep their own caching.
    assert_eq!(gw.get("/v1/calls").await.header("cache-control"), None);
    gw.stop().await;
}

#[tokio::test]
async fn the_docs_page_allows_only_its_own_scripts_and_no_framing() {
    let gw = TestGateway::start().await;
    let docs = gw.get("/docs").await;
    docs.expect_status(200);
    assert_eq!(docs.header("referrer-policy"), Some("no-referrer"));
    let policy = docs
        .header("content-security-policy")
        .expect("a Content-Security-Policy")
        .to_owned();
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for expected in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
        "img-src data:",
        "style-src 'unsafe-inline'",
        "base-uri 'none'",
    ] {
        assert!(directives.contains(&expected), "{expected}: {policy}");
    }
    // Every inline script of the page is allowed by its hash, as a browser checks it, and
    // nothing else runs (no 'unsafe-inline' or 'unsafe-eval' for scripts, no other source).
    let script_src = directives
        .iter()
        .find_map(|d| d.strip_prefix("script-src "))
        .expect("a script-src directive");
    let mut expected = Vec::new();
    let mut rest = docs.text.as_str();
    while let Some(start) = rest.find("<script") {
        let tag_end = start + rest[start..].find('>').expect("a tag");
        assert!(
            !rest[start..tag_end].contains("src="),
            "the page loads no script from elsewhere"
        );
        let body = &rest[tag_end + 1..];
        let end = body.find("</script>").expect("a closed script");
        let digest = sha2::Sha256::digest(&body.as_bytes()[..end]);
        expected.push(format!(
            "'sha256-{}'",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest)
        ));
        rest = &body[end..];
    }
    assert_eq!(expected.len(), 2, "the bundle and the page's own script");
    let allowed: Vec<&str> = script_src.split(' ').collect();
    assert_eq!(allowed, expected, "{policy}");
    // No stylesheet, font or image comes from elsewhere either.
    assert!(!docs.text.contains("<link"), "no external stylesheet");
    gw.stop().await;
}

/// A preflight request from `origin` for a call creation.
async fn preflight(gw: &TestGateway, origin: &str) -> Reply {
    let request = gw
        .anonymous
        .request(Method::OPTIONS, gw.url("/v1/calls"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        );
    gw.send(request).await
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let gw = TestGateway::start().await;
    let answer = preflight(&gw, "https://app.example.com").await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        None,
        "{answer:?}"
    );
    let read = gw
        .send(
            gw.client
                .get(gw.url("/v1/calls"))
                .header("origin", "https://app.example.com"),
        )
        .await;
    read.expect_status(200);
    assert_eq!(read.header("access-control-allow-origin"), None);
    gw.stop().await;
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let gw = TestGateway::start_with(r#"cors_origins = ["https://app.example.com"]"#).await;

    let allowed = preflight(&gw, "https://app.example.com").await;
    allowed.expect_status(200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), None);
    assert_nosniff(&allowed, "a preflight answer");

    let read = gw
        .send(
            gw.client
                .get(gw.url("/v1/calls"))
                .header("origin", "https://app.example.com"),
        )
        .await;
    read.expect_status(200);
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let exposed = read
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // Another origin, a look-alike, or a subdomain: no CORS headers, so browsers refuse.
    for refused in [
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ] {
        let answer = preflight(&gw, refused).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{refused}: {answer:?}"
        );
        let read = gw
            .send(gw.client.get(gw.url("/v1/calls")).header("origin", refused))
            .await;
        read.expect_status(200);
        assert_eq!(
            read.header("access-control-allow-origin"),
            None,
            "{refused}"
        );
    }
    gw.stop().await;
}

#[test]
fn cors_origins_must_be_exact() {
    use crate::harness::GatewayConfig;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = GatewayConfig::new()
        .server(r#"cors_origins = ["https://app.example.com", "*", "https://app.example.com/"]"#);
    let error = config
        .settings(dir.path())
        .expect_err("wildcards are refused");
    let paths: Vec<&str> = error.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["server.cors_origins[1]", "server.cors_origins[2]"],
        "{error}"
    );
}
