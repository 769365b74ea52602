//! Finding and creating apps: searchApps, addApp.

use platform::HttpClient;
use serde_json::{json, Value};

use super::spec;
use crate::args::{self, ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured_with_note, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

const MAX_APPS_PER_CALL: i64 = 100;
const MAX_FILTER_ITEMS: usize = 100;
const MAX_APP_NAME: usize = 64;

pub(super) fn specs_original() -> Vec<ToolDefinition> {
    vec![spec("searchApps", "Find apps", Annotations::READ,
        "List the kintone apps the signed-in user can see, filtered by a part of the name (case-insensitive) and/or by app IDs, app codes or space IDs; omit every filter to list all apps. \
Returns up to 100 apps per call with their appId, code, name, description, spaceId and creator; page with offset. Start here to find the appId other tools need.",
        schema::input(vec![
            ("name", schema::string("App name or part of it (optional)")),
            ("ids", schema::array("App IDs (optional, up to 100)", schema::id("App ID"), 0, MAX_FILTER_ITEMS)),
            ("codes", schema::array("App codes (optional, up to 100)", schema::string("App code"), 0, MAX_FILTER_ITEMS)),
            ("spaceIds", schema::array("Space IDs whose apps to list (optional, up to 100)", schema::id("Space ID"), 0, MAX_FILTER_ITEMS)),
            ("limit", schema::integer("Maximum number of apps to return (default 100, max 100)", 1, MAX_APPS_PER_CALL)),
            ("offset", schema::integer("Number of apps to skip (default 0)", 0, i64::from(u32::MAX))),
        ], &[]),
        Some(schema::output(vec![
            ("apps", out::objects("Apps: appId, code, name, description, spaceId, threadId, createdAt, creator, modifiedAt, modifier")),
            ("returned", json!({"type": "integer", "description": "Apps in this answer"})),
            ("offset", json!({"type": "integer"})),
            ("nextOffset", json!({"type": ["integer", "null"], "description": "Offset for the next page, or null when this page was not full"})),
        ], &["apps", "returned", "offset"])),
    )]
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    vec![spec("addApp", "Create an app", Annotations::ADD,
        "Create a new, empty kintone app in the pre-live (preview) state. Then add fields with addFormFields, arrange them with updateFormLayout, and publish with deployApp — the app is not usable until deployed.",
        schema::input(vec![
            ("name", schema::text("App name (1–64 characters)", MAX_APP_NAME)),
            ("space", schema::id("Space ID to create the app in (optional; needs thread too)")),
            ("thread", schema::id("Thread ID of the space (required with space)")),
        ], &["name"]),
        Some(schema::output(vec![("app", out::id()), ("revision", out::revision())], &["app", "revision"])),
    )]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "searchApps" => search_apps(kc, args).await,
        "addApp" => add_app(kc, args).await,
        _ => return None,
    })
}

async fn search_apps<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let limit = args
        .opt_int("limit", 1, MAX_APPS_PER_CALL)?
        .unwrap_or(MAX_APPS_PER_CALL);
    let offset = args.opt_int("offset", 0, i64::from(u32::MAX))?.unwrap_or(0);
    let mut params = json!({"limit": limit, "offset": offset});
    if let Some(name) = args.opt_str("name")?.map(str::trim).filter(|n| !n.is_empty()) {
        params["name"] = json!(name);
    }
    for key in ["ids", "spaceIds"] {
        if let Some(items) = args.opt_array(key, 0, MAX_FILTER_ITEMS)? {
            let ids = items
                .iter()
                .enumerate()
                .map(|(i, v)| args::id(&format!("{key}[{i}]"), v))
                .collect::<Result<Vec<_>, _>>()?;
            if !ids.is_empty() {
                params[key] = json!(ids);
            }
        }
    }
    if let Some(items) = args.opt_array("codes", 0, MAX_FILTER_ITEMS)? {
        let codes = items
            .iter()
            .enumerate()
            .map(|(i, v)| args::text(&format!("codes[{i}]"), v, 64))
            .collect::<Result<Vec<_>, ArgError>>()?;
        if !codes.is_empty() {
            params["codes"] = json!(codes);
        }
    }
    let answer = kc.get("apps", params).await?;
    let apps = answer.get("apps").cloned().unwrap_or_else(|| json!([]));
    let returned = apps.as_array().map_or(0, Vec::len) as i64;
    // kintone reports no total: a full page means there may be more.
    let next_offset = (returned == limit).then_some(offset + returned);
    let note =
        next_offset.map(|n| format!("This page is full; more apps may exist: call searchApps again with offset {n}."));
    Ok(structured_with_note(
        json!({"apps": apps, "returned": returned, "offset": offset, "nextOffset": next_offset}),
        note,
    ))
}

async fn add_app<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let name = args.opt_text("name", MAX_APP_NAME)?.unwrap_or_default();
    let mut body = json!({"name": name});
    match (args.opt_id("space")?, args.opt_id("thread")?) {
        (Some(space), Some(thread)) => {
            body["space"] = json!(space);
            body["thread"] = json!(thread);
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ArgError::new("thread", "required with space: give the space's thread ID").into())
        }
        (None, Some(_)) => return Err(ArgError::new("space", "required with thread").into()),
    }
    let answer: Value = kc.post("preview/app", body).await?;
    let note = answer.get("app").map(|app| {
        format!("Created app {app} in pre-live state; call deployApp with apps [{{\"app\": {app}}}] to publish it.")
    });
    Ok(structured_with_note(answer, note))
}
