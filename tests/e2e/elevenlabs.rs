//! The `elevenlabs` provider end to end: the real gateway in-process, with ElevenLabs instances
//! whose `base_url` is a local mock of the vendor's API (see `mock_vendor`), and the vendor's
//! webhooks played over HTTP, signed as ElevenLabs signs them.

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::DateTime;
use serde_json::{Value, json};

use crate::harness::{MockedGateway, Reply, TO, Vendor, edited, id_of, unix_now};
use crate::mock_vendor::{MockReply, MockVendor, Received};

const API_KEY: &str = "xi_e2e_api_key";
const AGENT: &str = "agent_e2e";
const PHONE: &str = "phnum_e2e";
const WEBHOOK_SECRET: &str = "wsec_e2e_secret";
const TRANSCRIPTION_SECRET: &str = "tsec_e2e_secret";

const TWILIO_PATH: &str = "/v1/convai/twilio/outbound-call";
const SIP_PATH: &str = "/v1/convai/sip-trunk/outbound-call";
const CONVERSATIONS_PATH: &str = "/v1/convai/conversations";

const CREATE_TWILIO: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/create_call_response_twilio.json");
const CREATE_SIP: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/create_call_response_sip.json");
const CREATE_NO_CONVERSATION: &str = include_str!(
    "../../providers/elevenlabs/tests/fixtures/create_call_response_no_conversation_id.json"
);
const CREATE_422_STRING: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/create_call_response_422_string.json");
const CREATE_422_LIST: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/create_call_response_422_list.json");
const CREATE_429: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/create_call_response_429.json");
const CREATE_SUCCESS_FALSE: &str = include_str!(
    "../../providers/elevenlabs/tests/fixtures/create_call_response_success_false.json"
);
const CONVERSATION_DONE: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/fetch_conversation_done.json");
const CONVERSATION_404: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/fetch_conversation_404.json");
const POST_CALL_TRANSCRIPTION: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/webhook_post_call_transcription.json");
const INITIATION_FAILURE_BUSY: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/webhook_call_initiation_failure.json");
const INITIATION_FAILURE_NO_ANSWER: &str = include_str!(
    "../../providers/elevenlabs/tests/fixtures/webhook_call_initiation_failure_no_answer.json"
);
const POST_CALL_AUDIO: &str =
    include_str!("../../providers/elevenlabs/tests/fixtures/webhook_post_call_audio.json");

/// A free loopback port with nothing listening on it (connections are refused).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The ElevenLabs instances of every gateway here, all pointing at `mock`:
/// - `elevenlabs`: Twilio, both secrets;
/// - `eleven_sip`: SIP trunk;
/// - `eleven_timeout`: gives the vendor 300 ms;
/// - `eleven_down`: points at a port where nothing listens;
/// - `eleven_unsigned`: no secrets, unsigned webhooks refused (the default);
/// - `eleven_open`: no secrets, `allow_unsigned_webhooks = true`;
/// - `eleven_small`: webhook bodies limited to 4 KiB.
enum ElevenLabs {}

impl Vendor for ElevenLabs {
    const DEFAULT_PROVIDER: &'static str = "elevenlabs";

    fn providers_toml(mock: &str) -> String {
        let common = format!(
            "kind = \"elevenlabs\"\napi_key = \"{API_KEY}\"\nagent_id = \"{AGENT}\"\n\
         agent_phone_number_id = \"{PHONE}\"\n"
        );
        let secrets = format!(
            "webhook_secret = \"{WEBHOOK_SECRET}\"\ntranscription_secret = \"{TRANSCRIPTION_SECRET}\"\n"
        );
        format!(
            r#"
[providers.elevenlabs]
{common}{secrets}base_url = "{mock}"
telephony = "twilio"
request_timeout_ms = 5000

[providers.eleven_sip]
{common}{secrets}base_url = "{mock}"
telephony = "sip_trunk"

[providers.eleven_timeout]
{common}{secrets}base_url = "{mock}"
request_timeout_ms = 300

[providers.eleven_down]
{common}{secrets}base_url = "http://127.0.0.1:{down}"

[providers.eleven_unsigned]
{common}base_url = "{mock}"
allow_unsigned_webhooks = false

[providers.eleven_open]
{common}base_url = "{mock}"
allow_unsigned_webhooks = true

[providers.eleven_small]
{common}{secrets}base_url = "{mock}"
webhook_max_body_bytes = 4096
"#,
            down = closed_port()
        )
    }
}

/// A gateway with the ElevenLabs instances above and its mock vendor.
type Eleven = MockedGateway<ElevenLabs>;

impl Eleven {
    /// Places a call on `provider` that the mock accepts with `conversation_id`; returns its id.
    async fn accepted_call(&self, provider: &str, conversation_id: &str) -> String {
        let answer = edited(CREATE_TWILIO, |v| {
            v["conversation_id"] = json!(conversation_id)
        });
        self.mock.enqueue(
            "POST",
            TWILIO_PATH,
            MockReply::json(200, answer.to_string()),
        );
        let reply = self.create(json!({"to": TO, "provider": provider})).await;
        reply.expect_status(201);
        let call = reply.json();
        assert_eq!(call["provider_call_id"], conversation_id, "{call}");
        id_of(&call)
    }

    /// Posts `body` to `/webhooks/{path}` signed with `secret` at `t`, as ElevenLabs does.
    async fn signed_at(&self, path: &str, body: &str, secret: &str, t: i64) -> Reply {
        let signature = elevenlabs_provider::signature_header(secret, t, body.as_bytes());
        self.webhook_raw(path, body, &[("ElevenLabs-Signature", &signature)])
            .await
    }

    /// Posts `body` to `/webhooks/{path}` signed now with the `elevenlabs` instance's secret.
    async fn signed(&self, path: &str, body: &Value) -> Reply {
        self.signed_at(path, &body.to_string(), WEBHOOK_SECRET, unix_now())
            .await
    }

    /// A signed post-call webhook that must be applied; returns the answer.
    async fn apply(&self, body: &Value) -> Value {
        let reply = self.signed("elevenlabs", body).await;
        reply.expect_status(200);
        let answer = reply.json();
        assert_eq!(answer["status"], "ok", "{answer}");
        assert_eq!(answer["outcome"], "applied", "{answer}");
        answer
    }

    /// Posts a live-transcription tool call with the `x-transcription-secret` header.
    async fn live_turn(&self, body: &str, secret: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = secret
            .map(|s| vec![("x-transcription-secret", s)])
            .unwrap_or_default();
        self.webhook_raw("elevenlabs/transcription", body, &headers)
            .await
    }
}

/// The outbound-call requests that carried the gateway call `id` (as `user_id`).
fn creates_for(received: &[Received], path: &str, id: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .filter(|r| r.json()["conversation_initiation_client_data"]["user_id"] == id)
        .cloned()
        .collect()
}

/// `post_call_transcription` for `conversation_id`, tied to no gateway call by id (the
/// fixture's `user_id` removed) unless `user_id` is given.
fn transcription_webhook(conversation_id: &str, user_id: Option<&str>) -> Value {
    edited(POST_CALL_TRANSCRIPTION, |v| {
        let data = v["data"].as_object_mut().expect("data");
        data.insert("conversation_id".into(), json!(conversation_id));
        match user_id {
            Some(id) => data.insert("user_id".into(), json!(id)),
            None => data.remove("user_id"),
        };
    })
}

fn texts(turns: &[Value]) -> Vec<(String, String, String)> {
    turns
        .iter()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or_default().to_owned(),
                t["text"].as_str().unwrap_or_default().to_owned(),
                t["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn timestamp(value: &Value) -> i64 {
    let raw = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {raw}"))
        .timestamp()
}

// ---------------------------------------------------------------------------------------------
// Placing calls
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn elevenlabs_create_call_sends_the_documented_request() {
    let gw = Eleven::start().await;
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(200, CREATE_TWILIO));

    let reply = gw
        .create(json!({
            "to": TO,
            "provider": "elevenlabs",
            "variables": {"customer_name": "Ada", "slot": 3},
            "metadata": {"crm_id": "drv-42"},
        }))
        .await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/calls/{id}").as_str())
    );
    assert_eq!(call["provider"], "elevenlabs", "{call}");
    assert_eq!(call["provider_kind"], "elevenlabs", "{call}");
    assert_eq!(call["status"], "initiating", "{call}");
    assert_eq!(call["provider_call_id"], "conv_abc123", "{call}");
    assert_eq!(
        call["telephony_ids"]["twilio_call_sid"], "CA1234567890abcdef",
        "{call}"
    );

    // Exactly one request reached the vendor, and it is the documented one.
    let received = gw.mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let sent = &received[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", TWILIO_PATH)
    );
    assert_eq!(sent.header("xi-api-key"), Some(API_KEY));
    assert!(
        sent.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        sent.headers
    );
    let body = sent.json();
    assert_eq!(body["agent_id"], AGENT, "{body}");
    assert_eq!(body["agent_phone_number_id"], PHONE, "{body}");
    assert_eq!(body["to_number"], TO, "{body}");
    let client_data = &body["conversation_initiation_client_data"];
    assert_eq!(client_data["user_id"], id.as_str(), "{body}");
    assert_eq!(
        client_data["dynamic_variables"],
        json!({"customer_name": "Ada", "slot": 3, "gateway_call_id": id}),
        "{body}"
    );
    assert!(
        !body.to_string().contains("drv-42"),
        "metadata is not sent: {body}"
    );

    // The stored call says the same.
    let stored = gw.call(&id).await;
    assert_eq!(stored["provider_call_id"], "conv_abc123", "{stored}");
    assert_eq!(
        stored["telephony_ids"]["twilio_call_sid"], "CA1234567890abcdef",
        "{stored}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_sip_trunk_instance_uses_the_sip_endpoint_and_request_overrides() {
    let gw = Eleven::start().await;
    gw.mock
        .enqueue("POST", SIP_PATH, MockReply::json(200, CREATE_SIP));

    let reply = gw
        .create(json!({
            "to": TO,
            "provider": "eleven_sip",
            "agent_id": "agent_override",
            "from_number_id": "phnum_override",
            "first_message": "Hi Ada, this is the clinic.",
        }))
        .await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["provider_call_id"], "conv_sip456", "{call}");
    assert_eq!(
        call["telephony_ids"]["sip_call_id"], "7f1c2e@sip.example.net",
        "{call}"
    );

    let received = gw.mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, SIP_PATH);
    assert_eq!(received[0].header("xi-api-key"), Some(API_KEY));
    let body = received[0].json();
    assert_eq!(body["agent_id"], "agent_override", "{body}");
    assert_eq!(body["agent_phone_number_id"], "phnum_override", "{body}");
    assert_eq!(body["to_number"], TO, "{body}");
    let client_data = &body["conversation_initiation_client_data"];
    assert_eq!(client_data["user_id"], id.as_str(), "{body}");
    assert_eq!(
        client_data["dynamic_variables"],
        json!({"gateway_call_id": id}),
        "{body}"
    );
    assert_eq!(
        client_data["conversation_config_override"]["agent"]["first_message"],
        "Hi Ada, this is the clinic.",
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_503_then_success_places_exactly_one_call() {
    let gw = Eleven::start().await;
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(503, r#"{"detail":"Service temporarily unavailable"}"#),
    );
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(200, CREATE_TWILIO));

    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["status"], "initiating", "{call}");
    assert_eq!(call["provider_call_id"], "conv_abc123", "{call}");

    let posts = gw.mock.requests("POST", TWILIO_PATH);
    assert_eq!(posts.len(), 2, "one refused attempt, one accepted");
    assert_eq!(
        posts[0].json(),
        posts[1].json(),
        "the retry is the same request, for the same gateway call"
    );
    assert_eq!(
        posts[1].json()["conversation_initiation_client_data"]["user_id"],
        id.as_str()
    );
    let calls = gw.get_json("/v1/calls").await;
    let items = calls["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one call exists: {calls}");
    assert_eq!(id_of(&items[0]), id);
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_429_retry_after_is_honoured() {
    let gw = Eleven::start().await;
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(429, CREATE_429).header("retry-after", "1"),
    );
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(200, CREATE_TWILIO));

    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(201);
    let posts = gw.mock.requests("POST", TWILIO_PATH);
    assert_eq!(posts.len(), 2);
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 asks for a second, the gateway waited {waited:?}"
    );
    let calls = gw.get_json("/v1/calls").await;
    assert_eq!(calls["items"].as_array().map(Vec::len), Some(1), "{calls}");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_503_every_time_gives_up_after_three_attempts() {
    let gw = Eleven::start().await;
    gw.mock.always(
        "POST",
        TWILIO_PATH,
        MockReply::json(503, r#"{"detail":"Service temporarily unavailable"}"#),
    );

    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    let error = reply.expect_error(502);
    assert_eq!(error["error"]["code"], "provider_rejected", "{error}");
    let id = error["error"]["details"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("details.call_id: {error}"))
        .to_owned();
    assert_eq!(gw.mock.requests("POST", TWILIO_PATH).len(), 3);
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "failed", "{call}");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_unreachable_vendor_fails_the_call() {
    let gw = Eleven::start().await;
    let reply = gw
        .create(json!({"to": TO, "provider": "eleven_down"}))
        .await;
    let error = reply.expect_error(502);
    assert_eq!(error["error"]["code"], "provider_rejected", "{error}");
    let id = error["error"]["details"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("details.call_id: {error}"))
        .to_owned();
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "failed", "{call}");
    assert!(
        call["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("could not reach")),
        "{call}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_422_fails_the_call_at_once_with_the_vendor_message() {
    let gw = Eleven::start().await;
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(422, CREATE_422_STRING));
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(422, CREATE_422_LIST));
    // Anything after those would be a retry.
    gw.mock
        .always("POST", TWILIO_PATH, MockReply::json(200, CREATE_TWILIO));

    for (expected, position) in [
        ("agent_phone_number_id does not belong to this workspace", 0),
        ("to_number: Value error, invalid phone number", 1),
    ] {
        let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
        let error = reply.expect_error(502);
        assert_eq!(error["error"]["code"], "provider_rejected", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{error}"
        );
        let id = error["error"]["details"]["call_id"]
            .as_str()
            .unwrap_or_else(|| panic!("details.call_id: {error}"))
            .to_owned();
        let posts = gw.mock.requests("POST", TWILIO_PATH);
        assert_eq!(posts.len(), position + 1, "a 422 is not retried");
        assert_eq!(
            creates_for(&posts, TWILIO_PATH, &id).len(),
            1,
            "exactly one POST for call {id}"
        );
        let call = gw.call(&id).await;
        assert_eq!(call["status"], "failed", "{call}");
        assert!(
            call["failure_reason"]
                .as_str()
                .is_some_and(|r| r.contains(expected)),
            "failure_reason keeps the vendor's message: {call}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_success_false_under_2xx_is_a_rejection() {
    let gw = Eleven::start().await;
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, CREATE_SUCCESS_FALSE),
    );
    gw.mock
        .always("POST", TWILIO_PATH, MockReply::json(200, CREATE_TWILIO));

    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    let error = reply.expect_error(502);
    assert_eq!(error["error"]["code"], "provider_rejected", "{error}");
    let id = error["error"]["details"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("details.call_id: {error}"))
        .to_owned();
    assert_eq!(
        gw.mock.requests("POST", TWILIO_PATH).len(),
        1,
        "not retried"
    );
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "failed", "{call}");
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");
    assert!(
        call["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("is not assigned to an agent")),
        "{call}"
    );
    gw.stop().await;
}

/// Both ambiguous outcomes (a timeout after sending, a 500) answer 202 without a retry; the
/// call is then settled by the post-call webhook, found by the gateway id in `user_id`.
#[tokio::test]
async fn elevenlabs_timeout_and_500_are_unknown_outcomes_settled_by_webhook() {
    let gw = Eleven::start().await;
    let late = edited(CREATE_TWILIO, |v| v["conversation_id"] = json!("conv_late"));
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, late.to_string()).delayed(Duration::from_secs(3)),
    );

    let started = Instant::now();
    let reply = gw
        .create(json!({"to": TO, "provider": "eleven_timeout"}))
        .await;
    let took = started.elapsed();
    reply.expect_status(202);
    assert!(
        took < Duration::from_millis(2500),
        "the gateway waited {took:?} for a vendor given 300 ms"
    );
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/calls/{id}").as_str())
    );
    assert_eq!(call["status"], "initiating", "{call}");
    assert_eq!(call["status_reason"], "vendor_outcome_unknown", "{call}");
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");
    assert_eq!(
        creates_for(&gw.mock.received(), TWILIO_PATH, &id).len(),
        1,
        "a timed-out create is not retried"
    );

    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(500, r#"{"detail":"Internal Server Error"}"#),
    );
    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(202);
    let other = reply.json();
    let other_id = id_of(&other);
    assert_eq!(other["status"], "initiating", "{other}");
    assert_eq!(other["status_reason"], "vendor_outcome_unknown", "{other}");
    assert_eq!(
        creates_for(&gw.mock.received(), TWILIO_PATH, &other_id).len(),
        1,
        "a 500 is not retried"
    );

    // The vendor had placed the first call after all: its report names the gateway id.
    let reply = gw
        .signed(
            "eleven_timeout",
            &transcription_webhook("conv_late", Some(&id)),
        )
        .await;
    reply.expect_status(200);
    let answer = reply.json();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["provider_call_id"], "conv_late", "{call}");
    assert_eq!(gw.transcript(&id).await.len(), 2);
    assert_eq!(gw.call(&other_id).await["status"], "initiating");
    assert_eq!(
        creates_for(&gw.mock.received(), TWILIO_PATH, &id).len(),
        1,
        "still exactly one create for the timed-out call"
    );
    gw.stop().await;
}

/// Mocks the conversation `conversation_id` (status `done`, for gateway call `id`) both at
/// `GET /v1/convai/conversations/{id}` and in the conversation list.
fn mock_done_conversation(mock: &MockVendor, conversation_id: &str, id: &str) -> Value {
    let conversation = edited(CONVERSATION_DONE, |v| {
        v["conversation_id"] = json!(conversation_id);
        v["user_id"] = json!(id);
    });
    mock.always(
        "GET",
        &format!("{CONVERSATIONS_PATH}/{conversation_id}"),
        MockReply::json(200, conversation.to_string()),
    );
    let listed = json!({
        "conversations": [{
            "agent_id": AGENT,
            "conversation_id": conversation_id,
            "user_id": id,
            "start_time_unix_secs": 1_739_537_297,
            "call_duration_secs": 41,
            "message_count": 2,
            "status": "done",
            "call_successful": "unknown",
        }],
        "has_more": false,
        "next_cursor": null,
    });
    mock.always(
        "GET",
        CONVERSATIONS_PATH,
        MockReply::json(200, listed.to_string()),
    );
    conversation
}

/// What `fetch_conversation_done.json` must have produced on the call.
async fn assert_done_conversation_applied(gw: &Eleven, id: &str, conversation_id: &str) {
    let call = gw.call(id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["status_reason"], "voicemail", "{call}");
    assert_eq!(call["provider_call_id"], conversation_id, "{call}");
    assert_eq!(
        call["summary"], "Left a voicemail about tomorrow's appointment.",
        "{call}"
    );
    assert_eq!(
        call["success"],
        Value::Null,
        "`unknown` is no verdict: {call}"
    );
    assert_eq!(call["cost"], json!(512.0), "{call}");
    assert_eq!(call["cost_unit"], "credits", "{call}");
    assert_eq!(call["duration_secs"], json!(41.0), "{call}");
    let turns = gw.transcript(id).await;
    assert_eq!(
        texts(&turns),
        [
            (
                "agent".to_owned(),
                "Hi Ada, this is the clinic calling about tomorrow.".to_owned(),
                "post_call".to_owned()
            ),
            (
                "user".to_owned(),
                "I'd like to reschedule.".to_owned(),
                "post_call".to_owned()
            ),
        ]
    );
    let events = gw.events(id).await;
    let completed = events
        .iter()
        .find(|e| e["to_status"] == "completed")
        .unwrap_or_else(|| panic!("no completed event: {events:?}"));
    assert_eq!(completed["source"], "reconcile", "{completed}");
    assert_eq!(completed["vendor_status"], "voicemail", "{completed}");
}

#[tokio::test]
async fn elevenlabs_refresh_fetches_the_conversation_and_applies_it() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_refresh").await;
    let path = format!("{CONVERSATIONS_PATH}/conv_refresh");

    // A vendor error leaves the call as it was.
    gw.mock
        .enqueue("GET", &path, MockReply::json(404, CONVERSATION_404));
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
        .await;
    let error = reply.expect_error(502);
    assert_eq!(error["error"]["details"]["call_id"], id.as_str(), "{error}");
    assert_eq!(gw.call(&id).await["status"], "initiating");

    mock_done_conversation(&gw.mock, "conv_refresh", &id);
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["status"], "completed", "{}", reply.text);
    let fetches = gw.mock.requests("GET", &path);
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    assert_eq!(fetches[1].header("xi-api-key"), Some(API_KEY));
    assert_done_conversation_applied(&gw, &id, "conv_refresh").await;
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_timeout_then_refresh_completes_the_call() {
    let gw = Eleven::start().await;
    let late = edited(CREATE_TWILIO, |v| {
        v["conversation_id"] = json!("conv_timeout");
    });
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, late.to_string()).delayed(Duration::from_secs(2)),
    );
    let reply = gw
        .create(json!({"to": TO, "provider": "eleven_timeout"}))
        .await;
    reply.expect_status(202);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["status_reason"], "vendor_outcome_unknown", "{call}");
    mock_done_conversation(&gw.mock, "conv_timeout", &id);

    let reply = gw
        .post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
        .await;
    reply.expect_status(200);
    assert_done_conversation_applied(&gw, &id, "conv_timeout").await;
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_reconciler_completes_a_stuck_call_on_its_own() {
    let gw = Eleven::start_with(0, 1).await;
    // The reconciler may ask before the conversation below is scripted: that 404 only delays it
    // (backoff of a few seconds).
    let id = gw.accepted_call("elevenlabs", "conv_stuck").await;
    mock_done_conversation(&gw.mock, "conv_stuck", &id);

    gw.wait_for_status_within(&id, "completed", Duration::from_secs(10))
        .await;
    let fetches = gw
        .mock
        .requests("GET", &format!("{CONVERSATIONS_PATH}/conv_stuck"));
    assert!(!fetches.is_empty());
    assert_eq!(fetches[0].header("xi-api-key"), Some(API_KEY));
    assert_done_conversation_applied(&gw, &id, "conv_stuck").await;
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_reconciler_settles_a_timed_out_create() {
    let gw = Eleven::start_with(0, 1).await;
    let late = edited(CREATE_TWILIO, |v| {
        v["conversation_id"] = json!("conv_lost");
    });
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, late.to_string()).delayed(Duration::from_secs(2)),
    );
    let reply = gw
        .create(json!({"to": TO, "provider": "eleven_timeout"}))
        .await;
    reply.expect_status(202);
    let id = id_of(&reply.json());
    mock_done_conversation(&gw.mock, "conv_lost", &id);

    gw.wait_for_status_within(&id, "completed", Duration::from_secs(10))
        .await;
    assert_done_conversation_applied(&gw, &id, "conv_lost").await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Post-call webhooks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn elevenlabs_post_call_transcription_completes_the_call_once() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_done").await;

    // Correlated by conversation_id alone.
    let body = transcription_webhook("conv_done", None);
    let answer = gw.apply(&body).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let receipt_id = answer["receipt_id"]
        .as_str()
        .expect("receipt_id")
        .to_owned();

    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(
        call["summary"], "Angelo asked for a fun fact and got one.",
        "{call}"
    );
    assert_eq!(call["success"], true, "{call}");
    assert_eq!(call["cost"], json!(0.0885), "{call}");
    assert_eq!(call["cost_unit"], "USD", "{call}");
    assert_eq!(
        call["cost_breakdown"],
        json!({"credits": 296.0, "usd": 0.0885}),
        "{call}"
    );
    assert_eq!(call["duration_secs"], json!(22.0), "{call}");
    assert_eq!(timestamp(&call["started_at"]), 1_739_537_297, "{call}");
    assert_eq!(timestamp(&call["ended_at"]), 1_739_537_297 + 22, "{call}");
    assert_eq!(call["end_reason"], "Call ended by remote party", "{call}");
    assert_eq!(
        call["telephony_ids"]["twilio_stream_sid"], "MZ0123",
        "{call}"
    );
    assert_eq!(call["analysis"]["call_successful"], "success", "{call}");
    assert_eq!(
        call["vendor_metadata"]["phone_call"]["call_result"], "answered",
        "{call}"
    );
    let turns = gw.transcript(&id).await;
    assert_eq!(
        texts(&turns),
        [
            (
                "agent".to_owned(),
                "Hey there angelo. How are you?".to_owned(),
                "post_call".to_owned()
            ),
            (
                "user".to_owned(),
                "Tell me a fun fact.".to_owned(),
                "post_call".to_owned()
            ),
        ],
        "the tool-call turn without a message is left out"
    );
    assert_eq!(turns[0]["offset_secs"], json!(0.0));
    assert_eq!(turns[1]["offset_secs"], json!(2.0));
    let events = gw.events(&id).await;
    let completed = events
        .iter()
        .find(|e| e["to_status"] == "completed")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(completed["vendor_status"], "answered", "{completed}");
    assert_eq!(completed["receipt_id"], receipt_id.as_str(), "{completed}");

    // The same delivery again, on the seed's path: acknowledged, applied zero times.
    let reply = gw.signed("elevenlabs/post-call", &body).await;
    reply.expect_status(200);
    let again = reply.json();
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(again["call_id"], id.as_str(), "{again}");
    // Another body for the same (type, conversation_id) is a duplicate too.
    let changed = edited(&body.to_string(), |v| {
        v["data"]["analysis"]["transcript_summary"] = json!("Something else.");
    });
    let reply = gw.signed("elevenlabs", &changed).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "duplicate", "{}", reply.text);

    assert_eq!(gw.transcript(&id).await.len(), 2, "no turn added twice");
    assert_eq!(gw.events(&id).await.len(), events.len());
    assert_eq!(
        gw.call(&id).await["summary"],
        "Angelo asked for a fun fact and got one."
    );
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    let mut outcomes: Vec<&str> = receipts
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default())
        .collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        ["applied", "duplicate", "duplicate"],
        "{receipts:?}"
    );
    for receipt in &receipts {
        assert_eq!(receipt["signature"], "verified", "{receipt}");
        assert_eq!(
            receipt["event_type"], "post_call_transcription",
            "{receipt}"
        );
        assert_eq!(
            receipt["dedupe_key"], "post_call_transcription:conv_done",
            "{receipt}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_webhooks_correlate_by_user_id_without_a_conversation_id() {
    let gw = Eleven::start().await;
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, CREATE_NO_CONVERSATION),
    );
    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");

    // Found by data.user_id; the conversation id is learnt from the webhook.
    let answer = gw
        .apply(&transcription_webhook("conv_learnt", Some(&id)))
        .await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["provider_call_id"], "conv_learnt", "{call}");

    // A later webhook naming only that conversation finds the call.
    let audio = edited(POST_CALL_AUDIO, |v| {
        v["data"]["conversation_id"] = json!("conv_learnt");
    });
    let answer = gw.apply(&audio).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_call_initiation_failure_sets_busy_and_no_answer() {
    let gw = Eleven::start().await;

    // Busy, found by conversation_id.
    let busy_id = gw.accepted_call("elevenlabs", "conv_busy").await;
    let busy = edited(INITIATION_FAILURE_BUSY, |v| {
        v["data"]["conversation_id"] = json!("conv_busy");
        v["event_timestamp"] = json!(unix_now());
    });
    let answer = gw.apply(&busy).await;
    assert_eq!(answer["call_id"], busy_id.as_str(), "{answer}");
    let call = gw.call(&busy_id).await;
    assert_eq!(call["status"], "busy", "{call}");
    assert_eq!(call["status_reason"], "busy", "{call}");
    assert_eq!(
        call["vendor_metadata"],
        json!({"type": "twilio", "body": {"CallSid": "CA1", "CallStatus": "busy"}}),
        "the provider's body is kept: {call}"
    );
    let events = gw.events(&busy_id).await;
    assert!(
        events
            .iter()
            .any(|e| e["to_status"] == "busy" && e["vendor_status"] == "busy"),
        "{events:?}"
    );

    // No answer, for a call whose create answer had no conversation_id: found by the
    // dynamic variable gateway_call_id alone.
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(200, CREATE_NO_CONVERSATION),
    );
    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(201);
    let quiet_id = id_of(&reply.json());
    let no_answer = edited(INITIATION_FAILURE_NO_ANSWER, |v| {
        v["data"]["conversation_id"] = json!("conv_quiet");
        v["data"]["conversation_initiation_client_data"]["dynamic_variables"]["gateway_call_id"] =
            json!(quiet_id);
    });
    let answer = gw.apply(&no_answer).await;
    assert_eq!(answer["call_id"], quiet_id.as_str(), "{answer}");
    let call = gw.call(&quiet_id).await;
    assert_eq!(call["status"], "no_answer", "{call}");
    assert_eq!(call["provider_call_id"], "conv_quiet", "{call}");
    assert_eq!(
        call["telephony_ids"]["sip_call_id"], "a84b4c76e66710@pc33.example.com",
        "{call}"
    );
    assert_eq!(gw.call(&busy_id).await["status"], "busy", "untouched");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_post_call_audio_is_served_as_the_recording() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_audio").await;
    let missing = gw.get(&format!("/v1/calls/{id}/recording")).await;
    missing.expect_error(404);

    let mut audio = b"ID3\x04\x00\x00\x00\x00\x00\x23".to_vec();
    audio.extend((0..=255u8).cycle().take(4000));
    let body = json!({
        "type": "post_call_audio",
        "event_timestamp": unix_now(),
        "data": {
            "agent_id": AGENT,
            "conversation_id": "conv_audio",
            "full_audio": base64::engine::general_purpose::STANDARD.encode(&audio),
        },
    });
    let answer = gw.apply(&body).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");

    let call = gw.call(&id).await;
    assert_eq!(
        call["recording_url"],
        format!("/v1/calls/{id}/recording"),
        "{call}"
    );
    let response = gw
        .client
        .get(gw.url(&format!("/v1/calls/{id}/recording")))
        .send()
        .await
        .expect("recording request");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("audio/mpeg"), "{content_type}");
    let served = response.bytes().await.expect("recording bytes");
    assert_eq!(served.as_ref(), audio.as_slice(), "the decoded bytes");

    // Delivered again: a duplicate, and the recording is still the same.
    let reply = gw.signed("elevenlabs/post-call", &body).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "duplicate", "{}", reply.text);
    let again = gw
        .client
        .get(gw.url(&format!("/v1/calls/{id}/recording")))
        .send()
        .await
        .expect("recording request");
    assert_eq!(
        again.bytes().await.expect("bytes").as_ref(),
        audio.as_slice()
    );
    // A recording says nothing about how the call ended.
    assert_eq!(gw.call(&id).await["status"], "initiating");
    gw.stop().await;
}

/// `post_call_audio` carries a whole MP3: the provider's own limit applies to its webhooks, not
/// the server's default (1 MiB), and is enforced.
/// Webhooks up to 50 MB come from anyone: the transcription tool's secret and a missing
/// post-call signature are refused on the headers, before any of the body is read.
#[tokio::test]
async fn elevenlabs_header_checks_come_before_the_body() {
    let gw = Eleven::start().await;
    let forty_mb = 40_000_000;
    for (path, headers) in [
        ("elevenlabs", vec![]),
        ("elevenlabs/post-call", vec![]),
        ("elevenlabs/transcription", vec![]),
        (
            "elevenlabs/transcription",
            vec![("x-transcription-secret", "wrong")],
        ),
        ("elevenlabs/nope", vec![]),
    ] {
        assert_eq!(
            gw.webhook_status_without_body(path, &headers, forty_mb)
                .await,
            401,
            "{path} {headers:?}"
        );
    }
    let refused = gw
        .receipts(&[("provider", "elevenlabs"), ("outcome", "rejected")])
        .await;
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(refused.iter().all(|r| r["body_size"] == 0), "{refused:?}");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_webhook_body_limit_is_the_provider_s() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_big").await;
    let audio: Vec<u8> = (0..=255u8).cycle().take(1_500_000).collect();
    let body = json!({
        "type": "post_call_audio",
        "event_timestamp": unix_now(),
        "data": {
            "agent_id": AGENT,
            "conversation_id": "conv_big",
            "full_audio": base64::engine::general_purpose::STANDARD.encode(&audio),
        },
    });
    assert!(body.to_string().len() > 1024 * 1024);
    let answer = gw.apply(&body).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let served = gw
        .client
        .get(gw.url(&format!("/v1/calls/{id}/recording")))
        .send()
        .await
        .expect("recording request")
        .bytes()
        .await
        .expect("recording bytes");
    assert_eq!(served.len(), audio.len());
    assert!(served.as_ref() == audio.as_slice(), "the decoded bytes");

    let small_id = gw.accepted_call("eleven_small", "conv_small").await;
    let body = json!({
        "type": "post_call_audio",
        "event_timestamp": unix_now(),
        "data": {
            "agent_id": AGENT,
            "conversation_id": "conv_small",
            "full_audio": base64::engine::general_purpose::STANDARD.encode(&audio[..6000]),
        },
    });
    let reply = gw.signed("eleven_small", &body).await;
    let error = reply.expect_error(413);
    assert_eq!(error["error"]["code"], "payload_too_large", "{error}");
    assert_eq!(
        gw.call(&small_id).await["recording_url"],
        Value::Null,
        "nothing stored"
    );
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_bad_stale_or_missing_signatures_are_401() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_sig").await;
    let body = transcription_webhook("conv_sig", None).to_string();
    let t = unix_now();

    let wrong_secret = gw.signed_at("elevenlabs", &body, "not-the-secret", t).await;
    let error = wrong_secret.expect_error(401);
    assert_eq!(error["error"]["code"], "invalid_signature", "{error}");

    let signature = elevenlabs_provider::signature_header(WEBHOOK_SECRET, t, body.as_bytes());
    let tampered = body.replace("Angelo asked", "Someone asked");
    assert_ne!(tampered, body);
    gw.webhook_raw(
        "elevenlabs",
        &tampered,
        &[("ElevenLabs-Signature", &signature)],
    )
    .await
    .expect_error(401);

    gw.webhook_raw("elevenlabs", &body, &[])
        .await
        .expect_error(401);

    let stale = gw
        .signed_at("elevenlabs/post-call", &body, WEBHOOK_SECRET, t - 31 * 60)
        .await;
    stale.expect_error(401);

    let future = gw
        .signed_at("elevenlabs", &body, WEBHOOK_SECRET, t + 6 * 60)
        .await;
    future.expect_error(401);

    // Malformed but correctly signed: 400.
    for bad in ["not json", r#"{"type":"post_call_transcription"}"#, "[1,2]"] {
        let reply = gw.signed_at("elevenlabs", bad, WEBHOOK_SECRET, t).await;
        let error = reply.expect_error(400);
        assert_eq!(
            error["error"]["code"], "malformed_webhook",
            "{bad}: {error}"
        );
    }

    // Nothing reached the call.
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "initiating", "{call}");
    assert!(gw.transcript(&id).await.is_empty());
    let rejected = gw
        .receipts(&[("provider", "elevenlabs"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 8, "{rejected:?}");

    // 29 minutes old is still accepted.
    let reply = gw
        .signed_at("elevenlabs", &body, WEBHOOK_SECRET, t - 29 * 60)
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    assert_eq!(gw.call(&id).await["status"], "completed");
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_webhook_for_an_unknown_call_is_404() {
    let gw = Eleven::start().await;
    let _known = gw.accepted_call("elevenlabs", "conv_known").await;
    let stranger = uuid::Uuid::now_v7().to_string();
    for body in [
        transcription_webhook("conv_nobody", Some(&stranger)),
        transcription_webhook("conv_nobody", None),
        edited(INITIATION_FAILURE_BUSY, |v| {
            v["data"]["conversation_id"] = json!("conv_nobody_else");
        }),
    ] {
        let reply = gw.signed("elevenlabs", &body).await;
        let error = reply.expect_error(404);
        assert_eq!(error["error"]["code"], "unknown_call", "{error}");
        assert!(
            error["error"]["details"]["receipt_id"].is_string(),
            "{error}"
        );
    }
    let unknown = gw
        .receipts(&[("provider", "elevenlabs"), ("outcome", "unknown_call")])
        .await;
    assert_eq!(unknown.len(), 3, "{unknown:?}");
    assert!(
        unknown
            .iter()
            .all(|r| r["signature"] == "verified" && r["call_id"].is_null()),
        "{unknown:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn elevenlabs_without_secrets_unsigned_webhooks_are_refused_unless_allowed() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("eleven_unsigned", "conv_unsigned").await;
    let body = transcription_webhook("conv_unsigned", Some(&id)).to_string();

    for path in ["eleven_unsigned", "eleven_unsigned/post-call"] {
        gw.webhook_raw(path, &body, &[]).await.expect_error(401);
        gw.signed_at(path, &body, WEBHOOK_SECRET, unix_now())
            .await
            .expect_error(401);
    }
    let live = json!({"call_id": id, "speaker": "user", "message": "hello"}).to_string();
    gw.webhook_raw("eleven_unsigned/transcription", &live, &[])
        .await
        .expect_error(401);
    gw.webhook_raw(
        "eleven_unsigned/transcription",
        &live,
        &[("x-transcription-secret", TRANSCRIPTION_SECRET)],
    )
    .await
    .expect_error(401);
    assert_eq!(gw.call(&id).await["status"], "initiating");

    // With allow_unsigned_webhooks = true the same delivery is taken, and recorded as unsigned.
    let open_id = gw.accepted_call("eleven_open", "conv_open").await;
    let body = transcription_webhook("conv_open", None).to_string();
    let reply = gw.webhook_raw("eleven_open", &body, &[]).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    assert_eq!(gw.call(&open_id).await["status"], "completed");
    let receipts = gw.receipts(&[("call_id", &open_id)]).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["signature"], "unsigned", "{receipts:?}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Live transcription
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn elevenlabs_live_turns_then_post_call_transcript_without_duplicates() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_live").await;
    let first = json!({
        "call_id": id,
        "speaker": "agent",
        "message": "Hi Ada, this is the clinic calling about tomorrow.",
        "sequence": 0,
        "time_in_call_secs": 0,
    })
    .to_string();
    // Named by the vendor's conversation id this time.
    let second = json!({
        "call_id": "conv_live",
        "speaker": "user",
        "message": "I'd like to reschedule.",
        "sequence": 1,
        "time_in_call_secs": 12.4,
    })
    .to_string();

    // Refused before anything is stored.
    let wrong = gw.live_turn(&first, Some("not-the-secret")).await;
    assert_eq!(
        wrong.expect_error(401)["error"]["code"],
        "invalid_signature"
    );
    gw.live_turn(&first, None).await.expect_error(401);
    for bad in [
        "not json".to_owned(),
        json!({"call_id": id, "speaker": "robot", "message": "hi"}).to_string(),
        json!({"call_id": id, "speaker": "user", "message": ""}).to_string(),
        json!({"call_id": id, "speaker": "user"}).to_string(),
        json!({"speaker": "user", "message": "hi"}).to_string(),
        json!({"call_id": id, "speaker": "user", "message": "hi", "sequence": -1}).to_string(),
    ] {
        let reply = gw.live_turn(&bad, Some(TRANSCRIPTION_SECRET)).await;
        let error = reply.expect_error(400);
        assert_eq!(
            error["error"]["code"], "malformed_webhook",
            "{bad}: {error}"
        );
    }
    for stranger in [uuid::Uuid::now_v7().to_string(), "conv_nobody".to_owned()] {
        let body = json!({"call_id": stranger, "speaker": "user", "message": "hi"}).to_string();
        let reply = gw.live_turn(&body, Some(TRANSCRIPTION_SECRET)).await;
        assert_eq!(reply.expect_error(404)["error"]["code"], "unknown_call");
    }
    assert!(gw.transcript(&id).await.is_empty());

    for body in [&first, &second] {
        let reply = gw.live_turn(body, Some(TRANSCRIPTION_SECRET)).await;
        reply.expect_status(200);
        let answer = reply.json();
        assert_eq!(answer["outcome"], "applied", "{answer}");
        assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    }
    // The tool retried: same sequence, a duplicate.
    let reply = gw.live_turn(&second, Some(TRANSCRIPTION_SECRET)).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "duplicate", "{}", reply.text);

    // The shared secret is a credential: never stored with the receipts.
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(receipts.len(), 3, "{receipts:?}");
    for receipt in &receipts {
        assert_eq!(receipt["topic"], "transcription", "{receipt}");
        assert_eq!(receipt["event_type"], "transcription", "{receipt}");
        assert_eq!(receipt["signature"], "verified", "{receipt}");
        let headers = receipt["headers"].as_array().expect("headers");
        let secret = headers
            .iter()
            .find(|h| h[0] == "x-transcription-secret")
            .unwrap_or_else(|| panic!("{receipt}"));
        assert_ne!(secret[1], TRANSCRIPTION_SECRET, "{receipt}");
    }
    assert!(
        !receipts
            .iter()
            .any(|r| r.to_string().contains(TRANSCRIPTION_SECRET)),
        "{receipts:?}"
    );

    let live = gw.transcript(&id).await;
    assert_eq!(
        texts(&live),
        [
            (
                "agent".to_owned(),
                "Hi Ada, this is the clinic calling about tomorrow.".to_owned(),
                "live".to_owned()
            ),
            (
                "user".to_owned(),
                "I'd like to reschedule.".to_owned(),
                "live".to_owned()
            ),
        ]
    );
    assert_eq!(live[1]["offset_secs"], json!(12.4));

    // The post-call report repeats both turns and adds one the tool never reported.
    let report = edited(POST_CALL_TRANSCRIPTION, |v| {
        let data = &mut v["data"];
        data["conversation_id"] = json!("conv_live");
        data["user_id"] = json!(id);
        data["transcript"] = json!([
            {"role": "agent", "message": "Hi Ada, this is the clinic calling about tomorrow.", "time_in_call_secs": 0},
            {"role": "user", "message": "I'd like to reschedule.", "time_in_call_secs": 12},
            {"role": "agent", "message": "Of course, which day suits you?", "time_in_call_secs": 15},
        ]);
    });
    gw.apply(&report).await;
    let turns = gw.transcript(&id).await;
    assert_eq!(
        texts(&turns),
        [
            (
                "agent".to_owned(),
                "Hi Ada, this is the clinic calling about tomorrow.".to_owned(),
                "live".to_owned()
            ),
            (
                "user".to_owned(),
                "I'd like to reschedule.".to_owned(),
                "live".to_owned()
            ),
            (
                "agent".to_owned(),
                "Of course, which day suits you?".to_owned(),
                "post_call".to_owned()
            ),
        ],
        "each turn once: {turns:?}"
    );
    let seqs: Vec<i64> = turns.iter().filter_map(|t| t["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(gw.call(&id).await["status"], "completed");
    gw.stop().await;
}
