//! Cybozu OAuth 2.0: authorization endpoint, code and refresh grants, and their failures.

mod common;

use std::time::Duration;

use common::*;
use fake_cybozu::FakeConfig;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn authorization_code_grant_issues_tokens_and_redirects_with_state() {
    let h = Harness::start().await;
    let response = h
        .authorize("alice", "k:app_record:read k:file:read", REDIRECT, "st-123")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.origin().ascii_serialization(), "http://127.0.0.1:3000");
    assert_eq!(location.path(), "/callback");
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "st-123");
    let response = h.exchange(&pairs["code"], REDIRECT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "k:app_record:read k:file:read");
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 32);
    let (status, _) = h
        .get(
            body["access_token"].as_str().unwrap(),
            "/k/v1/record.json",
            &[("app", "1"), ("id", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_returns_new_access_token_without_refresh_token() {
    let h = Harness::start().await;
    let tokens = h.tokens("bob", "k:app_record:read").await;
    let response = h.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "Cybozu does not rotate refresh tokens: {body}"
    );
    assert_eq!(body["scope"], "k:app_record:read");
    let new_access = body["access_token"].as_str().unwrap();
    assert_ne!(new_access, tokens.access);
    // The same refresh token keeps working.
    assert_eq!(h.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    let (status, _) = h.get(new_access, "/k/v1/records.json", &[("app", "1")]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn access_tokens_expire_and_refresh_recovers() {
    let h = Harness::start_with(FakeConfig {
        token_lifetime: Duration::from_secs(1),
        ..FakeConfig::default()
    })
    .await;
    let tokens = h.tokens("alice", "k:app_record:read").await;
    assert_eq!(tokens.body["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = h.get(&tokens.access, "/k/v1/records.json", &[("app", "1")]).await;
    assert_error(status, &body, 401, "CB_OA01");
    let refreshed: Value = h.refresh(&tokens.refresh).await.json().await.unwrap();
    h.fake.set_token_lifetime(Duration::from_secs(3600));
    let refreshed_again: Value = h.refresh(&tokens.refresh).await.json().await.unwrap();
    assert_eq!(refreshed["expires_in"], 1);
    assert_eq!(refreshed_again["expires_in"], 3600);
    let (status, _) = h
        .get(
            refreshed_again["access_token"].as_str().unwrap(),
            "/k/v1/records.json",
            &[("app", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn expire_access_tokens_control_gives_401() {
    let h = Harness::start().await;
    let token = h.token("alice").await;
    h.fake.expire_access_tokens();
    let (status, body) = h.get(&token, "/k/v1/app.json", &[("id", "1")]).await;
    assert_error(status, &body, 401, "CB_OA01");
    let (status, body) = h.get("not-a-token", "/k/v1/app.json", &[("id", "1")]).await;
    assert_error(status, &body, 401, "CB_OA01");
}

#[tokio::test]
async fn revoked_refresh_token_is_invalid_grant() {
    let h = Harness::start().await;
    let tokens = h.tokens("bob", ALL_SCOPES).await;
    assert_eq!(h.fake.revoke_refresh_tokens("bob").unwrap(), 1);
    let response = h.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(h.fake.revoke_refresh_tokens("nobody").is_err());
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let h = Harness::start().await;
    let code = h.code_for("alice", "k:app_record:read").await;
    let response = h
        .http
        .post(h.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // The failed attempt did not consume the code.
    assert_eq!(h.exchange(&code, REDIRECT).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_credentials_in_the_body_are_accepted() {
    let h = Harness::start().await;
    let code = h.code_for("alice", "k:app_record:read").await;
    let response = h
        .http
        .post(h.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The log never keeps the secret.
    let logged = h
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth2/token")
        .unwrap();
    assert!(logged.body.contains("client_secret=***"), "{}", logged.body);
    assert!(!logged.body.contains(SECRET));
}

#[tokio::test]
async fn wrong_redirect_uri_is_refused() {
    let h = Harness::start().await;
    // At the authorization endpoint: an error page, no redirect.
    let response = h
        .authorize("alice", "k:app_record:read", "http://127.0.0.1:9999/evil", "s")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    // At the token endpoint: the code's redirect_uri must match.
    let code = h.code_for("alice", "k:app_record:read").await;
    let response = h.exchange(&code, "http://127.0.0.1:3000/other").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn codes_are_single_use() {
    let h = Harness::start().await;
    let code = h.code_for("alice", "k:app_record:read").await;
    assert_eq!(h.exchange(&code, REDIRECT).await.status(), StatusCode::OK);
    let response = h.exchange(&code, REDIRECT).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn bad_authorization_requests_redirect_with_errors() {
    let h = Harness::start().await;
    let response = h
        .authorize("alice", "k:app_record:read k:space:read", REDIRECT, "s9")
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.contains("error=invalid_scope") && location.contains("state=s9"),
        "{location}"
    );
    let response = h
        .http
        .get(h.url("/oauth2/authorization"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "token"),
            ("scope", "k:app_record:read"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=unsupported_response_type"));
    let response = h
        .http
        .get(h.url("/oauth2/authorization"))
        .query(&[
            ("client_id", "unknown"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "k:app_record:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn token_endpoint_rejects_bad_requests() {
    let h = Harness::start().await;
    let json = h
        .http
        .post(h.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    let no_auth = h
        .http
        .post(h.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    let grant = h
        .http
        .post(h.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let unknown = h.refresh("never-issued").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sign_in_page_posts_back_and_issues_a_code_for_the_chosen_user() {
    let h = Harness::start_with(FakeConfig {
        auto_approve_user: None,
        ..FakeConfig::default()
    })
    .await;
    let page = h
        .http
        .get(h.url("/oauth2/authorization"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "k:app_record:read"),
            ("state", "<s&>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<select name=\"login\">") && html.contains("value=\"bob\""));
    assert!(html.contains("&lt;s&amp;&gt;"), "state is escaped");
    let form = [
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "k:app_record:read"),
        ("state", "<s&>"),
        ("login", "bob"),
        ("password", "bob-password"),
        ("decision", "allow"),
    ];
    let response = h
        .http
        .post(h.url("/oauth2/authorization"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "<s&>");
    let token: Value = h.exchange(&pairs["code"], REDIRECT).await.json().await.unwrap();
    // bob's token cannot see the HR app, which only alice can.
    let (status, body) = h
        .get(
            token["access_token"].as_str().unwrap(),
            "/k/v1/records.json",
            &[("app", "3")],
        )
        .await;
    assert_error(status, &body, 403, "CB_NO02");
    // Wrong password: the page again, with an error; deny: access_denied.
    let mut wrong = form;
    wrong[6] = ("password", "nope");
    let response = h
        .http
        .post(h.url("/oauth2/authorization"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut deny = form;
    deny[7] = ("decision", "deny");
    let response = h
        .http
        .post(h.url("/oauth2/authorization"))
        .form(&deny)
        .send()
        .await
        .unwrap();
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=access_denied"));
}

#[tokio::test]
async fn redirect_uris_can_be_added_at_run_time() {
    let h = Harness::start().await;
    let late = "http://127.0.0.1:45678/callback";
    assert_eq!(
        h.authorize("alice", "k:app_record:read", late, "s").await.status(),
        StatusCode::BAD_REQUEST
    );
    h.fake.add_redirect_uri(late).unwrap();
    let response = h.authorize("alice", "k:app_record:read", late, "s").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(response.headers()["location"].to_str().unwrap().starts_with(late));
    assert!(h.fake.add_redirect_uri("javascript:alert(1)").is_err());
}

#[tokio::test]
async fn at_most_ten_refresh_tokens_per_user_and_client() {
    let h = Harness::start().await;
    let first = h.tokens("alice", "k:app_record:read").await;
    for _ in 0..10 {
        h.tokens("alice", "k:app_record:read").await;
    }
    let response = h.refresh(&first.refresh).await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "the oldest of 11 refresh tokens is revoked"
    );
}
