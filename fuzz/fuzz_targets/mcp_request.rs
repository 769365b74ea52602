//! JSON-RPC/MCP request parsing: `POST /mcp` and `POST /sse/message` with any body and headers.
//! Oracle: no panic, no 5xx, a refused legacy message leaves the store as it was.
#![no_main]

use arbitrary::Arbitrary;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcp::{handle_message_post, handle_post, route, Content, EndpointConfig, MessageOutcome, PostOutcome, SseStream, Tool, Annotations, CallError, ToolProvider, ToolResult};
use platform::MemoryStore;

struct Echo;

impl ToolProvider for Echo {
    fn list_tools(&self) -> Vec<Tool> {
        vec![Tool {
            name: "echo".into(),
            title: "Echo".into(),
            description: "Echo".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: Some(r#"{"type":"object"}"#.into()),
            annotations: Annotations::default(),
            scopes: vec!["k:app_record:read".into()],
        }]
    }
    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        (name == "echo").then(|| vec!["k:app_record:read".into()])
    }
    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError> {
        match name {
            "echo" => Ok(ToolResult { content: vec![Content::Text(arguments_json.into())], structured: Some(arguments_json.into()), is_error: false }),
            "down" => Err(CallError::Unavailable("down".into())),
            other => Err(CallError::UnknownTool(other.into())),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    legacy: bool,
    path: &'a str,
    content_type: Option<&'a str>,
    accept: Option<&'a str>,
    protocol_version: Option<&'a str>,
    origin: Option<&'a str>,
    session: Option<&'a str>,
    body: &'a [u8],
}

fn request(input: &Input, uri: &str) -> Option<Request<Vec<u8>>> {
    let mut builder = Request::builder().method("POST").uri(uri).header("host", "localhost");
    for (name, value) in [("content-type", input.content_type), ("accept", input.accept), ("mcp-protocol-version", input.protocol_version), ("origin", input.origin)] {
        if let Some(value) = value {
            builder = builder.header(name, value);
        }
    }
    builder.body(input.body.to_vec()).ok()
}

fn check(response: &http::Response<Vec<u8>>) {
    assert!(!response.status().is_server_error(), "{}", response.status());
}

fuzz_target!(|input: Input| {
    let config = EndpointConfig::default();
    if let Some(req) = request(&input, &format!("/{}", input.path.trim_start_matches('/'))) {
        if let mcp::Route::Respond(response) = route(&req, &config) {
            check(&response);
        }
    }
    if !input.legacy {
        if let Some(req) = request(&input, "/mcp") {
            if let PostOutcome::Respond(handled) = handle_post(&req, &config, &Echo, &["k:app_record:read"]) {
                check(&handled.response);
            }
        }
        return;
    }
    let kv = MemoryStore::new();
    let Ok((_stream, first)) = SseStream::open(&kv, &config, "owner", 1_700_000_000_000) else { return };
    let first = String::from_utf8_lossy(&first).into_owned();
    let real = first.split("sessionId=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_default().to_owned();
    let session = input.session.map(str::to_owned).unwrap_or(real);
    if let Some(req) = request(&input, &format!("/sse/message?sessionId={session}")) {
        let before = kv.snapshot();
        if let MessageOutcome::Respond(handled) = handle_message_post(&req, &kv, &config, "owner", &Echo, &["k:app_record:read"], 1_700_000_000) {
            check(&handled.response);
            if handled.response.status() != StatusCode::ACCEPTED {
                assert_eq!(before, kv.snapshot(), "a refused message changed the store");
            }
        }
    }
});
