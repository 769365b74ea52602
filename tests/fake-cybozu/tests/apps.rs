//! App and settings APIs: app, apps, form fields and layout (live and pre-live), the other
//! settings reads, settings writes with revisions, adding an app, and deploy with its status.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn get_app_and_apps() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let (status, body) = h.override_get(&alice, "/k/v1/app.json", json!({"id": "2"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["appId"], "2");
    assert_eq!(body["code"], "DEALS");
    assert_eq!(body["spaceId"], "1");
    assert_eq!(body["creator"], json!({"code": "alice", "name": "山田 アリス"}));
    let (_, body) = h.get(&alice, "/k/v1/app.json", &[("id", "1")]).await;
    assert_eq!(body["spaceId"], Value::Null);

    let (_, body) = h.get(&alice, "/k/v1/apps.json", &[]).await;
    let ids: Vec<&str> = body["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["1", "2", "3", "4"]);
    let (_, body) = h.get(&bob, "/k/v1/apps.json", &[]).await;
    let ids: Vec<&str> = body["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["1", "2", "4"], "bob does not see the HR app");
    let (_, body) = h
        .get(&alice, "/k/v1/apps.json", &[("name", "partner"), ("limit", "1")])
        .await;
    assert_eq!(body["apps"][0]["name"], "Partner Support Tickets");
    let (_, body) = h
        .get(
            &alice,
            "/k/v1/apps.json",
            &[("codes[0]", "CUSTOMERS"), ("codes[1]", "HR")],
        )
        .await;
    assert_eq!(body["apps"].as_array().unwrap().len(), 2);
    let (_, body) = h.get(&alice, "/k/v1/apps.json", &[("spaceIds[0]", "1")]).await;
    assert_eq!(body["apps"].as_array().unwrap().len(), 1);
    let (_, body) = h.get(&alice, "/k/v1/apps.json", &[("offset", "3")]).await;
    assert_eq!(body["apps"].as_array().unwrap().len(), 1);
    let (status, body) = h.get(&alice, "/k/v1/apps.json", &[("limit", "101")]).await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h.get(&bob, "/k/v1/app.json", &[("id", "3")]).await;
    assert_error(status, &body, 403, "CB_NO02");
    let (status, body) = h.get(&alice, "/k/v1/app.json", &[("id", "4")]).await;
    assert_error(status, &body, 400, "GAIA_IL23");
}

#[tokio::test]
async fn settings_reads_live_and_preview() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let (status, body) = h.get(&alice, "/k/v1/app/form/fields.json", &[("app", "2")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["revision"], "5");
    let props = &body["properties"];
    assert_eq!(props["明細"]["fields"]["小計"]["type"], "CALC");
    assert_eq!(props["確度"]["options"]["B"], json!({"label": "B", "index": "1"}));
    assert_eq!(props["ステータス"]["enabled"], true);
    assert_eq!(props["案件名"]["required"], true);
    let (_, layout) = h.get(&alice, "/k/v1/app/form/layout.json", &[("app", "2")]).await;
    assert!(layout["layout"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["type"] == "SUBTABLE" && row["code"] == "明細"));
    let expectations = [
        ("/k/v1/app/views.json", "views"),
        ("/k/v1/app/settings.json", "name"),
        ("/k/v1/app/status.json", "states"),
        ("/k/v1/app/reports.json", "reports"),
        ("/k/v1/app/customize.json", "desktop"),
        ("/k/v1/app/actions.json", "actions"),
        ("/k/v1/app/acl.json", "rights"),
        ("/k/v1/record/acl.json", "rights"),
        ("/k/v1/field/acl.json", "rights"),
        ("/k/v1/app/notifications/general.json", "notifyToCommenter"),
        ("/k/v1/app/notifications/perRecord.json", "notifications"),
        ("/k/v1/app/notifications/reminder.json", "timezone"),
        ("/k/v1/preview/app/form/fields.json", "properties"),
        ("/k/v1/preview/app/views.json", "views"),
    ];
    for (path, key) in expectations {
        let (status, body) = h.override_get(&alice, path, json!({"app": 1, "lang": "default"})).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.get(key).is_some(), "{path} lacks {key}: {body}");
        assert!(body["revision"].as_str().is_some(), "{path}");
    }
    let (_, body) = h.get(&alice, "/k/v1/app/status.json", &[("app", "2")]).await;
    assert_eq!(body["enable"], true);
    assert_eq!(body["actions"][1]["name"], "承認申請");
    let (_, body) = h.get(&alice, "/k/v1/app/settings.json", &[("app", "1")]).await;
    assert_eq!(body["titleField"]["code"], "会社名");
    // bob may read the form but not the permissions or pre-live settings.
    let (status, _) = h.get(&bob, "/k/v1/app/form/fields.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/k/v1/app/acl.json",
        "/k/v1/app/customize.json",
        "/k/v1/preview/app/form/fields.json",
        "/k/v1/app/notifications/general.json",
    ] {
        let (status, body) = h.get(&bob, path, &[("app", "1")]).await;
        assert_error(status, &body, 403, "CB_NO02");
    }
}

#[tokio::test]
async fn form_field_changes_go_live_only_after_deploy() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let new_fields = json!({"app": 1, "revision": 5, "properties": {
        "評価点": {"type": "NUMBER", "label": "評価点", "maxValue": "100"},
        "地域": {"type": "DROP_DOWN", "label": "地域", "options": {"東日本": {"label": "東日本", "index": "0"}, "西日本": {"label": "西日本", "index": "1"}}}
    }});
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/form/fields.json",
            new_fields.clone(),
        )
        .await;
    assert_eq!((status, body.clone()), (StatusCode::OK, json!({"revision": "6"})));
    // Stale revision and duplicate code.
    let (status, body) = h
        .call(&alice, Method::POST, "/k/v1/preview/app/form/fields.json", new_fields)
        .await;
    assert_error(status, &body, 409, "GAIA_CO02");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT"}}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "properties": {"x": {"type": "HOLOGRAM"}}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");

    let (_, preview) = h
        .get(&alice, "/k/v1/preview/app/form/fields.json", &[("app", "1")])
        .await;
    assert!(preview["properties"].get("評価点").is_some());
    let (_, live) = h.get(&alice, "/k/v1/app/form/fields.json", &[("app", "1")]).await;
    assert!(live["properties"].get("評価点").is_none(), "not live before deploy");

    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "properties": {"評価点": {"label": "スコア", "code": "スコア"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "fields": ["地域"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .call(
            &alice,
            Method::DELETE,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "fields": ["レコード番号"]}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (_, layout) = h
        .get(&alice, "/k/v1/preview/app/form/layout.json", &[("app", "1")])
        .await;
    let text = layout["layout"].to_string();
    assert!(text.contains("スコア") && !text.contains("地域"), "{text}");

    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/deploy.json",
            json!({"apps": [{"app": 1, "revision": 8}]}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (_, status1) = h
        .get(&alice, "/k/v1/preview/app/deploy.json", &[("apps[0]", "1")])
        .await;
    assert_eq!(status1, json!({"apps": [{"app": "1", "status": "PROCESSING"}]}));
    let (_, status2) = h
        .override_get(&alice, "/k/v1/preview/app/deploy.json", json!({"apps": [1]}))
        .await;
    assert_eq!(status2["apps"][0]["status"], "SUCCESS");
    let (_, live) = h.get(&alice, "/k/v1/app/form/fields.json", &[("app", "1")]).await;
    assert_eq!(live["revision"], "8");
    assert_eq!(live["properties"]["スコア"]["label"], "スコア");
    // Records now take the new field and enforce its limit.
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 1, "record": {"会社名": {"value": "評価テスト"}, "スコア": {"value": "101"}}}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    assert_eq!(
        body["errors"]["record.スコア.value"]["messages"][0],
        "100以下である必要があります。"
    );
    let (_, record) = h.get(&alice, "/k/v1/record.json", &[("app", "1"), ("id", "1")]).await;
    assert_eq!(record["record"]["スコア"], json!({"type": "NUMBER", "value": ""}));
}

#[tokio::test]
async fn deploy_fails_when_existing_data_breaks_a_new_constraint_and_revert_discards() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    // Existing company names are longer than 5 characters: the deploy must fail.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 1, "properties": {"Webサイト": {"unique": true}, "会社名": {"maxLength": "5"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.call(
        &alice,
        Method::POST,
        "/k/v1/preview/app/deploy.json",
        json!({"apps": [{"app": 1}, {"app": 2}]}),
    )
    .await;
    let (_, first) = h
        .get(
            &alice,
            "/k/v1/preview/app/deploy.json",
            &[("apps[0]", "1"), ("apps[1]", "2")],
        )
        .await;
    assert_eq!(first["apps"][0]["status"], "PROCESSING");
    let (_, body) = h
        .get(
            &alice,
            "/k/v1/preview/app/deploy.json",
            &[("apps[0]", "1"), ("apps[1]", "2")],
        )
        .await;
    assert_eq!(body["apps"][0]["status"], "FAIL");
    assert_eq!(body["apps"][1]["status"], "CANCEL");
    let (_, live) = h.get(&alice, "/k/v1/app/form/fields.json", &[("app", "1")]).await;
    assert_eq!(live["properties"]["会社名"]["maxLength"], "64");
    let (status, _) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/deploy.json",
            json!({"apps": [{"app": 1}], "revert": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, preview) = h
        .get(&alice, "/k/v1/preview/app/form/fields.json", &[("app", "1")])
        .await;
    assert_eq!(preview["properties"]["会社名"]["maxLength"], "64", "reverted to live");
    let (status, body) = h
        .call(
            &h.token("bob").await,
            Method::POST,
            "/k/v1/preview/app/deploy.json",
            json!({"apps": [{"app": 1}]}),
        )
        .await;
    assert_error(status, &body, 403, "CB_NO02");
}

#[tokio::test]
async fn layout_settings_customize_and_status_updates() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let layout =
        json!([{"type": "ROW", "fields": [{"type": "SINGLE_LINE_TEXT", "code": "会社名", "size": {"width": "300"}}]}]);
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/form/layout.json",
            json!({"app": 1, "layout": layout}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bad = json!([{"type": "ROW", "fields": [{"type": "SINGLE_LINE_TEXT", "code": "幽霊"}]}]);
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/form/layout.json",
            json!({"app": 1, "layout": bad}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");

    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/settings.json",
            json!({"app": 1, "name": "顧客マスタ", "theme": "RED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/settings.json",
            json!({"app": 1, "name": ""}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");

    let (status, body) = h
        .call(&alice, Method::PUT, "/k/v1/preview/app/customize.json", json!({"app": 1, "scope": "ADMIN", "desktop": {"js": [{"type": "URL", "url": "https://cdn.example.com/v2.js"}], "css": []}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/customize.json",
            json!({"app": 1, "scope": "SOME"}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/views.json",
            json!({"app": 1, "views": {"新しい一覧": {"type": "LIST", "index": "0", "fields": ["会社名"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["views"]["新しい一覧"]["id"].as_str().is_some());

    let (_, live) = h.get(&alice, "/k/v1/app/settings.json", &[("app", "1")]).await;
    assert_eq!(live["name"], "顧客リスト");
    h.call(
        &alice,
        Method::POST,
        "/k/v1/preview/app/deploy.json",
        json!({"apps": [{"app": 1}]}),
    )
    .await;
    let (_, live) = h.get(&alice, "/k/v1/app/settings.json", &[("app", "1")]).await;
    assert_eq!(live["name"], "顧客マスタ");
    assert_eq!(live["theme"], "RED");
    let (_, app) = h.get(&alice, "/k/v1/app.json", &[("id", "1")]).await;
    assert_eq!(app["name"], "顧客マスタ");
    let (_, customize) = h.get(&alice, "/k/v1/app/customize.json", &[("app", "1")]).await;
    assert_eq!(customize["scope"], "ADMIN");
    assert_eq!(customize["desktop"]["js"][0]["url"], "https://cdn.example.com/v2.js");
    // Live settings cannot be written directly.
    let (status, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/app/settings.json",
            json!({"app": 1, "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn add_app_is_pre_live_until_deployed() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app.json",
            json!({"name": "備品管理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["app"], "5");
    let (status, body) = h.get(&alice, "/k/v1/app.json", &[("id", "5")]).await;
    assert_error(status, &body, 404, "GAIA_AP01");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app/form/fields.json",
            json!({"app": 5, "properties": {"備品名": {"type": "SINGLE_LINE_TEXT", "required": true}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.call(
        &alice,
        Method::POST,
        "/k/v1/preview/app/deploy.json",
        json!({"apps": [{"app": 5}]}),
    )
    .await;
    let (status, body) = h.get(&alice, "/k/v1/app.json", &[("id", "5")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "備品管理");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/record.json",
            json!({"app": 5, "record": {"備品名": {"value": "プロジェクター"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/v1/preview/app.json",
            json!({"name": "x".repeat(65)}),
        )
        .await;
    assert_error(status, &body, 400, "CB_VA01");
    let (status, body) = h
        .call(
            &alice,
            Method::POST,
            "/k/guest/2/v1/preview/app.json",
            json!({"name": "Guest app", "space": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn process_acl_and_other_settings_writes_take_effect_on_deploy() {
    let h = Harness::start().await;
    let alice = h.token("alice").await;
    let bob = h.token("bob").await;
    let status = json!({"app": 1, "enable": true,
        "states": {"新規": {"name": "新規", "index": "0", "assignee": {"type": "ONE", "entities": [{"entity": {"type": "CREATOR"}, "includeSubs": false}]}},
                   "完了": {"name": "完了", "index": "1", "assignee": {"type": "ONE", "entities": []}}},
        "actions": [{"name": "完了にする", "from": "新規", "to": "完了", "filterCond": ""}]});
    let (code, body) = h
        .call(&alice, Method::PUT, "/k/v1/preview/app/status.json", status)
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/status.json",
            json!({"app": 1, "enable": "yes"}),
        )
        .await;
    assert_error(code, &body, 400, "CB_VA01");
    let rights = json!([{"entity": {"type": "USER", "code": "alice"}, "appEditable": true, "recordViewable": true, "recordAddable": true, "recordEditable": true, "recordDeletable": true}]);
    let (code, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/acl.json",
            json!({"app": 1, "rights": rights}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    for (path, body) in [
        ("/k/v1/preview/record/acl.json", json!({"app": 1, "rights": []})),
        ("/k/v1/preview/field/acl.json", json!({"app": 1, "rights": []})),
        ("/k/v1/preview/app/reports.json", json!({"app": 1, "reports": {}})),
        ("/k/v1/preview/app/actions.json", json!({"app": 1, "actions": {}})),
        (
            "/k/v1/preview/app/notifications/general.json",
            json!({"app": 1, "notifications": [], "notifyToCommenter": false}),
        ),
        (
            "/k/v1/preview/app/notifications/perRecord.json",
            json!({"app": 1, "notifications": []}),
        ),
        (
            "/k/v1/preview/app/notifications/reminder.json",
            json!({"app": 1, "notifications": [], "timezone": "UTC"}),
        ),
    ] {
        let (code, reply) = h.call(&alice, Method::PUT, path, body).await;
        assert_eq!(code, StatusCode::OK, "{path}: {reply}");
        assert!(reply["revision"].as_str().is_some());
    }
    let (code, body) = h
        .call(
            &alice,
            Method::PUT,
            "/k/v1/preview/app/reports.json",
            json!({"app": 1, "reports": [], "revision": 1}),
        )
        .await;
    assert_error(code, &body, 409, "GAIA_CO02");
    // Nothing is live yet: bob still reads customers.
    let (code, _) = h.get(&bob, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(code, StatusCode::OK);
    h.call(
        &alice,
        Method::POST,
        "/k/v1/preview/app/deploy.json",
        json!({"apps": [{"app": 1}]}),
    )
    .await;
    let (code, body) = h.get(&bob, "/k/v1/records.json", &[("app", "1")]).await;
    assert_error(code, &body, 403, "CB_NO02");
    let (_, record) = h.get(&alice, "/k/v1/record.json", &[("app", "1"), ("id", "3")]).await;
    assert_eq!(record["record"]["ステータス"]["value"], "新規");
    assert_eq!(
        record["record"]["作業者"]["value"][0]["code"], "bob",
        "the creator of record 3"
    );
    let (_, general) = h
        .get(&alice, "/k/v1/app/notifications/general.json", &[("app", "1")])
        .await;
    assert_eq!(general["notifyToCommenter"], false);
    let (_, reminder) = h
        .get(&alice, "/k/v1/app/notifications/reminder.json", &[("app", "1")])
        .await;
    assert_eq!(reminder["timezone"], "UTC");
}
