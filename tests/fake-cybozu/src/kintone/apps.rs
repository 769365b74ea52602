//! App and settings APIs: app and apps, adding an app, form fields and layout, the other
//! settings (views, general settings, process management, graphs, customization, actions,
//! permissions, notifications) in their live and pre-live versions, and deploy with its status.
//!
//! Writes go to the pre-live settings only; deploy copies them to live. The fake applies a
//! deploy at once but reports PROCESSING for the first status polls, so clients must poll.

use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use super::fields::{self, field_type};
use super::params::{as_int, Params};
use super::records::check_revision;
use super::{check_space, find_app, perm, process, Ctx, Reply};
use crate::random;
use crate::state::{App, DeployState, DeployStatus, FileOwner, Settings, State};

pub const MAX_APPS_PER_PAGE: i64 = 100;
pub const MAX_DEPLOY_APPS: usize = 300;

/// The settings resources that share one shape: a few top-level keys plus `revision`.
pub struct SettingKind {
    pub resource: &'static str,
    /// Reading needs app management rights (permissions, customization, notifications).
    pub admin_only: bool,
}

pub const SETTING_KINDS: &[SettingKind] = &[
    SettingKind {
        resource: "app/views",
        admin_only: false,
    },
    SettingKind {
        resource: "app/settings",
        admin_only: false,
    },
    SettingKind {
        resource: "app/status",
        admin_only: false,
    },
    SettingKind {
        resource: "app/reports",
        admin_only: false,
    },
    SettingKind {
        resource: "app/actions",
        admin_only: false,
    },
    SettingKind {
        resource: "app/customize",
        admin_only: true,
    },
    SettingKind {
        resource: "app/acl",
        admin_only: true,
    },
    SettingKind {
        resource: "record/acl",
        admin_only: true,
    },
    SettingKind {
        resource: "field/acl",
        admin_only: true,
    },
    SettingKind {
        resource: "app/notifications/general",
        admin_only: true,
    },
    SettingKind {
        resource: "app/notifications/perRecord",
        admin_only: true,
    },
    SettingKind {
        resource: "app/notifications/reminder",
        admin_only: true,
    },
];

fn user_ref(state: &State, code: &str) -> Value {
    json!({"code": code, "name": state.user_name(code)})
}

fn app_summary(state: &State, app: &App) -> Value {
    json!({
        "appId": app.id.to_string(),
        "code": app.code,
        "name": app.name,
        "description": app.description,
        "spaceId": app.space_id.map(|s| s.to_string()),
        "threadId": app.thread_id.map(|t| t.to_string()),
        "createdAt": super::datetime::format_datetime(app.created_at),
        "creator": user_ref(state, &app.creator),
        "modifiedAt": super::datetime::format_datetime(app.modified_at),
        "modifier": user_ref(state, &app.modifier),
    })
}

fn require_visible(app: &App, ctx: &Ctx) -> ApiResult<()> {
    if perm::can_see_app(app, &ctx.user) {
        Ok(())
    } else {
        Err(ApiError::no_permission(ctx.lang))
    }
}

fn require_admin(app: &App, ctx: &Ctx) -> ApiResult<()> {
    if perm::app_rights(app, &ctx.user, None).app_editable {
        Ok(())
    } else {
        Err(ApiError::no_permission(ctx.lang))
    }
}

pub fn get_app(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    // Get app takes `id`, not `app`.
    let id = params.id("id")?;
    let app = find_app(state, ctx, id, false)?;
    require_visible(app, ctx)?;
    Ok(Reply::Json(app_summary(state, app)))
}

pub fn get_apps(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let ids = params.opt_id_list("ids")?;
    let codes = params.opt_string_list("codes")?;
    let name = params.opt_str("name")?.map(|n| n.to_lowercase());
    let space_ids = params.opt_id_list("spaceIds")?;
    let limit = params.opt_int("limit")?.unwrap_or(MAX_APPS_PER_PAGE);
    let offset = params.opt_int("offset")?.unwrap_or(0);
    for (key, list_len) in [
        ("ids", ids.as_ref().map(Vec::len)),
        ("codes", codes.as_ref().map(Vec::len)),
        ("spaceIds", space_ids.as_ref().map(Vec::len)),
    ] {
        if list_len.unwrap_or(0) > 100 {
            return Err(ApiError::field(
                ctx.lang,
                key,
                ctx.lang
                    .t("最大でも100件です。", "A maximum of 100 values can be specified."),
            ));
        }
    }
    if !(1..=MAX_APPS_PER_PAGE).contains(&limit) {
        return Err(ApiError::field(
            ctx.lang,
            "limit",
            ctx.lang
                .t("1以上100以下である必要があります。", "must be between 1 and 100"),
        ));
    }
    if offset < 0 {
        return Err(ApiError::field(
            ctx.lang,
            "offset",
            ctx.lang.t("最小でも0以上です。", "must be greater than or equal to 0"),
        ));
    }
    let apps: Vec<Value> = state
        .apps
        .values()
        .filter(|app| app.deployed)
        .filter(|app| match ctx.guest_space {
            Some(space) => app.space_id == Some(space),
            None => true,
        })
        .filter(|app| {
            let space_ok = app
                .space_id
                .and_then(|id| state.space(id))
                .is_none_or(|s| s.members.contains(&ctx.user.code));
            space_ok && perm::can_see_app(app, &ctx.user)
        })
        .filter(|app| ids.as_ref().is_none_or(|ids| ids.contains(&app.id)))
        .filter(|app| codes.as_ref().is_none_or(|codes| codes.contains(&app.code)))
        .filter(|app| name.as_ref().is_none_or(|n| app.name.to_lowercase().contains(n)))
        .filter(|app| {
            space_ids
                .as_ref()
                .is_none_or(|s| app.space_id.is_some_and(|id| s.contains(&id)))
        })
        .skip(offset as usize)
        .take(limit as usize)
        .map(|app| app_summary(state, app))
        .collect();
    Ok(Reply::Json(json!({"apps": apps})))
}

/// The system fields every new app has, with kintone's Japanese default codes.
pub fn system_properties() -> Map<String, Value> {
    let mut props = Map::new();
    for (code, t) in [
        ("レコード番号", "RECORD_NUMBER"),
        ("作成者", "CREATOR"),
        ("作成日時", "CREATED_TIME"),
        ("更新者", "MODIFIER"),
        ("更新日時", "UPDATED_TIME"),
        ("ステータス", "STATUS"),
        ("作業者", "STATUS_ASSIGNEE"),
        ("カテゴリー", "CATEGORY"),
    ] {
        if let Ok(def) = fields::normalize_definition(code, &json!({"type": t})) {
            props.insert(code.to_string(), def);
        }
    }
    props
}

pub fn add_app(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let name = params.str("name")?;
    if name.trim().is_empty() {
        return Err(ApiError::required_param(ctx.lang, "name"));
    }
    if name.chars().count() > 64 {
        return Err(ApiError::field(
            ctx.lang,
            "name",
            ctx.lang
                .t("65文字より短くなければなりません。", "Enter less than 65 characters."),
        ));
    }
    let space = params.opt_id("space")?;
    let thread = params.opt_id("thread")?;
    if let Some(space_id) = space {
        let member = state
            .space(space_id)
            .is_some_and(|s| s.members.contains(&ctx.user.code));
        let path_ok = match (ctx.guest_space, state.space(space_id)) {
            (Some(g), Some(s)) => s.is_guest && s.id == g,
            (None, Some(s)) => !s.is_guest,
            _ => false,
        };
        if !member || !path_ok {
            return Err(ApiError::no_permission(ctx.lang));
        }
    } else if ctx.guest_space.is_some() {
        return Err(ApiError::no_permission(ctx.lang));
    }
    let id = state.next_app_id;
    state.next_app_id += 1;
    let props = system_properties();
    let settings = Settings {
        revision: 1,
        layout: default_layout(&props),
        properties: props,
        views: json!({}),
        general: default_general(&name, ""),
        status: serde_json::from_value(json!({"enable": false, "states": null, "actions": null})).unwrap_or_default(),
        reports: json!({}),
        customize: serde_json::from_value(
            json!({"scope": "ALL", "desktop": {"js": [], "css": []}, "mobile": {"js": [], "css": []}}),
        )
        .unwrap_or_default(),
        actions: json!({}),
        app_acl: json!([
            {"entity": {"type": "USER", "code": ctx.user.code}, "includeSubs": false, "appEditable": true, "recordViewable": true, "recordAddable": true, "recordEditable": true, "recordDeletable": true, "recordImportable": true, "recordExportable": true},
            {"entity": {"type": "GROUP", "code": "everyone"}, "includeSubs": false, "appEditable": false, "recordViewable": true, "recordAddable": true, "recordEditable": true, "recordDeletable": true, "recordImportable": false, "recordExportable": false}
        ]),
        record_acl: json!([]),
        field_acl: json!([]),
        notifications_general: serde_json::from_value(json!({"notifications": [], "notifyToCommenter": true}))
            .unwrap_or_default(),
        notifications_per_record: json!([]),
        notifications_reminder: serde_json::from_value(json!({"notifications": [], "timezone": "Asia/Tokyo"}))
            .unwrap_or_default(),
    };
    state.apps.insert(
        id,
        App {
            id,
            code: String::new(),
            name,
            description: String::new(),
            space_id: space,
            thread_id: thread.or(space),
            creator: ctx.user.code.clone(),
            created_at: ctx.now,
            modifier: ctx.user.code.clone(),
            modified_at: ctx.now,
            deployed: false,
            live: settings.clone(),
            preview: settings,
            deploy: None,
            records: Default::default(),
            next_record_id: 1,
        },
    );
    Ok(Reply::Json(json!({"app": id.to_string(), "revision": "1"})))
}

pub fn default_general(name: &str, description: &str) -> Map<String, Value> {
    serde_json::from_value(json!({
        "name": name,
        "description": description,
        "icon": {"type": "PRESET", "key": "APP72"},
        "theme": "WHITE",
        "titleField": {"selectionMode": "AUTO", "code": ""},
        "enableThumbnails": true,
        "enableBulkDeletion": false,
        "enableComments": true,
        "enableDuplicateRecord": true,
        "enableInlineRecordEditing": true,
        "numberPrecision": {"digits": "16", "decimalPlaces": "4", "roundingMode": "HALF_EVEN"},
        "firstMonthOfFiscalYear": "4",
    }))
    .unwrap_or_default()
}

/// One row per field in code order; subtables and groups as their own layout elements.
pub fn default_layout(props: &Map<String, Value>) -> Value {
    let mut rows = Vec::new();
    for (code, def) in props {
        if let Some(row) = layout_row(code, def) {
            rows.push(row);
        }
    }
    Value::Array(rows)
}

fn layout_row(code: &str, def: &Value) -> Option<Value> {
    let t = field_type(def);
    // kintone keeps system fields out of the form layout.
    if fields::SYSTEM_TYPES.contains(&t) {
        return None;
    }
    Some(match t {
        "SUBTABLE" => {
            let inner = def
                .get("fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            json!({
                "type": "SUBTABLE",
                "code": code,
                "fields": inner.iter().map(|(c, d)| json!({"type": field_type(d), "code": c, "size": {"width": "193"}})).collect::<Vec<_>>(),
            })
        }
        "GROUP" => json!({"type": "GROUP", "code": code, "layout": []}),
        _ => json!({"type": "ROW", "fields": [{"type": t, "code": code, "size": {"width": "193"}}]}),
    })
}

fn settings<'a>(app: &'a App, ctx: &Ctx) -> &'a Settings {
    if ctx.preview {
        &app.preview
    } else {
        &app.live
    }
}

/// The app a settings API names, with the caller's rights checked: pre-live settings and the
/// admin-only kinds need app management rights, live reads need the app to be visible.
fn settings_app<'a>(state: &'a State, ctx: &Ctx, params: &Params, admin: bool) -> ApiResult<&'a App> {
    let app_id = params.id("app")?;
    let app = find_app(state, ctx, app_id, ctx.preview)?;
    if admin || ctx.preview {
        require_admin(app, ctx)?;
    } else {
        require_visible(app, ctx)?;
    }
    Ok(app)
}

fn with_revision(mut body: Map<String, Value>, revision: u64) -> Reply {
    body.insert("revision".into(), json!(revision.to_string()));
    Reply::Json(Value::Object(body))
}

pub fn get_fields(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app = settings_app(state, ctx, params, false)?;
    let s = settings(app, ctx);
    let mut body = Map::new();
    body.insert("properties".into(), Value::Object(s.properties.clone()));
    Ok(with_revision(body, s.revision))
}

pub fn get_layout(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app = settings_app(state, ctx, params, false)?;
    let s = settings(app, ctx);
    let mut body = Map::new();
    body.insert("layout".into(), s.layout.clone());
    Ok(with_revision(body, s.revision))
}

/// Starts a pre-live write: rights, `revision` check; returns the app id.
fn begin_write(state: &State, ctx: &Ctx, params: &Params) -> ApiResult<u64> {
    let app = settings_app(state, ctx, params, true)?;
    check_revision(ctx, params.opt_int("revision")?, app.preview.revision)?;
    Ok(app.id)
}

fn finish_write(state: &mut State, ctx: &Ctx, app_id: u64) -> ApiResult<u64> {
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    app.preview.revision += 1;
    app.modifier = ctx.user.code.clone();
    app.modified_at = ctx.now;
    Ok(app.preview.revision)
}

fn revision_reply(revision: u64) -> Reply {
    Reply::Json(json!({"revision": revision.to_string()}))
}

fn properties_param(ctx: &Ctx, params: &Params) -> ApiResult<Map<String, Value>> {
    params
        .opt_object("properties")?
        .ok_or_else(|| ApiError::required_param(ctx.lang, "properties"))
}

fn definition_error(ctx: &Ctx, code: &str, message: String) -> ApiError {
    ApiError::field(ctx.lang, format!("properties[{code}]"), message)
}

/// Every code in use, including those inside subtables: field codes are unique app-wide.
fn codes_in_use(props: &Map<String, Value>) -> Vec<String> {
    fields::all_field_codes(props)
}

pub fn add_fields(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = begin_write(state, ctx, params)?;
    let input = properties_param(ctx, params)?;
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    for (code, def) in &input {
        let mut in_use = codes_in_use(&app.preview.properties);
        let normalized = fields::normalize_definition(code, def).map_err(|m| definition_error(ctx, code, m))?;
        let t = field_type(&normalized);
        if fields::SYSTEM_TYPES.contains(&t) {
            return Err(definition_error(
                ctx,
                code,
                ctx.lang.t(
                    format!("{t}フィールドは追加できません。"),
                    format!("A {t} field cannot be added."),
                ),
            ));
        }
        in_use.retain(|c| !c.is_empty());
        let mut new_codes = vec![code.clone()];
        if let Some(inner) = normalized.get("fields").and_then(Value::as_object) {
            new_codes.extend(inner.keys().cloned());
        }
        if let Some(taken) = new_codes.iter().find(|c| in_use.contains(c)) {
            return Err(ApiError::field(
                ctx.lang,
                format!("properties[{code}].code"),
                ctx.lang.t(
                    format!("フィールドコード「{taken}」は重複しています。"),
                    format!("The field code \"{taken}\" is already in use."),
                ),
            ));
        }
        if let Some(row) = layout_row(code, &normalized) {
            if let Some(layout) = app.preview.layout.as_array_mut() {
                layout.push(row);
            }
        }
        app.preview.properties.insert(code.clone(), normalized);
    }
    Ok(revision_reply(finish_write(state, ctx, app_id)?))
}

pub fn update_fields(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = begin_write(state, ctx, params)?;
    let input = properties_param(ctx, params)?;
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    for (code, changes) in &input {
        let Some(existing) = app.preview.properties.get(code).cloned() else {
            return Err(definition_error(
                ctx,
                code,
                ctx.lang.t(
                    format!("フィールド「{code}」が見つかりません。"),
                    format!("The field \"{code}\" is not found."),
                ),
            ));
        };
        let Some(changes) = changes.as_object() else {
            return Err(ApiError::invalid_json(ctx.lang));
        };
        let mut merged = existing.as_object().cloned().unwrap_or_default();
        if let Some(t) = changes.get("type").and_then(Value::as_str) {
            if t != field_type(&existing) {
                return Err(definition_error(
                    ctx,
                    code,
                    ctx.lang.t(
                        "フィールドの種類は変更できません。",
                        "The field type cannot be changed.",
                    ),
                ));
            }
        }
        for (key, value) in changes {
            merged.insert(key.clone(), value.clone());
        }
        let new_code = merged.get("code").and_then(Value::as_str).unwrap_or(code).to_string();
        if new_code != *code && codes_in_use(&app.preview.properties).contains(&new_code) {
            return Err(ApiError::field(
                ctx.lang,
                format!("properties[{code}].code"),
                ctx.lang.t(
                    format!("フィールドコード「{new_code}」は重複しています。"),
                    format!("The field code \"{new_code}\" is already in use."),
                ),
            ));
        }
        let normalized = fields::normalize_definition(&new_code, &Value::Object(merged))
            .map_err(|m| definition_error(ctx, code, m))?;
        app.preview.properties.remove(code);
        app.preview.properties.insert(new_code.clone(), normalized);
        if new_code != *code {
            rename_in_layout(&mut app.preview.layout, code, &new_code);
        }
    }
    Ok(revision_reply(finish_write(state, ctx, app_id)?))
}

fn rename_in_layout(layout: &mut Value, from: &str, to: &str) {
    match layout {
        Value::Array(items) => items.iter_mut().for_each(|i| rename_in_layout(i, from, to)),
        Value::Object(map) => {
            if map.get("code").and_then(Value::as_str) == Some(from) {
                map.insert("code".into(), json!(to));
            }
            for key in ["fields", "layout"] {
                if let Some(child) = map.get_mut(key) {
                    rename_in_layout(child, from, to);
                }
            }
        }
        _ => {}
    }
}

fn remove_from_layout(layout: &mut Value, codes: &[String]) {
    let Some(items) = layout.as_array_mut() else { return };
    items.retain(|item| {
        !item
            .get("code")
            .and_then(Value::as_str)
            .is_some_and(|c| codes.iter().any(|x| x == c))
    });
    for item in items.iter_mut() {
        if let Some(fields) = item.get_mut("fields").and_then(Value::as_array_mut) {
            fields.retain(|f| {
                !f.get("code")
                    .and_then(Value::as_str)
                    .is_some_and(|c| codes.iter().any(|x| x == c))
            });
        }
        if let Some(inner) = item.get_mut("layout") {
            remove_from_layout(inner, codes);
        }
    }
    items.retain(|item| {
        item.get("type").and_then(Value::as_str) != Some("ROW")
            || item
                .get("fields")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
    });
}

pub fn delete_fields(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = begin_write(state, ctx, params)?;
    let codes = params.opt_string_list("fields")?.unwrap_or_default();
    if codes.is_empty() {
        return Err(ApiError::required_param(ctx.lang, "fields"));
    }
    if codes.len() > 100 {
        return Err(ApiError::field(
            ctx.lang,
            "fields",
            ctx.lang.t(
                "一度に100個までのフィールドを削除できます。",
                "A maximum of 100 fields can be deleted at one time.",
            ),
        ));
    }
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    for (i, code) in codes.iter().enumerate() {
        let Some(def) = app.preview.properties.get(code) else {
            return Err(ApiError::field(
                ctx.lang,
                format!("fields[{i}]"),
                ctx.lang.t(
                    format!("フィールド「{code}」が見つかりません。"),
                    format!("The field \"{code}\" is not found."),
                ),
            ));
        };
        if fields::SYSTEM_TYPES.contains(&field_type(def)) {
            return Err(ApiError::field(
                ctx.lang,
                format!("fields[{i}]"),
                ctx.lang
                    .t("このフィールドは削除できません。", "This field cannot be deleted."),
            ));
        }
        app.preview.properties.remove(code);
    }
    remove_from_layout(&mut app.preview.layout, &codes);
    Ok(revision_reply(finish_write(state, ctx, app_id)?))
}

fn layout_codes(layout: &Value, out: &mut Vec<String>) {
    match layout {
        Value::Array(items) => items.iter().for_each(|i| layout_codes(i, out)),
        Value::Object(map) => {
            let t = map.get("type").and_then(Value::as_str).unwrap_or_default();
            if let Some(code) = map.get("code").and_then(Value::as_str) {
                if !matches!(t, "ROW" | "LABEL" | "SPACER" | "HR") && !code.is_empty() {
                    out.push(code.to_string());
                }
            }
            for key in ["fields", "layout"] {
                if let Some(child) = map.get(key) {
                    layout_codes(child, out);
                }
            }
        }
        _ => {}
    }
}

pub fn update_layout(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = begin_write(state, ctx, params)?;
    let Some(layout) = params.opt_array("layout")? else {
        return Err(ApiError::required_param(ctx.lang, "layout"));
    };
    let layout = Value::Array(layout);
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let mut codes = Vec::new();
    layout_codes(&layout, &mut codes);
    let known = codes_in_use(&app.preview.properties);
    if let Some(unknown) = codes.iter().find(|c| !known.contains(c)) {
        return Err(ApiError::field(
            ctx.lang,
            "layout",
            ctx.lang.t(
                format!("フィールド「{unknown}」が見つかりません。"),
                format!("The field \"{unknown}\" is not found."),
            ),
        ));
    }
    app.preview.layout = layout;
    Ok(revision_reply(finish_write(state, ctx, app_id)?))
}

fn kind(resource: &str) -> Option<&'static SettingKind> {
    SETTING_KINDS.iter().find(|k| k.resource == resource)
}

/// The response body of a settings kind, without `revision`.
fn read_setting(s: &Settings, resource: &str) -> Map<String, Value> {
    let single = |key: &str, value: &Value| {
        let mut m = Map::new();
        m.insert(key.to_string(), value.clone());
        m
    };
    match resource {
        "app/views" => single("views", &s.views),
        "app/settings" => s.general.clone(),
        "app/status" => s.status.clone(),
        "app/reports" => single("reports", &s.reports),
        "app/actions" => single("actions", &s.actions),
        "app/customize" => s.customize.clone(),
        "app/acl" => single("rights", &s.app_acl),
        "record/acl" => single("rights", &s.record_acl),
        "field/acl" => single("rights", &s.field_acl),
        "app/notifications/general" => s.notifications_general.clone(),
        "app/notifications/perRecord" => single("notifications", &s.notifications_per_record),
        _ => s.notifications_reminder.clone(),
    }
}

pub fn get_setting(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let kind = kind(&ctx.resource).ok_or_else(|| ApiError::unsupported("GET", &ctx.resource))?;
    let app = settings_app(state, ctx, params, kind.admin_only)?;
    let s = settings(app, ctx);
    Ok(with_revision(read_setting(s, kind.resource), s.revision))
}

fn expect<'a>(ctx: &Ctx, params: &'a Params, key: &str, check: fn(&Value) -> bool) -> ApiResult<Option<&'a Value>> {
    match params.get(key) {
        None => Ok(None),
        Some(v) if check(v) => Ok(Some(v)),
        Some(_) => Err(ApiError::field(
            ctx.lang,
            key,
            ctx.lang
                .t("値の形式が正しくありません。", "The value has the wrong type."),
        )),
    }
}

pub fn update_setting(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let kind = kind(&ctx.resource).ok_or_else(|| ApiError::unsupported("PUT", &ctx.resource))?;
    let app_id = begin_write(state, ctx, params)?;
    let lang = ctx.lang;
    let mut extra = Map::new();
    let app = state
        .apps
        .get(&app_id)
        .ok_or_else(|| ApiError::app_not_found(lang, app_id))?;
    let mut s = app.preview.clone();
    match kind.resource {
        "app/views" => {
            let views = expect(ctx, params, "views", Value::is_object)?
                .ok_or_else(|| ApiError::required_param(lang, "views"))?;
            let mut views = views.as_object().cloned().unwrap_or_default();
            let mut ids = Map::new();
            let mut next_id = 6_000_000 + app_id * 100;
            for (name, view) in views.iter_mut() {
                let Some(view) = view.as_object_mut() else {
                    return Err(ApiError::invalid_json(lang));
                };
                let id = match view.get("id").and_then(as_int) {
                    Some(id) => id.to_string(),
                    None => {
                        next_id += 1;
                        next_id.to_string()
                    }
                };
                view.insert("id".into(), json!(id));
                view.insert("name".into(), json!(name));
                ids.insert(name.clone(), json!({"id": id}));
            }
            s.views = Value::Object(views);
            extra.insert("views".into(), Value::Object(ids));
        }
        "app/settings" => {
            const KEYS: &[&str] = &[
                "name",
                "description",
                "icon",
                "theme",
                "titleField",
                "enableThumbnails",
                "enableBulkDeletion",
                "enableComments",
                "enableDuplicateRecord",
                "enableInlineRecordEditing",
                "numberPrecision",
                "firstMonthOfFiscalYear",
            ];
            if let Some(name) = params.get("name") {
                let name = name.as_str().ok_or_else(|| ApiError::invalid_json(lang))?;
                if name.trim().is_empty() || name.chars().count() > 64 {
                    return Err(ApiError::field(
                        lang,
                        "name",
                        lang.t("1文字以上64文字以下で指定してください。", "Enter 1 to 64 characters."),
                    ));
                }
            }
            for key in KEYS {
                if let Some(value) = params.get(key) {
                    s.general.insert((*key).into(), value.clone());
                }
            }
        }
        "app/status" => {
            expect(ctx, params, "enable", Value::is_boolean)?;
            expect(ctx, params, "states", |v| v.is_object() || v.is_null())?;
            expect(ctx, params, "actions", |v| v.is_array() || v.is_null())?;
            for key in ["enable", "states", "actions"] {
                if let Some(value) = params.map.get(key) {
                    s.status.insert(key.into(), value.clone());
                }
            }
            let enabled = s.status.get("enable").and_then(Value::as_bool).unwrap_or(false);
            for def in s.properties.values_mut() {
                if matches!(field_type(def), "STATUS" | "STATUS_ASSIGNEE") {
                    def["enabled"] = json!(enabled);
                }
            }
        }
        "app/reports" | "app/actions" => {
            let key = if kind.resource == "app/reports" {
                "reports"
            } else {
                "actions"
            };
            let value =
                expect(ctx, params, key, Value::is_object)?.ok_or_else(|| ApiError::required_param(lang, key))?;
            if key == "reports" {
                s.reports = value.clone()
            } else {
                s.actions = value.clone()
            }
        }
        "app/customize" => {
            if let Some(scope) = params.get("scope") {
                if !matches!(scope.as_str(), Some("ALL" | "ADMIN" | "NONE")) {
                    return Err(ApiError::field(
                        lang,
                        "scope",
                        lang.t(
                            "Enum値のいずれかでなければなりません。",
                            "must be one of the enum value",
                        ),
                    ));
                }
                s.customize.insert("scope".into(), scope.clone());
            }
            for platform in ["desktop", "mobile"] {
                let Some(value) = expect(ctx, params, platform, Value::is_object)? else {
                    continue;
                };
                let mut resolved = Map::new();
                for list in ["js", "css"] {
                    let items = value.get(list).and_then(Value::as_array).cloned().unwrap_or_default();
                    let mut out = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        out.push(customize_item(
                            state,
                            ctx,
                            app_id,
                            item,
                            &format!("{platform}.{list}[{i}]"),
                        )?);
                    }
                    resolved.insert(list.into(), Value::Array(out));
                }
                s.customize.insert(platform.into(), Value::Object(resolved));
            }
        }
        "app/acl" | "record/acl" | "field/acl" => {
            let rights = expect(ctx, params, "rights", Value::is_array)?
                .ok_or_else(|| ApiError::required_param(lang, "rights"))?;
            match kind.resource {
                "app/acl" => s.app_acl = rights.clone(),
                "record/acl" => s.record_acl = rights.clone(),
                _ => s.field_acl = rights.clone(),
            }
        }
        "app/notifications/perRecord" => {
            let list = expect(ctx, params, "notifications", Value::is_array)?
                .ok_or_else(|| ApiError::required_param(lang, "notifications"))?;
            s.notifications_per_record = list.clone();
        }
        resource => {
            expect(ctx, params, "notifications", Value::is_array)?;
            let target = if resource == "app/notifications/general" {
                &mut s.notifications_general
            } else {
                &mut s.notifications_reminder
            };
            for key in ["notifications", "notifyToCommenter", "timezone"] {
                if let Some(value) = params.get(key) {
                    target.insert(key.into(), value.clone());
                }
            }
        }
    }
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(lang, app_id))?;
    let revision = s.revision;
    app.preview = s;
    app.preview.revision = revision;
    let revision = finish_write(state, ctx, app_id)?;
    extra.insert("revision".into(), json!(revision.to_string()));
    Ok(Reply::Json(Value::Object(extra)))
}

/// A customization item: a URL, or an uploaded file that the app now keeps.
fn customize_item(state: &mut State, ctx: &Ctx, app_id: u64, item: &Value, key: &str) -> ApiResult<Value> {
    let lang = ctx.lang;
    match item.get("type").and_then(Value::as_str) {
        Some("URL") => {
            let url = item
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("https://"));
            let url = url.ok_or_else(|| {
                ApiError::field(
                    lang,
                    format!("{key}.url"),
                    lang.t(
                        "https:// で始まるURLを指定してください。",
                        "Specify a URL that starts with https://.",
                    ),
                )
            })?;
            Ok(json!({"type": "URL", "url": url}))
        }
        Some("FILE") => {
            let file_key = item
                .pointer("/file/fileKey")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::required_param(lang, &format!("{key}.file.fileKey")))?;
            let file = match state.files.get(file_key) {
                Some(f) if f.owner.is_none() => state.files.remove(file_key),
                // Keeping a file the app already has: its key is a download key of this app.
                Some(f) if f.owner.as_ref().is_some_and(|o| o.app == app_id && o.record == 0) => {
                    let f = f.clone();
                    return Ok(
                        json!({"type": "FILE", "file": {"contentType": f.content_type, "fileKey": file_key, "name": f.name, "size": f.data.len().to_string()}}),
                    );
                }
                _ => None,
            };
            let mut file = file.ok_or_else(|| ApiError::file_not_found(lang, file_key))?;
            file.owner = Some(FileOwner { app: app_id, record: 0 });
            let new_key = random::hex_key::<24>();
            let body = json!({"type": "FILE", "file": {"contentType": file.content_type, "fileKey": new_key, "name": file.name, "size": file.data.len().to_string()}});
            state.files.insert(new_key, file);
            Ok(body)
        }
        _ => Err(ApiError::field(
            lang,
            format!("{key}.type"),
            lang.t(
                "Enum値のいずれかでなければなりません。",
                "must be one of the enum value",
            ),
        )),
    }
}

/// Whether existing records satisfy the pre-live settings (unique values, max lengths):
/// kintone fails a deploy that would break them.
fn data_fits(app: &App) -> bool {
    for (code, def) in &app.preview.properties {
        let t = field_type(def);
        if def.get("unique").and_then(Value::as_bool).unwrap_or(false) {
            let mut seen = std::collections::HashSet::new();
            for record in app.records.values() {
                if let Some(value) = record.values.get(code).filter(|v| !fields::is_empty_value(v)) {
                    if !seen.insert(value.to_string()) {
                        return false;
                    }
                }
            }
        }
        if matches!(t, "SINGLE_LINE_TEXT" | "MULTI_LINE_TEXT" | "LINK") {
            let max = def.get("maxLength").and_then(as_int);
            if let Some(max) = max {
                let too_long = app.records.values().any(|r| {
                    r.values
                        .get(code)
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.chars().count() as i64 > max)
                });
                if too_long {
                    return false;
                }
            }
        }
    }
    true
}

pub fn deploy(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let Some(items) = params.opt_array("apps")? else {
        return Err(ApiError::required_param(ctx.lang, "apps"));
    };
    if items.is_empty() {
        return Err(ApiError::required_param(ctx.lang, "apps"));
    }
    if items.len() > MAX_DEPLOY_APPS {
        return Err(ApiError::field(
            ctx.lang,
            "apps",
            ctx.lang.t(
                "一度に300個までのアプリを指定できます。",
                "A maximum of 300 apps can be specified.",
            ),
        ));
    }
    let revert = params.opt_bool("revert")?.unwrap_or(false);
    let mut targets = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let app_value = item
            .get("app")
            .ok_or_else(|| ApiError::required_param(ctx.lang, &format!("apps[{i}].app")))?;
        let app_id = super::params::positive_id(app_value, &format!("apps[{i}].app"), ctx.lang)?;
        let app = state
            .apps
            .get(&app_id)
            .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
        check_space(state, ctx, app)?;
        require_admin(app, ctx)?;
        check_revision(ctx, item.get("revision").and_then(as_int), app.preview.revision)?;
        targets.push(app_id);
    }
    let polls = state.deploy_processing_polls;
    let failed = !revert
        && targets
            .iter()
            .any(|id| state.apps.get(id).is_some_and(|a| !data_fits(a)));
    let users = state.users.clone();
    for id in &targets {
        let Some(app) = state.apps.get_mut(id) else { continue };
        let outcome = if failed {
            if data_fits(app) {
                DeployStatus::Cancel
            } else {
                DeployStatus::Fail
            }
        } else if revert {
            app.preview = app.live.clone();
            DeployStatus::Success
        } else {
            app.live = app.preview.clone();
            app.deployed = true;
            if let Some(name) = app.live.general.get("name").and_then(Value::as_str) {
                app.name = name.to_string();
            }
            if let Some(description) = app.live.general.get("description").and_then(Value::as_str) {
                app.description = description.to_string();
            }
            sync_process_state(app, &users);
            DeployStatus::Success
        };
        app.deploy = Some(DeployState {
            outcome,
            processing_polls_left: polls,
        });
    }
    Ok(Reply::Json(json!({})))
}

/// Turning process management on puts every record in the first status; off clears it.
fn sync_process_state(app: &mut App, users: &[crate::state::User]) {
    let enabled = app.live.status.get("enable").and_then(Value::as_bool).unwrap_or(false);
    let ids: Vec<u64> = app.records.keys().copied().collect();
    for id in ids {
        let Some(mut record) = app.records.get(&id).cloned() else {
            continue;
        };
        if !enabled {
            record.status = None;
            record.assignees.clear();
        } else if record
            .status
            .as_ref()
            .is_none_or(|s| app.live.status.get("states").and_then(|st| st.get(s)).is_none())
        {
            process::start(app, users, &mut record);
        }
        app.records.insert(id, record);
    }
}

pub fn deploy_status(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let ids = params.opt_id_list("apps")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::required_param(ctx.lang, "apps"));
    }
    if ids.len() > MAX_DEPLOY_APPS {
        return Err(ApiError::field(
            ctx.lang,
            "apps",
            ctx.lang.t(
                "一度に300個までのアプリを指定できます。",
                "A maximum of 300 apps can be specified.",
            ),
        ));
    }
    let mut out = Vec::new();
    for id in ids {
        let app = state
            .apps
            .get(&id)
            .ok_or_else(|| ApiError::app_not_found(ctx.lang, id))?;
        check_space(state, ctx, app)?;
        require_admin(app, ctx)?;
        let app = state
            .apps
            .get_mut(&id)
            .ok_or_else(|| ApiError::app_not_found(ctx.lang, id))?;
        let status = match app.deploy.as_mut() {
            None => DeployStatus::Success,
            Some(d) if d.processing_polls_left > 0 => {
                d.processing_polls_left -= 1;
                DeployStatus::Processing
            }
            Some(d) => d.outcome,
        };
        out.push(json!({"app": id.to_string(), "status": status.as_str()}));
    }
    Ok(Reply::Json(json!({"apps": out})))
}
