//! The shared OAuth records and crypto of kintone-mcp-spin, used by `oauth-provider`,
//! `cybozu-callback` and `mcp-endpoint`.
//!
//! # Scopes
//!
//! Our tokens carry kintone's own six scopes, under kintone's names ([`Scope`]):
//! `k:app_record:read`, `k:app_record:write`, `k:app_settings:read`, `k:app_settings:write`,
//! `k:file:read`, `k:file:write`. A client asks for any subset in `scope`; unknown scopes
//! (`claudeai`, `openid`, …) are ignored, and a request naming none of ours gets all six. Upstream,
//! Cybozu is always asked for all six; our token is what limits a client, and the endpoint answers
//! `403 insufficient_scope` when a tool needs a scope the token lacks ([`Session::require`]).
//!
//! # Key-value records
//!
//! No TTL, no compare-and-swap, no key listing: every record carries its own expiry and is
//! refused and removed when found expired. Records that strangers or abandoned flows can create
//! live in fixed-size slot tables (see `slots`), so the store can never hold more than
//! `3 × max_grants + 16` keys (default 3 × 256 + 16 = 784; the 16 are the client metadata
//! document cache).
//!
//! | key | contents | expiry | written by |
//! |---|---|---|---|
//! | `g:<slot>` | grant: nonce, client id, scopes, resource, kintone access + refresh token (XChaCha20-Poly1305, AAD = grant id + field), kintone expiry; while pending also the keyed hash of our code, PKCE challenge, redirect URI; once active the spent code's keyed hash (replay detection) | code 10 min; grant 90 days from sign-in | `/callback`, `/token` (once), endpoint kintone refresh |
//! | `cimd:<slot>` | a validated client metadata document (URL, name, redirect URIs, refresh allowed, fetched at, fresh until); at most 16 keys, slot = hash of the URL (see `cimd`) | `Cache-Control` clamped to 5 min – 24 h, then up to 24 h more while its origin is unreachable | `/authorize`, `/token`, `/revoke` |
//! | `rv:<slot>` | the nonce of the last grant revoked in the slot: a writer that raced the revocation (a concurrent redemption of the same code) finds it after its writes and undoes them (see `grant::revoke_grant`) | until the slot is cleared for a new grant | every revocation |
//! | `rt:<slot>` | refresh state: nonce, generation, keyed hash of the current refresh token and of the one it replaced (which returns the same successor for 60 s; any other token we minted for the grant is reuse and revokes it) | 30 days idle, at most the grant's end | `/token` |
//!
//! Not stored at all: clients (the `client_id` is the HMAC-signed registration, the secret an
//! HMAC of the id), access tokens (encrypted, self-contained, 1 hour; the endpoint's single read
//! is the grant record), the consent form's request (sealed into the form, bound to the CSRF
//! cookie), pending sign-ins (the validated request, its expiry and a hash of the browser-binding
//! cookie, sealed into the `state` sent to Cybozu: see `signin`), remembered approvals
//! (HMAC-signed cookie).
//!
//! Both records carry a MAC (HMAC-SHA256 over the record and its key, member `m`); one that fails
//! it (planted, altered, moved, or written by a version before issue 11) is refused, removed and
//! treated as absent. At most 5 live grants per client; a new sign-in evicts only an unredeemed
//! code, never another client's active grant (see `grant_table::create_grant`).
//!
//! Codes and refresh tokens are `<prefix><slot>.<nonce>.<secret>`, so each names its grant; only
//! their keyed hash (HMAC-SHA256) is stored. Refresh tokens are derived (from the code, then from
//! their predecessor) and tagged, so concurrent requests with one input get one output. Revoking a grant marks it in `rv:`, then deletes `rt:` then `g:`, which also kills every access
//! token issued from it.
//!
//! # Keys
//!
//! HKDF-SHA256 over `secret_key` derives separate keys for: kintone-token AEAD, access-token AEAD,
//! browser-blob AEAD, sign-in-state AEAD, cookie HMAC, client-id HMAC, client-secret HMAC,
//! stored-token hashes, record MACs, refresh-token derivation. Randomness comes from
//! getrandom 0.3 (`wasi:random` on wasm32-wasip2).

mod access_token;
pub mod cimd;
mod client;
mod config;
mod crypto;
pub mod cybozu;
mod grant;
mod grant_id;
mod grant_table;
mod resource;
mod scope;
mod session;
mod signin;
mod slots;
mod store;
#[cfg(test)]
pub(crate) mod test_support;
mod token_endpoint;
mod url_refusal;

pub use access_token::ACCESS_TOKEN_LIFETIME_SECS;
pub use cimd::{cached_document_client, is_url_client_id, resolve_document_client, CimdError, CimdPolicy};
pub use client::{
    is_deceptive_name_char, register_client, validate_redirect_uri, verify_client_id, ClientAuthMethod,
    ClientRegistration, Registered, RegisteredClient, RegistrationError,
};
pub use config::{
    BrowserKeys, Config, ConfigError, StoreLimits, DEFAULT_MAX_GRANTS, MIN_SECRET_KEY_CHARS, VARIABLES,
    VAR_CYBOZU_CLIENT_ID, VAR_CYBOZU_CLIENT_SECRET, VAR_KINTONE_BASE_URL, VAR_MAX_GRANTS, VAR_PUBLIC_URL,
    VAR_SECRET_KEY,
};
pub use crypto::{ct_eq, random_token, sha256_b64, CryptoError};
pub use cybozu::{exchange_code, refresh_kintone_token, CybozuError, KintoneTokens};
pub use grant::{revoke_grant, CODE_LIFETIME_SECS, GRANT_LIFETIME_SECS};
pub use grant_id::GrantId;
pub use grant_table::{create_grant, MAX_GRANTS_PER_CLIENT};
pub use resource::{
    audience_covers, is_our_resource, issuer_for, normalize_resource, origin_of, MCP_RESOURCE_PATHS,
    SPIN_FULL_URL_HEADER,
};
pub use scope::{Scope, Scopes};
pub use session::{refresh_session, resolve_bearer, AuthError, RefreshError, Session, KINTONE_EXPIRY_MARGIN_SECS};
pub use signin::{
    begin_signin, finish_signin, is_browser_binding, new_browser_binding, AuthorizationRequest, CompletedSignin,
    SigninError, SIGNIN_LIFETIME_SECS,
};
pub use store::BackendError;
pub use token_endpoint::{
    pkce_s256_matches, redeem_code, refresh_tokens, revoke_token, CodeRedemption, IssuedTokens, RefreshRedemption,
    TokenError, REFRESH_GRACE_SECS, REFRESH_IDLE_SECS,
};

/// Re-exported so callers can read tokens without depending on `secrecy` themselves.
pub use secrecy::{ExposeSecret, SecretString};
