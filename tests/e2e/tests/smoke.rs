//! The wiring, end to end: every component answers through the host, variables reach them, and
//! `mcp-endpoint` reaches `kintone-tools` through the composed WIT import.

use e2e::{App, Options};
use serde_json::Value;

#[tokio::test]
async fn metadata_issuer_is_the_request_origin_when_public_url_is_unset() {
    let app = App::start().await.unwrap();
    let response = reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base_url.as_str());
    assert_eq!(doc["token_endpoint"], format!("{}/token", app.base_url));
}

#[tokio::test]
async fn metadata_issuer_is_public_url_when_set() {
    let options = Options {
        variables: vec![("public_url".into(), "https://mcp.example.com".into())],
        ..Options::default()
    };
    let app = App::start_with(options).await.unwrap();
    let doc: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], "https://mcp.example.com");
    assert_eq!(doc["authorization_endpoint"], "https://mcp.example.com/authorize");
}

#[tokio::test]
async fn unauthenticated_mcp_request_gets_a_bearer_challenge() {
    let app = App::start().await.unwrap();
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"", app.base_url)),
        "{challenge}"
    );
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = App::start().await.unwrap();
    let response = reqwest::get(app.url("/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
}
