//! Security regressions: legacy SSE sessions are bounded per grant, and a stream whose host
//! died leaves no keys behind for long (L1).

use super::*;
use e2e::clients::legacy_sse;
use e2e::{FakeConfig, FakeCybozu, Options};
use std::time::Duration;

/// The legacy session keys in the store: records, mailbox slots, owner lists.
fn sse_keys(app: &App) -> Vec<String> {
    kv_store::keys(app)
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("mcp:sse"))
        .collect()
}

#[tokio::test]
async fn sse_sessions_are_capped_per_grant_and_a_killed_hosts_sessions_are_collected() {
    let port = e2e::free_port().unwrap();
    let fake = FakeCybozu::start(FakeConfig {
        client_id: e2e::CLIENT_ID.into(),
        client_secret: e2e::CLIENT_SECRET.into(),
        redirect_uris: vec![format!("http://127.0.0.1:{port}/callback")],
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let state_dir = e2e::unique_temp_dir("kintone-mcp-sse-keys");
    std::fs::create_dir_all(&state_dir).unwrap();
    let options = || Options {
        state_dir: Some(state_dir.clone()),
        fake_base_url: Some(fake.base_url()),
        port: Some(port),
        ..Options::default()
    };
    let mut app = App::start_with(options()).await.unwrap();
    let tokens = signin::sign_in(&app, "alice", "/sse").await.unwrap();

    // Six streams for one grant: the two oldest end on their own within a few seconds.
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(
            legacy_sse::Session::open(&app.url("/sse"), Some(&tokens.bearer()))
                .await
                .unwrap(),
        );
    }
    for old in &mut sessions[..2] {
        let end = loop {
            match old.next_message(Duration::from_secs(10)).await {
                Ok(Some(_)) => continue,
                other => break other,
            }
        };
        assert!(matches!(end, Ok(None)), "a replaced stream must end cleanly: {end:?}");
    }
    let records = sse_keys(&app)
        .iter()
        .filter(|k| k.matches(':').count() == 2 && !k.starts_with("mcp:sse-owner:"))
        .count();
    assert_eq!(records, 4, "four sessions stay open: {:?}", sse_keys(&app));

    // The host dies with four streams open: nothing closes them.
    app.kill();
    let orphans: Vec<String> = sessions[2..].iter().map(|s| s.session_id.clone()).collect();
    drop(sessions);
    let app = App::start_with(options()).await.unwrap();
    assert!(
        sse_keys(&app)
            .iter()
            .any(|k| orphans.iter().any(|o| k.contains(o.as_str()))),
        "the orphans are still stored"
    );

    // Once their heartbeats are stale, the grant's next stream collects them.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let fresh = legacy_sse::Session::open(&app.url("/sse"), Some(&tokens.bearer()))
        .await
        .unwrap();
    let left = sse_keys(&app);
    assert!(
        left.iter().all(|k| !orphans.iter().any(|o| k.contains(o.as_str()))),
        "a dead session's keys are left: {left:?}"
    );
    assert!(
        left.len() <= 2,
        "only the new session's record and the owner list may remain: {left:?}"
    );
    drop(fresh);
    drop(app);
    let _ = std::fs::remove_dir_all(&state_dir);
}
