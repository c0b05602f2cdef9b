//! The `retell` provider end to end: the real gateway in-process, with Retell instances whose
//! `base_url` is a local mock of Retell's API (see `mock_vendor`) that refuses (422) requests not
//! of the shapes the official SDK defines. Webhooks are played over HTTP, signed as Retell signs
//! them (computed here, not by the provider). The scenarios every vendor runs are in `vendors`;
//! here is what Retell does alone.

use std::collections::BTreeSet;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{
    Headers, MockedGateway, Reply, TO, Turn, assert_fields, assert_turns, closed_port, edited,
    error_call_id, expect_code, expect_outcome, expect_unknown_outcome, fixture, id_of, parse,
    sorted, unix_now,
};
use crate::mock_vendor::{MockReply, MockVendor, Received};
use crate::vendors::{Vendor, vendor_scenarios, with_id};

const API_KEY: &str = "key_e2e_retell_webhook";
const UNSIGNED_KEY: &str = "key_e2e_retell_unsigned";
const OPEN_KEY: &str = "key_e2e_retell_open";
const FROM: &str = "+14157774444";
const AGENT: &str = "agent_e2e";
const WEBHOOK_URL: &str = "https://gw.example.com/webhooks/retell";
const CREATE: &str = "/v2/create-phone-call";
const LIST: &str = "/v3/list-calls";

const CREATED: &str = fixture!("retell", "create_call_response");
const STARTED: &str = fixture!("retell", "webhook_call_started");
const TRANSCRIPT: &str = fixture!("retell", "webhook_transcript_updated");
const ENDED: &str = fixture!("retell", "webhook_call_ended");
const ANALYZED: &str = fixture!("retell", "webhook_call_analyzed");
const FETCHED: &str = fixture!("retell", "get_call_response_ended");

/// The Retell instances of every gateway here, all pointing at the mock:
/// - `retell` (default): agent, number and `webhook_url` set; signed with [`API_KEY`];
/// - `retell_timeout`: gives Retell 300 ms;
/// - `retell_down`: at a port where nothing listens;
/// - `retell_unsigned`: another API key, unsigned webhooks refused (the default);
/// - `retell_open`: another API key, `allow_unsigned_webhooks = true`.
pub enum RetellVendor {}

/// A gateway with the Retell instances above and its mock Retell.
type Retell = MockedGateway<RetellVendor>;

vendor_scenarios!(RetellVendor);

/// `x-retell-signature` for `body` keyed with `key` at unix millisecond `v`.
fn retell_signature(key: &str, body: &str, v: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC key");
    mac.update(body.as_bytes());
    mac.update(v.to_string().as_bytes());
    format!("v={v},d={}", hex::encode(mac.finalize().into_bytes()))
}

fn bearer(request: &Received) -> Result<(), String> {
    match request.header("authorization") {
        Some(value) if value.starts_with("Bearer ") && value.len() > 7 => Ok(()),
        _ => Err("no Authorization: Bearer <api key>".to_owned()),
    }
}

/// `{str: str}`, as `retell_llm_dynamic_variables` and `custom_sip_headers` are typed.
fn string_map(value: &Value, name: &str) -> Result<(), String> {
    let map = value
        .as_object()
        .ok_or(format!("{name} is not an object"))?;
    match map.iter().find(|(_, v)| !v.is_string()) {
        Some((key, _)) => Err(format!("{name}.{key} is not a string")),
        None => Ok(()),
    }
}

/// The body of `call.create_phone_call` (`CallCreatePhoneCallParams` of retell-sdk 6.2.13).
fn create_shape(request: &Received) -> Result<(), String> {
    bearer(request)?;
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|e| format!("not JSON: {e}"))?;
    let body = body.as_object().ok_or("not an object")?;
    for key in body.keys() {
        let known = [
            "from_number",
            "to_number",
            "override_agent_id",
            "override_agent_version",
            "agent_override",
            "retell_llm_dynamic_variables",
            "metadata",
            "custom_sip_headers",
            "idempotency_key",
            "honor_internal_dnc",
            "ignore_e164_validation",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("unknown field {key}"));
        }
    }
    for required in ["from_number", "to_number"] {
        if !body.get(required).is_some_and(Value::is_string) {
            return Err(format!("{required} is required (a string)"));
        }
    }
    for key in ["override_agent_id", "idempotency_key"] {
        if body.get(key).is_some_and(|v| !v.is_string()) {
            return Err(format!("{key} is not a string"));
        }
    }
    for key in ["retell_llm_dynamic_variables", "custom_sip_headers"] {
        if let Some(value) = body.get(key) {
            string_map(value, key)?;
        }
    }
    if body.get("metadata").is_some_and(|v| !v.is_object()) {
        return Err("metadata is not an object".to_owned());
    }
    if let Some(overrides) = body.get("agent_override") {
        let overrides = overrides
            .as_object()
            .ok_or("agent_override is not an object")?;
        if let Some(key) = overrides
            .keys()
            .find(|k| !["agent", "retell_llm", "conversation_flow"].contains(&k.as_str()))
        {
            return Err(format!("unknown field agent_override.{key}"));
        }
        let agent = overrides.get("agent").and_then(Value::as_object);
        for (key, (min, max)) in [
            ("ring_duration_ms", (5_000, 300_000)),
            ("max_call_duration_ms", (60_000, 7_200_000)),
        ] {
            if let Some(value) = agent.and_then(|a| a.get(key)) {
                if !value.as_i64().is_some_and(|v| (min..=max).contains(&v)) {
                    return Err(format!("agent_override.agent.{key} out of range"));
                }
            }
        }
        if agent
            .and_then(|a| a.get("webhook_url"))
            .is_some_and(|v| !v.is_string())
        {
            return Err("agent_override.agent.webhook_url is not a string".to_owned());
        }
    }
    Ok(())
}

/// `call.list` of retell-sdk 6.2.13 (`POST /v3/list-calls`).
fn list_shape(request: &Received) -> Result<(), String> {
    bearer(request)?;
    let body: Value =
        serde_json::from_slice(&request.body).map_err(|e| format!("not JSON: {e}"))?;
    let body = body.as_object().ok_or("not an object")?;
    if let Some(key) = body.keys().find(|k| {
        ![
            "filter_criteria",
            "include_total",
            "limit",
            "pagination_key",
            "skip",
            "sort_order",
        ]
        .contains(&k.as_str())
    }) {
        return Err(format!("unknown field {key}"));
    }
    if body
        .get("limit")
        .is_some_and(|v| v.as_i64().is_none_or(|n| n <= 0))
    {
        return Err("limit is not a positive integer".to_owned());
    }
    let filters = body.get("filter_criteria").and_then(|f| f.get("metadata"));
    for filter in filters.and_then(Value::as_array).into_iter().flatten() {
        for key in ["key", "type", "op", "value"] {
            if filter.get(key).is_none() {
                return Err(format!("filter_criteria.metadata[].{key} is required"));
            }
        }
    }
    Ok(())
}

/// `GET /v2/get-call/{id}` and `POST /v2/stop-call/{id}`: no body.
fn no_body(request: &Received) -> Result<(), String> {
    bearer(request)?;
    if request.body.is_empty() {
        Ok(())
    } else {
        Err("this endpoint takes no body".to_owned())
    }
}

impl Vendor for RetellVendor {
    const KIND: &'static str = "retell";
    const DEFAULT_PROVIDER: &'static str = "retell";
    const TIMEOUT_PROVIDER: &'static str = "retell_timeout";
    const DOWN_PROVIDER: &'static str = "retell_down";
    const SIGNED_PROVIDER: &'static str = "retell";
    const UNSIGNED_PROVIDER: &'static str = "retell_unsigned";
    const OPEN_PROVIDER: &'static str = "retell_open";
    const IDEMPOTENT_CREATE: bool = true;

    fn providers_toml(mock: &str) -> String {
        let number =
            format!("kind = \"retell\"\nfrom_number = \"{FROM}\"\nagent_id = \"{AGENT}\"\n");
        let at = |url: &str, ms: u32| format!("base_url = \"{url}\"\nrequest_timeout_ms = {ms}\n");
        let down = at(&format!("http://127.0.0.1:{}", closed_port()), 5000);
        let (mocked, timeout) = (at(mock, 5000), at(mock, 300));
        format!(
            r#"
[providers.retell]
{number}api_key = "{API_KEY}"
{mocked}webhook_url = "{WEBHOOK_URL}"

[providers.retell_timeout]
{number}api_key = "{API_KEY}"
{timeout}
[providers.retell_down]
{number}api_key = "{API_KEY}"
{down}
[providers.retell_unsigned]
{number}api_key = "{UNSIGNED_KEY}"
{mocked}allow_unsigned_webhooks = false

[providers.retell_open]
{number}api_key = "{OPEN_KEY}"
{mocked}allow_unsigned_webhooks = true
"#
        )
    }

    fn prepare_mock(mock: &MockVendor) {
        mock.enforce("POST", CREATE, create_shape);
        mock.enforce("POST", LIST, list_shape);
        mock.enforce("GET", "/v2/get-call/", no_body);
        mock.enforce("POST", "/v2/stop-call/", no_body);
    }

    const CREATE_PATH: &'static str = CREATE;
    const FETCH_PATH: &'static str = "/v2/get-call/{id}";
    const API_KEY_HEADER: (&'static str, &'static str) =
        ("authorization", "Bearer key_e2e_retell_webhook");
    const UNAVAILABLE: &'static str = fixture!("retell", "error_503");
    const RATE_LIMITED: &'static str = fixture!("retell", "error_429");
    const INTERNAL_ERROR: &'static str = fixture!("retell", "error_500");
    const FETCH_ERROR: (u16, &'static str) = (422, fixture!("retell", "error_422"));
    const REFUSALS: [(u16, &'static str, &'static str); 2] = [
        (
            400,
            fixture!("retell", "error_400"),
            "to_number is not a valid E.164 phone number",
        ),
        (402, fixture!("retell", "error_402"), "Payment required"),
    ];
    const ID_PREFIX: &'static str = "call_e2e_";
    const GATEWAY_ID_FIELD: &'static str = "metadata.gateway_call_id";
    const SECRETS: &'static [&'static str] = &[API_KEY, UNSIGNED_KEY, OPEN_KEY];

    fn accepted(_: &Retell, retell_id: &str) -> MockReply {
        let answer = edited(CREATED, |v| v["call_id"] = json!(retell_id));
        MockReply::json(201, answer.to_string())
    }

    fn assert_documented_request(body: &Value, id: &str) {
        assert_fields!(body, {"from_number": FROM, "to_number": TO, "override_agent_id": AGENT,
            "retell_llm_dynamic_variables": {"customer_name": "Ada", "slot": "3"},
            "metadata": {"crm_id": "drv-42", "gateway_call_id": id},
            "idempotency_key": id,
            "agent_override": {"agent": {"webhook_url": WEBHOOK_URL}}});
    }

    const WEBHOOK_SECRET: &'static str = API_KEY;
    const SIGNATURE_WINDOW: (i64, i64, i64) = (4 * 60, 6 * 60, 6 * 60);
    const MALFORMED: &'static [&'static str] = &[
        "not json",
        "[1,2]",
        r#"{"call":{"call_id":"call_e2e_malformed","call_status":"ended"}}"#,
        r#"{"event":"call_ended"}"#,
        r#"{"event":"call_ended","call":"call_e2e_malformed"}"#,
        r#"{"event":"call_ended","call":{"call_status":"ended"}}"#,
    ];

    fn credentials(body: &str) -> Headers {
        Self::sign(body, API_KEY, unix_now())
    }

    fn sign(body: &str, secret: &str, t: i64) -> Headers {
        vec![(
            "x-retell-signature",
            retell_signature(secret, body, t * 1000),
        )]
    }

    /// The digest covers the timestamp; the parts are in a fixed order, lowercase hex.
    fn forged(body: &str, t: i64) -> Vec<Headers> {
        let good = retell_signature(API_KEY, body, t * 1000);
        let (v, d) = good.split_once(',').expect("v=..,d=..");
        let earlier = good.replacen(
            &format!("v={}", t * 1000),
            &format!("v={}", t * 1000 - 1),
            1,
        );
        [
            earlier,
            format!("{d},{v}"),
            v.to_owned(),
            d.to_owned(),
            good.to_uppercase(),
        ]
        .into_iter()
        .map(|value| vec![("x-retell-signature", value)])
        .collect()
    }

    fn first_webhook(gw: &Retell, retell_id: &str, id: Option<&str>) -> Value {
        gw.event(STARTED, retell_id, id)
    }

    const FIRST_STATUS: &'static str = "in_progress";
    const FIRST_FIELDS: &'static str =
        r#"{"telephony_ids.twilio_call_sid": "CA0123456789abcdef0123456789abcdef"}"#;
    const FIRST_TURNS: usize = 0;

    fn report(gw: &Retell, retell_id: &str, id: Option<&str>) -> Value {
        gw.event(ANALYZED, retell_id, id)
    }

    const CHANGED_REPORT: &'static str =
        r#"{"call.call_analysis.call_summary": "Something else."}"#;
    const REPORT_EVENT_TYPE: &'static str = "call_analyzed";
    const REPORT_DEDUPE_KEY: &'static str = "{id}:call_analyzed";
    const REPORT_ENDING: (&'static str, Option<&'static str>) = ("ended", Some("user_hangup"));
    const REPORT_FIELDS: &'static str = r#"{
        "summary": "Ada confirmed her Monday 9:00 appointment.", "success": true,
        "cost": 0.126, "cost_unit": "USD", "cost_breakdown.combined_cost": 12.6,
        "duration_secs": 35.0, "end_reason": "user_hangup", "status_reason": "user_hangup",
        "recording_url": "https://dxc03zgurdly9.cloudfront.net/call_a444/recording.wav",
        "analysis.custom_analysis_data": {"confirmed": true, "slot": "Monday 9:00"},
        "analysis.user_sentiment": "Positive",
        "started_at": "2025-11-20T10:00:05+00:00", "ended_at": "2025-11-20T10:00:40+00:00",
        "vendor_metadata.agent_id": "agent_123"
    }"#;
    const REPORT_TURNS: &'static [Turn] = &[
        ("agent", "Hi Ada", "post_call"),
        ("user", "Hello", "post_call"),
        ("agent", "You're booked for Monday at 9.", "post_call"),
    ];
    const REPORT_OFFSETS: &'static [(usize, f64)] = &[(1, 2.1)];
    const REPORT_EVENTS: &'static [&'static str] =
        &["call.transcript.finalized", "call.recording.ready"];

    /// By Retell id with an unknown gateway id, and by Retell id alone.
    fn unknown_call_webhooks(gw: &Retell) -> Vec<Value> {
        let stranger = uuid::Uuid::now_v7().to_string();
        vec![
            gw.event(STARTED, "call_e2e_dead", Some(&stranger)),
            gw.event(ENDED, "call_e2e_beef", None),
        ]
    }

    /// The ended call of `get_call_response_ended.json`, without the metadata naming the
    /// gateway id.
    fn mock_finished(gw: &Retell, retell_id: &str, _: &str) {
        let ended = edited(FETCHED, |v| {
            v["call_id"] = json!(retell_id);
            v.as_object_mut().expect("object").remove("metadata");
        });
        let path = with_id(Self::FETCH_PATH, retell_id);
        gw.mock
            .always("GET", &path, MockReply::json(200, ended.to_string()));
    }

    const FINISHED_FIELDS: &'static str = r#"{"summary": "Ada confirmed her Monday 9:00 appointment.",
        "success": true, "cost": 0.126, "cost_unit": "USD", "duration_secs": 35.0,
        "recording_url": "https://dxc03zgurdly9.cloudfront.net/call_a444/recording.wav",
        "end_reason": "user_hangup",
        "telephony_ids.twilio_call_sid": "CA0123456789abcdef0123456789abcdef"}"#;
    const FINISHED_TURNS: &'static [Turn] = Self::REPORT_TURNS;
    const FINISHED_VENDOR_STATUS: &'static str = "ended";
}

impl Retell {
    /// A webhook fixture about Retell call `retell_id` (and gateway call `id` if given, in the
    /// metadata Retell echoes).
    fn event(&self, raw: &str, retell_id: &str, id: Option<&str>) -> Value {
        edited(raw, |v| {
            let call = &mut v["call"];
            call["call_id"] = json!(retell_id);
            match id {
                Some(id) => call["metadata"]["gateway_call_id"] = json!(id),
                None => {
                    if let Some(metadata) = call["metadata"].as_object_mut() {
                        metadata.remove("gateway_call_id");
                    }
                }
            }
        })
    }

    async fn hang_up(&self, id: &str) -> Reply {
        self.post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
            .await
    }

    /// The idempotency keys of the creates received: Retell places one call per key.
    fn keys_sent(&self) -> BTreeSet<String> {
        self.creates()
            .iter()
            .filter_map(|r| r.json()["idempotency_key"].as_str().map(str::to_owned))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotent creates
// ---------------------------------------------------------------------------------------------

/// A 500, then a timeout, then the answer: the same request each time, so Retell (which
/// deduplicates by `idempotency_key`) placed one call, which the gateway now has.
#[tokio::test]
async fn ambiguous_creates_are_resent_with_the_same_key_and_place_one_call() {
    let gw = Retell::start().await;
    // The capability that allows it, as listed.
    let providers = gw.get_json("/v1/providers").await;
    let retell = providers["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["name"] == "retell"))
        .unwrap_or_else(|| panic!("retell is not listed: {providers}"));
    assert_eq!(
        retell["capabilities"]["idempotent_create"], true,
        "{retell}"
    );
    gw.next_create(MockReply::json(500, RetellVendor::INTERNAL_ERROR));
    gw.next_create(MockReply::json(
        502,
        r#"{"status":"error","message":"Bad gateway"}"#,
    ));
    let reply = gw.create(json!({"to": TO, "variables": {"slot": 3}})).await;
    // Nothing accepted it: the third attempt got the mock's 404 (nothing scripted), a refusal.
    let error = expect_code(&reply, 502, "provider_rejected");
    let failed = error_call_id(&error);
    assert_eq!(gw.creates_for(&failed).len(), 3);

    let retell_id = "call_e2e_once";
    gw.next_create(MockReply::json(500, RetellVendor::INTERNAL_ERROR));
    gw.next_create(RetellVendor::accepted(&gw, retell_id));
    let call = gw.create_call(json!({"to": TO})).await;
    let id = id_of(&call);
    assert_fields!(call, {"status": "initiating", "provider_call_id": retell_id});
    let sent = gw.creates_for(&id);
    assert_eq!(sent.len(), 2, "resent once");
    assert_eq!(sent[0].json(), sent[1].json());
    assert_eq!(sent[1].json()["idempotency_key"], id.as_str());

    // A timeout after sending on the quick instance, then the answer.
    let slow_id = "call_e2e_slow";
    gw.next_create(RetellVendor::accepted(&gw, slow_id).delayed(Duration::from_secs(3)));
    gw.next_create(RetellVendor::accepted(&gw, slow_id));
    let call = gw
        .create_call(json!({"to": TO, "provider": "retell_timeout"}))
        .await;
    let slow = id_of(&call);
    assert_fields!(call, {"status": "initiating", "provider_call_id": slow_id});
    let sent = gw.creates_for(&slow);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].json(), sent[1].json());

    // One key per call the gateway has: Retell placed no call twice.
    let calls = gw.list_items("/v1/calls", &[]).await;
    assert_eq!(calls.len(), 3);
    let ids: BTreeSet<String> = calls.iter().map(id_of).collect();
    assert_eq!(gw.keys_sent(), ids);
    gw.stop().await;
}

/// A create whose answer never came leaves no Retell id; a refresh finds the call by the
/// gateway's id in its metadata, then fetches it.
#[tokio::test]
async fn refresh_finds_a_call_without_retell_id_through_list_calls() {
    let gw = Retell::start().await;
    for _ in 0..3 {
        gw.next_create(MockReply::json(
            504,
            r#"{"status":"error","message":"Gateway timeout"}"#,
        ));
    }
    let id = expect_unknown_outcome(&gw.create(json!({"to": TO})).await);
    assert_eq!(gw.creates_for(&id).len(), 3);

    // Not listed yet: the call stays as it is.
    gw.mock.enqueue(
        "POST",
        LIST,
        MockReply::json(200, r#"{"items":[],"has_more":false}"#),
    );
    let error = gw.refresh(&id).await.expect_error(502);
    assert!(error.to_string().contains("gateway_call_id"), "{error}");

    let retell_id = "call_e2e_found";
    let listed = edited(fixture!("retell", "list_calls_response"), |v| {
        v["items"][0]["call_id"] = json!(retell_id);
        v["items"][0]["metadata"]["gateway_call_id"] = json!(id);
    });
    gw.mock
        .enqueue("POST", LIST, MockReply::json(200, listed.to_string()));
    RetellVendor::mock_finished(&gw, retell_id, &id);
    let reply = gw.refresh(&id).await;
    reply.expect_status(200);
    assert_fields!(reply.json(), {"status": "completed", "provider_call_id": retell_id});
    let searches = gw.mock.requests("POST", LIST);
    assert_eq!(searches.len(), 2);
    assert_eq!(
        searches[1].json()["filter_criteria"]["metadata"][0],
        json!({"key": "gateway_call_id", "type": "string", "op": "eq", "value": id})
    );
    assert_eq!(
        gw.mock
            .requests("GET", &format!("/v2/get-call/{retell_id}"))
            .len(),
        1
    );
    assert_turns(&gw.transcript(&id).await, RetellVendor::REPORT_TURNS);
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Hang-up
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hangup_stops_the_call_and_an_ended_call_is_explained() {
    let gw = Retell::start().await;
    let retell_id = "call_e2e_stop";
    let id = gw.accepted_call("retell", retell_id).await;
    gw.apply("retell", &gw.event(STARTED, retell_id, Some(&id)))
        .await;
    let stop = format!("/v2/stop-call/{retell_id}");
    gw.mock.enqueue("POST", &stop, MockReply::json(204, ""));

    let reply = gw.hang_up(&id).await;
    reply.expect_status(202);
    assert_fields!(reply.json(), {"id": id, "status": "in_progress"});
    let stops = gw.mock.requests("POST", &stop);
    assert_eq!(stops.len(), 1);
    assert_eq!(
        stops[0].header("authorization"),
        Some("Bearer key_e2e_retell_webhook")
    );
    assert!(stops[0].body.is_empty());

    // Retell reports the end: the gateway asked, so it is canceled.
    let ended = edited(ENDED, |v| {
        v["call"]["call_id"] = json!(retell_id);
        v["call"]["metadata"]["gateway_call_id"] = json!(id);
        v["call"]["disconnection_reason"] = json!("manual_stopped");
    });
    gw.apply("retell", &ended).await;
    assert_fields!(gw.call(&id).await, {"status": "canceled", "end_reason": "manual_stopped"});
    gw.hang_up(&id).await.expect_error(409);
    assert_eq!(gw.mock.requests("POST", &stop).len(), 1, "not asked again");

    // Retell ended the call already, before its webhook came.
    let gone = "call_e2e_gone";
    let gone_id = gw.accepted_call("retell", gone).await;
    let not_ongoing = r#"{"status":"error","message":"Call is not ongoing"}"#;
    gw.mock.enqueue(
        "POST",
        &format!("/v2/stop-call/{gone}"),
        MockReply::json(422, not_ongoing),
    );
    let error = expect_code(&gw.hang_up(&gone_id).await, 502, "provider_rejected");
    let message = error["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("may have ended already") && message.contains("Call is not ongoing"),
        "{error}"
    );
    assert_eq!(gw.call(&gone_id).await["status"], "initiating");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// started → transcript updates → ended → analyzed, with duplicates: each turn once, the cost in
/// USD, the analysis; every redelivery acknowledged and not applied.
#[tokio::test]
async fn webhooks_in_order_with_duplicates() {
    let gw = Retell::start().await;
    let retell_id = "call_e2e_ordered";
    let id = gw.accepted_call("retell", retell_id).await;
    let event = |raw: &str| gw.event(raw, retell_id, Some(&id));

    gw.apply("retell", &event(STARTED)).await;
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    // The transcript so far, then a longer one: the turn that grew is updated, not added.
    let first = edited(TRANSCRIPT, |v| {
        v["call"]["call_id"] = json!(retell_id);
        v["call"]["metadata"]["gateway_call_id"] = json!(id);
        v["call"]["transcript_object"][1]["content"] = json!("Hel");
    });
    gw.apply("retell", &first).await;
    gw.apply("retell", &event(TRANSCRIPT)).await;
    expect_outcome(&gw.deliver("retell", &event(TRANSCRIPT)).await, "duplicate");
    let live = gw.transcript(&id).await;
    assert_turns(
        &live,
        &[("agent", "Hi Ada", "live"), ("user", "Hello", "live")],
    );

    gw.apply("retell", &event(ENDED)).await;
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed", "cost": 0.126, "cost_unit": "USD",
        "end_reason": "user_hangup", "summary": null});
    expect_outcome(&gw.deliver("retell", &event(ENDED)).await, "duplicate");
    gw.apply("retell", &event(ANALYZED)).await;
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed"});
    assert_fields!(call, parse(RetellVendor::REPORT_FIELDS));
    // The live turns and the post-call transcript agree: each turn once.
    let turns = gw.transcript(&id).await;
    assert_eq!(turns.len(), 3, "{turns:?}");
    assert_eq!(turns[2]["text"], "You're booked for Monday at 9.");

    let receipts = gw.receipts(&[("call_id", &id)]).await;
    let outcome = |r: &Value| {
        format!(
            "{} {}",
            r["event_type"].as_str().unwrap_or(""),
            r["outcome"].as_str().unwrap_or("")
        )
    };
    let mut outcomes: Vec<String> = receipts.iter().map(outcome).collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        [
            "call_analyzed applied",
            "call_ended applied",
            "call_ended duplicate",
            "call_started applied",
            "transcript_updated applied",
            "transcript_updated applied",
            "transcript_updated duplicate",
        ],
        "{receipts:?}"
    );
    let completed: Vec<Value> = gw
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["to_status"] == "completed")
        .collect();
    assert_eq!(completed.len(), 1, "{completed:?}");
    gw.stop().await;
}

/// Retell does not wait for one delivery before the next: the analysis first, the start last.
#[tokio::test]
async fn webhooks_out_of_order_end_the_same_way() {
    let gw = Retell::start().await;
    let retell_id = "call_e2e_unordered";
    let id = gw.accepted_call("retell", retell_id).await;
    let event = |raw: &str| gw.event(raw, retell_id, Some(&id));
    gw.apply("retell", &event(ANALYZED)).await;
    gw.apply("retell", &event(ENDED)).await;
    gw.apply("retell", &event(TRANSCRIPT)).await;
    gw.apply("retell", &event(STARTED)).await;
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed"});
    assert_fields!(call, parse(RetellVendor::REPORT_FIELDS));
    assert_turns(&gw.transcript(&id).await, RetellVendor::REPORT_TURNS);
    let statuses: Vec<Value> = gw
        .events(&id)
        .await
        .into_iter()
        .map(|e| e["to_status"].clone())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "completed").count(),
        1,
        "{statuses:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn calls_that_never_connected_map_to_statuses() {
    let gw = Retell::start().await;
    for (n, fixture, expected, reason) in [
        (
            1,
            fixture!("retell", "webhook_call_ended_busy"),
            "busy",
            "dial_busy",
        ),
        (
            2,
            fixture!("retell", "webhook_call_ended_no_answer"),
            "no_answer",
            "dial_no_answer",
        ),
        (
            3,
            fixture!("retell", "webhook_call_ended_failed"),
            "failed",
            "concurrency_limit_reached",
        ),
        (
            4,
            fixture!("retell", "webhook_call_analyzed_voicemail"),
            "completed",
            "voicemail_reached",
        ),
        (
            5,
            fixture!("retell", "webhook_call_ended_unknown_reason"),
            "completed",
            "agent_teleported",
        ),
    ] {
        let retell_id = format!("call_e2e_ending{n}");
        let id = gw.accepted_call("retell", &retell_id).await;
        gw.apply("retell", &gw.event(fixture, &retell_id, Some(&id)))
            .await;
        let call = gw.call(&id).await;
        assert_fields!(call, {"status": expected, "end_reason": reason, "status_reason": reason});
        if expected == "failed" {
            assert_eq!(call["failure_reason"], reason, "{call}");
        }
    }
    gw.stop().await;
}

/// A chat agent's webhooks concern no call: acknowledged and recorded, nothing applied.
#[tokio::test]
async fn chat_events_are_acknowledged_and_recorded() {
    let gw = Retell::start().await;
    let chat = parse(fixture!("retell", "webhook_chat_started"));
    let answer = expect_outcome(&gw.deliver("retell", &chat).await, "applied");
    assert_eq!(answer["call_id"], Value::Null, "{answer}");
    let receipts = gw.receipts(&[("provider", "retell")]).await;
    assert_eq!(sorted(&receipts, "event_type"), ["chat_started"]);
    assert_fields!(receipts[0], {"signature": "verified", "call_id": null});
    gw.stop().await;
}

/// The mock refuses requests the SDK would not send: the gateway's are all accepted.
#[tokio::test]
async fn the_mock_enforces_the_sdk_request_shapes() {
    let gw = Retell::start().await;
    let bad = |body: &str| Received {
        method: "POST".into(),
        path: CREATE.into(),
        headers: [("authorization".to_owned(), "Bearer k".to_owned())].into(),
        body: body.as_bytes().to_vec(),
        at: std::time::Instant::now(),
    };
    for body in [
        r#"{"to_number":"+14155550123"}"#,
        r#"{"from_number":"+1","to_number":"+1","first_message":"hi"}"#,
        r#"{"from_number":"+1","to_number":"+1","retell_llm_dynamic_variables":{"n":3}}"#,
        r#"{"from_number":"+1","to_number":"+1","agent_override":{"agent":{"ring_duration_ms":1}}}"#,
    ] {
        assert!(create_shape(&bad(body)).is_err(), "{body}");
    }
    assert!(create_shape(&bad(fixture!("retell", "create_call_request"))).is_ok());
    gw.accepted_call("retell", "call_e2e_shaped").await;
    gw.stop().await;
}
