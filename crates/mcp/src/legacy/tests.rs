use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Method, Request};
use platform::MemoryStore;
use serde_json::{json, Value};

use super::*;
use crate::dispatch::tests::{tool, FakeTools, ALL_SCOPES};
use crate::tools::{CallError, Content, Tool, ToolResult};

const OWNER: &str = "grant-42";

fn config() -> EndpointConfig {
    EndpointConfig {
        stream: StreamConfig {
            max_duration: Duration::from_secs(20),
            drain_grace: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(10),
            min_poll_interval: Duration::from_millis(1),
            max_poll_interval: Duration::from_millis(50),
            poll_backoff: 10,
            full_scan_interval: Duration::from_secs(1),
            suspect_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(2),
            stale_after: Duration::from_secs(10),
            message_path: "/sse/message".into(),
        },
        ..EndpointConfig::default()
    }
}

fn open(kv: &MemoryStore) -> (SseStream, String) {
    let (stream, first) = SseStream::open(kv, &config(), OWNER, 1_000_000).unwrap();
    let text = String::from_utf8(first).unwrap();
    let uri = text
        .strip_prefix("event: endpoint\ndata: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .expect("an endpoint event")
        .to_owned();
    (stream, uri)
}

fn message(uri: &str, body: &Value) -> Request<Vec<u8>> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap()
}

fn post_as(kv: &MemoryStore, owner: &str, uri: &str, body: &Value, tools: &dyn ToolProvider) -> Handled {
    match handle_message_post(&message(uri, body), kv, &config(), owner, tools, ALL_SCOPES, 1_000) {
        MessageOutcome::Respond(handled) => handled,
        other => panic!("unexpected {other:?}"),
    }
}

fn post(kv: &MemoryStore, uri: &str, body: &Value) -> Handled {
    post_as(kv, OWNER, uri, body, &FakeTools::new(2))
}

/// The JSON-RPC messages in a chunk of SSE bytes.
fn messages_in(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("event: message\ndata: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

fn sent(step: StreamStep) -> Vec<u8> {
    match step {
        StreamStep::Send(bytes) => bytes,
        other => panic!("expected bytes, got {other:?}"),
    }
}

fn init(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})
}

#[test]
fn open_creates_a_session_and_names_its_message_endpoint() {
    let kv = MemoryStore::new();
    let (stream, uri) = open(&kv);
    let session = stream.session_id().unwrap().to_owned();
    assert_eq!(uri, format!("/sse/message?sessionId={session}"));
    assert_eq!(session.len(), 32);
    let record = read_record(&kv, &session).unwrap().unwrap();
    assert_eq!(record.owner, owner_hash(OWNER));
    assert!(!record.owner.contains("grant"), "the owner is stored only as a hash");
    assert_eq!(record.expires_at, 1_000 + 22 + EXPIRY_MARGIN_SECS);
}

#[test]
fn stream_head_is_an_unbuffered_event_stream() {
    let head = SseStream::response_head();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "text/event-stream");
    assert_eq!(head.headers()["x-accel-buffering"], "no");
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
}

#[test]
fn a_posted_request_is_answered_on_the_stream() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    let handled = post(&kv, &uri, &init(1));
    assert_eq!(handled.response.status(), StatusCode::ACCEPTED);
    assert!(handled.response.body().is_empty());
    assert_eq!(handled.summary.method.as_deref(), Some("initialize"));
    let got = messages_in(&sent(stream.next(&kv, 1_000_050)));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], 1);
    assert_eq!(got[0]["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(stream.next(&kv, 1_000_100), StreamStep::Wait(Duration::from_millis(5)));
}

#[test]
fn a_delivered_slot_is_retired_at_a_later_millisecond_not_with_the_send() {
    // The writer's POST still reads the slot's `c` and the record after writing its message: a
    // record write and deletes in the same instant as the send would hold back its 202.
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    post(&kv, &uri, &init(1));
    let slot_keys = |kv: &MemoryStore| kv.snapshot().keys().filter(|k| k.contains(":p:")).count();
    assert_eq!(messages_in(&sent(stream.next(&kv, 1_000_050))).len(), 1);
    assert!(matches!(stream.next(&kv, 1_000_050), StreamStep::Wait(_)));
    assert_eq!(slot_keys(&kv), 1, "retired in the millisecond of the send");
    assert!(matches!(stream.next(&kv, 1_000_051), StreamStep::Wait(_)));
    assert_eq!(slot_keys(&kv), 0, "not retired a millisecond later");
}

#[test]
fn tool_calls_and_errors_travel_the_same_way() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    post(
        &kv,
        &uri,
        &json!({"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"tool1","arguments":{"q":1}}}),
    );
    post(&kv, &uri, &json!({"jsonrpc":"2.0","id":"b","method":"nope"}));
    let mut got = messages_in(&sent(stream.next(&kv, 1_000_050)));
    got.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
    assert_eq!(got[0]["result"]["structuredContent"], json!({"q":1}));
    assert_eq!(got[1]["error"]["code"], -32601);
}

#[test]
fn notifications_are_accepted_and_send_nothing() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    let handled = post(
        &kv,
        &uri,
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    );
    assert_eq!(handled.response.status(), StatusCode::ACCEPTED);
    assert_eq!(stream.next(&kv, 1_000_050), StreamStep::Wait(Duration::from_millis(5)));
}

#[test]
fn unknown_foreign_or_malformed_sessions_get_clear_errors_and_run_nothing() {
    let kv = MemoryStore::new();
    let (_stream, uri) = open(&kv);
    let tools = FakeTools::new(1);
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0"}});
    for bad in [
        "/sse/message?sessionId=00000000000000000000000000000000".to_owned(),
        "/sse/message?sessionId=../../etc".to_owned(),
        "/sse/message?sessionId=".to_owned(),
    ] {
        let response = post_as(&kv, OWNER, &bad, &call, &tools).response;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
        let v: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(v["error"]["code"], -32001);
        assert_eq!(v["id"], Value::Null);
    }
    let missing = post_as(&kv, OWNER, "/sse/message", &call, &tools).response;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let stranger = post_as(&kv, "grant-7", &uri, &call, &tools).response;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    assert!(tools.calls.borrow().is_empty());
}

#[test]
fn bad_bodies_are_refused_on_the_post_and_nothing_is_queued() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    let req = Request::builder()
        .method(Method::POST)
        .uri(&uri)
        .header("content-type", "application/json")
        .body(b"{broken".to_vec())
        .unwrap();
    let MessageOutcome::Respond(handled) =
        handle_message_post(&req, &kv, &config(), OWNER, &FakeTools::new(1), ALL_SCOPES, 1_000)
    else {
        panic!()
    };
    assert_eq!(handled.response.status(), StatusCode::BAD_REQUEST);
    let wrong_type = Request::builder()
        .method(Method::POST)
        .uri(&uri)
        .header("content-type", "text/plain")
        .body(b"{}".to_vec())
        .unwrap();
    let MessageOutcome::Respond(handled) = handle_message_post(
        &wrong_type,
        &kv,
        &config(),
        OWNER,
        &FakeTools::new(1),
        ALL_SCOPES,
        1_000,
    ) else {
        panic!()
    };
    assert_eq!(handled.response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(stream.next(&kv, 1_000_050), StreamStep::Wait(Duration::from_millis(5)));
}

#[test]
fn keep_alive_comments_fill_silence() {
    let kv = MemoryStore::new();
    let (mut stream, _) = open(&kv);
    assert_eq!(stream.next(&kv, 1_009_999), StreamStep::Wait(Duration::from_millis(50)));
    assert_eq!(sent(stream.next(&kv, 1_010_000)), b": keep-alive\n\n");
    assert_eq!(stream.next(&kv, 1_010_050), StreamStep::Wait(Duration::from_millis(50)));
}

#[test]
fn the_stream_drains_then_ends_cleanly_after_its_maximum_duration() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    // At max duration the session stops taking new messages…
    assert!(matches!(
        stream.next(&kv, 1_020_000),
        StreamStep::Wait(_) | StreamStep::Send(_)
    ));
    let refused = post(&kv, &uri, &init(1)).response;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    // …but a reply accepted before (its POST passed the session check) still arrives.
    let session = stream.session_id().unwrap().to_owned();
    mailbox::post(&kv, &session, br#"{"jsonrpc":"2.0","id":9,"result":{}}"#, 1_000).unwrap();
    let got = messages_in(&sent(stream.next(&kv, 1_021_000)));
    assert_eq!(got[0]["id"], 9);
    // After the drain it ends, and nothing is left in the store.
    let StreamStep::Finish(last) = stream.next(&kv, 1_022_000) else {
        panic!("expected the end")
    };
    assert!(String::from_utf8(last)
        .unwrap()
        .ends_with(": stream ends; reconnect for a new session\n\n"));
    assert!(kv.snapshot().is_empty());
    assert_eq!(stream.next(&kv, 1_022_050), StreamStep::Finish(Vec::new()));
    assert_eq!(post(&kv, &uri, &init(2)).response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn hosted_setting_ends_within_the_platform_limit() {
    let kv = MemoryStore::new();
    let config = EndpointConfig {
        stream: StreamConfig::for_30s_platforms(),
        ..EndpointConfig::default()
    };
    let (mut stream, _) = SseStream::open(&kv, &config, OWNER, 0).unwrap();
    let mut now = 0;
    loop {
        match stream.next(&kv, now) {
            StreamStep::Finish(_) => break,
            StreamStep::Wait(pause) => now += u64::try_from(pause.as_millis()).unwrap(),
            StreamStep::Send(_) => now += 1,
        }
    }
    assert!(now < 30_000, "ended at {now} ms");
    assert!(now >= 25_000);
}

#[test]
fn an_abandoned_stream_closes_its_session() {
    let kv = MemoryStore::new();
    let (stream, uri) = open(&kv);
    post(&kv, &uri, &init(1));
    stream.abandon(&kv);
    assert!(kv.snapshot().is_empty());
    assert_eq!(post(&kv, &uri, &init(2)).response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_refresh_is_requested_and_the_resumed_reply_reaches_the_stream() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    let stale = FakeTools::scripted(1, vec![Err(CallError::Unauthorized("CB_OA01".into()))]);
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tool0"}});
    let MessageOutcome::NeedsRefresh(pending) =
        handle_message_post(&message(&uri, &call), &kv, &config(), OWNER, &stale, ALL_SCOPES, 1_000)
    else {
        panic!("expected a refresh request")
    };
    assert_eq!(stream.next(&kv, 1_000_050), StreamStep::Wait(Duration::from_millis(5)));
    let handled = pending.resume(&kv, &config(), &FakeTools::new(1), 1_000);
    assert_eq!(handled.response.status(), StatusCode::ACCEPTED);
    let got = messages_in(&sent(stream.next(&kv, 1_000_100)));
    assert_eq!(got[0]["id"], 3);
    assert_eq!(got[0]["result"]["content"][0]["text"], "tool0 ran");
}

/// A provider without interior mutability, for many threads.
struct EchoTools(Vec<Tool>);

impl ToolProvider for EchoTools {
    fn list_tools(&self) -> Vec<Tool> {
        self.0.clone()
    }
    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        self.0.iter().find(|t| t.name == name).map(|t| t.scopes.clone())
    }
    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError> {
        Ok(ToolResult {
            content: vec![Content::Text(format!("{name}:{arguments_json}"))],
            structured: None,
            is_error: false,
        })
    }
}

#[test]
fn fifty_concurrent_posts_each_get_exactly_one_reply_on_the_stream() {
    let kv = Arc::new(MemoryStore::new());
    let (mut stream, uri) = open(&kv);
    let tools = Arc::new(EchoTools(vec![tool("echo")]));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (kv, tools, uri) = (kv.clone(), tools.clone(), uri.clone());
            std::thread::spawn(move || {
                let body =
                    json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"echo","arguments":{"n":i}}});
                match handle_message_post(
                    &message(&uri, &body),
                    &*kv,
                    &config(),
                    OWNER,
                    &*tools,
                    ALL_SCOPES,
                    1_000,
                ) {
                    MessageOutcome::Respond(h) => h.response.status(),
                    _ => StatusCode::IM_A_TEAPOT,
                }
            })
        })
        .collect();
    let mut replies: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    let mut collect = |step: StreamStep| {
        if let StreamStep::Send(bytes) = step {
            for m in messages_in(&bytes) {
                replies.entry(m["id"].as_i64().unwrap()).or_default().push(m);
            }
        }
    };
    // The stream's clock follows the real one: counting a millisecond per poll let a busy
    // machine, where the posting threads wait for a core, run the stream past its 20 s
    // lifetime before they posted (a 404).
    let started = std::time::Instant::now();
    let now = || 1_000_000 + u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    while !handles.iter().all(|h| h.is_finished()) {
        collect(stream.next(&*kv, now()));
    }
    for h in handles {
        assert_eq!(h.join().unwrap(), StatusCode::ACCEPTED);
    }
    collect(stream.next(&*kv, now() + 1));
    assert_eq!(replies.len(), 50);
    for (id, got) in &replies {
        assert_eq!(got.len(), 1, "id {id} answered {} times", got.len());
        assert_eq!(got[0]["result"]["content"][0]["text"], format!("echo:{{\"n\":{id}}}"));
    }
}

/// Counts reads (`get`, `exists`) on top of a memory store.
struct CountingStore {
    inner: MemoryStore,
    reads: std::sync::atomic::AtomicUsize,
}

impl KeyValue for CountingStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.exists(key)
    }
}

/// Drive a stream on a simulated clock for `ms`, sleeping as it asks; returns what it sent.
fn run_for(stream: &mut SseStream, kv: &dyn KeyValue, clock: &mut u64, ms: u64) -> Vec<u8> {
    let end = *clock + ms;
    let mut sent = Vec::new();
    while *clock < end {
        match stream.next(kv, *clock) {
            StreamStep::Send(bytes) => sent.extend(bytes),
            StreamStep::Wait(pause) => *clock += pause.as_millis() as u64,
            StreamStep::Finish(_) => panic!("the stream ended early"),
        }
    }
    sent
}

#[test]
fn an_idle_stream_reads_one_key_per_poll_and_scans_the_slots_once_a_second() {
    let kv = CountingStore {
        inner: MemoryStore::new(),
        reads: Default::default(),
    };
    let (mut stream, _first) = SseStream::open(&kv, &config(), OWNER, 1_000_000).unwrap();
    let mut clock = 1_000_000;
    // Past the fast window after opening, then one idle second.
    run_for(&mut stream, &kv, &mut clock, 3_000);
    kv.reads.store(0, std::sync::atomic::Ordering::Relaxed);
    run_for(&mut stream, &kv, &mut clock, 1_000);
    let reads = kv.reads.load(std::sync::atomic::Ordering::Relaxed);
    // 20 polls of the frontier slot (every 50 ms), one full pass over the window of 8 slots
    // and the grant's session list every other heartbeat: about 29.
    // The slot-by-slot polling this replaced read 160.
    assert!(reads <= 30, "an idle stream read {reads} keys in one second");
}

#[test]
fn a_reply_posted_right_after_a_delivery_is_picked_up_within_the_fast_poll() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    let mut clock = 1_000_000;
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","arguments":{}}});
    assert_eq!(post(&kv, &uri, &call).response.status(), StatusCode::ACCEPTED);
    // Delivered by the very next poll: the frontier slot is claimed.
    let first = match stream.next(&kv, clock) {
        StreamStep::Send(bytes) => bytes,
        other => panic!("expected the reply, got {other:?}"),
    };
    assert_eq!(messages_in(&first)[0]["id"], 1);
    // Right after a delivery the stream polls every millisecond, then backs off.
    assert_eq!(stream.next(&kv, clock), StreamStep::Wait(Duration::from_millis(1)));
    run_for(&mut stream, &kv, &mut clock, 200);
    assert!(matches!(
        stream.next(&kv, clock),
        StreamStep::Wait(pause) if (Duration::from_millis(20)..Duration::from_millis(23)).contains(&pause)
    ));
    // Quiet for half a second or more: the idle pace.
    run_for(&mut stream, &kv, &mut clock, 2_500);
    assert_eq!(stream.next(&kv, clock), StreamStep::Wait(Duration::from_millis(50)));
}

#[test]
fn the_second_after_a_delivery_costs_a_bounded_number_of_reads() {
    let kv = CountingStore {
        inner: MemoryStore::new(),
        reads: Default::default(),
    };
    let (mut stream, uri) = open(&kv.inner);
    let mut clock = 1_000_000;
    run_for(&mut stream, &kv, &mut clock, 3_000);
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tool0","arguments":{}}});
    assert_eq!(post(&kv.inner, &uri, &call).response.status(), StatusCode::ACCEPTED);
    assert!(!run_for(&mut stream, &kv, &mut clock, 1).is_empty(), "delivered");
    kv.reads.store(0, std::sync::atomic::Ordering::Relaxed);
    run_for(&mut stream, &kv, &mut clock, 1_000);
    let reads = kv.reads.load(std::sync::atomic::Ordering::Relaxed);
    // Polls, each pause a tenth of the quiet so far in whole milliseconds: 20 in the
    // first 20 ms, then about 10 per step of the pause (1 + 10/2 + 10/3 + … ≈ 36 more) until it
    // reaches 50 ms at half a second, then 10; plus full passes (8 each) and a heartbeat's
    // session list: 75 here. A fixed 5 ms pace for 2 s, as before, read 200 in that second.
    assert!(reads <= 80, "the second after a delivery read {reads} keys");
}

#[test]
fn a_session_whose_stream_stopped_beating_is_gone_and_collected() {
    let kv = MemoryStore::new();
    let (mut stream, uri) = open(&kv);
    // The stream beats while it runs: alive 9 s later.
    run_for(&mut stream, &kv, &mut 1_000_000, 9_000);
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let alive = post_as_at(&kv, &uri, &ping, 1_009);
    assert_eq!(alive.response.status(), StatusCode::ACCEPTED);
    // Its instance dies without closing (the host was killed): no more heartbeats. A message
    // could never be delivered, so the POST gets 404 and the session's keys are removed.
    drop(stream);
    let gone = post_as_at(&kv, &uri, &ping, 1_009 + 11);
    assert_eq!(gone.response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(&gone)["error"]["code"], SESSION_NOT_FOUND.0);
    let left: Vec<String> = kv.snapshot().into_keys().collect();
    assert!(
        left.iter().all(|k| k.starts_with("mcp:sse-owner:")),
        "left behind: {left:?}"
    );
    // The owner's list still names it until the owner's next stream drops it.
    let (_next, _) = SseStream::open(&kv, &config(), OWNER, 1_021_000).unwrap();
    let listed = crate::owner_sessions::listed(&kv, &owner_hash(OWNER)).unwrap();
    assert_eq!(listed.len(), 1, "only the new session is listed: {listed:?}");
}

#[test]
fn a_fifth_stream_for_one_owner_ends_the_oldest_at_its_next_heartbeat() {
    let kv = MemoryStore::new();
    let (mut oldest, _) = open(&kv);
    let others: Vec<_> = (0..4)
        .map(|_| SseStream::open(&kv, &config(), OWNER, 1_000_500).unwrap())
        .collect();
    let mut clock = 1_000_500;
    // Its next heartbeat finds it unlisted: it drains, then ends cleanly.
    let sent = loop {
        match oldest.next(&kv, clock) {
            StreamStep::Finish(bytes) => break bytes,
            StreamStep::Send(_) => {}
            StreamStep::Wait(pause) => clock += pause.as_millis() as u64,
        }
        assert!(clock < 1_010_000, "the replaced stream did not end");
    };
    assert!(String::from_utf8_lossy(&sent).contains("reconnect"));
    assert!(clock <= 1_000_000 + 2_000 + 2_000 + 50, "ended at {clock}");
    assert_eq!(crate::owner_sessions::listed(&kv, &owner_hash(OWNER)).unwrap().len(), 4);
    drop(others);
}

fn post_as_at(kv: &MemoryStore, uri: &str, body: &Value, now_unix: u64) -> Handled {
    match handle_message_post(
        &message(uri, body),
        kv,
        &config(),
        OWNER,
        &FakeTools::new(1),
        ALL_SCOPES,
        now_unix,
    ) {
        MessageOutcome::Respond(handled) => handled,
        other => panic!("unexpected {other:?}"),
    }
}

fn json_of(handled: &Handled) -> Value {
    serde_json::from_slice(handled.response.body()).unwrap()
}
