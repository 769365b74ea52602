//! Random identifiers: OAuth codes and tokens, file keys, error ids.
//!
//! Everything a client could guess would let one test's token leak into another, so every
//! identifier comes from the operating system's generator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is not something a test fake can recover from.
    getrandom::fill(&mut bytes).unwrap_or_else(|err| panic!("operating system RNG failed: {err}"));
    bytes
}

/// A 256-bit secret, base64url without padding (43 characters): codes and tokens.
pub fn secret_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Lower-case hex of `N` random bytes: file keys look like this in kintone.
pub fn hex_key<const N: usize>() -> String {
    random_bytes::<N>().iter().map(|b| format!("{b:02x}")).collect()
}

/// The ~20-character random `id` kintone puts in every error body.
pub fn error_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes::<20>()
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = secret_token();
        let b = secret_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hex_key::<16>().len(), 32);
        assert_eq!(error_id().len(), 20);
    }
}
