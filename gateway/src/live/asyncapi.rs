//! The AsyncAPI 3.0 document of the live stream, served at `GET /asyncapi.json` and printed by
//! `voice-gateway asyncapi`. Its examples are real frames: the client's are parsed by
//! [`ClientMessage`], the server's are serialized from [`ServerMessage`] values, and the tests
//! below hold every frame the protocol types can produce to the documented schemas.

use chrono::{DateTime, Utc};
use plugin_api::CallStatus;
use serde_json::{Value, json};

use super::protocol::{ErrorCode, ServerMessage};

/// The path of the live stream.
pub const ADDRESS: &str = "/ws/calls/transcriptions";

const CALL_ID: &str = "0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21";

/// A client frame, as documented: its name, summary, schema and an example.
struct Documented {
    name: &'static str,
    summary: &'static str,
    schema: Value,
    example: Value,
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn nullable_string(description: &str) -> Value {
    json!({"type": ["string", "null"], "description": description})
}

fn timestamp(description: &str) -> Value {
    json!({"type": "string", "format": "date-time", "description": description})
}

fn status(description: &str) -> Value {
    let values: Vec<&str> = CallStatus::ALL.iter().map(|s| s.as_str()).collect();
    json!({"type": "string", "enum": values, "description": description})
}

fn nullable_status(description: &str) -> Value {
    let mut values: Vec<Value> = CallStatus::ALL.iter().map(|s| json!(s.as_str())).collect();
    values.push(Value::Null);
    json!({"type": ["string", "null"], "enum": values, "description": description})
}

/// An object schema whose `required` keys are those not listed in `optional`.
fn object(description: &str, properties: Value, optional: &[&str]) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|p| {
            p.keys()
                .filter(|k| !optional.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A server frame's schema: its `type` tag plus `fields`.
fn server_frame(kind: &str, description: &str, fields: Value, optional: &[&str]) -> Value {
    let mut properties =
        json!({"type": {"type": "string", "const": kind, "description": "The frame's kind."}});
    if let (Some(all), Some(fields)) = (properties.as_object_mut(), fields.as_object()) {
        all.extend(fields.clone());
    }
    object(description, properties, optional)
}

fn client_frames() -> Vec<Documented> {
    vec![
        Documented {
            name: "subscribe",
            summary: "Follow a call, optionally replaying the stored turns after a sequence number first.",
            schema: object(
                "Follow the call named by `subscribe`: the gateway's call id, the vendor's call id or a telephony id.",
                json!({
                    "subscribe": string("The call to follow: gateway id, vendor call id or telephony id."),
                    "after_seq": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Replay the stored turns with a sequence number above this first (0 replays all), then follow; no gap and no repeat at the seam.",
                    },
                }),
                &["after_seq"],
            ),
            example: json!({"subscribe": CALL_ID, "after_seq": 0}),
        },
        Documented {
            name: "unsubscribe",
            summary: "Stop following a call.",
            schema: object(
                "Stop following the call named by `unsubscribe`.",
                json!({"unsubscribe": string("The identifier the call was subscribed with.")}),
                &[],
            ),
            example: json!({"unsubscribe": CALL_ID}),
        },
    ]
}

fn example_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:02Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// One frame of every kind the server sends, as the protocol types serialize it.
pub(crate) fn server_examples() -> Vec<ServerMessage> {
    vec![
        ServerMessage::SubscriptionConfirmed {
            identifier: CALL_ID.into(),
            call_id: CALL_ID.into(),
            provider: "echo".into(),
            provider_call_id: Some(format!("echo-{CALL_ID}")),
            status: CallStatus::Initiating,
        },
        ServerMessage::UnsubscribeConfirmed {
            identifier: CALL_ID.into(),
            call_id: Some(CALL_ID.into()),
        },
        ServerMessage::Transcription {
            call_id: CALL_ID.into(),
            seq: Some(2),
            speaker: "user".into(),
            text: "Hi! Could you repeat this back to me, please?".into(),
            offset_secs: Some(1.0),
            is_final: true,
            source: "live",
            timestamp: example_time(),
        },
        ServerMessage::CallStatus {
            call_id: CALL_ID.into(),
            status: CallStatus::InProgress,
            previous_status: Some(CallStatus::Ringing),
            reason: None,
            timestamp: example_time(),
        },
        ServerMessage::CallCompleted {
            call: json!({
                "id": CALL_ID,
                "provider": "echo",
                "provider_kind": "echo",
                "status": "completed",
                "to": "+14155550123",
                "summary": "The caller asked the agent to repeat a sentence.",
                "duration_secs": 3.0,
                "cost": 0.0,
                "cost_unit": "USD",
            }),
        },
        ServerMessage::error(
            ErrorCode::CallNotFound,
            "no call with this identifier",
            Some("0193a0c4-0000-7000-8000-000000000000"),
        ),
    ]
}

/// The documented name of a server frame (its `type`). Exhaustive, so a new kind of frame
/// cannot be added without deciding how it is documented.
pub(crate) fn frame_name(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::SubscriptionConfirmed { .. } => "subscription_confirmed",
        ServerMessage::UnsubscribeConfirmed { .. } => "unsubscribe_confirmed",
        ServerMessage::Transcription { .. } => "transcription",
        ServerMessage::CallStatus { .. } => "call_status",
        ServerMessage::CallCompleted { .. } => "call_completed",
        ServerMessage::Error { .. } => "error",
    }
}

/// What each server frame means, and its schema.
fn server_schema(name: &str) -> (&'static str, Value) {
    match name {
        "subscription_confirmed" => (
            "The subscription holds; what follows is the replay (if asked), then live updates.",
            server_frame(
                name,
                "Confirms a subscribe.",
                json!({
                    "identifier": string("The identifier as the client sent it."),
                    "call_id": string("The gateway's id of the call."),
                    "provider": string("The provider instance running the call."),
                    "provider_call_id": nullable_string("The vendor's call id; null until the vendor accepted the call."),
                    "status": status("The call's status now."),
                }),
                &[],
            ),
        ),
        "unsubscribe_confirmed" => (
            "The call is no longer followed by this connection.",
            server_frame(
                name,
                "Confirms an unsubscribe.",
                json!({
                    "identifier": string("The identifier as the client sent it."),
                    "call_id": nullable_string("The call that was followed; null if it was not."),
                }),
                &[],
            ),
        ),
        "transcription" => (
            "A transcript turn: final turns carry the gateway's sequence number, partial ones none.",
            server_frame(
                name,
                "A turn of the call's transcript.",
                json!({
                    "call_id": string("The gateway's id of the call."),
                    "seq": {"type": ["integer", "null"], "description": "The gateway's turn number (resume with after_seq); null for partial turns, which are never stored."},
                    "speaker": string("agent, user, system or tool (a vendor's new role passes through as sent)."),
                    "text": string("What was said."),
                    "offset_secs": {"type": ["number", "null"], "description": "Seconds from the start of the call, when the vendor says."},
                    "final": {"type": "boolean", "description": "False for a partial turn that a later one replaces."},
                    "source": {"type": "string", "enum": ["live", "post_call"], "description": "Delivered while the call ran, or from the vendor's report after it."},
                    "timestamp": timestamp("When the gateway stored (or, for partial turns, relayed) the turn."),
                }),
                &[],
            ),
        ),
        "call_status" => (
            "The call's status changed (ringing, in progress, the end).",
            server_frame(
                name,
                "A status change of the call.",
                json!({
                    "call_id": string("The gateway's id of the call."),
                    "status": status("The new status."),
                    "previous_status": nullable_status("The status before; null when unknown."),
                    "reason": string("Why, when known (e.g. a vendor's end reason); absent otherwise."),
                    "timestamp": timestamp("When the change happened."),
                }),
                &["reason"],
            ),
        ),
        "call_completed" => (
            "The call reached a terminal status; sent right after that call_status, then the subscription is released.",
            server_frame(
                name,
                "The whole call after it ended.",
                json!({
                    "call": {
                        "type": "object",
                        "description": "The call as GET /v1/calls/{id} returns it: the `Call` schema of /openapi.json (summary, success, cost and unit, duration, analysis, ...).",
                    },
                }),
                &[],
            ),
        ),
        _ => (
            "Something the client sent could not be served; the connection stays open unless it is then closed with 1008.",
            server_frame(
                "error",
                "An error about a client frame or the connection.",
                json!({
                    "code": {
                        "type": "string",
                        "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                        "description": error_codes_description(),
                    },
                    "message": string("A human-readable explanation."),
                    "identifier": string("The identifier the error concerns, when it concerns one; absent otherwise."),
                }),
                &["identifier"],
            ),
        ),
    }
}

fn error_codes_description() -> String {
    let lines: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|code| format!("`{}`: {}", code.as_str(), code.description()))
        .collect();
    format!("A stable code. {}", lines.join("; "))
}

const DESCRIPTION: &str = "Live status changes and transcript turns of the calls a client subscribes to, \
whichever provider runs them. Every frame is a JSON text frame.\n\n\
Connect with `token` (an access token from `POST /v1/auth/token` or an API key): a missing or invalid token \
refuses the upgrade with HTTP 401 and the API's JSON error body; one API key or user may hold \
`[live] max_connections_per_principal` (20) connections at once, beyond which the upgrade answers HTTP 429 with \
that body.\n\n\
Close codes: `1008` when the token expired (after a `TOKEN_EXPIRED` error), when the credential was revoked (after \
an `UNAUTHORIZED` error: API key deleted, user disabled, logged out; checked on every revocation and every \
`[live] revalidate_secs`) or after 20 invalid frames or unknown identifiers in a row; \
`1013` when the client cannot keep up with its queue (`[live] queue_size`). Either way, reconnect and resume with \
`after_seq`. The server pings every `[live] ping_interval_secs` (20 s) and closes a connection silent for three \
intervals. Frames over `[live] max_frame_bytes` are answered `INVALID_MESSAGE`.";

/// The AsyncAPI document of the live stream.
pub fn document() -> Value {
    let mut messages = serde_json::Map::new();
    let mut channel_messages = serde_json::Map::new();
    let mut operations = serde_json::Map::new();
    let mut add = |name: &str, summary: &str, payload: Value, example: Value, action: &str| {
        messages.insert(
            name.to_owned(),
            json!({
                "name": name,
                "title": name,
                "summary": summary,
                "contentType": "application/json",
                "payload": payload,
                "examples": [{"name": name, "summary": summary, "payload": example}],
            }),
        );
        channel_messages.insert(
            name.to_owned(),
            json!({"$ref": format!("#/components/messages/{name}")}),
        );
        let verb = if action == "send" { "send" } else { "receive" };
        operations.insert(
            format!("{verb}_{name}"),
            json!({
                "action": action,
                "summary": summary,
                "channel": {"$ref": "#/channels/transcriptions"},
                "messages": [{"$ref": format!("#/channels/transcriptions/messages/{name}")}],
            }),
        );
    };
    for frame in client_frames() {
        add(
            frame.name,
            frame.summary,
            frame.schema,
            frame.example,
            "send",
        );
    }
    for example in server_examples() {
        let name = frame_name(&example);
        let (summary, schema) = server_schema(name);
        let payload = serde_json::to_value(&example).unwrap_or_default();
        add(name, summary, schema, payload, "receive");
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Voice Gateway live stream",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:8000",
                "protocol": "ws",
                "description": "The gateway started with its defaults (`cargo run -p voice-gateway`); use wss behind TLS.",
            },
        },
        "channels": {
            "transcriptions": {
                "address": ADDRESS,
                "title": "Live call updates",
                "description": "Subscribe to calls; receive their status changes, transcript turns and completion.",
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string", "description": "An access token or an API key (`vgk_...`); any role may subscribe."},
                            },
                            "required": ["token"],
                        },
                        "bindingVersion": "0.1.0",
                    },
                },
            },
        },
        "operations": operations,
        "components": {"messages": messages},
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::protocol::ClientMessage;
    use super::*;

    fn documented_messages(document: &Value) -> &serde_json::Map<String, Value> {
        document["components"]["messages"]
            .as_object()
            .expect("messages are an object")
    }

    /// Whether `value` fits the subset of JSON Schema the document uses.
    fn conforms(value: &Value, schema: &Value) -> Result<(), String> {
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                return Err(format!("{value} is not one of {allowed:?}"));
            }
        }
        if let Some(constant) = schema.get("const") {
            if value != constant {
                return Err(format!("{value} is not {constant}"));
            }
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.is_empty()
            || types.contains(&kind)
            || (kind == "integer" && types.contains(&"number"));
        if !fits {
            return Err(format!("{value} is a {kind}, not {types:?}"));
        }
        if let (Value::Object(fields), Some(properties)) = (value, schema["properties"].as_object())
        {
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                if !fields.contains_key(key) {
                    return Err(format!("missing required `{key}`"));
                }
            }
            for (key, field) in fields {
                let Some(property) = properties.get(key) else {
                    return Err(format!("`{key}` is not documented"));
                };
                conforms(field, property).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        Ok(())
    }

    #[test]
    fn every_documented_example_conforms_to_its_schema() {
        let document = document();
        for (name, message) in documented_messages(&document) {
            let example = &message["examples"][0]["payload"];
            conforms(example, &message["payload"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn client_examples_are_what_the_server_parses() {
        for frame in client_frames() {
            let parsed: ClientMessage = serde_json::from_value(frame.example.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", frame.name));
            let named = match frame.name {
                "subscribe" => parsed.subscribe.is_some() && parsed.unsubscribe.is_none(),
                _ => parsed.unsubscribe.is_some() && parsed.subscribe.is_none(),
            };
            assert!(named, "{} example names its call", frame.name);
        }
    }

    #[test]
    fn every_server_frame_kind_is_documented_and_nothing_else() {
        let document = document();
        let documented: BTreeSet<&str> = documented_messages(&document)
            .keys()
            .map(String::as_str)
            .filter(|name| !["subscribe", "unsubscribe"].contains(name))
            .collect();
        let produced: BTreeSet<&str> = server_examples().iter().map(frame_name).collect();
        assert_eq!(documented, produced);
    }

    #[test]
    fn frames_the_server_really_sends_conform() {
        let document = document();
        let messages = documented_messages(&document);
        let call = crate::store::tests::new_call("echo");
        let frames = [
            ServerMessage::completed(&call),
            ServerMessage::CallStatus {
                call_id: CALL_ID.into(),
                status: CallStatus::Completed,
                previous_status: None,
                reason: Some("agent_ended_call".into()),
                timestamp: Utc::now(),
            },
            ServerMessage::UnsubscribeConfirmed {
                identifier: "x".into(),
                call_id: None,
            },
            ServerMessage::error(ErrorCode::InvalidMessage, "not JSON", None),
            ServerMessage::Transcription {
                call_id: CALL_ID.into(),
                seq: None,
                speaker: "agent".into(),
                text: "Hel".into(),
                offset_secs: None,
                is_final: false,
                source: "live",
                timestamp: Utc::now(),
            },
        ];
        for frame in frames {
            let json: Value = serde_json::from_str(&frame.to_text()).expect("frames are JSON");
            let name = frame_name(&frame);
            assert_eq!(json["type"], name);
            conforms(&json, &messages[name]["payload"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn every_error_code_is_documented() {
        let document = document();
        let codes = &documented_messages(&document)["error"]["payload"]["properties"]["code"];
        for code in ErrorCode::ALL {
            let serialized = serde_json::to_value(code).expect("codes serialize");
            assert!(
                codes["enum"]
                    .as_array()
                    .is_some_and(|e| e.contains(&serialized))
            );
            assert_eq!(serialized, code.as_str());
        }
    }

    #[test]
    fn operations_reference_channel_messages() {
        let document = document();
        for (name, operation) in document["operations"].as_object().expect("operations") {
            let reference = operation["messages"][0]["$ref"].as_str().expect("a ref");
            let message = reference.rsplit('/').next().unwrap_or_default();
            assert!(
                document["channels"]["transcriptions"]["messages"]
                    .get(message)
                    .is_some(),
                "{name}"
            );
        }
    }
}
