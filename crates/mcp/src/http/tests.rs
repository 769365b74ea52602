use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::streamable::{handle_post, Handled, PostOutcome};
use super::*;
use crate::dispatch::tests::{FakeTools, ALL_SCOPES};
use crate::tools::{CallError, ToolResult};

fn config() -> EndpointConfig {
    EndpointConfig {
        public_origin: Some("https://mcp.example.com".into()),
        max_body_bytes: 1000,
        ..EndpointConfig::default()
    }
}

fn request(method: Method, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("https://mcp.example.com{path}"))
        .header("host", "mcp.example.com")
}

/// A POST to /mcp with the headers a conforming client sends.
fn post() -> http::request::Builder {
    request(Method::POST, "/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

fn send(builder: http::request::Builder, body: &Value) -> Handled {
    send_raw(builder, serde_json::to_vec(body).unwrap(), &FakeTools::new(3))
}

fn send_raw(builder: http::request::Builder, body: Vec<u8>, tools: &FakeTools) -> Handled {
    match handle_post(&builder.body(body).unwrap(), &config(), tools, ALL_SCOPES) {
        PostOutcome::Respond(handled) => handled,
        other => panic!("unexpected {other:?}"),
    }
}

fn json_body(response: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

fn respond(route: Route) -> http::Response<Vec<u8>> {
    match route {
        Route::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn init() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})
}

#[test]
fn routes_by_path_and_method() {
    let c = config();
    let r = |m: Method, p: &str| route(&request(m, p).body(Vec::new()).unwrap(), &c);
    assert!(matches!(r(Method::POST, "/mcp"), Route::StreamablePost));
    assert!(matches!(r(Method::POST, "/mcp/"), Route::StreamablePost));
    assert!(matches!(r(Method::POST, "/sse"), Route::StreamablePost));
    assert!(matches!(r(Method::GET, "/sse"), Route::LegacyStream));
    assert!(matches!(r(Method::POST, "/sse/message"), Route::LegacyMessage));
    assert_eq!(respond(r(Method::GET, "/elsewhere")).status(), StatusCode::NOT_FOUND);
}

#[test]
fn get_and_delete_on_mcp_are_405_with_allow() {
    let c = config();
    for method in [Method::GET, Method::DELETE, Method::PUT] {
        let response = respond(route(&request(method.clone(), "/mcp").body(Vec::new()).unwrap(), &c));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(response.headers()["allow"], "POST, OPTIONS");
        assert_eq!(json_body(&response)["error"]["code"], -32600);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
    let response = respond(route(
        &request(Method::GET, "/sse/message").body(Vec::new()).unwrap(),
        &c,
    ));
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, OPTIONS");
}

#[test]
fn preflight_is_answered_without_a_token() {
    let req = request(Method::OPTIONS, "/mcp")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .body(Vec::new())
        .unwrap();
    let response = respond(route(&req, &config()));
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
}

#[test]
fn foreign_hosts_and_origins_are_refused() {
    let c = config();
    let evil_host = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("host", "evil.example.com")
        .body(Vec::new())
        .unwrap();
    let response = respond(route(&evil_host, &c));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_body(&response)["id"], Value::Null);

    let evil_origin = request(Method::POST, "/mcp")
        .header("origin", "https://evil.example.com")
        .body(Vec::new())
        .unwrap();
    assert_eq!(respond(route(&evil_origin, &c)).status(), StatusCode::FORBIDDEN);

    let evil_preflight = request(Method::OPTIONS, "/mcp")
        .header("origin", "https://evil.example.com")
        .body(Vec::new())
        .unwrap();
    assert_eq!(respond(route(&evil_preflight, &c)).status(), StatusCode::FORBIDDEN);

    for ok in ["https://mcp.example.com", "http://127.0.0.1:6274"] {
        let req = request(Method::POST, "/mcp")
            .header("origin", ok)
            .body(Vec::new())
            .unwrap();
        assert!(matches!(route(&req, &c), Route::StreamablePost), "{ok}");
    }
}

#[test]
fn loopback_host_passes_without_configuration() {
    let req = Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1:3000/mcp")
        .body(Vec::new())
        .unwrap();
    assert!(matches!(route(&req, &EndpointConfig::default()), Route::StreamablePost));
}

#[test]
fn initialize_gets_a_json_response() {
    let body = init();
    let handled = send(post(), &body);
    let response = handled.response;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers().get("mcp-session-id").is_none());
    let v = json_body(&response);
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(handled.summary.method.as_deref(), Some("initialize"));
}

#[test]
fn a_session_id_header_is_tolerated_and_not_echoed() {
    let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let handled = send(post().header("mcp-session-id", "whatever-123"), &body);
    assert_eq!(handled.response.status(), StatusCode::OK);
    assert!(handled.response.headers().get("mcp-session-id").is_none());
    assert_eq!(
        json_body(&handled.response)["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn notifications_and_responses_get_202_without_body() {
    for body in [
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":"s1","result":{}}),
    ] {
        let response = send(post(), &body).response;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(response.body().is_empty());
    }
}

#[test]
fn parse_errors_and_invalid_requests_are_400() {
    let tools = FakeTools::new(1);
    let response = send_raw(post(), b"{oops".to_vec(), &tools).response;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let v = json_body(&response);
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], Value::Null);

    let body = json!({"jsonrpc":"2.0","id":3,"params":{}});
    let response = send(post(), &body).response;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(&response)["error"]["code"], -32600);
    assert_eq!(json_body(&response)["id"], 3);
}

#[test]
fn unsupported_protocol_version_headers_are_400_with_supported_list() {
    for value in ["invalid-protocol-version", "2000-01-01", "2099-01-01"] {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}});
        let response = send(post().header("mcp-protocol-version", value), &body).response;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{value}");
        let v = json_body(&response);
        assert_eq!(v["error"]["code"], -32022);
        assert_eq!(v["error"]["data"]["requested"], value);
        assert_eq!(v["error"]["data"]["supported"].as_array().unwrap().len(), 5);
        assert_eq!(v["id"], 1);
    }
    let body = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let twice = post()
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-protocol-version", "2025-06-18");
    assert_eq!(send(twice, &body).response.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn every_supported_version_header_is_accepted() {
    for value in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
        let response = send(post().header("mcp-protocol-version", value), &body).response;
        assert_eq!(response.status(), StatusCode::OK, "{value}");
        assert_eq!(json_body(&response)["result"], json!({}));
    }
}

#[test]
fn batches_only_for_2025_03_26() {
    let batch = json!([
        {"jsonrpc":"2.0","id":901,"method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":902,"method":"tools/call","params":{"name":"tool0"}}
    ]);
    for header in [None, Some("2025-03-26")] {
        let mut builder = post();
        if let Some(h) = header {
            builder = builder.header("mcp-protocol-version", h);
        }
        let response = send(builder, &batch).response;
        assert_eq!(response.status(), StatusCode::OK);
        let v = json_body(&response);
        let ids: Vec<_> = v.as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [json!(901), json!(902)]);
    }
    for header in ["2025-06-18", "2025-11-25", "2024-11-05"] {
        let response = send(post().header("mcp-protocol-version", header), &batch).response;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{header}");
        let v = json_body(&response);
        assert!(v.is_object());
        assert_eq!(v["error"]["code"], -32600);
    }
    let only_notifications = json!([{"jsonrpc":"2.0","method":"notifications/initialized"}]);
    let response = send(post(), &only_notifications).response;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn oversized_bodies_are_413_and_call_nothing() {
    let tools = FakeTools::new(1);
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","arguments":{"x":"y".repeat(2000)}}});
    let response = send_raw(post(), serde_json::to_vec(&body).unwrap(), &tools).response;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_body(&response)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1000"));
    assert!(tools.calls.borrow().is_empty());
}

#[test]
fn wrong_content_type_is_415() {
    let body = init();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut builder = request(Method::POST, "/mcp").header("accept", "application/json");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let response = send(builder, &body).response;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
}

#[test]
fn unacceptable_accept_is_406_but_missing_accept_is_fine() {
    let body = init();
    let refuse = request(Method::POST, "/mcp")
        .header("content-type", "application/json")
        .header("accept", "text/html");
    assert_eq!(send(refuse, &body).response.status(), StatusCode::NOT_ACCEPTABLE);
    let lenient = request(Method::POST, "/mcp").header("content-type", "application/json");
    assert_eq!(send(lenient, &body).response.status(), StatusCode::OK);
}

#[test]
fn an_sse_only_client_gets_one_message_event() {
    let body = init();
    let builder = request(Method::POST, "/mcp")
        .header("content-type", "application/json")
        .header("accept", "text/event-stream");
    let response = send(builder, &body).response;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(response.body().clone()).unwrap();
    let data = text
        .strip_prefix("event: message\ndata: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .expect("one message event");
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
}

fn modern_call(method: &str, params: Value) -> (http::request::Builder, Value) {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc":"2.0","id":"m1","method": method,"params": params});
    let mut builder = post()
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = body["params"]["name"].as_str() {
        builder = builder.header("mcp-name", name);
    }
    (builder, body)
}

#[test]
fn modern_requests_end_to_end() {
    let (builder, body) = modern_call("tools/call", json!({"name":"tool2","arguments":{}}));
    let response = send(builder, &body).response;
    assert_eq!(response.status(), StatusCode::OK);
    let v = json_body(&response);
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["isError"], false);

    let (builder, body) = modern_call("server/discover", json!({}));
    let v = json_body(&send(builder, &body).response);
    assert!(v["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));

    let (builder, body) = modern_call("resources/list", json!({}));
    let response = send(builder, &body).response;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(&response)["error"]["code"], -32601);

    let (builder, mut body) = modern_call("tools/list", json!({}));
    body["params"].as_object_mut().unwrap().remove("_meta");
    let response = send(builder, &body).response;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(&response)["error"]["code"], -32602);

    let (builder, body) = modern_call("tools/list", json!({}));
    let response = send(builder.header("mcp-method", "tools/call"), &body).response;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(&response)["error"]["code"], -32020);
}

#[test]
fn modern_batches_are_refused() {
    let (builder, body) = modern_call("tools/list", json!({}));
    let batch = json!([body.clone(), body]);
    let response = send(builder, &batch).response;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let v = json_body(&response);
    assert_eq!(v["error"]["code"], -32600);
    assert!(v.get("id").is_none(), "modern id-less errors omit the id");
}

#[test]
fn refresh_then_resume_yields_the_tool_result() {
    let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"tool0"}});
    let stale = FakeTools::scripted(1, vec![Err(CallError::Unauthorized("CB_OA01".into()))]);
    let req = post().body(serde_json::to_vec(&body).unwrap()).unwrap();
    let PostOutcome::NeedsRefresh(pending) = handle_post(&req, &config(), &stale, ALL_SCOPES) else {
        panic!("expected a refresh request")
    };
    let fresh = FakeTools::scripted(
        1,
        vec![Ok(ToolResult {
            content: vec![crate::tools::Content::Text("ok".into())],
            structured: None,
            is_error: false,
        })],
    );
    let handled = pending.resume(&config(), &fresh);
    assert_eq!(handled.response.status(), StatusCode::OK);
    let v = json_body(&handled.response);
    assert_eq!(v["id"], 7);
    assert_eq!(v["result"]["content"][0]["text"], "ok");
    assert_eq!(handled.summary.tool.as_deref(), Some("tool0"));
}

#[test]
fn with_cors_decorates_foreign_responses() {
    let response = with_cors(http::Response::new(Vec::new()));
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("WWW-Authenticate"));
}

/// `handle_post` with a token granted only `granted`, on tools needing `k:app_record:read`
/// except `writer`, which needs `k:app_record:write`.
fn post_with_scopes(body: &str, granted: &[&str]) -> (PostOutcome, FakeTools) {
    let mut tools = FakeTools::new(2);
    let mut writer = crate::dispatch::tests::tool("writer");
    writer.scopes = vec!["k:app_record:write".to_owned()];
    tools.tools.push(writer);
    let outcome = handle_post(
        &post()
            .header("mcp-protocol-version", "2025-03-26")
            .body(body.as_bytes().to_vec())
            .unwrap(),
        &config(),
        &tools,
        granted,
    );
    (outcome, tools)
}

#[test]
fn a_call_beyond_the_granted_scopes_is_refused_however_json_spells_it() {
    let read = &["k:app_record:read"];
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"writer"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"writer"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall","params":{"name":"wr\u0069ter"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"writer"}}]"#,
    ] {
        let (outcome, tools) = post_with_scopes(body, read);
        match outcome {
            PostOutcome::InsufficientScope(missing) => {
                assert_eq!(missing, ["k:app_record:write"], "{body}")
            }
            other => panic!("{body}: {other:?}"),
        }
        assert!(tools.calls.borrow().is_empty(), "{body}: nothing may run");
    }
}

#[test]
fn calls_within_the_granted_scopes_and_calls_that_cannot_run_need_no_scope() {
    let read = &["k:app_record:read"];
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}}"#,
        // Unknown tools, invalid names and malformed params are refused by dispatch itself.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nosuch"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bad name!"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    ] {
        let (outcome, _) = post_with_scopes(body, read);
        assert!(matches!(outcome, PostOutcome::Respond(_)), "{body}: {outcome:?}");
    }
}
