//! MCP method dispatch over JSON-RPC messages, transport-independent.
//!
//! # Refresh and retry
//!
//! A tool call needs the user's kintone token, which may have expired. Refreshing it is async
//! outbound HTTP owned by the glue (and the `grants` crate), while dispatch is synchronous. So
//! dispatch is a resumable [`Exchange`]: [`Exchange::run`] answers messages in order until a
//! tool call returns [`CallError::Unauthorized`]; it then stops *before* answering that call
//! and returns [`Progress::NeedsRefresh`] with the exchange, replies so far included. The glue
//! refreshes the token and runs the same exchange again with a provider holding the new token;
//! the exchange resumes at the call that failed. On the resumed run an `Unauthorized` no longer
//! stops anything: it becomes an `isError` tool result, so a token that kintone refuses even
//! fresh can never loop. If the refresh itself fails (`invalid_grant`), the glue drops the
//! exchange and answers 401, so the client signs in again; nothing was half-sent.

use rmcp::model::{
    CacheScope, CallToolRequestParams, DiscoverResult, ErrorData, Implementation, InitializeResult,
    PaginatedRequestParams, ProtocolVersion, RequestId, RequestMetaObject, ResultType, ServerCapabilities,
    ToolsCapability,
};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::config::EndpointConfig;
use crate::context::{MirroredHeader, RequestContext};
use crate::cursor;
use crate::jsonrpc::{Body, Incoming, JsonText, Reply};
use crate::tools::{self, CallError, ToolProvider};
use crate::version;

mod method_error;
use method_error::{
    bad_meta, header_mismatch, invalid_params, method_not_found, printable, to_json_text, to_value, unknown_tool,
    MethodError,
};

/// How long clients may cache `server/discover` and `tools/list` (2026-07-28 `ttlMs`). The
/// catalogue changes only when the deployment's configuration does.
pub const LIST_TTL_MS: u64 = 5 * 60 * 1000;

/// What a request was about, for the one log line per request. Names only, never arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The JSON-RPC method (the first one of a batch).
    pub method: Option<String>,
    /// The tool called, when it has a valid tool name.
    pub tool: Option<String>,
    /// Number of messages, when the body was a batch.
    pub batch: Option<usize>,
}

/// A POST body being answered, message by message; see the module docs.
#[derive(Debug)]
pub struct Exchange {
    context: RequestContext,
    items: Vec<Incoming>,
    in_batch: bool,
    replies: Vec<Reply>,
    next: usize,
    refreshed: bool,
    summary: Summary,
}

/// Where an exchange stands after [`Exchange::run`].
#[derive(Debug)]
pub enum Progress {
    /// Every message answered.
    Done(Finished),
    /// A tool call needs a refreshed kintone token; refresh, then `run` this again.
    NeedsRefresh(Exchange),
}

/// An answered exchange.
#[derive(Debug)]
pub struct Finished {
    /// One reply per request; notifications and client replies have none.
    pub replies: Vec<Reply>,
    pub summary: Summary,
    pub in_batch: bool,
    /// The request spoke the modern revision (shapes id-less errors).
    pub modern: bool,
}

impl Exchange {
    /// The exchange for a parsed POST body.
    pub fn from_body(context: RequestContext, body: Body) -> Self {
        match body {
            Body::Single(item) => Self::single(context, item),
            Body::Batch(items) => Self::batch(context, items),
        }
    }

    pub fn single(context: RequestContext, item: Incoming) -> Self {
        Self::new(context, vec![item], false)
    }

    pub fn batch(context: RequestContext, items: Vec<Incoming>) -> Self {
        let count = items.len();
        let mut exchange = Self::new(context, items, true);
        exchange.summary.batch = Some(count);
        exchange
    }

    fn new(context: RequestContext, items: Vec<Incoming>, in_batch: bool) -> Self {
        let method = items.iter().find_map(|i| i.method()).map(str::to_owned);
        Exchange {
            context,
            items,
            in_batch,
            replies: Vec::new(),
            next: 0,
            refreshed: false,
            summary: Summary {
                method,
                ..Summary::default()
            },
        }
    }

    /// The kintone scopes this exchange's tool calls need that `granted` lacks, each once, in
    /// first-seen order; empty: go ahead. Decided on the very messages [`Exchange::run`]
    /// executes, decoded by the same [`call_params`], and before any of them runs, so a batch is
    /// refused whole rather than half-executed. Calls that cannot run (malformed params, invalid
    /// or unknown names) need nothing here: `run` refuses them precisely.
    pub fn missing_scopes(&self, tools: &dyn ToolProvider, granted: &[&str]) -> Vec<String> {
        let mut missing: Vec<String> = Vec::new();
        for item in &self.items {
            let Incoming::Request { method, params, .. } = item else {
                continue;
            };
            if method != "tools/call" {
                continue;
            }
            let Ok(call) = call_params(params.as_ref()) else {
                continue;
            };
            if !is_tool_name(&call.name) {
                continue;
            }
            for scope in tools.tool_scopes(&call.name).unwrap_or_default() {
                if !granted.contains(&scope.as_str()) && !missing.contains(&scope) {
                    missing.push(scope);
                }
            }
        }
        missing
    }

    /// Answer the messages; see the module docs for `NeedsRefresh`.
    pub fn run(mut self, config: &EndpointConfig, tools: &dyn ToolProvider) -> Progress {
        if self.answer_remaining(config, tools) {
            Progress::Done(self.finish())
        } else {
            Progress::NeedsRefresh(self)
        }
    }

    /// Answer the rest after the glue refreshed the token: the one retry. A call kintone still
    /// refuses becomes an `isError` result, so this always finishes.
    pub fn resume(mut self, config: &EndpointConfig, tools: &dyn ToolProvider) -> Finished {
        // After a refresh `answer_remaining` never stops early (see `Dispatcher::call_tool`).
        self.answer_remaining(config, tools);
        self.finish()
    }

    /// Answer messages in order; false when one needs a refreshed token first.
    fn answer_remaining(&mut self, config: &EndpointConfig, tools: &dyn ToolProvider) -> bool {
        while self.next < self.items.len() {
            let dispatcher = Dispatcher {
                config,
                tools,
                context: &self.context,
                in_batch: self.in_batch,
                refreshed: self.refreshed,
            };
            match dispatcher.answer(&self.items[self.next], &mut self.summary) {
                Step::Answered(reply) => {
                    self.replies.extend(reply);
                    self.next += 1;
                }
                Step::NeedsRefresh => {
                    // The resumed run is the retry: it never asks again.
                    self.refreshed = true;
                    return false;
                }
            }
        }
        true
    }

    fn finish(self) -> Finished {
        let modern = self.context.header_is_modern();
        Finished {
            replies: self.replies,
            summary: self.summary,
            in_batch: self.in_batch,
            modern,
        }
    }
}

enum Step {
    Answered(Option<Reply>),
    NeedsRefresh,
}

/// Per-request era, decided from headers and `_meta`.
#[derive(Clone, Copy)]
struct Era {
    modern: bool,
}

struct Dispatcher<'a> {
    config: &'a EndpointConfig,
    tools: &'a dyn ToolProvider,
    context: &'a RequestContext,
    in_batch: bool,
    refreshed: bool,
}

impl Dispatcher<'_> {
    fn answer(&self, item: &Incoming, summary: &mut Summary) -> Step {
        match item {
            Incoming::Request { id, method, params } => self.request(id.clone(), method, params.as_ref(), summary),
            // `notifications/initialized`, `notifications/cancelled` (the cancelled request
            // ran in another instance, if at all) and any other notification: nothing to say.
            Incoming::Notification { .. } | Incoming::ClientReply => Step::Answered(None),
            Incoming::Invalid { id, reason } => Step::Answered(Some(Reply::error(
                id.clone(),
                ErrorData::invalid_request(format!("Invalid Request: {reason}"), None),
                400,
            ))),
        }
    }

    fn request(&self, id: RequestId, method: &str, params: Option<&Value>, summary: &mut Summary) -> Step {
        let era = match self.era(method, params) {
            Ok(era) => era,
            Err(error) => return Step::Answered(Some(error.into_reply(id))),
        };
        let outcome = match method {
            // 2026-07-28 removed these: there they are unknown methods (404 + -32601), as the
            // revision's "Methods & Routing" rules and the conformance suite require.
            "initialize" | "ping" if era.modern => Err(method_not_found(method, era)),
            "initialize" => self.initialize(params),
            "ping" => Ok(Value::Object(Map::new())),
            "logging/setLevel" if !era.modern => set_log_level(params),
            "server/discover" => self.discover(),
            "tools/list" => {
                return Step::Answered(Some(match self.list_tools(params, era) {
                    Ok(list) => Reply::raw_result(id, list),
                    Err(error) => error.into_reply(id),
                }))
            }
            "tools/call" => {
                return match self.call_tool(params, era, summary) {
                    CallOutcome::Result(Ok(result)) => Step::Answered(Some(Reply::raw_result(id, result))),
                    CallOutcome::Result(Err(error)) => Step::Answered(Some(error.into_reply(id))),
                    CallOutcome::NeedsRefresh => Step::NeedsRefresh,
                }
            }
            _ => Err(method_not_found(method, era)),
        };
        let reply = match outcome {
            Ok(result) => Reply::result(id, shape_result(result, era)),
            Err(error) => error.into_reply(id),
        };
        Step::Answered(Some(reply))
    }

    /// Decide the request's revision and check what the 2026-07-28 transport mirrors into
    /// headers. `initialize` selects handshake semantics (versioning "Compatibility Matrix"),
    /// unless the `MCP-Protocol-Version` header names the modern revision, which has no
    /// `initialize`: clients of the handshake revisions send no header on `initialize`, or their own revision.
    fn era(&self, method: &str, params: Option<&Value>) -> Result<Era, MethodError> {
        let header_version = self.context.protocol_version.as_ref();
        let header_modern = self.context.header_is_modern();
        if method == "initialize" && !header_modern {
            if self.in_batch {
                return Err(MethodError::new(
                    ErrorData::invalid_request("Invalid Request: initialize cannot be batched", None),
                    200,
                ));
            }
            return Ok(Era { modern: false });
        }
        let meta = match params.and_then(|p| p.get("_meta")) {
            None => None,
            Some(Value::Object(map)) => Some(RequestMetaObject::from(map.clone())),
            Some(_) if header_modern => {
                return Err(bad_meta("`_meta` must be an object"));
            }
            Some(_) => None,
        };
        let meta_version = meta
            .as_ref()
            .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"));
        if let Some(meta_version) = meta_version {
            let Some(text) = meta_version.as_str() else {
                return Err(bad_meta("`_meta` protocolVersion must be a string"));
            };
            match header_version {
                None => {
                    return Err(header_mismatch(
                        "request _meta names a protocol version but the MCP-Protocol-Version header is missing",
                    ))
                }
                Some(header) if header.as_str() != text => {
                    return Err(header_mismatch(format!(
                        "MCP-Protocol-Version header ({header}) does not match request _meta protocolVersion ({})",
                        printable(text)
                    )))
                }
                Some(_) => {}
            }
        }
        if !header_modern {
            return Ok(Era { modern: false });
        }
        let meta = meta.unwrap_or_default();
        let missing = meta.missing_required_keys(&version::FIRST_MODERN);
        if !missing.is_empty() {
            return Err(bad_meta(format!(
                "request _meta is missing or has malformed required fields: {}",
                missing.join(", ")
            )));
        }
        if !self.context.mcp_method.matches(method) {
            return Err(header_mismatch(match &self.context.mcp_method {
                MirroredHeader::Absent => "missing required Mcp-Method header".to_owned(),
                _ => format!("Mcp-Method header does not match body method `{}`", printable(method)),
            }));
        }
        if method == "tools/call" {
            if let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) {
                if !self.context.mcp_name.matches(name) {
                    return Err(header_mismatch(match &self.context.mcp_name {
                        MirroredHeader::Absent => "missing required Mcp-Name header for `tools/call`".to_owned(),
                        _ => "Mcp-Name header does not match params.name".to_owned(),
                    }));
                }
            }
        }
        Ok(Era { modern: true })
    }

    fn initialize(&self, params: Option<&Value>) -> Result<Value, MethodError> {
        let requested = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params("initialize needs params.protocolVersion (a string)"))?;
        let requested: ProtocolVersion = serde_json::from_value(Value::from(requested))
            .map_err(|e| invalid_params(format!("invalid protocolVersion: {e}")))?;
        let mut capabilities = self.capabilities();
        // Accepted for clients that set a level; the server sends no log notifications (they
        // would land in a stateless instance with no stream), so every level is honoured.
        capabilities.logging = Some(Default::default());
        let mut result = InitializeResult::new(capabilities)
            .with_server_info(self.implementation())
            .with_protocol_version(version::negotiate_initialize(&requested));
        result.instructions = self.config.instructions.clone();
        to_value(&result)
    }

    fn discover(&self) -> Result<Value, MethodError> {
        let mut result = DiscoverResult::new(version::SUPPORTED.to_vec(), self.capabilities())
            .with_server_info(self.implementation())
            .with_ttl_ms(LIST_TTL_MS)
            .with_cache_scope(CacheScope::Private);
        result.instructions = self.config.instructions.clone();
        to_value(&result)
    }

    /// The `tools/list` result, written as JSON text straight from the catalogue's text (see
    /// [`tools::write_wire_tool`]).
    fn list_tools(&self, params: Option<&Value>, era: Era) -> Result<JsonText, MethodError> {
        let params: PaginatedRequestParams = match params {
            None => PaginatedRequestParams::default(),
            Some(p) => PaginatedRequestParams::deserialize(p)
                .map_err(|e| invalid_params(format!("invalid tools/list params: {e}")))?,
        };
        let catalogue = self.tools.list_tools();
        let offset = match params.cursor.as_deref() {
            None => 0,
            Some(c) => cursor::decode(c, catalogue.len()).ok_or_else(|| invalid_params("Invalid cursor"))?,
        };
        let page_size = self.config.page_size.max(1);
        let end = offset.saturating_add(page_size).min(catalogue.len());
        let page = &catalogue[offset..end];
        let internal = |reason: String| MethodError::new(ErrorData::internal_error(reason, None), 200);
        let size: usize = page
            .iter()
            .map(|t| t.input_schema.len() + t.output_schema.as_ref().map_or(0, String::len) + t.description.len() + 256)
            .sum();
        let mut text = String::with_capacity(size + 128);
        text.push_str("{\"tools\":[");
        for (i, tool) in page.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            tools::write_wire_tool(&mut text, tool, !era.modern).map_err(|e| internal(e.to_string()))?;
        }
        text.push(']');
        if end < catalogue.len() {
            text.push_str(",\"nextCursor\":");
            text.push_str(&Value::from(cursor::encode(end)).to_string());
        }
        if era.modern {
            text.push_str(&format!(
                ",\"ttlMs\":{LIST_TTL_MS},\"cacheScope\":\"private\",\"resultType\":\"{}\"",
                ResultType::COMPLETE.as_str()
            ));
        }
        text.push('}');
        // Every piece was checked (schemas) or escaped by serde (strings): not scanned again.
        Ok(JsonText::assembled(text))
    }

    fn call_tool(&self, params: Option<&Value>, era: Era, summary: &mut Summary) -> CallOutcome {
        let params = match call_params(params) {
            Ok(params) => params,
            Err(error) => return CallOutcome::Result(Err(error)),
        };
        let name = params.name.as_ref();
        if !is_tool_name(name) {
            return CallOutcome::Result(Err(unknown_tool(name)));
        }
        if summary.tool.is_none() {
            summary.tool = Some(name.to_owned());
        }
        let arguments = Value::Object(params.arguments.unwrap_or_default()).to_string();
        let result = match self.tools.call_tool(name, &arguments) {
            Ok(result) => tools::wire_result(result),
            Err(CallError::UnknownTool(_)) => return CallOutcome::Result(Err(unknown_tool(name))),
            Err(CallError::Unauthorized(_)) if !self.refreshed => return CallOutcome::NeedsRefresh,
            Err(CallError::Unauthorized(_)) => tools::error_result(
                "kintone refused the user's authorization even after it was refreshed. \
                 Sign in to kintone again (reconnect this MCP server) and retry.",
            ),
            Err(CallError::Unavailable(reason)) => tools::error_result(format!("kintone is unavailable: {reason}")),
        };
        let mut result = result;
        if !era.modern && result.structured_content.as_ref().is_some_and(|v| !v.is_object()) {
            // Handshake revisions require an object; the text block still carries the value.
            result.structured_content = None;
        }
        // As `shape_result` does for the other results, on the typed result: written out once,
        // never copied into a `Value` tree first.
        result.result_type = era.modern.then_some(ResultType::COMPLETE);
        CallOutcome::Result(to_json_text(&result))
    }

    fn capabilities(&self) -> ServerCapabilities {
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(false);
        let mut capabilities = ServerCapabilities::default();
        capabilities.tools = Some(tools);
        capabilities
    }

    fn implementation(&self) -> Implementation {
        let implementation = Implementation::new(self.config.server_name.clone(), self.config.server_version.clone());
        match &self.config.server_title {
            Some(title) => implementation.with_title(title.clone()),
            None => implementation,
        }
    }
}

/// `tools/call` params, decoded the one way both the scope check and the call use.
fn call_params(params: Option<&Value>) -> Result<CallToolRequestParams, MethodError> {
    let params = params.ok_or_else(|| invalid_params("tools/call needs params"))?;
    CallToolRequestParams::deserialize(params).map_err(|e| invalid_params(format!("invalid tools/call params: {e}")))
}

enum CallOutcome {
    Result(Result<JsonText, MethodError>),
    NeedsRefresh,
}

/// `logging/setLevel`: validates the RFC 5424 level (`-32602` otherwise) and answers `{}`.
/// Deprecated by SEP-2577 for later revisions, but part of the handshake ones answered here.
#[allow(deprecated)]
fn set_log_level(params: Option<&Value>) -> Result<Value, MethodError> {
    let params = params.cloned().unwrap_or(Value::Null);
    serde_json::from_value::<rmcp::model::SetLevelRequestParams>(params)
        .map_err(|e| invalid_params(format!("logging/setLevel needs params.level, one of debug, info, notice, warning, error, critical, alert, emergency: {e}")))?;
    Ok(Value::Object(Map::new()))
}

/// Modern results carry `resultType`; handshake-revision results keep their historical shape without it.
fn shape_result(mut result: Value, era: Era) -> Value {
    if let Value::Object(map) = &mut result {
        if era.modern {
            map.entry("resultType")
                .or_insert_with(|| Value::from(ResultType::COMPLETE.as_str()));
        } else if map.get("resultType").and_then(Value::as_str) == Some(ResultType::COMPLETE.as_str()) {
            map.remove("resultType");
        }
    }
    result
}

/// The MCP tool-name rule: 1–128 of `[A-Za-z0-9_.-]`.
pub fn is_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
pub(crate) mod tests;
