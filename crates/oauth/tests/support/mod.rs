//! Test harness: the handlers over a MemoryStore, the fake cybozu.com over real HTTP, and a
//! minimal browser (cookie jar) and MCP client.

#![allow(dead_code)]

use fake_cybozu::{FakeConfig, FakeCybozu};
use grants::{Config, ExposeSecret, Session};
use oauth::{handle_callback, handle_provider_cached, Request, Response};
use platform::{HttpClient, MemoryStore, OutboundError};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

pub const ISSUER: &str = "http://127.0.0.1:3000";
pub const MCP: &str = "http://127.0.0.1:3000/mcp";
pub const SECRET_KEY: &str = "integration-test-secret-key-0123456789";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const CLIENT_REDIRECT: &str = "http://localhost:4567/oauth/callback";
pub const T0: u64 = 1_800_000_000;

/// `platform::HttpClient` over reqwest, recording every token response body so tests can look
/// for Cybozu's tokens in the store.
pub struct ReqwestHttp {
    client: reqwest::Client,
    pub token_responses: RefCell<Vec<Value>>,
}

impl ReqwestHttp {
    pub fn new() -> Self {
        ReqwestHttp {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token_responses: RefCell::new(vec![]),
        }
    }

    /// Every `access_token`/`refresh_token` Cybozu issued so far.
    pub fn cybozu_tokens(&self) -> Vec<String> {
        self.token_responses
            .borrow()
            .iter()
            .flat_map(|v| {
                ["access_token", "refresh_token"].map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
            })
            .flatten()
            .collect()
    }
}

impl HttpClient for ReqwestHttp {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let is_token = request.uri().path() == "/oauth2/token";
        let request = reqwest::Request::try_from(request).map_err(|e| OutboundError::Invalid(e.to_string()))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| OutboundError::Unreachable {
                host: "fake".into(),
                reason: e.to_string(),
            })?;
        let mut builder = http::Response::builder().status(response.status());
        for (k, v) in response.headers() {
            builder = builder.header(k, v);
        }
        let body = response.bytes().await.map_err(|e| OutboundError::Unreachable {
            host: "fake".into(),
            reason: e.to_string(),
        })?;
        if is_token {
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                self.token_responses.borrow_mut().push(v);
            }
        }
        Ok(builder.body(body.to_vec()).unwrap())
    }
}

pub struct Harness {
    pub fake: FakeCybozu,
    pub config: Config,
    pub kv: MemoryStore,
    pub http: ReqwestHttp,
}

pub fn config_for(base_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: BTreeMap<String, String> = [
        ("kintone_base_url", base_url),
        ("cybozu_client_id", "kintone-mcp-test"),
        ("cybozu_client_secret", "test-secret"),
        ("secret_key", SECRET_KEY),
        ("public_url", ISSUER),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

impl Harness {
    pub async fn start() -> Harness {
        let fake = FakeCybozu::start(FakeConfig::default()).await.unwrap();
        let config = config_for(&fake.base_url(), &[]);
        Harness {
            fake,
            config,
            kv: MemoryStore::new(),
            http: ReqwestHttp::new(),
        }
    }

    pub fn provider(&self, request: Request, now: u64) -> Response {
        handle_provider_cached(&self.config, &self.kv, &request, now)
    }

    pub async fn callback(&self, request: Request, now: u64) -> Response {
        handle_callback(&self.config, &self.kv, &self.http, &request, now).await
    }

    /// Register a public client the way mcp-remote does; returns the client id.
    pub fn register_public(&self, name: &str) -> String {
        let body = serde_json::json!({
            "client_name": name,
            "redirect_uris": [CLIENT_REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        });
        let response = self.provider(post_json("/register", &body), T0);
        assert_eq!(response.status(), 201, "{}", body_text(&response));
        json_of(&response)["client_id"].as_str().unwrap().to_owned()
    }

    /// Drive a whole sign-in: consent, approval, Cybozu, callback. Returns our code.
    pub async fn sign_in(&self, browser: &mut Browser, client_id: &str, now: u64) -> String {
        let page = browser.send(self, get(&authorize_path(client_id, &[])), now);
        assert_eq!(page.status(), 200, "{}", body_text(&page));
        let (sealed, csrf) = consent_fields(&page);
        let to_cybozu = browser.send(self, approve(&sealed, &csrf), now);
        assert_eq!(to_cybozu.status(), 303, "{}", body_text(&to_cybozu));
        let callback_url = self.follow_cybozu(location(&to_cybozu)).await;
        let back = browser.send_callback(self, get(&callback_url), now).await;
        assert_eq!(back.status(), 302, "{}", body_text(&back));
        let params = query_of(location(&back));
        assert_eq!(params["state"], "client-state");
        assert_eq!(params["iss"], ISSUER);
        assert!(location(&back).starts_with(CLIENT_REDIRECT));
        params["code"].clone()
    }

    /// GET Cybozu's authorization URL (the fake approves at once) and return our callback's
    /// path and query from its redirect.
    pub async fn follow_cybozu(&self, url: &str) -> String {
        assert!(
            url.starts_with(&format!("{}/oauth2/authorization?", self.fake.base_url())),
            "{url}"
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        let to = response.headers()["location"].to_str().unwrap().to_owned();
        to.strip_prefix(ISSUER)
            .unwrap_or_else(|| panic!("fake redirected elsewhere: {to}"))
            .to_owned()
    }

    /// POST /token with a form, optionally with Basic credentials.
    pub fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>, now: u64) -> Response {
        let mut request = post_form("/token", form);
        if let Some((id, secret)) = basic {
            use base64::Engine;
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
            );
            request.headers_mut().insert("authorization", value.parse().unwrap());
        }
        self.provider(request, now)
    }

    pub fn exchange(&self, client_id: &str, code: &str, now: u64) -> Response {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("client_id", client_id),
                ("redirect_uri", CLIENT_REDIRECT),
                ("code_verifier", VERIFIER),
                ("resource", MCP),
            ],
            None,
            now,
        )
    }

    pub fn refresh(&self, client_id: &str, refresh_token: &str, now: u64) -> Response {
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ],
            None,
            now,
        )
    }

    /// Call the fake kintone with a session's kintone token; returns the status and the user the
    /// fake saw.
    pub async fn call_kintone(&self, session: &Session) -> (u16, Option<String>) {
        self.fake.clear_requests();
        let response = reqwest::Client::new()
            .get(format!("{}/k/v1/apps.json", self.fake.base_url()))
            .bearer_auth(session.kintone_access_token.expose_secret())
            .send()
            .await
            .unwrap();
        let user = self.fake.requests().last().and_then(|r| r.user.clone());
        (response.status().as_u16(), user)
    }

    /// Every value in the store as text, for "nothing in clear" checks.
    pub fn store_text(&self) -> String {
        self.kv
            .snapshot()
            .iter()
            .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v)))
            .collect()
    }

    pub fn store_keys(&self) -> Vec<String> {
        self.kv.snapshot().keys().cloned().collect()
    }
}

/// A browser's cookie jar.
#[derive(Default)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub fn absorb(&mut self, response: &Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            assert!(
                text.contains("; Secure") && text.contains("; Path=/") && text.contains("HttpOnly"),
                "{text}"
            );
            let (pair, attrs) = text.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            assert!(name.starts_with("__Host-"), "{name}");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn prepare(&self, mut request: Request) -> Request {
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.headers_mut().insert("cookie", header.parse().unwrap());
        }
        if let Some(lang) = &self.accept_language {
            request.headers_mut().insert("accept-language", lang.parse().unwrap());
        }
        request
    }

    pub fn send(&mut self, h: &Harness, request: Request, now: u64) -> Response {
        let response = h.provider(self.prepare(request), now);
        self.absorb(&response);
        response
    }

    pub async fn send_callback(&mut self, h: &Harness, request: Request, now: u64) -> Response {
        let response = h.callback(self.prepare(request), now).await;
        self.absorb(&response);
        response
    }
}

pub fn get(path: &str) -> Request {
    http::Request::builder().method("GET").uri(path).body(vec![]).unwrap()
}

pub fn post_json(path: &str, body: &Value) -> Request {
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

pub fn post_form(path: &str, form: &[(&str, &str)]) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .unwrap()
}

pub fn approve(sealed: &str, csrf: &str) -> Request {
    post_form(
        "/authorize",
        &[("request", sealed), ("csrf_token", csrf), ("decision", "approve")],
    )
}

/// `/authorize?…` for the test client with PKCE, state and the /mcp resource; `overrides`
/// replace or (with an empty value) remove parameters.
pub fn authorize_path(client_id: &str, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CLIENT_REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "client-state"),
        ("resource", MCP),
        ("scope", "claudeai"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/authorize?{query}")
}

pub fn body_text(response: &Response) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

pub fn json_of(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|_| panic!("not JSON: {}", body_text(response)))
}

pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no Location: {} {}", response.status(), body_text(response)))
}

pub fn query_of(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The hidden `request` and `csrf_token` fields of the consent page.
pub fn consent_fields(page: &Response) -> (String, String) {
    let html = body_text(page);
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {html}"))
            + marker.len();
        html[start..].split('"').next().unwrap().to_owned()
    };
    (field("request"), field("csrf_token"))
}

/// Assert the store holds no record at all.
pub fn assert_store_empty(h: &Harness) {
    assert!(h.kv.snapshot().is_empty(), "store not empty: {:?}", h.store_keys());
}

/// Assert nothing of any grant is left after a revocation: only its mark (`rv:`) may remain.
pub fn assert_no_grant_left(h: &Harness) {
    let keys = h.store_keys();
    assert!(keys.iter().all(|k| k.starts_with("rv:")), "store not empty: {keys:?}");
}
