//! The request log tests read: method, path, query, how the caller authenticated (never the
//! credential itself), the body (secrets redacted) and the status sent back.

use serde::Serialize;

/// How much of a body the log keeps.
pub const MAX_LOGGED_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Sequence number, unique for the life of the fake.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The `X-HTTP-Method-Override` header, if any.
    pub method_override: Option<String>,
    /// "Bearer", "Basic", "X-Cybozu-Authorization", or None without credentials.
    pub auth_scheme: Option<String>,
    /// The user a bearer token or password login belongs to (also for expired tokens).
    pub user: Option<String>,
    /// The OAuth client named by HTTP Basic credentials (token endpoint).
    pub client_id: Option<String>,
    pub content_type: Option<String>,
    /// The `Content-Length` header as sent, if any.
    pub content_length: Option<String>,
    /// Whether the body came `Transfer-Encoding: chunked` (some proxies and WAFs refuse that).
    pub chunked: bool,
    /// The body as text (lossy UTF-8), `client_secret`, `password` and `refresh_token` values redacted.
    pub body: String,
    /// The status sent back; None while in flight or when the connection was dropped.
    pub status: Option<u16>,
    /// The injected fault, if one hit this request.
    pub fault: Option<String>,
}

/// Replaces the values of secret form fields with `***` (authorization codes are single use
/// and stay visible, so tests can see which code a client redeemed).
pub fn redact_form(body: &str) -> String {
    body.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if matches!(key, "client_secret" | "password" | "refresh_token") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn body_text(content_type: Option<&str>, body: &[u8]) -> String {
    let slice = &body[..body.len().min(MAX_LOGGED_BODY)];
    let text = String::from_utf8_lossy(slice).into_owned();
    if content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        redact_form(&text)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact_form("grant_type=authorization_code&client_id=a&client_secret=s3cret&code=x"),
            "grant_type=authorization_code&client_id=a&client_secret=***&code=x"
        );
    }
}
