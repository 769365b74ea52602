//! What the key-value store holds after real sign-ins: no secret in clear (our codes and tokens,
//! Cybozu's codes and tokens, cookie values), one grant per user, and each user's tools see only
//! that user's kintone data.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use e2e::clients::legacy_sse;
use e2e::redis_server::RedisServer;
use e2e::signin::{self, refresh, sign_in, Flow, Tokens};
use e2e::{kv_store, App, FakeConfig, FakeCybozu, Options, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A pass-through proxy in front of the fake cybozu.com that keeps every `access_token` and
/// `refresh_token` Cybozu's token endpoint hands the app (the fake never logs them).
struct RecordingProxy {
    url: String,
    cybozu_tokens: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    async fn start(upstream: String) -> RecordingProxy {
        let cybozu_tokens = Arc::new(Mutex::new(vec![]));
        let recorded = cybozu_tokens.clone();
        let http = e2e::http_client();
        let handler = move |request: axum::extract::Request| {
            let (http, upstream, recorded) = (http.clone(), upstream.clone(), recorded.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
                let target = format!(
                    "{upstream}{}",
                    parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                );
                let mut forwarded = http.request(parts.method.clone(), &target).body(body.to_vec());
                for (name, value) in &parts.headers {
                    if name != "host" && name != "content-length" {
                        forwarded = forwarded.header(name, value);
                    }
                }
                let response = forwarded.send().await.unwrap();
                let mut back = axum::http::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                        back = back.header(name, value);
                    }
                }
                let bytes = response.bytes().await.unwrap();
                if parts.uri.path() == "/oauth2/token" {
                    if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                        for field in ["access_token", "refresh_token"] {
                            if let Some(t) = v[field].as_str() {
                                recorded.lock().unwrap().push(t.to_owned());
                            }
                        }
                    }
                }
                back.body(axum::body::Body::from(bytes)).unwrap()
            }
        };
        let router = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        RecordingProxy {
            url,
            cybozu_tokens,
            task,
        }
    }

    fn cybozu_tokens(&self) -> Vec<String> {
        self.cybozu_tokens.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One `tools/call` over Streamable HTTP; returns the JSON-RPC `result`.
async fn call_tool(app: &App, tokens: &Tokens, name: &str, arguments: Value) -> Value {
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", tokens.bearer())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "tools/call {name} as {}", tokens.user);
    let body: Value = response.json().await.unwrap();
    body["result"].clone()
}

/// The `$id`s of the records a `getRecords` result lists.
fn record_ids(result: &Value) -> Vec<String> {
    assert_eq!(result["isError"], json!(false), "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    let records: Value = serde_json::from_str(text).unwrap();
    let mut ids: Vec<String> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["$id"]["value"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Every way a secret could sit in a record: as is, and base64 (standard and URL-safe) encoded.
fn encodings(secret: &str) -> [String; 3] {
    [
        secret.to_owned(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ]
}

#[tokio::test]
async fn the_store_holds_no_token_code_or_cookie_in_clear_after_a_full_flow() {
    // The app talks to the fake through the recording proxy, so the test sees Cybozu's tokens.
    let port = e2e::free_port().unwrap();
    let fake = FakeCybozu::start(FakeConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![format!("http://127.0.0.1:{port}/callback")],
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let proxy = RecordingProxy::start(fake.base_url()).await;
    let app = App::start_with(Options {
        fake_base_url: Some(proxy.url.clone()),
        port: Some(port),
        ..Options::default()
    })
    .await
    .unwrap();

    // A confidential client, so its secret is among the things that must not be stored.
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let client = signin::register_confidential(&app, "Postman", "client_secret_basic")
        .await
        .unwrap();
    let mut flow = Flow::with_client(&app, discovery, client.clone()).unwrap();
    let code = flow.code_for("alice").await.unwrap();
    let first = flow.exchange(&code).await.unwrap();
    let second = refresh(&app, &first).await.unwrap();
    // A tool call after kintone's token expired: the endpoint refreshes it at Cybozu and stores
    // the new one.
    fake.expire_access_tokens();
    assert_eq!(
        record_ids(&call_tool(&app, &second, "getRecords", json!({"appId": "2"})).await).len(),
        5
    );

    let cybozu_tokens = proxy.cybozu_tokens();
    assert!(
        cybozu_tokens.len() >= 3,
        "Cybozu issued an access token, a refresh token and a refreshed access token"
    );
    let cybozu_codes: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth2/token")
        .filter_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(cybozu_codes.len(), 1, "the app exchanged one Cybozu code");

    let mut secrets: Vec<(&str, String)> = vec![
        ("our authorization code", code),
        ("our first access token", first.access_token.clone()),
        ("our first refresh token", first.refresh_token.clone()),
        ("our rotated access token", second.access_token.clone()),
        ("our rotated refresh token", second.refresh_token.clone()),
        ("the client secret", client.client_secret.clone().unwrap()),
        ("the PKCE verifier", flow.pkce.verifier.clone()),
        ("the client state", flow.state.clone()),
    ];
    secrets.extend(cybozu_tokens.into_iter().map(|t| ("a Cybozu token", t)));
    secrets.extend(cybozu_codes.into_iter().map(|c| ("the Cybozu authorization code", c)));
    secrets.extend(
        flow.browser
            .seen_cookie_values()
            .iter()
            .map(|c| ("a cookie value", c.clone())),
    );
    assert!(
        flow.browser.seen_cookie_values().len() >= 3,
        "CSRF, sign-in binding and approval cookies were set"
    );

    let dump = kv_store::dump_text(&app).unwrap();
    // Positive control: the search does see what the records hold in clear.
    assert!(dump.contains(&client.client_id), "the grant names its client");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 16, "{what} is long enough to search for");
        for encoded in encodings(secret) {
            // Never print the secret itself.
            assert!(!dump.contains(&encoded), "{what} is in the store in clear");
        }
    }
    // The spent sign-in state is gone: one grant, two records.
    let keys = kv_store::keys(&app).unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.starts_with("g:")) && keys.iter().any(|k| k.starts_with("rt:")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn two_users_get_separate_grants_and_see_only_their_own_kintone_data() {
    let app = App::start().await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    // At the same time, against one fake: sign-ins do not share state.
    let (alice, bob) = tokio::join!(sign_in(&app, "alice", "/mcp"), sign_in(&app, "bob", "/mcp"));
    let (alice, bob) = (alice.unwrap(), bob.unwrap());
    assert_ne!(alice.access_token, bob.access_token);

    let keys = kv_store::keys(&app).unwrap();
    let grants: Vec<&String> = keys.iter().filter(|k| k.starts_with("g:")).collect();
    assert_eq!(grants.len(), 2, "two grants: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("rt:")).count(), 2, "{keys:?}");
    let (alice_grant, bob_grant) = (
        kv_store::get(&app, grants[0]).unwrap().unwrap(),
        kv_store::get(&app, grants[1]).unwrap().unwrap(),
    );
    assert_ne!(alice_grant, bob_grant);

    // 商談管理: deal 4 is 機密, visible to managers only (alice is one, bob is not).
    fake.clear_requests();
    let alice_deals = record_ids(&call_tool(&app, &alice, "getRecords", json!({"appId": "2"})).await);
    let alice_users: Vec<Option<String>> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/k/"))
        .map(|r| r.user.clone())
        .collect();
    fake.clear_requests();
    let bob_deals = record_ids(&call_tool(&app, &bob, "getRecords", json!({"appId": "2"})).await);
    let bob_users: Vec<Option<String>> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/k/"))
        .map(|r| r.user.clone())
        .collect();
    assert_eq!(alice_deals, ["1", "2", "3", "4", "5"]);
    assert_eq!(bob_deals, ["1", "2", "3", "5"]);
    assert!(
        !alice_users.is_empty() && alice_users.iter().all(|u| u.as_deref() == Some("alice")),
        "{alice_users:?}"
    );
    assert!(
        !bob_users.is_empty() && bob_users.iter().all(|u| u.as_deref() == Some("bob")),
        "{bob_users:?}"
    );

    // 人事評価: only alice has rights; bob's call is refused by kintone, as bob.
    let hr_alice = call_tool(&app, &alice, "getRecords", json!({"appId": "3"})).await;
    assert!(!record_ids(&hr_alice).is_empty());
    let hr_bob = call_tool(&app, &bob, "getRecords", json!({"appId": "3"})).await;
    assert_eq!(hr_bob["isError"], json!(true), "{hr_bob}");

    // Revoking bob's grant leaves alice's alone.
    assert_eq!(signin::revoke(&app, &bob, &bob.refresh_token).await.unwrap(), 200);
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", bob.bearer())
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        record_ids(&call_tool(&app, &alice, "getRecords", json!({"appId": "2"})).await).len(),
        5
    );
    // Alice's grant and refresh state (and the mark of bob's revocation).
    let keys = kv_store::keys(&app).unwrap();
    assert_eq!(kv_store::grant_keys(&app).unwrap().len(), 2, "{keys:?}");
    assert_eq!(keys.len(), 3, "{keys:?}");
}

/// `[key_value_store.default] type = "spin"` without a `path` puts the app's whole state in
/// memory, as `spin up` does (the benchmark's no-disk rows rely on it): the flow works and the
/// state dir holds no store file at all.
#[tokio::test]
async fn a_default_store_configured_in_memory_keeps_nothing_in_the_state_dir() {
    let app = App::start_with_store_in_memory().await.unwrap();
    let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
    let result = call_tool(&app, &tokens, "getRecords", json!({"appId": "1"})).await;
    assert!(!record_ids(&result).is_empty(), "getRecords found nothing: {result}");
    assert!(
        !kv_store::file_exists(&app),
        "the state dir holds a store file, though the runtime config keeps `default` in memory"
    );
}

/// `[key_value_store.default] type = "redis"`, as on SpinKube: sign-in, a `/mcp` tool call and a
/// legacy SSE round trip keep their whole state in Redis, under the keys Spin's own store holds,
/// with none of our access or refresh tokens in clear (Cybozu's are checked on SQLite above: the
/// same code encrypts them whatever the store), and the state dir holds no store file.
#[tokio::test]
async fn a_default_store_on_redis_holds_the_whole_state_and_none_of_our_tokens_in_clear() {
    let redis = RedisServer::start().unwrap();
    let app = App::start_with_store_on_redis(&redis).await.unwrap();
    let on_mcp = sign_in(&app, "alice", "/mcp").await.unwrap();
    assert_eq!(
        record_ids(&call_tool(&app, &on_mcp, "getRecords", json!({"appId": "2"})).await).len(),
        5
    );
    let on_sse = sign_in(&app, "alice", "/sse").await.unwrap();
    let mut session = legacy_sse::Session::open(&app.url("/sse"), Some(&on_sse.bearer()))
        .await
        .unwrap();
    let reply = session
        .request(
            7,
            "tools/call",
            json!({"name": "getRecords", "arguments": {"appId": "2"}}),
        )
        .await
        .unwrap();
    assert_eq!(record_ids(&reply["result"]).len(), 5, "{reply}");

    let stored = redis.snapshot().unwrap();
    let keys: Vec<&str> = stored.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("g:")).count(),
        2,
        "two sign-ins, two grants: {keys:?}"
    );
    assert_eq!(keys.iter().filter(|k| k.starts_with("rt:")).count(), 2, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.starts_with("mcp:sse:")),
        "the open stream's session lives in Redis too: {keys:?}"
    );
    for tokens in [&on_mcp, &on_sse] {
        for secret in [&tokens.access_token, &tokens.refresh_token] {
            for encoded in encodings(secret) {
                // Never print the secret itself.
                assert!(
                    !stored
                        .iter()
                        .any(|(_, value)| value.windows(encoded.len()).any(|w| w == encoded.as_bytes())),
                    "a token is in Redis in clear"
                );
            }
        }
    }
    assert!(
        !kv_store::file_exists(&app),
        "the state dir holds a store file, though the runtime config puts `default` on Redis"
    );
}
