//! Every refusal of issue 4's "Done when", each checked for the right error and for leaving
//! nothing behind in the store.

mod support;

use fake_cybozu::Fault;
use grants::{resolve_bearer, AuthError, CODE_LIFETIME_SECS};
use support::*;

fn error_of(response: &oauth::Response) -> String {
    json_of(response)["error"].as_str().unwrap().to_owned()
}

async fn signed_in(h: &Harness) -> (String, String) {
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let code = h.sign_in(&mut browser, &client_id, T0).await;
    (client_id, code)
}

#[tokio::test]
async fn redirect_uri_mismatch_shows_an_error_page_and_never_redirects() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser {
        accept_language: Some("ja".into()),
        ..Default::default()
    };
    for bad in [
        "https://evil.example/cb",
        "http://localhost:4567/other",
        "javascript:alert(1)",
    ] {
        let response = browser.send(&h, get(&authorize_path(&client_id, &[("redirect_uri", bad)])), T0);
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none());
        assert!(body_text(&response).contains("戻り先が一致しません"));
        assert!(!body_text(&response).contains("evil.example"));
    }
    // A loopback redirect on another port is the same registered URI (RFC 8252).
    let response = browser.send(
        &h,
        get(&authorize_path(
            &client_id,
            &[("redirect_uri", "http://localhost:9999/oauth/callback")],
        )),
        T0,
    );
    assert_eq!(response.status(), 200);
    assert_store_empty(&h);
}

#[tokio::test]
async fn unknown_or_forged_clients_get_an_error_page() {
    let h = Harness::start().await;
    let mut browser = Browser::default();
    for id in ["unknown", "kc1.eyJyIjpbXX0.AAAA", ""] {
        let response = browser.send(&h, get(&authorize_path(id, &[])), T0);
        assert_eq!(response.status(), 400, "{id}");
        assert!(response.headers().get("location").is_none());
    }
    assert!(body_text(&browser.send(&h, get(&authorize_path("unknown", &[])), T0)).contains("Unknown application"));
    assert_store_empty(&h);
}

#[tokio::test]
async fn dangerous_redirect_uris_are_refused_at_registration() {
    let h = Harness::start().await;
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/cb",
        "file:///etc/passwd",
    ] {
        let response = h.provider(
            post_json("/register", &serde_json::json!({ "redirect_uris": [bad] })),
            T0,
        );
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(error_of(&response), "invalid_redirect_uri");
        assert!(!body_text(&response).contains(bad));
    }
    let response = h.provider(
        post_json(
            "/register",
            &serde_json::json!({ "redirect_uris": [CLIENT_REDIRECT], "client_uri": "javascript:x" }),
        ),
        T0,
    );
    assert_eq!(error_of(&response), "invalid_client_metadata");
    let not_json = http::Request::builder()
        .method("POST")
        .uri("/register")
        .header("content-type", "application/json")
        .body(b"{".to_vec())
        .unwrap();
    assert_eq!(error_of(&h.provider(not_json, T0)), "invalid_client_metadata");
    let form = post_form("/register", &[("redirect_uris", CLIENT_REDIRECT)]);
    assert_eq!(h.provider(form, T0).status(), 400);
    // Registrations never touch the store.
    h.register_public("ok");
    assert_store_empty(&h);
}

#[tokio::test]
async fn public_clients_are_forced_to_none_and_get_no_secret() {
    let h = Harness::start().await;
    let response = h.provider(post_json("/register", &serde_json::json!({ "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "client_name": "claudeai", "scope": "claudeai" })), T0);
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json_of(&response);
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert!(body.get("client_secret").is_none());
    assert!(body["client_id_issued_at"].is_u64());
}

#[tokio::test]
async fn pkce_missing_or_plain_is_refused_back_to_the_client() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    for overrides in [
        vec![("code_challenge", ""), ("code_challenge_method", "")],
        vec![("code_challenge_method", "plain")],
        vec![("code_challenge_method", "")],
        vec![("code_challenge", "too-short")],
    ] {
        let response = browser.send(&h, get(&authorize_path(&client_id, &overrides)), T0);
        assert_eq!(response.status(), 302, "{overrides:?}");
        let params = query_of(location(&response));
        assert!(location(&response).starts_with(CLIENT_REDIRECT));
        assert_eq!(params["error"], "invalid_request", "{overrides:?}");
        assert_eq!(params["state"], "client-state");
        assert_eq!(params["iss"], ISSUER);
    }
    let response = browser.send(&h, get(&authorize_path(&client_id, &[("response_type", "token")])), T0);
    assert_eq!(query_of(location(&response))["error"], "unsupported_response_type");
    assert_store_empty(&h);
}

#[tokio::test]
async fn pkce_wrong_verifier_is_refused_and_burns_the_code() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let wrong = "x".repeat(43);
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", CLIENT_REDIRECT),
    ];
    let mut missing = base.to_vec();
    let response = h.token(&missing, None, T0 + 1);
    assert_eq!(error_of(&response), "invalid_request");
    missing.push(("code_verifier", &wrong));
    let response = h.token(&missing, None, T0 + 1);
    assert_eq!(response.status(), 400);
    assert_eq!(error_of(&response), "invalid_grant");
    assert_eq!(error_of(&h.exchange(&client_id, &code, T0 + 2)), "invalid_grant");
    assert_no_grant_left(&h);
}

#[tokio::test]
async fn code_replay_is_refused_and_revokes_the_grant() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let first = json_of(&h.exchange(&client_id, &code, T0 + 1));
    let access = first["access_token"].as_str().unwrap();
    assert!(resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 2).is_ok());
    let replay = h.exchange(&client_id, &code, T0 + 3);
    assert_eq!(replay.status(), 400);
    assert_eq!(error_of(&replay), "invalid_grant");
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 4),
        Err(AuthError::Revoked)
    ));
    assert_eq!(
        error_of(&h.refresh(&client_id, first["refresh_token"].as_str().unwrap(), T0 + 4)),
        "invalid_grant"
    );
    assert_no_grant_left(&h);
}

#[tokio::test]
async fn expired_code_is_refused() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let response = h.exchange(&client_id, &code, T0 + CODE_LIFETIME_SECS + 1);
    assert_eq!(error_of(&response), "invalid_grant");
    assert!(body_text(&response).contains("expired"));
    assert_no_grant_left(&h);
}

#[tokio::test]
async fn code_for_another_client_or_redirect_is_refused_without_burning_it() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let other = h.register_public("Other");
    assert_eq!(error_of(&h.exchange(&other, &code, T0 + 1)), "invalid_grant");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", "http://localhost:4567/elsewhere"),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(error_of(&h.token(&form, None, T0 + 1)), "invalid_grant");
    assert_eq!(h.exchange(&client_id, &code, T0 + 2).status(), 200);
}

#[tokio::test]
async fn refresh_token_reuse_after_rotation_is_refused() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let r1 = json_of(&h.exchange(&client_id, &code, T0 + 1))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r2 = json_of(&h.refresh(&client_id, &r1, T0 + 2))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Until r2 is used, a retry with r1 still works (lost response).
    let r2b = json_of(&h.refresh(&client_id, &r1, T0 + 3))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r3 = json_of(&h.refresh(&client_id, &r2b, T0 + 4))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reuse = h.refresh(&client_id, &r1, T0 + 5);
    assert_eq!(reuse.status(), 400);
    assert_eq!(error_of(&reuse), "invalid_grant");
    // Reuse of a retired token means it leaked: the whole grant is gone.
    assert_eq!(error_of(&h.refresh(&client_id, &r3, T0 + 6)), "invalid_grant");
    assert_eq!(error_of(&h.refresh(&client_id, &r2, T0 + 6)), "invalid_grant");
    assert_no_grant_left(&h);
}

#[tokio::test]
async fn tokens_for_another_resource_are_refused() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    // At /authorize: a resource that is not ours.
    let response = browser.send(
        &h,
        get(&authorize_path(
            &client_id,
            &[("resource", "https://other.example.com/mcp")],
        )),
        T0,
    );
    assert_eq!(query_of(location(&response))["error"], "invalid_target");
    assert_store_empty(&h);
    // At /token: a resource other than the one authorized.
    let code = h.sign_in(&mut browser, &client_id, T0).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", CLIENT_REDIRECT),
        ("code_verifier", VERIFIER),
        ("resource", "https://other.example.com/mcp"),
    ];
    assert_eq!(error_of(&h.token(&form, None, T0 + 1)), "invalid_target");
    // At the endpoint: a /mcp token is not accepted at /sse or elsewhere.
    let tokens = json_of(&h.exchange(&client_id, &code, T0 + 2));
    let access = tokens["access_token"].as_str().unwrap();
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, access, &format!("{ISSUER}/sse"), T0 + 3),
        Err(AuthError::WrongAudience)
    ));
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, access, "https://other.example.com/mcp", T0 + 3),
        Err(AuthError::WrongAudience)
    ));
    // At refresh.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", client_id.as_str()),
        ("resource", "https://other.example.com/mcp"),
    ];
    assert_eq!(error_of(&h.token(&form, None, T0 + 4)), "invalid_target");
}

#[tokio::test]
async fn missing_or_wrong_csrf_token_is_refused() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);

    // No CSRF cookie (a cross-site post).
    let mut stranger = Browser::default();
    let response = stranger.send(&h, approve(&sealed, &csrf), T0);
    assert_eq!(response.status(), 403);
    // Missing field.
    let response = browser.send(
        &h,
        post_form("/authorize", &[("request", &sealed), ("decision", "approve")]),
        T0,
    );
    assert_eq!(response.status(), 403);
    // Wrong field.
    let response = browser.send(&h, approve(&sealed, "wrong-token"), T0);
    assert_eq!(response.status(), 403);
    // Cookie and field agree, but the sealed request was made for another CSRF token.
    let mut other = Browser::default();
    let other_page = other.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (_, other_csrf) = consent_fields(&other_page);
    assert_eq!(other.send(&h, approve(&sealed, &other_csrf), T0).status(), 403);
    // Tampered request.
    // (Change a middle character: the last base64 character may carry unused bits.)
    let mid = sealed.len() / 2;
    let swapped = if &sealed[mid..mid + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &sealed[..mid], &sealed[mid + 1..]);
    assert_eq!(browser.send(&h, approve(&tampered, &csrf), T0).status(), 403);
    assert!(body_text(&response).contains("security token"));
    assert_store_empty(&h);
    // Expired consent page.
    let response = browser.send(&h, approve(&sealed, &csrf), T0 + 601);
    assert_eq!(response.status(), 400);
    assert_store_empty(&h);
    // The genuine post still works.
    assert_eq!(browser.send(&h, approve(&sealed, &csrf), T0 + 1).status(), 303);
}

#[tokio::test]
async fn state_replay_at_callback_is_refused() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    let to_cybozu = browser.send(&h, approve(&sealed, &csrf), T0);
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    assert_eq!(browser.send_callback(&h, get(&callback_url), T0).await.status(), 302);
    let keys = h.store_keys();
    let replay = browser.send_callback(&h, get(&callback_url), T0 + 1).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.headers().get("location").is_none());
    assert!(body_text(&replay).contains("already been used"));
    assert_eq!(h.store_keys(), keys, "the replay created nothing");
    // A browser that dropped that cookie gets as far as Cybozu, which refuses the spent code:
    // the same "already used" page (400), not a server fault.
    browser.cookies.remove("__Host-kmcp-done");
    let replay = browser.send_callback(&h, get(&callback_url), T0 + 2).await;
    assert_eq!(replay.status(), 400);
    assert!(body_text(&replay).contains("already been used"));
    assert!(replay.headers().get("location").is_none());
    assert_eq!(h.store_keys(), keys, "the replay created nothing");
}

#[tokio::test]
async fn replayed_consent_posts_store_nothing_and_disturb_no_sign_in() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    // A real user approves and is at Cybozu's sign-in page.
    let mut user = Browser::default();
    let page = user.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    let to_cybozu = user.send(&h, approve(&sealed, &csrf), T0);
    assert_eq!(to_cybozu.status(), 303);
    // Meanwhile someone replays their own consent POST (form and CSRF cookie) over and over.
    let mut attacker = Browser::default();
    let page = attacker.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    for i in 0..500 {
        let replay = approve(&sealed, &csrf);
        let mut replay = replay;
        replay
            .headers_mut()
            .insert("cookie", format!("{}={csrf}", oauth::CSRF_COOKIE).parse().unwrap());
        assert_eq!(h.provider(replay, T0 + 1 + i / 10).status(), 303);
    }
    assert_store_empty(&h);
    // The user's sign-in still completes.
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    let back = user.send_callback(&h, get(&callback_url), T0 + 60).await;
    assert_eq!(back.status(), 302, "{}", body_text(&back));
    assert!(query_of(location(&back)).contains_key("code"));
}

#[tokio::test]
async fn callback_without_the_browser_cookie_is_refused_before_any_exchange() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    let to_cybozu = browser.send(&h, approve(&sealed, &csrf), T0);
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    h.fake.clear_requests();

    // An attacker's browser (or one that dropped cookies) brings the victim's callback URL.
    let mut attacker = Browser::default();
    let response = attacker.send_callback(&h, get(&callback_url), T0).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
    assert!(
        h.fake.requests().iter().all(|r| r.path != "/oauth2/token"),
        "no code exchange"
    );
    assert_store_empty(&h);
    // A wrong cookie value fares the same.
    let mut wrong = Browser::default();
    wrong.cookies.insert(oauth::SIGNIN_COOKIE.into(), "A".repeat(43));
    assert_eq!(wrong.send_callback(&h, get(&callback_url), T0).await.status(), 403);
    assert!(
        h.fake.requests().iter().all(|r| r.path != "/oauth2/token"),
        "no code exchange"
    );
    assert_store_empty(&h);
    // The failed attempts elsewhere do not spoil the sign-in for the browser that started it.
    let back = browser.send_callback(&h, get(&callback_url), T0).await;
    assert_eq!(back.status(), 302, "{}", body_text(&back));
    assert!(query_of(location(&back)).contains_key("code"));
}

#[tokio::test]
async fn cybozu_errors_end_on_an_escaped_page_and_create_nothing() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    // prompt=consent: after the first approval the browser would skip the page.
    let start = |browser: &mut Browser| {
        let page = browser.send(&h, get(&authorize_path(&client_id, &[("prompt", "consent")])), T0);
        let (sealed, csrf) = consent_fields(&page);
        let to_cybozu = browser.send(&h, approve(&sealed, &csrf), T0);
        query_of(location(&to_cybozu))["state"].clone()
    };

    // The user denies at Cybozu: the client hears access_denied (RFC 6749 §4.1.2.1) with its
    // state and our iss; Cybozu's description is not passed on.
    let state = start(&mut browser);
    let denied =
        format!("/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={state}");
    let response = browser.send_callback(&h, get(&denied), T0).await;
    assert_eq!(response.status(), 302);
    let to_client = location(&response);
    assert!(to_client.starts_with(CLIENT_REDIRECT), "{to_client}");
    let params = query_of(to_client);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "client-state");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params["error_description"].contains("script"));
    assert_store_empty(&h);

    // Another error code, with markup in it: access_denied too, nothing of the markup passed on.
    let state = start(&mut browser);
    let odd = format!("/callback?error=%3Cimg%20src%3Dx%3Eserver_error&state={state}");
    let response = browser.send_callback(&h, get(&odd), T0).await;
    assert_eq!(response.status(), 302);
    assert!(!location(&response).contains("img"));
    assert_eq!(query_of(location(&response))["error"], "access_denied");
    assert_store_empty(&h);

    // An error with a forged state, or from another browser, goes nowhere.
    let forged = browser
        .send_callback(&h, get("/callback?error=access_denied&state=s1.AAAA"), T0)
        .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("location").is_none());
    let state = start(&mut browser);
    let elsewhere = Browser::default()
        .send_callback(&h, get(&format!("/callback?error=access_denied&state={state}")), T0)
        .await;
    assert_eq!(elsewhere.status(), 403);
    assert!(elsewhere.headers().get("location").is_none());

    // A code Cybozu refuses to exchange (invalid_grant): start again.
    let state = start(&mut browser);
    let response = browser
        .send_callback(&h, get(&format!("/callback?code=bogus&state={state}")), T0)
        .await;
    assert_eq!(response.status(), 400);
    assert_store_empty(&h);

    // Cybozu down.
    h.fake.add_fault(Fault::unavailable("/oauth2/token"));
    // Remembered approval: straight to Cybozu this time.
    let to_cybozu = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    assert_eq!(to_cybozu.status(), 302);
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    let response = browser.send_callback(&h, get(&callback_url), T0).await;
    assert_eq!(response.status(), 503);
    assert_store_empty(&h);
}

#[tokio::test]
async fn wrong_or_unknown_client_credentials_get_401_invalid_client() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let form = |id: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("client_id", id.into()),
            ("redirect_uri", CLIENT_REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    // Unknown client (e.g. registered before a key change): 401 so Claude re-registers.
    let unknown = as_refs(&form("kc1.unknown.AAAA"));
    let pairs: Vec<(&str, &str)> = unknown.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = h.token(&pairs, None, T0 + 1);
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(&response), "invalid_client");
    // A public client presenting a secret.
    let response = h.token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("client_secret", "guess"),
        ],
        None,
        T0 + 1,
    );
    assert_eq!(response.status(), 401);
    // Two authentication methods at once.
    let response = h.token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_secret", "x"),
        ],
        Some((&client_id, "y")),
        T0 + 1,
    );
    assert_eq!(response.status(), 400);
    // Malformed Basic header.
    let mut request = post_form("/token", &[("grant_type", "authorization_code"), ("code", &code)]);
    request
        .headers_mut()
        .insert("authorization", "Basic !!!".parse().unwrap());
    assert_eq!(h.provider(request, T0 + 1).status(), 401);
    // Public client via Basic with an empty password is fine.
    let response = h.token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CLIENT_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some((&client_id, "")),
        T0 + 2,
    );
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let h = Harness::start().await;
    let (client_id, code) = signed_in(&h).await;
    let tokens = json_of(&h.exchange(&client_id, &code, T0 + 1));
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // Another client cannot revoke it (and learns nothing: 200 either way).
    let other = h.register_public("Other");
    let response = h.provider(
        post_form("/revoke", &[("token", access), ("client_id", &other)]),
        T0 + 2,
    );
    assert_eq!(response.status(), 200);
    assert!(resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 2).is_ok());
    // Garbage: 200.
    assert_eq!(
        h.provider(
            post_form("/revoke", &[("token", "garbage"), ("client_id", &client_id)]),
            T0 + 2
        )
        .status(),
        200
    );
    // Missing token: 400; unknown client: 401.
    assert_eq!(
        h.provider(post_form("/revoke", &[("client_id", &client_id)]), T0 + 2)
            .status(),
        400
    );
    assert_eq!(
        h.provider(
            post_form("/revoke", &[("token", access), ("client_id", "nope")]),
            T0 + 2
        )
        .status(),
        401
    );
    // The owner revokes with the access token hint: everything goes.
    let response = h.provider(
        post_form(
            "/revoke",
            &[
                ("token", access),
                ("token_type_hint", "access_token"),
                ("client_id", &client_id),
            ],
        ),
        T0 + 3,
    );
    assert_eq!(response.status(), 200);
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 4),
        Err(AuthError::Revoked)
    ));
    assert_eq!(error_of(&h.refresh(&client_id, refresh, T0 + 4)), "invalid_grant");
    assert_no_grant_left(&h);
}

#[tokio::test]
async fn html_in_client_name_is_escaped_on_the_consent_page() {
    let h = Harness::start().await;
    let client_id = h.register_public("<img src=x onerror=alert(1)>\"Evil\" & co");
    let mut browser = Browser {
        accept_language: Some("ja,en;q=0.5".into()),
        ..Default::default()
    };
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let html = body_text(&page);
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("kintone へのアクセスを許可しますか"));
    assert!(html.contains(CLIENT_REDIRECT), "the full redirect URI is shown");
    assert!(
        html.contains("と名乗るアプリケーション"),
        "the name is shown as the client's claim"
    );
    assert!(html.contains("127.0.0.1"), "kintone host shown");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("default-src 'none'"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("__Host-kmcp-csrf=") && set_cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn client_names_with_bidi_or_zero_width_characters_are_refused_at_registration() {
    let h = Harness::start().await;
    for name in [
        "Claude\u{202E}lanigiro",
        "Cla\u{200B}ude",
        "\u{2067}Claude",
        "Claude\u{FEFF}",
    ] {
        let body = serde_json::json!({ "client_name": name, "redirect_uris": [CLIENT_REDIRECT] });
        let response = h.provider(post_json("/register", &body), T0);
        assert_eq!(response.status(), 400, "{name:?}");
        assert_eq!(error_of(&response), "invalid_client_metadata");
        assert!(json_of(&response)["error_description"]
            .as_str()
            .unwrap()
            .contains("client_name"));
    }
    // Ordinary names in any script still register.
    assert_eq!(
        h.provider(
            post_json(
                "/register",
                &serde_json::json!({ "client_name": "サイボウズ連携 (ベータ)", "redirect_uris": [CLIENT_REDIRECT] })
            ),
            T0
        )
        .status(),
        201
    );
    assert_store_empty(&h);
}

#[tokio::test]
async fn the_consent_page_lists_only_the_scopes_asked_for() {
    let h = Harness::start().await;
    let client_id = h.register_public("Reader");
    let mut browser = Browser::default();
    let page = browser.send(
        &h,
        get(&authorize_path(&client_id, &[("scope", "k:app_record:read claudeai")])),
        T0,
    );
    let html = body_text(&page);
    assert!(html.contains("Read records and comments"));
    assert!(!html.contains("Upload files"));
    let (sealed, csrf) = consent_fields(&page);
    let to_cybozu = browser.send(&h, approve(&sealed, &csrf), T0);
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    let back = browser.send_callback(&h, get(&callback_url), T0).await;
    let code = query_of(location(&back))["code"].clone();
    let tokens = json_of(&h.exchange(&client_id, &code, T0));
    assert_eq!(tokens["scope"], "k:app_record:read");
    let session = resolve_bearer(&h.kv, &h.config, tokens["access_token"].as_str().unwrap(), MCP, T0).unwrap();
    assert!(session.require(grants::Scope::AppRecordWrite.into()).is_err());
}

#[tokio::test]
async fn malformed_token_requests_get_precise_errors() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    assert_eq!(
        error_of(&h.token(&[("client_id", &client_id)], None, T0)),
        "invalid_request"
    );
    assert_eq!(
        error_of(&h.token(&[("grant_type", "password"), ("client_id", &client_id)], None, T0)),
        "unsupported_grant_type"
    );
    assert_eq!(
        error_of(&h.token(
            &[("grant_type", "authorization_code"), ("client_id", &client_id)],
            None,
            T0
        )),
        "invalid_request"
    );
    assert_eq!(
        error_of(&h.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "kac_nonsense"),
                ("client_id", &client_id)
            ],
            None,
            T0
        )),
        "invalid_grant"
    );
    let json = post_json("/token", &serde_json::json!({"grant_type": "authorization_code"}));
    assert_eq!(error_of(&h.provider(json, T0)), "invalid_request");
    let duplicated = http::Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=refresh_token&grant_type=authorization_code&client_id={client_id}").into_bytes())
        .unwrap();
    assert_eq!(error_of(&h.provider(duplicated, T0)), "invalid_request");
    assert_store_empty(&h);
}
