//! A real browser through the sign-in: headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini), opens `/authorize`, sees the consent page, clicks approve, passes through the
//! fake Cybozu and `/callback` (with the app's `__Host-` cookies), and lands on the client's
//! loopback redirect URI — a listener this test runs — with a code that the client redeems.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test fails and says so: a skipped browser test would hide a broken sign-in. Other binaries:
//! `E2E_CHROMIUM`, `E2E_CHROMEDRIVER`.

use e2e::browser::query_of;
use e2e::signin::{self, Flow};
use e2e::App;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn binary(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`, \
         as .ci/run does) or set {variable}",
        path.display()
    );
    path
}

/// chromedriver on a free port, stopped when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Chromedriver {
        let port = e2e::free_port().unwrap();
        let child = Command::new(binary("E2E_CHROMEDRIVER", "/usr/bin/chromedriver"))
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/status", driver.url)).await {
                if r.status().is_success() {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The MCP client's loopback redirect endpoint: answers a small page and reports each query.
async fn start_client_listener() -> (String, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let handler = move |uri: axum::http::Uri| {
        let sender = sender.clone();
        async move {
            let _ = sender.send(uri.query().unwrap_or_default().to_owned());
            axum::response::Html("<!doctype html><title>Signed in</title><p>You can close this window.</p>")
        }
    };
    let router = axum::Router::new().route("/oauth/callback", axum::routing::get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/oauth/callback",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (redirect_uri, receiver)
}

#[tokio::test]
async fn chromium_signs_in_through_consent_and_cybozu_and_lands_on_the_redirect_uri_with_a_code() {
    let chromium = binary("E2E_CHROMIUM", "/usr/bin/chromium");
    let app = App::start().await.unwrap();
    let (redirect_uri, mut received) = start_client_listener().await;
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let client = signin::register(
        &app,
        &json!({ "client_name": "Browser e2e client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none" }),
    )
    .await
    .unwrap();
    let flow = Flow::with_client(&app, discovery, client).unwrap();
    let authorize_url = flow.authorize_url(&[]);

    let driver = Chromedriver::start().await;
    let profile = e2e::unique_temp_dir("kintone-mcp-chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--lang=en-US", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap();

    let outcome = async {
        browser.goto(&authorize_url).await.unwrap();
        // The consent page: our client's name, the permissions, an approve button.
        let heading = browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert!(heading.contains("kintone"), "consent heading: {heading}");
        let source = browser.source().await.unwrap();
        assert!(source.contains("Browser e2e client"), "the page names the client");
        assert!(source.contains("k:app_record:read"), "the page lists the permissions");
        browser
            .find(Locator::Css("button[name=decision][value=approve]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        // POST /authorize → Cybozu (approves as alice) → /callback → the client's redirect URI.
        let query = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("the browser reached the client's redirect URI within 30 s")
            .unwrap();
        let landed = browser.current_url().await.unwrap();
        (query, landed)
    }
    .await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (query, landed) = outcome;

    assert!(
        landed.as_str().starts_with(&redirect_uri),
        "the browser ended at {}",
        landed.path()
    );
    let params: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert_eq!(params, query_of(&landed), "the listener saw what the browser shows");
    assert_eq!(params.get("state"), Some(&flow.state));
    assert_eq!(params.get("iss"), Some(&flow.discovery.issuer));
    let code = params.get("code").expect("a code at the redirect URI");

    // The client redeems the code; the token works at /mcp.
    let tokens = flow.exchange(code).await.unwrap();
    let status = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", tokens.bearer())
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}
