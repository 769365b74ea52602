//! The legacy HTTP+SSE transport (2024-11-05): `GET /sse` opens a stream whose first event
//! names the message endpoint; `POST /sse/message?sessionId=…` answers 202 and the JSON-RPC
//! reply travels over the stream. Instances share nothing in memory, so the reply crosses
//! through the session's key-value [`crate::mailbox`].
//!
//! The glue drives a stream like this (the crate never sleeps or does I/O itself):
//!
//! ```text
//! let (mut stream, first) = SseStream::open(&kv, &config, owner, now_ms)?;
//! send head (SseStream::response_head()), then `first`;
//! loop {
//!     match stream.next(&kv, now_ms()) {
//!         StreamStep::Send(bytes) => if body.send(bytes).await.is_err() { stream.abandon(&kv); break },
//!         StreamStep::Wait(pause) => sleep(pause).await,
//!         StreamStep::Finish(bytes) => { let _ = body.send(bytes).await; break }
//!     }
//! }
//! ```

use std::time::Duration;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use platform::{KeyValue, KvError};
use rmcp::model::{ErrorCode, ErrorData};
use sha2::{Digest, Sha256};

use crate::config::{EndpointConfig, StreamConfig};
use crate::dispatch::{Exchange, Finished, Progress, Summary};
use crate::http::streamable::Handled;
use crate::http::{cors, empty, error_response, media, prepare, Framing, Prepared};
use crate::mailbox::{self, hex, random_hex, read_record, PostError, Reader};
use crate::owner_sessions;
use crate::sse;
use crate::tools::ToolProvider;

/// Extra life of a session record past the stream's own end, before any instance may treat
/// it as abandoned (covers clock differences between instances).
const EXPIRY_MARGIN_SECS: u64 = 60;

/// JSON-RPC code for an unknown or closed session (as the MCP TypeScript SDK uses).
pub const SESSION_NOT_FOUND: ErrorCode = ErrorCode(-32001);

/// What the glue does next with an open stream.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamStep {
    /// Write these bytes to the response body.
    Send(Vec<u8>),
    /// Nothing to write now: call [`SseStream::next`] again after this pause.
    Wait(Duration),
    /// Write these bytes (maybe empty), then end the response. The session is closed.
    Finish(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// No new POSTs; replies already accepted still arrive until the deadline (ms).
    Draining {
        until_ms: u64,
    },
}

/// One open legacy stream: the session's only mailbox reader.
#[derive(Debug)]
pub struct SseStream {
    reader: Option<Reader>,
    /// The owner's hash, under which [`owner_sessions`] lists this session.
    owner_hash: String,
    config: StreamConfig,
    started_ms: u64,
    last_sent_ms: u64,
    /// When the stream opened or last delivered a message: the poll pause backs off from here.
    last_activity_ms: u64,
    /// When the mailbox slots were last passed over in full.
    last_full_poll_ms: u64,
    last_heartbeat_ms: u64,
    phase: Phase,
}

impl SseStream {
    /// Create a session for `owner` (an identity the glue gets from the bearer token, e.g. the
    /// grant id; only its hash is stored) and return the stream with its first bytes: the
    /// `endpoint` event, a relative URI so clients resolve it against the stream's origin.
    pub fn open(
        kv: &dyn KeyValue,
        config: &EndpointConfig,
        owner: &str,
        now_ms: u64,
    ) -> Result<(SseStream, Vec<u8>), OpenError> {
        let session = random_hex::<16>().map_err(OpenError::Random)?;
        let stream = &config.stream;
        let now_unix = now_ms / 1000;
        let expires_at = now_unix + stream.total_duration().as_secs() + EXPIRY_MARGIN_SECS;
        let owner_hash = owner_hash(owner);
        let reader = Reader::create(
            kv,
            &session,
            owner_hash.clone(),
            expires_at,
            millis(stream.suspect_timeout),
            now_unix,
        )?;
        if let Err(e) = owner_sessions::add(kv, &owner_hash, &session, stream.stale_after.as_secs(), now_unix) {
            let _ = reader.close(kv);
            return Err(e.into());
        }
        let first = sse::endpoint_event(&format!("{}?sessionId={session}", stream.message_path));
        Ok((
            SseStream {
                reader: Some(reader),
                owner_hash,
                config: stream.clone(),
                started_ms: now_ms,
                last_sent_ms: now_ms,
                last_activity_ms: now_ms,
                last_full_poll_ms: now_ms,
                last_heartbeat_ms: now_ms,
                phase: Phase::Open,
            },
            first,
        ))
    }

    /// The response head for the stream: 200, `text/event-stream`, never cached or buffered.
    pub fn response_head() -> Response<()> {
        let mut response = Response::new(());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(media::EVENT_STREAM));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        cors::apply(headers);
        response
    }

    /// The session this stream delivers (its id is also in the `endpoint` event it sends).
    #[cfg(test)]
    pub fn session_id(&self) -> Option<&str> {
        self.reader.as_ref().map(Reader::session)
    }

    /// Advance the stream: deliver arrived replies, keep the connection alive, and end it
    /// cleanly after `max_duration` plus the drain, or once its owner's list no longer has it
    /// (a newer stream replaced it: see [`owner_sessions`]).
    pub fn next(&mut self, kv: &dyn KeyValue, now_ms: u64) -> StreamStep {
        let Some(reader) = self.reader.as_mut() else {
            return StreamStep::Finish(Vec::new());
        };
        let mut unlisted = false;
        if now_ms.saturating_sub(self.last_heartbeat_ms) >= millis(self.config.heartbeat_interval) {
            if reader.heartbeat(kv, now_ms / 1000).is_err() {
                return self.finish(kv);
            }
            self.last_heartbeat_ms = now_ms;
            match owner_sessions::listed(kv, &self.owner_hash) {
                Ok(sessions) => unlisted = !sessions.iter().any(|s| s == reader.session()),
                Err(_) => return self.finish(kv),
            }
        }
        if self.phase == Phase::Open
            && (unlisted || now_ms.saturating_sub(self.started_ms) >= millis(self.config.max_duration))
        {
            if reader.begin_closing(kv).is_err() {
                return self.finish(kv);
            }
            self.phase = Phase::Draining {
                until_ms: now_ms + millis(self.config.drain_grace),
            };
        }
        if let Phase::Draining { until_ms } = self.phase {
            if now_ms >= until_ms {
                return self.finish(kv);
            }
        }
        // What an earlier step sent is retired after the send, so the reply never waits for
        // these writes, and not in the same millisecond: the writer's POST still reads the
        // slot's `c` and the record after writing its message, and a synced record write
        // landing first (about 1 ms on `spin up`'s SQLite) would hold back its 202.
        if now_ms > self.last_activity_ms && reader.retire(kv).is_err() {
            return self.finish(kv);
        }
        let due = now_ms.saturating_sub(self.last_full_poll_ms) >= millis(self.config.full_scan_interval);
        let messages = match (due, reader.needs_poll(kv)) {
            (_, Err(_)) => return self.finish(kv),
            (false, Ok(false)) => Vec::new(),
            _ => {
                self.last_full_poll_ms = now_ms;
                match reader.poll(kv, now_ms) {
                    Ok(messages) => messages,
                    // The store failed: end cleanly; the client reconnects to a new session.
                    Err(_) => return self.finish(kv),
                }
            }
        };
        if !messages.is_empty() {
            self.last_sent_ms = now_ms;
            self.last_activity_ms = now_ms;
            return StreamStep::Send(events(messages));
        }
        if now_ms.saturating_sub(self.last_sent_ms) >= millis(self.config.keepalive_interval) {
            self.last_sent_ms = now_ms;
            return StreamStep::Send(sse::comment("keep-alive"));
        }
        let quiet = Duration::from_millis(now_ms.saturating_sub(self.last_activity_ms));
        StreamStep::Wait(self.config.poll_pause(quiet))
    }

    /// The client went away (a write failed): close the session; undelivered replies are
    /// dropped with it.
    pub fn abandon(mut self, kv: &dyn KeyValue) {
        if let Some(reader) = self.reader.take() {
            let _ = owner_sessions::remove(kv, &self.owner_hash, reader.session());
            let _ = reader.close(kv);
        }
    }

    fn finish(&mut self, kv: &dyn KeyValue) -> StreamStep {
        let Some(reader) = self.reader.take() else {
            return StreamStep::Finish(Vec::new());
        };
        let _ = owner_sessions::remove(kv, &self.owner_hash, reader.session());
        let mut bytes = match reader.close(kv) {
            Ok(messages) => events(messages),
            Err(_) => Vec::new(),
        };
        bytes.extend(sse::comment("stream ends; reconnect for a new session"));
        StreamStep::Finish(bytes)
    }
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] KvError),
    #[error("no randomness available: {0}")]
    Random(String),
}

fn events(messages: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        out.extend(sse::message_event(&String::from_utf8_lossy(&message)));
    }
    out
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sessions remember only a hash of their owner.
fn owner_hash(owner: &str) -> String {
    hex(&Sha256::digest(owner.as_bytes()))
}

/// The result of [`handle_message_post`].
#[derive(Debug)]
pub enum MessageOutcome {
    /// Send this (202 once the reply is in the mailbox, or an error).
    Respond(Handled),
    /// A tool call met an expired kintone token: refresh it, then [`PendingMessage::resume`].
    /// If the refresh fails, drop this and answer 401.
    NeedsRefresh(PendingMessage),
    /// A tool call needs kintone scopes the token was not granted (listed): answer
    /// `403 insufficient_scope` to the POST itself. Nothing ran and nothing was queued.
    InsufficientScope(Vec<String>),
}

/// A message POST waiting for a token refresh.
#[derive(Debug)]
pub struct PendingMessage {
    exchange: Exchange,
    session: String,
}

impl PendingMessage {
    /// Finish after the refresh (the one retry) and post the reply to the stream.
    pub fn resume(
        self,
        kv: &dyn KeyValue,
        config: &EndpointConfig,
        tools: &dyn ToolProvider,
        now_unix: u64,
    ) -> Handled {
        deliver(kv, &self.session, self.exchange.resume(config, tools), now_unix)
    }
}

/// Answer an authenticated `POST /sse/message?sessionId=…` from `owner` (the same identity
/// given to [`SseStream::open`]) whose token was granted the kintone scopes `granted`. A session that does not exist, has ended, is ending, or
/// belongs to someone else gets 404 with a JSON-RPC error; nothing runs.
pub fn handle_message_post(
    req: &Request<Vec<u8>>,
    kv: &dyn KeyValue,
    config: &EndpointConfig,
    owner: &str,
    tools: &dyn ToolProvider,
    granted: &[&str],
    now_unix: u64,
) -> MessageOutcome {
    let respond = |response| {
        MessageOutcome::Respond(Handled {
            response,
            summary: Summary::default(),
        })
    };
    let Some(session) = session_param(req.uri().query()) else {
        return respond(error_response(
            StatusCode::BAD_REQUEST,
            ErrorData::invalid_request("Missing sessionId query parameter", None),
            Framing::Handshake,
        ));
    };
    match session_open_for(kv, &session, owner, config.stream.stale_after, now_unix) {
        Ok(true) => {}
        Ok(false) => return respond(session_not_found()),
        Err(_) => return respond(store_failure()),
    }
    let Prepared { context, body } = match prepare(req, config) {
        Ok(prepared) => prepared,
        Err(response) => return respond(*response),
    };
    let exchange = Exchange::from_body(context, body);
    let missing = exchange.missing_scopes(tools, granted);
    if !missing.is_empty() {
        return MessageOutcome::InsufficientScope(missing);
    }
    match exchange.run(config, tools) {
        Progress::Done(finished) => MessageOutcome::Respond(deliver(kv, &session, finished, now_unix)),
        Progress::NeedsRefresh(exchange) => MessageOutcome::NeedsRefresh(PendingMessage { exchange, session }),
    }
}

/// Put the replies in the mailbox; 202 when they are safely there.
fn deliver(kv: &dyn KeyValue, session: &str, finished: Finished, now_unix: u64) -> Handled {
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
    let body = crate::jsonrpc::frame(replies, in_batch, modern);
    let response = match mailbox::post(kv, session, body.as_bytes(), now_unix) {
        Ok(()) => empty(StatusCode::ACCEPTED),
        Err(PostError::Gone) => error_response(
            StatusCode::NOT_FOUND,
            ErrorData::new(
                SESSION_NOT_FOUND,
                "Session closed before the reply could be queued; reconnect with GET /sse and retry",
                None,
            ),
            Framing::Handshake,
        ),
        Err(PostError::Busy) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorData::internal_error("Session mailbox busy; retry", None),
            Framing::Handshake,
        ),
        Err(PostError::Store(_) | PostError::Random(_)) => store_failure(),
    };
    Handled { response, summary }
}

/// The `sessionId` query parameter as sent; [`session_open_for`] refuses anything not shaped
/// like ours (32 lowercase hex digits), like an unknown session.
fn session_param(query: Option<&str>) -> Option<String> {
    let value = query?.split('&').find_map(|pair| pair.strip_prefix("sessionId="))?;
    Some(value.to_owned())
}

/// Is `session` open for messages from `owner`? A session whose stream stopped beating (its
/// instance died) is gone: collected here, answered like an unknown one.
fn session_open_for(
    kv: &dyn KeyValue,
    session: &str,
    owner: &str,
    stale_after: Duration,
    now_unix: u64,
) -> Result<bool, KvError> {
    if session.len() != 32
        || !session
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(false);
    }
    let Some(record) = read_record(kv, session)? else {
        return Ok(false);
    };
    if record.owner != owner_hash(owner) {
        return Ok(false);
    }
    let dead = record.expires_at <= now_unix || record.alive_at + stale_after.as_secs() <= now_unix;
    if dead {
        mailbox::collect_expired(kv, session, &record);
        return Ok(false);
    }
    Ok(!record.closing && !record.closed)
}

fn session_not_found() -> Response<Vec<u8>> {
    error_response(
        StatusCode::NOT_FOUND,
        ErrorData::new(
            SESSION_NOT_FOUND,
            "Session not found or closed; open a new stream with GET /sse",
            None,
        ),
        Framing::Handshake,
    )
}

/// The key-value store failed: nothing changed and the client may retry.
fn store_failure() -> Response<Vec<u8>> {
    platform::retry_later(error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorData::internal_error("Session store temporarily unavailable; retry", None),
        Framing::Handshake,
    ))
}

#[cfg(test)]
mod tests;
