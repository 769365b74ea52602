//! Spin implementations of the platform traits.

use crate::{HttpClient, KeyValue, KvError, OutboundError};
use spin_sdk::key_value::Store;

/// The `default` key-value store, the only label every platform offers.
pub struct SpinStore(Store);

impl SpinStore {
    pub fn open_default() -> Result<Self, KvError> {
        Store::open_default().map(SpinStore).map_err(|e| KvError(e.to_string()))
    }
}

impl KeyValue for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).map_err(|e| KvError(e.to_string()))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.set(key, value).map_err(|e| KvError(e.to_string()))
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).map_err(|e| KvError(e.to_string()))
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.0.exists(key).map_err(|e| KvError(e.to_string()))
    }
}

/// A Spin component variable; `None` when unset or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).ok().filter(|v| !v.trim().is_empty())
}

/// Outbound HTTP through `wasi:http/outgoing-handler`.
pub struct SpinHttp;

impl HttpClient for SpinHttp {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        SpinHttp::send_whole(request, usize::MAX, None)
    }

    async fn send_capped(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        SpinHttp::send_whole(request, max_body, None)
    }

    async fn send_capped_within(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        SpinHttp::send_whole(request, max_body, Some(timeout))
    }
}

impl SpinHttp {
    /// Sends `request` (with `content-length` declared) and reads the answer's body up to
    /// `max_body` bytes, all of it within `timeout` if one is given (passed to the host as
    /// `request-options` too). Blocking is fine here: one component instance serves one request.
    ///
    /// The body is written *before* the request is handed to the host, as far as the host
    /// buffers it (1 MiB with wasmtime's defaults: every request body but a large upload), so
    /// the host's connection finds head and body together and writes them at once. Handed over
    /// first (as spin-sdk's `send` does), the head can leave alone while the body is still
    /// being written, and the body then waits in the kernel for the peer's delayed ACK: Spin's
    /// outbound sockets keep Nagle on, and on the test host, which schedules as Spin does,
    /// every `addRecord` stalled 40 ms (docs/benchmarks.md).
    fn send_whole(
        mut request: http::Request<Vec<u8>>,
        max_body: usize,
        timeout: Option<std::time::Duration>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};
        use wasi::io::streams::StreamError;
        let started = std::time::Instant::now();
        crate::declare_length(&mut request);
        let uri = request.uri();
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let invalid = |what: &str| OutboundError::Invalid(what.to_owned());
        let unreachable = |reason: String| OutboundError::Unreachable {
            host: host.clone(),
            reason,
        };
        let fields =
            Fields::from_list(&header_list(request.headers())).map_err(|e| invalid(&format!("header: {e:?}")))?;
        let outgoing = OutgoingRequest::new(fields);
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(invalid("the URL must use http or https")),
        };
        let method = match *request.method() {
            http::Method::GET => Method::Get,
            http::Method::POST => Method::Post,
            http::Method::PUT => Method::Put,
            http::Method::DELETE => Method::Delete,
            http::Method::PATCH => Method::Patch,
            http::Method::HEAD => Method::Head,
            http::Method::OPTIONS => Method::Options,
            ref other => Method::Other(other.to_string()),
        };
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        outgoing
            .set_method(&method)
            .and_then(|()| outgoing.set_scheme(Some(&scheme)))
            .and_then(|()| outgoing.set_authority(Some(&host)))
            .and_then(|()| outgoing.set_path_with_query(Some(path)))
            .map_err(|()| invalid("the URL cannot be sent"))?;
        let mut options = timeout.map(|timeout| {
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            let options = RequestOptions::new();
            // A host that does not support a timeout refuses to set it; the overall check
            // below still bounds reading the body.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
            options
        });
        let body = outgoing.body().map_err(|()| invalid("request body unavailable"))?;
        let writer = body.write().map_err(|()| invalid("request body unavailable"))?;
        let body_error = |e: StreamError| unreachable(format!("writing the request body: {e:?}"));
        let mut handle = |outgoing| {
            wasi::http::outgoing_handler::handle(outgoing, options.take()).map_err(|e| match e {
                ErrorCode::HttpRequestDenied => OutboundError::NotAllowed(host.clone()),
                other => unreachable(format!("{other:?}")),
            })
        };
        let mut pending = Some(outgoing);
        let mut future = None;
        let mut rest: &[u8] = request.body();
        // Once the request is out, the host may close the body early: the peer answered (or
        // hung up) before reading it all. The answer, read below, then says what happened.
        let written = loop {
            if rest.is_empty() {
                break match writer.flush() {
                    Ok(()) | Err(StreamError::Closed) => true,
                    Err(e) => return Err(body_error(e)),
                };
            }
            let permitted = match writer.check_write() {
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(StreamError::Closed) if future.is_some() => break false,
                Err(e) => return Err(body_error(e)),
            };
            if permitted == 0 {
                // The host buffers no more before the request goes out: hand it over and
                // stream the rest as the connection takes it.
                match pending.take() {
                    Some(outgoing) => future = Some(handle(outgoing)?),
                    None => writer.subscribe().block(),
                }
                continue;
            }
            let (chunk, after) = rest.split_at(permitted.min(rest.len()));
            match writer.write(chunk) {
                Ok(()) => rest = after,
                Err(StreamError::Closed) if future.is_some() => break false,
                Err(e) => return Err(body_error(e)),
            }
        };
        drop(writer);
        if written {
            OutgoingBody::finish(body, None).map_err(|e| invalid(&format!("request body: {e:?}")))?;
        } else {
            drop(body);
        }
        let future = match (future, pending) {
            (Some(future), _) => future,
            (None, Some(outgoing)) => handle(outgoing)?,
            (None, None) => return Err(unreachable("the request was not sent".into())),
        };
        future.subscribe().block();
        let incoming = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(ErrorCode::HttpRequestDenied))) => return Err(OutboundError::NotAllowed(host.clone())),
            Some(Ok(Err(e))) => return Err(unreachable(format!("{e:?}"))),
            Some(Err(())) | None => return Err(unreachable("no response".into())),
        };
        let builder = capped_head(incoming.status(), incoming.headers().entries(), max_body)?;
        let incoming_body = incoming
            .consume()
            .map_err(|()| unreachable("response body unavailable".into()))?;
        let stream = incoming_body
            .stream()
            .map_err(|()| unreachable("response body unavailable".into()))?;
        let mut body = Vec::new();
        loop {
            if let Some(timeout) = timeout.filter(|t| started.elapsed() > *t) {
                return Err(unreachable(format!(
                    "no complete answer within {} ms",
                    timeout.as_millis()
                )));
            }
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > max_body {
                        // Dropping the stream and response cancels the rest of the transfer.
                        return Err(OutboundError::TooLarge {
                            limit: max_body,
                            size: None,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(unreachable(format!("reading the body: {e:?}"))),
            }
        }
        builder
            .body(body)
            .map_err(|e| unreachable(format!("unusable response: {e}")))
    }
}

/// The response head as `http` types; a declared `content-length` over `max_body` is refused
/// before any of the body is read.
fn capped_head(
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    max_body: usize,
) -> Result<http::response::Builder, OutboundError> {
    let mut builder = http::Response::builder().status(status);
    let mut declared = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            declared = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        }
        builder = builder.header(name, value);
    }
    if declared.is_some_and(|n| n > max_body) {
        return Err(OutboundError::TooLarge {
            limit: max_body,
            size: declared,
        });
    }
    Ok(builder)
}

/// The request as plain `http` types, its body read up to `limit` bytes. `Err` carries the
/// response to send instead (413 for an oversized body, 400 for an unreadable one).
pub async fn read_request(
    request: spin_sdk::http::IncomingRequest,
    limit: usize,
) -> Result<http::Request<Vec<u8>>, http::Response<Vec<u8>>> {
    use futures::StreamExt;
    let plain = |status: u16, text: &str| {
        let mut r = http::Response::new(text.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    let method = request.method().to_string();
    let uri = request.uri();
    let mut builder = http::Request::builder().method(method.as_str()).uri(uri.as_str());
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    let declared = request
        .headers()
        .get("content-length")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(plain(413, "Request body too large\n"));
    }
    let mut body = Vec::new();
    let mut stream = std::pin::pin!(request.into_body_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| plain(400, "Could not read the request body\n"))?;
        if body.len() + chunk.len() > limit {
            return Err(plain(413, "Request body too large\n"));
        }
        body.extend_from_slice(&chunk);
    }
    builder.body(body).map_err(|_| plain(400, "Malformed request\n"))
}

/// Sends a buffered response through Spin's response outparam, with `content-length`.
///
/// The body is written *before* the response is handed over, as far as the host accepts it
/// without waiting (all of it, for every response but large file downloads: wasmtime takes one
/// chunk of up to 1 MiB). Spin's server then finds head and body ready together and writes
/// them in one go. Handing the head over first made it a TCP segment of its own; Spin does not
/// set `TCP_NODELAY`, so Nagle's algorithm held the body until the client's delayed ACK, 40 ms
/// on every other request of a keep-alive connection.
pub async fn send_response(out: spin_sdk::http::ResponseOutparam, response: http::Response<Vec<u8>>) {
    let (parts, body) = response.into_parts();
    let mut headers = header_list(&parts.headers);
    if body_allowed(parts.status) {
        headers.retain(|(name, _)| name != "content-length" && name != "transfer-encoding");
        headers.push(("content-length".to_owned(), body.len().to_string().into_bytes()));
    }
    let outgoing = match spin_sdk::http::Fields::from_list(&headers) {
        Ok(fields) => spin_sdk::http::OutgoingResponse::new(fields),
        Err(e) => {
            eprintln!(
                "could not send a {} response: invalid header ({e}); answering 500",
                parts.status
            );
            return out.set(internal_error());
        }
    };
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let Ok(outgoing_body) = outgoing.body() else {
        eprintln!("could not send a {} response: its body was already taken", parts.status);
        return;
    };
    let Ok(stream) = outgoing_body.write() else {
        eprintln!("could not send a {} response: its body is not writable", parts.status);
        return;
    };
    let ready = stream.check_write().unwrap_or(0);
    let first = body.len().min(usize::try_from(ready).unwrap_or(usize::MAX));
    if first > 0 && stream.write(&body[..first]).is_err() {
        return;
    }
    out.set(outgoing);
    // The rest, now that the host reads it (only bodies larger than the host's buffer).
    let mut rest = &body[first..];
    while !rest.is_empty() {
        let ready = match stream.check_write() {
            Ok(0) => {
                stream.subscribe().block();
                continue;
            }
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            // The client went away.
            Err(_) => return,
        };
        let (now, later) = rest.split_at(rest.len().min(ready));
        if stream.write(now).is_err() {
            return;
        }
        rest = later;
    }
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = spin_sdk::http::OutgoingBody::finish(outgoing_body, None);
}

/// `http` headers as the list `Fields::from_list` takes.
pub fn header_list(headers: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// 1xx, 204 and 304 responses carry no body, and so no `content-length` (RFC 9110 §8.6).
fn body_allowed(status: http::StatusCode) -> bool {
    !(status.is_informational() || status == http::StatusCode::NO_CONTENT || status == http::StatusCode::NOT_MODIFIED)
}

/// A bare 500 (`content-length: 0`) for a response that could not be converted.
fn internal_error() -> spin_sdk::http::OutgoingResponse {
    let headers = [("content-length".to_owned(), b"0".to_vec())];
    let fields = spin_sdk::http::Fields::from_list(&headers).unwrap_or_else(|_| spin_sdk::http::Fields::new());
    let response = spin_sdk::http::OutgoingResponse::new(fields);
    let _ = response.set_status_code(500);
    if let Ok(body) = response.body() {
        let _ = spin_sdk::http::OutgoingBody::finish(body, None);
    }
    response
}
