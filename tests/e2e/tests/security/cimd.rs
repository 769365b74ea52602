//! Security regressions: Client ID Metadata Documents (issue 12). A `client_id` that is an https
//! URL is fetched only from an allowed origin, over https, without following redirects, within
//! 5 KiB and 3 seconds, and used only when it names itself and lists the redirect URI. Every
//! refusal is an error page before any redirect, changes nothing in the store, and makes no
//! request to a disallowed origin (the test host enforces allowed_outbound_hosts as Spin does).

use super::*;
use e2e::cimd_origin::{self, Answer, CimdOrigin};
use e2e::signin::CLIENT_REDIRECT_URI;
use std::time::{Duration, Instant};

/// `GET /authorize` for `client_id` with a well-formed PKCE request.
async fn authorize(app: &App, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("resource", &app.url("/mcp")),
        ])
        .finish();
    let client = e2e::http_client();
    client
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap()
}

/// The request is refused with the "cannot verify" page, no redirect, the store as it was.
async fn assert_refused(app: &App, client_id: &str, redirect_uri: &str, what: &str) {
    let before = snapshot(app);
    let response = authorize(app, client_id, redirect_uri).await;
    assert_eq!(response.status(), 400, "{what}");
    assert!(response.headers().get("location").is_none(), "{what}: redirected");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Cannot verify the application") || body.contains("Return address mismatch"),
        "{what}: {body}"
    );
    assert_eq!(snapshot(app), before, "{what}: the store changed");
}

async fn origin_and_app() -> (CimdOrigin, App) {
    let origin = CimdOrigin::start().await.unwrap();
    let app = cimd_origin::start_app(&origin).await.unwrap();
    (origin, app)
}

#[tokio::test]
async fn a_document_that_is_not_json_is_refused() {
    let (origin, app) = origin_and_app().await;
    let mut answer = Answer::json(&serde_json::json!({}));
    answer.body = b"<html>not a document</html>".to_vec();
    origin.serve("/client", answer);
    assert_refused(&app, &origin.url("/client"), CLIENT_REDIRECT_URI, "not JSON").await;
    assert_eq!(origin.requests(), ["/client"]);
}

#[tokio::test]
async fn a_document_naming_another_client_id_is_refused() {
    let (origin, app) = origin_and_app().await;
    let other = origin.url("/someone-else");
    origin.serve(
        "/client",
        Answer::json(&cimd_origin::document(&other, "Impostor", &[CLIENT_REDIRECT_URI])),
    );
    assert_refused(
        &app,
        &origin.url("/client"),
        CLIENT_REDIRECT_URI,
        "wrong client_id inside",
    )
    .await;
    // A trailing slash is another URL, not the same one.
    let slash = format!("{}/", origin.url("/client"));
    origin.serve(
        "/client2",
        Answer::json(&cimd_origin::document(&slash, "Impostor", &[CLIENT_REDIRECT_URI])),
    );
    assert_refused(
        &app,
        &origin.url("/client2"),
        CLIENT_REDIRECT_URI,
        "client_id differs by a slash",
    )
    .await;
}

#[tokio::test]
async fn a_redirect_uri_the_document_does_not_list_is_refused() {
    let (origin, app) = origin_and_app().await;
    let client_id = origin.url("/client");
    origin.serve(
        "/client",
        Answer::json(&cimd_origin::document(&client_id, "Listed", &[CLIENT_REDIRECT_URI])),
    );
    // The document is valid: the first, listed request caches it.
    assert_eq!(authorize(&app, &client_id, CLIENT_REDIRECT_URI).await.status(), 200);
    for unlisted in [
        "https://evil.example/cb",
        "http://127.0.0.1:1/e2e/callback/other",
        "http://localhost:1/e2e/callback",
    ] {
        assert_refused(&app, &client_id, unlisted, unlisted).await;
    }
    assert_eq!(origin.requests(), ["/client"], "fetched once, then from the cache");
}

#[tokio::test]
async fn an_oversized_document_is_refused_unread() {
    let (origin, app) = origin_and_app().await;
    let client_id = origin.url("/client");
    let mut document = cimd_origin::document(&client_id, "Big", &[CLIENT_REDIRECT_URI]);
    document["padding"] = "x".repeat(6 * 1024).into();
    origin.serve("/client", Answer::json(&document));
    assert_refused(&app, &client_id, CLIENT_REDIRECT_URI, "6 KiB").await;
}

#[tokio::test]
async fn a_slow_origin_is_given_up_on_within_seconds() {
    let (origin, app) = origin_and_app().await;
    let client_id = origin.url("/client");
    origin.serve(
        "/client",
        Answer::json(&cimd_origin::document(&client_id, "Slow", &[CLIENT_REDIRECT_URI]))
            .delayed(Duration::from_secs(8)),
    );
    let started = Instant::now();
    assert_refused(&app, &client_id, CLIENT_REDIRECT_URI, "slow").await;
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_redirect_from_the_document_url_is_not_followed() {
    let (origin, app) = origin_and_app().await;
    let client_id = origin.url("/client");
    let target = origin.url("/moved");
    origin.serve(
        "/moved",
        Answer::json(&cimd_origin::document(&client_id, "Moved", &[CLIENT_REDIRECT_URI])),
    );
    origin.serve("/client", Answer::status(302, &[("location", target.as_str())]));
    assert_refused(&app, &client_id, CLIENT_REDIRECT_URI, "302").await;
    assert_eq!(origin.requests(), ["/client"], "the Location was not fetched");
}

#[tokio::test]
async fn a_non_https_client_id_is_refused_without_a_request() {
    let (origin, app) = origin_and_app().await;
    let client_id = origin.url("/client");
    origin.serve(
        "/client",
        Answer::json(&cimd_origin::document(&client_id, "Plain", &[CLIENT_REDIRECT_URI])),
    );
    let plain = client_id.replacen("https://", "http://", 1);
    assert_refused(&app, &plain, CLIENT_REDIRECT_URI, "http client_id").await;
    for bad in [
        format!("{}#x", client_id),
        client_id.replace("/client", "/a/../client"),
        origin.origin.clone(),
    ] {
        assert_refused(&app, &bad, CLIENT_REDIRECT_URI, &bad).await;
    }
    assert!(origin.requests().is_empty(), "{:?}", origin.requests());
}

#[tokio::test]
async fn a_disallowed_origin_is_never_contacted() {
    let (allowed, app) = origin_and_app().await;
    let other = CimdOrigin::start().await.unwrap();
    let client_id = other.url("/client");
    other.serve(
        "/client",
        Answer::json(&cimd_origin::document(&client_id, "Elsewhere", &[CLIENT_REDIRECT_URI])),
    );
    assert_refused(&app, &client_id, CLIENT_REDIRECT_URI, "origin not in cimd_origin_*").await;
    // Not at /authorize, and not at /token either.
    let token = signin::post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client_id),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(token.status, 401);
    assert_eq!(token.error(), Some("invalid_client"));
    assert!(
        other.requests().is_empty(),
        "the disallowed origin was contacted: {:?}",
        other.requests()
    );
    assert!(allowed.requests().is_empty());
}
