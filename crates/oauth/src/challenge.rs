//! `WWW-Authenticate` challenges for the MCP endpoint (RFC 6750 §3, RFC 9728 §5.1).

use crate::metadata::protected_resource_metadata_url;
use crate::web::Response;
use grants::Scopes;
use http::{header, HeaderValue, StatusCode};

/// Why the endpoint refuses a request.
pub enum Challenge<'a> {
    /// No `Authorization: Bearer` header: a plain 401 that starts the client's OAuth flow.
    MissingToken,
    /// A token was sent but is malformed, expired, revoked or for another resource (401).
    InvalidToken { description: &'a str },
    /// The token lacks scopes the call needs (403).
    InsufficientScope { required: Scopes, description: &'a str },
}

/// The header value for `issuer` and the endpoint path the request came to (`/mcp`; `/sse` for
/// both `/sse` and `/sse/message`), e.g.
/// `Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="…"`.
pub fn www_authenticate(issuer: &str, endpoint_path: &str, challenge: &Challenge<'_>) -> String {
    let metadata = protected_resource_metadata_url(issuer, endpoint_path);
    match challenge {
        Challenge::MissingToken => format!("Bearer resource_metadata=\"{metadata}\", scope=\"{}\"", Scopes::ALL),
        Challenge::InvalidToken { description } => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{metadata}\", scope=\"{}\"",
            quoted(description),
            Scopes::ALL
        ),
        Challenge::InsufficientScope { required, description } => format!(
            "Bearer error=\"insufficient_scope\", scope=\"{required}\", resource_metadata=\"{metadata}\", error_description=\"{}\"",
            quoted(description)
        ),
    }
}

/// The whole refusal: 401 (403 for missing scopes) with the challenge header and a short JSON
/// body that says what to do, in English and Japanese. The caller adds its CORS headers.
pub fn challenge_response(issuer: &str, endpoint_path: &str, challenge: &Challenge<'_>) -> Response {
    let (status, body) = match challenge {
        Challenge::InsufficientScope { .. } => (
            StatusCode::FORBIDDEN,
            r#"{"error":"insufficient_scope","message":"This connection was not granted the kintone permission this needs. Reconnect and approve it. / この操作に必要な kintone の権限が許可されていません。再接続して許可してください。"}"#,
        ),
        Challenge::MissingToken | Challenge::InvalidToken { .. } => (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_token","message":"Sign in to kintone: your MCP client starts the sign-in from the WWW-Authenticate header. / kintone へのサインインが必要です。MCP クライアントが WWW-Authenticate ヘッダーからサインインを開始します。"}"#,
        ),
    };
    let mut response = Response::new(body.as_bytes().to_vec());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The description is filtered to printable ASCII by `quoted`, so the value is always valid.
    if let Ok(value) = HeaderValue::from_str(&www_authenticate(issuer, endpoint_path, challenge)) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 6750 limits `error_description` to printable ASCII without `"` and `\`.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_carry_the_path_inserted_metadata_url_and_scopes() {
        let h = www_authenticate("https://h", "/mcp", &Challenge::MissingToken);
        assert_eq!(
            h,
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\", scope=\"k:app_record:read k:app_record:write k:app_settings:read k:app_settings:write k:file:read k:file:write\""
        );
        let h = www_authenticate(
            "https://h",
            "/sse",
            &Challenge::InvalidToken {
                description: "token \"expired\"\n",
            },
        );
        assert!(h.starts_with("Bearer error=\"invalid_token\", error_description=\"token expired\""));
        assert!(h.contains("oauth-protected-resource/sse"));
        let h = www_authenticate(
            "https://h",
            "/mcp",
            &Challenge::InsufficientScope {
                required: Scopes::parse_lenient("k:file:write"),
                description: "upload needs k:file:write",
            },
        );
        assert!(h.starts_with("Bearer error=\"insufficient_scope\", scope=\"k:file:write\""));
    }

    #[test]
    fn refusals_are_401_or_403_with_the_challenge_and_a_json_body() {
        let r = challenge_response("https://h", "/mcp", &Challenge::MissingToken);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            www_authenticate("https://h", "/mcp", &Challenge::MissingToken).as_str()
        );
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "invalid_token");
        let r = challenge_response(
            "https://h",
            "/mcp",
            &Challenge::InsufficientScope {
                required: Scopes::parse_lenient("k:file:write"),
                description: "upload",
            },
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }
}
