//! Two host processes on one state dir and one fake cybozu.com, as two replicas behind one public
//! URL (`public_url`, so tokens are audience-bound to the shared origin): sign in on one, call
//! tools and rotate tokens on the other; a legacy SSE stream open on one gets the replies to
//! messages POSTed to the other.

use e2e::clients::legacy_sse::Session;
use e2e::mcp_client::McpClient;
use e2e::signin::{refresh, sign_in};
use e2e::{App, FakeConfig, FakeCybozu, Options};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

async fn start_fake(ports: &[u16]) -> FakeCybozu {
    let config = FakeConfig {
        client_id: e2e::CLIENT_ID.into(),
        client_secret: e2e::CLIENT_SECRET.into(),
        redirect_uris: ports.iter().map(|p| format!("http://127.0.0.1:{p}/callback")).collect(),
        ..FakeConfig::default()
    };
    FakeCybozu::start(config).await.unwrap()
}

async fn start_replica(fake: &FakeCybozu, state_dir: &Path, port: u16, public_url: &str) -> App {
    let options = Options {
        state_dir: Some(state_dir.to_owned()),
        fake_base_url: Some(fake.base_url()),
        port: Some(port),
        variables: vec![("public_url".into(), public_url.into())],
        ..Options::default()
    };
    App::start_with(options).await.unwrap()
}

fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A legacy (2024-11-05) tool result carries its JSON in the first text block.
fn record_of(result: &Value) -> Value {
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

fn initialize() -> Value {
    json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "e2e-replicas", "version": "1"}})
}

struct Replicas {
    fake: FakeCybozu,
    a: App,
    b: App,
    state_dir: std::path::PathBuf,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.a.kill();
        self.b.kill();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

async fn replicas() -> Replicas {
    let (port_a, port_b) = (e2e::free_port().unwrap(), e2e::free_port().unwrap());
    let fake = start_fake(&[port_a, port_b]).await;
    let state_dir = e2e::unique_temp_dir("kintone-mcp-replicas");
    std::fs::create_dir_all(&state_dir).unwrap();
    let public_url = format!("http://127.0.0.1:{port_a}");
    let a = start_replica(&fake, &state_dir, port_a, &public_url).await;
    let b = start_replica(&fake, &state_dir, port_b, &public_url).await;
    Replicas { fake, a, b, state_dir }
}

#[tokio::test]
async fn signed_in_on_one_replica_the_other_serves_tools_and_rotates_tokens() {
    let r = replicas().await;
    let tokens = sign_in(&r.a, "alice", "/mcp").await.unwrap();

    let on_b = McpClient::new(&r.b, &tokens);
    let call = on_b.call("getRecord", json!({"appId": 1, "id": 3})).await.unwrap();
    assert!(!call.is_error(), "{}", call.text());
    assert_eq!(call.structured().unwrap()["record"]["$id"]["value"], "3");
    let added = on_b
        .call(
            "addRecord",
            json!({"appId": 1, "record": {"会社名": {"value": "replica-b-write"}}}),
        )
        .await
        .unwrap();
    assert!(!added.is_error(), "{}", added.text());

    // B rotates the refresh token; A honours the new pair.
    let rotated = refresh(&r.b, &tokens).await.unwrap();
    let on_a = McpClient::new(&r.a, &rotated);
    let read = on_a
        .call(
            "getRecords",
            json!({"appId": 1, "query": "会社名 = \"replica-b-write\""}),
        )
        .await
        .unwrap();
    assert!(!read.is_error(), "{}", read.text());
    assert_eq!(
        read.structured().unwrap()["records"].as_array().unwrap().len(),
        1,
        "A sees B's write once"
    );

    // The kintone token expires: B refreshes it, A uses the refreshed grant.
    r.fake.expire_access_tokens();
    let after_b = McpClient::new(&r.b, &rotated)
        .call("getRecord", json!({"appId": 1, "id": 4}))
        .await
        .unwrap();
    assert!(!after_b.is_error(), "{}", after_b.text());
    let after_a = on_a.call("getRecord", json!({"appId": 1, "id": 5})).await.unwrap();
    assert!(!after_a.is_error(), "{}", after_a.text());

    // A rotates B's rotation again; then the first refresh token is retired, and its reuse on A
    // revokes the grant for B too (reuse detection works across replicas).
    let rotated_again = refresh(&r.a, &rotated).await.unwrap();
    assert!(
        refresh(&r.a, &tokens).await.is_err(),
        "A accepted a retired refresh token"
    );
    let revoked = McpClient::new(&r.b, &rotated_again)
        .call("getRecord", json!({"appId": 1, "id": 1}))
        .await;
    assert!(revoked.is_err(), "B still serves a grant revoked on A");
}

#[tokio::test]
async fn a_legacy_stream_on_one_replica_gets_replies_to_posts_sent_to_the_other() {
    let r = replicas().await;
    let tokens = sign_in(&r.b, "alice", "/sse").await.unwrap();
    let mut session = Session::open(&r.a.url("/sse"), Some(&tokens.bearer())).await.unwrap();
    let on_b = r.b.url(&session.endpoint_data);
    assert!(
        on_b.starts_with(&r.b.base_url) && on_b.contains(&session.session_id),
        "{on_b}"
    );

    let init = session
        .post_to(&on_b, &request(1, "initialize", initialize()))
        .await
        .unwrap();
    assert_eq!(init.status, 202, "{}", init.text);
    let reply = session
        .next_message(Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the stream ended");
    assert_eq!(
        (reply["id"].clone(), reply["result"]["protocolVersion"].clone()),
        (json!(1), json!("2024-11-05")),
        "{reply}"
    );
    assert_eq!(
        session
            .post_to(&on_b, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await
            .unwrap()
            .status,
        202
    );

    // Calls alternate between the replicas; each reply arrives once on A's stream.
    let ids: Vec<i64> = (10..22).collect();
    for id in &ids {
        let body = request(
            *id,
            "tools/call",
            json!({"name": "getRecord", "arguments": {"appId": "1", "id": (id % 8 + 1).to_string()}}),
        );
        let answer = if id % 2 == 0 {
            session.post_to(&on_b, &body).await
        } else {
            session.post(&body).await
        }
        .unwrap();
        assert_eq!(answer.status, 202, "POST {id}: {}", answer.text);
    }
    let mut replies: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while replies.values().map(Vec::len).sum::<usize>() < ids.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = session
            .next_message(left)
            .await
            .unwrap()
            .expect("the stream ended before every reply");
        replies
            .entry(message["id"].as_i64().expect("a reply without an integer id"))
            .or_default()
            .push(message);
    }
    assert_eq!(replies.keys().copied().collect::<Vec<_>>(), ids);
    for (id, messages) in &replies {
        assert_eq!(messages.len(), 1, "request {id} got {} replies", messages.len());
        let result = &messages[0]["result"];
        assert_ne!(result["isError"], true, "{id}: {}", messages[0]);
        assert_eq!(
            record_of(result)["record"]["$id"]["value"],
            (id % 8 + 1).to_string(),
            "{id}: {}",
            messages[0]
        );
    }

    // And the other way round: a stream on B, its messages POSTed to A.
    let mut on_b_stream = Session::open(&r.b.url("/sse"), Some(&tokens.bearer())).await.unwrap();
    let to_a = r.a.url(&on_b_stream.endpoint_data);
    assert_eq!(
        on_b_stream
            .post_to(&to_a, &request(1, "ping", json!({})))
            .await
            .unwrap()
            .status,
        202
    );
    let pong = on_b_stream
        .next_message(Duration::from_secs(60))
        .await
        .unwrap()
        .expect("B's stream ended");
    assert_eq!(
        (pong["id"].clone(), pong["result"].clone()),
        (json!(1), json!({})),
        "{pong}"
    );
}
