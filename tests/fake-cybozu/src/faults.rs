//! Fault injection: per path pattern (with `*` wildcards) and optionally per method, a test can
//! add latency, a 429 GAIA_TO04, a 503 maintenance page or a dropped connection, for a number
//! of matching requests or always.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Waits this long, then serves the request normally.
    Latency { millis: u64 },
    /// 429 with kintone's GAIA_TO04 body and concurrency headers.
    RateLimit,
    /// 503 with a plain-text maintenance page, as kintone's maintenance answers.
    Unavailable,
    /// Closes the connection without any response.
    DropConnection,
}

/// How many matching requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTimes {
    Always,
    Count(u32),
}

impl Serialize for FaultTimes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FaultTimes::Always => serializer.serialize_str("always"),
            FaultTimes::Count(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for FaultTimes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if s == "always" => Ok(FaultTimes::Always),
            Value::Number(n) => n
                .as_u64()
                .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
                .map(|n| FaultTimes::Count(n as u32))
                .ok_or_else(|| serde::de::Error::custom("times must be a positive integer or \"always\"")),
            _ => Err(serde::de::Error::custom(
                "times must be a positive integer or \"always\"",
            )),
        }
    }
}

fn default_times() -> FaultTimes {
    FaultTimes::Count(1)
}

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Request path pattern; `*` matches any characters, e.g. `/k/v1/records.json`,
    /// `/k/*/records.json`, `/oauth2/token`, `*`.
    pub path: String,
    /// Only requests with this HTTP method (as sent, before any method override).
    #[serde(default)]
    pub method: Option<String>,
    pub kind: FaultKind,
    #[serde(default = "default_times")]
    pub times: FaultTimes,
}

impl Fault {
    fn new(path: &str, kind: FaultKind) -> Self {
        Fault {
            path: path.to_string(),
            method: None,
            kind,
            times: FaultTimes::Count(1),
        }
    }

    pub fn latency(path: &str, delay: Duration) -> Self {
        Fault::new(
            path,
            FaultKind::Latency {
                millis: delay.as_millis() as u64,
            },
        )
    }

    pub fn rate_limit(path: &str) -> Self {
        Fault::new(path, FaultKind::RateLimit)
    }

    pub fn unavailable(path: &str) -> Self {
        Fault::new(path, FaultKind::Unavailable)
    }

    pub fn drop_connection(path: &str) -> Self {
        Fault::new(path, FaultKind::DropConnection)
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = FaultTimes::Count(n.max(1));
        self
    }

    pub fn always(mut self) -> Self {
        self.times = FaultTimes::Always;
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && glob_match(&self.path, path)
    }
}

/// A fault in force, with what is left of its count.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    pub id: u64,
    #[serde(flatten)]
    pub fault: Fault,
    /// None for "always".
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub struct FaultTable {
    pub active: Vec<ActiveFault>,
    pub next_id: u64,
}

impl FaultTable {
    pub fn add(&mut self, fault: Fault) -> u64 {
        self.next_id += 1;
        let remaining = match fault.times {
            FaultTimes::Always => None,
            FaultTimes::Count(n) => Some(n),
        };
        self.active.push(ActiveFault {
            id: self.next_id,
            fault,
            remaining,
        });
        self.next_id
    }

    /// The first fault matching this request, counted down; used-up faults disappear.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let index = self.active.iter().position(|f| f.fault.matches(method, path))?;
        let kind = self.active[index].fault.kind.clone();
        if let Some(remaining) = self.active[index].remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.active.remove(index);
            }
        }
        Some(kind)
    }
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/k/v1/records.json", "/k/v1/records.json"));
        assert!(glob_match("/k/*/records.json", "/k/guest/2/v1/records.json"));
        assert!(glob_match("*", "/oauth2/token"));
        assert!(!glob_match("/k/v1/record.json", "/k/v1/records.json"));
        assert!(glob_match("/k/v1/record*", "/k/v1/records/cursor.json"));
    }

    #[test]
    fn counts_run_out() {
        let mut table = FaultTable::default();
        table.add(Fault::rate_limit("/x").times(2));
        table.add(Fault::unavailable("*").method("post").always());
        assert_eq!(table.take("GET", "/x"), Some(FaultKind::RateLimit));
        assert_eq!(table.take("GET", "/x"), Some(FaultKind::RateLimit));
        assert_eq!(table.take("GET", "/x"), None);
        assert_eq!(table.take("POST", "/x"), Some(FaultKind::Unavailable));
        assert_eq!(table.take("POST", "/y"), Some(FaultKind::Unavailable));
    }

    #[test]
    fn json_form() {
        let fault: Fault =
            serde_json::from_str(r#"{"path":"/k/*","kind":{"type":"latency","millis":50},"times":"always"}"#).unwrap();
        assert_eq!(fault.times, FaultTimes::Always);
        let fault: Fault = serde_json::from_str(r#"{"path":"/k/*","kind":{"type":"drop_connection"}}"#).unwrap();
        assert_eq!(fault.times, FaultTimes::Count(1));
        assert!(serde_json::from_str::<Fault>(r#"{"path":"/k/*","kind":{"type":"rate_limit"},"times":0}"#).is_err());
    }
}
