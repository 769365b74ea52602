//! Shared test client: starts a fake, signs users in through the real OAuth flow, and calls
//! kintone APIs over HTTP with reqwest.
#![allow(dead_code)]

use fake_cybozu::{FakeConfig, FakeCybozu};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const CLIENT_ID: &str = "kintone-mcp-test";
pub const SECRET: &str = "test-secret";
pub const REDIRECT: &str = "http://127.0.0.1:3000/callback";
pub const ALL_SCOPES: &str =
    "k:app_record:read k:app_record:write k:app_settings:read k:app_settings:write k:file:read k:file:write";

pub struct Harness {
    pub fake: FakeCybozu,
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Harness {
        let fake = FakeCybozu::start(config).await.unwrap();
        let base = fake.base_url();
        Harness {
            fake,
            http: client(),
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs GET /oauth2/authorization as `user`; returns the Location header.
    pub async fn authorize(&self, user: &str, scopes: &str, redirect: &str, state: &str) -> reqwest::Response {
        self.fake.set_approving_user(Some(user)).unwrap();
        self.http
            .get(self.url("/oauth2/authorization"))
            .query(&[
                ("client_id", CLIENT_ID),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", scopes),
                ("state", state),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn code_for(&self, user: &str, scopes: &str) -> String {
        let response = self.authorize(user, scopes, REDIRECT, "s1").await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code in redirect")
    }

    pub async fn exchange(&self, code: &str, redirect: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(CLIENT_ID, Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(CLIENT_ID, Some(SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
            .send()
            .await
            .unwrap()
    }

    pub async fn tokens(&self, user: &str, scopes: &str) -> Tokens {
        let code = self.code_for(user, scopes).await;
        let response = self.exchange(&code, REDIRECT).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        Tokens {
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
            body,
        }
    }

    /// An access token for `user` with every scope.
    pub async fn token(&self, user: &str) -> String {
        self.tokens(user, ALL_SCOPES).await.access
    }

    /// GET with the parameters in the query string (qs-style brackets allowed).
    pub async fn get(&self, token: &str, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .unwrap();
        into_json(response).await
    }

    /// Any method with a JSON body.
    pub async fn call(&self, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        into_json(response).await
    }

    /// POST + X-HTTP-Method-Override, as the original tools send reads.
    pub async fn override_get(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("X-HTTP-Method-Override", "GET")
            .json(&body)
            .send()
            .await
            .unwrap();
        into_json(response).await
    }
}

pub async fn into_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts a kintone error body: code, a random id, a message.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "body: {body}");
    assert_eq!(body["code"], code, "body: {body}");
    assert!(body["id"].as_str().is_some_and(|id| id.len() >= 16), "error id: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
}

pub fn values(records: &Value, field: &str) -> Vec<String> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field]["value"].as_str().unwrap_or_default().to_string())
        .collect()
}
