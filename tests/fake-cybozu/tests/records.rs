//! Record APIs: reads, queries, paging, writes, revisions, bulk limits, permissions, scopes,
//! parameter forms, cursors, ACL evaluation and guest-space paths.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn get_record_has_types_ids_and_revision() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h.get(&token, "/k/v1/record.json", &[("app", "2"), ("id", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    let record = &body["record"];
    assert_eq!(record["$id"], json!({"type": "__ID__", "value": "1"}));
    assert_eq!(record["$revision"]["type"], "__REVISION__");
    assert_eq!(record["レコード番号"], json!({"type": "RECORD_NUMBER", "value": "1"}));
    assert_eq!(record["ステータス"], json!({"type": "STATUS", "value": "商談中"}));
    assert_eq!(record["担当者"]["value"][0]["code"], "alice");
    assert_eq!(record["明細"]["type"], "SUBTABLE");
    let row = &record["明細"]["value"][0];
    assert!(row["id"].as_str().is_some());
    assert_eq!(row["value"]["小計"], json!({"type": "CALC", "value": "1500000"}));
    assert_eq!(record["合計金額"]["value"], "2300000");
    assert_eq!(record["見積書"]["value"][0]["name"], "見積書_基幹システム.txt");
    assert_eq!(record["次回アクション"]["value"], "2024-06-10T05:00:00Z");
    // Unset DATE and DROP_DOWN are null.
    let (_, body) = h.get(&token, "/k/v1/record.json", &[("app", "2"), ("id", "5")]).await;
    assert_eq!(body["record"]["受注予定日"]["value"], Value::Null);
}

#[tokio::test]
async fn errors_have_kintone_shape_and_language() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let (status, body) = h.get(&alice, "/k/v1/record.json", &[("app", "1"), ("id", "999")]).await;
    assert_error(status, &body, 404, "GAIA_RE01");
    assert_eq!(body["message"], "指定したレコード（id: 999）が見つかりません。");
    let (status, body) = h.get(&alice, "/k/v1/record.json", &[("app", "1")]).await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(body["errors"]["id"]["messages"][0], "必須です。");
    // bob's language is English.
    let (status, body) = h.get(&bob, "/k/v1/record.json", &[("app", "1")]).await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(body["message"], "Missing or invalid input.");
    assert_eq!(body["errors"]["id"]["messages"][0], "Required field.");
    // alice follows the browser's Accept-Language.
    let response = h
        .http
        .get(h.url("/k/v1/app.json"))
        .bearer_auth(&alice)
        .header("Accept-Language", "en-US")
        .query(&[("id", "99")])
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 404, "GAIA_AP01");
    assert_eq!(
        body["message"],
        "The app (ID: 99) not found. The app may have been deleted."
    );
    let (status, body) = h.get(&alice, "/k/v1/record.json", &[("app", "-1"), ("id", "1")]).await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(body["errors"]["app"]["messages"][0], "最小でも1以上です。");
    // Invalid JSON.
    let response = h
        .http
        .post(h.url("/k/v1/record.json"))
        .bearer_auth(&alice)
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 400, "CB_IJ01");
}

#[tokio::test]
async fn authentication_failures() {
    let h = Harness::start().await;
    let response = h.http.get(h.url("/k/v1/records.json?app=1")).send().await.unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 401, "CB_AU01");
    assert_eq!(body["message"], "ログインしてください。");
    use base64::Engine as _;
    let good = base64::engine::general_purpose::STANDARD.encode("bob:bob-password");
    let bad = base64::engine::general_purpose::STANDARD.encode("bob:wrong");
    let response = h
        .http
        .get(h.url("/k/v1/records.json?app=1"))
        .header("X-Cybozu-Authorization", good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = h
        .http
        .get(h.url("/k/v1/records.json?app=1"))
        .header("X-Cybozu-Authorization", bad)
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 401, "CB_WA01");
}

#[tokio::test]
async fn scopes_are_enforced_per_token() {
    let h = Harness::start().await;
    let read_only = h.tokens("alice", "k:app_record:read").await.access;
    let (status, _) = h.get(&read_only, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .call(
            &read_only,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": "X"}}}),
        )
        .await;
    assert_error(status, &body, 403, "CB_OA01");
    let (status, body) = h.get(&read_only, "/k/v1/app.json", &[("id", "1")]).await;
    assert_error(status, &body, 403, "CB_OA01");
    let (status, body) = h.get(&read_only, "/k/v1/file.json", &[("fileKey", "x")]).await;
    assert_error(status, &body, 403, "CB_OA01");
    let settings_write = h.tokens("alice", "k:app_settings:write").await.access;
    let (status, body) = h
        .get(&settings_write, "/k/v1/preview/app/deploy.json", &[("apps[0]", "1")])
        .await;
    assert_error(status, &body, 403, "CB_OA01");
    // Nothing was written by the refused call.
    assert_eq!(h.fake.records(1).unwrap().len(), 8);
}

#[tokio::test]
async fn records_query_filter_order_and_paging() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totalCount"], Value::Null);
    assert_eq!(
        values(&body["records"], "$id"),
        vec!["8", "7", "6", "5", "4", "3", "2", "1"],
        "default order is $id desc"
    );

    let query = r#"(業種 in ("IT", "小売") or 従業員数 >= 2000) and 会社名 not like "Initech" order by 従業員数 desc limit 2 offset 1"#;
    let (_, body) = h
        .get(
            &token,
            "/k/v1/records.json",
            &[("app", "1"), ("query", query), ("totalCount", "true")],
        )
        .await;
    assert_eq!(body["totalCount"], "4");
    assert_eq!(
        values(&body["records"], "会社名"),
        vec!["Umbrella Logistics", "サイボウズ商事株式会社"]
    );

    let (_, body) = h
        .get(
            &token,
            "/k/v1/records.json",
            &[
                ("app", "1"),
                ("query", r#"会社名 like "acme""#),
                ("fields[0]", "会社名"),
                ("fields[1]", "$id"),
            ],
        )
        .await;
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    let keys: Vec<&String> = body["records"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "only the requested fields: {keys:?}");
    // Word search: a partial word does not match.
    let (_, body) = h
        .get(
            &token,
            "/k/v1/records.json",
            &[("app", "1"), ("query", r#"会社名 like "Acm""#)],
        )
        .await;
    assert_eq!(body["records"].as_array().unwrap().len(), 0);

    let cases = [
        (r#"タグ in ("重要")"#, 3),
        (r#"タグ in ("")"#, 2),
        (r#"取引開始日 >= "2022-01-01" and 取引開始日 < "2024-01-01""#, 2),
        (r#"営業担当 in (LOGINUSER())"#, 4),
        (r#"作成者 in ("bob")"#, 3),
        (r#"住所 is empty"#, 1),
        (r#"$id > 6 or レコード番号 = 1"#, 3),
        (r#"作成日時 > "2024-04-10T00:00:00Z""#, 4),
        (r#"従業員数 in ("25", "60")"#, 2),
        (r#"取引開始日 > TODAY()"#, 0),
    ];
    for (query, expected) in cases {
        let (status, body) = h
            .get(
                &token,
                "/k/v1/records.json",
                &[("app", "1"), ("query", query), ("totalCount", "true")],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["totalCount"], expected.to_string(), "{query}");
    }
    // Subtable fields: in/like match any row; = is refused.
    let (_, body) = h
        .get(
            &token,
            "/k/v1/records.json",
            &[("app", "2"), ("query", r#"品目 in ("POS terminal")"#)],
        )
        .await;
    assert_eq!(values(&body["records"], "案件名"), vec!["POS replacement"]);
}

#[tokio::test]
async fn query_errors_and_limits() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let cases = [
        ("会社名 = ", 400, "CB_VA01"),
        ("存在しない = \"x\"", 400, "GAIA_IQ11"),
        ("業種 = \"IT\"", 400, "GAIA_IQ03"),
        ("住所 = \"x\"", 400, "GAIA_IQ03"),
        ("limit 501", 400, "GAIA_QU01"),
        ("offset 10001", 400, "GAIA_QU02"),
        ("取引開始日 = THIS_MONTH(32)", 400, "GAIA_IQ23"),
        ("取引開始日 = FROM_TODAY(1, HOURS)", 400, "GAIA_IQ25"),
        ("取引開始日 = FROM_TODAY(1)", 400, "GAIA_IL08"),
    ];
    for (query, status_code, code) in cases {
        let (status, body) = h
            .get(&token, "/k/v1/records.json", &[("app", "1"), ("query", query)])
            .await;
        assert_error(status, &body, status_code, code);
    }
    let (status, body) = h
        .get(&token, "/k/v1/records.json", &[("app", "1"), ("query", "会社名 = ")])
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(body["errors"]["query"]["messages"][0], "クエリ記法が間違っています。");
    let (status, body) = h
        .get(&token, "/k/v1/records.json", &[("app", "2"), ("query", "単価 = 100")])
        .await;
    assert_error(status, &body, 400, "GAIA_IQ07");
    // 500 is allowed.
    let (status, _) = h
        .get(
            &token,
            "/k/v1/records.json",
            &[("app", "1"), ("query", "limit 500 offset 10000")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn parameters_in_json_body_and_method_override() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let body = json!({"app": "1", "query": "ランク in (\"A\")", "fields": ["会社名"], "totalCount": true});
    let (status, overridden) = h.override_get(&token, "/k/v1/records.json", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(overridden["totalCount"], "3");
    // A real GET with a JSON body works the same.
    let response = h
        .http
        .get(h.url("/k/v1/records.json"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (_, plain) = into_json(response).await;
    assert_eq!(plain, overridden);
    // The override is case-sensitive.
    let response = h
        .http
        .post(h.url("/k/v1/records.json"))
        .bearer_auth(&token)
        .header("X-HTTP-Method-Override", "get")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 400, "CB_VA01");
    // DELETE with parameters in the query string (as js-sdk sends it).
    let response = h
        .http
        .delete(h.url("/k/v1/records.json"))
        .bearer_auth(&token)
        .query(&[("app", "1"), ("ids[0]", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(h.fake.records(1).unwrap().len(), 7);
    // A PUT through the override.
    let response = h
        .http
        .post(h.url("/k/v1/record.json"))
        .bearer_auth(&token)
        .header("X-HTTP-Method-Override", "PUT")
        .json(&json!({"app": 1, "id": 1, "record": {"従業員数": {"value": "1300"}}}))
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], "2");
}

#[tokio::test]
async fn add_record_applies_defaults_and_validates() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h
        .call(&token, Method::POST, "/k/v1/record.json", json!({"app": 1, "record": {"会社名": {"value": "新しい会社"}, "従業員数": {"value": "1.5e1"}, "未知": {"value": "ignored"}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": "9", "revision": "1"}));
    let stored = h.fake.records(1).unwrap().pop().unwrap();
    assert_eq!(stored["ランク"]["value"], "C", "default applied");
    assert_eq!(stored["従業員数"]["value"], "15", "number normalised");
    assert_eq!(stored["作成者"]["value"]["code"], "alice");

    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(body["errors"]["record.会社名.value"]["messages"][0], "必須です。");

    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": "Acme Corporation"}}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(
        body["errors"]["record.会社名.value"]["messages"][0],
        "値がほかのレコードと重複しています。"
    );

    let record = json!({"会社名": {"value": "X社"}, "従業員数": {"value": "abc"}, "業種": {"value": "農業"}, "タグ": {"value": ["重要", "謎"]}, "会社名2": {"value": 1}});
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": record}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let errors = body["errors"].as_object().unwrap();
    assert_eq!(
        errors["record[従業員数].value"]["messages"][0],
        "数字でなければなりません。"
    );
    assert_eq!(
        errors["record.業種.value"]["messages"][0],
        "\"農業\"は選択肢にありません。"
    );
    assert_eq!(
        errors["record.タグ.values[1].value"]["messages"][0],
        "\"謎\"は選択肢にありません。"
    );

    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": "Y社"}, "営業担当": {"value": [{"code": "nobody"}]}}}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL26");
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": ["not", "text"]}}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_IJ01");
    assert_eq!(h.fake.records(1).unwrap().len(), 9, "failed adds changed nothing");
}

#[tokio::test]
async fn update_record_revisions_update_key_and_subtables() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 1, "revision": 1, "record": {"確度": {"value": "B"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], "2");
    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 1, "revision": 1, "record": {"確度": {"value": "C"}}}),
        )
        .await;
    assert_error(status, &body, 409, "GAIA_CO02");
    let (status, _) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 1, "revision": -1, "record": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Subtable: the matching row merges, a row without id is new, missing rows go.
    let (_, current) = h.get(&token, "/k/v1/record.json", &[("app", "2"), ("id", "1")]).await;
    let first_row = current["record"]["明細"]["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = json!([{"id": first_row, "value": {"数量": {"value": "20"}}}, {"value": {"品目": {"value": "保守"}, "単価": {"value": "50000"}, "数量": {"value": "12"}}}]);
    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 1, "record": {"明細": {"value": rows}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, after) = h.get(&token, "/k/v1/record.json", &[("app", "2"), ("id", "1")]).await;
    let table = after["record"]["明細"]["value"].as_array().unwrap();
    assert_eq!(table.len(), 2);
    assert_eq!(table[0]["id"], first_row.as_str());
    assert_eq!(table[0]["value"]["品目"]["value"], "ライセンス", "kept");
    assert_eq!(table[0]["value"]["小計"]["value"], "3000000", "recomputed");
    assert_ne!(table[1]["id"], first_row.as_str());
    assert_eq!(after["record"]["合計金額"]["value"], "3600000");

    // updateKey on a unique field.
    let (status, body) = h
        .call(&token, Method::PUT, "/k/v1/record.json", json!({"app": 1, "updateKey": {"field": "会社名", "value": "Globex Financial"}, "record": {"ランク": {"value": "B"}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.fake.records(1).unwrap()[3]["ランク"]["value"], "B");
    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 1, "updateKey": {"field": "業種", "value": "IT"}, "record": {}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 1, "id": 42, "record": {}}),
        )
        .await;
    assert_error(status, &body, 404, "GAIA_RE01");
}

#[tokio::test]
async fn bulk_writes_are_limited_and_all_or_nothing() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"会社名": {"value": format!("会社{i}")}}))
        .collect();
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records.json",
            json!({"app": 1, "records": many}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(
        body["errors"]["records"]["messages"][0],
        "一度に100件までのレコードを追加できます。"
    );

    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"会社名": {"value": format!("会社{i}")}}))
        .collect();
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records.json",
            json!({"app": 1, "records": hundred}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ids"].as_array().unwrap().len(), 100);
    assert_eq!(body["revisions"][0], "1");
    assert_eq!(h.fake.records(1).unwrap().len(), 108);

    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records.json",
            json!({"app": 1, "records": [{"会社名": {"value": "OK社"}}, {"会社名": {"value": ""}}]}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert!(body["errors"]["records[1].会社名.value"].is_object(), "{body}");
    assert_eq!(
        h.fake.records(1).unwrap().len(),
        108,
        "the first record was rolled back"
    );

    let (status, body) = h
        .call(&token, Method::PUT, "/k/v1/records.json", json!({"app": 1, "records": [{"id": 1, "record": {"従業員数": {"value": "1"}}}, {"id": 9999, "record": {}}]}))
        .await;
    assert_error(status, &body, 404, "GAIA_RE01");
    assert_eq!(
        h.fake.records(1).unwrap()[0]["従業員数"]["value"],
        "1200",
        "rolled back"
    );

    let (status, body) = h
        .call(
            &token,
            Method::PUT,
            "/k/v1/records.json",
            json!({"app": 1, "upsert": true, "records": [
                {"updateKey": {"field": "会社名", "value": "Acme Corporation"}, "record": {"従業員数": {"value": "5100"}}},
                {"updateKey": {"field": "会社名", "value": "Brand New KK"}, "record": {"業種": {"value": "IT"}}}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["records"][0]["operation"], "UPDATE");
    assert_eq!(body["records"][0]["revision"], "2");
    assert_eq!(body["records"][1]["operation"], "INSERT");
    let last = h.fake.records(1).unwrap().pop().unwrap();
    assert_eq!(last["会社名"]["value"], "Brand New KK");
    assert_eq!(last["業種"]["value"], "IT");
}

#[tokio::test]
async fn delete_records_checks_ids_revisions_and_rights() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let (status, body) = h
        .call(&alice, Method::DELETE, "/k/v1/records.json", json!({"app": 1}))
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(
        body["errors"]["ids"]["messages"],
        json!(["必須です。", "一度に1件から100件までのレコードを削除できます。"])
    );
    let ids: Vec<u64> = (1..=101).collect();
    let (status, _) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/records.json",
            json!({"app": 1, "ids": ids}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = h
        .call(
            &bob,
            Method::DELETE,
            "/k/v1/records.json",
            json!({"app": 1, "ids": [2]}),
        )
        .await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/records.json",
            json!({"app": 1, "ids": [2, 3], "revisions": [1, 7]}),
        )
        .await;
    assert_error(status, &body, 409, "GAIA_CO02");
    assert_eq!(h.fake.records(1).unwrap().len(), 8);
    let (status, body) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/records.json",
            json!({"app": 1, "ids": [2, 3], "revisions": [1, -1]}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, body) = h.get(&alice, "/k/v1/record.json", &[("app", "1"), ("id", "2")]).await;
    assert_error(status, &body, 404, "GAIA_RE01");
}

#[tokio::test]
async fn record_and_field_permissions_per_user() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let carol = h.token("carol").await;
    // The confidential deal is hidden from bob.
    let (_, body) = h
        .get(&bob, "/k/v1/records.json", &[("app", "2"), ("totalCount", "true")])
        .await;
    assert_eq!(body["totalCount"], "4");
    let (_, body) = h
        .get(&alice, "/k/v1/records.json", &[("app", "2"), ("totalCount", "true")])
        .await;
    assert_eq!(body["totalCount"], "5");
    let (status, body) = h.get(&bob, "/k/v1/record.json", &[("app", "2"), ("id", "4")]).await;
    assert_error(status, &body, 403, "CB_NO02");
    // Field permissions: bob cannot see the credit limit nor edit the rank.
    let (_, body) = h.get(&bob, "/k/v1/record.json", &[("app", "1"), ("id", "1")]).await;
    assert!(body["record"].get("与信限度額").is_none());
    assert_eq!(body["record"]["ランク"]["value"], "A");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 1, "id": 1, "record": {"ランク": {"value": "B"}}}),
        )
        .await;
    assert_error(status, &body, 403, "GAIA_FU01");
    // carol is not in the sales space, nor allowed on the HR app.
    let (status, body) = h.get(&carol, "/k/v1/records.json", &[("app", "2")]).await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h.get(&bob, "/k/v1/records.json", &[("app", "3")]).await;
    assert_error(status, &body, 403, "CB_NO02");
    // carol may view customers but not add.
    let (status, body) = h
        .call(
            &carol,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": "Z"}}}),
        )
        .await;
    assert_error(status, &body, 403, "CB_NO02");
}

#[tokio::test]
async fn evaluate_acl_reports_record_and_field_rights() {
    let h = Harness::start().await;
    let bob = h.token("bob").await;
    let (status, body) = h
        .get(
            &bob,
            "/k/v1/records/acl/evaluate.json",
            &[("app", "2"), ("ids[0]", "1"), ("ids[1]", "4")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rights"][0]["id"], "1");
    assert_eq!(
        body["rights"][0]["record"],
        json!({"viewable": true, "editable": true, "deletable": true})
    );
    assert_eq!(
        body["rights"][1]["record"],
        json!({"viewable": false, "editable": false, "deletable": false})
    );
    assert_eq!(
        body["rights"][0]["fields"]["品目"],
        json!({"viewable": true, "editable": true})
    );
    let (_, body) = h
        .get(
            &bob,
            "/k/v1/records/acl/evaluate.json",
            &[("app", "1"), ("ids[0]", "1")],
        )
        .await;
    assert_eq!(body["rights"][0]["record"]["deletable"], false);
    assert_eq!(
        body["rights"][0]["fields"]["与信限度額"],
        json!({"viewable": false, "editable": false})
    );
    assert_eq!(
        body["rights"][0]["fields"]["ランク"],
        json!({"viewable": true, "editable": false})
    );
    let (status, body) = h
        .get(
            &bob,
            "/k/v1/records/acl/evaluate.json",
            &[("app", "1"), ("ids[0]", "77")],
        )
        .await;
    assert_error(status, &body, 404, "GAIA_RE01");
}

#[tokio::test]
async fn cursor_pages_through_and_is_deleted_when_done() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records/cursor.json",
            json!({"app": 1, "fields": ["会社名"], "query": "order by $id asc", "size": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalCount"], "8");
    let id = body["id"].as_str().unwrap().to_string();
    let mut names = Vec::new();
    loop {
        let (status, page) = h.get(&token, "/k/v1/records/cursor.json", &[("id", &id)]).await;
        assert_eq!(status, StatusCode::OK);
        names.extend(values(&page["records"], "会社名"));
        if page["next"] == false {
            break;
        }
    }
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "サイボウズ商事株式会社");
    let (status, body) = h.get(&token, "/k/v1/records/cursor.json", &[("id", &id)]).await;
    assert_error(status, &body, 404, "GAIA_CU01");

    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records/cursor.json",
            json!({"app": 1, "query": "limit 10"}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &token,
            Method::POST,
            "/k/v1/records/cursor.json",
            json!({"app": 1, "size": 501}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (status, body) = h
            .call(&token, Method::POST, "/k/v1/records/cursor.json", json!({"app": 1}))
            .await;
        assert_eq!(status, StatusCode::OK);
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let (status, body) = h
        .call(&token, Method::POST, "/k/v1/records/cursor.json", json!({"app": 1}))
        .await;
    assert_error(status, &body, 400, "GAIA_TM12");
    let (status, body) = h
        .call(
            &token,
            Method::DELETE,
            "/k/v1/records/cursor.json",
            json!({"id": ids[0]}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, _) = h
        .call(&token, Method::POST, "/k/v1/records/cursor.json", json!({"app": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn guest_space_apps_need_the_guest_path() {
    let h = Harness::start().await;
    let bob = h.token("bob").await;
    let carol = h.token("carol").await;
    let (status, body) = h.get(&bob, "/k/v1/records.json", &[("app", "4")]).await;
    assert_error(status, &body, 400, "GAIA_IL23");
    let (status, body) = h
        .get(
            &bob,
            "/k/guest/2/v1/records.json",
            &[("app", "4"), ("query", "Priority in (\"High\")")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(values(&body["records"], "Title"), vec!["Cannot log in to the portal"]);
    assert_eq!(body["records"][0]["Created_by"]["value"]["code"], "bob");
    let (status, body) = h
        .get(&bob, "/k/guest/2/v1/record.json", &[("app", "1"), ("id", "1")])
        .await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h.get(&carol, "/k/guest/2/v1/records.json", &[("app", "4")]).await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h
        .call(
            &bob,
            Method::POST,
            "/k/guest/2/v1/record.json",
            json!({"app": 4, "record": {"Title": {"value": "New ticket"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.fake.records(4).unwrap()[3]["Priority"]["value"], "Medium");
    let (status, body) = h.get(&bob, "/k/guest/2/v1/apps.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["apps"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn responses_carry_concurrency_headers() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let response = h
        .http
        .get(h.url("/k/v1/records.json?app=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-concurrencylimit-limit"], "100");
    assert!(response.headers().contains_key("x-concurrencylimit-running"));
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

#[tokio::test]
async fn unknown_apis_say_the_fake_lacks_them() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let (status, body) = h.get(&token, "/k/v1/space.json", &[("id", "1")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "FAKE_UNSUPPORTED_API");
}
