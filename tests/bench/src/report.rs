//! The results: a printed table and the same figures as JSON.

use crate::machine::Machine;
use crate::stats::{round, Latency};
use crate::Row;
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Throughput {
    pub clients: usize,
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub first_error: Option<String>,
    /// TCP connections the level's clients opened.
    pub connections: u64,
    /// Host process CPU time (user + system) during the level, in seconds.
    pub host_cpu_seconds: Option<f64>,
    /// This process's CPU time during the level (the clients and the fake cybozu.com), in
    /// seconds: on a shared machine it is what the host cannot have.
    pub bench_cpu_seconds: Option<f64>,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Host CPU milliseconds per successful call.
    fn cpu_ms_per_call(&self) -> Option<f64> {
        self.ms_per_call(self.host_cpu_seconds)
    }

    /// The bench's own (clients and fake) CPU milliseconds per successful call.
    fn bench_cpu_ms_per_call(&self) -> Option<f64> {
        self.ms_per_call(self.bench_cpu_seconds)
    }

    fn ms_per_call(&self, seconds: Option<f64>) -> Option<f64> {
        seconds.filter(|_| self.ok > 0).map(|s| s * 1000.0 / self.ok as f64)
    }
}

pub struct Growth {
    pub grants: u64,
    pub rows: u64,
    pub latency: Latency,
}

pub struct Results {
    pub host: &'static str,
    /// Where the served spin.toml and its components are (`KINTONE_MCP_APP_DIR` or the workspace).
    pub app_dir: PathBuf,
    pub samples: usize,
    pub seconds: u64,
    pub startup: Duration,
    pub signin: Latency,
    /// The latency rows, in the order measured, each on its own keep-alive client.
    pub rows: Vec<Row>,
    pub throughput: Vec<Throughput>,
    pub growth: Vec<Growth>,
    pub peak_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub components: Vec<(String, u64)>,
    pub load_at_start: String,
    pub machine: Machine,
    pub total: Duration,
}

/// Components must stay below this size each.
const COMPONENT_LIMIT: u64 = 1024 * 1024;

/// Sizes of the built components (`*.wasm` in the release wasm32-wasip2 output).
pub fn component_sizes(target: &Path) -> Vec<(String, u64)> {
    let dir = target.join("wasm32-wasip2").join("release");
    let mut sizes: Vec<(String, u64)> = e2e::COMPONENTS
        .iter()
        .filter_map(|c| {
            let name = format!("{}.wasm", c.replace('-', "_"));
            std::fs::metadata(dir.join(&name)).ok().map(|m| (name, m.len()))
        })
        .collect();
    sizes.sort();
    sizes
}

impl Results {
    fn row(&self, key: &str) -> Option<&Latency> {
        self.rows.iter().find(|r| r.key == key).map(|r| &r.latency)
    }

    /// p50 of row `a` minus p50 of row `b`, in ms.
    fn p50_over(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.row(a)?.p50 - self.row(b)?.p50)
    }

    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "kintone-mcp-spin benchmark — host: {}, {} samples per latency row, {} s per throughput level",
            self.host, self.samples, self.seconds
        );
        let _ = writeln!(t, "app: {}", self.app_dir.join("spin.toml").display());
        let _ = writeln!(
            t,
            "machine: {}; load average at start {}",
            self.machine.line(),
            self.load_at_start
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<54} {:>8} {:>8} {:>8} {:>8}  conns  host CPU",
            "latency (ms), one keep-alive connection per row", "p50", "p90", "p99", "max"
        );
        for r in &self.rows {
            let l = &r.latency;
            let cpu = r.host_cpu_ms.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                t,
                "{:<54} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {:>5} {:>9}",
                r.label, l.p50, l.p90, l.p99, l.max, r.connections, cpu
            );
        }
        let ms = |x: Option<f64>| x.map(|x| format!("{x:+.2} ms")).unwrap_or_else(|| "?".into());
        let _ = writeln!(
            t,
            "getRecord over the direct call (p50): /mcp {}, legacy SSE {}",
            ms(self.p50_over("mcp_streamable", "direct_floor")),
            ms(self.p50_over("mcp_legacy_sse", "direct_floor"))
        );
        let _ = writeln!(
            t,
            "addRecord over the direct write (p50): {}",
            ms(self.p50_over("mcp_add_record", "direct_add_floor"))
        );
        let _ = writeln!(
            t,
            "tools/call with invalid arguments over ping (p50): {}",
            ms(self.p50_over("tools_call_invalid_arguments", "mcp_ping"))
        );
        let _ = writeln!(
            t,
            "instantiation + handling (metadata document over the HTTP floor, p50): {}",
            ms(self.p50_over("metadata", "http_floor"))
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "throughput, /mcp getRecord   clients   calls/s      ok  errors  conns  host CPU ms/call  bench CPU ms/call"
        );
        let ms = |x: Option<f64>| x.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into());
        for tp in &self.throughput {
            let _ = writeln!(
                t,
                "{:<28} {:>7} {:>9.1} {:>7} {:>7} {:>6} {:>17} {:>18}",
                "",
                tp.clients,
                tp.per_second(),
                tp.ok,
                tp.errors,
                tp.connections,
                ms(tp.cpu_ms_per_call()),
                ms(tp.bench_cpu_ms_per_call())
            );
            if let Some(e) = &tp.first_error {
                let _ = writeln!(t, "{:<28} first error: {}", "", e.chars().take(160).collect::<String>());
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "full sign-in flow (discovery, register, authorize, consent, Cybozu, callback, token): p50 {:.1} ms, max {:.1} ms over {} runs", self.signin.p50, self.signin.max, self.signin.samples);
        let _ = writeln!(t, "host start-up until it answers: {:.2} s", self.startup.as_secs_f64());
        let kib = |k: Option<u64>| {
            k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "unknown (host pid not found)".into())
        };
        let _ = writeln!(
            t,
            "host peak memory (VmHWM): {}; resident at end (VmRSS): {}",
            kib(self.peak_kib),
            kib(self.rss_kib)
        );
        let _ = writeln!(t);
        let _ = writeln!(t, "component sizes (wasm32-wasip2 release), limit 1024.0 KiB each");
        for (name, bytes) in &self.components {
            let flag = if *bytes < COMPONENT_LIMIT {
                ""
            } else {
                "  OVER THE LIMIT"
            };
            let _ = writeln!(t, "  {:<24} {:>8.1} KiB{}", name, *bytes as f64 / 1024.0, flag);
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "store growth: /mcp getRecord latency (ms)   grants    rows      p50      p90      p99"
        );
        for g in &self.growth {
            let _ = writeln!(
                t,
                "{:<42} {:>7} {:>7} {:>8.2} {:>8.2} {:>8.2}",
                "", g.grants, g.rows, g.latency.p50, g.latency.p90, g.latency.p99
            );
        }
        let _ = write!(t, "total run time: {:.1} s", self.total.as_secs_f64());
        t
    }

    pub fn json(&self) -> Value {
        let mut latency: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut v = r.latency.json();
                if let Some(o) = v.as_object_mut() {
                    o.insert("label".into(), json!(r.label));
                    o.insert("connections".into(), json!(r.connections));
                    o.insert("host_cpu_ms_per_request".into(), json!(r.host_cpu_ms.map(round)));
                }
                (r.key.to_owned(), v)
            })
            .collect();
        let ratio = |a: &str, b: &str| Some(round(self.row(a)?.p50 / self.row(b)?.p50));
        let over = |a: &str, b: &str| self.p50_over(a, b).map(round);
        latency.insert("ratio_p50_mcp".into(), json!(ratio("mcp_streamable", "direct_floor")));
        latency.insert("ratio_p50_sse".into(), json!(ratio("mcp_legacy_sse", "direct_floor")));
        latency.insert(
            "overhead_p50_mcp_ms".into(),
            json!(over("mcp_streamable", "direct_floor")),
        );
        latency.insert(
            "overhead_p50_sse_ms".into(),
            json!(over("mcp_legacy_sse", "direct_floor")),
        );
        latency.insert(
            "overhead_p50_add_record_ms".into(),
            json!(over("mcp_add_record", "direct_add_floor")),
        );
        latency.insert(
            "invalid_arguments_over_ping_p50_ms".into(),
            json!(over("tools_call_invalid_arguments", "mcp_ping")),
        );
        latency.insert("instantiation_p50_ms".into(), json!(over("metadata", "http_floor")));
        json!({
            "host": self.host,
            "app_dir": self.app_dir.display().to_string(),
            "samples": self.samples,
            "throughput_seconds": self.seconds,
            "machine": self.machine.json(),
            "load_average_at_start": self.load_at_start,
            "latency_ms": latency,
            "throughput": self.throughput.iter().map(|tp| json!({
                "clients": tp.clients, "calls_per_second": round(tp.per_second()), "ok": tp.ok, "errors": tp.errors,
                "connections": tp.connections, "first_error": tp.first_error,
                "host_cpu_ms_per_call": tp.cpu_ms_per_call().map(round),
                "bench_cpu_ms_per_call": tp.bench_cpu_ms_per_call().map(round),
            })).collect::<Vec<_>>(),
            "signin_ms": self.signin.json(),
            "startup_s": round(self.startup.as_secs_f64()),
            "host_peak_kib": self.peak_kib,
            "host_rss_kib": self.rss_kib,
            "component_bytes": self.components.iter().map(|(n, b)| (n.clone(), json!(b))).collect::<serde_json::Map<_, _>>(),
            "components_under_1_mib": self.components.iter().all(|(_, b)| *b < COMPONENT_LIMIT),
            "store_growth": self.growth.iter().map(|g| json!({"grants": g.grants, "rows": g.rows, "latency_ms": g.latency.json()})).collect::<Vec<_>>(),
            "total_s": round(self.total.as_secs_f64()),
        })
    }
}
