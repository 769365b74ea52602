//! `POST /token`: the `authorization_code` and `refresh_token` grants.

use crate::client_auth::authenticate_client;
use crate::clients::Clients;
use crate::web::{form_params, oauth_error, param, Reply, Request, Response};
use grants::{
    redeem_code, refresh_tokens, CodeRedemption, Config, ExposeSecret, IssuedTokens, RefreshRedemption, TokenError,
};
use http::StatusCode;
use platform::retry_later;
use platform::KeyValue;

pub fn token(config: &Config, clients: &Clients<'_>, kv: &impl KeyValue, request: &Request, now: u64) -> Response {
    let form = match form_params(request) {
        Ok(f) => f,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e.describe()),
    };
    let client = match authenticate_client(config, clients, request.headers(), &form) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let result = match param(&form, "grant_type") {
        Some("authorization_code") => {
            let Some(code) = param(&form, "code") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code is required");
            };
            redeem_code(
                kv,
                config,
                CodeRedemption {
                    code,
                    client_id: &client.client_id,
                    redirect_uri: param(&form, "redirect_uri"),
                    code_verifier: param(&form, "code_verifier"),
                    resource: param(&form, "resource"),
                },
                now,
            )
        }
        Some("refresh_token") => {
            // RFC 7591 §2: a client registered without the `refresh_token` grant type may not use it.
            if !client.refresh_token_grant {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "this client did not register the refresh_token grant type",
                );
            }
            let Some(refresh_token) = param(&form, "refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required");
            };
            refresh_tokens(
                kv,
                config,
                RefreshRedemption {
                    refresh_token,
                    client_id: &client.client_id,
                    scope: param(&form, "scope"),
                    resource: param(&form, "resource"),
                },
                now,
            )
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            )
        }
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"),
    };
    match result {
        // A client registered without `refresh_token` gets none: it could not use it.
        Ok(tokens) => token_response(&tokens, client.refresh_token_grant),
        Err(e @ TokenError::Backend(_)) => retry_later(oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            e.code(),
            "the token service is temporarily unavailable; nothing was changed, try again",
        )),
        Err(e) => oauth_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    }
}

fn token_response(tokens: &IssuedTokens, with_refresh_token: bool) -> Response {
    let mut body = serde_json::json!({
        "access_token": tokens.access_token.expose_secret(),
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scopes.to_string(),
    });
    if with_refresh_token {
        body["refresh_token"] = serde_json::json!(tokens.refresh_token.expose_secret());
    }
    Reply::new(StatusCode::OK).cors().no_store().json(&body).finish()
}
