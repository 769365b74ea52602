//! What the browser carries between our pages: the CSRF cookie and the sealed consent request,
//! the sign-in binding cookie, the signed cookie of remembered approvals, and the signed cookie of
//! sign-ins this browser completed.

use crate::web::{cookie, host_cookie, Request, SameSite};
use grants::{ct_eq, sha256_b64, AuthorizationRequest, Config, CryptoError, Scopes, SIGNIN_LIFETIME_SECS};
use serde::{Deserialize, Serialize};

/// Double-submit CSRF token for the consent form (also sealed into the form's request).
pub const CSRF_COOKIE: &str = "__Host-kmcp-csrf";
/// Per-browser value whose hash each pending sign-in's sealed state carries (see
/// `grants::begin_signin`).
pub const SIGNIN_COOKIE: &str = "__Host-kmcp-signin";
/// What this browser approved: client, resource and scopes.
pub const APPROVED_COOKIE: &str = "__Host-kmcp-approved";
/// Sign-ins this browser completed, so replaying a callback URL stops before Cybozu.
pub const COMPLETED_COOKIE: &str = "__Host-kmcp-done";

/// The consent page is valid this long (and so are its CSRF cookie and sealed request).
pub const CONSENT_LIFETIME_SECS: u64 = 600;
/// Remembered approvals last 30 days (not a year, as in the original).
pub const APPROVAL_LIFETIME_SECS: u64 = 30 * 86_400;
/// Remembered approvals per browser (newest kept): each is ~110 bytes, so the cookie stays
/// around 1.3 KB.
const MAX_REMEMBERED_APPROVALS: usize = 8;
/// Completed sign-ins remembered per browser, each for as long as its state could be used.
const MAX_COMPLETED_SIGNINS: usize = 8;

const CONSENT_PURPOSE: &str = "consent-form/v1";
/// v1 remembered client fingerprints regardless of client id and scopes (issue 11, M3); its
/// cookies no longer verify.
const APPROVED_PURPOSE: &str = "approved-clients/v2";
const COMPLETED_PURPOSE: &str = "completed-signins/v1";

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
pub fn seal_consent(
    config: &Config,
    request: &AuthorizationRequest,
    csrf_token: &str,
    now: u64,
) -> Result<String, CryptoError> {
    let form = ConsentForm {
        request: request.clone(),
        csrf_hash: sha256_b64(csrf_token.as_bytes()),
        expires_at: now + CONSENT_LIFETIME_SECS,
    };
    let json = serde_json::to_vec(&form).map_err(|_| CryptoError::Seal)?;
    config.browser().seal(CONSENT_PURPOSE, &json)
}

/// The request sealed by [`seal_consent`], if it is ours, bound to `csrf_token` and not expired.
pub fn open_consent(
    config: &Config,
    sealed: &str,
    csrf_token: &str,
    now: u64,
) -> Result<AuthorizationRequest, ConsentFormError> {
    let json = config
        .browser()
        .open(CONSENT_PURPOSE, sealed)
        .ok_or(ConsentFormError::Invalid)?;
    let form: ConsentForm = serde_json::from_slice(&json).map_err(|_| ConsentFormError::Invalid)?;
    if !ct_eq(form.csrf_hash.as_bytes(), sha256_b64(csrf_token.as_bytes()).as_bytes()) {
        return Err(ConsentFormError::Invalid);
    }
    if form.expires_at <= now {
        return Err(ConsentFormError::Expired);
    }
    Ok(form.request)
}

/// A short, keyed-by-nothing digest of an identifier. The cookies holding these are HMAC-signed,
/// so the digest only has to tell values apart, not resist forgery.
fn digest(value: &str) -> String {
    sha256_b64(value.as_bytes()).chars().take(22).collect()
}

/// One remembered approval: this client, sending the user back to this redirect URI, for this
/// resource, these scopes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Approval {
    /// Digest of the `client_id` (ids reach 4 KB; cookies do not).
    #[serde(rename = "c")]
    client: String,
    /// Digest of the redirect URI the page showed (a loopback client's port included: another
    /// local program cannot reuse the approval on a port of its own).
    #[serde(rename = "u")]
    redirect_uri: String,
    /// Digest of the normalised resource.
    #[serde(rename = "r")]
    resource: String,
    #[serde(rename = "s")]
    scopes: Scopes,
    #[serde(rename = "e")]
    expires_at: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Approvals {
    #[serde(rename = "a")]
    entries: Vec<Approval>,
}

/// The browser's live approvals (a missing, forged or outdated cookie counts as none).
fn read_approvals(config: &Config, request: &Request, now: u64) -> Vec<Approval> {
    let mut entries = cookie(request, APPROVED_COOKIE)
        .and_then(|value| config.browser().verify_signed(APPROVED_PURPOSE, &value))
        .and_then(|json| serde_json::from_slice::<Approvals>(&json).ok())
        .unwrap_or_default()
        .entries;
    entries.retain(|a| a.expires_at > now);
    entries
}

/// What an approval is for, apart from its scopes.
fn approval_key(request: &AuthorizationRequest) -> (String, String, String) {
    (
        digest(&request.client_id),
        digest(&request.redirect_uri),
        digest(&request.resource),
    )
}

/// Whether this browser already approved exactly this client and redirect URI, for this
/// resource, with every scope now asked for (within the last 30 days). Another client id,
/// redirect URI or resource, or one more scope, needs the consent page again.
pub fn is_approved(config: &Config, request: &Request, asked: &AuthorizationRequest, now: u64) -> bool {
    let key = approval_key(asked);
    read_approvals(config, request, now).iter().any(|a| {
        (&a.client, &a.redirect_uri, &a.resource) == (&key.0, &key.1, &key.2) && a.scopes.contains_all(asked.scopes)
    })
}

/// The `Set-Cookie` value remembering the approval of `approved` (added to what this browser
/// approved before for the same client, redirect URI and resource; newest last, oldest dropped).
pub fn remember_approval(config: &Config, request: &Request, approved: &AuthorizationRequest, now: u64) -> String {
    let mut entries = read_approvals(config, request, now);
    let (client, redirect_uri, resource) = approval_key(approved);
    let mut scopes = approved.scopes;
    entries.retain(|a| {
        let same = (&a.client, &a.redirect_uri, &a.resource) == (&client, &redirect_uri, &resource);
        if same {
            scopes = Scopes::from_bits(scopes.bits() | a.scopes.bits());
        }
        !same
    });
    entries.push(Approval {
        client,
        redirect_uri,
        resource,
        scopes,
        expires_at: now + APPROVAL_LIFETIME_SECS,
    });
    let overflow = entries.len().saturating_sub(MAX_REMEMBERED_APPROVALS);
    entries.drain(..overflow);
    signed_cookie(
        config,
        APPROVED_COOKIE,
        APPROVED_PURPOSE,
        &Approvals { entries },
        APPROVAL_LIFETIME_SECS,
    )
}

/// One sign-in this browser completed: digest of its upstream state, and when that state
/// expires (after which it is refused anyway and the entry can go).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Completed {
    #[serde(rename = "d")]
    state: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct CompletedSignins {
    #[serde(rename = "c")]
    entries: Vec<Completed>,
}

fn read_completed(config: &Config, request: &Request, now: u64) -> Vec<Completed> {
    let mut entries = cookie(request, COMPLETED_COOKIE)
        .and_then(|value| config.browser().verify_signed(COMPLETED_PURPOSE, &value))
        .and_then(|json| serde_json::from_slice::<CompletedSignins>(&json).ok())
        .unwrap_or_default()
        .entries;
    entries.retain(|c| c.expires_at > now);
    entries
}

/// Whether this browser already completed the sign-in of this upstream `state`.
pub fn is_completed(config: &Config, request: &Request, state: &str, now: u64) -> bool {
    let state = digest(state);
    read_completed(config, request, now).iter().any(|c| c.state == state)
}

/// The `Set-Cookie` value recording that this browser completed the sign-in of `state`.
pub fn remember_completed(config: &Config, request: &Request, state: &str, expires_at: u64, now: u64) -> String {
    let mut entries = read_completed(config, request, now);
    entries.push(Completed {
        state: digest(state),
        expires_at,
    });
    let overflow = entries.len().saturating_sub(MAX_COMPLETED_SIGNINS);
    entries.drain(..overflow);
    signed_cookie(
        config,
        COMPLETED_COOKIE,
        COMPLETED_PURPOSE,
        &CompletedSignins { entries },
        SIGNIN_LIFETIME_SECS,
    )
}

fn signed_cookie(config: &Config, name: &str, purpose: &str, payload: &impl Serialize, max_age: u64) -> String {
    // Serialising these structs of strings and integers cannot fail; an empty payload would
    // simply not verify later.
    let json = serde_json::to_vec(payload).unwrap_or_default();
    host_cookie(name, &config.browser().sign(purpose, &json), max_age, SameSite::Lax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grants::Scope;

    const SECRET_KEY: &str = "browser-test-secret-key-0123456789abcdef";

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "kintone_base_url" => Some("https://example.cybozu.com".into()),
            "cybozu_client_id" => Some("client".into()),
            "cybozu_client_secret" => Some("secret".into()),
            "secret_key" => Some(SECRET_KEY.into()),
            _ => None,
        })
        .unwrap()
    }

    fn asked(client_id: &str, resource: &str, scopes: Scopes) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: client_id.into(),
            redirect_uri: "http://localhost:4567/cb".into(),
            redirect_uri_explicit: true,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: resource.into(),
            scopes,
            state: None,
            issuer: "https://mcp.example.com".into(),
        }
    }

    /// A request carrying the cookie a `Set-Cookie` value sets.
    fn with_cookie(set_cookie: &str) -> Request {
        let pair = set_cookie.split(';').next().unwrap();
        http::Request::builder()
            .uri("/authorize")
            .header("cookie", pair)
            .body(vec![])
            .unwrap()
    }

    const MCP: &str = "https://mcp.example.com/mcp";

    fn read() -> Scopes {
        Scopes::from(Scope::AppRecordRead)
    }

    #[test]
    fn an_approval_covers_its_client_resource_and_scopes_only() {
        let config = config();
        let none = http::Request::builder().uri("/").body(vec![]).unwrap();
        assert!(!is_approved(&config, &none, &asked("kc1.a", MCP, read()), 0));
        let cookie = remember_approval(&config, &none, &asked("kc1.a", MCP, read()), 0);
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        let browser = with_cookie(&cookie);
        assert!(is_approved(&config, &browser, &asked("kc1.a", MCP, read()), 10));
        assert!(
            is_approved(&config, &browser, &asked("kc1.a", MCP, Scopes::NONE), 10),
            "asking for less is covered"
        );
        assert!(
            !is_approved(&config, &browser, &asked("kc1.b", MCP, read()), 10),
            "another client id"
        );
        assert!(
            !is_approved(
                &config,
                &browser,
                &asked("kc1.a", MCP, read().with(Scope::AppRecordWrite)),
                10
            ),
            "one more scope"
        );
        assert!(
            !is_approved(
                &config,
                &browser,
                &asked("kc1.a", "https://mcp.example.com/sse", read()),
                10
            ),
            "another resource"
        );
        let other_port = AuthorizationRequest {
            redirect_uri: "http://localhost:4568/cb".into(),
            ..asked("kc1.a", MCP, read())
        };
        assert!(
            !is_approved(&config, &browser, &other_port, 10),
            "another redirect URI (port)"
        );
        assert!(
            !is_approved(&config, &browser, &asked("kc1.a", MCP, read()), APPROVAL_LIFETIME_SECS),
            "expired"
        );
    }

    #[test]
    fn approving_more_scopes_later_adds_to_the_approval() {
        let config = config();
        let first = with_cookie(&remember_approval(
            &config,
            &with_cookie("x=y"),
            &asked("kc1.a", MCP, read()),
            0,
        ));
        let write = Scopes::from(Scope::AppRecordWrite);
        let second = with_cookie(&remember_approval(&config, &first, &asked("kc1.a", MCP, write), 5));
        assert!(is_approved(
            &config,
            &second,
            &asked("kc1.a", MCP, Scopes::from_bits(read().bits() | write.bits())),
            6
        ));
        assert_eq!(read_approvals(&config, &second, 6).len(), 1);
    }

    #[test]
    fn the_cookie_stays_small_and_keeps_the_newest() {
        let config = config();
        let long_id = format!("kc1.{}", "x".repeat(4000));
        let mut browser = http::Request::builder().uri("/").body(vec![]).unwrap();
        let mut cookie = String::new();
        for i in 0..30 {
            cookie = remember_approval(&config, &browser, &asked(&format!("{long_id}{i}"), MCP, Scopes::ALL), i);
            browser = with_cookie(&cookie);
        }
        assert!(cookie.len() < 1500, "{} bytes", cookie.len());
        assert_eq!(read_approvals(&config, &browser, 30).len(), MAX_REMEMBERED_APPROVALS);
        assert!(is_approved(
            &config,
            &browser,
            &asked(&format!("{long_id}29"), MCP, Scopes::ALL),
            30
        ));
        assert!(!is_approved(
            &config,
            &browser,
            &asked(&format!("{long_id}0"), MCP, Scopes::ALL),
            30
        ));
    }

    #[test]
    fn forged_or_old_format_cookies_approve_nothing() {
        let config = config();
        let entry = Approval {
            client: digest("kc1.a"),
            redirect_uri: digest("http://localhost:4567/cb"),
            resource: digest(MCP),
            scopes: Scopes::ALL,
            expires_at: u64::MAX,
        };
        let json = serde_json::to_vec(&Approvals { entries: vec![entry] }).unwrap();
        for forged in [
            // Signed for another purpose (the old v1 cookie's purpose, say).
            config.browser().sign("approved-clients/v1", &json),
            // Unsigned.
            format!(
                "{}.AAAA",
                config
                    .browser()
                    .sign(APPROVED_PURPOSE, &json)
                    .split('.')
                    .next()
                    .unwrap()
            ),
        ] {
            let browser = with_cookie(&format!("{APPROVED_COOKIE}={forged}"));
            assert!(!is_approved(&config, &browser, &asked("kc1.a", MCP, read()), 0));
        }
    }

    #[test]
    fn completed_sign_ins_are_remembered_until_their_state_expires() {
        let config = config();
        let none = http::Request::builder().uri("/").body(vec![]).unwrap();
        assert!(!is_completed(&config, &none, "s1.state-a", 0));
        let browser = with_cookie(&remember_completed(&config, &none, "s1.state-a", 600, 0));
        assert!(is_completed(&config, &browser, "s1.state-a", 599));
        assert!(!is_completed(&config, &browser, "s1.state-b", 1));
        assert!(!is_completed(&config, &browser, "s1.state-a", 600));
        let mut browser = browser;
        for i in 0..20 {
            browser = with_cookie(&remember_completed(&config, &browser, &format!("s1.{i}"), 600, 1));
        }
        assert_eq!(read_completed(&config, &browser, 2).len(), MAX_COMPLETED_SIGNINS);
        assert!(is_completed(&config, &browser, "s1.19", 2));
    }
}
