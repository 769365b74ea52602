//! Grants: one per completed sign-in, holding the user's encrypted kintone tokens, plus the
//! authorization code and refresh-token state of the MCP client that asked for it.
//!
//! Two keys per grant, each with a single writer so that no read-modify-write of one party can
//! undo another's:
//! - `g:<slot>` ([`GrantRecord`]): written by `/callback` (pending, with our code), by `/token`
//!   exactly once (activation), then only by the endpoint's kintone refresh.
//! - `rt:<slot>` ([`RefreshRecord`]): written by `/token` (activation and every rotation).
//!
//! Both are authenticated ([`store::write_authentic`]): a MAC over the record and its key under
//! a key derived from `secret_key`, so whoever can write the store cannot plant or alter one. Codes
//! and refresh tokens are stored as keyed hashes (HMAC-SHA256 under another derived key).
//!
//! Revocation deletes `rt:` first and then `g:`; a concurrent kintone refresh that rewrote `g:`
//! checks `rt:` afterwards and deletes `g:` again, so a revoked grant cannot come back.
//!
//! # Races without compare-and-swap
//!
//! The store has no compare-and-swap, and the deploy targets lack `wasi:keyvalue` atomics, so
//! every read-modify-write here can interleave with another. The design makes each race either
//! harmless or improbable and never a security failure:
//! - Tokens are derived, not drawn: the first refresh token from the code, each later one from its
//!   predecessor (HMAC under a key of its own). Two requests racing on the same input compute the
//!   same output and write the same state, so whichever write lands last changes nothing.
//! - Writers re-read just before writing and do not write when another request already wrote
//!   what they would (or moved the state on): the remaining window is one store round trip.
//! - What is left is a lost update in that window, whose worst outcome is a failed request or a
//!   user signed out (they sign in again), never a token that outlives its grant.
//!
//! See the comments at each spot: [`create_grant`], [`redeem_code`], [`refresh_tokens`],
//! [`store_kintone_tokens`].

use crate::crypto::{self, CryptoError};
use crate::cybozu::KintoneTokens;
use crate::resource::normalize_resource;
use crate::scope::Scopes;
use crate::signin::AuthorizationRequest;
use crate::slots;
use crate::store::{self, security_event, BackendError};
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
/// How long the refresh token a rotation replaced still works: presenting it again within this
/// grace returns the very successor already issued (a lost response, or two concurrent refreshes
/// of one client); after it, any use revokes the grant.
pub const REFRESH_GRACE_SECS: u64 = 60;
/// Live grants one client may hold; its next sign-in replaces its oldest.
pub const MAX_GRANTS_PER_CLIENT: usize = 5;
/// Attempts to claim a grant slot when a concurrent sign-in took the one we chose.
const SLOT_CLAIM_ATTEMPTS: usize = 3;

const CODE_PREFIX: &str = "kac_";
const REFRESH_PREFIX: &str = "krt_";
/// Bytes of a refresh token's secret: 16 derived bytes, then a 16-byte tag over them and the
/// grant id, so a refresh token we minted can be told from a forged one without the store.
const REFRESH_BODY_LEN: usize = 16;

/// Identifies a grant: its table slot plus a random nonce, so ids of a reused slot never match.
#[derive(Clone, PartialEq, Eq)]
pub struct GrantId {
    pub(crate) slot: u16,
    pub(crate) nonce: String,
}

impl GrantId {
    pub(crate) fn grant_key(&self) -> String {
        grant_key(self.slot)
    }

    pub(crate) fn refresh_key(&self) -> String {
        refresh_key(self.slot)
    }

    /// Parse the `<slot>.<nonce>` text form.
    pub fn parse(text: &str) -> Option<GrantId> {
        let (slot, nonce) = text.split_once('.')?;
        Some(GrantId { slot: slots::parse_slot(slot)?, nonce: valid_b64(nonce, 16)?.to_owned() })
    }

    /// AAD binding an encrypted kintone token to this grant and field (the record's MAC binds
    /// it to the client, scopes, resource and phase as well).
    fn aad(&self, field: &str) -> Vec<u8> {
        format!("kintone-mcp/grant/{self}/{field}").into_bytes()
    }
}

fn grant_key(slot: u16) -> String {
    format!("g:{slot:x}")
}

fn refresh_key(slot: u16) -> String {
    format!("rt:{slot:x}")
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

fn new_code(id: &GrantId) -> Result<String, CryptoError> {
    Ok(format!("{CODE_PREFIX}{id}.{}", crypto::random_token::<32>()?))
}

/// The refresh token of generation `generation`, derived from what it succeeds: the code for
/// generation 0, the previous refresh token after that. Deterministic on purpose (see the
/// module docs): the same input always yields the same token, and only we can compute it.
fn derive_refresh_token(config: &Config, id: &GrantId, generation: u64, predecessor: &str) -> String {
    let id_text = id.to_string();
    let derived = crypto::mac(
        &config.keys.token_derivation,
        &[b"refresh-token", id_text.as_bytes(), &generation.to_be_bytes(), predecessor.as_bytes()],
    );
    let body = &derived[..REFRESH_BODY_LEN];
    let tag = refresh_tag(config, &id_text, body);
    let mut secret = [0u8; 2 * REFRESH_BODY_LEN];
    secret[..REFRESH_BODY_LEN].copy_from_slice(body);
    secret[REFRESH_BODY_LEN..].copy_from_slice(&tag[..REFRESH_BODY_LEN]);
    format!("{REFRESH_PREFIX}{id_text}.{}", crypto::b64(&secret))
}

fn refresh_tag(config: &Config, id_text: &str, body: &[u8]) -> [u8; 32] {
    crypto::mac(&config.keys.token_derivation, &[b"refresh-token-tag", id_text.as_bytes(), body])
}

/// A refresh token we minted for `id` (whatever its generation), as opposed to a guess or a
/// forgery naming a grant: only such a token can count as *reuse* and revoke the grant.
fn minted_refresh_token(config: &Config, id: &GrantId, secret: &str) -> bool {
    let Some(bytes) = crypto::unb64(secret) else {
        return false;
    };
    if bytes.len() != 2 * REFRESH_BODY_LEN {
        return false;
    }
    let (body, tag) = bytes.split_at(REFRESH_BODY_LEN);
    crypto::ct_eq(&refresh_tag(config, &id.to_string(), body)[..REFRESH_BODY_LEN], tag)
}

/// The keyed hash under which a code or refresh token is stored.
fn token_hash(config: &Config, token: &str) -> String {
    crypto::b64(&crypto::mac(&config.keys.token_hashes, &[b"grant-token", token.as_bytes()]))
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

/// `rt:<slot>`: the keyed hash of the one refresh token that may be used, and of the one it
/// replaced while that one's grace lasts. Every other token we minted for the grant is reuse.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RefreshRecord {
    #[serde(rename = "n")]
    nonce: String,
    /// Generation of `current` (0 = derived from the code).
    #[serde(rename = "g")]
    generation: u64,
    #[serde(rename = "cur")]
    current: String,
    /// The token `current` replaced: presenting it again until `previous_until` returns
    /// `current` itself (the same successor) and changes nothing.
    #[serde(rename = "prev", default, skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(rename = "pu", default)]
    previous_until: u64,
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

/// Read `g:` for `id`; `None` unless it exists, is authentic and carries `id`'s nonce.
pub(crate) fn read_grant(kv: &impl KeyValue, config: &Config, id: &GrantId) -> Result<Option<GrantRecord>, KvError> {
    Ok(store::read_authentic::<GrantRecord>(kv, &config.keys, &id.grant_key())?.filter(|g| g.nonce == id.nonce))
}

fn read_refresh(kv: &impl KeyValue, config: &Config, id: &GrantId) -> Result<Option<RefreshRecord>, KvError> {
    Ok(store::read_authentic::<RefreshRecord>(kv, &config.keys, &id.refresh_key())?.filter(|r| r.nonce == id.nonce))
}

fn write_grant(kv: &impl KeyValue, config: &Config, id: &GrantId, record: &GrantRecord) -> Result<(), BackendError> {
    store::write_authentic(kv, &config.keys, &id.grant_key(), record)
}

fn write_refresh(kv: &impl KeyValue, config: &Config, id: &GrantId, record: &RefreshRecord) -> Result<(), BackendError> {
    store::write_authentic(kv, &config.keys, &id.refresh_key(), record)
}

/// Whether the grant's refresh record (written at activation, removed first at revocation) still
/// exists: how a kintone refresh finds out it raced a revocation.
pub(crate) fn refresh_record_exists(kv: &impl KeyValue, config: &Config, id: &GrantId) -> Result<bool, KvError> {
    Ok(read_refresh(kv, config, id)?.is_some())
}

/// The nonce a stored record claims, without trusting anything else in it: enough to decide
/// whether a delete would hit `id`'s record or a newer occupant of the slot. (A forged record
/// claiming the nonce only gets itself deleted.)
fn stored_nonce(kv: &impl KeyValue, key: &str) -> Result<Option<String>, KvError> {
    #[derive(Deserialize)]
    struct Nonce {
        #[serde(rename = "n")]
        nonce: String,
    }
    Ok(store::read::<Nonce>(kv, key)?.map(|n| n.nonce))
}

/// Delete every record a grant owns: refresh state first, then the grant (see module docs).
/// Idempotent; removes nothing that belongs to another grant of the same slot.
pub fn revoke_grant(kv: &impl KeyValue, id: &GrantId) -> Result<(), KvError> {
    if stored_nonce(kv, &id.refresh_key())?.is_some_and(|n| n == id.nonce) {
        kv.delete(&id.refresh_key())?;
    }
    if stored_nonce(kv, &id.grant_key())?.is_some_and(|n| n == id.nonce) {
        kv.delete(&id.grant_key())?;
    }
    Ok(())
}

/// Clear a slot entirely (its occupant expired or is being replaced).
fn clear_slot(kv: &impl KeyValue, slot: u16) -> Result<(), KvError> {
    kv.delete(&refresh_key(slot))?;
    kv.delete(&grant_key(slot))
}

/// Store a new pending grant for a completed sign-in and return our authorization code.
///
/// Slot policy (issue 11, L2): a client holds at most [`MAX_GRANTS_PER_CLIENT`] live grants, its
/// next sign-in replacing its own oldest; otherwise a free (or dead) slot is taken; when there is
/// none, a new sign-in may evict only a pending code (the one closest to expiry), never another
/// client's active grant, and is refused when every slot holds an active grant of other clients.
/// So one user automating sign-ins can no longer push everyone else out. Cybozu's token response
/// names no user, so the cap is per registered client (Claude registers one per connection).
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
    for _ in 0..SLOT_CLAIM_ATTEMPTS {
        let slot = choose_grant_slot(kv, config, &request.client_id, now)?;
        let id = GrantId { slot, nonce: crypto::random_token::<12>()? };
        let (code, record) = pending_grant(config, &id, request, kintone, refresh, now)?;
        // A stale refresh record of the slot's previous occupant must not survive into this grant.
        kv.delete(&id.refresh_key())?;
        write_grant(kv, config, &id, &record)?;
        // Race (L3): two sign-ins can pick the same free slot; the later write wins. Read back:
        // if another sign-in's record replaced ours, choose again (its slot is live now). If the
        // writes interleave as write A, read A, write B, read B, A's code silently dies: its
        // redemption finds B's nonce and answers `invalid_grant` (never B's grant: the code
        // names A's nonce and its hash is not B's), and A's user signs in again. The random
        // probe start makes two sign-ins choosing the same slot within one round trip rare.
        if read_grant(kv, config, &id)?.is_some() {
            return Ok(SecretString::from(code));
        }
    }
    Err(BackendError::Full("grant"))
}

/// A new pending grant for `id` and its code.
fn pending_grant(
    config: &Config,
    id: &GrantId,
    request: &AuthorizationRequest,
    kintone: &KintoneTokens,
    kintone_refresh: &SecretString,
    now: u64,
) -> Result<(String, GrantRecord), BackendError> {
    let code = new_code(id)?;
    let record = GrantRecord {
        nonce: id.nonce.clone(),
        client_id: request.client_id.clone(),
        scopes: request.scopes,
        resource: request.resource.clone(),
        created_at: now,
        expires_at: now + GRANT_LIFETIME_SECS,
        kintone: KintoneRecord {
            access: encrypt(config, id, "a", &kintone.access_token)?,
            refresh: encrypt(config, id, "f", kintone_refresh)?,
            expires_at: kintone.expires_at,
        },
        phase: Phase::Pending {
            code_hash: token_hash(config, &code),
            code_expires_at: now + CODE_LIFETIME_SECS,
            code_challenge: request.code_challenge.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_explicit: request.redirect_uri_explicit,
        },
    };
    Ok((code, record))
}

/// What the first pass found in a grant slot (from `g:` alone).
enum SlotState {
    Free,
    Pending { expires_at: u64 },
    /// Active and within the grant's lifetime; whether its refresh state is still alive (idle
    /// expiry, in `rt:`) is only checked when the table has no free slot.
    Active,
}

/// Pick the slot for a new grant of `client_id` (policy: see [`create_grant`]), removing dead
/// occupants on the way. Reads every `g:` slot, since the per-client count needs them all (sign-ins
/// are rare; `max_grants` small reads), and the `rt:` records only when no slot is free.
fn choose_grant_slot(kv: &impl KeyValue, config: &Config, client_id: &str, now: u64) -> Result<u16, BackendError> {
    let mut free = None;
    let mut soonest_pending: Option<(u64, u16)> = None;
    let mut active: Vec<(u16, String)> = vec![];
    let mut own: Vec<(u64, u16)> = vec![];
    for slot in slots::probe_order(config.limits().max_grants)? {
        let (state, occupant) = inspect_grant_slot(kv, config, slot, now)?;
        match state {
            SlotState::Free => {
                free.get_or_insert(slot);
            }
            SlotState::Pending { expires_at } => {
                if soonest_pending.is_none_or(|(e, _)| expires_at < e) {
                    soonest_pending = Some((expires_at, slot));
                }
            }
            SlotState::Active => {}
        }
        if let Some(record) = occupant {
            if record.is_active() {
                active.push((slot, record.nonce.clone()));
            }
            if record.client_id == client_id {
                own.push((record.created_at, slot));
            }
        }
    }
    own.sort_unstable();
    let replace_own = |reason: &str| -> Result<u16, BackendError> {
        let (_, slot) = own[0];
        clear_slot(kv, slot)?;
        security_event(format_args!("grant slot {slot:x} evicted: {reason}"));
        Ok(slot)
    };
    if own.len() >= MAX_GRANTS_PER_CLIENT {
        return replace_own("its client signed in again and holds the most grants a client may hold");
    }
    if let Some(slot) = free {
        return Ok(slot);
    }
    // No free slot: an active grant whose refresh state is gone or idle-expired is dead; reclaim it.
    for (slot, nonce) in active {
        let alive = store::read_authentic::<RefreshRecord>(kv, &config.keys, &refresh_key(slot))?
            .is_some_and(|r| r.nonce == nonce && r.expires_at > now);
        if !alive {
            clear_slot(kv, slot)?;
            return Ok(slot);
        }
    }
    if let Some((_, slot)) = soonest_pending {
        clear_slot(kv, slot)?;
        security_event(format_args!("grant slot {slot:x} evicted: an unredeemed code, the grant table being full"));
        return Ok(slot);
    }
    if !own.is_empty() {
        return replace_own("its client signed in again and the grant table is full");
    }
    security_event(format_args!("sign-in refused: every grant slot holds another client's active grant (raise max_grants)"));
    Err(BackendError::Full("grant"))
}

/// Report a grant slot's state from its `g:` record and the record itself, removing an occupant
/// that is dead by that record alone: unauthentic, past the grant's end, or an unredeemed code past
/// its expiry.
fn inspect_grant_slot(
    kv: &impl KeyValue,
    config: &Config,
    slot: u16,
    now: u64,
) -> Result<(SlotState, Option<GrantRecord>), BackendError> {
    let Some(grant) = store::read_authentic::<GrantRecord>(kv, &config.keys, &grant_key(slot))? else {
        return Ok((SlotState::Free, None));
    };
    let state = match &grant.phase {
        _ if grant.expires_at <= now => None,
        Phase::Pending { code_expires_at, .. } if *code_expires_at > now => Some(SlotState::Pending { expires_at: *code_expires_at }),
        Phase::Pending { .. } => None,
        Phase::Active { .. } => Some(SlotState::Active),
    };
    match state {
        Some(state) => Ok((state, Some(grant))),
        None => {
            clear_slot(kv, slot)?;
            Ok((SlotState::Free, None))
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
///
/// Race (L3): two redemptions of one code that both read the pending grant both succeed, but
/// they cannot produce two token sets: the refresh token is derived from the code, so both get
/// the same one and write the same refresh state. Their access tokens differ (random AEAD
/// nonces) yet carry the same grant, scopes, resource and expiry to the second, so they are one
/// authority, stored nowhere, and die with the grant. Both requests passed PKCE, so both come
/// from the client the code was issued to. A redemption that reads the grant after the other's
/// write sees a replay and revokes the grant, as OAuth 2.1 asks.
pub fn redeem_code(kv: &impl KeyValue, config: &Config, r: CodeRedemption<'_>, now: u64) -> Result<IssuedTokens, TokenError> {
    const UNKNOWN: TokenError = TokenError::InvalidGrant("unknown, expired or already used authorization code");
    let (id, _) = parse_grant_secret(r.code, CODE_PREFIX).ok_or(UNKNOWN)?;
    let mut grant = read_grant(kv, config, &id)?.ok_or(UNKNOWN)?;
    let code_hash = token_hash(config, r.code);
    let (challenge, redirect_uri, redirect_explicit) = match &grant.phase {
        Phase::Active { spent_code_hash } if same_hash(spent_code_hash, &code_hash) => {
            security_event(format_args!("authorization code replayed for grant slot {:x}; the grant is revoked", id.slot));
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
        security_event(format_args!("wrong PKCE verifier for grant slot {:x}; the code is burnt", id.slot));
        revoke_grant(kv, &id)?;
        return Err(TokenError::InvalidGrant("PKCE verification failed"));
    }

    // Activate: mark the code spent first, so a crash after this point makes a retry a replay
    // (revoking the grant) rather than a second set of tokens.
    let refresh_token = derive_refresh_token(config, &id, 0, r.code);
    grant.phase = Phase::Active { spent_code_hash: code_hash.clone() };
    let refresh = RefreshRecord {
        nonce: id.nonce.clone(),
        generation: 0,
        current: token_hash(config, &refresh_token),
        previous: None,
        previous_until: 0,
        expires_at: (now + REFRESH_IDLE_SECS).min(grant.expires_at),
    };
    // Re-read before each write (L3): a concurrent redemption of this code may already have
    // activated the grant (then our write could only undo a kintone refresh stored since) or
    // written the refresh state (which the client may already have rotated: writing generation 0
    // again would sign it out). What we would write is identical to theirs, so skip it.
    let already_active = matches!(
        read_grant(kv, config, &id)?.map(|g| g.phase),
        Some(Phase::Active { spent_code_hash }) if same_hash(&spent_code_hash, &code_hash)
    );
    if !already_active {
        write_grant(kv, config, &id, &grant)?;
    }
    if read_refresh(kv, config, &id)?.is_none() {
        write_refresh(kv, config, &id, &refresh)?;
        // A replay that ran between our activation and this write revoked the grant (deleting
        // `rt:` then `g:`): do not leave our refresh record behind, nor hand out tokens.
        if read_grant(kv, config, &id)?.is_none() {
            revoke_grant(kv, &id)?;
            return Err(TokenError::InvalidGrant("authorization code already used; every token issued from it is revoked"));
        }
    }
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

/// Rotate a refresh token (RFC 6749 §6, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
///
/// - The current token rotates: its successor becomes current, and the presented token stays
///   usable for [`REFRESH_GRACE_SECS`] as *previous*.
/// - The previous token within its grace returns that same successor again and changes nothing
///   (a lost response, or concurrent refreshes of one client). It can never start a second chain:
///   every use yields the one token already issued, so "once" holds whatever the number of uses.
/// - Any other refresh token we minted for a live grant (older, or previous after its grace) is
///   reuse: the grant is revoked. Nothing is remembered per retired token, so no list can be
///   flushed (issue 11, M1). A token we did not mint (bad tag) is merely unknown.
///
/// Race (L3): two refreshes with the current token that both read the same state derive the same
/// successor and write the same state, so the last write changes nothing and neither signs the
/// client out. A refresh re-reads the state just before writing and skips the write when another
/// request already rotated past it, which leaves one store round trip in which a late write could
/// undo a rotation the client made meanwhile; the client's next refresh is then refused as reuse
/// and it signs in again. Access tokens are independent (random nonces), equal in authority.
pub fn refresh_tokens(kv: &impl KeyValue, config: &Config, r: RefreshRedemption<'_>, now: u64) -> Result<IssuedTokens, TokenError> {
    const UNKNOWN: TokenError = TokenError::InvalidGrant("unknown, expired or revoked refresh token");
    let (id, secret) = parse_grant_secret(r.refresh_token, REFRESH_PREFIX).ok_or(UNKNOWN)?;
    if !minted_refresh_token(config, &id, secret) {
        return Err(UNKNOWN);
    }
    let state = read_refresh(kv, config, &id)?.ok_or(UNKNOWN)?;
    let grant = match read_grant(kv, config, &id)? {
        Some(g) if g.is_active() && g.expires_at > now && state.expires_at > now => g,
        _ => {
            revoke_grant(kv, &id)?;
            return Err(UNKNOWN);
        }
    };
    let presented = token_hash(config, r.refresh_token);
    let is_current = same_hash(&state.current, &presented);
    let in_grace = !is_current
        && now < state.previous_until
        && state.previous.as_deref().is_some_and(|p| same_hash(p, &presented));
    if !is_current && !in_grace {
        security_event(format_args!(
            "refresh token reuse for grant slot {:x} (a token other than the current one, outside its grace); the grant is revoked",
            id.slot
        ));
        revoke_grant(kv, &id)?;
        return Err(TokenError::InvalidGrant("refresh token reuse detected; the grant is revoked"));
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

    let successor = if is_current {
        let successor = derive_refresh_token(config, &id, state.generation, r.refresh_token);
        let rotated = RefreshRecord {
            nonce: id.nonce.clone(),
            generation: state.generation + 1,
            current: token_hash(config, &successor),
            previous: Some(presented),
            previous_until: now + REFRESH_GRACE_SECS,
            expires_at: (now + REFRESH_IDLE_SECS).min(grant.expires_at),
        };
        // Re-read just before writing (see the race note above): write only over the state
        // this decision was made on. Another request that rotated the same token already wrote
        // this very successor; one that went further must not be undone; a revocation must
        // not be undone either.
        match read_refresh(kv, config, &id)? {
            Some(now_stored) if now_stored == state => write_refresh(kv, config, &id, &rotated)?,
            Some(now_stored) if now_stored.generation > state.generation => {}
            _ => return Err(UNKNOWN),
        }
        successor
    } else {
        // Within the grace: the successor of `previous` is `current`, by construction. Check it
        // rather than assume it, so a state that does not fit is refused.
        let successor = derive_refresh_token(config, &id, state.generation.saturating_sub(1), r.refresh_token);
        if state.generation == 0 || !same_hash(&token_hash(config, &successor), &state.current) {
            security_event(format_args!("refresh state of grant slot {:x} is inconsistent; the grant is revoked", id.slot));
            revoke_grant(kv, &id)?;
            return Err(UNKNOWN);
        }
        successor
    };

    let access_token = token::issue_access_token(config, &id, scopes, &grant.resource, now)?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: SecretString::from(successor),
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
    } else if let Some((id, secret)) = parse_grant_secret(token, REFRESH_PREFIX) {
        if !minted_refresh_token(config, &id, secret) {
            return Ok(false);
        }
        let presented = token_hash(config, token);
        match read_refresh(kv, config, &id)? {
            Some(s) if same_hash(&s.current, &presented) || s.previous.as_deref().is_some_and(|p| same_hash(p, &presented)) => id,
            _ => return Ok(false),
        }
    } else {
        return Ok(false);
    };
    match read_grant(kv, config, &id)? {
        Some(grant) if grant.client_id == client_id => {
            revoke_grant(kv, &id)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Store a refreshed kintone token in the grant (the endpoint's slow path), keeping the stored
/// refresh token unless Cybozu sent one. `false` when the grant is gone (revoked, or its slot
/// reused by another grant) and nothing was written.
///
/// Race (L3): the Cybozu round trip between the endpoint's read and this write is long, and
/// meanwhile the grant may have been revoked or its slot given to a new grant. So the record is
/// re-read here and updated only if it is still this grant, active; the update is applied to
/// the fresh record, not the stale one. What remains is one store round trip: a slot reused in
/// it would be overwritten by this grant's record, which the caller's check of `rt:` (the new
/// occupant's nonce is not ours) then removes; the new occupant's user signs in again.
pub(crate) fn store_kintone_tokens(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    tokens: &KintoneTokens,
) -> Result<bool, BackendError> {
    let Some(mut grant) = read_grant(kv, config, id)?.filter(GrantRecord::is_active) else {
        return Ok(false);
    };
    grant.kintone.access = encrypt(config, id, "a", &tokens.access_token)?;
    if let Some(refresh) = &tokens.refresh_token {
        grant.kintone.refresh = encrypt(config, id, "f", refresh)?;
    }
    grant.kintone.expires_at = tokens.expires_at;
    write_grant(kv, config, id, &grant)?;
    Ok(true)
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
    fn refresh_rotates_and_the_previous_token_returns_the_same_successor_within_the_grace() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let first = active_grant(&kv, &config, 100);
        let r1 = first.refresh_token.expose_secret();
        let second = refresh_tokens(&kv, &config, refresh_with(r1), 200).unwrap();
        let r2 = second.refresh_token.expose_secret();
        assert_ne!(r1, r2);
        // Lost response: the client retries with r1 and gets r2 again; nothing changes.
        let before = kv.snapshot();
        let retry = refresh_tokens(&kv, &config, refresh_with(r1), 201).unwrap();
        assert_eq!(retry.refresh_token.expose_secret(), r2);
        assert_eq!(kv.snapshot(), before, "a use within the grace writes nothing");
        // The client moves on: r1 is now two generations old, and its use revokes the grant.
        let third = refresh_tokens(&kv, &config, refresh_with(r2), 300).unwrap();
        let err = refresh_tokens(&kv, &config, refresh_with(r1), 301).err().unwrap();
        assert!(err.to_string().contains("reuse"));
        assert!(kv.snapshot().is_empty());
        assert!(refresh_tokens(&kv, &config, refresh_with(third.refresh_token.expose_secret()), 302).is_err());
    }

    #[test]
    fn the_previous_token_after_its_grace_revokes_the_grant() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let first = active_grant(&kv, &config, 100);
        let second = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200).unwrap();
        let late = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200 + REFRESH_GRACE_SECS);
        assert!(late.err().unwrap().to_string().contains("reuse"));
        assert!(kv.snapshot().is_empty());
        assert!(refresh_tokens(&kv, &config, refresh_with(second.refresh_token.expose_secret()), 261).is_err());
    }

    /// Issue 11, M1: a thief holding an old refresh token used to flush the list of retired
    /// tokens by presenting it repeatedly, so that the victim's token became merely "unknown".
    #[test]
    fn presenting_the_previous_token_again_and_again_cannot_push_the_current_one_out() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let first = active_grant(&kv, &config, 100);
        let victim = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200).unwrap();
        let state = kv.snapshot();
        for i in 0..10 {
            let thief = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 201 + i).unwrap();
            assert_eq!(thief.refresh_token.expose_secret(), victim.refresh_token.expose_secret());
        }
        assert_eq!(kv.snapshot(), state);
        let next = refresh_tokens(&kv, &config, refresh_with(victim.refresh_token.expose_secret()), 220).unwrap();
        // Once the victim has moved on, the thief's token is reuse and ends the grant for both.
        assert!(refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 221).is_err());
        assert!(kv.snapshot().is_empty());
        assert!(refresh_tokens(&kv, &config, refresh_with(next.refresh_token.expose_secret()), 222).is_err());
    }

    #[test]
    fn a_forged_refresh_token_naming_a_live_grant_is_unknown_and_revokes_nothing() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let (id, _) = parse_grant_secret(t.refresh_token.expose_secret(), REFRESH_PREFIX).unwrap();
        let before = kv.snapshot();
        for forged in [format!("krt_{id}.{}", "A".repeat(43)), format!("krt_{id}.{}", crypto::random_token::<32>().unwrap())] {
            let err = refresh_tokens(&kv, &config, refresh_with(&forged), 101).err().unwrap();
            assert_eq!(err.to_string(), "unknown, expired or revoked refresh token");
            assert!(!revoke_token(&kv, &config, &forged, "kc1.client").unwrap());
        }
        assert_eq!(kv.snapshot(), before);
        // Another deployment's token for the same slot and nonce is not ours either.
        let other = crate::config::tests::config_with(&[("secret_key", "another-deployment-secret-key-value-1234")]);
        let foreign = derive_refresh_token(&other, &id, 0, "kac_x");
        assert!(refresh_tokens(&kv, &config, refresh_with(&foreign), 101).is_err());
        assert_eq!(kv.snapshot(), before);
        assert!(refresh_tokens(&kv, &config, refresh_with(t.refresh_token.expose_secret()), 102).is_ok());
    }

    #[test]
    fn refresh_tokens_are_derived_and_tagged() {
        let config = test_config();
        let id = GrantId::parse("a.AAAAAAAAAAAAAAAA").unwrap();
        let r0 = derive_refresh_token(&config, &id, 0, "kac_code");
        assert_eq!(r0, derive_refresh_token(&config, &id, 0, "kac_code"));
        assert_ne!(r0, derive_refresh_token(&config, &id, 1, "kac_code"));
        assert_ne!(r0, derive_refresh_token(&config, &id, 0, "kac_other"));
        let (parsed, secret) = parse_grant_secret(&r0, REFRESH_PREFIX).unwrap();
        assert_eq!(parsed, id);
        assert!(minted_refresh_token(&config, &id, secret));
        let other_id = GrantId::parse("b.AAAAAAAAAAAAAAAA").unwrap();
        assert!(!minted_refresh_token(&config, &other_id, secret), "the tag binds the token to its grant");
        // Stored hashes are keyed: not the plain SHA-256 a store writer could compute.
        assert_ne!(token_hash(&config, &r0), crypto::sha256_b64(r0.as_bytes()));
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

    type Hook<'a> = Box<dyn FnOnce(&MemoryStore) + 'a>;

    /// A store that runs `hook` once, just before the `nth` operation (`get`/`set`) on `key`: a
    /// concurrent request interleaved at an exact step, deterministically.
    pub struct RacingStore<'a> {
        pub inner: &'a MemoryStore,
        op: &'static str,
        key: String,
        nth: std::cell::Cell<usize>,
        hook: std::cell::RefCell<Option<Hook<'a>>>,
    }

    impl<'a> RacingStore<'a> {
        pub fn new(inner: &'a MemoryStore, op: &'static str, key: &str, nth: usize, hook: impl FnOnce(&MemoryStore) + 'a) -> Self {
            RacingStore { inner, op, key: key.to_owned(), nth: std::cell::Cell::new(nth), hook: std::cell::RefCell::new(Some(Box::new(hook))) }
        }

        pub fn fired(&self) -> bool {
            self.hook.borrow().is_none()
        }

        fn step(&self, op: &str, key: &str) {
            if op != self.op || key != self.key || self.fired() {
                return;
            }
            let left = self.nth.get() - 1;
            self.nth.set(left);
            if left == 0 {
                if let Some(hook) = self.hook.borrow_mut().take() {
                    hook(self.inner);
                }
            }
        }
    }

    impl KeyValue for RacingStore<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.step("get", key);
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.step("set", key);
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.inner.delete(key)
        }
    }

    fn rt_key_of(token: &str) -> String {
        parse_grant_secret(token, REFRESH_PREFIX).unwrap().0.refresh_key()
    }

    /// L3: two refreshes with the same current token. Whether the second runs between the first's
    /// read and its re-read, or between its re-read and its write, both get one successor, the
    /// state stays consistent and the client is not signed out.
    #[test]
    fn concurrent_refreshes_with_one_token_yield_one_successor_and_keep_the_grant() {
        for (op, nth) in [("get", 1), ("get", 2), ("set", 1)] {
            let (kv, config) = (MemoryStore::new(), test_config());
            let t = active_grant(&kv, &config, 100);
            let token = t.refresh_token.expose_secret().to_owned();
            let other = std::cell::RefCell::new(None);
            let racing = RacingStore::new(&kv, op, &rt_key_of(&token), nth, |inner| {
                *other.borrow_mut() = Some(refresh_tokens(inner, &config, refresh_with(&token), 200).unwrap());
            });
            let mine = refresh_tokens(&racing, &config, refresh_with(&token), 200).unwrap();
            assert!(racing.fired(), "{op} #{nth}");
            let theirs = other.borrow_mut().take().unwrap();
            assert_eq!(mine.refresh_token.expose_secret(), theirs.refresh_token.expose_secret(), "{op} #{nth}");
            // The client carries on with the successor, and again.
            let next = refresh_tokens(&kv, &config, refresh_with(mine.refresh_token.expose_secret()), 201).unwrap();
            assert!(refresh_tokens(&kv, &config, refresh_with(next.refresh_token.expose_secret()), 202).is_ok(), "{op} #{nth}");
        }
    }

    /// L3: two redemptions of one code racing at each step give one refresh token, and the
    /// grant stays usable; a redemption after the other's write is a replay and revokes.
    #[test]
    fn concurrent_redemptions_of_one_code_yield_one_refresh_token() {
        // (step at which the other redemption runs, whether both overlap = both read it pending)
        let steps = [("get", "g", 1, false), ("get", "g", 2, true), ("set", "g", 1, true), ("get", "rt", 1, false), ("set", "rt", 1, false)];
        for (op, key_kind, nth, overlapping) in steps {
            let (kv, config) = (MemoryStore::new(), test_config());
            let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
            let code = code.expose_secret().to_owned();
            let (id, _) = parse_grant_secret(&code, CODE_PREFIX).unwrap();
            let key = if key_kind == "g" { id.grant_key() } else { id.refresh_key() };
            let other = std::cell::RefCell::new(None);
            let racing = RacingStore::new(&kv, op, &key, nth, |inner| {
                *other.borrow_mut() = Some(redeem_code(inner, &config, redemption(&code), 100));
            });
            let mine = redeem_code(&racing, &config, redemption(&code), 100);
            assert!(racing.fired(), "{op} {key_kind} #{nth}");
            let theirs = other.borrow_mut().take().unwrap();
            match (mine, theirs) {
                (Ok(a), Ok(b)) => {
                    assert!(overlapping, "{op} {key_kind} #{nth}: a plain replay must not succeed");
                    assert_eq!(a.refresh_token.expose_secret(), b.refresh_token.expose_secret(), "{op} {key_kind} #{nth}");
                    assert!(refresh_tokens(&kv, &config, refresh_with(a.refresh_token.expose_secret()), 101).is_ok());
                }
                // One came after the other's activation: a replay, which revokes the grant (the
                // first may learn it too, if it had not finished). Nothing survives either way.
                (mine, theirs) => {
                    assert!(!overlapping, "{op} {key_kind} #{nth}: overlapping redemptions both succeed");
                    assert!(kv.snapshot().is_empty(), "{op} {key_kind} #{nth}: {:?}", kv.snapshot().keys());
                    for tokens in [mine, theirs].into_iter().flatten() {
                        assert!(!resolve(&kv, &config, &tokens), "{op} {key_kind} #{nth}");
                    }
                }
            }
        }
    }

    /// L3: a concurrent sign-in overwrote the slot this one just wrote: it notices and moves to
    /// another slot, and both codes work.
    #[test]
    fn a_sign_in_whose_slot_was_taken_meanwhile_moves_to_another() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "2")]);
        // Sign-in A writes its slot; sign-in B, which chose the same slot, writes right after it.
        let mut request_b = sample_request();
        request_b.client_id = "kc1.other".into();
        let written = std::cell::Cell::new(None::<u16>);
        struct AfterWrite<'a> {
            inner: &'a MemoryStore,
            config: &'a Config,
            request_b: &'a AuthorizationRequest,
            written: &'a std::cell::Cell<Option<u16>>,
            b_code: std::cell::RefCell<Option<String>>,
        }
        impl KeyValue for AfterWrite<'_> {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
                self.inner.get(key)
            }
            fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
                self.inner.set(key, value)?;
                if self.written.get().is_none() {
                    if let Some(slot) = key.strip_prefix("g:").and_then(slots::parse_slot) {
                        self.written.set(Some(slot));
                        // Sign-in B chose the same slot before A wrote, and writes after A.
                        let id = GrantId { slot, nonce: crypto::random_token::<12>().unwrap() };
                        let refresh = SecretString::from("r-b".to_owned());
                        let (code, record) = pending_grant(self.config, &id, self.request_b, &kintone_tokens("a-b", "r-b"), &refresh, 100).unwrap();
                        write_grant(self.inner, self.config, &id, &record).unwrap();
                        *self.b_code.borrow_mut() = Some(code);
                    }
                }
                Ok(())
            }
            fn delete(&self, key: &str) -> Result<(), KvError> {
                self.inner.delete(key)
            }
        }
        let racing = AfterWrite { inner: &kv, config: &config, request_b: &request_b, written: &written, b_code: Default::default() };
        let a_code = create_grant(&racing, &config, &sample_request(), &kintone_tokens("a-a", "r-a"), 100).unwrap();
        let b_code = racing.b_code.borrow_mut().take().unwrap();
        let (a_id, _) = parse_grant_secret(a_code.expose_secret(), CODE_PREFIX).unwrap();
        assert_ne!(Some(a_id.slot), written.get(), "A moved to the other slot");
        assert!(redeem_code(&kv, &config, redemption(a_code.expose_secret()), 101).is_ok());
        let b = CodeRedemption { client_id: "kc1.other", ..redemption(&b_code) };
        assert!(redeem_code(&kv, &config, b, 101).is_ok());
    }

    fn sign_in_as(kv: &MemoryStore, config: &Config, client_id: &str, now: u64, redeem: bool) -> Result<Option<IssuedTokens>, BackendError> {
        let mut request = sample_request();
        request.client_id = client_id.to_owned();
        let code = create_grant(kv, config, &request, &kintone_tokens("a", "r"), now)?;
        if !redeem {
            return Ok(None);
        }
        let r = CodeRedemption { client_id, ..redemption(code.expose_secret()) };
        Ok(Some(redeem_code(kv, config, r, now).unwrap()))
    }

    /// L2: one client signing in again and again replaces only its own oldest grant.
    #[test]
    fn a_client_holds_at_most_five_grants_and_replaces_its_oldest() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "16")]);
        let bystander = sign_in_as(&kv, &config, "kc1.bystander", 100, true).unwrap().unwrap();
        let mut mine = vec![];
        for i in 0..MAX_GRANTS_PER_CLIENT as u64 + 3 {
            mine.push(sign_in_as(&kv, &config, "kc1.automated", 200 + i, true).unwrap().unwrap());
        }
        let live = |t: &IssuedTokens| resolve(&kv, &config, t);
        assert!(live(&bystander));
        let alive: Vec<bool> = mine.iter().map(live).collect();
        assert_eq!(alive, [false, false, false, true, true, true, true, true], "the oldest three were replaced");
        assert_eq!(kv.snapshot().len(), 2 * (1 + MAX_GRANTS_PER_CLIENT));
    }

    fn resolve(kv: &MemoryStore, config: &Config, t: &IssuedTokens) -> bool {
        crate::session::resolve_bearer_at(kv, config, t.access_token.expose_secret(), "https://mcp.example.com/mcp", 1_000).is_ok()
    }

    /// L2: when every slot holds another client's active grant, a new sign-in is refused rather
    /// than evicting someone; an unredeemed code is evicted only by another sign-in.
    #[test]
    fn a_full_table_evicts_only_pending_codes_and_never_other_clients_grants() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "4")]);
        let users: Vec<IssuedTokens> = (0..3).map(|i| sign_in_as(&kv, &config, &format!("kc1.user{i}"), 100, true).unwrap().unwrap()).collect();
        // The fourth slot: an unredeemed code. The next sign-in may evict it.
        sign_in_as(&kv, &config, "kc1.slow", 100, false).unwrap();
        let newcomer = sign_in_as(&kv, &config, "kc1.newcomer", 101, true).unwrap().unwrap();
        // Full of active grants of other clients: an attacker's sign-ins are refused, nobody is evicted.
        let before = kv.snapshot();
        for i in 0..10 {
            let refused = sign_in_as(&kv, &config, &format!("kc1.attacker{i}"), 102, false);
            assert!(matches!(refused, Err(BackendError::Full(_))));
        }
        assert_eq!(kv.snapshot(), before);
        assert!(users.iter().chain([&newcomer]).all(|t| resolve(&kv, &config, t)));
        // A client that already holds a grant may replace its own even then.
        let again = sign_in_as(&kv, &config, "kc1.user0", 103, true).unwrap().unwrap();
        assert!(resolve(&kv, &config, &again));
        assert!(!resolve(&kv, &config, &users[0]));
        assert!(resolve(&kv, &config, &users[1]) && resolve(&kv, &config, &users[2]));
    }

    /// A full table whose active grants include one idle past its refresh expiry reclaims that
    /// one (its `rt:` is read only then) and leaves the live one alone.
    #[test]
    fn a_full_table_reclaims_an_idle_grant_before_refusing() {
        let kv = MemoryStore::new();
        let config = crate::config::tests::config_with(&[("max_grants", "2")]);
        let idle = sign_in_as(&kv, &config, "kc1.idle", 100, true).unwrap().unwrap();
        let busy = sign_in_as(&kv, &config, "kc1.busy", 100, true).unwrap().unwrap();
        let later = 100 + REFRESH_IDLE_SECS - 10;
        let busy = refresh_tokens(&kv, &config, RefreshRedemption { client_id: "kc1.busy", ..refresh_with(busy.refresh_token.expose_secret()) }, later).unwrap();
        let newcomer = sign_in_as(&kv, &config, "kc1.new", later + 20, true).unwrap().unwrap();
        let at = |t: &IssuedTokens| crate::session::resolve_bearer_at(&kv, &config, t.access_token.expose_secret(), "https://mcp.example.com/mcp", later + 21).is_ok();
        assert!(at(&busy) && at(&newcomer), "the newcomer got the idle grant's slot, not a refusal");
        assert!(refresh_tokens(&kv, &config, RefreshRedemption { client_id: "kc1.idle", ..refresh_with(idle.refresh_token.expose_secret()) }, later + 22).is_err());
        assert_eq!(kv.snapshot().len(), 4);
    }

    /// M4: records planted or altered by whoever can write the store are refused and removed.
    #[test]
    fn planted_or_altered_records_are_refused() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let token = t.refresh_token.expose_secret().to_owned();
        let (id, _) = parse_grant_secret(&token, REFRESH_PREFIX).unwrap();
        // The attacker knows the token format and plants a refresh state for a token of their
        // choosing, as the old unkeyed SHA-256 scheme allowed.
        let planted = derive_refresh_token(&config, &id, 0, "kac_chosen");
        let forged = serde_json::json!({"n": id.nonce, "g": 0, "cur": crypto::sha256_b64(planted.as_bytes()), "e": 10_000_000});
        kv.set(&id.refresh_key(), &serde_json::to_vec(&forged).unwrap()).unwrap();
        assert!(refresh_tokens(&kv, &config, refresh_with(&planted), 101).is_err());
        assert!(kv.get(&id.refresh_key()).unwrap().is_none(), "the planted record is removed");

        // Altering one member of an authentic grant record (widening its scopes) breaks it.
        let t = active_grant(&kv, &config, 200);
        let (id, _) = parse_grant_secret(t.refresh_token.expose_secret(), REFRESH_PREFIX).unwrap();
        let mut record: serde_json::Value = serde_json::from_slice(&kv.get(&id.grant_key()).unwrap().unwrap()).unwrap();
        record["c"] = "kc1.attacker".into();
        kv.set(&id.grant_key(), &serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(!resolve(&kv, &config, &t));
        assert!(refresh_tokens(&kv, &config, refresh_with(t.refresh_token.expose_secret()), 201).is_err());
    }
}
