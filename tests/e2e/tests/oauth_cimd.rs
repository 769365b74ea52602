//! Client ID Metadata Documents through the wasm app: a client whose `client_id` is an https URL
//! (served from a loopback origin with a test CA, trusted through the runtime config's
//! `[[client_tls]]`) signs in, calls a tool, refreshes and reconnects without a second consent;
//! the exact metadata and first `/authorize` exchange Claude's documented client sees; and a real
//! CIMD client from the npm registry (the TypeScript MCP SDK, `clientMetadataUrl`) signing in.
//!
//! Claude's real document lives at `https://claude.ai/oauth/mcp-oauth-client-metadata`; no test
//! can serve claude.ai, and neither Spin nor the test host can resolve that name to loopback, so
//! the document is served at the same path on the loopback origin (with Claude's real callback,
//! `https://claude.ai/api/mcp/auth_callback`). The crate test `crates/oauth/tests/cimd.rs` runs the
//! same exchange with the literal claude.ai client id.

use e2e::cimd_origin::{self, Answer, CimdOrigin};
use e2e::kv_store;
use e2e::mcp_client::McpClient;
use e2e::signin::{self, Consent, Flow, CLIENT_REDIRECT_URI};
use serde_json::Value;

#[tokio::test]
async fn a_metadata_document_client_signs_in_calls_a_tool_refreshes_and_is_remembered() {
    let origin = CimdOrigin::start().await.unwrap();
    let app = cimd_origin::start_app(&origin).await.unwrap();
    let client_id = origin.url("/oauth/client.json");
    origin.serve(
        "/oauth/client.json",
        Answer::json(&cimd_origin::document(
            &client_id,
            "e2e CIMD client",
            &[CLIENT_REDIRECT_URI],
        )),
    );

    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let mut flow = Flow::with_client(&app, discovery, cimd_origin::client(&client_id, CLIENT_REDIRECT_URI)).unwrap();
    let consent = Consent::parse(&flow.open_authorize(&[]).await.unwrap()).unwrap();
    let heading = format!(
        "<span class=\"verified-host\">{}</span> wants access to kintone",
        origin.authority()
    );
    assert!(consent.html.contains(&heading), "{}", consent.html);
    assert!(consent
        .html
        .contains("“<strong class=\"client\">e2e CIMD client</strong>”"));
    let to_cybozu = flow.approve(&consent).await.unwrap();
    let callback = flow.cybozu_sign_in(&to_cybozu, "alice").await.unwrap();
    let code = flow.callback(&callback).await.unwrap().params["code"].clone();
    flow.user = Some("alice".into());
    let tokens = flow.exchange(&code).await.unwrap();

    let mcp = McpClient::new(&app, &tokens);
    let tools = mcp.list_tools().await.unwrap();
    assert!(tools.iter().any(|t| t["name"] == "getRecords"), "{} tools", tools.len());
    let records = mcp
        .call("getRecords", serde_json::json!({"appId": 1, "limit": 1}))
        .await
        .unwrap();
    assert!(!records.is_error(), "{}", records.text());

    let refreshed = signin::refresh(&app, &tokens).await.unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);

    // Reconnecting with the same scopes: no consent page, and the document from the cache.
    let again = flow.open_authorize(&[]).await.unwrap();
    assert_eq!(again.status, 302, "{}", again.body);
    assert_eq!(origin.requests(), ["/oauth/client.json"], "fetched once");
    let cached = kv_store::keys(&app)
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("cimd:"))
        .count();
    assert_eq!(cached, 1);
}

#[tokio::test]
async fn claudes_documented_client_sees_this_metadata_and_this_first_authorize_exchange() {
    const CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";
    let origin = CimdOrigin::start().await.unwrap();
    let app = cimd_origin::start_app(&origin).await.unwrap();

    // What Claude reads first: the protected resource, then the authorization server.
    let prm: Value = reqwest::get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], app.url("/mcp"));
    assert_eq!(prm["authorization_servers"], serde_json::json!([app.base_url]));
    let metadata: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Claude uses its metadata document only with both of these; otherwise it registers.
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert!(metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("none")));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(metadata["authorization_endpoint"], app.url("/authorize"));
    assert!(
        metadata["registration_endpoint"].is_string(),
        "registration stays for other clients"
    );

    // Claude's document, at Claude's path, on the loopback origin.
    let client_id = origin.url("/oauth/mcp-oauth-client-metadata");
    let mut document = cimd_origin::document(
        &client_id,
        "Claude",
        &[CALLBACK, "https://claude.com/api/mcp/auth_callback"],
    );
    document["client_uri"] = "https://claude.ai".into();
    origin.serve("/oauth/mcp-oauth-client-metadata", Answer::json(&document));

    // Claude's first /authorize: its client id URL, its callback, PKCE S256, state, resource.
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let mut flow = Flow::with_client(&app, discovery, cimd_origin::client(&client_id, CALLBACK)).unwrap();
    flow.scope = Some(e2e::ALL_SCOPES.into());
    let page = flow.open_authorize(&[]).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let consent = Consent::parse(&page).unwrap();
    let h1 = consent.html.find("<h1>").unwrap();
    assert!(
        consent.html[h1..].starts_with(&format!(
            "<h1><span class=\"verified-host\">{}</span> wants access to kintone</h1>",
            origin.authority()
        )),
        "the verified host is what the user reads first: {}",
        consent.html
    );
    assert!(consent
        .html
        .contains("which says its name is “<strong class=\"client\">Claude</strong>”"));
    assert!(consent.html.contains("The name is the application's own claim"));
    assert!(consent.html.contains(CALLBACK), "the full callback is shown");
    assert_eq!(
        origin.requests(),
        ["/oauth/mcp-oauth-client-metadata"],
        "one GET of the document"
    );
    // Approving sends the browser to Cybozu (Claude's callback would get the code afterwards).
    let to_cybozu = flow.approve(&consent).await.unwrap();
    assert!(
        to_cybozu
            .as_str()
            .starts_with(&format!("{}/oauth2/authorization?", app.fake_base_url)),
        "{to_cybozu}"
    );
}

/// A real CIMD-capable client from the npm registry: the TypeScript MCP SDK (pinned in
/// tests/e2e/node) with `clientMetadataUrl`. It sees `client_id_metadata_document_supported`,
/// presents its URL as `client_id` instead of registering, and the test plays the user's
/// browser (consent, the fake Cybozu sign-in) before the SDK finishes, lists and calls a tool.
#[tokio::test]
async fn the_typescript_sdk_signs_in_with_its_client_metadata_url() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tools = e2e::clients::node::NodeTools::locate().unwrap();
    let origin = CimdOrigin::start().await.unwrap();
    let app = cimd_origin::start_app(&origin).await.unwrap();
    let client_id = origin.url("/sdk/client.json");
    origin.serve(
        "/sdk/client.json",
        Answer::json(&cimd_origin::document(
            &client_id,
            "MCP TypeScript SDK (CIMD)",
            &[CLIENT_REDIRECT_URI],
        )),
    );

    let mut child = tokio::process::Command::new(tools.node())
        .arg(tools.dir.join("cimd-client.mjs"))
        .args([app.url("/mcp"), client_id.clone(), CLIENT_REDIRECT_URI.to_owned()])
        .current_dir(&tools.dir)
        .env("PATH", tools.path_env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let next =
        |line: Option<String>| -> Value { serde_json::from_str(&line.expect("the SDK client stopped")).unwrap() };
    let first = next(
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    );
    let authorize = first["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let query = e2e::browser::query_of(&url::Url::parse(&authorize).unwrap());
    assert_eq!(
        query["client_id"], client_id,
        "the SDK presents its metadata URL, it did not register"
    );
    assert_eq!(query["code_challenge_method"], "S256");

    // The user's browser: consent (the verified host first), Cybozu, back to the redirect URI.
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let mut flow = Flow::with_client(&app, discovery, cimd_origin::client(&client_id, CLIENT_REDIRECT_URI)).unwrap();
    let consent = Consent::parse(&flow.browser.get(&authorize).await.unwrap()).unwrap();
    assert!(consent.html.contains(&format!(
        "<span class=\"verified-host\">{}</span> wants access to kintone",
        origin.authority()
    )));
    let to_cybozu = flow.approve(&consent).await.unwrap();
    let callback = flow.cybozu_sign_in(&to_cybozu, "alice").await.unwrap();
    let back = flow.browser.get(callback.as_str()).await.unwrap();
    assert_eq!(back.status, 302, "{}", back.body);
    let at_client = back.redirect().unwrap();
    assert!(at_client.as_str().starts_with(CLIENT_REDIRECT_URI), "{at_client}");
    let code = e2e::browser::query_of(&at_client)["code"].clone();
    stdin
        .write_all(format!("{}\n", serde_json::json!({ "code": code })).as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();

    let result = next(
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(result["client_id"], client_id.as_str(), "{result}");
    assert!(result["tools"].as_u64().unwrap_or(0) > 10, "{result}");
    assert_eq!(result["call_is_error"], false, "{result}");
    assert!(child.wait().await.unwrap().success());
    assert_eq!(origin.requests(), ["/sdk/client.json"], "one fetch, then the cache");
}
