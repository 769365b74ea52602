//! Every refusal of issue 4's "Done when", through real HTTP against the wasm app: each gets the
//! right error and leaves the key-value store as it was (compared record by record).

use e2e::browser::{query_of, Browser};
use e2e::signin::{self, Consent, Flow, Tokens, CLIENT_REDIRECT_URI};
use e2e::{kv_store, App};
use serde_json::{json, Value};
use std::collections::BTreeMap;

type Snapshot = BTreeMap<(String, String), Vec<u8>>;

fn snapshot(app: &App) -> Snapshot {
    kv_store::snapshot(app).unwrap()
}

fn assert_store_empty(app: &App) {
    let keys = kv_store::keys(app).unwrap();
    assert!(keys.is_empty(), "the store still holds {keys:?}");
}

/// Nothing of any grant is left after a revocation: only its mark (`rv:`) may remain.
fn assert_no_grant_left(app: &App) {
    let keys = kv_store::keys(app).unwrap();
    assert!(
        keys.iter().all(|k| k.starts_with("rv:")),
        "the store still holds {keys:?}"
    );
}

fn assert_store_unchanged(app: &App, before: &Snapshot, what: &str) {
    let after = snapshot(app);
    let keys = |s: &Snapshot| s.keys().map(|(_, k)| k.clone()).collect::<Vec<_>>();
    assert!(
        &after == before,
        "{what} changed the store: {:?} → {:?}",
        keys(before),
        keys(&after)
    );
}

/// Status of an MCP `tools/list` with `tokens`' bearer token at `path`.
async fn mcp_status(app: &App, path: &str, access_token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {access_token}"))
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

fn assert_invalid_grant(reply: &signin::JsonReply, what: &str) {
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_grant")),
        "{what}: {reply:?}"
    );
}

/// A flow that has reached our code, for alice.
async fn code_issued(app: &App) -> (Flow<'_>, String) {
    let mut flow = Flow::new(app, "/mcp").await.unwrap();
    let code = flow.code_for("alice").await.unwrap();
    (flow, code)
}

#[tokio::test]
async fn redirect_uri_mismatch_gets_an_error_page_never_a_redirect() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let before = snapshot(&app);
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1:1/other",
        "javascript:alert(1)",
    ] {
        let page = flow.open_authorize(&[("redirect_uri", bad)]).await.unwrap();
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.location().is_none(), "{bad}: redirected");
        assert!(
            page.body.contains("redirect") || page.body.contains("戻り先"),
            "{bad}: {}",
            page.body
        );
        assert!(!page.body.contains("evil.example"));
    }
    assert_store_unchanged(&app, &before, "a mismatched redirect URI");

    // At /token, a code is only good with the redirect URI it was issued for (and survives).
    let code = flow.code_for("alice").await.unwrap();
    let before = snapshot(&app);
    let reply = flow
        .exchange_raw(&code, &[("redirect_uri", "http://127.0.0.1:1/elsewhere")])
        .await
        .unwrap();
    assert_invalid_grant(&reply, "another redirect_uri at /token");
    assert_store_unchanged(&app, &before, "another redirect_uri at /token");
    assert_eq!(flow.exchange_raw(&code, &[]).await.unwrap().status, 200);
}

#[tokio::test]
async fn dangerous_redirect_uris_are_refused_at_registration() {
    let app = App::start().await.unwrap();
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/cb",
        "file:///etc/passwd",
        // Hosts must be ASCII (the app has no IDNA Unicode tables): a Unicode or full-width host
        // is refused with that reason, never mapped to an ASCII one.
        "https://例え.jp/cb",
        "https://ｃｌａｕｄｅ.ai/cb",
    ] {
        let reply = signin::register_raw(&app, &json!({ "client_name": "x", "redirect_uris": [bad] }))
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.error()),
            (400, Some("invalid_redirect_uri")),
            "{bad}"
        );
        assert!(reply.body["client_id"].is_null());
        let why = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(bad.is_ascii() || why.contains("punycode"), "{bad}: {why}");
    }
    assert_store_empty(&app);
    // The punycode form of a Unicode host is accepted.
    let reply = signin::register_raw(
        &app,
        &json!({ "client_name": "x", "redirect_uris": ["https://xn--r8jz45g.jp/cb"] }),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 201, "punycode host: {}", reply.body);
}

#[tokio::test]
async fn pkce_missing_or_plain_is_sent_back_to_the_client_as_invalid_request() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    for overrides in [
        vec![("code_challenge", ""), ("code_challenge_method", "")],
        vec![("code_challenge_method", "plain")],
        vec![("code_challenge_method", "")],
    ] {
        let page = flow.open_authorize(&overrides).await.unwrap();
        assert_eq!(page.status, 302, "{overrides:?}");
        let to = page.location().unwrap();
        assert!(to.as_str().starts_with(CLIENT_REDIRECT_URI), "{to}");
        let params = query_of(&to);
        assert_eq!(params["error"], "invalid_request", "{overrides:?}");
        assert_eq!(params["state"], flow.state);
        assert_eq!(params["iss"], flow.discovery.issuer);
        assert!(!params.contains_key("code"));
    }
    assert_store_empty(&app);
}

#[tokio::test]
async fn pkce_missing_or_wrong_verifier_is_refused_at_token_and_burns_the_code() {
    let app = App::start().await.unwrap();
    let (flow, code) = code_issued(&app).await;
    // No verifier: a malformed request, the code survives.
    let before = snapshot(&app);
    let reply = flow.exchange_raw(&code, &[("code_verifier", "")]).await.unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_request")),
        "{reply:?}"
    );
    assert_store_unchanged(&app, &before, "a token request without a verifier");
    // A wrong verifier: someone holds a stolen code; it is burnt.
    let wrong = "x".repeat(43);
    assert_invalid_grant(
        &flow.exchange_raw(&code, &[("code_verifier", &wrong)]).await.unwrap(),
        "wrong verifier",
    );
    assert_no_grant_left(&app);
    assert_invalid_grant(
        &flow.exchange_raw(&code, &[]).await.unwrap(),
        "the right verifier after a wrong one",
    );
}

#[tokio::test]
async fn code_replay_is_refused_and_revokes_the_grant() {
    let app = App::start().await.unwrap();
    let (flow, code) = code_issued(&app).await;
    let tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(mcp_status(&app, "/mcp", &tokens.access_token).await.0, 200);

    let replay = flow.exchange_raw(&code, &[]).await.unwrap();
    assert_invalid_grant(&replay, "a replayed code");
    // The grant the code produced is gone: its tokens stop working.
    let (status, challenge) = mcp_status(&app, "/mcp", &tokens.access_token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(signin::refresh(&app, &tokens).await.is_err());
    assert_no_grant_left(&app);
}

/// The components take the time from the clock and the host cannot shift it, so the code is
/// aged in the store instead: its pending grant record's code expiry (`p.e`) is set in the past.
#[tokio::test]
async fn expired_code_is_refused_and_removed() {
    let app = App::start().await.unwrap();
    let (flow, code) = code_issued(&app).await;
    let keys = kv_store::keys(&app).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    let mut record: Value = serde_json::from_slice(&kv_store::get(&app, key).unwrap().unwrap()).unwrap();
    assert_eq!(record["p"]["k"], "pending", "the grant waits for its code");
    let expiry = record["p"]["e"]
        .as_u64()
        .expect("the pending grant carries its code expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now && expiry <= now + 600, "codes live at most 10 minutes");
    record["p"]["e"] = json!(now - 1);
    kv_store::rewrite(&app, key, &serde_json::to_vec(&record).unwrap()).unwrap();

    let reply = flow.exchange_raw(&code, &[]).await.unwrap();
    assert_invalid_grant(&reply, "an expired code");
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{reply:?}"
    );
    assert_no_grant_left(&app);
}

#[tokio::test]
async fn refresh_token_reuse_after_rotation_is_refused_and_revokes_the_grant() {
    let app = App::start().await.unwrap();
    let (flow, code) = code_issued(&app).await;
    let first = flow.exchange(&code).await.unwrap();
    let second = signin::refresh(&app, &first).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    // Until the new one is used, a retry with the old one still works (a lost response).
    let retried = signin::refresh(&app, &first).await.unwrap();
    let third = signin::refresh(&app, &retried).await.unwrap();
    let before = snapshot(&app);
    assert_eq!(before.len(), 2);

    // Now the first one is retired: using it means it leaked, and the grant goes.
    let reuse = signin::post_token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &first.refresh_token)],
        &first.client_id,
        None,
    )
    .await
    .unwrap();
    assert_invalid_grant(&reuse, "a retired refresh token");
    assert!(
        signin::refresh(&app, &third).await.is_err(),
        "the newest refresh token died with the grant"
    );
    assert_eq!(mcp_status(&app, "/mcp", &third.access_token).await.0, 401);
    assert_eq!(mcp_status(&app, "/mcp", &second.access_token).await.0, 401);
    assert_no_grant_left(&app);
}

#[tokio::test]
async fn tokens_for_another_resource_are_refused() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let before = snapshot(&app);
    // At /authorize: not our resource.
    let page = flow
        .open_authorize(&[("resource", "https://other.example.com/mcp")])
        .await
        .unwrap();
    assert_eq!(page.status, 302);
    assert_eq!(query_of(&page.location().unwrap())["error"], "invalid_target");
    assert_store_unchanged(&app, &before, "another resource at /authorize");

    // At /token: a resource other than the one authorized.
    let code = flow.code_for("alice").await.unwrap();
    let before = snapshot(&app);
    let reply = flow
        .exchange_raw(&code, &[("resource", "https://other.example.com/mcp")])
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_target")),
        "{reply:?}"
    );
    let reply = flow
        .exchange_raw(&code, &[("resource", &app.url("/sse"))])
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_target")),
        "{reply:?}"
    );
    assert_store_unchanged(&app, &before, "another resource at /token");

    // At the endpoint: a /mcp token is not accepted at /sse.
    let tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(mcp_status(&app, "/mcp", &tokens.access_token).await.0, 200);
    let response = reqwest::Client::new()
        .get(app.url("/sse"))
        .header("accept", "text/event-stream")
        .header("authorization", tokens.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // At refresh.
    let before = snapshot(&app);
    let reply = signin::post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("resource", "https://other.example.com/mcp"),
        ],
        &tokens.client_id,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_target")),
        "{reply:?}"
    );
    assert_store_unchanged(&app, &before, "another resource at refresh");
    // And a token for /sse is not accepted at /mcp.
    let sse_tokens = signin::sign_in(&app, "alice", "/sse").await.unwrap();
    assert_eq!(mcp_status(&app, "/mcp", &sse_tokens.access_token).await.0, 401);
}

#[tokio::test]
async fn missing_or_wrong_csrf_token_is_refused() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let consent = flow.consent().await.unwrap();
    let before = snapshot(&app);
    let authorize = app.url("/authorize");

    // A cross-site post: the browser that posts has no CSRF cookie.
    let mut stranger = Browser::new();
    let page = stranger
        .post_form(
            &authorize,
            &[
                ("request", &consent.request),
                ("csrf_token", &consent.csrf_token),
                ("decision", "approve"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(page.status, 403);
    assert!(page.body.contains("security token"), "{}", page.body);
    // The field is missing.
    let page = flow
        .browser
        .post_form(&authorize, &[("request", &consent.request), ("decision", "approve")])
        .await
        .unwrap();
    assert_eq!(page.status, 403);
    assert!(page.location().is_none());
    // The field is wrong.
    let wrong = Consent {
        csrf_token: "wrong-token".into(),
        ..consent.clone()
    };
    assert_eq!(flow.decide(&wrong, "approve").await.unwrap().status, 403);
    // Another browser's valid token and cookie, with this browser's sealed request.
    let mut other = Flow::with_client(&app, flow.discovery.clone(), flow.client.clone()).unwrap();
    let other_consent = other.consent().await.unwrap();
    let mixed = Consent {
        csrf_token: other_consent.csrf_token.clone(),
        ..consent.clone()
    };
    assert_eq!(other.decide(&mixed, "approve").await.unwrap().status, 403);
    assert_store_unchanged(&app, &before, "refused consent posts");

    // The genuine post still works.
    let to_cybozu = flow.approve(&consent).await.unwrap();
    assert!(to_cybozu
        .as_str()
        .starts_with(&format!("{}/oauth2/authorization?", app.fake_base_url)));
}

#[tokio::test]
async fn state_replay_at_callback_is_refused() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let consent = flow.consent().await.unwrap();
    let to_cybozu = flow.approve(&consent).await.unwrap();
    let callback = flow.cybozu_sign_in(&to_cybozu, "alice").await.unwrap();
    flow.callback(&callback).await.unwrap();
    let before = snapshot(&app);
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();

    let replay = flow.browser.get(callback.as_str()).await.unwrap();
    assert_eq!(replay.status, 400);
    assert!(replay.location().is_none());
    assert!(replay.body.contains("already been used"), "{}", replay.body);
    assert!(
        fake.requests().iter().all(|r| r.path != "/oauth2/token"),
        "no second code exchange"
    );
    assert_store_unchanged(&app, &before, "a replayed state");
}

#[tokio::test]
async fn callback_without_the_browser_cookie_is_refused_before_any_exchange() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let consent = flow.consent().await.unwrap();
    let to_cybozu = flow.approve(&consent).await.unwrap();
    let callback = flow.cybozu_sign_in(&to_cybozu, "alice").await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();

    // An attacker's browser brings the victim's callback URL (or the cookie was dropped).
    let mut attacker = Browser::new();
    let page = attacker.get(callback.as_str()).await.unwrap();
    assert_eq!(page.status, 403);
    assert!(page.location().is_none());
    assert!(
        fake.requests().iter().all(|r| r.path != "/oauth2/token"),
        "no code exchange"
    );
    assert_store_empty(&app);

    // A wrong binding cookie fares the same.
    let mut forger = Browser::new();
    forger.set_cookie("127.0.0.1", "__Host-kmcp-signin", &"A".repeat(43));
    assert_eq!(forger.get(callback.as_str()).await.unwrap().status, 403);
    assert!(
        fake.requests().iter().all(|r| r.path != "/oauth2/token"),
        "no code exchange"
    );
    assert_store_empty(&app);

    // The state is sealed, not stored (issue 11, M2): the failed attempts elsewhere leave the
    // sign-in to the browser that started it, which still finishes it.
    flow.callback(&callback).await.unwrap();
}

#[tokio::test]
async fn wrong_client_secret_gets_401_invalid_client_and_the_code_survives() {
    let app = App::start().await.unwrap();
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let client = signin::register_confidential(&app, "Postman", "client_secret_basic")
        .await
        .unwrap();
    let mut flow = Flow::with_client(&app, discovery, client.clone()).unwrap();
    let code = flow.code_for("alice").await.unwrap();
    let before = snapshot(&app);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CLIENT_REDIRECT_URI),
        ("code_verifier", flow.pkce.verifier.as_str()),
    ];

    let reply = signin::post_token(&app, &form, &client.client_id, Some("kcs_wrong"))
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (401, Some("invalid_client")),
        "{reply:?}"
    );
    assert!(reply
        .header("www-authenticate")
        .unwrap_or_default()
        .starts_with("Basic"));
    // No secret at all.
    let reply = signin::post_token(&app, &form, &client.client_id, None).await.unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (401, Some("invalid_client")),
        "{reply:?}"
    );
    // An unknown client (registered before a key change, say): 401, so clients register again.
    let reply = signin::post_token(&app, &form, "kc1.unknown.AAAA", None).await.unwrap();
    assert_eq!(
        (reply.status, reply.error()),
        (401, Some("invalid_client")),
        "{reply:?}"
    );
    assert_store_unchanged(&app, &before, "refused client authentication");

    // The right secret redeems the untouched code.
    let tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(mcp_status(&app, "/mcp", &tokens.access_token).await.0, 200);
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let app = App::start().await.unwrap();
    let (flow, code) = code_issued(&app).await;
    let tokens: Tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(mcp_status(&app, "/mcp", &tokens.access_token).await.0, 200);

    // Another client cannot revoke it (and learns nothing: 200 either way).
    let other = signin::register_public(&app, "Other").await.unwrap();
    let before = snapshot(&app);
    let reply = signin::post_form(
        &app,
        "/revoke",
        &[("token", &tokens.access_token), ("client_id", &other.client_id)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_store_unchanged(&app, &before, "another client's revocation");
    assert_eq!(mcp_status(&app, "/mcp", &tokens.access_token).await.0, 200);

    // The owner revokes the access token: the whole grant goes.
    assert_eq!(signin::revoke(&app, &tokens, &tokens.access_token).await.unwrap(), 200);
    let (status, challenge) = mcp_status(&app, "/mcp", &tokens.access_token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let reply = signin::post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
        ],
        &tokens.client_id,
        None,
    )
    .await
    .unwrap();
    assert_invalid_grant(&reply, "a revoked grant's refresh token");
    assert_no_grant_left(&app);

    // Revoking by refresh token works the same way.
    let second = signin::sign_in(&app, "bob", "/mcp").await.unwrap();
    assert_eq!(signin::revoke(&app, &second, &second.refresh_token).await.unwrap(), 200);
    assert_eq!(mcp_status(&app, "/mcp", &second.access_token).await.0, 401);
    assert_no_grant_left(&app);
}

#[tokio::test]
async fn html_in_client_name_is_escaped_on_the_consent_page() {
    let app = App::start().await.unwrap();
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let client = signin::register_public(&app, "<img src=x onerror=alert(1)>\"Evil\" & co")
        .await
        .unwrap();
    let mut flow = Flow::with_client(&app, discovery, client).unwrap();
    flow.browser.accept_language = Some("ja,en;q=0.5".into());
    let page = flow.open_authorize(&[]).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("<img src=x"),
        "markup from client_name reached the page"
    );
    assert!(
        page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("kintone へのアクセスを許可しますか"),
        "Japanese by Accept-Language"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let attributes = flow.browser.cookie_attributes("127.0.0.1", "__Host-kmcp-csrf").unwrap();
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
        assert!(attributes.contains(attribute), "{attribute} in {attributes}");
    }
    assert_store_empty(&app);
}
