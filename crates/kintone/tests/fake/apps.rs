//! App tools: getApp, searchApps, addApp, and every app-settings read, live and pre-live,
//! including a guest-space app.

use serde_json::json;

use crate::common::Env;

#[tokio::test]
async fn get_app_and_search_apps() {
    let env = Env::start().await;
    let app = env.data("getApp", json!({"appId": 2})).await;
    assert_eq!(
        (app["appId"].as_str(), app["name"].as_str(), app["code"].as_str()),
        (Some("2"), Some("商談管理"), Some("DEALS"))
    );
    let sent = env.kintone_requests();
    assert_eq!(sent[0].query.as_deref(), Some("id=2"), "getApp names the app `id`");

    let found = env.data("searchApps", json!({"name": "商談"})).await;
    let names: Vec<&str> = found["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["商談管理"]);
    assert_eq!(found["nextOffset"], serde_json::Value::Null);

    let all = env.data("searchApps", json!({})).await;
    let count = all["returned"].as_i64().unwrap();
    assert!(count >= 3, "alice sees the seeded apps");
    let page = env.ok("searchApps", json!({"limit": 2, "offset": 1})).await;
    let data = page.structured.as_ref().unwrap();
    assert_eq!(
        (data["returned"].as_i64(), data["nextOffset"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(data["apps"][0]["appId"], all["apps"][1]["appId"]);
    assert!(page.text().contains("offset 3"));

    let by_code = env.data("searchApps", json!({"codes": ["CUSTOMERS"]})).await;
    assert_eq!(by_code["apps"][0]["appId"], "1");

    let text = env.tool_error("getApp", json!({"appId": 999})).await;
    assert!(
        text.contains("GAIA_AP01") && text.contains("searchApps lists apps"),
        "{text}"
    );
}

#[tokio::test]
async fn every_settings_read_answers_in_its_schema() {
    let env = Env::start().await;
    let reads = [
        ("getAppFields", "properties"),
        ("getFormFields", "properties"),
        ("getAppSettings", "name"),
        ("getFormLayout", "layout"),
        ("getViews", "views"),
        ("getProcessManagement", "enable"),
        ("getAppReports", "reports"),
        ("getAppCustomize", "desktop"),
        ("getAppActions", "actions"),
        ("getAppAcl", "rights"),
        ("getRecordAcl", "rights"),
        ("getFieldAcl", "rights"),
        ("getAppNotificationsGeneral", "notifications"),
        ("getAppNotificationsPerRecord", "notifications"),
        ("getAppNotificationsReminder", "notifications"),
    ];
    for (tool, key) in reads {
        env.fake.clear_requests();
        let data = env.data(tool, json!({"appId": 1})).await;
        assert!(data.get(key).is_some(), "{tool}: {data}");
        let sent = env.kintone_requests();
        assert_eq!(sent.len(), 1, "{tool}");
        assert_eq!(sent[0].method, "GET");
        assert_eq!(
            sent[0].path.contains("/preview/"),
            tool == "getFormFields",
            "{tool}: {}",
            sent[0].path
        );
    }
    // Content checks against the seed.
    assert_eq!(
        env.data("getAppFields", json!({"appId": 1})).await["properties"]["会社名"]["type"],
        "SINGLE_LINE_TEXT"
    );
    assert!(env.data("getViews", json!({"appId": 1, "lang": "ja"})).await["views"]
        .get("Aランク")
        .is_some());
    let status = env.data("getProcessManagement", json!({"appId": 2})).await;
    assert_eq!(status["enable"], true);
    assert!(status["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "承認申請"));
    assert_eq!(env.data("getAppSettings", json!({"appId": 1})).await["theme"], "BLUE");
    assert_eq!(
        env.data("getAppCustomize", json!({"appId": 1})).await["desktop"]["js"][0]["url"],
        "https://cdn.example.com/customers.js"
    );
    assert_eq!(
        env.data("getAppNotificationsPerRecord", json!({"appId": 1})).await["notifications"][0]["title"],
        "Aランク顧客の更新"
    );
    assert_eq!(
        env.data("getAppNotificationsGeneral", json!({"appId": 1})).await["notifyToCommenter"],
        true
    );

    // The preview flag reads the pre-live path.
    env.fake.clear_requests();
    env.ok("getViews", json!({"appId": 1, "preview": true})).await;
    assert_eq!(env.kintone_requests()[0].path, "/k/v1/preview/app/views.json");

    // An app the user may not see.
    let bob = Env::start_as("bob", crate::common::ALL_SCOPES).await;
    let text = bob.tool_error("getAppFields", json!({"appId": 3})).await;
    assert!(text.contains("CB_NO02") && text.contains("no permission"), "{text}");
}

#[tokio::test]
async fn guest_space_apps_need_the_guest_space_id() {
    let env = Env::start().await;
    let data = env
        .data(
            "getRecords",
            json!({"appId": 4, "guestSpaceId": 2, "query": "Priority in (\"High\")"}),
        )
        .await;
    assert_eq!(data["records"][0]["Title"]["value"], "Cannot log in to the portal");
    assert!(env.kintone_requests()[0].path.starts_with("/k/guest/2/v1/"));
    let fields = env.data("getAppFields", json!({"appId": 4, "guestSpaceId": "2"})).await;
    assert!(fields["properties"].get("Title").is_some());

    let text = env.tool_error("getRecords", json!({"appId": 4})).await;
    assert!(
        text.contains("GAIA_IL23") && text.contains("Pass guestSpaceId for apps in a guest space"),
        "{text}"
    );
    let text = env
        .tool_error("getRecords", json!({"appId": 1, "guestSpaceId": 2}))
        .await;
    assert!(
        text.contains("CB_NO02") && text.contains("guestSpaceId names the wrong space"),
        "{text}"
    );
}

#[tokio::test]
async fn add_app_then_deploy_makes_it_live() {
    let env = Env::start().await;
    let created = env.ok("addApp", json!({"name": "MCPで作ったアプリ"})).await;
    let app = created.structured.as_ref().unwrap()["app"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(created.text().contains("deployApp"));
    // Not live yet.
    let text = env.tool_error("getApp", json!({"appId": app})).await;
    assert!(text.contains("GAIA_AP01"), "{text}");

    let deployed = env
        .data("deployApp", json!({"apps": [{"app": app}], "wait": true}))
        .await;
    assert_eq!(deployed["apps"][0]["status"], "SUCCESS");
    assert_eq!(
        env.data("getApp", json!({"appId": app})).await["name"],
        "MCPで作ったアプリ"
    );

    let text = env
        .tool_error("addApp", json!({"name": "x", "space": 99, "thread": 99}))
        .await;
    assert!(text.contains("kintone returned an error"), "{text}");
}
