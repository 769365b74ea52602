//! The deployment's configuration, parsed from Spin variables.
//!
//! Errors name the variable and the rule it broke, never the value: two of the variables are
//! secrets, and a URL pasted with a token in it should not end up in a log either.

use crate::crypto::{self, CryptoError, Keys, Purpose};
use crate::url_refusal;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub const VAR_KINTONE_BASE_URL: &str = "kintone_base_url";
pub const VAR_CYBOZU_CLIENT_ID: &str = "cybozu_client_id";
pub const VAR_CYBOZU_CLIENT_SECRET: &str = "cybozu_client_secret";
pub const VAR_SECRET_KEY: &str = "secret_key";
pub const VAR_PUBLIC_URL: &str = "public_url";
pub const VAR_MAX_GRANTS: &str = "max_grants";

/// Every variable [`Config::from_lookup`] reads, for the components' `[variables]` tables.
pub const VARIABLES: &[&str] = &[
    VAR_KINTONE_BASE_URL,
    VAR_CYBOZU_CLIENT_ID,
    VAR_CYBOZU_CLIENT_SECRET,
    VAR_SECRET_KEY,
    VAR_PUBLIC_URL,
    VAR_MAX_GRANTS,
];

/// Shortest accepted `secret_key`: 32 characters, so a random key has at least 128 bits even
/// when written in hex.
pub const MIN_SECRET_KEY_CHARS: usize = 32;

/// Default capacity of the grant table: 256 grants × 2 keys = 512 of Fermyon Cloud's 1,024 keys.
pub const DEFAULT_MAX_GRANTS: u16 = 256;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the Spin variable `{variable}` is not set")]
    Missing { variable: &'static str },
    #[error("the Spin variable `{variable}` is invalid: {reason}")]
    Invalid { variable: &'static str, reason: String },
}

/// Capacities of the bounded key-value tables (see the crate docs on key budgets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    pub max_grants: u16,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_grants: DEFAULT_MAX_GRANTS,
        }
    }
}

/// Validated configuration plus the keys derived from `secret_key`.
#[derive(Clone)]
pub struct Config {
    kintone_base_url: String,
    cybozu_client_id: String,
    cybozu_client_secret: SecretString,
    public_url: Option<String>,
    limits: StoreLimits,
    pub(crate) keys: Keys,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("kintone_base_url", &self.kintone_base_url)
            .field("cybozu_client_id", &self.cybozu_client_id)
            .field("cybozu_client_secret", &"[redacted]")
            .field("public_url", &self.public_url)
            .field("limits", &self.limits)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl Config {
    /// Read and validate every variable through `lookup` (a Spin variable getter in the
    /// components, a closure over a map in tests). Blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing { variable: name });

        let kintone_base_url = parse_origin(VAR_KINTONE_BASE_URL, &require(VAR_KINTONE_BASE_URL)?)?;
        let cybozu_client_id = require(VAR_CYBOZU_CLIENT_ID)?;
        if cybozu_client_id.chars().any(|c| c.is_control() || c == ':') {
            return Err(invalid(
                VAR_CYBOZU_CLIENT_ID,
                "must not contain control characters or ':'",
            ));
        }
        let cybozu_client_secret = SecretString::from(require(VAR_CYBOZU_CLIENT_SECRET)?);
        let secret_key = SecretString::from(require(VAR_SECRET_KEY)?);
        if secret_key.expose_secret().chars().count() < MIN_SECRET_KEY_CHARS {
            return Err(invalid(
                VAR_SECRET_KEY,
                &format!("must be at least {MIN_SECRET_KEY_CHARS} characters long"),
            ));
        }
        let public_url = get(VAR_PUBLIC_URL)
            .map(|v| parse_origin(VAR_PUBLIC_URL, &v))
            .transpose()?;
        let limits = StoreLimits {
            max_grants: parse_capacity(VAR_MAX_GRANTS, get(VAR_MAX_GRANTS), DEFAULT_MAX_GRANTS)?,
        };
        let keys = Keys::derive(secret_key.expose_secret().as_bytes());
        Ok(Config {
            kintone_base_url,
            cybozu_client_id,
            cybozu_client_secret,
            public_url,
            limits,
            keys,
        })
    }

    /// The kintone origin, e.g. `https://example.cybozu.com` (no trailing slash).
    pub fn kintone_base_url(&self) -> &str {
        &self.kintone_base_url
    }

    /// Cybozu's authorization endpoint for this domain.
    pub fn cybozu_authorization_endpoint(&self) -> String {
        format!("{}/oauth2/authorization", self.kintone_base_url)
    }

    /// Cybozu's token endpoint for this domain.
    pub fn cybozu_token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.kintone_base_url)
    }

    pub fn cybozu_client_id(&self) -> &str {
        &self.cybozu_client_id
    }

    pub(crate) fn cybozu_client_secret(&self) -> &SecretString {
        &self.cybozu_client_secret
    }

    /// The configured public origin (no trailing slash), if any.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// The keys for what the browser carries: signed cookies and sealed form state.
    pub fn browser(&self) -> BrowserKeys<'_> {
        BrowserKeys { keys: &self.keys }
    }
}

/// Keys for values the browser carries but may neither alter (signed cookies) nor read (sealed
/// form state), each bound to its purpose.
pub struct BrowserKeys<'a> {
    keys: &'a Keys,
}

impl BrowserKeys<'_> {
    /// Sign `payload` for `purpose` (e.g. a cookie name): `<base64url payload>.<base64url HMAC>`.
    pub fn sign(&self, purpose: &str, payload: &[u8]) -> String {
        let tag = crypto::mac(self.keys.get(Purpose::Cookies), &[purpose.as_bytes(), payload]);
        format!("{}.{}", crypto::b64(payload), crypto::b64(&tag))
    }

    /// The payload of a value made by [`BrowserKeys::sign`] for the same `purpose`, if authentic.
    pub fn verify_signed(&self, purpose: &str, value: &str) -> Option<Vec<u8>> {
        let (payload, tag) = value.split_once('.')?;
        let payload = crypto::unb64(payload)?;
        let tag = crypto::unb64(tag)?;
        crypto::verify_mac(self.keys.get(Purpose::Cookies), &[purpose.as_bytes(), &payload], &tag).then_some(payload)
    }

    /// Encrypt `payload` for `purpose` into a base64url string the browser may carry but can
    /// neither read nor alter (the consent form's validated request).
    pub fn seal(&self, purpose: &str, payload: &[u8]) -> Result<String, CryptoError> {
        crypto::seal(self.keys.get(Purpose::BrowserBlobs), purpose.as_bytes(), payload).map(|s| crypto::b64(&s))
    }

    /// The payload of a value made by [`BrowserKeys::seal`] for the same `purpose`.
    pub fn open(&self, purpose: &str, value: &str) -> Option<Vec<u8>> {
        crypto::open(
            self.keys.get(Purpose::BrowserBlobs),
            purpose.as_bytes(),
            &crypto::unb64(value)?,
        )
    }
}

fn invalid(variable: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        variable,
        reason: reason.to_owned(),
    }
}

/// An `http(s)://host[:port]` origin with nothing after it but an optional `/`.
fn parse_origin(variable: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw).map_err(|e| {
        invalid(
            variable,
            url_refusal::reason(e, "must be an absolute URL such as https://example.cybozu.com"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(variable, "must use the http or https scheme"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(variable, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(variable, "must not contain user information"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            variable,
            "must be an origin only, without a path, query or fragment",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_capacity(variable: &'static str, raw: Option<String>, default: u16) -> Result<u16, ConfigError> {
    match raw {
        None => Ok(default),
        Some(v) => match v.parse::<u16>() {
            Ok(n) if (1..=4096).contains(&n) => Ok(n),
            _ => Err(invalid(variable, "must be a whole number from 1 to 4096")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{base, test_config, try_config_with as with, vars, TEST_SECRET_KEY};

    #[test]
    fn parses_a_complete_configuration() {
        let config = with(&[(VAR_PUBLIC_URL, "https://mcp.example.com/"), (VAR_MAX_GRANTS, "100")]).unwrap();
        assert_eq!(config.kintone_base_url(), "https://example.cybozu.com");
        assert_eq!(
            config.cybozu_token_endpoint(),
            "https://example.cybozu.com/oauth2/token"
        );
        assert_eq!(
            config.cybozu_authorization_endpoint(),
            "https://example.cybozu.com/oauth2/authorization"
        );
        assert_eq!(config.public_url(), Some("https://mcp.example.com"));
        assert_eq!(config.limits().max_grants, 100);
    }

    #[test]
    fn accepts_http_with_port_for_local_fakes() {
        let config = with(&[(VAR_KINTONE_BASE_URL, "http://127.0.0.1:8080/")]).unwrap();
        assert_eq!(config.kintone_base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn missing_variables_are_named() {
        for name in [
            VAR_KINTONE_BASE_URL,
            VAR_CYBOZU_CLIENT_ID,
            VAR_CYBOZU_CLIENT_SECRET,
            VAR_SECRET_KEY,
        ] {
            let pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
            assert_eq!(
                Config::from_lookup(vars(&pairs)).unwrap_err(),
                ConfigError::Missing { variable: name }
            );
        }
        // Blank counts as unset.
        assert_eq!(
            with(&[(VAR_SECRET_KEY, "   ")]).unwrap_err(),
            ConfigError::Missing {
                variable: VAR_SECRET_KEY
            }
        );
    }

    #[test]
    fn invalid_base_urls_are_refused_with_the_variable_named() {
        for bad in [
            "example.cybozu.com",
            "ftp://example.cybozu.com",
            "https://example.cybozu.com/k/",
            "https://example.cybozu.com?x=1",
            "https://user:pw@example.cybozu.com",
            "javascript:alert(1)",
        ] {
            let err = with(&[(VAR_KINTONE_BASE_URL, bad)]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        variable: VAR_KINTONE_BASE_URL,
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let err = with(&[(VAR_PUBLIC_URL, "https://例え.jp")]).unwrap_err();
        assert!(err.to_string().contains(crate::url_refusal::ASCII_HOST_ONLY), "{err}");
        let err = with(&[(VAR_PUBLIC_URL, "https://mcp.example.com/mcp")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                variable: VAR_PUBLIC_URL,
                ..
            }
        ));
    }

    #[test]
    fn short_secret_key_is_refused_without_echoing_it() {
        let err = with(&[(VAR_SECRET_KEY, "short-secret-value")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                variable: VAR_SECRET_KEY,
                ..
            }
        ));
        assert!(!err.to_string().contains("short-secret-value"));
    }

    #[test]
    fn bad_capacities_are_refused() {
        for bad in ["0", "5000", "many", "-1"] {
            assert!(with(&[(VAR_MAX_GRANTS, bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!("{:?}", test_config());
        assert!(!shown.contains("cybozu-secret-value"));
        assert!(!shown.contains(TEST_SECRET_KEY));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn signed_and_sealed_values_round_trip_only_for_their_purpose() {
        let config = test_config();
        let signed = config.browser().sign("cookie-a", b"payload");
        assert_eq!(config.browser().verify_signed("cookie-a", &signed).unwrap(), b"payload");
        assert!(config.browser().verify_signed("cookie-b", &signed).is_none());
        let (p, t) = signed.split_once('.').unwrap();
        let forged = format!("{}.{t}", crate::crypto::b64(b"payloaD"));
        assert!(config.browser().verify_signed("cookie-a", &forged).is_none());
        assert!(config.browser().verify_signed("cookie-a", p).is_none());

        let sealed = config.browser().seal("form", b"request").unwrap();
        assert!(!sealed.contains("request"));
        assert_eq!(config.browser().open("form", &sealed).unwrap(), b"request");
        assert!(config.browser().open("other", &sealed).is_none());
        let other = with(&[(VAR_SECRET_KEY, "a-completely-different-secret-key-value")]).unwrap();
        assert!(other.browser().open("form", &sealed).is_none());
    }
}
