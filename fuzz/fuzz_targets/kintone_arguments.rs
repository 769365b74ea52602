//! kintone query-argument handling: every tool with any arguments text, answered by kintone
//! with any status and body. Oracle: no panic, no unknown-tool error for a real tool, requests
//! only to the connection's origin, non-object arguments never sent.
#![no_main]

use arbitrary::Arbitrary;
use kintone::{call_tool, list_tools, CallError, Connection, ToolConfig};
use libfuzzer_sys::fuzz_target;
use platform::{HttpClient, OutboundError};
use std::cell::RefCell;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    tool: u8,
    arguments: &'a str,
    status: u16,
    body: &'a [u8],
}

struct Canned<'a> {
    status: u16,
    body: &'a [u8],
    sent: RefCell<Vec<String>>,
}

impl HttpClient for Canned<'_> {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        self.sent.borrow_mut().push(request.uri().to_string());
        let status = 200 + self.status % 400;
        if status >= 590 {
            return Err(OutboundError::Unreachable { host: "kintone".into(), reason: "dropped".into() });
        }
        Ok(http::Response::builder().status(status).header("content-type", "application/json").body(self.body.to_vec()).expect("a response"))
    }
}

fn setup() -> &'static (ToolConfig, Vec<&'static str>) {
    static SETUP: OnceLock<(ToolConfig, Vec<&'static str>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let config = ToolConfig::from_variables(None, None, None).expect("default configuration");
        let names = list_tools(&config).map(|t| t.name).collect();
        (config, names)
    })
}

fuzz_target!(|input: Input| {
    let (config, tools) = setup();
    let tool = tools[input.tool as usize % tools.len()];
    let conn = Connection { base_url: "https://example.cybozu.com".into(), access_token: "token".into() };
    let http = Canned { status: input.status, body: input.body, sent: RefCell::new(Vec::new()) };
    let outcome = pollster::block_on(call_tool(&http, &conn, config, tool, input.arguments));
    assert!(!matches!(outcome, Err(CallError::UnknownTool(_))), "{tool} became unknown");
    // Empty arguments text means "no arguments" ({}), as MCP clients may omit them.
    let is_object = input.arguments.trim().is_empty() || serde_json::from_str::<serde_json::Value>(input.arguments).is_ok_and(|v| v.is_object());
    if !is_object {
        assert!(http.sent.borrow().is_empty(), "non-object arguments reached kintone");
    }
    for uri in http.sent.borrow().iter() {
        assert!(uri.starts_with("https://example.cybozu.com/k/"), "request to {uri}");
    }
});
