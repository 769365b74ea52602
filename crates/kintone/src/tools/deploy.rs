//! Publishing pre-live settings: deployApp (optionally waiting for the outcome) and getDeployStatus.

use std::time::Duration;

use platform::HttpClient;
use serde_json::{json, Value};

use super::spec;
use crate::args::{self, ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured, structured_with_note, Failure, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition, ToolResult};

const MAX_APPS: usize = 300;
/// Pauses between status polls when deployApp waits: about 15 s in all, well inside the 30 s
/// hosted platforms allow a request.
const POLL_PAUSES_MS: &[u64] = &[500, 1000, 1000, 1500, 2000, 3000, 3000, 3000];

fn statuses_out() -> Value {
    schema::output(
        vec![(
            "apps",
            json!({"type": "array", "items": {"type": "object", "properties": {
            "app": out::id(),
            "status": {"type": "string", "enum": ["PROCESSING", "SUCCESS", "FAIL", "CANCEL"]},
        }, "required": ["app"]}}),
        )],
        &["apps"],
    )
}

pub(super) fn specs_original() -> Vec<ToolDefinition> {
    vec![spec("deployApp", "Deploy app settings", Annotations::OVERWRITE,
        "Publish the pre-live settings of up to 300 apps (fields, layout, views, settings, customization, process management) to the live apps. Deployment runs in the background: \
with wait: true this tool waits up to about 15 seconds and reports SUCCESS or FAIL per app; otherwise check with getDeployStatus. With revert: true the pre-live settings are discarded instead (reset to the live ones).",
        schema::input(vec![
            ("apps", schema::array("Apps to deploy", json!({
                "type": "object",
                "properties": {
                    "app": schema::id("App ID to deploy"),
                    "revision": schema::revision("Expected pre-live settings revision; omit or -1 to skip the check"),
                },
                "required": ["app"],
                "additionalProperties": false,
            }), 1, MAX_APPS)),
            ("revert", schema::boolean("true discards the pre-live changes instead of publishing them (default false)")),
            ("wait", schema::boolean("Wait (up to about 15 s) for the deployment to finish and report its status (default false)")),
        ], &["apps"]),
        Some(statuses_out()),
    )]
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    vec![spec("getDeployStatus", "Get deploy status", Annotations::READ,
        "Check the deployment started by deployApp, per app: PROCESSING, SUCCESS, FAIL (for example when existing records break a new unique or length rule) or CANCEL.",
        schema::input(vec![("apps", schema::ids("App IDs (1–300)", MAX_APPS))], &["apps"]),
        Some(statuses_out()),
    )]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "deployApp" => deploy(kc, args).await,
        "getDeployStatus" => status(kc, args).await,
        _ => return None,
    })
}

fn app_ids(args: &Args) -> Result<Vec<u64>, Failure> {
    let items = args.array("apps", 1, MAX_APPS)?;
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, v)| args::id(&format!("apps[{i}]"), v))
        .collect::<Result<Vec<_>, _>>()?)
}

async fn status<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let apps = app_ids(args)?;
    Ok(structured(kc.get("preview/app/deploy", json!({"apps": apps})).await?))
}

async fn deploy<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let entries = args.array("apps", 1, MAX_APPS)?;
    let mut apps = Vec::with_capacity(entries.len());
    let mut ids = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("apps[{i}]");
        let entry = args::object(&path, entry)?;
        if let Some(extra) = entry.keys().find(|k| *k != "app" && *k != "revision") {
            return Err(ArgError::new(&path, format!("takes app and revision, not {extra:?}")).into());
        }
        let app = args::id(&format!("{path}.app"), entry.get("app").unwrap_or(&Value::Null))?;
        let mut item = json!({"app": app});
        if let Some(revision) = entry.get("revision") {
            item["revision"] = json!(args::revision(&format!("{path}.revision"), revision)?);
        }
        apps.push(item);
        ids.push(app);
    }
    let mut body = json!({"apps": apps});
    if let Some(revert) = args.opt_bool("revert")? {
        body["revert"] = json!(revert);
    }
    let wait = args.opt_bool("wait")?.unwrap_or(false);
    kc.post("preview/app/deploy", body).await?;
    if !wait {
        let started = json!({"apps": ids.iter().map(|id| json!({"app": id.to_string()})).collect::<Vec<_>>()});
        return Ok(structured_with_note(
            started,
            Some("Deployment started. Check getDeployStatus until every app shows SUCCESS.".into()),
        ));
    }
    let mut answer = Value::Null;
    for pause in POLL_PAUSES_MS {
        // Blocking is fine here: one instance serves one request, and wasm has no other work.
        std::thread::sleep(Duration::from_millis(*pause));
        answer = kc.get("preview/app/deploy", json!({"apps": ids})).await?;
        if !any_status(&answer, &["PROCESSING"]) {
            break;
        }
    }
    Ok(report(answer))
}

fn any_status(answer: &Value, wanted: &[&str]) -> bool {
    answer.get("apps").and_then(Value::as_array).is_some_and(|apps| {
        apps.iter().any(|a| {
            a.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| wanted.contains(&s))
        })
    })
}

fn report(answer: Value) -> ToolResult {
    if any_status(&answer, &["FAIL", "CANCEL"]) {
        return ToolResult::error(format!(
            "Deployment did not succeed for every app: {answer}. The live apps keep their previous settings. \
A FAIL usually means existing records break a new rule (unique, max length, required) or a field is referenced elsewhere; fix the pre-live settings and deploy again."
        ));
    }
    let note = any_status(&answer, &["PROCESSING"])
        .then(|| "Deployment is still running; check getDeployStatus in a few seconds.".to_string());
    structured_with_note(answer, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_say_whether_to_check_again() {
        let running =
            report(json!({"apps": [{"app": "1", "status": "SUCCESS"}, {"app": "2", "status": "PROCESSING"}]}));
        assert!(!running.is_error);
        assert!(running.text().contains("still running; check getDeployStatus"));
        let done = report(json!({"apps": [{"app": "1", "status": "SUCCESS"}]}));
        assert_eq!(done.content.len(), 1);
        let cancelled = report(json!({"apps": [{"app": "1", "status": "CANCEL"}, {"app": "2", "status": "FAIL"}]}));
        assert!(cancelled.is_error && cancelled.structured.is_none());
    }
}
