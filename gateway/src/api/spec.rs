//! The OpenAPI document as served: poem-openapi's generated document, completed with what the
//! generator cannot express. Every step here is a declaration of behaviour that lives elsewhere:
//!
//! - the OAuth2 password flow's `scopes` (required by OpenAPI 3.0, even when empty);
//! - `allOf` wrappers of a described `$ref` reduced to the reference alone (the description stays
//!   beside it), so generators that merge `allOf` members do not reject enum references;
//! - what the shared HTTP layers answer on every route (`http::around`: `X-Request-Id` on every
//!   response, `WWW-Authenticate` on 401; `http::headers`: `X-Content-Type-Options` on every
//!   response, `Cache-Control: no-store` on `/v1/auth/*`; `http::limit_body`: 413 on every `/v1`
//!   operation);
//! - the webhook routes (`webhooks.rs`), plain handlers that read the raw body themselves;
//! - links between operations (a created call to reading and hanging it up, a created key to
//!   revoking it), which clients and stateful fuzzers follow;
//! - the tags in the order they are declared (`ApiTags`), calls first.

use serde_json::{Map, Value, json};

const ERROR_REF: &str = "#/components/schemas/Error";

/// The tag names in the order `ApiTags` declares them.
const TAG_ORDER: &[&str] = &[
    "Calls",
    "Providers",
    "Webhooks",
    "Health",
    "Auth",
    "Users",
    "ApiKeys",
    "Audit",
    "Events",
];

/// Completes the generated document (see the module's documentation).
pub fn complete(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_owned();
    };
    oauth2_scopes(&mut doc);
    reduce_all_of(&mut doc);
    order_tags(&mut doc);
    info(&mut doc);
    webhook_routes(&mut doc);
    webhook_schemas(&mut doc);
    event_payloads(&mut doc);
    shared_layers(&mut doc);
    links(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.to_owned())
}

fn oauth2_scopes(doc: &mut Value) {
    if let Some(flows) = doc
        .pointer_mut("/components/securitySchemes/oauth2/flows")
        .and_then(Value::as_object_mut)
    {
        for flow in flows.values_mut() {
            if let Some(flow) = flow.as_object_mut() {
                flow.entry("scopes").or_insert_with(|| json!({}));
            }
        }
    }
}

/// `{"allOf": [{"$ref": X}, {"description": ...}], "description": ...}` (what poem-openapi emits
/// for a described field of a named type) becomes `{"allOf": [{"$ref": X}], "description": ...}`.
fn reduce_all_of(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(members)) = map.get("allOf") {
                let is_ref = |m: &Value| m.get("$ref").is_some();
                if members.iter().filter(|m| is_ref(m)).count() == 1 {
                    let mut extra = Map::new();
                    let mut kept = Vec::new();
                    for member in members {
                        match member {
                            Value::Object(inline) if !is_ref(member) => {
                                extra.extend(inline.clone());
                            }
                            other => kept.push(other.clone()),
                        }
                    }
                    for (key, value) in extra {
                        map.entry(key).or_insert(value);
                    }
                    map.insert("allOf".into(), Value::Array(kept));
                }
            }
            map.values_mut().for_each(reduce_all_of);
        }
        Value::Array(items) => items.iter_mut().for_each(reduce_all_of),
        _ => {}
    }
}

fn order_tags(doc: &mut Value) {
    if let Some(Value::Array(tags)) = doc.get_mut("tags") {
        let rank = |tag: &Value| {
            let name = tag.get("name").and_then(Value::as_str).unwrap_or_default();
            TAG_ORDER
                .iter()
                .position(|t| *t == name)
                .unwrap_or(TAG_ORDER.len())
        };
        tags.sort_by_key(rank);
    }
    if let Some(tag) = doc
        .get_mut("tags")
        .and_then(Value::as_array_mut)
        .and_then(|tags| tags.iter_mut().find(|t| t["name"] == "Webhooks"))
    {
        tag["description"] =
            json!("Vendors' webhooks, and the audit trail (receipts) of every one received.");
    }
}

fn info(doc: &mut Value) {
    if let Some(license) = doc.pointer_mut("/info/license") {
        license["url"] = json!("https://www.apache.org/licenses/LICENSE-2.0");
    }
    doc["servers"] = json!([{"url": "/", "description": "The gateway serving this document."}]);
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}
    })
}

/// `POST /webhooks/{provider}` and `POST /webhooks/{provider}/{topic}` (`webhooks.rs`).
fn webhook_routes(doc: &mut Value) {
    let provider = json!({
        "name": "provider",
        "in": "path",
        "required": true,
        "description": "The provider instance's name from config (e.g. `echo`).",
        "schema": {"type": "string"},
        "example": "echo"
    });
    let topic = json!({
        "name": "topic",
        "in": "path",
        "required": true,
        "description": "A vendor-specific topic, for vendors that send several kinds of webhook to separate URLs.",
        "schema": {"type": "string"},
        "example": "post_call"
    });
    let operation = |id: &str, summary: &str, parameters: Vec<Value>| {
        json!({
            "tags": ["Webhooks"],
            "operationId": id,
            "summary": summary,
            "description": "The vendor's raw body is verified with the provider's signature scheme, stored as a \
                receipt and normalized into the call it concerns, all before the answer is sent. The body is read \
                up to the provider's limit (413 beyond); its shape is the vendor's, so any content type is taken \
                as it is. A duplicate (same vendor event id, or the same body) is answered 200 and applied zero times.",
            "parameters": parameters,
            "requestBody": {
                "description": "The vendor's webhook, byte for byte.",
                "required": false,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": true},
                        "example": {"type": "call.status", "call_id": "0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21", "status": "ringing"}
                    },
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                }
            },
            "responses": {
                "200": {
                    "description": "Stored and applied (or a duplicate). Providers whose vendor expects a specific answer send that instead.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookAck"}}}
                },
                "400": error_response("The body is malformed for this provider (the receipt is stored as `rejected`), or unreadable."),
                "401": error_response("The signature does not verify (the receipt is stored as `rejected`)."),
                "404": error_response("No provider instance has this name (`unknown_provider`), or no call matches the webhook (`unknown_call`; the receipt is stored)."),
                "413": error_response("The body is larger than the provider's webhook limit."),
                "500": error_response("The provider failed on the webhook, or an unexpected error; the request id finds it in the logs."),
                "503": error_response("The database or the recording storage is unavailable, or the provider plugin did not answer in time (`provider_timeout`); the vendor should retry.")
            }
        })
    };
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.insert(
            "/webhooks/{provider}".into(),
            json!({"post": operation("receiveWebhook", "Receive a vendor's webhook.", vec![provider.clone()])}),
        );
        paths.insert(
            "/webhooks/{provider}/{topic}".into(),
            json!({"post": operation("receiveTopicWebhook", "Receive a vendor's webhook for a topic.", vec![provider, topic])}),
        );
    }
}

fn webhook_schemas(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "WebhookAck".into(),
            json!({
                "type": "object",
                "title": "WebhookAck",
                "description": "The gateway's answer to a stored webhook (a provider whose vendor expects another answer sends that instead, so every property is optional).",
                "additionalProperties": true,
                "properties": {
                    "status": {"type": "string", "description": "`ok`.", "example": "ok"},
                    "receipt_id": {"type": "string", "description": "The stored receipt (see `GET /v1/webhook-receipts/{id}`)."},
                    "outcome": {
                        "type": "string",
                        "enum": ["applied", "duplicate", "unknown_call"],
                        "description": "What the webhook did: `applied`, or `duplicate` (applied zero times)."
                    },
                    "call_id": {"type": "string", "format": "uuid", "description": "The call it concerns; omitted when none matched."}
                },
                "example": {"status": "ok", "receipt_id": "0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a11", "outcome": "applied", "call_id": "0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21"}
            }),
        );
    }
}

/// The payload schemas of the events sent to applications (`store/outbox.rs` writes them):
/// components that `Event.data` refers to, one per event type.
fn event_payloads(doc: &mut Value) {
    let call = json!({"allOf": [{"$ref": "#/components/schemas/Call"}], "description": "The call as it is after the change (the API's `Call`)."});
    let turn = json!({"allOf": [{"$ref": "#/components/schemas/TurnView"}], "description": "A stored (final) turn."});
    let payloads = [
        (
            "CallCreatedData",
            "`call.created`: a call was stored (before the provider is asked to place it).",
            json!({"call": call}),
            vec!["call"],
        ),
        (
            "CallStatusChangedData",
            "`call.status_changed`: every applied status change.",
            json!({
                "from": {"allOf": [{"$ref": "#/components/schemas/CallStatus"}], "description": "The status before."},
                "to": {"allOf": [{"$ref": "#/components/schemas/CallStatus"}], "description": "The status now."},
                "reason": {"type": "string", "description": "Why, when known (e.g. the vendor's end reason); omitted otherwise."},
                "call": call,
            }),
            vec!["from", "to", "call"],
        ),
        (
            "CallTranscriptTurnData",
            "`call.transcript.turn`: a final live turn was stored (partial turns stay on the live stream).",
            json!({"turn": turn}),
            vec!["turn"],
        ),
        (
            "CallTranscriptFinalizedData",
            "`call.transcript.finalized`: the post-call transcript was reconciled with the live one; `turns` is the whole stored transcript.",
            json!({
                "call": call,
                "turns": {"type": "array", "items": {"$ref": "#/components/schemas/TurnView"}, "description": "Every stored turn, in order of `seq`."},
            }),
            vec!["call", "turns"],
        ),
        (
            "CallEndedData",
            "`call.ended`: the call reached a terminal status; the whole normalized call (summary, success, cost and unit, duration, analysis, end reason).",
            json!({"call": call}),
            vec!["call"],
        ),
        (
            "CallRecordingReadyData",
            "`call.recording.ready`: the call has a recording.",
            json!({
                "call": call,
                "recording_url": {"type": "string", "description": "Where to get it: the gateway's `/v1/calls/{id}/recording`, or the vendor's URL."},
            }),
            vec!["call", "recording_url"],
        ),
        (
            "PingData",
            "`ping`: sent by `POST /v1/event-endpoints/{id}/test`.",
            json!({
                "endpoint_id": {"type": "string", "description": "The endpoint tested."},
            }),
            vec!["endpoint_id"],
        ),
    ];
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut refs = Vec::new();
    for (name, description, properties, required) in payloads {
        refs.push(json!({"$ref": format!("#/components/schemas/{name}")}));
        schemas.insert(
            name.into(),
            json!({
                "type": "object",
                "title": name,
                "description": description,
                "required": required,
                "properties": properties,
            }),
        );
    }
    if let Some(data) = schemas
        .get_mut("Event")
        .and_then(|event| event.pointer_mut("/properties/data"))
    {
        *data = json!({
            "description": "The payload of the event's type.",
            "anyOf": refs,
        });
    }
}

/// What `http::around` and `http::limit_body` add to every route's answers.
fn shared_layers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            // An operation without credentials says so (rather than inheriting none).
            if let Some(operation) = operation.as_object_mut() {
                operation.entry("security").or_insert_with(|| json!([]));
            }
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if !path.starts_with("/webhooks/") {
                responses.entry("413").or_insert_with(|| {
                    error_response("The body is larger than `server.max_body_bytes`.")
                });
            }
            for (status, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else {
                    continue;
                };
                let headers = response
                    .entry("headers")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                let Some(headers) = headers else {
                    continue;
                };
                canonical_header_names(headers);
                headers.insert(
                    "X-Request-Id".into(),
                    json!({
                        "description": "The request's id: the client's `X-Request-Id` if it is plain (at most 128 of a-z, A-Z, 0-9, `-_.:`), else a new UUIDv7; also in error bodies and the gateway's logs.",
                        "required": true,
                        "schema": {"type": "string"}
                    }),
                );
                headers.insert(
                    "X-Content-Type-Options".into(),
                    json!({
                        "description": "Always `nosniff`: the content type is what the body is.",
                        "required": true,
                        "schema": {"type": "string", "enum": ["nosniff"]}
                    }),
                );
                if path.starts_with("/v1/auth/") {
                    headers.insert(
                        "Cache-Control".into(),
                        json!({
                            "description": "Always `no-store`: answers about credentials are never cached.",
                            "required": true,
                            "schema": {"type": "string", "enum": ["no-store"]}
                        }),
                    );
                }
                if status == "401" {
                    headers.insert(
                        "WWW-Authenticate".into(),
                        json!({
                            "description": "The authentication scheme to use: `Bearer realm=\"voice-gateway\"`.",
                            "required": true,
                            "schema": {"type": "string"}
                        }),
                    );
                }
            }
        }
    }
}

fn links(doc: &mut Value) {
    let by_id = |operation: &str| json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}});
    let call_links = json!({
        "GetCall": by_id("getCall"),
        "GetCallTranscript": by_id("getCallTranscript"),
        "GetCallEvents": by_id("getCallEvents"),
        "HangupCall": by_id("hangupCall"),
    });
    for status in ["200", "201", "202"] {
        add_links(doc, "/v1/calls", "post", status, &call_links);
    }
    add_links(
        doc,
        "/v1/api-keys",
        "post",
        "201",
        &json!({"RevokeApiKey": by_id("revokeApiKey")}),
    );
    add_links(
        doc,
        "/v1/users",
        "post",
        "201",
        &json!({"UpdateUser": by_id("updateUser")}),
    );
}

fn add_links(doc: &mut Value, path: &str, method: &str, status: &str, links: &Value) {
    let Some(paths) = doc.get_mut("paths") else {
        return;
    };
    let Some(response) = paths
        .get_mut(path)
        .and_then(|item| item.get_mut(method))
        .and_then(|op| op.get_mut("responses"))
        .and_then(|responses| responses.get_mut(status))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    response.insert("links".into(), links.clone());
}

/// poem-openapi upper-cases the names of declared response headers; the document uses their
/// usual spelling (`Location`, `Retry-After`), and says what each means.
fn canonical_header_names(headers: &mut Map<String, Value>) {
    let names: Vec<String> = headers.keys().cloned().collect();
    for name in names {
        let canonical = name
            .split('-')
            .map(|part| {
                let lower = part.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-");
        if let Some(mut header) = headers.remove(&name) {
            let description = match canonical.as_str() {
                "Location" => Some("The URL of the created call."),
                "Retry-After" => Some("Seconds to wait before trying again."),
                "Idempotent-Replayed" => Some(
                    "`true`: this is the stored answer to an earlier request with the same `Idempotency-Key`.",
                ),
                "Accept-Ranges" => {
                    Some("Always `bytes`: one range of bytes may be asked for with `Range`.")
                }
                "Content-Range" => Some(
                    "The bytes sent and the whole size, `bytes <first>-<last>/<size>`; on 416, `bytes */<size>`.",
                ),
                "Content-Length" => Some("The number of bytes in the body."),
                _ => None,
            };
            if let (Some(description), Some(header)) = (description, header.as_object_mut()) {
                header
                    .entry("description")
                    .or_insert_with(|| json!(description));
            }
            headers.insert(canonical, header);
        }
    }
}
