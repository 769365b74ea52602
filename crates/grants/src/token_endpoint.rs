//! The `/token` logic on our records: redeeming an authorization code (with the PKCE check),
//! rotating a refresh token (derived successors, the grace of the token just replaced, reuse
//! revoking the grant), and revoking a token (RFC 7009). The HTTP side (client authentication,
//! form parsing, the JSON answer) is the `oauth` crate's.
//!
//! Writes `rt:` (activation and every rotation) and `g:` once per grant (activation), and deletes
//! both when it revokes; see `grant` for the records and for why every read-modify-write here is
//! safe without compare-and-swap.

use crate::access_token;
use crate::crypto::{self, CryptoError};
use crate::grant::{
    read_grant, read_refresh, revoke_grant, was_revoked, write_grant, write_refresh, GrantRecord, Phase, RefreshRecord,
};
use crate::grant_id::{
    derive_refresh_token, minted_refresh_token, parse_grant_secret, same_hash, token_hash, GrantId, CODE_PREFIX,
    REFRESH_PREFIX,
};
use crate::resource::normalize_resource;
use crate::scope::Scopes;
use crate::store::{security_event, BackendError};
use crate::Config;
use platform::{KeyValue, KvError};
use secrecy::SecretString;

/// A refresh token unused for 30 days expires (each rotation restarts the clock).
pub const REFRESH_IDLE_SECS: u64 = 30 * 86_400;
/// How long the refresh token a rotation replaced still works: presenting it again within this
/// grace returns the very successor already issued (a lost response, or two concurrent refreshes
/// of one client); after it, any use revokes the grant.
pub const REFRESH_GRACE_SECS: u64 = 60;

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
/// write sees a replay and revokes the grant, as OAuth 2.1 asks; a redemption still writing at
/// that moment finds the revocation's tombstone after its writes and undoes them (`activate`).
pub fn redeem_code(
    kv: &impl KeyValue,
    config: &Config,
    r: CodeRedemption<'_>,
    now: u64,
) -> Result<IssuedTokens, TokenError> {
    let (id, _) = parse_grant_secret(r.code, CODE_PREFIX).ok_or(UNKNOWN_CODE)?;
    let mut grant = read_grant(kv, config, &id)?.ok_or(UNKNOWN_CODE)?;
    let code_hash = token_hash(config, r.code);
    let request = pending_request(kv, &id, &grant, &code_hash, now)?;
    check_redemption(kv, &id, &grant, &request, &r)?;

    // Activate: mark the code spent first, so a crash after this point makes a retry a replay
    // (revoking the grant) rather than a second set of tokens.
    let refresh_token = derive_refresh_token(config, &id, 0, r.code);
    grant.phase = Phase::Active {
        spent_code_hash: code_hash.clone(),
    };
    let refresh = RefreshRecord {
        nonce: id.nonce.clone(),
        generation: 0,
        current: token_hash(config, &refresh_token),
        previous: None,
        previous_until: 0,
        expires_at: (now + REFRESH_IDLE_SECS).min(grant.expires_at),
    };
    activate(kv, config, &id, &grant, &code_hash, &refresh)?;
    let access_token = access_token::issue_access_token(config, &id, grant.scopes, &grant.resource, now)?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: SecretString::from(refresh_token),
        expires_in: access_token::ACCESS_TOKEN_LIFETIME_SECS,
        scopes: grant.scopes,
    })
}

const UNKNOWN_REFRESH: TokenError = TokenError::InvalidGrant("unknown, expired or revoked refresh token");

const CODE_REPLAYED: TokenError =
    TokenError::InvalidGrant("authorization code already used; every token issued from it is revoked");

const UNKNOWN_CODE: TokenError = TokenError::InvalidGrant("unknown, expired or already used authorization code");

/// What the authorization request that issued a code bound it to.
struct PendingRequest {
    code_challenge: String,
    redirect_uri: String,
    redirect_uri_explicit: bool,
}

/// The pending authorization request `code` redeems. A replayed code revokes its grant (every
/// token issued from it dies); an expired one is collected.
fn pending_request(
    kv: &impl KeyValue,
    id: &GrantId,
    grant: &GrantRecord,
    code_hash: &str,
    now: u64,
) -> Result<PendingRequest, TokenError> {
    match &grant.phase {
        Phase::Active { spent_code_hash } if same_hash(spent_code_hash, code_hash) => {
            security_event(format_args!(
                "authorization code replayed for grant slot {:x}; the grant is revoked",
                id.slot
            ));
            revoke_grant(kv, id)?;
            Err(CODE_REPLAYED)
        }
        Phase::Active { .. } => Err(UNKNOWN_CODE),
        Phase::Pending { code_hash: stored, .. } if !same_hash(stored, code_hash) => Err(UNKNOWN_CODE),
        Phase::Pending { code_expires_at, .. } if *code_expires_at <= now || grant.expires_at <= now => {
            revoke_grant(kv, id)?;
            Err(TokenError::InvalidGrant("authorization code expired"))
        }
        Phase::Pending {
            code_challenge,
            redirect_uri,
            redirect_uri_explicit,
            ..
        } => Ok(PendingRequest {
            code_challenge: code_challenge.clone(),
            redirect_uri: redirect_uri.clone(),
            redirect_uri_explicit: *redirect_uri_explicit,
        }),
    }
}

/// The redemption matches the request the code was issued for: same client, redirect URI and
/// resource, and the PKCE verifier. A wrong verifier burns the code.
fn check_redemption(
    kv: &impl KeyValue,
    id: &GrantId,
    grant: &GrantRecord,
    request: &PendingRequest,
    r: &CodeRedemption<'_>,
) -> Result<(), TokenError> {
    if grant.client_id != r.client_id {
        return Err(TokenError::InvalidGrant(
            "authorization code was issued to another client",
        ));
    }
    match r.redirect_uri {
        Some(given) if given != request.redirect_uri => {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ))
        }
        None if request.redirect_uri_explicit => return Err(TokenError::InvalidRequest("redirect_uri is required")),
        _ => {}
    }
    if let Some(resource) = r.resource {
        if normalize_resource(resource).as_deref() != Some(grant.resource.as_str()) {
            return Err(TokenError::InvalidTarget(
                "resource does not match the authorization request",
            ));
        }
    }
    let verifier = r
        .code_verifier
        .ok_or(TokenError::InvalidRequest("code_verifier is required (PKCE)"))?;
    if !pkce_s256_matches(verifier, &request.code_challenge) {
        security_event(format_args!(
            "wrong PKCE verifier for grant slot {:x}; the code is burnt",
            id.slot
        ));
        revoke_grant(kv, id)?;
        return Err(TokenError::InvalidGrant("PKCE verification failed"));
    }
    Ok(())
}

/// Writes the activated grant and its first refresh state.
///
/// Re-reads before each write (L3): a concurrent redemption of this code may already have
/// activated the grant (then our write could only undo a kintone refresh stored since) or
/// written the refresh state (which the client may already have rotated: writing generation 0
/// again would sign it out). What we would write is identical to theirs, so skip it.
fn activate(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    grant: &GrantRecord,
    code_hash: &str,
    refresh: &RefreshRecord,
) -> Result<(), TokenError> {
    match read_grant(kv, config, id)?.map(|g| g.phase) {
        // A replay of this code revoked the grant since we read it: write nothing.
        None => return Err(CODE_REPLAYED),
        Some(Phase::Active { spent_code_hash }) if same_hash(&spent_code_hash, code_hash) => {}
        Some(_) => write_grant(kv, config, id, grant)?,
    }
    if read_refresh(kv, config, id)?.is_none() {
        write_refresh(kv, config, id, refresh)?;
    }
    // A replay that revoked the grant between the read above and our writes left its tombstone:
    // undo what we wrote and hand out nothing (see `revoke_grant`).
    if was_revoked(kv, id)? {
        revoke_grant(kv, id)?;
        return Err(CODE_REPLAYED);
    }
    Ok(())
}

/// RFC 7636 §4.6 with S256: `BASE64URL(SHA256(verifier)) == challenge`; the verifier must be
/// 43–128 unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
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
pub fn refresh_tokens(
    kv: &impl KeyValue,
    config: &Config,
    r: RefreshRedemption<'_>,
    now: u64,
) -> Result<IssuedTokens, TokenError> {
    let (id, secret) = parse_grant_secret(r.refresh_token, REFRESH_PREFIX).ok_or(UNKNOWN_REFRESH)?;
    if !minted_refresh_token(config, &id, secret) {
        return Err(UNKNOWN_REFRESH);
    }
    let state = read_refresh(kv, config, &id)?.ok_or(UNKNOWN_REFRESH)?;
    let grant = match read_grant(kv, config, &id)? {
        Some(g) if g.is_active() && g.expires_at > now && state.expires_at > now => g,
        _ => {
            revoke_grant(kv, &id)?;
            return Err(UNKNOWN_REFRESH);
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
        return Err(TokenError::InvalidGrant(
            "refresh token reuse detected; the grant is revoked",
        ));
    }
    if grant.client_id != r.client_id {
        return Err(TokenError::InvalidGrant("refresh token was issued to another client"));
    }
    if let Some(resource) = r.resource {
        if normalize_resource(resource).as_deref() != Some(grant.resource.as_str()) {
            return Err(TokenError::InvalidTarget("resource does not match the grant"));
        }
    }
    let scopes = narrowed_scopes(grant.scopes, r.scope)?;

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
        write_rotation(kv, config, &id, &state, &rotated)?;
        successor
    } else {
        grace_successor(kv, config, &id, &state, r.refresh_token)?
    };

    let access_token = access_token::issue_access_token(config, &id, scopes, &grant.resource, now)?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: SecretString::from(successor),
        expires_in: access_token::ACCESS_TOKEN_LIFETIME_SECS,
        scopes,
    })
}

/// The scopes a refresh asks for (RFC 6749 §6): none or empty keeps the grant's; more than the
/// grant's is refused.
fn narrowed_scopes(granted: Scopes, requested: Option<&str>) -> Result<Scopes, TokenError> {
    let Some(requested) = requested else {
        return Ok(granted);
    };
    let requested = Scopes::parse_lenient(requested);
    if !granted.contains_all(requested) {
        return Err(TokenError::InvalidScope("scope exceeds what was granted"));
    }
    Ok(if requested.is_empty() { granted } else { requested })
}

/// Writes the rotated state, but only over the state the decision was made on: re-read just
/// before writing (see the race note on `refresh_tokens`). Another request that rotated the
/// same token already wrote this very successor; one that went further must not be undone; a
/// revocation must not be undone either.
fn write_rotation(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    decided_on: &RefreshRecord,
    rotated: &RefreshRecord,
) -> Result<(), TokenError> {
    match read_refresh(kv, config, id)? {
        Some(now_stored) if now_stored == *decided_on => Ok(write_refresh(kv, config, id, rotated)?),
        Some(now_stored) if now_stored.generation > decided_on.generation => Ok(()),
        _ => Err(UNKNOWN_REFRESH),
    }
}

/// The previous token within its grace: the successor of `previous` is `current`, by
/// construction. Checked rather than assumed, so a state that does not fit is refused.
fn grace_successor(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    state: &RefreshRecord,
    presented_token: &str,
) -> Result<String, TokenError> {
    let successor = derive_refresh_token(config, id, state.generation.saturating_sub(1), presented_token);
    if state.generation == 0 || !same_hash(&token_hash(config, &successor), &state.current) {
        security_event(format_args!(
            "refresh state of grant slot {:x} is inconsistent; the grant is revoked",
            id.slot
        ));
        revoke_grant(kv, id)?;
        return Err(UNKNOWN_REFRESH);
    }
    Ok(successor)
}

/// RFC 7009 revocation. Any of our tokens revokes its whole grant (access tokens are
/// self-contained, so the grant is what they die with). Tokens that are unknown, malformed,
/// already revoked or issued to another client change nothing; the caller answers 200 anyway.
pub fn revoke_token(kv: &impl KeyValue, config: &Config, token: &str, client_id: &str) -> Result<bool, KvError> {
    let id = if let Some(claims) = access_token::open_access_token(config, token) {
        claims.grant
    } else if let Some((id, secret)) = parse_grant_secret(token, REFRESH_PREFIX) {
        if !minted_refresh_token(config, &id, secret) {
            return Ok(false);
        }
        let presented = token_hash(config, token);
        match read_refresh(kv, config, &id)? {
            Some(s)
                if same_hash(&s.current, &presented)
                    || s.previous.as_deref().is_some_and(|p| same_hash(p, &presented)) =>
            {
                id
            }
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

#[cfg(test)]
mod tests;
