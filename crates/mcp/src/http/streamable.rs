//! Streamable HTTP `POST` (on `/mcp` and `/sse`), stateless.
//!
//! No session is created; an `Mcp-Session-Id` a client sends is ignored. Requests get one
//! JSON response (or, for a client that accepts only `text/event-stream`, the same reply as a
//! one-event SSE body); notifications and client responses get 202 with no body.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};

use super::{empty, json_text_response, media, prepare, Prepared};
use crate::config::EndpointConfig;
use crate::dispatch::{Exchange, Finished, Progress, Summary};
use crate::jsonrpc;
use crate::sse;
use crate::tools::ToolProvider;

/// A response and what it was about (for the request log line).
#[derive(Debug)]
pub struct Handled {
    pub response: Response<Vec<u8>>,
    pub summary: Summary,
}

/// The result of [`handle_post`].
#[derive(Debug)]
pub enum PostOutcome {
    /// Send this.
    Respond(Handled),
    /// A tool call met an expired kintone token: refresh it, then [`PendingPost::resume`] with a
    /// provider holding the new token. If the refresh fails (`invalid_grant`), drop this and
    /// answer 401 so the client signs in again.
    NeedsRefresh(PendingPost),
    /// A tool call needs kintone scopes the token was not granted (listed): answer
    /// `403 insufficient_scope`. Nothing ran.
    InsufficientScope(Vec<String>),
}

/// A POST waiting for a token refresh.
#[derive(Debug)]
pub struct PendingPost {
    exchange: Exchange,
    sse: bool,
}

impl PendingPost {
    /// Finish the exchange after the refresh. This is the one retry: a second `Unauthorized`
    /// becomes an `isError` tool result.
    pub fn resume(self, config: &EndpointConfig, tools: &dyn ToolProvider) -> Handled {
        respond(self.exchange.resume(config, tools), self.sse)
    }
}

/// Answer an authenticated `POST /mcp` or `POST /sse` from a token granted the kintone scopes
/// `granted`.
pub fn handle_post(
    req: &Request<Vec<u8>>,
    config: &EndpointConfig,
    tools: &dyn ToolProvider,
    granted: &[&str],
) -> PostOutcome {
    let Prepared { context, body } = match prepare(req, config) {
        Ok(prepared) => prepared,
        Err(response) => {
            return PostOutcome::Respond(Handled {
                response: *response,
                summary: Summary::default(),
            })
        }
    };
    let accepts = media::accepts(req.headers());
    let sse = !accepts.json && accepts.event_stream;
    let exchange = Exchange::from_body(context, body);
    let missing = exchange.missing_scopes(tools, granted);
    if !missing.is_empty() {
        return PostOutcome::InsufficientScope(missing);
    }
    match exchange.run(config, tools) {
        Progress::Done(finished) => PostOutcome::Respond(respond(finished, sse)),
        Progress::NeedsRefresh(exchange) => PostOutcome::NeedsRefresh(PendingPost { exchange, sse }),
    }
}

fn respond(finished: Finished, sse: bool) -> Handled {
    let Finished {
        replies,
        summary,
        in_batch,
        modern,
    } = finished;
    if replies.is_empty() {
        return Handled {
            response: empty(StatusCode::ACCEPTED),
            summary,
        };
    }
    // A batch answers 200; a single reply carries its own status.
    let status = match (in_batch, replies.first()) {
        (false, Some(reply)) => StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        _ => StatusCode::OK,
    };
    let body = jsonrpc::frame(replies, in_batch, modern);
    let response = if sse && status == StatusCode::OK {
        sse_response(&body)
    } else {
        json_text_response(status, body)
    };
    Handled { response, summary }
}

/// The reply as a one-event SSE body, for clients that accept nothing else.
fn sse_response(body: &str) -> Response<Vec<u8>> {
    let mut response = empty(StatusCode::OK);
    *response.body_mut() = sse::message_event(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media::EVENT_STREAM));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
