//! `POST /revoke` (RFC 7009): revoking any of our tokens revokes its grant. Unknown or foreign
//! tokens get the same 200, so the endpoint tells a caller nothing about other clients' tokens.

use crate::client_auth::authenticate_client;
use crate::clients::Clients;
use crate::web::{form_params, oauth_error, param, Reply, Request, Response};
use grants::{revoke_token, Config};
use http::StatusCode;
use platform::KeyValue;

pub fn revoke(config: &Config, clients: &Clients<'_>, kv: &impl KeyValue, request: &Request) -> Response {
    let form = match form_params(request) {
        Ok(f) => f,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e.describe()),
    };
    let client = match authenticate_client(config, clients, request.headers(), &form) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let Some(token) = param(&form, "token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    // token_type_hint is only a hint (RFC 7009 §2.1): both kinds are recognised by their form.
    match revoke_token(kv, config, token, &client.client_id) {
        Ok(_) => Reply::new(StatusCode::OK).cors().no_store().finish(),
        Err(_) => platform::retry_later(oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "could not revoke now; try again",
        )),
    }
}
