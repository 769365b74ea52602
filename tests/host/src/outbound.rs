//! `allowed_outbound_hosts` as Spin applies it: `scheme://host[:port]` entries, `*` wildcards for
//! scheme, host (whole or `*.suffix`) and port; an omitted port means the scheme's default; exact
//! match otherwise (`localhost` is not `127.0.0.1`). As on Spin, a malformed entry does not stop
//! start-up: it allows nothing and says why in the log.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Pattern,
    host: HostPattern,
    port: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Default, Clone)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

impl AllowList {
    /// Parses resolved entries; returns the list and a message per entry that allows nothing.
    /// An entry that a template resolved to nothing (`""`, `http://`, `https://`) is skipped
    /// without a word, as Spin does (`PartialAllowedHostConfig::parse_or_skip` in
    /// spin-outbound-networking-config), so an empty variable makes an optional slot.
    pub fn parse(entries: &[String]) -> (AllowList, Vec<String>) {
        let mut list = AllowList::default();
        let mut problems = Vec::new();
        for entry in entries {
            if matches!(entry.as_str(), "" | "http://" | "https://") {
                continue;
            }
            match AllowedHost::parse(entry) {
                Ok(h) => list.entries.push(h),
                Err(why) => problems.push(format!("allowed_outbound_hosts entry `{entry}` allows nothing: {why}")),
            }
        }
        (list, problems)
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let port = match port.or_else(|| default_port(scheme)) {
            Some(p) => p.to_string(),
            None => return false,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.entries.iter().any(|e| {
            let scheme_ok = match &e.scheme {
                Pattern::Any => true,
                Pattern::Exact(s) => s.eq_ignore_ascii_case(scheme),
            };
            let host_ok = match &e.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => *h == host,
                HostPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
            };
            let port_ok = match &e.port {
                Pattern::Any => true,
                Pattern::Exact(p) => *p == port,
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<AllowedHost, String> {
        let (scheme, rest) = entry.split_once("://").ok_or("missing `scheme://`")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err("an entry is an origin; it cannot have a path".into());
        }
        if rest.is_empty() {
            return Err("missing host".into());
        }
        let scheme = match scheme {
            "*" => Pattern::Any,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
                Pattern::Exact(s.to_ascii_lowercase())
            }
            _ => return Err(format!("invalid scheme `{scheme}`")),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let port = match port {
            Some("*") => Pattern::Any,
            Some(p) => {
                p.parse::<u16>().map_err(|_| format!("invalid port `{p}`"))?;
                Pattern::Exact(p.to_owned())
            }
            None => match &scheme {
                Pattern::Exact(s) => match default_port(s) {
                    Some(p) => Pattern::Exact(p.to_string()),
                    None => return Err(format!("scheme `{s}` has no default port; give one")),
                },
                Pattern::Any => return Err("`*://host` needs an explicit port".into()),
            },
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(format!("invalid wildcard host `{host}`"));
        } else {
            HostPattern::Exact(host)
        };
        Ok(AllowedHost { scheme, host, port })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        let (l, problems) = AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(problems.is_empty(), "{problems:?}");
        l
    }

    #[test]
    fn exact_origin_allows_only_that_origin() {
        let l = list(&["http://127.0.0.1:18081"]);
        assert!(l.allows("http", "127.0.0.1", Some(18081)));
        assert!(!l.allows("http", "localhost", Some(18081)));
        assert!(!l.allows("http", "127.0.0.1", Some(18082)));
        assert!(!l.allows("https", "127.0.0.1", Some(18081)));
    }

    #[test]
    fn default_ports_and_trailing_slash() {
        let l = list(&["https://example.cybozu.com/"]);
        assert!(l.allows("https", "example.cybozu.com", None));
        assert!(l.allows("https", "EXAMPLE.cybozu.com", Some(443)));
        assert!(!l.allows("https", "example.cybozu.com", Some(8443)));
        assert!(!l.allows("https", "evil.com", None));
    }

    #[test]
    fn wildcards() {
        let l = list(&["https://*.cybozu.com", "*://api.test:*"]);
        assert!(l.allows("https", "a.cybozu.com", None));
        assert!(!l.allows("https", "cybozu.com", None));
        assert!(!l.allows("https", "a.cybozu.com.evil", None));
        assert!(l.allows("http", "api.test", Some(1234)));
    }

    #[test]
    fn entries_resolved_empty_are_skipped_silently() {
        let entries: Vec<String> = ["", "https://", "http://", "https://claude.ai"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (l, problems) = AllowList::parse(&entries);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(l.allows("https", "claude.ai", None));
        assert!(!l.allows("https", "chatgpt.com", None));
    }

    #[test]
    fn malformed_entries_allow_nothing_and_say_why() {
        let (l, problems) = AllowList::parse(&["http://host/api".to_string(), "example.com".to_string()]);
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("path"), "{problems:?}");
        assert!(!l.allows("http", "host", None));
    }
}
