//! Load: 64 concurrent MCP clients for 30 s through `POST /mcp`, two reads (getRecords) to one
//! write (addRecord with a unique marker). No call may fail, and afterwards every record a
//! client was told it wrote is in kintone exactly once. Throughput is printed, never asserted.

use e2e::mcp_client::McpClient;
use e2e::signin::sign_in;
use e2e::App;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;
/// Clients share a few sign-ins, as several assistants of one person would.
const SIGN_INS: usize = 4;
const RUN_FOR: Duration = Duration::from_secs(30);
/// Far above any call on a loaded 2-core machine: only a hung call reaches it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// What one client did.
#[derive(Default)]
struct Tally {
    reads: usize,
    /// marker → record id the tool returned.
    written: BTreeMap<String, String>,
    failures: Vec<String>,
}

async fn run_client(client: Arc<McpClient>, index: usize, run: String, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0usize;
    while Instant::now() < until {
        n += 1;
        if n.is_multiple_of(3) {
            let marker = format!("{run}-c{index}-n{n}");
            let arguments =
                json!({"appId": 1, "record": {"会社名": {"value": marker}, "メモ": {"value": "load test"}}});
            match tokio::time::timeout(CALL_TIMEOUT, client.call("addRecord", arguments)).await {
                Ok(Ok(call)) if !call.is_error() => {
                    match call.structured().and_then(|s| s["id"].as_str().map(str::to_owned)) {
                        Some(id) => {
                            tally.written.insert(marker, id);
                        }
                        None => tally
                            .failures
                            .push(format!("addRecord {marker}: no id in {}", call.raw)),
                    }
                }
                Ok(Ok(call)) => tally
                    .failures
                    .push(format!("addRecord {marker}: isError: {}", call.text())),
                Ok(Err(e)) => tally.failures.push(format!("addRecord {marker}: {e:#}")),
                Err(_) => tally
                    .failures
                    .push(format!("addRecord {marker}: no answer within {CALL_TIMEOUT:?}")),
            }
        } else {
            let arguments = json!({"appId": 1, "fields": ["$id", "会社名"], "limit": 5});
            match tokio::time::timeout(CALL_TIMEOUT, client.call("getRecords", arguments)).await {
                Ok(Ok(call))
                    if !call.is_error()
                        && call
                            .structured()
                            .is_some_and(|s| s["records"].as_array().is_some_and(|r| !r.is_empty())) =>
                {
                    tally.reads += 1
                }
                Ok(Ok(call)) => tally
                    .failures
                    .push(format!("getRecords: unexpected result: {}", call.raw)),
                Ok(Err(e)) => tally.failures.push(format!("getRecords: {e:#}")),
                Err(_) => tally
                    .failures
                    .push(format!("getRecords: no answer within {CALL_TIMEOUT:?}")),
            }
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_for_thirty_seconds_lose_no_call_and_no_record() {
    let app = App::start().await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..SIGN_INS {
        let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
        clients.push(Arc::new(McpClient::new(&app, &tokens)));
    }
    let run = format!("load-{}", std::process::id());

    let started = Instant::now();
    let until = started + RUN_FOR;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(run_client(clients[i % SIGN_INS].clone(), i, run.clone(), until)))
        .collect();
    let mut reads = 0;
    let mut written = BTreeMap::new();
    let mut failures = Vec::new();
    for task in tasks {
        let tally = task.await.unwrap();
        reads += tally.reads;
        written.extend(tally.written);
        failures.extend(tally.failures);
    }
    let elapsed = started.elapsed();
    let calls = reads + written.len() + failures.len();
    eprintln!(
        "load: {CLIENTS} clients, {calls} calls in {:.1} s = {:.1} calls/s ({reads} reads, {} writes, {} failed)",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        written.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed; first ones: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        !written.is_empty() && reads > 0,
        "the run made no progress: {reads} reads, {} writes",
        written.len()
    );

    // Every record a client was told it wrote is in kintone exactly once, under the id it got.
    let stored = app.fake.as_ref().unwrap().records(1).unwrap();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in &stored {
        if let Some(marker) = record["会社名"]["value"].as_str().filter(|m| m.starts_with(&run)) {
            found
                .entry(marker.to_owned())
                .or_default()
                .push(record["$id"]["value"].as_str().unwrap_or_default().to_owned());
        }
    }
    for (marker, id) in &written {
        match found.get(marker).map(Vec::as_slice) {
            Some([stored_id]) => assert_eq!(stored_id, id, "{marker} is stored under another id"),
            Some(ids) => panic!("{marker} is stored {} times: {ids:?}", ids.len()),
            None => panic!("{marker} (id {id}) was reported written but is not in kintone"),
        }
    }
    let unreported: Vec<&String> = found.keys().filter(|m| !written.contains_key(*m)).collect();
    assert!(
        unreported.is_empty(),
        "records written that no client was told about: {unreported:?}"
    );
    let writes = app
        .fake
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.path == "/k/v1/record.json" && r.method == "POST")
        .count();
    assert_eq!(writes, written.len(), "each addRecord reached kintone exactly once");
}
