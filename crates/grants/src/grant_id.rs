//! Grant ids, and the format of the secrets that name a grant.
//!
//! A [`GrantId`] is `<slot>.<nonce>`: the grant's slot in the grant table (see `slots`) and a
//! random nonce, so ids of a reused slot never match. Codes and refresh tokens are
//! `<prefix><slot>.<nonce>.<secret>` (`kac_`, `krt_`), so each names its grant and a lookup stays
//! one read; access tokens carry the id sealed inside (see `access_token`). Refresh tokens are
//! derived (from the code, then from their predecessor) and tagged, so we can tell one we minted
//! from a forgery without the store. Only the keyed hash of a code or refresh token is stored
//! ([`token_hash`]).

use crate::crypto::{self, CryptoError, Purpose};
use crate::slots;
use crate::Config;
use std::fmt;

pub(crate) const CODE_PREFIX: &str = "kac_";
pub(crate) const REFRESH_PREFIX: &str = "krt_";
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
    /// Parse the `<slot>.<nonce>` text form.
    pub fn parse(text: &str) -> Option<GrantId> {
        let (slot, nonce) = text.split_once('.')?;
        Some(GrantId {
            slot: slots::parse_slot(slot)?,
            nonce: valid_b64(nonce, 16)?.to_owned(),
        })
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
    (text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(text)
}

/// `<prefix><slot>.<nonce>.<secret>`: codes and refresh tokens name their grant.
pub(crate) fn parse_grant_secret<'a>(token: &'a str, prefix: &str) -> Option<(GrantId, &'a str)> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = rest.rsplit_once('.')?;
    Some((GrantId::parse(id)?, valid_b64(secret, 43)?))
}

pub(crate) fn new_code(id: &GrantId) -> Result<String, CryptoError> {
    Ok(format!("{CODE_PREFIX}{id}.{}", crypto::random_token::<32>()?))
}

/// The refresh token of generation `generation`, derived from what it succeeds: the code for
/// generation 0, the previous refresh token after that. Deterministic on purpose (see the
/// module docs of `grant`): the same input always yields the same token, and only we can
/// compute it.
pub(crate) fn derive_refresh_token(config: &Config, id: &GrantId, generation: u64, predecessor: &str) -> String {
    let id_text = id.to_string();
    let derived = crypto::mac(
        config.keys.get(Purpose::TokenDerivation),
        &[
            b"refresh-token",
            id_text.as_bytes(),
            &generation.to_be_bytes(),
            predecessor.as_bytes(),
        ],
    );
    let body = &derived[..REFRESH_BODY_LEN];
    let tag = refresh_tag(config, &id_text, body);
    let mut secret = [0u8; 2 * REFRESH_BODY_LEN];
    secret[..REFRESH_BODY_LEN].copy_from_slice(body);
    secret[REFRESH_BODY_LEN..].copy_from_slice(&tag[..REFRESH_BODY_LEN]);
    format!("{REFRESH_PREFIX}{id_text}.{}", crypto::b64(&secret))
}

fn refresh_tag(config: &Config, id_text: &str, body: &[u8]) -> [u8; 32] {
    crypto::mac(
        config.keys.get(Purpose::TokenDerivation),
        &[b"refresh-token-tag", id_text.as_bytes(), body],
    )
}

/// A refresh token we minted for `id` (whatever its generation), as opposed to a guess or a
/// forgery naming a grant: only such a token can count as *reuse* and revoke the grant.
pub(crate) fn minted_refresh_token(config: &Config, id: &GrantId, secret: &str) -> bool {
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
pub(crate) fn token_hash(config: &Config, token: &str) -> String {
    crypto::b64(&crypto::mac(
        config.keys.get(Purpose::TokenHashes),
        &[b"grant-token", token.as_bytes()],
    ))
}

pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    crypto::ct_eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_config;

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
        assert!(
            !minted_refresh_token(&config, &other_id, secret),
            "the tag binds the token to its grant"
        );
        // Stored hashes are keyed: not the plain SHA-256 a store writer could compute.
        assert_ne!(token_hash(&config, &r0), crypto::sha256_b64(r0.as_bytes()));
    }
}
