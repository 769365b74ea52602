//! Grants: one per completed sign-in, holding the user's encrypted kintone tokens, plus the
//! authorization code and refresh-token state of the MCP client that asked for it.
//!
//! Two keys per grant, each with a single writer so that no read-modify-write of one party can
//! undo another's:
//! - `g:<slot>` ([`GrantRecord`]): written by `/callback` (pending, with our code), by `/token`
//!   exactly once (activation), then only by the endpoint's kintone refresh.
//! - `rt:<slot>` ([`RefreshRecord`]): written by `/token` (activation and every rotation).
//!
//! Revocation deletes `rt:` first and then `g:`; a concurrent kintone refresh that rewrote `g:`
//! checks `rt:` afterwards and deletes `g:` again, so a revoked grant cannot come back.

use crate::crypto::{self, CryptoError};
use crate::cybozu::KintoneTokens;
use crate::resource::normalize_resource;
use crate::scope::Scopes;
use crate::signin::AuthorizationRequest;
use crate::slots::{self, Occupancy};
use crate::store::{self, BackendError};
use crate::token;
use crate::Config;
use platform::{KeyValue, KvError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Our authorization codes live 10 minutes (OAuth 2.1 recommends short-lived codes).
pub const CODE_LIFETIME_SECS: u64 = 600;
/// A refresh token unused for 30 days expires (each rotation restarts the clock).
pub const REFRESH_IDLE_SECS: u64 = 30 * 86_400;
/// A grant ends 90 days after sign-in whatever happens; the user signs in again.
pub const GRANT_LIFETIME_SECS: u64 = 90 * 86_400;
/// Retired refresh tokens remembered to detect reuse (reuse revokes the grant).
const RETIRED_REFRESH_TOKENS: usize = 4;

const CODE_PREFIX: &str = "kac_";
const REFRESH_PREFIX: &str = "krt_";

/// Identifies a grant: its table slot plus a random nonce, so ids of a reused slot never match.
#[derive(Clone, PartialEq, Eq)]
pub struct GrantId {
    pub(crate) slot: u16,
    pub(crate) nonce: String,
}

impl GrantId {
    pub(crate) fn grant_key(&self) -> String {
        format!("g:{:x}", self.slot)
    }

    pub(crate) fn refresh_key(&self) -> String {
        format!("rt:{:x}", self.slot)
    }

    /// Parse the `<slot>.<nonce>` text form.
    pub fn parse(text: &str) -> Option<GrantId> {
        let (slot, nonce) = text.split_once('.')?;
        Some(GrantId { slot: slots::parse_slot(slot)?, nonce: valid_b64(nonce, 16)?.to_owned() })
    }

    /// AAD binding an encrypted kintone token to this grant and field.
    fn aad(&self, field: &str) -> Vec<u8> {
        format!("kintone-mcp/grant/{self}/{field}").into_bytes()
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{}", self.slot, self.nonce)
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({self})")
    }
}

fn valid_b64(text: &str, len: usize) -> Option<&str> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then_some(text)
}

/// `<prefix><slot>.<nonce>.<secret>`: codes and refresh tokens name their grant.
fn parse_grant_secret<'a>(token: &'a str, prefix: &str) -> Option<(GrantId, &'a str)> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = rest.rsplit_once('.')?;
    Some((GrantId::parse(id)?, valid_b64(secret, 43)?))
}

fn new_grant_secret(prefix: &str, id: &GrantId) -> Result<String, CryptoError> {
    Ok(format!("{prefix}{id}.{}", crypto::random_token::<32>()?))
}

fn hash(token: &str) -> String {
    crypto::sha256_b64(token.as_bytes())
}

fn same_hash(a: &str, b: &str) -> bool {
    crypto::ct_eq(a.as_bytes(), b.as_bytes())
}

/// The user's kintone tokens, encrypted (XChaCha20-Poly1305, AAD = grant id + field).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KintoneRecord {
    #[serde(rename = "a")]
    access: String,
    #[serde(rename = "f")]
    refresh: String,
    #[serde(rename = "e")]
    pub(crate) expires_at: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "k")]
pub(crate) enum Phase {
    /// Signed in at Cybozu; our code issued, not yet redeemed.
    #[serde(rename = "pending")]
    Pending {
        #[serde(rename = "h")]
        code_hash: String,
        #[serde(rename = "e")]
        code_expires_at: u64,
        #[serde(rename = "pk")]
        code_challenge: String,
        #[serde(rename = "u")]
        redirect_uri: String,
        #[serde(rename = "ux")]
        redirect_uri_explicit: bool,
    },
    /// Code redeemed; tokens issued. The spent code's hash detects replays.
    #[serde(rename = "active")]
    Active {
        #[serde(rename = "h")]
        spent_code_hash: String,
    },
}

/// `g:<slot>`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    #[serde(rename = "c")]
    pub(crate) client_id: String,
    #[serde(rename = "s")]
    pub(crate) scopes: Scopes,
    #[serde(rename = "r")]
    pub(crate) resource: String,
    #[serde(rename = "t")]
    created_at: u64,
    #[serde(rename = "e")]
    pub(crate) expires_at: u64,
    #[serde(rename = "k")]
    pub(crate) kintone: KintoneRecord,
    #[serde(rename = "p")]
    pub(crate) phase: Phase,
}

/// `rt:<slot>`: hashes of the refresh tokens that may still be used, and recently retired ones.
#[derive(Serialize, Deserialize)]
struct RefreshRecord {
    #[serde(rename = "n")]
    nonce: String,
    #[serde(rename = "cur")]
    current: String,
    /// The token `current` replaced: still valid until `current` is used, so a client whose
    /// refresh response was lost can retry.
    #[serde(rename = "prev", default, skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(rename = "old", default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<String>,
    #[serde(rename = "e")]
    expires_at: u64,
}

impl GrantRecord {
    pub(crate) fn decrypt_access(&self, config: &Config, id: &GrantId) -> Option<SecretString> {
        decrypt(config, id, "a", &self.kintone.access)
    }

    fn decrypt_refresh(&self, config: &Config, id: &GrantId) -> Option<SecretString> {
        decrypt(config, id, "f", &self.kintone.refresh)
    }

    pub(crate) fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active { .. })
    }
}

fn encrypt(config: &Config, id: &GrantId, field: &str, token: &SecretString) -> Result<String, CryptoError> {
    crypto::seal(&config.keys.kintone_tokens, &id.aad(field), token.expose_secret().as_bytes()).map(|s| crypto::b64(&s))
}

fn decrypt(config: &Config, id: &GrantId, field: &str, sealed: &str) -> Option<SecretString> {
    let plain = crypto::open(&config.keys.kintone_tokens, &id.aad(field), &crypto::unb64(sealed)?)?;
    String::from_utf8(plain).ok().map(SecretString::from)
}

/// Read `g:` for `id`; `None` unless it exists and carries `id`'s nonce.
pub(crate) fn read_grant(kv: &impl KeyValue, id: &GrantId) -> Result<Option<GrantRecord>, KvError> {
    Ok(store::read::<GrantRecord>(kv, &id.grant_key())?.filter(|g| g.nonce == id.nonce))
}

fn read_refresh(kv: &impl KeyValue, id: &GrantId) -> Result<Option<RefreshRecord>, KvError> {
    Ok(store::read::<RefreshRecord>(kv, &id.refresh_key())?.filter(|r| r.nonce == id.nonce))
}

pub(crate) fn write_grant(kv: &impl KeyValue, id: &GrantId, record: &GrantRecord) -> Result<(), BackendError> {
    store::write(kv, &id.grant_key(), record)
}

/// Whether the grant's refresh record (written at activation, removed first at revocation) still
/// exists: how a kintone refresh finds out it raced a revocation.
pub(crate) fn refresh_record_exists(kv: &impl KeyValue, id: &GrantId) -> Result<bool, KvError> {
    Ok(read_refresh(kv, id)?.is_some())
}

/// Delete every record a grant owns: refresh state first, then the grant (see module docs).
/// Idempotent; removes nothing that belongs to another grant of the same slot.
pub fn revoke_grant(kv: &impl KeyValue, id: &GrantId) -> Result<(), KvError> {
    if store::read::<RefreshRecord>(kv, &id.refresh_key())?.is_some_and(|r| r.nonce == id.nonce) {
        kv.delete(&id.refresh_key())?;
    }
    if store::read::<GrantRecord>(kv, &id.grant_key())?.is_some_and(|g| g.nonce == id.nonce) {
        kv.delete(&id.grant_key())?;
    }
    Ok(())
}

/// Clear a slot entirely (its occupant expired or is being evicted).
fn clear_slot(kv: &impl KeyValue, slot: u16) -> Result<(), KvError> {
    kv.delete(&format!("rt:{slot:x}"))?;
    kv.delete(&format!("g:{slot:x}"))
}

/// Store a new pending grant for a completed sign-in and return our authorization code.
pub fn create_grant(
    kv: &impl KeyValue,
    config: &Config,
    request: &AuthorizationRequest,
    kintone: &KintoneTokens,
    now: u64,
) -> Result<SecretString, BackendError> {
    let refresh = kintone
        .refresh_token
        .as_ref()
        .ok_or(BackendError::Corrupt("a new grant needs a kintone refresh token"))?;
    let slot = slots::allocate(
        config.limits().max_grants,
        |slot| inspect_grant_slot(kv, slot, now),
        |slot| Ok(clear_slot(kv, slot)?),
    )?;
    let id = GrantId { slot, nonce: crypto::random_token::<12>()? };
    let code = new_grant_secret(CODE_PREFIX, &id)?;
    let record = GrantRecord {
        nonce: id.nonce.clone(),
        client_id: request.client_id.clone(),
        scopes: request.scopes,
        resource: request.resource.clone(),
        created_at: now,
        expires_at: now + GRANT_LIFETIME_SECS,
        kintone: KintoneRecord {
            access: encrypt(config, &id, "a", &kintone.access_token)?,
            refresh: encrypt(config, &id, "f", refresh)?,
            expires_at: kintone.expires_at,
        },
        phase: Phase::Pending {
            code_hash: hash(&code),
            code_expires_at: now + CODE_LIFETIME_SECS,
            code_challenge: request.code_challenge.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_explicit: request.redirect_uri_explicit,
        },
    };
    // A stale refresh record of the slot's previous occupant must not survive into this grant.
    kv.delete(&id.refresh_key())?;
    write_grant(kv, &id, &record)?;
    Ok(SecretString::from(code))
}

/// Report a grant slot's occupancy, removing an occupant that is dead: expired, an unredeemed
/// code past its expiry, or an active grant whose refresh state is gone or expired.
fn inspect_grant_slot(kv: &impl KeyValue, slot: u16, now: u64) -> Result<Occupancy, BackendError> {
    let Some(grant) = store::read::<GrantRecord>(kv, &format!("g:{slot:x}"))? else {
        return Ok(Occupancy::Free);
    };
    let live_until = match &grant.phase {
        Phase::Pending { code_expires_at, .. } => Some(*code_expires_at),
        Phase::Active { .. } => store::read::<RefreshRecord>(kv, &format!("rt:{slot:x}"))?
            .filter(|r| r.nonce == grant.nonce)
            .map(|r| r.expires_at.min(grant.expires_at)),
    };
    match live_until {
        Some(until) if until > now && grant.expires_at > now => Ok(Occupancy::Live { expires_at: until }),
        _ => {
            clear_slot(kv, slot)?;
            Ok(Occupancy::Free)
        }
    }
}

/// Tokens issued by `/token`.
pub struct IssuedTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Scopes the access token carries.
    pub scopes: Scopes,
}

/// A refusal at the token endpoint; [`TokenError::code`] is the RFC 6749 §5.2 error.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("{0}")]
    InvalidTarget(&'static str),
    #[error("{0}")]
    InvalidScope(&'static str),
    #[error("token service failure: {0}")]
    Backend(#[from] BackendError),
}

impl From<KvError> for TokenError {
    fn from(e: KvError) -> Self {
        TokenError::Backend(e.into())
    }
}

impl From<CryptoError> for TokenError {
    fn from(e: CryptoError) -> Self {
        TokenError::Backend(e.into())
    }
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidTarget(_) => "invalid_target",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::Backend(_) => "temporarily_unavailable",
        }
    }
}

/// The `authorization_code` grant's parameters, with the client already authenticated.
pub struct CodeRedemption<'a> {
    pub code: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Redeem an authorization code (RFC 6749 §4.1.3 with PKCE and RFC 8707). Single use: a replay
/// revokes the grant and everything issued from it (OAuth 2.1 §4.1.3). A wrong PKCE verifier
/// burns the code, since whoever holds it is not the client that asked for it.
pub fn redeem_code(kv: &impl KeyValue, config: &Config, r: CodeRedemption<'_>, now: u64) -> Result<IssuedTokens, TokenError> {
    const UNKNOWN: TokenError = TokenError::InvalidGrant("unknown, expired or already used authorization code");
    let (id, _) = parse_grant_secret(r.code, CODE_PREFIX).ok_or(UNKNOWN)?;
    let mut grant = read_grant(kv, &id)?.ok_or(UNKNOWN)?;
    let code_hash = hash(r.code);
    let (challenge, redirect_uri, redirect_explicit) = match &grant.phase {
        Phase::Active { spent_code_hash } if same_hash(spent_code_hash, &code_hash) => {
            revoke_grant(kv, &id)?;
            return Err(TokenError::InvalidGrant("authorization code already used; every token issued from it is revoked"));
        }
        Phase::Active { .. } => return Err(UNKNOWN),
        Phase::Pending { code_hash: stored, .. } if !same_hash(stored, &code_hash) => return Err(UNKNOWN),
        Phase::Pending { code_expires_at, .. } if *code_expires_at <= now || grant.expires_at <= now => {
            revoke_grant(kv, &id)?;
            return Err(TokenError::InvalidGrant("authorization code expired"));
        }
        Phase::Pending { code_challenge, redirect_uri, redirect_uri_explicit, .. } => {
            (code_challenge.clone(), redirect_uri.clone(), *redirect_uri_explicit)
        }
    };
    if grant.client_id != r.client_id {
        return Err(TokenError::InvalidGrant("authorization code was issued to another client"));
    }
    match r.redirect_uri {
        Some(given) if given != redirect_uri => {
            return Err(TokenError::InvalidGrant("redirect_uri does not match the authorization request"))
        }
        None if redirect_explicit => return Err(TokenError::InvalidRequest("redirect_uri is required")),
        _ => {}
    }
    if let Some(resource) = r.resource {
        if normalize_resource(resource).as_deref() != Some(grant.resource.as_str()) {
            return Err(TokenError::InvalidTarget("resource does not match the authorization request"));
        }
    }
    let verifier = r.code_verifier.ok_or(TokenError::InvalidRequest("code_verifier is required (PKCE)"))?;
    if !pkce_s256_matches(verifier, &challenge) {
        revoke_grant(kv, &id)?;
        return Err(TokenError::InvalidGrant("PKCE verification failed"));
    }

    // Activate: mark the code spent first, so a crash after this point makes a retry a replay
    // (revoking the grant) rather than a second set of tokens.
    grant.phase = Phase::Active { spent_code_hash: code_hash };
    write_grant(kv, &id, &grant)?;
    let refresh_token = new_grant_secret(REFRESH_PREFIX, &id)?;
    let refresh = RefreshRecord {
        nonce: id.nonce.clone(),
        current: hash(&refresh_token),
        previous: None,
        retired: vec![],
        expires_at: (now + REFRESH_IDLE_SECS).min(grant.expires_at),
    };
    store::write(kv, &id.refresh_key(), &refresh)?;
    let access_token = token::issue_access_token(config, &id, grant.scopes, &grant.resource, now)?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: SecretString::from(refresh_token),
        expires_in: token::ACCESS_TOKEN_LIFETIME_SECS,
        scopes: grant.scopes,
    })
}

/// RFC 7636 §4.6 with S256: `BASE64URL(SHA256(verifier)) == challenge`; the verifier must be
/// 43–128 unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && crypto::ct_eq(crypto::sha256_b64(verifier.as_bytes()).as_bytes(), challenge.as_bytes())
}

/// The `refresh_token` grant's parameters, with the client already authenticated.
pub struct RefreshRedemption<'a> {
    pub refresh_token: &'a str,
    pub client_id: &'a str,
    /// The `scope` parameter, if sent: must not exceed the grant's scopes.
    pub scope: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Rotate a refresh token (RFC 6749 §6, OAuth 2.1 §4.3.1): the presented token must be the
/// current one or the one it replaced; a retired one revokes the grant (reuse detection).
pub fn refresh_tokens(kv: &impl KeyValue, config: &Config, r: RefreshRedemption<'_>, now: u64) -> Result<IssuedTokens, TokenError> {
    const UNKNOWN: TokenError = TokenError::InvalidGrant("unknown, expired or revoked refresh token");
    let (id, _) = parse_grant_secret(r.refresh_token, REFRESH_PREFIX).ok_or(UNKNOWN)?;
    let mut state = read_refresh(kv, &id)?.ok_or(UNKNOWN)?;
    let grant = match read_grant(kv, &id)? {
        Some(g) if g.is_active() && g.expires_at > now && state.expires_at > now => g,
        _ => {
            revoke_grant(kv, &id)?;
            return Err(UNKNOWN);
        }
    };
    let presented = hash(r.refresh_token);
    let is_current = same_hash(&state.current, &presented);
    let is_previous = state.previous.as_deref().is_some_and(|p| same_hash(p, &presented));
    if !is_current && !is_previous {
        if state.retired.iter().any(|old| same_hash(old, &presented)) {
            revoke_grant(kv, &id)?;
            return Err(TokenError::InvalidGrant("refresh token reuse detected; the grant is revoked"));
        }
        return Err(UNKNOWN);
    }
    if grant.client_id != r.client_id {
        return Err(TokenError::InvalidGrant("refresh token was issued to another client"));
    }
    if let Some(resource) = r.resource {
        if normalize_resource(resource).as_deref() != Some(grant.resource.as_str()) {
            return Err(TokenError::InvalidTarget("resource does not match the grant"));
        }
    }
    let scopes = match r.scope {
        None => grant.scopes,
        Some(requested) => {
            let requested = Scopes::parse_lenient(requested);
            if !grant.scopes.contains_all(requested) {
                return Err(TokenError::InvalidScope("scope exceeds what was granted"));
            }
            if requested.is_empty() {
                grant.scopes
            } else {
                requested
            }
        }
    };

    let new_refresh = new_grant_secret(REFRESH_PREFIX, &id)?;
    let new_hash = hash(&new_refresh);
    if is_current {
        // The client moved on from `previous`: it may no longer be used.
        if let Some(prev) = state.previous.take() {
            state.retired.push(prev);
        }
        state.previous = Some(std::mem::replace(&mut state.current, new_hash));
    } else {
        // A retry with `previous` (the response carrying `current` was lost): `current` was never
        // delivered, retire it; `previous` stays usable until the new token is used.
        let undelivered = std::mem::replace(&mut state.current, new_hash);
        state.retired.push(undelivered);
    }
    let overflow = state.retired.len().saturating_sub(RETIRED_REFRESH_TOKENS);
    state.retired.drain(..overflow);
    state.expires_at = (now + REFRESH_IDLE_SECS).min(grant.expires_at);
    store::write(kv, &id.refresh_key(), &state)?;

    let access_token = token::issue_access_token(config, &id, scopes, &grant.resource, now)?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: SecretString::from(new_refresh),
        expires_in: token::ACCESS_TOKEN_LIFETIME_SECS,
        scopes,
    })
}

/// RFC 7009 revocation. Any of our tokens revokes its whole grant (access tokens are
/// self-contained, so the grant is what they die with). Tokens that are unknown, malformed,
/// already revoked or issued to another client change nothing; the caller answers 200 anyway.
pub fn revoke_token(kv: &impl KeyValue, config: &Config, token: &str, client_id: &str) -> Result<bool, KvError> {
    let id = if let Some(claims) = token::open_access_token(config, token) {
        claims.grant
    } else if let Some((id, _)) = parse_grant_secret(token, REFRESH_PREFIX) {
        let presented = hash(token);
        match read_refresh(kv, &id)? {
            Some(s) if same_hash(&s.current, &presented) || s.previous.as_deref().is_some_and(|p| same_hash(p, &presented)) => id,
            _ => return Ok(false),
        }
    } else {
        return Ok(false);
    };
    match read_grant(kv, &id)? {
        Some(grant) if grant.client_id == client_id => {
            revoke_grant(kv, &id)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Store a refreshed kintone token in the grant (the endpoint's slow path). Preserves every other
/// field of the freshly read record, and keeps the stored refresh token unless Cybozu sent one.
pub(crate) fn store_kintone_tokens(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    grant: &mut GrantRecord,
    tokens: &KintoneTokens,
) -> Result<(), BackendError> {
    grant.kintone.access = encrypt(config, id, "a", &tokens.access_token)?;
    if let Some(refresh) = &tokens.refresh_token {
        grant.kintone.refresh = encrypt(config, id, "f", refresh)?;
    }
    grant.kintone.expires_at = tokens.expires_at;
    write_grant(kv, id, grant)
}

pub(crate) fn kintone_refresh_token(config: &Config, id: &GrantId, grant: &GrantRecord) -> Option<SecretString> {
    grant.decrypt_refresh(config, id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::test_config;
    use crate::signin::tests::sample_request;
    use platform::MemoryStore;

    pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    pub fn kintone_tokens(access: &str, refresh: &str) -> KintoneTokens {
        KintoneTokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: Some(SecretString::from(refresh.to_owned())),
            expires_at: 10_000,
            scope: None,
        }
    }

    pub fn redemption(code: &str) -> CodeRedemption<'_> {
        CodeRedemption {
            code,
            client_id: "kc1.client",
            redirect_uri: Some("http://localhost:4567/cb"),
            code_verifier: Some(VERIFIER),
            resource: Some("https://mcp.example.com/mcp"),
        }
    }

    pub fn refresh_with(token: &str) -> RefreshRedemption<'_> {
        RefreshRedemption { refresh_token: token, client_id: "kc1.client", scope: None, resource: None }
    }

    /// A store holding one freshly activated grant; returns its tokens.
    pub fn active_grant(kv: &MemoryStore, config: &Config, now: u64) -> IssuedTokens {
        let code = create_grant(kv, config, &sample_request(), &kintone_tokens("kintone-access-1", "kintone-refresh-1"), now).unwrap();
        redeem_code(kv, config, redemption(code.expose_secret()), now).unwrap()
    }

    #[test]
    fn rfc7636_example_verifier_matches() {
        assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_s256_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!pkce_s256_matches(CHALLENGE, CHALLENGE));
        assert!(!pkce_s256_matches("short", CHALLENGE));
    }

    #[test]
    fn code_exchange_issues_tokens_once_and_stores_only_hashes() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("kintone-access-1", "kintone-refresh-1"), 100).unwrap();
        assert!(code.expose_secret().starts_with("kac_"));
        let tokens = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
        assert_eq!(tokens.scopes, Scopes::ALL);
        assert_eq!(tokens.expires_in, 3600);
        let snapshot = kv.snapshot();
        assert_eq!(snapshot.len(), 2, "{:?}", snapshot.keys());
        for value in snapshot.values() {
            let text = String::from_utf8_lossy(value);
            for secret in [code.expose_secret(), tokens.access_token.expose_secret(), tokens.refresh_token.expose_secret(), "kintone-access-1", "kintone-refresh-1"] {
                assert!(!text.contains(secret));
            }
        }
    }

    #[test]
    fn code_replay_revokes_the_grant() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let tokens = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
        let err = redeem_code(&kv, &config, redemption(code.expose_secret()), 101).err().unwrap();
        assert_eq!(err.code(), "invalid_grant");
        assert!(err.to_string().contains("revoked"));
        assert!(kv.snapshot().is_empty());
        assert_eq!(refresh_tokens(&kv, &config, refresh_with(tokens.refresh_token.expose_secret()), 102).err().unwrap().code(), "invalid_grant");
    }

    #[test]
    fn expired_code_is_refused_and_removed() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let err = redeem_code(&kv, &config, redemption(code.expose_secret()), 100 + CODE_LIFETIME_SECS).err().unwrap();
        assert_eq!(err.to_string(), "authorization code expired");
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn pkce_redirect_client_and_resource_mismatches_are_refused() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let code = code.expose_secret();
        let cases: Vec<(CodeRedemption, &str)> = vec![
            (CodeRedemption { client_id: "kc1.other", ..redemption(code) }, "invalid_grant"),
            (CodeRedemption { redirect_uri: Some("http://localhost:4567/other"), ..redemption(code) }, "invalid_grant"),
            (CodeRedemption { redirect_uri: None, ..redemption(code) }, "invalid_request"),
            (CodeRedemption { resource: Some("https://other.example.com/mcp"), ..redemption(code) }, "invalid_target"),
            (CodeRedemption { code_verifier: None, ..redemption(code) }, "invalid_request"),
        ];
        for (r, expected) in cases {
            assert_eq!(redeem_code(&kv, &config, r, 101).err().unwrap().code(), expected);
        }
        // None of those burned the code; the resource may also come in another spelling.
        let ok = CodeRedemption { resource: Some("HTTPS://mcp.example.com/mcp/"), ..redemption(code) };
        assert!(redeem_code(&kv, &config, ok, 101).is_ok());

        // A wrong verifier burns it.
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let wrong = CodeRedemption { code_verifier: Some(&"x".repeat(43)), ..redemption(code.expose_secret()) };
        assert_eq!(redeem_code(&kv, &config, wrong, 101).err().unwrap().code(), "invalid_grant");
        assert_eq!(redeem_code(&kv, &config, redemption(code.expose_secret()), 101).err().unwrap().code(), "invalid_grant");
    }

    #[test]
    fn forged_codes_are_unknown_and_harmless() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let (id, _) = parse_grant_secret(code.expose_secret(), CODE_PREFIX).unwrap();
        let forged = format!("kac_{id}.{}", "A".repeat(43));
        for bad in [forged.as_str(), "kac_", "nonsense", "kac_0.short.x"] {
            assert_eq!(redeem_code(&kv, &config, redemption(bad), 101).err().unwrap().code(), "invalid_grant");
        }
        assert!(redeem_code(&kv, &config, redemption(code.expose_secret()), 101).is_ok());
    }

    #[test]
    fn refresh_rotates_and_the_previous_token_survives_until_the_new_one_is_used() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let first = active_grant(&kv, &config, 100);
        let r1 = first.refresh_token.expose_secret();
        let second = refresh_tokens(&kv, &config, refresh_with(r1), 200).unwrap();
        let r2 = second.refresh_token.expose_secret();
        assert_ne!(r1, r2);
        // Lost response: the client retries with r1 and succeeds.
        let retry = refresh_tokens(&kv, &config, refresh_with(r1), 201).unwrap();
        let r2b = retry.refresh_token.expose_secret();
        // The client uses the new token: r1 is now retired, and its reuse revokes the grant.
        let third = refresh_tokens(&kv, &config, refresh_with(r2b), 300).unwrap();
        let err = refresh_tokens(&kv, &config, refresh_with(r1), 301).err().unwrap();
        assert!(err.to_string().contains("reuse"));
        assert!(kv.snapshot().is_empty());
        assert!(refresh_tokens(&kv, &config, refresh_with(third.refresh_token.expose_secret()), 302).is_err());
        // r2 was never delivered-and-used; it is refused as well.
        assert!(refresh_tokens(&kv, &config, refresh_with(r2), 303).is_err());
    }

    #[test]
    fn refresh_reuse_after_rotation_is_refused() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let first = active_grant(&kv, &config, 100);
        let second = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200).unwrap();
        let _third = refresh_tokens(&kv, &config, refresh_with(second.refresh_token.expose_secret()), 300).unwrap();
        assert_eq!(refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 400).err().unwrap().code(), "invalid_grant");
    }

    #[test]
    fn refresh_checks_client_scope_resource_and_expiry() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let rt = t.refresh_token.expose_secret();
        let other_client = RefreshRedemption { client_id: "kc1.other", ..refresh_with(rt) };
        assert_eq!(refresh_tokens(&kv, &config, other_client, 101).err().unwrap().code(), "invalid_grant");
        let other_resource = RefreshRedemption { resource: Some("https://mcp.example.com/sse"), ..refresh_with(rt) };
        assert_eq!(refresh_tokens(&kv, &config, other_resource, 101).err().unwrap().code(), "invalid_target");
        // Narrowing works; unknown scopes are ignored.
        let narrowed = refresh_tokens(&kv, &config, RefreshRedemption { scope: Some("k:file:read claudeai"), ..refresh_with(rt) }, 102).unwrap();
        assert_eq!(narrowed.scopes.to_string(), "k:file:read");
        // Idle expiry.
        let rt2 = narrowed.refresh_token.expose_secret().to_owned();
        assert_eq!(refresh_tokens(&kv, &config, refresh_with(&rt2), 102 + REFRESH_IDLE_SECS).err().unwrap().code(), "invalid_grant");
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn refresh_cannot_widen_scopes() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let mut req = sample_request();
        req.scopes = Scopes::parse_lenient("k:app_record:read");
        let code = create_grant(&kv, &config, &req, &kintone_tokens("a", "r"), 100).unwrap();
        let t = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
        let wide = RefreshRedemption { scope: Some("k:app_record:read k:app_record:write"), ..refresh_with(t.refresh_token.expose_secret()) };
        assert_eq!(refresh_tokens(&kv, &config, wide, 101).err().unwrap().code(), "invalid_scope");
    }

    #[test]
    fn revocation_by_either_token_removes_everything_but_only_for_the_owner() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        assert!(!revoke_token(&kv, &config, t.access_token.expose_secret(), "kc1.other").unwrap());
        assert!(!revoke_token(&kv, &config, "garbage", "kc1.client").unwrap());
        assert_eq!(kv.snapshot().len(), 2);
        assert!(revoke_token(&kv, &config, t.refresh_token.expose_secret(), "kc1.client").unwrap());
        assert!(kv.snapshot().is_empty());
        // Revoking again is a harmless no-op.
        assert!(!revoke_token(&kv, &config, t.refresh_token.expose_secret(), "kc1.client").unwrap());

        let t = active_grant(&kv, &config, 100);
        assert!(revoke_token(&kv, &config, t.access_token.expose_secret(), "kc1.client").unwrap());
        assert!(kv.snapshot().is_empty());
    }

    #[test]
    fn grant_table_stays_within_capacity_and_reclaims_dead_grants() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "3")]);
        // Abandoned codes (never redeemed) are reclaimed once expired.
        for i in 0..10 {
            create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100 + i * CODE_LIFETIME_SECS).unwrap();
        }
        assert!(kv.snapshot().len() <= 3);
        // A full table of live grants evicts one rather than growing.
        let mut live = vec![];
        for _ in 0..5 {
            live.push(active_grant(&kv, &config, 100_000));
        }
        assert!(kv.snapshot().len() <= 6, "{:?}", kv.snapshot().keys());
        // The newest grant always works.
        assert!(refresh_tokens(&kv, &config, refresh_with(live.last().unwrap().refresh_token.expose_secret()), 100_001).is_ok());
    }

    #[test]
    fn a_reused_slot_does_not_accept_the_previous_grants_tokens() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "1")]);
        let old = active_grant(&kv, &config, 100);
        let new = active_grant(&kv, &config, 200);
        assert!(refresh_tokens(&kv, &config, refresh_with(old.refresh_token.expose_secret()), 201).is_err());
        assert!(!revoke_token(&kv, &config, old.refresh_token.expose_secret(), "kc1.client").unwrap());
        assert!(refresh_tokens(&kv, &config, refresh_with(new.refresh_token.expose_secret()), 201).is_ok());
    }
}
