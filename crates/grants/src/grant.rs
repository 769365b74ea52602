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
//!   predecessor (HMAC under a key of its own; see `grant_id`). Two requests racing on the same
//!   input compute the same output and write the same state, so whichever write lands last
//!   changes nothing.
//! - Writers re-read just before writing and do not write when another request already wrote
//!   what they would (or moved the state on): the remaining window is one store round trip.
//! - What is left is a lost update in that window, whose worst outcome is a failed request or a
//!   user signed out (they sign in again), never a token that outlives its grant.
//!
//! See the comments at each spot: [`create_grant`](crate::grant_table::create_grant),
//! [`redeem_code`](crate::token_endpoint::redeem_code),
//! [`refresh_tokens`](crate::token_endpoint::refresh_tokens), [`store_kintone_tokens`].
//!
//! This module owns the records, their keys and their storage, and what happens to a grant
//! outside `/token`; where a new grant goes is `grant_table`, what `/token` does with it is
//! `token_endpoint`, and the format of ids, codes and refresh tokens is `grant_id`.

use crate::crypto::{self, CryptoError, Purpose};
use crate::cybozu::KintoneTokens;
use crate::grant_id::{new_code, token_hash, GrantId};
use crate::scope::Scopes;
use crate::signin::AuthorizationRequest;
use crate::store::{self, BackendError};
use crate::Config;
use platform::{KeyValue, KvError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Our authorization codes live 10 minutes (OAuth 2.1 recommends short-lived codes).
pub const CODE_LIFETIME_SECS: u64 = 600;
/// A grant ends 90 days after sign-in whatever happens; the user signs in again.
pub const GRANT_LIFETIME_SECS: u64 = 90 * 86_400;

/// The keys of a grant's records, and what binds its kintone tokens to it.
impl GrantId {
    pub(crate) fn grant_key(&self) -> String {
        grant_key(self.slot)
    }

    pub(crate) fn refresh_key(&self) -> String {
        refresh_key(self.slot)
    }

    pub(crate) fn revoked_key(&self) -> String {
        revoked_key(self.slot)
    }

    /// AAD binding an encrypted kintone token to this grant and field (the record's MAC binds
    /// it to the client, scopes, resource and phase as well).
    fn aad(&self, field: &str) -> Vec<u8> {
        format!("kintone-mcp/grant/{self}/{field}").into_bytes()
    }
}

pub(crate) fn grant_key(slot: u16) -> String {
    format!("g:{slot:x}")
}

pub(crate) fn refresh_key(slot: u16) -> String {
    format!("rt:{slot:x}")
}

/// The nonce of the last grant revoked in the slot (see [`revoke_grant`]).
pub(crate) fn revoked_key(slot: u16) -> String {
    format!("rv:{slot:x}")
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
    pub(crate) created_at: u64,
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
pub(crate) struct RefreshRecord {
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// Generation of `current` (0 = derived from the code).
    #[serde(rename = "g")]
    pub(crate) generation: u64,
    #[serde(rename = "cur")]
    pub(crate) current: String,
    /// The token `current` replaced: presenting it again until `previous_until` returns
    /// `current` itself (the same successor) and changes nothing.
    #[serde(rename = "prev", default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<String>,
    #[serde(rename = "pu", default)]
    pub(crate) previous_until: u64,
    #[serde(rename = "e")]
    pub(crate) expires_at: u64,
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
    crypto::seal(
        config.keys.get(Purpose::KintoneTokens),
        &id.aad(field),
        token.expose_secret().as_bytes(),
    )
    .map(|s| crypto::b64(&s))
}

fn decrypt(config: &Config, id: &GrantId, field: &str, sealed: &str) -> Option<SecretString> {
    let plain = crypto::open(
        config.keys.get(Purpose::KintoneTokens),
        &id.aad(field),
        &crypto::unb64(sealed)?,
    )?;
    String::from_utf8(plain).ok().map(SecretString::from)
}

/// Read `g:` for `id`; `None` unless it exists, is authentic and carries `id`'s nonce.
pub(crate) fn read_grant(kv: &impl KeyValue, config: &Config, id: &GrantId) -> Result<Option<GrantRecord>, KvError> {
    Ok(store::read_authentic::<GrantRecord>(kv, &config.keys, &id.grant_key())?.filter(|g| g.nonce == id.nonce))
}

pub(crate) fn read_refresh(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
) -> Result<Option<RefreshRecord>, KvError> {
    Ok(store::read_authentic::<RefreshRecord>(kv, &config.keys, &id.refresh_key())?.filter(|r| r.nonce == id.nonce))
}

pub(crate) fn write_grant(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    record: &GrantRecord,
) -> Result<(), BackendError> {
    store::write_authentic(kv, &config.keys, &id.grant_key(), record)
}

pub(crate) fn write_refresh(
    kv: &impl KeyValue,
    config: &Config,
    id: &GrantId,
    record: &RefreshRecord,
) -> Result<(), BackendError> {
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
///
/// Before deleting, the revocation is recorded under `rv:` (the grant's nonce), a key only a
/// revocation writes. A request that was already past its checks when the grant was revoked
/// (a concurrent redemption of the same code) may still write the grant's records afterwards;
/// it reads `rv:` *after* its writes ([`was_revoked`]) and undoes them. Without compare-and-swap
/// this closes the gap: either that read sees the tombstone, or it ran before the tombstone was
/// written, and then the deletes below come after its writes.
pub fn revoke_grant(kv: &impl KeyValue, id: &GrantId) -> Result<(), KvError> {
    let refresh_is_ours = stored_nonce(kv, &id.refresh_key())?.is_some_and(|n| n == id.nonce);
    let grant_is_ours = stored_nonce(kv, &id.grant_key())?.is_some_and(|n| n == id.nonce);
    if !refresh_is_ours && !grant_is_ours {
        return Ok(());
    }
    let tombstone = serde_json::json!({ "n": id.nonce }).to_string();
    kv.set(&id.revoked_key(), tombstone.as_bytes())?;
    if refresh_is_ours {
        kv.delete(&id.refresh_key())?;
    }
    if grant_is_ours {
        kv.delete(&id.grant_key())?;
    }
    Ok(())
}

/// Whether `id` was revoked (its tombstone is in `rv:`): checked by a writer after its writes.
pub(crate) fn was_revoked(kv: &impl KeyValue, id: &GrantId) -> Result<bool, KvError> {
    Ok(stored_nonce(kv, &id.revoked_key())?.is_some_and(|n| n == id.nonce))
}

/// Clear a slot entirely (its occupant expired or is being replaced).
pub(crate) fn clear_slot(kv: &impl KeyValue, slot: u16) -> Result<(), KvError> {
    kv.delete(&refresh_key(slot))?;
    kv.delete(&grant_key(slot))?;
    kv.delete(&revoked_key(slot))
}

/// A new pending grant for `id` and its code.
pub(crate) fn pending_grant(
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
mod tests {
    use super::*;
    use crate::grant_id::{derive_refresh_token, parse_grant_secret, REFRESH_PREFIX};
    use crate::test_support::{active_grant, refresh_with, resolve, test_config};
    use crate::token_endpoint::refresh_tokens;
    use platform::MemoryStore;

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
        let forged =
            serde_json::json!({"n": id.nonce, "g": 0, "cur": crypto::sha256_b64(planted.as_bytes()), "e": 10_000_000});
        kv.set(&id.refresh_key(), &serde_json::to_vec(&forged).unwrap())
            .unwrap();
        assert!(refresh_tokens(&kv, &config, refresh_with(&planted), 101).is_err());
        assert!(
            kv.get(&id.refresh_key()).unwrap().is_none(),
            "the planted record is removed"
        );

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
