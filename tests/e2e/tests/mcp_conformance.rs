//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in
//! tests/e2e/node) against `/mcp`, for the legacy era (2025-11-25) and the modern one
//! (2026-07-28). The suite cannot send a bearer token, so it talks to a loopback proxy that adds
//! one. Scenarios that need the suite's own fixture tools, resources or prompts (the server
//! under test is expected to implement them) are listed, each with its reason, in
//! tests/e2e/conformance-expected-failures.yml; every other scenario must pass, and an expected
//! failure that starts passing fails the run too (the suite reports it as stale).

use e2e::clients::node::NodeTools;
use e2e::clients::proxy::BearerProxy;
use e2e::signin::sign_in;
use e2e::{unique_temp_dir, App};
use std::path::Path;
use std::time::Duration;

const SUITE_TIMEOUT: Duration = Duration::from_secs(480);

async fn run_suite(requirements: &str) {
    let tools = NodeTools::locate().unwrap();
    let app = App::start().await.unwrap();
    let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
    let proxy = BearerProxy::start(&app.base_url, &tokens.bearer()).await.unwrap();
    let results = unique_temp_dir("conformance");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance-expected-failures.yml");

    let mut command = tools.command("conformance");
    command
        .args(["server", "--url", &proxy.url("/mcp"), "--requirements", requirements])
        .arg("--expected-failures")
        .arg(&expected)
        .arg("-o")
        .arg(&results)
        .stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(SUITE_TIMEOUT, command.output())
        .await
        .expect("the conformance suite hung")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "conformance --requirements {requirements} failed (exit {:?}); results in {}\n{stdout}\n{stderr}",
        output.status.code(),
        results.display()
    );
    // The suite ran for real: its checks passed in numbers, not zero scenarios.
    let total = stdout
        .lines()
        .find(|l| l.starts_with("Total:"))
        .unwrap_or_else(|| panic!("no Total line:\n{stdout}"));
    let passed: u32 = total
        .trim_start_matches("Total:")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 30, "only {passed} checks passed: {total}");
    assert!(
        stdout.contains("Baseline check passed"),
        "no baseline verdict:\n{stdout}"
    );
    let _ = std::fs::remove_dir_all(&results);
}

#[tokio::test]
async fn conformance_2025_11_25() {
    run_suite("2025-11-25").await;
}

#[tokio::test]
async fn conformance_2026_07_28() {
    run_suite("2026-07-28").await;
}
