//! Catalogue-wide checks: names, schemas, annotations against what each tool really sends,
//! the original 28 tools' parameters, and that bad arguments never reach kintone.

use serde_json::{json, Value};

use crate::test_support::{response, Recorder, Sent};
use crate::{call_tool, CallError, Connection, ToolConfig, ToolResult};

const TOKEN: &str = "secret-kintone-token-123";

fn conn() -> Connection {
    Connection {
        base_url: "https://example.cybozu.com".into(),
        access_token: TOKEN.into(),
    }
}

/// The original TypeScript Worker's 28 tools and the parameters each had.
const ORIGINAL: &[(&str, &[&str])] = &[
    ("getRecords", &["appId", "query", "fields"]),
    ("getRecord", &["appId", "id"]),
    ("addRecord", &["appId", "record"]),
    ("addRecords", &["appId", "records"]),
    ("updateRecord", &["appId", "id", "record", "revision"]),
    ("getRecordComments", &["appId", "recordId", "order", "offset", "limit"]),
    ("addRecordComment", &["appId", "recordId", "comment"]),
    ("evaluateRecordsAcl", &["appId", "ids"]),
    ("getApp", &["appId"]),
    ("getAppFields", &["appId"]),
    ("searchApps", &["name", "limit", "offset"]),
    ("getAppSettings", &["appId", "lang"]),
    ("getFormLayout", &["appId"]),
    ("getViews", &["appId", "lang"]),
    ("getProcessManagement", &["appId", "lang"]),
    ("getAppReports", &["appId", "lang"]),
    ("getAppCustomize", &["appId"]),
    ("getAppActions", &["appId", "lang"]),
    ("uploadFile", &["file"]),
    ("downloadFile", &["fileKey"]),
    ("getAppAcl", &["appId"]),
    ("getRecordAcl", &["appId"]),
    ("getFieldAcl", &["appId"]),
    ("getAppNotificationsGeneral", &["appId"]),
    ("getAppNotificationsPerRecord", &["appId"]),
    ("getAppNotificationsReminder", &["appId"]),
    (
        "updateAppCustomize",
        &["appId", "desktop", "mobile", "scope", "revision"],
    ),
    ("deployApp", &["apps", "revert"]),
];

/// Valid arguments for every tool (ids as strings, as the original sent them).
fn sample_args(name: &str) -> Value {
    let record = json!({"title": {"value": "Hello"}});
    match name {
        "getRecords" => json!({"appId": "1", "query": "status = \"Open\"", "fields": ["title"]}),
        "getAllRecords" => json!({"appId": 1, "query": "status = \"Open\""}),
        "getRecord" => json!({"appId": "1", "id": "5"}),
        "addRecord" => json!({"appId": "1", "record": record}),
        "addRecords" => json!({"appId": "1", "records": [record]}),
        "updateRecord" => json!({"appId": "1", "id": "5", "record": record, "revision": 3}),
        "updateRecords" => json!({"appId": 1, "records": [{"id": 5, "record": record}]}),
        "deleteRecords" => json!({"appId": 1, "ids": [5, 6]}),
        "evaluateRecordsAcl" => json!({"appId": "1", "ids": ["5"]}),
        "getRecordComments" => json!({"appId": "1", "recordId": "5", "order": "asc", "limit": 5}),
        "addRecordComment" => {
            json!({"appId": "1", "recordId": "5", "comment": {"text": "hi", "mentions": [{"code": "sato", "type": "USER"}]}})
        }
        "deleteRecordComment" => json!({"appId": 1, "recordId": 5, "commentId": 2}),
        "updateRecordStatus" => json!({"appId": 1, "id": 5, "action": "Submit"}),
        "updateRecordStatuses" => json!({"appId": 1, "records": [{"id": 5, "action": "Submit"}]}),
        "updateRecordAssignees" => json!({"appId": 1, "id": 5, "assignees": ["sato"]}),
        "searchApps" => json!({"name": "sales", "limit": 10}),
        "addApp" => json!({"name": "New app"}),
        "uploadFile" => json!({"file": {"name": "a.txt", "content": "aGVsbG8=", "contentType": "text/plain"}}),
        "downloadFile" => json!({"fileKey": "abc"}),
        "updateAppCustomize" => {
            json!({"appId": "1", "desktop": {"js": [{"type": "URL", "url": "https://cdn.example.com/a.js"}]}, "scope": "ALL"})
        }
        "updateAppSettings" => json!({"appId": 1, "name": "Renamed"}),
        "updateViews" => json!({"appId": 1, "views": {"All": {"type": "LIST", "name": "All", "index": "0"}}}),
        "updateProcessManagement" => json!({"appId": 1, "enable": false}),
        "addFormFields" | "updateFormFields" => {
            json!({"appId": 1, "properties": {"amount": {"type": "NUMBER", "label": "Amount"}}})
        }
        "deleteFormFields" => json!({"appId": 1, "fields": ["amount"]}),
        "updateFormLayout" => json!({"appId": 1, "layout": [{"type": "ROW", "fields": []}]}),
        "deployApp" => json!({"apps": [{"app": "1"}], "wait": true}),
        "updateAppAcl" | "updateRecordAcl" | "updateFieldAcl" => json!({"appId": 1, "rights": []}),
        "updateAppReports" => json!({"appId": 1, "reports": {}}),
        "updateAppActions" => json!({"appId": 1, "actions": {}}),
        "updateAppNotificationsGeneral" => json!({"appId": 1, "notifyToCommenter": true}),
        "updateAppNotificationsPerRecord" => json!({"appId": 1, "notifications": []}),
        "updateAppNotificationsReminder" => json!({"appId": 1, "timezone": "Asia/Tokyo"}),
        "getDeployStatus" => json!({"apps": [1]}),
        _ => json!({"appId": "1"}),
    }
}

/// Plausible answers for any path.
fn generic(sent: &Sent) -> Result<http::Response<Vec<u8>>, platform::OutboundError> {
    Ok(match (sent.effective_method.as_str(), sent.path.as_str()) {
        ("GET", "/k/v1/file.json") => http::Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(b"hello".to_vec())
            .unwrap(),
        ("GET", "/k/v1/preview/app/deploy.json") => {
            response(200, &json!({"apps": [{"app": "1", "status": "SUCCESS"}]}))
        }
        ("GET", "/k/v1/records.json") => response(200, &json!({"records": [], "totalCount": "0"})),
        ("GET", "/k/v1/apps.json") => response(200, &json!({"apps": []})),
        _ => response(200, &json!({})),
    })
}

fn all() -> Vec<crate::ToolDefinition> {
    crate::tool_definitions()
}

#[test]
fn every_original_tool_is_offered_with_its_original_parameters() {
    let tools = all();
    assert_eq!(ORIGINAL.len(), 28);
    for (name, params) in ORIGINAL {
        let tool = tools
            .iter()
            .find(|t| t.name == *name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let props = tool.input_schema["properties"].as_object().unwrap();
        for p in *params {
            assert!(props.contains_key(*p), "{name} lost parameter {p}");
        }
    }
    // The original tools come first, so a client showing the list sees the familiar ones.
    let first: Vec<_> = tools.iter().take(28).map(|t| t.name).collect();
    for (name, _) in ORIGINAL {
        assert!(first.contains(name), "{name} not among the first 28");
    }
}

#[test]
fn names_are_unique_and_valid() {
    let tools = all();
    let mut names: Vec<_> = tools.iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), tools.len());
    for t in &tools {
        assert!(!t.name.is_empty() && t.name.len() <= 128);
        assert!(
            t.name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "{}",
            t.name
        );
        assert!(!t.title.is_empty(), "{} has no title", t.name);
        assert!(t.description.len() > 40, "{} needs a description that teaches", t.name);
    }
    assert!(tools.len() >= 28 + 17, "only {} tools", tools.len());
}

#[test]
fn every_schema_is_a_valid_object_schema() {
    for t in all() {
        let input = &t.input_schema;
        assert!(
            jsonschema::meta::is_valid(input),
            "{} input schema is not valid JSON Schema",
            t.name
        );
        assert_eq!(input["type"], "object", "{}", t.name);
        assert_eq!(input["additionalProperties"], false, "{}", t.name);
        let props = input["properties"].as_object().unwrap();
        assert!(props.contains_key("guestSpaceId"), "{} lacks guestSpaceId", t.name);
        for (key, prop) in props {
            assert!(
                prop["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{}.{key} has no description",
                t.name
            );
        }
        for required in input["required"].as_array().unwrap() {
            assert!(
                props.contains_key(required.as_str().unwrap()),
                "{} requires unknown {required}",
                t.name
            );
        }
        let output = t
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no output schema", t.name));
        assert!(
            jsonschema::meta::is_valid(output),
            "{} output schema is not valid",
            t.name
        );
        assert_eq!(output["type"], "object", "{}", t.name);
    }
}

#[test]
fn the_sample_arguments_satisfy_the_input_schemas() {
    for t in all() {
        let validator = jsonschema::validator_for(&t.input_schema).unwrap();
        let args = sample_args(t.name);
        let errors: Vec<_> = validator.iter_errors(&args).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", t.name);
    }
}

#[tokio::test]
async fn annotations_match_what_each_tool_sends() {
    for t in all() {
        let http = Recorder::new(generic);
        let args = sample_args(t.name).to_string();
        let result = call_tool(&http, &conn(), &ToolConfig::default(), t.name, &args)
            .await
            .unwrap();
        assert!(!result.is_error, "{}: {}", t.name, result.text());
        let sent = http.sent.borrow();
        assert!(!sent.is_empty(), "{} sent nothing", t.name);
        let methods: Vec<_> = sent.iter().map(|s| s.effective_method.as_str()).collect();
        let a = t.annotations;
        assert!(!a.open_world, "{}", t.name);
        if a.read_only {
            assert!(
                methods.iter().all(|m| *m == "GET"),
                "{} is readOnly but sent {methods:?}",
                t.name
            );
            assert!(!a.destructive, "{}", t.name);
        } else {
            assert!(
                methods.iter().any(|m| *m != "GET"),
                "{} writes nothing: {methods:?}",
                t.name
            );
        }
        if methods.iter().any(|m| *m == "DELETE" || *m == "PUT") {
            assert!(a.destructive, "{} overwrites or deletes but is not destructive", t.name);
        }
        if !a.destructive && !a.read_only {
            assert!(
                methods.iter().all(|m| *m == "POST" || *m == "GET"),
                "{} is additive but sent {methods:?}",
                t.name
            );
        }
        // The live/pre-live split: app-settings writes go to preview/ only.
        for s in sent
            .iter()
            .filter(|s| s.effective_method != "GET" && (s.path.contains("/app/") || s.path.ends_with("/acl.json")))
        {
            assert!(
                s.path.contains("/preview/"),
                "{} wrote live settings at {}",
                t.name,
                s.path
            );
        }
        // Every request carries the user's token, and nothing else does.
        for s in sent.iter() {
            assert_eq!(s.headers["authorization"], format!("Bearer {TOKEN}"));
        }
        assert!(!result.text().contains(TOKEN));
    }
}

#[tokio::test]
async fn every_tool_refuses_bad_arguments_before_calling_kintone() {
    for t in all() {
        let http = Recorder::new(generic);
        for bad in [
            r#"{"noSuchArgument": 1}"#.to_string(),
            "[]".to_string(),
            sample_args(t.name)
                .to_string()
                .replacen('{', r#"{"guestSpaceId": "x", "#, 1),
        ] {
            let result = call_tool(&http, &conn(), &ToolConfig::default(), t.name, &bad)
                .await
                .unwrap();
            assert!(result.is_error, "{} accepted {bad}", t.name);
            assert!(
                result
                    .text()
                    .starts_with(&format!("Invalid arguments for {}: ", t.name)),
                "{}",
                result.text()
            );
            assert!(result.structured.is_none());
        }
        if t.input_schema["required"].as_array().is_some_and(|r| !r.is_empty()) {
            let result = call_tool(&http, &conn(), &ToolConfig::default(), t.name, "{}")
                .await
                .unwrap();
            assert!(
                result.is_error && result.text().contains("required"),
                "{}: {}",
                t.name,
                result.text()
            );
        }
        assert_eq!(http.count(), 0, "{} called kintone with bad arguments", t.name);
    }
}

#[tokio::test]
async fn original_style_calls_keep_working() {
    // The original sent ids as numbers or strings and omitted what it did not need.
    for (name, _) in ORIGINAL {
        let http = Recorder::new(generic);
        let result = call_tool(
            &http,
            &conn(),
            &ToolConfig::default(),
            name,
            &sample_args(name).to_string(),
        )
        .await
        .unwrap();
        assert!(!result.is_error, "{name}: {}", result.text());
    }
}

#[tokio::test]
async fn hidden_tools_are_refused_when_called() {
    let http = Recorder::json(200, json!({}));
    let read_only = ToolConfig::from_variables(Some("true"), None, None).unwrap();
    let err = call_tool(
        &http,
        &conn(),
        &read_only,
        "addRecord",
        &sample_args("addRecord").to_string(),
    )
    .await
    .unwrap_err();
    assert_eq!(err, CallError::UnknownTool("addRecord".into()));
    let deny = ToolConfig::from_variables(None, None, Some("getRecord")).unwrap();
    assert!(matches!(
        call_tool(&http, &conn(), &deny, "getRecord", "{}").await,
        Err(CallError::UnknownTool(_))
    ));
    let allow = ToolConfig::from_variables(None, Some("getApp"), None).unwrap();
    assert!(matches!(
        call_tool(&http, &conn(), &allow, "getRecord", "{}").await,
        Err(CallError::UnknownTool(_))
    ));
    assert!(call_tool(&http, &conn(), &allow, "getApp", r#"{"appId": 1}"#)
        .await
        .is_ok());
    assert!(matches!(
        call_tool(&http, &conn(), &ToolConfig::default(), "nope", "{}").await,
        Err(CallError::UnknownTool(_))
    ));
    assert_eq!(http.count(), 1);
}

async fn run(http: &Recorder, name: &str, args: Value) -> ToolResult {
    call_tool(http, &conn(), &ToolConfig::default(), name, &args.to_string())
        .await
        .unwrap()
}

async fn refused(name: &str, args: Value) -> String {
    let http = Recorder::new(generic);
    let result = run(&http, name, args).await;
    assert!(result.is_error, "{name} accepted");
    assert_eq!(http.count(), 0);
    result.text()
}

#[tokio::test]
async fn validation_messages_say_what_to_change() {
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
            json!({"appId": 1, "query": "a = 1 limit 5", "limit": 10}),
            "give the limit in one place only",
        ),
        (
            "getRecords",
            json!({"appId": 1, "query": "title = \"x"}),
            "closing double quote",
        ),
        (
            "getAllRecords",
            json!({"appId": 1, "query": "a = 1 limit 5"}),
            "remove limit and offset",
        ),
        (
            "addRecord",
            json!({"appId": 1, "record": {"title": "Hello"}}),
            "record.title: must be {\"value\": ...}, for example {\"title\": {\"value\": \"Hello\"}}",
        ),
        (
            "addRecords",
            json!({"appId": 1, "records": vec![json!({}); 101]}),
            "records: has 101 items; the limit per call is 100, so split it",
        ),
        (
            "updateRecord",
            json!({"appId": 1, "id": 1, "updateKey": {"field": "code", "value": "A"}, "record": {}}),
            "either id or updateKey",
        ),
        (
            "updateRecord",
            json!({"appId": 1, "record": {}}),
            "id: required (or identify the record with updateKey)",
        ),
        (
            "updateRecords",
            json!({"appId": 1, "upsert": true, "records": [{"id": 1, "record": {}}]}),
            "upsert needs updateKey",
        ),
        (
            "deleteRecords",
            json!({"appId": 1, "ids": [1, 2], "revisions": [3]}),
            "give one revision per id",
        ),
        (
            "deleteRecords",
            json!({"appId": 1, "ids": [1, 1]}),
            "ids[1]: id 1 is listed twice",
        ),
        (
            "getRecordComments",
            json!({"appId": 1, "recordId": 1, "limit": 11}),
            "limit: must be between 1 and 10",
        ),
        (
            "addRecordComment",
            json!({"appId": 1, "recordId": 1, "comment": {"text": "x", "mentions": [{"code": "a", "type": "TEAM"}]}}),
            "comment.mentions[0].type: must be one of USER, ORGANIZATION, GROUP",
        ),
        (
            "uploadFile",
            json!({"file": {"name": "a.bin", "content": "not base64!"}}),
            "file.content: is not valid base64",
        ),
        (
            "uploadFile",
            json!({"file": {"name": "a.bin", "content": "AAAA".repeat(1_800_000)}}),
            "over the upload limit",
        ),
        (
            "updateAppCustomize",
            json!({"appId": 1, "desktop": {"js": [{"type": "URL", "url": "http://x/a.js"}]}}),
            "only from https:// URLs",
        ),
        ("updateAppSettings", json!({"appId": 1}), "give at least one setting"),
        (
            "updateAppNotificationsGeneral",
            json!({"appId": 1}),
            "give at least one of notifications, notifyToCommenter",
        ),
        (
            "updateAppAcl",
            json!({"appId": 1, "rights": [1]}),
            "rights[0]: must be a JSON object",
        ),
        (
            "addFormFields",
            json!({"appId": 1, "properties": {"a": {"label": "A"}}}),
            "properties.a.type: required",
        ),
        ("deployApp", json!({"apps": []}), "apps: needs at least 1 item"),
        (
            "addApp",
            json!({"name": "x", "space": 3}),
            "thread: required with space",
        ),
        ("searchApps", json!({"limit": 101}), "limit: must be between 1 and 100"),
        (
            "getRecord",
            json!({"appId": 1, "id": 2, "app": 1}),
            "unknown argument \"app\"",
        ),
    ];
    for (name, args, expected) in cases {
        let text = refused(name, args).await;
        assert!(text.contains(expected), "{name}: {text}");
        assert!(text.ends_with("Nothing was sent to kintone."), "{text}");
    }
}

#[tokio::test]
async fn guest_space_ids_change_the_path() {
    let http = Recorder::new(generic);
    let result = run(&http, "getRecord", json!({"appId": 1, "id": 2, "guestSpaceId": "7"})).await;
    assert!(!result.is_error);
    let sent = http.sent.borrow();
    assert_eq!(sent[0].path, "/k/guest/7/v1/record.json");
    assert_eq!(sent[0].query.as_deref(), Some("app=1&id=2"));
}

#[tokio::test]
async fn get_records_adds_limit_offset_and_notes_the_next_page() {
    let http = Recorder::json(
        200,
        json!({"records": [{"$id": {"type": "__ID__", "value": "9"}}, {"$id": {"type": "__ID__", "value": "8"}}], "totalCount": "5"}),
    );
    let result = run(
        &http,
        "getRecords",
        json!({"appId": 1, "query": "status = \"Open\" order by $id desc", "limit": 2, "offset": 2}),
    )
    .await;
    let pairs = http.sent.borrow()[0].query_pairs();
    assert!(
        pairs.contains(&(
            "query".into(),
            "status = \"Open\" order by $id desc limit 2 offset 2".into()
        )),
        "{pairs:?}"
    );
    assert!(pairs.contains(&("totalCount".into(), "true".into())));
    assert_eq!(result.structured.as_ref().unwrap()["totalCount"], "5");
    assert!(
        result.text().contains("Returned records 3–4 of 5 matches"),
        "{}",
        result.text()
    );
    assert!(result.text().contains("offset 4"));
}

#[tokio::test]
async fn get_all_records_pages_by_id_up_to_the_cap() {
    // 1,200 matching records with ids 1..=1200; the fake answers each id-paged query.
    let http = Recorder::new(|sent| {
        let pairs = sent.query_pairs();
        let query = pairs
            .iter()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let after: u64 = query
            .strip_prefix("$id > ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let limit: u64 = query.rsplit("limit ").next().unwrap().trim().parse().unwrap();
        let records: Vec<Value> = (after + 1..=1200)
            .take(limit as usize)
            .map(|i| json!({"$id": {"type": "__ID__", "value": i.to_string()}}))
            .collect();
        Ok(response(
            200,
            &json!({"records": records, "totalCount": if pairs.contains(&("totalCount".into(), "true".into())) { json!("1200") } else { Value::Null }}),
        ))
    });
    let result = run(
        &http,
        "getAllRecords",
        json!({"appId": 1, "query": "status = \"Open\"", "fields": ["title"], "maxRecords": 1100}),
    )
    .await;
    let s = result.structured.as_ref().unwrap();
    assert_eq!(
        (
            s["returned"].as_u64(),
            s["totalCount"].as_u64(),
            s["truncated"].as_bool()
        ),
        (Some(1100), Some(1200), Some(true))
    );
    let records = s["records"].as_array().unwrap();
    assert_eq!(records.last().unwrap()["$id"]["value"], "1100");
    let sent = http.sent.borrow();
    assert_eq!(sent.len(), 3);
    let q = |i: usize| sent[i].query_pairs().into_iter().find(|(k, _)| k == "query").unwrap().1;
    assert_eq!(q(0), "(status = \"Open\") order by $id asc limit 500");
    assert_eq!(q(1), "$id > 500 and (status = \"Open\") order by $id asc limit 500");
    assert_eq!(q(2), "$id > 1000 and (status = \"Open\") order by $id asc limit 100");
    assert!(sent[0].query_pairs().contains(&("fields[1]".into(), "$id".into())));
    assert!(
        result.text().contains("Returned the first 1100 of 1200"),
        "{}",
        result.text()
    );
}

#[tokio::test]
async fn kintone_errors_become_tool_errors_with_fields() {
    let http = Recorder::json(
        400,
        json!({"code": "CB_VA01", "id": "E1", "message": "Missing or invalid input.", "errors": {"record.title.value": {"messages": ["Required."]}}}),
    );
    let result = run(&http, "addRecord", json!({"appId": 1, "record": {}})).await;
    assert!(result.is_error);
    let text = result.text();
    assert!(
        text.contains("CB_VA01") && text.contains("record.title.value: Required.") && text.contains("E1"),
        "{text}"
    );
}

#[tokio::test]
async fn busy_kintone_says_when_to_retry() {
    let http = Recorder::new(|_| {
        Ok(http::Response::builder()
            .status(429)
            .header("Retry-After", "3")
            .body(br#"{"code":"GAIA_TO04","id":"x","message":"Too many"}"#.to_vec())
            .unwrap())
    });
    let result = run(&http, "getRecord", json!({"appId": 1, "id": 1})).await;
    assert!(
        result.is_error && result.text().contains("Retry the same call after 3 seconds"),
        "{}",
        result.text()
    );
}

#[tokio::test]
async fn unauthorized_and_unavailable_are_typed_errors_without_the_token() {
    let http = Recorder::json(401, json!({"code": "CB_OA01", "id": "x", "message": "token expired"}));
    let err = call_tool(&http, &conn(), &ToolConfig::default(), "getApp", r#"{"appId": 1}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Unauthorized(m) if m.contains("CB_OA01")),
        "{err:?}"
    );

    let http = Recorder::new(|_| {
        Err(platform::OutboundError::Unreachable {
            host: "example.cybozu.com".into(),
            reason: "connection refused".into(),
        })
    });
    let err = call_tool(&http, &conn(), &ToolConfig::default(), "getApp", r#"{"appId": 1}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Unavailable(m) if m.contains("connection refused")),
        "{err:?}"
    );

    let http = Recorder::new(|_| {
        Ok(http::Response::builder()
            .status(502)
            .body(b"<html>bad gateway</html>".to_vec())
            .unwrap())
    });
    let err = call_tool(&http, &conn(), &ToolConfig::default(), "getApp", r#"{"appId": 1}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Unavailable(m) if m.contains("502")),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains(TOKEN));
    assert!(!format!("{:?}", conn()).contains(TOKEN));
}

#[tokio::test]
async fn deploy_waits_and_reports_failures_as_errors() {
    let http = Recorder::new(|sent| {
        Ok(match sent.effective_method.as_str() {
            "POST" => response(200, &json!({})),
            _ => response(200, &json!({"apps": [{"app": "1", "status": "FAIL"}]})),
        })
    });
    let result = run(
        &http,
        "deployApp",
        json!({"apps": [{"app": 1, "revision": 4}], "wait": true}),
    )
    .await;
    assert!(result.is_error && result.text().contains("FAIL"), "{}", result.text());
    let sent = http.sent.borrow();
    assert_eq!(sent[0].json(), json!({"apps": [{"app": 1, "revision": 4}]}));
    assert_eq!(sent[1].query_pairs(), vec![("apps[0]".to_string(), "1".to_string())]);
}

#[tokio::test]
async fn upload_sends_one_multipart_file_part() {
    let http = Recorder::json(200, json!({"fileKey": "k-1"}));
    let result = run(
        &http,
        "uploadFile",
        json!({"file": {"name": "見積.txt", "content": "aGVsbG8"}}),
    )
    .await;
    assert_eq!(result.structured.as_ref().unwrap()["fileKey"], "k-1");
    let sent = http.sent.borrow();
    let ct = sent[0].headers["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(
        body.contains(
            "name=\"file\"; filename=\"見積.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn long_queries_use_the_method_override() {
    let http = Recorder::json(200, json!({"records": [], "totalCount": "0"}));
    let long = format!("title in ({})", vec!["\"some value\""; 400].join(", "));
    let result = run(&http, "getRecords", json!({"appId": 1, "query": long})).await;
    assert!(!result.is_error, "{}", result.text());
    let sent = http.sent.borrow();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].effective_method.as_str()),
        ("POST", "GET")
    );
    assert_eq!(sent[0].json()["query"], long);
    assert_eq!(sent[0].json()["app"], 1);
}

/// The `tools/list` answer as MCP clients receive it, for its size.
fn tools_list_json() -> Value {
    let tools: Vec<Value> = all()
        .into_iter()
        .map(|t| {
            let mut tool = json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "inputSchema": t.input_schema,
                "annotations": {
                    "title": t.title,
                    "readOnlyHint": t.annotations.read_only,
                    "destructiveHint": t.annotations.destructive,
                    "idempotentHint": t.annotations.idempotent,
                    "openWorldHint": t.annotations.open_world,
                },
            });
            if let Some(output) = t.output_schema {
                tool["outputSchema"] = output;
            }
            tool
        })
        .collect();
    json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}})
}

#[test]
fn tools_list_stays_small_enough_for_model_context() {
    let size = tools_list_json().to_string().len();
    println!("tools/list: {} tools, {size} bytes of JSON", all().len());
    // Every byte lands in the model's context on each conversation.
    assert!(size < 100_000, "tools/list is {size} bytes");
}

#[test]
#[ignore = "prints a size breakdown"]
fn tools_list_breakdown() {
    let tools = tools_list_json()["result"]["tools"].as_array().unwrap().clone();
    let part = |k: &str| tools.iter().map(|t| t[k].to_string().len()).sum::<usize>();
    println!(
        "descriptions {} input {} output {} annotations {}",
        part("description"),
        part("inputSchema"),
        part("outputSchema"),
        part("annotations")
    );
    let mut by_tool: Vec<_> = tools
        .iter()
        .map(|t| (t.to_string().len(), t["name"].as_str().unwrap().to_string()))
        .collect();
    by_tool.sort();
    println!("{by_tool:?}");
    println!("{}", tools.iter().find(|t| t["name"] == "getViews").unwrap());
}

#[test]
fn every_tool_needs_the_scope_of_its_kintone_rest_family() {
    let cases = [
        ("getRecords", "k:app_record:read"),
        ("getAllRecords", "k:app_record:read"),
        ("addRecord", "k:app_record:write"),
        ("deleteRecords", "k:app_record:write"),
        ("updateRecordStatuses", "k:app_record:write"),
        ("updateRecordAssignees", "k:app_record:write"),
        ("getRecordComments", "k:app_record:read"),
        ("deleteRecordComment", "k:app_record:write"),
        ("evaluateRecordsAcl", "k:app_record:read"),
        ("getRecordAcl", "k:app_settings:read"),
        ("updateRecordAcl", "k:app_settings:write"),
        ("getApp", "k:app_settings:read"),
        ("deployApp", "k:app_settings:write"),
        ("getDeployStatus", "k:app_settings:read"),
        ("updateAppCustomize", "k:app_settings:write"),
        ("downloadFile", "k:file:read"),
        ("uploadFile", "k:file:write"),
    ];
    for (name, scope) in cases {
        let tool = crate::find_tool(&ToolConfig::default(), name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(tool.scopes, [scope], "{name}");
    }
    // Every tool needs exactly one scope, a read scope exactly when it only reads.
    for tool in crate::list_tools(&ToolConfig::default()) {
        assert_eq!(tool.scopes.len(), 1, "{}", tool.name);
        assert_eq!(
            tool.scopes[0].ends_with(":read"),
            tool.annotations.read_only,
            "{}",
            tool.name
        );
    }
}
