//! The `vapi` provider end to end: the real gateway in-process, with VAPI instances whose
//! `base_url` is a local mock of VAPI's API (see `mock_vendor`); the call's control URL the mock
//! hands out points at the mock too, so hang-ups reach it. Server messages are played over HTTP,
//! authenticated as each instance's `webhook_auth` asks.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{
    MockedGateway, Reply, Socket, TO, Vendor, edited, frames_until, id_of, next_frame, unix_now,
};
use crate::mock_vendor::{MockReply, MockVendor};

const API_KEY: &str = "vapi_e2e_private_key";
const ASSISTANT: &str = "asst_e2e";
const PHONE: &str = "pn_e2e";
const WEBHOOK_SECRET: &str = "vapi_e2e_webhook_secret";
const SERVER_URL: &str = "https://gw.example.com/webhooks/vapi";
const CALL_PATH: &str = "/call";
const FINAL_TRANSCRIPT: &str = r#"transcript[transcriptType="final"]"#;

const CALL_RESPONSE: &str = include_str!("../../providers/vapi/tests/fixtures/call_response.json");
const CALL_RESPONSE_MINIMAL: &str =
    include_str!("../../providers/vapi/tests/fixtures/call_response_minimal.json");
const CALL_RESPONSE_ENDED: &str =
    include_str!("../../providers/vapi/tests/fixtures/call_response_ended.json");
const ERROR_400_STRING: &str =
    include_str!("../../providers/vapi/tests/fixtures/error_400_string.json");
const ERROR_400_LIST: &str =
    include_str!("../../providers/vapi/tests/fixtures/error_400_list.json");
const ERROR_404: &str = include_str!("../../providers/vapi/tests/fixtures/error_404.json");
const ERROR_503: &str = include_str!("../../providers/vapi/tests/fixtures/error_503.json");
const RINGING: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_status_update_ringing.json");
const IN_PROGRESS: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_status_update_in_progress.json");
const ENDED: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_status_update_ended.json");
const ENDED_BUSY: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_status_update_ended_busy.json");
const TRANSCRIPT_FINAL: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_transcript_final.json");
const TRANSCRIPT_PARTIAL: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_transcript_partial.json");
const TRANSCRIPT_USER_FINAL: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_transcript_user_final.json");
const REPORT: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_end_of_call_report.json");
const HANG: &str = include_str!("../../providers/vapi/tests/fixtures/message_hang.json");
const ASSISTANT_REQUEST: &str =
    include_str!("../../providers/vapi/tests/fixtures/message_assistant_request.json");

/// The VAPI instances of every gateway here, all pointing at `mock`:
/// - `vapi` (default): shared secret in `x-vapi-secret`, `server_url` set;
/// - `vapi_bearer`: `Authorization: Bearer`;
/// - `vapi_hmac`: HMAC-SHA256 in `x-signature` over `{x-timestamp}.{body}`;
/// - `vapi_unsigned`: no secret, unsigned messages refused (the default);
/// - `vapi_open`: no secret, `allow_unsigned_webhooks = true`;
/// - `vapi_quiet`: no default phone number, no `server_url`, `live_transcripts = false`;
/// - `vapi_custom`: shared secret in the custom header `x-webhook-auth`.
enum VapiVendor {}

impl Vendor for VapiVendor {
    const DEFAULT_PROVIDER: &'static str = "vapi";

    fn providers_toml(mock: &str) -> String {
        let common = format!(
            "kind = \"vapi\"\napi_key = \"{API_KEY}\"\nassistant_id = \"{ASSISTANT}\"\n\
         base_url = \"{mock}\"\nrequest_timeout_ms = 5000\n"
        );
        format!(
            r#"
[providers.vapi]
{common}phone_number_id = "{PHONE}"
server_url = "{SERVER_URL}"
webhook_auth = "secret"
webhook_secret = "{WEBHOOK_SECRET}"

[providers.vapi_bearer]
{common}phone_number_id = "{PHONE}"
webhook_auth = "bearer"
webhook_secret = "{WEBHOOK_SECRET}"

[providers.vapi_hmac]
{common}phone_number_id = "{PHONE}"
webhook_auth = "hmac"
webhook_secret = "{WEBHOOK_SECRET}"

[providers.vapi_unsigned]
{common}phone_number_id = "{PHONE}"
allow_unsigned_webhooks = false

[providers.vapi_open]
{common}phone_number_id = "{PHONE}"
allow_unsigned_webhooks = true

[providers.vapi_quiet]
{common}webhook_secret = "{WEBHOOK_SECRET}"
live_transcripts = false

[providers.vapi_custom]
{common}phone_number_id = "{PHONE}"
webhook_auth = "secret"
secret_header = "X-Webhook-Auth"
webhook_secret = "{WEBHOOK_SECRET}"
"#
        )
    }
}

/// A gateway with the VAPI instances above and its mock VAPI.
type Vapi = MockedGateway<VapiVendor>;

impl Vapi {
    /// The control URL the mock hands out for VAPI call `vapi_id`: on the mock itself.
    fn control_url(&self, vapi_id: &str) -> String {
        format!("{}{}", self.mock.base_url(), control_path(vapi_id))
    }

    /// Places a call on `provider` that the mock accepts as VAPI call `vapi_id` (status
    /// `queued`, with a control URL on the mock); returns the gateway's id.
    async fn accepted_call(&self, provider: &str, vapi_id: &str) -> String {
        let answer = edited(CALL_RESPONSE, |v| {
            v["id"] = json!(vapi_id);
            v["monitor"]["controlUrl"] = json!(self.control_url(vapi_id));
        });
        self.mock
            .enqueue("POST", CALL_PATH, MockReply::json(201, answer.to_string()));
        let reply = self.create(json!({"to": TO, "provider": provider})).await;
        reply.expect_status(201);
        let call = reply.json();
        assert_eq!(call["provider_call_id"], vapi_id, "{call}");
        id_of(&call)
    }

    /// Posts `body` to the `vapi` instance with its shared secret, as VAPI does.
    async fn message(&self, body: &Value) -> Reply {
        self.webhook_raw(
            "vapi",
            &body.to_string(),
            &[("x-vapi-secret", WEBHOOK_SECRET)],
        )
        .await
    }

    /// A message to the `vapi` instance that must be applied (200, `applied`); returns the answer.
    async fn apply(&self, body: &Value) -> Value {
        let reply = self.message(body).await;
        reply.expect_status(200);
        let answer = reply.json();
        assert_eq!(answer["status"], "ok", "{answer}");
        assert_eq!(answer["outcome"], "applied", "{answer}");
        answer
    }

    /// Posts `body` to `/webhooks/{path}` signed with HMAC at unix second `t` with `secret`.
    async fn hmac_signed(&self, path: &str, body: &str, secret: &str, t: i64) -> Reply {
        let timestamp = t.to_string();
        let signature = vapi_provider::hmac_signature(secret, &timestamp, body.as_bytes());
        self.webhook_raw(
            path,
            body,
            &[("x-signature", &signature), ("x-timestamp", &timestamp)],
        )
        .await
    }

    /// A live-stream connection with the admin key, subscribed to call `id`.
    async fn subscribe(&self, id: &str) -> Socket {
        let mut socket = self.live_socket(&self.admin_key).await;
        socket
            .send(Message::text(json!({"subscribe": id}).to_string()))
            .await
            .expect("send");
        let confirmed = next_frame(&mut socket).await;
        assert_eq!(confirmed["type"], "subscription_confirmed", "{confirmed}");
        assert_eq!(confirmed["call_id"], id, "{confirmed}");
        socket
    }
}

fn control_path(vapi_id: &str) -> String {
    format!("/control/{vapi_id}")
}

/// A server-message fixture about VAPI call `vapi_id` and gateway call `gateway_id` (the
/// metadata VAPI echoes), with any control URL in it replaced by `control_url`.
fn message_for(raw: &str, vapi_id: &str, gateway_id: &str, control_url: &str) -> Value {
    edited(raw, |v| {
        let call = &mut v["message"]["call"];
        call["id"] = json!(vapi_id);
        call["assistantOverrides"]["metadata"]["gateway_call_id"] = json!(gateway_id);
        if call.get("monitor").is_some() {
            call["monitor"]["controlUrl"] = json!(control_url);
        }
    })
}

/// A `status-update` with `status` (and `endedReason`) for the call, at `timestamp` ms.
fn status_update(
    vapi_id: &str,
    gateway_id: &str,
    status: &str,
    ended_reason: Option<&str>,
) -> Value {
    let mut message = json!({
        "type": "status-update",
        "timestamp": 1_795_168_812_000_i64,
        "status": status,
        "call": {
            "id": vapi_id,
            "orgId": "org_1",
            "type": "outboundPhoneCall",
            "status": status,
            "assistantOverrides": {"metadata": {"gateway_call_id": gateway_id}},
        },
    });
    if let Some(reason) = ended_reason {
        message["endedReason"] = json!(reason);
    }
    json!({ "message": message })
}

fn error_call_id(error: &Value) -> String {
    error["error"]["details"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("details.call_id: {error}"))
        .to_owned()
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

fn turn(speaker: &str, text: &str, source: &str) -> (String, String, String) {
    (speaker.to_owned(), text.to_owned(), source.to_owned())
}

/// Asserts that no form of the control URL (as sent, hex-encoded as stored, or its path) is in
/// `shown`.
#[track_caller]
fn assert_no_control_url(shown: &str, control_url: &str, what: &str) {
    let path = control_url
        .split_once("/control/")
        .map(|(_, id)| format!("/control/{id}"))
        .unwrap_or_default();
    for secret in [
        control_url.to_owned(),
        hex::encode(control_url.as_bytes()),
        path,
    ] {
        assert!(
            secret.is_empty() || !shown.contains(&secret),
            "{what} shows the control URL ({secret}): {shown}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Placing calls
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn vapi_create_call_sends_the_documented_request() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000000001";
    let control_url = gw.control_url(vapi_id);
    let answer = edited(CALL_RESPONSE, |v| {
        v["id"] = json!(vapi_id);
        v["monitor"]["controlUrl"] = json!(control_url);
    });
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(201, answer.to_string()));

    let reply = gw
        .create(json!({
            "to": TO,
            "provider": "vapi",
            "variables": {"customer_name": "Ada", "visits": 3},
            "metadata": {"driver_id": "drv-42"},
        }))
        .await;
    reply.expect_status(201);
    assert_no_control_url(&reply.text, &control_url, "the create answer");
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/calls/{id}").as_str())
    );
    assert_eq!(call["provider"], "vapi", "{call}");
    assert_eq!(call["provider_kind"], "vapi", "{call}");
    assert_eq!(call["provider_call_id"], vapi_id, "{call}");
    assert_eq!(call["status"], "initiating", "VAPI's `queued`: {call}");

    // Exactly one request reached VAPI, and it is the documented one.
    let received = gw.mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let sent = &received[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", CALL_PATH)
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert!(
        sent.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        sent.headers
    );
    let body = sent.json();
    assert_eq!(body["assistantId"], ASSISTANT, "{body}");
    assert_eq!(body["phoneNumberId"], PHONE, "{body}");
    assert_eq!(body["customer"]["number"], TO, "{body}");
    let overrides = &body["assistantOverrides"];
    assert_eq!(
        overrides["variableValues"],
        json!({"customer_name": "Ada", "visits": 3}),
        "{body}"
    );
    assert_eq!(
        overrides["metadata"],
        json!({"driver_id": "drv-42", "gateway_call_id": id}),
        "{body}"
    );
    let mut messages: Vec<&str> = overrides["serverMessages"]
        .as_array()
        .unwrap_or_else(|| panic!("serverMessages: {body}"))
        .iter()
        .map(|m| m.as_str().unwrap_or_default())
        .collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
        [
            "end-of-call-report",
            "hang",
            "status-update",
            FINAL_TRANSCRIPT
        ],
        "{body}"
    );
    assert_eq!(overrides["server"], json!({"url": SERVER_URL}), "{body}");
    assert!(
        body.get("metadata").is_none(),
        "VAPI has no top-level metadata: {body}"
    );

    // The stored call says the same, and never shows the control URL.
    let stored = gw.get_json(&format!("/v1/calls/{id}")).await;
    assert_eq!(stored["provider_call_id"], vapi_id, "{stored}");
    assert_no_control_url(&stored.to_string(), &control_url, "GET /v1/calls/{id}");
    let listed = gw.get_json("/v1/calls").await;
    assert_no_control_url(&listed.to_string(), &control_url, "GET /v1/calls");
    gw.stop().await;
}

/// A request's `agent_id`, `from_number_id` and `first_message` win; an instance without
/// `server_url` sends no `server`, one with `live_transcripts = false` asks for no transcript
/// messages, and a call without variables sends no `variableValues`.
#[tokio::test]
async fn vapi_request_overrides_and_instance_options_shape_the_body() {
    let gw = Vapi::start().await;
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(201, CALL_RESPONSE));
    let reply = gw
        .create(json!({
            "to": TO,
            "provider": "vapi_quiet",
            "agent_id": "asst_from_request",
            "from_number_id": "pn_from_request",
            "first_message": "Hi Ada, this is the clinic.",
        }))
        .await;
    reply.expect_status(201);
    let id = id_of(&reply.json());
    let posts = gw.mock.requests("POST", CALL_PATH);
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    assert_eq!(body["assistantId"], "asst_from_request", "{body}");
    assert_eq!(body["phoneNumberId"], "pn_from_request", "{body}");
    let overrides = &body["assistantOverrides"];
    assert_eq!(
        overrides["firstMessage"], "Hi Ada, this is the clinic.",
        "{body}"
    );
    assert_eq!(
        overrides["metadata"],
        json!({"gateway_call_id": id}),
        "{body}"
    );
    assert_eq!(
        overrides["serverMessages"],
        json!(["status-update", "end-of-call-report", "hang"]),
        "{body}"
    );
    assert!(overrides.get("server").is_none(), "{body}");
    assert!(overrides.get("variableValues").is_none(), "{body}");

    // Without a from_number_id nor a phone_number_id, nothing is sent.
    let reply = gw.create(json!({"to": TO, "provider": "vapi_quiet"})).await;
    let error = reply.expect_error(422);
    assert_eq!(error["error"]["code"], "invalid_for_provider", "{error}");
    assert_eq!(gw.mock.requests("POST", CALL_PATH).len(), 1, "not sent");
    let call = gw.call(&error_call_id(&error)).await;
    assert_eq!(call["status"], "failed", "{call}");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_400_fails_the_call_with_the_vendor_message() {
    let gw = Vapi::start().await;
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(400, ERROR_400_STRING));
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(400, ERROR_400_LIST));
    // Anything after those would be a retry.
    gw.mock
        .always("POST", CALL_PATH, MockReply::json(201, CALL_RESPONSE));

    for (position, expected) in [
        "Couldn't Get Assistant. `assistantId` asst_123 Does Not Exist.",
        "customer.number must be a valid phone number in the E.164 format; \
         phoneNumberId must be a UUID",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = gw.create(json!({"to": TO, "provider": "vapi"})).await;
        let error = reply.expect_error(502);
        assert_eq!(error["error"]["code"], "provider_rejected", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{expected}: {error}"
        );
        let id = error_call_id(&error);
        let posts = gw.mock.requests("POST", CALL_PATH);
        assert_eq!(posts.len(), position + 1, "a 400 is not retried");
        assert_eq!(
            posts[position].json()["assistantOverrides"]["metadata"]["gateway_call_id"],
            id.as_str()
        );
        let call = gw.call(&id).await;
        assert_eq!(call["status"], "failed", "{call}");
        assert_eq!(call["provider_call_id"], Value::Null, "{call}");
        let reason = call["failure_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(expected) && reason.contains("400"),
            "failure_reason keeps VAPI's message: {call}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn vapi_503_then_201_places_exactly_one_call() {
    let gw = Vapi::start().await;
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(503, ERROR_503));
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(201, CALL_RESPONSE));

    let reply = gw.create(json!({"to": TO, "provider": "vapi"})).await;
    reply.expect_status(201);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["status"], "initiating", "{call}");
    assert_eq!(
        call["provider_call_id"], "c2a8b1f0-1111-4c2e-9d35-2f6d3b7a9e01",
        "{call}"
    );
    let posts = gw.mock.requests("POST", CALL_PATH);
    assert_eq!(posts.len(), 2, "one refused attempt, one accepted");
    assert_eq!(
        posts[0].json(),
        posts[1].json(),
        "the retry is the same request, for the same gateway call"
    );
    assert_eq!(
        posts[1].json()["assistantOverrides"]["metadata"]["gateway_call_id"],
        id.as_str()
    );
    let calls = gw.get_json("/v1/calls").await;
    let items = calls["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one call exists: {calls}");
    assert_eq!(id_of(&items[0]), id);
    gw.stop().await;
}

/// A 500 may mean VAPI placed the call: 202, not retried; a later server message naming only the
/// gateway's id (in `assistantOverrides.metadata`) finds the call and teaches it VAPI's id.
#[tokio::test]
async fn vapi_500_is_an_unknown_outcome_settled_by_a_server_message() {
    let gw = Vapi::start().await;
    gw.mock.enqueue(
        "POST",
        CALL_PATH,
        MockReply::json(
            500,
            r#"{"message":"Internal server error","statusCode":500}"#,
        ),
    );
    gw.mock
        .always("POST", CALL_PATH, MockReply::json(201, CALL_RESPONSE));
    let reply = gw.create(json!({"to": TO, "provider": "vapi"})).await;
    reply.expect_status(202);
    let call = reply.json();
    let id = id_of(&call);
    assert_eq!(call["status"], "initiating", "{call}");
    assert_eq!(call["status_reason"], "vendor_outcome_unknown", "{call}");
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");
    assert_eq!(gw.mock.requests("POST", CALL_PATH).len(), 1, "no retry");

    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000000500";
    let ringing = message_for(RINGING, vapi_id, &id, &gw.control_url(vapi_id));
    let answer = gw.apply(&ringing).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "ringing", "{call}");
    assert_eq!(call["provider_call_id"], vapi_id, "{call}");
    assert_eq!(
        call["telephony_ids"]["twilio_call_sid"], "CA0123456789abcdef0123456789abcdef",
        "{call}"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhook authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn vapi_shared_secret_header_is_checked() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000a001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();

    let wrong = gw
        .webhook_raw("vapi", &body, &[("x-vapi-secret", "not-the-secret")])
        .await;
    assert_eq!(
        wrong.expect_error(401)["error"]["code"],
        "invalid_signature"
    );
    gw.webhook_raw("vapi", &body, &[]).await.expect_error(401);
    // The right secret in another scheme's header is not this instance's credential.
    gw.webhook_raw(
        "vapi",
        &body,
        &[("authorization", &format!("Bearer {WEBHOOK_SECRET}"))],
    )
    .await
    .expect_error(401);
    // VAPI posts to /webhooks/<name>: a topic is refused.
    gw.webhook_raw("vapi/status", &body, &[("x-vapi-secret", WEBHOOK_SECRET)])
        .await
        .expect_error(401);

    // Authenticated but malformed: 400.
    for bad in [
        "not json".to_owned(),
        "[1,2]".to_owned(),
        json!({"type": "status-update"}).to_string(),
        json!({"message": {"status": "ringing"}}).to_string(),
        json!({"message": {"type": "status-update", "call": {"id": vapi_id}}}).to_string(),
        json!({"message": {"type": "transcript", "transcript": "hi", "call": {"id": vapi_id}}})
            .to_string(),
    ] {
        let reply = gw
            .webhook_raw("vapi", &bad, &[("x-vapi-secret", WEBHOOK_SECRET)])
            .await;
        let error = reply.expect_error(400);
        assert_eq!(
            error["error"]["code"], "malformed_webhook",
            "{bad}: {error}"
        );
    }
    assert_eq!(
        gw.call(&id).await["status"],
        "initiating",
        "nothing applied"
    );

    let reply = gw
        .webhook_raw("vapi", &body, &[("x-vapi-secret", WEBHOOK_SECRET)])
        .await;
    reply.expect_status(200);
    let answer = reply.json();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert!(answer["receipt_id"].is_string(), "{answer}");
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    let rejected = gw
        .receipts(&[("provider", "vapi"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 10, "{rejected:?}");
    let applied = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0]["signature"], "verified", "{applied:?}");
    assert_eq!(applied[0]["event_type"], "status-update", "{applied:?}");
    // The secret header is a credential: never stored.
    assert!(
        !applied[0].to_string().contains(WEBHOOK_SECRET),
        "{applied:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn vapi_custom_secret_header_is_stored_redacted() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000a002";
    let id = gw.accepted_call("vapi_custom", vapi_id).await;
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();
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
async fn vapi_header_credentials_are_checked_before_the_body() {
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
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();
    let reply = gw
        .webhook_raw("vapi_bearer", &body, &[("authorization", &bearer)])
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    gw.stop().await;
}

#[tokio::test]
async fn vapi_bearer_token_is_checked() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000b001";
    let id = gw.accepted_call("vapi_bearer", vapi_id).await;
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();

    for headers in [
        vec![("authorization", "Bearer not-the-secret".to_owned())],
        vec![("authorization", format!("Basic {WEBHOOK_SECRET}"))],
        vec![("x-vapi-secret", WEBHOOK_SECRET.to_owned())],
        vec![],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = gw.webhook_raw("vapi_bearer", &body, &headers).await;
        assert_eq!(
            reply.expect_error(401)["error"]["code"],
            "invalid_signature",
            "{headers:?}"
        );
    }
    assert_eq!(gw.call(&id).await["status"], "initiating");

    let reply = gw
        .webhook_raw(
            "vapi_bearer",
            &body,
            &[("authorization", &format!("Bearer {WEBHOOK_SECRET}"))],
        )
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_hmac_signature_is_checked() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000c001";
    let id = gw.accepted_call("vapi_hmac", vapi_id).await;
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();
    let t = unix_now();

    let wrong_key = gw
        .hmac_signed("vapi_hmac", &body, "not-the-secret", t)
        .await;
    assert_eq!(
        wrong_key.expect_error(401)["error"]["code"],
        "invalid_signature"
    );
    // Signed, then changed.
    let timestamp = t.to_string();
    let signature = vapi_provider::hmac_signature(WEBHOOK_SECRET, &timestamp, body.as_bytes());
    let tampered = body.replace("in-progress", "ringing");
    assert_ne!(tampered, body);
    gw.webhook_raw(
        "vapi_hmac",
        &tampered,
        &[("x-signature", &signature), ("x-timestamp", &timestamp)],
    )
    .await
    .expect_error(401);
    // The signature covers the timestamp.
    gw.webhook_raw(
        "vapi_hmac",
        &body,
        &[
            ("x-signature", &signature),
            ("x-timestamp", &(t - 1).to_string()),
        ],
    )
    .await
    .expect_error(401);
    // Missing signature, missing timestamp, nothing at all.
    gw.webhook_raw("vapi_hmac", &body, &[("x-timestamp", &timestamp)])
        .await
        .expect_error(401);
    gw.webhook_raw("vapi_hmac", &body, &[("x-signature", &signature)])
        .await
        .expect_error(401);
    gw.webhook_raw("vapi_hmac", &body, &[])
        .await
        .expect_error(401);
    // Older than 5 minutes, or as far in the future: stale.
    gw.hmac_signed("vapi_hmac", &body, WEBHOOK_SECRET, t - 6 * 60)
        .await
        .expect_error(401);
    gw.hmac_signed("vapi_hmac", &body, WEBHOOK_SECRET, t + 6 * 60)
        .await
        .expect_error(401);
    assert_eq!(gw.call(&id).await["status"], "initiating");
    let rejected = gw
        .receipts(&[("provider", "vapi_hmac"), ("outcome", "rejected")])
        .await;
    assert_eq!(rejected.len(), 8, "{rejected:?}");

    // Four minutes old is still accepted.
    let reply = gw
        .hmac_signed("vapi_hmac", &body, WEBHOOK_SECRET, t - 4 * 60)
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    assert_eq!(gw.call(&id).await["status"], "in_progress");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_without_a_secret_messages_are_refused_unless_allowed() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000d001";
    let id = gw.accepted_call("vapi_unsigned", vapi_id).await;
    let body = message_for(IN_PROGRESS, vapi_id, &id, "").to_string();
    for headers in [
        vec![],
        vec![("x-vapi-secret", WEBHOOK_SECRET.to_owned())],
        vec![("authorization", format!("Bearer {WEBHOOK_SECRET}"))],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        gw.webhook_raw("vapi_unsigned", &body, &headers)
            .await
            .expect_error(401);
    }
    gw.hmac_signed("vapi_unsigned", &body, WEBHOOK_SECRET, unix_now())
        .await
        .expect_error(401);
    assert_eq!(gw.call(&id).await["status"], "initiating");

    // With allow_unsigned_webhooks = true the same message is taken, recorded as unsigned.
    let open_vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000d002";
    let open_id = gw.accepted_call("vapi_open", open_vapi_id).await;
    let body = message_for(IN_PROGRESS, open_vapi_id, &open_id, "").to_string();
    let reply = gw.webhook_raw("vapi_open", &body, &[]).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "applied", "{}", reply.text);
    assert_eq!(gw.call(&open_id).await["status"], "in_progress");
    let receipts = gw.receipts(&[("call_id", &open_id)]).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0]["signature"], "unsigned", "{receipts:?}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A whole call
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn vapi_full_call_live_turns_then_report_without_duplicates() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000e001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let control_url = gw.control_url(vapi_id);
    let mut socket = gw.subscribe(&id).await;
    let msg = |raw: &str| message_for(raw, vapi_id, &id, &control_url);

    gw.apply(&msg(RINGING)).await;
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "ringing", "{call}");
    assert_eq!(
        call["telephony_ids"]["twilio_call_sid"], "CA0123456789abcdef0123456789abcdef",
        "{call}"
    );
    gw.apply(&msg(IN_PROGRESS)).await;
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // Live turns: a final one in each spelling of the type, and a partial one in between.
    let agent = msg(TRANSCRIPT_FINAL);
    assert_eq!(agent["message"]["type"], FINAL_TRANSCRIPT);
    gw.apply(&agent).await;
    let partial = msg(TRANSCRIPT_PARTIAL);
    assert_eq!(partial["message"]["transcriptType"], "partial");
    gw.apply(&partial).await;
    let user = msg(TRANSCRIPT_USER_FINAL);
    assert_eq!(user["message"]["type"], "transcript");
    gw.apply(&user).await;
    // VAPI sent the same final turn twice: acknowledged, stored once.
    let reply = gw.message(&user).await;
    reply.expect_status(200);
    assert_eq!(reply.json()["outcome"], "duplicate", "{}", reply.text);
    // Informational messages are acknowledged and recorded, and change nothing.
    let hang = gw.apply(&msg(HANG)).await;
    assert_eq!(hang["call_id"], id.as_str(), "{hang}");
    let speech = json!({"message": {
        "type": "speech-update", "timestamp": 1_795_168_807_800_i64, "status": "started",
        "role": "assistant",
        "call": {"id": vapi_id, "assistantOverrides": {"metadata": {"gateway_call_id": id}}},
    }});
    gw.apply(&speech).await;

    let live = gw.transcript(&id).await;
    assert_eq!(
        texts(&live),
        [
            turn("agent", "Hi Ada", "live"),
            turn("user", "Hello", "live")
        ],
        "final turns only, the partial one is not stored: {live:?}"
    );
    assert_eq!(live[0]["final"], true, "{live:?}");
    assert_eq!(
        live[0]["offset_secs"],
        json!(1.6),
        "timestamp - call.startedAt"
    );
    assert_eq!(live[1]["offset_secs"], Value::Null, "no call.startedAt");
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // The end-of-call report repeats both live turns and adds the rest.
    let report = msg(REPORT);
    let answer = gw.apply(&report).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["provider_call_id"], vapi_id, "{call}");
    assert_eq!(call["summary"], "Ada confirmed.", "{call}");
    assert_eq!(call["success"], true, "{call}");
    assert_eq!(call["cost"], json!(0.12), "{call}");
    assert_eq!(call["cost_unit"], "USD", "{call}");
    assert_eq!(
        call["cost_breakdown"],
        json!({"transport": 0.01, "stt": 0.02, "llm": 0.04, "tts": 0.03, "vapi": 0.02, "total": 0.12}),
        "{call}"
    );
    assert_eq!(call["duration_secs"], json!(35.0), "{call}");
    assert_eq!(
        call["recording_url"], "https://storage.vapi.ai/rec.wav",
        "{call}"
    );
    assert_eq!(call["end_reason"], "customer-ended-call", "{call}");
    assert_eq!(call["status_reason"], "customer-ended-call", "{call}");
    assert_eq!(
        call["analysis"]["structuredData"],
        json!({"confirmed": true, "slot": "Monday 9:00"}),
        "{call}"
    );
    assert_eq!(call["analysis"]["successEvaluation"], "true", "{call}");
    assert_eq!(
        call["started_at"].as_str().map(|s| &s[..19]),
        Some("2026-11-20T10:00:05"),
        "{call}"
    );
    assert_eq!(
        call["ended_at"].as_str().map(|s| &s[..19]),
        Some("2026-11-20T10:00:40"),
        "{call}"
    );
    assert_eq!(
        call["vendor_metadata"]["recordings"]["stereoRecordingUrl"],
        "https://storage.vapi.ai/rec-stereo.wav",
        "{call}"
    );
    assert_no_control_url(&call.to_string(), &control_url, "the completed call");

    let turns = gw.transcript(&id).await;
    assert_eq!(
        texts(&turns),
        [
            turn("agent", "Hi Ada", "live"),
            turn("user", "Hello", "live"),
            turn(
                "system",
                "You are a friendly clinic assistant.",
                "post_call"
            ),
            turn("agent", "Let me check your appointment.", "post_call"),
            turn(
                "tool",
                r#"lookup_appointment({"patient":"Ada"})"#,
                "post_call"
            ),
            turn("tool", "lookup_appointment: Monday 9:00", "post_call"),
            turn("agent", "You're booked for Monday at 9.", "post_call"),
        ],
        "each turn once: {turns:?}"
    );
    assert_eq!(
        turns[1]["offset_secs"],
        json!(2.1),
        "the report dates the live turn"
    );
    let seqs: Vec<i64> = turns.iter().filter_map(|t| t["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<i64>>(), "{turns:?}");

    // The live stream saw the statuses, every stored turn once, and the partial one unstored.
    let frames = frames_until(&mut socket, "call_completed").await;
    let statuses: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "call_status")
        .map(|f| f["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        ["ringing", "in_progress", "completed"],
        "{frames:?}"
    );
    let transcriptions: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "transcription")
        .collect();
    let partials: Vec<&&Value> = transcriptions
        .iter()
        .filter(|f| f["final"] == false)
        .collect();
    assert_eq!(partials.len(), 1, "{frames:?}");
    assert_eq!(partials[0]["seq"], Value::Null, "{frames:?}");
    assert_eq!(partials[0]["text"], "Hel", "{frames:?}");
    assert_eq!(partials[0]["speaker"], "user", "{frames:?}");
    assert_eq!(partials[0]["call_id"], id.as_str(), "{frames:?}");
    let stored_seqs: Vec<i64> = transcriptions
        .iter()
        .filter(|f| f["final"] == true)
        .map(|f| f["seq"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(
        stored_seqs,
        (1..=7).collect::<Vec<i64>>(),
        "each turn streamed once: {frames:?}"
    );
    let completed = frames.last().expect("frames");
    assert_eq!(completed["call"]["status"], "completed", "{completed}");
    assert_no_control_url(&completed.to_string(), &control_url, "call_completed");

    // The same report again, and a changed one: duplicates, applied zero times.
    let events = gw.events(&id).await;
    for again in [
        report.clone(),
        edited(&report.to_string(), |v| {
            v["message"]["analysis"]["summary"] = json!("Something else.");
            v["message"]["timestamp"] = json!(1_795_168_899_000_i64);
        }),
    ] {
        let reply = gw.message(&again).await;
        reply.expect_status(200);
        let answer = reply.json();
        assert_eq!(answer["outcome"], "duplicate", "{answer}");
        assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    }
    assert_eq!(gw.transcript(&id).await.len(), 7, "no turn added twice");
    assert_eq!(gw.events(&id).await.len(), events.len());
    assert_eq!(gw.call(&id).await["summary"], "Ada confirmed.");
    let completed_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["to_status"] == "completed")
        .collect();
    assert_eq!(completed_events.len(), 1, "{events:?}");
    assert_eq!(
        completed_events[0]["vendor_status"], "ended",
        "{completed_events:?}"
    );
    assert_eq!(
        completed_events[0]["reason"], "customer-ended-call",
        "{completed_events:?}"
    );

    let receipts = gw.receipts(&[("call_id", &id)]).await;
    let mut outcomes: Vec<(&str, &str)> = receipts
        .iter()
        .map(|r| {
            (
                r["event_type"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        [
            ("end-of-call-report", "applied"),
            ("end-of-call-report", "duplicate"),
            ("end-of-call-report", "duplicate"),
            ("hang", "applied"),
            ("speech-update", "applied"),
            ("status-update", "applied"),
            ("status-update", "applied"),
            ("transcript", "applied"),
            ("transcript", "applied"),
            ("transcript", "duplicate"),
            (FINAL_TRANSCRIPT, "applied"),
        ],
        "{receipts:?}"
    );
    let report_receipt = receipts
        .iter()
        .find(|r| r["event_type"] == "end-of-call-report")
        .unwrap_or_else(|| panic!("{receipts:?}"));
    assert_eq!(
        report_receipt["dedupe_key"],
        format!("{vapi_id}:end-of-call-report"),
        "{report_receipt}"
    );
    gw.stop().await;
}

/// Request-response messages (`assistant-request`, `tool-calls`, ...) are answered `200 {}` and
/// recorded, also for a call the gateway does not know (an `assistant-request` is usually about
/// an inbound call the gateway never placed; its receipt says `unknown_call`). Other messages of
/// an unknown call get 404 `unknown_call`, receipt stored.
#[tokio::test]
async fn vapi_request_response_messages_and_unknown_calls() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-00000000f001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let control_url = gw.control_url(vapi_id);

    for kind in [
        "assistant-request",
        "tool-calls",
        "transfer-destination-request",
    ] {
        let body = edited(ASSISTANT_REQUEST, |v| {
            v["message"]["type"] = json!(kind);
            v["message"]["call"]["id"] = json!(vapi_id);
        });
        let reply = gw.message(&body).await;
        reply.expect_status(200);
        assert_eq!(reply.json(), json!({}), "{kind}: {}", reply.text);
    }
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    let mut kinds: Vec<&str> = receipts
        .iter()
        .map(|r| r["event_type"].as_str().unwrap_or_default())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "assistant-request",
            "tool-calls",
            "transfer-destination-request"
        ],
        "{receipts:?}"
    );
    assert!(
        receipts.iter().all(|r| r["outcome"] == "applied"),
        "{receipts:?}"
    );
    assert_eq!(gw.call(&id).await["status"], "initiating", "no change");

    // Unknown calls: by VAPI id, by an unknown gateway id, and an inbound assistant-request.
    let stranger = uuid::Uuid::now_v7().to_string();
    for body in [
        message_for(
            RINGING,
            "c2a8b1f0-0000-0000-0000-00000000dead",
            &stranger,
            &control_url,
        ),
        edited(IN_PROGRESS, |v| {
            v["message"]["call"]["id"] = json!("c2a8b1f0-0000-0000-0000-00000000beef");
            v["message"]["call"]["assistantOverrides"] = json!({});
        }),
    ] {
        let reply = gw.message(&body).await;
        let error = reply.expect_error(404);
        assert_eq!(error["error"]["code"], "unknown_call", "{error}");
        assert!(
            error["error"]["details"]["receipt_id"].is_string(),
            "{error}"
        );
    }
    // An inbound assistant-request names no known call: VAPI still gets the `{}` it waits for,
    // and the receipt records the unknown call.
    let inbound: Value = serde_json::from_str(ASSISTANT_REQUEST).expect("fixture");
    let reply = gw.message(&inbound).await;
    reply.expect_status(200);
    assert_eq!(reply.json(), json!({}));
    let unknown = gw
        .receipts(&[("provider", "vapi"), ("outcome", "unknown_call")])
        .await;
    assert_eq!(unknown.len(), 3, "{unknown:?}");
    assert!(
        unknown
            .iter()
            .all(|r| r["signature"] == "verified" && r["call_id"].is_null()),
        "{unknown:?}"
    );
    assert_eq!(gw.call(&id).await["status"], "initiating", "untouched");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_ended_reasons_map_to_statuses() {
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
        let body = if reason == "customer-busy" {
            // The fixture itself.
            message_for(ENDED_BUSY, &vapi_id, &id, "")
        } else {
            status_update(&vapi_id, &id, "ended", Some(reason))
        };
        gw.apply(&body).await;
        let call = gw.call(&id).await;
        assert_eq!(call["status"], expected, "{reason}: {call}");
        assert_eq!(call["end_reason"], reason, "the raw endedReason: {call}");
        assert_eq!(call["status_reason"], reason, "{call}");
        if expected == "failed" {
            assert_eq!(call["failure_reason"], reason, "{call}");
        }
        let events = gw.events(&id).await;
        assert!(
            events.iter().any(|e| e["to_status"] == expected
                && e["vendor_status"] == "ended"
                && e["reason"] == reason),
            "{reason}: {events:?}"
        );
    }

    // `ended` without a reason is a normal ending; the fixture with its endedAt dates it.
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000001010";
    let id = gw.accepted_call("vapi", vapi_id).await;
    gw.apply(&message_for(ENDED, vapi_id, &id, "")).await;
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(
        call["ended_at"].as_str().map(|s| &s[..19]),
        Some("2026-11-20T10:00:40"),
        "{call}"
    );
    // A terminal call stays terminal.
    gw.apply(&status_update(vapi_id, &id, "in-progress", None))
        .await;
    assert_eq!(gw.call(&id).await["status"], "completed");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Hang-up
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn vapi_hangup_posts_end_call_to_the_control_url() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000002001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let control_url = gw.control_url(vapi_id);
    gw.apply(&message_for(IN_PROGRESS, vapi_id, &id, &control_url))
        .await;
    gw.mock.always(
        "POST",
        &control_path(vapi_id),
        MockReply::json(200, r#"{"ok":true}"#),
    );

    let reply = gw
        .post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await;
    reply.expect_status(202);
    assert_no_control_url(&reply.text, &control_url, "the hang-up answer");
    let answer = reply.json();
    assert_eq!(answer["id"], id.as_str(), "{answer}");
    assert_eq!(
        answer["status"], "in_progress",
        "changes when VAPI says: {answer}"
    );

    let controls = gw.mock.requests("POST", &control_path(vapi_id));
    assert_eq!(controls.len(), 1, "{:?}", gw.mock.received());
    assert_eq!(controls[0].json(), json!({"type": "end-call"}));
    assert!(
        controls[0]
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        controls[0].headers
    );
    assert_eq!(
        controls[0].header("authorization"),
        None,
        "the API key is not sent to the control URL"
    );
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // VAPI confirms the end.
    gw.apply(&status_update(
        vapi_id,
        &id,
        "ended",
        Some("manually-canceled"),
    ))
    .await;
    let call = gw.call(&id).await;
    assert_eq!(call["status"], "canceled", "{call}");
    assert_eq!(call["end_reason"], "manually-canceled", "{call}");

    // An ended call is not hung up again.
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/hangup"), &json!({}))
        .await;
    reply.expect_error(409);
    assert_eq!(gw.mock.requests("POST", &control_path(vapi_id)).len(), 1);

    // A call whose create answer had no control URL cannot be hung up through the gateway.
    let bare = edited(CALL_RESPONSE_MINIMAL, |v| {
        v["id"] = json!("c2a8b1f0-1111-4c2e-9d35-000000002002");
    });
    gw.mock
        .enqueue("POST", CALL_PATH, MockReply::json(201, bare.to_string()));
    let reply = gw.create(json!({"to": TO})).await;
    reply.expect_status(201);
    let bare_id = id_of(&reply.json());
    let reply = gw
        .post_json(&format!("/v1/calls/{bare_id}/hangup"), &json!({}))
        .await;
    reply.expect_error(409);
    let sent: Vec<String> = gw
        .mock
        .received()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sent,
        [
            "POST /call".to_owned(),
            format!("POST {}", control_path(vapi_id)),
            "POST /call".to_owned(),
        ]
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------------

/// Mocks `GET /call/{vapi_id}` answering the ended call of `call_response_ended.json`.
fn mock_ended_call(mock: &MockVendor, vapi_id: &str) {
    let ended = edited(CALL_RESPONSE_ENDED, |v| {
        v["id"] = json!(vapi_id);
        v.as_object_mut()
            .expect("object")
            .remove("assistantOverrides");
    });
    mock.always(
        "GET",
        &format!("/call/{vapi_id}"),
        MockReply::json(200, ended.to_string()),
    );
}

/// What `call_response_ended.json` must have produced on the call.
async fn assert_ended_call_applied(gw: &Vapi, id: &str, vapi_id: &str) {
    let call = gw.call(id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["provider_call_id"], vapi_id, "{call}");
    assert_eq!(call["summary"], "Ada confirmed.", "{call}");
    assert_eq!(call["success"], true, "{call}");
    assert_eq!(call["cost"], json!(0.12), "{call}");
    assert_eq!(call["cost_unit"], "USD", "{call}");
    assert_eq!(call["duration_secs"], json!(35.0), "{call}");
    assert_eq!(
        call["recording_url"], "https://storage.vapi.ai/rec.wav",
        "{call}"
    );
    assert_eq!(call["end_reason"], "customer-ended-call", "{call}");
    assert_eq!(
        call["telephony_ids"]["twilio_call_sid"], "CA0123456789abcdef0123456789abcdef",
        "{call}"
    );
    assert!(
        !call.to_string().contains("phone-call-websocket"),
        "the fetched call's monitor URLs are not kept: {call}"
    );
    let turns = gw.transcript(id).await;
    assert_eq!(
        texts(&turns),
        [
            turn(
                "system",
                "You are a friendly clinic assistant.",
                "post_call"
            ),
            turn("agent", "Hi Ada", "post_call"),
            turn("user", "Hello", "post_call"),
        ],
        "{turns:?}"
    );
    let events = gw.events(id).await;
    let completed = events
        .iter()
        .find(|e| e["to_status"] == "completed")
        .unwrap_or_else(|| panic!("no completed event: {events:?}"));
    assert_eq!(completed["source"], "reconcile", "{completed}");
    assert_eq!(completed["vendor_status"], "ended", "{completed}");
}

#[tokio::test]
async fn vapi_refresh_fetches_the_call_and_applies_it() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000003001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    gw.apply(&message_for(IN_PROGRESS, vapi_id, &id, "")).await;
    let path = format!("/call/{vapi_id}");

    // A VAPI error leaves the call as it was.
    gw.mock
        .enqueue("GET", &path, MockReply::json(404, ERROR_404));
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
        .await;
    let error = reply.expect_error(502);
    assert_eq!(error_call_id(&error), id, "{error}");
    assert_eq!(gw.call(&id).await["status"], "in_progress");

    // The report never came; VAPI has the ended call.
    mock_ended_call(&gw.mock, vapi_id);
    let reply = gw
        .post_json(&format!("/v1/calls/{id}/refresh"), &json!({}))
        .await;
    reply.expect_status(200);
    assert_eq!(reply.json()["status"], "completed", "{}", reply.text);
    let fetches = gw.mock.requests("GET", &path);
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    assert_eq!(
        fetches[1].header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_ended_call_applied(&gw, &id, vapi_id).await;

    // A report arriving after all does not repeat the turns.
    let late = message_for(REPORT, vapi_id, &id, "");
    let reply = gw.message(&late).await;
    reply.expect_status(200);
    assert_eq!(gw.call(&id).await["status"], "completed");
    let turns = gw.transcript(&id).await;
    let mut seen: Vec<(String, String)> = turns
        .iter()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or_default().to_owned(),
                t["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no duplicated turns: {turns:?}");
    gw.stop().await;
}

#[tokio::test]
async fn vapi_reconciler_settles_a_call_on_its_own() {
    let gw = Vapi::start_with(0, 1).await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000004001";
    // Scripted before the call exists, so the reconciler's first look already finds it ended.
    mock_ended_call(&gw.mock, vapi_id);
    let id = gw.accepted_call("vapi", vapi_id).await;

    gw.wait_for_status_within(&id, "completed", Duration::from_secs(10))
        .await;
    let fetches = gw.mock.requests("GET", &format!("/call/{vapi_id}"));
    assert!(!fetches.is_empty());
    assert_eq!(
        fetches[0].header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_ended_call_applied(&gw, &id, vapi_id).await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The control URL is a secret
// ---------------------------------------------------------------------------------------------

/// VAPI repeats `call.monitor.controlUrl` in its server messages; the receipt API lists them.
#[tokio::test]
async fn vapi_control_url_is_not_in_the_receipt_list() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000005001";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let control_url = gw.control_url(vapi_id);
    gw.apply(&message_for(RINGING, vapi_id, &id, &control_url))
        .await;
    let listed = gw
        .get_json(&format!("/v1/webhook-receipts?call_id={id}"))
        .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_no_control_url(&listed.to_string(), &control_url, "the receipt list");
    for path in [
        format!("/v1/calls/{id}"),
        format!("/v1/calls/{id}/events"),
        "/v1/calls".to_owned(),
    ] {
        let shown = gw.get_json(&path).await;
        assert_no_control_url(&shown.to_string(), &control_url, &path);
    }
    gw.stop().await;
}

/// The issue: the control URL is "a secret: never logged or returned by the API". VAPI sends it
/// in every server message's `call.monitor`, and `GET /v1/webhook-receipts/{id}` returns the
/// stored raw body.
#[tokio::test]
async fn vapi_control_url_is_not_in_stored_receipt_bodies() {
    let gw = Vapi::start().await;
    let vapi_id = "c2a8b1f0-1111-4c2e-9d35-000000005002";
    let id = gw.accepted_call("vapi", vapi_id).await;
    let control_url = gw.control_url(vapi_id);
    for raw in [RINGING, REPORT] {
        gw.apply(&message_for(raw, vapi_id, &id, &control_url))
            .await;
    }
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    for receipt in &receipts {
        let receipt_id = receipt["id"].as_str().expect("receipt id");
        let full = gw
            .get_json(&format!("/v1/webhook-receipts/{receipt_id}"))
            .await;
        assert!(full["body"].is_string(), "{full}");
        assert_no_control_url(&full.to_string(), &control_url, "a stored receipt");
    }
    gw.stop().await;
}
