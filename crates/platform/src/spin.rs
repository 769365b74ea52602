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
        let host = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let response: http::Response<Vec<u8>> = spin_sdk::http::send(request).await.map_err(|e| {
            let reason = e.to_string();
            if reason.contains("HttpRequestDenied") || reason.contains("not permitted") {
                OutboundError::NotAllowed(host.clone())
            } else {
                OutboundError::Unreachable { host: host.clone(), reason }
            }
        })?;
        Ok(response)
    }
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
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
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

/// Sends a buffered response through Spin's response outparam.
pub async fn send_response(out: spin_sdk::http::ResponseOutparam, response: http::Response<Vec<u8>>) {
    use futures::SinkExt;
    let (parts, body) = response.into_parts();
    let headers: Vec<(String, Vec<u8>)> =
        parts.headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec())).collect();
    let Ok(fields) = spin_sdk::http::Fields::from_list(&headers) else {
        return;
    };
    let outgoing = spin_sdk::http::OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let mut sink = outgoing.take_body();
    out.set(outgoing);
    if !body.is_empty() {
        let _ = sink.send(body).await;
    }
}
