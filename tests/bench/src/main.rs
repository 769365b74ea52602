//! `cargo run --release -p bench`: starts the fake cybozu.com and the app (the test host, or a
//! real `spin up` with `KINTONE_MCP_HOST=spin`), signs in, measures, prints a table and writes the
//! same figures as JSON. It measures and prints; it never fails on a timing.
//!
//! Environment: `BENCH_OUT` (JSON path, default `<target>/bench-results.json`),
//! `BENCH_SAMPLES` (sequential calls per latency row, default 300),
//! `BENCH_SECONDS` (seconds per throughput level, default 5).

mod clients;
mod host_process;
mod machine;
mod report;
mod stats;
mod store_fill;

use anyhow::{Context, Result};
use clients::{Direct, Legacy, Streamable};
use e2e::{App, Options};
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
/// Store sizes (rows) for the store-growth rows.
const STORE_LEVELS: [u64; 2] = [10_000, 100_000];
const CONCURRENCY: [usize; 3] = [1, 8, 64];

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
    let started = Instant::now();

    let options = Options { variables: vec![("max_grants".into(), "4096".into())], ..Options::default() };
    let app = App::start_with(options).await.context("starting the app (build it first: see the README)")?;
    let startup = started.elapsed();
    let port: u16 = app.base_url.rsplit(':').next().and_then(|p| p.parse().ok()).context("no port in the base URL")?;
    let pid = host_process::pid_listening_on(port).ok();
    eprintln!("app on {} (host pid {:?}), fake on {}, started in {:.1} s", app.base_url, pid, app.fake_base_url, startup.as_secs_f64());

    // Sign-in: the whole flow (discovery, registration, authorize, consent, Cybozu, callback, token).
    let mut signin_timings = Vec::new();
    let mut mcp_tokens = None;
    for _ in 0..5 {
        let start = Instant::now();
        let tokens = e2e::signin::sign_in(&app, "alice", "/mcp").await.context("sign-in for /mcp")?;
        signin_timings.push(start.elapsed());
        mcp_tokens.get_or_insert(tokens);
    }
    let mcp_tokens = mcp_tokens.context("no sign-in")?;
    let sse_tokens = e2e::signin::sign_in(&app, "alice", "/sse").await.context("sign-in for /sse")?;
    let signin = Latency::of(&signin_timings);

    let http = reqwest::Client::builder().pool_max_idle_per_host(128).build()?;
    let streamable = Streamable { http: http.clone(), url: app.url("/mcp"), bearer: mcp_tokens.bearer() };
    let kintone_bearer = clients::cybozu_token(&app.fake_base_url, &app.url("/callback"), "alice").await?;
    let direct = Direct { http: http.clone(), fake_base_url: app.fake_base_url.clone(), kintone_bearer };

    // Latency of the same read three ways.
    let floor = Latency::of(&time_each(samples, || async { direct.get_record(APP, RECORD).await.map(drop) }).await?);
    let mcp = Latency::of(&time_each(samples, || async { streamable.call(TOOL, arguments()).await.map(drop) }).await?);
    let mut legacy = Legacy::open(&http, &app.base_url, &sse_tokens.bearer()).await?;
    let legacy_timings = {
        let legacy = &mut legacy;
        let mut timings = Vec::with_capacity(samples);
        for i in 0..WARM_UP + samples {
            let start = Instant::now();
            legacy.call(TOOL, arguments()).await?;
            if i >= WARM_UP {
                timings.push(start.elapsed());
            }
        }
        timings
    };
    let sse = Latency::of(&legacy_timings);
    drop(legacy);

    // A trivial request (the metadata document, no store or kintone access): the per-request
    // cost of instantiating a component and answering; the fake's health check is the HTTP floor.
    let metadata_url = app.url("/.well-known/oauth-authorization-server");
    let trivial = Latency::of(&time_each(samples, || async { ok_status(http.get(&metadata_url).send().await?) }).await?);
    let health_url = format!("{}/_fake/health", app.fake_base_url);
    let http_floor = Latency::of(&time_each(samples, || async { ok_status(http.get(&health_url).send().await?) }).await?);

    // Throughput over /mcp.
    let mut throughput = Vec::new();
    for clients in CONCURRENCY {
        throughput.push(run_throughput(&streamable, clients, Duration::from_secs(seconds)).await);
    }

    // Store growth.
    let mut growth = Vec::new();
    let mut filler = store_fill::Filler::open(&app.state_dir)?;
    growth.push(report::Growth { grants: filler.grants()?, rows: filler.rows()?, latency: mcp });
    for level in STORE_LEVELS {
        filler.fill_to_rows(level)?;
        let latency = Latency::of(&time_each(samples / 2, || async { streamable.call(TOOL, arguments()).await.map(drop) }).await?);
        growth.push(report::Growth { grants: filler.grants()?, rows: filler.rows()?, latency });
    }

    let memory = pid.map(|pid| (host_process::status_kib(pid, "VmHWM").ok(), host_process::status_kib(pid, "VmRSS").ok()));
    let components = report::component_sizes(&e2e::target_dir(&e2e::workspace_root()));

    let results = report::Results {
        host: match host {
            e2e::HostKind::TestHost => "test-host",
            e2e::HostKind::Spin => "spin",
        },
        samples,
        seconds,
        startup,
        signin,
        floor,
        mcp,
        sse,
        trivial,
        http_floor,
        throughput,
        growth,
        peak_kib: memory.and_then(|m| m.0),
        rss_kib: memory.and_then(|m| m.1),
        components,
        machine: machine::describe(),
        total: started.elapsed(),
    };
    println!("{}", results.table());
    let out = std::env::var_os("BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| e2e::target_dir(&e2e::workspace_root()).join("bench-results.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&results.json())?).with_context(|| format!("cannot write {}", out.display()))?;
    println!("JSON: {}", out.display());
    Ok(())
}

fn ok_status(response: reqwest::Response) -> Result<()> {
    anyhow::ensure!(response.status().is_success(), "answered {}", response.status());
    Ok(())
}

async fn run_throughput(client: &Streamable, clients: usize, duration: Duration) -> report::Throughput {
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, ok, errors, first_error) = (client.clone(), ok.clone(), errors.clone(), first_error.clone());
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
    report::Throughput { clients, ok: ok.load(Ordering::Relaxed), errors: errors.load(Ordering::Relaxed), elapsed, first_error }
}
