//! Discovery documents: RFC 8414 authorization server metadata and RFC 9728 protected
//! resource metadata (root and path-inserted for `/mcp` and `/sse`).

use crate::web::{Reply, Response};
use grants::Scope;
use http::StatusCode;
use serde_json::json;

/// Token endpoint client authentication methods we accept (`none` first: most MCP clients are
/// public, and a metadata document without it breaks them).
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

fn scope_names() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.name()).collect()
}

pub fn authorization_server_metadata(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": scope_names(),
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
        "ui_locales_supported": ["ja", "en"],
    })
}

/// `resource_path` is `""` for the origin, `/mcp` or `/sse` for an endpoint.
pub fn protected_resource_metadata(issuer: &str, resource_path: &str) -> serde_json::Value {
    json!({
        "resource": format!("{issuer}{resource_path}"),
        "authorization_servers": [issuer],
        "scopes_supported": scope_names(),
        "bearer_methods_supported": ["header"],
        "resource_name": "kintone",
    })
}

/// The path-inserted protected resource metadata URL for an endpoint path (`/mcp`, `/sse`, or `""`).
pub fn protected_resource_metadata_url(issuer: &str, resource_path: &str) -> String {
    format!("{issuer}/.well-known/oauth-protected-resource{resource_path}")
}

pub fn document(value: &serde_json::Value) -> Response {
    Reply::new(StatusCode::OK)
        .cors()
        .header(http::header::CACHE_CONTROL, "max-age=300")
        .json(value)
        .finish()
}
