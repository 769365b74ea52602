//! The machine a run happened on (Linux `/proc`), so runs can be compared honestly.

use serde_json::{json, Value};

pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_kib: Option<u64>,
    pub load_average: String,
}

pub fn describe() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| {
            l.strip_prefix("MemTotal:")
                .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        })
    });
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Machine {
        cpus,
        cpu_model,
        memory_kib,
        load_average,
    }
}

impl Machine {
    pub fn json(&self) -> Value {
        json!({"cpus": self.cpus, "cpu_model": self.cpu_model, "memory_kib": self.memory_kib, "load_average_at_end": self.load_average})
    }

    pub fn line(&self) -> String {
        let memory = self
            .memory_kib
            .map(|k| format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "?".into());
        format!(
            "{} CPUs ({}), {} RAM, load average at end {}",
            self.cpus, self.cpu_model, memory, self.load_average
        )
    }
}
