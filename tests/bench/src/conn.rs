//! One HTTP/1.1 connection kept alive, as an MCP client keeps one: every request of a latency
//! row goes over the same TCP connection (hyper's single-connection client, no pool), so the
//! row measures keep-alive behaviour — a server that stalls the second response on a reused
//! connection (Nagle against the client's delayed ACK) shows up in it. The client sets
//! `TCP_NODELAY`, as reqwest and curl do.
//!
//! A pooled client (reqwest) hands a connection back to its pool from a separate task once the
//! response is read, so a request sent right after may open a second connection; this one waits
//! for its connection to be ready instead. If the server closes the connection, the next request
//! opens a new one (retrying once when a reused connection fails) and the count shows it.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// A response, its body read to the end.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One kept-alive connection to one origin (cheap to clone: clones share the connection).
#[derive(Clone)]
pub struct Conn {
    inner: Arc<Inner>,
}

struct Inner {
    /// `host:port` to connect to.
    address: String,
    /// The `Host` header.
    host: String,
    sender: Mutex<Option<SendRequest<Full<Bytes>>>>,
    opened: AtomicU64,
}

impl Conn {
    /// A connection to the origin of `base_url` (`http://host:port`), opened on first use.
    pub fn to(base_url: &str) -> Result<Conn> {
        let url = url::Url::parse(base_url).with_context(|| format!("bad base URL {base_url}"))?;
        if url.scheme() != "http" {
            bail!("{base_url}: the benchmark's connection speaks plain http only");
        }
        let host = url.host_str().with_context(|| format!("no host in {base_url}"))?;
        let port = url
            .port_or_known_default()
            .with_context(|| format!("no port in {base_url}"))?;
        let authority = format!("{host}:{port}");
        Ok(Conn {
            inner: Arc::new(Inner {
                address: authority.clone(),
                host: authority,
                sender: Mutex::new(None),
                opened: AtomicU64::new(0),
            }),
        })
    }

    /// TCP connections opened so far (1 when every request reused the first).
    pub fn connections(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.inner.address)
            .await
            .with_context(|| format!("cannot connect to {}", self.inner.address))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server or we close the connection; errors then are the next request's.
            let _ = connection.await;
        });
        self.inner.opened.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// Send one request (`path` with its query) and read the whole response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply> {
        let body: Bytes = body.into();
        let mut slot = self.inner.sender.lock().await;
        for attempt in 0..2 {
            let fresh = match slot.as_ref() {
                Some(sender) if !sender.is_closed() => false,
                _ => {
                    *slot = Some(self.connect().await?);
                    true
                }
            };
            let Some(sender) = slot.as_mut() else {
                bail!("no connection")
            };
            // Waits until the connection has finished the previous exchange.
            if let Err(e) = sender.ready().await {
                *slot = None;
                if fresh || attempt > 0 {
                    return Err(e).context("the connection closed before the request");
                }
                continue;
            }
            let mut request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", &self.inner.host);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request.body(Full::new(body.clone())).context("bad request")?;
            match sender.send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await.context("reading the response body")?.to_bytes();
                    return Ok(Reply {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    });
                }
                Err(e) if !fresh && attempt == 0 => {
                    // The server closed the kept-alive connection: once more on a new one.
                    let _ = e;
                    *slot = None;
                }
                Err(e) => return Err(e).with_context(|| format!("{method} {path}")),
            }
        }
        bail!("{method} {path}: the connection failed twice")
    }
}
