//! The user's kintone token behind the MCP endpoint: with the fake's access tokens expiring
//! every 2 s, a client keeps calling tools (several at once, over `/mcp` and over legacy SSE)
//! across several expiries without noticing; once Cybozu revokes the refresh token, the next
//! call is a 401 with the bearer challenge, and after signing in again the client carries on.

use e2e::clients::legacy_sse::Session;
use e2e::clients::raw::Endpoint;
use e2e::signin::sign_in;
use e2e::{App, FakeCybozu};
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LIFETIME: Duration = Duration::from_secs(2);

async fn connect(app: &App, access_token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(access_token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize")
}

fn get_record(id: u32) -> CallToolRequestParams {
    let arguments = json!({"appId": "1", "id": id.to_string()});
    CallToolRequestParams::new("getRecord").with_arguments(arguments.as_object().unwrap().clone())
}

/// The record id in a getRecord result's first text block.
fn record_id(text: &str) -> String {
    let record: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    record["record"]["$id"]["value"].as_str().unwrap_or_default().to_owned()
}

/// Successful refreshes at Cybozu's token endpoint so far.
fn refreshes(fake: &FakeCybozu) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path == "/oauth2/token" && r.body.contains("grant_type=refresh_token") && r.status == Some(200))
        .count()
}

#[tokio::test]
async fn tool_calls_carry_on_across_kintone_token_expiries_then_a_revoked_grant_asks_for_sign_in() {
    let app = App::start().await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    fake.set_token_lifetime(LIFETIME);
    let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
    let sse_tokens = sign_in(&app, "alice", "/sse").await.unwrap();
    let client = connect(&app, &tokens.access_token).await;
    let mut legacy = Session::open(&app.url("/sse"), Some(&sse_tokens.bearer()))
        .await
        .unwrap();

    // Four rounds per lifetime for a bit over four lifetimes; in each round three calls at once
    // over /mcp and one over the legacy stream. The endpoint refreshes a kintone token that
    // expires within 60 s before using it, so with 2 s tokens nearly every call refreshes —
    // three at once for one grant — and none may trip over another. Halfway, every kintone
    // token also dies early (the reactive path has its own test below).
    let started = Instant::now();
    let mut round = 0u32;
    let mut expired_early = false;
    while started.elapsed() < LIFETIME * 4 + Duration::from_millis(500) {
        round += 1;
        if !expired_early && started.elapsed() > LIFETIME * 2 {
            fake.expire_access_tokens();
            expired_early = true;
        }
        let ids = [round % 8 + 1, (round + 1) % 8 + 1, (round + 2) % 8 + 1];
        let calls = ids.iter().map(|id| client.call_tool(get_record(*id)));
        let results = futures_util::future::join_all(calls).await;
        for (id, result) in ids.iter().zip(results) {
            let result = result.unwrap_or_else(|e| panic!("round {round}: getRecord {id} over /mcp failed: {e}"));
            assert_ne!(result.is_error, Some(true), "round {round}: {:?}", result.content);
            let text = result.content[0].as_text().expect("a text block").text.clone();
            assert_eq!(record_id(&text), id.to_string(), "round {round}");
        }
        let reply = legacy
            .request(
                i64::from(round),
                "tools/call",
                json!({"name": "getRecord", "arguments": {"appId": "1", "id": "3"}}),
            )
            .await
            .unwrap_or_else(|e| panic!("round {round}: legacy call failed: {e:#}"));
        assert_ne!(reply["result"]["isError"], true, "round {round}: {reply}");
        assert_eq!(record_id(reply["result"]["content"][0]["text"].as_str().unwrap()), "3");
        tokio::time::sleep(LIFETIME / 4).await;
    }
    let refreshed = refreshes(fake);
    assert!(
        refreshed >= 4,
        "only {refreshed} refreshes in {round} rounds over four token lifetimes"
    );
    let refused: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/k/") && r.status == Some(401))
        .collect();
    eprintln!(
        "{round} rounds, {refreshed} kintone token refreshes, {} kintone calls refused with 401",
        refused.len()
    );
    assert!(
        refused.len() <= 8,
        "kintone refused {} calls: refreshes are not reused",
        refused.len()
    );

    // Cybozu revokes the refresh token (the user removed the app, say) and the access token dies.
    assert!(fake.revoke_refresh_tokens("alice").unwrap() > 0);
    fake.expire_access_tokens();

    let error = client
        .call_tool(get_record(1))
        .await
        .expect_err("a call with a revoked grant must fail");
    let challenge = error
        .auth_challenge()
        .unwrap_or_else(|| panic!("no bearer challenge in {error}"))
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            app.base_url
        )),
        "{challenge}"
    );

    // The grant is gone for good: the old token stays refused, on every route.
    let old = Endpoint::new(app.url("/mcp"), Some(tokens.bearer()));
    let reply = old.call_raw(json!(1), "ping", json!({})).await.unwrap();
    assert_eq!(
        reply.status, 401,
        "the revoked grant's token still works: {}",
        reply.text
    );
    let late = legacy.post(&json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "getRecord", "arguments": {"appId": "1", "id": "1"}}})).await.unwrap();
    assert_eq!(late.status, 401, "legacy message with a revoked grant: {}", late.text);
    assert!(late
        .header("www-authenticate")
        .unwrap()
        .contains("oauth-protected-resource/sse"));

    // The client signs in again and carries on.
    let fresh = sign_in(&app, "alice", "/mcp").await.unwrap();
    let client = connect(&app, &fresh.access_token).await;
    let result = client.call_tool(get_record(5)).await.unwrap();
    assert_eq!(record_id(&result.content[0].as_text().unwrap().text), "5");
    client.cancel().await.unwrap();
}

/// kintone tokens that die before their stated expiry (kintone answers 401 `CB_OA01`): each
/// call that meets one refreshes and retries once, also when three meet it at once.
#[tokio::test]
async fn a_kintone_401_is_refreshed_and_retried_without_the_client_noticing() {
    let app = App::start().await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
    let sse_tokens = sign_in(&app, "alice", "/sse").await.unwrap();
    let client = connect(&app, &tokens.access_token).await;
    let mut legacy = Session::open(&app.url("/sse"), Some(&sse_tokens.bearer()))
        .await
        .unwrap();

    for round in 1..=4u32 {
        fake.expire_access_tokens();
        let before = refreshes(fake);
        let ids = [1, 2, 3];
        let results = futures_util::future::join_all(ids.iter().map(|id| client.call_tool(get_record(*id)))).await;
        for (id, result) in ids.iter().zip(results) {
            let result = result.unwrap_or_else(|e| panic!("round {round}: getRecord {id}: {e}"));
            assert_ne!(result.is_error, Some(true), "round {round}: {:?}", result.content);
            assert_eq!(record_id(&result.content[0].as_text().unwrap().text), id.to_string());
        }
        let reply = legacy
            .request(
                i64::from(round),
                "tools/call",
                json!({"name": "getRecord", "arguments": {"appId": "1", "id": "4"}}),
            )
            .await
            .unwrap();
        assert_eq!(
            record_id(reply["result"]["content"][0]["text"].as_str().unwrap()),
            "4",
            "round {round}: {reply}"
        );
        assert!(
            refreshes(fake) > before,
            "round {round}: no refresh after kintone's 401"
        );
    }
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/k/") && r.status == Some(401))
        .count();
    assert!(
        refused >= 4,
        "kintone refused only {refused} calls: the reactive path was not taken"
    );
    client.cancel().await.unwrap();
}
