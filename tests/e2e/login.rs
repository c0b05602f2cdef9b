//! Login under attack: attempts counted before hashing, a bounded number of password hashes at
//! once, limits per (user, address).

use futures_util::future::join_all;
use serde_json::json;

use crate::harness::{GatewayConfig, PROVIDERS, Reply, TestGateway};

const PASSWORD: &str = "correct horse battery";

async fn start(auth: &str) -> TestGateway {
    start_with("", auth).await
}

async fn start_with(server: &str, auth: &str) -> TestGateway {
    let config = GatewayConfig::new()
        .server(server)
        .gateway(r#"default_provider = "echo""#)
        .auth(auth)
        .sections(PROVIDERS);
    TestGateway::start_config(&config).await
}

async fn create_user(gw: &TestGateway, name: &str) {
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "role": "admin"});
    gw.post_json("/v1/users", &body).await.expect_status(201);
}

/// `n` logins as `user` with `password` at once; their answers.
async fn parallel_replies(gw: &TestGateway, user: &str, password: &str, n: usize) -> Vec<Reply> {
    let attempts = (0..n).map(|_| {
        let request = gw.anonymous.post(gw.url("/v1/auth/token")).form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ]);
        gw.send(request)
    });
    join_all(attempts).await
}

/// `n` logins as `user` with `password` at once; their statuses.
async fn parallel_logins(gw: &TestGateway, user: &str, password: &str, n: usize) -> Vec<u16> {
    statuses(&parallel_replies(gw, user, password, n).await)
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|reply| reply.status.as_u16()).collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// This process's resident memory and its peak so far, in MiB.
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_hashed() {
    let gw = TestGateway::start().await;
    create_user(&gw, "petra").await;
    let statuses = parallel_logins(&gw, "petra", "wrong password!", 20).await;
    // login_max_failures = 5: at most five attempts reach the password check.
    assert!(count(&statuses, 401) <= 5, "{statuses:?}");
    assert_eq!(
        count(&statuses, 401) + count(&statuses, 429),
        20,
        "{statuses:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn parallel_logins_hash_a_bounded_number_of_passwords_at_once() {
    // Limits high enough that every attempt reaches the password check.
    let gw = start("login_max_failures = 1000\nlogin_max_failures_per_address = 1000").await;
    create_user(&gw, "hugo").await;
    let (rss_before, peak_before) = memory_mib();
    let replies = parallel_replies(&gw, "hugo", "wrong password!", 40).await;
    let (rss_after, peak_after) = memory_mib();
    let statuses = statuses(&replies);
    println!(
        "40 parallel logins: RSS {rss_before} -> {rss_after} MiB, peak {peak_before} -> {peak_after} MiB; {statuses:?}"
    );
    assert_eq!(
        count(&statuses, 401) + count(&statuses, 503),
        40,
        "{statuses:?}"
    );
    let hasher = gw.server().gateway().auth.hasher();
    assert!(
        hasher.peak_in_flight() <= hasher.capacity(),
        "{} hashes at once, capacity {}",
        hasher.peak_in_flight(),
        hasher.capacity()
    );
    for reply in replies.iter().filter(|r| r.status == 503) {
        assert_eq!(reply.expect_error(503)["error"]["code"], "busy");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    // A login after the burst is served.
    let statuses = parallel_logins(&gw, "hugo", PASSWORD, 1).await;
    assert_eq!(statuses, [200]);
    gw.stop().await;
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address reaches the gateway).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// One login with `client`, with extra headers; its answer.
async fn login_with(
    gw: &TestGateway,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
    user: &str,
    password: &str,
) -> Reply {
    let mut request = client.post(gw.url("/v1/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    gw.send(request).await
}

#[tokio::test]
async fn an_attackers_failures_never_lock_the_user_out_at_another_address() {
    let gw = TestGateway::start().await;
    create_user(&gw, "alma").await;
    let attacker = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = login_with(&gw, &attacker, &[], "alma", "wrong password!").await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // The admin, elsewhere, with the right password.
    let admin = client_from("127.0.0.3");
    login_with(&gw, &admin, &[], "alma", PASSWORD)
        .await
        .expect_status(200);
    // At the attacker's address the user waits too (a growing delay, not the whole window).
    let reply = login_with(&gw, &attacker, &[], "alma", PASSWORD).await;
    reply.expect_error(429);
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    gw.stop().await;
}

#[tokio::test]
async fn an_address_is_capped_across_usernames() {
    let gw = start("login_max_failures_per_address = 3").await;
    create_user(&gw, "olga").await;
    let sprayer = client_from("127.0.0.4");
    for user in ["olga", "nobody", "someone"] {
        login_with(&gw, &sprayer, &[], user, "wrong password!")
            .await
            .expect_error(401);
    }
    login_with(&gw, &sprayer, &[], "another", "wrong password!")
        .await
        .expect_error(429);
    login_with(&gw, &client_from("127.0.0.5"), &[], "olga", PASSWORD)
        .await
        .expect_status(200);
    gw.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    // Behind a trusted proxy (the test client's own address), the forwarded client counts.
    let gw = start_with(r#"trusted_proxies = ["127.0.0.1/32"]"#, "").await;
    create_user(&gw, "bea").await;
    let from = |addr: &'static str| [("x-forwarded-for", addr)];
    for _ in 0..5 {
        login_with(
            &gw,
            &gw.anonymous,
            &from("203.0.113.7"),
            "bea",
            "wrong password!",
        )
        .await
        .expect_error(401);
    }
    login_with(
        &gw,
        &gw.anonymous,
        &from("203.0.113.7"),
        "bea",
        "wrong password!",
    )
    .await
    .expect_error(429);
    // A client that invents hops left of the real one gains nothing.
    let invented = [("x-forwarded-for", "198.51.100.2, 203.0.113.7")];
    login_with(&gw, &gw.anonymous, &invented, "bea", PASSWORD)
        .await
        .expect_error(429);
    login_with(&gw, &gw.anonymous, &from("198.51.100.2"), "bea", PASSWORD)
        .await
        .expect_status(200);
    let audit = gw
        .get_json("/v1/audit?action=auth.login&outcome=success")
        .await;
    assert_eq!(audit["items"][0]["client_addr"], "198.51.100.2", "{audit}");
    gw.stop().await;

    // Without trusted proxies the header is the client's to invent, and ignored.
    let gw = TestGateway::start().await;
    create_user(&gw, "bea").await;
    for _ in 0..5 {
        login_with(
            &gw,
            &gw.anonymous,
            &from("203.0.113.7"),
            "bea",
            "wrong password!",
        )
        .await
        .expect_error(401);
    }
    login_with(&gw, &gw.anonymous, &from("198.51.100.2"), "bea", PASSWORD)
        .await
        .expect_error(429);
    gw.stop().await;
}
