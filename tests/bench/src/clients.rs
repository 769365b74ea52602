//! The three ways the benchmark makes one kintone read: MCP over Streamable HTTP, MCP over the
//! legacy HTTP+SSE transport, and the same kintone REST request sent straight to the fake.

use anyhow::{bail, ensure, Context, Result};
use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A `tools/call` request with a fresh JSON-RPC id.
pub fn tools_call(name: &str, arguments: Value) -> (u64, Value) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (id, json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}))
}

/// Check a JSON-RPC reply to a `tools/call`: a result that is not a tool error.
pub fn check_tool_result(reply: &Value) -> Result<()> {
    if let Some(error) = reply.get("error") {
        bail!("JSON-RPC error: {error}");
    }
    let result = reply.get("result").context("reply without result")?;
    ensure!(result.get("isError") != Some(&Value::Bool(true)), "tool error: {}", result);
    Ok(())
}

/// Streamable HTTP: one POST /mcp per call (stateless; no initialize needed).
#[derive(Clone)]
pub struct Streamable {
    pub http: Client,
    pub url: String,
    pub bearer: String,
}

impl Streamable {
    pub async fn call(&self, name: &str, arguments: Value) -> Result<Value> {
        let (_, body) = tools_call(name, arguments);
        let response = self
            .http
            .post(&self.url)
            .header("authorization", &self.bearer)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let is_sse = response.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = response.text().await?;
        ensure!(status.is_success(), "POST /mcp answered {status}: {}", excerpt(&text));
        let reply: Value = if is_sse {
            let data = sse_events(&text).into_iter().find(|(event, _)| event == "message").map(|(_, d)| d).context("SSE reply without a message")?;
            serde_json::from_str(&data)?
        } else {
            serde_json::from_str(&text)?
        };
        check_tool_result(&reply)?;
        Ok(reply)
    }
}

/// Split an SSE body into (event, data) pairs; comments and ids are skipped.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let mut event = "message".to_owned();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            events.push((event, data.join("\n")));
        }
    }
    events
}

/// Legacy HTTP+SSE: one open `GET /sse` stream, calls POSTed to its message endpoint, replies
/// read from the stream. A stream ends on its own before hosted platforms' 30 s limit; the
/// session then reopens, as real clients do.
pub struct Legacy {
    http: Client,
    base_url: String,
    bearer: String,
    message_url: String,
    replies: mpsc::UnboundedReceiver<Value>,
}

impl Legacy {
    pub async fn open(http: &Client, base_url: &str, bearer: &str) -> Result<Legacy> {
        let response = http
            .get(format!("{base_url}/sse"))
            .header("authorization", bearer)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        ensure!(response.status().is_success(), "GET /sse answered {}", response.status());
        let (endpoint_tx, mut endpoint_rx) = mpsc::unbounded_channel::<String>();
        let (reply_tx, replies) = mpsc::unbounded_channel::<Value>();
        let mut body = response.bytes_stream();
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                let normalized = buffer.replace("\r\n", "\n");
                let Some(end) = normalized.rfind("\n\n") else {
                    buffer = normalized;
                    continue;
                };
                for (event, data) in sse_events(&normalized[..end + 2]) {
                    if event == "endpoint" {
                        let _ = endpoint_tx.send(data);
                    } else if let Ok(value) = serde_json::from_str::<Value>(&data) {
                        let _ = reply_tx.send(value);
                    }
                }
                buffer = normalized[end + 2..].to_owned();
            }
        });
        let endpoint = endpoint_rx.recv().await.context("the SSE stream ended before its endpoint event")?;
        let message_url = if endpoint.starts_with("http") { endpoint } else { format!("{base_url}{endpoint}") };
        Ok(Legacy { http: http.clone(), base_url: base_url.to_owned(), bearer: bearer.to_owned(), message_url, replies })
    }

    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<Value> {
        match self.try_call(name, arguments.clone()).await {
            Ok(v) => Ok(v),
            Err(_) => {
                // The stream ended (its lifetime) or the session closed: reopen once and retry.
                *self = Legacy::open(&self.http, &self.base_url, &self.bearer).await?;
                self.try_call(name, arguments).await
            }
        }
    }

    async fn try_call(&mut self, name: &str, arguments: Value) -> Result<Value> {
        let (id, body) = tools_call(name, arguments);
        let response = self
            .http
            .post(&self.message_url)
            .header("authorization", &self.bearer)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        ensure!(status.as_u16() == 202, "POST /sse/message answered {status}: {}", excerpt(&response.text().await.unwrap_or_default()));
        loop {
            let reply = self.replies.recv().await.context("the SSE stream ended before the reply")?;
            if reply.get("id") == Some(&json!(id)) {
                check_tool_result(&reply)?;
                return Ok(reply);
            }
        }
    }
}

/// The kintone request behind `getRecord`, sent straight to the fake with a Cybozu token.
#[derive(Clone)]
pub struct Direct {
    pub http: Client,
    pub fake_base_url: String,
    pub kintone_bearer: String,
}

impl Direct {
    pub async fn get_record(&self, app: u64, id: u64) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/k/v1/record.json", self.fake_base_url))
            .query(&[("app", app), ("id", id)])
            .header("authorization", &self.kintone_bearer)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        ensure!(status.is_success(), "GET record.json answered {status}: {value}");
        Ok(value)
    }
}

/// A Cybozu access token for `user` from the fake, through its sign-in form and token endpoint
/// (the same authorization-code flow `/callback` performs).
pub async fn cybozu_token(fake_base_url: &str, redirect_uri: &str, user: &str) -> Result<String> {
    let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let password = format!("{user}-password");
    let form = [
        ("client_id", e2e::CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "k:app_record:read"),
        ("state", "bench"),
        ("login", user),
        ("password", password.as_str()),
        ("decision", "allow"),
    ];
    let response = http.post(format!("{fake_base_url}/oauth2/authorization")).form(&form).send().await?;
    ensure!(response.status().as_u16() == 302, "the fake's sign-in answered {}", response.status());
    let location = response.headers().get("location").context("no Location")?.to_str()?.to_owned();
    let url = url::Url::parse(&location)?;
    let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).context("no code")?;
    let tokens: Value = http
        .post(format!("{fake_base_url}/oauth2/token"))
        .basic_auth(e2e::CLIENT_ID, Some(e2e::CLIENT_SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect_uri)])
        .send()
        .await?
        .json()
        .await?;
    let token = tokens["access_token"].as_str().context("no access_token from the fake")?;
    Ok(format!("Bearer {token}"))
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}
