//! Property tests: whatever arrives at `/mcp`, `/sse` or `/sse/message` — any bytes, any JSON,
//! any headers — the endpoint answers with a well-formed HTTP response and never panics; a
//! refused legacy message changes nothing in the store.

use http::{Method, Request, StatusCode};
use mcp::{
    handle_message_post, handle_post, route, Annotations, CallError, Content, EndpointConfig, MessageOutcome,
    PostOutcome, SseStream, Tool, ToolProvider, ToolResult,
};
use platform::MemoryStore;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

/// One tool that echoes its arguments; `fail` asks for each kind of error.
struct Echo;

impl ToolProvider for Echo {
    fn list_tools(&self) -> Vec<Tool> {
        vec![Tool {
            name: "echo".into(),
            title: "Echo".into(),
            description: "Echo the arguments".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: None,
            annotations: Annotations {
                read_only: true,
                ..Annotations::default()
            },
            scopes: vec!["k:app_record:read".into()],
        }]
    }

    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        (name == "echo").then(|| vec!["k:app_record:read".into()])
    }

    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError> {
        match name {
            "echo" if arguments_json.contains("\"fail\":\"unavailable\"") => Err(CallError::Unavailable("down".into())),
            "echo" => Ok(ToolResult {
                content: vec![Content::Text(arguments_json.into())],
                structured: None,
                is_error: false,
            }),
            other => Err(CallError::UnknownTool(other.into())),
        }
    }
}

const METHODS: [&str; 12] = [
    "initialize",
    "notifications/initialized",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "prompts/list",
    "logging/setLevel",
    "server/discover",
    "completion/complete",
    "notifications/cancelled",
    "",
];

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON-RPC-shaped values: real and unknown methods, odd ids, any params; sometimes batches.
fn jsonrpc_like() -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        Just(None),
        any::<i64>().prop_map(|i| Some(Value::from(i))),
        ".{0,6}".prop_map(|s| Some(Value::String(s))),
        any_json().prop_map(Some)
    ];
    let method = prop_oneof![prop::sample::select(METHODS.to_vec()).prop_map(String::from), ".{0,16}"];
    let version = prop_oneof![4 => Just(Value::from("2.0")), 1 => any_json()];
    let params = prop_oneof![
        Just(None),
        any_json().prop_map(Some),
        (prop_oneof![Just("echo".to_owned()), ".{0,8}"], any_json())
            .prop_map(|(name, arguments)| Some(serde_json::json!({"name": name, "arguments": arguments}))),
        ".{0,12}".prop_map(|v| Some(
            serde_json::json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "p", "version": "1"}})
        )),
    ];
    let message = (version, id, method, params).prop_map(|(version, id, method, params)| {
        let mut object = serde_json::Map::new();
        object.insert("jsonrpc".into(), version);
        if let Some(id) = id {
            object.insert("id".into(), id);
        }
        object.insert("method".into(), Value::String(method));
        if let Some(params) = params {
            object.insert("params".into(), params);
        }
        Value::Object(object)
    });
    prop_oneof![4 => message.clone(), 1 => prop::collection::vec(message, 0..4).prop_map(Value::Array), 1 => any_json()]
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/json, text/event-stream".to_owned())),
        Just(Some("text/event-stream".to_owned())),
        Just(Some("2025-06-18".to_owned())),
        Just(Some("2024-11-05".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

fn request(
    method: Method,
    uri: &str,
    body: Vec<u8>,
    content_type: Option<String>,
    accept: Option<String>,
    version: Option<String>,
) -> Option<Request<Vec<u8>>> {
    let mut builder = Request::builder().method(method).uri(uri).header("host", "localhost");
    for (name, value) in [
        ("content-type", content_type),
        ("accept", accept),
        ("mcp-protocol-version", version),
    ] {
        if let Some(value) = value {
            builder = builder.header(name, value);
        }
    }
    // Header values the http crate itself refuses never reach the endpoint.
    builder.body(body).ok()
}

/// The response is sane: not a 5xx, and its body, when JSON, parses.
fn assert_well_formed(response: &http::Response<Vec<u8>>) {
    assert!(
        !response.status().is_server_error(),
        "{} for a client's input",
        response.status()
    );
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json && !response.body().is_empty() {
        serde_json::from_slice::<Value>(response.body()).expect("a JSON response body parses");
    }
}

fn handled(outcome: PostOutcome) -> Option<http::Response<Vec<u8>>> {
    match outcome {
        PostOutcome::Respond(handled) => Some(handled.response),
        // Echo never answers Unauthorized, and the token holds its only scope.
        PostOutcome::NeedsRefresh(_) | PostOutcome::InsufficientScope(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_posted_to_mcp_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..512), content_type in header_value(), accept in header_value(), version in header_value()) {
        let config = EndpointConfig::default();
        if let Some(req) = request(Method::POST, "/mcp", body.clone(), content_type, accept, version) {
            let response = handled(handle_post(&req, &config, &Echo, &["k:app_record:read"])).expect("a response");
            assert_well_formed(&response);
            if response.status() == StatusCode::BAD_REQUEST {
                // A bad protocol-version header or body: a JSON-RPC error, parse error when the body is not JSON.
                let reply: Value = serde_json::from_slice(response.body()).unwrap();
                let code = reply["error"]["code"].as_i64().unwrap();
                prop_assert!([-32700, -32600, -32022].contains(&code), "code {}", code);
            }
        }
    }

    #[test]
    fn any_json_rpc_shape_gets_an_answer(message in jsonrpc_like(), accept in header_value(), version in header_value()) {
        let config = EndpointConfig::default();
        let body = serde_json::to_vec(&message).unwrap();
        if let Some(req) = request(Method::POST, "/mcp", body, Some("application/json".into()), accept, version) {
            let response = handled(handle_post(&req, &config, &Echo, &["k:app_record:read"])).expect("a response");
            assert_well_formed(&response);
        }
    }

    #[test]
    fn any_method_and_path_routes_without_panic(method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"]), path in "/[a-z/]{0,16}", origin in header_value()) {
        let config = EndpointConfig::default();
        let mut builder = Request::builder().method(method).uri(path.as_str()).header("host", "localhost");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        if let Ok(req) = builder.body(Vec::new()) {
            if let mcp::Route::Respond(response) = route(&req, &config) {
                assert_well_formed(&response);
            }
        }
    }

    #[test]
    fn legacy_messages_never_panic_and_refusals_change_nothing(message in jsonrpc_like(), raw in prop::collection::vec(any::<u8>(), 0..64), use_raw in any::<bool>(), session in prop_oneof![Just(None), "[0-9a-f]{0,40}".prop_map(Some)]) {
        let kv = MemoryStore::new();
        let config = EndpointConfig::default();
        let (_stream, first) = SseStream::open(&kv, &config, "owner-1", 1_700_000_000_000).expect("a session opens");
        let first = String::from_utf8(first).unwrap();
        let real_session = first.split("sessionId=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        let session = session.unwrap_or(real_session);
        let body = if use_raw { raw } else { serde_json::to_vec(&message).unwrap() };
        let uri = format!("/sse/message?sessionId={session}");
        let req = request(Method::POST, &uri, body, Some("application/json".into()), None, None).unwrap();
        let before = kv.snapshot();
        match handle_message_post(&req, &kv, &config, "owner-1", &Echo, &["k:app_record:read"], 1_700_000_000) {
            MessageOutcome::Respond(handled) => {
                assert_well_formed(&handled.response);
                if handled.response.status() != StatusCode::ACCEPTED {
                    prop_assert_eq!(before, kv.snapshot(), "a refused message wrote to the store");
                }
            }
            other => prop_assert!(false, "Echo never asks for a refresh or a scope: {:?}", other),
        }
    }

    #[test]
    fn another_owner_cannot_post_to_a_session(message in jsonrpc_like()) {
        let kv = MemoryStore::new();
        let config = EndpointConfig::default();
        let (_stream, first) = SseStream::open(&kv, &config, "owner-1", 1_700_000_000_000).unwrap();
        let first = String::from_utf8(first).unwrap();
        let session = first.split("sessionId=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        let req = request(Method::POST, &format!("/sse/message?sessionId={session}"), serde_json::to_vec(&message).unwrap(), Some("application/json".into()), None, None).unwrap();
        let before = kv.snapshot();
        let MessageOutcome::Respond(handled) = handle_message_post(&req, &kv, &config, "someone-else", &Echo, &["k:app_record:read"], 1_700_000_000) else {
            panic!("no refresh expected");
        };
        prop_assert_eq!(handled.response.status(), StatusCode::NOT_FOUND);
        prop_assert_eq!(before, kv.snapshot());
    }
}
