//! An independent OAuth client, the `rmcp` crate's, against the app: it discovers (RFC 9728 and
//! RFC 8414 metadata), registers (RFC 7591), builds the PKCE S256 authorization URL with the
//! resource; the test plays the person: it posts our consent form and follows the redirects
//! through the fake Cybozu and `/callback` to the client's loopback redirect URI; rmcp then
//! checks `state` and `iss`, exchanges the code, refreshes, and lists tools over Streamable HTTP.

use e2e::browser::{query_of, Browser};
use e2e::signin::Consent;
use e2e::App;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;

const REDIRECT_URI: &str = "http://127.0.0.1:8976/rmcp/callback";

#[tokio::test]
async fn rmcp_oauth_client_signs_in_exchanges_refreshes_and_lists_tools() {
    let app = App::start().await.unwrap();
    let mcp_url = app.url("/mcp");

    // rmcp: discovery and dynamic registration, then the authorization URL.
    let mut oauth = OAuthState::new(mcp_url.as_str(), None).await.unwrap();
    oauth
        .start_authorization(AuthorizationRequest::new(REDIRECT_URI).with_client_name("rmcp e2e client"))
        .await
        .unwrap();
    let authorization_url = url::Url::parse(&oauth.get_authorization_url().await.unwrap()).unwrap();
    assert!(
        authorization_url.as_str().starts_with(&app.url("/authorize?")),
        "{authorization_url}"
    );
    let params = query_of(&authorization_url);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["resource"], mcp_url);
    assert_eq!(params["redirect_uri"], REDIRECT_URI);
    assert!(
        params["client_id"].starts_with("kc1."),
        "a client id issued by our /register"
    );

    // The person: consent page, approve, Cybozu (the fake approves as alice), our /callback.
    let mut browser = Browser::new();
    let page = browser.get(authorization_url.as_str()).await.unwrap();
    let consent = Consent::parse(&page).unwrap();
    assert!(
        consent.html.contains("rmcp e2e client"),
        "the consent page names the client"
    );
    let approved = browser
        .post_form(
            &app.url("/authorize"),
            &[
                ("request", &consent.request),
                ("csrf_token", &consent.csrf_token),
                ("decision", "approve"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(approved.status, 303);
    let mut next = approved.redirect().unwrap();
    let mut hops = 0;
    while !next.as_str().starts_with(REDIRECT_URI) {
        hops += 1;
        assert!(hops <= 3, "too many redirects, at {}", next.path());
        let page = browser.get(next.as_str()).await.unwrap();
        next = page.redirect().unwrap();
    }
    assert_eq!(hops, 2, "Cybozu, then /callback");
    let back = query_of(&next);
    assert_eq!(back["iss"], app.base_url);
    assert!(back.contains_key("code") && back.contains_key("state"));

    // rmcp: checks state and iss, exchanges the code.
    oauth.handle_callback_url(next.as_str()).await.unwrap();
    let manager = oauth
        .into_authorization_manager()
        .expect("authorized after the callback");
    let (client_id, first) = manager.get_credentials().await.unwrap();
    assert_eq!(client_id, params["client_id"]);
    let first = first.expect("tokens after the exchange");
    // (The token response as the JSON it came from: rmcp does not re-export oauth2's accessors.)
    let first = serde_json::to_value(&first).unwrap();
    let first_access = first["access_token"].as_str().unwrap().to_owned();
    let first_refresh = first["refresh_token"].as_str().expect("a refresh token").to_owned();
    assert_eq!(first["expires_in"], 3600);

    // rmcp: refresh rotates both tokens.
    let second = serde_json::to_value(manager.refresh_token().await.unwrap()).unwrap();
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("a rotated refresh token")
        .to_owned();
    assert_ne!(second_access, first_access);
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(manager.get_access_token().await.unwrap(), second_access);

    // rmcp's MCP client with its OAuth: tools/list over Streamable HTTP with the new token.
    let auth_client = AuthClient::new(reqwest13::Client::default(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        auth_client,
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "getRecords"),
        "{:?}",
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
    );
    client.cancel().await.unwrap();
}
