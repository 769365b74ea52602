//! `cargo run --release -p bench`: starts the fake cybozu.com and the app (the test host, or a
//! real `spin up` with `KINTONE_MCP_HOST=spin`), signs in, measures, prints a table and writes the
//! same figures as JSON. It measures and prints; it never fails on a timing.
//!
//! Every latency row runs on its own kept-alive HTTP/1.1 connection ([`conn::Conn`]), as an MCP
//! client sends its requests, and counts the connections it opened; each throughput client has
//! its own connection too.
//!
//! Environment: `BENCH_OUT` (JSON path, default `<target>/bench-results.json`),
//! `BENCH_SAMPLES` (sequential calls per latency row, default 300),
//! `BENCH_SECONDS` (seconds per throughput level, default 5),
//! `KINTONE_MCP_APP_DIR` (serve another checkout's spin.toml and components, e.g. an older
//! commit's worktree, with this checkout's host: see docs/benchmarks.md),
//! `E2E_REDIS_SERVER` (the `redis-server` for the rows on Redis, default the one on `PATH`;
//! without one those rows are skipped, with a line saying so).

mod clients;
mod conn;
mod host_process;
mod machine;
mod report;
mod stats;
mod store_fill;

use anyhow::{ensure, Context, Result};
use clients::{Direct, Legacy, Streamable};
use conn::Conn;
use e2e::redis_server::RedisServer;
use e2e::{App, Options};
use http::Method;
use serde_json::{json, Value};
use stats::Latency;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The measured call: one record of the seeded customer app.
const TOOL: &str = "getRecord";
const APP: u64 = 1;
const RECORD: u64 = 1;
const WARM_UP: usize = 20;
/// The pause before each call of the paused legacy SSE row.
const LEGACY_PAUSE: Duration = Duration::from_millis(20);
/// Store sizes (rows) for the store-growth rows.
const STORE_LEVELS: [u64; 2] = [10_000, 100_000];
const CONCURRENCY: [usize; 4] = [1, 8, 32, 64];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn time_each<F, Fut>(samples: usize, mut call: F) -> Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    for _ in 0..WARM_UP {
        call().await?;
    }
    let mut timings = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        call().await?;
        timings.push(start.elapsed());
    }
    Ok(timings)
}

fn arguments() -> Value {
    json!({"appId": APP.to_string(), "id": RECORD.to_string()})
}

#[tokio::main]
async fn main() -> Result<()> {
    let samples = env_number("BENCH_SAMPLES", 300) as usize;
    let seconds = env_number("BENCH_SECONDS", 5);
    let host = e2e::HostKind::from_env()?;
    let load_at_start = machine::describe().load_average;
    let started = Instant::now();

    let options = Options {
        variables: vec![("max_grants".into(), "4096".into())],
        ..Options::default()
    };
    let app = App::start_with(options)
        .await
        .context("starting the app (build it first: see the README)")?;
    let startup = started.elapsed();
    let pid = host_process::of_app(&app).ok();
    eprintln!(
        "app on {} (host pid {:?}), fake on {}, started in {:.1} s",
        app.base_url,
        pid,
        app.fake_base_url,
        startup.as_secs_f64()
    );

    // Sign-in: the whole flow (discovery, registration, authorize, consent, Cybozu, callback, token).
    let mut signin_timings = Vec::new();
    let mut mcp_tokens = None;
    for _ in 0..5 {
        let start = Instant::now();
        let tokens = e2e::signin::sign_in(&app, "alice", "/mcp")
            .await
            .context("sign-in for /mcp")?;
        signin_timings.push(start.elapsed());
        mcp_tokens.get_or_insert(tokens);
    }
    let mcp_tokens = mcp_tokens.context("no sign-in")?;
    let sse_tokens = e2e::signin::sign_in(&app, "alice", "/sse")
        .await
        .context("sign-in for /sse")?;
    let signin = Latency::of(&signin_timings);
    // A refresh token the app minted whose grant is revoked: /token parses it, checks its tag,
    // finds no record and refuses it (invalid_grant), with no side effect.
    let revoked = e2e::signin::sign_in(&app, "alice", "/mcp")
        .await
        .context("sign-in for the refused refresh")?;
    let revoke_status = e2e::signin::revoke(&app, &revoked, &revoked.refresh_token)
        .await
        .context("revoking the refused refresh's grant")?;
    ensure!(revoke_status == 200, "/revoke answered {revoke_status}");
    let kintone_bearer = clients::cybozu_token(&app.fake_base_url, &app.url("/callback"), "alice").await?;

    // Latency rows: each on its own kept-alive connection (see `conn`).
    let mut rows = Vec::new();
    let bearer = mcp_tokens.bearer();
    let app_conn = || Conn::to(&app.base_url);
    let streamable = |conn: &Conn| Streamable {
        conn: conn.clone(),
        path: "/mcp".into(),
        bearer: bearer.clone(),
    };

    let cpu = CpuMeter::start(pid);
    let c = Conn::to(&app.fake_base_url)?;
    let direct = Direct {
        conn: c.clone(),
        kintone_bearer,
    };
    let floor = time_each(samples, || async { direct.get_record(APP, RECORD).await.map(drop) }).await?;
    rows.push(Row::new(
        "direct_floor",
        "direct GET record.json at the fake (floor)",
        &floor,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = Conn::to(&app.fake_base_url)?;
    let health = time_each(samples, || async {
        expect_status(c.send(Method::GET, "/_fake/health", &[], "").await?, 200).map(drop)
    })
    .await?;
    rows.push(Row::new(
        "http_floor",
        "HTTP floor: the fake's health check",
        &health,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let ping_body = clients::request("ping", json!({})).1.to_string();
    let no_token_headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", clients::PROTOCOL_VERSION),
    ];
    let no_token = time_each(samples, || async {
        expect_status(
            c.send(Method::POST, "/mcp", &no_token_headers, ping_body.clone())
                .await?,
            401,
        )
        .map(drop)
    })
    .await?;
    rows.push(Row::new(
        "mcp_no_token_401",
        "POST /mcp without a token (401)",
        &no_token,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let ping = time_each(samples, || async {
        let (reply, _) = s.rpc(clients::request("ping", json!({})).1).await?;
        ensure!(reply.get("result").is_some(), "ping answered {reply}");
        Ok(())
    })
    .await?;
    rows.push(Row::new(
        "mcp_ping",
        "POST /mcp ping (token: one key-value read)",
        &ping,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let invalid = time_each(samples, || async {
        expect_refusal(s.rpc(clients::tools_call(TOOL, json!({"appId": "x"})).1).await?.0)
    })
    .await?;
    rows.push(Row::new(
        "tools_call_invalid_arguments",
        "tools/call getRecord {\"appId\":\"x\"} (no kintone)",
        &invalid,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let unknown = time_each(samples, || async {
        expect_refusal(s.rpc(clients::tools_call("noSuchTool", json!({})).1).await?.0)
    })
    .await?;
    rows.push(Row::new(
        "tools_call_unknown_tool",
        "tools/call of an unknown tool",
        &unknown,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let catalogue = AtomicU64::new(0);
    let catalogue_bytes = AtomicU64::new(0);
    let list = time_each(samples, || async {
        let (reply, bytes) = s.rpc(clients::request("tools/list", json!({})).1).await?;
        let tools = reply
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .with_context(|| format!("tools/list answered {}", clients::excerpt(&reply.to_string())))?;
        ensure!(
            !tools.is_empty() && reply.pointer("/result/nextCursor").is_none(),
            "tools/list: {} tools and a next page",
            tools.len()
        );
        catalogue.store(tools.len() as u64, Ordering::Relaxed);
        catalogue_bytes.store(bytes as u64, Ordering::Relaxed);
        Ok(())
    })
    .await?;
    let (tools, list_kib) = (
        catalogue.load(Ordering::Relaxed),
        catalogue_bytes.load(Ordering::Relaxed) as f64 / 1024.0,
    );
    rows.push(Row::new(
        "tools_list",
        &format!("tools/list (whole catalogue: {tools} tools, {list_kib:.0} KiB)"),
        &list,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let mcp = time_each(samples, || async { s.call(TOOL, arguments()).await.map(drop) }).await?;
    rows.push(Row::new(
        "mcp_streamable",
        "tools/call getRecord  POST /mcp",
        &mcp,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    // A kintone write: the outbound request carries a body (addRecord; the seeded customer app
    // requires its company-name field, unique per record).
    let cpu = CpuMeter::start(pid);
    let c = Conn::to(&app.fake_base_url)?;
    let direct = Direct {
        conn: c.clone(),
        kintone_bearer: direct.kintone_bearer.clone(),
    };
    let written = AtomicU64::new(0);
    let record = || json!({"会社名": {"value": format!("bench {}", written.fetch_add(1, Ordering::Relaxed))}});
    let add_floor = time_each(samples, || async { direct.add_record(APP, &record()).await.map(drop) }).await?;
    rows.push(Row::new(
        "direct_add_floor",
        "direct POST record.json at the fake (write floor)",
        &add_floor,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let s = streamable(&c);
    let add = time_each(samples, || async {
        s.call("addRecord", json!({"appId": APP.to_string(), "record": record()}))
            .await
            .map(drop)
    })
    .await?;
    rows.push(Row::new(
        "mcp_add_record",
        "tools/call addRecord  POST /mcp (outbound POST)",
        &add,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    rows.extend(legacy_rows(&app, pid, &sse_tokens.bearer(), samples, &LEGACY_ON_DISK).await?);

    // The metadata document: no store, no outbound call (instantiation plus a minimal handler).
    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let metadata = time_each(samples, || async {
        expect_status(
            c.send(Method::GET, "/.well-known/oauth-authorization-server", &[], "")
                .await?,
            200,
        )
        .map(drop)
    })
    .await?;
    rows.push(Row::new(
        "metadata",
        "GET /.well-known/oauth-authorization-server",
        &metadata,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    let cpu = CpuMeter::start(pid);
    let c = app_conn()?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", revoked.refresh_token.as_str()),
        ("resource", revoked.resource.as_str()),
    ];
    if revoked.client_secret.is_none() {
        form.push(("client_id", revoked.client_id.as_str()));
    }
    let token_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let basic = revoked.client_secret.as_ref().map(|secret| {
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{}:{secret}", revoked.client_id)
            )
        )
    });
    let mut token_headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(basic) = &basic {
        token_headers.push(("authorization", basic.as_str()));
    }
    let refused = time_each(samples, || async {
        let body = expect_status(
            c.send(Method::POST, "/token", &token_headers, token_body.clone())
                .await?,
            400,
        )?;
        ensure!(
            body.contains("invalid_grant"),
            "/token refused the refresh with {}",
            clients::excerpt(&body)
        );
        Ok(())
    })
    .await?;
    rows.push(Row::new(
        "token_refused_refresh",
        "POST /token refused refresh (invalid_grant)",
        &refused,
        c.connections(),
        cpu.per_call(WARM_UP + samples),
    ));

    // Throughput over /mcp: N clients, each a loop of calls on its own kept-alive connection.
    let mut throughput = Vec::new();
    for clients in CONCURRENCY {
        let conns = (0..clients).map(|_| app_conn()).collect::<Result<Vec<_>>>()?;
        let callers: Vec<Streamable> = conns.iter().map(&streamable).collect();
        eprintln!("throughput: {clients} clients for {seconds} s ...");
        let cpu = |pid: Option<u32>| pid.and_then(|pid| host_process::cpu_seconds(pid).ok());
        let (host_before, bench_before) = (cpu(pid), cpu(Some(std::process::id())));
        let mut level = run_throughput(callers, Duration::from_secs(seconds)).await;
        let (host_after, bench_after) = (cpu(pid), cpu(Some(std::process::id())));
        level.connections = conns.iter().map(Conn::connections).sum();
        level.host_cpu_seconds = host_before.zip(host_after).map(|(b, a)| a - b);
        level.bench_cpu_seconds = bench_before.zip(bench_after).map(|(b, a)| a - b);
        throughput.push(level);
    }

    // Store growth.
    eprintln!("store growth ...");
    let c = app_conn()?;
    let s = streamable(&c);
    let mcp_latency = Latency::of(&mcp);
    let mut growth = Vec::new();
    let mut filler = store_fill::Filler::open(&app.state_dir)?;
    growth.push(report::Growth {
        grants: filler.grants()?,
        rows: filler.rows()?,
        latency: mcp_latency,
    });
    for level in STORE_LEVELS {
        filler.fill_to_rows(level)?;
        let latency =
            Latency::of(&time_each(samples / 2, || async { s.call(TOOL, arguments()).await.map(drop) }).await?);
        growth.push(report::Growth {
            grants: filler.grants()?,
            rows: filler.rows()?,
            latency,
        });
    }

    // The legacy rows again on a store that never waits for the disk: what the app's own path
    // costs, apart from `spin up`'s synced SQLite writes (see docs/benchmarks.md).
    eprintln!("legacy SSE on an in-memory store ...");
    rows.extend(legacy_rows_in_memory(samples).await?);
    // And on Redis, the store of a SpinKube deployment, when a `redis-server` is at hand.
    match RedisServer::start() {
        Ok(redis) => {
            eprintln!("legacy SSE on Redis ...");
            rows.extend(legacy_rows_on_redis(&redis, samples).await?);
        }
        Err(e) => eprintln!("legacy SSE on Redis: skipped ({e:#})"),
    }

    let memory = pid.map(|pid| {
        (
            host_process::status_kib(pid, "VmHWM").ok(),
            host_process::status_kib(pid, "VmRSS").ok(),
        )
    });
    let components = report::component_sizes(&e2e::target_dir(&e2e::app_dir()));

    let results = report::Results {
        host: match host {
            e2e::HostKind::TestHost => "test-host",
            e2e::HostKind::Spin => "spin",
        },
        app_dir: e2e::app_dir(),
        samples,
        seconds,
        startup,
        signin,
        rows,
        throughput,
        growth,
        peak_kib: memory.and_then(|m| m.0),
        rss_kib: memory.and_then(|m| m.1),
        components,
        load_at_start,
        machine: machine::describe(),
        total: started.elapsed(),
    };
    println!("{}", results.table());
    let out = std::env::var_os("BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| e2e::target_dir(&e2e::workspace_root()).join("bench-results.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&results.json())?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("JSON: {}", out.display());
    Ok(())
}

/// The keys and labels of one run of the legacy SSE rows.
struct LegacyRows {
    round_trip: (&'static str, &'static str),
    post: (&'static str, &'static str),
    paused: (&'static str, &'static str),
}

/// The sub-rows' labels, the same on every store.
const LEGACY_POST: &str = "  of which POST /sse/message until its 202";
const LEGACY_PAUSED: &str = "  the same, 20 ms between calls";

const LEGACY_ON_DISK: LegacyRows = LegacyRows {
    round_trip: ("mcp_legacy_sse", "tools/call getRecord  legacy SSE (stream + POSTs)"),
    post: ("mcp_legacy_sse_post", LEGACY_POST),
    paused: ("mcp_legacy_sse_paused", LEGACY_PAUSED),
};

const LEGACY_IN_MEMORY: LegacyRows = LegacyRows {
    round_trip: ("mcp_legacy_sse_memory", "legacy SSE, store in memory (no disk sync)"),
    post: ("mcp_legacy_sse_memory_post", LEGACY_POST),
    paused: ("mcp_legacy_sse_memory_paused", LEGACY_PAUSED),
};

const LEGACY_ON_REDIS: LegacyRows = LegacyRows {
    round_trip: ("mcp_legacy_sse_redis", "legacy SSE, store on Redis (loopback)"),
    post: ("mcp_legacy_sse_redis_post", LEGACY_POST),
    paused: ("mcp_legacy_sse_redis_paused", LEGACY_PAUSED),
};

/// Legacy SSE: the stream holds one connection, the POSTs reuse a second one.
async fn legacy_rows(
    app: &App,
    pid: Option<u32>,
    bearer: &str,
    samples: usize,
    names: &LegacyRows,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let cpu = CpuMeter::start(pid);
    let c = Conn::to(&app.base_url)?;
    let mut legacy = Legacy::open(&app.base_url, bearer, c.clone()).await?;
    let mut timings = Vec::with_capacity(samples);
    let mut posts = Vec::with_capacity(samples);
    for i in 0..WARM_UP + samples {
        let start = Instant::now();
        legacy.call(TOOL, arguments()).await?;
        if i >= WARM_UP {
            timings.push(start.elapsed());
            posts.push(legacy.last_post);
        }
    }
    rows.push(Row::new(
        names.round_trip.0,
        names.round_trip.1,
        &timings,
        c.connections() + legacy.streams,
        cpu.per_call(WARM_UP + samples),
    ));
    // The same calls' POSTs alone, until their 202: the request on the kept-alive connection.
    // (Host CPU is the round trip's, above.)
    rows.push(Row::new(names.post.0, names.post.1, &posts, c.connections(), None));

    // The same stream, the way an assistant uses it: a pause between calls (the model reads
    // one reply before it asks again), so each call meets a store no longer busy with the
    // previous message. A third of the samples; after 20 ms of quiet the stream polls every
    // 2 ms (a tenth of the quiet).
    let cpu = CpuMeter::start(pid);
    let paused_samples = samples.div_ceil(3);
    let mut paused = Vec::with_capacity(paused_samples);
    for _ in 0..paused_samples {
        tokio::time::sleep(LEGACY_PAUSE).await;
        let start = Instant::now();
        legacy.call(TOOL, arguments()).await?;
        paused.push(start.elapsed());
    }
    rows.push(Row::new(
        names.paused.0,
        names.paused.1,
        &paused,
        c.connections() + legacy.streams,
        cpu.per_call(paused_samples),
    ));
    Ok(rows)
}

/// The legacy rows on a second app whose `default` store is Spin's SQLite in memory.
async fn legacy_rows_in_memory(samples: usize) -> Result<Vec<Row>> {
    let app = App::start_with_store_in_memory()
        .await
        .context("starting the app with its store in memory")?;
    legacy_rows_on(&app, samples, &LEGACY_IN_MEMORY).await
}

/// The legacy rows on an app whose `default` store is that Redis server.
async fn legacy_rows_on_redis(redis: &RedisServer, samples: usize) -> Result<Vec<Row>> {
    let app = App::start_with_store_on_redis(redis)
        .await
        .context("starting the app with its store on Redis")?;
    legacy_rows_on(&app, samples, &LEGACY_ON_REDIS).await
}

async fn legacy_rows_on(app: &App, samples: usize, names: &LegacyRows) -> Result<Vec<Row>> {
    let pid = host_process::of_app(app).ok();
    let tokens = e2e::signin::sign_in(app, "alice", "/sse")
        .await
        .with_context(|| format!("sign-in for /sse ({})", names.round_trip.1))?;
    legacy_rows(app, pid, &tokens.bearer(), samples, names).await
}

/// One latency row: its JSON key, its label, the timings, the connections its client opened
/// and the host's CPU time per request.
pub struct Row {
    pub key: &'static str,
    pub label: String,
    pub latency: Latency,
    pub connections: u64,
    pub host_cpu_ms: Option<f64>,
}

impl Row {
    fn new(key: &'static str, label: &str, timings: &[Duration], connections: u64, host_cpu_ms: Option<f64>) -> Row {
        let latency = Latency::of(timings);
        eprintln!("measured {label}: p50 {:.2} ms, p99 {:.2} ms", latency.p50, latency.p99);
        Row {
            key,
            label: label.to_owned(),
            latency,
            connections,
            host_cpu_ms,
        }
    }
}

/// The host process's CPU time across one row (the fake's requests, e.g. the direct floor, run
/// in the benchmark's own process and cost the host nothing).
struct CpuMeter {
    pid: Option<u32>,
    start: Option<f64>,
}

impl CpuMeter {
    fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            start: pid.and_then(|p| host_process::cpu_seconds(p).ok()),
        }
    }

    /// Host CPU milliseconds per request over `requests` requests since [`CpuMeter::start`]
    /// (10 ms tick resolution over the whole row).
    fn per_call(&self, requests: usize) -> Option<f64> {
        let end = self.pid.and_then(|p| host_process::cpu_seconds(p).ok())?;
        Some((end - self.start?) * 1000.0 / requests.max(1) as f64)
    }
}

/// Check the status; the body as text.
fn expect_status(response: conn::Reply, expected: u16) -> Result<String> {
    let body = response.text();
    ensure!(
        response.status.as_u16() == expected,
        "answered {} (expected {expected}): {}",
        response.status,
        clients::excerpt(&body)
    );
    Ok(body)
}

/// A refused `tools/call`: a JSON-RPC error or a tool error (`isError: true`).
fn expect_refusal(reply: Value) -> Result<()> {
    let refused = reply.get("error").is_some() || reply.pointer("/result/isError") == Some(&Value::Bool(true));
    ensure!(
        refused,
        "expected a refusal, got {}",
        clients::excerpt(&reply.to_string())
    );
    Ok(())
}

async fn run_throughput(callers: Vec<Streamable>, duration: Duration) -> report::Throughput {
    let clients = callers.len();
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in callers {
        let (ok, errors, first_error) = (ok.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match client.call(TOOL, arguments()).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert_with(|| format!("{e:#}"));
                        }
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    report::Throughput {
        clients,
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        first_error,
        connections: 0,
        host_cpu_seconds: None,
        bench_cpu_seconds: None,
    }
}
