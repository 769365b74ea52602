//! Sending a plain-http outbound request over the host's one connection pool, as Spin does
//! (`crates/factor-outbound-http`: hyper-util's pooling client, `connection_pooling = true` by
//! default): a component's next request to the same origin reuses a kept-alive connection
//! instead of connecting again. The `request-options` timeouts apply as in
//! wasmtime-wasi-http's `default_send_request`.

use crate::tls_send::{Sent, TimedBody, Timeouts};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// One per host, cloned into every component (clones share the pool).
pub type Pool = Client<HttpConnector, WasiBody>;

pub fn new_pool() -> Pool {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    pool: &Pool,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
    let timeouts = Timeouts::of(options.as_ref());
    // A pooled request may connect first: connecting and the first byte share one deadline.
    let first_byte = timeouts.connect.saturating_add(timeouts.first_byte);
    let response = match tokio::time::timeout(first_byte, pool.request(request)).await {
        Err(_) => return Err(Error::ConnectionReadTimeout),
        Ok(Err(e)) => return Err(classify(&e)),
        Ok(Ok(response)) => response,
    };
    let response = response.map(|incoming| TimedBody::new(incoming, timeouts.between_bytes));
    // The pool drives each connection's I/O on its own task.
    Ok((response, Box::new(async { Ok(()) })))
}

/// The error `default_send_request` would have given: a failed connect keeps its I/O error.
fn classify(error: &hyper_util::client::legacy::Error) -> Error {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if error.is_connect() {
                return Error::Connect(std::io::Error::new(io.kind(), io.to_string()));
            }
        }
        source = e.source();
    }
    if error.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::ConnectionTerminated
    }
}
