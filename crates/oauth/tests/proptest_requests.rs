//! Property tests: query strings, forms, HTTP Basic credentials and cookies of any shape reach
//! every OAuth route without a panic or a 5xx, get a precise refusal, and change nothing in the
//! store; `/callback` with garbage never calls Cybozu.

use base64::Engine;
use grants::Config;
use oauth::{handle_callback, handle_provider_cached, Request};
use platform::{HttpClient, KeyValue, MemoryStore, OutboundError};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;

const ISSUER: &str = "http://127.0.0.1:3000";
const T0: u64 = 1_800_000_000;

fn config() -> Config {
    let vars: BTreeMap<&str, &str> = [
        ("kintone_base_url", "http://127.0.0.1:9"),
        ("cybozu_client_id", "kintone-mcp-test"),
        ("cybozu_client_secret", "test-secret"),
        ("secret_key", "proptest-secret-key-0123456789abcdef"),
        ("public_url", ISSUER),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap()
}

/// Counts outbound requests; answers none.
#[derive(Default)]
struct NoCybozu {
    calls: Cell<u32>,
}

impl HttpClient for NoCybozu {
    async fn send(&self, _request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        self.calls.set(self.calls.get() + 1);
        Err(OutboundError::Unreachable {
            host: "cybozu".into(),
            reason: "not in this test".into(),
        })
    }
}

const ROUTES: [&str; 10] = [
    "/authorize",
    "/token",
    "/register",
    "/revoke",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource/sse",
    "/callback",
];

const PARAMS: [&str; 16] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "request",
    "csrf_token",
];

/// Text with the characters that matter to URL and form parsing, and some that should not appear.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~-]{0,24}",
        "[%&=+;#? a-f0-9\\x00-\\x1f]{0,24}",
        ".{0,24}",
        Just("S256".to_owned()),
        Just("authorization_code".to_owned()),
        Just("refresh_token".to_owned()),
        Just("code".to_owned()),
        Just("http://localhost:4567/cb".to_owned()),
        Just("http://127.0.0.1:3000/mcp".to_owned()),
    ]
}

/// A query string or form body: real parameter names (sometimes twice) with odd values, or raw text.
fn encoded_params() -> impl Strategy<Value = String> {
    let pair = (
        prop_oneof![
            prop::sample::select(PARAMS.to_vec()).prop_map(String::from),
            tricky_text()
        ],
        tricky_text(),
    );
    prop_oneof![
        3 => prop::collection::vec(pair, 0..8).prop_map(|pairs| {
            form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
        }),
        1 => "[ -~]{0,80}",
        1 => ".{0,40}",
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|raw| Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))),
        (tricky_text(), tricky_text()).prop_map(|(id, secret)| Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        ))),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

fn cookies() -> impl Strategy<Value = Option<String>> {
    let name = prop_oneof![
        Just(oauth::SIGNIN_COOKIE.to_owned()),
        Just(oauth::CSRF_COOKIE.to_owned()),
        Just(oauth::APPROVED_COOKIE.to_owned()),
        "[a-zA-Z_-]{1,12}",
    ];
    prop_oneof![
        Just(None),
        prop::collection::vec((name, "[ -~]{0,40}"), 0..4).prop_map(|pairs| Some(
            pairs
                .into_iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        "[ -~]{0,60}".prop_map(Some),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("application/x-www-form-urlencoded; charset=UTF-8".to_owned())),
        Just(Some("application/json".to_owned())),
        "[ -~]{0,30}".prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Shape {
    method: &'static str,
    path: String,
    query: String,
    body: Vec<u8>,
    content_type: Option<String>,
    authorization: Option<String>,
    cookie: Option<String>,
}

fn shape() -> impl Strategy<Value = Shape> {
    let path = prop_oneof![4 => prop::sample::select(ROUTES.to_vec()).prop_map(String::from), 1 => "/[a-z./-]{0,20}"];
    let body = prop_oneof![
        encoded_params().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..80)
    ];
    (
        prop::sample::select(vec!["GET", "POST", "OPTIONS", "PUT", "DELETE"]),
        path,
        encoded_params(),
        body,
        content_type(),
        authorization(),
        cookies(),
    )
        .prop_map(
            |(method, path, query, body, content_type, authorization, cookie)| Shape {
                method,
                path,
                query,
                body,
                content_type,
                authorization,
                cookie,
            },
        )
}

fn build(shape: &Shape) -> Option<Request> {
    let uri = if shape.query.is_empty() {
        shape.path.clone()
    } else {
        format!("{}?{}", shape.path, shape.query)
    };
    let mut builder = http::Request::builder()
        .method(shape.method)
        .uri(uri)
        .header("host", "127.0.0.1:3000");
    for (name, value) in [
        ("content-type", &shape.content_type),
        ("authorization", &shape.authorization),
        ("cookie", &shape.cookie),
    ] {
        if let Some(value) = value {
            builder = builder.header(name, value.as_str());
        }
    }
    // What the http crate refuses (a URI or header value it cannot hold) never reaches a handler.
    builder.body(shape.body.clone()).ok()
}

fn check_response(shape: &Shape, response: &http::Response<Vec<u8>>) -> Result<(), TestCaseError> {
    prop_assert!(
        !response.status().is_server_error(),
        "{} for {:?}",
        response.status(),
        shape
    );
    if shape.path == "/token" && shape.method == "POST" {
        // Nobody can hold a valid code or refresh token here: every answer is an OAuth error.
        prop_assert!(
            response.status().is_client_error(),
            "{} for {:?}",
            response.status(),
            shape
        );
        let error: Value = serde_json::from_slice(response.body())
            .map_err(|e| TestCaseError::fail(format!("token error body is not JSON: {e}")))?;
        let code = error["error"].as_str().unwrap_or_default();
        prop_assert!(
            [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_target",
                "invalid_scope"
            ]
            .contains(&code),
            "unexpected token error {:?}",
            error
        );
        prop_assert_eq!(
            response.headers().get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn any_request_to_the_provider_is_refused_cleanly_and_stores_nothing(shape in shape()) {
        let config = config();
        let kv = MemoryStore::new();
        if let Some(request) = build(&shape) {
            let response = handle_provider_cached(&config, &kv, &request, T0);
            check_response(&shape, &response)?;
            prop_assert!(kv.snapshot().is_empty(), "{:?} wrote {:?}", shape, kv.snapshot().keys().collect::<Vec<_>>());
        }
    }

    #[test]
    fn any_callback_is_refused_without_calling_cybozu(query in encoded_params(), cookie in cookies()) {
        let config = config();
        let kv = MemoryStore::new();
        let http = NoCybozu::default();
        let shape = Shape { method: "GET", path: "/callback".into(), query, body: Vec::new(), content_type: None, authorization: None, cookie };
        if let Some(request) = build(&shape) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let response = runtime.block_on(handle_callback(&config, &kv, &http, &request, T0));
            prop_assert!(response.status().is_client_error(), "{} for {:?}", response.status(), shape);
            prop_assert_eq!(http.calls.get(), 0, "garbage reached Cybozu");
            prop_assert!(kv.snapshot().is_empty());
        }
    }

    #[test]
    fn wrong_basic_credentials_of_a_real_client_are_invalid_client(secret in tricky_text(), grant_type in prop::sample::select(vec!["authorization_code", "refresh_token"]), code in tricky_text()) {
        let config = config();
        let kv = MemoryStore::new();
        let register = http::Request::builder().method("POST").uri("/register").header("host", "127.0.0.1:3000")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&serde_json::json!({
                "client_name": "prop", "redirect_uris": ["http://localhost:4567/cb"], "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            })).unwrap()).unwrap();
        let registered = handle_provider_cached(&config, &kv, &register, T0);
        prop_assert_eq!(registered.status(), 201);
        let client: Value = serde_json::from_slice(registered.body()).unwrap();
        let client_id = client["client_id"].as_str().unwrap();
        prop_assume!(Some(secret.as_str()) != client["client_secret"].as_str());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs([("grant_type", grant_type), ("code", &code), ("refresh_token", &code), ("code_verifier", "x".repeat(43).as_str()), ("redirect_uri", "http://localhost:4567/cb")]).finish();
        let request = http::Request::builder().method("POST").uri("/token").header("host", "127.0.0.1:3000")
            .header("content-type", "application/x-www-form-urlencoded").header("authorization", format!("Basic {basic}"))
            .body(form.into_bytes()).unwrap();
        let response = handle_provider_cached(&config, &kv, &request, T0);
        prop_assert_eq!(response.status(), 401);
        let error: Value = serde_json::from_slice(response.body()).unwrap();
        prop_assert_eq!(&error["error"], "invalid_client");
        prop_assert!(kv.snapshot().is_empty());
    }
}

#[test]
fn a_kv_snapshot_sees_writes() {
    // Guards the properties above: the store really records what handlers write.
    let kv = MemoryStore::new();
    kv.set("k", b"v").unwrap();
    assert_eq!(kv.snapshot().len(), 1);
}
