use std::cell::RefCell;

use rmcp::model::NumberOrString;
use serde_json::{json, Value};

use super::*;
use crate::jsonrpc::classify;
use crate::tools::{Annotations, Content, Tool, ToolResult};
use rmcp::model::ErrorCode;

/// A tool provider that records calls and answers from a script.
pub(crate) struct FakeTools {
    pub tools: Vec<Tool>,
    /// Answers per call, consumed in order; when empty, calls succeed with an echo.
    pub script: RefCell<Vec<Result<ToolResult, CallError>>>,
    pub calls: RefCell<Vec<(String, String)>>,
}

impl FakeTools {
    pub(crate) fn new(count: usize) -> Self {
        FakeTools {
            tools: (0..count).map(|i| tool(&format!("tool{i}"))).collect(),
            script: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn scripted(count: usize, script: Vec<Result<ToolResult, CallError>>) -> Self {
        let tools = Self::new(count);
        *tools.script.borrow_mut() = script;
        tools
    }
}

impl ToolProvider for FakeTools {
    fn list_tools(&self) -> Vec<Tool> {
        self.tools.clone()
    }

    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        self.tools.iter().find(|t| t.name == name).map(|t| t.scopes.clone())
    }

    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError> {
        self.calls
            .borrow_mut()
            .push((name.to_owned(), arguments_json.to_owned()));
        if !self.tools.iter().any(|t| t.name == name) {
            return Err(CallError::UnknownTool(name.to_owned()));
        }
        let mut script = self.script.borrow_mut();
        if script.is_empty() {
            Ok(ToolResult {
                content: vec![Content::Text(format!("{name} ran"))],
                structured: Some(arguments_json.to_owned()),
                is_error: false,
            })
        } else {
            script.remove(0)
        }
    }
}

pub(crate) fn tool(name: &str) -> Tool {
    Tool {
        name: name.to_owned(),
        title: format!("Title of {name}"),
        description: format!("Does {name}"),
        input_schema: r#"{"type":"object","additionalProperties":false}"#.to_owned(),
        output_schema: None,
        annotations: Annotations {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: true,
        },
        scopes: vec!["k:app_record:read".to_owned()],
    }
}

/// Every kintone scope: a token that lacks nothing.
pub(crate) const ALL_SCOPES: &[&str] = &[
    "k:app_record:read",
    "k:app_record:write",
    "k:app_settings:read",
    "k:app_settings:write",
    "k:file:read",
    "k:file:write",
];

fn config() -> EndpointConfig {
    EndpointConfig {
        server_name: "kintone-mcp".into(),
        server_version: "9.9.9".into(),
        server_title: Some("kintone".into()),
        instructions: Some("Use the tools.".into()),
        page_size: 2,
        ..EndpointConfig::default()
    }
}

fn handshake() -> RequestContext {
    RequestContext::default()
}

fn modern(method: &str, name: Option<&str>) -> RequestContext {
    RequestContext {
        protocol_version: Some(ProtocolVersion::V_2026_07_28),
        mcp_method: MirroredHeader::Value(method.to_owned()),
        mcp_name: name.map_or(MirroredHeader::Absent, |n| MirroredHeader::Value(n.to_owned())),
    }
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

fn finish(progress: Progress) -> Finished {
    match progress {
        Progress::Done(finished) => finished,
        Progress::NeedsRefresh(_) => panic!("unexpected refresh"),
    }
}

/// Run one message and return its only reply.
fn ask(context: RequestContext, tools: &FakeTools, message: Value) -> Reply {
    let finished = finish(Exchange::single(context, classify(message)).run(&config(), tools));
    assert_eq!(finished.replies.len(), 1);
    finished.replies.into_iter().next().unwrap()
}

fn result(reply: &Reply) -> Value {
    serde_json::from_str(reply.outcome.as_ref().expect("a result").as_str()).expect("result JSON")
}

fn error(reply: &Reply) -> &ErrorData {
    reply.outcome.as_ref().expect_err("an error")
}

#[test]
fn initialize_echoes_each_handshake_revision() {
    let tools = FakeTools::new(1);
    for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion": v, "capabilities": {}, "clientInfo": {"name":"c","version":"1"}}}),
        );
        assert_eq!(reply.status, 200);
        let r = result(&reply);
        assert_eq!(r["protocolVersion"], v);
        assert_eq!(
            r["capabilities"],
            json!({"logging": {}, "tools": {"listChanged": false}})
        );
        assert_eq!(
            r["serverInfo"],
            json!({"name":"kintone-mcp","title":"kintone","version":"9.9.9"})
        );
        assert_eq!(r["instructions"], "Use the tools.");
        assert!(r.get("resultType").is_none());
    }
}

#[test]
fn initialize_with_an_unknown_or_modern_revision_gets_the_latest_handshake_one() {
    let tools = FakeTools::new(1);
    for v in ["2099-01-01", "2026-07-28"] {
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion": v}}),
        );
        assert_eq!(result(&reply)["protocolVersion"], "2025-11-25");
    }
}

#[test]
fn initialize_without_a_version_is_invalid_params() {
    let tools = FakeTools::new(1);
    for params in [json!({}), json!({"protocolVersion": 5})] {
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":"i","method":"initialize","params": params}),
        );
        assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS);
        assert_eq!(reply.id, Some(NumberOrString::String("i".into())));
    }
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize"}),
    );
    assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS);
}

#[test]
fn initialize_cannot_be_batched() {
    let tools = FakeTools::new(1);
    let exchange = Exchange::batch(
        handshake(),
        vec![
            classify(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}})),
            classify(json!({"jsonrpc":"2.0","id":2,"method":"ping"})),
        ],
    );
    let finished = finish(exchange.run(&config(), &tools));
    assert_eq!(finished.replies.len(), 2);
    assert_eq!(error(&finished.replies[0]).code, ErrorCode::INVALID_REQUEST);
    assert_eq!(result(&finished.replies[1]), json!({}));
    assert_eq!(finished.summary.batch, Some(2));
}

#[test]
fn ping_answers_an_empty_result_in_the_handshake_revisions_and_is_gone_in_the_modern_one() {
    let tools = FakeTools::new(1);
    let reply = ask(handshake(), &tools, json!({"jsonrpc":"2.0","id":1,"method":"ping"}));
    assert_eq!(result(&reply), json!({}));
    // 2026-07-28 removed ping.
    let reply = ask(
        modern("ping", None),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta": modern_meta()}}),
    );
    assert_eq!(error(&reply).code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(reply.status, 404);
}

#[test]
fn unknown_methods_are_method_not_found_404_only_in_the_modern_era() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"resources/list"}),
    );
    assert_eq!(error(&reply).code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(reply.status, 200);
    let reply = ask(
        modern("prompts/list", None),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"prompts/list","params":{"_meta": modern_meta()}}),
    );
    assert_eq!(error(&reply).code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(reply.status, 404);
}

#[test]
fn unknown_method_names_are_sanitised_in_messages() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"x\ny\u{7}"}),
    );
    assert_eq!(error(&reply).message, "Method not found: x?y?");
}

#[test]
fn tools_list_pages_with_opaque_cursors() {
    let tools = FakeTools::new(5);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params": params}),
        );
        let r = result(&reply).clone();
        assert!(r.get("resultType").is_none());
        assert!(r.get("ttlMs").is_none());
        pages += 1;
        for t in r["tools"].as_array().unwrap() {
            names.push(t["name"].as_str().unwrap().to_owned());
            assert_eq!(t["annotations"]["readOnlyHint"], true);
        }
        match r.get("nextCursor") {
            Some(c) => cursor = Some(c.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["tool0", "tool1", "tool2", "tool3", "tool4"]);
}

#[test]
fn tools_list_without_params_returns_the_first_page() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    assert_eq!(result(&reply)["tools"].as_array().unwrap().len(), 1);
    assert!(result(&reply).get("nextCursor").is_none());
}

#[test]
fn invalid_cursors_are_invalid_params() {
    let tools = FakeTools::new(5);
    for cursor in [json!("garbage"), json!(7), json!(crate::cursor::encode(5))] {
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor": cursor}}),
        );
        assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS, "{cursor}");
        assert_eq!(reply.status, 200);
    }
}

#[test]
fn modern_tools_list_carries_cache_hints() {
    let tools = FakeTools::new(1);
    let reply = ask(
        modern("tools/list", None),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": modern_meta()}}),
    );
    let r = result(&reply);
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["ttlMs"], LIST_TTL_MS);
    assert_eq!(r["cacheScope"], "private");
}

#[test]
fn a_broken_catalogue_is_an_internal_error_naming_the_tool() {
    let mut tools = FakeTools::new(2);
    tools.tools[1].input_schema = "nope".into();
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    assert_eq!(error(&reply).code, ErrorCode::INTERNAL_ERROR);
    assert!(error(&reply).message.contains("tool1"));
}

#[test]
fn handshake_revision_tools_list_drops_non_object_output_schemas() {
    let mut tools = FakeTools::new(2);
    tools.tools[0].output_schema = Some(r#"{"type":"array"}"#.into());
    tools.tools[1].output_schema = Some(r#"{"type":"object"}"#.into());
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    );
    let listed = result(&reply)["tools"].as_array().unwrap().clone();
    assert!(listed[0].get("outputSchema").is_none());
    assert_eq!(listed[1]["outputSchema"], json!({"type":"object"}));
    let reply = ask(
        modern("tools/list", None),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": modern_meta()}}),
    );
    assert_eq!(result(&reply)["tools"][0]["outputSchema"], json!({"type":"array"}));
}

#[test]
fn tools_call_passes_arguments_as_json_text_and_returns_content() {
    let tools = FakeTools::new(2);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"tool1","arguments":{"appId":3}}}),
    );
    let r = result(&reply);
    assert_eq!(r["content"][0], json!({"type":"text","text":"tool1 ran"}));
    assert_eq!(r["structuredContent"], json!({"appId":3}));
    assert_eq!(r["content"][1]["text"], "{\"appId\":3}");
    assert_eq!(r["isError"], false);
    assert!(r.get("resultType").is_none());
    assert_eq!(
        tools.calls.borrow()[0],
        ("tool1".to_owned(), "{\"appId\":3}".to_owned())
    );
}

#[test]
fn tools_call_without_arguments_sends_an_empty_object() {
    let tools = FakeTools::new(1);
    ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"tool0"}}),
    );
    assert_eq!(tools.calls.borrow()[0].1, "{}");
}

#[test]
fn bad_tools_call_params_are_invalid_params_and_call_nothing() {
    let tools = FakeTools::new(1);
    for params in [
        json!({}),
        json!({"name": 3}),
        json!({"name": "tool0", "arguments": [1]}),
        json!({"name": "tool0", "arguments": "x"}),
        json!({"name": "has space"}),
        json!({"name": ""}),
    ] {
        let reply = ask(
            handshake(),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params": params}),
        );
        assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS, "{params}");
    }
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call"}),
    );
    assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS);
    assert!(tools.calls.borrow().is_empty());
}

#[test]
fn unknown_tools_are_a_json_rpc_error() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}),
    );
    assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS);
    assert_eq!(error(&reply).message, "Unknown tool: nope");
}

#[test]
fn tool_errors_and_outages_are_is_error_results() {
    let tools = FakeTools::scripted(
        1,
        vec![
            Ok(ToolResult {
                content: vec![Content::Text("GAIA_RE01: no such record".into())],
                structured: None,
                is_error: true,
            }),
            Err(CallError::Unavailable("HTTP 503".into())),
        ],
    );
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}});
    let first = ask(handshake(), &tools, call.clone());
    assert_eq!(result(&first)["isError"], true);
    assert_eq!(result(&first)["content"][0]["text"], "GAIA_RE01: no such record");
    let second = ask(handshake(), &tools, call);
    assert_eq!(result(&second)["isError"], true);
    assert_eq!(
        result(&second)["content"][0]["text"],
        "kintone is unavailable: HTTP 503"
    );
}

#[test]
fn unauthorized_suspends_and_the_resumed_call_succeeds() {
    let stale = FakeTools::scripted(1, vec![Err(CallError::Unauthorized("CB_OA01".into()))]);
    let exchange = Exchange::single(
        handshake(),
        classify(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}})),
    );
    let Progress::NeedsRefresh(exchange) = exchange.run(&config(), &stale) else {
        panic!("expected a refresh request")
    };
    let fresh = FakeTools::new(1);
    let finished = exchange.resume(&config(), &fresh);
    assert_eq!(result(&finished.replies[0])["isError"], false);
    assert_eq!(stale.calls.borrow().len(), 1);
    assert_eq!(fresh.calls.borrow().len(), 1);
}

#[test]
fn a_second_unauthorized_becomes_an_is_error_result_not_a_loop() {
    let tools = FakeTools::scripted(
        1,
        vec![
            Err(CallError::Unauthorized("CB_OA01".into())),
            Err(CallError::Unauthorized("CB_OA01".into())),
        ],
    );
    let exchange = Exchange::single(
        handshake(),
        classify(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}})),
    );
    let Progress::NeedsRefresh(exchange) = exchange.run(&config(), &tools) else {
        panic!("expected a refresh request")
    };
    let finished = finish(exchange.run(&config(), &tools));
    let r = result(&finished.replies[0]);
    assert_eq!(r["isError"], true);
    assert!(r["content"][0]["text"].as_str().unwrap().contains("Sign in"));
}

#[test]
fn a_resumed_batch_keeps_earlier_replies_and_does_not_rerun_them() {
    let tools = FakeTools::scripted(
        2,
        vec![
            Ok(ToolResult {
                content: vec![Content::Text("first".into())],
                structured: None,
                is_error: false,
            }),
            Err(CallError::Unauthorized("expired".into())),
        ],
    );
    let exchange = Exchange::batch(
        handshake(),
        vec![
            classify(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}})),
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            classify(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tool1"}})),
            classify(json!({"jsonrpc":"2.0","id":3,"method":"ping"})),
        ],
    );
    let Progress::NeedsRefresh(exchange) = exchange.run(&config(), &tools) else {
        panic!("expected a refresh request")
    };
    let finished = finish(exchange.run(&config(), &tools));
    let ids: Vec<_> = finished.replies.iter().map(|r| r.id.clone().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3].map(NumberOrString::Number));
    assert_eq!(result(&finished.replies[0])["content"][0]["text"], "first");
    assert_eq!(result(&finished.replies[1])["content"][0]["text"], "tool1 ran");
    let calls: Vec<_> = tools.calls.borrow().iter().map(|c| c.0.clone()).collect();
    assert_eq!(calls, ["tool0", "tool1", "tool1"]);
    assert_eq!(finished.summary.tool.as_deref(), Some("tool0"));
}

#[test]
fn notifications_and_client_replies_get_no_reply() {
    let tools = FakeTools::new(1);
    for message in [
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}),
        json!({"jsonrpc":"2.0","id":9,"result":{}}),
    ] {
        let finished = finish(Exchange::single(handshake(), classify(message)).run(&config(), &tools));
        assert!(finished.replies.is_empty());
    }
}

#[test]
fn invalid_messages_are_invalid_request_with_400() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}),
    );
    assert_eq!(error(&reply).code, ErrorCode::INVALID_REQUEST);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.id, Some(NumberOrString::Number(4)));
}

#[test]
fn server_discover_lists_every_revision() {
    let tools = FakeTools::new(1);
    let reply = ask(
        modern("server/discover", None),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": modern_meta()}}),
    );
    let r = result(&reply);
    assert_eq!(
        r["supportedVersions"],
        json!(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
    );
    assert_eq!(r["capabilities"]["tools"], json!({"listChanged": false}));
    assert_eq!(r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "kintone-mcp");
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["ttlMs"], LIST_TTL_MS);
    assert_eq!(r["instructions"], "Use the tools.");
}

#[test]
fn server_discover_from_a_handshake_revision_client_is_answered_too() {
    let tools = FakeTools::new(1);
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"server/discover"}),
    );
    assert!(result(&reply)["supportedVersions"].is_array());
}

#[test]
fn modern_requests_need_their_meta() {
    let tools = FakeTools::new(1);
    let mut partial = modern_meta();
    partial
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    for params in [json!({}), json!({"_meta": partial}), json!({"_meta": 3})] {
        let reply = ask(
            modern("tools/list", None),
            &tools,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params": params}),
        );
        assert_eq!(error(&reply).code, ErrorCode::INVALID_PARAMS, "{params}");
        assert_eq!(reply.status, 400);
    }
}

#[test]
fn modern_requests_need_matching_mirrored_headers() {
    let tools = FakeTools::new(1);
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","_meta": modern_meta()}});
    let cases = [
        modern("tools/list", Some("tool0")),
        modern("tools/call", None),
        modern("tools/call", Some("tool1")),
        RequestContext {
            mcp_method: MirroredHeader::Absent,
            ..modern("tools/call", Some("tool0"))
        },
        RequestContext {
            mcp_method: MirroredHeader::Invalid,
            ..modern("tools/call", Some("tool0"))
        },
    ];
    for context in cases {
        let reply = ask(context.clone(), &tools, call.clone());
        assert_eq!(error(&reply).code, ErrorCode::HEADER_MISMATCH, "{context:?}");
        assert_eq!(reply.status, 400);
    }
    assert!(tools.calls.borrow().is_empty());
    let reply = ask(modern("tools/call", Some("tool0")), &tools, call.clone());
    assert_eq!(result(&reply)["resultType"], "complete");
    // Base64 sentinel form of "tool0".
    let reply = ask(modern("tools/call", Some("=?base64?dG9vbDA=?=")), &tools, call);
    assert!(reply.outcome.is_ok());
}

#[test]
fn meta_version_must_match_the_header() {
    let tools = FakeTools::new(1);
    let message = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta": modern_meta()}});
    let reply = ask(handshake(), &tools, message.clone());
    assert_eq!(error(&reply).code, ErrorCode::HEADER_MISMATCH);
    let context = RequestContext {
        protocol_version: Some(ProtocolVersion::V_2025_11_25),
        ..RequestContext::default()
    };
    let reply = ask(context, &tools, message);
    assert_eq!(error(&reply).code, ErrorCode::HEADER_MISMATCH);
    assert_eq!(reply.status, 400);
}

#[test]
fn initialize_under_a_modern_header_is_a_removed_method() {
    let tools = FakeTools::new(1);
    // 2026-07-28 has no initialize: with its header (and valid _meta) the method is unknown.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25", "_meta": modern_meta()}});
    let reply = ask(modern("initialize", None), &tools, init.clone());
    assert_eq!(error(&reply).code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(reply.status, 404);
    // The modern header rules still come first.
    let reply = ask(modern("tools/list", None), &tools, init);
    assert_eq!(error(&reply).code, ErrorCode::HEADER_MISMATCH);
    // Without the header (as clients of the handshake revisions send it) initialize is answered as ever.
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}),
    );
    assert_eq!(result(&reply)["protocolVersion"], "2025-11-25");
}

#[test]
fn handshake_revision_calls_drop_non_object_structured_content() {
    let tools = FakeTools::scripted(
        1,
        vec![
            Ok(ToolResult {
                content: vec![],
                structured: Some("[1,2]".into()),
                is_error: false,
            }),
            Ok(ToolResult {
                content: vec![],
                structured: Some("[1,2]".into()),
                is_error: false,
            }),
        ],
    );
    let reply = ask(
        handshake(),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}}),
    );
    assert!(result(&reply).get("structuredContent").is_none());
    assert_eq!(result(&reply)["content"][0]["text"], "[1,2]");
    let reply = ask(
        modern("tools/call", Some("tool0")),
        &tools,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","_meta": modern_meta()}}),
    );
    assert_eq!(result(&reply)["structuredContent"], json!([1, 2]));
}

#[test]
fn summary_names_method_and_valid_tool_only() {
    let tools = FakeTools::new(1);
    let finished = finish(
        Exchange::single(
            handshake(),
            classify(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","arguments":{"secret":"x"}}})),
        )
        .run(&config(), &tools),
    );
    assert_eq!(finished.summary.method.as_deref(), Some("tools/call"));
    assert_eq!(finished.summary.tool.as_deref(), Some("tool0"));
    let finished = finish(
        Exchange::single(
            handshake(),
            classify(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bad name\n"}})),
        )
        .run(&config(), &tools),
    );
    assert_eq!(finished.summary.tool, None);
}

#[test]
fn mirrored_headers_are_read_strictly() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(
        MirroredHeader::from_headers(&headers, "mcp-name"),
        MirroredHeader::Absent
    );
    headers.insert("mcp-name", "tool0".parse().unwrap());
    assert_eq!(
        MirroredHeader::from_headers(&headers, "Mcp-Name"),
        MirroredHeader::Value("tool0".into())
    );
    headers.append("mcp-name", "tool1".parse().unwrap());
    assert_eq!(
        MirroredHeader::from_headers(&headers, "mcp-name"),
        MirroredHeader::Invalid
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("mcp-name", http::HeaderValue::from_bytes(b"\xff").unwrap());
    assert_eq!(
        MirroredHeader::from_headers(&headers, "mcp-name"),
        MirroredHeader::Invalid
    );
}

#[test]
fn tool_name_rule() {
    assert!(is_tool_name("getRecords"));
    assert!(is_tool_name("a.b-c_d9"));
    assert!(is_tool_name(&"x".repeat(128)));
    assert!(!is_tool_name(&"x".repeat(129)));
    assert!(!is_tool_name(""));
    assert!(!is_tool_name("a b"));
    assert!(!is_tool_name("ツール"));
}

#[test]
fn logging_set_level_accepts_rfc5424_levels_and_refuses_others() {
    let ok = super::set_log_level(Some(&serde_json::json!({"level": "warning"})))
        .ok()
        .unwrap();
    assert_eq!(ok, serde_json::json!({}));
    assert!(super::set_log_level(Some(&serde_json::json!({"level": "loud"}))).is_err());
    assert!(super::set_log_level(None).is_err());
}
