//! What the browser carries between our pages: the CSRF cookie and the sealed consent request,
//! the sign-in binding cookie, and the signed cookie of remembered approvals.

use crate::web::{cookie, host_cookie, Request, SameSite};
use grants::{ct_eq, sha256_b64, AuthorizationRequest, Config, CryptoError};
use serde::{Deserialize, Serialize};

/// Double-submit CSRF token for the consent form (also sealed into the form's request).
pub const CSRF_COOKIE: &str = "__Host-kmcp-csrf";
/// Per-browser value whose hash each pending sign-in stores (see `grants::begin_signin`).
pub const SIGNIN_COOKIE: &str = "__Host-kmcp-signin";
/// Fingerprints of clients this browser approved.
pub const APPROVED_COOKIE: &str = "__Host-kmcp-approved";

/// The consent page is valid this long (and so are its CSRF cookie and sealed request).
pub const CONSENT_LIFETIME_SECS: u64 = 600;
/// Remembered approvals last 30 days (not a year, as in the original).
pub const APPROVAL_LIFETIME_SECS: u64 = 30 * 86_400;
const MAX_REMEMBERED_CLIENTS: usize = 20;

const CONSENT_PURPOSE: &str = "consent-form/v1";
const APPROVED_PURPOSE: &str = "approved-clients/v1";

#[derive(Serialize, Deserialize)]
struct ConsentForm {
    #[serde(rename = "q")]
    request: AuthorizationRequest,
    /// SHA-256 of the CSRF token: the sealed request only works with its own cookie.
    #[serde(rename = "c")]
    csrf_hash: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

pub enum ConsentFormError {
    /// Not sealed by us, or sealed for another CSRF token.
    Invalid,
    Expired,
}

/// Seal the validated request into the consent form, bound to `csrf_token`.
pub fn seal_consent(config: &Config, request: &AuthorizationRequest, csrf_token: &str, now: u64) -> Result<String, CryptoError> {
    let form = ConsentForm {
        request: request.clone(),
        csrf_hash: sha256_b64(csrf_token.as_bytes()),
        expires_at: now + CONSENT_LIFETIME_SECS,
    };
    let json = serde_json::to_vec(&form).map_err(|_| CryptoError::Seal)?;
    config.seal_for_browser(CONSENT_PURPOSE, &json)
}

/// The request sealed by [`seal_consent`], if it is ours, bound to `csrf_token` and not expired.
pub fn open_consent(config: &Config, sealed: &str, csrf_token: &str, now: u64) -> Result<AuthorizationRequest, ConsentFormError> {
    let json = config.open_from_browser(CONSENT_PURPOSE, sealed).ok_or(ConsentFormError::Invalid)?;
    let form: ConsentForm = serde_json::from_slice(&json).map_err(|_| ConsentFormError::Invalid)?;
    if !ct_eq(form.csrf_hash.as_bytes(), sha256_b64(csrf_token.as_bytes()).as_bytes()) {
        return Err(ConsentFormError::Invalid);
    }
    if form.expires_at <= now {
        return Err(ConsentFormError::Expired);
    }
    Ok(form.request)
}

#[derive(Serialize, Deserialize, Default)]
struct Approvals {
    #[serde(rename = "e")]
    expires_at: u64,
    #[serde(rename = "f")]
    fingerprints: Vec<String>,
}

fn read_approvals(config: &Config, request: &Request, now: u64) -> Approvals {
    cookie(request, APPROVED_COOKIE)
        .and_then(|value| config.verify_signed(APPROVED_PURPOSE, &value))
        .and_then(|json| serde_json::from_slice::<Approvals>(&json).ok())
        .filter(|a| a.expires_at > now)
        .unwrap_or_default()
}

/// Whether this browser approved a client with this fingerprint within the last 30 days.
pub fn is_approved(config: &Config, request: &Request, fingerprint: &str, now: u64) -> bool {
    read_approvals(config, request, now).fingerprints.iter().any(|f| f == fingerprint)
}

/// The `Set-Cookie` value remembering one more approved client (newest last, oldest dropped).
pub fn remember_approval(config: &Config, request: &Request, fingerprint: &str, now: u64) -> String {
    let mut approvals = read_approvals(config, request, now);
    approvals.fingerprints.retain(|f| f != fingerprint);
    approvals.fingerprints.push(fingerprint.to_owned());
    let overflow = approvals.fingerprints.len().saturating_sub(MAX_REMEMBERED_CLIENTS);
    approvals.fingerprints.drain(..overflow);
    approvals.expires_at = now + APPROVAL_LIFETIME_SECS;
    // Serialising a struct of strings and an integer cannot fail; an empty payload would simply
    // not verify later.
    let json = serde_json::to_vec(&approvals).unwrap_or_default();
    host_cookie(APPROVED_COOKIE, &config.sign(APPROVED_PURPOSE, &json), APPROVAL_LIFETIME_SECS, SameSite::Lax)
}
