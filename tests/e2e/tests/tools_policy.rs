//! The deployment's tool policy through MCP (Spin variables `read_only`, `tools_allow`,
//! `tools_deny`, which reach the composed kintone-tools component through
//! `dependencies_inherit_configuration`): hidden tools are absent from `tools/list`, refused
//! with a JSON-RPC error when called anyway, and never reach kintone.

use crate::tools_common;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use tools_common::{names, with_variables, Session};

/// Every tool that only reads.
const READ_TOOLS: &[&str] = &[
    "getRecords",
    "getRecord",
    "getRecordComments",
    "evaluateRecordsAcl",
    "getApp",
    "getAppFields",
    "getAppSettings",
    "getFormLayout",
    "getViews",
    "getProcessManagement",
    "getAppReports",
    "getAppCustomize",
    "getAppActions",
    "searchApps",
    "downloadFile",
    "getAppAcl",
    "getRecordAcl",
    "getFieldAcl",
    "getAppNotificationsGeneral",
    "getAppNotificationsPerRecord",
    "getAppNotificationsReminder",
    "getAllRecords",
    "getFormFields",
    "getDeployStatus",
];

/// Valid arguments for every tool that writes.
fn write_calls() -> Vec<(&'static str, Value)> {
    let record = json!({"会社名": {"value": "隠し社"}});
    vec![
        ("addRecord", json!({"appId": 1, "record": record})),
        ("addRecords", json!({"appId": 1, "records": [record]})),
        (
            "updateRecord",
            json!({"appId": 1, "id": 1, "record": {"従業員数": {"value": "1"}}}),
        ),
        (
            "updateRecords",
            json!({"appId": 1, "records": [{"id": 1, "record": {"従業員数": {"value": "1"}}}]}),
        ),
        ("deleteRecords", json!({"appId": 1, "ids": [1]})),
        (
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": {"text": "x"}}),
        ),
        (
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": 1}),
        ),
        ("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"})),
        (
            "updateRecordStatuses",
            json!({"appId": 2, "records": [{"id": 1, "action": "承認申請"}]}),
        ),
        (
            "updateRecordAssignees",
            json!({"appId": 2, "id": 1, "assignees": ["bob"]}),
        ),
        ("uploadFile", json!({"file": {"name": "a.txt", "content": "aGVsbG8="}})),
        ("addApp", json!({"name": "隠しアプリ"})),
        (
            "addFormFields",
            json!({"appId": 1, "properties": {"x": {"type": "NUMBER", "label": "x"}}}),
        ),
        (
            "updateFormFields",
            json!({"appId": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT", "label": "x"}}}),
        ),
        ("deleteFormFields", json!({"appId": 1, "fields": ["メモ"]})),
        (
            "updateFormLayout",
            json!({"appId": 1, "layout": [{"type": "ROW", "fields": []}]}),
        ),
        ("updateAppSettings", json!({"appId": 1, "name": "隠し"})),
        ("updateViews", json!({"appId": 1, "views": {}})),
        ("updateProcessManagement", json!({"appId": 2, "enable": false})),
        ("updateAppCustomize", json!({"appId": 1, "scope": "NONE"})),
        ("updateAppAcl", json!({"appId": 1, "rights": []})),
        ("updateRecordAcl", json!({"appId": 1, "rights": []})),
        ("updateFieldAcl", json!({"appId": 1, "rights": []})),
        ("updateAppReports", json!({"appId": 1, "reports": {}})),
        ("updateAppActions", json!({"appId": 1, "actions": {}})),
        (
            "updateAppNotificationsGeneral",
            json!({"appId": 1, "notifyToCommenter": false}),
        ),
        (
            "updateAppNotificationsPerRecord",
            json!({"appId": 1, "notifications": []}),
        ),
        ("updateAppNotificationsReminder", json!({"appId": 1, "timezone": "UTC"})),
        ("deployApp", json!({"apps": [{"app": 1}]})),
    ]
}

/// A hidden tool, called anyway: a JSON-RPC invalid-params error naming it, nothing sent.
async fn assert_refused(s: &Session, name: &str, args: Value) {
    let reply = s.rpc_refused(&s.mcp, name, args).await;
    assert_eq!(reply.status, 200, "{name}");
    assert_eq!(reply.error_code(), Some(-32602), "{name}: {:?}", reply.error);
    assert_eq!(
        reply.error.as_ref().unwrap()["message"],
        format!("Unknown tool: {name}"),
        "{name}"
    );
}

fn set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn read_only_mode_hides_and_refuses_every_writing_tool() {
    let s = Session::start_with(with_variables(&[("read_only", "true")])).await;
    let listed = names(&s.tools);
    assert_eq!(set(&listed), READ_TOOLS.iter().copied().collect::<BTreeSet<_>>());
    assert!(s
        .tools
        .iter()
        .all(|t| t["annotations"]["readOnlyHint"] == true && t["annotations"]["destructiveHint"] == false));

    let records = s.records(1);
    let deals = s.records(2);
    let writes = write_calls();
    assert_eq!(
        writes.len() + READ_TOOLS.len(),
        53,
        "every tool is either here or in READ_TOOLS"
    );
    for (name, args) in writes {
        assert!(!listed.iter().any(|l| l == name), "{name} listed in read-only mode");
        assert_refused(&s, name, args).await;
    }
    assert_eq!(s.records(1), records, "nothing was written");
    assert_eq!(s.records(2), deals);

    // Reading still works, and downloadFile (a read) stays available.
    s.ok("getRecords", json!({"appId": 1, "limit": 1})).await;
    let key = s.ok("getRecord", json!({"appId": 2, "id": 1})).await.data()["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok("downloadFile", json!({"fileKey": key})).await;
}

#[tokio::test]
async fn the_allow_list_offers_only_its_tools_and_the_deny_list_wins() {
    let s = Session::start_with(with_variables(&[
        ("tools_allow", " getRecords, getRecord ,addRecord"),
        ("tools_deny", "addRecord"),
    ]))
    .await;
    assert_eq!(names(&s.tools), ["getRecords", "getRecord"]);
    let before = s.records(1);
    assert_refused(
        &s,
        "addRecord",
        json!({"appId": 1, "record": {"会社名": {"value": "拒否社"}}}),
    )
    .await;
    assert_refused(&s, "getApp", json!({"appId": 1})).await;
    assert_refused(&s, "deleteRecords", json!({"appId": 1, "ids": [1]})).await;
    assert_eq!(s.records(1), before);
    let done = s.ok("getRecord", json!({"appId": 1, "id": 1})).await;
    assert_eq!(done.one().path, "/k/v1/record.json");
}

#[tokio::test]
async fn the_deny_list_hides_its_tools_and_keeps_the_rest() {
    let s = Session::start_with(with_variables(&[(
        "tools_deny",
        "deleteRecords,deleteRecordComment,deleteFormFields",
    )]))
    .await;
    let listed = names(&s.tools);
    assert_eq!(listed.len(), 50);
    for hidden in ["deleteRecords", "deleteRecordComment", "deleteFormFields"] {
        assert!(!listed.iter().any(|l| l == hidden), "{hidden} listed");
    }
    let before = s.records(1).len();
    assert_refused(&s, "deleteRecords", json!({"appId": 1, "ids": [1]})).await;
    assert_refused(
        &s,
        "deleteRecordComment",
        json!({"appId": 1, "recordId": 1, "commentId": 1}),
    )
    .await;
    assert_eq!(s.records(1).len(), before);
    // Other writes still work.
    s.ok(
        "addRecord",
        json!({"appId": 1, "record": {"会社名": {"value": "許可社"}}}),
    )
    .await;
    assert_eq!(s.records(1).len(), before + 1);
}

#[tokio::test]
async fn an_unusable_tool_setting_offers_no_tool_rather_than_more() {
    let s = Session::start_with(with_variables(&[("tools_allow", "getRecords,getRecordz")])).await;
    assert!(s.tools.is_empty(), "{:?}", names(&s.tools));
    let reply = s.rpc_refused(&s.mcp, "getRecords", json!({"appId": 1})).await;
    assert_eq!(reply.error_code(), Some(-32602), "{:?}", reply.error);

    let s = Session::start_with(with_variables(&[("read_only", "maybe")])).await;
    assert!(s.tools.is_empty(), "{:?}", names(&s.tools));
    s.rpc_refused(&s.mcp, "addRecord", json!({"appId": 1, "record": {}}))
        .await;
}
