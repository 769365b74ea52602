//! Our access tokens: self-contained and encrypted, so checking one costs no key-value read.
//!
//! An access token is `kat_` + base64url(XChaCha20-Poly1305(grant id, scopes, resource,
//! expiry)). It is never stored (nothing to leak from the store) and cannot be forged or read
//! without `secret_key`. What makes it revocable is the grant: the endpoint's one read is the
//! grant record, and a revoked grant is gone.

use crate::crypto::{self, CryptoError, Purpose};
use crate::grant_id::GrantId;
use crate::scope::Scopes;
use crate::Config;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Access tokens live one hour (short-lived, as OAuth 2.1 and the MCP spec ask).
pub const ACCESS_TOKEN_LIFETIME_SECS: u64 = 3600;
const ACCESS_PREFIX: &str = "kat_";
const ACCESS_AAD: &[u8] = b"kintone-mcp/access-token/v1";
/// Far above a real token's ~200 characters; longer input is not decoded at all.
const MAX_ACCESS_TOKEN_LEN: usize = 2048;

#[derive(Serialize, Deserialize)]
struct SealedClaims {
    #[serde(rename = "g")]
    grant: String,
    #[serde(rename = "s")]
    scopes: Scopes,
    #[serde(rename = "r")]
    resource: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

/// What an authentic access token says.
pub(crate) struct AccessClaims {
    pub grant: GrantId,
    pub scopes: Scopes,
    pub resource: String,
    pub expires_at: u64,
}

pub(crate) fn issue_access_token(
    config: &Config,
    grant: &GrantId,
    scopes: Scopes,
    resource: &str,
    now: u64,
) -> Result<SecretString, CryptoError> {
    let claims = SealedClaims {
        grant: grant.to_string(),
        scopes,
        resource: resource.to_owned(),
        expires_at: now + ACCESS_TOKEN_LIFETIME_SECS,
    };
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&claims).map_err(|_| CryptoError::Seal)?;
    let sealed = crypto::seal(config.keys.get(Purpose::AccessTokens), ACCESS_AAD, &json)?;
    Ok(SecretString::from(format!("{ACCESS_PREFIX}{}", crypto::b64(&sealed))))
}

/// The claims of an access token we issued (expired or not); `None` for anything else.
pub(crate) fn open_access_token(config: &Config, token: &str) -> Option<AccessClaims> {
    if token.len() > MAX_ACCESS_TOKEN_LEN {
        return None;
    }
    let sealed = crypto::unb64(token.strip_prefix(ACCESS_PREFIX)?)?;
    let json = crypto::open(config.keys.get(Purpose::AccessTokens), ACCESS_AAD, &sealed)?;
    let claims: SealedClaims = serde_json::from_slice(&json).ok()?;
    Some(AccessClaims {
        grant: GrantId::parse(&claims.grant)?,
        scopes: claims.scopes,
        resource: claims.resource,
        expires_at: claims.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config_with, test_config};

    #[test]
    fn access_tokens_round_trip_and_hide_their_claims() {
        let config = test_config();
        let id = GrantId::parse("a.AAAAAAAAAAAAAAAA").unwrap();
        let token = issue_access_token(&config, &id, Scopes::ALL, "https://mcp.example.com/mcp", 100).unwrap();
        let text = secrecy::ExposeSecret::expose_secret(&token).to_owned();
        assert!(text.starts_with("kat_"));
        assert!(!text.contains("mcp.example.com"));
        let claims = open_access_token(&config, &text).unwrap();
        assert_eq!(claims.grant, id);
        assert_eq!(claims.scopes, Scopes::ALL);
        assert_eq!(claims.resource, "https://mcp.example.com/mcp");
        assert_eq!(claims.expires_at, 100 + ACCESS_TOKEN_LIFETIME_SECS);
    }

    #[test]
    fn tampered_or_foreign_tokens_do_not_open() {
        let config = test_config();
        let id = GrantId::parse("a.AAAAAAAAAAAAAAAA").unwrap();
        let token = issue_access_token(&config, &id, Scopes::ALL, "https://h/mcp", 100).unwrap();
        let text = secrecy::ExposeSecret::expose_secret(&token).to_owned();
        let mut bytes = text.clone().into_bytes();
        let i = bytes.len() - 3;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        assert!(open_access_token(&config, &String::from_utf8(bytes).unwrap()).is_none());
        assert!(open_access_token(&config, &text.replace("kat_", "xat_")).is_none());
        assert!(open_access_token(&config, "kat_").is_none());
        assert!(open_access_token(&config, &format!("kat_{}", "A".repeat(5000))).is_none());
        let other = config_with(&[("secret_key", "another-deployment-secret-key-value-1234")]);
        assert!(open_access_token(&other, &text).is_none());
    }
}
