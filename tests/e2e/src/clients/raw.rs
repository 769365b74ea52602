//! JSON-RPC over plain HTTP POSTs, header by header, for the suites that check what the
//! endpoint answers to exactly what was sent (and for measuring a call without a client SDK).

use super::sse;
use anyhow::{bail, Context, Result};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::time::Duration;

/// The `Accept` a Streamable HTTP client sends.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// A Streamable HTTP endpoint (`/mcp` or `POST /sse`) and the bearer token to use.
#[derive(Clone)]
pub struct Endpoint {
    pub http: reqwest::Client,
    pub url: String,
    /// `Authorization` value (`Bearer …`), when there is one.
    pub authorization: Option<String>,
    /// `MCP-Protocol-Version` sent with every request, when set.
    pub protocol_version: Option<String>,
}

// The token stays out of test output.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("protocol_version", &self.protocol_version)
            .finish_non_exhaustive()
    }
}

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The JSON-RPC message(s): the body as JSON, or for an SSE body the last event's data;
    /// `Value::Null` when there is none.
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.code` of a JSON-RPC error reply.
    pub fn error_code(&self) -> Option<i64> {
        self.json["error"]["code"].as_i64()
    }
}

impl Endpoint {
    pub fn new(url: impl Into<String>, authorization: Option<String>) -> Endpoint {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a reqwest client with static settings builds");
        Endpoint {
            http,
            url: url.into(),
            authorization,
            protocol_version: Some(crate::PROTOCOL_VERSION.to_owned()),
        }
    }

    /// A POST with the headers a well-behaved client sends; add more before sending it with
    /// [`send`] (`header` adds a value: use [`Endpoint::post_with`] to replace one).
    pub fn post(&self) -> reqwest::RequestBuilder {
        self.post_with(&[])
    }

    /// A POST with the usual headers, `overrides` replacing them by name (an empty value
    /// leaves the header out).
    pub fn post_with(&self, overrides: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), ACCEPT_BOTH.into()),
        ];
        if let Some(auth) = &self.authorization {
            headers.push(("authorization".into(), auth.clone()));
        }
        if let Some(version) = &self.protocol_version {
            headers.push(("mcp-protocol-version".into(), version.clone()));
        }
        for (name, value) in overrides {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if !value.is_empty() {
                headers.push((name.to_string(), value.to_string()));
            }
        }
        headers
            .into_iter()
            .fold(self.http.post(&self.url), |request, (name, value)| {
                request.header(name, value)
            })
    }

    /// POST `body` as it is.
    pub async fn post_body(&self, body: impl Into<reqwest::Body>) -> Result<Reply> {
        send(self.post().body(body)).await
    }

    /// A JSON-RPC request; the reply as it came.
    pub async fn call_raw(&self, id: Value, method: &str, params: Value) -> Result<Reply> {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        send(self.post().header("mcp-method", method).json(&body)).await
    }

    /// A JSON-RPC request that must succeed (HTTP 200, a `result`); its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let reply = self.call_raw(json!(1), method, params).await?;
        if reply.status != 200 {
            bail!("{method} answered HTTP {}: {}", reply.status, excerpt(&reply.text));
        }
        match reply.json.get("result") {
            Some(result) => Ok(result.clone()),
            None => bail!("{method} answered no result: {}", excerpt(&reply.text)),
        }
    }

    /// `tools/call` that must succeed; its `result`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value> {
        self.call("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }
}

/// Send and read the answer whole.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Reply> {
    let response = request.send().await.context("the request failed")?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.context("reading the body failed")?;
    let is_sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let json = if is_sse {
        sse::data_of_body(&text)
            .last()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Ok(Reply {
        status,
        headers,
        text,
        json,
    })
}

/// The start of a body, for messages.
pub fn excerpt(text: &str) -> String {
    text.chars().take(400).collect()
}
