//! The OpenAPI document and the docs page.

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
