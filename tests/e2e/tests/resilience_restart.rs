//! The host process killed and restarted mid-session on the same state dir and port: our tokens
//! and the kintone grant live in the SQLite key-value store, so the client carries on with the
//! same bearer, rotates its refresh token, and the endpoint still refreshes the kintone token.
//! A legacy SSE session dies with its stream (its POSTs get 404 and the client reconnects).

use e2e::clients::legacy_sse::Session;
use e2e::mcp_client::McpClient;
use e2e::signin::{refresh, sign_in};
use e2e::{App, FakeConfig, FakeCybozu, Options};
use serde_json::{json, Value};
use std::path::Path;

async fn start_fake(ports: &[u16]) -> FakeCybozu {
    let config = FakeConfig {
        client_id: e2e::CLIENT_ID.into(),
        client_secret: e2e::CLIENT_SECRET.into(),
        redirect_uris: ports.iter().map(|p| format!("http://127.0.0.1:{p}/callback")).collect(),
        ..FakeConfig::default()
    };
    FakeCybozu::start(config).await.unwrap()
}

async fn start_app(fake: &FakeCybozu, state_dir: &Path, port: u16) -> App {
    let options = Options {
        state_dir: Some(state_dir.to_owned()),
        fake_base_url: Some(fake.base_url()),
        port: Some(port),
        // Long enough that the session record outlives the restart.
        variables: vec![("sse_max_seconds".into(), "25".into())],
        ..Options::default()
    };
    App::start_with(options).await.unwrap()
}

/// A legacy (2024-11-05) tool result carries its JSON in the first text block.
fn record_of(result: &Value) -> Value {
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

fn initialize() -> Value {
    json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "e2e-restart", "version": "1"}})
}

async fn get_record_ok(client: &McpClient, id: u32) {
    let call = client.call("getRecord", json!({"appId": 1, "id": id})).await.unwrap();
    assert!(!call.is_error(), "getRecord {id}: {}", call.text());
    assert_eq!(call.structured().unwrap()["record"]["$id"]["value"], id.to_string());
}

#[tokio::test]
async fn a_restarted_host_keeps_tokens_and_grants_and_ends_dead_sse_sessions() {
    let port = e2e::free_port().unwrap();
    let fake = start_fake(&[port]).await;
    let state_dir = e2e::unique_temp_dir("kintone-mcp-restart");
    std::fs::create_dir_all(&state_dir).unwrap();

    let mut app = start_app(&fake, &state_dir, port).await;
    let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
    let sse_tokens = sign_in(&app, "alice", "/sse").await.unwrap();
    let client = McpClient::new(&app, &tokens);
    get_record_ok(&client, 1).await;
    let mut session = Session::open(&app.url("/sse"), Some(&sse_tokens.bearer()))
        .await
        .unwrap();
    assert_eq!(
        session.request(1, "initialize", initialize()).await.unwrap()["result"]["protocolVersion"],
        "2024-11-05"
    );
    assert_eq!(
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await
            .unwrap()
            .status,
        202
    );

    // Killed mid-session: the stream breaks.
    app.kill();
    let broken = session.next_message(std::time::Duration::from_secs(10)).await;
    assert!(
        !matches!(broken, Ok(Some(_))),
        "a message arrived from a killed host: {broken:?}"
    );
    let app = start_app(&fake, &state_dir, port).await;

    // The same client, the same bearer, carries on.
    get_record_ok(&client, 2).await;
    assert!(client
        .list_tools()
        .await
        .unwrap()
        .iter()
        .any(|t| t["name"] == "addRecord"));

    // The old session's stream is gone with the host, so no reply posted to it could ever be
    // delivered: the session is gone too, and a message POST gets 404 -32001 (the client
    // reconnects). Under `spin up` the stream's instance sees its client go and closes the
    // session at once; a killed host cannot, so the session ends when its heartbeat goes stale
    // (`stale_after`, 10 s). Either way it ends within that bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let late = loop {
        let late = session
            .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
            .await
            .unwrap();
        if late.status != 202 || std::time::Instant::now() > deadline {
            break late;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(
        (late.status, late.error_code()),
        (404, Some(-32001)),
        "the dead session: {}",
        late.text
    );

    // Our refresh token rotates after the restart, and the new access token works.
    let rotated = refresh(&app, &tokens).await.unwrap();
    assert_ne!(rotated.access_token, tokens.access_token);
    get_record_ok(&McpClient::new(&app, &rotated), 3).await;

    // The kintone token expires at Cybozu: the restarted endpoint refreshes it from the stored
    // (encrypted) grant without the client noticing.
    fake.expire_access_tokens();
    get_record_ok(&McpClient::new(&app, &rotated), 4).await;
    let refreshed = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth2/token" && r.body.contains("grant_type=refresh_token") && r.status == Some(200))
        .count();
    assert!(refreshed >= 1, "the kintone token was not refreshed");

    // The legacy client reconnects with its token and carries on.
    let mut again = Session::open(&app.url("/sse"), Some(&sse_tokens.bearer()))
        .await
        .unwrap();
    assert_ne!(again.session_id, session.session_id);
    again.request(3, "initialize", initialize()).await.unwrap();
    let reply = again
        .request(
            4,
            "tools/call",
            json!({"name": "getRecord", "arguments": {"appId": "1", "id": "5"}}),
        )
        .await
        .unwrap();
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(record_of(&reply["result"])["record"]["$id"]["value"], "5", "{reply}");

    drop(again);
    drop(session);
    drop(app);
    let _ = std::fs::remove_dir_all(&state_dir);
}
