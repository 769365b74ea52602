//! Client authentication at `/token` and `/revoke` (RFC 6749 §2.3): HTTP Basic, credentials in
//! the body, or `client_id` alone for public clients, as registered.

use crate::web::{oauth_error, param, Params, Reply, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use grants::{verify_client_id, Config, RegisteredClient};
use http::{header, StatusCode};

/// Authenticate the caller, or the complete error response. An unknown client gets
/// `401 invalid_client`, which makes Claude register again.
pub fn authenticate_client(config: &Config, headers: &http::HeaderMap, form: &Params) -> Result<RegisteredClient, Box<Response>> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(parse_basic(value).ok_or_else(|| invalid_client(true, "malformed HTTP Basic credentials"))?),
    };
    let body_id = param(form, "client_id");
    let body_secret = param(form, "client_secret");
    let (client_id, secret, used_basic) = match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "use one client authentication method, not two")));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "client_id differs from the Basic credentials")));
            }
            (id, (!secret.is_empty()).then_some(secret), true)
        }
        None => match body_id {
            Some(id) => (id.to_owned(), body_secret.map(str::to_owned), false),
            None => return Err(invalid_client(false, "client authentication is required (client_id)")),
        },
    };
    let client = verify_client_id(config, &client_id).ok_or_else(|| invalid_client(used_basic, "unknown client; register again"))?;
    match (client.auth_method.is_confidential(), secret) {
        (true, Some(secret)) if client.verify_secret(config, &secret) => Ok(client),
        (true, _) => Err(invalid_client(used_basic, "client authentication failed")),
        (false, None) => Ok(client),
        (false, Some(_)) => Err(invalid_client(used_basic, "this client is registered as public (none) and has no secret")),
    }
}

fn parse_basic(value: &http::HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn invalid_client(used_basic: bool, description: &str) -> Box<Response> {
    let mut reply = Reply::new(StatusCode::UNAUTHORIZED)
        .cors()
        .no_store()
        .json(&serde_json::json!({ "error": "invalid_client", "error_description": description }));
    if used_basic {
        // RFC 6749 §5.2: MUST when the client tried the Authorization header.
        reply = reply.header(header::WWW_AUTHENTICATE, "Basic realm=\"kintone-mcp\"");
    }
    Box::new(reply.finish())
}
