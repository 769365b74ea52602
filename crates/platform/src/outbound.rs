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
    /// The answer's body is larger than the caller takes; the rest was not read. `size` is
    /// the body's length where it was declared (`content-length`) or read whole.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize, size: Option<usize> },
}

/// Outbound HTTP with buffered bodies: kintone and Cybozu OAuth answers are JSON or bounded
/// files, so streaming buys nothing here.
#[allow(async_fn_in_trait)] // single-threaded wasm executor; no Send bound wanted.
pub trait HttpClient {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError>;

    /// [`HttpClient::send`] for answers of bounded size: a body over `max_body` bytes is
    /// [`OutboundError::TooLarge`]. The Spin client stops reading there (and refuses a larger
    /// declared `content-length` before reading at all), so a huge file is never buffered
    /// just to be refused; this default, for test clients, checks after the fact.
    async fn send_capped(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let response = self.send(request).await?;
        if response.body().len() > max_body {
            return Err(OutboundError::TooLarge {
                limit: max_body,
                size: Some(response.body().len()),
            });
        }
        Ok(response)
    }

    /// [`HttpClient::send_capped`] that gives up after `timeout`: connecting, waiting for the
    /// first byte and reading the body each stop there ([`OutboundError::Unreachable`]). For
    /// documents fetched from third parties on a user's behalf (client metadata documents),
    /// where a slow origin must not hold a request. This default, for test clients, has no
    /// deadline of its own.
    async fn send_capped_within(
        &self,
        request: http::Request<Vec<u8>>,
        max_body: usize,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let _ = timeout;
        self.send_capped(request, max_body).await
    }
}

/// Gives a request with a body (or a method that carries one) its `content-length`, so it
/// does not go out chunked: some proxies and WAFs in front of cybozu.com refuse chunked
/// requests. A length already set is replaced by the true one.
pub fn declare_length(request: &mut http::Request<Vec<u8>>) {
    let bodiless = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    if bodiless && request.body().is_empty() {
        return;
    }
    let length = http::HeaderValue::from(request.body().len());
    request.headers_mut().insert(http::header::CONTENT_LENGTH, length);
}

#[cfg(test)]
mod tests {
    use super::declare_length;

    fn request(method: &str, body: &[u8]) -> http::Request<Vec<u8>> {
        http::Request::builder()
            .method(method)
            .uri("https://example.cybozu.com/oauth2/token")
            .body(body.to_vec())
            .unwrap()
    }

    #[test]
    fn requests_with_a_body_declare_its_length() {
        let mut post = request("POST", b"grant_type=refresh_token");
        declare_length(&mut post);
        assert_eq!(post.headers()["content-length"], "24");
        let mut empty_put = request("PUT", b"");
        declare_length(&mut empty_put);
        assert_eq!(empty_put.headers()["content-length"], "0");
        let mut wrong = request("POST", b"abc");
        wrong
            .headers_mut()
            .insert("content-length", http::HeaderValue::from_static("99"));
        declare_length(&mut wrong);
        assert_eq!(wrong.headers()["content-length"], "3");
    }

    #[test]
    fn a_get_without_a_body_declares_nothing() {
        let mut get = request("GET", b"");
        declare_length(&mut get);
        assert!(get.headers().get("content-length").is_none());
    }
}
