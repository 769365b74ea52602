//! Process management: the starting status of a new record, status actions (single and bulk)
//! and assignee updates, following the app's live `app/status.json` settings.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use super::params::{as_int, positive_id, Params};
use super::perm;
use super::query::{self, EvalContext};
use super::records::check_revision;
use super::{find_app, Ctx, Reply};
use crate::state::{App, Record, State, User};

fn enabled(app: &App) -> bool {
    app.live.status.get("enable").and_then(Value::as_bool).unwrap_or(false)
}

fn states(app: &App) -> Map<String, Value> {
    app.live
        .status
        .get("states")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn index_of(state: &Value) -> i64 {
    state.get("index").and_then(as_int).unwrap_or(i64::MAX)
}

/// The users an assignee setting designates for this record.
fn candidates(assignee: Option<&Value>, users: &[User], record: &Record) -> Vec<String> {
    let entities = assignee
        .and_then(|a| a.get("entities"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for item in &entities {
        let Some(entity) = item.get("entity") else { continue };
        let code = entity.get("code").and_then(Value::as_str).unwrap_or_default();
        let found: Vec<String> = match entity.get("type").and_then(Value::as_str).unwrap_or_default() {
            "USER" => users
                .iter()
                .filter(|u| u.code == code)
                .map(|u| u.code.clone())
                .collect(),
            "GROUP" => users
                .iter()
                .filter(|u| u.in_group(code))
                .map(|u| u.code.clone())
                .collect(),
            "ORGANIZATION" => users
                .iter()
                .filter(|u| u.organizations.iter().any(|o| o == code))
                .map(|u| u.code.clone())
                .collect(),
            "CREATOR" => vec![record.creator.clone()],
            "FIELD_ENTITY" => record
                .values
                .get(code)
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|e| e.get("code").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_else(|| {
                    if matches!(code, "作成者" | "Created_by") {
                        vec![record.creator.clone()]
                    } else {
                        vec![]
                    }
                }),
            _ => vec![],
        };
        for code in found {
            if !out.contains(&code) {
                out.push(code);
            }
        }
    }
    out
}

fn assignee_type(state: &Value) -> String {
    state
        .pointer("/assignee/type")
        .and_then(Value::as_str)
        .unwrap_or("ONE")
        .to_string()
}

/// Puts a new record into the first status with that status's assignees.
pub fn start(app: &App, users: &[User], record: &mut Record) {
    if !enabled(app) {
        return;
    }
    let all = states(app);
    let Some(first) = all.values().min_by_key(|s| index_of(s)) else {
        return;
    };
    record.status = first.get("name").and_then(Value::as_str).map(String::from);
    let mut assignees = candidates(first.get("assignee"), users, record);
    if assignee_type(first) == "ONE" {
        assignees.truncate(1);
    }
    record.assignees = assignees;
}

fn status_error(ctx: &Ctx) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "GAIA_IL03",
        ctx.lang.t(
            "ステータスの変更に失敗しました。ほかのユーザーがステータス、またはステータスの設定を変更した可能性があります。",
            "Failed to update the status. The settings or the status itself may have been changed by someone.",
        ),
    )
}

/// One status action as a request names it.
struct ActionRequest<'a> {
    app_id: u64,
    id: u64,
    action: &'a str,
    assignee: Option<String>,
    revision: Option<i64>,
    /// Prefix of error keys: "" for the single API, "records[i]." for the bulk one.
    key: &'a str,
}

/// Runs one action on one record; returns the new revision.
fn run_action(state: &mut State, ctx: &Ctx, request: ActionRequest<'_>) -> ApiResult<u64> {
    let ActionRequest {
        app_id,
        id,
        action,
        assignee,
        revision,
        key,
    } = request;
    let app = find_app(state, ctx, app_id, false)?;
    if !enabled(app) {
        return Err(status_error(ctx));
    }
    let record = app
        .records
        .get(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    if !perm::record_rights(app, &ctx.user, record, ctx.now).editable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    check_revision(ctx, revision, record.revision)?;
    if !record.assignees.is_empty() && !record.assignees.contains(&ctx.user.code) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "GAIA_NT01",
            ctx.lang.t(
                "作業者のみがステータスを変更できます。",
                "Only assignees can change the status.",
            ),
        ));
    }
    let current = record.status.clone().unwrap_or_default();
    let eval = EvalContext {
        props: &app.live.properties,
        login_user: &ctx.user.code,
        primary_organization: ctx.user.organizations.first().map(String::as_str),
        offset: ctx.user.utc_offset,
        now: ctx.now,
    };
    let actions = app
        .live
        .status
        .get("actions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let chosen = actions.iter().find(|a| {
        a.get("name").and_then(Value::as_str) == Some(action)
            && a.get("from").and_then(Value::as_str) == Some(current.as_str())
            && a.get("filterCond").and_then(Value::as_str).is_none_or(|cond| {
                cond.trim().is_empty()
                    || query::parse(cond, ctx.lang)
                        .ok()
                        .and_then(|q| q.condition)
                        .is_none_or(|c| eval.matches(&c, record))
            })
    });
    let Some(chosen) = chosen else {
        return Err(status_error(ctx));
    };
    let to = chosen.get("to").and_then(Value::as_str).unwrap_or_default().to_string();
    let next_state = states(app).get(&to).cloned().ok_or_else(|| status_error(ctx))?;
    let options = candidates(next_state.get("assignee"), &state.users, record);
    let assignees = if assignee_type(&next_state) == "ONE" {
        match assignee {
            Some(code) if options.contains(&code) => vec![code],
            Some(_) => {
                return Err(ApiError::field(
                    ctx.lang,
                    format!("{key}assignee"),
                    ctx.lang.t(
                        "指定したユーザーは作業者の候補にいません。",
                        "The specified user is not a candidate assignee.",
                    ),
                ))
            }
            None if options.len() > 1 => {
                return Err(ApiError::field(
                    ctx.lang,
                    format!("{key}assignee"),
                    ctx.lang.t("必須です。", "Required field."),
                ))
            }
            None => options,
        }
    } else {
        options
    };
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let record = app
        .records
        .get_mut(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    record.status = Some(to);
    record.assignees = assignees;
    // A status change is recorded as two operations (status and assignees): revision + 2.
    record.revision += 2;
    record.modifier = ctx.user.code.clone();
    record.updated_at = ctx.now;
    Ok(record.revision)
}

pub fn update_status(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app = params.id("app")?;
    let id = params.id("id")?;
    let action = params.str("action")?;
    let assignee = params.opt_str("assignee")?;
    let revision = params.opt_int("revision")?;
    let revision = run_action(
        state,
        ctx,
        ActionRequest {
            app_id: app,
            id,
            action: &action,
            assignee,
            revision,
            key: "",
        },
    )?;
    Ok(Reply::Json(json!({"revision": revision.to_string()})))
}

pub fn update_statuses(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app = params.id("app")?;
    let Some(items) = params.opt_array("records")? else {
        return Err(ApiError::required_param(ctx.lang, "records"));
    };
    if items.len() > super::records::MAX_WRITE {
        return Err(ApiError::field(
            ctx.lang,
            "records",
            ctx.lang.t(
                "一度に100件までのレコードを更新できます。",
                "A maximum of 100 records can be updated at one time.",
            ),
        ));
    }
    let mut results = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("records[{i}].");
        let item = item.as_object().ok_or_else(|| ApiError::invalid_json(ctx.lang))?;
        let id = match item.get("id") {
            Some(v) => positive_id(v, &format!("{key}id"), ctx.lang)?,
            None => return Err(ApiError::required_param(ctx.lang, &format!("{key}id"))),
        };
        let action = item
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required_param(ctx.lang, &format!("{key}action")))?;
        let assignee = item.get("assignee").and_then(Value::as_str).map(String::from);
        let revision = item.get("revision").and_then(as_int);
        let revision = run_action(
            state,
            ctx,
            ActionRequest {
                app_id: app,
                id,
                action,
                assignee,
                revision,
                key: &key,
            },
        )?;
        results.push(json!({"id": id.to_string(), "revision": revision.to_string()}));
    }
    Ok(Reply::Json(json!({"records": results})))
}

pub fn update_assignees(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let id = params.id("id")?;
    let assignees = params
        .opt_string_list("assignees")?
        .ok_or_else(|| ApiError::required_param(ctx.lang, "assignees"))?;
    let revision = params.opt_int("revision")?;
    if assignees.len() > super::records::MAX_WRITE {
        return Err(ApiError::field(
            ctx.lang,
            "assignees",
            ctx.lang
                .t("100人以下で指定してください。", "Specify 100 or fewer assignees."),
        ));
    }
    let app = find_app(state, ctx, app_id, false)?;
    if !enabled(app) {
        return Err(status_error(ctx));
    }
    let record = app
        .records
        .get(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    if !perm::record_rights(app, &ctx.user, record, ctx.now).editable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    check_revision(ctx, revision, record.revision)?;
    let status = record.status.clone().unwrap_or_default();
    if let Some(current) = states(app).get(&status) {
        if assignee_type(current) == "ONE" && assignees.len() > 1 {
            return Err(ApiError::field(
                ctx.lang,
                "assignees",
                ctx.lang
                    .t("作業者は1人だけ指定できます。", "Only one assignee can be specified."),
            ));
        }
    }
    for code in &assignees {
        if state.user(code).is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "GAIA_IL26",
                ctx.lang.t(
                    format!("指定したユーザー(code:{code})が見つかりません。"),
                    format!("The specified user (code: {code}) not found."),
                ),
            ));
        }
    }
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let record = app
        .records
        .get_mut(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    record.assignees = assignees;
    record.revision += 1;
    record.modifier = ctx.user.code.clone();
    record.updated_at = ctx.now;
    Ok(Reply::Json(json!({"revision": record.revision.to_string()})))
}
