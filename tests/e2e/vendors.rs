//! The scenarios every vendor provider runs end to end, written once. [`Vendor`] describes what
//! differs between vendors (their instances, API paths and answers, webhooks and signatures,
//! what calls must show); the scenarios are generic over it, and [`vendor_scenarios!`] expands
//! them into one test each in the vendor's module. A new vendor: implement [`Vendor`], write
//! `vendor_scenarios!(TheVendor);` in its module, and add there the tests only it needs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Headers, MockedGateway, TO, Turn, assert_api_key, assert_fields, assert_turns, changed,
    error_call_id, expect_code, expect_outcome, expect_unknown_outcome, gateway_id_sent, id_of,
    parse, sorted, unix_now,
};
use crate::mock_vendor::MockReply;

/// A vendor as the shared scenarios see it, implemented by an uninhabited type. The instances
/// are tables of [`Vendor::providers_toml`]; `*_FIELDS` are JSON objects of what a call shows
/// (as for [`assert_fields!`]); `{id}` in a path or key stands for the vendor's call id.
pub trait Vendor: Sized {
    const KIND: &'static str;
    /// Where calls naming no provider go; its webhooks carry [`Vendor::credentials`].
    const DEFAULT_PROVIDER: &'static str;
    /// Gives the vendor 300 ms to answer.
    const TIMEOUT_PROVIDER: &'static str;
    /// Its `base_url` is a port nothing listens on.
    const DOWN_PROVIDER: &'static str;
    /// Its webhooks are signed with a timestamp, as [`Vendor::sign`] does.
    const SIGNED_PROVIDER: &'static str;
    /// No secret; unsigned webhooks refused (the default), or allowed.
    const UNSIGNED_PROVIDER: &'static str;
    const OPEN_PROVIDER: &'static str;
    /// Every instance above (and the vendor's own), calling the mock at `mock_url`.
    fn providers_toml(mock_url: &str) -> String;
    /// Sets up the mock before the gateway starts (e.g. the request shapes it enforces).
    fn prepare_mock(_mock: &crate::mock_vendor::MockVendor) {}
    /// The vendor deduplicates creates by an idempotency key (the manifest declares
    /// `idempotent_create`): a create of unknown outcome is sent again, up to three times.
    const IDEMPOTENT_CREATE: bool = false;

    /// Where calls are created (`POST`) and fetched (`GET`); the API key header sent there.
    const CREATE_PATH: &'static str;
    const FETCH_PATH: &'static str;
    const API_KEY_HEADER: (&'static str, &'static str);
    /// The vendor's 503, 429 and 500 answers to a create; its error answer to a fetch.
    const UNAVAILABLE: &'static str;
    const RATE_LIMITED: &'static str;
    const INTERNAL_ERROR: &'static str;
    const FETCH_ERROR: (u16, &'static str);
    /// Two answers refusing a create for good: status, body, what the failure reason quotes.
    const REFUSALS: [(u16, &'static str, &'static str); 2];
    /// Vendor call ids here are this and a tag unique within a test.
    const ID_PREFIX: &'static str;
    /// The answer accepting a call as `vendor_id`, and what the call then shows.
    fn accepted(gw: &MockedGateway<Self>, vendor_id: &str) -> MockReply;
    const ACCEPTED_FIELDS: &'static str = "{}";
    /// The field of a create request carrying the gateway's call id.
    const GATEWAY_ID_FIELD: &'static str;
    /// Checks the create request of call `id`, placed with [`documented_call`].
    fn assert_documented_request(request: &Value, id: &str);
    /// What no answer may show: always, and about the call accepted as `vendor_id`.
    const SECRETS: &'static [&'static str];
    fn hidden(_gw: &MockedGateway<Self>, _vendor_id: &str) -> Vec<String> {
        vec![]
    }

    /// The secret of the signed instances. For [`Vendor::SIGNED_PROVIDER`], in seconds: how old
    /// a signature may be and still be taken, how old is stale, how far ahead is refused.
    const WEBHOOK_SECRET: &'static str;
    const SIGNATURE_WINDOW: (i64, i64, i64);
    /// Appended to an instance's webhook path for post-call reports (e.g. `/post-call`).
    const REPORT_TOPIC: &'static str = "";
    /// The default instance's credentials for `body`.
    fn credentials(body: &str) -> Headers;
    /// `body` signed as [`Vendor::SIGNED_PROVIDER`] takes it, with `secret` at unix second `t`.
    fn sign(body: &str, secret: &str, t: i64) -> Headers;
    /// Other signatures of `body` at `t` that are refused (parts missing, ...).
    fn forged(_body: &str, _t: i64) -> Vec<Headers> {
        vec![]
    }
    /// Credentials of other schemes than the default's and the signed instance's.
    fn other_credentials() -> Vec<Headers> {
        vec![]
    }
    /// Bodies about the call placed as `{ID_PREFIX}malformed` that pass authentication but
    /// are not the vendor's webhooks.
    const MALFORMED: &'static [&'static str];

    /// The post-call report completing the call placed as `vendor_id` (naming the gateway's id
    /// too if given); the fields a changed copy sets (still the same event); its receipt's
    /// event type and dedupe key; the vendor status and reason (if any) of its `completed`
    /// event; what the call then shows; the turns, and some of their offsets (by index), of a
    /// call that had nothing else.
    fn report(gw: &MockedGateway<Self>, vendor_id: &str, id: Option<&str>) -> Value;
    const CHANGED_REPORT: &'static str;
    const REPORT_EVENT_TYPE: &'static str;
    const REPORT_DEDUPE_KEY: &'static str;
    const REPORT_ENDING: (&'static str, Option<&'static str>);
    const REPORT_FIELDS: &'static str;
    const REPORT_TURNS: &'static [Turn];
    const REPORT_OFFSETS: &'static [(usize, f64)];
    /// The event types to applications the report causes, besides status changes and the end.
    const REPORT_EVENTS: &'static [&'static str] = &["call.transcript.finalized"];
    /// The first webhook about a placed call (by default the report); the status it gives,
    /// what the call then shows and how many turns it has.
    fn first_webhook(gw: &MockedGateway<Self>, vendor_id: &str, id: Option<&str>) -> Value {
        Self::report(gw, vendor_id, id)
    }
    const FIRST_STATUS: &'static str = "completed";
    const FIRST_FIELDS: &'static str = "{}";
    const FIRST_TURNS: usize = Self::REPORT_TURNS.len();
    /// Webhooks about calls the gateway does not know.
    fn unknown_call_webhooks(gw: &MockedGateway<Self>) -> Vec<Value>;

    /// Scripts the mock to answer fetches of `vendor_id` (gateway call `id`) with a finished
    /// call: what the call then shows, its turns, the `completed` event's vendor status, and
    /// what the call must not keep of the fetched one.
    fn mock_finished(gw: &MockedGateway<Self>, vendor_id: &str, id: &str);
    const FINISHED_FIELDS: &'static str;
    const FINISHED_TURNS: &'static [Turn];
    const FINISHED_VENDOR_STATUS: &'static str;
    const FINISHED_NOT_KEPT: &'static [&'static str] = &[];
}

/// `pattern` with `{id}` replaced by `vendor_id`.
pub fn with_id(pattern: &str, vendor_id: &str) -> String {
    pattern.replace("{id}", vendor_id)
}

/// One test per shared scenario for `$vendor`, in the module it is invoked in.
macro_rules! vendor_scenarios {
    ($vendor:ty) => {
        $crate::vendors::vendor_scenarios!(
            @each $vendor;
            create_call_sends_the_documented_request,
            create_503_then_success_places_exactly_one_call,
            create_429_retry_after_is_honoured,
            create_503_every_time_gives_up_after_three_attempts,
            unreachable_vendor_fails_the_call,
            create_refusal_fails_the_call_at_once_with_the_vendor_message,
            timeout_and_500_are_unknown_outcomes_settled_by_webhooks,
            post_call_report_completes_the_call_once,
            hidden_values_are_not_in_answers_or_receipts,
            bad_stale_or_missing_signatures_are_401,
            malformed_authenticated_webhooks_are_400,
            without_secrets_unsigned_webhooks_are_refused_unless_allowed,
            webhook_for_an_unknown_call_is_404,
            refresh_fetches_the_call_and_applies_it,
            reconciler_completes_a_stuck_call_on_its_own,
            events_reach_the_application_signed_and_in_order,
        );
    };
    (@each $vendor:ty; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                $crate::vendors::$scenario::<$vendor>().await;
            }
        )*
    };
}
pub(crate) use vendor_scenarios;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

impl<V: Vendor> MockedGateway<V> {
    /// Delivers [`Vendor::first_webhook`] for `vendor_id` and call `id` to `provider`, and
    /// checks what it did.
    async fn settle(&self, provider: &str, vendor_id: &str, id: &str) {
        let first = V::first_webhook(self, vendor_id, Some(id));
        let answer = self.apply(provider, &first).await;
        assert_eq!(answer["call_id"], id, "{answer}");
        let call = self.call(id).await;
        assert_fields!(call, {"status": V::FIRST_STATUS, "provider_call_id": vendor_id});
        assert_fields!(call, parse(V::FIRST_FIELDS));
        assert_eq!(self.transcript(id).await.len(), V::FIRST_TURNS);
    }

    /// Delivers `report` (applied to call `id` of the default instance) again on the report
    /// path, and a changed one: duplicates, applied zero times.
    pub async fn redeliver_report(&self, report: &Value, id: &str, vendor_id: &str) {
        let (turns, events) = (self.transcript(id).await, self.events(id).await);
        let summary = self.call(id).await["summary"].clone();
        let provider = V::DEFAULT_PROVIDER;
        for (path, body) in [
            (format!("{provider}{}", V::REPORT_TOPIC), report.clone()),
            (
                provider.to_owned(),
                changed(report, &parse(V::CHANGED_REPORT)),
            ),
        ] {
            let answer = expect_outcome(&self.deliver(&path, &body).await, "duplicate");
            assert_eq!(answer["call_id"], id, "{answer}");
        }
        assert_eq!(self.transcript(id).await, turns, "no turn added twice");
        assert_eq!(self.events(id).await, events);
        assert_eq!(self.call(id).await["summary"], summary);
        let completed: Vec<&Value> = events
            .iter()
            .filter(|e| e["to_status"] == "completed")
            .collect();
        assert_eq!(completed.len(), 1, "{events:?}");
        let (vendor_status, reason) = V::REPORT_ENDING;
        assert_eq!(completed[0]["vendor_status"], vendor_status, "{events:?}");
        if let Some(reason) = reason {
            assert_eq!(completed[0]["reason"], reason, "{events:?}");
        }
        let mut receipts = self.receipts(&[("call_id", id)]).await;
        receipts.retain(|r| r["event_type"] == V::REPORT_EVENT_TYPE);
        let outcomes = sorted(&receipts, "outcome");
        assert_eq!(
            outcomes,
            ["applied", "duplicate", "duplicate"],
            "{receipts:?}"
        );
        let key = with_id(V::REPORT_DEDUPE_KEY, vendor_id);
        for receipt in &receipts {
            assert_fields!(receipt, {"signature": "verified", "dedupe_key": key});
        }
    }

    /// Checks call `id` after the finished call of [`Vendor::mock_finished`] was applied.
    pub async fn assert_finished(&self, id: &str, vendor_id: &str) {
        let call = self.call(id).await;
        assert_fields!(call, {"status": "completed", "provider_call_id": vendor_id});
        assert_fields!(call, parse(V::FINISHED_FIELDS));
        for kept in V::FINISHED_NOT_KEPT {
            assert!(!call.to_string().contains(kept), "{kept} kept: {call}");
        }
        assert_turns(&self.transcript(id).await, V::FINISHED_TURNS);
        let events = self.events(id).await;
        let completed = events.iter().find(|e| e["to_status"] == "completed");
        let completed = completed.unwrap_or_else(|| panic!("no completed event: {events:?}"));
        let vendor_status = V::FINISHED_VENDOR_STATUS;
        assert_fields!(completed, {"source": "reconcile", "vendor_status": vendor_status});
    }
}

/// The body of the documented create request: variables, and metadata the gateway keeps.
pub fn documented_call<V: Vendor>() -> Value {
    json!({
        "to": TO,
        "provider": V::DEFAULT_PROVIDER,
        "variables": {"customer_name": "Ada", "slot": 3},
        "metadata": {"crm_id": "drv-42"},
    })
}

fn tagged<V: Vendor>(tag: &str) -> String {
    format!("{}{tag}", V::ID_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Placing calls
// ---------------------------------------------------------------------------------------------

pub async fn create_call_sends_the_documented_request<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let vendor_id = tagged::<V>("documented");
    gw.next_create(V::accepted(&gw, &vendor_id));

    let reply = gw.create(documented_call::<V>()).await;
    reply.expect_status(201);
    gw.assert_hidden(&reply.text, &vendor_id, "the create answer");
    let call = reply.json();
    let id = id_of(&call);
    let location = format!("/v1/calls/{id}");
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert_fields!(call, {"provider": V::DEFAULT_PROVIDER, "provider_kind": V::KIND,
        "status": "initiating", "provider_call_id": vendor_id});
    assert_fields!(call, parse(V::ACCEPTED_FIELDS));

    // Exactly one request reached the vendor, and it is the documented one.
    let received = gw.mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let sent = &received[0];
    let route = (sent.method.as_str(), sent.path.as_str());
    assert_eq!(route, ("POST", V::CREATE_PATH));
    assert_api_key::<V>(sent);
    let content_type = sent.header("content-type").unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{sent:?}");
    V::assert_documented_request(&sent.json(), &id);

    // The stored call says the same; neither it nor the list shows what is hidden.
    let stored = gw.call(&id).await;
    assert_fields!(stored, {"provider_call_id": vendor_id});
    assert_fields!(stored, parse(V::ACCEPTED_FIELDS));
    gw.assert_hidden(&stored.to_string(), &vendor_id, "GET /v1/calls/{id}");
    let listed = gw.get_json("/v1/calls").await;
    gw.assert_hidden(&listed.to_string(), &vendor_id, "GET /v1/calls");
    gw.stop().await;
}

pub async fn create_503_then_success_places_exactly_one_call<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    gw.next_create(MockReply::json(503, V::UNAVAILABLE));
    let id = gw
        .accepted_call(V::DEFAULT_PROVIDER, &tagged::<V>("retried"))
        .await;

    let posts = gw.creates();
    assert_eq!(posts.len(), 2, "one refused attempt, one accepted");
    // The retry is the same request, for the same gateway call.
    assert_eq!(posts[0].json(), posts[1].json());
    assert_eq!(gateway_id_sent::<V>(&posts[1]), id.as_str());
    let items = gw.list_items("/v1/calls", &[]).await;
    assert_eq!(items.len(), 1, "one call exists: {items:?}");
    assert_eq!(id_of(&items[0]), id);
    gw.stop().await;
}

pub async fn create_429_retry_after_is_honoured<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let limited = MockReply::json(429, V::RATE_LIMITED).header("retry-after", "1");
    gw.next_create(limited);
    gw.accepted_call(V::DEFAULT_PROVIDER, &tagged::<V>("patient"))
        .await;

    let posts = gw.creates();
    assert_eq!(posts.len(), 2);
    let waited = posts[1].at.duration_since(posts[0].at);
    let asked = "Retry-After: 1 asks for a second";
    assert!(
        waited >= Duration::from_millis(950),
        "{asked}, the gateway waited {waited:?}"
    );
    assert_eq!(gw.list_items("/v1/calls", &[]).await.len(), 1);
    gw.stop().await;
}

pub async fn create_503_every_time_gives_up_after_three_attempts<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    gw.every_create(MockReply::json(503, V::UNAVAILABLE));
    gw.rejected_call(V::DEFAULT_PROVIDER).await;
    assert_eq!(gw.creates().len(), 3);
    gw.stop().await;
}

pub async fn unreachable_vendor_fails_the_call<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let (_, id) = gw.rejected_call(V::DOWN_PROVIDER).await;
    let call = gw.call(&id).await;
    let reason = call["failure_reason"].as_str().unwrap_or("");
    assert!(reason.contains("could not reach"), "{call}");
    gw.stop().await;
}

pub async fn create_refusal_fails_the_call_at_once_with_the_vendor_message<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    for (status, body, _) in V::REFUSALS {
        gw.next_create(MockReply::json(status, body));
    }
    // Anything after those would be a retry.
    gw.every_create(V::accepted(&gw, &tagged::<V>("never")));

    for (position, (status, _, expected)) in V::REFUSALS.into_iter().enumerate() {
        let (error, id) = gw.rejected_call(V::DEFAULT_PROVIDER).await;
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(expected), "{expected}: {error}");
        let posts = gw.creates();
        assert_eq!(posts.len(), position + 1, "a {status} is not retried");
        assert_eq!(gateway_id_sent::<V>(&posts[position]), id.as_str());
        assert_eq!(gw.creates_for(&id).len(), 1, "exactly one POST for {id}");
        let call = gw.call(&id).await;
        assert_eq!(call["provider_call_id"], Value::Null, "{call}");
        // The failure reason keeps the vendor's message.
        let reason = call["failure_reason"].as_str().unwrap_or("");
        assert!(
            reason.contains(expected) && reason.contains(&status.to_string()),
            "{call}"
        );
    }
    gw.stop().await;
}

/// Both ambiguous outcomes (a timeout after sending, a 500) answer 202 without a retry (for a
/// vendor that deduplicates creates: after every attempt, each the same request); each call is
/// then settled by a webhook that finds it by the gateway's id.
pub async fn timeout_and_500_are_unknown_outcomes_settled_by_webhooks<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let attempts = if V::IDEMPOTENT_CREATE { 3 } else { 1 };
    let late = tagged::<V>("late");
    let too_late = V::accepted(&gw, &late).delayed(Duration::from_secs(3));
    for _ in 0..attempts {
        gw.next_create(too_late.clone());
    }
    let started = Instant::now();
    let reply = gw
        .create(json!({"to": TO, "provider": V::TIMEOUT_PROVIDER}))
        .await;
    let took = started.elapsed();
    let id = expect_unknown_outcome(&reply);
    // Each attempt waits 300 ms; resends add their backoff (at most 250 + 500 ms).
    let bound = if V::IDEMPOTENT_CREATE { 4000 } else { 2500 };
    assert!(
        took < Duration::from_millis(bound),
        "{took:?} for a vendor given 300 ms"
    );
    let sent = gw.creates_for(&id);
    assert_eq!(
        sent.len(),
        attempts,
        "a timeout is not retried (unless deduplicated)"
    );
    assert!(
        sent.iter().all(|r| r.json() == sent[0].json()),
        "resent as it was"
    );

    for _ in 0..attempts {
        gw.next_create(MockReply::json(500, V::INTERNAL_ERROR));
    }
    // Anything after that would be a retry.
    gw.every_create(V::accepted(&gw, &tagged::<V>("never")));
    let other_id = expect_unknown_outcome(&gw.create(json!({"to": TO})).await);
    let sent = gw.creates_for(&other_id);
    assert_eq!(
        sent.len(),
        attempts,
        "a 500 is not retried (unless deduplicated)"
    );
    assert!(
        sent.iter().all(|r| r.json() == sent[0].json()),
        "resent as it was"
    );

    // The vendor had placed both calls after all: their webhooks name the gateway's ids.
    gw.settle(V::TIMEOUT_PROVIDER, &late, &id).await;
    assert_eq!(gw.call(&other_id).await["status"], "initiating");
    assert_eq!(gw.creates_for(&id).len(), attempts, "no create since");
    gw.settle(V::DEFAULT_PROVIDER, &tagged::<V>("unsure"), &other_id)
        .await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// The report, correlated by the vendor's id alone, completes the call; delivered again or
/// changed it is a duplicate.
pub async fn post_call_report_completes_the_call_once<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let vendor_id = tagged::<V>("reported");
    let id = gw.accepted_call(V::DEFAULT_PROVIDER, &vendor_id).await;
    let report = V::report(&gw, &vendor_id, None);
    let answer = gw.apply(V::DEFAULT_PROVIDER, &report).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert!(answer["receipt_id"].is_string(), "{answer}");

    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed"});
    assert_fields!(call, parse(V::REPORT_FIELDS));
    gw.assert_hidden(&call.to_string(), &vendor_id, "the completed call");
    let turns = gw.transcript(&id).await;
    assert_turns(&turns, V::REPORT_TURNS);
    for &(turn, offset) in V::REPORT_OFFSETS {
        assert_eq!(turns[turn]["offset_secs"], json!(offset), "{turns:?}");
    }
    let events = gw.events(&id).await;
    let completed = events.iter().find(|e| e["to_status"] == "completed");
    let completed = completed.unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(completed["receipt_id"], answer["receipt_id"], "{completed}");

    gw.redeliver_report(&report, &id, &vendor_id).await;
    assert_eq!(gw.receipts(&[("call_id", &id)]).await.len(), 3);
    gw.stop().await;
}

/// What the vendor hands out as secret (e.g. VAPI's control URL, repeated in every webhook) is
/// in no answer: not the call, its events, the call list, the receipt list, stored receipts.
pub async fn hidden_values_are_not_in_answers_or_receipts<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let vendor_id = tagged::<V>("hidden");
    let id = gw.accepted_call(V::DEFAULT_PROVIDER, &vendor_id).await;
    let first = V::first_webhook(&gw, &vendor_id, Some(&id));
    let report = V::report(&gw, &vendor_id, Some(&id));
    gw.apply(V::DEFAULT_PROVIDER, &first).await;
    // A vendor whose first webhook is the report: the same delivery again.
    let outcome = if first == report {
        "duplicate"
    } else {
        "applied"
    };
    expect_outcome(&gw.deliver(V::DEFAULT_PROVIDER, &report).await, outcome);

    let listed = gw
        .get_json(&format!("/v1/webhook-receipts?call_id={id}"))
        .await;
    let receipts = listed["items"].as_array().expect("items");
    assert_eq!(receipts.len(), 2, "{listed}");
    gw.assert_hidden(&listed.to_string(), &vendor_id, "the receipt list");
    for receipt in receipts {
        let full = gw
            .get_json(&format!("/v1/webhook-receipts/{}", id_of(receipt)))
            .await;
        assert!(full["body"].is_string(), "{full}");
        gw.assert_hidden(&full.to_string(), &vendor_id, "a stored receipt");
    }
    let call = format!("/v1/calls/{id}");
    for path in [&call, &format!("{call}/events"), "/v1/calls"] {
        let shown = gw.get_json(path).await;
        gw.assert_hidden(&shown.to_string(), &vendor_id, path);
    }
    gw.stop().await;
}

pub async fn bad_stale_or_missing_signatures_are_401<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let (vendor_id, provider) = (tagged::<V>("sig"), V::SIGNED_PROVIDER);
    let id = gw.accepted_call(provider, &vendor_id).await;
    let body = V::first_webhook(&gw, &vendor_id, None).to_string();
    let (t, secret, (taken, stale, future)) = (unix_now(), V::WEBHOOK_SECRET, V::SIGNATURE_WINDOW);

    let wrong = gw
        .webhook_with(provider, &body, &V::sign(&body, "not-the-secret", t))
        .await;
    expect_code(&wrong, 401, "invalid_signature");
    // Signed, then changed; unsigned; stale (on the report path); from the future; forged.
    let tampered = body.replacen(&vendor_id, &format!("{vendor_id}0"), 1);
    assert_ne!(tampered, body);
    let report_path = format!("{provider}{}", V::REPORT_TOPIC);
    let mut refused = vec![
        (provider, &tampered, V::sign(&body, secret, t)),
        (provider, &body, vec![]),
        (
            report_path.as_str(),
            &body,
            V::sign(&body, secret, t - stale),
        ),
        (provider, &body, V::sign(&body, secret, t + future)),
    ];
    refused.extend(
        V::forged(&body, t)
            .into_iter()
            .map(|headers| (provider, &body, headers)),
    );
    for (path, body, headers) in &refused {
        gw.webhook_with(path, body, headers).await.expect_error(401);
    }

    // Nothing reached the call.
    assert_eq!(gw.call(&id).await["status"], "initiating");
    assert!(gw.transcript(&id).await.is_empty());
    let rejected = gw
        .receipts(&[("provider", provider), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), refused.len() + 1, "{rejected:?}");

    // Still within the window.
    let recent = V::sign(&body, secret, t - taken);
    expect_outcome(&gw.webhook_with(provider, &body, &recent).await, "applied");
    assert_eq!(gw.call(&id).await["status"], V::FIRST_STATUS);
    gw.stop().await;
}

pub async fn malformed_authenticated_webhooks_are_400<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let provider = V::DEFAULT_PROVIDER;
    let id = gw.accepted_call(provider, &tagged::<V>("malformed")).await;
    for bad in V::MALFORMED {
        let reply = gw.webhook_with(provider, bad, &V::credentials(bad)).await;
        assert_eq!(
            reply.expect_error(400)["error"]["code"],
            "malformed_webhook",
            "{bad}"
        );
    }
    assert_eq!(
        gw.call(&id).await["status"],
        "initiating",
        "nothing applied"
    );
    let rejected = gw
        .receipts(&[("provider", provider), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), V::MALFORMED.len(), "{rejected:?}");
    gw.stop().await;
}

pub async fn without_secrets_unsigned_webhooks_are_refused_unless_allowed<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let (vendor_id, provider) = (tagged::<V>("unsigned"), V::UNSIGNED_PROVIDER);
    let id = gw.accepted_call(provider, &vendor_id).await;
    let body = V::first_webhook(&gw, &vendor_id, Some(&id)).to_string();
    let mut paths = vec![
        provider.to_owned(),
        format!("{provider}{}", V::REPORT_TOPIC),
    ];
    paths.dedup();
    let signed = V::sign(&body, V::WEBHOOK_SECRET, unix_now());
    let mut credentials = vec![vec![], V::credentials(&body), signed];
    credentials.extend(V::other_credentials());
    for path in &paths {
        for headers in &credentials {
            gw.webhook_with(path, &body, headers)
                .await
                .expect_error(401);
        }
    }
    assert_eq!(gw.call(&id).await["status"], "initiating");

    // With allow_unsigned_webhooks = true the same delivery is taken, and recorded as unsigned.
    let open_vendor_id = tagged::<V>("open");
    let open_id = gw.accepted_call(V::OPEN_PROVIDER, &open_vendor_id).await;
    let body = V::first_webhook(&gw, &open_vendor_id, None).to_string();
    expect_outcome(
        &gw.webhook_raw(V::OPEN_PROVIDER, &body, &[]).await,
        "applied",
    );
    assert_eq!(gw.call(&open_id).await["status"], V::FIRST_STATUS);
    let receipts = gw.receipts(&[("call_id", &open_id)]).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["signature"], "unsigned", "{receipts:?}");
    gw.stop().await;
}

pub async fn webhook_for_an_unknown_call_is_404<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let provider = V::DEFAULT_PROVIDER;
    let known = gw.accepted_call(provider, &tagged::<V>("known")).await;
    let bodies = V::unknown_call_webhooks(&gw);
    for body in &bodies {
        let error = expect_code(&gw.deliver(provider, body).await, 404, "unknown_call");
        assert!(
            error["error"]["details"]["receipt_id"].is_string(),
            "{error}"
        );
    }
    let unknown = gw
        .receipts(&[("provider", provider), ("outcome", "unknown_call")])
        .await;
    assert_eq!(unknown.len(), bodies.len(), "{unknown:?}");
    for receipt in &unknown {
        assert_fields!(receipt, {"signature": "verified", "call_id": null});
    }
    assert_eq!(gw.call(&known).await["status"], "initiating", "untouched");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------------

pub async fn refresh_fetches_the_call_and_applies_it<V: Vendor>() {
    let gw = MockedGateway::<V>::start().await;
    let vendor_id = tagged::<V>("refresh");
    let id = gw.accepted_call(V::DEFAULT_PROVIDER, &vendor_id).await;
    let path = with_id(V::FETCH_PATH, &vendor_id);
    // A live call, if the vendor's first webhook leaves it live.
    let live = V::FIRST_STATUS != "completed";
    if live {
        gw.apply(
            V::DEFAULT_PROVIDER,
            &V::first_webhook(&gw, &vendor_id, Some(&id)),
        )
        .await;
    }
    let before = gw.call(&id).await["status"].clone();
    assert_eq!(before, if live { V::FIRST_STATUS } else { "initiating" });

    // A vendor error leaves the call as it was.
    let (status, body) = V::FETCH_ERROR;
    gw.mock.enqueue("GET", &path, MockReply::json(status, body));
    let error = gw.refresh(&id).await.expect_error(502);
    assert_eq!(error_call_id(&error), id, "{error}");
    assert_eq!(gw.call(&id).await["status"], before);

    // The report never came; the vendor has the finished call.
    V::mock_finished(&gw, &vendor_id, &id);
    let reply = gw.refresh(&id).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["status"], "completed", "{}", reply.text);
    let fetches = gw.mock.requests("GET", &path);
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    assert_api_key::<V>(&fetches[1]);
    gw.assert_finished(&id, &vendor_id).await;

    // A report arriving after all does not repeat the turns.
    let late = V::report(&gw, &vendor_id, Some(&id));
    gw.deliver(V::DEFAULT_PROVIDER, &late)
        .await
        .expect_status(200);
    assert_eq!(gw.call(&id).await["status"], "completed");
    let turns = gw.transcript(&id).await;
    let mut seen: Vec<String> = turns
        .iter()
        .map(|t| format!("{}: {}", t["speaker"], t["text"]))
        .collect();
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no duplicated turns: {turns:?}");
    gw.stop().await;
}

pub async fn reconciler_completes_a_stuck_call_on_its_own<V: Vendor>() {
    let gw = MockedGateway::<V>::start_with(0, 1).await;
    // The reconciler may ask before the finished call is scripted: that error only delays it
    // (backoff of a few seconds).
    let vendor_id = tagged::<V>("stuck");
    let id = gw.accepted_call(V::DEFAULT_PROVIDER, &vendor_id).await;
    V::mock_finished(&gw, &vendor_id, &id);

    gw.wait_for_status_within(&id, "completed", Duration::from_secs(10))
        .await;
    let fetches = gw.mock.requests("GET", &with_id(V::FETCH_PATH, &vendor_id));
    assert!(!fetches.is_empty());
    assert_api_key::<V>(&fetches[0]);
    gw.assert_finished(&id, &vendor_id).await;
    gw.stop().await;
}

/// Events to applications (issue 16): a call of the vendor, accepted then reported, reaches a
/// registered endpoint as the same events as the log, each once, in per-call `sequence` order,
/// each signed per Standard Webhooks (checked with the algorithm, as `events` does).
pub async fn events_reach_the_application_signed_and_in_order<V: Vendor>() {
    let gw = MockedGateway::<V>::start_and(crate::events::EVENTS).await;
    let receiver = crate::mock_vendor::MockVendor::start().await;
    receiver.always("POST", "/hooks", MockReply::json(200, "{}"));
    let url = format!("{}/hooks", receiver.base_url());
    let (_, secret) = crate::events::endpoint(&gw, &url, json!({})).await;
    let vendor_id = tagged::<V>("evented");
    let id = gw.accepted_call(V::DEFAULT_PROVIDER, &vendor_id).await;
    let report = V::report(&gw, &vendor_id, None);
    gw.apply(V::DEFAULT_PROVIDER, &report).await;
    assert_eq!(gw.call(&id).await["status"], "completed");

    // The call's logged events (in `sequence` order), and the receiver's, until they agree.
    let ids = |events: &[Value]| -> Vec<Value> { events.iter().map(|e| e["id"].clone()).collect() };
    let deadline = Instant::now() + crate::harness::WAIT;
    let (logged, requests, events) = loop {
        let mut logged = gw
            .list_items("/v1/events", &[("call_id", id.as_str())])
            .await;
        logged.sort_by_key(|e| e["sequence"].as_i64());
        let requests = crate::events::received(&receiver, "/hooks", logged.len()).await;
        let events: Vec<Value> = requests.iter().map(|r| r.json()).collect();
        if ids(&events) == ids(&logged) || Instant::now() > deadline {
            break (logged, requests, events);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ids(&events), ids(&logged), "{events:?}\n{logged:?}");
    let sequences: Vec<Option<i64>> = events.iter().map(|e| e["sequence"].as_i64()).collect();
    let expected: Vec<Option<i64>> = (1..=events.len() as i64).map(Some).collect();
    assert_eq!(sequences, expected, "{events:?}");
    for request in &requests {
        assert!(
            crate::events::verify(&secret, request),
            "signature of {:?}",
            request.json()
        );
        assert_eq!(request.header("webhook-id"), request.json()["id"].as_str());
    }
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"call.created"), "{kinds:?}");
    assert!(kinds.contains(&"call.status_changed"), "{kinds:?}");
    for kind in V::REPORT_EVENTS {
        assert!(kinds.contains(kind), "no {kind}: {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"call.ended"), "{kinds:?}");
    let ended = &events[events.len() - 1];
    assert_fields!(ended["data"]["call"], {"id": id, "status": "completed"});
    let call = gw.call(&id).await;
    if let Some(finalized) = events
        .iter()
        .find(|e| e["type"] == "call.transcript.finalized")
    {
        let turns = finalized["data"]["turns"].as_array().map(Vec::len);
        assert_eq!(turns, Some(gw.transcript(&id).await.len()), "{finalized}");
        assert_eq!(finalized["data"]["call"]["id"], id.as_str());
    }
    if let Some(recording) = events.iter().find(|e| e["type"] == "call.recording.ready") {
        assert_eq!(recording["data"]["recording_url"], call["recording_url"]);
        assert!(
            recording["data"]["recording_url"].is_string(),
            "{recording}"
        );
    }
    for event in &events {
        assert_eq!(event["call_id"], id.as_str(), "{event}");
    }
    gw.stop().await;
}
