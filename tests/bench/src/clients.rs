//! The clients the benchmark measures with: MCP over Streamable HTTP, MCP over the legacy
//! HTTP+SSE transport, and the same kintone REST request sent straight to the fake, each over
//! one kept-alive connection ([`Conn`]).

use crate::conn::Conn;
use anyhow::{bail, ensure, Context, Result};
use futures_util::StreamExt;
use http::Method;
use reqwest::Client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use e2e::clients::raw::excerpt;
use e2e::clients::sse;
/// The MCP protocol revision the benchmark speaks (the `MCP-Protocol-Version` header): the
/// end-to-end suites' own.
pub use e2e::PROTOCOL_VERSION;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A JSON-RPC request with a fresh id.
pub fn request(method: &str, params: Value) -> (u64, Value) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (
        id,
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    )
}

/// A `tools/call` request with a fresh JSON-RPC id.
pub fn tools_call(name: &str, arguments: Value) -> (u64, Value) {
    request("tools/call", json!({"name": name, "arguments": arguments}))
}

/// Check a JSON-RPC reply to a `tools/call`: a result that is not a tool error.
pub fn check_tool_result(reply: &Value) -> Result<()> {
    if let Some(error) = reply.get("error") {
        bail!("JSON-RPC error: {error}");
    }
    let result = reply.get("result").context("reply without result")?;
    ensure!(
        result.get("isError") != Some(&Value::Bool(true)),
        "tool error: {}",
        result
    );
    Ok(())
}

/// Streamable HTTP: one POST /mcp per call (stateless; no initialize needed), on one connection.
#[derive(Clone)]
pub struct Streamable {
    pub conn: Conn,
    pub path: String,
    pub bearer: String,
}

impl Streamable {
    /// `tools/call` that must succeed (a result that is not a tool error).
    pub async fn call(&self, name: &str, arguments: Value) -> Result<Value> {
        let (reply, _) = self.rpc(tools_call(name, arguments).1).await?;
        check_tool_result(&reply)?;
        Ok(reply)
    }

    /// POST one JSON-RPC request; the reply (whatever it says) and the response body's size.
    pub async fn rpc(&self, body: Value) -> Result<(Value, usize)> {
        let headers = [
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", PROTOCOL_VERSION),
        ];
        let response = self
            .conn
            .send(Method::POST, &self.path, &headers, body.to_string())
            .await?;
        let is_sse = response
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = response.text();
        ensure!(
            response.status.is_success(),
            "POST {} answered {}: {}",
            self.path,
            response.status,
            excerpt(&text)
        );
        let reply: Value = if is_sse {
            let data = sse::data_of_body(&text)
                .into_iter()
                .next()
                .context("SSE reply without a message")?;
            serde_json::from_str(&data)?
        } else {
            serde_json::from_str(&text)?
        };
        Ok((reply, response.body.len()))
    }
}

/// Legacy HTTP+SSE: one open `GET /sse` stream (reqwest, one connection), calls POSTed to its
/// message endpoint over one kept-alive connection, replies read from the stream. A stream ends
/// on its own before hosted platforms' 30 s limit; the session then reopens, as real clients do.
pub struct Legacy {
    http: Client,
    base_url: String,
    bearer: String,
    posts: Conn,
    message_path: String,
    replies: mpsc::UnboundedReceiver<Value>,
    /// Streams opened so far (each on its own connection).
    pub streams: u64,
    /// How long the last call's `POST /sse/message` took until its 202: the request on the
    /// kept-alive connection, without the reply's way back over the stream.
    pub last_post: Duration,
}

impl Legacy {
    pub async fn open(base_url: &str, bearer: &str, posts: Conn) -> Result<Legacy> {
        let http = Client::builder().build()?;
        let (message_path, replies) = Legacy::stream(&http, base_url, bearer).await?;
        Ok(Legacy {
            http,
            base_url: base_url.to_owned(),
            bearer: bearer.to_owned(),
            posts,
            message_path,
            replies,
            streams: 1,
            last_post: Duration::ZERO,
        })
    }

    /// Open `GET /sse`: the message endpoint's path and the replies read from the stream.
    async fn stream(http: &Client, base_url: &str, bearer: &str) -> Result<(String, mpsc::UnboundedReceiver<Value>)> {
        let response = http
            .get(format!("{base_url}/sse"))
            .header("authorization", bearer)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET /sse answered {}",
            response.status()
        );
        let (endpoint_tx, mut endpoint_rx) = mpsc::unbounded_channel::<String>();
        let (reply_tx, replies) = mpsc::unbounded_channel::<Value>();
        let mut body = response.bytes_stream();
        tokio::spawn(async move {
            let mut parser = sse::Parser::new();
            while let Some(Ok(chunk)) = body.next().await {
                for item in parser.feed(&chunk) {
                    let sse::Item::Event { event, data, .. } = item else {
                        continue;
                    };
                    if event == "endpoint" {
                        let _ = endpoint_tx.send(data);
                    } else if let Ok(value) = serde_json::from_str::<Value>(&data) {
                        let _ = reply_tx.send(value);
                    }
                }
            }
        });
        let endpoint = endpoint_rx
            .recv()
            .await
            .context("the SSE stream ended before its endpoint event")?;
        let message_path = if endpoint.starts_with("http") {
            let url = url::Url::parse(&endpoint).with_context(|| format!("bad endpoint event {endpoint}"))?;
            match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            }
        } else {
            endpoint
        };
        Ok((message_path, replies))
    }

    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<Value> {
        match self.try_call(name, arguments.clone()).await {
            Ok(v) => Ok(v),
            Err(_) => {
                // The stream ended (its lifetime) or the session closed: reopen once and retry.
                let (message_path, replies) = Legacy::stream(&self.http, &self.base_url, &self.bearer).await?;
                (self.message_path, self.replies) = (message_path, replies);
                self.streams += 1;
                self.try_call(name, arguments).await
            }
        }
    }

    async fn try_call(&mut self, name: &str, arguments: Value) -> Result<Value> {
        let (id, body) = tools_call(name, arguments);
        let headers = [
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let start = Instant::now();
        let response = self
            .posts
            .send(Method::POST, &self.message_path, &headers, body.to_string())
            .await?;
        self.last_post = start.elapsed();
        ensure!(
            response.status.as_u16() == 202,
            "POST /sse/message answered {}: {}",
            response.status,
            excerpt(&response.text())
        );
        loop {
            let reply = self
                .replies
                .recv()
                .await
                .context("the SSE stream ended before the reply")?;
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
    pub conn: Conn,
    pub kintone_bearer: String,
}

impl Direct {
    pub async fn get_record(&self, app: u64, id: u64) -> Result<Value> {
        let path = format!("/k/v1/record.json?app={app}&id={id}");
        let response = self
            .conn
            .send(
                Method::GET,
                &path,
                &[("authorization", self.kintone_bearer.as_str())],
                "",
            )
            .await?;
        let value: Value = serde_json::from_slice(&response.body)
            .with_context(|| format!("GET record.json answered {}", excerpt(&response.text())))?;
        ensure!(
            response.status.is_success(),
            "GET record.json answered {}: {value}",
            response.status
        );
        Ok(value)
    }
}

impl Direct {
    /// The kintone request behind `addRecord`: a POST with a JSON body.
    pub async fn add_record(&self, app: u64, record: &Value) -> Result<Value> {
        let body = json!({"app": app, "record": record}).to_string();
        let headers = [
            ("authorization", self.kintone_bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let response = self
            .conn
            .send(Method::POST, "/k/v1/record.json", &headers, body)
            .await?;
        let value: Value = serde_json::from_slice(&response.body)
            .with_context(|| format!("POST record.json answered {}", excerpt(&response.text())))?;
        ensure!(
            response.status.is_success(),
            "POST record.json answered {}: {value}",
            response.status
        );
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
        ("scope", "k:app_record:read k:app_record:write"),
        ("state", "bench"),
        ("login", user),
        ("password", password.as_str()),
        ("decision", "allow"),
    ];
    let response = http
        .post(format!("{fake_base_url}/oauth2/authorization"))
        .form(&form)
        .send()
        .await?;
    ensure!(
        response.status().as_u16() == 302,
        "the fake's sign-in answered {}",
        response.status()
    );
    let location = response
        .headers()
        .get("location")
        .context("no Location")?
        .to_str()?
        .to_owned();
    let url = url::Url::parse(&location)?;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code")?;
    let tokens: Value = http
        .post(format!("{fake_base_url}/oauth2/token"))
        .basic_auth(e2e::CLIENT_ID, Some(e2e::CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = tokens["access_token"]
        .as_str()
        .context("no access_token from the fake")?;
    Ok(format!("Bearer {token}"))
}
