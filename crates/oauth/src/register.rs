//! `POST /register`: RFC 7591 dynamic client registration, answered without touching the store.

use crate::web::{has_content_type, oauth_error, Reply, Request, Response, MAX_BODY_BYTES};
use grants::{register_client, ClientRegistration, Config, ExposeSecret, RegistrationError};
use http::StatusCode;
use serde_json::json;

pub fn register(config: &Config, request: &Request, now: u64) -> Response {
    if request.body().len() > MAX_BODY_BYTES {
        return oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_client_metadata",
            "registration body is too large",
        );
    }
    if !has_content_type(request, "application/json") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "Content-Type must be application/json",
        );
    }
    let metadata: ClientRegistration = match serde_json::from_slice(request.body()) {
        Ok(m) => m,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "the body is not a valid client metadata JSON object",
            )
        }
    };
    let registered = match register_client(config, &metadata, now) {
        Ok(r) => r,
        Err(e @ RegistrationError::Crypto(_)) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.code(),
                "could not register the client",
            )
        }
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    };
    let client = &registered.client;
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.issued_at,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "grant_types": registered.grant_types,
        "response_types": ["code"],
    });
    if let Some(name) = &client.name {
        body["client_name"] = json!(name);
    }
    if let Some(kind) = &registered.application_type {
        body["application_type"] = json!(kind);
    }
    if let Some(secret) = &registered.client_secret {
        body["client_secret"] = json!(secret.expose_secret());
        // The secret is derived from the id and never expires on its own.
        body["client_secret_expires_at"] = json!(0);
    }
    Reply::new(StatusCode::CREATED).cors().no_store().json(&body).finish()
}
