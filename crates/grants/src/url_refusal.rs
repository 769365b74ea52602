//! Why `Url::parse` refused a value, in words an error message can carry.
//!
//! The app is built without IDNA's Unicode tables (`idna_adapter` in `crates/grants/Cargo.toml`),
//! so `url` refuses a host outside ASCII instead of mapping it; that case gets its own reason
//! wherever a URL from outside is parsed (configuration, redirect URIs, client metadata URLs).

/// The reason for a host `url` cannot take without Unicode tables.
pub const ASCII_HOST_ONLY: &str = "must name its host in ASCII (an internationalized domain as punycode, xn--…)";

/// `otherwise` unless the URL failed only for its non-ASCII host.
pub fn reason(error: url::ParseError, otherwise: &'static str) -> &'static str {
    match error {
        url::ParseError::IdnaError => ASCII_HOST_ONLY,
        _ => otherwise,
    }
}
