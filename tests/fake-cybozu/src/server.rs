//! The HTTP server: routes, the request log and fault injection around them, and an accept
//! loop that can drop one connection without answering (which a fault needs and axum's own
//! `serve` cannot do).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tower::ServiceExt as _;

use crate::faults::FaultKind;
use crate::kintone::error::{ApiError, Lang};
use crate::kintone::MAX_BODY_BYTES;
use crate::request_log::{body_text, LoggedRequest};
use crate::shared::Shared;
use crate::{control, kintone, oauth};

/// Lets a handler close the connection it is being served on.
#[derive(Clone)]
struct ConnectionKiller(Arc<Notify>);

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/oauth2/authorization",
            get(oauth::authorize).post(oauth::authorize_submit),
        )
        .route("/oauth2/token", axum::routing::post(oauth::token))
        .route("/k/{*rest}", any(kintone::handle))
        .merge(control::router())
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// Who a request's credentials name, for the log (never the credentials themselves).
fn describe_auth(shared: &Shared, headers: &http::HeaderMap) -> (Option<String>, Option<String>, Option<String>) {
    let authorization = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) {
        let user = shared
            .state()
            .oauth
            .access_tokens
            .get(token.trim())
            .map(|t| t.user.clone());
        return (Some("Bearer".into()), user, None);
    }
    if let Some(encoded) = authorization.and_then(|v| v.strip_prefix("Basic ")) {
        let client = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(id, _)| id.to_string()));
        return (Some("Basic".into()), None, client);
    }
    if let Some(encoded) = headers.get("X-Cybozu-Authorization").and_then(|v| v.to_str().ok()) {
        let login = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(login, _)| login.to_string()));
        return (Some("X-Cybozu-Authorization".into()), login, None);
    }
    (None, None, None)
}

/// Logs every cybozu.com request and applies any fault that matches it.
async fn observe(AxumState(shared): AxumState<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/_fake/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (auth_scheme, user, client_id) = describe_auth(&shared, &parts.headers);
    let seq = shared.log_request(LoggedRequest {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(String::from),
        method_override: parts
            .headers
            .get("X-HTTP-Method-Override")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        auth_scheme,
        user,
        client_id,
        body: body_text(content_type.as_deref(), &bytes),
        content_type,
        content_length: parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        chunked: parts
            .headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| v.to_str().is_ok_and(|t| t.to_ascii_lowercase().contains("chunked"))),
        status: None,
        fault: None,
    });
    // A kintone request holds a concurrency slot from arrival, through any injected latency,
    // until its response: past the limit, kintone answers 429 GAIA_TO04 at once.
    let _slot = if path.starts_with("/k/") {
        let (slot, running) = kintone::InFlight::enter(&shared);
        if running > shared.concurrency_limit {
            let lang = Lang::from_accept_language(
                parts
                    .headers
                    .get(http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            );
            shared.finish_request(seq, 429);
            return ApiError::rate_limited(lang, shared.concurrency_limit, running).into_response();
        }
        Some(slot)
    } else {
        None
    };
    if let Some(kind) = shared.take_fault(parts.method.as_str(), &path) {
        shared.note_fault(seq, &kind);
        let lang = Lang::from_accept_language(
            parts
                .headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        match kind {
            FaultKind::Latency { millis } => tokio::time::sleep(Duration::from_millis(millis)).await,
            FaultKind::RateLimit => {
                let limit = shared.concurrency_limit;
                shared.finish_request(seq, 429);
                return ApiError::rate_limited(lang, limit, limit + 1).into_response();
            }
            FaultKind::Unavailable => {
                shared.finish_request(seq, 503);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1>\
                     <p>cybozu.com is under maintenance. / 現在メンテナンス中です。</p></body></html>",
                )
                    .into_response();
            }
            FaultKind::DropConnection => {
                if let Some(killer) = parts.extensions.get::<ConnectionKiller>() {
                    killer.0.notify_one();
                    // The connection task drops this future together with the socket.
                    std::future::pending::<()>().await;
                }
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    shared.finish_request(seq, response.status().as_u16());
    response
}

/// Serves until `shutdown` fires; each connection can be killed by its handler.
pub async fn serve(listener: TcpListener, app: Router, mut shutdown: oneshot::Receiver<()>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let app = app.clone();
                connections.spawn(async move {
                    let killer = Arc::new(Notify::new());
                    let killer_for_requests = killer.clone();
                    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(ConnectionKiller(killer_for_requests.clone()));
                        app.clone().oneshot(request.map(Body::new))
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = killer.notified() => {}
                    }
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        }
    }
    connections.abort_all();
}

pub async fn bind(addr: Option<SocketAddr>) -> anyhow::Result<TcpListener> {
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
