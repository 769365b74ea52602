//! The issuer (our public origin) and RFC 8707 resource indicators.
//!
//! Clients send `resource` as the exact URL they were given (`…/mcp`, `…/sse`) or the origin,
//! with or without a trailing slash and in any case. A token is bound to one normalised
//! resource; it is accepted at that resource, or everywhere on the origin when bound to the origin.

use crate::Config;
use url::Url;

/// The header Spin sets to the full URL of the incoming request.
pub const SPIN_FULL_URL_HEADER: &str = "spin-full-url";

/// The MCP endpoint paths that are resources of their own (RFC 9728 path-inserted metadata).
pub const MCP_RESOURCE_PATHS: [&str; 2] = ["/mcp", "/sse"];

/// Our issuer: `public_url` when configured (always configure it behind a TLS-terminating proxy),
/// else the origin of the request as Spin saw it (`spin-full-url`), else `Host` (http for loopback
/// hosts, https otherwise). `None` when no usable origin can be found.
pub fn issuer_for(config: &Config, headers: &http::HeaderMap) -> Option<String> {
    if let Some(public) = config.public_url() {
        return Some(public.to_owned());
    }
    if let Some(full) = headers.get(SPIN_FULL_URL_HEADER).and_then(|v| v.to_str().ok()) {
        if let Some(origin) = origin_of(full) {
            return Some(origin);
        }
    }
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    let url = Url::parse(&format!("https://{host}")).ok()?;
    let scheme = if is_loopback_host(&url) { "http" } else { "https" };
    origin_of(&format!("{scheme}://{host}"))
}

/// `scheme://host[:port]` of an http(s) URL.
pub fn origin_of(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Canonical form of a resource indicator: lower-case scheme and host, default port dropped,
/// no trailing slash. `None` for anything that is not an absolute http(s) URL without
/// fragment, query or user information (RFC 8707 §2).
pub fn normalize_resource(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.fragment().is_some()
        || url.query().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let path = url.path().trim_end_matches('/');
    Some(format!("{}{}", url.origin().ascii_serialization(), path))
}

/// The resources this server answers for under `issuer`: the origin, `/mcp` and `/sse`.
pub fn is_our_resource(issuer: &str, resource: &str) -> bool {
    let Some(resource) = normalize_resource(resource) else {
        return false;
    };
    let Some(issuer) = normalize_resource(issuer) else {
        return false;
    };
    resource == issuer || MCP_RESOURCE_PATHS.iter().any(|p| resource == format!("{issuer}{p}"))
}

/// Whether a token bound to `bound` may be used at `requested`: the same resource, or `bound` is
/// the origin of `requested`.
pub fn audience_covers(bound: &str, requested: &str) -> bool {
    let (Some(bound), Some(requested)) = (normalize_resource(bound), normalize_resource(requested)) else {
        return false;
    };
    bound == requested || origin_of(&requested).is_some_and(|origin| origin == bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VAR_PUBLIC_URL;
    use crate::test_support::{base, test_config, vars};

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn issuer_prefers_public_url_then_spin_full_url_then_host() {
        let mut pairs = base();
        pairs.push((VAR_PUBLIC_URL, "https://mcp.example.com"));
        let with_public = Config::from_lookup(vars(&pairs)).unwrap();
        let plain = test_config();
        let h = headers(&[
            ("spin-full-url", "http://127.0.0.1:3000/authorize?x=1"),
            ("host", "evil.example"),
        ]);
        assert_eq!(issuer_for(&with_public, &h).as_deref(), Some("https://mcp.example.com"));
        assert_eq!(issuer_for(&plain, &h).as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(
            issuer_for(&plain, &headers(&[("host", "localhost:3000")])).as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(
            issuer_for(&plain, &headers(&[("host", "mcp.example.com")])).as_deref(),
            Some("https://mcp.example.com")
        );
        assert_eq!(issuer_for(&plain, &headers(&[("host", "a.example/evil")])), None);
        assert_eq!(issuer_for(&plain, &headers(&[])), None);
    }

    #[test]
    fn resources_normalise_case_slash_and_default_port() {
        assert_eq!(
            normalize_resource("HTTPS://MCP.Example.com:443/mcp/").as_deref(),
            Some("https://mcp.example.com/mcp")
        );
        assert_eq!(
            normalize_resource("https://mcp.example.com/").as_deref(),
            Some("https://mcp.example.com")
        );
        assert_eq!(
            normalize_resource("http://127.0.0.1:3000").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        for bad in [
            "mcp.example.com",
            "https://h/#f",
            "https://h/?q=1",
            "javascript:alert(1)",
            "https://u@h/",
        ] {
            assert_eq!(normalize_resource(bad), None, "{bad}");
        }
    }

    #[test]
    fn our_resources_are_the_origin_mcp_and_sse() {
        let issuer = "https://mcp.example.com";
        for ok in [
            "https://mcp.example.com",
            "https://mcp.example.com/",
            "https://MCP.example.com/mcp",
            "https://mcp.example.com/sse/",
        ] {
            assert!(is_our_resource(issuer, ok), "{ok}");
        }
        for bad in [
            "https://other.example.com/mcp",
            "https://mcp.example.com/other",
            "http://mcp.example.com/mcp",
        ] {
            assert!(!is_our_resource(issuer, bad), "{bad}");
        }
    }

    #[test]
    fn audience_is_the_resource_or_its_origin() {
        assert!(audience_covers("https://h/mcp", "https://h/mcp/"));
        assert!(audience_covers("https://h", "https://h/sse"));
        assert!(audience_covers("https://h/", "https://h/mcp"));
        assert!(!audience_covers("https://h/mcp", "https://h/sse"));
        assert!(!audience_covers("https://h/mcp", "https://other/mcp"));
        assert!(!audience_covers("https://h/sse", "https://h"));
    }
}
