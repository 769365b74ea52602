//! Changing an app's form on the pre-live app: addFormFields, updateFormFields,
//! deleteFormFields, updateFormLayout. Nothing here is live until deployApp.

use platform::HttpClient;
use serde_json::{json, Map, Value};

use super::spec;
use crate::args::{self, ArgError, ArgResult, Args};
use crate::client::Kintone;
use crate::outcome::{structured_with_note, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

const MAX_FIELD_CODE: usize = 128;
const MAX_FIELDS_PER_CALL: usize = 100;
const DEPLOY_NOTE: &str =
    "Saved to the pre-live app. Call deployApp to publish the change (getFormFields shows the pre-live fields).";

fn properties_schema(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "minProperties": 1,
        "additionalProperties": {"type": "object"},
    })
}

fn revision_out() -> Value {
    schema::output(vec![("revision", out::revision())], &["revision"])
}

pub(super) fn specs() -> Vec<ToolDefinition> {
    vec![
        spec("addFormFields", "Add form fields", Annotations::ADD,
            "Add fields to an app's pre-live form. `properties` maps each new field code to its definition, e.g. \
{\"amount\": {\"type\": \"NUMBER\", \"label\": \"Amount\", \"required\": true, \"unit\": \"JPY\"}, \"status\": {\"type\": \"DROP_DOWN\", \"label\": \"Status\", \"options\": {\"Open\": {\"label\": \"Open\", \"index\": \"0\"}, \"Done\": {\"label\": \"Done\", \"index\": \"1\"}}}}. \
Types include SINGLE_LINE_TEXT, MULTI_LINE_TEXT, RICH_TEXT, NUMBER, CALC, DATE, TIME, DATETIME, DROP_DOWN, RADIO_BUTTON, CHECK_BOX, MULTI_SELECT, USER_SELECT, FILE, LINK, SUBTABLE. New fields go at the end of the form; call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("properties", properties_schema("New field code → field definition with at least type and label; code may be left out")),
                ("revision", schema::settings_revision()),
            ], &["appId", "properties"]),
            Some(revision_out()),
        ),
        spec("updateFormFields", "Update form fields", Annotations::OVERWRITE,
            "Change existing fields of an app's pre-live form: labels, options, required/unique flags, defaults. `properties` maps each current field code to the settings to change, e.g. {\"amount\": {\"type\": \"NUMBER\", \"label\": \"Amount (tax incl.)\"}}; \
set \"code\" to rename the field. Options lists are replaced as a whole. Adding unique or a max length can make deployApp fail if existing records break the rule. Call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("properties", properties_schema("Current field code → the settings to change")),
                ("revision", schema::settings_revision()),
            ], &["appId", "properties"]),
            Some(revision_out()),
        ),
        spec("deleteFormFields", "Delete form fields", Annotations::OVERWRITE,
            "Delete fields from an app's pre-live form. When deployApp publishes it, the fields and all their record data are gone for good. Confirm with the user first.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("fields", schema::array("Field codes to delete (1–100)", schema::text("Field code", MAX_FIELD_CODE), 1, MAX_FIELDS_PER_CALL)),
                ("revision", schema::settings_revision()),
            ], &["appId", "fields"]),
            Some(revision_out()),
        ),
        spec("updateFormLayout", "Update form layout", Annotations::OVERWRITE,
            "Replace the layout of an app's pre-live form. Give the whole layout (getFormLayout's shape): a list of {\"type\": \"ROW\", \"fields\": [{\"type\": \"NUMBER\", \"code\": \"amount\", \"size\": {\"width\": \"200\"}}]}, \
{\"type\": \"SUBTABLE\", \"code\": ..., \"fields\": [...]} and {\"type\": \"GROUP\", \"code\": ..., \"layout\": [rows]}. Every field must appear exactly once. Call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("layout", schema::array("The complete form layout", json!({"type": "object", "properties": {"type": schema::one_of("Row kind", &["ROW", "SUBTABLE", "GROUP"])}, "required": ["type"]}), 1, 1000)),
                ("revision", schema::settings_revision()),
            ], &["appId", "layout"]),
            Some(revision_out()),
        ),
    ]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "addFormFields" => change_fields(kc, args, true).await,
        "updateFormFields" => change_fields(kc, args, false).await,
        "deleteFormFields" => delete_fields(kc, args).await,
        "updateFormLayout" => update_layout(kc, args).await,
        _ => return None,
    })
}

/// Checks field definitions; for new fields fills in `code` from the key when it is missing.
fn field_properties(args: &Args, adding: bool) -> ArgResult<Map<String, Value>> {
    let properties = args.object("properties")?;
    if properties.is_empty() {
        return Err(ArgError::new("properties", "needs at least one field"));
    }
    let mut checked = Map::new();
    for (code, definition) in properties {
        let path = format!("properties.{code}");
        if code.trim().is_empty() || code.chars().count() > MAX_FIELD_CODE {
            return Err(ArgError::new(
                &path,
                format!("field codes are 1–{MAX_FIELD_CODE} characters"),
            ));
        }
        let mut definition = args::object(&path, definition)?.clone();
        match definition.get("type") {
            Some(t) => {
                args::text(&format!("{path}.type"), t, 64)?;
            }
            None if adding => {
                return Err(ArgError::new(
                    &format!("{path}.type"),
                    "required, e.g. \"SINGLE_LINE_TEXT\" or \"NUMBER\"",
                ))
            }
            None => {}
        }
        if adding {
            match definition.get("code") {
                None => {
                    definition.insert("code".into(), json!(code));
                }
                Some(Value::String(c)) if c == code => {}
                Some(other) => {
                    return Err(ArgError::new(
                        &format!("{path}.code"),
                        format!("must equal the key {code:?}, got {other}"),
                    ))
                }
            }
        }
        checked.insert(code.clone(), Value::Object(definition));
    }
    Ok(checked)
}

fn with_revision(args: &Args, mut body: Value) -> ArgResult<Value> {
    if let Some(revision) = args.opt_revision("revision")? {
        body["revision"] = json!(revision);
    }
    Ok(body)
}

async fn change_fields<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args, adding: bool) -> Outcome {
    let app = args.id("appId")?;
    let properties = field_properties(args, adding)?;
    let body = with_revision(args, json!({"app": app, "properties": properties}))?;
    let answer = if adding {
        kc.post("preview/app/form/fields", body).await?
    } else {
        kc.put("preview/app/form/fields", body).await?
    };
    Ok(structured_with_note(answer, Some(DEPLOY_NOTE.into())))
}

async fn delete_fields<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let fields = args
        .array("fields", 1, MAX_FIELDS_PER_CALL)?
        .iter()
        .enumerate()
        .map(|(i, f)| args::text(&format!("fields[{i}]"), f, MAX_FIELD_CODE).map(str::to_string))
        .collect::<ArgResult<Vec<_>>>()?;
    let params = with_revision(args, json!({"app": app, "fields": fields}))?;
    let answer = kc.delete("preview/app/form/fields", params).await?;
    Ok(structured_with_note(answer, Some(DEPLOY_NOTE.into())))
}

async fn update_layout<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let layout = args.array("layout", 1, 1000)?;
    for (i, row) in layout.iter().enumerate() {
        let path = format!("layout[{i}]");
        let row = args::object(&path, row)?;
        args::one_of(
            &format!("{path}.type"),
            row.get("type").unwrap_or(&Value::Null),
            &["ROW", "SUBTABLE", "GROUP"],
        )?;
    }
    let body = with_revision(args, json!({"app": app, "layout": layout}))?;
    let answer = kc.put("preview/app/form/layout", body).await?;
    Ok(structured_with_note(answer, Some(DEPLOY_NOTE.into())))
}
