//! Real MCP clients from npm against the app: mcp-remote (the stdio bridge Claude Desktop uses)
//! signs in by itself through a headless browser, over Streamable HTTP on `POST /sse` and
//! forced onto legacy SSE (`GET /sse`); the MCP Inspector CLI, given a bearer header, lists and
//! calls tools over `/mcp` and over `/sse`. Needs `npm ci` in tests/e2e/node.

use e2e::clients::missing_original_tools;
use e2e::clients::node::{NodeTools, StdioPeer};
use e2e::clients::raw::excerpt;
use e2e::signin::sign_in;
use e2e::{unique_temp_dir, App};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A `$BROWSER` script that runs the headless browser on the URL it is given, logging to
/// `log`.
fn browser_script(dir: &Path, log: &Path) -> PathBuf {
    let script = dir.join("browser.sh");
    let text = format!(
        "#!/bin/sh\nexec '{}' \"$1\" >> '{}' 2>&1\n",
        env!("CARGO_BIN_EXE_headless-browser"),
        log.display()
    );
    std::fs::write(&script, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// mcp-remote on `url` with `extra` arguments, a fresh token store and the headless browser.
fn mcp_remote(tools: &NodeTools, url: &str, extra: &[&str], dir: &Path) -> StdioPeer {
    let mut command = tools.command("mcp-remote");
    command
        .arg(url)
        .args(extra)
        .env("MCP_REMOTE_CONFIG_DIR", dir.join("mcp-auth"))
        .env("BROWSER", browser_script(dir, &dir.join("browser.log")))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_CURRENT_DESKTOP")
        .current_dir(dir);
    StdioPeer::spawn(command, dir.join("mcp-remote.log")).unwrap()
}

/// initialize, tools/list (all original tools), tools/call getRecords on app 1, through a
/// stdio client; returns the client's log for transport checks.
async fn list_and_call_through(peer: &mut StdioPeer, dir: &Path) -> String {
    let browser_log = || std::fs::read_to_string(dir.join("browser.log")).unwrap_or_default();
    let init = peer
        .request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}),
            CLIENT_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\nbrowser log:\n{}", browser_log()));
    assert!(
        init["result"]["serverInfo"]["name"].is_string(),
        "initialize: {init}\n{}",
        peer.log_tail()
    );
    peer.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .unwrap();

    let listed = peer.request(2, "tools/list", json!({}), CLIENT_TIMEOUT).await.unwrap();
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let missing = missing_original_tools(names.iter().copied());
    assert!(missing.is_empty(), "tools/list lacks {missing:?}");

    let called = peer
        .request(
            3,
            "tools/call",
            json!({"name": "getRecords", "arguments": {"appId": "1", "query": "会社名 = \"Acme Corporation\""}}),
            CLIENT_TIMEOUT,
        )
        .await
        .unwrap();
    assert_ne!(called["result"]["isError"], true, "{called}");
    let text = called["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("tools/call: {called}"));
    let records: Value = serde_json::from_str(text).unwrap();
    assert_eq!(records["records"][0]["会社名"]["value"], "Acme Corporation");
    peer.log_tail()
}

/// The client went through our consent page and Cybozu's sign-in, and holds tokens for `/sse`.
fn assert_signed_in_through_consent(app: &App, dir: &Path) {
    let browser_log = std::fs::read_to_string(dir.join("browser.log")).unwrap_or_default();
    assert!(
        browser_log.contains("/authorize (approve) -> 303"),
        "the consent page was not approved:\n{browser_log}"
    );
    assert!(
        browser_log.contains("/oauth/callback -> 200"),
        "the code did not reach mcp-remote:\n{browser_log}"
    );
    let fake = app.fake.as_ref().unwrap();
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path == "/oauth2/token" && r.status == Some(200)),
        "no Cybozu sign-in happened"
    );
    let stored = std::fs::read_dir(dir.join("mcp-auth")).map(|d| d.count()).unwrap_or(0);
    assert!(stored > 0, "mcp-remote stored no tokens");
}

#[tokio::test]
async fn mcp_remote_signs_in_by_itself_and_uses_streamable_http_on_post_sse() {
    let tools = NodeTools::locate().unwrap();
    let app = App::start().await.unwrap();
    let dir = unique_temp_dir("mcp-remote-http");
    std::fs::create_dir_all(&dir).unwrap();
    let mut peer = mcp_remote(&tools, &app.url("/sse"), &[], &dir);
    let log = list_and_call_through(&mut peer, &dir).await;
    peer.close().await;
    assert_signed_in_through_consent(&app, &dir);
    assert!(
        log.contains("Connected to remote server using StreamableHTTPClientTransport"),
        "not Streamable HTTP:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn mcp_remote_forced_to_legacy_sse_signs_in_and_uses_get_sse() {
    let tools = NodeTools::locate().unwrap();
    let app = App::start().await.unwrap();
    let dir = unique_temp_dir("mcp-remote-sse");
    std::fs::create_dir_all(&dir).unwrap();
    let mut peer = mcp_remote(&tools, &app.url("/sse"), &["--transport", "sse-only"], &dir);
    let log = list_and_call_through(&mut peer, &dir).await;
    peer.close().await;
    assert_signed_in_through_consent(&app, &dir);
    assert!(
        log.contains("Connected to remote server using SSEClientTransport"),
        "not legacy SSE:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Inspector CLI's answer: exit code, stdout as JSON (`Null` if not JSON), stderr.
struct InspectorRun {
    code: Option<i32>,
    json: Value,
    stdout: String,
    stderr: String,
}

async fn inspector(tools: &NodeTools, home: &Path, url: &str, args: &[&str]) -> InspectorRun {
    let mut command = tools.command("mcp-inspector");
    command
        .arg("--cli")
        .arg(url)
        .args(args)
        .args(["--format", "json"])
        .env("HOME", home)
        .env("MCP_CATALOG_PATH", home.join("catalog.json"))
        .env("MCP_CLIENT_CONFIG_PATH", home.join("client.json"))
        .stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(CLIENT_TIMEOUT, command.output())
        .await
        .expect("the Inspector CLI hung")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    InspectorRun {
        code: output.status.code(),
        // `--format json` prints `{"result": …}`.
        json: serde_json::from_str::<Value>(&stdout)
            .map(|v| v["result"].clone())
            .unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn inspector_cli_lists_and_calls_tools_over_both_transports_with_a_bearer_header() {
    let tools = NodeTools::locate().unwrap();
    let app = App::start().await.unwrap();
    let home = unique_temp_dir("inspector-home");
    std::fs::create_dir_all(&home).unwrap();
    let cases: [(&str, &str, &[&str]); 3] = [
        ("/mcp", "http", &[]),
        ("/mcp", "http", &["--protocol-era", "modern"]),
        ("/sse", "sse", &[]),
    ];
    for (path, transport, extra) in cases {
        let tokens = sign_in(&app, "alice", path).await.unwrap();
        let header = format!("Authorization: {}", tokens.bearer());
        let url = app.url(path);
        let base: Vec<&str> = [&["--transport", transport, "--header", header.as_str()][..], extra].concat();
        let what = format!("{path} over {transport} {extra:?}");

        let listed = inspector(&tools, &home, &url, &[&base[..], &["--method", "tools/list"]].concat()).await;
        assert_eq!(
            listed.code,
            Some(0),
            "tools/list {what}: {}\n{}",
            listed.stdout,
            listed.stderr
        );
        let names: Vec<&str> = listed.json["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list {what}: {}", excerpt(&listed.stdout)))
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let missing = missing_original_tools(names.iter().copied());
        assert!(missing.is_empty(), "tools/list {what} lacks {missing:?}");

        let args = r#"{"appId":"1","query":"会社名 = \"Acme Corporation\""}"#;
        let called = inspector(
            &tools,
            &home,
            &url,
            &[
                &base[..],
                &[
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "getRecords",
                    "--tool-args-json",
                    args,
                ],
            ]
            .concat(),
        )
        .await;
        assert_eq!(
            called.code,
            Some(0),
            "tools/call {what}: {}\n{}",
            called.stdout,
            called.stderr
        );
        assert_ne!(called.json["isError"], true, "{what}: {}", called.stdout);
        let text = called.json["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("tools/call {what}: {}", excerpt(&called.stdout)));
        let records: Value = serde_json::from_str(text).unwrap();
        assert_eq!(records["records"][0]["会社名"]["value"], "Acme Corporation", "{what}");
        // The token never shows in what the CLI prints.
        assert!(!called.stdout.contains(&tokens.access_token) && !called.stderr.contains(&tokens.access_token));
    }

    // Without a token and without interactive sign-in, the CLI reports that auth is required.
    let anonymous = inspector(
        &tools,
        &home,
        &app.url("/mcp"),
        &["--transport", "http", "--stored-auth-only", "--method", "tools/list"],
    )
    .await;
    assert_eq!(
        anonymous.code,
        Some(3),
        "expected exit 3 (auth required): {}\n{}",
        anonymous.stdout,
        anonymous.stderr
    );
    let _ = std::fs::remove_dir_all(&home);
}
