//! Comments, files and process management.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn comments_add_page_and_delete() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let (_, body) = h
        .get(&alice, "/k/v1/record/comments.json", &[("app", "1"), ("record", "1")])
        .await;
    assert_eq!(
        body["comments"][0]["text"], "了解です。資料を用意します。",
        "newest first"
    );
    assert_eq!(
        body["comments"][1]["creator"],
        json!({"code": "bob", "name": "Bob Smith"})
    );
    assert_eq!(body["older"], false);
    assert_eq!(body["newer"], false);
    for i in 0..11 {
        let (status, body) = h
            .call(&bob, Method::POST, "/k/v1/record/comment.json", json!({"app": 1, "record": 1, "comment": {"text": format!("コメント {i}"), "mentions": [{"code": "alice", "type": "USER"}]}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], (i + 3).to_string());
    }
    let (_, page) = h
        .get(&alice, "/k/v1/record/comments.json", &[("app", "1"), ("record", "1")])
        .await;
    assert_eq!(page["comments"].as_array().unwrap().len(), 10);
    assert_eq!(page["comments"][0]["text"], "コメント 10");
    assert_eq!(
        page["comments"][0]["mentions"],
        json!([{"code": "alice", "type": "USER"}])
    );
    assert_eq!(page["older"], true);
    let (_, page) = h
        .get(
            &alice,
            "/k/v1/record/comments.json",
            &[
                ("app", "1"),
                ("record", "1"),
                ("order", "asc"),
                ("offset", "10"),
                ("limit", "5"),
            ],
        )
        .await;
    assert_eq!(page["comments"].as_array().unwrap().len(), 3);
    assert_eq!(page["older"], true);
    assert_eq!(page["newer"], false);
    let (status, body) = h
        .get(
            &alice,
            "/k/v1/record/comments.json",
            &[("app", "1"), ("record", "1"), ("limit", "11")],
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .get(
            &alice,
            "/k/v1/record/comments.json",
            &[("app", "1"), ("record", "1"), ("order", "wrong")],
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(
        body["errors"]["order"]["messages"][0],
        "Enum値のいずれかでなければなりません。"
    );

    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": {"text": ""}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": {"text": "x", "mentions": [{"code": "ghost", "type": "USER"}]}}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL26");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": {"text": "a".repeat(65_536)}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");

    // Only the author may delete; an unknown comment is 400 GAIA_RE02.
    let (status, body) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": 3}),
        )
        .await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h
        .call(
            &bob,
            Method::DELETE,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": 3}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, body) = h
        .call(
            &bob,
            Method::DELETE,
            "/k/v1/record/comment.json",
            json!({"app": 1, "record": 1, "comment": 3}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_RE02");
    assert_eq!(
        body["message"],
        "The specified comment does not exist. The comment may have been deleted."
    );
    // Comments on a record bob cannot see.
    let (status, body) = h
        .get(&bob, "/k/v1/record/comments.json", &[("app", "2"), ("record", "4")])
        .await;
    assert_error(status, &body, 403, "CB_NO02");
}

#[tokio::test]
async fn file_upload_attach_and_download_round_trip() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let part = reqwest::multipart::Part::bytes(bytes.clone())
        .file_name("提案書 v2.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let response = h
        .http
        .post(h.url("/k/v1/file.json"))
        .bearer_auth(&alice)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let upload_key = body["fileKey"].as_str().unwrap().to_string();
    // An upload key downloads nothing: only the record's key does.
    let (status, body) = h.get(&alice, "/k/v1/file.json", &[("fileKey", &upload_key)]).await;
    assert_error(status, &body, 404, "GAIA_BL01");

    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 2, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, record) = h.get(&alice, "/k/v1/record.json", &[("app", "2"), ("id", "2")]).await;
    let file = &record["record"]["見積書"]["value"][0];
    assert_eq!(file["name"], "提案書 v2.pdf");
    assert_eq!(file["contentType"], "application/pdf");
    assert_eq!(file["size"], "70000");
    let download_key = file["fileKey"].as_str().unwrap();
    assert_ne!(download_key, upload_key);
    let response = h
        .http
        .get(h.url("/k/v1/file.json"))
        .bearer_auth(&alice)
        .query(&[("fileKey", download_key)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("filename*=UTF-8''%E6%8F%90%E6%A1%88%E6%9B%B8%20v2.pdf"));
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
    // The upload key was used up.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 3, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
        )
        .await;
    assert_error(status, &body, 404, "GAIA_BL01");
    // Keeping the attached file by its download key works.
    let (status, _) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/record.json",
            json!({"app": 2, "id": 2, "record": {"見積書": {"value": [{"fileKey": download_key}]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The seed's file downloads too; bob cannot download from a record he cannot see.
    let (_, seeded) = h.get(&alice, "/k/v1/record.json", &[("app", "2"), ("id", "1")]).await;
    let seeded_key = seeded["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_string();
    let text = h
        .http
        .get(h.url("/k/v1/file.json"))
        .bearer_auth(&alice)
        .query(&[("fileKey", &seeded_key)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("御見積書"));
    let files_only = h.tokens("bob", "k:file:read k:app_record:read").await.access;
    let (_, secret) = h.get(&alice, "/k/v1/record.json", &[("app", "2"), ("id", "4")]).await;
    assert!(secret["record"]["見積書"]["value"].as_array().unwrap().is_empty());
    let (status, _) = h.get(&files_only, "/k/v1/file.json", &[("fileKey", &seeded_key)]).await;
    assert_eq!(status, StatusCode::OK);

    // Upload without a file part; upload without the scope.
    let response = h
        .http
        .post(h.url("/k/v1/file.json"))
        .bearer_auth(&alice)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 400, "CB_VA01");
    let part = reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.txt");
    let response = h
        .http
        .post(h.url("/k/v1/file.json"))
        .bearer_auth(&files_only)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let (status, body) = into_json(response).await;
    assert_error(status, &body, 403, "CB_OA01");
}

#[tokio::test]
async fn process_management_actions_and_assignees() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    // A new deal starts in the first status, assigned from the 担当者 field.
    let (status, body) = h
        .call(&bob, Method::POST, "/k/v1/record.json", json!({"app": 2, "record": {"案件名": {"value": "新規案件"}, "顧客名": {"value": "Initech Software"}, "担当者": {"value": [{"code": "bob"}]}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let (_, record) = h.get(&bob, "/k/v1/record.json", &[("app", "2"), ("id", &id)]).await;
    assert_eq!(record["record"]["ステータス"]["value"], "未着手");
    assert_eq!(record["record"]["作業者"]["value"][0]["code"], "bob");

    // Only the assignee may act.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "商談開始"}),
        )
        .await;
    assert_error(status, &body, 403, "GAIA_NT01");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "承認"}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL03");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "商談開始", "revision": 1}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"revision": "3"})));
    // The filter condition of 承認申請 needs 確度 A or B.
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "承認申請"}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL03");
    h.call(
        &bob,
        Method::PUT,
        "/k/v1/record.json",
        json!({"app": 2, "id": id, "record": {"確度": {"value": "A"}}}),
    )
    .await;
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "承認申請", "assignee": "alice", "revision": 1}),
        )
        .await;
    assert_error(status, &body, 409, "GAIA_CO02");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 2, "id": id, "action": "承認申請", "assignee": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, record) = h.get(&alice, "/k/v1/record.json", &[("app", "2"), ("id", &id)]).await;
    assert_eq!(record["record"]["ステータス"]["value"], "承認待ち");
    assert_eq!(
        record["record"]["作業者"]["value"],
        json!([{"code": "alice", "name": "山田 アリス"}])
    );

    // Bulk status update across records.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/records/status.json",
            json!({"app": 2, "records": [{"id": id, "action": "承認"}, {"id": 1, "action": "失注"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["records"][1]["id"], "1");
    let statuses: Vec<Value> = h
        .fake
        .records(2)
        .unwrap()
        .iter()
        .map(|r| r["ステータス"]["value"].clone())
        .collect();
    assert_eq!(statuses[0], "失注");
    assert_eq!(statuses[5], "受注");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/records/status.json",
            json!({"app": 2, "records": [{"id": 2, "action": "商談開始"}, {"id": 3, "action": "承認"}]}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL03");
    assert_eq!(
        h.fake.records(2).unwrap()[1]["ステータス"]["value"],
        "未着手",
        "rolled back"
    );

    // Assignees.
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/assignees.json",
            json!({"app": 2, "id": 2, "assignees": ["alice", "bob"]}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/assignees.json",
            json!({"app": 2, "id": 2, "assignees": ["ghost"]}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL26");
    let (status, body) = h
        .call(
            &bob,
            Method::PUT,
            "/k/v1/record/assignees.json",
            json!({"app": 2, "id": 2, "assignees": ["alice"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.fake.records(2).unwrap()[1]["作業者"]["value"][0]["code"], "alice");
    // No process management on the customer list.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/record/status.json",
            json!({"app": 1, "id": 1, "action": "x"}),
        )
        .await;
    assert_error(status, &body, 400, "GAIA_IL03");
}
