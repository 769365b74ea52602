//! `WWW-Authenticate` challenges for the MCP endpoint (RFC 6750 §3, RFC 9728 §5.1).

use crate::metadata::protected_resource_metadata_url;
use grants::Scopes;

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
}
