//! The OpenAPI document and the docs page.

use reqwest::Method;
use serde_json::json;

use crate::harness::TestGateway;

#[tokio::test]
async fn openapi_json_describes_the_api() {
    let gw = TestGateway::start().await;
    let spec = gw.get_json("/openapi.json").await;
    assert!(
        spec["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "openapi version: {}",
        spec["openapi"]
    );
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/v1/calls",
        "/v1/calls/{id}",
        "/v1/calls/{id}/transcript",
        "/v1/calls/{id}/events",
        "/v1/calls/{id}/hangup",
        "/v1/providers",
        "/v1/webhook-receipts",
        "/v1/webhook-receipts/{id}",
    ] {
        assert!(
            paths.contains_key(path),
            "no `{path}` in {:?}",
            paths.keys()
        );
    }
    assert_eq!(
        spec["paths"]["/v1/calls"]["post"]["operationId"],
        "createCall"
    );
    // Every operation has its own id.
    let mut operation_ids = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            operation_ids.push(id.to_owned());
        }
    }
    let count = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "duplicate operation ids");
    gw.stop().await;
}

#[tokio::test]
async fn docs_page_is_html() {
    let gw = TestGateway::start().await;
    let docs = gw.get("/docs").await;
    docs.expect_status(200);
    let content_type = docs.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        docs.text.to_ascii_lowercase().contains("<html"),
        "{}",
        docs.text
    );
    gw.stop().await;
}

/// The served document is valid OpenAPI 3.0 and says what the gateway does (issue 14);
/// `scripts/contract-check` validates and fuzzes it in CI.
#[tokio::test]
async fn openapi_json_is_a_complete_contract() {
    let gw = TestGateway::start().await;
    let spec = gw.get_json("/openapi.json").await;
    // The password flow has `scopes`, required by OpenAPI 3.0 even when empty.
    let flow = &spec["components"]["securitySchemes"]["oauth2"]["flows"]["password"];
    assert!(flow["scopes"].is_object(), "password flow: {flow}");
    // The one error schema is `Error`.
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("Error"), "{:?}", schemas.keys());
    assert!(!schemas.contains_key("ErrorBody"));
    // Tags: calls first.
    assert_eq!(spec["tags"][0]["name"], "Calls", "{}", spec["tags"]);
    // A described reference is `allOf: [$ref]` alone, never merged with an inline member.
    let text = spec.to_string();
    assert!(!text.contains("\"allOf\":[{\"$ref\":\"#/components/schemas/CostUnit\"},{"));
    assert_eq!(
        schemas["Call"]["properties"]["cost_unit"]["allOf"],
        json!([{"$ref": "#/components/schemas/CostUnit"}])
    );
    // Every schema and property is described.
    for (name, schema) in schemas {
        assert!(
            schema["description"].is_string(),
            "schema {name} has no description"
        );
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                value["description"].is_string(),
                "{name}.{property} has no description"
            );
        }
    }
    // Every operation: id, summary, description; `X-Request-Id` on every response,
    // `WWW-Authenticate` on 401, 413 from the body limit on the API's operations.
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let what = format!("{method} {path}");
            for key in ["operationId", "summary", "description"] {
                assert!(operation[key].is_string(), "{what} has no {key}");
            }
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                let headers = &response["headers"];
                assert!(
                    headers["X-Request-Id"].is_object(),
                    "{what} {status}: {headers}"
                );
                if status == "401" {
                    assert!(headers["WWW-Authenticate"].is_object(), "{what} 401");
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().expect("error content");
                    let json = content
                        .iter()
                        .find(|(media, _)| media.starts_with("application/json"))
                        .map(|(_, body)| &body["schema"]["$ref"]);
                    if status != "503" || !path.starts_with("/health") {
                        let expected = json!("#/components/schemas/Error");
                        assert_eq!(json, Some(&expected), "{what} {status}");
                    }
                }
            }
            assert!(responses.contains_key("413"), "{what} does not declare 413");
        }
    }
    // The webhook routes are in the document, with their raw body.
    for path in ["/webhooks/{provider}", "/webhooks/{provider}/{topic}"] {
        let operation = &spec["paths"][path]["post"];
        assert!(operation["requestBody"].is_object(), "{path}: {operation}");
        assert!(operation["responses"]["200"].is_object(), "{path}");
    }
    // Links a client (or a stateful fuzzer) follows from a created call.
    let links = &spec["paths"]["/v1/calls"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["GetCall"]["operationId"], "getCall", "{links}");
    assert_eq!(
        links["HangupCall"]["parameters"]["id"],
        "$response.body#/id"
    );
    // Response headers clients use.
    let created = &spec["paths"]["/v1/calls"]["post"]["responses"];
    assert!(created["201"]["headers"]["Location"].is_object());
    assert!(created["200"]["headers"]["Idempotent-Replayed"].is_object());
    let token = &spec["paths"]["/v1/auth/token"]["post"]["responses"];
    assert!(token["429"]["headers"]["Retry-After"].is_object());
    gw.stop().await;
}

/// What a body of the wrong shape or content type gets is what the document declares.
#[tokio::test]
async fn framework_rejections_are_declared() {
    let gw = TestGateway::start().await;
    let spec = gw.get_json("/openapi.json").await;
    for (path, statuses) in [
        ("/v1/auth/logout", ["400", "415", "422"]),
        ("/v1/auth/refresh", ["400", "415", "422"]),
        ("/v1/calls", ["400", "415", "422"]),
    ] {
        let responses = &spec["paths"][path]["post"]["responses"];
        for status in statuses {
            assert!(
                responses[status].is_object(),
                "{path} does not declare {status}"
            );
        }
    }
    let reply = gw
        .raw(Method::POST, "/v1/auth/logout", None, "refresh_token")
        .await;
    assert_eq!(
        reply.expect_error(415)["error"]["code"],
        "unsupported_media_type"
    );
    let reply = gw
        .post_json("/v1/auth/refresh", &json!({"refresh_token": {"a": 1}}))
        .await;
    assert_eq!(
        reply.expect_error(422)["error"]["code"],
        "validation_failed"
    );
    let reply = gw
        .post_json("/v1/auth/logout", &json!({"token": "x"}))
        .await;
    assert_eq!(
        reply.expect_error(422)["error"]["code"],
        "validation_failed"
    );
    gw.stop().await;
}

/// Absent optional values are omitted, never sent as `null` (the README's rule).
#[tokio::test]
async fn absent_values_are_omitted() {
    let gw = TestGateway::start().await;
    let created = gw
        .post_json("/v1/api-keys", &json!({"name": "ci", "role": "viewer"}))
        .await;
    created.expect_status(201);
    let key = created.json();
    assert!(key.get("expires_at").is_none(), "{key}");
    assert!(key.get("revoked_at").is_none(), "{key}");
    let keys = gw.get_json("/v1/api-keys").await;
    let listed = keys["items"]
        .as_array()
        .and_then(|items| items.iter().find(|k| k["id"] == key["id"]))
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed["name"], "ci", "{keys}");
    assert!(listed.get("expires_at").is_none(), "{listed}");
    let page = gw.get_json("/v1/calls").await;
    assert!(page.get("next_cursor").is_none(), "{page}");
    // The schema agrees: optional properties are not required and not nullable.
    let spec = gw.get_json("/openapi.json").await;
    let info = &spec["components"]["schemas"]["ApiKeyInfo"];
    let required = info["required"].as_array().cloned().unwrap_or_default();
    assert!(!required.contains(&json!("expires_at")), "{info}");
    assert!(info["properties"]["expires_at"].get("nullable").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn both_documents_carry_the_crate_version() {
    let gw = TestGateway::start().await;
    let openapi = gw.get_json("/openapi.json").await;
    let asyncapi = gw.get_json("/asyncapi.json").await;
    assert_eq!(openapi["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(asyncapi["info"]["version"], env!("CARGO_PKG_VERSION"));
    gw.stop().await;
}
