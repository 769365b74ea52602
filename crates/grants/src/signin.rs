//! Pending sign-ins, sealed into the `state` we send to Cybozu: nothing is stored until Cybozu
//! sends the user back with a code.
//!
//! When the user approves (or a remembered approval skips the page), the validated authorization
//! request, an expiry and a hash of the per-browser binding value (a `__Host-` cookie) are
//! encrypted with XChaCha20-Poly1305 under a key derived from `secret_key` for this purpose
//! alone; the result is the upstream `state`. `/callback` opens it, checks the expiry, and checks
//! that the browser presents the same binding cookie.
//!
//! Why sealed and not stored: a stored record per approval let anyone replay the consent form's
//! POST in a loop, fill the bounded table and evict real users still at Cybozu's sign-in page
//! (issue 11, M2). A sealed state costs the server nothing to mint, so a replay only hands its
//! sender one more state bound to their own browser.
//!
//! A sealed state can be presented more than once; that does no harm:
//! - Another browser cannot use it: it lacks the binding cookie (a `__Host-` cookie no other site
//!   can set or read), and the check comes before any code exchange.
//! - The same browser replaying the whole callback URL brings a code Cybozu already redeemed:
//!   Cybozu's codes are single-use, so the exchange is refused and nothing is created. (The
//!   `oauth` crate also remembers completed states in a signed cookie and refuses them before
//!   calling Cybozu at all.)
//! - The same browser walking through Cybozu again with the same state gets a fresh code for the
//!   same client, redirect URI and PKCE challenge: exactly what a new sign-in in that browser
//!   gives, and it takes that person's own Cybozu account. The state expires after 10 minutes.

use crate::crypto::{self, CryptoError, Purpose};
use crate::scope::Scopes;
use crate::Config;
use serde::{Deserialize, Serialize};

/// How long a sign-in may take from approval to `/callback`.
pub const SIGNIN_LIFETIME_SECS: u64 = 600;

/// Version prefix of a sealed state (a new format gets a new prefix).
const STATE_PREFIX: &str = "s1.";
/// Associated data of the AEAD: binds the ciphertext to this use and format.
const STATE_AAD: &[u8] = b"kintone-mcp/signin-state/v1";
/// A presented state longer than this is not one of ours (client ids are at most 4 KB, client
/// states 1 KB; the seal and base64 add about a third).
const MAX_SEALED_STATE_LEN: usize = 8 * 1024;
/// Bytes of SHA-256 of the binding cookie kept in the state (inside the AEAD, so a truncated
/// hash is enough to tell two browsers apart).
const BROWSER_HASH_BYTES: usize = 16;

/// A validated authorization request (RFC 6749 §4.1.1 + PKCE + RFC 8707), carried from
/// `/authorize` through Cybozu to the grant. Field names are short because it is sealed into the
/// upstream `state` and stored in the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    #[serde(rename = "c")]
    pub client_id: String,
    /// The redirect URI the code goes to (already matched against the registration).
    #[serde(rename = "u")]
    pub redirect_uri: String,
    /// Whether the client sent `redirect_uri` (then `/token` must send the same one).
    #[serde(rename = "ux")]
    pub redirect_uri_explicit: bool,
    /// PKCE S256 challenge (43 base64url characters).
    #[serde(rename = "pk")]
    pub code_challenge: String,
    /// Normalised RFC 8707 resource the tokens will be bound to.
    #[serde(rename = "r")]
    pub resource: String,
    #[serde(rename = "s")]
    pub scopes: Scopes,
    /// The client's own `state`, echoed back verbatim.
    #[serde(rename = "st", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Our issuer as the client saw it (for RFC 9207 `iss`).
    #[serde(rename = "i")]
    pub issuer: String,
}

impl AuthorizationRequest {
    /// The `redirect_uri` we send to Cybozu for this request (and again at the code exchange).
    pub fn callback_uri(&self) -> String {
        format!("{}/callback", self.issuer)
    }
}

/// What the sealed `state` carries.
#[derive(Serialize, Deserialize)]
struct SealedSignin {
    #[serde(rename = "q")]
    request: AuthorizationRequest,
    /// Truncated SHA-256 of the browser binding cookie's value, base64url.
    #[serde(rename = "b")]
    browser_hash: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

/// What `/callback` gets back from a valid state.
#[derive(Debug)]
pub struct CompletedSignin {
    pub request: AuthorizationRequest,
    /// The `redirect_uri` we sent to Cybozu (needed again for the code exchange).
    pub callback_uri: String,
    /// When the state stops being accepted.
    pub expires_at: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error("the sign-in state is not one of ours")]
    UnknownState,
    #[error("the sign-in took too long and expired")]
    Expired,
    #[error("the sign-in was started in another browser (no binding cookie)")]
    MissingBrowserCookie,
    #[error("the sign-in was started in another browser (binding cookie mismatch)")]
    WrongBrowser,
}

/// A fresh value for the browser binding cookie (reuse the browser's current one if it has one,
/// so parallel sign-ins in one browser do not break each other).
pub fn new_browser_binding() -> Result<String, CryptoError> {
    crypto::random_token::<32>()
}

/// Whether a cookie value looks like one [`new_browser_binding`] made (43 base64url chars).
pub fn is_browser_binding(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn browser_hash(binding: &str) -> String {
    crypto::b64(&crypto::sha256(binding.as_bytes())[..BROWSER_HASH_BYTES])
}

/// Seal a pending sign-in for `browser_binding`; returns the `state` to send to Cybozu. Writes
/// nothing anywhere.
pub fn begin_signin(
    config: &Config,
    request: &AuthorizationRequest,
    browser_binding: &str,
    now: u64,
) -> Result<String, CryptoError> {
    let sealed = SealedSignin {
        request: request.clone(),
        browser_hash: browser_hash(browser_binding),
        expires_at: now + SIGNIN_LIFETIME_SECS,
    };
    let json = serde_json::to_vec(&sealed).map_err(|_| CryptoError::Seal)?;
    let ciphertext = crypto::seal(config.keys.get(Purpose::SigninStates), STATE_AAD, &json)?;
    Ok(format!("{STATE_PREFIX}{}", crypto::b64(&ciphertext)))
}

/// Open a state made by [`begin_signin`]: ours, not expired, and presented by the browser it was
/// sealed for. Checks only; the caller decides what completing it means.
pub fn finish_signin(
    config: &Config,
    state: &str,
    browser_binding: Option<&str>,
    now: u64,
) -> Result<CompletedSignin, SigninError> {
    if state.len() > MAX_SEALED_STATE_LEN {
        return Err(SigninError::UnknownState);
    }
    let ciphertext = state
        .strip_prefix(STATE_PREFIX)
        .and_then(crypto::unb64)
        .ok_or(SigninError::UnknownState)?;
    let json = crypto::open(config.keys.get(Purpose::SigninStates), STATE_AAD, &ciphertext)
        .ok_or(SigninError::UnknownState)?;
    let sealed: SealedSignin = serde_json::from_slice(&json).map_err(|_| SigninError::UnknownState)?;
    if sealed.expires_at <= now {
        return Err(SigninError::Expired);
    }
    let binding = browser_binding.ok_or(SigninError::MissingBrowserCookie)?;
    if !crypto::ct_eq(sealed.browser_hash.as_bytes(), browser_hash(binding).as_bytes()) {
        return Err(SigninError::WrongBrowser);
    }
    let callback_uri = sealed.request.callback_uri();
    Ok(CompletedSignin {
        request: sealed.request,
        callback_uri,
        expires_at: sealed.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VAR_SECRET_KEY;
    use crate::test_support::{config_with, sample_request, test_config};

    const BROWSER: &str = "browser-binding-value-0123456789abcdefghijk";

    #[test]
    fn a_state_opens_in_its_browser_and_hides_what_it_carries() {
        let config = test_config();
        let state = begin_signin(&config, &sample_request(), BROWSER, 100).unwrap();
        assert!(state.starts_with(STATE_PREFIX));
        for clear in ["client-state", "kc1.client", "localhost", "E9Melhoa", BROWSER] {
            assert!(!state.contains(clear), "{clear} is visible in the state");
        }
        let done = finish_signin(&config, &state, Some(BROWSER), 200).unwrap();
        assert_eq!(done.request, sample_request());
        assert_eq!(done.callback_uri, "https://mcp.example.com/callback");
        assert_eq!(done.expires_at, 100 + SIGNIN_LIFETIME_SECS);
        // Every approval gets its own state (random nonce).
        assert_ne!(state, begin_signin(&config, &sample_request(), BROWSER, 100).unwrap());
    }

    #[test]
    fn another_browser_cannot_use_a_state() {
        let config = test_config();
        let state = begin_signin(&config, &sample_request(), BROWSER, 100).unwrap();
        assert!(matches!(
            finish_signin(&config, &state, None, 101),
            Err(SigninError::MissingBrowserCookie)
        ));
        assert!(matches!(
            finish_signin(&config, &state, Some(&"A".repeat(43)), 101),
            Err(SigninError::WrongBrowser)
        ));
        // A failed attempt elsewhere does not spoil it for its own browser.
        assert!(finish_signin(&config, &state, Some(BROWSER), 101).is_ok());
    }

    #[test]
    fn expired_states_are_refused() {
        let config = test_config();
        let state = begin_signin(&config, &sample_request(), BROWSER, 100).unwrap();
        assert!(finish_signin(&config, &state, Some(BROWSER), 100 + SIGNIN_LIFETIME_SECS - 1).is_ok());
        assert!(matches!(
            finish_signin(&config, &state, Some(BROWSER), 100 + SIGNIN_LIFETIME_SECS),
            Err(SigninError::Expired)
        ));
    }

    #[test]
    fn forged_tampered_or_foreign_states_are_unknown() {
        let config = test_config();
        let state = begin_signin(&config, &sample_request(), BROWSER, 100).unwrap();
        let mut tampered = state.clone().into_bytes();
        let at = tampered.len() / 2;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let other_key = config_with(&[(VAR_SECRET_KEY, "a-completely-different-secret-key-value")]);
        let foreign = begin_signin(&other_key, &sample_request(), BROWSER, 100).unwrap();
        // The old `<slot>.<secret>` format, garbage, and a state sealed under another key.
        for forged in [
            tampered,
            foreign,
            "1f.E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            state[STATE_PREFIX.len()..].to_owned(),
            format!("{STATE_PREFIX}%%%"),
            format!("{STATE_PREFIX}{}", "A".repeat(MAX_SEALED_STATE_LEN)),
            String::new(),
        ] {
            assert!(
                matches!(
                    finish_signin(&config, &forged, Some(BROWSER), 101),
                    Err(SigninError::UnknownState)
                ),
                "{forged:.40}"
            );
        }
        // The key is derived for this purpose alone: a browser blob sealed by the config's
        // generic helper does not open as a state.
        let blob = config.browser().seal("consent-form/v1", b"{}").unwrap();
        assert!(matches!(
            finish_signin(&config, &format!("{STATE_PREFIX}{blob}"), Some(BROWSER), 101),
            Err(SigninError::UnknownState)
        ));
    }

    #[test]
    fn a_typical_state_stays_well_under_a_kilobyte() {
        // Claude's registration: one https redirect URI, a short name; a 43-character state.
        let config = test_config();
        let registration = crate::ClientRegistration {
            redirect_uris: vec!["https://claude.ai/api/mcp/auth_callback".into()],
            client_name: Some("Claude".into()),
            ..Default::default()
        };
        let client = crate::register_client(&config, &registration, 1_764_750_000)
            .unwrap()
            .client;
        let request = AuthorizationRequest {
            client_id: client.client_id,
            redirect_uri: "https://claude.ai/api/mcp/auth_callback".into(),
            redirect_uri_explicit: true,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: "https://kintone-mcp.example.com/mcp".into(),
            scopes: Scopes::ALL,
            state: Some("x".repeat(43)),
            issuer: "https://kintone-mcp.example.com".into(),
        };
        let state = begin_signin(&config, &request, BROWSER, 1_764_750_000).unwrap();
        assert!(state.len() < 1024, "{} characters", state.len());
    }
}
