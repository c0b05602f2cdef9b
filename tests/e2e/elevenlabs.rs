//! The `elevenlabs` provider end to end: the real gateway in-process, with ElevenLabs instances
//! whose `base_url` is a local mock of the vendor's API (see `mock_vendor`), and the vendor's
//! webhooks played over HTTP, signed as ElevenLabs signs them. The scenarios every vendor runs
//! are in `vendors`; here is what ElevenLabs does alone.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{
    Headers, MockedGateway, Reply, TO, Turn, assert_fields, assert_turns, closed_port, edited,
    expect_code, expect_outcome, expect_unknown_outcome, fixture, id_of, timestamped_hmac,
    unix_now,
};
use crate::mock_vendor::MockReply;
use crate::vendors::{Vendor, vendor_scenarios, with_id};

const API_KEY: &str = "xi_e2e_api_key";
const AGENT: &str = "agent_e2e";
const PHONE: &str = "phnum_e2e";
const WEBHOOK_SECRET: &str = "wsec_e2e_secret";
const TRANSCRIPTION_SECRET: &str = "tsec_e2e_secret";

const TWILIO_PATH: &str = "/v1/convai/twilio/outbound-call";
const SIP_PATH: &str = "/v1/convai/sip-trunk/outbound-call";
const CONVERSATIONS_PATH: &str = "/v1/convai/conversations";

const CREATE_TWILIO: &str = fixture!("elevenlabs", "create_call_response_twilio");
const CREATE_NO_CONVERSATION: &str =
    fixture!("elevenlabs", "create_call_response_no_conversation_id");
const CREATE_422_STRING: &str = fixture!("elevenlabs", "create_call_response_422_string");
const CREATE_422_LIST: &str = fixture!("elevenlabs", "create_call_response_422_list");
const POST_CALL_TRANSCRIPTION: &str = fixture!("elevenlabs", "webhook_post_call_transcription");
const INITIATION_FAILURE_BUSY: &str = fixture!("elevenlabs", "webhook_call_initiation_failure");

/// The ElevenLabs instances of every gateway here, all pointing at the mock:
/// - `elevenlabs`: Twilio, both secrets;
/// - `eleven_sip`: SIP trunk;
/// - `eleven_timeout`: gives the vendor 300 ms;
/// - `eleven_down`: points at a port where nothing listens;
/// - `eleven_unsigned`: no secrets, unsigned webhooks refused (the default);
/// - `eleven_open`: no secrets, `allow_unsigned_webhooks = true`;
/// - `eleven_small`: webhook bodies limited to 4 KiB.
pub enum ElevenLabs {}

/// A gateway with the ElevenLabs instances above and its mock vendor.
type Eleven = MockedGateway<ElevenLabs>;

vendor_scenarios!(ElevenLabs);

impl Vendor for ElevenLabs {
    const KIND: &'static str = "elevenlabs";
    const DEFAULT_PROVIDER: &'static str = "elevenlabs";
    const TIMEOUT_PROVIDER: &'static str = "eleven_timeout";
    const DOWN_PROVIDER: &'static str = "eleven_down";
    const SIGNED_PROVIDER: &'static str = "elevenlabs";
    const UNSIGNED_PROVIDER: &'static str = "eleven_unsigned";
    const OPEN_PROVIDER: &'static str = "eleven_open";

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

    const CREATE_PATH: &'static str = TWILIO_PATH;
    const FETCH_PATH: &'static str = "/v1/convai/conversations/{id}";
    const API_KEY_HEADER: (&'static str, &'static str) = ("xi-api-key", API_KEY);
    const UNAVAILABLE: &'static str = r#"{"detail":"Service temporarily unavailable"}"#;
    const RATE_LIMITED: &'static str = fixture!("elevenlabs", "create_call_response_429");
    const INTERNAL_ERROR: &'static str = r#"{"detail":"Internal Server Error"}"#;
    const REFUSALS: [(u16, &'static str, &'static str); 2] = [
        (
            422,
            CREATE_422_STRING,
            "agent_phone_number_id does not belong to this workspace",
        ),
        (
            422,
            CREATE_422_LIST,
            "to_number: Value error, invalid phone number",
        ),
    ];
    const ID_PREFIX: &'static str = "conv_";
    const GATEWAY_ID_FIELD: &'static str = "conversation_initiation_client_data.user_id";
    const SECRETS: &'static [&'static str] = &[API_KEY, WEBHOOK_SECRET, TRANSCRIPTION_SECRET];
    const ACCEPTED_FIELDS: &'static str =
        r#"{"telephony_ids.twilio_call_sid": "CA1234567890abcdef"}"#;

    fn accepted(_: &Eleven, conversation_id: &str) -> MockReply {
        let answer = edited(CREATE_TWILIO, |v| {
            v["conversation_id"] = json!(conversation_id)
        });
        MockReply::json(200, answer.to_string())
    }

    /// Metadata is not sent.
    fn assert_documented_request(body: &Value, id: &str) {
        assert_fields!(body, {"agent_id": AGENT, "agent_phone_number_id": PHONE, "to_number": TO,
            "conversation_initiation_client_data.user_id": id,
            "conversation_initiation_client_data.dynamic_variables":
                {"customer_name": "Ada", "slot": 3, "gateway_call_id": id}});
        assert!(!body.to_string().contains("drv-42"), "{body}");
    }

    const WEBHOOK_SECRET: &'static str = WEBHOOK_SECRET;
    const SIGNATURE_WINDOW: (i64, i64, i64) = (29 * 60, 31 * 60, 6 * 60);
    const REPORT_TOPIC: &'static str = "/post-call";
    const MALFORMED: &'static [&'static str] =
        &["not json", r#"{"type":"post_call_transcription"}"#, "[1,2]"];

    fn credentials(body: &str) -> Headers {
        Self::sign(body, WEBHOOK_SECRET, unix_now())
    }

    fn sign(body: &str, secret: &str, t: i64) -> Headers {
        let signature = format!("t={t},v0={}", timestamped_hmac(secret, t, body));
        vec![("ElevenLabs-Signature", signature)]
    }

    fn report(_: &Eleven, conversation_id: &str, id: Option<&str>) -> Value {
        transcription_webhook(conversation_id, id)
    }

    const CHANGED_REPORT: &'static str =
        r#"{"data.analysis.transcript_summary": "Something else."}"#;
    const REPORT_EVENT_TYPE: &'static str = "post_call_transcription";
    const REPORT_DEDUPE_KEY: &'static str = "post_call_transcription:{id}";
    const REPORT_ENDING: (&'static str, Option<&'static str>) = ("answered", None);
    const REPORT_FIELDS: &'static str = r#"{
        "summary": "Angelo asked for a fun fact and got one.",
        "success": true, "cost": 0.0885, "cost_unit": "USD",
        "cost_breakdown": {"credits": 296.0, "usd": 0.0885}, "duration_secs": 22.0,
        "started_at": "2025-02-14T12:48:17+00:00", "ended_at": "2025-02-14T12:48:39+00:00",
        "end_reason": "Call ended by remote party", "telephony_ids.twilio_stream_sid": "MZ0123",
        "analysis.call_successful": "success", "vendor_metadata.phone_call.call_result": "answered"
    }"#;
    /// The tool-call turn without a message is left out.
    const REPORT_TURNS: &'static [Turn] = &[
        ("agent", "Hey there angelo. How are you?", "post_call"),
        ("user", "Tell me a fun fact.", "post_call"),
    ];
    const REPORT_OFFSETS: &'static [(usize, f64)] = &[(0, 0.0), (1, 2.0)];

    fn unknown_call_webhooks(_: &Eleven) -> Vec<Value> {
        let stranger = uuid::Uuid::now_v7().to_string();
        vec![
            transcription_webhook("conv_nobody", Some(&stranger)),
            transcription_webhook("conv_nobody", None),
            edited(INITIATION_FAILURE_BUSY, |v| {
                v["data"]["conversation_id"] = json!("conv_nobody_else");
            }),
        ]
    }

    const FETCH_ERROR: (u16, &'static str) =
        (404, fixture!("elevenlabs", "fetch_conversation_404"));

    /// The conversation of `fetch_conversation_done.json`, at its path and in the list.
    fn mock_finished(gw: &Eleven, conversation_id: &str, id: &str) {
        let conversation = edited(fixture!("elevenlabs", "fetch_conversation_done"), |v| {
            v["conversation_id"] = json!(conversation_id);
            v["user_id"] = json!(id);
        });
        let path = with_id(Self::FETCH_PATH, conversation_id);
        gw.mock
            .always("GET", &path, MockReply::json(200, conversation.to_string()));
        let listed = json!({
            "conversations": [{
                "agent_id": AGENT, "conversation_id": conversation_id, "user_id": id,
                "start_time_unix_secs": 1_739_537_297, "call_duration_secs": 41,
                "message_count": 2, "status": "done", "call_successful": "unknown",
            }],
            "has_more": false,
            "next_cursor": null,
        });
        gw.mock.always(
            "GET",
            CONVERSATIONS_PATH,
            MockReply::json(200, listed.to_string()),
        );
    }

    /// `unknown` is no verdict: no `success`.
    const FINISHED_FIELDS: &'static str = r#"{"status_reason": "voicemail",
        "summary": "Left a voicemail about tomorrow's appointment.",
        "success": null, "cost": 512.0, "cost_unit": "credits", "duration_secs": 41.0}"#;
    const FINISHED_TURNS: &'static [Turn] = &[
        (
            "agent",
            "Hi Ada, this is the clinic calling about tomorrow.",
            "post_call",
        ),
        ("user", "I'd like to reschedule.", "post_call"),
    ];
    const FINISHED_VENDOR_STATUS: &'static str = "voicemail";
}

impl Eleven {
    /// Posts a live-transcription tool call to `provider` with `x-transcription-secret`.
    async fn live_turn(&self, provider: &str, body: &str, secret: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = secret
            .map(|s| vec![("x-transcription-secret", s)])
            .unwrap_or_default();
        self.webhook_raw(&format!("{provider}/transcription"), body, &headers)
            .await
    }

    /// A call on `eleven_timeout` whose create timed out (the mock accepts it as
    /// `conversation_id` too late); returns its id.
    async fn timed_out_call(&self, conversation_id: &str) -> String {
        let late = ElevenLabs::accepted(self, conversation_id).delayed(Duration::from_secs(2));
        self.next_create(late);
        let reply = self.create(json!({"to": TO, "provider": "eleven_timeout"}));
        expect_unknown_outcome(&reply.await)
    }

    /// A call on `provider` whose create answer had no conversation id; returns its id.
    async fn call_without_conversation_id(&self, provider: &str) -> String {
        self.next_create(MockReply::json(200, CREATE_NO_CONVERSATION));
        let call = self
            .create_call(json!({"to": TO, "provider": provider}))
            .await;
        assert_eq!(call["provider_call_id"], Value::Null, "{call}");
        id_of(&call)
    }

    /// The recording of call `id`, as served.
    async fn recording(&self, id: &str) -> reqwest::Response {
        let url = self.url(&format!("/v1/calls/{id}/recording"));
        self.client
            .get(url)
            .send()
            .await
            .expect("recording request")
    }

    /// Bytes `range` (a `Range` header's value) of the recording of call `id`, as served.
    async fn recording_range(&self, id: &str, range: &str) -> reqwest::Response {
        let url = self.url(&format!("/v1/calls/{id}/recording"));
        self.client
            .get(url)
            .header("range", range)
            .send()
            .await
            .expect("recording request")
    }
}

/// A response header's value, `""` if absent.
fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A `post_call_audio` webhook for `conversation_id` carrying `audio`.
fn audio_webhook(conversation_id: &str, audio: &[u8]) -> Value {
    let full_audio = base64::engine::general_purpose::STANDARD.encode(audio);
    let data =
        json!({"agent_id": AGENT, "conversation_id": conversation_id, "full_audio": full_audio});
    json!({"type": "post_call_audio", "event_timestamp": unix_now(), "data": data})
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

// ---------------------------------------------------------------------------------------------
// Placing calls, and reconciling a timed-out create (found by the gateway's id in the list)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sip_trunk_instance_uses_the_sip_endpoint_and_request_overrides() {
    let gw = Eleven::start().await;
    let answer = MockReply::json(200, fixture!("elevenlabs", "create_call_response_sip"));
    gw.mock.enqueue("POST", SIP_PATH, answer);

    let call = gw
        .create_call(json!({
            "to": TO,
            "provider": "eleven_sip",
            "agent_id": "agent_override",
            "from_number_id": "phnum_override",
            "first_message": "Hi Ada, this is the clinic.",
        }))
        .await;
    let id = id_of(&call);
    assert_fields!(call, {"provider_call_id": "conv_sip456",
        "telephony_ids.sip_call_id": "7f1c2e@sip.example.net"});

    let received = gw.mock.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, SIP_PATH);
    assert_eq!(received[0].header("xi-api-key"), Some(API_KEY));
    assert_fields!(received[0].json(), {"agent_id": "agent_override",
        "agent_phone_number_id": "phnum_override", "to_number": TO,
        "conversation_initiation_client_data.user_id": id,
        "conversation_initiation_client_data.dynamic_variables": {"gateway_call_id": id},
        "conversation_initiation_client_data.conversation_config_override.agent.first_message":
            "Hi Ada, this is the clinic."});
    gw.stop().await;
}

#[tokio::test]
async fn success_false_under_2xx_is_a_rejection() {
    let gw = Eleven::start().await;
    let refusal = fixture!("elevenlabs", "create_call_response_success_false");
    gw.next_create(MockReply::json(200, refusal));
    gw.every_create(MockReply::json(200, CREATE_TWILIO));

    let (_, id) = gw.rejected_call("elevenlabs").await;
    assert_eq!(gw.creates().len(), 1, "not retried");
    let call = gw.call(&id).await;
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");
    let reason = call["failure_reason"].as_str().unwrap_or("");
    assert!(reason.contains("is not assigned to an agent"), "{call}");
    gw.stop().await;
}

#[tokio::test]
async fn timeout_then_refresh_completes_the_call() {
    let gw = Eleven::start().await;
    let id = gw.timed_out_call("conv_timeout").await;
    ElevenLabs::mock_finished(&gw, "conv_timeout", &id);

    gw.refresh(&id).await.expect_status(200);
    gw.assert_finished(&id, "conv_timeout").await;
    gw.stop().await;
}

#[tokio::test]
async fn reconciler_settles_a_timed_out_create() {
    let gw = Eleven::start_with(0, 1).await;
    let id = gw.timed_out_call("conv_lost").await;
    ElevenLabs::mock_finished(&gw, "conv_lost", &id);

    gw.wait_for_status_within(&id, "completed", Duration::from_secs(10))
        .await;
    gw.assert_finished(&id, "conv_lost").await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Post-call webhooks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_correlate_by_user_id_without_a_conversation_id() {
    let gw = Eleven::start().await;
    let id = gw.call_without_conversation_id("elevenlabs").await;

    // Found by data.user_id; the conversation id is learnt from the webhook.
    let report = transcription_webhook("conv_learnt", Some(&id));
    let answer = gw.apply("elevenlabs", &report).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert_fields!(gw.call(&id).await, {"status": "completed", "provider_call_id": "conv_learnt"});

    // A later webhook naming only that conversation finds the call.
    let audio = edited(fixture!("elevenlabs", "webhook_post_call_audio"), |v| {
        v["data"]["conversation_id"] = json!("conv_learnt");
    });
    let answer = gw.apply("elevenlabs", &audio).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    gw.stop().await;
}

#[tokio::test]
async fn call_initiation_failure_sets_busy_and_no_answer() {
    let gw = Eleven::start().await;

    // Busy, found by conversation_id.
    let busy_id = gw.accepted_call("elevenlabs", "conv_busy").await;
    let busy = edited(INITIATION_FAILURE_BUSY, |v| {
        v["data"]["conversation_id"] = json!("conv_busy");
        v["event_timestamp"] = json!(unix_now());
    });
    let answer = gw.apply("elevenlabs", &busy).await;
    assert_eq!(answer["call_id"], busy_id.as_str(), "{answer}");
    // The provider's body is kept.
    assert_fields!(gw.call(&busy_id).await, {"status": "busy", "status_reason": "busy",
        "vendor_metadata": {"type": "twilio", "body": {"CallSid": "CA1", "CallStatus": "busy"}}});
    let events = gw.events(&busy_id).await;
    let busy = events
        .iter()
        .any(|e| e["to_status"] == "busy" && e["vendor_status"] == "busy");
    assert!(busy, "{events:?}");

    // No answer, for a call whose create answer had no conversation_id: found by the
    // dynamic variable gateway_call_id alone.
    let quiet_id = gw.call_without_conversation_id("elevenlabs").await;
    let no_answer = edited(
        fixture!("elevenlabs", "webhook_call_initiation_failure_no_answer"),
        |v| {
            v["data"]["conversation_id"] = json!("conv_quiet");
            v["data"]["conversation_initiation_client_data"]["dynamic_variables"]["gateway_call_id"] =
                json!(quiet_id);
        },
    );
    let answer = gw.apply("elevenlabs", &no_answer).await;
    assert_eq!(answer["call_id"], quiet_id.as_str(), "{answer}");
    let quiet = gw.call(&quiet_id).await;
    assert_fields!(quiet, {"status": "no_answer", "provider_call_id": "conv_quiet",
        "telephony_ids.sip_call_id": "a84b4c76e66710@pc33.example.com"});
    assert_eq!(gw.call(&busy_id).await["status"], "busy", "untouched");
    gw.stop().await;
}

#[tokio::test]
async fn post_call_audio_is_served_as_the_recording() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_audio").await;
    gw.get(&format!("/v1/calls/{id}/recording"))
        .await
        .expect_error(404);

    let mut audio = b"ID3\x04\x00\x00\x00\x00\x00\x23".to_vec();
    audio.extend((0..=255u8).cycle().take(4000));
    let body = audio_webhook("conv_audio", &audio);
    let answer = gw.apply("elevenlabs", &body).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    assert_fields!(gw.call(&id).await, {"recording_url": format!("/v1/calls/{id}/recording")});
    let response = gw.recording(&id).await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let content_type = content_type.unwrap_or("").to_owned();
    assert!(content_type.starts_with("audio/mpeg"), "{content_type}");
    let served = response.bytes().await.expect("recording bytes");
    assert_eq!(served.as_ref(), audio.as_slice(), "the decoded bytes");

    // Delivered again: a duplicate, and the recording is still the same.
    expect_outcome(
        &gw.deliver("elevenlabs/post-call", &body).await,
        "duplicate",
    );
    let served = gw.recording(&id).await.bytes().await.expect("bytes");
    assert_eq!(served.as_ref(), audio.as_slice());
    // A recording says nothing about how the call ended.
    assert_eq!(gw.call(&id).await["status"], "initiating");
    gw.stop().await;
}

/// Events to applications: the stored recording is announced once, with the URL it is served at.
#[tokio::test]
async fn post_call_audio_announces_the_recording_to_applications() {
    let gw = Eleven::start_and(crate::events::EVENTS).await;
    let receiver = crate::mock_vendor::MockVendor::start().await;
    receiver.always("POST", "/hooks", MockReply::json(200, "{}"));
    let url = format!("{}/hooks", receiver.base_url());
    let only = json!({"event_types": ["call.recording.ready"]});
    let (_, secret) = crate::events::endpoint(&gw, &url, only).await;
    let id = gw.accepted_call("elevenlabs", "conv_announced").await;
    let body = audio_webhook("conv_announced", b"ID3\x04\x00\x00\x00\x00\x00\x23 audio");
    gw.apply("elevenlabs", &body).await;
    expect_outcome(
        &gw.deliver("elevenlabs/post-call", &body).await,
        "duplicate",
    );
    let received = crate::events::received(&receiver, "/hooks", 1).await;
    assert_eq!(received.len(), 1);
    assert!(crate::events::verify(&secret, &received[0]));
    let event = received[0].json();
    assert_fields!(event, {"type": "call.recording.ready", "call_id": id});
    assert_eq!(
        event["data"]["recording_url"],
        format!("/v1/calls/{id}/recording")
    );
    assert_eq!(
        event["data"]["call"]["recording_url"],
        event["data"]["recording_url"]
    );
    // The duplicate announced nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(receiver.requests("POST", "/hooks").len(), 1);
    gw.stop().await;
}

/// A recording of several MB is streamed from its file, whole or one range of bytes at a time.
#[tokio::test]
async fn recording_is_served_in_byte_ranges() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_ranges").await;
    let audio: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let size = audio.len();
    let answer = gw
        .apply("elevenlabs", &audio_webhook("conv_ranges", &audio))
        .await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");

    let whole = gw.recording(&id).await;
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert_eq!(header(&whole, "content-length"), size.to_string());
    assert_eq!(header(&whole, "content-range"), "");
    let served = whole.bytes().await.expect("bytes");
    assert!(served.as_ref() == audio.as_slice(), "the whole recording");

    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000000-1999999", 1_000_000, 1_999_999),
        ("bytes=2999999-2999999", 2_999_999, 2_999_999),
        ("bytes=2500000-", 2_500_000, size - 1),
        ("bytes=2999000-9999999", 2_999_000, size - 1),
        ("bytes=-4096", size - 4096, size - 1),
        ("bytes=-9999999", 0, size - 1),
    ] {
        let part = gw.recording_range(&id, range).await;
        assert_eq!(part.status().as_u16(), 206, "{range}");
        assert_eq!(header(&part, "accept-ranges"), "bytes", "{range}");
        let expected_range = format!("bytes {first}-{last}/{size}");
        assert_eq!(header(&part, "content-range"), expected_range, "{range}");
        let length = last - first + 1;
        assert_eq!(
            header(&part, "content-length"),
            length.to_string(),
            "{range}"
        );
        assert!(
            header(&part, "content-type").starts_with("audio/mpeg"),
            "{range}"
        );
        let served = part.bytes().await.expect("bytes");
        assert!(
            served.as_ref() == &audio[first..=last],
            "{range}: the slice"
        );
    }

    for range in ["bytes=3000000-", "bytes=3000000-3000010", "bytes=-0"] {
        let refused = gw.recording_range(&id, range).await;
        assert_eq!(refused.status().as_u16(), 416, "{range}");
        assert_eq!(header(&refused, "content-range"), format!("bytes */{size}"));
        let error: Value = refused.json().await.expect("error body");
        assert_eq!(error["error"]["code"], "range_not_satisfiable", "{error}");
    }

    // Ranges the gateway does not serve are ignored: the whole recording.
    for range in ["bytes=0-9,20-29", "bytes=10-5", "items=0-9", "bytes=x-"] {
        let whole = gw.recording_range(&id, range).await;
        assert_eq!(whole.status().as_u16(), 200, "{range}");
        assert_eq!(header(&whole, "content-length"), size.to_string());
        assert_eq!(whole.bytes().await.expect("bytes").len(), size, "{range}");
    }

    // No recording: 404, whatever the range.
    let other = gw.accepted_call("elevenlabs", "conv_silent").await;
    let missing = gw.recording_range(&other, "bytes=0-9").await;
    assert_eq!(missing.status().as_u16(), 404);
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
async fn webhook_body_limit_is_the_provider_s() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_big").await;
    let audio: Vec<u8> = (0..=255u8).cycle().take(1_500_000).collect();
    let body = audio_webhook("conv_big", &audio);
    assert!(body.to_string().len() > 1024 * 1024);
    let answer = gw.apply("elevenlabs", &body).await;
    assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    let served = gw.recording(&id).await.bytes().await.expect("bytes");
    assert_eq!(served.len(), audio.len());
    assert!(served.as_ref() == audio.as_slice(), "the decoded bytes");

    let small_id = gw.accepted_call("eleven_small", "conv_small").await;
    let reply = gw
        .deliver("eleven_small", &audio_webhook("conv_small", &audio[..6000]))
        .await;
    expect_code(&reply, 413, "payload_too_large");
    assert_eq!(
        gw.call(&small_id).await["recording_url"],
        Value::Null,
        "nothing stored"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Live transcription
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn live_turns_then_post_call_transcript_without_duplicates() {
    let gw = Eleven::start().await;
    let id = gw.accepted_call("elevenlabs", "conv_live").await;
    let (agent, user) = (
        "Hi Ada, this is the clinic calling about tomorrow.",
        "I'd like to reschedule.",
    );
    let first = json!({"call_id": id, "speaker": "agent", "message": agent, "sequence": 0,
        "time_in_call_secs": 0});
    // Named by the vendor's conversation id this time.
    let second = json!({"call_id": "conv_live", "speaker": "user", "message": user, "sequence": 1,
        "time_in_call_secs": 12.4});
    let (first, second) = (first.to_string(), second.to_string());
    let secret = Some(TRANSCRIPTION_SECRET);

    // Refused before anything is stored.
    let wrong = gw
        .live_turn("elevenlabs", &first, Some("not-the-secret"))
        .await;
    expect_code(&wrong, 401, "invalid_signature");
    gw.live_turn("elevenlabs", &first, None)
        .await
        .expect_error(401);
    for bad in [
        json!("not json"),
        json!({"call_id": id, "speaker": "robot", "message": "hi"}),
        json!({"call_id": id, "speaker": "user", "message": ""}),
        json!({"call_id": id, "speaker": "user"}),
        json!({"speaker": "user", "message": "hi"}),
        json!({"call_id": id, "speaker": "user", "message": "hi", "sequence": -1}),
    ] {
        let bad = bad.as_str().map_or_else(|| bad.to_string(), str::to_owned);
        let error = gw
            .live_turn("elevenlabs", &bad, secret)
            .await
            .expect_error(400);
        assert_eq!(
            error["error"]["code"], "malformed_webhook",
            "{bad}: {error}"
        );
    }
    for stranger in [uuid::Uuid::now_v7().to_string(), "conv_nobody".to_owned()] {
        let body = json!({"call_id": stranger, "speaker": "user", "message": "hi"}).to_string();
        expect_code(
            &gw.live_turn("elevenlabs", &body, secret).await,
            404,
            "unknown_call",
        );
    }
    assert!(gw.transcript(&id).await.is_empty());

    // An instance without secrets takes no live turn, with or without the secret.
    let unsigned_id = gw.accepted_call("eleven_unsigned", "conv_unsigned").await;
    let live = json!({"call_id": unsigned_id, "speaker": "user", "message": "hello"}).to_string();
    for secret in [None, secret] {
        gw.live_turn("eleven_unsigned", &live, secret)
            .await
            .expect_error(401);
    }
    assert!(gw.transcript(&unsigned_id).await.is_empty());
    assert_eq!(gw.call(&unsigned_id).await["status"], "initiating");

    for body in [&first, &second] {
        let answer = expect_outcome(&gw.live_turn("elevenlabs", body, secret).await, "applied");
        assert_eq!(answer["call_id"], id.as_str(), "{answer}");
    }
    // The tool retried: same sequence, a duplicate.
    expect_outcome(
        &gw.live_turn("elevenlabs", &second, secret).await,
        "duplicate",
    );

    // The shared secret is a credential: never stored with the receipts.
    let receipts = gw.receipts(&[("call_id", &id)]).await;
    assert_eq!(receipts.len(), 3, "{receipts:?}");
    for receipt in &receipts {
        assert_fields!(receipt, {"topic": "transcription", "event_type": "transcription",
            "signature": "verified"});
        let headers = receipt["headers"].as_array().expect("headers");
        let stored = headers.iter().find(|h| h[0] == "x-transcription-secret");
        let stored = stored.unwrap_or_else(|| panic!("{receipt}"));
        assert_ne!(stored[1], TRANSCRIPTION_SECRET, "{receipt}");
        assert!(
            !receipt.to_string().contains(TRANSCRIPTION_SECRET),
            "{receipt}"
        );
    }
    let live = gw.transcript(&id).await;
    assert_turns(&live, &[("agent", agent, "live"), ("user", user, "live")]);
    assert_eq!(live[1]["offset_secs"], json!(12.4));

    // The post-call report repeats both turns and adds one the tool never reported.
    let added = ("agent", "Of course, which day suits you?", "post_call");
    let report = edited(POST_CALL_TRANSCRIPTION, |v| {
        let data = &mut v["data"];
        data["conversation_id"] = json!("conv_live");
        data["user_id"] = json!(id);
        data["transcript"] = json!([
            {"role": "agent", "message": agent, "time_in_call_secs": 0},
            {"role": "user", "message": user, "time_in_call_secs": 12},
            {"role": "agent", "message": added.1, "time_in_call_secs": 15},
        ]);
    });
    gw.apply("elevenlabs", &report).await;
    let turns = gw.transcript(&id).await;
    // Each turn once.
    assert_turns(
        &turns,
        &[("agent", agent, "live"), ("user", user, "live"), added],
    );
    let seqs: Vec<i64> = turns.iter().filter_map(|t| t["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(gw.call(&id).await["status"], "completed");
    gw.stop().await;
}

#[tokio::test]
async fn a_redirecting_vendor_never_gets_the_api_key_sent_elsewhere() {
    let gw = Eleven::start().await;
    let elsewhere = crate::mock_vendor::MockVendor::start().await;
    elsewhere.always("GET", "/steal", MockReply::json(200, CREATE_TWILIO));
    elsewhere.always("POST", "/steal", MockReply::json(200, CREATE_TWILIO));
    gw.mock.enqueue(
        "POST",
        TWILIO_PATH,
        MockReply::json(302, "{}").header("location", &format!("{}/steal", elsewhere.base_url())),
    );
    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    assert_ne!(
        reply.status, 201,
        "a redirect is not an acceptance: {}",
        reply.text
    );
    assert!(
        elsewhere.received().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.received()
    );
    assert_eq!(gw.mock.requests("POST", TWILIO_PATH).len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn an_oversized_vendor_answer_is_refused_not_read() {
    let gw = Eleven::start().await;
    // A real acceptance, padded past the 1 MiB a create answer may have.
    let huge = edited(CREATE_TWILIO, |v| {
        v["conversation_id"] = json!("conv_huge");
        v["padding"] = json!("x".repeat(2 * 1024 * 1024));
    });
    gw.mock
        .enqueue("POST", TWILIO_PATH, MockReply::json(200, huge.to_string()));
    let reply = gw.create(json!({"to": TO, "provider": "elevenlabs"})).await;
    reply.expect_status(202);
    let call = reply.json();
    assert_eq!(call["status_reason"], "vendor_outcome_unknown", "{call}");
    assert_eq!(call["provider_call_id"], Value::Null, "{call}");
    gw.stop().await;
}
