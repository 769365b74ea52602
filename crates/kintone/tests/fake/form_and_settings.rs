//! Pre-live form and settings changes, and deploying them.

use serde_json::{json, Value};

use crate::common::{field, record_by_id, Env};

fn revision(data: &Value) -> i64 {
    data["revision"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn form_fields_change_on_preview_and_go_live_on_deploy() {
    let env = Env::start().await;
    let start = revision(&env.data("getFormFields", json!({"appId": 1})).await);

    let added = env
        .ok("addFormFields", json!({"appId": 1, "revision": start, "properties": {
            "契約種別": {"type": "DROP_DOWN", "label": "契約種別", "options": {"年間": {"label": "年間", "index": "0"}, "月額": {"label": "月額", "index": "1"}}},
            "備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考2"},
        }}))
        .await;
    assert!(added.text().contains("deployApp"));
    let after_add = revision(added.structured.as_ref().unwrap());
    assert!(after_add > start);
    assert!(env.data("getFormFields", json!({"appId": 1})).await["properties"]
        .get("契約種別")
        .is_some());
    assert!(
        env.data("getAppFields", json!({"appId": 1})).await["properties"]
            .get("契約種別")
            .is_none(),
        "not live before deploy"
    );

    env.ok(
        "updateFormFields",
        json!({"appId": 1, "properties": {"備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考（その2）"}}}),
    )
    .await;
    assert_eq!(
        env.data("getFormFields", json!({"appId": 1})).await["properties"]["備考2"]["label"],
        "備考（その2）"
    );

    // A stale revision is refused by kintone and changes nothing.
    let text = env
        .tool_error(
            "deleteFormFields",
            json!({"appId": 1, "fields": ["備考2"], "revision": start}),
        )
        .await;
    assert!(text.contains("GAIA_CO02"), "{text}");
    env.ok("deleteFormFields", json!({"appId": 1, "fields": ["備考2"]}))
        .await;
    assert!(env.data("getFormFields", json!({"appId": 1})).await["properties"]
        .get("備考2")
        .is_none());

    let text = env
        .tool_error(
            "addFormFields",
            json!({"appId": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT", "label": "dup"}}}),
        )
        .await;
    assert!(text.contains("kintone returned an error"), "{text}");

    // Layout: put the new field's row first.
    let layout = env.data("getFormLayout", json!({"appId": 1, "preview": true})).await["layout"]
        .as_array()
        .unwrap()
        .clone();
    let (with_new, others): (Vec<Value>, Vec<Value>) = layout.into_iter().partition(|row| {
        row["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["code"] == "契約種別"))
    });
    assert_eq!(with_new.len(), 1);
    let reordered: Vec<Value> = with_new.into_iter().chain(others).collect();
    env.ok("updateFormLayout", json!({"appId": 1, "layout": reordered}))
        .await;
    let preview_layout = env.data("getFormLayout", json!({"appId": 1, "preview": true})).await;
    assert_eq!(preview_layout["layout"][0]["fields"][0]["code"], "契約種別");

    let deployed = env.data("deployApp", json!({"apps": [{"app": 1}], "wait": true})).await;
    assert_eq!(deployed["apps"][0]["status"], "SUCCESS");
    assert!(env.data("getAppFields", json!({"appId": 1})).await["properties"]
        .get("契約種別")
        .is_some());
    assert_eq!(
        env.data("getFormLayout", json!({"appId": 1})).await["layout"][0]["fields"][0]["code"],
        "契約種別"
    );
}

#[tokio::test]
async fn app_settings_views_process_and_customize_go_through_preview() {
    let env = Env::start().await;
    env.ok(
        "updateAppSettings",
        json!({"appId": 1, "name": "顧客マスタ", "enableComments": false, "firstMonthOfFiscalYear": 4}),
    )
    .await;
    let preview = env.data("getAppSettings", json!({"appId": 1, "preview": true})).await;
    assert_eq!(
        (preview["name"].as_str(), preview["enableComments"].as_bool()),
        (Some("顧客マスタ"), Some(false))
    );
    assert_eq!(
        env.data("getAppSettings", json!({"appId": 1})).await["name"],
        "顧客リスト"
    );

    let mut views = env.data("getViews", json!({"appId": 1, "preview": true})).await["views"].clone();
    views.as_object_mut().unwrap().remove("Aランク");
    views["Bランク"] = json!({"type": "LIST", "name": "Bランク", "index": "1", "fields": ["会社名"], "filterCond": "ランク in (\"B\")", "sort": "$id desc"});
    for view in views.as_object_mut().unwrap().values_mut() {
        view.as_object_mut().unwrap().remove("id");
    }
    let updated = env.data("updateViews", json!({"appId": 1, "views": views})).await;
    assert!(updated["views"].get("Bランク").is_some());
    let preview_views = env.data("getViews", json!({"appId": 1, "preview": true})).await["views"].clone();
    assert!(preview_views.get("Bランク").is_some() && preview_views.get("Aランク").is_none());

    env.ok("updateProcessManagement", json!({"appId": 2, "enable": false}))
        .await;
    assert_eq!(
        env.data("getProcessManagement", json!({"appId": 2, "preview": true}))
            .await["enable"],
        false
    );
    assert_eq!(
        env.data("getProcessManagement", json!({"appId": 2})).await["enable"],
        true
    );

    env.ok("updateAppCustomize", json!({"appId": 1, "scope": "ADMIN", "desktop": {"js": [{"type": "URL", "url": "https://cdn.example.com/v2.js"}], "css": []}})).await;
    let customize = env.data("getAppCustomize", json!({"appId": 1, "preview": true})).await;
    assert_eq!(
        (
            customize["scope"].as_str(),
            customize["desktop"]["js"][0]["url"].as_str()
        ),
        (Some("ADMIN"), Some("https://cdn.example.com/v2.js"))
    );

    let deployed = env
        .data("deployApp", json!({"apps": [{"app": 1}, {"app": 2}], "wait": true}))
        .await;
    assert!(
        deployed["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "SUCCESS"),
        "{deployed}"
    );
    assert_eq!(
        env.data("getAppSettings", json!({"appId": 1})).await["name"],
        "顧客マスタ"
    );
    assert_eq!(
        env.data("getProcessManagement", json!({"appId": 2})).await["enable"],
        false
    );

    let text = env
        .tool_error("updateAppSettings", json!({"appId": 1, "name": "x", "revision": 1}))
        .await;
    assert!(text.contains("GAIA_CO02"), "{text}");
}

#[tokio::test]
async fn deploy_without_waiting_revert_and_failure() {
    let env = Env::start().await;
    // Start a deploy, then poll with getDeployStatus.
    env.ok("updateAppSettings", json!({"appId": 1, "description": "v2"}))
        .await;
    let started = env.ok("deployApp", json!({"apps": [{"app": "1"}]})).await;
    assert!(started.text().contains("getDeployStatus"));
    let first = env.data("getDeployStatus", json!({"apps": [1]})).await;
    assert_eq!(first["apps"][0]["status"], "PROCESSING");
    let second = env.data("getDeployStatus", json!({"apps": [1]})).await;
    assert_eq!(second["apps"][0]["status"], "SUCCESS");

    // Revert discards pre-live changes.
    env.ok("updateAppSettings", json!({"appId": 1, "name": "捨てる名前"}))
        .await;
    env.ok("deployApp", json!({"apps": [{"app": 1}], "revert": true, "wait": true}))
        .await;
    assert_eq!(
        env.data("getAppSettings", json!({"appId": 1, "preview": true})).await["name"],
        "顧客リスト"
    );

    // A rule existing records break makes the deploy fail, reported as a tool error.
    env.ok(
        "addFormFields",
        json!({"appId": 1, "properties": {"短い": {"type": "SINGLE_LINE_TEXT", "label": "短い"}}}),
    )
    .await;
    env.ok(
        "updateFormFields",
        json!({"appId": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT", "maxLength": "3"}}}),
    )
    .await;
    let text = env
        .tool_error("deployApp", json!({"apps": [{"app": 1}], "wait": true}))
        .await;
    assert!(text.contains("FAIL") && text.contains("existing records"), "{text}");
    assert!(env.data("getAppFields", json!({"appId": 1})).await["properties"]
        .get("短い")
        .is_none());
    assert!(field(&record_by_id(&env.records(1), 1), "会社名").is_string());
}

#[tokio::test]
async fn permissions_graphs_actions_and_notifications_are_replaced_on_preview() {
    let env = Env::start().await;
    let mut rights = env.data("getAppAcl", json!({"appId": 1, "preview": true})).await["rights"]
        .as_array()
        .unwrap()
        .clone();
    let stale = revision(&env.data("getAppAcl", json!({"appId": 1, "preview": true})).await);
    rights.retain(|r| r["entity"]["code"] != "everyone");
    env.ok("updateAppAcl", json!({"appId": 1, "rights": rights, "revision": stale}))
        .await;
    assert_eq!(
        env.data("getAppAcl", json!({"appId": 1, "preview": true})).await["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len()
    );
    assert_eq!(
        env.data("getAppAcl", json!({"appId": 1})).await["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len() + 1,
        "live until deployed"
    );
    let sent = env.kintone_requests();
    assert!(sent
        .iter()
        .filter(|r| r.method == "PUT")
        .all(|r| r.path.contains("/preview/")));

    // A stale revision changes nothing.
    let text = env
        .tool_error("updateAppAcl", json!({"appId": 1, "rights": [], "revision": stale}))
        .await;
    assert!(text.contains("GAIA_CO02"), "{text}");

    let rule = json!([{"filterCond": "ランク in (\"C\")", "entities": [{"entity": {"type": "USER", "code": "alice"}, "viewable": true, "editable": true, "deletable": true, "includeSubs": false}]}]);
    env.ok("updateRecordAcl", json!({"appId": 1, "rights": rule})).await;
    assert_eq!(
        env.data("getRecordAcl", json!({"appId": 1, "preview": true})).await["rights"][0]["filterCond"],
        "ランク in (\"C\")"
    );

    env.ok("updateFieldAcl", json!({"appId": 1, "rights": []})).await;
    assert_eq!(
        env.data("getFieldAcl", json!({"appId": 1, "preview": true})).await["rights"],
        json!([])
    );

    env.ok("updateAppReports", json!({"appId": 1, "reports": {}})).await;
    assert_eq!(
        env.data("getAppReports", json!({"appId": 1, "preview": true})).await["reports"],
        json!({})
    );

    env.ok("updateAppActions", json!({"appId": 1, "actions": {}})).await;
    assert_eq!(
        env.data("getAppActions", json!({"appId": 1, "preview": true})).await["actions"],
        json!({})
    );

    env.ok(
        "updateAppNotificationsGeneral",
        json!({"appId": 1, "notifyToCommenter": false}),
    )
    .await;
    assert_eq!(
        env.data("getAppNotificationsGeneral", json!({"appId": 1, "preview": true}))
            .await["notifyToCommenter"],
        false
    );

    env.ok(
        "updateAppNotificationsPerRecord",
        json!({"appId": 1, "notifications": []}),
    )
    .await;
    assert_eq!(
        env.data("getAppNotificationsPerRecord", json!({"appId": 1, "preview": true}))
            .await["notifications"],
        json!([])
    );

    env.ok("updateAppNotificationsReminder", json!({"appId": 1, "timezone": "UTC"}))
        .await;
    assert_eq!(
        env.data("getAppNotificationsReminder", json!({"appId": 1, "preview": true}))
            .await["timezone"],
        "UTC"
    );

    let deployed = env.data("deployApp", json!({"apps": [{"app": 1}], "wait": true})).await;
    assert_eq!(deployed["apps"][0]["status"], "SUCCESS");
    assert_eq!(
        env.data("getAppAcl", json!({"appId": 1})).await["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len()
    );
    assert_eq!(
        env.data("getAppReports", json!({"appId": 1})).await["reports"],
        json!({})
    );
    assert_eq!(
        env.data("getAppNotificationsReminder", json!({"appId": 1})).await["timezone"],
        "UTC"
    );
}
