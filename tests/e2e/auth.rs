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

const PASSWORD: &str = "correct horse battery";

/// Creates a user with `role` and logs in; returns (user id, access token, refresh token).
pub(crate) async fn user_with_role(
    gw: &TestGateway,
    name: &str,
    role: &str,
) -> (String, String, String) {
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "role": role});
    let created = gw.post_json("/v1/users", &body).await;
    created.expect_status(201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let (access, refresh) = login(gw, name, PASSWORD).await;
    (id, access, refresh)
}

pub(crate) async fn login(gw: &TestGateway, name: &str, password: &str) -> (String, String) {
    let request = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", name),
        ("password", password),
    ]);
    let reply = gw.send(request).await;
    reply.expect_status(200);
    let body = reply.json();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn status_as(
    gw: &TestGateway,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> u16 {
    let mut request = gw
        .anonymous
        .request(method, gw.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    gw.send(request).await.status.as_u16()
}

#[tokio::test]
async fn roles_are_checked_per_route() {
    use reqwest::Method;
    let gw = TestGateway::start().await;
    let (_, viewer, _) = user_with_role(&gw, "vera", "viewer").await;
    let (_, operator, _) = user_with_role(&gw, "otto", "operator").await;
    let (_, admin, _) = user_with_role(&gw, "alma", "admin").await;
    let call = json!({"to": TO, "provider": "frozen"});
    let key = json!({"name": "k", "role": "viewer"});
    let user = json!({"username": "new1", "email": "new1@example.com", "password": PASSWORD, "role": "viewer"});
    // (method, path, body, lowest role allowed)
    let routes: Vec<(Method, &str, Option<serde_json::Value>, usize)> = vec![
        (Method::GET, "/v1/calls", None, 0),
        (Method::GET, "/v1/providers", None, 0),
        (Method::GET, "/v1/auth/me", None, 0),
        (Method::POST, "/v1/calls", Some(call), 1),
        (Method::GET, "/v1/webhook-receipts", None, 2),
        (Method::GET, "/v1/users", None, 2),
        (Method::GET, "/v1/api-keys", None, 2),
        (Method::GET, "/v1/audit", None, 2),
        (Method::POST, "/v1/api-keys", Some(key), 2),
        (Method::POST, "/v1/users", Some(user), 2),
    ];
    for (method, path, body, lowest) in routes {
        for (rank, token) in [&viewer, &operator, &admin].into_iter().enumerate() {
            let status = status_as(&gw, token, method.clone(), path, body.clone()).await;
            let allowed = rank >= lowest;
            assert_eq!(
                (200..300).contains(&status),
                allowed,
                "{method} {path} as rank {rank}: {status}"
            );
            if !allowed {
                assert_eq!(status, 403, "{method} {path} as rank {rank}");
            }
        }
    }
    // Hang-up and refresh need an operator too.
    let id = gw.create_call_on("frozen", TO).await;
    assert_eq!(
        status_as(
            &gw,
            &viewer,
            Method::POST,
            &format!("/v1/calls/{id}/hangup"),
            None
        )
        .await,
        403
    );
    assert_eq!(
        status_as(
            &gw,
            &operator,
            Method::POST,
            &format!("/v1/calls/{id}/hangup"),
            None
        )
        .await,
        202
    );
    gw.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use voice_gateway::auth::tokens::JwtKeys;
    let gw = TestGateway::start().await;
    let (id, good, _) = user_with_role(&gw, "tess", "admin").await;
    let keys = JwtKeys::new(
        crate::harness::JWT_SECRET.as_bytes(),
        "voice-gateway",
        "voice-gateway-api",
    );
    let expired = keys.issue(&id, "admin", 0, -120).unwrap();
    let reply = gw
        .send(
            gw.anonymous
                .get(gw.url("/v1/auth/me"))
                .bearer_auth(&expired),
        )
        .await;
    assert_eq!(reply.expect_error(401)["error"]["code"], "token_expired");

    let payload = good.split('.').nth(1).unwrap();
    let header = |alg: &str| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    let signature = good.split('.').nth(2).unwrap();
    let forged_claims = URL_SAFE_NO_PAD.encode(
        String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap()
            .replace("\"admin\"", "\"viewer\""),
    );
    let wrong_secret = JwtKeys::new(
        b"some-other-secret-some-other-secret!!",
        "voice-gateway",
        "voice-gateway-api",
    );
    let foreign_audience = JwtKeys::new(
        crate::harness::JWT_SECRET.as_bytes(),
        "voice-gateway",
        "another-api",
    );
    let bad = [
        format!("{}.{payload}.", header("none")),
        format!("{}.{payload}.{signature}", header("HS512")),
        format!("{}.{payload}.{signature}", header("RS256")),
        format!("{}.{forged_claims}.{signature}", header("HS256")),
        wrong_secret.issue(&id, "admin", 0, 60).unwrap(),
        foreign_audience.issue(&id, "admin", 0, 60).unwrap(),
        "not-a-token".to_owned(),
    ];
    for token in bad {
        let reply = gw
            .send(gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(&token))
            .await;
        reply.expect_error(401);
    }
    let reply = gw
        .send(gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(&good))
        .await;
    reply.expect_status(200);
    gw.stop().await;
}

#[tokio::test]
async fn disabling_or_a_new_password_signs_a_user_out_at_once() {
    let gw = TestGateway::start().await;
    let (id, access, refresh) = user_with_role(&gw, "dora", "operator").await;
    let me = |token: String| gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(token);
    gw.send(me(access.clone())).await.expect_status(200);

    let patch = gw
        .client
        .patch(gw.url(&format!("/v1/users/{id}")))
        .json(&json!({"password": "another long password"}));
    gw.send(patch).await.expect_status(200);
    gw.send(me(access)).await.expect_error(401);
    let old_refresh = gw
        .anonymous
        .post(gw.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}));
    gw.send(old_refresh).await.expect_error(401);

    let (access, refresh) = login(&gw, "dora", "another long password").await;
    gw.send(me(access.clone())).await.expect_status(200);
    let disable = gw
        .client
        .patch(gw.url(&format!("/v1/users/{id}")))
        .json(&json!({"disabled": true}));
    gw.send(disable).await.expect_status(200);
    gw.send(me(access)).await.expect_error(401);
    let refreshed = gw
        .anonymous
        .post(gw.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}));
    gw.send(refreshed).await.expect_error(401);
    let login_again = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", "dora"),
        ("password", "another long password"),
    ]);
    gw.send(login_again).await.expect_error(401);
    gw.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_login() {
    let gw = TestGateway::start().await;
    let (_, _, refresh) = user_with_role(&gw, "lou", "viewer").await;
    let logout = gw
        .anonymous
        .post(gw.url("/v1/auth/logout"))
        .json(&json!({"refresh_token": refresh}));
    gw.send(logout).await.expect_status(204);
    let again = gw
        .anonymous
        .post(gw.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}));
    gw.send(again).await.expect_error(401);
    let grant = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ]);
    gw.send(grant).await.expect_error(401);
    gw.stop().await;
}

#[tokio::test]
async fn failed_logins_look_alike_and_are_limited() {
    let gw = TestGateway::start().await;
    user_with_role(&gw, "rita", "viewer").await;
    let attempt = |user: &'static str| {
        gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", "wrong password!"),
        ])
    };
    let wrong_password = gw.send(attempt("rita")).await;
    let unknown_user = gw.send(attempt("nobody")).await;
    let a = wrong_password.expect_error(401);
    let b = unknown_user.expect_error(401);
    assert_eq!(
        a["error"], b["error"],
        "unknown users and wrong passwords look the same"
    );
    // Five failures of one user from one address within the window (one above, four here),
    // then 429.
    for _ in 0..4 {
        gw.send(attempt("rita")).await.expect_error(401);
    }
    let limited = gw.send(attempt("rita")).await;
    limited.expect_error(429);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 0);

    let failures = gw
        .get_json("/v1/audit?action=auth.login&outcome=failure")
        .await;
    // The six refused passwords (five of rita's, one of the unknown user's); the 429 is not
    // audited (floods add no rows).
    assert_eq!(failures["items"].as_array().unwrap().len(), 6, "{failures}");
    assert!(
        !failures.to_string().contains("wrong password"),
        "no password in the audit log"
    );
    gw.stop().await;
}

/// Failed logins are audited with the sender's text as the name: cut short, and a flood answered
/// 429 adds no rows at all.
#[tokio::test]
async fn login_floods_add_no_audit_rows_and_names_are_cut() {
    let gw = TestGateway::start().await;
    user_with_role(&gw, "rita", "viewer").await;
    let attempt = |user: &str| {
        gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", "wrong password!"),
        ])
    };
    // Each login name may fail five times from one address (see the limiter); overlong names
    // share one limiter key and are refused without a password check.
    let long = "n".repeat(100_000);
    for _ in 0..5 {
        gw.send(attempt(&long)).await.expect_error(401);
        gw.send(attempt("rita")).await.expect_error(401);
    }
    let rows = "SELECT COUNT(*) FROM audit_log";
    let before = gw.database_scalar(rows).await;
    for user in ["rita", long.as_str()].iter().cycle().take(30) {
        gw.send(attempt(user)).await.expect_error(429);
    }
    assert_eq!(gw.database_scalar(rows).await, before, "no rows for 429s");

    let failures = gw
        .list_items(
            "/v1/audit",
            &[("action", "auth.login"), ("outcome", "failure")],
        )
        .await;
    assert_eq!(failures.len(), 10, "{failures:?}");
    let longest = gw
        .database_scalar("SELECT CAST(MAX(LENGTH(actor_name)) AS BIGINT) FROM audit_log")
        .await;
    assert!(longest <= 65, "an actor name of {longest} characters");
    assert!(
        failures.iter().any(|f| f["actor_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("nnnn") && n.ends_with('…'))),
        "{failures:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn call_creation_and_admin_actions_are_audited() {
    let gw = TestGateway::start().await;
    let id = gw.create_call_on("frozen", TO).await;
    gw.post_json("/v1/api-keys", &json!({"name": "svc", "role": "viewer"}))
        .await
        .expect_status(201);
    let audit = gw.get_json("/v1/audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"call.create") && actions.contains(&"api_key.create"),
        "{actions:?}"
    );
    let created = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "call.create")
        .unwrap();
    assert_eq!(created["target"], format!("call:{id}"));
    assert_eq!(created["actor_type"], "api_key");
    assert!(
        created["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        !audit.to_string().contains(&gw.admin_key),
        "no key in the audit log"
    );
    gw.stop().await;
}

#[tokio::test]
async fn access_tokens_stop_with_their_login_and_only_theirs() {
    let gw = TestGateway::start().await;
    let (_, first_access, first_refresh) = user_with_role(&gw, "liv", "viewer").await;
    let (second_access, second_refresh) = login(&gw, "liv", PASSWORD).await;
    let me = |token: &str| gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(token);
    let refresh = |token: &str| {
        gw.anonymous
            .post(gw.url("/v1/auth/refresh"))
            .json(&json!({"refresh_token": token}))
    };

    // Logging out ends that login's access token at once; the other login goes on.
    let logout = gw
        .anonymous
        .post(gw.url("/v1/auth/logout"))
        .json(&json!({"refresh_token": first_refresh}));
    gw.send(logout).await.expect_status(204);
    gw.send(me(&first_access)).await.expect_error(401);
    gw.send(me(&second_access)).await.expect_status(200);

    // A reused refresh token revokes its family's access tokens, old and new.
    let rotated = gw.send(refresh(&second_refresh)).await;
    rotated.expect_status(200);
    let newest_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    gw.send(me(&newest_access)).await.expect_status(200);
    gw.send(refresh(&second_refresh)).await.expect_error(401);
    gw.send(me(&second_access)).await.expect_error(401);
    gw.send(me(&newest_access)).await.expect_error(401);

    // A new login works.
    let (access, _) = login(&gw, "liv", PASSWORD).await;
    gw.send(me(&access)).await.expect_status(200);
    gw.stop().await;
}

#[tokio::test]
async fn api_keys_record_their_last_use_and_stop_while_their_creator_is_disabled() {
    let gw = TestGateway::start().await;
    let (admin_id, admin_access, _) = user_with_role(&gw, "ines", "admin").await;
    let created = gw
        .send(
            gw.anonymous
                .post(gw.url("/v1/api-keys"))
                .bearer_auth(&admin_access)
                .json(&json!({"name": "dialer", "role": "viewer"})),
        )
        .await;
    created.expect_status(201);
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["last_used_at"], serde_json::Value::Null);
    let me = || gw.anonymous.get(gw.url("/v1/auth/me")).bearer_auth(&key);
    let last_used = || async {
        let keys = gw.get_json("/v1/api-keys").await;
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()["last_used_at"]
            .clone()
    };

    gw.send(me()).await.expect_status(200);
    let deadline = tokio::time::Instant::now() + crate::harness::WAIT;
    let first = loop {
        let at = last_used().await;
        if !at.is_null() {
            break at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "last_used_at never set"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Within the minute, further uses do not write it again.
    for _ in 0..3 {
        gw.send(me()).await.expect_status(200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(last_used().await, first);

    // While its creator is disabled the key is refused; enabled again, it works again.
    let set_disabled = |disabled: bool| {
        gw.client
            .patch(gw.url(&format!("/v1/users/{admin_id}")))
            .json(&json!({ "disabled": disabled }))
    };
    gw.send(set_disabled(true)).await.expect_status(200);
    gw.send(me()).await.expect_error(401);
    gw.send(set_disabled(false)).await.expect_status(200);
    gw.send(me()).await.expect_status(200);
    gw.stop().await;
}
