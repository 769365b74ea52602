//! The results: a printed table and the same figures as JSON.

use crate::machine::Machine;
use crate::stats::{round, Latency};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

pub struct Throughput {
    pub clients: usize,
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

pub struct Growth {
    pub grants: u64,
    pub rows: u64,
    pub latency: Latency,
}

pub struct Results {
    pub host: &'static str,
    pub samples: usize,
    pub seconds: u64,
    pub startup: Duration,
    pub signin: Latency,
    pub floor: Latency,
    pub mcp: Latency,
    pub sse: Latency,
    pub trivial: Latency,
    pub http_floor: Latency,
    pub throughput: Vec<Throughput>,
    pub growth: Vec<Growth>,
    pub peak_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    pub components: Vec<(String, u64)>,
    pub machine: Machine,
    pub total: Duration,
}

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

fn ratio(a: f64, b: f64) -> String {
    format!("{:.1}x", a / b)
}

impl Results {
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "kintone-mcp-spin benchmark — host: {}, {} samples per latency row, {} s per throughput level", self.host, self.samples, self.seconds);
        let _ = writeln!(t, "machine: {}", self.machine.line());
        let _ = writeln!(t);
        let _ = writeln!(t, "tools/call getRecord latency (ms)      p50      p90      p99   ratio p50 / floor");
        for (name, l, r) in [
            ("direct GET record.json at the fake", &self.floor, None),
            ("MCP Streamable HTTP  POST /mcp", &self.mcp, Some(ratio(self.mcp.p50, self.floor.p50))),
            ("MCP legacy SSE  POST /sse/message", &self.sse, Some(ratio(self.sse.p50, self.floor.p50))),
        ] {
            let _ = writeln!(t, "{:<36} {:>8.2} {:>8.2} {:>8.2}   {}", name, l.p50, l.p90, l.p99, r.unwrap_or_else(|| "(floor)".into()));
        }
        let _ = writeln!(t, "overhead over the direct call (p50): /mcp +{:.2} ms, SSE +{:.2} ms", self.mcp.p50 - self.floor.p50, self.sse.p50 - self.floor.p50);
        let _ = writeln!(t);
        let _ = writeln!(t, "throughput over /mcp    clients   calls/s      ok  errors");
        for tp in &self.throughput {
            let _ = writeln!(t, "{:<23} {:>7} {:>9.1} {:>7} {:>7}", "", tp.clients, tp.per_second(), tp.ok, tp.errors);
            if let Some(e) = &tp.first_error {
                let _ = writeln!(t, "{:<23} first error: {}", "", e.chars().take(160).collect::<String>());
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "full sign-in flow (discovery, register, authorize, consent, Cybozu, callback, token): p50 {:.1} ms, max {:.1} ms over {} runs", self.signin.p50, self.signin.p99, self.signin.samples);
        let _ = writeln!(t, "trivial request (GET authorization-server metadata, one component instantiated): p50 {:.2} ms, p99 {:.2} ms", self.trivial.p50, self.trivial.p99);
        let _ = writeln!(t, "  HTTP floor (the fake's health check): p50 {:.2} ms -> instantiation + handling ≈ {:.2} ms per request", self.http_floor.p50, self.trivial.p50 - self.http_floor.p50);
        let _ = writeln!(t, "host start-up until it answers: {:.2} s", self.startup.as_secs_f64());
        let kib = |k: Option<u64>| k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "unknown (host pid not found)".into());
        let _ = writeln!(t, "host peak memory (VmHWM): {}; resident at end (VmRSS): {}", kib(self.peak_kib), kib(self.rss_kib));
        let _ = writeln!(t);
        let _ = writeln!(t, "component sizes (wasm32-wasip2 release)");
        for (name, bytes) in &self.components {
            let _ = writeln!(t, "  {:<24} {:>8.1} KiB", name, *bytes as f64 / 1024.0);
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "store growth: /mcp getRecord latency (ms)   grants    rows      p50      p90      p99");
        for g in &self.growth {
            let _ = writeln!(t, "{:<42} {:>7} {:>7} {:>8.2} {:>8.2} {:>8.2}", "", g.grants, g.rows, g.latency.p50, g.latency.p90, g.latency.p99);
        }
        let _ = write!(t, "total run time: {:.1} s", self.total.as_secs_f64());
        t
    }

    pub fn json(&self) -> Value {
        json!({
            "host": self.host,
            "samples": self.samples,
            "throughput_seconds": self.seconds,
            "machine": self.machine.json(),
            "latency_ms": {
                "direct_floor": self.floor.json(),
                "mcp_streamable": self.mcp.json(),
                "mcp_legacy_sse": self.sse.json(),
                "ratio_p50_mcp": round(self.mcp.p50 / self.floor.p50),
                "ratio_p50_sse": round(self.sse.p50 / self.floor.p50),
            },
            "throughput": self.throughput.iter().map(|tp| json!({
                "clients": tp.clients, "calls_per_second": round(tp.per_second()), "ok": tp.ok, "errors": tp.errors, "first_error": tp.first_error,
            })).collect::<Vec<_>>(),
            "signin_ms": self.signin.json(),
            "trivial_request_ms": self.trivial.json(),
            "http_floor_ms": self.http_floor.json(),
            "startup_s": round(self.startup.as_secs_f64()),
            "host_peak_kib": self.peak_kib,
            "host_rss_kib": self.rss_kib,
            "component_bytes": self.components.iter().map(|(n, b)| (n.clone(), json!(b))).collect::<serde_json::Map<_, _>>(),
            "store_growth": self.growth.iter().map(|g| json!({"grants": g.grants, "rows": g.rows, "latency_ms": g.latency.json()})).collect::<Vec<_>>(),
            "total_s": round(self.total.as_secs_f64()),
        })
    }
}
