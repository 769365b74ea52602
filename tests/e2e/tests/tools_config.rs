//! App configuration tools through MCP: form fields and layout, app settings, views, process
//! management, customization, permissions, graphs, actions and notifications — all written to
//! the pre-live app — and deployApp/getDeployStatus publishing them. Checks the bodies kintone
//! received, the pre-live/live split, stale revisions, a failed deploy, guest spaces and
//! argument refusals that never reach kintone.

use crate::tools_common;

use fake_cybozu::Fault;
use serde_json::{json, Value};
use tools_common::{field, params, record_by_id, Session};

fn revision(data: &Value) -> i64 {
    data["revision"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn form_fields_and_layout_change_on_preview_and_go_live_on_deploy() {
    let s = Session::start().await;
    let start = revision(s.ok("getFormFields", json!({"appId": 1})).await.data());

    let dropdown = json!({"type": "DROP_DOWN", "label": "契約種別", "options": {"年間": {"label": "年間", "index": "0"}, "月額": {"label": "月額", "index": "1"}}});
    let done = s.ok("addFormFields", json!({"appId": 1, "revision": start, "properties": {"契約種別": dropdown, "備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考2"}}})).await;
    let sent = done.one();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/k/v1/preview/app/form/fields.json")
    );
    let body = params(sent);
    assert_eq!(
        (body["app"].clone(), body["revision"].clone()),
        (json!(1), json!(start))
    );
    assert_eq!(
        body["properties"]["契約種別"]["code"], "契約種別",
        "the code is filled in from the key"
    );
    assert_eq!(body["properties"]["契約種別"]["options"], dropdown["options"]);
    assert!(done.text().contains("Call deployApp to publish"), "{}", done.text());
    assert!(revision(done.data()) > start);
    assert!(s.ok("getFormFields", json!({"appId": 1})).await.data()["properties"]
        .get("契約種別")
        .is_some());
    assert!(
        s.ok("getAppFields", json!({"appId": 1})).await.data()["properties"]
            .get("契約種別")
            .is_none(),
        "not live before deploy"
    );

    let done = s
        .ok(
            "updateFormFields",
            json!({"appId": 1, "properties": {"備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考（その2）"}}}),
        )
        .await;
    assert_eq!(done.one().method, "PUT");
    assert_eq!(
        params(done.one())["properties"],
        json!({"備考2": {"type": "SINGLE_LINE_TEXT", "label": "備考（その2）"}})
    );
    assert_eq!(
        s.ok("getFormFields", json!({"appId": 1})).await.data()["properties"]["備考2"]["label"],
        "備考（その2）"
    );

    // A stale revision is refused by kintone and deletes nothing.
    s.kintone_error(
        "deleteFormFields",
        json!({"appId": 1, "fields": ["備考2"], "revision": start}),
        "GAIA_CO02",
    )
    .await;
    assert!(s.ok("getFormFields", json!({"appId": 1})).await.data()["properties"]
        .get("備考2")
        .is_some());
    let done = s.ok("deleteFormFields", json!({"appId": 1, "fields": ["備考2"]})).await;
    assert_eq!(
        (done.one().method.as_str(), params(done.one())),
        ("DELETE", json!({"app": "1", "fields[0]": "備考2"}))
    );
    assert!(s.ok("getFormFields", json!({"appId": 1})).await.data()["properties"]
        .get("備考2")
        .is_none());
    s.tool_error(
        "addFormFields",
        json!({"appId": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT", "label": "重複"}}}),
    )
    .await;

    // Layout: the new field's row first.
    let layout = s.ok("getFormLayout", json!({"appId": 1, "preview": true})).await.data()["layout"]
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
    let done = s.ok("updateFormLayout", json!({"appId": 1, "layout": reordered})).await;
    assert_eq!(
        (done.one().method.as_str(), done.one().path.as_str()),
        ("PUT", "/k/v1/preview/app/form/layout.json")
    );
    assert_eq!(params(done.one())["layout"], json!(reordered));

    // Deploy and wait: POST, then status polls until SUCCESS.
    let done = s.ok("deployApp", json!({"apps": [{"app": 1}], "wait": true})).await;
    let calls: Vec<(String, String)> = done
        .sent
        .iter()
        .map(|r| (tools_common::effective(r).to_owned(), r.path.clone()))
        .collect();
    assert_eq!(
        calls[0],
        ("POST".to_owned(), "/k/v1/preview/app/deploy.json".to_owned())
    );
    assert!(
        calls[1..]
            .iter()
            .all(|c| c == &("GET".to_owned(), "/k/v1/preview/app/deploy.json".to_owned()))
            && calls.len() >= 2,
        "{calls:?}"
    );
    assert_eq!(params(&done.sent[0]), json!({"apps": [{"app": 1}]}));
    assert_eq!(done.data()["apps"][0]["status"], "SUCCESS");
    assert!(s.ok("getAppFields", json!({"appId": 1})).await.data()["properties"]
        .get("契約種別")
        .is_some());
    assert_eq!(
        s.ok("getFormLayout", json!({"appId": 1})).await.data()["layout"][0]["fields"][0]["code"],
        "契約種別"
    );

    s.invalid(
        "addFormFields",
        json!({"appId": 1, "properties": {"a": {"label": "A"}}}),
        "properties.a.type: required",
    )
    .await;
    s.invalid(
        "addFormFields",
        json!({"appId": 1, "properties": {}}),
        "properties: needs at least one field",
    )
    .await;
    s.invalid(
        "addFormFields",
        json!({"appId": 1, "properties": {"a": {"type": "NUMBER", "code": "b"}}}),
        "properties.a.code: must equal the key",
    )
    .await;
    s.invalid(
        "updateFormFields",
        json!({"appId": 1, "properties": {"a": "NUMBER"}}),
        "properties.a: must be a JSON object",
    )
    .await;
    s.invalid(
        "deleteFormFields",
        json!({"appId": 1, "fields": []}),
        "fields: needs at least 1 item",
    )
    .await;
    s.invalid(
        "updateFormLayout",
        json!({"appId": 1, "layout": [{"type": "COLUMN"}]}),
        "layout[0].type: must be one of ROW, SUBTABLE, GROUP",
    )
    .await;
    s.invalid(
        "getFormFields",
        json!({"appId": 1, "lang": "de"}),
        "lang: must be one of",
    )
    .await;
}

#[tokio::test]
async fn settings_views_process_and_customization_go_through_preview() {
    let s = Session::start().await;
    let done = s.ok("updateAppSettings", json!({"appId": 1, "name": "顧客マスタ", "enableComments": false, "firstMonthOfFiscalYear": 4, "icon": {"type": "PRESET", "key": "APP72"}})).await;
    assert_eq!(done.one().path, "/k/v1/preview/app/settings.json");
    assert_eq!(
        params(done.one()),
        json!({"app": 1, "name": "顧客マスタ", "enableComments": false, "firstMonthOfFiscalYear": "4", "icon": {"type": "PRESET", "key": "APP72"}})
    );
    let preview = s.ok("getAppSettings", json!({"appId": 1, "preview": true})).await;
    assert_eq!(
        (
            preview.data()["name"].as_str(),
            preview.data()["enableComments"].as_bool()
        ),
        (Some("顧客マスタ"), Some(false))
    );
    assert_eq!(
        s.ok("getAppSettings", json!({"appId": 1})).await.data()["name"],
        "顧客リスト",
        "live until deployed"
    );

    let mut views = s.ok("getViews", json!({"appId": 1, "preview": true})).await.data()["views"].clone();
    views.as_object_mut().unwrap().remove("Aランク");
    views["Bランク"] = json!({"type": "LIST", "name": "Bランク", "index": "1", "fields": ["会社名"], "filterCond": "ランク in (\"B\")", "sort": "$id desc"});
    for view in views.as_object_mut().unwrap().values_mut() {
        view.as_object_mut().unwrap().remove("id");
    }
    let done = s.ok("updateViews", json!({"appId": 1, "views": views})).await;
    assert_eq!(params(done.one())["views"], views);
    assert!(done.data()["views"].get("Bランク").is_some());
    let preview_views = s.ok("getViews", json!({"appId": 1, "preview": true})).await.data()["views"].clone();
    assert!(preview_views.get("Bランク").is_some() && preview_views.get("Aランク").is_none());

    let done = s
        .ok("updateProcessManagement", json!({"appId": 2, "enable": false}))
        .await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        ("/k/v1/preview/app/status.json", json!({"app": 2, "enable": false}))
    );
    assert_eq!(
        s.ok("getProcessManagement", json!({"appId": 2, "preview": true}))
            .await
            .data()["enable"],
        false
    );
    assert_eq!(
        s.ok("getProcessManagement", json!({"appId": 2})).await.data()["enable"],
        true
    );

    let desktop = json!({"js": [{"type": "URL", "url": "https://cdn.example.com/v2.js"}], "css": []});
    let done = s
        .ok(
            "updateAppCustomize",
            json!({"appId": 1, "scope": "ADMIN", "desktop": desktop}),
        )
        .await;
    assert_eq!(
        params(done.one()),
        json!({"app": 1, "scope": "ADMIN", "desktop": desktop})
    );
    let customize = s.ok("getAppCustomize", json!({"appId": 1, "preview": true})).await;
    assert_eq!(
        (
            customize.data()["scope"].as_str(),
            customize.data()["desktop"]["js"][0]["url"].as_str()
        ),
        (Some("ADMIN"), Some("https://cdn.example.com/v2.js"))
    );

    let deployed = s
        .ok("deployApp", json!({"apps": [{"app": 1}, {"app": "2"}], "wait": true}))
        .await;
    assert!(
        deployed.data()["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "SUCCESS"),
        "{}",
        deployed.data()
    );
    assert_eq!(
        s.ok("getAppSettings", json!({"appId": 1})).await.data()["name"],
        "顧客マスタ"
    );
    assert_eq!(
        s.ok("getProcessManagement", json!({"appId": 2})).await.data()["enable"],
        false
    );
    assert_eq!(
        s.ok("getAppCustomize", json!({"appId": 1})).await.data()["scope"],
        "ADMIN"
    );

    s.kintone_error(
        "updateAppSettings",
        json!({"appId": 1, "name": "x", "revision": 1}),
        "GAIA_CO02",
    )
    .await;

    // Guest space: the pre-live path inside the space.
    let done = s
        .ok(
            "updateAppSettings",
            json!({"appId": 4, "guestSpaceId": 2, "description": "Guest tickets"}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/preview/app/settings.json");
    assert_eq!(
        s.ok(
            "getAppSettings",
            json!({"appId": 4, "guestSpaceId": 2, "preview": true})
        )
        .await
        .data()["description"],
        "Guest tickets"
    );
    s.kintone_error(
        "updateAppSettings",
        json!({"appId": 4, "description": "x"}),
        "GAIA_IL23",
    )
    .await;

    // kintone in maintenance: a settings write changes nothing and says to retry.
    s.fake().add_fault(Fault::unavailable("/k/v1/preview/app/views.json"));
    let done = s.tool_error("updateViews", json!({"appId": 1, "views": {}})).await;
    assert!(
        done.text().contains("HTTP 503") && done.text().contains("Retry"),
        "{}",
        done.text()
    );
    assert!(
        s.ok("getViews", json!({"appId": 1, "preview": true})).await.data()["views"]
            .get("Bランク")
            .is_some()
    );

    s.invalid("updateAppSettings", json!({"appId": 1}), "give at least one setting")
        .await;
    s.invalid(
        "updateAppSettings",
        json!({"appId": 1, "firstMonthOfFiscalYear": 13}),
        "firstMonthOfFiscalYear: must be between 1 and 12",
    )
    .await;
    s.invalid(
        "updateViews",
        json!({"appId": 1, "views": {"A": {"name": "B"}}}),
        "views.A.name: must equal the key",
    )
    .await;
    s.invalid(
        "updateProcessManagement",
        json!({"appId": 2}),
        "give at least one of enable, states or actions",
    )
    .await;
    s.invalid(
        "updateAppCustomize",
        json!({"appId": 1, "desktop": {"js": [{"type": "URL", "url": "http://cdn.example.com/a.js"}]}}),
        "only from https:// URLs",
    )
    .await;
    s.invalid(
        "updateAppCustomize",
        json!({"appId": 1}),
        "give at least one of desktop, mobile or scope",
    )
    .await;
    s.invalid(
        "updateAppCustomize",
        json!({"appId": 1, "scope": "EVERYONE"}),
        "scope: must be one of ALL, ADMIN, NONE",
    )
    .await;
}

#[tokio::test]
async fn permissions_graphs_actions_and_notifications_are_replaced_on_preview() {
    let s = Session::start().await;
    let acl = s.ok("getAppAcl", json!({"appId": 1, "preview": true})).await;
    let stale = revision(acl.data());
    let mut rights = acl.data()["rights"].as_array().unwrap().clone();
    rights.retain(|r| r["entity"]["code"] != "everyone");
    let done = s
        .ok("updateAppAcl", json!({"appId": 1, "rights": rights, "revision": stale}))
        .await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        (
            "/k/v1/preview/app/acl.json",
            json!({"app": 1, "rights": rights, "revision": stale})
        )
    );
    assert_eq!(
        s.ok("getAppAcl", json!({"appId": 1, "preview": true})).await.data()["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len()
    );
    assert_eq!(
        s.ok("getAppAcl", json!({"appId": 1})).await.data()["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len() + 1,
        "live until deployed"
    );
    s.kintone_error(
        "updateAppAcl",
        json!({"appId": 1, "rights": [], "revision": stale}),
        "GAIA_CO02",
    )
    .await;

    let rule = json!([{"filterCond": "ランク in (\"C\")", "entities": [{"entity": {"type": "USER", "code": "alice"}, "viewable": true, "editable": true, "deletable": true, "includeSubs": false}]}]);
    let done = s.ok("updateRecordAcl", json!({"appId": 1, "rights": rule})).await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        ("/k/v1/preview/record/acl.json", json!({"app": 1, "rights": rule}))
    );
    assert_eq!(
        s.ok("getRecordAcl", json!({"appId": 1, "preview": true})).await.data()["rights"][0]["filterCond"],
        "ランク in (\"C\")"
    );

    let done = s.ok("updateFieldAcl", json!({"appId": 1, "rights": []})).await;
    assert_eq!(done.one().path, "/k/v1/preview/field/acl.json");
    assert_eq!(
        s.ok("getFieldAcl", json!({"appId": 1, "preview": true})).await.data()["rights"],
        json!([])
    );

    let done = s.ok("updateAppReports", json!({"appId": 1, "reports": {}})).await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        ("/k/v1/preview/app/reports.json", json!({"app": 1, "reports": {}}))
    );
    assert_eq!(
        s.ok("getAppReports", json!({"appId": 1, "preview": true})).await.data()["reports"],
        json!({})
    );

    let done = s.ok("updateAppActions", json!({"appId": 1, "actions": {}})).await;
    assert_eq!(done.one().path, "/k/v1/preview/app/actions.json");
    assert_eq!(
        s.ok("getAppActions", json!({"appId": 1, "preview": true})).await.data()["actions"],
        json!({})
    );

    let done = s
        .ok(
            "updateAppNotificationsGeneral",
            json!({"appId": 1, "notifyToCommenter": false}),
        )
        .await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        (
            "/k/v1/preview/app/notifications/general.json",
            json!({"app": 1, "notifyToCommenter": false})
        )
    );
    assert_eq!(
        s.ok("getAppNotificationsGeneral", json!({"appId": 1, "preview": true}))
            .await
            .data()["notifyToCommenter"],
        false
    );

    let done = s
        .ok(
            "updateAppNotificationsPerRecord",
            json!({"appId": 1, "notifications": []}),
        )
        .await;
    assert_eq!(done.one().path, "/k/v1/preview/app/notifications/perRecord.json");
    assert_eq!(
        s.ok("getAppNotificationsPerRecord", json!({"appId": 1, "preview": true}))
            .await
            .data()["notifications"],
        json!([])
    );

    let done = s
        .ok("updateAppNotificationsReminder", json!({"appId": 1, "timezone": "UTC"}))
        .await;
    assert_eq!(
        (done.one().path.as_str(), params(done.one())),
        (
            "/k/v1/preview/app/notifications/reminder.json",
            json!({"app": 1, "timezone": "UTC"})
        )
    );
    assert_eq!(
        s.ok("getAppNotificationsReminder", json!({"appId": 1, "preview": true}))
            .await
            .data()["timezone"],
        "UTC"
    );

    let deployed = s.ok("deployApp", json!({"apps": [{"app": 1}], "wait": true})).await;
    assert_eq!(deployed.data()["apps"][0]["status"], "SUCCESS");
    assert_eq!(
        s.ok("getAppAcl", json!({"appId": 1})).await.data()["rights"]
            .as_array()
            .unwrap()
            .len(),
        rights.len()
    );
    assert_eq!(
        s.ok("getAppReports", json!({"appId": 1})).await.data()["reports"],
        json!({})
    );
    assert_eq!(
        s.ok("getAppNotificationsReminder", json!({"appId": 1})).await.data()["timezone"],
        "UTC"
    );

    s.invalid("updateAppAcl", json!({"appId": 1}), "rights: required").await;
    s.invalid(
        "updateAppAcl",
        json!({"appId": 1, "rights": [1]}),
        "rights[0]: must be a JSON object",
    )
    .await;
    s.invalid(
        "updateAppReports",
        json!({"appId": 1, "reports": []}),
        "reports: must be a JSON object",
    )
    .await;
    s.invalid(
        "updateAppNotificationsGeneral",
        json!({"appId": 1}),
        "give at least one of notifications, notifyToCommenter",
    )
    .await;
    s.invalid(
        "updateAppNotificationsReminder",
        json!({"appId": 1, "timezone": ""}),
        "timezone: must not be empty",
    )
    .await;
    s.invalid(
        "updateFieldAcl",
        json!({"appId": 1, "rights": [], "revision": -2}),
        "revision: must be the revision number kintone returned",
    )
    .await;
}

#[tokio::test]
async fn deploy_status_revert_and_a_failed_deploy() {
    let s = Session::start().await;
    s.ok("updateAppSettings", json!({"appId": 1, "description": "v2"}))
        .await;
    let done = s.ok("deployApp", json!({"apps": [{"app": "1", "revision": -1}]})).await;
    assert_eq!(params(done.one()), json!({"apps": [{"app": 1, "revision": -1}]}));
    assert_eq!(done.data(), &json!({"apps": [{"app": "1"}]}));
    assert!(
        done.text()
            .contains("Check getDeployStatus until every app shows SUCCESS"),
        "{}",
        done.text()
    );
    let first = s.ok("getDeployStatus", json!({"apps": [1]})).await;
    assert_eq!(
        (first.one().path.as_str(), params(first.one())),
        ("/k/v1/preview/app/deploy.json", json!({"apps[0]": "1"}))
    );
    assert_eq!(first.data()["apps"][0]["status"], "PROCESSING");
    assert_eq!(
        s.ok("getDeployStatus", json!({"apps": ["1"]})).await.data()["apps"][0]["status"],
        "SUCCESS"
    );

    // A stale pre-live revision is refused.
    s.kintone_error("deployApp", json!({"apps": [{"app": 1, "revision": 1}]}), "GAIA_CO02")
        .await;

    // revert discards pre-live changes.
    s.ok("updateAppSettings", json!({"appId": 1, "name": "捨てる名前"}))
        .await;
    let done = s
        .ok("deployApp", json!({"apps": [{"app": 1}], "revert": true, "wait": true}))
        .await;
    assert_eq!(params(&done.sent[0]), json!({"apps": [{"app": 1}], "revert": true}));
    assert_eq!(
        s.ok("getAppSettings", json!({"appId": 1, "preview": true}))
            .await
            .data()["name"],
        "顧客リスト"
    );

    // Existing records break a new rule: the deploy fails, reported as a tool error; live stays.
    s.ok(
        "addFormFields",
        json!({"appId": 1, "properties": {"短い": {"type": "SINGLE_LINE_TEXT", "label": "短い"}}}),
    )
    .await;
    s.ok(
        "updateFormFields",
        json!({"appId": 1, "properties": {"会社名": {"type": "SINGLE_LINE_TEXT", "maxLength": "3"}}}),
    )
    .await;
    let done = s
        .tool_error("deployApp", json!({"apps": [{"app": 1}], "wait": true}))
        .await;
    assert!(
        done.text().contains("FAIL") && done.text().contains("existing records"),
        "{}",
        done.text()
    );
    assert!(s.ok("getAppFields", json!({"appId": 1})).await.data()["properties"]
        .get("短い")
        .is_none());
    assert!(field(&record_by_id(&s.records(1), 1), "会社名").is_string());

    // A busy kintone refuses the deploy; the answer says when to retry.
    s.fake()
        .add_fault(Fault::rate_limit("/k/v1/preview/app/deploy.json").method("POST"));
    let done = s
        .kintone_error("deployApp", json!({"apps": [{"app": 1}], "wait": true}), "GAIA_TO04")
        .await;
    assert!(
        done.text().contains("Retry the same call after 5 seconds"),
        "{}",
        done.text()
    );
    assert_eq!(done.sent.len(), 1, "no status polls after a refused deploy");

    s.invalid("deployApp", json!({"apps": []}), "apps: needs at least 1 item")
        .await;
    s.invalid(
        "deployApp",
        json!({"apps": [{"app": 1, "name": "x"}]}),
        "apps[0]: takes app and revision",
    )
    .await;
    s.invalid(
        "deployApp",
        json!({"apps": [{"app": 1}], "wait": "yes"}),
        "wait: must be true or false",
    )
    .await;
    s.invalid(
        "getDeployStatus",
        json!({"apps": [0]}),
        "apps[0]: must be a positive integer id",
    )
    .await;
    s.invalid(
        "getDeployStatus",
        json!({"apps": vec![1; 301]}),
        "apps: has 301 items; the limit per call is 300",
    )
    .await;
}

/// A deployment still running when deployApp stops waiting: it polls a bounded number of
/// times (well inside a hosted platform's 30 s request limit) and says to check again.
#[tokio::test]
async fn deploy_stops_waiting_and_says_to_check_again() {
    let fake_config = fake_cybozu::FakeConfig {
        deploy_processing_polls: 1000,
        ..Default::default()
    };
    let s = Session::start_with(e2e::Options {
        fake_config: Some(fake_config),
        ..Default::default()
    })
    .await;
    s.ok("updateAppSettings", json!({"appId": 1, "description": "slow"}))
        .await;
    let started = std::time::Instant::now();
    let done = s.ok("deployApp", json!({"apps": [{"app": 1}], "wait": true})).await;
    println!(
        "deployApp waited {:?} over {} status polls",
        started.elapsed(),
        done.sent.len() - 1
    );
    assert_eq!(done.data()["apps"][0]["status"], "PROCESSING");
    assert!(
        done.text()
            .contains("Deployment is still running; check getDeployStatus"),
        "{}",
        done.text()
    );
    assert_eq!(done.sent.len(), 1 + 8, "one deploy, then eight status polls");
}
