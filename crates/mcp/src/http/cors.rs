//! CORS for browser clients (the Inspector's web UI, browser-based agents).
//!
//! Access is by bearer token in `Authorization`, never by cookie, so `*` is safe; foreign
//! origins are refused earlier by [`super::origin`] anyway.

use http::header::{HeaderMap, HeaderValue};

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, \
                             Mcp-Session-Id, Mcp-Method, Mcp-Name, Last-Event-ID";
const EXPOSE_HEADERS: &str = "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate";

/// Add the headers every response to a browser needs.
pub fn apply(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

/// Headers of a preflight answer. Requested headers that are plain tokens (such as the
/// 2026-07-28 `Mcp-Param-*` family) are allowed as asked.
pub fn apply_preflight(request: &HeaderMap, headers: &mut HeaderMap) {
    apply(headers);
    headers.insert("access-control-allow-methods", HeaderValue::from_static(ALLOW_METHODS));
    let requested = request
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.split(',').all(|name| {
                let name = name.trim();
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            })
        });
    let allow = match requested {
        Some(extra) => HeaderValue::from_str(&format!("{ALLOW_HEADERS}, {extra}"))
            .unwrap_or(HeaderValue::from_static(ALLOW_HEADERS)),
        None => HeaderValue::from_static(ALLOW_HEADERS),
    };
    headers.insert("access-control-allow-headers", allow);
    headers.insert("access-control-max-age", HeaderValue::from_static("86400"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_exposes_the_mcp_headers() {
        let mut h = HeaderMap::new();
        apply(&mut h);
        assert_eq!(h["access-control-allow-origin"], "*");
        let exposed = h["access-control-expose-headers"].to_str().unwrap();
        for name in ["Mcp-Session-Id", "WWW-Authenticate", "MCP-Protocol-Version"] {
            assert!(exposed.contains(name));
        }
    }

    #[test]
    fn preflight_allows_requested_token_headers_only() {
        let mut req = HeaderMap::new();
        req.insert(
            "access-control-request-headers",
            "authorization, mcp-param-region".parse().unwrap(),
        );
        let mut h = HeaderMap::new();
        apply_preflight(&req, &mut h);
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("mcp-param-region"));
        assert!(allowed.starts_with("Authorization, Content-Type"));
        assert_eq!(h["access-control-max-age"], "86400");

        req.insert("access-control-request-headers", "bad header(x)".parse().unwrap());
        let mut h = HeaderMap::new();
        apply_preflight(&req, &mut h);
        assert_eq!(h["access-control-allow-headers"], ALLOW_HEADERS);
    }
}
