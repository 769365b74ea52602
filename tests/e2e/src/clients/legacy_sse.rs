//! A legacy HTTP+SSE (2024-11-05) client session: `GET /sse`, the `endpoint` event, POSTs to
//! the message URL, replies read off the stream.

use super::raw::{self, Reply};
use super::sse::{Item, Parser};
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use url::Url;

/// What the stream reader saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Item(Item),
    /// The response body ended: `Ok` when the server closed it, `Err` on a transport error.
    End(Result<(), String>),
}

/// One open legacy session.
pub struct Session {
    pub http: reqwest::Client,
    /// `Authorization` value for the message POSTs.
    pub authorization: Option<String>,
    /// The message URL from the `endpoint` event, resolved against the stream URL.
    pub endpoint: Url,
    /// The `endpoint` event's data as sent (a relative URI is expected).
    pub endpoint_data: String,
    pub session_id: String,
    /// When the stream's first bytes arrived.
    pub opened_at: Instant,
    seen: mpsc::UnboundedReceiver<Seen>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Session {
    /// `GET sse_url` with `authorization`, and wait for the `endpoint` event.
    pub async fn open(sse_url: &str, authorization: Option<&str>) -> Result<Session> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client with static settings builds");
        let mut request = http.get(sse_url).header("accept", "text/event-stream");
        if let Some(auth) = authorization {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.with_context(|| format!("GET {sse_url} failed"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != 200 || !content_type.starts_with("text/event-stream") {
            let text = response.text().await.unwrap_or_default();
            bail!(
                "GET {sse_url} answered {status} {content_type}: {}",
                raw::excerpt(&text)
            );
        }
        let opened_at = Instant::now();
        let (tx, mut seen) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut parser = Parser::new();
            let mut body = response.bytes_stream();
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        for item in parser.feed(&chunk) {
                            if tx.send(Seen::Item(item)).is_err() {
                                return;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Seen::End(Err(e.to_string())));
                        return;
                    }
                    None => {
                        let _ = tx.send(Seen::End(Ok(())));
                        return;
                    }
                }
            }
        });
        let endpoint_data = loop {
            let next = tokio::time::timeout(Duration::from_secs(10), seen.recv())
                .await
                .context("no endpoint event within 10 s")?;
            match next {
                Some(Seen::Item(Item::Event { event, data, .. })) if event == "endpoint" => break data,
                Some(Seen::Item(Item::Comment(_))) => continue,
                other => bail!("the stream began with {other:?}, not an endpoint event"),
            }
        };
        let endpoint = Url::parse(sse_url)?
            .join(&endpoint_data)
            .with_context(|| format!("bad endpoint {endpoint_data:?}"))?;
        let session_id = endpoint
            .query_pairs()
            .find(|(k, _)| k == "sessionId")
            .map(|(_, v)| v.into_owned())
            .context("the endpoint URL has no sessionId")?;
        Ok(Session {
            http,
            authorization: authorization.map(str::to_owned),
            endpoint,
            endpoint_data,
            session_id,
            opened_at,
            seen,
            reader,
        })
    }

    /// POST `body` to the message URL; the HTTP answer (202 expected; the reply comes on the
    /// stream).
    pub async fn post(&self, body: &Value) -> Result<Reply> {
        self.post_to(self.endpoint.as_str(), body).await
    }

    /// POST to another message URL (a wrong or closed session, say) with this session's token.
    pub async fn post_to(&self, url: &str, body: &Value) -> Result<Reply> {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .json(body);
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth);
        }
        raw::send(request).await
    }

    /// A JSON-RPC request through the session: POST (202 expected), then its reply off the
    /// stream (other messages arriving meanwhile are an error).
    pub async fn request(&mut self, id: i64, method: &str, params: Value) -> Result<Value> {
        let reply = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        if reply.status != 202 {
            bail!(
                "POST {method} answered {} (202 expected): {}",
                reply.status,
                raw::excerpt(&reply.text)
            );
        }
        let message = self
            .next_message(Duration::from_secs(30))
            .await?
            .context("the stream ended before the reply")?;
        if message["id"] != json!(id) {
            bail!("expected the reply to {id}, got {message}");
        }
        Ok(message)
    }

    /// The next `message` event's JSON, skipping comments; `None` once the stream has ended
    /// cleanly. A transport error, a timeout or a non-JSON message is an error.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Option<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_seen(deadline).await? {
                Seen::Item(Item::Event { event, data, .. }) if event == "message" => {
                    return serde_json::from_str(&data)
                        .map(Some)
                        .with_context(|| format!("a message that is not JSON: {data}"));
                }
                Seen::Item(Item::Event { event, .. }) => bail!("unexpected {event} event"),
                Seen::Item(Item::Comment(_)) => continue,
                Seen::End(Ok(())) => return Ok(None),
                Seen::End(Err(e)) => bail!("the stream broke: {e}"),
            }
        }
    }

    /// The next thing seen, comments included, within `deadline`.
    pub async fn next_seen(&mut self, deadline: Instant) -> Result<Seen> {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.seen.recv()).await {
            Ok(Some(seen)) => Ok(seen),
            Ok(None) => bail!("the stream reader stopped"),
            Err(_) => bail!("nothing arrived on the stream in time"),
        }
    }
}
