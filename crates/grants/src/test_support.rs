//! What the unit tests of several modules share: a test configuration, a sample sign-in request,
//! a grant taken through `/token`, a store that interleaves a concurrent request at an exact
//! step, and a double of Cybozu's token endpoint. Helpers one module alone uses stay in its tests.

use crate::config::{
    Config, ConfigError, VAR_CYBOZU_CLIENT_ID, VAR_CYBOZU_CLIENT_SECRET, VAR_KINTONE_BASE_URL, VAR_SECRET_KEY,
};
use crate::cybozu::KintoneTokens;
use crate::grant_table::create_grant;
use crate::scope::Scopes;
use crate::signin::AuthorizationRequest;
use crate::token_endpoint::{redeem_code, CodeRedemption, IssuedTokens, RefreshRedemption};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use platform::{HttpClient, KeyValue, KvError, MemoryStore, OutboundError};
use secrecy::{ExposeSecret, SecretString};
use std::cell::RefCell;
use std::collections::HashMap;

// Configuration.

pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789-abcdefghij";

pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

pub fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        (VAR_KINTONE_BASE_URL, "https://example.cybozu.com"),
        (VAR_CYBOZU_CLIENT_ID, "l.1.client"),
        (VAR_CYBOZU_CLIENT_SECRET, "cybozu-secret-value"),
        (VAR_SECRET_KEY, TEST_SECRET_KEY),
    ]
}

pub fn test_config() -> Config {
    Config::from_lookup(vars(&base())).unwrap()
}

/// The test configuration with some variables replaced.
pub fn config_with(extra: &[(&'static str, &'static str)]) -> Config {
    try_config_with(extra).unwrap()
}

/// The test configuration with some variables replaced, or why it is refused.
pub fn try_config_with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    let mut pairs = base();
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, v));
    }
    Config::from_lookup(vars(&pairs))
}

// A sign-in and the grant it becomes.

pub fn sample_request() -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "kc1.client".into(),
        redirect_uri: "http://localhost:4567/cb".into(),
        redirect_uri_explicit: true,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource: "https://mcp.example.com/mcp".into(),
        scopes: Scopes::ALL,
        state: Some("client-state".into()),
        issuer: "https://mcp.example.com".into(),
    }
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub fn kintone_tokens(access: &str, refresh: &str) -> KintoneTokens {
    KintoneTokens {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: Some(SecretString::from(refresh.to_owned())),
        expires_at: 10_000,
        scope: None,
    }
}

pub fn redemption(code: &str) -> CodeRedemption<'_> {
    CodeRedemption {
        code,
        client_id: "kc1.client",
        redirect_uri: Some("http://localhost:4567/cb"),
        code_verifier: Some(VERIFIER),
        resource: Some("https://mcp.example.com/mcp"),
    }
}

pub fn refresh_with(token: &str) -> RefreshRedemption<'_> {
    RefreshRedemption {
        refresh_token: token,
        client_id: "kc1.client",
        scope: None,
        resource: None,
    }
}

/// A store holding one freshly activated grant; returns its tokens.
pub fn active_grant(kv: &MemoryStore, config: &Config, now: u64) -> IssuedTokens {
    let code = create_grant(
        kv,
        config,
        &sample_request(),
        &kintone_tokens("kintone-access-1", "kintone-refresh-1"),
        now,
    )
    .unwrap();
    redeem_code(kv, config, redemption(code.expose_secret()), now).unwrap()
}

/// Asserts that no grant or refresh record is left: only revocation marks (`rv:`) may remain.
pub fn assert_no_grant_records(kv: &MemoryStore) {
    let keys: Vec<String> = kv.snapshot().into_keys().collect();
    assert!(keys.iter().all(|k| k.starts_with("rv:")), "records left: {keys:?}");
}

type Hook<'a> = Box<dyn FnOnce(&MemoryStore) + 'a>;

/// A store that runs `hook` once, just before the `nth` operation (`get`/`set`) on `key`: a
/// concurrent request interleaved at an exact step, deterministically.
pub struct RacingStore<'a> {
    pub inner: &'a MemoryStore,
    op: &'static str,
    key: String,
    nth: std::cell::Cell<usize>,
    hook: std::cell::RefCell<Option<Hook<'a>>>,
}

impl<'a> RacingStore<'a> {
    pub fn new(
        inner: &'a MemoryStore,
        op: &'static str,
        key: &str,
        nth: usize,
        hook: impl FnOnce(&MemoryStore) + 'a,
    ) -> Self {
        RacingStore {
            inner,
            op,
            key: key.to_owned(),
            nth: std::cell::Cell::new(nth),
            hook: std::cell::RefCell::new(Some(Box::new(hook))),
        }
    }

    pub fn fired(&self) -> bool {
        self.hook.borrow().is_none()
    }

    fn step(&self, op: &str, key: &str) {
        if op != self.op || key != self.key || self.fired() {
            return;
        }
        let left = self.nth.get() - 1;
        self.nth.set(left);
        if left == 0 {
            if let Some(hook) = self.hook.borrow_mut().take() {
                hook(self.inner);
            }
        }
    }
}

impl KeyValue for RacingStore<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.step("get", key);
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.step("set", key);
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.inner.delete(key)
    }
}

/// Whether `t`'s access token is accepted by the endpoint (at t = 1000).
pub fn resolve(kv: &MemoryStore, config: &Config, t: &IssuedTokens) -> bool {
    crate::session::resolve_bearer(
        kv,
        config,
        t.access_token.expose_secret(),
        "https://mcp.example.com/mcp",
        1_000,
    )
    .is_ok()
}

// Cybozu's token endpoint.

/// A scripted double of Cybozu's token endpoint: it checks what a real one checks (method,
/// path, content type, Basic credentials, grant parameters) and answers like one.
pub struct FakeTokenEndpoint {
    pub codes: RefCell<HashMap<String, (String, String)>>, // code -> (access, refresh)
    pub refresh_tokens: RefCell<HashMap<String, u32>>,     // refresh -> counter of accesses issued
    pub expires_in: serde_json::Value,
    pub down: RefCell<bool>,
    pub requests: RefCell<Vec<String>>,
}

impl FakeTokenEndpoint {
    pub fn new() -> Self {
        FakeTokenEndpoint {
            codes: RefCell::new(HashMap::new()),
            refresh_tokens: RefCell::new(HashMap::new()),
            expires_in: serde_json::json!(3600),
            down: RefCell::new(false),
            requests: RefCell::new(vec![]),
        }
    }

    pub fn add_code(&self, code: &str, access: &str, refresh: &str) {
        self.codes
            .borrow_mut()
            .insert(code.into(), (access.into(), refresh.into()));
        self.refresh_tokens.borrow_mut().insert(refresh.into(), 0);
    }

    pub fn revoke_refresh(&self, refresh: &str) {
        self.refresh_tokens.borrow_mut().remove(refresh);
    }

    fn answer(status: u16, body: serde_json::Value) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .unwrap()
    }
}

impl HttpClient for FakeTokenEndpoint {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        if *self.down.borrow() {
            return Err(OutboundError::Unreachable {
                host: "example.cybozu.com".into(),
                reason: "connection refused".into(),
            });
        }
        let body = String::from_utf8(request.body().clone()).unwrap();
        self.requests.borrow_mut().push(body.clone());
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri().to_string(), "https://example.cybozu.com/oauth2/token");
        assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
        let expected = format!("Basic {}", STANDARD.encode("l.1.client:cybozu-secret-value"));
        if request.headers().get("authorization").map(|v| v.to_str().unwrap()) != Some(expected.as_str()) {
            return Ok(Self::answer(401, serde_json::json!({"error": "invalid_client"})));
        }
        let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => match self.codes.borrow_mut().remove(form["code"].as_str()) {
                Some((access, refresh)) => Ok(Self::answer(
                    200,
                    serde_json::json!({
                        "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                        "expires_in": self.expires_in, "scope": "k:app_record:read"
                    }),
                )),
                None => Ok(Self::answer(
                    400,
                    serde_json::json!({"error": "invalid_grant", "error_description": "bad code"}),
                )),
            },
            Some("refresh_token") => {
                let mut tokens = self.refresh_tokens.borrow_mut();
                match tokens.get_mut(form["refresh_token"].as_str()) {
                    Some(n) => {
                        *n += 1;
                        Ok(Self::answer(
                            200,
                            serde_json::json!({
                                "access_token": format!("refreshed-{n}"), "token_type": "bearer", "expires_in": "3600"
                            }),
                        ))
                    }
                    None => Ok(Self::answer(400, serde_json::json!({"error": "invalid_grant"}))),
                }
            }
            _ => Ok(Self::answer(
                400,
                serde_json::json!({"error": "unsupported_grant_type"}),
            )),
        }
    }
}
