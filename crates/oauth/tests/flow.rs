//! Whole flows through the handlers against the fake cybozu.com: discovery, registration,
//! consent, Cybozu sign-in, callback, token, bearer resolution, refresh, revocation.

mod support;

use grants::{refresh_session, resolve_bearer, AuthError, ExposeSecret, RefreshError, Scopes};
use oauth::{www_authenticate, Challenge, Request};
use serde_json::Value;
use support::*;

#[tokio::test]
async fn authorization_server_metadata_has_what_clients_need() {
    let h = Harness::start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = h.provider(get(path), T0);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let m = json_of(&response);
        assert_eq!(m["issuer"], ISSUER);
        assert_eq!(m["authorization_endpoint"], format!("{ISSUER}/authorize"));
        assert_eq!(m["token_endpoint"], format!("{ISSUER}/token"));
        assert_eq!(m["registration_endpoint"], format!("{ISSUER}/register"));
        assert_eq!(m["revocation_endpoint"], format!("{ISSUER}/revoke"));
        assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert!(m["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("none")));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(m["scopes_supported"].as_array().unwrap().len(), 6);
    }
}

#[tokio::test]
async fn protected_resource_metadata_names_the_url_connected_to() {
    let h = Harness::start().await;
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource", ISSUER.to_owned()),
        ("/.well-known/oauth-protected-resource/mcp", format!("{ISSUER}/mcp")),
        ("/.well-known/oauth-protected-resource/sse", format!("{ISSUER}/sse")),
    ] {
        let m = json_of(&h.provider(get(path), T0));
        assert_eq!(m["resource"], resource);
        assert_eq!(m["authorization_servers"], serde_json::json!([ISSUER]));
        assert_eq!(m["bearer_methods_supported"], serde_json::json!(["header"]));
        assert!(m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("k:app_record:read")));
    }
    assert_eq!(
        h.provider(get("/.well-known/oauth-protected-resource/other"), T0)
            .status(),
        404
    );
    assert_eq!(
        h.provider(get("/.well-known/oauth-authorization-server/mcp"), T0)
            .status(),
        404
    );
    assert_eq!(h.provider(get("/nothing"), T0).status(), 404);
}

#[tokio::test]
async fn issuer_comes_from_the_request_when_public_url_is_unset() {
    let h = Harness::start().await;
    let config = grants::Config::from_lookup(|name| match name {
        "kintone_base_url" => Some(h.fake.base_url()),
        "cybozu_client_id" => Some("kintone-mcp-test".into()),
        "cybozu_client_secret" => Some("test-secret".into()),
        "secret_key" => Some(SECRET_KEY.into()),
        _ => None,
    })
    .unwrap();
    let mut request = get("/.well-known/oauth-authorization-server");
    request.headers_mut().insert(
        "spin-full-url",
        "http://localhost:3001/.well-known/oauth-authorization-server"
            .parse()
            .unwrap(),
    );
    let m = json_of(&oauth::handle_provider_cached(&config, &h.kv, &request, T0));
    assert_eq!(m["issuer"], "http://localhost:3001");
    assert_eq!(m["token_endpoint"], "http://localhost:3001/token");
    // Without any origin information the server says what to configure.
    let response = oauth::handle_provider_cached(&config, &h.kv, &get("/.well-known/oauth-authorization-server"), T0);
    assert_eq!(response.status(), 400);
    assert!(body_text(&response).contains("public_url"));
}

#[tokio::test]
async fn cors_preflight_and_wrong_methods() {
    let h = Harness::start().await;
    let preflight: Request = http::Request::builder()
        .method("OPTIONS")
        .uri("/token")
        .body(vec![])
        .unwrap();
    let response = h.provider(preflight, T0);
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    let response = h.provider(get("/token"), T0);
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let put: Request = http::Request::builder()
        .method("PUT")
        .uri("/authorize")
        .body(vec![])
        .unwrap();
    assert_eq!(h.provider(put, T0).status(), 405);
}

#[tokio::test]
async fn full_flow_issues_working_tokens_and_stores_nothing_in_clear() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let code = h.sign_in(&mut browser, &client_id, T0).await;
    assert_eq!(
        h.store_keys().len(),
        1,
        "one pending grant (no sign-in record): {:?}",
        h.store_keys()
    );

    let response = h.exchange(&client_id, &code, T0 + 5);
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let tokens = json_of(&response);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    // `claudeai` was the only scope asked for: unknown scopes are ignored and all six granted.
    assert_eq!(tokens["scope"], Scopes::ALL.to_string());
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The endpoint's view: the token resolves to the user's kintone token, which kintone accepts.
    let session = resolve_bearer(&h.kv, &h.config, &access, MCP, T0 + 10).unwrap();
    assert_eq!(session.scopes, Scopes::ALL);
    assert_eq!(session.client_id, client_id);
    assert_eq!(h.call_kintone(&session).await, (200, Some("alice".into())));

    // Refresh rotates.
    let response = h.refresh(&client_id, &refresh, T0 + 100);
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated = json_of(&response);
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert!(resolve_bearer(&h.kv, &h.config, &access2, MCP, T0 + 101).is_ok());

    // Nothing secret is stored in clear: our code and tokens, Cybozu's tokens, the client state,
    // the CSRF token and the browser binding.
    let store = h.store_text();
    let mut secrets = vec![code.clone(), access, refresh, access2, refresh2];
    secrets.extend(h.http.cybozu_tokens());
    secrets.extend(browser.cookies.values().cloned());
    assert!(
        h.http.cybozu_tokens().len() >= 2,
        "saw Cybozu's access and refresh tokens"
    );
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(!store.contains(secret.as_str()), "found a secret in the store");
    }
    // Only the two records of one grant remain (the sign-in state was spent).
    let keys = h.store_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("g:")) && keys.iter().any(|k| k.starts_with("rt:")));
}

#[tokio::test]
async fn confidential_client_authenticates_with_its_registered_method_only() {
    let h = Harness::start().await;
    let body = serde_json::json!({
        "client_name": "Postman",
        "redirect_uris": [CLIENT_REDIRECT],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let registered = json_of(&h.provider(post_json("/register", &body), T0));
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(registered["token_endpoint_auth_method"], "client_secret_basic");

    let mut browser = Browser::default();
    let code = h.sign_in(&mut browser, &client_id, T0).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CLIENT_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // Wrong secret: 401 invalid_client with a Basic challenge; the code survives.
    let response = h.token(&form, Some((&client_id, "kcs_wrong")), T0 + 1);
    assert_eq!(response.status(), 401);
    assert_eq!(json_of(&response)["error"], "invalid_client");
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // No secret at all.
    let mut without = form.to_vec();
    without.push(("client_id", &client_id));
    assert_eq!(h.token(&without, None, T0 + 1).status(), 401);
    // The right secret in the body is refused: the client registered client_secret_basic, and
    // only the registered method is accepted (issue 11). The code survives that too.
    let mut post = without.clone();
    post.push(("client_secret", &secret));
    let response = h.token(&post, None, T0 + 2);
    assert_eq!(response.status(), 401, "{}", body_text(&response));
    assert_eq!(json_of(&response)["error"], "invalid_client");
    let response = h.token(&form, Some((&client_id, &secret)), T0 + 2);
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let refresh = json_of(&response)["refresh_token"].as_str().unwrap().to_owned();
    let response = h.token(
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&client_id, &secret)),
        T0 + 3,
    );
    assert_eq!(response.status(), 200, "{}", body_text(&response));
}

#[tokio::test]
async fn two_users_get_separate_grants_and_see_their_own_kintone() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");

    let mut alice_browser = Browser::default();
    let alice_code = h.sign_in(&mut alice_browser, &client_id, T0).await;
    let alice = json_of(&h.exchange(&client_id, &alice_code, T0 + 1));

    h.fake.set_approving_user(Some("bob")).unwrap();
    let mut bob_browser = Browser::default();
    let bob_code = h.sign_in(&mut bob_browser, &client_id, T0).await;
    let bob = json_of(&h.exchange(&client_id, &bob_code, T0 + 1));

    let alice_session = resolve_bearer(&h.kv, &h.config, alice["access_token"].as_str().unwrap(), MCP, T0 + 2).unwrap();
    let bob_session = resolve_bearer(&h.kv, &h.config, bob["access_token"].as_str().unwrap(), MCP, T0 + 2).unwrap();
    assert_ne!(alice_session.grant, bob_session.grant);
    assert_ne!(
        alice_session.kintone_access_token.expose_secret(),
        bob_session.kintone_access_token.expose_secret()
    );
    assert_eq!(h.call_kintone(&alice_session).await, (200, Some("alice".into())));
    assert_eq!(h.call_kintone(&bob_session).await, (200, Some("bob".into())));
    assert_eq!(h.store_keys().len(), 4);

    // Revoking Bob's grant leaves Alice's alone.
    let response = h.provider(
        post_form(
            "/revoke",
            &[
                ("token", bob["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        ),
        T0 + 3,
    );
    assert_eq!(response.status(), 200);
    assert!(resolve_bearer(&h.kv, &h.config, alice["access_token"].as_str().unwrap(), MCP, T0 + 4).is_ok());
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, bob["access_token"].as_str().unwrap(), MCP, T0 + 4),
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn a_remembered_approval_covers_its_client_resource_and_scopes_only() {
    let h = Harness::start().await;
    let mut browser = Browser::default();
    let client = h.register_public("claudeai");
    let read = [("scope", "k:app_record:read")];
    let page = browser.send(&h, get(&authorize_path(&client, &read)), T0);
    let (sealed, csrf) = consent_fields(&page);
    assert_eq!(browser.send(&h, approve(&sealed, &csrf), T0).status(), 303);
    assert!(browser.cookies.contains_key(oauth::APPROVED_COOKIE));

    // The same client, resource and scopes (or fewer): straight to Cybozu.
    let response = browser.send(&h, get(&authorize_path(&client, &read)), T0 + 10);
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert!(location(&response).starts_with(&format!("{}/oauth2/authorization?", h.fake.base_url())));

    // Anything else gets the page again: a write scope not yet approved, another resource,
    // another client id even with identical metadata (Claude re-registers on every connection,
    // and consent belongs to a client id), prompt=consent.
    let write = [("scope", "k:app_record:read k:app_record:write")];
    assert_eq!(
        browser
            .send(&h, get(&authorize_path(&client, &write)), T0 + 10)
            .status(),
        200,
        "one more scope"
    );
    let sse = [
        ("scope", "k:app_record:read"),
        ("resource", "http://127.0.0.1:3000/sse"),
    ];
    assert_eq!(
        browser.send(&h, get(&authorize_path(&client, &sse)), T0 + 10).status(),
        200,
        "another resource"
    );
    let again = h.register_public("claudeai");
    assert_ne!(again, client);
    assert_eq!(
        browser.send(&h, get(&authorize_path(&again, &read)), T0 + 10).status(),
        200,
        "another client id"
    );
    let forced = [("scope", "k:app_record:read"), ("prompt", "consent")];
    assert_eq!(
        browser
            .send(&h, get(&authorize_path(&client, &forced)), T0 + 10)
            .status(),
        200
    );

    // Approving the write scope adds it: both now skip the page.
    let page = browser.send(&h, get(&authorize_path(&client, &write)), T0 + 20);
    let (sealed, csrf) = consent_fields(&page);
    assert_eq!(browser.send(&h, approve(&sealed, &csrf), T0 + 20).status(), 303);
    assert_eq!(
        browser
            .send(&h, get(&authorize_path(&client, &write)), T0 + 30)
            .status(),
        302
    );
    assert_eq!(
        browser.send(&h, get(&authorize_path(&client, &read)), T0 + 30).status(),
        302
    );

    // A forged approval cookie is ignored.
    let mut forger = Browser::default();
    forger
        .cookies
        .insert(oauth::APPROVED_COOKIE.into(), "eyJhIjpbXX0.AAAA".into());
    assert_eq!(
        forger.send(&h, get(&authorize_path(&client, &read)), T0 + 10).status(),
        200
    );
}

#[tokio::test]
async fn the_upstream_request_carries_the_six_scopes_and_a_sealed_state() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    let response = browser.send(&h, approve(&sealed, &csrf), T0);
    let url = location(&response);
    assert!(url.contains("scope=k%3Aapp_record%3Aread%20k%3Aapp_record%3Awrite%20k%3Aapp_settings%3Aread%20k%3Aapp_settings%3Awrite%20k%3Afile%3Aread%20k%3Afile%3Awrite"), "{url}");
    let params = query_of(url);
    assert_eq!(params["client_id"], "kintone-mcp-test");
    assert_eq!(params["redirect_uri"], format!("{ISSUER}/callback"));
    assert_eq!(params["response_type"], "code");
    // The state is opaque (the request sealed), well under a kilobyte, and nothing is stored.
    assert!(params["state"].starts_with("s1."));
    assert!(!params["state"].contains("client") && !params["state"].contains(&client_id));
    assert!(params["state"].len() < 1024, "{}", params["state"].len());
    assert_store_empty(&h);
    // The CSRF cookie is spent; the binding cookie is set.
    assert!(!browser.cookies.contains_key(oauth::CSRF_COOKIE));
    assert!(browser.cookies.contains_key(oauth::SIGNIN_COOKIE));
}

#[tokio::test]
async fn denied_consent_returns_access_denied_to_the_client_and_creates_nothing() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let page = browser.send(&h, get(&authorize_path(&client_id, &[])), T0);
    let (sealed, csrf) = consent_fields(&page);
    let response = browser.send(
        &h,
        post_form(
            "/authorize",
            &[("request", &sealed), ("csrf_token", &csrf), ("decision", "deny")],
        ),
        T0,
    );
    assert_eq!(response.status(), 303);
    let params = query_of(location(&response));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "client-state");
    assert_eq!(params["iss"], ISSUER);
    assert_store_empty(&h);
}

#[tokio::test]
async fn endpoint_refreshes_the_kintone_token_through_cybozu() {
    let h = Harness::start().await;
    let client_id = h.register_public("MCP CLI Client");
    let mut browser = Browser::default();
    let code = h.sign_in(&mut browser, &client_id, T0).await;
    let tokens = json_of(&h.exchange(&client_id, &code, T0));
    let access = tokens["access_token"].as_str().unwrap();
    let session = resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 1).unwrap();

    // kintone says 401 CB_OA01: refresh at Cybozu, store, retry works.
    h.fake.expire_access_tokens();
    assert_eq!(h.call_kintone(&session).await.0, 401);
    let fresh = refresh_session(&h.kv, &h.config, &h.http, &session, T0 + 2)
        .await
        .unwrap();
    assert_ne!(
        fresh.kintone_access_token.expose_secret(),
        session.kintone_access_token.expose_secret()
    );
    assert_eq!(h.call_kintone(&fresh).await, (200, Some("alice".into())));
    // The next request resolves to the refreshed token with one read.
    let next = resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 3).unwrap();
    assert_eq!(
        next.kintone_access_token.expose_secret(),
        fresh.kintone_access_token.expose_secret()
    );
    assert!(!h.store_text().contains(fresh.kintone_access_token.expose_secret()));

    // The administrator removes the user: Cybozu answers invalid_grant, the grant is revoked,
    // and the endpoint's next resolve fails so the client signs in again.
    h.fake.revoke_refresh_tokens("alice").unwrap();
    h.fake.expire_access_tokens();
    assert!(matches!(
        refresh_session(&h.kv, &h.config, &h.http, &next, T0 + 4).await,
        Err(RefreshError::GrantRevoked)
    ));
    assert_no_grant_left(&h);
    assert!(matches!(
        resolve_bearer(&h.kv, &h.config, access, MCP, T0 + 5),
        Err(AuthError::Revoked)
    ));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        json_of(&h.refresh(&client_id, refresh, T0 + 6))["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_challenge_points_clients_at_the_path_inserted_metadata() {
    let header = www_authenticate(ISSUER, "/mcp", &Challenge::MissingToken);
    assert!(header.starts_with(&format!(
        "Bearer resource_metadata=\"{ISSUER}/.well-known/oauth-protected-resource/mcp\""
    )));
    // The document it names exists and says the same resource.
    let h = Harness::start().await;
    let m = json_of(&h.provider(get("/.well-known/oauth-protected-resource/mcp"), T0));
    assert_eq!(m["resource"], MCP);
}
