//! The tool catalogue through MCP: `tools/list` offers the original project's 28 tools with
//! their original parameters plus the new ones, every entry is complete, and every tool, run
//! once against the fake cybozu.com, sends what its annotations promise.

use crate::tools_common;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use tools_common::{effective, id_of, names, Session};

/// The original tools with their parameters and which of them were required
/// (the TypeScript Cloudflare Worker this project replaces).
const ORIGINAL: &[(&str, &[&str], &[&str])] = &[
    ("getRecords", &["appId", "query", "fields"], &["appId"]),
    ("getRecord", &["appId", "id"], &["appId", "id"]),
    ("addRecord", &["appId", "record"], &["appId", "record"]),
    ("addRecords", &["appId", "records"], &["appId", "records"]),
    (
        "updateRecord",
        &["appId", "id", "record", "revision"],
        &["appId", "id", "record"],
    ),
    (
        "getRecordComments",
        &["appId", "recordId", "order", "offset", "limit"],
        &["appId", "recordId"],
    ),
    (
        "addRecordComment",
        &["appId", "recordId", "comment"],
        &["appId", "recordId", "comment"],
    ),
    ("evaluateRecordsAcl", &["appId", "ids"], &["appId", "ids"]),
    ("getApp", &["appId"], &["appId"]),
    ("getAppFields", &["appId"], &["appId"]),
    ("searchApps", &["name", "limit", "offset"], &["name"]),
    ("getAppSettings", &["appId", "lang"], &["appId"]),
    ("getFormLayout", &["appId"], &["appId"]),
    ("getViews", &["appId", "lang"], &["appId"]),
    ("getProcessManagement", &["appId", "lang"], &["appId"]),
    ("getAppReports", &["appId", "lang"], &["appId"]),
    ("getAppCustomize", &["appId"], &["appId"]),
    ("getAppActions", &["appId", "lang"], &["appId"]),
    ("uploadFile", &["file"], &["file"]),
    ("downloadFile", &["fileKey"], &["fileKey"]),
    ("getAppAcl", &["appId"], &["appId"]),
    ("getRecordAcl", &["appId"], &["appId"]),
    ("getFieldAcl", &["appId"], &["appId"]),
    ("getAppNotificationsGeneral", &["appId"], &["appId"]),
    ("getAppNotificationsPerRecord", &["appId"], &["appId"]),
    ("getAppNotificationsReminder", &["appId"], &["appId"]),
    (
        "updateAppCustomize",
        &["appId", "desktop", "mobile", "scope", "revision"],
        &["appId"],
    ),
    ("deployApp", &["apps", "revert"], &["apps"]),
];

/// Tools the original did not have (issue 6, "More tools").
const NEW: &[&str] = &[
    "updateRecords",
    "deleteRecords",
    "getAllRecords",
    "deleteRecordComment",
    "updateRecordStatus",
    "updateRecordStatuses",
    "updateRecordAssignees",
    "addApp",
    "getFormFields",
    "addFormFields",
    "updateFormFields",
    "deleteFormFields",
    "updateFormLayout",
    "updateAppSettings",
    "updateViews",
    "updateProcessManagement",
    "updateAppAcl",
    "updateRecordAcl",
    "updateFieldAcl",
    "updateAppReports",
    "updateAppActions",
    "updateAppNotificationsGeneral",
    "updateAppNotificationsPerRecord",
    "updateAppNotificationsReminder",
    "getDeployStatus",
];

fn properties(tool: &Value) -> BTreeSet<String> {
    tool["inputSchema"]["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

fn required(tool: &Value) -> BTreeSet<String> {
    tool["inputSchema"]["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn tools_list_offers_the_original_tools_with_their_parameters_and_the_new_ones() {
    let s = Session::start().await;
    let listed = names(&s.tools);
    assert_eq!(ORIGINAL.len(), 28);
    assert_eq!(listed.len(), ORIGINAL.len() + NEW.len(), "{listed:?}");
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "duplicate names");

    for (name, params, originally_required) in ORIGINAL {
        let tool = s.tool(name);
        let props = properties(tool);
        for p in *params {
            assert!(props.contains(*p), "{name} lost its original parameter {p}: {props:?}");
        }
        // Calls that worked with the original still work: nothing new is required.
        for r in required(tool) {
            assert!(
                originally_required.contains(&r.as_str()),
                "{name} now requires {r}, which the original did not"
            );
        }
    }
    // The familiar tools come first.
    let first: BTreeSet<&str> = listed.iter().take(28).map(String::as_str).collect();
    let originals: BTreeSet<&str> = ORIGINAL.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(first, originals);
    for name in NEW {
        assert!(listed.iter().any(|l| l == name), "{name} missing");
    }

    for tool in &s.tools {
        let name = tool["name"].as_str().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) && name.len() <= 128,
            "{name}"
        );
        assert!(
            tool["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name} has no title"
        );
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 40),
            "{name} needs a description that teaches"
        );
        let input = &tool["inputSchema"];
        assert_eq!(input["type"], "object", "{name}");
        assert_eq!(input["additionalProperties"], false, "{name}");
        assert!(
            jsonschema::meta::is_valid(input),
            "{name}: inputSchema is not valid JSON Schema"
        );
        for (key, prop) in input["properties"].as_object().unwrap() {
            assert!(
                prop["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}.{key} has no description"
            );
        }
        assert!(
            properties(tool).contains("guestSpaceId"),
            "{name} takes no guestSpaceId"
        );
        for r in required(tool) {
            assert!(properties(tool).contains(&r), "{name} requires unknown {r}");
        }
        let output = tool
            .get("outputSchema")
            .unwrap_or_else(|| panic!("{name} has no outputSchema"));
        assert_eq!(output["type"], "object", "{name}");
        assert!(
            jsonschema::meta::is_valid(output),
            "{name}: outputSchema is not valid JSON Schema"
        );
        let hints = &tool["annotations"];
        for key in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] {
            assert!(hints[key].is_boolean(), "{name}: annotation {key} missing: {hints}");
        }
        assert_eq!(hints["title"], tool["title"], "{name}");
    }

    // The size of the whole answer, as a client receives it (printed, not asserted).
    let pages = s.mcp.list_tools_raw().await.unwrap();
    let bytes: usize = pages.iter().map(|p| p.bytes).sum();
    let descriptions: usize = s.tools.iter().map(|t| t["description"].as_str().unwrap().len()).sum();
    let inputs: usize = s.tools.iter().map(|t| t["inputSchema"].to_string().len()).sum();
    let outputs: usize = s.tools.iter().map(|t| t["outputSchema"].to_string().len()).sum();
    println!(
        "tools/list: {} tools in {} page(s), {bytes} bytes of JSON (descriptions {descriptions}, inputSchema {inputs}, outputSchema {outputs})",
        s.tools.len(),
        pages.len()
    );
}

/// Runs every listed tool once with arguments kintone accepts; `Session::ok` checks each
/// call's annotations against the requests the fake received. Prints the verified table.
#[tokio::test]
async fn every_tool_sends_what_its_annotations_say() {
    let s = Session::start().await;
    let mut table: Vec<(String, String, Value)> = Vec::new();
    let mut run = |name: &str, done: &tools_common::Done| {
        let endpoints: BTreeSet<String> = done
            .sent
            .iter()
            .map(|r| format!("{} {}", effective(r), r.path))
            .collect();
        table.push((
            name.to_owned(),
            endpoints.into_iter().collect::<Vec<_>>().join(", "),
            s.tool(name)["annotations"].clone(),
        ));
    };

    // Records.
    for (name, args) in [
        (
            "getRecords",
            json!({"appId": 1, "query": "ランク in (\"A\")", "fields": ["会社名"]}),
        ),
        ("getRecord", json!({"appId": 1, "id": 1})),
        ("getAllRecords", json!({"appId": 1, "fields": ["会社名"]})),
        ("evaluateRecordsAcl", json!({"appId": 1, "ids": [1, 2]})),
        ("getRecordComments", json!({"appId": 1, "recordId": 1})),
    ] {
        run(name, &s.ok(name, args).await);
    }
    let first = s
        .ok(
            "addRecord",
            json!({"appId": 1, "record": {"会社名": {"value": "注釈一号"}}}),
        )
        .await;
    run("addRecord", &first);
    // Additive tools are not idempotent: the same call again adds a second record.
    let again = s
        .ok(
            "addRecord",
            json!({"appId": 1, "record": {"会社名": {"value": "注釈二号"}}}),
        )
        .await;
    let a = id_of(&first.data()["id"]);
    assert_ne!(a, id_of(&again.data()["id"]));
    let added = s
        .ok(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "注釈三号"}}, {"会社名": {"value": "注釈四号"}}]}),
        )
        .await;
    run("addRecords", &added);
    let bulk: Vec<u64> = added.data()["ids"].as_array().unwrap().iter().map(id_of).collect();
    run(
        "updateRecord",
        &s.ok(
            "updateRecord",
            json!({"appId": 1, "id": a, "record": {"従業員数": {"value": "10"}}}),
        )
        .await,
    );
    run(
        "updateRecords",
        &s.ok(
            "updateRecords",
            json!({"appId": 1, "records": [{"id": a, "record": {"従業員数": {"value": "11"}}}]}),
        )
        .await,
    );
    run(
        "deleteRecords",
        &s.ok("deleteRecords", json!({"appId": 1, "ids": bulk})).await,
    );
    let comment = s
        .ok(
            "addRecordComment",
            json!({"appId": 1, "recordId": a, "comment": {"text": "一件目"}}),
        )
        .await;
    run("addRecordComment", &comment);
    let comment_id = id_of(&comment.data()["id"]);
    run(
        "deleteRecordComment",
        &s.ok(
            "deleteRecordComment",
            json!({"appId": 1, "recordId": a, "commentId": comment_id}),
        )
        .await,
    );

    // Workflow on the deals app.
    run(
        "updateRecordStatus",
        &s.ok("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"}))
            .await,
    );
    let deal = |name: &str| json!({"案件名": {"value": name}, "顧客名": {"value": "Acme"}, "担当者": {"value": [{"code": "alice"}]}});
    let deals = s
        .ok(
            "addRecords",
            json!({"appId": 2, "records": [deal("注釈A"), deal("注釈B")]}),
        )
        .await;
    let deal_ids: Vec<u64> = deals.data()["ids"].as_array().unwrap().iter().map(id_of).collect();
    let entries: Vec<Value> = deal_ids
        .iter()
        .map(|id| json!({"id": id, "action": "商談開始"}))
        .collect();
    run(
        "updateRecordStatuses",
        &s.ok("updateRecordStatuses", json!({"appId": 2, "records": entries}))
            .await,
    );
    run(
        "updateRecordAssignees",
        &s.ok(
            "updateRecordAssignees",
            json!({"appId": 2, "id": deal_ids[0], "assignees": ["bob"]}),
        )
        .await,
    );

    // Apps and settings reads.
    for (name, args) in [
        ("getApp", json!({"appId": 1})),
        ("searchApps", json!({"name": "顧客"})),
        ("getAppFields", json!({"appId": 1})),
        ("getFormFields", json!({"appId": 1})),
        ("getAppSettings", json!({"appId": 1})),
        ("getFormLayout", json!({"appId": 1})),
        ("getViews", json!({"appId": 1})),
        ("getProcessManagement", json!({"appId": 2})),
        ("getAppReports", json!({"appId": 1})),
        ("getAppCustomize", json!({"appId": 1})),
        ("getAppActions", json!({"appId": 1})),
        ("getAppAcl", json!({"appId": 1})),
        ("getRecordAcl", json!({"appId": 1})),
        ("getFieldAcl", json!({"appId": 1})),
        ("getAppNotificationsGeneral", json!({"appId": 1})),
        ("getAppNotificationsPerRecord", json!({"appId": 1})),
        ("getAppNotificationsReminder", json!({"appId": 1})),
    ] {
        run(name, &s.ok(name, args).await);
    }

    // Files.
    let upload = json!({"file": {"name": "memo.txt", "content": "aGVsbG8=", "contentType": "text/plain"}});
    let uploaded = s.ok("uploadFile", upload.clone()).await;
    run("uploadFile", &uploaded);
    assert_ne!(
        uploaded.data()["fileKey"],
        s.ok("uploadFile", upload).await.data()["fileKey"],
        "each upload is a new file"
    );
    let quote = s.ok("getRecord", json!({"appId": 2, "id": 1})).await;
    let key = quote.data()["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_owned();
    run("downloadFile", &s.ok("downloadFile", json!({"fileKey": key})).await);

    // Pre-live settings writes, then deploy.
    let created = s.ok("addApp", json!({"name": "注釈アプリ"})).await;
    run("addApp", &created);
    assert_ne!(
        created.data()["app"],
        s.ok("addApp", json!({"name": "注釈アプリ"})).await.data()["app"],
        "each call creates an app"
    );
    run(
        "addFormFields",
        &s.ok(
            "addFormFields",
            json!({"appId": 1, "properties": {"備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考2"}}}),
        )
        .await,
    );
    run(
        "updateFormFields",
        &s.ok(
            "updateFormFields",
            json!({"appId": 1, "properties": {"備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考その2"}}}),
        )
        .await,
    );
    run(
        "deleteFormFields",
        &s.ok("deleteFormFields", json!({"appId": 1, "fields": ["備考2"]})).await,
    );
    let layout = s.ok("getFormLayout", json!({"appId": 1, "preview": true})).await.data()["layout"].clone();
    run(
        "updateFormLayout",
        &s.ok("updateFormLayout", json!({"appId": 1, "layout": layout})).await,
    );
    run(
        "updateAppSettings",
        &s.ok("updateAppSettings", json!({"appId": 1, "description": "注釈テスト"}))
            .await,
    );
    let views = json!({"一覧": {"type": "LIST", "name": "一覧", "index": "0", "fields": ["会社名"], "filterCond": "", "sort": "$id desc"}});
    run(
        "updateViews",
        &s.ok("updateViews", json!({"appId": 1, "views": views})).await,
    );
    run(
        "updateProcessManagement",
        &s.ok("updateProcessManagement", json!({"appId": 2, "enable": true}))
            .await,
    );
    run(
        "updateAppCustomize",
        &s.ok("updateAppCustomize", json!({"appId": 1, "scope": "ADMIN"})).await,
    );
    let rights = s.ok("getAppAcl", json!({"appId": 1, "preview": true})).await.data()["rights"].clone();
    run(
        "updateAppAcl",
        &s.ok("updateAppAcl", json!({"appId": 1, "rights": rights})).await,
    );
    run(
        "updateRecordAcl",
        &s.ok("updateRecordAcl", json!({"appId": 1, "rights": []})).await,
    );
    run(
        "updateFieldAcl",
        &s.ok("updateFieldAcl", json!({"appId": 1, "rights": []})).await,
    );
    run(
        "updateAppReports",
        &s.ok("updateAppReports", json!({"appId": 1, "reports": {}})).await,
    );
    run(
        "updateAppActions",
        &s.ok("updateAppActions", json!({"appId": 1, "actions": {}})).await,
    );
    run(
        "updateAppNotificationsGeneral",
        &s.ok(
            "updateAppNotificationsGeneral",
            json!({"appId": 1, "notifyToCommenter": false}),
        )
        .await,
    );
    run(
        "updateAppNotificationsPerRecord",
        &s.ok(
            "updateAppNotificationsPerRecord",
            json!({"appId": 1, "notifications": []}),
        )
        .await,
    );
    run(
        "updateAppNotificationsReminder",
        &s.ok("updateAppNotificationsReminder", json!({"appId": 1, "timezone": "UTC"}))
            .await,
    );
    run(
        "deployApp",
        &s.ok("deployApp", json!({"apps": [{"app": 1}, {"app": 2}]})).await,
    );
    run(
        "getDeployStatus",
        &s.ok("getDeployStatus", json!({"apps": [1, 2]})).await,
    );

    // Every listed tool ran, and nothing else.
    let ran: BTreeSet<&str> = table.iter().map(|(n, _, _)| n.as_str()).collect();
    let listed: BTreeSet<String> = names(&s.tools).into_iter().collect();
    assert_eq!(ran.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>(), listed);

    println!(
        "{:<32} {:<64} readOnly destructive idempotent openWorld",
        "tool", "kintone requests"
    );
    for name in names(&s.tools) {
        let (_, endpoints, h) = table.iter().find(|(n, _, _)| *n == name).unwrap();
        println!(
            "{name:<32} {endpoints:<64} {:<8} {:<11} {:<10} {}",
            h["readOnlyHint"], h["destructiveHint"], h["idempotentHint"], h["openWorldHint"]
        );
    }
}

/// The original project sent ids as strings and only its own parameters: such calls keep
/// working unchanged for each of the 28 original tools.
#[tokio::test]
async fn original_style_calls_keep_working() {
    let s = Session::start().await;
    let quote = s.ok("getRecord", json!({"appId": "2", "id": "1"})).await;
    let file_key = quote.data()["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls: Vec<(&str, Value)> = vec![
        (
            "getRecords",
            json!({"appId": "1", "query": "ランク in (\"A\")", "fields": ["会社名"]}),
        ),
        ("getRecord", json!({"appId": "1", "id": "1"})),
        (
            "addRecord",
            json!({"appId": "1", "record": {"会社名": {"value": "旧形式社"}}}),
        ),
        (
            "addRecords",
            json!({"appId": "1", "records": [{"会社名": {"value": "旧形式二社"}}]}),
        ),
        (
            "updateRecord",
            json!({"appId": "1", "id": "1", "record": {"従業員数": {"value": "12"}}, "revision": 1}),
        ),
        (
            "getRecordComments",
            json!({"appId": "1", "recordId": "1", "order": "asc", "offset": 0, "limit": 5}),
        ),
        (
            "addRecordComment",
            json!({"appId": "1", "recordId": "1", "comment": {"text": "旧形式", "mentions": [{"code": "bob", "type": "USER"}]}}),
        ),
        ("evaluateRecordsAcl", json!({"appId": "1", "ids": ["1", 2]})),
        ("getApp", json!({"appId": "1"})),
        ("getAppFields", json!({"appId": "1"})),
        ("searchApps", json!({"name": "顧客", "limit": 10, "offset": 0})),
        ("getAppSettings", json!({"appId": "1", "lang": "ja"})),
        ("getFormLayout", json!({"appId": "1"})),
        ("getViews", json!({"appId": "1", "lang": "en"})),
        ("getProcessManagement", json!({"appId": "2", "lang": "user"})),
        ("getAppReports", json!({"appId": "1", "lang": "zh"})),
        ("getAppCustomize", json!({"appId": "1"})),
        ("getAppActions", json!({"appId": "1", "lang": "default"})),
        (
            "uploadFile",
            json!({"file": {"name": "old.txt", "content": "b2xk", "contentType": "text/plain"}}),
        ),
        ("downloadFile", json!({"fileKey": file_key})),
        ("getAppAcl", json!({"appId": "1"})),
        ("getRecordAcl", json!({"appId": "1"})),
        ("getFieldAcl", json!({"appId": "1"})),
        ("getAppNotificationsGeneral", json!({"appId": "1"})),
        ("getAppNotificationsPerRecord", json!({"appId": "1"})),
        ("getAppNotificationsReminder", json!({"appId": "1"})),
        (
            "updateAppCustomize",
            json!({"appId": "1", "desktop": {"js": [{"type": "URL", "url": "https://cdn.example.com/old.js"}], "css": []}, "mobile": {"js": [], "css": []}, "scope": "ALL"}),
        ),
        ("deployApp", json!({"apps": [{"app": "1"}], "revert": false})),
    ];
    let called: BTreeSet<&str> = calls.iter().map(|(n, _)| *n).collect();
    assert_eq!(called, ORIGINAL.iter().map(|(n, _, _)| *n).collect::<BTreeSet<_>>());
    for (name, args) in calls {
        // Only the original's parameters (plus nothing new) are used.
        let (_, params, _) = ORIGINAL.iter().find(|(n, _, _)| *n == name).unwrap();
        assert!(
            args.as_object().unwrap().keys().all(|k| params.contains(&k.as_str())),
            "{name}: {args}"
        );
        s.ok(name, args).await;
    }
    // The id sent to kintone is the number the string named.
    let done = s.ok("getRecord", json!({"appId": "1", "id": "3"})).await;
    assert_eq!(done.data()["record"]["$id"]["value"], "3");
}
