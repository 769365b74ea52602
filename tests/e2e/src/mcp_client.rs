//! A small MCP client for the end-to-end suites: JSON-RPC over Streamable HTTP (`POST /mcp`)
//! with our bearer token, as any MCP client sends it. It parses replies and nothing more, so
//! suites assert on the wire shapes the endpoint really produced.

use crate::clients::raw::{self, Endpoint};
use crate::signin::{sign_in, Tokens};
use crate::App;
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// One user's MCP connection to `/mcp`: the raw endpoint helper plus request ids and the
/// checks every JSON-RPC reply must pass. (`Endpoint`'s `Debug` keeps the token out of output.)
#[derive(Debug)]
pub struct McpClient {
    endpoint: Endpoint,
    access_token: String,
    next_id: AtomicU64,
}

/// A JSON-RPC reply: exactly one of `result` and `error`, with the HTTP status it came in.
#[derive(Debug, Clone)]
pub struct RpcReply {
    pub status: u16,
    /// Size of the HTTP body as received.
    pub bytes: usize,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

impl RpcReply {
    /// The result, or a failure naming the JSON-RPC error.
    pub fn into_result(self) -> Result<Value> {
        match (self.result, self.error) {
            (Some(result), None) => Ok(result),
            (_, Some(error)) => bail!("JSON-RPC error (HTTP {}): {error}", self.status),
            (None, None) => bail!("reply with neither result nor error (HTTP {})", self.status),
        }
    }

    /// The JSON-RPC error code, when the reply is an error.
    pub fn error_code(&self) -> Option<i64> {
        self.error.as_ref().and_then(|e| e["code"].as_i64())
    }
}

/// A `tools/call` result (`CallToolResult`) as sent.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub raw: Value,
}

impl ToolCall {
    pub fn is_error(&self) -> bool {
        self.raw["isError"].as_bool().unwrap_or(false)
    }

    pub fn content(&self) -> &[Value] {
        self.raw["content"].as_array().map(Vec::as_slice).unwrap_or(&[])
    }

    /// The text of every text block, joined by newlines.
    pub fn text(&self) -> String {
        self.content()
            .iter()
            .filter(|c| c["type"] == "text")
            .filter_map(|c| c["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn structured(&self) -> Option<&Value> {
        self.raw.get("structuredContent").filter(|v| !v.is_null())
    }
}

impl McpClient {
    /// A client for `app`'s `/mcp` with `tokens`' access token.
    pub fn new(app: &App, tokens: &Tokens) -> McpClient {
        McpClient::with_bearer(app.url("/mcp"), &tokens.access_token)
    }

    pub fn with_bearer(url: String, access_token: &str) -> McpClient {
        McpClient {
            endpoint: Endpoint::new(url, Some(format!("Bearer {access_token}"))),
            access_token: access_token.to_owned(),
            next_id: AtomicU64::new(1),
        }
    }

    /// Signs `user` in for `/mcp` (the full OAuth flow) and connects.
    pub async fn sign_in(app: &App, user: &str) -> Result<McpClient> {
        let tokens = sign_in(app, user, "/mcp")
            .await
            .with_context(|| format!("signing {user} in"))?;
        Ok(McpClient::new(app, &tokens))
    }

    /// Sends one JSON-RPC request and parses its reply (a JSON body or one SSE `message`).
    pub async fn request(&self, method: &str, params: Value) -> Result<RpcReply> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        let sent = raw::send(self.endpoint.post().body(message.to_string()))
            .await
            .with_context(|| format!("POST {} {method}", self.endpoint.url))?;
        let (status, body) = (sent.status, sent.text);
        ensure!(
            status != 401 && status != 403,
            "{method}: HTTP {status} (not authorized): {body}"
        );
        let reply = sent.json;
        ensure!(
            !reply.is_null(),
            "{method}: HTTP {status}, no JSON-RPC message in the body: {body}"
        );
        ensure!(reply["jsonrpc"] == "2.0", "{method}: not a JSON-RPC 2.0 reply: {reply}");
        ensure!(
            reply["id"] == json!(id),
            "{method}: reply id {} for request {id}",
            reply["id"]
        );
        let result = reply.get("result").cloned();
        let error = reply.get("error").cloned();
        ensure!(
            result.is_some() != error.is_some(),
            "{method}: a reply needs exactly one of result and error: {reply}"
        );
        Ok(RpcReply {
            status,
            bytes: body.len(),
            result,
            error,
        })
    }

    /// Every tool of `tools/list`, following `nextCursor`.
    pub async fn list_tools(&self) -> Result<Vec<Value>> {
        let pages = self.list_tools_raw().await?;
        Ok(pages
            .iter()
            .filter_map(|p| p.result.as_ref())
            .flat_map(|page| page["tools"].as_array().cloned().unwrap_or_default())
            .collect())
    }

    /// The `tools/list` replies, one per page, as received (for their size).
    pub async fn list_tools_raw(&self) -> Result<Vec<RpcReply>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let reply = self.request("tools/list", params).await?;
            let page = reply.clone().into_result()?;
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            pages.push(reply);
            if cursor.is_none() {
                return Ok(pages);
            }
            ensure!(pages.len() < 100, "tools/list keeps returning cursors");
        }
    }

    /// `tools/call`; the reply as sent (a result or a JSON-RPC error).
    pub async fn call_raw(&self, name: &str, arguments: Value) -> Result<RpcReply> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// `tools/call` that must produce a result (`isError` or not).
    pub async fn call(&self, name: &str, arguments: Value) -> Result<ToolCall> {
        let reply = self.call_raw(name, arguments).await?;
        let raw = reply.into_result().with_context(|| format!("tools/call {name}"))?;
        ensure!(
            raw["content"].is_array(),
            "{name}: a CallToolResult needs content: {raw}"
        );
        ensure!(
            !raw.to_string().contains(&self.access_token),
            "{name}: the result carries our access token"
        );
        Ok(ToolCall { raw })
    }
}
