//! Field definitions and record values: defaults for new field definitions, rendering a stored
//! record in kintone's `{code: {type, value}}` shape, and turning a request's `record` object
//! into stored values with kintone's validation (required, unique, lengths, ranges, options,
//! number normalisation, users, files, subtables).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::calc;
use super::datetime;
use super::error::{ApiError, ApiResult, Lang};
use crate::random;
use crate::state::{FileOwner, Record, StoredFile, User};

pub const SYSTEM_TYPES: &[&str] = &[
    "RECORD_NUMBER",
    "CREATOR",
    "CREATED_TIME",
    "MODIFIER",
    "UPDATED_TIME",
    "STATUS",
    "STATUS_ASSIGNEE",
    "CATEGORY",
];

/// Types that exist only on the form and never carry a value.
pub const LAYOUT_TYPES: &[&str] = &["GROUP", "LABEL", "SPACER", "HR", "REFERENCE_TABLE"];

pub const DATA_TYPES: &[&str] = &[
    "SINGLE_LINE_TEXT",
    "MULTI_LINE_TEXT",
    "RICH_TEXT",
    "NUMBER",
    "CALC",
    "RADIO_BUTTON",
    "CHECK_BOX",
    "MULTI_SELECT",
    "DROP_DOWN",
    "DATE",
    "TIME",
    "DATETIME",
    "LINK",
    "USER_SELECT",
    "ORGANIZATION_SELECT",
    "GROUP_SELECT",
    "FILE",
    "SUBTABLE",
];

pub fn field_type(def: &Value) -> &str {
    def.get("type").and_then(Value::as_str).unwrap_or("")
}

pub fn is_known_type(t: &str) -> bool {
    SYSTEM_TYPES.contains(&t) || LAYOUT_TYPES.contains(&t) || DATA_TYPES.contains(&t)
}

/// Fields whose value the user writes (not system, not layout, not CALC).
pub fn is_writable_type(t: &str) -> bool {
    DATA_TYPES.contains(&t) && t != "CALC"
}

fn is_list_type(t: &str) -> bool {
    matches!(t, "CHECK_BOX" | "MULTI_SELECT" | "FILE" | "SUBTABLE") || is_entity_type(t)
}

pub fn is_entity_type(t: &str) -> bool {
    matches!(t, "USER_SELECT" | "ORGANIZATION_SELECT" | "GROUP_SELECT")
}

pub fn empty_value(t: &str) -> Value {
    if is_list_type(t) {
        json!([])
    } else {
        json!("")
    }
}

pub fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

/// Completes a field definition the way kintone stores it: `code`, `label`, `noLabel`, and the
/// per-type attributes with their defaults. `code` comes from the map key.
pub fn normalize_definition(code: &str, def: &Value) -> Result<Value, String> {
    let Some(object) = def.as_object() else {
        return Err(format!("field {code} must be an object"));
    };
    let t = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {code} has no type"))?;
    if !is_known_type(t) {
        return Err(format!("field {code} has an unknown type {t}"));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    out.insert("code".into(), json!(code));
    out.insert(
        "label".into(),
        object.get("label").cloned().unwrap_or_else(|| json!(code)),
    );
    if !matches!(t, "LABEL" | "SPACER" | "HR") {
        out.insert("noLabel".into(), object.get("noLabel").cloned().unwrap_or(json!(false)));
    }
    let defaults: &[(&str, Value)] = match t {
        "SINGLE_LINE_TEXT" => &[
            ("required", json!(false)),
            ("unique", json!(false)),
            ("maxLength", json!("")),
            ("minLength", json!("")),
            ("defaultValue", json!("")),
            ("expression", json!("")),
            ("hideExpression", json!(false)),
        ],
        "MULTI_LINE_TEXT" | "RICH_TEXT" => &[("required", json!(false)), ("defaultValue", json!(""))],
        "NUMBER" => &[
            ("required", json!(false)),
            ("unique", json!(false)),
            ("maxValue", json!("")),
            ("minValue", json!("")),
            ("defaultValue", json!("")),
            ("digit", json!(false)),
            ("displayScale", json!("")),
            ("unit", json!("")),
            ("unitPosition", json!("BEFORE")),
        ],
        "CALC" => &[
            ("required", json!(false)),
            ("expression", json!("")),
            ("format", json!("NUMBER")),
            ("displayScale", json!("")),
            ("hideExpression", json!(false)),
            ("unit", json!("")),
            ("unitPosition", json!("BEFORE")),
        ],
        "RADIO_BUTTON" => &[
            ("required", json!(true)),
            ("options", json!({})),
            ("defaultValue", json!("")),
            ("align", json!("HORIZONTAL")),
        ],
        "CHECK_BOX" => &[
            ("required", json!(false)),
            ("options", json!({})),
            ("defaultValue", json!([])),
            ("align", json!("HORIZONTAL")),
        ],
        "MULTI_SELECT" => &[
            ("required", json!(false)),
            ("options", json!({})),
            ("defaultValue", json!([])),
        ],
        "DROP_DOWN" => &[
            ("required", json!(false)),
            ("options", json!({})),
            ("defaultValue", json!("")),
        ],
        "DATE" | "TIME" | "DATETIME" => &[
            ("required", json!(false)),
            ("unique", json!(false)),
            ("defaultValue", json!("")),
            ("defaultNowValue", json!(false)),
        ],
        "LINK" => &[
            ("required", json!(false)),
            ("unique", json!(false)),
            ("maxLength", json!("")),
            ("minLength", json!("")),
            ("defaultValue", json!("")),
            ("protocol", json!("WEB")),
        ],
        "USER_SELECT" | "ORGANIZATION_SELECT" | "GROUP_SELECT" => &[
            ("required", json!(false)),
            ("entities", json!([])),
            ("defaultValue", json!([])),
        ],
        "FILE" => &[("required", json!(false)), ("thumbnailSize", json!("150"))],
        "STATUS" | "STATUS_ASSIGNEE" | "CATEGORY" => &[("enabled", json!(false))],
        "GROUP" => &[("openGroup", json!(false))],
        _ => &[],
    };
    for (key, default) in defaults {
        out.insert(
            (*key).into(),
            object.get(*key).cloned().unwrap_or_else(|| default.clone()),
        );
    }
    if let Some(options) = out.get("options").cloned() {
        out.insert("options".into(), normalize_options(code, &options)?);
    }
    if t == "SUBTABLE" {
        let inner = object
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut fields = Map::new();
        for (inner_code, inner_def) in &inner {
            let normalized = normalize_definition(inner_code, inner_def)?;
            let inner_type = field_type(&normalized);
            if !is_writable_type(inner_type) && inner_type != "CALC" || inner_type == "SUBTABLE" {
                return Err(format!("a {inner_type} field cannot be inside subtable {code}"));
            }
            fields.insert(inner_code.clone(), normalized);
        }
        out.insert("fields".into(), Value::Object(fields));
    }
    // Anything else the definition carries (lookup, expression, …) is kept as given.
    for (key, value) in object {
        if !out.contains_key(key) && key != "fields" {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

/// Options may be given as a list of labels; kintone's shape is `{label: {label, index}}`.
fn normalize_options(code: &str, options: &Value) -> Result<Value, String> {
    let mut out = Map::new();
    match options {
        Value::Array(labels) => {
            for (i, label) in labels.iter().enumerate() {
                let label = label
                    .as_str()
                    .ok_or_else(|| format!("options of {code} must be strings"))?;
                out.insert(label.into(), json!({"label": label, "index": i.to_string()}));
            }
        }
        Value::Object(map) => {
            for (i, (label, option)) in map.iter().enumerate() {
                let index = option.get("index").map(|v| match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => i.to_string(),
                });
                out.insert(
                    label.clone(),
                    json!({"label": label, "index": index.unwrap_or_else(|| i.to_string())}),
                );
            }
        }
        _ => return Err(format!("options of {code} must be an object")),
    }
    Ok(Value::Object(out))
}

fn option_labels(def: &Value) -> Vec<String> {
    def.get("options")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A stored record in kintone's response shape. `visible` decides per field code (field ACL,
/// `fields` parameter); `$id` and `$revision` are always present unless `fields` leaves them out.
pub fn render_record(
    props: &Map<String, Value>,
    record: &Record,
    user_name: &dyn Fn(&str) -> String,
    visible: &dyn Fn(&str) -> bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (code, def) in props {
        if !visible(code) {
            continue;
        }
        let t = field_type(def);
        let enabled = def.get("enabled").and_then(Value::as_bool).unwrap_or(false);
        let value = match t {
            "RECORD_NUMBER" => json!(record.id.to_string()),
            "CREATOR" => json!({"code": record.creator, "name": user_name(&record.creator)}),
            "MODIFIER" => json!({"code": record.modifier, "name": user_name(&record.modifier)}),
            "CREATED_TIME" => json!(datetime::format_datetime(record.created_at)),
            "UPDATED_TIME" => json!(datetime::format_datetime(record.updated_at)),
            "STATUS" if enabled => json!(record.status.clone().unwrap_or_default()),
            "STATUS_ASSIGNEE" if enabled => Value::Array(
                record
                    .assignees
                    .iter()
                    .map(|c| json!({"code": c, "name": user_name(c)}))
                    .collect(),
            ),
            "CATEGORY" if enabled => json!([]),
            "SUBTABLE" => render_subtable(def, record.values.get(code)),
            t if DATA_TYPES.contains(&t) => render_scalar(t, record.values.get(code)),
            _ => continue,
        };
        out.insert(code.clone(), json!({"type": t, "value": value}));
    }
    if visible("$id") {
        out.insert("$id".into(), json!({"type": "__ID__", "value": record.id.to_string()}));
    }
    if visible("$revision") {
        out.insert(
            "$revision".into(),
            json!({"type": "__REVISION__", "value": record.revision.to_string()}),
        );
    }
    out
}

fn render_scalar(t: &str, stored: Option<&Value>) -> Value {
    let value = stored.cloned().unwrap_or_else(|| empty_value(t));
    // kintone returns an unset drop-down, date or time as null, not "".
    match t {
        "DROP_DOWN" | "DATE" | "TIME" | "DATETIME" if is_empty_value(&value) => Value::Null,
        _ => value,
    }
}

fn render_subtable(def: &Value, stored: Option<&Value>) -> Value {
    let inner = def
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let rows = stored.and_then(Value::as_array).cloned().unwrap_or_default();
    Value::Array(
        rows.iter()
            .map(|row| {
                let values = row.get("value").and_then(Value::as_object).cloned().unwrap_or_default();
                let mut cells = Map::new();
                for (code, inner_def) in &inner {
                    let t = field_type(inner_def);
                    cells.insert(
                        code.clone(),
                        json!({"type": t, "value": render_scalar(t, values.get(code))}),
                    );
                }
                json!({"id": row.get("id").cloned().unwrap_or(json!("")), "value": cells})
            })
            .collect(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Add,
    Update,
}

/// What a record write needs besides the record: who writes, the directory, the file table,
/// and the other records (for `unique`).
pub struct WriteEnv<'a> {
    pub lang: Lang,
    pub now: DateTime<Utc>,
    pub caller: &'a User,
    pub users: &'a [User],
    pub groups: &'a [(String, String)],
    pub organizations: &'a [(String, String)],
    pub files: &'a mut HashMap<String, StoredFile>,
    pub next_row_id: &'a mut u64,
    pub app: u64,
    pub record_id: u64,
    pub others: &'a BTreeMap<u64, Record>,
    pub field_editable: &'a dyn Fn(&str) -> bool,
    /// `record` for single writes, `records[i]` for bulk ones: the prefix of error keys.
    pub key_prefix: String,
}

/// Turns a request's `record` object into the stored values of the record: `existing` for an
/// update (merged, kintone-style), none for an add (defaults applied to absent fields).
pub fn apply_input(
    env: &mut WriteEnv<'_>,
    props: &Map<String, Value>,
    existing: Option<&Map<String, Value>>,
    input: &Map<String, Value>,
    mode: WriteMode,
) -> ApiResult<Map<String, Value>> {
    let lang = env.lang;
    let mut values = existing.cloned().unwrap_or_default();
    let mut errors: Vec<(String, String)> = Vec::new();
    let prefix = env.key_prefix.clone();

    for (code, field_input) in input {
        let Some(def) = props.get(code) else { continue };
        let t = field_type(def);
        if !is_writable_type(t) {
            continue;
        }
        let Some(field_input) = field_input.as_object() else {
            return Err(ApiError::invalid_json(lang));
        };
        if !(env.field_editable)(code) {
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                "GAIA_FU01",
                lang.t(
                    format!("フィールド「{code}」の編集権限がありません。"),
                    format!("You do not have permission to edit field \"{code}\"."),
                ),
            ));
        }
        let raw = field_input.get("value").cloned().unwrap_or(Value::Null);
        let key = format!("{prefix}.{code}");
        let value = if t == "SUBTABLE" {
            apply_subtable(
                env,
                def,
                existing.and_then(|e| e.get(code)),
                &raw,
                &key,
                mode,
                &mut errors,
            )?
        } else {
            convert_value(env, def, &raw, &key, false, &mut errors)?
        };
        if t != "SUBTABLE" {
            check_constraints(lang, def, &value, &key, &mut errors);
        }
        values.insert(code.clone(), value);
    }

    if mode == WriteMode::Add {
        for (code, def) in props {
            let t = field_type(def);
            if is_writable_type(t) && !input.contains_key(code) {
                values.insert(code.clone(), default_value(env, def));
            }
        }
    }

    for (code, def) in props {
        let t = field_type(def);
        let required = def.get("required").and_then(Value::as_bool).unwrap_or(false);
        // RADIO_BUTTON always has a value and CALC is computed: neither is checked.
        if !required || !is_writable_type(t) || t == "RADIO_BUTTON" || t == "SUBTABLE" {
            continue;
        }
        if values.get(code).is_none_or(is_empty_value) {
            errors.push((
                required_key(&format!("{prefix}.{code}"), t),
                lang.t("必須です。", "Required."),
            ));
        }
    }
    for (code, def) in props {
        // "" never counts as a duplicate; an update does not collide with its own record.
        if def.get("unique").and_then(Value::as_bool).unwrap_or(false) {
            if let Some(value) = values.get(code).filter(|v| !is_empty_value(v)) {
                if env
                    .others
                    .values()
                    .any(|r| r.id != env.record_id && r.values.get(code) == Some(value))
                {
                    errors.push((
                        format!("{prefix}.{code}.value"),
                        lang.t(
                            "値がほかのレコードと重複しています。",
                            "This value already exists in another record.",
                        ),
                    ));
                }
            }
        }
    }

    if !errors.is_empty() {
        return Err(ApiError::validation(lang, errors));
    }
    compute_calcs(props, &mut values);
    Ok(values)
}

fn required_key(key: &str, t: &str) -> String {
    match t {
        "CHECK_BOX" | "MULTI_SELECT" | "FILE" => format!("{key}.values"),
        t if is_entity_type(t) => format!("{key}.values.value"),
        _ => format!("{key}.value"),
    }
}

fn default_value(env: &WriteEnv<'_>, def: &Value) -> Value {
    let t = field_type(def);
    let now_default = def.get("defaultNowValue").and_then(Value::as_bool).unwrap_or(false);
    if now_default {
        let offset = env.caller.utc_offset;
        return match t {
            "DATE" => json!(datetime::format_date(datetime::local_date(env.now, offset))),
            "TIME" => json!(datetime::format_time(datetime::local_time(env.now, offset))),
            "DATETIME" => json!(datetime::format_datetime(env.now)),
            _ => empty_value(t),
        };
    }
    match (t, def.get("defaultValue")) {
        (t, Some(Value::Array(entities))) if is_entity_type(t) => Value::Array(
            entities
                .iter()
                .filter_map(|e| {
                    let code = e.get("code").and_then(Value::as_str)?;
                    let code = if code == "LOGINUSER()" {
                        env.caller.code.as_str()
                    } else {
                        code
                    };
                    Some(json!({"code": code, "name": entity_name(env, t, code).unwrap_or_else(|| code.to_string())}))
                })
                .collect(),
        ),
        (_, Some(value)) if !value.is_null() => value.clone(),
        _ => empty_value(t),
    }
}

fn entity_name(env: &WriteEnv<'_>, t: &str, code: &str) -> Option<String> {
    match t {
        "USER_SELECT" => env.users.iter().find(|u| u.code == code).map(|u| u.name.clone()),
        "ORGANIZATION_SELECT" => env
            .organizations
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, n)| n.clone()),
        _ => env.groups.iter().find(|(c, _)| c == code).map(|(_, n)| n.clone()),
    }
}

fn as_text(lang: Lang, raw: &Value) -> ApiResult<String> {
    match raw {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::invalid_json(lang)),
    }
}

/// Converts one non-subtable value. `in_subtable` changes how a non-numeric NUMBER is treated:
/// at top level it is an error, inside a subtable kintone silently stores "".
fn convert_value(
    env: &mut WriteEnv<'_>,
    def: &Value,
    raw: &Value,
    key: &str,
    in_subtable: bool,
    errors: &mut Vec<(String, String)>,
) -> ApiResult<Value> {
    let lang = env.lang;
    let t = field_type(def);
    let code = def.get("code").and_then(Value::as_str).unwrap_or_default();
    Ok(match t {
        "SINGLE_LINE_TEXT" | "MULTI_LINE_TEXT" | "RICH_TEXT" | "LINK" | "RADIO_BUTTON" | "DROP_DOWN" => {
            json!(as_text(lang, raw)?)
        }
        "NUMBER" => {
            let text = as_text(lang, raw)?;
            let trimmed = text.trim();
            if trimmed.is_empty() {
                json!("")
            } else {
                match trimmed.parse::<f64>() {
                    Ok(n) if n.is_finite() => json!(calc::format_number(n)),
                    _ if in_subtable => json!(""),
                    _ => {
                        let prefix = key.rsplit_once('.').map(|(p, _)| p).unwrap_or(key);
                        // A required field also gets "Required." from the required check: the
                        // unparseable value counts as empty, as in kintone.
                        errors.push((
                            format!("{prefix}[{code}].value"),
                            lang.t("数字でなければなりません。", "Only numbers are allowed."),
                        ));
                        json!("")
                    }
                }
            }
        }
        "CHECK_BOX" | "MULTI_SELECT" => match raw {
            Value::Null => json!([]),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| as_text(lang, v).map(Value::String))
                    .collect::<ApiResult<_>>()?,
            ),
            _ => return Err(ApiError::invalid_json(lang)),
        },
        "DATE" => {
            let text = as_text(lang, raw)?;
            if text.is_empty() {
                json!("")
            } else if let Some(date) = datetime::parse_date(&text) {
                json!(datetime::format_date(date))
            } else {
                errors.push((
                    format!("{key}.value"),
                    lang.t("日付の形式が不正です。", "Invalid date format."),
                ));
                json!("")
            }
        }
        "TIME" => {
            let text = as_text(lang, raw)?;
            if text.is_empty() {
                json!("")
            } else if let Some(time) = datetime::parse_time(&text) {
                json!(datetime::format_time(time))
            } else {
                errors.push((
                    format!("{key}.value"),
                    lang.t("時刻の形式が不正です。", "Invalid time format."),
                ));
                json!("")
            }
        }
        "DATETIME" => {
            let text = as_text(lang, raw)?;
            if text.is_empty() {
                json!("")
            } else if let Some(dt) = datetime::parse_datetime(&text) {
                json!(datetime::format_datetime(dt))
            } else {
                errors.push((
                    format!("{key}.value"),
                    lang.t("日時の形式が不正です。", "Invalid datetime format."),
                ));
                json!("")
            }
        }
        t if is_entity_type(t) => convert_entities(env, t, raw)?,
        "FILE" => convert_files(env, raw)?,
        _ => return Err(ApiError::invalid_json(lang)),
    })
}

fn convert_entities(env: &WriteEnv<'_>, t: &str, raw: &Value) -> ApiResult<Value> {
    let lang = env.lang;
    let items = match raw {
        Value::Null => return Ok(json!([])),
        Value::Array(items) => items,
        _ => return Err(ApiError::invalid_json(lang)),
    };
    let mut out = Vec::new();
    for item in items {
        let code = item
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_json(lang))?;
        let Some(name) = entity_name(env, t, code) else {
            let (error_code, ja, en) = match t {
                "USER_SELECT" => ("GAIA_IL26", "ユーザー", "user"),
                "ORGANIZATION_SELECT" => ("GAIA_IL28", "組織", "organization"),
                _ => ("GAIA_IL27", "グループ", "group"),
            };
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                error_code,
                lang.t(
                    format!("指定した{ja}(code:{code})が見つかりません。"),
                    format!("The specified {en} (code: {code}) not found."),
                ),
            ));
        };
        out.push(json!({"code": code, "name": name}));
    }
    Ok(Value::Array(out))
}

/// FILE values name files by key: a fresh upload key is attached to this record under a new
/// download key; a download key already attached to this record keeps the file.
fn convert_files(env: &mut WriteEnv<'_>, raw: &Value) -> ApiResult<Value> {
    let lang = env.lang;
    let items = match raw {
        Value::Null => return Ok(json!([])),
        Value::Array(items) => items,
        _ => return Err(ApiError::invalid_json(lang)),
    };
    let mut out = Vec::new();
    for item in items {
        let key = item
            .get("fileKey")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_json(lang))?;
        let Some(file) = env.files.get(key) else {
            return Err(ApiError::file_not_found(lang, key));
        };
        let download_key = match &file.owner {
            None => {
                let Some(mut file) = env.files.remove(key) else {
                    return Err(ApiError::file_not_found(lang, key));
                };
                file.owner = Some(FileOwner {
                    app: env.app,
                    record: env.record_id,
                });
                let download_key = random::hex_key::<24>();
                env.files.insert(download_key.clone(), file);
                download_key
            }
            Some(owner) if owner.app == env.app && owner.record == env.record_id => key.to_string(),
            Some(_) => return Err(ApiError::file_not_found(lang, key)),
        };
        let Some(file) = env.files.get(&download_key) else {
            return Err(ApiError::file_not_found(lang, key));
        };
        out.push(json!({
            "contentType": file.content_type,
            "fileKey": download_key,
            "name": file.name,
            "size": file.data.len().to_string(),
        }));
    }
    Ok(Value::Array(out))
}

/// A subtable write replaces the row list; rows whose `id` matches an existing row are merged
/// into it, other rows are new and get fresh ids; `[]` deletes every row.
fn apply_subtable(
    env: &mut WriteEnv<'_>,
    def: &Value,
    existing: Option<&Value>,
    raw: &Value,
    key: &str,
    _mode: WriteMode,
    errors: &mut Vec<(String, String)>,
) -> ApiResult<Value> {
    let lang = env.lang;
    let inner = def
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let rows = match raw {
        Value::Null => return Ok(json!([])),
        Value::Array(rows) => rows,
        _ => return Err(ApiError::invalid_json(lang)),
    };
    let existing_rows: Vec<Value> = existing.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let Some(row) = row.as_object() else {
            return Err(ApiError::invalid_json(lang));
        };
        let cells = match row.get("value") {
            Some(Value::Object(cells)) => cells.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(ApiError::invalid_json(lang)),
        };
        let row_id = row.get("id").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let matched = row_id.as_ref().and_then(|id| {
            existing_rows
                .iter()
                .find(|r| r.get("id").and_then(Value::as_str) == Some(id.as_str()))
        });
        let (id, mut values) = match matched {
            Some(existing_row) => (
                existing_row.get("id").cloned().unwrap_or(json!("")),
                existing_row
                    .get("value")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            ),
            None => {
                let id = *env.next_row_id;
                *env.next_row_id += 1;
                let mut defaults = Map::new();
                for (inner_code, inner_def) in &inner {
                    if is_writable_type(field_type(inner_def)) {
                        defaults.insert(inner_code.clone(), default_value(env, inner_def));
                    }
                }
                (json!(id.to_string()), defaults)
            }
        };
        for (inner_code, cell) in &cells {
            let Some(inner_def) = inner.get(inner_code) else {
                continue;
            };
            if !is_writable_type(field_type(inner_def)) {
                continue;
            }
            let Some(cell) = cell.as_object() else {
                return Err(ApiError::invalid_json(lang));
            };
            let cell_key = format!("{key}.value[{index}].value.{inner_code}");
            let raw_cell = cell.get("value").cloned().unwrap_or(Value::Null);
            let value = convert_value(env, inner_def, &raw_cell, &cell_key, true, errors)?;
            check_constraints(lang, inner_def, &value, &cell_key, errors);
            values.insert(inner_code.clone(), value);
        }
        for (inner_code, inner_def) in &inner {
            let t = field_type(inner_def);
            let required = inner_def.get("required").and_then(Value::as_bool).unwrap_or(false);
            if required
                && is_writable_type(t)
                && t != "RADIO_BUTTON"
                && values.get(inner_code).is_none_or(is_empty_value)
            {
                errors.push((
                    required_key(&format!("{key}.value[{index}].value.{inner_code}"), t),
                    lang.t("必須です。", "Required."),
                ));
            }
        }
        out.push(json!({"id": id, "value": values}));
    }
    Ok(Value::Array(out))
}

/// Lengths, ranges and options, checked on values the request provided.
fn check_constraints(lang: Lang, def: &Value, value: &Value, key: &str, errors: &mut Vec<(String, String)>) {
    let t = field_type(def);
    let limit = |name: &str| -> Option<f64> {
        def.get(name).and_then(|v| match v {
            Value::String(s) if !s.is_empty() => s.parse().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        })
    };
    match (t, value) {
        ("SINGLE_LINE_TEXT" | "MULTI_LINE_TEXT" | "LINK", Value::String(s)) if !s.is_empty() => {
            let length = s.chars().count() as f64;
            if let Some(max) = limit("maxLength").filter(|max| length > *max) {
                let n = max as i64 + 1;
                errors.push((
                    format!("{key}.value"),
                    lang.t(
                        format!("{n}文字より短くなければなりません。"),
                        format!("Enter less than {n} characters."),
                    ),
                ));
            }
            if let Some(min) = limit("minLength").filter(|min| length < *min) {
                let n = min as i64 - 1;
                errors.push((
                    format!("{key}.value"),
                    lang.t(
                        format!("{n}文字より長くなければなりません。"),
                        format!("Enter more than {n} characters."),
                    ),
                ));
            }
        }
        ("NUMBER", Value::String(s)) if !s.is_empty() => {
            let Ok(n) = s.parse::<f64>() else { return };
            if let Some(max) = limit("maxValue").filter(|max| n > *max) {
                let max = calc::format_number(max);
                errors.push((
                    format!("{key}.value"),
                    lang.t(
                        format!("{max}以下である必要があります。"),
                        format!("The value must be {max} or less."),
                    ),
                ));
            }
            if let Some(min) = limit("minValue").filter(|min| n < *min) {
                let min = calc::format_number(min);
                errors.push((
                    format!("{key}.value"),
                    lang.t(
                        format!("{min}以上である必要があります。"),
                        format!("The value must be {min} or more."),
                    ),
                ));
            }
        }
        ("RADIO_BUTTON" | "DROP_DOWN", Value::String(s)) if !s.is_empty() && !option_labels(def).contains(s) => {
            errors.push((format!("{key}.value"), not_in_options(lang, s)));
        }
        ("CHECK_BOX" | "MULTI_SELECT", Value::Array(items)) => {
            let labels = option_labels(def);
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().unwrap_or_default();
                if !labels.iter().any(|l| l == s) {
                    errors.push((format!("{key}.values[{i}].value"), not_in_options(lang, s)));
                }
            }
        }
        _ => {}
    }
}

fn not_in_options(lang: Lang, value: &str) -> String {
    lang.t(
        format!("\"{value}\"は選択肢にありません。"),
        format!("The value, \"{value}\", is not in options."),
    )
}

/// Recomputes every CALC field: inside subtable rows first, then at top level.
pub fn compute_calcs(props: &Map<String, Value>, values: &mut Map<String, Value>) {
    struct RowLookup<'a> {
        row: &'a Map<String, Value>,
        top: &'a Map<String, Value>,
    }
    impl calc::Lookup for RowLookup<'_> {
        fn values(&self, code: &str) -> Option<Vec<f64>> {
            let value = self.row.get(code).or_else(|| self.top.get(code))?;
            Some(vec![number_of(value)])
        }
    }
    struct TopLookup<'a> {
        props: &'a Map<String, Value>,
        values: &'a Map<String, Value>,
    }
    impl calc::Lookup for TopLookup<'_> {
        fn values(&self, code: &str) -> Option<Vec<f64>> {
            if let Some(value) = self.values.get(code) {
                if self.props.contains_key(code) {
                    return Some(vec![number_of(value)]);
                }
            }
            // A field inside a subtable: one value per row.
            for (table_code, def) in self.props {
                if field_type(def) != "SUBTABLE" {
                    continue;
                }
                let inner_exists = def.get("fields").and_then(|f| f.get(code)).is_some();
                if inner_exists {
                    let rows = self
                        .values
                        .get(table_code)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    return Some(
                        rows.iter()
                            .map(|r| r.get("value").and_then(|v| v.get(code)).map(number_of).unwrap_or(0.0))
                            .collect(),
                    );
                }
            }
            self.props.get(code).map(|_| vec![0.0])
        }
    }

    let top_snapshot = values.clone();
    for (code, def) in props {
        if field_type(def) != "SUBTABLE" {
            continue;
        }
        let inner = def
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(Value::Array(rows)) = values.get_mut(code) else {
            continue;
        };
        for row in rows.iter_mut() {
            let Some(cells) = row.get_mut("value").and_then(Value::as_object_mut) else {
                continue;
            };
            for (inner_code, inner_def) in &inner {
                if field_type(inner_def) == "CALC" {
                    let expression = inner_def.get("expression").and_then(Value::as_str).unwrap_or_default();
                    let result = calc::evaluate(
                        expression,
                        &RowLookup {
                            row: cells,
                            top: &top_snapshot,
                        },
                    );
                    cells.insert(
                        inner_code.clone(),
                        json!(result.map(calc::format_number).unwrap_or_default()),
                    );
                }
            }
        }
    }
    // Top-level CALCs may refer to each other: a few passes settle any order.
    for _ in 0..3 {
        for (code, def) in props {
            if field_type(def) == "CALC" {
                let expression = def.get("expression").and_then(Value::as_str).unwrap_or_default();
                let result = calc::evaluate(expression, &TopLookup { props, values });
                values.insert(code.clone(), json!(result.map(calc::format_number).unwrap_or_default()));
            }
        }
    }
}

fn number_of(value: &Value) -> f64 {
    match value {
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Every data field code, including those inside subtables (ACL evaluation lists them all).
pub fn all_field_codes(props: &Map<String, Value>) -> Vec<String> {
    let mut codes = Vec::new();
    for (code, def) in props {
        let t = field_type(def);
        if LAYOUT_TYPES.contains(&t) {
            continue;
        }
        codes.push(code.clone());
        if t == "SUBTABLE" {
            if let Some(inner) = def.get("fields").and_then(Value::as_object) {
                codes.extend(inner.keys().cloned());
            }
        }
    }
    codes
}
