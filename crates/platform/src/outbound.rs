/// Why an outbound request produced no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The platform refused the destination (not in `allowed_outbound_hosts`).
    #[error("outbound request to {0} is not allowed by the app's allowed_outbound_hosts")]
    NotAllowed(String),
    /// DNS, connect, TLS, timeout, reset: the far side could not be reached or hung up.
    #[error("could not reach {host}: {reason}")]
    Unreachable { host: String, reason: String },
    /// The request itself could not be built (bad URL, bad header).
    #[error("invalid outbound request: {0}")]
    Invalid(String),
}

/// Outbound HTTP with buffered bodies: kintone and Cybozu OAuth answers are JSON or bounded
/// files, so streaming buys nothing here.
#[allow(async_fn_in_trait)] // single-threaded wasm executor; no Send bound wanted.
pub trait HttpClient {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError>;
}
