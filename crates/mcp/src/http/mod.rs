//! HTTP decisions for `/mcp`, `/sse` and `/sse/message`, as pure functions over
//! `http::Request<Vec<u8>>` → `http::Response<Vec<u8>>`.
//!
//! The glue calls [`route`] first: it answers CORS preflights, refuses foreign `Host`/`Origin`
//! values and wrong methods without needing a token, and otherwise says which handler to call
//! after authenticating the bearer token.

pub mod cors;
pub mod media;
pub mod origin;
pub mod streamable;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use rmcp::model::{ErrorCode, ErrorData, ProtocolVersion};
use serde_json::Value;

use crate::config::EndpointConfig;
use crate::context::{MirroredHeader, RequestContext};
use crate::jsonrpc::{self, Body, Reply};
use crate::version;
use origin::{Origin, OriginPolicy};

pub const MCP_PATH: &str = "/mcp";
pub const SSE_PATH: &str = "/sse";
pub const MESSAGE_PATH: &str = "/sse/message";

/// What to do with a request to one of the MCP paths.
#[derive(Debug)]
pub enum Route {
    /// Send this response as it is (preflight, 403, 404, 405). No token needed.
    Respond(Response<Vec<u8>>),
    /// `POST /mcp` or `POST /sse`: authenticate, then [`streamable::handle_post`].
    StreamablePost,
    /// `GET /sse`: authenticate, then open a legacy stream ([`crate::legacy::SseStream::open`]).
    LegacyStream,
    /// `POST /sse/message`: authenticate, then [`crate::legacy::handle_message_post`].
    LegacyMessage,
}

/// Decide what a request is. `req.uri().path()` must be the path as the client sent it
/// relative to the app root (`/mcp`, `/sse`, `/sse/message`; one trailing slash tolerated).
pub fn route(req: &Request<Vec<u8>>, config: &EndpointConfig) -> Route {
    let policy = OriginPolicy::new(config);
    if let Some(refusal) = check_host_and_origin(req, &policy) {
        return Route::Respond(refusal);
    }
    let path = req.uri().path();
    let path = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let allowed: &str = match path {
        MCP_PATH => "POST, OPTIONS",
        SSE_PATH => "GET, POST, OPTIONS",
        MESSAGE_PATH => "POST, OPTIONS",
        _ => {
            return Route::Respond(error_response(
                StatusCode::NOT_FOUND,
                ErrorData::invalid_request("Not Found", None),
                Framing::Handshake,
            ))
        }
    };
    let method = req.method();
    if method == Method::OPTIONS {
        let mut response = empty(StatusCode::NO_CONTENT);
        cors::apply_preflight(req.headers(), response.headers_mut());
        return Route::Respond(response);
    }
    match (path, method) {
        (MCP_PATH | SSE_PATH, &Method::POST) => Route::StreamablePost,
        (SSE_PATH, &Method::GET) => Route::LegacyStream,
        (MESSAGE_PATH, &Method::POST) => Route::LegacyMessage,
        // Stateless: no server-initiated stream on GET /mcp, no session to DELETE.
        _ => {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorData::invalid_request(format!("Method Not Allowed: {path} accepts {allowed}"), None),
                Framing::modern(is_modern_request(req.headers())),
            );
            if let Ok(value) = HeaderValue::from_str(allowed) {
                response.headers_mut().insert(http::header::ALLOW, value);
            }
            Route::Respond(response)
        }
    }
}

/// 403 for a `Host` that is not this server or an `Origin` we do not serve.
fn check_host_and_origin(req: &Request<Vec<u8>>, policy: &OriginPolicy) -> Option<Response<Vec<u8>>> {
    let modern = is_modern_request(req.headers());
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    if let Some(authority) = &authority {
        if !policy.host_allowed(authority) {
            return Some(error_response(
                StatusCode::FORBIDDEN,
                ErrorData::invalid_request(
                    "Forbidden: the Host header does not name this server (set public_url)",
                    None,
                ),
                Framing::modern(modern),
            ));
        }
    }
    let origin = req.headers().get(http::header::ORIGIN)?;
    let scheme = req.uri().scheme_str().unwrap_or("http");
    let own = authority
        .as_deref()
        .and_then(|a| Origin::parse(&format!("{scheme}://{a}")));
    let allowed = origin.to_str().is_ok_and(|o| policy.origin_allowed(o, own.as_ref()));
    (!allowed).then(|| {
        error_response(
            StatusCode::FORBIDDEN,
            ErrorData::invalid_request("Forbidden: Origin not allowed", None),
            Framing::modern(modern),
        )
    })
}

fn is_modern_request(headers: &HeaderMap) -> bool {
    headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .and_then(version::supported)
        .is_some_and(|v| version::is_modern(&v))
}

/// A response with CORS headers and no body.
pub fn empty(status: StatusCode) -> Response<Vec<u8>> {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = status;
    cors::apply(response.headers_mut());
    response
}

/// A JSON response (the body already written as JSON text) with CORS headers, never cached.
pub fn json_text_response(status: StatusCode, body: String) -> Response<Vec<u8>> {
    let mut response = empty(status);
    *response.body_mut() = body.into_bytes();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media::JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// How an error reply without a request id is framed: JSON-RPC 2.0 (the handshake revisions)
/// says `"id": null`, the 2026-07-28 schema leaves `id` out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Handshake,
    Modern,
}

impl Framing {
    pub fn modern(modern: bool) -> Self {
        if modern {
            Framing::Modern
        } else {
            Framing::Handshake
        }
    }
}

/// A JSON-RPC error, for no request in particular, as an HTTP response.
pub fn error_response(status: StatusCode, error: ErrorData, framing: Framing) -> Response<Vec<u8>> {
    error_response_to(status, None, error, framing)
}

/// A JSON-RPC error answering request `id` as an HTTP response.
pub fn error_response_to(
    status: StatusCode,
    id: Option<rmcp::model::RequestId>,
    error: ErrorData,
    framing: Framing,
) -> Response<Vec<u8>> {
    let reply = Reply::error(id, error, status.as_u16());
    json_text_response(status, reply.into_text(framing == Framing::Modern))
}

/// Add CORS headers to a response built elsewhere (the glue's 401/403 bearer challenges).
pub fn with_cors(mut response: Response<Vec<u8>>) -> Response<Vec<u8>> {
    cors::apply(response.headers_mut());
    response
}

/// A POST body that passed the transport checks, ready for dispatch.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub context: RequestContext,
    pub body: Body,
}

/// The checks every JSON-RPC POST gets, in order: size (413), content type (415), Accept
/// (406), `MCP-Protocol-Version` (400), JSON (400 + -32700), batch rules (400 + -32600).
/// Refusals are boxed: a response is large and the happy path should not pay for it.
pub(crate) fn prepare(req: &Request<Vec<u8>>, config: &EndpointConfig) -> Result<Prepared, Box<Response<Vec<u8>>>> {
    let headers = req.headers();
    let modern = is_modern_request(headers);
    let refuse =
        |status: StatusCode, error: ErrorData| Box::new(error_response(status, error, Framing::modern(modern)));
    let body = req.body();
    if body.len() > config.max_body_bytes {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorData::invalid_request(
                format!("Request body too large: the limit is {} bytes", config.max_body_bytes),
                None,
            ),
        ));
    }
    if !media::is_json_content(headers) {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorData::invalid_request("Unsupported Media Type: Content-Type must be application/json", None),
        ));
    }
    let accepts = media::accepts(headers);
    if !accepts.json && !accepts.event_stream {
        return Err(refuse(
            StatusCode::NOT_ACCEPTABLE,
            ErrorData::invalid_request("Not Acceptable: accept application/json or text/event-stream", None),
        ));
    }
    let protocol_version = protocol_version_header(headers, body)?;
    let parsed = jsonrpc::parse_body(body).map_err(|error| refuse(StatusCode::BAD_REQUEST, error))?;
    if let Body::Batch(_) = parsed {
        let revision = protocol_version.clone().unwrap_or(version::WITHOUT_HEADER);
        if revision != version::BATCH_REVISION {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                ErrorData::invalid_request(
                    format!("Invalid Request: JSON-RPC batches are not supported in protocol version {revision}"),
                    None,
                ),
            ));
        }
    }
    Ok(Prepared {
        context: RequestContext {
            protocol_version,
            mcp_method: MirroredHeader::from_headers(headers, "mcp-method"),
            mcp_name: MirroredHeader::from_headers(headers, "mcp-name"),
        },
        body: parsed,
    })
}

/// The `MCP-Protocol-Version` header: absent is fine (2025-03-26 is assumed); present, it must
/// name a revision we support, else 400 with the 2026-07-28 `UnsupportedProtocolVersion` error
/// listing ours (clients of the handshake revisions only look at the status).
fn protocol_version_header(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<ProtocolVersion>, Box<Response<Vec<u8>>>> {
    let mut values = headers.get_all("mcp-protocol-version").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let requested = first.to_str().ok().filter(|_| values.next().is_none());
    if let Some(version) = requested.and_then(version::supported) {
        return Ok(Some(version));
    }
    let requested_text: String = requested.unwrap_or("(unreadable)").chars().take(64).collect();
    let id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .and_then(|id| serde_json::from_value(id).ok());
    let error = ErrorData::new(
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version: {requested_text}"),
        Some(serde_json::json!({
            "supported": version::SUPPORTED,
            "requested": requested_text,
        })),
    );
    Err(Box::new(error_response_to(
        StatusCode::BAD_REQUEST,
        id,
        error,
        Framing::Modern,
    )))
}

#[cfg(test)]
mod tests;
