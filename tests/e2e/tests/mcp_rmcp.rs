//! The `rmcp` crate's client (Streamable HTTP over reqwest), holding a bearer token from a real
//! sign-in, initializes, lists the tools and calls one — over `/mcp` and over `POST /sse` (where
//! a client given the `/sse` URL that tries Streamable HTTP first lands), in the legacy
//! (`initialize`) and the modern (`server/discover`) lifecycle.

use e2e::clients::missing_original_tools;
use e2e::signin::sign_in;
use e2e::App;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

type Client = RunningService<RoleClient, ()>;

/// rmcp's transport to `path` with our access token (rmcp adds the `Bearer ` prefix). A macro
/// because rmcp's reqwest is not ours, so its client type cannot be named here.
macro_rules! transport {
    ($app:expr, $path:expr, $access_token:expr) => {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri($app.url($path)).auth_header($access_token),
        )
    };
}

async fn connect_legacy(app: &App, path: &str, access_token: &str) -> Client {
    ().serve(transport!(app, path, access_token))
        .await
        .unwrap_or_else(|e| panic!("initialize over {path} failed: {e}"))
}

async fn connect_modern(app: &App, path: &str, access_token: &str) -> Client {
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    ().serve_with_lifecycle(transport!(app, path, access_token), lifecycle)
        .await
        .unwrap_or_else(|e| panic!("server/discover over {path} failed: {e}"))
}

/// Lists the tools (all 28 original names) and calls getRecords on app 1.
async fn list_and_call(client: &Client, path: &str) {
    let tools = client
        .list_all_tools()
        .await
        .unwrap_or_else(|e| panic!("tools/list over {path}: {e}"));
    let missing = missing_original_tools(tools.iter().map(|t| t.name.as_ref()));
    assert!(missing.is_empty(), "tools/list over {path} lacks {missing:?}");
    let get_records = tools.iter().find(|t| t.name == "getRecords").unwrap();
    assert!(
        get_records
            .input_schema
            .get("properties")
            .is_some_and(|p| p.get("appId").is_some()),
        "getRecords has no appId parameter"
    );

    let arguments = json!({"appId": "1", "query": "ランク in (\"A\") order by 従業員数 desc limit 2", "fields": ["会社名", "従業員数"]});
    let result = client
        .call_tool(CallToolRequestParams::new("getRecords").with_arguments(arguments.as_object().unwrap().clone()))
        .await
        .unwrap_or_else(|e| panic!("tools/call over {path}: {e}"));
    assert_ne!(
        result.is_error,
        Some(true),
        "getRecords failed over {path}: {:?}",
        result.content
    );
    // The first text block is kintone's answer as JSON; a paging hint for the model follows.
    let text = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .expect("getRecords returned no text");
    let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("getRecords text is not JSON: {text}"));
    let names: Vec<&str> = parsed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["会社名"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Corporation", "Umbrella Logistics"], "over {path}");
}

#[tokio::test]
async fn rmcp_client_over_mcp_and_post_sse_in_both_lifecycles() {
    let app = App::start().await.unwrap();
    for path in ["/mcp", "/sse"] {
        let tokens = sign_in(&app, "alice", path).await.unwrap();

        let client = connect_legacy(&app, path, &tokens.access_token).await;
        let info = client.peer_info().expect("the server answered initialize");
        assert_eq!(info.protocol_version.as_str(), "2025-11-25", "over {path}");
        assert!(info.capabilities.tools.is_some(), "no tools capability over {path}");
        list_and_call(&client, path).await;
        client.cancel().await.unwrap();

        let client = connect_modern(&app, path, &tokens.access_token).await;
        let info = client.peer_info().expect("the server answered server/discover");
        assert_eq!(info.protocol_version.as_str(), "2026-07-28", "over {path}");
        list_and_call(&client, path).await;
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn rmcp_client_without_a_token_gets_the_bearer_challenge() {
    let app = App::start().await.unwrap();
    let transport =
        StreamableHttpClientTransport::from_config(StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")));
    let error = ().serve(transport).await.expect_err("initialize without a token must fail");
    let challenge = error
        .auth_challenge()
        .unwrap_or_else(|| panic!("no auth challenge in {error}"));
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            app.base_url
        )),
        "{challenge}"
    );
}
