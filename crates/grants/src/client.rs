//! OAuth clients: dynamic registration (RFC 7591) without storage.
//!
//! Claude registers a new client on every connection, so a stored registration per client would
//! fill a 1,024-key store. Instead the `client_id` *is* the registration: the validated metadata
//! that matters later (name, redirect URIs, authentication method), HMAC-signed with a key derived
//! from `secret_key`. A confidential client's secret is an HMAC of its id under another key, so it
//! is never stored either. Changing `secret_key` invalidates every client (they re-register on
//! the resulting `401 invalid_client`).

use crate::crypto::{self, CryptoError, Purpose};
use crate::resource::is_loopback_host;
use crate::url_refusal;
use crate::Config;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

/// Prefix of every client id (also a version: a new format gets a new prefix).
const CLIENT_ID_PREFIX: &str = "kc1.";
const CLIENT_SECRET_PREFIX: &str = "kcs_";
pub const MAX_REDIRECT_URIS: usize = 8;
pub const MAX_REDIRECT_URI_LEN: usize = 512;
pub const MAX_CLIENT_NAME_CHARS: usize = 128;
/// Upper bound on a client id's length, so ids stay usable in URLs and records.
pub const MAX_CLIENT_ID_LEN: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// A public client (PKCE only).
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn is_confidential(self) -> bool {
        self != ClientAuthMethod::None
    }
}

/// A registration request body, as clients send it. Unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ClientRegistration {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    pub scope: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// Why a registration was refused; the variant is the RFC 7591 error code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    #[error("could not issue a client id: {0}")]
    Crypto(String),
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            RegistrationError::InvalidClientMetadata(_) => "invalid_client_metadata",
            RegistrationError::Crypto(_) => "server_error",
        }
    }
}

/// The signed part of a client id. Short field names keep ids short.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ClientClaims {
    #[serde(rename = "n", skip_serializing_if = "Option::is_none", default)]
    name: Option<String>,
    #[serde(rename = "r")]
    redirect_uris: Vec<String>,
    #[serde(rename = "m")]
    auth_method: ClientAuthMethod,
    #[serde(rename = "t")]
    issued_at: u64,
    /// Registered without the `refresh_token` grant type: `/token` refuses to refresh for it.
    /// (Absent in ids issued before this member existed: those may refresh, as before.)
    #[serde(rename = "nr", skip_serializing_if = "std::ops::Not::not", default)]
    no_refresh: bool,
    /// Makes every registration's id (and so its secret) unique even for identical metadata.
    #[serde(rename = "x")]
    nonce: String,
}

/// A client, as recovered from its authentic id.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: ClientAuthMethod,
    pub issued_at: u64,
    /// Whether the client registered the `refresh_token` grant type (enforced at `/token`).
    pub refresh_token_grant: bool,
    /// For a client identified by its metadata document URL (see `cimd`): the host of that
    /// URL (with its port unless 443), which is what we verified (we fetched the document from
    /// it over https).
    pub document_host: Option<String>,
}

/// What registration hands back: the client and, for a confidential one, its secret.
pub struct Registered {
    pub client: RegisteredClient,
    pub client_secret: Option<SecretString>,
    /// `grant_types` as registered (always `authorization_code`, plus `refresh_token` unless the
    /// client asked for `authorization_code` only).
    pub grant_types: Vec<&'static str>,
    pub application_type: Option<String>,
}

/// Validate a registration and mint its self-contained client id (RFC 7591 §3.2.1).
pub fn register_client(
    config: &Config,
    request: &ClientRegistration,
    now: u64,
) -> Result<Registered, RegistrationError> {
    let accepted = validate_registration(request)?;
    mint_client(config, accepted, now)
}

/// What a registration request asks for, checked and normalised; nothing is minted yet.
struct AcceptedRegistration {
    name: Option<String>,
    redirect_uris: Vec<String>,
    auth_method: ClientAuthMethod,
    grant_types: Vec<&'static str>,
    application_type: Option<String>,
}

fn validate_registration(request: &ClientRegistration) -> Result<AcceptedRegistration, RegistrationError> {
    let meta = |m: &str| RegistrationError::InvalidClientMetadata(m.to_owned());

    if request.redirect_uris.is_empty() {
        return Err(RegistrationError::InvalidRedirectUri(
            "redirect_uris must list at least one URI".into(),
        ));
    }
    if request.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(RegistrationError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris are accepted"
        )));
    }
    for (i, uri) in request.redirect_uris.iter().enumerate() {
        validate_redirect_uri(uri)
            .map_err(|why| RegistrationError::InvalidRedirectUri(format!("redirect_uris[{i}] {why}")))?;
    }

    let name = validate_client_name(request.client_name.as_deref()).map_err(meta)?;

    // RFC 7591 defaults to client_secret_basic, but clients that omit the method are public
    // clients expecting `none` (mcp-remote, python-sdk): treat omission as public.
    let auth_method = match request.token_endpoint_auth_method.as_deref() {
        None | Some("none") => ClientAuthMethod::None,
        Some("client_secret_basic") => ClientAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => ClientAuthMethod::ClientSecretPost,
        Some(_) => {
            return Err(meta(
                "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
            ))
        }
    };

    let grant_types = match &request.grant_types {
        None => vec!["authorization_code", "refresh_token"],
        Some(types) => {
            if !types.iter().any(|t| t == "authorization_code") {
                return Err(meta("grant_types must include authorization_code"));
            }
            // Unsupported extra grant types are dropped (RFC 7591 lets the server replace values);
            // the response shows what was registered.
            let mut kept = vec!["authorization_code"];
            if types.iter().any(|t| t == "refresh_token") {
                kept.push("refresh_token");
            }
            kept
        }
    };
    if let Some(types) = &request.response_types {
        if !types.iter().any(|t| t == "code") {
            return Err(meta("response_types must include code"));
        }
    }
    let application_type = match request.application_type.as_deref() {
        None => None,
        Some(t @ ("web" | "native")) => Some(t.to_owned()),
        Some(_) => return Err(meta("application_type must be web or native")),
    };
    validate_client_urls(&[
        ("client_uri", &request.client_uri),
        ("logo_uri", &request.logo_uri),
        ("policy_uri", &request.policy_uri),
        ("tos_uri", &request.tos_uri),
    ])
    .map_err(|why| meta(&why))?;
    Ok(AcceptedRegistration {
        name,
        redirect_uris: request.redirect_uris.clone(),
        auth_method,
        grant_types,
        application_type,
    })
}

/// The client id (the signed claims) and, for a confidential client, its derived secret.
fn mint_client(config: &Config, accepted: AcceptedRegistration, now: u64) -> Result<Registered, RegistrationError> {
    let AcceptedRegistration {
        name,
        redirect_uris,
        auth_method,
        grant_types,
        application_type,
    } = accepted;
    let refresh_token_grant = grant_types.contains(&"refresh_token");
    let claims = ClientClaims {
        name,
        redirect_uris,
        auth_method,
        issued_at: now,
        no_refresh: !refresh_token_grant,
        nonce: crypto::random_token::<9>().map_err(|e: CryptoError| RegistrationError::Crypto(e.to_string()))?,
    };
    let client_id = sign_client_id(config, &claims)?;
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(RegistrationError::InvalidClientMetadata(
            "the registration metadata is too large".to_owned(),
        ));
    }
    let client = RegisteredClient {
        client_id,
        name: claims.name,
        redirect_uris: claims.redirect_uris,
        auth_method,
        issued_at: now,
        refresh_token_grant,
        document_host: None,
    };
    let client_secret = auth_method
        .is_confidential()
        .then(|| derive_secret(config, &client.client_id));
    Ok(Registered {
        client,
        client_secret,
        grant_types,
        application_type,
    })
}

/// A client's own name as it may be shown (trimmed; empty is none), or why it may not: too
/// long, control characters, or characters that hide or reorder text. Shared by registration
/// and client metadata documents.
pub(crate) fn validate_client_name(name: Option<&str>) -> Result<Option<String>, &'static str> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > MAX_CLIENT_NAME_CHARS => Err("client_name must be at most 128 characters"),
        Some(n) if n.chars().any(char::is_control) => Err("client_name must not contain control characters"),
        Some(n) if n.chars().any(is_deceptive_name_char) => Err(
            "client_name must not contain invisible or text-direction characters (bidi controls such as U+202E, zero-width characters such as U+200B)",
        ),
        Some(n) => Ok(Some(n.to_owned())),
    }
}

/// The informational URLs of client metadata (`client_uri`, `logo_uri`, …): http or https
/// URLs of bounded length without control characters, when present.
pub(crate) fn validate_client_urls(fields: &[(&str, &Option<String>)]) -> Result<(), String> {
    for (field, value) in fields {
        if let Some(v) = value {
            if !is_safe_web_url(v) {
                return Err(format!("{field} must be an http or https URL"));
            }
        }
    }
    Ok(())
}

fn sign_client_id(config: &Config, claims: &ClientClaims) -> Result<String, RegistrationError> {
    let payload = serde_json::to_vec(claims).map_err(|e| RegistrationError::Crypto(e.to_string()))?;
    let tag = crypto::mac(config.keys.get(Purpose::ClientIds), &[&payload]);
    Ok(format!(
        "{CLIENT_ID_PREFIX}{}.{}",
        crypto::b64(&payload),
        crypto::b64(&tag)
    ))
}

/// The client behind `client_id`, if the id is one we issued (signature checked in constant time).
pub fn verify_client_id(config: &Config, client_id: &str) -> Option<RegisteredClient> {
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return None;
    }
    let (payload, tag) = client_id.strip_prefix(CLIENT_ID_PREFIX)?.split_once('.')?;
    let payload = crypto::unb64(payload)?;
    let tag = crypto::unb64(tag)?;
    if !crypto::verify_mac(config.keys.get(Purpose::ClientIds), &[&payload], &tag) {
        return None;
    }
    let claims: ClientClaims = serde_json::from_slice(&payload).ok()?;
    Some(RegisteredClient {
        client_id: client_id.to_owned(),
        name: claims.name,
        redirect_uris: claims.redirect_uris,
        auth_method: claims.auth_method,
        issued_at: claims.issued_at,
        refresh_token_grant: !claims.no_refresh,
        document_host: None,
    })
}

fn derive_secret(config: &Config, client_id: &str) -> SecretString {
    let tag = crypto::mac(config.keys.get(Purpose::ClientSecrets), &[client_id.as_bytes()]);
    SecretString::from(format!("{CLIENT_SECRET_PREFIX}{}", crypto::b64(&tag)))
}

impl RegisteredClient {
    /// Whether `presented` is this client's secret (constant time). Public clients have none.
    pub fn verify_secret(&self, config: &Config, presented: &str) -> bool {
        self.auth_method.is_confidential()
            && crypto::ct_eq(
                derive_secret(config, &self.client_id).expose_secret().as_bytes(),
                presented.as_bytes(),
            )
    }

    /// The redirect URI to use for a request: exact string match against a registered URI, or
    /// for loopback http URIs the same host, path and query on any port (RFC 8252 §7.3).
    /// Without `requested`, the single registered URI (if there is exactly one).
    pub fn resolve_redirect_uri(&self, requested: Option<&str>) -> Option<String> {
        let Some(requested) = requested else {
            return match self.redirect_uris.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            };
        };
        if self.redirect_uris.iter().any(|r| r == requested) {
            return Some(requested.to_owned());
        }
        let req = Url::parse(requested).ok()?;
        if req.scheme() != "http" || !is_loopback_host(&req) || validate_redirect_uri(requested).is_err() {
            return None;
        }
        self.redirect_uris
            .iter()
            .filter_map(|r| Url::parse(r).ok())
            .any(|reg| {
                reg.scheme() == "http"
                    && reg.host() == req.host()
                    && reg.path() == req.path()
                    && reg.query() == req.query()
            })
            .then(|| requested.to_owned())
    }
}

/// Redirect URIs we accept: `https` anywhere, `http` only on a loopback host; no fragment, no user
/// information, no whitespace or control characters; a host in ASCII (an internationalized domain
/// as punycode: the app is built without IDNA's Unicode tables, see `idna_adapter` in
/// Cargo.toml). Everything else (`javascript:`, `data:`, custom schemes, plain http to the
/// internet) is refused. The error says why, without echoing.
pub fn validate_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err("is too long");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters");
    }
    let url = Url::parse(uri).map_err(|e| url_refusal::reason(e, "must be an absolute URL"))?;
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => {}
        "http" if is_loopback_host(&url) => {}
        "http" => return Err("may use http only on a loopback host (localhost, 127.0.0.1, [::1])"),
        _ => return Err("must use https (or http on a loopback host)"),
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information");
    }
    Ok(())
}

/// Characters a client name may not contain because they hide or reorder what the consent page
/// shows: bidirectional controls (U+202A–U+202E, U+2066–U+2069, LRM/RLM/ALM), zero-width and other
/// invisible format characters (U+200B–U+200D, U+2060–U+2064, U+FEFF, soft hyphen, tag
/// characters, fillers), and the Unicode line and paragraph separators.
pub fn is_deceptive_name_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

fn is_safe_web_url(value: &str) -> bool {
    value.len() <= MAX_REDIRECT_URI_LEN
        && !value.chars().any(char::is_control)
        && Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config_with, test_config};

    fn registration(uris: &[&str]) -> ClientRegistration {
        ClientRegistration {
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            client_name: Some("MCP CLI Client".into()),
            ..Default::default()
        }
    }

    #[test]
    fn redirect_hosts_must_be_ascii_or_punycode() {
        // Built without IDNA's Unicode tables (idna_adapter 1.0): a Unicode host is refused with
        // its reason, never mapped, so full-width look-alikes cannot pass for an ASCII host.
        let ascii_only = Err(url_refusal::ASCII_HOST_ONLY);
        assert_eq!(validate_redirect_uri("https://例え.jp/cb"), ascii_only);
        assert_eq!(validate_redirect_uri("https://ｃｌａｕｄｅ.ai/cb"), ascii_only);
        assert_eq!(validate_redirect_uri("https://xn--r8jz45g.jp/cb"), Ok(()));
        assert_eq!(validate_redirect_uri("https://xn--bad-.jp/cb"), ascii_only);
    }

    #[test]
    fn public_registration_round_trips_through_the_signed_id() {
        let config = test_config();
        let reg = register_client(&config, &registration(&["http://localhost:4567/oauth/callback"]), 1000).unwrap();
        assert!(reg.client_secret.is_none());
        assert_eq!(reg.client.auth_method, ClientAuthMethod::None);
        assert_eq!(reg.grant_types, vec!["authorization_code", "refresh_token"]);
        let back = verify_client_id(&config, &reg.client.client_id).unwrap();
        assert_eq!(back.name.as_deref(), Some("MCP CLI Client"));
        assert_eq!(back.redirect_uris, vec!["http://localhost:4567/oauth/callback"]);
        assert_eq!(back.issued_at, 1000);
        // Same metadata, new registration: a different id (so consent is asked again).
        let again = register_client(&config, &registration(&["http://localhost:4567/oauth/callback"]), 1001).unwrap();
        assert_ne!(again.client.client_id, reg.client.client_id);
    }

    #[test]
    fn forged_or_foreign_client_ids_are_refused() {
        let config = test_config();
        let reg = register_client(&config, &registration(&["https://claude.ai/api/mcp/auth_callback"]), 1).unwrap();
        let id = &reg.client.client_id;
        assert!(verify_client_id(&config, "unknown-client").is_none());
        assert!(verify_client_id(&config, &id.replace("kc1.", "kc2.")).is_none());
        // Swap the payload for one naming an attacker's redirect URI, keep the tag.
        let (_, tag) = id.rsplit_once('.').unwrap();
        let evil = serde_json::json!({"r": ["https://evil.example/cb"], "m": "none", "t": 1, "x": "aaaa"});
        let forged = format!("kc1.{}.{tag}", crypto::b64(evil.to_string().as_bytes()));
        assert!(verify_client_id(&config, &forged).is_none());
        let other_config = config_with(&[("secret_key", "a-different-secret-key-for-another-deploy")]);
        assert!(verify_client_id(&other_config, id).is_none());
    }

    #[test]
    fn confidential_clients_get_a_verifiable_secret() {
        let config = test_config();
        let mut req = registration(&["https://oauth.pstmn.io/v1/callback"]);
        req.token_endpoint_auth_method = Some("client_secret_basic".into());
        let reg = register_client(&config, &req, 1).unwrap();
        let secret = reg.client_secret.unwrap();
        assert!(secret.expose_secret().starts_with("kcs_"));
        let client = verify_client_id(&config, &reg.client.client_id).unwrap();
        assert!(client.verify_secret(&config, secret.expose_secret()));
        assert!(!client.verify_secret(&config, "kcs_wrong"));
        assert!(!client.verify_secret(&config, ""));
        // A public client never verifies any secret.
        let public = register_client(&config, &registration(&["https://claude.ai/api/mcp/auth_callback"]), 1).unwrap();
        assert!(!public.client.verify_secret(&config, secret.expose_secret()));
    }

    #[test]
    fn dangerous_or_plain_http_redirects_are_refused() {
        let config = test_config();
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "https://user@example.com/cb",
            "cursor://callback",
            "/relative/cb",
            "https://example.com/c b",
            "https://",
        ] {
            let err = register_client(&config, &registration(&[bad]), 1).err().unwrap();
            assert_eq!(err.code(), "invalid_redirect_uri", "{bad}");
        }
        for good in [
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback",
            "https://oauth.pstmn.io/v1/callback",
            "http://127.0.0.1:6276/oauth/callback",
            "http://[::1]:9000/cb",
            "http://localhost/cb",
        ] {
            assert!(register_client(&config, &registration(&[good]), 1).is_ok(), "{good}");
        }
        assert_eq!(
            register_client(&config, &registration(&[]), 1).err().unwrap().code(),
            "invalid_redirect_uri"
        );
    }

    #[test]
    fn metadata_is_validated() {
        let config = test_config();
        let uri = "https://claude.ai/api/mcp/auth_callback";
        type Mutation = Box<dyn Fn(&mut ClientRegistration)>;
        let cases: Vec<Mutation> = vec![
            Box::new(|r| r.token_endpoint_auth_method = Some("private_key_jwt".into())),
            Box::new(|r| r.grant_types = Some(vec!["client_credentials".into()])),
            Box::new(|r| r.response_types = Some(vec!["token".into()])),
            Box::new(|r| r.client_uri = Some("javascript:alert(1)".into())),
            Box::new(|r| r.logo_uri = Some("data:image/png;base64,AAAA".into())),
            Box::new(|r| r.client_name = Some("bad\u{0007}name".into())),
            Box::new(|r| r.client_name = Some("x".repeat(129))),
            Box::new(|r| r.client_name = Some("Claude\u{202E}lanigiro".into())),
            Box::new(|r| r.client_name = Some("Cla\u{200B}ude".into())),
            Box::new(|r| r.client_name = Some("\u{2066}Claude\u{2069}".into())),
            Box::new(|r| r.client_name = Some("Claude\u{FEFF}".into())),
            Box::new(|r| r.client_name = Some("Claude\u{2028}Desktop".into())),
            Box::new(|r| r.application_type = Some("browser".into())),
        ];
        for (i, mutate) in cases.iter().enumerate() {
            let mut req = registration(&[uri]);
            mutate(&mut req);
            let err = register_client(&config, &req, 1).err().unwrap();
            assert_eq!(err.code(), "invalid_client_metadata", "case {i}");
        }
        // Claude's body: unknown scope and name tolerated.
        let mut claude = registration(&[uri]);
        claude.client_name = Some("claudeai".into());
        claude.scope = Some("claudeai".into());
        claude.grant_types = Some(vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "urn:x".into(),
        ]);
        let reg = register_client(&config, &claude, 1).unwrap();
        assert_eq!(reg.grant_types, vec!["authorization_code", "refresh_token"]);
    }

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let config = test_config();
        let reg = register_client(
            &config,
            &registration(&[
                "http://localhost:4567/oauth/callback",
                "https://claude.ai/api/mcp/auth_callback",
            ]),
            1,
        )
        .unwrap();
        let c = reg.client;
        assert_eq!(
            c.resolve_redirect_uri(Some("https://claude.ai/api/mcp/auth_callback"))
                .as_deref(),
            Some("https://claude.ai/api/mcp/auth_callback")
        );
        assert_eq!(
            c.resolve_redirect_uri(Some("http://localhost:9999/oauth/callback"))
                .as_deref(),
            Some("http://localhost:9999/oauth/callback")
        );
        for bad in [
            "https://claude.ai/api/mcp/auth_callback/",
            "https://claude.ai/api/mcp/auth_callback?x=1",
            "https://evil.example/api/mcp/auth_callback",
            "http://localhost:9999/other",
            "http://127.0.0.1:4567/oauth/callback",
            "https://localhost:4567/oauth/callback",
            "javascript:alert(1)",
        ] {
            assert_eq!(c.resolve_redirect_uri(Some(bad)), None, "{bad}");
        }
        // Omitted redirect_uri only works with a single registered URI.
        assert_eq!(c.resolve_redirect_uri(None), None);
        let single = register_client(&config, &registration(&["https://oauth.pstmn.io/v1/callback"]), 1)
            .unwrap()
            .client;
        assert_eq!(
            single.resolve_redirect_uri(None).as_deref(),
            Some("https://oauth.pstmn.io/v1/callback")
        );
    }
}
