//! Process management on records: updateRecordStatus, updateRecordStatuses, updateRecordAssignees.

use platform::HttpClient;
use serde_json::{json, Map, Value};

use super::records::MAX_WRITE;
use super::spec;
use crate::args::{self, ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

fn action_schema() -> Value {
    schema::text("The action (button) name exactly as in the app's process management, in the signed-in user's language, e.g. \"Submit for approval\". getProcessManagement lists them.", 256)
}

fn assignee_schema() -> Value {
    schema::string(
        "User code of the next assignee, needed when the next status lets the user choose one of several assignees",
    )
}

pub(super) fn specs() -> Vec<ToolDefinition> {
    vec![
        spec("updateRecordStatus", "Run a workflow action", Annotations::STEP,
            "Move one record through the app's process management by running an action (e.g. Submit, Approve). Only actions allowed from the record's current status for the signed-in user work. Each call advances the workflow again, so do not repeat it to retry a success.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("id", schema::id("The record ID")),
                ("action", action_schema()),
                ("assignee", assignee_schema()),
                ("revision", schema::revision("Expected revision of the record; omit or -1 to skip the check")),
            ], &["appId", "id", "action"]),
            Some(schema::output(vec![("revision", out::revision())], &["revision"])),
        ),
        spec("updateRecordStatuses", "Run workflow actions (bulk)", Annotations::STEP,
            "Run process management actions on up to 100 records in one all-or-nothing call; each entry has id, action and optional assignee and revision.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("records", schema::array("Records and their actions", json!({
                    "type": "object",
                    "properties": {
                        "id": schema::id("The record ID"),
                        "action": action_schema(),
                        "assignee": assignee_schema(),
                        "revision": schema::revision("Expected revision; omit or -1 to skip the check"),
                    },
                    "required": ["id", "action"],
                    "additionalProperties": false,
                }), 1, MAX_WRITE)),
            ], &["appId", "records"]),
            Some(schema::output(vec![("records", out::objects("Per record: id and new revision"))], &["records"])),
        ),
        spec("updateRecordAssignees", "Set record assignees", Annotations::OVERWRITE,
            "Replace the assignees of a record's current workflow status (process management must be on). An empty list removes all assignees.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("id", schema::id("The record ID")),
                ("assignees", schema::array("User codes of the new assignees (0–100)", schema::string("User code"), 0, MAX_WRITE)),
                ("revision", schema::revision("Expected revision of the record; omit or -1 to skip the check")),
            ], &["appId", "id", "assignees"]),
            Some(schema::output(vec![("revision", out::revision())], &["revision"])),
        ),
    ]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "updateRecordStatus" => update_status(kc, args).await,
        "updateRecordStatuses" => update_statuses(kc, args).await,
        "updateRecordAssignees" => update_assignees(kc, args).await,
        _ => return None,
    })
}

/// One `{id, action, assignee?, revision?}` entry, checked.
fn status_entry(path: &str, entry: &Map<String, Value>) -> Result<Value, ArgError> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let null = Value::Null;
    let mut out = json!({
        "id": args::id(&at("id"), entry.get("id").unwrap_or(&null))?,
        "action": args::text(&at("action"), entry.get("action").unwrap_or(&null), 256)?,
    });
    if let Some(assignee) = entry.get("assignee").filter(|v| !v.is_null()) {
        out["assignee"] = json!(args::text(&at("assignee"), assignee, 128)?);
    }
    if let Some(revision) = entry.get("revision").filter(|v| !v.is_null()) {
        out["revision"] = json!(args::revision(&at("revision"), revision)?);
    }
    Ok(out)
}

async fn update_status<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let entry: Map<String, Value> = ["id", "action", "assignee", "revision"]
        .iter()
        .filter_map(|k| args.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let mut body = status_entry("", &entry)?;
    body["app"] = json!(app);
    Ok(structured(kc.put("record/status", body).await?))
}

async fn update_statuses<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let entries = args.array("records", 1, MAX_WRITE)?;
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("records[{i}]");
        let entry = args::object(&path, entry)?;
        if let Some(extra) = entry
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "action" | "assignee" | "revision"))
        {
            return Err(ArgError::new(
                &path,
                format!("unknown key {extra:?}; entries take id, action, assignee, revision"),
            )
            .into());
        }
        records.push(status_entry(&path, entry)?);
    }
    Ok(structured(
        kc.put("records/status", json!({"app": app, "records": records}))
            .await?,
    ))
}

async fn update_assignees<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let (app, id) = (args.id("appId")?, args.id("id")?);
    let assignees = args
        .array("assignees", 0, MAX_WRITE)?
        .iter()
        .enumerate()
        .map(|(i, a)| args::text(&format!("assignees[{i}]"), a, 128).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = json!({"app": app, "id": id, "assignees": assignees});
    if let Some(revision) = args.opt_revision("revision")? {
        body["revision"] = json!(revision);
    }
    Ok(structured(kc.put("record/assignees", body).await?))
}
