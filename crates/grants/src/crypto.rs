//! The few cryptographic operations the records need, all from RustCrypto crates.
//!
//! Every key is derived from the deployment's `secret_key` with HKDF-SHA256 and a distinct
//! `info` label, so a key used to encrypt kintone tokens can never verify a cookie and vice versa.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// A failure of the crypto layer. Never carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the platform's random source failed: {0}")]
    Random(String),
    #[error("encryption failed")]
    Seal,
}

/// HKDF salt: fixed, public, and versioned so a future scheme can derive different keys.
const HKDF_SALT: &[u8] = b"kintone-mcp-spin/keys/v1";
const XNONCE_LEN: usize = 24;

/// The purpose-separated keys derived from `secret_key`, each on first use: a request derives
/// only the keys it needs (an authenticated `/mcp` call needs two or three of the ten, and an
/// HKDF expansion is two SHA-256 compressions in software on wasm).
#[derive(Clone)]
pub(crate) struct Keys {
    hkdf: Hkdf<Sha256>,
    derived: [OnceLock<[u8; 32]>; PURPOSES],
}

/// What each key is for. The discriminant indexes `Keys::derived`; the label is HKDF's `info`.
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    /// AEAD of the user's kintone access and refresh tokens inside grant records.
    KintoneTokens,
    /// AEAD of our self-contained access tokens.
    AccessTokens,
    /// AEAD of short-lived blobs handed to the browser (the consent form's request).
    BrowserBlobs,
    /// HMAC of cookies (remembered approvals).
    Cookies,
    /// HMAC that makes client ids self-contained and unforgeable.
    ClientIds,
    /// HMAC from which a confidential client's secret is derived.
    ClientSecrets,
    /// HMAC under which codes and refresh tokens are stored (a keyed hash: whoever can write the
    /// store cannot compute the hash of a token of their choosing).
    TokenHashes,
    /// HMAC authenticating every stored record (`g:`, `rt:`), bound to its key.
    RecordMacs,
    /// HMAC deriving refresh tokens deterministically (from the code, then from their
    /// predecessor) and tagging them, so only tokens we minted count as well-formed.
    TokenDerivation,
    /// AEAD of pending sign-ins sealed into the `state` we send to Cybozu (no store record).
    SigninStates,
}

/// One slot per purpose (the last variant is the highest discriminant).
const PURPOSES: usize = Purpose::SigninStates as usize + 1;

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::KintoneTokens => b"aead:kintone-tokens",
            Purpose::AccessTokens => b"aead:access-tokens",
            Purpose::BrowserBlobs => b"aead:browser-blobs",
            Purpose::Cookies => b"hmac:cookies",
            Purpose::ClientIds => b"hmac:client-ids",
            Purpose::ClientSecrets => b"hmac:client-secrets",
            Purpose::TokenHashes => b"hmac:store-token-hashes",
            Purpose::RecordMacs => b"hmac:store-records",
            Purpose::TokenDerivation => b"hmac:grant-token-derivation",
            Purpose::SigninStates => b"aead:signin-states",
        }
    }
}

impl Keys {
    pub fn derive(secret_key: &[u8]) -> Self {
        Keys {
            hkdf: Hkdf::<Sha256>::new(Some(HKDF_SALT), secret_key),
            derived: Default::default(),
        }
    }

    /// The key for `purpose`, derived the first time it is asked for.
    pub fn get(&self, purpose: Purpose) -> &[u8; 32] {
        self.derived[purpose as usize].get_or_init(|| {
            let mut okm = [0u8; 32];
            // HKDF-SHA256 refuses only outputs longer than 255 × 32 bytes.
            if self.hkdf.expand(purpose.label(), &mut okm).is_err() {
                unreachable!("HKDF-SHA256 always expands to 32 bytes");
            }
            okm
        })
    }
}

/// `N` bytes from the platform's CSPRNG (`wasi:random` on wasm32-wasip2).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(buf)
}

/// A random base64url string carrying `N` bytes of entropy.
pub fn random_token<const N: usize>() -> Result<String, CryptoError> {
    Ok(b64(&random_bytes::<N>()?))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 of `data`, base64url: the only form in which our tokens and codes are stored.
pub fn sha256_b64(data: &[u8]) -> String {
    b64(&Sha256::digest(data))
}

/// Raw SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality, so comparing a presented secret leaks no prefix length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Encrypt with XChaCha20-Poly1305 under a random 192-bit nonce (safe to pick at random).
/// Output: nonce ‖ ciphertext ‖ tag. `aad` binds the ciphertext to its place (record, field).
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = random_bytes::<XNONCE_LEN>()?;
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| CryptoError::Seal)?;
    let mut out = Vec::with_capacity(XNONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypt what [`seal`] produced; `None` when tampered with, truncated or sealed for another `aad`.
pub(crate) fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < XNONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(XNONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .ok()
}

fn hmac_over(key: &[u8; 32], parts: &[&[u8]]) -> Hmac<Sha256> {
    // new_from_slice only fails for key lengths HMAC cannot take; 32 bytes always works.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
    for part in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") never collide.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// HMAC-SHA256 over length-prefixed parts.
pub(crate) fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    hmac_over(key, parts).finalize().into_bytes().into()
}

/// Constant-time check of a tag made by [`mac`].
pub(crate) fn verify_mac(key: &[u8; 32], parts: &[&[u8]], tag: &[u8]) -> bool {
    hmac_over(key, parts).verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::derive(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn derived_keys_differ_per_purpose_and_per_secret() {
        let k = keys();
        let all = [
            *k.get(Purpose::KintoneTokens),
            *k.get(Purpose::AccessTokens),
            *k.get(Purpose::BrowserBlobs),
            *k.get(Purpose::Cookies),
            *k.get(Purpose::ClientIds),
            *k.get(Purpose::ClientSecrets),
            *k.get(Purpose::TokenHashes),
            *k.get(Purpose::RecordMacs),
            *k.get(Purpose::TokenDerivation),
            *k.get(Purpose::SigninStates),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let other = Keys::derive(b"another secret that is long enough!!");
        assert_ne!(*k.get(Purpose::KintoneTokens), *other.get(Purpose::KintoneTokens));
    }

    /// Deriving on first use must give the very keys the eager derivation gave, or every stored
    /// grant, issued token and cookie would stop verifying after an upgrade.
    #[test]
    fn keys_derived_on_use_are_the_hkdf_expansions_of_their_labels() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let k = Keys::derive(secret);
        let hk = Hkdf::<Sha256>::new(Some(b"kintone-mcp-spin/keys/v1"), secret);
        for (purpose, label) in [
            (Purpose::KintoneTokens, &b"aead:kintone-tokens"[..]),
            (Purpose::AccessTokens, b"aead:access-tokens"),
            (Purpose::BrowserBlobs, b"aead:browser-blobs"),
            (Purpose::Cookies, b"hmac:cookies"),
            (Purpose::ClientIds, b"hmac:client-ids"),
            (Purpose::ClientSecrets, b"hmac:client-secrets"),
            (Purpose::TokenHashes, b"hmac:store-token-hashes"),
            (Purpose::RecordMacs, b"hmac:store-records"),
            (Purpose::TokenDerivation, b"hmac:grant-token-derivation"),
            (Purpose::SigninStates, b"aead:signin-states"),
        ] {
            let mut expected = [0u8; 32];
            hk.expand(label, &mut expected).unwrap();
            assert_eq!(k.get(purpose), &expected);
            // Asked again, the same key (the cached one).
            assert_eq!(k.get(purpose), &expected);
        }
    }

    #[test]
    fn seal_round_trips_and_refuses_tampering_and_wrong_aad() {
        let k = keys();
        let sealed = seal(k.get(Purpose::KintoneTokens), b"g:1/a", b"kintone-token").unwrap();
        assert!(!sealed.windows(13).any(|w| w == b"kintone-token"));
        assert_eq!(
            open(k.get(Purpose::KintoneTokens), b"g:1/a", &sealed).unwrap(),
            b"kintone-token"
        );
        assert!(open(k.get(Purpose::KintoneTokens), b"g:2/a", &sealed).is_none());
        assert!(open(k.get(Purpose::AccessTokens), b"g:1/a", &sealed).is_none());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(k.get(Purpose::KintoneTokens), b"g:1/a", &tampered).is_none());
        assert!(open(k.get(Purpose::KintoneTokens), b"g:1/a", &sealed[..10]).is_none());
        // Random nonces: sealing twice never gives the same bytes.
        assert_ne!(
            sealed,
            seal(k.get(Purpose::KintoneTokens), b"g:1/a", b"kintone-token").unwrap()
        );
    }

    #[test]
    fn mac_is_length_prefixed_and_verifies_in_constant_time() {
        let k = keys();
        let tag = mac(k.get(Purpose::Cookies), &[b"ab", b"c"]);
        assert!(verify_mac(k.get(Purpose::Cookies), &[b"ab", b"c"], &tag));
        assert!(!verify_mac(k.get(Purpose::Cookies), &[b"a", b"bc"], &tag));
        assert!(!verify_mac(k.get(Purpose::ClientIds), &[b"ab", b"c"], &tag));
        assert!(!verify_mac(k.get(Purpose::Cookies), &[b"ab", b"c"], &tag[..16]));
    }

    #[test]
    fn random_tokens_are_unique_and_url_safe() {
        let a = random_token::<32>().unwrap();
        let b = random_token::<32>().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(ct_eq(a.as_bytes(), a.as_bytes()));
        assert!(!ct_eq(a.as_bytes(), b.as_bytes()));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
