//! Record, comment and workflow tools through MCP: what reached kintone (the fake's request
//! log and stored records) and what came back, with kintone's errors, argument refusals that
//! never reach kintone, a busy kintone, guest spaces and an expired kintone token.

use crate::tools_common;

use fake_cybozu::Fault;
use serde_json::{json, Value};
use tools_common::{effective, field, id_of, params, record_by_id, Session};

fn ids(data: &Value, key: &str) -> Vec<u64> {
    data[key].as_array().unwrap().iter().map(id_of).collect()
}

#[tokio::test]
async fn record_reads_send_the_query_and_answer_in_their_schema() {
    let s = Session::start().await;
    let all = s.records(1);
    let rank_a: Vec<&Value> = all.iter().filter(|r| field(r, "ランク") == "A").collect();
    assert!(rank_a.len() >= 2, "the seed has A-rank customers");

    // getRecords: a real GET with the query, limit and offset folded in, fields and totalCount.
    let done = s.ok("getRecords", json!({"appId": "1", "query": "ランク in (\"A\") order by $id asc", "fields": ["会社名", "ランク"], "limit": 1, "offset": 1})).await;
    let sent = done.one();
    assert_eq!(
        (
            sent.method.as_str(),
            sent.path.as_str(),
            sent.method_override.as_deref()
        ),
        ("GET", "/k/v1/records.json", None)
    );
    assert_eq!(
        params(sent),
        json!({"app": "1", "query": "ランク in (\"A\") order by $id asc limit 1 offset 1", "fields[0]": "会社名", "fields[1]": "ランク", "totalCount": "true"})
    );
    let data = done.data();
    assert_eq!(data["totalCount"], rank_a.len().to_string());
    assert_eq!(data["records"].as_array().unwrap().len(), 1);
    assert_eq!(data["records"][0]["会社名"]["value"], *field(rank_a[1], "会社名"));
    assert!(data["records"][0].get("業種").is_none(), "only the fields asked for");
    assert!(
        done.text()
            .contains(&format!("Returned records 2–2 of {}", rank_a.len())),
        "{}",
        done.text()
    );

    // totalCount off and an empty field list: kintone counts nothing and returns every field.
    let done = s
        .ok(
            "getRecords",
            json!({"appId": 1, "totalCount": false, "fields": [], "limit": 2}),
        )
        .await;
    assert_eq!(
        params(done.one()),
        json!({"app": "1", "query": "limit 2", "totalCount": "false"})
    );
    assert_eq!(done.data()["totalCount"], Value::Null);
    assert!(done.data()["records"][0].get("業種").is_some());

    // A query too long for a URL goes as POST with X-HTTP-Method-Override and a JSON body.
    let long = format!(
        "会社名 in ({})",
        vec!["\"存在しない会社名のとても長い値\""; 150].join(", ")
    );
    let done = s.ok("getRecords", json!({"appId": 1, "query": long})).await;
    let sent = done.one();
    assert_eq!(
        (sent.method.as_str(), sent.method_override.as_deref()),
        ("POST", Some("GET"))
    );
    assert_eq!(params(sent)["query"], long);
    assert_eq!(done.data()["records"], json!([]));

    // getRecord: every field of the stored record.
    let done = s.ok("getRecord", json!({"appId": 1, "id": 2})).await;
    assert_eq!(params(done.one()), json!({"app": "1", "id": "2"}));
    let stored = record_by_id(&all, 2);
    assert_eq!(done.data()["record"]["会社名"], stored["会社名"]);
    assert_eq!(done.data()["record"]["$id"]["value"], "2");

    // evaluateRecordsAcl: ids as an indexed array.
    let done = s.ok("evaluateRecordsAcl", json!({"appId": 1, "ids": [1, "2"]})).await;
    assert_eq!(params(done.one()), json!({"app": "1", "ids[0]": "1", "ids[1]": "2"}));
    let rights = done.data()["rights"].as_array().unwrap();
    assert_eq!(rights.len(), 2);
    assert_eq!(rights[0]["record"]["viewable"], true);

    // kintone's error for an unknown record reaches the model with its code and a hint.
    let done = s
        .kintone_error("getRecord", json!({"appId": 1, "id": 99999}), "GAIA_RE01")
        .await;
    assert!(done.text().contains("getRecords lists record ids"), "{}", done.text());
    let done = s
        .tool_error("getRecords", json!({"appId": 1, "query": "存在しない = \"x\""}))
        .await;
    assert!(
        done.text().contains("kintone returned an error (HTTP 400"),
        "{}",
        done.text()
    );
}

#[tokio::test]
async fn get_all_records_pages_by_id_and_says_when_it_stops() {
    let s = Session::start().await;
    for chunk in 0..7 {
        let records: Vec<Value> = (0..100)
            .map(|i| json!({"会社名": {"value": format!("一括{chunk}-{i}")}, "従業員数": {"value": "5"}}))
            .collect();
        s.ok("addRecords", json!({"appId": 1, "records": records})).await;
    }
    let done = s
        .ok(
            "getAllRecords",
            json!({"appId": 1, "query": "従業員数 = 5", "fields": ["会社名"], "maxRecords": 650}),
        )
        .await;
    let data = done.data();
    assert_eq!(
        (
            data["returned"].as_u64(),
            data["totalCount"].as_u64(),
            data["truncated"].as_bool()
        ),
        (Some(650), Some(700), Some(true))
    );
    assert!(done.text().contains("Returned the first 650 of 700"), "{}", done.text());
    let queries: Vec<String> = done
        .sent
        .iter()
        .map(|r| params(r)["query"].as_str().unwrap().to_owned())
        .collect();
    let first_page_last = data["records"][499]["$id"]["value"].as_str().unwrap();
    assert_eq!(
        queries,
        vec![
            "(従業員数 = 5) order by $id asc limit 500".to_owned(),
            format!("$id > {first_page_last} and (従業員数 = 5) order by $id asc limit 150"),
        ]
    );
    assert_eq!(params(&done.sent[0])["fields[1]"], "$id", "$id is added for paging");
    let got: Vec<u64> = data["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| id_of(&r["$id"]["value"]))
        .collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "ascending, no duplicates");

    let everything = s
        .ok(
            "getAllRecords",
            json!({"appId": 1, "fields": ["会社名"], "maxRecords": 10000}),
        )
        .await;
    assert_eq!(everything.data()["returned"].as_u64(), Some(s.records(1).len() as u64));
    assert_eq!(everything.data()["truncated"], false);
    assert_eq!(everything.sent.len(), s.records(1).len().div_ceil(500));

    s.invalid(
        "getAllRecords",
        json!({"appId": 1, "query": "従業員数 = 5 limit 10"}),
        "remove limit and offset",
    )
    .await;
    s.invalid(
        "getAllRecords",
        json!({"appId": 1, "maxRecords": 10001}),
        "maxRecords: must be between 1 and 10000",
    )
    .await;
}

#[tokio::test]
async fn record_writes_change_kintone_and_its_refusals_change_nothing() {
    let s = Session::start().await;
    let before = s.records(1).len();

    // addRecord: the record reaches kintone as sent; defaults apply.
    let record =
        json!({"会社名": {"value": "テスト株式会社"}, "従業員数": {"value": "42"}, "タグ": {"value": ["新規"]}});
    let done = s.ok("addRecord", json!({"appId": 1, "record": record})).await;
    let sent = done.one();
    assert_eq!((effective(sent), sent.path.as_str()), ("POST", "/k/v1/record.json"));
    assert_eq!(params(sent), json!({"app": 1, "record": record}));
    let a = id_of(&done.data()["id"]);
    assert_eq!(done.data()["revision"], "1");
    let stored = record_by_id(&s.records(1), a);
    assert_eq!(
        (
            field(&stored, "会社名"),
            field(&stored, "従業員数"),
            field(&stored, "ランク")
        ),
        (&json!("テスト株式会社"), &json!("42"), &json!("C"))
    );

    // A missing required field: kintone's field error with its key, nothing added.
    let done = s
        .kintone_error(
            "addRecord",
            json!({"appId": 1, "record": {"業種": {"value": "IT"}}}),
            "CB_VA01",
        )
        .await;
    assert!(done.text().contains("- record.会社名.value: "), "{}", done.text());
    assert_eq!(s.records(1).len(), before + 1);

    // addRecords is all or nothing.
    let done = s
        .ok(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "一号社"}}, {"会社名": {"value": "二号社"}}]}),
        )
        .await;
    let bulk = ids(done.data(), "ids");
    assert_eq!(bulk.len(), 2);
    assert_eq!(done.data()["revisions"], json!(["1", "1"]));
    assert_eq!(s.records(1).len(), before + 3);
    let done = s
        .kintone_error(
            "addRecords",
            json!({"appId": 1, "records": [{"会社名": {"value": "三号社"}}, {"会社名": {"value": "一号社"}}]}),
            "CB_VA01",
        )
        .await;
    assert!(done.text().contains("records[1].会社名.value"), "{}", done.text());
    assert_eq!(s.records(1).len(), before + 3);

    // updateRecord by id with the current revision, then by a unique key, then with a stale revision.
    let done = s
        .ok(
            "updateRecord",
            json!({"appId": 1, "id": a, "record": {"従業員数": {"value": "400"}}, "revision": 1}),
        )
        .await;
    assert_eq!(
        params(done.one()),
        json!({"app": 1, "id": a, "record": {"従業員数": {"value": "400"}}, "revision": 1})
    );
    assert_eq!(done.one().method, "PUT");
    assert_eq!(done.data()["revision"], "2");
    assert_eq!(field(&record_by_id(&s.records(1), a), "従業員数"), "400");
    let done = s.ok("updateRecord", json!({"appId": 1, "updateKey": {"field": "会社名", "value": "テスト株式会社"}, "record": {"従業員数": {"value": "401"}}})).await;
    assert_eq!(
        params(done.one())["updateKey"],
        json!({"field": "会社名", "value": "テスト株式会社"})
    );
    assert_eq!(field(&record_by_id(&s.records(1), a), "従業員数"), "401");
    let done = s
        .kintone_error(
            "updateRecord",
            json!({"appId": 1, "id": a, "record": {"従業員数": {"value": "1"}}, "revision": 1}),
            "GAIA_CO02",
        )
        .await;
    assert!(done.text().contains("Read them again"), "{}", done.text());
    assert_eq!(field(&record_by_id(&s.records(1), a), "従業員数"), "401");

    // updateRecords: upsert by key adds and updates; an unknown id rolls the whole call back.
    let done = s
        .ok(
            "updateRecords",
            json!({"appId": 1, "upsert": true, "records": [
                {"updateKey": {"field": "会社名", "value": "一号社"}, "record": {"従業員数": {"value": "7"}}},
                {"updateKey": {"field": "会社名", "value": "アップサート社"}, "record": {"従業員数": {"value": "8"}}},
            ]}),
        )
        .await;
    assert_eq!(params(done.one())["upsert"], true);
    let ops: Vec<&str> = done.data()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["UPDATE", "INSERT"]);
    let records = s.records(1);
    assert_eq!(records.len(), before + 4);
    assert_eq!(field(&record_by_id(&records, bulk[0]), "従業員数"), "7");
    s.kintone_error("updateRecords", json!({"appId": 1, "records": [{"id": a, "record": {"従業員数": {"value": "9"}}}, {"id": 99999, "record": {}}]}), "GAIA_RE01").await;
    assert_eq!(field(&record_by_id(&s.records(1), a), "従業員数"), "401");

    // deleteRecords: a DELETE with the ids; kintone refuses unknown ids.
    let done = s
        .ok("deleteRecords", json!({"appId": 1, "ids": bulk, "revisions": [-1, -1]}))
        .await;
    let sent = done.one();
    assert_eq!(sent.method, "DELETE");
    assert_eq!(params(sent)["ids[1]"], bulk[1].to_string());
    assert_eq!(params(sent)["revisions[0]"], "-1");
    assert_eq!(
        done.data()["deletedIds"],
        json!(bulk.iter().map(u64::to_string).collect::<Vec<_>>())
    );
    assert!(record_by_id(&s.records(1), bulk[0]).is_null());
    s.kintone_error("deleteRecords", json!({"appId": 1, "ids": [99999]}), "GAIA_RE01")
        .await;
    assert_eq!(s.records(1).len(), before + 2);
}

#[tokio::test]
async fn record_arguments_are_checked_before_anything_reaches_kintone() {
    let s = Session::start().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "getRecords",
            json!({"appId": 0}),
            "appId: must be a positive integer id",
        ),
        (
            "getRecords",
            json!({"appId": 1, "limit": 501}),
            "limit: must be between 1 and 500, got 501",
        ),
        (
            "getRecords",
            json!({"appId": 1, "query": "limit 600"}),
            "limit may be at most 500",
        ),
        (
            "getRecords",
            json!({"appId": 1, "query": "offset 10001"}),
            "offset may be at most 10000",
        ),
        (
            "getRecords",
            json!({"appId": 1, "query": "title = \"x"}),
            "closing double quote",
        ),
        ("getRecords", json!({"app": 1}), "unknown argument \"app\""),
        ("getRecord", json!({"appId": 1}), "id: required"),
        (
            "addRecord",
            json!({"appId": 1, "record": {"会社名": "直接の値"}}),
            "record.会社名: must be {\"value\": ...}",
        ),
        (
            "addRecords",
            json!({"appId": 1, "records": vec![json!({"会社名": {"value": "x"}}); 101]}),
            "records: has 101 items; the limit per call is 100",
        ),
        (
            "updateRecord",
            json!({"appId": 1, "record": {}}),
            "id: required (or identify the record with updateKey)",
        ),
        (
            "updateRecord",
            json!({"appId": 1, "id": 1, "updateKey": {"field": "会社名", "value": "A"}, "record": {}}),
            "either id or updateKey",
        ),
        (
            "updateRecords",
            json!({"appId": 1, "upsert": true, "records": [{"id": 1, "record": {}}]}),
            "upsert needs updateKey",
        ),
        (
            "deleteRecords",
            json!({"appId": 1, "ids": [1, 1]}),
            "ids[1]: id 1 is listed twice",
        ),
        (
            "deleteRecords",
            json!({"appId": 1, "ids": [1, 2], "revisions": [3]}),
            "give one revision per id",
        ),
        (
            "evaluateRecordsAcl",
            json!({"appId": 1, "ids": []}),
            "ids: needs at least 1 item",
        ),
        (
            "getRecordComments",
            json!({"appId": 1, "recordId": 1, "limit": 11}),
            "limit: must be between 1 and 10",
        ),
        (
            "getRecordComments",
            json!({"appId": 1, "recordId": 1, "order": "newest"}),
            "order: must be one of asc, desc",
        ),
        (
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": {"text": "  "}}),
            "comment.text: must not be empty",
        ),
        (
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": {"text": "x", "mentions": [{"code": "bob", "type": "TEAM"}]}}),
            "comment.mentions[0].type: must be one of USER, ORGANIZATION, GROUP",
        ),
        (
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": "first"}),
            "commentId: must be a positive integer id",
        ),
        (
            "updateRecordStatus",
            json!({"appId": 2, "id": 1, "action": ""}),
            "action: must not be empty",
        ),
        (
            "updateRecordStatuses",
            json!({"appId": 2, "records": [{"id": 1}]}),
            "records[0].action",
        ),
        (
            "updateRecordAssignees",
            json!({"appId": 2, "id": 1, "assignees": vec!["alice"; 101]}),
            "assignees: has 101 items",
        ),
        (
            "getRecord",
            json!({"appId": 1, "id": 1, "guestSpaceId": "guest"}),
            "guestSpaceId: must be a positive integer id",
        ),
    ];
    let before = s.records(1).len();
    for (name, args, expected) in cases {
        s.invalid(name, args, expected).await;
    }
    assert_eq!(s.records(1).len(), before);
}

#[tokio::test]
async fn comments_are_read_added_and_deleted() {
    let s = Session::start().await;
    let done = s.ok("getRecordComments", json!({"appId": 1, "recordId": 1})).await;
    assert_eq!(
        params(done.one()),
        json!({"app": "1", "record": "1", "order": "desc", "offset": "0", "limit": "10"})
    );
    let comments = done.data()["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["text"], "了解です。資料を用意します。", "newest first");

    let page = s
        .ok(
            "getRecordComments",
            json!({"appId": 1, "recordId": 1, "order": "asc", "limit": 1}),
        )
        .await;
    assert_eq!(page.data()["comments"][0]["text"], "来週訪問予定です。");
    assert!(
        page.text().contains("call getRecordComments again with offset 1"),
        "{}",
        page.text()
    );

    let comment = json!({"text": "確認お願いします", "mentions": [{"code": "bob", "type": "USER"}]});
    let done = s
        .ok(
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": comment}),
        )
        .await;
    assert_eq!(params(done.one()), json!({"app": 1, "record": 1, "comment": comment}));
    let id = done.data()["id"].as_str().unwrap().to_owned();
    let stored = record_by_id(&s.records(1), 1)["$comments"].clone();
    assert!(
        stored
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str() && c["text"].as_str().unwrap().contains("確認お願いします")),
        "{stored}"
    );

    let done = s
        .ok(
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": id}),
        )
        .await;
    assert_eq!(done.one().method, "DELETE");
    assert_eq!(params(done.one()), json!({"app": "1", "record": "1", "comment": id}));
    assert_eq!(done.data()["deletedCommentId"], id);
    let stored = record_by_id(&s.records(1), 1)["$comments"].clone();
    assert!(!stored.as_array().unwrap().iter().any(|c| c["id"] == id.as_str()));

    let done = s
        .kintone_error(
            "deleteRecordComment",
            json!({"appId": 1, "recordId": 1, "commentId": id}),
            "GAIA_RE02",
        )
        .await;
    assert!(
        done.text().contains("getRecordComments lists the comment ids"),
        "{}",
        done.text()
    );
}

#[tokio::test]
async fn workflow_actions_move_records_and_wrong_ones_change_nothing() {
    let s = Session::start().await;
    assert_eq!(field(&record_by_id(&s.records(2), 1), "ステータス"), "商談中");
    let done = s
        .ok("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"}))
        .await;
    assert_eq!(
        (done.one().method.as_str(), done.one().path.as_str()),
        ("PUT", "/k/v1/record/status.json")
    );
    assert_eq!(params(done.one()), json!({"app": 2, "id": 1, "action": "承認申請"}));
    assert_eq!(field(&record_by_id(&s.records(2), 1), "ステータス"), "承認待ち");
    // Not idempotent: the same action again is not allowed from the new status.
    s.tool_error("updateRecordStatus", json!({"appId": 2, "id": 1, "action": "承認申請"}))
        .await;
    assert_eq!(field(&record_by_id(&s.records(2), 1), "ステータス"), "承認待ち");

    let deal = |name: &str| json!({"案件名": {"value": name}, "顧客名": {"value": "Acme"}, "担当者": {"value": [{"code": "alice"}]}});
    let added = s
        .ok(
            "addRecords",
            json!({"appId": 2, "records": [deal("新規A"), deal("新規B")]}),
        )
        .await;
    let new = ids(added.data(), "ids");
    let entries: Vec<Value> = new.iter().map(|id| json!({"id": id, "action": "商談開始"})).collect();
    let done = s
        .ok("updateRecordStatuses", json!({"appId": 2, "records": entries}))
        .await;
    assert_eq!(params(done.one())["records"], json!(entries));
    assert_eq!(done.data()["records"].as_array().unwrap().len(), 2);
    for id in &new {
        assert_eq!(field(&record_by_id(&s.records(2), *id), "ステータス"), "商談中");
    }

    // The status takes one assignee: kintone's field error comes back and nothing changes.
    let done = s
        .kintone_error(
            "updateRecordAssignees",
            json!({"appId": 2, "id": new[0], "assignees": ["alice", "bob"]}),
            "CB_VA01",
        )
        .await;
    assert!(done.text().contains("- assignees: "), "{}", done.text());
    let done = s
        .ok(
            "updateRecordAssignees",
            json!({"appId": 2, "id": new[0], "assignees": ["bob"]}),
        )
        .await;
    assert_eq!(
        params(done.one()),
        json!({"app": 2, "id": new[0], "assignees": ["bob"]})
    );
    let stored = record_by_id(&s.records(2), new[0]);
    let assignees: Vec<&str> = field(&stored, "作業者")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(assignees, ["bob"]);
}

#[tokio::test]
async fn busy_kintone_guest_spaces_and_an_expired_token() {
    let s = Session::start().await;

    // 429: a tool error that says when to retry; the retry works.
    s.fake().add_fault(Fault::rate_limit("/k/v1/records.json"));
    let done = s.kintone_error("getRecords", json!({"appId": 1}), "GAIA_TO04").await;
    let text = done.text();
    assert!(
        text.contains("HTTP 429")
            && text.contains("Retry the same call after 5 seconds")
            && text.contains("nothing was changed"),
        "{text}"
    );
    assert_eq!(done.one().status, Some(429));
    s.ok("getRecords", json!({"appId": 1})).await;

    // A write during maintenance (503 HTML page) changes nothing and says to retry.
    let before = s.records(1).len();
    s.fake().add_fault(Fault::unavailable("/k/v1/record.json"));
    let done = s
        .tool_error(
            "addRecord",
            json!({"appId": 1, "record": {"会社名": {"value": "メンテ中社"}}}),
        )
        .await;
    assert!(
        done.text().contains("HTTP 503")
            && done.text().contains("temporarily unavailable")
            && done.text().contains("Retry"),
        "{}",
        done.text()
    );
    assert_eq!(s.records(1).len(), before);

    // kintone unreachable mid-call: the endpoint reports it as a tool error.
    s.fake().add_fault(Fault::drop_connection("/k/v1/record.json"));
    let done = s.tool_error("getRecord", json!({"appId": 1, "id": 1})).await;
    assert!(done.text().starts_with("kintone is unavailable: "), "{}", done.text());

    // Guest space: the path carries the space; without it kintone's GAIA_IL23 comes back with a hint.
    let done = s
        .ok(
            "getRecords",
            json!({"appId": 4, "guestSpaceId": 2, "query": "Priority in (\"High\")"}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/records.json");
    assert_eq!(
        done.data()["records"][0]["Title"]["value"],
        "Cannot log in to the portal"
    );
    let done = s
        .ok(
            "addRecord",
            json!({"appId": 4, "guestSpaceId": "2", "record": {"Title": {"value": "Guest ticket"}}}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/record.json");
    assert!(s.records(4).iter().any(|r| field(r, "Title") == "Guest ticket"));
    let done = s.kintone_error("getRecords", json!({"appId": 4}), "GAIA_IL23").await;
    assert!(
        done.text().contains("Pass guestSpaceId for apps in a guest space"),
        "{}",
        done.text()
    );

    // Comments: a busy kintone and a guest-space record.
    s.fake()
        .add_fault(Fault::rate_limit("/k/v1/record/comment.json").method("POST"));
    let done = s
        .kintone_error(
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": {"text": "混雑中"}}),
            "GAIA_TO04",
        )
        .await;
    assert!(done.text().contains("Retry the same call after"), "{}", done.text());
    assert!(!record_by_id(&s.records(1), 1)["$comments"]
        .to_string()
        .contains("混雑中"));
    let done = s
        .ok(
            "addRecordComment",
            json!({"appId": 4, "guestSpaceId": 2, "recordId": 1, "comment": {"text": "From a guest space"}}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/record/comment.json");
    let done = s
        .ok(
            "getRecordComments",
            json!({"appId": 4, "guestSpaceId": 2, "recordId": 1}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/record/comments.json");
    assert_eq!(done.data()["comments"][0]["text"], "From a guest space");

    // An expired kintone token: the endpoint refreshes it and retries the call once.
    s.fake().expire_access_tokens();
    s.fake().clear_requests();
    let done = s.call("getRecord", json!({"appId": 1, "id": 1})).await;
    assert!(!done.call.is_error(), "{}", done.text());
    let log = s.fake().requests();
    let seen: Vec<(String, Option<u16>)> = log.iter().map(|r| (r.path.clone(), r.status)).collect();
    assert_eq!(
        seen,
        vec![
            ("/k/v1/record.json".to_owned(), Some(401)),
            ("/oauth2/token".to_owned(), Some(200)),
            ("/k/v1/record.json".to_owned(), Some(200))
        ]
    );
    assert!(log[1].body.contains("grant_type=refresh_token"), "{}", log[1].body);
}
