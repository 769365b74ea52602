//! A loopback reverse proxy that adds `Authorization` to every request, for clients that
//! cannot send one (the conformance suite has no such option). Test-only: it listens on
//! 127.0.0.1 and forwards to the app.
//!
//! Requests and responses pass through unchanged, streamed, with two exceptions: a request
//! without `Authorization` gets the configured one, and a `Host` naming the proxy itself is
//! rewritten to the app's (a foreign `Host` is kept, so DNS-rebinding checks still see it).

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures_util::TryStreamExt;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use std::sync::Arc;

/// Largest request body forwarded (the app's own limit is lower, so its 413 still shows).
const MAX_FORWARDED_BODY: usize = 64 * 1024 * 1024;

struct Target {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT` of the app.
    upstream: String,
    upstream_authority: String,
    own_authority: String,
    authorization: HeaderValue,
}

/// A running proxy; stops when dropped.
pub struct BearerProxy {
    /// `http://127.0.0.1:PORT` of the proxy.
    pub base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for BearerProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl BearerProxy {
    /// Proxy to `upstream` (`http://127.0.0.1:PORT`), adding `authorization` (`Bearer …`).
    pub async fn start(upstream: &str, authorization: &str) -> Result<BearerProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the proxy")?;
        let own_authority = listener.local_addr()?.to_string();
        let upstream_authority = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let target = Arc::new(Target {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("cannot build the proxy's HTTP client")?,
            upstream: upstream.trim_end_matches('/').to_owned(),
            upstream_authority,
            own_authority: own_authority.clone(),
            authorization: HeaderValue::from_str(authorization)
                .context("the authorization value is not a header value")?,
        });
        let app = axum::Router::new().fallback(forward).with_state(target);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(BearerProxy {
            base_url: format!("http://{own_authority}"),
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

async fn forward(State(target): State<Arc<Target>>, request: Request) -> Response {
    match try_forward(&target, request).await {
        Ok(response) => response,
        Err(e) => {
            let mut response = Response::new(Body::from(format!("bearer proxy: {e:#}\n")));
            *response.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
            response
        }
    }
}

async fn try_forward(target: &Target, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let body = axum::body::to_bytes(body, MAX_FORWARDED_BODY)
        .await
        .context("reading the request body")?;
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
    let mut outgoing = target
        .http
        .request(method, format!("{}{path}", target.upstream))
        .body(body);
    let mut has_authorization = false;
    for (name, value) in &parts.headers {
        let name = HeaderName::from_bytes(name.as_str().as_bytes())?;
        let mut value = HeaderValue::from_bytes(value.as_bytes())?;
        if is_hop_by_hop(&name) || name == reqwest::header::CONTENT_LENGTH {
            continue;
        }
        if name == HOST
            && value
                .to_str()
                .is_ok_and(|v| v.eq_ignore_ascii_case(&target.own_authority))
        {
            value = HeaderValue::from_str(&target.upstream_authority)?;
        }
        has_authorization |= name == AUTHORIZATION;
        outgoing = outgoing.header(name, value);
    }
    if !has_authorization {
        outgoing = outgoing.header(AUTHORIZATION, target.authorization.clone());
    }
    let upstream = outgoing.send().await.context("the app did not answer")?;
    let mut response = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        if is_hop_by_hop(name) {
            continue;
        }
        response = response.header(name.as_str(), value.as_bytes());
    }
    let stream = upstream.bytes_stream().map_err(std::io::Error::other);
    Ok(response.body(Body::from_stream(stream))?)
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "te" | "trailer"
    )
}
