//! Pending sign-ins: the `state` we send to Cybozu, kept server-side and bound to the browser.
//!
//! When the user approves (or a remembered approval skips the page), the validated authorization
//! request goes into `st:<slot>` for 10 minutes. Cybozu gets only `<slot>.<random>` as `state`;
//! the record keeps the SHA-256 of the random part and of a per-browser binding value that lives
//! in a `__Host-` cookie. `/callback` accepts the state once, from that browser only.

use crate::crypto::{self, CryptoError};
use crate::scope::Scopes;
use crate::slots::{self, Occupancy};
use crate::store::{self, BackendError};
use crate::Config;
use platform::KeyValue;
use serde::{Deserialize, Serialize};

/// How long a sign-in may take from approval to `/callback`.
pub const SIGNIN_LIFETIME_SECS: u64 = 600;

/// A validated authorization request (RFC 6749 §4.1.1 + PKCE + RFC 8707), carried from
/// `/authorize` through Cybozu to the grant. Field names are short because it is stored.
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

#[derive(Serialize, Deserialize)]
struct SigninRecord {
    /// SHA-256 of the secret half of the upstream `state`.
    #[serde(rename = "h")]
    state_hash: String,
    /// SHA-256 of the browser binding cookie's value.
    #[serde(rename = "b")]
    browser_hash: String,
    #[serde(rename = "q")]
    request: AuthorizationRequest,
    /// The `redirect_uri` we sent to Cybozu (needed again for the code exchange).
    #[serde(rename = "cb")]
    callback_uri: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

/// What `/callback` gets back from a valid state.
#[derive(Debug)]
pub struct CompletedSignin {
    pub request: AuthorizationRequest,
    pub callback_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error("unknown or already used sign-in state")]
    UnknownState,
    #[error("the sign-in took too long and expired")]
    Expired,
    #[error("the sign-in was started in another browser (no binding cookie)")]
    MissingBrowserCookie,
    #[error("the sign-in was started in another browser (binding cookie mismatch)")]
    WrongBrowser,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

fn key(slot: u16) -> String {
    format!("st:{slot:x}")
}

/// A fresh value for the browser binding cookie (reuse the browser's current one if it has one,
/// so parallel sign-ins in one browser do not break each other).
pub fn new_browser_binding() -> Result<String, CryptoError> {
    crypto::random_token::<32>()
}

/// Whether a cookie value looks like one [`new_browser_binding`] made (43 base64url chars).
pub fn is_browser_binding(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Store a pending sign-in; returns the `state` to send to Cybozu.
pub fn begin_signin(
    kv: &impl KeyValue,
    config: &Config,
    request: &AuthorizationRequest,
    browser_binding: &str,
    callback_uri: &str,
    now: u64,
) -> Result<String, BackendError> {
    let slot = slots::allocate(
        config.limits().max_pending_signins,
        |slot| {
            Ok(match store::read::<SigninRecord>(kv, &key(slot))? {
                Some(r) if r.expires_at > now => Occupancy::Live { expires_at: r.expires_at },
                _ => Occupancy::Free,
            })
        },
        |slot| Ok(kv.delete(&key(slot))?),
    )?;
    let secret = crypto::random_token::<32>()?;
    let record = SigninRecord {
        state_hash: crypto::sha256_b64(secret.as_bytes()),
        browser_hash: crypto::sha256_b64(browser_binding.as_bytes()),
        request: request.clone(),
        callback_uri: callback_uri.to_owned(),
        expires_at: now + SIGNIN_LIFETIME_SECS,
    };
    store::write(kv, &key(slot), &record)?;
    Ok(format!("{slot:x}.{secret}"))
}

/// Consume a pending sign-in. The state is spent as soon as it matches, even when the browser
/// check then fails, so a state can never be tried twice.
pub fn finish_signin(
    kv: &impl KeyValue,
    state: &str,
    browser_binding: Option<&str>,
    now: u64,
) -> Result<CompletedSignin, SigninError> {
    let (slot, secret) = state.split_once('.').ok_or(SigninError::UnknownState)?;
    let slot = slots::parse_slot(slot).ok_or(SigninError::UnknownState)?;
    let record: SigninRecord = store::read(kv, &key(slot)).map_err(BackendError::from)?.ok_or(SigninError::UnknownState)?;
    // A wrong secret must not disturb the slot's rightful (live) sign-in.
    if !crypto::ct_eq(record.state_hash.as_bytes(), crypto::sha256_b64(secret.as_bytes()).as_bytes()) {
        return Err(SigninError::UnknownState);
    }
    kv.delete(&key(slot)).map_err(BackendError::from)?;
    if record.expires_at <= now {
        return Err(SigninError::Expired);
    }
    let binding = browser_binding.ok_or(SigninError::MissingBrowserCookie)?;
    if !crypto::ct_eq(record.browser_hash.as_bytes(), crypto::sha256_b64(binding.as_bytes()).as_bytes()) {
        return Err(SigninError::WrongBrowser);
    }
    Ok(CompletedSignin { request: record.request, callback_uri: record.callback_uri })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::test_config;
    use platform::MemoryStore;

    pub fn sample_request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "kc1.client".into(),
            redirect_uri: "http://localhost:4567/cb".into(),
            redirect_uri_explicit: true,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: "https://mcp.example.com/mcp".into(),
            scopes: Scopes::ALL,
            state: Some("client-state".into()),
            issuer: "https://mcp.example.com".into(),
        }
    }

    #[test]
    fn a_state_completes_once_from_its_browser() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let state = begin_signin(&kv, &config, &sample_request(), "browser-1", "https://mcp.example.com/callback", 100).unwrap();
        // Nothing secret in the store: neither the state secret nor the browser value.
        let (_, secret) = state.split_once('.').unwrap();
        for value in kv.snapshot().values() {
            let text = String::from_utf8_lossy(value);
            assert!(!text.contains(secret) && !text.contains("browser-1"));
        }
        let done = finish_signin(&kv, &state, Some("browser-1"), 200).unwrap();
        assert_eq!(done.request, sample_request());
        assert_eq!(done.callback_uri, "https://mcp.example.com/callback");
        assert!(kv.snapshot().is_empty());
        // Replay.
        assert!(matches!(finish_signin(&kv, &state, Some("browser-1"), 200), Err(SigninError::UnknownState)));
    }

    #[test]
    fn wrong_or_missing_browser_consumes_the_state() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let state = begin_signin(&kv, &config, &sample_request(), "browser-1", "cb", 100).unwrap();
        assert!(matches!(finish_signin(&kv, &state, None, 101), Err(SigninError::MissingBrowserCookie)));
        assert!(kv.snapshot().is_empty());
        let state = begin_signin(&kv, &config, &sample_request(), "browser-1", "cb", 100).unwrap();
        assert!(matches!(finish_signin(&kv, &state, Some("browser-2"), 101), Err(SigninError::WrongBrowser)));
        assert!(matches!(finish_signin(&kv, &state, Some("browser-1"), 101), Err(SigninError::UnknownState)));
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn expired_states_are_refused_and_removed() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let state = begin_signin(&kv, &config, &sample_request(), "b", "cb", 100).unwrap();
        assert!(matches!(finish_signin(&kv, &state, Some("b"), 100 + SIGNIN_LIFETIME_SECS), Err(SigninError::Expired)));
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn forged_states_leave_the_rightful_one_alone() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let state = begin_signin(&kv, &config, &sample_request(), "b", "cb", 100).unwrap();
        let (slot, _) = state.split_once('.').unwrap();
        for forged in [format!("{slot}.AAAA"), slot.to_string(), "zz.abc".into(), String::new(), "10000.x".into()] {
            assert!(matches!(finish_signin(&kv, &forged, Some("b"), 101), Err(SigninError::UnknownState)), "{forged}");
        }
        assert!(finish_signin(&kv, &state, Some("b"), 101).is_ok());
    }

    #[test]
    fn the_table_never_exceeds_its_capacity() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_pending_signins", "4")]);
        let mut states = vec![];
        for i in 0..50 {
            states.push(begin_signin(&kv, &config, &sample_request(), "b", "cb", 100 + i).unwrap());
        }
        assert!(kv.snapshot().len() <= 4);
        assert!(kv.snapshot().keys().all(|k| k.starts_with("st:")));
        // The newest one always survives.
        assert!(finish_signin(&kv, states.last().unwrap(), Some("b"), 200).is_ok());
    }
}
