//! Percentiles of a set of timings.

use serde_json::{json, Value};
use std::time::Duration;

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub samples: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(timings: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = timings.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| -> f64 {
            if ms.is_empty() {
                return f64::NAN;
            }
            // Nearest-rank percentile: the smallest sample with at least q of all at or below it.
            let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
            ms[rank - 1]
        };
        let mean = if ms.is_empty() {
            f64::NAN
        } else {
            ms.iter().sum::<f64>() / ms.len() as f64
        };
        let max = ms.last().copied().unwrap_or(f64::NAN);
        Latency {
            samples: ms.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            mean,
            max,
        }
    }

    pub fn json(&self) -> Value {
        json!({"samples": self.samples, "p50_ms": round(self.p50), "p90_ms": round(self.p90), "p99_ms": round(self.p99), "mean_ms": round(self.mean), "max_ms": round(self.max)})
    }
}

pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let timings: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&timings);
        assert_eq!((l.p50, l.p90, l.p99), (50.0, 90.0, 99.0));
        assert_eq!(l.samples, 100);
        assert_eq!(l.max, 100.0);
        assert!((l.mean - 50.5).abs() < 1e-9);
    }
}
