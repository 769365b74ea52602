//! Cybozu OAuth 2.0 as cybozu.com serves it: the authorization endpoint (auto-approving as a
//! configured user, or showing a sign-in page) and the token endpoint (authorization code and
//! refresh token grants; client credentials by HTTP Basic or in the body; a refresh returns a
//! new access token and no new refresh token).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State as AxumState};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use serde_json::json;

use crate::random;
use crate::shared::Shared;
use crate::state::{scope_string, AccessToken, AuthCode, RefreshToken, Scope, State};

/// The parameters of an authorization request, from the query string or the sign-in form.
#[derive(Debug, Clone, Default)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    response_type: String,
    scope: String,
    state: Option<String>,
}

impl AuthRequest {
    fn from_map(map: &HashMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        AuthRequest {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            response_type: get("response_type"),
            scope: get("scope"),
            state: map.get("state").cloned(),
        }
    }
}

enum Checked {
    /// Client and redirect URI are fine; these scopes were asked for.
    Ok(Vec<Scope>),
    /// Errors the user sees on cybozu.com: redirecting would be unsafe.
    Page(StatusCode, String),
    /// Errors sent back to the client's redirect URI.
    Redirect(String, String),
}

fn check(state: &State, request: &AuthRequest) -> Checked {
    if request.client_id != state.oauth.client.client_id {
        return Checked::Page(
            StatusCode::BAD_REQUEST,
            "The client_id is not registered on this cybozu.com domain.".into(),
        );
    }
    if !state.oauth.client.redirect_uris.contains(&request.redirect_uri) {
        return Checked::Page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri does not match the OAuth client's redirect endpoint.".into(),
        );
    }
    if request.response_type != "code" {
        return Checked::Redirect("unsupported_response_type".into(), "response_type must be code".into());
    }
    let mut scopes = Vec::new();
    for name in request.scope.split_whitespace() {
        match Scope::parse(name) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => return Checked::Redirect("invalid_scope".into(), format!("unknown scope {name}")),
        }
    }
    if scopes.is_empty() {
        return Checked::Redirect("invalid_scope".into(), "scope is required".into());
    }
    Checked::Ok(scopes)
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect_uri is not a valid URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    // cybozu.com answers authorization requests with a plain 302.
    match http::HeaderValue::from_str(url.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The redirect_uri is not a valid URL."),
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cybozu.com</title></head>\
         <body><h1>Error</h1><p>{}</p></body></html>",
        html_escape::encode_text(message)
    );
    (status, Html(body)).into_response()
}

fn issue_code(state: &mut State, request: &AuthRequest, user: &str, scopes: Vec<Scope>) -> String {
    let code = random::secret_token();
    let expires_at = Instant::now() + state.oauth.code_lifetime;
    state.oauth.codes.insert(
        code.clone(),
        AuthCode {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user: user.to_string(),
            scopes,
            expires_at,
            used: false,
        },
    );
    code
}

/// `GET /oauth2/authorization`
pub async fn authorize(
    AxumState(shared): AxumState<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let request = AuthRequest::from_map(&query);
    let mut state = shared.state();
    match check(&state, &request) {
        Checked::Page(status, message) => error_page(status, &message),
        Checked::Redirect(error, description) => redirect_with(
            &request.redirect_uri,
            &[("error", &error), ("error_description", &description)],
            request.state.as_deref(),
        ),
        Checked::Ok(scopes) => match state.oauth.approving_user.clone() {
            Some(user) => {
                let code = issue_code(&mut state, &request, &user, scopes);
                redirect_with(&request.redirect_uri, &[("code", &code)], request.state.as_deref())
            }
            None => sign_in_page(&state, &request, &scopes, None),
        },
    }
}

/// The page a person sees when no user is approved automatically: pick a user, allow or deny.
fn sign_in_page(state: &State, request: &AuthRequest, scopes: &[Scope], error: Option<&str>) -> Response {
    let e = |s: &str| html_escape::encode_double_quoted_attribute(s).into_owned();
    let hidden = [
        ("client_id", request.client_id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("response_type", request.response_type.as_str()),
        ("scope", request.scope.as_str()),
        ("state", request.state.as_deref().unwrap_or_default()),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", e(v)))
    .collect::<String>();
    let options = state
        .users
        .iter()
        .map(|u| {
            format!(
                "<option value=\"{}\">{} ({})</option>",
                e(&u.code),
                html_escape::encode_text(&u.name),
                html_escape::encode_text(&u.code)
            )
        })
        .collect::<String>();
    let scope_items = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", s.as_str()))
        .collect::<String>();
    let error = error
        .map(|m| format!("<p class=\"error\">{}</p>", html_escape::encode_text(m)))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>cybozu.com ログイン (fake)</title></head><body>\
         <h1>cybozu.com</h1>{error}<form method=\"post\" action=\"/oauth2/authorization\">{hidden}\
         <p><label>ログイン名 <select name=\"login\">{options}</select></label></p>\
         <p><label>パスワード <input type=\"password\" name=\"password\"></label></p>\
         <p>アプリ {client} が次の操作を要求しています:</p><ul>{scope_items}</ul>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">許可</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">拒否</button></form></body></html>",
        client = html_escape::encode_text(&request.client_id),
    );
    let mut response = (
        if error.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
        Html(body),
    )
        .into_response();
    response
        .headers_mut()
        .insert("X-Frame-Options", http::HeaderValue::from_static("DENY"));
    response
}

/// `POST /oauth2/authorization`: the sign-in form's answer.
pub async fn authorize_submit(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let request = AuthRequest::from_map(&form);
    let mut state = shared.state();
    let scopes = match check(&state, &request) {
        Checked::Page(status, message) => return error_page(status, &message),
        Checked::Redirect(error, description) => {
            return redirect_with(
                &request.redirect_uri,
                &[("error", &error), ("error_description", &description)],
                request.state.as_deref(),
            )
        }
        Checked::Ok(scopes) => scopes,
    };
    if form.get("decision").map(String::as_str) != Some("allow") {
        return redirect_with(
            &request.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied the request."),
            ],
            request.state.as_deref(),
        );
    }
    let login = form.get("login").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let signed_in = state
        .user(&login)
        .is_some_and(|u| u.password.as_deref().is_none_or(|p| p == password));
    if !signed_in {
        return sign_in_page(
            &state,
            &request,
            &scopes,
            Some("ログイン名またはパスワードが正しくありません。"),
        );
    }
    let code = issue_code(&mut state, &request, &login, scopes);
    redirect_with(&request.redirect_uri, &[("code", &code)], request.state.as_deref())
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"cybozu.com\""),
        );
    }
    response
}

fn token_ok(body: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

#[allow(clippy::result_large_err)] // an axum Response is the natural error here
/// Client credentials from HTTP Basic (form-encoded id and secret, RFC 6749 §2.3.1) or the body.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(String, String), Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let pair = decoded.as_deref().and_then(|d| d.split_once(':')).map(|(id, secret)| {
                let unescape = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (unescape(id), unescape(secret))
            });
            pair.ok_or_else(|| {
                token_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "Malformed HTTP Basic credentials.",
                )
            })
        });
    match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => Err(token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Use only one client authentication method.",
        )),
        (Some(result), None) => result,
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => Ok((id.clone(), secret.clone())),
            None => Err(token_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_id is missing.",
            )),
        },
        (None, None) => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication is required.",
        )),
    }
}

/// `POST /oauth2/token`
pub async fn token(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request must be application/x-www-form-urlencoded.",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (client_id, client_secret) = match client_credentials(&headers, &form) {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let mut state = shared.state();
    let client = state.oauth.client.clone();
    if client_id != client.client_id || client_secret != client.client_secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&mut state, &client_id, &form),
        Some("refresh_token") => refresh(&mut state, &client_id, &form),
        Some(_) => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token are supported.",
        ),
        None => token_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required."),
    }
}

fn exchange_code(state: &mut State, client_id: &str, form: &HashMap<String, String>) -> Response {
    let (Some(code), Some(redirect_uri)) = (form.get("code"), form.get("redirect_uri")) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code and redirect_uri are required.",
        );
    };
    let Some(grant) = state.oauth.codes.get_mut(code) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The authorization code is invalid.",
        );
    };
    if grant.used || grant.expires_at <= Instant::now() || grant.client_id != client_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The authorization code is invalid, expired or already used.",
        );
    }
    if grant.redirect_uri != *redirect_uri {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "The redirect_uri does not match the authorization request.",
        );
    }
    // Codes are single use: the first exchange consumes it whatever happens next.
    grant.used = true;
    let (user, scopes) = (grant.user.clone(), grant.scopes.clone());
    let access_token = issue_access_token(state, &user, client_id, &scopes);
    let refresh_token = issue_refresh_token(state, &user, client_id, &scopes);
    token_ok(json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": state.oauth.token_lifetime.as_secs(),
        "scope": scope_string(&scopes),
    }))
}

fn refresh(state: &mut State, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(token) = form.get("refresh_token") else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required.");
    };
    let Some(grant) = state
        .oauth
        .refresh_tokens
        .get(token)
        .filter(|g| g.client_id == client_id)
        .cloned()
    else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid or revoked.",
        );
    };
    let access_token = issue_access_token(state, &grant.user, client_id, &grant.scopes);
    // Cybozu does not rotate refresh tokens: the response carries no refresh_token.
    token_ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": state.oauth.token_lifetime.as_secs(),
        "scope": scope_string(&grant.scopes),
    }))
}

fn issue_access_token(state: &mut State, user: &str, client_id: &str, scopes: &[Scope]) -> String {
    let now = Instant::now();
    state.oauth.access_tokens.retain(|_, t| t.expires_at > now);
    let token = random::secret_token();
    let expires_at = now + state.oauth.token_lifetime;
    state.oauth.access_tokens.insert(
        token.clone(),
        AccessToken {
            user: user.to_string(),
            client_id: client_id.to_string(),
            scopes: scopes.to_vec(),
            expires_at,
        },
    );
    token
}

fn issue_refresh_token(state: &mut State, user: &str, client_id: &str, scopes: &[Scope]) -> String {
    // At most N refresh tokens per user and client: the oldest is revoked first.
    loop {
        let owned: Vec<(String, u64)> = state
            .oauth
            .refresh_tokens
            .iter()
            .filter(|(_, t)| t.user == user && t.client_id == client_id)
            .map(|(k, t)| (k.clone(), t.issued_seq))
            .collect();
        if owned.len() < state.oauth.max_refresh_tokens_per_user {
            break;
        }
        if let Some((oldest, _)) = owned.iter().min_by_key(|(_, seq)| *seq) {
            state.oauth.refresh_tokens.remove(oldest);
        }
    }
    state.oauth.issue_seq += 1;
    let token = random::secret_token();
    state.oauth.refresh_tokens.insert(
        token.clone(),
        RefreshToken {
            user: user.to_string(),
            client_id: client_id.to_string(),
            scopes: scopes.to_vec(),
            issued_seq: state.oauth.issue_seq,
        },
    );
    token
}
