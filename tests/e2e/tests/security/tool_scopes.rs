//! Security regressions: a token's scopes hold for every way JSON can spell a tool call (H1).
//!
//! The scope check once looked for the bytes `tools/call` in the body; JSON also spells that
//! `tools\/call` or `tools\u002fcall`, and the dispatcher ran the decoded call. Now the decision
//! is made on the parsed messages that run, from the scopes each tool declares.

use super::*;
use e2e::clients::legacy_sse;
use e2e::clients::raw::{self, Endpoint};

/// A token approved for reading records only.
async fn read_only_tokens(app: &App, resource_path: &str) -> Tokens {
    let mut flow = signin::Flow::new(app, resource_path).await.unwrap();
    flow.scope = Some("k:app_record:read".into());
    let code = flow.code_for("alice").await.unwrap();
    let tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(tokens.scope, "k:app_record:read");
    tokens
}

/// 403 with an `insufficient_scope` challenge naming `scope`.
fn assert_insufficient_scope(reply: &raw::Reply, scope: &str, what: &str) {
    assert_eq!(reply.status, 403, "{what}: {}", reply.text);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains(&format!("scope=\"{scope}\"")),
        "{what}: {challenge}"
    );
}

/// Tool calls spelled with JSON escapes, each needing `k:app_record:write`.
const ESCAPED_CALLS: &[(&str, &str)] = &[
    (
        "escaped slash in the method",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"deleteRecords","arguments":{"appId":1,"ids":[1]}}}"#,
    ),
    (
        "unicode escape in the method",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall","params":{"name":"deleteRecords","arguments":{"appId":1,"ids":[1]}}}"#,
    ),
    (
        "unicode escape in the tool name",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add\u0052ecord","arguments":{"appId":1,"record":{}}}}"#,
    ),
    (
        "every escape at once",
        r#"{"jsonrpc":"2.0","id":1,"method":"\u0074ools\/call","params":{"n\u0061me":"add\u0052ecord","arguments":{"appId":1,"record":{}}}}"#,
    ),
];

#[tokio::test]
async fn escaped_tool_calls_need_their_scope_on_mcp_and_post_sse() {
    let app = App::start().await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    for path in ["/mcp", "/sse"] {
        let tokens = read_only_tokens(&app, path).await;
        let endpoint = Endpoint::new(app.url(path), Some(tokens.bearer()));
        fake.clear_requests();
        let before = snapshot(&app);
        for (what, body) in ESCAPED_CALLS {
            let reply = endpoint.post_body(body.to_string()).await.unwrap();
            assert_insufficient_scope(&reply, "k:app_record:write", &format!("{what} at {path}"));
        }
        assert!(
            fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
            "an escaped call reached kintone: {:?}",
            fake.requests()
        );
        assert_eq!(before, snapshot(&app), "refused calls changed the store");
        // The granted scope still works.
        let read = endpoint
            .call_tool("getRecords", serde_json::json!({"appId": 1}))
            .await
            .unwrap();
        assert_ne!(read["isError"], true, "{read}");
    }
}

#[tokio::test]
async fn a_batch_with_one_call_beyond_the_token_is_refused_whole() {
    let app = App::start().await.unwrap();
    let tokens = read_only_tokens(&app, "/mcp").await;
    let mut endpoint = Endpoint::new(app.url("/mcp"), Some(tokens.bearer()));
    // Batches exist only in 2025-03-26.
    endpoint.protocol_version = Some("2025-03-26".into());
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    // Escaped throughout, as the old byte filter never saw.
    let batch = r#"[
        {"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"getRecords","arguments":{"appId":1}}},
        {"jsonrpc":"2.0","id":2,"method":"tools\/call","params":{"name":"deleteRecords","arguments":{"appId":1,"ids":[1]}}},
        {"jsonrpc":"2.0","id":3,"method":"tools\u002fcall","params":{"name":"uploadFile","arguments":{"file":{"name":"a.txt","data":"aGk="}}}}
    ]"#;
    let reply = endpoint.post_body(batch).await.unwrap();
    assert_eq!(reply.status, 403, "{}", reply.text);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("scope=\"k:app_record:write k:file:write\""),
        "both missing scopes are named: {challenge}"
    );
    // Not even the permitted read ran: the batch is refused before anything does.
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn an_escaped_call_on_a_legacy_sse_session_is_refused_and_never_queued() {
    let app = App::start().await.unwrap();
    let tokens = read_only_tokens(&app, "/sse").await;
    let mut session = legacy_sse::Session::open(&app.url("/sse"), Some(&tokens.bearer()))
        .await
        .unwrap();
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    let before = snapshot(&app);
    for (what, body) in ESCAPED_CALLS {
        let request = session
            .http
            .post(session.endpoint.as_str())
            .header("content-type", "application/json")
            .header("authorization", tokens.bearer())
            .body(body.to_string());
        let reply = raw::send(request).await.unwrap();
        assert_insufficient_scope(&reply, "k:app_record:write", what);
    }
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
        "{:?}",
        fake.requests()
    );
    assert_eq!(before, snapshot(&app), "a refused message was queued");
    let quiet = session.next_message(std::time::Duration::from_millis(500)).await;
    let error = quiet
        .expect_err("nothing may arrive on the stream for a refused message")
        .to_string();
    assert!(error.contains("nothing arrived"), "{error}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = App::start().await.unwrap();
    let tokens = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {}", tokens.access_token);
        assert_eq!(
            tools_list(&app, "/mcp", Some(&authorization), "").await.status(),
            200,
            "{scheme}"
        );
    }
}
