//! Login under attack: attempts counted before hashing, a bounded number of password hashes at
//! once, limits per (user, address).

use futures_util::future::join_all;
use serde_json::json;

use crate::harness::{GatewayConfig, PROVIDERS, Reply, TestGateway};

const PASSWORD: &str = "correct horse battery";

async fn start(auth: &str) -> TestGateway {
    let config = GatewayConfig::new()
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
    let gw = start("login_max_failures = 1000").await;
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
