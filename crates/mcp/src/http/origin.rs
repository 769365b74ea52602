//! DNS-rebinding defence: which `Host` and browser `Origin` values this server answers.
//!
//! A web page on an attacker's domain that resolves to this server (or to 127.0.0.1) sends
//! its own name in `Host` and `Origin`. So `Host` must name this server — the configured
//! public origin's host, a loopback name, or an extra allowed origin's host — and a present
//! `Origin` must be the public origin, an extra origin, a loopback origin, or the request's
//! own (validated) origin. Non-browser clients send no `Origin` and pass.

use crate::config::EndpointConfig;

/// A parsed `scheme://host[:port]` origin, normalised for comparison (RFC 6454).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parse an origin serialisation. Paths, queries, user info and `null` are refused.
    pub fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, port) = split_authority(rest)?;
        let default = if scheme == "https" { 443 } else { 80 };
        Some(Origin {
            scheme,
            host,
            port: port.filter(|p| *p != default),
        })
    }
}

/// Split `host[:port]` (IPv6 in brackets), lower-casing the host. `None` if malformed.
pub fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inside.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// Loopback names: a local server reached as itself.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host
            .strip_prefix("127.")
            .is_some_and(|rest| rest.split('.').count() == 3 && rest.split('.').all(|o| o.parse::<u8>().is_ok()))
}

/// The origins and hosts this deployment answers, from its configuration.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    public: Option<Origin>,
    extra: Vec<Origin>,
}

impl OriginPolicy {
    pub fn new(config: &EndpointConfig) -> Self {
        OriginPolicy {
            public: config.public_origin.as_deref().and_then(Origin::parse),
            extra: config.extra_origins.iter().filter_map(|o| Origin::parse(o)).collect(),
        }
    }

    /// Is `authority` (the `Host` header or the URI authority) this server?
    pub fn host_allowed(&self, authority: &str) -> bool {
        let Some((host, _)) = split_authority(authority.trim()) else {
            return false;
        };
        is_loopback(&host) || self.public.iter().chain(&self.extra).any(|o| o.host == host)
    }

    /// May a browser page from `origin` call us? `request_origin` is the request's own origin,
    /// built from its (already validated) `Host`.
    pub fn origin_allowed(&self, origin: &str, request_origin: Option<&Origin>) -> bool {
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        is_loopback(&origin.host)
            || self.public.as_ref() == Some(&origin)
            || self.extra.contains(&origin)
            || request_origin == Some(&origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(&EndpointConfig {
            public_origin: Some("https://MCP.example.com".into()),
            extra_origins: vec!["https://app.example.org:8443".into()],
            ..EndpointConfig::default()
        })
    }

    #[test]
    fn origins_parse_and_normalise() {
        assert_eq!(
            Origin::parse("https://A.example:443"),
            Origin::parse("https://a.example")
        );
        assert_eq!(Origin::parse("http://[::1]:3000").unwrap().host, "[::1]");
        for bad in [
            "null",
            "",
            "file:///x",
            "https://",
            "https://a/b",
            "https://u@a",
            "https://a:x",
            "ftp://a",
            "https://a:99999",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hosts_must_name_this_server() {
        let p = policy();
        for ok in [
            "mcp.example.com",
            "MCP.example.com:443",
            "localhost:3000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:9",
            "app.example.org",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:3000",
            "127.0.0.1.evil.com",
            "",
            "[::1",
            "a:b:c",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn without_a_public_origin_only_loopback_hosts_pass() {
        let p = OriginPolicy::default();
        assert!(p.host_allowed("127.0.0.1:3000"));
        assert!(!p.host_allowed("mcp.example.com"));
    }

    #[test]
    fn browser_origins() {
        let p = policy();
        for ok in [
            "https://mcp.example.com",
            "http://localhost:6274",
            "http://127.0.0.1:6274",
            "https://app.example.org:8443",
        ] {
            assert!(p.origin_allowed(ok, None), "{ok}");
        }
        for bad in [
            "https://evil.example.com",
            "http://mcp.example.com",
            "https://app.example.org",
            "null",
            "garbage",
        ] {
            assert!(!p.origin_allowed(bad, None), "{bad}");
        }
        let own = Origin::parse("http://mcp.example.com").unwrap();
        assert!(p.origin_allowed("http://mcp.example.com", Some(&own)));
    }
}
