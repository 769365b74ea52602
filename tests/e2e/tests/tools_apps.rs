//! App tools through MCP: getApp, searchApps, addApp and every settings read, live and pre-live,
//! with kintone's permission and not-found errors, a busy kintone, guest spaces and argument
//! refusals that never reach kintone.

use crate::tools_common;

use fake_cybozu::Fault;
use serde_json::json;
use tools_common::{params, Session};

#[tokio::test]
async fn get_app_and_search_apps_send_their_parameters() {
    let s = Session::start().await;
    let done = s.ok("getApp", json!({"appId": 2})).await;
    // getApp is the one API that names the app `id`.
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        ("/k/v1/app.json", json!({"id": "2"}))
    );
    let app = done.data();
    assert_eq!(
        (
            app["appId"].as_str(),
            app["name"].as_str(),
            app["code"].as_str(),
            app["spaceId"].as_str()
        ),
        (Some("2"), Some("商談管理"), Some("DEALS"), Some("1"))
    );

    let done = s.ok("searchApps", json!({"name": "商談"})).await;
    assert_eq!(
        params(done.one()),
        json!({"name": "商談", "limit": "100", "offset": "0"})
    );
    let names: Vec<&str> = done.data()["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["商談管理"]);
    assert_eq!(done.data()["nextOffset"], serde_json::Value::Null);

    let all = s.ok("searchApps", json!({})).await;
    let count = all.data()["returned"].as_i64().unwrap();
    assert!(count >= 3, "alice sees the seeded apps: {}", all.data());
    let page = s.ok("searchApps", json!({"limit": 2, "offset": 1})).await;
    assert_eq!(
        (page.data()["returned"].as_i64(), page.data()["nextOffset"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(page.data()["apps"][0]["appId"], all.data()["apps"][1]["appId"]);
    assert!(
        page.text().contains("call searchApps again with offset 3"),
        "{}",
        page.text()
    );

    let done = s
        .ok(
            "searchApps",
            json!({"codes": ["CUSTOMERS"], "ids": [1, "2"], "spaceIds": []}),
        )
        .await;
    assert_eq!(
        params(done.one()),
        json!({"codes[0]": "CUSTOMERS", "ids[0]": "1", "ids[1]": "2", "limit": "100", "offset": "0"})
    );
    assert_eq!(done.data()["apps"].as_array().unwrap().len(), 1);
    assert_eq!(done.data()["apps"][0]["appId"], "1");

    let done = s.kintone_error("getApp", json!({"appId": 999}), "GAIA_AP01").await;
    assert!(done.text().contains("searchApps lists apps"), "{}", done.text());

    s.invalid("searchApps", json!({"limit": 101}), "limit: must be between 1 and 100")
        .await;
    s.invalid(
        "searchApps",
        json!({"ids": ["one"]}),
        "ids[0]: must be a positive integer id",
    )
    .await;
    s.invalid("getApp", json!({}), "appId: required").await;
}

#[tokio::test]
async fn every_settings_read_goes_to_its_path_live_or_pre_live() {
    let s = Session::start().await;
    let reads = [
        ("getAppFields", "app/form/fields", "properties"),
        ("getAppSettings", "app/settings", "name"),
        ("getFormLayout", "app/form/layout", "layout"),
        ("getViews", "app/views", "views"),
        ("getProcessManagement", "app/status", "enable"),
        ("getAppReports", "app/reports", "reports"),
        ("getAppCustomize", "app/customize", "desktop"),
        ("getAppActions", "app/actions", "actions"),
        ("getAppAcl", "app/acl", "rights"),
        ("getRecordAcl", "record/acl", "rights"),
        ("getFieldAcl", "field/acl", "rights"),
        (
            "getAppNotificationsGeneral",
            "app/notifications/general",
            "notifications",
        ),
        (
            "getAppNotificationsPerRecord",
            "app/notifications/perRecord",
            "notifications",
        ),
        (
            "getAppNotificationsReminder",
            "app/notifications/reminder",
            "notifications",
        ),
    ];
    for (tool, resource, key) in reads {
        let done = s.ok(tool, json!({"appId": 1})).await;
        assert_eq!(done.one().path, format!("/k/v1/{resource}.json"), "{tool}");
        assert_eq!(params(done.one()), json!({"app": "1"}), "{tool}");
        assert!(done.data().get(key).is_some(), "{tool}: {}", done.data());
        if tool != "getAppFields" {
            let preview = s.ok(tool, json!({"appId": 1, "preview": true})).await;
            assert_eq!(preview.one().path, format!("/k/v1/preview/{resource}.json"), "{tool}");
        }
    }
    let done = s.ok("getFormFields", json!({"appId": 1})).await;
    assert_eq!(done.one().path, "/k/v1/preview/app/form/fields.json");

    // lang reaches kintone where the API takes it.
    let done = s.ok("getViews", json!({"appId": 1, "lang": "en"})).await;
    assert_eq!(params(done.one()), json!({"app": "1", "lang": "en"}));
    assert!(done.data()["views"].get("Aランク").is_some());

    // Content against the seed.
    assert_eq!(
        s.ok("getAppFields", json!({"appId": 1})).await.data()["properties"]["会社名"]["type"],
        "SINGLE_LINE_TEXT"
    );
    let status = s.ok("getProcessManagement", json!({"appId": 2})).await;
    assert_eq!(status.data()["enable"], true);
    assert!(status.data()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "承認申請"));
    assert_eq!(
        s.ok("getAppSettings", json!({"appId": 1})).await.data()["theme"],
        "BLUE"
    );
    assert_eq!(
        s.ok("getAppCustomize", json!({"appId": 1})).await.data()["desktop"]["js"][0]["url"],
        "https://cdn.example.com/customers.js"
    );
    assert_eq!(
        s.ok("getAppNotificationsPerRecord", json!({"appId": 1})).await.data()["notifications"][0]["title"],
        "Aランク顧客の更新"
    );
    assert_eq!(
        s.ok("getFieldAcl", json!({"appId": 1})).await.data()["rights"][0]["code"],
        "与信限度額"
    );
    assert_eq!(
        s.ok("getAppReports", json!({"appId": 1})).await.data()["reports"]["業種別件数"]["chartType"],
        "PIE"
    );
    assert_eq!(
        s.ok("getAppActions", json!({"appId": 1})).await.data()["actions"]["商談を作成"]["destApp"]["code"],
        "DEALS"
    );

    s.invalid(
        "getViews",
        json!({"appId": 1, "lang": "fr"}),
        "lang: must be one of default, ja, en, zh, user",
    )
    .await;
    s.invalid(
        "getAppAcl",
        json!({"appId": 1, "preview": "yes"}),
        "preview: must be true or false",
    )
    .await;
    s.invalid(
        "getFormFields",
        json!({"appId": 1, "preview": true}),
        "unknown argument \"preview\"",
    )
    .await;
}

#[tokio::test]
async fn permissions_busy_kintone_and_guest_space_apps() {
    let s = Session::start().await;
    // bob may not see the HR app: kintone's CB_NO02 with what to do about it.
    let bob = s.client_for("bob").await;
    let done = s.call_with(&bob, "getAppFields", json!({"appId": 3})).await;
    assert!(done.call.is_error());
    assert!(
        done.text().contains("(HTTP 403, CB_NO02)") && done.text().contains("no permission"),
        "{}",
        done.text()
    );
    assert_eq!(done.one().user.as_deref(), Some("bob"), "bob's own kintone token");

    // 429 on a settings read says when to retry.
    s.fake().add_fault(Fault::rate_limit("/k/v1/app/views.json"));
    let done = s.kintone_error("getViews", json!({"appId": 1}), "GAIA_TO04").await;
    assert!(done.text().contains("Retry the same call after"), "{}", done.text());

    // Guest space apps.
    let done = s.ok("getAppFields", json!({"appId": 4, "guestSpaceId": "2"})).await;
    assert_eq!(done.one().path, "/k/guest/2/v1/app/form/fields.json");
    assert!(done.data()["properties"].get("Title").is_some());
    let done = s.ok("getApp", json!({"appId": 4, "guestSpaceId": 2})).await;
    assert_eq!(
        (done.one().path.as_str(), done.data()["name"].as_str()),
        ("/k/guest/2/v1/app.json", Some("Partner Support Tickets"))
    );
    let done = s
        .kintone_error("getAppSettings", json!({"appId": 4}), "GAIA_IL23")
        .await;
    assert!(done.text().contains("Pass guestSpaceId"), "{}", done.text());
    let done = s
        .kintone_error("getAppFields", json!({"appId": 1, "guestSpaceId": 2}), "CB_NO02")
        .await;
    assert!(
        done.text().contains("guestSpaceId names the wrong space"),
        "{}",
        done.text()
    );
}

#[tokio::test]
async fn add_app_creates_a_pre_live_app_that_deploy_publishes() {
    let s = Session::start().await;
    let done = s.ok("addApp", json!({"name": "MCPで作ったアプリ"})).await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        ("/k/v1/preview/app.json", json!({"name": "MCPで作ったアプリ"}))
    );
    let app = done.data()["app"].as_str().unwrap().to_owned();
    assert!(
        done.text()
            .contains(&format!("call deployApp with apps [{{\"app\": \"{app}\"}}]")),
        "{}",
        done.text()
    );
    s.kintone_error("getApp", json!({"appId": app}), "GAIA_AP01").await;

    let deployed = s.ok("deployApp", json!({"apps": [{"app": app}], "wait": true})).await;
    assert_eq!(deployed.data()["apps"][0]["status"], "SUCCESS");
    assert_eq!(
        s.ok("getApp", json!({"appId": app})).await.data()["name"],
        "MCPで作ったアプリ"
    );

    let done = s
        .ok("addApp", json!({"name": "スペースのアプリ", "space": 1, "thread": 1}))
        .await;
    assert_eq!(
        params(done.one()),
        json!({"name": "スペースのアプリ", "space": 1, "thread": 1})
    );
    let done = s
        .tool_error("addApp", json!({"name": "x", "space": 99, "thread": 99}))
        .await;
    assert!(done.text().starts_with("kintone returned an error"), "{}", done.text());

    s.invalid(
        "addApp",
        json!({"name": "x", "space": 1}),
        "thread: required with space",
    )
    .await;
    s.invalid(
        "addApp",
        json!({"name": "あ".repeat(65)}),
        "name: is 65 characters long; the limit is 64",
    )
    .await;
}
