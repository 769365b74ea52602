//! What the endpoint and the model see when kintone refuses, is busy, or is gone.

use fake_cybozu::Fault;
use kintone::{CallError, ToolConfig};
use serde_json::json;

use crate::common::Env;

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let env = Env::start().await;
    env.fake.expire_access_tokens();
    let err = env.call("getRecords", json!({"appId": 1})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Unauthorized(m) if m.contains("401") && m.contains("CB_OA01")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_scope_is_explained() {
    let env = Env::start_as("alice", "k:app_record:read").await;
    assert!(!env.ok("getRecord", json!({"appId": 1, "id": 1})).await.is_error);
    let text = env
        .tool_error("addRecord", json!({"appId": 1, "record": {"会社名": {"value": "x"}}}))
        .await;
    assert!(text.contains("HTTP 403") && text.contains("OAuth scope"), "{text}");
}

#[tokio::test]
async fn busy_and_maintenance_answers_say_retry() {
    let env = Env::start().await;
    env.fake.add_fault(Fault::rate_limit("/k/v1/records.json"));
    let text = env.tool_error("getRecords", json!({"appId": 1})).await;
    assert!(
        text.contains("HTTP 429") && text.contains("GAIA_TO04") && text.contains("Retry the same call after"),
        "{text}"
    );

    env.fake.add_fault(Fault::unavailable("/k/v1/record.json"));
    let text = env.tool_error("getRecord", json!({"appId": 1, "id": 1})).await;
    assert!(
        text.contains("HTTP 503") && text.contains("temporarily unavailable") && text.contains("Retry"),
        "{text}"
    );

    // The faults were one-shot: the same calls now work.
    env.ok("getRecords", json!({"appId": 1})).await;
    env.ok("getRecord", json!({"appId": 1, "id": 1})).await;
}

#[tokio::test]
async fn a_dropped_connection_or_dead_host_is_unavailable() {
    let mut env = Env::start().await;
    env.fake.add_fault(Fault::drop_connection("/k/v1/app.json"));
    let err = env.call("getApp", json!({"appId": 1})).await.unwrap_err();
    assert!(matches!(err, CallError::Unavailable(_)), "{err:?}");

    env.conn.base_url = "http://127.0.0.1:9".into();
    let err = env.call("getApp", json!({"appId": 1})).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Unavailable(m) if m.contains("could not be reached")),
        "{err:?}"
    );
}

#[tokio::test]
async fn hidden_tools_never_reach_kintone() {
    let mut env = Env::start().await;
    env.config = ToolConfig::from_variables(Some("true"), None, Some("getRecord")).unwrap();
    for (tool, args) in [
        ("addRecord", json!({"appId": 1, "record": {}})),
        ("deleteRecords", json!({"appId": 1, "ids": [1]})),
        ("getRecord", json!({"appId": 1, "id": 1})),
    ] {
        let err = env.call(tool, args).await.unwrap_err();
        assert_eq!(err, CallError::UnknownTool(tool.into()));
    }
    assert!(env.kintone_requests().is_empty());
    let before = env.records(1).len();
    env.ok("getRecords", json!({"appId": 1})).await;
    assert_eq!(env.records(1).len(), before);
}
