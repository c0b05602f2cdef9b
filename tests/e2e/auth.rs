//! Authentication and roles.

use serde_json::json;

use crate::harness::{TO, TestGateway};

#[tokio::test]
async fn v1_needs_credentials_and_public_routes_do_not() {
    let gw = TestGateway::start().await;
    for path in [
        "/v1/calls",
        "/v1/providers",
        "/v1/auth/me",
        "/v1/users",
        "/v1/audit",
    ] {
        let reply = gw.send(gw.anonymous.get(gw.url(path))).await;
        reply.expect_error(401);
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{path}: {:?}",
            reply.headers
        );
    }
    for path in [
        "/",
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs",
    ] {
        let reply = gw.send(gw.anonymous.get(gw.url(path))).await;
        reply.expect_status(200);
    }
    gw.stop().await;
}

#[tokio::test]
async fn api_keys_work_in_either_header_and_stop_when_revoked() {
    let gw = TestGateway::start().await;
    let created = gw
        .post_json(
            "/v1/api-keys",
            &json!({"name": "dialer", "role": "operator"}),
        )
        .await;
    created.expect_status(201);
    let key = created.json()["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("vgk_"));
    let id = created.json()["id"].as_str().unwrap().to_owned();

    let with_header = gw
        .anonymous
        .post(gw.url("/v1/calls"))
        .header("x-api-key", &key)
        .json(&json!({"to": TO}));
    gw.send(with_header).await.expect_status(201);
    let as_bearer = gw.anonymous.get(gw.url("/v1/calls")).bearer_auth(&key);
    gw.send(as_bearer).await.expect_status(200);
    // An operator is not an admin.
    let users = gw.anonymous.get(gw.url("/v1/users")).bearer_auth(&key);
    gw.send(users).await.expect_error(403);

    let listed = gw.get_json("/v1/api-keys").await;
    assert!(
        !listed.to_string().contains(&key),
        "the key is never listed"
    );
    let revoke = gw.client.delete(gw.url(&format!("/v1/api-keys/{id}")));
    gw.send(revoke).await.expect_status(204);
    let after = gw.anonymous.get(gw.url("/v1/calls")).bearer_auth(&key);
    gw.send(after).await.expect_error(401);
    assert_eq!(gw.admin_key.len(), key.len());
    gw.stop().await;
}

#[tokio::test]
async fn users_log_in_refresh_once_and_log_out() {
    let gw = TestGateway::start().await;
    let password = "correct horse battery";
    let user = json!({"username": "ada", "email": "ada@example.com", "password": password, "role": "viewer"});
    gw.post_json("/v1/users", &user).await.expect_status(201);

    let login = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", "ADA@example.com"),
        ("password", password),
    ]);
    let tokens = gw.send(login).await;
    tokens.expect_status(200);
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let me = gw
        .send(gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(access))
        .await;
    assert_eq!(me.json()["name"], "ada");
    assert_eq!(me.json()["role"], "viewer");

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotated = gw
        .send(
            gw.anonymous
                .post(gw.url("/v1/auth/refresh"))
                .json(&json!({"refresh_token": refresh})),
        )
        .await;
    rotated.expect_status(200);
    let next = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    // Reusing the first token is theft: the whole family is revoked, the newest token too.
    let reused = gw
        .send(
            gw.anonymous
                .post(gw.url("/v1/auth/refresh"))
                .json(&json!({"refresh_token": refresh})),
        )
        .await;
    reused.expect_error(401);
    let newest = gw
        .send(
            gw.anonymous
                .post(gw.url("/v1/auth/refresh"))
                .json(&json!({"refresh_token": next})),
        )
        .await;
    newest.expect_error(401);

    let server = gw.server();
    assert!(server.addr().port() > 0);
    let audit = gw
        .get_json("/v1/audit?action=auth.refresh_token_reused")
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    gw.stop().await;
}
