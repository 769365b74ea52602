//! Legacy HTTP+SSE (`GET /sse` + `POST /sse/message`) through the real app: many concurrent
//! POSTs on one session, sessions that do not exist or have closed, and a stream that ends by
//! itself after `sse_max_seconds`.

use e2e::clients::legacy_sse::{Seen, Session};
use e2e::clients::sse::Item;
use e2e::signin::sign_in;
use e2e::{App, Options};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CONCURRENT: i64 = 50;

async fn app_with_stream_seconds(seconds: u64) -> App {
    let options = Options {
        variables: vec![("sse_max_seconds".into(), seconds.to_string())],
        ..Options::default()
    };
    App::start_with(options).await.unwrap()
}

fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Request `id`: even ids call getRecord on app 1 (record `id % 8 + 1`), odd ids ping.
fn mixed_request(id: i64) -> Value {
    if id % 2 == 0 {
        request(
            id,
            "tools/call",
            json!({"name": "getRecord", "arguments": {"appId": "1", "id": (id % 8 + 1).to_string()}}),
        )
    } else {
        request(id, "ping", json!({}))
    }
}

#[tokio::test]
async fn fifty_concurrent_posts_on_one_session_each_get_exactly_one_reply() {
    let app = App::start().await.unwrap();
    let tokens = sign_in(&app, "alice", "/sse").await.unwrap();
    let mut session = Session::open(&app.url("/sse"), Some(&tokens.bearer())).await.unwrap();
    assert!(
        session.endpoint_data.starts_with("/sse/message?sessionId="),
        "endpoint event: {}",
        session.endpoint_data
    );

    let init = session
        .request(
            1,
            "initialize",
            json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}),
        )
        .await
        .unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    let accepted = session
        .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .unwrap();
    assert_eq!(accepted.status, 202);

    let ids: Vec<i64> = (100..100 + CONCURRENT).collect();
    let bodies: Vec<Value> = ids.iter().map(|id| mixed_request(*id)).collect();
    let posts = bodies.iter().map(|body| session.post(body));
    let answers = futures_util::future::join_all(posts).await;
    for (id, answer) in ids.iter().zip(answers) {
        let answer = answer.unwrap();
        assert_eq!(
            answer.status, 202,
            "POST of request {id} answered {}: {}",
            answer.status, answer.text
        );
        assert!(answer.text.is_empty(), "a 202 with a body for {id}: {}", answer.text);
    }

    // Every reply arrives once; then a quiet second shows there is no duplicate behind them.
    let mut replies: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while replies.values().map(Vec::len).sum::<usize>() < ids.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = session
            .next_message(left)
            .await
            .unwrap()
            .expect("the stream ended early");
        replies
            .entry(message["id"].as_i64().expect("a reply without an integer id"))
            .or_default()
            .push(message);
    }
    let quiet_until = Instant::now() + Duration::from_secs(1);
    while let Ok(seen) = session.next_seen(quiet_until).await {
        assert!(
            matches!(seen, Seen::Item(Item::Comment(_))),
            "more than one reply per request: {seen:?}"
        );
    }

    assert_eq!(
        replies.keys().copied().collect::<Vec<_>>(),
        ids,
        "replies for exactly the ids sent"
    );
    for (id, messages) in &replies {
        assert_eq!(messages.len(), 1, "request {id} got {} replies", messages.len());
        let reply = &messages[0];
        assert_eq!(reply["jsonrpc"], "2.0");
        if id % 2 == 0 {
            let result = &reply["result"];
            assert_ne!(result["isError"], true, "getRecord for {id} failed: {reply}");
            let record: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
            assert_eq!(
                record["record"]["$id"]["value"],
                (id % 8 + 1).to_string(),
                "request {id} got another record"
            );
        } else {
            assert_eq!(reply["result"], json!({}), "ping {id}: {reply}");
        }
    }
    let calls = app
        .fake
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.path == "/k/v1/record.json")
        .count();
    assert_eq!(calls, (CONCURRENT / 2) as usize, "each getRecord reached kintone once");
}

#[tokio::test]
async fn messages_for_unknown_missing_or_foreign_sessions_are_refused_and_run_nothing() {
    let app = App::start().await.unwrap();
    let alice = sign_in(&app, "alice", "/sse").await.unwrap();
    let bob = sign_in(&app, "bob", "/sse").await.unwrap();
    let session = Session::open(&app.url("/sse"), Some(&alice.bearer())).await.unwrap();
    let call = request(
        7,
        "tools/call",
        json!({"name": "getRecord", "arguments": {"appId": "1", "id": "1"}}),
    );

    let unknown = session
        .post_to(&app.url(&format!("/sse/message?sessionId={}", "0".repeat(32))), &call)
        .await
        .unwrap();
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.error_code(), Some(-32001), "{}", unknown.text);
    assert!(
        unknown.json["error"]["message"].as_str().unwrap().contains("GET /sse"),
        "says how to recover: {}",
        unknown.text
    );

    let malformed = session
        .post_to(&app.url("/sse/message?sessionId=not-a-session"), &call)
        .await
        .unwrap();
    assert_eq!(malformed.status, 404, "{}", malformed.text);

    let missing = session.post_to(&app.url("/sse/message"), &call).await.unwrap();
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(
        missing.json["error"]["message"].as_str().unwrap().contains("sessionId"),
        "{}",
        missing.text
    );

    // Bob cannot post into Alice's session even with its id.
    let mut as_bob = session
        .http
        .post(session.endpoint.as_str())
        .header("content-type", "application/json")
        .json(&call);
    as_bob = as_bob.header("authorization", bob.bearer());
    let foreign = e2e::clients::raw::send(as_bob).await.unwrap();
    assert_eq!(foreign.status, 404, "{}", foreign.text);

    // No token: the bearer challenge, pointing at the /sse metadata.
    let anonymous = e2e::clients::raw::send(session.http.post(session.endpoint.as_str()).json(&call))
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
    assert!(anonymous
        .header("www-authenticate")
        .unwrap()
        .contains("/.well-known/oauth-protected-resource/sse"));

    let kintone_calls = app
        .fake
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/k/"))
        .count();
    assert_eq!(kintone_calls, 0, "a refused message reached kintone");
}

#[tokio::test]
async fn the_stream_ends_cleanly_after_sse_max_seconds_and_its_session_closes() {
    let app = app_with_stream_seconds(2).await;
    let tokens = sign_in(&app, "alice", "/sse").await.unwrap();
    let mut session = Session::open(&app.url("/sse"), Some(&tokens.bearer())).await.unwrap();

    // Alive at first.
    let pong = session.request(1, "ping", json!({})).await.unwrap();
    assert_eq!(pong["result"], json!({}));

    let mut comments = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        match session.next_seen(deadline).await.unwrap() {
            Seen::Item(Item::Comment(text)) => comments.push(text),
            Seen::End(result) => break result,
            other => panic!("unexpected on an idle stream: {other:?}"),
        }
    };
    let lived = session.opened_at.elapsed();
    assert_eq!(ended, Ok(()), "the stream must end as a complete response, not break");
    assert!(
        lived >= Duration::from_secs(2),
        "ended after {lived:?}, before sse_max_seconds"
    );
    // 2 s plus the 2 s drain, with room for a slow machine.
    assert!(lived < Duration::from_secs(10), "still open after {lived:?}");
    assert!(
        comments.last().is_some_and(|c| c.contains("reconnect")),
        "no closing comment: {comments:?}"
    );

    let late = session.post(&request(2, "ping", json!({}))).await.unwrap();
    assert_eq!(late.status, 404, "a message for a closed session: {}", late.text);
    assert_eq!(late.error_code(), Some(-32001));

    // The client reconnects and gets a fresh session that works.
    let mut again = Session::open(&app.url("/sse"), Some(&tokens.bearer())).await.unwrap();
    assert_ne!(again.session_id, session.session_id);
    assert_eq!(again.request(3, "ping", json!({})).await.unwrap()["result"], json!({}));
}
