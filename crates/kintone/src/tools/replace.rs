//! Settings that are replaced as a whole on the pre-live app: permissions, graphs, actions and
//! notifications. All alike (`PUT preview/<resource>.json {app, <lists>, revision?}`), so one
//! table row per tool. Always the preview path: a PUT on the live ACL paths would deploy every
//! pending pre-live change as a side effect.

use platform::HttpClient;
use serde_json::{json, Map, Value};

use super::spec;
use crate::args::{ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured_with_note, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

#[derive(Clone, Copy)]
enum Kind {
    List,
    Map,
    Flag,
    Text,
}

struct Part {
    key: &'static str,
    kind: Kind,
    description: &'static str,
}

struct Replace {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    resource: &'static str,
    parts: &'static [Part],
    /// The parts that must be given (otherwise: at least one of them).
    required: &'static [&'static str],
}

const ENTITY: &str = "entity {type: USER|GROUP|ORGANIZATION|CREATOR|FIELD_ENTITY, code}";

const TABLE: &[Replace] = &[
    Replace { name: "updateAppAcl", title: "Replace app permissions",
        description: "Replace an app's permission list on the pre-live app (getAppAcl's shape). Entries are in priority order; the list given replaces the whole list, so start from getAppAcl. Call deployApp to apply.",
        resource: "preview/app/acl",
        parts: &[Part { key: "rights", kind: Kind::List, description: "Entries: {entity, includeSubs, appEditable, recordViewable, recordAddable, recordEditable, recordDeletable, recordImportable, recordExportable}" }],
        required: &["rights"] },
    Replace { name: "updateRecordAcl", title: "Replace record permissions",
        description: "Replace an app's record permission rules on the pre-live app (getRecordAcl's shape): for records matching each filterCond query, who may view, edit, delete. The list replaces all rules. Call deployApp to apply.",
        resource: "preview/record/acl",
        parts: &[Part { key: "rights", kind: Kind::List, description: "Rules: {filterCond, entities: [{entity, viewable, editable, deletable, includeSubs}]}" }],
        required: &["rights"] },
    Replace { name: "updateFieldAcl", title: "Replace field permissions",
        description: "Replace an app's field permission rules on the pre-live app (getFieldAcl's shape): per field code, who may READ, WRITE or see NONE. Fields left out lose their restrictions. Call deployApp to apply.",
        resource: "preview/field/acl",
        parts: &[Part { key: "rights", kind: Kind::List, description: "Rules: {code, entities: [{accessibility: READ|WRITE|NONE, entity, includeSubs}]}" }],
        required: &["rights"] },
    Replace { name: "updateAppReports", title: "Replace graphs",
        description: "Replace an app's graphs on the pre-live app (getAppReports's shape); graphs left out are deleted. Call deployApp to apply.",
        resource: "preview/app/reports",
        parts: &[Part { key: "reports", kind: Kind::Map, description: "Graph name → {chartType, chartMode, name, index, groups, aggregations, filterCond, sorts}" }],
        required: &["reports"] },
    Replace { name: "updateAppActions", title: "Replace app actions",
        description: "Replace an app's action buttons on the pre-live app (getAppActions's shape); actions left out are deleted. Call deployApp to apply.",
        resource: "preview/app/actions",
        parts: &[Part { key: "actions", kind: Kind::Map, description: "Action name → {name, index, destApp {app|code}, mappings, entities, filterCond}" }],
        required: &["actions"] },
    Replace { name: "updateAppNotificationsGeneral", title: "Replace general notifications",
        description: "Replace an app's general notification settings on the pre-live app (getAppNotificationsGeneral's shape). Call deployApp to apply.",
        resource: "preview/app/notifications/general",
        parts: &[
            Part { key: "notifications", kind: Kind::List, description: "Recipients: {entity, includeSubs, recordAdded, recordEdited, commentAdded, statusChanged, fileImported}" },
            Part { key: "notifyToCommenter", kind: Kind::Flag, description: "Notify earlier commenters of new comments" },
        ],
        required: &[] },
    Replace { name: "updateAppNotificationsPerRecord", title: "Replace per-record notifications",
        description: "Replace an app's per-record notification rules on the pre-live app (getAppNotificationsPerRecord's shape). Call deployApp to apply.",
        resource: "preview/app/notifications/perRecord",
        parts: &[Part { key: "notifications", kind: Kind::List, description: "Rules: {filterCond, title, targets: [{entity, includeSubs}]}" }],
        required: &["notifications"] },
    Replace { name: "updateAppNotificationsReminder", title: "Replace reminder notifications",
        description: "Replace an app's reminder notifications on the pre-live app (getAppNotificationsReminder's shape). Call deployApp to apply.",
        resource: "preview/app/notifications/reminder",
        parts: &[
            Part { key: "notifications", kind: Kind::List, description: "Reminders: {timing {code, daysLater, hoursLater?, time?}, filterCond, title, targets}" },
            Part { key: "timezone", kind: Kind::Text, description: "Time zone of the reminder times, e.g. Asia/Tokyo" },
        ],
        required: &[] },
];

fn part_schema(part: &Part) -> Value {
    match part.kind {
        Kind::List => {
            json!({"type": "array", "items": {"type": "object"}, "description": format!("{} ({ENTITY})", part.description)})
        }
        Kind::Map => {
            json!({"type": "object", "additionalProperties": {"type": "object"}, "description": part.description})
        }
        Kind::Flag => schema::boolean(part.description),
        Kind::Text => schema::text(part.description, 64),
    }
}

fn to_spec(row: &Replace) -> ToolDefinition {
    let mut props = vec![("appId", schema::app_id())];
    props.extend(row.parts.iter().map(|p| (p.key, part_schema(p))));
    props.push(("revision", schema::settings_revision()));
    let mut required = vec!["appId"];
    required.extend_from_slice(row.required);
    spec(
        row.name,
        row.title,
        Annotations::OVERWRITE,
        row.description,
        schema::input(props, &required),
        Some(schema::output(vec![("revision", out::revision())], &["revision"])),
    )
}

pub(super) fn specs() -> Vec<ToolDefinition> {
    TABLE.iter().map(to_spec).collect()
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    let row = TABLE.iter().find(|r| r.name == name)?;
    Some(run(kc, row, args).await)
}

async fn run<H: HttpClient>(kc: &Kintone<'_, H>, row: &Replace, args: &Args) -> Outcome {
    let mut body = Map::new();
    body.insert("app".into(), json!(args.id("appId")?));
    for part in row.parts {
        let value = match part.kind {
            Kind::List => args
                .opt_array(part.key, 0, 1000)?
                .map(|items| {
                    items.iter().enumerate().try_for_each(|(i, item)| {
                        crate::args::object(&format!("{}[{i}]", part.key), item).map(|_| ())
                    })?;
                    Ok::<_, ArgError>(Value::Array(items.clone()))
                })
                .transpose()?,
            Kind::Map => args.opt_object(part.key)?.map(|m| Value::Object(m.clone())),
            Kind::Flag => args.opt_bool(part.key)?.map(Value::Bool),
            Kind::Text => args.opt_text(part.key, 64)?.map(|t| json!(t)),
        };
        if let Some(value) = value {
            body.insert(part.key.into(), value);
        }
    }
    if body.len() == 1 {
        let keys: Vec<_> = row.parts.iter().map(|p| p.key).collect();
        return Err(ArgError::new(keys[0], format!("give at least one of {}", keys.join(", "))).into());
    }
    if let Some(revision) = args.opt_revision("revision")? {
        body.insert("revision".into(), json!(revision));
    }
    let answer = kc.put(row.resource, Value::Object(body)).await?;
    Ok(structured_with_note(
        answer,
        Some("Saved to the pre-live app. Call deployApp to apply it.".into()),
    ))
}
