//! Shared harness of the tool suites (`tools_*.rs`): one app on the test host with the fake
//! cybozu.com, alice signed in through the real OAuth flow, and calls through MCP that check
//! what reached kintone and what came back.
//!
//! Every successful call is checked against the tool's `tools/list` entry: `structuredContent`
//! against its `outputSchema`, the JSON text block against `structuredContent`, and its
//! annotations against the kintone requests the call made (a read-only tool sends only GETs; a
//! writing tool sends a write; a tool that sends PUT or DELETE is destructive; an additive tool
//! sends only POSTs).

use e2e::mcp_client::{McpClient, RpcReply, ToolCall};
use e2e::{App, FakeCybozu, Options};
use fake_cybozu::LoggedRequest;
use serde_json::Value;

pub struct Session {
    pub app: App,
    pub mcp: McpClient,
    /// `tools/list` as this session's user sees it.
    pub tools: Vec<Value>,
}

/// One call: what came back and the kintone requests it made.
pub struct Done {
    pub call: ToolCall,
    pub sent: Vec<LoggedRequest>,
}

impl Done {
    pub fn data(&self) -> &Value {
        self.call.structured().expect("structured content")
    }

    pub fn text(&self) -> String {
        self.call.text()
    }

    /// The only kintone request of the call.
    pub fn one(&self) -> &LoggedRequest {
        assert_eq!(
            self.sent.len(),
            1,
            "expected one kintone request, got {:?}",
            summary(&self.sent)
        );
        &self.sent[0]
    }
}

/// The method kintone acts on (`X-HTTP-Method-Override` wins).
pub fn effective(r: &LoggedRequest) -> &str {
    r.method_override.as_deref().unwrap_or(&r.method)
}

/// `GET /k/v1/records.json` lines, for assertion messages.
pub fn summary(sent: &[LoggedRequest]) -> Vec<String> {
    sent.iter()
        .map(|r| format!("{} {} -> {:?}", effective(r), r.path, r.status))
        .collect()
}

/// The request's parameters: the JSON body, or the query string as `{key: value}` (array
/// brackets kept, e.g. `ids[0]`).
pub fn params(r: &LoggedRequest) -> Value {
    if r.content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
        && !r.body.is_empty()
    {
        return serde_json::from_str(&r.body).unwrap_or(Value::Null);
    }
    let query = r.query.clone().unwrap_or_default();
    let pairs: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(pairs)
}

impl Session {
    pub async fn start() -> Session {
        Session::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Session {
        Session::start_as(options, "alice").await
    }

    pub async fn start_as(options: Options, user: &str) -> Session {
        let app = App::start_with(options).await.expect("app starts");
        let mcp = McpClient::sign_in(&app, user).await.expect("sign-in");
        let tools = mcp.list_tools().await.expect("tools/list");
        app.fake.as_ref().expect("in-process fake").clear_requests();
        Session { app, mcp, tools }
    }

    /// Another user's MCP connection to the same app.
    pub async fn client_for(&self, user: &str) -> McpClient {
        let client = McpClient::sign_in(&self.app, user).await.expect("sign-in");
        self.fake().clear_requests();
        client
    }

    pub fn fake(&self) -> &FakeCybozu {
        self.app.fake.as_ref().expect("in-process fake")
    }

    pub fn tool(&self, name: &str) -> &Value {
        self.tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in tools/list"))
    }

    /// The kintone requests (not OAuth) since the last clear.
    pub fn kintone_requests(&self) -> Vec<LoggedRequest> {
        self.fake()
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/k/"))
            .collect()
    }

    pub fn records(&self, app: u64) -> Vec<Value> {
        self.fake().records(app).expect("records")
    }

    /// Calls `name` and returns the result with the kintone requests it made.
    pub async fn call(&self, name: &str, args: Value) -> Done {
        self.call_with(&self.mcp, name, args).await
    }

    pub async fn call_with(&self, mcp: &McpClient, name: &str, args: Value) -> Done {
        self.fake().clear_requests();
        let call = mcp.call(name, args).await.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let sent = self.kintone_requests();
        Done { call, sent }
    }

    /// A call that must succeed; checked against the tool's schema and annotations.
    pub async fn ok(&self, name: &str, args: Value) -> Done {
        let done = self.call(name, args).await;
        self.check_success(name, &done);
        done
    }

    /// A call that must end in `isError`; returns it for further checks.
    pub async fn tool_error(&self, name: &str, args: Value) -> Done {
        let done = self.call(name, args).await;
        check_failure(name, &done);
        done
    }

    /// Arguments refused before kintone: `isError`, a message containing `expected`, and no
    /// kintone request at all.
    pub async fn invalid(&self, name: &str, args: Value, expected: &str) {
        let done = self.tool_error(name, args.clone()).await;
        let text = done.text();
        assert!(
            text.starts_with(&format!("Invalid arguments for {name}: ")),
            "{name} {args}: {text}"
        );
        assert!(
            text.contains(expected),
            "{name} {args}: expected {expected:?} in {text}"
        );
        assert!(text.ends_with("Nothing was sent to kintone."), "{text}");
        assert!(
            done.sent.is_empty(),
            "{name} {args} reached kintone: {:?}",
            summary(&done.sent)
        );
    }

    /// kintone refused: `isError` carrying kintone's code.
    pub async fn kintone_error(&self, name: &str, args: Value, code: &str) -> Done {
        let done = self.tool_error(name, args.clone()).await;
        let text = done.text();
        assert!(
            text.starts_with("kintone returned an error (HTTP ") && text.contains(&format!(", {code}): ")),
            "{name} {args}: expected {code} in {text}"
        );
        assert!(
            !done.sent.is_empty(),
            "{name}: a kintone error without a kintone request"
        );
        done
    }

    /// A `tools/call` that must be refused as a JSON-RPC error; returns the reply.
    pub async fn rpc_refused(&self, mcp: &McpClient, name: &str, args: Value) -> RpcReply {
        self.fake().clear_requests();
        let reply = mcp.call_raw(name, args).await.expect("tools/call");
        assert!(reply.result.is_none(), "{name} was not refused: {:?}", reply.result);
        assert!(self.kintone_requests().is_empty(), "refused {name} reached kintone");
        reply
    }

    fn check_success(&self, name: &str, done: &Done) {
        assert!(!done.call.is_error(), "{name} failed: {}", done.text());
        let tool = self.tool(name);
        if let Some(schema) = tool.get("outputSchema") {
            let structured = done
                .call
                .structured()
                .unwrap_or_else(|| panic!("{name} has an outputSchema but sent no structuredContent"));
            let validator = jsonschema::validator_for(schema).expect("outputSchema compiles");
            let errors: Vec<String> = validator
                .iter_errors(structured)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: structuredContent breaks its outputSchema: {errors:?}"
            );
            // Clients that ignore structuredContent get the same JSON as the first text block.
            if name != "downloadFile" {
                let first = done.call.content()[0]["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: first block is not text"));
                assert_eq!(
                    &serde_json::from_str::<Value>(first).expect("JSON text block"),
                    structured,
                    "{name}"
                );
            }
        }
        check_annotations(name, tool, &done.sent);
    }
}

fn check_failure(name: &str, done: &Done) {
    assert!(done.call.is_error(), "{name} unexpectedly succeeded: {}", done.text());
    assert!(
        done.call.structured().is_none(),
        "{name}: an error with structuredContent"
    );
    assert!(!done.text().is_empty(), "{name}: an error without a message");
}

/// The annotations against what a successful call sent to kintone.
pub fn check_annotations(name: &str, tool: &Value, sent: &[LoggedRequest]) {
    let hints = &tool["annotations"];
    let hint = |key: &str| {
        hints[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{name}: annotation {key} missing"))
    };
    assert!(!sent.is_empty(), "{name} succeeded without asking kintone");
    let methods: Vec<&str> = sent.iter().map(effective).collect();
    assert!(!hint("openWorldHint"), "{name}: kintone is a closed domain");
    if hint("readOnlyHint") {
        assert!(
            methods.iter().all(|m| *m == "GET"),
            "{name} is readOnly but sent {:?}",
            summary(sent)
        );
    } else {
        assert!(
            methods.iter().any(|m| *m != "GET"),
            "{name} is not readOnly but wrote nothing: {:?}",
            summary(sent)
        );
    }
    if methods.iter().any(|m| *m == "PUT" || *m == "DELETE") {
        assert!(
            hint("destructiveHint"),
            "{name} overwrites or deletes but is not destructive: {:?}",
            summary(sent)
        );
    }
    if !hint("readOnlyHint") && !hint("destructiveHint") {
        assert!(
            methods.iter().all(|m| *m == "POST" || *m == "GET"),
            "{name} is additive but sent {:?}",
            summary(sent)
        );
        assert!(
            !hint("idempotentHint"),
            "{name} adds something on every call, so it is not idempotent"
        );
    }
    // App settings are written only to the pre-live app (a live ACL PUT would deploy).
    for r in sent
        .iter()
        .filter(|r| effective(r) != "GET" && (r.path.contains("/app/") || r.path.ends_with("/acl.json")))
    {
        assert!(r.path.contains("/preview/"), "{name} wrote live settings at {}", r.path);
    }
    for r in sent {
        assert_eq!(r.auth_scheme.as_deref(), Some("Bearer"), "{name}: {}", r.path);
        assert!(
            r.status.is_some_and(|s| s < 300),
            "{name}: {} {} answered {:?}",
            effective(r),
            r.path,
            r.status
        );
    }
}

/// The value of a field as the fake stores it.
pub fn field<'a>(record: &'a Value, code: &str) -> &'a Value {
    &record[code]["value"]
}

pub fn record_by_id(records: &[Value], id: u64) -> Value {
    records
        .iter()
        .find(|r| r["$id"]["value"].as_str() == Some(id.to_string().as_str()))
        .cloned()
        .unwrap_or(Value::Null)
}

pub fn id_of(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.parse().expect("numeric id"),
        other => other.as_u64().expect("numeric id"),
    }
}

/// Options with Spin variables set.
pub fn with_variables(vars: &[(&str, &str)]) -> Options {
    Options {
        variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Options::default()
    }
}

pub fn names(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}
