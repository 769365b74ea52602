//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), the way
//! the MCP authorization spec recommends clients identify themselves: the `client_id` is an
//! `https` URL, and the document served there is the client's registration.
//!
//! # What is fetched, from where
//!
//! Only from the origins the operator allows ([`CimdPolicy`], the Spin variables
//! `cimd_origin_1` … `cimd_origin_4`, each one `https://host[:port]` origin or empty). The same
//! variables fill the component's `allowed_outbound_hosts`, one template per slot, so Spin
//! itself refuses any other destination; a client id naming another origin is refused here
//! before any request. A fetch is one bodiless GET: `https` only, no redirect followed (a 3xx
//! is a refusal), at most [`MAX_DOCUMENT_BYTES`], [`FETCH_TIMEOUT`] in all.
//!
//! # What is accepted
//!
//! The URL: `https`, a host, a path other than `/`, no fragment, no user information, no dot
//! segments, no whitespace, in canonical form (what the WHATWG parser gives back, byte for
//! byte), at most 512 bytes. The document: a JSON object with `client_id` equal to the URL byte
//! for byte; `redirect_uris` (1–8, each valid as for registration: https, or http on a loopback
//! host, which then matches on any port); `token_endpoint_auth_method` `none` (absent counts as
//! `none`; a secret-based method or `private_key_jwt` is refused, as is any `client_secret`);
//! `grant_types` (if present) only `authorization_code` and `refresh_token`, including the first;
//! `response_types` (if present) only `code`; `client_name`, `client_uri`, `logo_uri` validated as
//! at registration.
//!
//! # Cache
//!
//! A valid document is cached in the key-value store, as an authenticated record (MAC under
//! the record key, like `g:`), for as long as its `Cache-Control: max-age` says, clamped to
//! [`MIN_CACHE_SECS`]–[`MAX_CACHE_SECS`] (one hour when the header gives none). Within that
//! time no fetch happens. After it, a failed refetch (unreachable, timeout, 5xx, 429) falls back
//! to the cached copy for up to [`STALE_IF_ERROR_SECS`] more; a definitive refusal (a 200 with an
//! invalid document, a 4xx, a redirect) removes the copy. Records live in a fixed table of
//! [`CACHE_SLOTS`] keys `cimd:<slot>`, the slot a hash of the URL: the store holds at most that
//! many, whoever asks; two URLs sharing a slot just fetch more often.

use crate::client::{validate_client_name, validate_client_urls, validate_redirect_uri, MAX_REDIRECT_URIS};
use crate::store::{self, security_event};
use crate::url_refusal;
use crate::{ClientAuthMethod, Config, ConfigError, RegisteredClient};
use platform::{HttpClient, KeyValue, OutboundError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Url;

/// The Spin variables naming the origins documents may be fetched from, one origin each.
pub const CIMD_ORIGIN_VARIABLES: [&str; 4] = ["cimd_origin_1", "cimd_origin_2", "cimd_origin_3", "cimd_origin_4"];
/// Largest document accepted (the draft suggests 5 KB; real ones are a few hundred bytes).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// Connecting, the first byte and the whole body each within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Shortest time a valid document is used without fetching it again.
pub const MIN_CACHE_SECS: u64 = 5 * 60;
/// Longest time a valid document is used without fetching it again.
pub const MAX_CACHE_SECS: u64 = 24 * 60 * 60;
/// Freshness when the origin's `Cache-Control` gives none.
pub const DEFAULT_CACHE_SECS: u64 = 60 * 60;
/// How long past its freshness a cached document stands in when the origin cannot be reached.
pub const STALE_IF_ERROR_SECS: u64 = 24 * 60 * 60;
/// Keys of the document cache (`cimd:0` … `cimd:f`).
pub const CACHE_SLOTS: u16 = 16;
/// Longest client id URL accepted.
pub const MAX_CLIENT_ID_URL_LEN: usize = 512;

/// The origins client metadata documents may come from, as the operator configured them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CimdPolicy {
    origins: Vec<String>,
}

impl CimdPolicy {
    /// Read [`CIMD_ORIGIN_VARIABLES`]; blank ones are unused slots. Each must be an `https`
    /// origin (no path, query, user information); the error names the variable, not the value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut origins = Vec::new();
        for variable in CIMD_ORIGIN_VARIABLES {
            let Some(raw) = lookup(variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
                continue;
            };
            let invalid = |reason: &str| ConfigError::Invalid {
                variable,
                reason: reason.to_owned(),
            };
            const NOT_AN_ORIGIN: &str = "must be an https origin such as https://client.example";
            let url = Url::parse(&raw).map_err(|e| invalid(url_refusal::reason(e, NOT_AN_ORIGIN)))?;
            if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
                return Err(invalid(NOT_AN_ORIGIN));
            }
            if !url.username().is_empty()
                || url.password().is_some()
                || url.path() != "/"
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(invalid(
                    "must be an origin only (https://host[:port]), without a path, query or user information",
                ));
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(CimdPolicy { origins })
    }

    /// A policy allowing exactly these origins (tests).
    pub fn allowing(origins: &[&str]) -> Self {
        CimdPolicy {
            origins: origins.iter().map(|o| o.trim_end_matches('/').to_owned()).collect(),
        }
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    fn allows(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.origins.contains(&origin)
    }
}

/// Why a URL client id could not be resolved. The text is shown to the user (error page) and
/// to the client (`invalid_client`); it never echoes the document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    #[error("the client_id is not an acceptable metadata document URL: {0}")]
    BadUrl(&'static str),
    #[error("this server does not fetch client metadata from that origin (the operator allows: cimd_origin_1 … cimd_origin_4)")]
    OriginNotAllowed,
    #[error("the client's metadata document could not be fetched: {0}")]
    Unreachable(String),
    #[error("the client's metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the client's metadata document URL answered HTTP {0} (redirects are not followed)")]
    Status(u16),
    #[error("the client's metadata document is invalid: {0}")]
    InvalidDocument(String),
}

impl CimdError {
    /// A passing failure (the cached copy may stand in) rather than a definitive answer.
    fn is_transient(&self) -> bool {
        match self {
            CimdError::Unreachable(_) => true,
            CimdError::Status(s) => *s >= 500 || *s == 429,
            _ => false,
        }
    }
}

/// Whether `client_id` claims to be a metadata document URL (ids we issue never hold a `:`).
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id.contains(':')
}

/// The client id as a metadata document URL, if it is an acceptable one (see the module docs).
pub fn parse_client_id_url(client_id: &str) -> Result<Url, CimdError> {
    let bad = CimdError::BadUrl;
    if client_id.len() > MAX_CLIENT_ID_URL_LEN {
        return Err(bad("longer than 512 bytes"));
    }
    if client_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters"));
    }
    if !client_id.starts_with("https://") {
        return Err(bad("must use https"));
    }
    if client_id.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    let after_scheme = &client_id["https://".len()..];
    let authority_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    if after_scheme[..authority_end].contains('@') {
        return Err(bad("must not contain user information"));
    }
    let path_and_query = &after_scheme[authority_end..];
    let path = path_and_query.split('?').next().unwrap_or("");
    for segment in path.split('/') {
        let lowered = segment.to_ascii_lowercase().replace("%2e", ".");
        if lowered == "." || lowered == ".." {
            return Err(bad("must not contain dot segments (/./ or /../)"));
        }
    }
    let url = Url::parse(client_id).map_err(|e| bad(url_refusal::reason(e, "is not a URL")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(bad("must have a path"));
    }
    if url.as_str() != client_id {
        return Err(bad(
            "must be written in canonical form (lower-case host, no default port)",
        ));
    }
    Ok(url)
}

/// The client a metadata document URL names: from the cache while fresh, else fetched,
/// validated and cached; a stale copy stands in while the origin cannot be reached.
pub async fn resolve_document_client(
    config: &Config,
    policy: &CimdPolicy,
    kv: &impl KeyValue,
    http: &impl HttpClient,
    client_id: &str,
    now: u64,
) -> Result<RegisteredClient, CimdError> {
    let url = parse_client_id_url(client_id)?;
    if !policy.allows(&url) {
        return Err(CimdError::OriginNotAllowed);
    }
    let key = cache_key(client_id);
    // A store that cannot be read only costs a fetch.
    let cached = read_cached(config, kv, &key, client_id).unwrap_or_else(|e| {
        eprintln!("client metadata cache unreadable ({e}); fetching");
        None
    });
    if let Some(entry) = &cached {
        if now < entry.fresh_until {
            return Ok(entry.client(&url));
        }
    }
    match fetch(http, &url, now).await {
        Ok(entry) => {
            if let Err(e) = store::write_authentic(kv, &config.keys, &key, &entry) {
                eprintln!("could not cache a client metadata document ({e}); using it uncached");
            }
            Ok(entry.client(&url))
        }
        Err(e) if e.is_transient() => match cached {
            Some(entry) if now < entry.fresh_until.saturating_add(STALE_IF_ERROR_SECS) => {
                security_event(format_args!(
                    "client metadata document unreachable; using the cached copy in {key}"
                ));
                Ok(entry.client(&url))
            }
            _ => Err(e),
        },
        Err(e) => {
            if cached.is_some() {
                security_event(format_args!(
                    "client metadata document now refused; removed the cached copy in {key}"
                ));
                let _ = kv.delete(&key);
            }
            Err(e)
        }
    }
}

/// The client from the cache only, fresh or within the stale allowance (the consent POST,
/// which follows a GET that just resolved it; no fetch there).
pub fn cached_document_client(
    config: &Config,
    kv: &impl KeyValue,
    client_id: &str,
    now: u64,
) -> Option<RegisteredClient> {
    let url = parse_client_id_url(client_id).ok()?;
    let entry = read_cached(config, kv, &cache_key(client_id), client_id).ok()??;
    (now < entry.fresh_until.saturating_add(STALE_IF_ERROR_SECS)).then(|| entry.client(&url))
}

/// The cache key of a URL: a slot of the fixed table.
fn cache_key(client_id: &str) -> String {
    let digest = crate::crypto::sha256(client_id.as_bytes());
    let slot = u16::from_be_bytes([digest[0], digest[1]]) % CACHE_SLOTS;
    format!("cimd:{slot:x}")
}

fn read_cached(
    config: &Config,
    kv: &impl KeyValue,
    key: &str,
    client_id: &str,
) -> Result<Option<CachedDocument>, platform::KvError> {
    // Another URL's document in the same slot is not ours to use (nor to delete).
    Ok(store::read_authentic::<CachedDocument>(kv, &config.keys, key)?.filter(|e| e.url == client_id))
}

/// A validated document as cached (short member names keep records small).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct CachedDocument {
    #[serde(rename = "u")]
    url: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(rename = "r")]
    redirect_uris: Vec<String>,
    #[serde(rename = "nr", default, skip_serializing_if = "std::ops::Not::not")]
    no_refresh: bool,
    #[serde(rename = "f")]
    fetched_at: u64,
    #[serde(rename = "x")]
    fresh_until: u64,
}

impl CachedDocument {
    fn client(&self, url: &Url) -> RegisteredClient {
        RegisteredClient {
            client_id: self.url.clone(),
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            auth_method: ClientAuthMethod::None,
            issued_at: self.fetched_at,
            refresh_token_grant: !self.no_refresh,
            // The authority we fetched from: the host, and the port when it is not 443.
            document_host: url.host_str().map(|host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }),
        }
    }
}

async fn fetch(http: &impl HttpClient, url: &Url, now: u64) -> Result<CachedDocument, CimdError> {
    let request = http::Request::builder()
        .method(http::Method::GET)
        .uri(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| CimdError::BadUrl("cannot be requested"))?;
    let response = match http
        .send_capped_within(request, MAX_DOCUMENT_BYTES, FETCH_TIMEOUT)
        .await
    {
        Ok(r) => r,
        Err(OutboundError::TooLarge { .. }) => return Err(CimdError::TooLarge),
        // The platform's allow-list refused it: the variables and allowed_outbound_hosts differ.
        Err(OutboundError::NotAllowed(_)) => return Err(CimdError::OriginNotAllowed),
        Err(OutboundError::Unreachable { reason, .. }) => return Err(CimdError::Unreachable(short(&reason))),
        Err(OutboundError::Invalid(reason)) => return Err(CimdError::Unreachable(short(&reason))),
    };
    if response.status() != http::StatusCode::OK {
        return Err(CimdError::Status(response.status().as_u16()));
    }
    if response.body().len() > MAX_DOCUMENT_BYTES {
        return Err(CimdError::TooLarge);
    }
    let document = validate_document(url.as_str(), response.body())?;
    let lifetime = cache_lifetime(
        response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    );
    Ok(CachedDocument {
        url: url.as_str().to_owned(),
        name: document.name,
        redirect_uris: document.redirect_uris,
        no_refresh: !document.refresh_token_grant,
        fetched_at: now,
        fresh_until: now.saturating_add(lifetime),
    })
}

fn short(reason: &str) -> String {
    reason.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Seconds to use a document without refetching: `max-age` (or `s-maxage`) clamped to
/// [`MIN_CACHE_SECS`]–[`MAX_CACHE_SECS`]; `no-store`/`no-cache` get the floor (we must hold it
/// for the length of one sign-in anyway); none at all, [`DEFAULT_CACHE_SECS`].
pub fn cache_lifetime(cache_control: Option<&str>) -> u64 {
    let Some(value) = cache_control else {
        return DEFAULT_CACHE_SECS;
    };
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return MIN_CACHE_SECS;
        }
        if let Some(v) = directive
            .strip_prefix("max-age=")
            .or_else(|| directive.strip_prefix("s-maxage="))
        {
            if let Ok(n) = v.trim_matches('"').parse::<u64>() {
                max_age = Some(max_age.map_or(n, |m: u64| m.min(n)));
            }
        }
    }
    max_age
        .unwrap_or(DEFAULT_CACHE_SECS)
        .clamp(MIN_CACHE_SECS, MAX_CACHE_SECS)
}

/// What a valid document contributes.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidDocument {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub refresh_token_grant: bool,
}

#[derive(Deserialize)]
struct RawDocument {
    client_id: String,
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
}

/// Validate a fetched document for the URL it came from (see the module docs).
pub fn validate_document(url: &str, body: &[u8]) -> Result<ValidDocument, CimdError> {
    let invalid = |why: &str| CimdError::InvalidDocument(why.to_owned());
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| invalid("not JSON"))?;
    let object = value.as_object().ok_or_else(|| invalid("not a JSON object"))?;
    for forbidden in ["client_secret", "client_secret_expires_at"] {
        if object.contains_key(forbidden) {
            return Err(invalid(&format!("{forbidden} must not appear in a metadata document")));
        }
    }
    match object.get("client_id") {
        Some(serde_json::Value::String(id)) if id == url => {}
        Some(serde_json::Value::String(_)) => return Err(invalid("its client_id is not the URL it was fetched from")),
        _ => return Err(invalid("client_id is required")),
    }
    if !object.contains_key("redirect_uris") {
        return Err(invalid("redirect_uris is required"));
    }
    let raw: RawDocument = serde_json::from_value(value)
        .map_err(|_| invalid("a member has the wrong type (redirect_uris, grant_types and response_types are arrays of strings; the rest strings)"))?;
    debug_assert_eq!(raw.client_id, url);
    if raw.redirect_uris.is_empty() || raw.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid("redirect_uris must list 1 to 8 URIs"));
    }
    for (i, uri) in raw.redirect_uris.iter().enumerate() {
        validate_redirect_uri(uri).map_err(|why| invalid(&format!("redirect_uris[{i}] {why}")))?;
    }
    match raw.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(_) => {
            return Err(invalid(
                "token_endpoint_auth_method must be none (no shared secrets or keys)",
            ))
        }
    }
    let refresh_token_grant = match &raw.grant_types {
        None => true,
        Some(types) => {
            if !types.iter().any(|t| t == "authorization_code") {
                return Err(invalid("grant_types must include authorization_code"));
            }
            if let Some(other) = types
                .iter()
                .find(|t| !matches!(t.as_str(), "authorization_code" | "refresh_token"))
            {
                let other: String = other.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
                return Err(invalid(&format!(
                    "grant_types may hold only authorization_code and refresh_token, not {other}"
                )));
            }
            types.iter().any(|t| t == "refresh_token")
        }
    };
    if let Some(types) = &raw.response_types {
        if types.is_empty() || types.iter().any(|t| t != "code") {
            return Err(invalid("response_types may hold only code"));
        }
    }
    let name = validate_client_name(raw.client_name.as_deref()).map_err(invalid)?;
    validate_client_urls(&[
        ("client_uri", &raw.client_uri),
        ("logo_uri", &raw.logo_uri),
        ("policy_uri", &raw.policy_uri),
        ("tos_uri", &raw.tos_uri),
    ])
    .map_err(|why| invalid(&why))?;
    Ok(ValidDocument {
        name,
        redirect_uris: raw.redirect_uris,
        refresh_token_grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_config;
    use platform::MemoryStore;
    use std::cell::{Cell, RefCell};

    const CLAUDE: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";
    const CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";
    const T0: u64 = 1_800_000_000;

    fn claude_document() -> serde_json::Value {
        serde_json::json!({
            "client_id": CLAUDE,
            "client_name": "Claude",
            "client_uri": "https://claude.ai",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
    }

    /// One scripted answer: status, headers, body; or no response at all.
    type Answer = Result<(u16, Vec<(&'static str, String)>, Vec<u8>), OutboundError>;

    /// An `HttpClient` answering from a script and counting requests.
    struct FakeOrigin {
        answers: RefCell<Vec<Answer>>,
        requests: RefCell<Vec<String>>,
        calls: Cell<u32>,
    }

    impl FakeOrigin {
        fn new(answers: Vec<Answer>) -> Self {
            FakeOrigin {
                answers: RefCell::new(answers),
                requests: RefCell::new(vec![]),
                calls: Cell::new(0),
            }
        }
        fn ok(document: &serde_json::Value, cache_control: Option<&str>) -> Answer {
            let headers = cache_control
                .map(|c| vec![("cache-control", c.to_owned())])
                .unwrap_or_default();
            Ok((200, headers, document.to_string().into_bytes()))
        }
        fn down() -> Answer {
            Err(OutboundError::Unreachable {
                host: "claude.ai".into(),
                reason: "timed out".into(),
            })
        }
    }

    impl HttpClient for FakeOrigin {
        async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
            self.calls.set(self.calls.get() + 1);
            self.requests
                .borrow_mut()
                .push(format!("{} {}", request.method(), request.uri()));
            let answer = self.answers.borrow_mut().remove(0)?;
            let mut builder = http::Response::builder().status(answer.0);
            for (k, v) in answer.1 {
                builder = builder.header(k, v);
            }
            Ok(builder.body(answer.2).unwrap())
        }
    }

    fn policy() -> CimdPolicy {
        CimdPolicy::allowing(&["https://claude.ai", "https://chatgpt.com"])
    }

    fn resolve(kv: &MemoryStore, http: &FakeOrigin, id: &str, now: u64) -> Result<RegisteredClient, CimdError> {
        futures_lite_block_on(resolve_document_client(&test_config(), &policy(), kv, http, id, now))
    }

    /// A tiny executor: the fake origin never pends.
    fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn claude_resolves_and_is_cached_within_the_key_bound() {
        let kv = MemoryStore::new();
        let http = FakeOrigin::new(vec![FakeOrigin::ok(&claude_document(), Some("public, max-age=3600"))]);
        let client = resolve(&kv, &http, CLAUDE, T0).unwrap();
        assert_eq!(client.client_id, CLAUDE);
        assert_eq!(client.name.as_deref(), Some("Claude"));
        assert_eq!(client.document_host.as_deref(), Some("claude.ai"));
        assert_eq!(client.auth_method, ClientAuthMethod::None);
        assert!(client.refresh_token_grant);
        assert_eq!(client.resolve_redirect_uri(Some(CALLBACK)).as_deref(), Some(CALLBACK));
        assert_eq!(
            client.resolve_redirect_uri(Some("https://claude.ai/api/mcp/other")),
            None
        );
        assert_eq!(http.requests.borrow().as_slice(), [format!("GET {CLAUDE}")]);
        let keys: Vec<String> = kv.snapshot().into_keys().collect();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].starts_with("cimd:"));
        // Fresh: no second fetch (the fake has no more answers and would panic).
        assert_eq!(resolve(&kv, &http, CLAUDE, T0 + 3599).unwrap().client_id, CLAUDE);
        assert_eq!(http.calls.get(), 1);
        assert!(cached_document_client(&test_config(), &kv, CLAUDE, T0 + 10).is_some());
    }

    #[test]
    fn a_failed_refetch_uses_a_fresh_enough_copy_and_nothing_else() {
        let kv = MemoryStore::new();
        let http = FakeOrigin::new(vec![
            FakeOrigin::ok(&claude_document(), Some("max-age=600")),
            FakeOrigin::down(),
            Ok((503, vec![], b"busy".to_vec())),
            FakeOrigin::down(),
        ]);
        resolve(&kv, &http, CLAUDE, T0).unwrap();
        assert!(
            resolve(&kv, &http, CLAUDE, T0 + 601).is_ok(),
            "unreachable: the stale copy stands in"
        );
        assert!(
            resolve(&kv, &http, CLAUDE, T0 + 700).is_ok(),
            "503: the stale copy stands in"
        );
        let too_old = T0 + 600 + STALE_IF_ERROR_SECS;
        assert!(matches!(
            resolve(&kv, &http, CLAUDE, too_old),
            Err(CimdError::Unreachable(_))
        ));
        // Without any copy, unreachable is an error.
        let empty = MemoryStore::new();
        let http = FakeOrigin::new(vec![FakeOrigin::down()]);
        assert!(matches!(
            resolve(&empty, &http, CLAUDE, T0),
            Err(CimdError::Unreachable(_))
        ));
        assert!(empty.snapshot().is_empty());
    }

    #[test]
    fn a_definitive_refusal_removes_the_cached_copy() {
        let kv = MemoryStore::new();
        let mut changed = claude_document();
        changed["client_id"] = "https://claude.ai/other".into();
        let http = FakeOrigin::new(vec![
            FakeOrigin::ok(&claude_document(), Some("max-age=300")),
            FakeOrigin::ok(&changed, None),
        ]);
        resolve(&kv, &http, CLAUDE, T0).unwrap();
        assert!(matches!(
            resolve(&kv, &http, CLAUDE, T0 + 301),
            Err(CimdError::InvalidDocument(_))
        ));
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn refusals_change_nothing_and_disallowed_origins_are_never_fetched() {
        let oversized = {
            let mut d = claude_document();
            d["client_uri"] = format!("https://claude.ai/{}", "a".repeat(400)).into();
            d["padding"] = "x".repeat(MAX_DOCUMENT_BYTES).into();
            d
        };
        type Case = (&'static str, &'static str, Answer);
        let cases: Vec<Case> = vec![
            ("not JSON", CLAUDE, Ok((200, vec![], b"<html>".to_vec()))),
            ("wrong client_id", CLAUDE, {
                let mut d = claude_document();
                d["client_id"] = "https://claude.ai/oauth/mcp-oauth-client-metadata/".into();
                FakeOrigin::ok(&d, None)
            }),
            ("no redirect_uris", CLAUDE, {
                let mut d = claude_document();
                d.as_object_mut().unwrap().remove("redirect_uris");
                FakeOrigin::ok(&d, None)
            }),
            ("secret method", CLAUDE, {
                let mut d = claude_document();
                d["token_endpoint_auth_method"] = "client_secret_basic".into();
                FakeOrigin::ok(&d, None)
            }),
            (
                "oversized",
                CLAUDE,
                Err(OutboundError::TooLarge {
                    limit: MAX_DOCUMENT_BYTES,
                    size: None,
                }),
            ),
            ("oversized body", CLAUDE, FakeOrigin::ok(&oversized, None)),
            (
                "redirect",
                CLAUDE,
                Ok((302, vec![("location", "https://evil.example/doc".into())], vec![])),
            ),
            ("not found", CLAUDE, Ok((404, vec![], vec![]))),
            ("slow", CLAUDE, FakeOrigin::down()),
        ];
        for (what, id, answer) in cases {
            let kv = MemoryStore::new();
            let http = FakeOrigin::new(vec![answer]);
            assert!(resolve(&kv, &http, id, T0).is_err(), "{what}");
            assert!(kv.snapshot().is_empty(), "{what}: the store changed");
        }
        for (what, id, expected) in [
            (
                "disallowed origin",
                "https://evil.example/client",
                CimdError::OriginNotAllowed,
            ),
            (
                "allowed host, other port",
                "https://claude.ai:8443/client",
                CimdError::OriginNotAllowed,
            ),
            (
                "plain http",
                "http://claude.ai/oauth/mcp-oauth-client-metadata",
                CimdError::BadUrl("must use https"),
            ),
        ] {
            let kv = MemoryStore::new();
            let http = FakeOrigin::new(vec![]);
            assert_eq!(resolve(&kv, &http, id, T0).unwrap_err(), expected, "{what}");
            assert_eq!(http.calls.get(), 0, "{what}: fetched");
            assert!(kv.snapshot().is_empty());
        }
    }

    #[test]
    fn client_id_urls_are_strict() {
        for good in [
            CLAUDE,
            "https://chatgpt.com/oauth/client.json",
            "https://localhost:8443/client?v=1",
        ] {
            assert!(parse_client_id_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://claude.ai/client",
            "https://claude.ai",
            "https://claude.ai/",
            "https://claude.ai/client#frag",
            "https://user@claude.ai/client",
            "https://user:pw@claude.ai/client",
            "https://claude.ai/a/../client",
            "https://claude.ai/a/./client",
            "https://claude.ai/a/%2e%2E/client",
            "https://CLAUDE.ai/client",
            "https://claude.ai:443/client",
            "https://claude.ai/cli ent",
            "claude.ai/client",
            "kc1.abc",
        ] {
            assert!(parse_client_id_url(bad).is_err(), "{bad}");
        }
        assert!(parse_client_id_url(&format!("https://claude.ai/{}", "a".repeat(600))).is_err());
    }

    #[test]
    fn documents_are_validated_like_registrations() {
        assert!(validate_document(CLAUDE, claude_document().to_string().as_bytes()).is_ok());
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("array", Box::new(|d| *d = serde_json::json!([1]))),
            (
                "client_id missing",
                Box::new(|d| {
                    d.as_object_mut().unwrap().remove("client_id");
                }),
            ),
            (
                "client_id differs in case",
                Box::new(|d| d["client_id"] = CLAUDE.replace("claude", "Claude").into()),
            ),
            (
                "redirect_uris empty",
                Box::new(|d| d["redirect_uris"] = serde_json::json!([])),
            ),
            (
                "redirect_uris string",
                Box::new(|d| d["redirect_uris"] = CALLBACK.into()),
            ),
            (
                "redirect javascript",
                Box::new(|d| d["redirect_uris"] = serde_json::json!(["javascript:alert(1)"])),
            ),
            (
                "redirect plain http",
                Box::new(|d| d["redirect_uris"] = serde_json::json!(["http://example.com/cb"])),
            ),
            (
                "private_key_jwt",
                Box::new(|d| d["token_endpoint_auth_method"] = "private_key_jwt".into()),
            ),
            (
                "client_secret_post",
                Box::new(|d| d["token_endpoint_auth_method"] = "client_secret_post".into()),
            ),
            ("client_secret present", Box::new(|d| d["client_secret"] = "s".into())),
            (
                "implicit",
                Box::new(|d| d["grant_types"] = serde_json::json!(["authorization_code", "implicit"])),
            ),
            (
                "no authorization_code",
                Box::new(|d| d["grant_types"] = serde_json::json!(["refresh_token"])),
            ),
            (
                "token response",
                Box::new(|d| d["response_types"] = serde_json::json!(["code", "token"])),
            ),
            ("bidi name", Box::new(|d| d["client_name"] = "Claude\u{202E}".into())),
            ("long name", Box::new(|d| d["client_name"] = "x".repeat(129).into())),
            (
                "logo data:",
                Box::new(|d| d["logo_uri"] = "data:image/png;base64,AAAA".into()),
            ),
            (
                "client_uri javascript",
                Box::new(|d| d["client_uri"] = "javascript:alert(1)".into()),
            ),
        ];
        for (what, mutate) in cases {
            let mut d = claude_document();
            mutate(&mut d);
            assert!(
                matches!(
                    validate_document(CLAUDE, d.to_string().as_bytes()),
                    Err(CimdError::InvalidDocument(_))
                ),
                "{what}"
            );
        }
        // Minimal: client_id and redirect_uris; no refresh when grant_types says so.
        let minimal = serde_json::json!({"client_id": CLAUDE, "redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["authorization_code"]});
        let v = validate_document(CLAUDE, minimal.to_string().as_bytes()).unwrap();
        assert!(!v.refresh_token_grant);
        assert_eq!(v.name, None);
    }

    #[test]
    fn cache_control_is_clamped() {
        assert_eq!(cache_lifetime(None), DEFAULT_CACHE_SECS);
        assert_eq!(cache_lifetime(Some("max-age=60")), MIN_CACHE_SECS);
        assert_eq!(cache_lifetime(Some("public, max-age=7200")), 7200);
        assert_eq!(cache_lifetime(Some("max-age=999999999")), MAX_CACHE_SECS);
        assert_eq!(cache_lifetime(Some("no-store")), MIN_CACHE_SECS);
        assert_eq!(cache_lifetime(Some("max-age=oops")), DEFAULT_CACHE_SECS);
    }

    #[test]
    fn cached_records_are_authenticated_and_bounded() {
        let kv = MemoryStore::new();
        let http = FakeOrigin::new(vec![FakeOrigin::ok(&claude_document(), None)]);
        resolve(&kv, &http, CLAUDE, T0).unwrap();
        let (key, bytes) = kv.snapshot().into_iter().next().unwrap();
        let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        record["r"] = serde_json::json!(["https://evil.example/cb"]);
        kv.set(&key, record.to_string().as_bytes()).unwrap();
        assert!(
            cached_document_client(&test_config(), &kv, CLAUDE, T0).is_none(),
            "a planted record is refused"
        );
        assert!(kv.snapshot().is_empty(), "and removed");
        // Whatever URLs are asked for, at most CACHE_SLOTS keys.
        let slots: std::collections::BTreeSet<String> = (0..500)
            .map(|i| cache_key(&format!("https://claude.ai/c{i}")))
            .collect();
        assert!(slots.len() <= CACHE_SLOTS as usize);
    }

    #[test]
    fn origins_come_from_the_variables() {
        let lookup = |name: &str| match name {
            "cimd_origin_1" => Some("https://claude.ai".to_owned()),
            "cimd_origin_2" => Some("https://chatgpt.com/".to_owned()),
            "cimd_origin_3" => Some("  ".to_owned()),
            _ => None,
        };
        let policy = CimdPolicy::from_lookup(lookup).unwrap();
        assert_eq!(policy.origins(), ["https://claude.ai", "https://chatgpt.com"]);
        for bad in [
            "http://claude.ai",
            "https://claude.ai/oauth",
            "claude.ai",
            "https://u@claude.ai",
        ] {
            let err = CimdPolicy::from_lookup(|n| (n == "cimd_origin_4").then(|| bad.to_owned())).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        variable: "cimd_origin_4",
                        ..
                    }
                ),
                "{bad}"
            );
            assert!(!err.to_string().contains(bad));
        }
    }
}
