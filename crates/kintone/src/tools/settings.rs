//! Changing app settings on the pre-live app: updateAppCustomize, updateAppSettings,
//! updateViews, updateProcessManagement. Nothing here is live until deployApp.

use platform::HttpClient;
use serde_json::{json, Map, Value};

use super::spec;
use crate::args::{self, ArgError, ArgResult, Args};
use crate::client::Kintone;
use crate::outcome::{structured_with_note, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

const DEPLOY_NOTE: &str = "Saved to the pre-live app. Call deployApp to publish the change.";
const MAX_APP_NAME: usize = 64;
const MAX_APP_DESCRIPTION: usize = 10_000;

fn resource_list() -> Value {
    schema::array("In load order: {type: URL, url: https://...} or {type: FILE, file: {fileKey}} (key from uploadFile, or from getAppCustomize to keep a file)", json!({
        "type": "object",
        "properties": {"type": {"enum": ["URL", "FILE"]}, "url": {"type": "string"}, "file": {"type": "object"}},
        "required": ["type"],
    }), 0, 30)
}

fn customization(description: &str) -> Value {
    json!({"type": "object", "description": description, "properties": {"js": resource_list(), "css": resource_list()}, "additionalProperties": false})
}

pub(super) fn specs_original() -> Vec<ToolDefinition> {
    vec![spec("updateAppCustomize", "Update JavaScript/CSS customization", Annotations::OVERWRITE,
        "Set an app's JavaScript/CSS customization on the pre-live app. Each js/css list given replaces the current list, so include the entries to keep (getAppCustomize lists them; pass their file.fileKey). \
Upload new files with uploadFile first. Call deployApp to publish.",
        schema::input(vec![
            ("appId", schema::app_id()),
            ("desktop", customization("Desktop customization: {js: [...], css: [...]}")),
            ("mobile", customization("Mobile customization: {js: [...], css: [...]}")),
            ("scope", schema::one_of("Who gets the customization: ALL users, ADMIN = app administrators only, NONE = disabled", &["ALL", "ADMIN", "NONE"])),
            ("revision", schema::settings_revision()),
        ], &["appId"]),
        Some(schema::output(vec![("revision", out::revision())], &["revision"])),
    )]
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    vec![
        spec("updateAppSettings", "Update app settings", Annotations::OVERWRITE,
            "Change an app's general settings on the pre-live app: name, description (HTML), icon, theme, title field, enabled features, number precision, first month of the fiscal year. Give only what changes. Call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("name", schema::text("App name (1–64 characters)", MAX_APP_NAME)),
                ("description", json!({"type": "string", "description": "App description (HTML allowed)", "maxLength": MAX_APP_DESCRIPTION})),
                ("icon", schema::object("{\"type\": \"PRESET\", \"key\": \"APP72\"} or {\"type\": \"FILE\", \"file\": {\"fileKey\": \"...\"}}")),
                ("theme", schema::string("Theme: WHITE, RED, GREEN, BLUE, YELLOW, BLACK, or one of the newer themes")),
                ("titleField", schema::object("{\"selectionMode\": \"AUTO\"} or {\"selectionMode\": \"MANUAL\", \"code\": \"<field code>\"}")),
                ("enableThumbnails", schema::boolean("Show image thumbnails")),
                ("enableBulkDeletion", schema::boolean("Allow deleting records in bulk")),
                ("enableComments", schema::boolean("Allow record comments")),
                ("enableDuplicateRecord", schema::boolean("Allow reusing (duplicating) records")),
                ("enableInlineRecordEditing", schema::boolean("Allow editing in record lists")),
                ("numberPrecision", schema::object("{\"digits\": \"16\", \"decimalPlaces\": \"4\", \"roundingMode\": \"HALF_EVEN\"|\"UP\"|\"DOWN\"}")),
                ("firstMonthOfFiscalYear", schema::integer("First month of the fiscal year (1–12)", 1, 12)),
                ("revision", schema::settings_revision()),
            ], &["appId"]),
            Some(schema::output(vec![("revision", out::revision())], &["revision"])),
        ),
        spec("updateViews", "Replace views", Annotations::OVERWRITE,
            "Replace all record list views of the pre-live app. Views left out are deleted, so start from getViews and change what you need. \
Each entry: \"<view name>\": {\"type\": \"LIST\", \"name\": \"<view name>\", \"index\": \"0\", \"fields\": [\"title\", \"amount\"], \"filterCond\": \"status = \\\"Open\\\"\", \"sort\": \"$id desc\"}. Call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("views", json!({"type": "object", "description": "View name → view settings (the complete set of views)", "additionalProperties": {"type": "object"}})),
                ("revision", schema::settings_revision()),
            ], &["appId", "views"]),
            Some(schema::output(vec![("revision", out::revision()), ("views", out::object("View name → {id}"))], &["revision"])),
        ),
        spec("updateProcessManagement", "Update process management", Annotations::OVERWRITE,
            "Change an app's workflow on the pre-live app: enable or disable it, and replace its statuses and actions (getProcessManagement's shape; statuses and actions given replace the current ones). Call deployApp to publish.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("enable", schema::boolean("Turn process management on or off")),
                ("states", schema::object("Status name → {name, index, assignee: {type: ONE|ALL|ANY, entities: [...]}}")),
                ("actions", schema::array("Actions: {name, from, to, filterCond?, type?: PRIMARY|SECONDARY}", json!({"type": "object"}), 0, 1000)),
                ("revision", schema::settings_revision()),
            ], &["appId"]),
            Some(schema::output(vec![("revision", out::revision())], &["revision"])),
        ),
    ]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "updateAppCustomize" => update_customize(kc, args).await,
        "updateAppSettings" => update_settings(kc, args).await,
        "updateViews" => update_views(kc, args).await,
        "updateProcessManagement" => update_process(kc, args).await,
        _ => return None,
    })
}

fn with_revision(args: &Args, mut body: Map<String, Value>) -> ArgResult<Value> {
    if let Some(revision) = args.opt_revision("revision")? {
        body.insert("revision".into(), json!(revision));
    }
    Ok(Value::Object(body))
}

async fn put_preview<H: HttpClient>(kc: &Kintone<'_, H>, resource: &str, body: Value) -> Outcome {
    let answer = kc.put(resource, body).await?;
    Ok(structured_with_note(answer, Some(DEPLOY_NOTE.into())))
}

fn check_resources(path: &str, value: &Value) -> ArgResult<()> {
    let side = args::object(path, value)?;
    for (kind, list) in side {
        if kind != "js" && kind != "css" {
            return Err(ArgError::new(path, format!("takes js and css lists, not {kind:?}")));
        }
        let list = args::array(&format!("{path}.{kind}"), list, 0, 30)?;
        for (i, item) in list.iter().enumerate() {
            let at = format!("{path}.{kind}[{i}]");
            let item = args::object(&at, item)?;
            match args::one_of(
                &format!("{at}.type"),
                item.get("type").unwrap_or(&Value::Null),
                &["URL", "FILE"],
            )? {
                "URL" => {
                    let url = args::string(&format!("{at}.url"), item.get("url").unwrap_or(&Value::Null))?;
                    if !url.starts_with("https://") {
                        return Err(ArgError::new(
                            &format!("{at}.url"),
                            "kintone loads customization only from https:// URLs",
                        ));
                    }
                }
                _ => {
                    let key = item
                        .get("file")
                        .and_then(|f| f.get("fileKey"))
                        .and_then(Value::as_str)
                        .filter(|k| !k.is_empty());
                    if key.is_none() {
                        return Err(ArgError::new(
                            &format!("{at}.file"),
                            "must be {\"fileKey\": \"...\"} (from uploadFile, or from getAppCustomize to keep a file)",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

async fn update_customize<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let mut body = Map::new();
    body.insert("app".into(), json!(app));
    for side in ["desktop", "mobile"] {
        if let Some(value) = args.get(side) {
            check_resources(side, value)?;
            body.insert(side.into(), value.clone());
        }
    }
    if let Some(scope) = args.opt_enum("scope", &["ALL", "ADMIN", "NONE"])? {
        body.insert("scope".into(), json!(scope));
    }
    if body.len() == 1 {
        return Err(ArgError::new("desktop", "give at least one of desktop, mobile or scope").into());
    }
    put_preview(kc, "preview/app/customize", with_revision(args, body)?).await
}

async fn update_settings<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let mut body = Map::new();
    body.insert("app".into(), json!(app));
    if let Some(name) = args.opt_text("name", MAX_APP_NAME)? {
        body.insert("name".into(), json!(name));
    }
    if let Some(description) = args.opt_str("description")? {
        if description.chars().count() > MAX_APP_DESCRIPTION {
            return Err(ArgError::new(
                "description",
                format!("may be at most {MAX_APP_DESCRIPTION} characters"),
            )
            .into());
        }
        body.insert("description".into(), json!(description));
    }
    for key in ["icon", "titleField", "numberPrecision"] {
        if let Some(value) = args.opt_object(key)? {
            body.insert(key.into(), Value::Object(value.clone()));
        }
    }
    if let Some(theme) = args.opt_text("theme", 64)? {
        body.insert("theme".into(), json!(theme));
    }
    for key in [
        "enableThumbnails",
        "enableBulkDeletion",
        "enableComments",
        "enableDuplicateRecord",
        "enableInlineRecordEditing",
    ] {
        if let Some(flag) = args.opt_bool(key)? {
            body.insert(key.into(), json!(flag));
        }
    }
    if let Some(month) = args.opt_int("firstMonthOfFiscalYear", 1, 12)? {
        body.insert("firstMonthOfFiscalYear".into(), json!(month.to_string()));
    }
    if body.len() == 1 {
        return Err(ArgError::new("name", "give at least one setting to change (name, description, icon, theme, titleField, enable…, numberPrecision, firstMonthOfFiscalYear)").into());
    }
    put_preview(kc, "preview/app/settings", with_revision(args, body)?).await
}

async fn update_views<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let views = args.object("views")?;
    for (name, view) in views {
        let path = format!("views.{name}");
        let view = args::object(&path, view)?;
        if let Some(inner) = view.get("name") {
            if inner.as_str() != Some(name.as_str()) {
                return Err(ArgError::new(&format!("{path}.name"), format!("must equal the key {name:?}")).into());
            }
        }
    }
    let mut body = Map::new();
    body.insert("app".into(), json!(app));
    body.insert("views".into(), Value::Object(views.clone()));
    put_preview(kc, "preview/app/views", with_revision(args, body)?).await
}

async fn update_process<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let mut body = Map::new();
    body.insert("app".into(), json!(app));
    if let Some(enable) = args.opt_bool("enable")? {
        body.insert("enable".into(), json!(enable));
    }
    if let Some(states) = args.opt_object("states")? {
        body.insert("states".into(), Value::Object(states.clone()));
    }
    if let Some(actions) = args.opt_array("actions", 0, 1000)? {
        body.insert("actions".into(), Value::Array(actions.clone()));
    }
    if body.len() == 1 {
        return Err(ArgError::new("enable", "give at least one of enable, states or actions").into());
    }
    put_preview(kc, "preview/app/status", with_revision(args, body)?).await
}
