//! The `vapi` provider end to end: the real gateway in-process, with VAPI instances whose
//! `base_url` is a local mock of VAPI's API (see `mock_vendor`); the call's control URL the mock
//! hands out points at the mock too, so hang-ups reach it. Server messages are played over HTTP,
//! authenticated as each instance's `webhook_auth` asks. The scenarios every vendor runs are in
//! `vendors`; here is what VAPI does alone.

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{
    Headers, MockedGateway, Reply, Socket, TO, Turn, assert_fields, assert_turns, closed_port,
    edited, error_call_id, expect_code, expect_outcome, fixture, frames_until, id_of, next_frame,
    parse, sorted, timestamped_hmac,
};
use crate::mock_vendor::MockReply;
use crate::vendors::{Vendor, vendor_scenarios, with_id};

const API_KEY: &str = "vapi_e2e_private_key";
const ASSISTANT: &str = "asst_e2e";
const PHONE: &str = "pn_e2e";
const WEBHOOK_SECRET: &str = "vapi_e2e_webhook_secret";
const SERVER_URL: &str = "https://gw.example.com/webhooks/vapi";
const CALL_PATH: &str = "/call";
const FINAL_TRANSCRIPT: &str = r#"transcript[transcriptType="final"]"#;
const TWILIO_SID: &str = "CA0123456789abcdef0123456789abcdef";

const CALL_RESPONSE: &str = fixture!("vapi", "call_response");
const RINGING: &str = fixture!("vapi", "message_status_update_ringing");
const IN_PROGRESS: &str = fixture!("vapi", "message_status_update_in_progress");
const REPORT: &str = fixture!("vapi", "message_end_of_call_report");
const ASSISTANT_REQUEST: &str = fixture!("vapi", "message_assistant_request");

/// The VAPI instances of every gateway here, all pointing at the mock:
/// - `vapi` (default): shared secret in `x-vapi-secret`, `server_url` set;
/// - `vapi_timeout`: like `vapi` without `server_url`, gives VAPI 300 ms;
/// - `vapi_down`: like `vapi_timeout`, at a port where nothing listens;
/// - `vapi_bearer`: `Authorization: Bearer`;
/// - `vapi_hmac`: HMAC-SHA256 in `x-signature` over `{x-timestamp}.{body}`;
/// - `vapi_unsigned`: no secret, unsigned messages refused (the default);
/// - `vapi_open`: no secret, `allow_unsigned_webhooks = true`;
/// - `vapi_quiet`: no default phone number, no `server_url`, `live_transcripts = false`;
/// - `vapi_custom`: shared secret in the custom header `x-webhook-auth`.
pub enum VapiVendor {}

/// A gateway with the VAPI instances above and its mock VAPI.
type Vapi = MockedGateway<VapiVendor>;

vendor_scenarios!(VapiVendor);

impl Vendor for VapiVendor {
    const KIND: &'static str = "vapi";
    const DEFAULT_PROVIDER: &'static str = "vapi";
    const TIMEOUT_PROVIDER: &'static str = "vapi_timeout";
    const DOWN_PROVIDER: &'static str = "vapi_down";
    const SIGNED_PROVIDER: &'static str = "vapi_hmac";
    const UNSIGNED_PROVIDER: &'static str = "vapi_unsigned";
    const OPEN_PROVIDER: &'static str = "vapi_open";

    fn providers_toml(mock: &str) -> String {
        let agent =
            format!("kind = \"vapi\"\napi_key = \"{API_KEY}\"\nassistant_id = \"{ASSISTANT}\"\n");
        let (secret, phone) = (
            format!("webhook_secret = \"{WEBHOOK_SECRET}\"\n"),
            format!("phone_number_id = \"{PHONE}\"\n"),
        );
        let at = |url: &str, ms: u32| format!("base_url = \"{url}\"\nrequest_timeout_ms = {ms}\n");
        let (mocked, down) = (
            at(mock, 5000),
            at(&format!("http://127.0.0.1:{}", closed_port()), 5000),
        );
        let timeout = at(mock, 300);
        format!(
            r#"
[providers.vapi]
{agent}{secret}{phone}{mocked}server_url = "{SERVER_URL}"
webhook_auth = "secret"

[providers.vapi_timeout]
{agent}{secret}{phone}{timeout}webhook_auth = "secret"

[providers.vapi_down]
{agent}{secret}{phone}{down}webhook_auth = "secret"

[providers.vapi_bearer]
{agent}{secret}{phone}{mocked}webhook_auth = "bearer"

[providers.vapi_hmac]
{agent}{secret}{phone}{mocked}webhook_auth = "hmac"

[providers.vapi_unsigned]
{agent}{phone}{mocked}allow_unsigned_webhooks = false

[providers.vapi_open]
{agent}{phone}{mocked}allow_unsigned_webhooks = true

[providers.vapi_quiet]
{agent}{secret}{mocked}live_transcripts = false

[providers.vapi_custom]
{agent}{secret}{phone}{mocked}webhook_auth = "secret"
secret_header = "X-Webhook-Auth"
"#
        )
    }

    const CREATE_PATH: &'static str = CALL_PATH;
    const FETCH_PATH: &'static str = "/call/{id}";
    /// `Bearer {API_KEY}`.
    const API_KEY_HEADER: (&'static str, &'static str) =
        ("authorization", "Bearer vapi_e2e_private_key");
    const UNAVAILABLE: &'static str = fixture!("vapi", "error_503");
    const RATE_LIMITED: &'static str = fixture!("vapi", "error_429");
    const INTERNAL_ERROR: &'static str = r#"{"message":"Internal server error","statusCode":500}"#;
    const REFUSALS: [(u16, &'static str, &'static str); 2] = [
        (
            400,
            fixture!("vapi", "error_400_string"),
            "Couldn't Get Assistant. `assistantId` asst_123 Does Not Exist.",
        ),
        (
            400,
            fixture!("vapi", "error_400_list"),
            "customer.number must be a valid phone number in the E.164 format; \
             phoneNumberId must be a UUID",
        ),
    ];
    const ID_PREFIX: &'static str = "c2a8b1f0-1111-4c2e-9d35-";
    const GATEWAY_ID_FIELD: &'static str = "assistantOverrides.metadata.gateway_call_id";
    const SECRETS: &'static [&'static str] = &[API_KEY, WEBHOOK_SECRET];

    /// Status `queued` (the gateway's `initiating`), with a control URL on the mock.
    fn accepted(gw: &Vapi, vapi_id: &str) -> MockReply {
        let answer = edited(CALL_RESPONSE, |v| {
            v["id"] = json!(vapi_id);
            v["monitor"]["controlUrl"] = json!(gw.control_url(vapi_id));
        });
        MockReply::json(201, answer.to_string())
    }

    /// VAPI has no top-level metadata.
    fn assert_documented_request(body: &Value, id: &str) {
        assert_fields!(body, {"assistantId": ASSISTANT, "phoneNumberId": PHONE,
            "customer.number": TO,
            "assistantOverrides.variableValues": {"customer_name": "Ada", "slot": 3},
            "assistantOverrides.metadata": {"crm_id": "drv-42", "gateway_call_id": id},
            "assistantOverrides.server": {"url": SERVER_URL}});
        assert!(body.get("metadata").is_none(), "{body}");
        let messages = body["assistantOverrides"]["serverMessages"].as_array();
        let mut messages: Vec<&str> = messages
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        messages.sort_unstable();
        let expected = [
            "end-of-call-report",
            "hang",
            "status-update",
            FINAL_TRANSCRIPT,
        ];
        assert_eq!(messages, expected, "{body}");
    }

    /// The control URL (as sent, hex-encoded as stored, or its path) is a secret: never logged
    /// or returned by the API.
    fn hidden(gw: &Vapi, vapi_id: &str) -> Vec<String> {
        let control_url = gw.control_url(vapi_id);
        let hex = hex::encode(control_url.as_bytes());
        vec![hex, control_url, control_path(vapi_id)]
    }

    const WEBHOOK_SECRET: &'static str = WEBHOOK_SECRET;
    const SIGNATURE_WINDOW: (i64, i64, i64) = (4 * 60, 6 * 60, 6 * 60);
    const MALFORMED: &'static [&'static str] = &[
        "not json",
        "[1,2]",
        r#"{"type":"status-update"}"#,
        r#"{"message":{"status":"ringing"}}"#,
        r#"{"message":{"call":{"id":"c2a8b1f0-1111-4c2e-9d35-malformed"},"type":"status-update"}}"#,
        concat!(
            r#"{"message":{"call":{"id":"c2a8b1f0-1111-4c2e-9d35-malformed"},"#,
            r#""transcript":"hi","type":"transcript"}}"#
        ),
    ];

    fn credentials(_: &str) -> Headers {
        vec![("x-vapi-secret", WEBHOOK_SECRET.to_owned())]
    }

    fn sign(body: &str, secret: &str, t: i64) -> Headers {
        vec![
            ("x-signature", timestamped_hmac(secret, t, body)),
            ("x-timestamp", t.to_string()),
        ]
    }

    /// The signature covers the timestamp; a signature or a timestamp alone is refused.
    fn forged(body: &str, t: i64) -> Vec<Headers> {
        let signature = timestamped_hmac(WEBHOOK_SECRET, t, body);
        let earlier = (t - 1).to_string();
        vec![
            vec![("x-signature", signature.clone()), ("x-timestamp", earlier)],
            vec![("x-timestamp", t.to_string())],
            vec![("x-signature", signature)],
        ]
    }

    fn other_credentials() -> Vec<Headers> {
        vec![vec![("authorization", format!("Bearer {WEBHOOK_SECRET}"))]]
    }

    fn first_webhook(gw: &Vapi, vapi_id: &str, id: Option<&str>) -> Value {
        gw.message(RINGING, vapi_id, id)
    }

    const FIRST_STATUS: &'static str = "ringing";
    const FIRST_FIELDS: &'static str =
        r#"{"telephony_ids.twilio_call_sid": "CA0123456789abcdef0123456789abcdef"}"#;
    const FIRST_TURNS: usize = 0;

    fn report(gw: &Vapi, vapi_id: &str, id: Option<&str>) -> Value {
        gw.message(REPORT, vapi_id, id)
    }

    const CHANGED_REPORT: &'static str =
        r#"{"message.analysis.summary": "Something else.", "message.timestamp": 1795168899000}"#;
    const REPORT_EVENT_TYPE: &'static str = "end-of-call-report";
    const REPORT_DEDUPE_KEY: &'static str = "{id}:end-of-call-report";
    const REPORT_ENDING: (&'static str, Option<&'static str>) =
        ("ended", Some("customer-ended-call"));
    const REPORT_FIELDS: &'static str = r#"{
        "summary": "Ada confirmed.", "success": true, "cost": 0.12, "cost_unit": "USD",
        "cost_breakdown":
            {"transport": 0.01, "stt": 0.02, "llm": 0.04, "tts": 0.03, "vapi": 0.02, "total": 0.12},
        "duration_secs": 35.0, "recording_url": "https://storage.vapi.ai/rec.wav",
        "end_reason": "customer-ended-call", "status_reason": "customer-ended-call",
        "analysis.structuredData": {"confirmed": true, "slot": "Monday 9:00"},
        "analysis.successEvaluation": "true",
        "started_at": "2026-11-20T10:00:05+00:00", "ended_at": "2026-11-20T10:00:40+00:00",
        "vendor_metadata.recordings.stereoRecordingUrl": "https://storage.vapi.ai/rec-stereo.wav"
    }"#;
    const REPORT_TURNS: &'static [Turn] = &[
        (
            "system",
            "You are a friendly clinic assistant.",
            "post_call",
        ),
        ("agent", "Hi Ada", "post_call"),
        ("user", "Hello", "post_call"),
        ("agent", "Let me check your appointment.", "post_call"),
        (
            "tool",
            r#"lookup_appointment({"patient":"Ada"})"#,
            "post_call",
        ),
        ("tool", "lookup_appointment: Monday 9:00", "post_call"),
        ("agent", "You're booked for Monday at 9.", "post_call"),
    ];
    const REPORT_OFFSETS: &'static [(usize, f64)] = &[(2, 2.1)];
    const REPORT_EVENTS: &'static [&'static str] =
        &["call.transcript.finalized", "call.recording.ready"];

    /// By VAPI id, and by an unknown gateway id.
    fn unknown_call_webhooks(gw: &Vapi) -> Vec<Value> {
        let stranger = uuid::Uuid::now_v7().to_string();
        vec![
            gw.message(
                RINGING,
                "c2a8b1f0-0000-0000-0000-00000000dead",
                Some(&stranger),
            ),
            edited(IN_PROGRESS, |v| {
                v["message"]["call"]["id"] = json!("c2a8b1f0-0000-0000-0000-00000000beef");
                v["message"]["call"]["assistantOverrides"] = json!({});
            }),
        ]
    }

    const FETCH_ERROR: (u16, &'static str) = (404, fixture!("vapi", "error_404"));

    /// The ended call of `call_response_ended.json`, without the metadata naming the gateway id.
    fn mock_finished(gw: &Vapi, vapi_id: &str, _: &str) {
        let ended = edited(fixture!("vapi", "call_response_ended"), |v| {
            v["id"] = json!(vapi_id);
            v.as_object_mut()
                .expect("object")
                .remove("assistantOverrides");
        });
        let ended = MockReply::json(200, ended.to_string());
        gw.mock
            .always("GET", &with_id(Self::FETCH_PATH, vapi_id), ended);
    }

    const FINISHED_FIELDS: &'static str = r#"{"summary": "Ada confirmed.", "success": true,
        "cost": 0.12, "cost_unit": "USD", "duration_secs": 35.0,
        "recording_url": "https://storage.vapi.ai/rec.wav", "end_reason": "customer-ended-call",
        "telephony_ids.twilio_call_sid": "CA0123456789abcdef0123456789abcdef"}"#;
    const FINISHED_TURNS: &'static [Turn] = &[
        (
            "system",
            "You are a friendly clinic assistant.",
            "post_call",
        ),
        ("agent", "Hi Ada", "post_call"),
        ("user", "Hello", "post_call"),
    ];
    const FINISHED_VENDOR_STATUS: &'static str = "ended";
    /// The fetched call's monitor URLs.
    const FINISHED_NOT_KEPT: &'static [&'static str] = &["phone-call-websocket"];
}

impl Vapi {
    /// The control URL the mock hands out for VAPI call `vapi_id`: on the mock itself.
    fn control_url(&self, vapi_id: &str) -> String {
        format!("{}{}", self.mock.base_url(), control_path(vapi_id))
    }

    /// A server-message fixture about VAPI call `vapi_id` (and gateway call `id` if given, in
    /// the metadata VAPI echoes), with any control URL in it the mock's for the call.
    fn message(&self, raw: &str, vapi_id: &str, id: Option<&str>) -> Value {
        edited(raw, |v| {
            let call = &mut v["message"]["call"];
            call["id"] = json!(vapi_id);
            let metadata = &mut call["assistantOverrides"]["metadata"];
            match id {
                Some(id) => metadata["gateway_call_id"] = json!(id),
                None => {
                    if let Some(metadata) = metadata.as_object_mut() {
                        metadata.remove("gateway_call_id");
                    }
                }
            }
            if call.get("monitor").is_some() {
                call["monitor"]["controlUrl"] = json!(self.control_url(vapi_id));
            }
        })
    }

    /// Applies the message `raw` about `vapi_id` and gateway call `id` on the `vapi` instance.
    async fn apply_message(&self, raw: &str, vapi_id: &str, id: &str) -> Value {
        self.apply("vapi", &self.message(raw, vapi_id, Some(id)))
            .await
    }

    /// A live-stream connection with the admin key, subscribed to call `id`.
    async fn subscribe(&self, id: &str) -> Socket {
        let mut socket = self.live_socket(&self.admin_key).await;
        let subscribe = Message::text(json!({"subscribe": id}).to_string());
        socket.send(subscribe).await.expect("send");
        let confirmed = next_frame(&mut socket).await;
        assert_fields!(confirmed, {"type": "subscription_confirmed", "call_id": id});
        socket
    }

    /// Asks the gateway to hang up call `id`.
    async fn hang_up(&self, id: &str) -> Reply {
        self.post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
            .await
    }
}

fn control_path(vapi_id: &str) -> String {
    format!("/control/{vapi_id}")
}

/// A `status-update` with `status` (and `endedReason`) for the call.
fn status_update(vapi_id: &str, id: &str, status: &str, ended_reason: Option<&str>) -> Value {
    let metadata = json!({"gateway_call_id": id});
    let call = json!({"id": vapi_id, "orgId": "org_1", "type": "outboundPhoneCall",
        "status": status, "assistantOverrides": {"metadata": metadata}});
    let mut message = json!({"type": "status-update", "timestamp": 1_795_168_812_000_i64,
        "status": status, "call": call});
    if let Some(reason) = ended_reason {
        message["endedReason"] = json!(reason);
    }
    json!({ "message": message })
}

/// A request's `agent_id`, `from_number_id` and `first_message` win; an instance without
/// `server_url` sends no `server`, one with `live_transcripts = false` asks for no transcript
/// messages, and a call without variables sends no `variableValues`.
#[tokio::test]
async fn request_overrides_and_instance_options_shape_the_body() {
    let gw = Vapi::start().await;
    gw.next_create(MockReply::json(201, CALL_RESPONSE));
    let call = gw
        .create_call(json!({
            "to": TO,
            "provider": "vapi_quiet",
            "agent_id": "asst_from_request",
            "from_number_id": "pn_from_request",
            "first_message": "Hi Ada, this is the clinic.",
        }))
        .await;
    let id = id_of(&call);
    let posts = gw.creates();
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    assert_fields!(body, {"assistantId": "asst_from_request", "phoneNumberId": "pn_from_request",
        "assistantOverrides.firstMessage": "Hi Ada, this is the clinic.",
        "assistantOverrides.metadata": {"gateway_call_id": id},
        "assistantOverrides.serverMessages": ["status-update", "end-of-call-report", "hang"]});
    let overrides = &body["assistantOverrides"];
    assert!(overrides.get("server").is_none(), "{body}");
    assert!(overrides.get("variableValues").is_none(), "{body}");

    // Without a from_number_id nor a phone_number_id, nothing is sent.
    let reply = gw.create(json!({"to": TO, "provider": "vapi_quiet"})).await;
    let error = expect_code(&reply, 422, "invalid_for_provider");
    assert_eq!(gw.creates().len(), 1, "not sent");
    assert_eq!(gw.call(&error_call_id(&error)).await["status"], "failed");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhook authentication (the HMAC scheme is the shared scenarios' signed instance)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn shared_secret_header_is_checked() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000a001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let body = gw.message(IN_PROGRESS, vapi_id, Some(&id)).to_string();
    let (secret, bearer) = (
        ("x-vapi-secret", WEBHOOK_SECRET),
        format!("Bearer {WEBHOOK_SECRET}"),
    );

    let wrong = gw
        .webhook_raw("vapi", &body, &[("x-vapi-secret", "not-the-secret")])
        .await;
    expect_code(&wrong, 401, "invalid_signature");
    gw.webhook_raw("vapi", &body, &[]).await.expect_error(401);
    // The right secret in another scheme's header is not this instance's credential.
    gw.webhook_raw("vapi", &body, &[("authorization", &bearer)])
        .await
        .expect_error(401);
    // VAPI posts to /webhooks/<name>: a topic is refused.
    gw.webhook_raw("vapi/status", &body, &[secret])
        .await
        .expect_error(401);
    assert_eq!(
        gw.call(&id).await["status"],
        "initiating",
        "nothing applied"
    );

    let answer = expect_outcome(&gw.webhook_raw("vapi", &body, &[secret]).await, "applied");
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert!(answer["receipt_id"].is_string(), "{answer}");
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    let rejected = gw
        .receipts(&[("provider", "vapi"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    let applied = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_fields!(applied[0], {"signature": "verified", "event_type": "status-update"});
    // The secret header is a credential: never stored.
    assert!(
        !applied[0].to_string().contains(WEBHOOK_SECRET),
        "{applied:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn custom_secret_header_is_stored_redacted() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000a002";
    let id = gw.accepted_call("vapi_custom", vapi_id).await;
    let body = gw.message(IN_PROGRESS, vapi_id, Some(&id)).to_string();
    let guess = "a-guessed-secret";
    gw.webhook_raw("vapi_custom", &body, &[("x-webhook-auth", guess)])
        .await
        .expect_error(401);
    let reply = gw
        .webhook_raw("vapi_custom", &body, &[("X-Webhook-Auth", WEBHOOK_SECRET)])
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);

    // Its name says nothing of a secret, but the instance declares it: never stored, neither
    // the real secret nor a sender's guess, in the list or in one receipt.
    let receipts = gw.receipts(&[("provider", "vapi_custom")]).await;
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    for receipt in receipts {
        let one = gw
            .get_json(&format!("/v1/webhook-receipts/{}", id_of(&receipt)))
            .await;
        for shown in [receipt.to_string(), one.to_string()] {
            assert!(
                !shown.contains(WEBHOOK_SECRET) && !shown.contains(guess),
                "{shown}"
            );
        }
        let auth = one["headers"]
            .as_array()
            .and_then(|headers| headers.iter().find(|h| h[0] == "x-webhook-auth"))
            .cloned();
        assert_eq!(auth, Some(json!(["x-webhook-auth", "[redacted]"])), "{one}");
    }
    gw.stop().await;
}

/// A shared secret or bearer token is checked on the headers: a sender without it cannot make
/// the gateway wait for (and buffer) an 8 MB body.
#[tokio::test]
async fn header_credentials_are_checked_before_the_body() {
    let gw = Vapi::start().await;
    let eight_mb = 8_000_000;
    let bearer = format!("Bearer {WEBHOOK_SECRET}");
    for (path, headers) in [
        ("vapi", vec![("x-vapi-secret", "wrong")]),
        ("vapi", vec![]),
        ("vapi_bearer", vec![("authorization", "Bearer wrong")]),
        ("vapi_custom", vec![("x-vapi-secret", WEBHOOK_SECRET)]),
        ("vapi_hmac", vec![("x-timestamp", "1")]),
        ("vapi_unsigned", vec![]),
        ("vapi/status", vec![("x-vapi-secret", WEBHOOK_SECRET)]),
    ] {
        assert_eq!(
            gw.webhook_status_without_body(path, &headers, eight_mb)
                .await,
            401,
            "{path} {headers:?}"
        );
    }
    let refused = gw.receipts(&[("outcome", "rejected")]).await;
    assert_eq!(refused.len(), 7, "{refused:?}");
    assert!(refused.iter().all(|r| r["body_size"] == 0), "{refused:?}");
    // The right credential still gets its body read and checked as before.
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000a003";
    let id = gw.accepted_call("vapi_bearer", vapi_id).await;
    let body = gw.message(IN_PROGRESS, vapi_id, Some(&id)).to_string();
    let reply = gw
        .webhook_raw("vapi_bearer", &body, &[("authorization", &bearer)])
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    gw.stop().await;
}

#[tokio::test]
async fn bearer_token_is_checked() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000b001";
    let id = gw.accepted_call("vapi_bearer", vapi_id).await;
    let body = gw.message(IN_PROGRESS, vapi_id, Some(&id)).to_string();

    for headers in [
        vec![("authorization", "Bearer not-the-secret".to_owned())],
        vec![("authorization", format!("Basic {WEBHOOK_SECRET}"))],
        vec![("x-vapi-secret", WEBHOOK_SECRET.to_owned())],
        vec![],
    ] {
        let reply = gw.webhook_with("vapi_bearer", &body, &headers).await;
        expect_code(&reply, 401, "invalid_signature");
    }
    assert_eq!(gw.call(&id).await["status"], "initiating");

    let bearer = vec![("authorization", format!("Bearer {WEBHOOK_SECRET}"))];
    expect_outcome(
        &gw.webhook_with("vapi_bearer", &body, &bearer).await,
        "applied",
    );
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A whole call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn full_call_live_turns_then_report_without_duplicates() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000e001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let mut socket = gw.subscribe(&id).await;
    let msg = |raw: &str| gw.message(raw, vapi_id, Some(&id));

    gw.apply("vapi", &msg(RINGING)).await;
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "ringing", "telephony_ids.twilio_call_sid": TWILIO_SID});
    gw.apply("vapi", &msg(IN_PROGRESS)).await;
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // Live turns: a final one in each spelling of the type, and a partial one in between.
    let agent = msg(fixture!("vapi", "message_transcript_final"));
    assert_eq!(agent["message"]["type"], FINAL_TRANSCRIPT);
    gw.apply("vapi", &agent).await;
    let partial = msg(fixture!("vapi", "message_transcript_partial"));
    assert_eq!(partial["message"]["transcriptType"], "partial");
    gw.apply("vapi", &partial).await;
    let user = msg(fixture!("vapi", "message_transcript_user_final"));
    assert_eq!(user["message"]["type"], "transcript");
    gw.apply("vapi", &user).await;
    // VAPI sent the same final turn twice: acknowledged, stored once.
    expect_outcome(&gw.deliver("vapi", &user).await, "duplicate");
    // Informational messages are acknowledged and recorded, and change nothing.
    let hang = gw
        .apply("vapi", &msg(fixture!("vapi", "message_hang")))
        .await;
    assert_eq!(hang["call_id"], id.as_str(), "{hang}");
    let speech = json!({"message": {
        "type": "speech-update", "timestamp": 1_795_168_807_800_i64, "status": "started",
        "role": "assistant",
        "call": {"id": vapi_id, "assistantOverrides": {"metadata": {"gateway_call_id": id}}},
    }});
    gw.apply("vapi", &speech).await;

    let live = gw.transcript(&id).await;
    // Final turns only, the partial one is not stored; offset = timestamp - call.startedAt,
    // none without a call.startedAt.
    assert_turns(
        &live,
        &[("agent", "Hi Ada", "live"), ("user", "Hello", "live")],
    );
    assert_fields!(live[0], {"final": true, "offset_secs": 1.6});
    assert_eq!(live[1]["offset_secs"], Value::Null, "{live:?}");
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // The end-of-call report repeats both live turns and adds the rest.
    let report = msg(REPORT);
    let answer = gw.apply("vapi", &report).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let call = gw.call(&id).await;
    assert_fields!(call, {"status": "completed", "provider_call_id": vapi_id});
    assert_fields!(call, parse(VapiVendor::REPORT_FIELDS));
    gw.assert_hidden(&call.to_string(), vapi_id, "the completed call");

    let turns = gw.transcript(&id).await;
    // Each turn once; the report dates the live turn.
    let mut expected: Vec<Turn> = vec![("agent", "Hi Ada", "live"), ("user", "Hello", "live")];
    let rest = VapiVendor::REPORT_TURNS
        .iter()
        .filter(|t| !["Hi Ada", "Hello"].contains(&t.1));
    expected.extend(rest);
    assert_turns(&turns, &expected);
    assert_eq!(turns[1]["offset_secs"], json!(2.1), "{turns:?}");
    let seqs: Vec<i64> = turns.iter().filter_map(|t| t["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<i64>>(), "{turns:?}");

    // The live stream saw the statuses, every stored turn once, and the partial one unstored.
    let frames = frames_until(&mut socket, "call_completed").await;
    let of_type = |kind: &str| {
        frames
            .iter()
            .filter(|f| f["type"] == kind)
            .collect::<Vec<_>>()
    };
    let statuses: Vec<&Value> = of_type("call_status")
        .iter()
        .map(|f| &f["status"])
        .collect();
    assert_eq!(
        statuses,
        ["ringing", "in_progress", "completed"],
        "{frames:?}"
    );
    let transcriptions = of_type("transcription");
    let partials: Vec<&&Value> = transcriptions
        .iter()
        .filter(|f| f["final"] == false)
        .collect();
    assert_eq!(partials.len(), 1, "{frames:?}");
    assert_fields!(partials[0], {"seq": null, "text": "Hel", "speaker": "user", "call_id": id});
    let finals = transcriptions.iter().filter(|f| f["final"] == true);
    let stored_seqs: Vec<i64> = finals
        .map(|f| f["seq"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(
        stored_seqs,
        (1..=7).collect::<Vec<i64>>(),
        "each turn streamed once: {frames:?}"
    );
    let completed = frames.last().expect("frames");
    assert_eq!(completed["call"]["status"], "completed", "{completed}");
    gw.assert_hidden(&completed.to_string(), vapi_id, "call_completed");

    // The same report again, and a changed one: duplicates, applied zero times.
    gw.redeliver_report(&report, &id, vapi_id).await;
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
    let expected = [
        "end-of-call-report applied",
        "end-of-call-report duplicate",
        "end-of-call-report duplicate",
        "hang applied",
        "speech-update applied",
        "status-update applied",
        "status-update applied",
        "transcript applied",
        "transcript applied",
        "transcript duplicate",
        r#"transcript[transcriptType="final"] applied"#,
    ];
    assert_eq!(outcomes, expected, "{receipts:?}");
    gw.stop().await;
}

/// Request-response messages (`assistant-request`, `tool-calls`, ...) are answered `200 {}` and
/// recorded, also for a call the gateway does not know (an `assistant-request` is usually about
/// an inbound call the gateway never placed; its receipt says `unknown_call`).
#[tokio::test]
async fn request_response_messages_and_unknown_calls() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000f001";
    let id = gw.accepted_call("vapi", vapi_id).await;

    let kinds = [
        "assistant-request",
        "tool-calls",
        "transfer-destination-request",
    ];
    for kind in kinds {
        let body = edited(ASSISTANT_REQUEST, |v| {
            v["message"]["type"] = json!(kind);
            v["message"]["call"]["id"] = json!(vapi_id);
        });
        let reply = gw.deliver("vapi", &body).await;
        reply.expect_status(200);
        assert_eq!(reply.json(), json!({}), "{kind}: {}", reply.text);
    }
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(sorted(&receipts, "event_type"), kinds, "{receipts:?}");
    assert!(
        receipts.iter().all(|r| r["outcome"] == "applied"),
        "{receipts:?}"
    );
    assert_eq!(gw.call(&id).await["status"], "initiating", "no change");

    // An inbound assistant-request names no known call: VAPI still gets the `{}` it waits for,
    // and the receipt records the unknown call.
    let reply = gw.deliver("vapi", &parse(ASSISTANT_REQUEST)).await;
    reply.expect_status(200);
    assert_eq!(reply.json(), json!({}));
    let unknown = gw
        .receipts(&[("provider", "vapi"), ("outcome", "unknown_call")])
        .await;
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_fields!(unknown[0], {"signature": "verified", "call_id": null});
    assert_eq!(gw.call(&id).await["status"], "initiating", "untouched");
    gw.stop().await;
}

#[tokio::test]
async fn ended_reasons_map_to_statuses() {
    let gw = Vapi::start().await;
    for (n, reason, expected) in [
        (1, "customer-busy", "busy"),
        (2, "customer-did-not-answer", "no_answer"),
        (3, "pipeline-error-openai-llm-failed", "failed"),
        (4, "call.start.error-get-assistant", "failed"),
        (5, "twilio-failed-to-connect-call", "failed"),
        (6, "assistant-ended-call", "completed"),
        (7, "some-reason-vapi-adds-next-year", "completed"),
    ] {
        let vapi_id = format!("c2a8b1f0-1111-4c2e-9d35-00000000100{n}");
        let id = gw.accepted_call("vapi", &vapi_id).await;
        let body = match reason {
            // The fixture itself.
            "customer-busy" => gw.message(
                fixture!("vapi", "message_status_update_ended_busy"),
                &vapi_id,
                Some(&id),
            ),
            _ => status_update(&vapi_id, &id, "ended", Some(reason)),
        };
        gw.apply("vapi", &body).await;
        let call = gw.call(&id).await;
        // `end_reason` is the raw endedReason.
        assert_fields!(call, {"status": expected, "end_reason": reason, "status_reason": reason});
        if expected == "failed" {
            assert_eq!(call["failure_reason"], reason, "{call}");
        }
        let events = gw.events(&id).await;
        let ended = |e: &Value| e["to_status"] == expected && e["vendor_status"] == "ended";
        assert!(
            events.iter().any(|e| ended(e) && e["reason"] == reason),
            "{reason}: {events:?}"
        );
    }

    // `ended` without a reason is a normal ending; the fixture with its endedAt dates it.
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000001010";
    let id = gw.accepted_call("vapi", vapi_id).await;
    gw.apply_message(
        fixture!("vapi", "message_status_update_ended"),
        vapi_id,
        &id,
    )
    .await;
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    let ended_at = call["ended_at"].as_str().map(|s| &s[..19]);
    assert_eq!(ended_at, Some("2026-11-20T10:00:40"), "{call}");
    // A terminal call stays terminal.
    gw.apply("vapi", &status_update(vapi_id, &id, "in-progress", None))
        .await;
    assert_eq!(gw.call(&id).await["status"], "completed");
    gw.stop().await;
}

#[tokio::test]
async fn hangup_posts_end_call_to_the_control_url() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000002001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    gw.apply_message(IN_PROGRESS, vapi_id, &id).await;
    let control = control_path(vapi_id);
    gw.mock
        .always("POST", &control, MockReply::json(200, r#"{"ok":true}"#));

    let reply = gw.hang_up(&id).await;
    reply.expect_status(202);
    gw.assert_hidden(&reply.text, vapi_id, "the hang-up answer");
    // The status changes when VAPI says.
    assert_fields!(reply.json(), {"id": id, "status": "in_progress"});

    let controls = gw.mock.requests("POST", &control);
    assert_eq!(controls.len(), 1, "{:?}", gw.mock.received());
    assert_eq!(controls[0].json(), json!({"type": "end-call"}));
    let content_type = controls[0].header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{:?}",
        controls[0]
    );
    // The API key is not sent to the control URL.
    assert_eq!(controls[0].header("authorization"), None);
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // VAPI confirms the end.
    let ended = status_update(vapi_id, &id, "ended", Some("manually-canceled"));
    gw.apply("vapi", &ended).await;
    assert_fields!(gw.call(&id).await, {"status": "canceled", "end_reason": "manually-canceled"});

    // An ended call is not hung up again.
    gw.hang_up(&id).await.expect_error(409);
    assert_eq!(gw.mock.requests("POST", &control).len(), 1);

    // A call whose create answer had no control URL cannot be hung up through the gateway.
    let bare = edited(fixture!("vapi", "call_response_minimal"), |v| {
        v["id"] = json!("c2a8b1f0-1111-4c2e-9d35-000000002002");
    });
    gw.next_create(MockReply::json(201, bare.to_string()));
    let bare_id = id_of(&gw.create_call(json!({"to": TO})).await);
    gw.hang_up(&bare_id).await.expect_error(409);
    let received = gw.mock.received();
    let sent: Vec<String> = received
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sent,
        [
            "POST /call".to_owned(),
            format!("POST {control}"),
            "POST /call".to_owned()
        ]
    );
    gw.stop().await;
}
