//! kintone permissions for one user: app rights (first matching entry of the app ACL), record
//! rights (first record-ACL rule whose condition matches the record, then its first matching
//! entity; no rule matching means no restriction) and field rights (first matching entity of the
//! field's entry; a field without an entry is writable). The effective right is the AND of
//! the levels, as kintone documents.

use serde_json::{Map, Value};

use super::error::Lang;
use super::query::{self, EvalContext};
use crate::state::{App, Record, User};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppRights {
    pub app_editable: bool,
    pub viewable: bool,
    pub addable: bool,
    pub editable: bool,
    pub deletable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRights {
    pub viewable: bool,
    pub editable: bool,
    pub deletable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRights {
    pub viewable: bool,
    pub editable: bool,
}

fn flag(entry: &Value, key: &str) -> bool {
    entry.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether an ACL entity (`{type, code}`) designates this user, for this record if any.
pub fn entity_matches(entity: &Value, user: &User, record: Option<&Record>) -> bool {
    let code = entity.get("code").and_then(Value::as_str).unwrap_or_default();
    match entity.get("type").and_then(Value::as_str).unwrap_or_default() {
        "USER" => code == user.code,
        "GROUP" => user.in_group(code),
        "ORGANIZATION" => user.organizations.iter().any(|o| o == code),
        "CREATOR" => record.is_some_and(|r| r.creator == user.code),
        "FIELD_ENTITY" => record.is_some_and(|r| {
            let in_field = r.values.get(code).and_then(Value::as_array).is_some_and(|list| {
                list.iter()
                    .any(|e| e.get("code").and_then(Value::as_str) == Some(&user.code))
            });
            in_field
                || r.creator == user.code && code_is_creator_field(code)
                || r.assignees.contains(&user.code) && code_is_assignee_field(code)
        }),
        _ => false,
    }
}

// System field entities name the field by its code; the seed uses kintone's default codes.
fn code_is_creator_field(code: &str) -> bool {
    matches!(code, "作成者" | "Created_by")
}

fn code_is_assignee_field(code: &str) -> bool {
    matches!(code, "作業者" | "Assignee")
}

/// The app-level rights; `record` lets `CREATOR` entries apply to the records the user created.
pub fn app_rights(app: &App, user: &User, record: Option<&Record>) -> AppRights {
    let rights = app.live.app_acl.as_array().cloned().unwrap_or_default();
    for entry in &rights {
        let Some(entity) = entry.get("entity") else { continue };
        if entity_matches(entity, user, record) {
            return AppRights {
                app_editable: flag(entry, "appEditable"),
                viewable: flag(entry, "recordViewable"),
                addable: flag(entry, "recordAddable"),
                editable: flag(entry, "recordEditable"),
                deletable: flag(entry, "recordDeletable"),
            };
        }
    }
    AppRights::default()
}

/// Whether the user may see the app at all (listed by apps.json, readable settings).
pub fn can_see_app(app: &App, user: &User) -> bool {
    let rights = app_rights(app, user, None);
    rights.viewable || rights.app_editable
}

pub fn record_rights(app: &App, user: &User, record: &Record, now: chrono::DateTime<chrono::Utc>) -> RecordRights {
    let app_level = app_rights(app, user, Some(record));
    let mut rights = RecordRights {
        viewable: app_level.viewable,
        editable: app_level.editable,
        deletable: app_level.deletable,
    };
    let rules = app.live.record_acl.as_array().cloned().unwrap_or_default();
    for rule in &rules {
        let condition = rule.get("filterCond").and_then(Value::as_str).unwrap_or_default();
        if !condition_matches(&app.live.properties, condition, user, record, now) {
            continue;
        }
        let entities = rule
            .get("entities")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let granted = entities
            .iter()
            .find(|e| {
                e.get("entity")
                    .is_some_and(|entity| entity_matches(entity, user, Some(record)))
            })
            .map(|e| (flag(e, "viewable"), flag(e, "editable"), flag(e, "deletable")))
            .unwrap_or((false, false, false));
        rights.viewable &= granted.0;
        rights.editable &= granted.1;
        rights.deletable &= granted.2;
        break;
    }
    rights
}

fn condition_matches(
    props: &Map<String, Value>,
    condition: &str,
    user: &User,
    record: &Record,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    if condition.trim().is_empty() {
        return true;
    }
    let Ok(parsed) = query::parse(condition, Lang::Ja) else {
        return false;
    };
    let Some(expr) = parsed.condition else { return true };
    let ctx = EvalContext {
        props,
        login_user: &user.code,
        primary_organization: user.organizations.first().map(String::as_str),
        offset: user.utc_offset,
        now,
    };
    ctx.matches(&expr, record)
}

/// Field rights within an already evaluated record right.
pub fn field_rights(
    app: &App,
    user: &User,
    record: Option<&Record>,
    record_rights: RecordRights,
    code: &str,
) -> FieldRights {
    let entries = app.live.field_acl.as_array().cloned().unwrap_or_default();
    let accessibility = entries
        .iter()
        .find(|e| e.get("code").and_then(Value::as_str) == Some(code))
        .map(|entry| {
            entry
                .get("entities")
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter()
                        .find(|e| {
                            e.get("entity")
                                .is_some_and(|entity| entity_matches(entity, user, record))
                        })
                        .and_then(|e| e.get("accessibility").and_then(Value::as_str).map(String::from))
                })
                .unwrap_or_else(|| "NONE".to_string())
        })
        .unwrap_or_else(|| "WRITE".to_string());
    FieldRights {
        viewable: record_rights.viewable && accessibility != "NONE",
        editable: record_rights.editable && accessibility == "WRITE",
    }
}
