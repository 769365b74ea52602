//! Record APIs: one record, many records (with query, paging and `totalCount`), bulk add,
//! update (by id or `updateKey`, with upsert) and delete, the cursor API and permission
//! evaluation. Every write checks `revision` and the caller's record and field rights.

use std::time::Instant;

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, Lang};
use super::fields::{self, WriteEnv, WriteMode};
use super::params::{as_int, Params};
use super::perm::{self, RecordRights};
use super::query::{self, EvalContext};
use super::{find_app, process, Ctx, Reply};
use crate::random;
use crate::state::{App, Cursor, Record, State, CURSOR_LIFETIME, MAX_CURSORS};

/// kintone's ceilings: 500 records per read, 100 per write, offsets up to 10,000.
pub const MAX_GET: u64 = 500;
pub const MAX_WRITE: usize = 100;
pub const MAX_OFFSET: u64 = 10_000;
pub const DEFAULT_LIMIT: u64 = 100;

fn user_names(state: &State) -> impl Fn(&str) -> String + '_ {
    move |code: &str| state.user_name(code)
}

/// A record as the caller may see it: fields hidden by field permissions or left out of
/// `fields` are omitted.
pub fn render_for(
    state: &State,
    app: &App,
    ctx: &Ctx,
    record: &Record,
    rights: RecordRights,
    only: Option<&[String]>,
) -> Value {
    let names = user_names(state);
    let visible = |code: &str| {
        if let Some(only) = only {
            if !only.iter().any(|f| f == code) {
                return false;
            }
        }
        code.starts_with('$') || perm::field_rights(app, &ctx.user, Some(record), rights, code).viewable
    };
    Value::Object(fields::render_record(&app.live.properties, record, &names, &visible))
}

pub fn get_record(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let id = params.id("id")?;
    let app = find_app(state, ctx, app_id, false)?;
    let record = app
        .records
        .get(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    let rights = perm::record_rights(app, &ctx.user, record, ctx.now);
    if !rights.viewable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    Ok(Reply::Json(
        json!({"record": render_for(state, app, ctx, record, rights, None)}),
    ))
}

fn limit_error(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "GAIA_QU01",
        lang.t(
            "limit には 500 以下の値を指定してください。",
            "Specify 500 or less for limit.",
        ),
    )
}

fn offset_error(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "GAIA_QU02",
        lang.t(
            "offset には 10,000 以下の値を指定してください。",
            "Specify 10,000 or less for offset.",
        ),
    )
}

/// The records a query selects, in its order, among those the caller may view.
fn select(app: &App, ctx: &Ctx, parsed: &query::Query) -> Vec<u64> {
    let eval = EvalContext {
        props: &app.live.properties,
        login_user: &ctx.user.code,
        primary_organization: ctx.user.organizations.first().map(String::as_str),
        offset: ctx.user.utc_offset,
        now: ctx.now,
    };
    let mut hits: Vec<&Record> = app
        .records
        .values()
        .filter(|r| perm::record_rights(app, &ctx.user, r, ctx.now).viewable)
        .filter(|r| parsed.condition.as_ref().is_none_or(|c| eval.matches(c, r)))
        .collect();
    let order: Vec<(String, bool)> = if parsed.order_by.is_empty() {
        vec![("$id".to_string(), true)]
    } else {
        parsed.order_by.clone()
    };
    hits.sort_by(|a, b| {
        for (code, descending) in &order {
            let ka = query::sort_key(&app.live.properties, code, a);
            let kb = query::sort_key(&app.live.properties, code, b);
            let ordering = match (ka.0, kb.0) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (None, None) => ka.1.cmp(&kb.1),
            };
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != std::cmp::Ordering::Equal {
                return ordering;
            }
        }
        b.id.cmp(&a.id)
    });
    hits.into_iter().map(|r| r.id).collect()
}

pub fn get_records(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let only = params.opt_string_list("fields")?;
    let total_count = params.opt_bool("totalCount")?.unwrap_or(false);
    let query_text = params.opt_str("query")?.unwrap_or_default();
    let app = find_app(state, ctx, app_id, false)?;
    let parsed = query::parse(&query_text, ctx.lang)?;
    query::validate(&parsed, &app.live.properties, ctx.lang)?;
    let limit = parsed.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = parsed.offset.unwrap_or(0);
    if limit > MAX_GET {
        return Err(limit_error(ctx.lang));
    }
    if offset > MAX_OFFSET {
        return Err(offset_error(ctx.lang));
    }
    let ids = select(app, ctx, &parsed);
    let total = ids.len();
    let page: Vec<Value> = ids
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .filter_map(|id| app.records.get(id))
        .map(|r| {
            let rights = perm::record_rights(app, &ctx.user, r, ctx.now);
            render_for(state, app, ctx, r, rights, only.as_deref())
        })
        .collect();
    let total = if total_count {
        json!(total.to_string())
    } else {
        Value::Null
    };
    Ok(Reply::Json(json!({"records": page, "totalCount": total})))
}

fn app_mut(state: &mut State, app_id: u64) -> ApiResult<&mut App> {
    state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(Lang::Ja, app_id))
}

/// Adds one record's values; shared by the single and bulk APIs. Returns the new id.
fn insert_record(
    state: &mut State,
    ctx: &Ctx,
    app_id: u64,
    input: &Map<String, Value>,
    prefix: String,
) -> ApiResult<u64> {
    let app = find_app(state, ctx, app_id, false)?;
    if !perm::app_rights(app, &ctx.user, None).addable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    let id = app.next_record_id;
    let full = RecordRights {
        viewable: true,
        editable: true,
        deletable: true,
    };
    let editable_codes = editable_fields(app, ctx, None, full);
    let editable = |code: &str| editable_codes.contains(code);
    let props = app.live.properties.clone();
    let State {
        users,
        groups,
        organizations,
        files,
        next_row_id,
        apps,
        ..
    } = state;
    let app = apps
        .get(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let mut env = WriteEnv {
        lang: ctx.lang,
        now: ctx.now,
        caller: &ctx.user,
        users,
        groups,
        organizations,
        files,
        next_row_id,
        app: app_id,
        record_id: id,
        others: &app.records,
        field_editable: &editable,
        key_prefix: prefix,
    };
    let values = fields::apply_input(&mut env, &props, None, input, WriteMode::Add)?;
    let minute = minute_of(ctx.now);
    let creator = entity_code(input, &props, "CREATOR")
        .filter(|c| users.iter().any(|u| &u.code == c))
        .unwrap_or_else(|| ctx.user.code.clone());
    let created_at = time_of(input, &props, "CREATED_TIME").unwrap_or(minute);
    let mut record = Record {
        id,
        revision: 1,
        values,
        status: None,
        assignees: Vec::new(),
        creator: creator.clone(),
        created_at,
        modifier: entity_code(input, &props, "MODIFIER").unwrap_or(creator),
        updated_at: time_of(input, &props, "UPDATED_TIME").unwrap_or(created_at),
        comments: Vec::new(),
        next_comment_id: 1,
    };
    let users = state.users.clone();
    let app = app_mut(state, app_id)?;
    process::start(app, &users, &mut record);
    app.records.insert(id, record);
    app.next_record_id = id + 1;
    Ok(id)
}

/// The field codes the caller may write, computed before the state is borrowed for writing.
fn editable_fields(
    app: &App,
    ctx: &Ctx,
    record: Option<&Record>,
    rights: RecordRights,
) -> std::collections::HashSet<String> {
    fields::all_field_codes(&app.live.properties)
        .into_iter()
        .filter(|code| perm::field_rights(app, &ctx.user, record, rights, code).editable)
        .collect()
}

fn minute_of(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    super::datetime::parse_datetime(&super::datetime::format_datetime(now)).unwrap_or(now)
}

/// The value given for a system field of type `t` (kintone lets an add set creator and times).
fn system_input<'a>(input: &'a Map<String, Value>, props: &Map<String, Value>, t: &str) -> Option<&'a Value> {
    let code = props
        .iter()
        .find(|(_, def)| fields::field_type(def) == t)
        .map(|(code, _)| code)?;
    input.get(code)?.get("value")
}

fn entity_code(input: &Map<String, Value>, props: &Map<String, Value>, t: &str) -> Option<String> {
    system_input(input, props, t)?
        .get("code")
        .and_then(Value::as_str)
        .map(String::from)
}

fn time_of(input: &Map<String, Value>, props: &Map<String, Value>, t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    system_input(input, props, t)
        .and_then(Value::as_str)
        .and_then(super::datetime::parse_datetime)
        .map(minute_of)
}

pub fn add_record(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let input = params.opt_object("record")?.unwrap_or_default();
    let id = insert_record(state, ctx, app_id, &input, "record".into())?;
    Ok(Reply::Json(json!({"id": id.to_string(), "revision": "1"})))
}

pub fn add_records(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let Some(items) = params.opt_array("records")? else {
        return Err(ApiError::required_param(ctx.lang, "records"));
    };
    if items.len() > MAX_WRITE {
        return Err(ApiError::field(
            ctx.lang,
            "records",
            ctx.lang.t(
                "一度に100件までのレコードを追加できます。",
                "A maximum of 100 records can be added at one time.",
            ),
        ));
    }
    find_app(state, ctx, app_id, false)?;
    let mut ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let input = item.as_object().ok_or_else(|| ApiError::invalid_json(ctx.lang))?;
        ids.push(insert_record(state, ctx, app_id, input, format!("records[{i}]"))?);
    }
    Ok(Reply::Json(json!({
        "ids": ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        "revisions": ids.iter().map(|_| "1").collect::<Vec<_>>(),
        "records": ids.iter().map(|id| json!({"id": id.to_string(), "revision": "1"})).collect::<Vec<_>>(),
    })))
}

/// Finds the record an update names: by `id`, or by `updateKey` on a unique field.
fn locate(app: &App, ctx: &Ctx, item: &Map<String, Value>, prefix: &str) -> ApiResult<Result<u64, (String, Value)>> {
    if let Some(id) = item.get("id").filter(|v| !v.is_null()) {
        let id = super::params::positive_id(id, &format!("{prefix}id"), ctx.lang)?;
        return if app.records.contains_key(&id) {
            Ok(Ok(id))
        } else {
            Err(ApiError::record_not_found(ctx.lang, id))
        };
    }
    let Some(key) = item.get("updateKey").and_then(Value::as_object) else {
        return Err(ApiError::required_param(ctx.lang, &format!("{prefix}id")));
    };
    let field = key.get("field").and_then(Value::as_str).unwrap_or_default();
    let value = key.get("value").cloned().unwrap_or(Value::Null);
    let unique = app.live.properties.get(field).is_some_and(|def| {
        def.get("unique").and_then(Value::as_bool).unwrap_or(false)
            && matches!(
                fields::field_type(def),
                "SINGLE_LINE_TEXT" | "NUMBER" | "LINK" | "DATE" | "DATETIME"
            )
    });
    if !unique {
        return Err(ApiError::field(
            ctx.lang,
            format!("{prefix}updateKey.field"),
            ctx.lang.t(
                "重複禁止が設定されたフィールドを指定してください。",
                "Specify a field that prohibits duplicate values.",
            ),
        ));
    }
    let wanted = match &value {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    };
    let found = app
        .records
        .values()
        .find(|r| r.values.get(field) == Some(&wanted))
        .map(|r| r.id);
    Ok(found.ok_or((field.to_string(), wanted)))
}

/// Updates one record in place; returns its new revision.
fn change_record(
    state: &mut State,
    ctx: &Ctx,
    app_id: u64,
    id: u64,
    revision: Option<i64>,
    input: &Map<String, Value>,
    prefix: String,
) -> ApiResult<u64> {
    let app = find_app(state, ctx, app_id, false)?;
    let record = app
        .records
        .get(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    let rights = perm::record_rights(app, &ctx.user, record, ctx.now);
    if !rights.editable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    check_revision(ctx, revision, record.revision)?;
    let editable_codes = editable_fields(app, ctx, Some(record), rights);
    let editable = |code: &str| editable_codes.contains(code);
    let props = app.live.properties.clone();
    let existing = record.values.clone();
    let State {
        users,
        groups,
        organizations,
        files,
        next_row_id,
        apps,
        ..
    } = state;
    let app = apps
        .get(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let mut env = WriteEnv {
        lang: ctx.lang,
        now: ctx.now,
        caller: &ctx.user,
        users,
        groups,
        organizations,
        files,
        next_row_id,
        app: app_id,
        record_id: id,
        others: &app.records,
        field_editable: &editable,
        key_prefix: prefix,
    };
    let values = fields::apply_input(&mut env, &props, Some(&existing), input, WriteMode::Update)?;
    let app = app_mut(state, app_id)?;
    let record = app
        .records
        .get_mut(&id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
    record.values = values;
    record.revision += 1;
    record.modifier = ctx.user.code.clone();
    record.updated_at = minute_of(ctx.now);
    Ok(record.revision)
}

pub fn check_revision(ctx: &Ctx, expected: Option<i64>, actual: u64) -> ApiResult<()> {
    match expected {
        None | Some(-1) => Ok(()),
        Some(n) if n == actual as i64 => Ok(()),
        Some(_) => Err(ApiError::stale_revision(ctx.lang)),
    }
}

pub fn update_record(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let app = find_app(state, ctx, app_id, false)?;
    let target = locate(app, ctx, &params.map, "")?;
    let id = match target {
        Ok(id) => id,
        Err((_, value)) => return Err(ApiError::record_not_found(ctx.lang, value.as_str().unwrap_or_default())),
    };
    let revision = params.opt_int("revision")?;
    let input = params.opt_object("record")?.unwrap_or_default();
    let revision = change_record(state, ctx, app_id, id, revision, &input, "record".into())?;
    Ok(Reply::Json(json!({"revision": revision.to_string()})))
}

pub fn update_records(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let upsert = params.opt_bool("upsert")?.unwrap_or(false);
    let Some(items) = params.opt_array("records")? else {
        return Err(ApiError::required_param(ctx.lang, "records"));
    };
    if items.len() > MAX_WRITE {
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
        let item = item.as_object().ok_or_else(|| ApiError::invalid_json(ctx.lang))?;
        let prefix = format!("records[{i}]");
        let app = find_app(state, ctx, app_id, false)?;
        let revision = item
            .get("revision")
            .filter(|v| !v.is_null())
            .map(|v| as_int(v).ok_or_else(|| ApiError::invalid_json(ctx.lang)))
            .transpose()?;
        let input = match item.get("record") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ApiError::invalid_json(ctx.lang)),
        };
        match locate(app, ctx, item, &format!("{prefix}."))? {
            Ok(id) => {
                let revision = change_record(state, ctx, app_id, id, revision, &input, prefix)?;
                let mut result = json!({"id": id.to_string(), "revision": revision.to_string()});
                if upsert {
                    result["operation"] = json!("UPDATE");
                }
                results.push(result);
            }
            Err((field, value)) if upsert => {
                // Upsert: the key that matched nothing becomes the new record's value.
                let mut input = input;
                input.insert(field, json!({"value": value}));
                let id = insert_record(state, ctx, app_id, &input, prefix)?;
                results.push(json!({"id": id.to_string(), "revision": "1", "operation": "INSERT"}));
            }
            Err((_, value)) => return Err(ApiError::record_not_found(ctx.lang, value.as_str().unwrap_or_default())),
        }
    }
    Ok(Reply::Json(json!({"records": results})))
}

pub fn delete_records(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let range_message = ctx.lang.t(
        "一度に1件から100件までのレコードを削除できます。",
        "Between 1 and 100 records can be deleted at one time.",
    );
    let required = ctx.lang.t("必須です。", "Required field.");
    let ids = params.opt_id_list("ids")?.unwrap_or_default();
    if ids.is_empty() {
        let messages = match ctx.lang {
            Lang::Ja => vec![required, range_message],
            Lang::En => vec![range_message, required],
        };
        return Err(ApiError::validation(
            ctx.lang,
            messages.into_iter().map(|m| ("ids".to_string(), m)).collect(),
        ));
    }
    if ids.len() > MAX_WRITE {
        return Err(ApiError::field(ctx.lang, "ids", range_message));
    }
    let revisions = params.opt_array("revisions")?;
    if let Some(revisions) = &revisions {
        if revisions.len() != ids.len() {
            return Err(ApiError::field(
                ctx.lang,
                "revisions",
                ctx.lang.t(
                    "idsとrevisionsの要素数が一致しません。",
                    "The number of ids and revisions must match.",
                ),
            ));
        }
    }
    let app = find_app(state, ctx, app_id, false)?;
    for (i, id) in ids.iter().enumerate() {
        let record = app
            .records
            .get(id)
            .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
        if !perm::record_rights(app, &ctx.user, record, ctx.now).deletable {
            return Err(ApiError::no_permission(ctx.lang));
        }
        let expected = revisions.as_ref().and_then(|r| r.get(i)).and_then(as_int);
        check_revision(ctx, expected, record.revision)?;
    }
    let app = app_mut(state, app_id)?;
    for id in &ids {
        app.records.remove(id);
    }
    state.files.retain(|_, f| {
        !f.owner
            .as_ref()
            .is_some_and(|o| o.app == app_id && ids.contains(&o.record))
    });
    Ok(Reply::Json(json!({})))
}

fn cursor_not_found(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "GAIA_CU01",
        lang.t(
            "指定したカーソルが見つかりません。",
            "The specified cursor does not exist.",
        ),
    )
}

fn uuid_like() -> String {
    let hex = random::hex_key::<16>();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub fn create_cursor(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let only = params.opt_string_list("fields")?;
    let query_text = params.opt_str("query")?.unwrap_or_default();
    let size = params.opt_int("size")?.unwrap_or(DEFAULT_LIMIT as i64);
    if !(1..=MAX_GET as i64).contains(&size) {
        return Err(ApiError::field(
            ctx.lang,
            "size",
            ctx.lang
                .t("1から500までの値を指定してください。", "must be between 1 and 500"),
        ));
    }
    let app = find_app(state, ctx, app_id, false)?;
    let parsed = query::parse(&query_text, ctx.lang)?;
    if parsed.limit.is_some() || parsed.offset.is_some() {
        return Err(ApiError::field(
            ctx.lang,
            "query",
            ctx.lang.t(
                "カーソルのクエリにはlimitとoffsetを指定できません。",
                "limit and offset cannot be used in a cursor query.",
            ),
        ));
    }
    query::validate(&parsed, &app.live.properties, ctx.lang)?;
    let ids = select(app, ctx, &parsed);
    let now = Instant::now();
    state.cursors.retain(|_, c| c.expires_at > now);
    if state.cursors.len() >= MAX_CURSORS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "GAIA_TM12",
            ctx.lang.t(
                "作成できるカーソルの上限に達しているため、カーソルを作成できません。不要なカーソルを削除するか、しばらく経ってから再実行してください。",
                "Cannot create a cursor because the number of cursors has reached the limit. Delete unnecessary cursors or try again later.",
            ),
        ));
    }
    let id = uuid_like();
    let total = ids.len();
    state.cursors.insert(
        id.clone(),
        Cursor {
            user: ctx.user.code.clone(),
            app: app_id,
            fields: only,
            record_ids: ids,
            position: 0,
            size: size as usize,
            expires_at: now + CURSOR_LIFETIME,
        },
    );
    Ok(Reply::Json(json!({"id": id, "totalCount": total.to_string()})))
}

pub fn get_cursor(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let id = params.str("id")?;
    let now = Instant::now();
    let cursor = state
        .cursors
        .get(&id)
        .filter(|c| c.expires_at > now && c.user == ctx.user.code)
        .cloned()
        .ok_or_else(|| cursor_not_found(ctx.lang))?;
    let app = find_app(state, ctx, cursor.app, false)?;
    let end = (cursor.position + cursor.size).min(cursor.record_ids.len());
    let page: Vec<Value> = cursor.record_ids[cursor.position..end]
        .iter()
        .filter_map(|rid| app.records.get(rid))
        .map(|r| {
            let rights = perm::record_rights(app, &ctx.user, r, ctx.now);
            render_for(state, app, ctx, r, rights, cursor.fields.as_deref())
        })
        .collect();
    let next = end < cursor.record_ids.len();
    if next {
        if let Some(c) = state.cursors.get_mut(&id) {
            c.position = end;
            c.expires_at = now + CURSOR_LIFETIME;
        }
    } else {
        state.cursors.remove(&id);
    }
    Ok(Reply::Json(json!({"records": page, "next": next})))
}

pub fn delete_cursor(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let id = params.str("id")?;
    let owned = state
        .cursors
        .get(&id)
        .is_some_and(|c| c.user == ctx.user.code && c.expires_at > Instant::now());
    if !owned {
        return Err(cursor_not_found(ctx.lang));
    }
    state.cursors.remove(&id);
    Ok(Reply::Json(json!({})))
}

pub fn evaluate_acl(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let Some(ids) = params.opt_id_list("ids")? else {
        return Err(ApiError::required_param(ctx.lang, "ids"));
    };
    if ids.len() > MAX_WRITE {
        return Err(ApiError::field(
            ctx.lang,
            "ids",
            ctx.lang.t("100件以下で指定してください。", "Specify 100 or fewer ids."),
        ));
    }
    let app = find_app(state, ctx, app_id, false)?;
    let codes = fields::all_field_codes(&app.live.properties);
    let mut rights = Vec::new();
    for id in ids {
        let record = app
            .records
            .get(&id)
            .ok_or_else(|| ApiError::record_not_found(ctx.lang, id))?;
        let r = perm::record_rights(app, &ctx.user, record, ctx.now);
        let mut field_rights = Map::new();
        for code in &codes {
            let f = perm::field_rights(app, &ctx.user, Some(record), r, code);
            field_rights.insert(code.clone(), json!({"viewable": f.viewable, "editable": f.editable}));
        }
        rights.push(json!({
            "id": id.to_string(),
            "record": {"viewable": r.viewable, "editable": r.editable, "deletable": r.deletable},
            "fields": field_rights,
        }));
    }
    Ok(Reply::Json(json!({"rights": rights})))
}
