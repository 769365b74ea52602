//! OAuth request parsing: query strings, forms, HTTP Basic credentials and cookies on every
//! route of the authorization server and on `/callback`.
//! Oracle: no panic, no 5xx, nothing stored, `/callback` never calls Cybozu with garbage.
#![no_main]

use arbitrary::Arbitrary;
use grants::Config;
use libfuzzer_sys::fuzz_target;
use oauth::{handle_callback, handle_provider_cached};
use platform::{HttpClient, MemoryStore, OutboundError};
use std::cell::Cell;
use std::sync::OnceLock;

const ROUTES: [&str; 9] = [
    "/authorize", "/token", "/register", "/revoke", "/callback",
    "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
    "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource",
];
const METHODS: [&str; 4] = ["GET", "POST", "OPTIONS", "PUT"];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    route: u8,
    method: u8,
    query: &'a str,
    content_type: Option<&'a str>,
    basic: Option<&'a [u8]>,
    authorization: Option<&'a str>,
    cookie: Option<&'a str>,
    body: &'a [u8],
}

#[derive(Default)]
struct NoCybozu {
    calls: Cell<u32>,
}

impl HttpClient for NoCybozu {
    async fn send(&self, _request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        self.calls.set(self.calls.get() + 1);
        Err(OutboundError::Unreachable { host: "cybozu".into(), reason: "fuzzing".into() })
    }
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let vars = [
            ("kintone_base_url", "http://127.0.0.1:9"),
            ("cybozu_client_id", "kintone-mcp-test"),
            ("cybozu_client_secret", "test-secret"),
            ("secret_key", "fuzz-secret-key-0123456789abcdef0123"),
            ("public_url", "http://127.0.0.1:3000"),
        ];
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).expect("a valid configuration")
    })
}

fuzz_target!(|input: Input| {
    use base64::Engine;
    let path = ROUTES[input.route as usize % ROUTES.len()];
    let method = METHODS[input.method as usize % METHODS.len()];
    let uri = if input.query.is_empty() { path.to_owned() } else { format!("{path}?{}", input.query) };
    let mut builder = http::Request::builder().method(method).uri(uri).header("host", "127.0.0.1:3000");
    if let Some(ct) = input.content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(raw) = input.basic {
        builder = builder.header("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)));
    } else if let Some(auth) = input.authorization {
        builder = builder.header("authorization", auth);
    }
    if let Some(cookie) = input.cookie {
        builder = builder.header("cookie", cookie);
    }
    let Ok(request) = builder.body(input.body.to_vec()) else { return };
    let kv = MemoryStore::new();
    let response = if path == "/callback" {
        let http = NoCybozu::default();
        let response = pollster::block_on(handle_callback(config(), &kv, &http, &request, 1_800_000_000));
        assert_eq!(http.calls.get(), 0, "garbage reached Cybozu");
        response
    } else {
        handle_provider_cached(config(), &kv, &request, 1_800_000_000)
    };
    assert!(!response.status().is_server_error(), "{} for {path}", response.status());
    assert!(kv.snapshot().is_empty(), "a refused request wrote to the store");
});
