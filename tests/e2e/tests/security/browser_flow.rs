//! Security regressions: the browser part of the sign-in (issue 11: M2, M3, L4, and Cybozu's
//! refusals going back to the client). See the index in `security.rs`.

use super::*;
use e2e::browser::{query_of, Browser};
use e2e::signin::{Consent, Flow, CLIENT_REDIRECT_URI};
use futures_util::future::join_all;
use serde_json::json;

/// M2: the consent POST once wrote a pending record per replay into a 64-slot table, evicting
/// the oldest live sign-in. Now the pending sign-in is sealed into the upstream `state`: replays
/// store nothing and a real sign-in at Cybozu's page meanwhile completes.
#[tokio::test]
async fn replaying_the_approve_post_500_times_stores_nothing_and_a_real_sign_in_completes() {
    let app = App::start().await.unwrap();
    // A real user approves and is now at Cybozu's sign-in page.
    let mut user = Flow::new(&app, "/mcp").await.unwrap();
    let consent = user.consent().await.unwrap();
    let to_cybozu = user.approve(&consent).await.unwrap();

    // Someone replays their own approval (form fields and CSRF cookie) 500 times.
    let mut attacker = Flow::new(&app, "/mcp").await.unwrap();
    let form = attacker.consent().await.unwrap();
    let before = snapshot(&app);
    let http = e2e::http_client();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("request", form.request.as_str()),
            ("csrf_token", form.csrf_token.as_str()),
            ("decision", "approve"),
        ])
        .finish();
    let replay = || {
        http.post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("__Host-kmcp-csrf={}", form.csrf_token))
            .body(body.clone())
            .send()
    };
    for batch in 0..50 {
        let answers = join_all((0..10).map(|_| replay())).await;
        for answer in answers {
            let status = answer.unwrap().status().as_u16();
            assert_eq!(status, 303, "replay batch {batch}");
        }
    }
    assert_eq!(before, snapshot(&app), "replayed approvals changed the store");
    assert!(
        kv_store::keys(&app).unwrap().is_empty(),
        "a sign-in in progress stores nothing"
    );

    // The user's sign-in finishes and works.
    let callback = user.cybozu_sign_in(&to_cybozu, "alice").await.unwrap();
    let redirected = user.callback(&callback).await.unwrap();
    let code = redirected.params.get("code").expect("a code for the client").clone();
    user.user = Some("alice".into());
    let tokens = user.exchange(&code).await.unwrap();
    assert_eq!(tools_list(&app, "/mcp", Some(&tokens.bearer()), "").await.status(), 200);
}

/// M3: a remembered approval once skipped consent for any client with the same metadata, any
/// scope and any resource. Now it covers one client id and redirect URI, one resource, the
/// scopes approved.
#[tokio::test]
async fn a_remembered_approval_covers_only_its_client_id_resource_and_scopes() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    flow.scope = Some("k:app_record:read".into());
    let consent = flow.consent().await.unwrap();
    flow.approve(&consent).await.unwrap();
    let before = snapshot(&app);

    // Same client, resource and scopes: remembered, straight to Cybozu.
    let page = flow.open_authorize(&[]).await.unwrap();
    assert_eq!(page.status, 302, "the approval is remembered");
    assert!(page
        .redirect()
        .unwrap()
        .as_str()
        .starts_with(&format!("{}/oauth2/authorization?", app.fake_base_url)));

    // A scope not yet approved, another resource: the page again.
    let write = flow
        .open_authorize(&[("scope", "k:app_record:read k:app_record:write")])
        .await
        .unwrap();
    assert_eq!(write.status, 200, "a write scope was never approved");
    assert!(write.body.contains("k:app_record:write"));
    let sse = app.url("/sse");
    assert_eq!(
        flow.open_authorize(&[("resource", &sse)]).await.unwrap().status,
        200,
        "another resource"
    );
    // The same loopback client on another port (another local program): the page again.
    let other_port = flow
        .open_authorize(&[("redirect_uri", "http://127.0.0.1:2/e2e/callback")])
        .await
        .unwrap();
    assert_eq!(other_port.status, 200, "another redirect URI");

    // Another client id with identical metadata, in the same browser: the page again.
    let twin = signin::register_public(&app, "e2e MCP client").await.unwrap();
    assert_ne!(twin.client_id, flow.client.client_id);
    let mut twin_flow = Flow::with_client(&app, flow.discovery.clone(), twin).unwrap();
    twin_flow.scope = flow.scope.clone();
    twin_flow.browser = std::mem::take(&mut flow.browser);
    assert_eq!(
        twin_flow.open_authorize(&[]).await.unwrap().status,
        200,
        "consent belongs to a client id"
    );
    assert_eq!(before, snapshot(&app), "asking changed the store");
}

/// L4: the page once showed only the redirect URI's host and the client's name as a fact; a
/// name could carry bidi controls or zero-width characters.
#[tokio::test]
async fn client_names_with_bidi_or_zero_width_characters_are_refused_at_registration() {
    let app = App::start().await.unwrap();
    for name in [
        "Claude\u{202E}lanigiro",
        "Cla\u{200B}ude",
        "\u{2067}Claude\u{2069}",
        "Claude\u{FEFF}",
    ] {
        let reply = signin::register_raw(
            &app,
            &json!({ "client_name": name, "redirect_uris": [CLIENT_REDIRECT_URI] }),
        )
        .await
        .unwrap();
        assert_eq!(
            (reply.status, reply.error()),
            (400, Some("invalid_client_metadata")),
            "{name:?}"
        );
        let description = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains("client_name"), "{description}");
    }
    assert!(kv_store::keys(&app).unwrap().is_empty());
}

#[tokio::test]
async fn the_consent_page_shows_the_full_redirect_uri_and_the_name_as_the_clients_claim() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let consent = flow.consent().await.unwrap();
    assert!(
        consent.html.contains(CLIENT_REDIRECT_URI),
        "the full redirect URI is shown"
    );
    assert!(
        consent.html.contains("says its name is"),
        "the name is the client's claim"
    );
    assert!(consent.html.contains("e2e MCP client"));
    let mut ja = Flow::new(&app, "/mcp").await.unwrap();
    ja.browser.accept_language = Some("ja".into());
    let page = Consent::parse(&ja.open_authorize(&[]).await.unwrap()).unwrap();
    assert!(page.html.contains("と名乗るアプリケーション"), "the claim in Japanese");
    assert!(page.html.contains(CLIENT_REDIRECT_URI));
}

/// A denial at Cybozu once ended on our error page; the client never heard back. Now it gets
/// `access_denied` (RFC 6749 §4.1.2.1) with its `state` and our `iss`, and nothing is created.
#[tokio::test]
async fn a_denial_at_cybozu_sends_access_denied_back_to_the_client() {
    let app = App::start().await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let consent = flow.consent().await.unwrap();
    let to_cybozu = flow.approve(&consent).await.unwrap();
    let mut endpoint = to_cybozu.clone();
    endpoint.set_query(None);
    let mut form: Vec<(String, String)> = query_of(&to_cybozu).into_iter().collect();
    form.push(("decision".into(), "deny".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let denied = flow.browser.post_form(endpoint.as_str(), &pairs).await.unwrap();
    let callback = denied.redirect().unwrap();
    assert_eq!(
        query_of(&callback).get("error").map(String::as_str),
        Some("access_denied")
    );

    let page = flow.browser.get(callback.as_str()).await.unwrap();
    assert_eq!(page.status, 302, "{}", page.body);
    let to_client = page.redirect().unwrap();
    assert!(to_client.as_str().starts_with(CLIENT_REDIRECT_URI), "{to_client}");
    let params = query_of(&to_client);
    assert_eq!(params.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(params.get("state"), Some(&flow.state));
    assert_eq!(params.get("iss"), Some(&flow.discovery.issuer));
    assert!(!params.contains_key("code"));
    assert!(kv_store::keys(&app).unwrap().is_empty(), "a denial creates nothing");

    // The same error from a browser that did not start the sign-in goes nowhere.
    let page = Browser::new().get(callback.as_str()).await.unwrap();
    assert_eq!(page.status, 403);
    assert!(page.location().is_none());
}
