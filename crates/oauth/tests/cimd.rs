//! Client ID Metadata Documents through the handlers: Claude's documented client (its client_id
//! URL and callback) signs in, refreshes and is remembered; bad documents and disallowed origins
//! are refused before any redirect, with nothing stored and nothing fetched from elsewhere.

mod support;

use grants::CimdPolicy;
use oauth::{handle_provider, Request, Response};
use platform::{HttpClient, OutboundError};
use std::cell::RefCell;
use support::*;

const CLAUDE: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";

/// Serves client metadata documents by URL and records every request.
struct Documents {
    documents: RefCell<Vec<(String, String)>>,
    requests: RefCell<Vec<String>>,
}

impl Documents {
    fn new(documents: &[(&str, serde_json::Value)]) -> Self {
        Documents {
            documents: RefCell::new(documents.iter().map(|(u, d)| (u.to_string(), d.to_string())).collect()),
            requests: RefCell::new(vec![]),
        }
    }
}

impl HttpClient for Documents {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let url = request.uri().to_string();
        self.requests.borrow_mut().push(url.clone());
        match self.documents.borrow().iter().find(|(u, _)| *u == url) {
            Some((_, body)) => Ok(http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("cache-control", "max-age=3600")
                .body(body.clone().into_bytes())
                .unwrap()),
            None => Ok(http::Response::builder().status(404).body(vec![]).unwrap()),
        }
    }
}

fn claude_document() -> serde_json::Value {
    serde_json::json!({
        "client_id": CLAUDE,
        "client_name": "Claude",
        "client_uri": "https://claude.ai",
        "redirect_uris": [CALLBACK, "https://claude.com/api/mcp/auth_callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

fn policy() -> CimdPolicy {
    CimdPolicy::allowing(&["https://claude.ai", "https://chatgpt.com"])
}

async fn provider(
    h: &Harness,
    docs: &Documents,
    browser: Option<&mut Browser>,
    request: Request,
    now: u64,
) -> Response {
    match browser {
        Some(b) => {
            let response = handle_provider(&h.config, &policy(), &h.kv, docs, &b.prepare(request), now).await;
            b.absorb(&response);
            response
        }
        None => handle_provider(&h.config, &policy(), &h.kv, docs, &request, now).await,
    }
}

fn claude_authorize() -> String {
    authorize_path(CLAUDE, &[("redirect_uri", CALLBACK), ("scope", "")])
}

#[tokio::test]
async fn claudes_documented_client_signs_in_with_its_metadata_url() {
    let h = Harness::start().await;
    let docs = Documents::new(&[(CLAUDE, claude_document())]);
    let metadata = json_of(&provider(&h, &docs, None, get("/.well-known/oauth-authorization-server"), T0).await);
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert!(metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "none"));
    assert!(
        metadata["registration_endpoint"].is_string(),
        "registration stays for other clients"
    );

    let mut browser = Browser::default();
    let page = provider(&h, &docs, Some(&mut browser), get(&claude_authorize()), T0).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    let html = body_text(&page);
    let h1 = html.find("<h1>").unwrap();
    assert!(
        html[h1..].starts_with("<h1><span class=\"verified-host\">claude.ai</span> wants access to kintone</h1>"),
        "{html}"
    );
    assert!(
        html.contains("which says its name is “<strong class=\"client\">Claude</strong>”"),
        "{html}"
    );
    assert!(html.contains(CALLBACK));
    assert_eq!(docs.requests.borrow().as_slice(), [CLAUDE]);

    let (sealed, csrf) = consent_fields(&page);
    let to_cybozu = provider(&h, &docs, Some(&mut browser), approve(&sealed, &csrf), T0).await;
    assert_eq!(to_cybozu.status(), 303, "{}", body_text(&to_cybozu));
    let callback_url = h.follow_cybozu(location(&to_cybozu)).await;
    let back = browser.send_callback(&h, get(&callback_url), T0).await;
    assert_eq!(back.status(), 302, "{}", body_text(&back));
    assert!(location(&back).starts_with(CALLBACK), "{}", location(&back));
    let code = query_of(location(&back))["code"].clone();

    let exchange = post_form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLAUDE),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
            ("resource", MCP),
        ],
    );
    let tokens = provider(&h, &docs, None, exchange, T0 + 5).await;
    assert_eq!(tokens.status(), 200, "{}", body_text(&tokens));
    let tokens = json_of(&tokens);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshed = provider(
        &h,
        &docs,
        None,
        post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", CLAUDE),
            ],
        ),
        T0 + 60,
    )
    .await;
    assert_eq!(refreshed.status(), 200, "{}", body_text(&refreshed));
    // Another client id cannot use Claude's tokens.
    let other = provider(
        &h,
        &docs,
        None,
        post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &h.register_public("x")),
            ],
        ),
        T0 + 61,
    )
    .await;
    assert_eq!(other.status(), 400);

    // Claude reconnecting: the approval is remembered for this URL client id, no consent page,
    // and the document comes from the cache.
    let again = provider(&h, &docs, Some(&mut browser), get(&claude_authorize()), T0 + 120).await;
    assert_eq!(again.status(), 302, "{}", body_text(&again));
    assert!(location(&again).contains("/oauth2/authorization?"));
    assert_eq!(docs.requests.borrow().len(), 1, "fetched once, cached since");
    // Only one cache key besides the grant's records.
    assert_eq!(h.store_keys().iter().filter(|k| k.starts_with("cimd:")).count(), 1);
}

#[tokio::test]
async fn the_japanese_consent_page_leads_with_the_verified_host() {
    let h = Harness::start().await;
    let docs = Documents::new(&[(CLAUDE, claude_document())]);
    let mut browser = Browser {
        accept_language: Some("ja".into()),
        ..Browser::default()
    };
    let page = provider(&h, &docs, Some(&mut browser), get(&claude_authorize()), T0).await;
    let html = body_text(&page);
    assert!(
        html.contains("<h1><span class=\"verified-host\">claude.ai</span> が kintone へのアクセスを求めています</h1>"),
        "{html}"
    );
    assert!(
        html.contains("自称「<strong class=\"client\">Claude</strong>」"),
        "{html}"
    );
    assert!(html.contains("アプリケーション自身の申告"));
}

#[tokio::test]
async fn unusable_documents_get_an_error_page_before_any_redirect() {
    let h = Harness::start().await;
    let mut wrong_id = claude_document();
    wrong_id["client_id"] = "https://claude.ai/oauth/someone-else".into();
    let docs = Documents::new(&[(CLAUDE, wrong_id)]);
    for (what, client_id, redirect, fetches) in [
        ("wrong client_id inside", CLAUDE, CALLBACK, 1),
        ("document missing", "https://claude.ai/oauth/missing", CALLBACK, 1),
        (
            "disallowed origin",
            "https://evil.example/client",
            "https://evil.example/cb",
            0,
        ),
        (
            "plain http",
            "http://claude.ai/oauth/mcp-oauth-client-metadata",
            CALLBACK,
            0,
        ),
    ] {
        docs.requests.borrow_mut().clear();
        let page = provider(
            &h,
            &docs,
            None,
            get(&authorize_path(client_id, &[("redirect_uri", redirect)])),
            T0,
        )
        .await;
        assert_eq!(page.status(), 400, "{what}");
        assert!(page.headers().get("location").is_none(), "{what}");
        assert!(
            body_text(&page).contains("Cannot verify the application"),
            "{what}: {}",
            body_text(&page)
        );
        assert_eq!(docs.requests.borrow().len(), fetches, "{what}");
        assert_store_empty(&h);
    }
    // A redirect URI the document does not list: no redirect either.
    let docs = Documents::new(&[(CLAUDE, claude_document())]);
    let page = provider(
        &h,
        &docs,
        None,
        get(&authorize_path(
            CLAUDE,
            &[("redirect_uri", "https://claude.ai/elsewhere")],
        )),
        T0,
    )
    .await;
    assert_eq!(page.status(), 400);
    assert!(page.headers().get("location").is_none());
    // At /token, an unusable document is invalid_client.
    let docs = Documents::new(&[]);
    let token = provider(
        &h,
        &docs,
        None,
        post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "https://claude.ai/oauth/missing"),
            ],
        ),
        T0,
    )
    .await;
    assert_eq!(token.status(), 401);
    assert_eq!(json_of(&token)["error"], "invalid_client");
}
