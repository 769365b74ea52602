//! The kintone REST API under `/k/v1/` and `/k/guest/{space}/v1/`.
//!
//! One entry point does what every kintone API shares: the concurrency limit, the path and
//! `X-HTTP-Method-Override`, authentication (OAuth bearer or password), scopes, parameters
//! from the query string and the JSON body, and all-or-nothing writes; then it dispatches on
//! method and resource to the modules below.

pub mod apps;
pub mod calc;
pub mod comments;
pub mod datetime;
pub mod error;
pub mod fields;
pub mod files;
pub mod params;
pub mod perm;
pub mod process;
pub mod query;
pub mod records;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value};

use crate::shared::Shared;
use crate::state::{App, Scope, State, User};
use error::{json_body, ApiError, ApiResult, Lang};
use params::Params;

/// The largest request body accepted (uploads included); real kintone allows 1 GB files.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Who is calling and how.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub user: User,
    pub lang: Lang,
    /// The guest space named in the path, for `/k/guest/{space}/v1/`.
    pub guest_space: Option<u64>,
    pub now: DateTime<Utc>,
    pub preview: bool,
    /// The resource without `preview/`, e.g. `app/views`.
    pub resource: String,
}

pub enum Reply {
    Json(Value),
    File {
        data: Bytes,
        content_type: String,
        name: String,
    },
}

type Handler = fn(&mut State, &Ctx, &Params) -> ApiResult<Reply>;

/// Splits `/k/v1/records.json` or `/k/guest/3/v1/records.json` into (guest space, resource).
fn parse_path(path: &str) -> Option<(Option<u64>, String)> {
    let (guest, rest) = if let Some(rest) = path.strip_prefix("/k/v1/") {
        (None, rest)
    } else {
        let rest = path.strip_prefix("/k/guest/")?;
        let (space, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("v1/")?;
        (Some(space.parse::<u64>().ok()?), rest)
    };
    let resource = rest.strip_suffix(".json")?;
    Some((guest, resource.to_string()))
}

/// The handler and the OAuth scope for a method and resource (without `preview/`).
fn route(method: &Method, resource: &str, preview: bool) -> Option<(Handler, Scope)> {
    use Scope::*;
    let m = method.as_str();
    let settings_read = |h: Handler| Some((h, AppSettingsRead));
    let settings_write = |h: Handler| if preview { Some((h, AppSettingsWrite)) } else { None };
    match (m, resource) {
        _ if preview && !resource.starts_with("app") && !resource.ends_with("/acl") => None,
        ("GET", "record") if !preview => Some((records::get_record, AppRecordRead)),
        ("POST", "record") if !preview => Some((records::add_record, AppRecordWrite)),
        ("PUT", "record") if !preview => Some((records::update_record, AppRecordWrite)),
        ("GET", "records") if !preview => Some((records::get_records, AppRecordRead)),
        ("POST", "records") if !preview => Some((records::add_records, AppRecordWrite)),
        ("PUT", "records") if !preview => Some((records::update_records, AppRecordWrite)),
        ("DELETE", "records") if !preview => Some((records::delete_records, AppRecordWrite)),
        // The cursor pages do not list OAuth; the fake allows it with the record-read scope.
        ("POST", "records/cursor") => Some((records::create_cursor, AppRecordRead)),
        ("GET", "records/cursor") => Some((records::get_cursor, AppRecordRead)),
        ("DELETE", "records/cursor") => Some((records::delete_cursor, AppRecordRead)),
        ("GET", "records/acl/evaluate") => Some((records::evaluate_acl, AppRecordRead)),
        ("GET", "record/comments") => Some((comments::get_comments, AppRecordRead)),
        ("POST", "record/comment") => Some((comments::add_comment, AppRecordWrite)),
        ("DELETE", "record/comment") => Some((comments::delete_comment, AppRecordWrite)),
        ("PUT", "record/status") => Some((process::update_status, AppRecordWrite)),
        ("PUT", "records/status") => Some((process::update_statuses, AppRecordWrite)),
        ("PUT", "record/assignees") => Some((process::update_assignees, AppRecordWrite)),
        ("GET", "app") if !preview => settings_read(apps::get_app),
        ("GET", "apps") if !preview => settings_read(apps::get_apps),
        ("POST", "app") => settings_write(apps::add_app),
        ("GET", "app/deploy") if preview => settings_read(apps::deploy_status),
        ("POST", "app/deploy") => settings_write(apps::deploy),
        ("GET", "app/form/fields") => settings_read(apps::get_fields),
        ("POST", "app/form/fields") => settings_write(apps::add_fields),
        ("PUT", "app/form/fields") => settings_write(apps::update_fields),
        ("DELETE", "app/form/fields") => settings_write(apps::delete_fields),
        ("GET", "app/form/layout") => settings_read(apps::get_layout),
        ("PUT", "app/form/layout") => settings_write(apps::update_layout),
        ("GET", r) if apps::SETTING_KINDS.iter().any(|k| k.resource == r) => settings_read(apps::get_setting),
        ("PUT", r) if apps::SETTING_KINDS.iter().any(|k| k.resource == r) => settings_write(apps::update_setting),
        _ => None,
    }
}

/// The axum handler for every `/k/...` request. The request was already counted against the
/// concurrency limit by the server's middleware (see `server::observe`).
pub async fn handle(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let accept_language = request
        .headers()
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let mut response = match serve(&shared, request, accept_language.as_deref()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    add_concurrency_headers(&shared, &mut response);
    response
}

/// kintone puts its concurrency figures on every API response.
pub fn add_concurrency_headers(shared: &Shared, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert("X-ConcurrencyLimit-Limit", HeaderValue::from(shared.concurrency_limit));
    if !headers.contains_key("X-ConcurrencyLimit-Running") {
        headers.insert(
            "X-ConcurrencyLimit-Running",
            HeaderValue::from(shared.in_flight.load(Ordering::SeqCst)),
        );
    }
}

/// Counts a kintone request as running until dropped.
pub struct InFlight(Arc<Shared>);

impl InFlight {
    /// Counts the request in; returns how many are running now, this one included.
    pub fn enter(shared: &Arc<Shared>) -> (InFlight, usize) {
        let running = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        (InFlight(shared.clone()), running)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(shared: &Arc<Shared>, request: Request, accept_language: Option<&str>) -> ApiResult<Response> {
    let fallback_lang = Lang::from_accept_language(accept_language);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let method = effective_method(&parts.method, &parts.headers, fallback_lang)?;
    let Some((guest_space, resource)) = parse_path(&path) else {
        return Err(ApiError::unsupported(method.as_str(), &path));
    };
    let (preview, base) = match resource.strip_prefix("preview/") {
        Some(rest) => (true, rest.to_string()),
        None => (false, resource.clone()),
    };
    let is_upload = method == Method::POST && base == "file" && !preview;
    let is_download = method == Method::GET && base == "file" && !preview;
    let route = if is_upload {
        None
    } else if is_download {
        Some((files::download as Handler, Scope::FileRead))
    } else {
        Some(route(&method, &base, preview).ok_or_else(|| ApiError::unsupported(method.as_str(), &path))?)
    };
    let scope = if is_upload {
        Scope::FileWrite
    } else {
        route.map(|(_, s)| s).unwrap_or(Scope::FileWrite)
    };

    let ctx = {
        let state = shared.state();
        let user = authenticate(&state, &parts.headers, scope, fallback_lang)?;
        let lang = user.lang(accept_language);
        if let Some(space_id) = guest_space {
            let allowed = state
                .space(space_id)
                .is_some_and(|s| s.is_guest && s.members.contains(&user.code));
            if !allowed {
                return Err(ApiError::no_permission(lang));
            }
        }
        Ctx {
            user,
            lang,
            guest_space,
            now: Utc::now(),
            preview,
            resource: base.clone(),
        }
    };

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CB_VA01",
            ctx.lang.t("リクエストが大きすぎます。", "The request is too large."),
        )
    })?;

    if is_upload {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let upload = files::parse_upload(content_type, body, ctx.lang).await?;
        let mut state = shared.state();
        return Ok(reply_response(files::store_upload(&mut state, &ctx, upload)?));
    }

    let params = Params::new(
        collect_params(parts.uri.query(), &parts.headers, &body, ctx.lang)?,
        ctx.lang,
    );
    let Some((handler, _)) = route else {
        return Err(ApiError::unsupported(method.as_str(), &path));
    };
    let mut state = shared.state();
    let reply = if method == Method::GET {
        handler(&mut state, &ctx, &params)?
    } else {
        // Writes are all or nothing: a failure half-way restores what was there.
        let snapshot = Snapshot::take(&state);
        match handler(&mut state, &ctx, &params) {
            Ok(reply) => reply,
            Err(error) => {
                snapshot.restore(&mut state);
                return Err(error);
            }
        }
    };
    Ok(reply_response(reply))
}

struct Snapshot {
    apps: std::collections::BTreeMap<u64, App>,
    files: std::collections::HashMap<String, crate::state::StoredFile>,
    cursors: std::collections::HashMap<String, crate::state::Cursor>,
    next_app_id: u64,
    next_row_id: u64,
}

impl Snapshot {
    fn take(state: &State) -> Self {
        Snapshot {
            apps: state.apps.clone(),
            files: state.files.clone(),
            cursors: state.cursors.clone(),
            next_app_id: state.next_app_id,
            next_row_id: state.next_row_id,
        }
    }

    fn restore(self, state: &mut State) {
        state.apps = self.apps;
        state.files = self.files;
        state.cursors = self.cursors;
        state.next_app_id = self.next_app_id;
        state.next_row_id = self.next_row_id;
    }
}

fn reply_response(reply: Reply) -> Response {
    match reply {
        Reply::Json(value) => json_body(&value).into_response(),
        Reply::File {
            data,
            content_type,
            name,
        } => {
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            let mut response = Response::new(Body::from(data));
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                headers.insert(http::header::CONTENT_TYPE, value);
            }
            if let Ok(value) = HeaderValue::from_str(&format!(
                "attachment; filename=\"{encoded}\"; filename*=UTF-8''{encoded}"
            )) {
                headers.insert(http::header::CONTENT_DISPOSITION, value);
            }
            response
        }
    }
}

/// `X-HTTP-Method-Override` is honoured on POST only, with the exact upper-case values.
fn effective_method(method: &Method, headers: &HeaderMap, lang: Lang) -> ApiResult<Method> {
    let Some(value) = headers.get("X-HTTP-Method-Override") else {
        return Ok(method.clone());
    };
    if method != Method::POST {
        return Ok(method.clone());
    }
    match value.to_str().unwrap_or_default() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "DELETE" => Ok(Method::DELETE),
        _ => Err(ApiError::field(
            lang,
            "X-HTTP-Method-Override",
            lang.t(
                "GET、POST、PUT、DELETEのいずれかを指定します。",
                "must be one of GET, POST, PUT, DELETE",
            ),
        )),
    }
}

fn collect_params(query: Option<&str>, headers: &HeaderMap, body: &Bytes, lang: Lang) -> ApiResult<Map<String, Value>> {
    let mut params = query.map(params::parse_query_string).unwrap_or_default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::invalid_json(lang));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            params.extend(map);
            Ok(params)
        }
        _ => Err(ApiError::invalid_json(lang)),
    }
}

/// Resolves the caller: an OAuth bearer token (scoped) or password authentication (all APIs).
fn authenticate(state: &State, headers: &HeaderMap, scope: Scope, lang: Lang) -> ApiResult<User> {
    let authorization = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) {
        let token = token.trim();
        let Some(grant) = state.oauth.access_tokens.get(token) else {
            return Err(ApiError::invalid_token(lang));
        };
        if grant.expires_at <= std::time::Instant::now() {
            return Err(ApiError::invalid_token(lang));
        }
        let Some(user) = state.user(&grant.user) else {
            return Err(ApiError::invalid_token(lang));
        };
        let lang = user.lang(headers.get(http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
        if !grant.scopes.contains(&scope) {
            return Err(ApiError::missing_scope(lang));
        }
        return Ok(user.clone());
    }
    if let Some(encoded) = headers.get("X-Cybozu-Authorization").and_then(|v| v.to_str().ok()) {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((login, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(ApiError::wrong_password(lang));
        };
        return match state.user(login) {
            Some(user) if user.password.as_deref() == Some(password) => Ok(user.clone()),
            _ => Err(ApiError::wrong_password(lang)),
        };
    }
    Err(ApiError::no_credentials(lang))
}

/// The app named by a request, checked for existence, guest-space path and space membership.
/// `any_stage` admits apps not yet deployed (pre-live settings APIs).
pub fn find_app<'a>(state: &'a State, ctx: &Ctx, app_id: u64, any_stage: bool) -> ApiResult<&'a App> {
    let app = state
        .apps
        .get(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    if !app.deployed && !any_stage {
        return Err(ApiError::app_not_found(ctx.lang, app_id));
    }
    check_space(state, ctx, app)?;
    // A user without any right on the app gets CB_NO02 from every API, records included.
    let rights = perm::app_rights(app, &ctx.user, None);
    if !(rights.viewable || rights.addable || rights.app_editable) {
        return Err(ApiError::no_permission(ctx.lang));
    }
    Ok(app)
}

pub fn check_space(state: &State, ctx: &Ctx, app: &App) -> ApiResult<()> {
    let space = app.space_id.and_then(|id| state.space(id));
    match (space, ctx.guest_space) {
        (Some(space), None) if space.is_guest => return Err(ApiError::guest_path_required(ctx.lang)),
        (Some(space), Some(guest)) if space.id != guest => return Err(ApiError::no_permission(ctx.lang)),
        (None, Some(_)) => return Err(ApiError::no_permission(ctx.lang)),
        (Some(space), Some(_)) if !space.is_guest => return Err(ApiError::no_permission(ctx.lang)),
        _ => {}
    }
    if let Some(space) = space {
        if !space.members.contains(&ctx.user.code) {
            return Err(ApiError::no_permission(ctx.lang));
        }
    }
    Ok(())
}
