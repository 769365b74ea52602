//! The seam between the plain-Rust logic of every component and the Spin platform.
//!
//! Logic crates take these traits, so their unit tests run natively against [`MemoryStore`]
//! and real HTTP servers, while components plug in the Spin implementations (feature `spin`).

mod kv;
mod outbound;
#[cfg(feature = "spin")]
pub mod spin;

pub use kv::{KeyValue, KvError, MemoryStore};
pub use outbound::{declare_length, HttpClient, OutboundError};

/// Seconds since the Unix epoch. Records carry their own expiry in these units, because the
/// key-value store has no TTL.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, for timings finer than records need (SSE polling).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// 503 for a platform failure (the key-value store unreachable): the request changed nothing and
/// may be retried. The detail goes to the log, not to the client.
pub fn unavailable_response(detail: &str) -> http::Response<Vec<u8>> {
    eprintln!("platform failure: {detail}");
    let mut response = http::Response::new(b"Service temporarily unavailable; please retry.\n".to_vec());
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    retry_later(response)
}

/// Makes a response the 503 of a passing failure that changed nothing: status 503 and
/// `Retry-After: 1`. Every protocol keeps its own body (plain text, OAuth JSON, JSON-RPC);
/// this is the one place that says what such a 503 is.
pub fn retry_later<B>(mut response: http::Response<B>) -> http::Response<B> {
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}
