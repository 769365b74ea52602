//! The control API under `/_fake/...`: what the library handle offers, over HTTP and JSON, for
//! a fake started as a separate process. Not part of cybozu.com; never logged or faulted.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State as AxumState};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::shared::{ControlError, Shared};

fn problem(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn from_control(error: ControlError) -> Response {
    let status = match error {
        ControlError::UnknownApp(_) | ControlError::UnknownFault(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    problem(status, error)
}

fn ok() -> Response {
    Json(json!({"ok": true})).into_response()
}

/// Parses a JSON body, answering 400 with the reason when it does not fit.
#[allow(clippy::result_large_err)] // an axum Response is the natural error here
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| problem(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifetime {
    seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectBody {
    redirect_uri: String,
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/_fake/requests", get(requests).delete(clear_requests))
        .route("/_fake/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/_fake/faults/{id}", delete(remove_fault))
        .route("/_fake/token-lifetime", put(set_token_lifetime))
        .route("/_fake/expire-access-tokens", post(expire_access_tokens))
        .route("/_fake/revoke-refresh-tokens", post(revoke_refresh_tokens))
        .route("/_fake/approving-user", put(set_approving_user))
        .route("/_fake/redirect-uris", get(redirect_uris).post(add_redirect_uri))
        .route("/_fake/records/{app}", get(records))
}

async fn requests(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    Json(shared.requests()).into_response()
}

async fn clear_requests(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    shared.clear_requests();
    ok()
}

async fn list_faults(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    Json(shared.faults()).into_response()
}

async fn add_fault(AxumState(shared): AxumState<Arc<Shared>>, body: bytes::Bytes) -> Response {
    match parse::<Fault>(&body) {
        Ok(fault) => Json(json!({"id": shared.add_fault(fault)})).into_response(),
        Err(response) => response,
    }
}

async fn clear_faults(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    shared.clear_faults();
    ok()
}

async fn remove_fault(AxumState(shared): AxumState<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    match shared.remove_fault(id) {
        Ok(()) => ok(),
        Err(e) => from_control(e),
    }
}

async fn set_token_lifetime(AxumState(shared): AxumState<Arc<Shared>>, body: bytes::Bytes) -> Response {
    match parse::<Lifetime>(&body) {
        Ok(Lifetime { seconds }) => {
            shared.set_token_lifetime(Duration::from_secs(seconds));
            ok()
        }
        Err(response) => response,
    }
}

async fn expire_access_tokens(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    shared.expire_access_tokens();
    ok()
}

async fn revoke_refresh_tokens(AxumState(shared): AxumState<Arc<Shared>>, body: bytes::Bytes) -> Response {
    let user = match parse::<UserBody>(&body) {
        Ok(UserBody { user: Some(user) }) => user,
        Ok(_) => return problem(StatusCode::BAD_REQUEST, "user is required"),
        Err(response) => return response,
    };
    match shared.revoke_refresh_tokens(&user) {
        Ok(revoked) => Json(json!({"revoked": revoked})).into_response(),
        Err(e) => from_control(e),
    }
}

async fn set_approving_user(AxumState(shared): AxumState<Arc<Shared>>, body: bytes::Bytes) -> Response {
    match parse::<UserBody>(&body) {
        Ok(UserBody { user }) => match shared.set_approving_user(user.as_deref()) {
            Ok(()) => ok(),
            Err(e) => from_control(e),
        },
        Err(response) => response,
    }
}

async fn redirect_uris(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    Json(json!({"redirect_uris": shared.redirect_uris()})).into_response()
}

async fn add_redirect_uri(AxumState(shared): AxumState<Arc<Shared>>, body: bytes::Bytes) -> Response {
    match parse::<RedirectBody>(&body) {
        Ok(RedirectBody { redirect_uri }) => match shared.add_redirect_uri(&redirect_uri) {
            Ok(()) => ok(),
            Err(e) => from_control(e),
        },
        Err(response) => response,
    }
}

async fn records(AxumState(shared): AxumState<Arc<Shared>>, Path(app): Path<u64>) -> Response {
    match shared.records(app) {
        Ok(records) => Json(Value::Array(records)).into_response(),
        Err(e) => from_control(e),
    }
}
