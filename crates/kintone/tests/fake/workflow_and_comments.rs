//! Comment tools and process-management tools.

use serde_json::json;

use crate::common::{field, record_by_id, Env};

#[tokio::test]
async fn comments_can_be_read_added_and_deleted() {
    let env = Env::start().await;
    let data = env.data("getRecordComments", json!({"appId": 1, "recordId": 1})).await;
    let comments = data["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["text"], "了解です。資料を用意します。", "newest first");

    let first_page = env
        .ok(
            "getRecordComments",
            json!({"appId": 1, "recordId": 1, "order": "asc", "limit": 1}),
        )
        .await;
    assert_eq!(
        first_page.structured.as_ref().unwrap()["comments"][0]["text"],
        "来週訪問予定です。"
    );
    assert!(first_page.text().contains("offset 1"), "{}", first_page.text());

    let added = env
        .data("addRecordComment", json!({"appId": 1, "recordId": 1, "comment": {"text": "確認お願いします", "mentions": [{"code": "bob", "type": "USER"}]}}))
        .await;
    let id = added["id"].as_str().unwrap().to_string();
    let stored = record_by_id(&env.records(1), 1)["$comments"].clone();
    assert!(
        stored
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["text"].as_str().unwrap_or("").contains("確認お願いします")),
        "{stored}"
    );

    let deleted = env
        .data(
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": id}),
        )
        .await;
    assert_eq!(deleted["deletedCommentId"], id);
    let after = record_by_id(&env.records(1), 1)["$comments"].clone();
    assert!(!after
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["text"].as_str().unwrap_or("").contains("確認お願いします")));

    let text = env
        .tool_error(
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": id}),
        )
        .await;
    assert!(
        text.contains("GAIA_RE02") && text.contains("getRecordComments lists the comment ids"),
        "{text}"
    );
}

#[tokio::test]
async fn status_actions_move_records_and_refuse_wrong_actions() {
    let env = Env::start().await;
    let record = record_by_id(&env.records(2), 1);
    assert_eq!(field(&record, "ステータス"), "商談中");

    let data = env
        .data("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"}))
        .await;
    assert!(data["revision"].is_string());
    assert_eq!(field(&record_by_id(&env.records(2), 1), "ステータス"), "承認待ち");

    // The same action again is not allowed from the new status.
    let text = env
        .tool_error("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"}))
        .await;
    assert!(text.contains("kintone returned an error"), "{text}");
    assert_eq!(field(&record_by_id(&env.records(2), 1), "ステータス"), "承認待ち");
}

#[tokio::test]
async fn bulk_status_actions_and_assignees() {
    let env = Env::start().await;
    let deal = |name: &str| json!({"案件名": {"value": name}, "顧客名": {"value": "Acme"}, "担当者": {"value": [{"code": "alice"}]}});
    let added = env
        .data(
            "addRecords",
            json!({"appId": 2, "records": [deal("新規A"), deal("新規B")]}),
        )
        .await;
    let startable: Vec<u64> = added["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().parse().unwrap())
        .collect();
    for id in &startable {
        assert_eq!(field(&record_by_id(&env.records(2), *id), "ステータス"), "未着手");
    }
    let entries: Vec<_> = startable
        .iter()
        .map(|id| json!({"id": id, "action": "商談開始"}))
        .collect();
    let data = env
        .data("updateRecordStatuses", json!({"appId": 2, "records": entries}))
        .await;
    assert_eq!(data["records"].as_array().unwrap().len(), startable.len());
    for id in &startable {
        assert_eq!(field(&record_by_id(&env.records(2), *id), "ステータス"), "商談中");
    }

    let id = startable[0];
    // The status takes ONE assignee: kintone's field error comes back, nothing changes.
    let text = env
        .tool_error(
            "updateRecordAssignees",
            json!({"appId": 2, "id": id, "assignees": ["alice", "bob"]}),
        )
        .await;
    assert!(text.contains("- assignees: "), "{text}");
    env.ok(
        "updateRecordAssignees",
        json!({"appId": 2, "id": id, "assignees": ["bob"]}),
    )
    .await;
    let assignees: Vec<String> = field(&record_by_id(&env.records(2), id), "作業者")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(assignees, vec!["bob"]);
}
