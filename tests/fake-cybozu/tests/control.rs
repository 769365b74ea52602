//! Fault injection, the request log, the record view for assertions, the `/_fake` HTTP
//! control API, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fake_cybozu::{FakeConfig, Fault};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn rate_limit_fault_looks_like_kintone_and_runs_out() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    h.fake.add_fault(Fault::rate_limit("/k/v1/records.json").times(2));
    for _ in 0..2 {
        let response = h
            .http
            .get(h.url("/k/v1/records.json?app=1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-cybozu-error"], "GAIA_TO04");
        assert_eq!(response.headers()["x-concurrencylimit-limit"], "100");
        let (status, body) = into_json(response).await;
        assert_error(status, &body, 429, "GAIA_TO04");
        assert_eq!(body["message"], "APIの同時リクエスト数が上限を超えています。");
    }
    let (status, _) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    // Other paths were never affected.
    assert!(h.fake.faults().is_empty());
}

#[tokio::test]
async fn unavailable_fault_is_a_plain_text_503_and_can_be_always() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let id = h.fake.add_fault(Fault::unavailable("/k/*").always());
    for _ in 0..3 {
        let response = h
            .http
            .get(h.url("/k/guest/2/v1/records.json?app=4"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(
            serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err(),
            "not JSON"
        );
    }
    // The OAuth endpoints are outside the pattern.
    assert_eq!(h.exchange("bogus", REDIRECT).await.status(), StatusCode::BAD_REQUEST);
    h.fake.remove_fault(id).unwrap();
    assert!(h.fake.remove_fault(id).is_err());
    let (status, _) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn dropped_connection_gives_no_response() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    h.fake.add_fault(Fault::drop_connection("/oauth2/token").method("POST"));
    let error = h
        .http
        .post(h.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await;
    assert!(error.is_err(), "the connection was closed without a response");
    // The next request goes through on a new connection.
    let (status, _) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    let logged = h.fake.requests().into_iter().find(|r| r.fault.is_some()).unwrap();
    assert_eq!(logged.fault.as_deref(), Some("drop_connection"));
    assert_eq!(logged.status, None);
}

#[tokio::test]
async fn latency_fault_delays_then_serves() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    h.fake
        .add_fault(Fault::latency("/k/v1/record.json", Duration::from_millis(300)));
    let started = Instant::now();
    let (status, _) = h.get(&token, "/k/v1/record.json", &[("app", "1"), ("id", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    h.get(&token, "/k/v1/record.json", &[("app", "1"), ("id", "1")]).await;
    assert!(started.elapsed() < Duration::from_millis(300), "only once");
}

#[tokio::test]
async fn concurrency_limit_answers_429() {
    let h = Harness::start_with(FakeConfig {
        concurrency_limit: 1,
        ..FakeConfig::default()
    })
    .await;
    let token = h.token("alice").await;
    h.fake
        .add_fault(Fault::latency("/k/v1/record.json", Duration::from_millis(500)));
    let slow = {
        let http = h.http.clone();
        let url = h.url("/k/v1/record.json?app=1&id=1");
        let token = token.clone();
        tokio::spawn(async move { http.get(url).bearer_auth(token).send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, body) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_error(status, &body, 429, "GAIA_TO04");
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn request_log_records_what_tests_assert_on() {
    let h = Harness::start().await;
    let token = h.token("bob").await;
    h.fake.clear_requests();
    h.override_get(&token, "/k/v1/records.json", json!({"app": 1})).await;
    h.call(
        &token,
        Method::POST,
        "/k/v1/record/comment.json",
        json!({"app": 1, "record": 2, "comment": {"text": "hello"}}),
    )
    .await;
    h.http.get(h.url("/k/v1/app.json?id=1")).send().await.unwrap();
    let log = h.fake.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].method_override.as_deref(), Some("GET"));
    assert_eq!(log[0].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(log[0].user.as_deref(), Some("bob"));
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[1].path, "/k/v1/record/comment.json");
    assert!(log[1].body.contains("hello"));
    assert_eq!(log[2].query.as_deref(), Some("id=1"));
    assert_eq!(log[2].auth_scheme, None);
    assert_eq!(log[2].status, Some(401));
    assert!(log.iter().all(|r| !r.body.contains(&token)), "tokens are not logged");
    h.fake.clear_requests();
    assert!(h.fake.requests().is_empty());
    // The comment the test wrote is visible through records().
    let records = h.fake.records(1).unwrap();
    assert_eq!(records[1]["$comments"][0]["text"], "hello");
    assert!(h.fake.records(99).is_err());
}

#[tokio::test]
async fn http_control_api_drives_the_fake() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    let http = &h.http;
    let health: Value = http
        .get(h.url("/_fake/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);

    let response = http
        .post(h.url("/_fake/faults"))
        .json(&json!({"path": "/k/v1/records.json", "kind": {"type": "rate_limit"}, "times": 1}))
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let faults: Value = http
        .get(h.url("/_fake/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults[0]["id"], id);
    assert_eq!(faults[0]["remaining"], 1);
    let (status, _) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let bad = http
        .post(h.url("/_fake/faults"))
        .json(&json!({"path": "/x", "kind": {"type": "explode"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    http.post(h.url("/_fake/faults"))
        .json(&json!({"path": "*", "kind": {"type": "unavailable"}, "times": "always"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.delete(h.url("/_fake/faults")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let log: Value = http
        .get(h.url("/_fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == "/k/v1/records.json" && r["status"] == 429));
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r["path"].as_str().unwrap().starts_with("/_fake")));
    http.delete(h.url("/_fake/requests")).send().await.unwrap();
    assert_eq!(
        http.get(h.url("/_fake/requests"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!([])
    );

    http.post(h.url("/_fake/expire-access-tokens")).send().await.unwrap();
    let (status, _) = h.get(&token, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let tokens = h.tokens("bob", "k:app_record:read").await;
    let revoked: Value = http
        .post(h.url("/_fake/revoke-refresh-tokens"))
        .json(&json!({"user": "bob"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(h.refresh(&tokens.refresh).await.status(), StatusCode::BAD_REQUEST);

    http.put(h.url("/_fake/token-lifetime"))
        .json(&json!({"seconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(h.tokens("alice", "k:app_record:read").await.body["expires_in"], 5);

    assert_eq!(
        http.put(h.url("/_fake/approving-user"))
            .json(&json!({"user": "mallory"}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    http.put(h.url("/_fake/approving-user"))
        .json(&json!({"user": null}))
        .send()
        .await
        .unwrap();
    let page = http
        .get(h.url("/oauth2/authorization"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "k:app_record:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "sign-in page");

    http.post(h.url("/_fake/redirect-uris"))
        .json(&json!({"redirect_uri": "http://localhost:8080/cb"}))
        .send()
        .await
        .unwrap();
    let uris: Value = http
        .get(h.url("/_fake/redirect-uris"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uris["redirect_uris"][1], "http://localhost:8080/cb");

    let records: Value = http
        .get(h.url("/_fake/records/4"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records.as_array().unwrap().len(), 3);
    assert_eq!(
        http.get(h.url("/_fake/records/77")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

/// Kills the child on drop so a failing assertion cannot leak the process.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_its_base_url_and_serves() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_fake-cybozu"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--token-lifetime",
                "120",
                "--client-id",
                "cli-client",
                "--client-secret",
                "cli-secret",
            ])
            .args([
                "--redirect-uri",
                "http://127.0.0.1:5000/cb",
                "--redirect-uri",
                "http://127.0.0.1:5001/cb",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line.trim().to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with('/'),
        "{base:?}"
    );
    let http = client();
    let location = http
        .get(format!("{base}/oauth2/authorization"))
        .query(&[
            ("client_id", "cli-client"),
            ("redirect_uri", "http://127.0.0.1:5001/cb"),
            ("response_type", "code"),
            ("scope", "k:app_record:read"),
        ])
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("cli-client", Some("cli-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:5001/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 120);
    let records: Value = http
        .get(format!("{base}/k/v1/records.json"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .query(&[("app", "1"), ("query", "limit 1")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records["records"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn custom_seed_data_and_bad_seed_data() {
    let seed = json!({
        "users": [{"code": "u1", "name": "User One"}],
        "apps": [{"appId": 10, "name": "Tiny", "creator": "u1", "createdAt": "2024-01-01T00:00:00Z",
                  "properties": {"title": {"type": "SINGLE_LINE_TEXT", "required": true}},
                  "records": [{"$creator": "u1", "$createdAt": "2024-01-02T00:00:00Z", "title": "hello"}]}]
    });
    let config = FakeConfig {
        data: fake_cybozu::SeedData::Json(seed.to_string()),
        auto_approve_user: Some("u1".into()),
        ..FakeConfig::default()
    };
    let h = Harness::start_with(config).await;
    let token = h.token("u1").await;
    let (status, body) = h.get(&token, "/k/v1/records.json", &[("app", "10")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(values(&body["records"], "title"), vec!["hello"]);

    let broken = json!({"users": [{"code": "u1", "name": "U"}], "apps": [{"appId": 1, "name": "x", "creator": "u1", "createdAt": "2024-01-01T00:00:00Z",
        "properties": {"t": {"type": "SINGLE_LINE_TEXT", "required": true}}, "records": [{"$creator": "u1", "$createdAt": "2024-01-01T00:00:00Z"}]}]});
    let result = fake_cybozu::FakeCybozu::start(FakeConfig {
        data: fake_cybozu::SeedData::Json(broken.to_string()),
        auto_approve_user: None,
        ..FakeConfig::default()
    })
    .await;
    let message = format!("{:#}", result.err().unwrap());
    assert!(message.contains("record #1"), "{message}");
    let unknown = fake_cybozu::FakeCybozu::start(FakeConfig {
        data: fake_cybozu::SeedData::Json("{\"users\": [], \"extra\": 1}".into()),
        ..FakeConfig::default()
    })
    .await;
    assert!(unknown.is_err());
}
