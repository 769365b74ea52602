//! Record tools: getRecords, getRecord, addRecord(s), updateRecord(s), deleteRecords,
//! getAllRecords, evaluateRecordsAcl.

use serde_json::{json, Value};

use crate::common::{field, record_by_id, Env};

#[tokio::test]
async fn get_records_filters_pages_and_counts() {
    let env = Env::start().await;
    let all = env.records(1);
    let rank_a = all.iter().filter(|r| field(r, "ランク") == "A").count();
    assert!(rank_a >= 1);

    let data = env
        .data(
            "getRecords",
            json!({"appId": 1, "query": "ランク in (\"A\") order by $id asc", "fields": ["会社名", "ランク"]}),
        )
        .await;
    let records = data["records"].as_array().unwrap();
    assert_eq!(records.len(), rank_a);
    assert_eq!(data["totalCount"], rank_a.to_string());
    assert!(records
        .iter()
        .all(|r| r["ランク"]["value"] == "A" && r.get("業種").is_none()));

    // A short read goes as a real GET with a query string.
    let sent = env.kintone_requests();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("GET", "/k/v1/records.json")
    );
    assert!(sent[0].method_override.is_none());

    // Paging: limit/offset arguments, and a note pointing at the next page.
    let page = env
        .ok("getRecords", json!({"appId": "1", "limit": 2, "offset": 1}))
        .await;
    let data = page.structured.as_ref().unwrap();
    assert_eq!(data["records"].as_array().unwrap().len(), 2);
    assert_eq!(data["totalCount"], all.len().to_string());
    // Default order is newest first, so offset 1 starts at the second-highest id.
    let ids: Vec<u64> = all
        .iter()
        .map(|r| r["$id"]["value"].as_str().unwrap().parse().unwrap())
        .collect();
    let second_newest = ids.iter().rev().nth(1).unwrap().to_string();
    assert_eq!(data["records"][0]["$id"]["value"], second_newest);
    assert!(
        page.text().contains(&format!("Returned records 2–3 of {}", all.len())),
        "{}",
        page.text()
    );
}

#[tokio::test]
async fn get_records_reports_query_errors_from_kintone() {
    let env = Env::start().await;
    let text = env
        .tool_error("getRecords", json!({"appId": 1, "query": "存在しない = \"x\""}))
        .await;
    assert!(text.contains("kintone returned an error (HTTP 400"), "{text}");
    assert!(text.contains("GAIA_IQ11") || text.contains("CB_VA01"), "{text}");
}

#[tokio::test]
async fn get_record_returns_every_field() {
    let env = Env::start().await;
    let data = env.data("getRecord", json!({"appId": 1, "id": 1})).await;
    assert_eq!(
        data["record"]["会社名"]["value"],
        field(&record_by_id(&env.records(1), 1), "会社名").clone()
    );
    assert_eq!(data["record"]["$id"]["type"], "__ID__");
    let text = env.tool_error("getRecord", json!({"appId": 1, "id": 99999})).await;
    assert!(
        text.contains("GAIA_RE01") && text.contains("getRecords lists record ids"),
        "{text}"
    );
}

#[tokio::test]
async fn add_record_stores_the_record_and_reports_field_errors() {
    let env = Env::start().await;
    let before = env.records(1).len();
    let data = env.data("addRecord", json!({"appId": 1, "record": {"会社名": {"value": "テスト株式会社"}, "従業員数": {"value": "42"}, "タグ": {"value": ["新規"]}}})).await;
    let id: u64 = data["id"].as_str().unwrap().parse().unwrap();
    let stored = record_by_id(&env.records(1), id);
    assert_eq!(field(&stored, "会社名"), "テスト株式会社");
    assert_eq!(field(&stored, "従業員数"), "42");
    assert_eq!(field(&stored, "ランク"), "C", "defaults apply");

    // Missing required field: kintone's field error reaches the model, nothing is added.
    let text = env
        .tool_error("addRecord", json!({"appId": 1, "record": {"業種": {"value": "IT"}}}))
        .await;
    assert!(
        text.contains("CB_VA01") && text.contains("record.会社名.value"),
        "{text}"
    );
    assert_eq!(env.records(1).len(), before + 1);
}

#[tokio::test]
async fn add_records_is_all_or_nothing() {
    let env = Env::start().await;
    let before = env.records(1).len();
    let data = env
        .data(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "一号社"}}, {"会社名": {"value": "二号社"}}]}),
        )
        .await;
    assert_eq!(data["ids"].as_array().unwrap().len(), 2);
    assert_eq!(env.records(1).len(), before + 2);
    // The second record duplicates a unique value: neither is added.
    let text = env
        .tool_error(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "三号社"}}, {"会社名": {"value": "一号社"}}]}),
        )
        .await;
    assert!(
        text.contains("records[1].会社名.value") || text.contains("会社名"),
        "{text}"
    );
    assert_eq!(env.records(1).len(), before + 2);
}

#[tokio::test]
async fn update_record_by_id_by_key_and_with_a_stale_revision() {
    let env = Env::start().await;
    let record = record_by_id(&env.records(1), 2);
    let revision: i64 = record["$revision"]["value"].as_str().unwrap().parse().unwrap();
    let data = env
        .data(
            "updateRecord",
            json!({"appId": 1, "id": 2, "record": {"従業員数": {"value": "400"}}, "revision": revision}),
        )
        .await;
    assert_eq!(data["revision"], (revision + 1).to_string());
    assert_eq!(field(&record_by_id(&env.records(1), 2), "従業員数"), "400");

    let company = field(&record, "会社名").as_str().unwrap().to_string();
    env.ok("updateRecord", json!({"appId": 1, "updateKey": {"field": "会社名", "value": company}, "record": {"従業員数": {"value": "401"}}})).await;
    assert_eq!(field(&record_by_id(&env.records(1), 2), "従業員数"), "401");

    let text = env
        .tool_error(
            "updateRecord",
            json!({"appId": 1, "id": 2, "record": {"従業員数": {"value": "1"}}, "revision": revision}),
        )
        .await;
    assert!(text.contains("GAIA_CO02") && text.contains("Read them again"), "{text}");
    assert_eq!(field(&record_by_id(&env.records(1), 2), "従業員数"), "401");
}

#[tokio::test]
async fn update_records_upserts_by_key() {
    let env = Env::start().await;
    let before = env.records(1).len();
    let existing = field(&record_by_id(&env.records(1), 1), "会社名")
        .as_str()
        .unwrap()
        .to_string();
    let data = env
        .data("updateRecords", json!({"appId": 1, "upsert": true, "records": [
            {"updateKey": {"field": "会社名", "value": existing}, "record": {"従業員数": {"value": "7"}}},
            {"updateKey": {"field": "会社名", "value": "新規アップサート社"}, "record": {"従業員数": {"value": "8"}}},
        ]}))
        .await;
    let ops: Vec<&str> = data["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["UPDATE", "INSERT"]);
    let records = env.records(1);
    assert_eq!(records.len(), before + 1);
    assert_eq!(field(&record_by_id(&records, 1), "従業員数"), "7");
    assert!(records
        .iter()
        .any(|r| field(r, "会社名") == "新規アップサート社" && field(r, "従業員数") == "8"));

    // Plain bulk update by id; an unknown id rolls back the whole call.
    env.ok(
        "updateRecords",
        json!({"appId": 1, "records": [{"id": 1, "record": {"従業員数": {"value": "9"}}}]}),
    )
    .await;
    let text = env
        .tool_error("updateRecords", json!({"appId": 1, "records": [{"id": 1, "record": {"従業員数": {"value": "10"}}}, {"id": 99999, "record": {}}]}))
        .await;
    assert!(text.contains("GAIA_RE01"), "{text}");
    assert_eq!(field(&record_by_id(&env.records(1), 1), "従業員数"), "9");
}

#[tokio::test]
async fn delete_records_removes_them() {
    let env = Env::start().await;
    let ids: Vec<Value> = env
        .data(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "消す社1"}}, {"会社名": {"value": "消す社2"}}]}),
        )
        .await["ids"]
        .as_array()
        .unwrap()
        .clone();
    let before = env.records(1).len();
    let data = env.data("deleteRecords", json!({"appId": 1, "ids": ids})).await;
    assert_eq!(data["deletedIds"], json!(ids));
    assert_eq!(env.records(1).len(), before - 2);
    let sent = env.kintone_requests();
    let delete = sent.iter().find(|r| r.method == "DELETE").unwrap();
    assert!(
        delete.query.as_deref().unwrap_or("").contains("ids%5B0%5D"),
        "{:?}",
        delete.query
    );

    let text = env
        .tool_error("deleteRecords", json!({"appId": 1, "ids": [99999]}))
        .await;
    assert!(text.contains("GAIA_RE01"), "{text}");
}

#[tokio::test]
async fn get_all_records_pages_past_500_and_caps() {
    let env = Env::start().await;
    let seeded = env.records(1).len();
    for chunk in 0..12 {
        let records: Vec<Value> = (0..100)
            .map(|i| json!({"会社名": {"value": format!("一括{chunk}-{i}")}, "従業員数": {"value": "5"}}))
            .collect();
        env.ok("addRecords", json!({"appId": 1, "records": records})).await;
    }
    let total = seeded + 1200;
    env.fake.clear_requests();
    let data = env
        .data(
            "getAllRecords",
            json!({"appId": 1, "fields": ["会社名"], "maxRecords": 10000}),
        )
        .await;
    assert_eq!(
        (
            data["returned"].as_u64(),
            data["totalCount"].as_u64(),
            data["truncated"].as_bool()
        ),
        (Some(total as u64), Some(total as u64), Some(false))
    );
    let ids: Vec<u64> = data["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["$id"]["value"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending and without duplicates");
    assert_eq!(env.kintone_requests().len(), total.div_ceil(500));

    let capped = env
        .ok(
            "getAllRecords",
            json!({"appId": 1, "query": "従業員数 = 5", "maxRecords": 700}),
        )
        .await;
    let data = capped.structured.as_ref().unwrap();
    assert_eq!(
        (
            data["returned"].as_u64(),
            data["totalCount"].as_u64(),
            data["truncated"].as_bool()
        ),
        (Some(700), Some(1200), Some(true))
    );
    assert!(
        capped.text().contains("Returned the first 700 of 1200"),
        "{}",
        capped.text()
    );

    // A custom order pages by offset.
    let ordered = env
        .data(
            "getAllRecords",
            json!({"appId": 1, "query": "従業員数 = 5 order by 会社名 asc", "fields": ["会社名"], "maxRecords": 600}),
        )
        .await;
    let names: Vec<&str> = ordered["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["会社名"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 600);
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn evaluate_records_acl_reports_rights() {
    let env = Env::start().await;
    let data = env
        .data("evaluateRecordsAcl", json!({"appId": 1, "ids": [1, "2"]}))
        .await;
    let rights = data["rights"].as_array().unwrap();
    assert_eq!(rights.len(), 2);
    assert_eq!(rights[0]["record"]["viewable"], true);
    let text = env
        .tool_error("evaluateRecordsAcl", json!({"appId": 1, "ids": [99999]}))
        .await;
    assert!(text.contains("kintone returned an error"), "{text}");
}
