//! The MCP endpoint's side: resolve a bearer token to a session (one key-value read) and
//! refresh the user's kintone token when it expires or kintone says 401.

use crate::access_token;
use crate::cybozu::{self, CybozuError};
use crate::grant;
use crate::grant_id::GrantId;
use crate::resource::audience_covers;
use crate::scope::{Scope, Scopes};
use crate::store::BackendError;
use crate::Config;
use platform::{HttpClient, KeyValue, KvError};
use secrecy::{ExposeSecret, SecretString};

/// Refresh a kintone token this long before Cybozu's expiry, so a call never starts with a
/// token that dies in flight.
pub const KINTONE_EXPIRY_MARGIN_SECS: u64 = 60;

/// Everything the endpoint needs to call kintone for one request.
pub struct Session {
    pub grant: GrantId,
    pub client_id: String,
    /// Scopes our access token carries (check with [`Session::require`]).
    pub scopes: Scopes,
    /// The resource the token is bound to (normalised).
    pub resource: String,
    /// The user's kintone access token, decrypted. Send it to kintone only; never log it.
    pub kintone_access_token: SecretString,
    /// Unix time at which Cybozu said the kintone token expires.
    pub kintone_expires_at: u64,
    /// Unix time at which our access token expires.
    pub access_expires_at: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("grant", &self.grant)
            .field("scopes", &self.scopes)
            .field("resource", &self.resource)
            .field("kintone_access_token", &"[redacted]")
            .field("kintone_expires_at", &self.kintone_expires_at)
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}

impl Session {
    /// Whether the kintone token should be refreshed before use.
    pub fn kintone_token_expired(&self, now: u64) -> bool {
        now + KINTONE_EXPIRY_MARGIN_SECS >= self.kintone_expires_at
    }

    /// `Ok` when the token carries every scope in `required`; else the missing ones (for a
    /// `403 insufficient_scope` naming them).
    pub fn require(&self, required: Scopes) -> Result<(), Scopes> {
        if self.scopes.contains_all(required) {
            Ok(())
        } else {
            Err(Scope::ALL
                .into_iter()
                .filter(|s| required.contains(*s) && !self.scopes.contains(*s))
                .collect())
        }
    }
}

/// Why a bearer token was not accepted. Every variant but `Backend` is a 401 `invalid_token`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is malformed or was not issued by this server")]
    InvalidToken,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token was issued for another resource")]
    WrongAudience,
    #[error("the access token's grant has been revoked or has expired")]
    Revoked,
    #[error("could not check the access token: {0}")]
    Backend(#[from] BackendError),
}

impl From<KvError> for AuthError {
    fn from(e: KvError) -> Self {
        AuthError::Backend(e.into())
    }
}

/// Resolve `token` for a request to `resource` (the URL the endpoint serves, e.g.
/// `https://host/mcp`) at `now`, with exactly one key-value read (the grant record).
pub fn resolve_bearer(
    kv: &impl KeyValue,
    config: &Config,
    token: &str,
    resource: &str,
    now: u64,
) -> Result<Session, AuthError> {
    let claims = access_token::open_access_token(config, token).ok_or(AuthError::InvalidToken)?;
    if claims.expires_at <= now {
        return Err(AuthError::Expired);
    }
    if !audience_covers(&claims.resource, resource) {
        return Err(AuthError::WrongAudience);
    }
    let record = grant::read_grant(kv, config, &claims.grant)?.ok_or(AuthError::Revoked)?;
    if !record.is_active() {
        return Err(AuthError::Revoked);
    }
    if record.expires_at <= now {
        grant::revoke_grant(kv, &claims.grant)?;
        return Err(AuthError::Revoked);
    }
    let kintone_access_token =
        record
            .decrypt_access(config, &claims.grant)
            .ok_or(AuthError::Backend(BackendError::Corrupt(
                "a stored kintone token does not decrypt",
            )))?;
    Ok(Session {
        grant: claims.grant,
        client_id: record.client_id,
        scopes: claims.scopes,
        resource: claims.resource,
        kintone_access_token,
        kintone_expires_at: record.kintone.expires_at,
        access_expires_at: claims.expires_at,
    })
}

/// Why a kintone token could not be refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Cybozu said `invalid_grant`, or the grant was revoked meanwhile: the grant is gone and
    /// the client must sign in again (answer 401 `invalid_token`).
    #[error("the grant has been revoked; sign in again")]
    GrantRevoked,
    /// Cybozu is unreachable or refused for another reason: try again later (503/502).
    #[error(transparent)]
    Upstream(CybozuError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<KvError> for RefreshError {
    fn from(e: KvError) -> Self {
        RefreshError::Backend(e.into())
    }
}

/// Get a fresh kintone access token for `session`: when the kintone token has expired, or kintone
/// answered 401 `CB_OA01` to `session.kintone_access_token`.
///
/// Concurrent calls for one grant are safe: if another request already stored a newer token, that
/// one is used without calling Cybozu; otherwise both refresh at Cybozu (which keeps the refresh
/// token valid and returns no new one) and the last write wins. The refresh token is only ever
/// replaced by one Cybozu sent, never dropped.
pub async fn refresh_session(
    kv: &impl KeyValue,
    config: &Config,
    http: &impl HttpClient,
    session: &Session,
    now: u64,
) -> Result<Session, RefreshError> {
    let id = &session.grant;
    let record = match grant::read_grant(kv, config, id)? {
        Some(r) if r.is_active() && r.expires_at > now => r,
        _ => return Err(RefreshError::GrantRevoked),
    };
    let with_token = |token: SecretString, expires_at: u64| Session {
        grant: id.clone(),
        client_id: session.client_id.clone(),
        scopes: session.scopes,
        resource: session.resource.clone(),
        kintone_access_token: token,
        kintone_expires_at: expires_at,
        access_expires_at: session.access_expires_at,
    };

    // Someone else refreshed while this request was running: use their token.
    if let Some(stored) = record.decrypt_access(config, id) {
        if stored.expose_secret() != session.kintone_access_token.expose_secret()
            && now + KINTONE_EXPIRY_MARGIN_SECS < record.kintone.expires_at
        {
            return Ok(with_token(stored, record.kintone.expires_at));
        }
    }

    let refresh_token = grant::kintone_refresh_token(config, id, &record).ok_or(RefreshError::Backend(
        BackendError::Corrupt("the stored kintone refresh token does not decrypt"),
    ))?;
    let tokens = match cybozu::refresh_kintone_token(http, config, &refresh_token, now).await {
        Ok(tokens) => tokens,
        Err(CybozuError::InvalidGrant) => {
            grant::revoke_grant(kv, id)?;
            return Err(RefreshError::GrantRevoked);
        }
        Err(other) => return Err(RefreshError::Upstream(other)),
    };
    // The grant is re-read before the write: revoked, or its slot reused by another grant while
    // Cybozu answered, it is not written (see `store_kintone_tokens`).
    if !grant::store_kintone_tokens(kv, config, id, &tokens)? {
        return Err(RefreshError::GrantRevoked);
    }
    // A revocation that ran between that re-read and our write deleted the refresh record
    // first: undo our write so the revoked grant stays revoked.
    if !grant::refresh_record_exists(kv, config, id)? {
        grant::revoke_grant(kv, id)?;
        return Err(RefreshError::GrantRevoked);
    }
    Ok(with_token(tokens.access_token, tokens.expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        active_grant, assert_no_grant_records, config_with, refresh_with, test_config, FakeTokenEndpoint,
    };
    use crate::token_endpoint::{refresh_tokens, revoke_token, RefreshRedemption};
    use platform::MemoryStore;
    use std::cell::Cell;

    const MCP: &str = "https://mcp.example.com/mcp";

    /// Counts reads, to hold the hot path to its one read.
    struct CountingStore {
        inner: MemoryStore,
        reads: Cell<usize>,
        writes: Cell<usize>,
    }

    impl KeyValue for CountingStore {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.writes.set(self.writes.get() + 1);
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.writes.set(self.writes.get() + 1);
            self.inner.delete(key)
        }
    }

    #[test]
    fn resolving_a_token_costs_exactly_one_read_and_no_write() {
        let config = test_config();
        let store = CountingStore {
            inner: MemoryStore::new(),
            reads: Cell::new(0),
            writes: Cell::new(0),
        };
        let tokens = active_grant(&store.inner, &config, 100);
        let session = resolve_bearer(&store, &config, tokens.access_token.expose_secret(), MCP, 200).unwrap();
        assert_eq!((store.reads.get(), store.writes.get()), (1, 0));
        assert_eq!(session.kintone_access_token.expose_secret(), "kintone-access-1");
        assert_eq!(session.kintone_expires_at, 10_000);
        assert_eq!(session.scopes, Scopes::ALL);
        assert_eq!(session.client_id, "kc1.client");
        assert!(!format!("{session:?}").contains("kintone-access-1"));
        // A bad token costs no read at all.
        assert!(matches!(
            resolve_bearer(&store, &config, "kat_garbage", MCP, 200),
            Err(AuthError::InvalidToken)
        ));
        assert_eq!(store.reads.get(), 1);
    }

    #[test]
    fn expired_foreign_audience_and_revoked_tokens_are_refused() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let at = t.access_token.expose_secret();
        assert!(matches!(
            resolve_bearer(&kv, &config, at, MCP, 100 + 3600),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            resolve_bearer(&kv, &config, at, "https://mcp.example.com/sse", 200),
            Err(AuthError::WrongAudience)
        ));
        assert!(matches!(
            resolve_bearer(&kv, &config, at, "https://other.example.com/mcp", 200),
            Err(AuthError::WrongAudience)
        ));
        assert!(resolve_bearer(&kv, &config, at, "https://MCP.example.com/mcp/", 200).is_ok());
        // A refresh token is not an access token.
        assert!(matches!(
            resolve_bearer(&kv, &config, t.refresh_token.expose_secret(), MCP, 200),
            Err(AuthError::InvalidToken)
        ));
        assert!(revoke_token(&kv, &config, t.refresh_token.expose_secret(), "kc1.client").unwrap());
        assert!(matches!(
            resolve_bearer(&kv, &config, at, MCP, 200),
            Err(AuthError::Revoked)
        ));
    }

    #[test]
    fn old_access_tokens_keep_working_after_rotation_until_they_expire() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let t2 = refresh_tokens(&kv, &config, refresh_with(t.refresh_token.expose_secret()), 200).unwrap();
        assert!(resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 300).is_ok());
        assert!(resolve_bearer(&kv, &config, t2.access_token.expose_secret(), MCP, 300).is_ok());
    }

    #[test]
    fn scopes_are_checked_by_require() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let t = active_grant(&kv, &config, 100);
        let narrowed = refresh_tokens(
            &kv,
            &config,
            RefreshRedemption {
                scope: Some("k:app_record:read"),
                ..refresh_with(t.refresh_token.expose_secret())
            },
            150,
        )
        .unwrap();
        let session = resolve_bearer(&kv, &config, narrowed.access_token.expose_secret(), MCP, 200).unwrap();
        assert!(session.require(Scope::AppRecordRead.into()).is_ok());
        let missing = session
            .require(Scopes::parse_lenient("k:app_record:read k:app_record:write"))
            .unwrap_err();
        assert_eq!(missing.to_string(), "k:app_record:write");
    }

    #[tokio::test]
    async fn refresh_stores_the_new_kintone_token_encrypted() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let fake = FakeTokenEndpoint::new();
        fake.add_code("unused", "kintone-access-1", "kintone-refresh-1");
        let t = active_grant(&kv, &config, 100);
        let session = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        assert!(!session.kintone_token_expired(200));
        assert!(session.kintone_token_expired(10_000 - KINTONE_EXPIRY_MARGIN_SECS));
        // kintone answered 401 CB_OA01 before the announced expiry: refresh anyway.
        let fresh = refresh_session(&kv, &config, &fake, &session, 3_000).await.unwrap();
        assert_eq!(fresh.kintone_access_token.expose_secret(), "refreshed-1");
        assert_eq!(fresh.kintone_expires_at, 3_000 + 3600);
        // The next request sees the new token; nothing is in clear in the store.
        let again = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 3_001).unwrap();
        assert_eq!(again.kintone_access_token.expose_secret(), "refreshed-1");
        for value in kv.snapshot().values() {
            let text = String::from_utf8_lossy(value);
            assert!(!text.contains("refreshed-1") && !text.contains("kintone-refresh-1"));
        }
        // The refresh token was kept (Cybozu sent none): a second refresh works.
        let second = refresh_session(&kv, &config, &fake, &again, 3_002).await.unwrap();
        assert_eq!(second.kintone_access_token.expose_secret(), "refreshed-2");
    }

    #[tokio::test]
    async fn a_concurrent_refresh_reuses_the_newer_stored_token() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let fake = FakeTokenEndpoint::new();
        fake.add_code("unused", "kintone-access-1", "kintone-refresh-1");
        let t = active_grant(&kv, &config, 100);
        // Two requests resolved the same stale session; both hit kintone's 401.
        let a = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        let b = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        let fresh_a = refresh_session(&kv, &config, &fake, &a, 201).await.unwrap();
        let fresh_b = refresh_session(&kv, &config, &fake, &b, 202).await.unwrap();
        assert_eq!(fresh_a.kintone_access_token.expose_secret(), "refreshed-1");
        assert_eq!(fresh_b.kintone_access_token.expose_secret(), "refreshed-1");
        assert_eq!(
            fake.requests.borrow().len(),
            1,
            "the second request must not call Cybozu again"
        );
    }

    #[tokio::test]
    async fn invalid_grant_at_cybozu_revokes_the_whole_grant() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let fake = FakeTokenEndpoint::new(); // knows no refresh token: answers invalid_grant
        let t = active_grant(&kv, &config, 100);
        let session = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        assert!(matches!(
            refresh_session(&kv, &config, &fake, &session, 201).await,
            Err(RefreshError::GrantRevoked)
        ));
        assert_no_grant_records(&kv);
        assert!(matches!(
            resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 202),
            Err(AuthError::Revoked)
        ));
    }

    #[tokio::test]
    async fn an_unreachable_cybozu_changes_nothing() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let fake = FakeTokenEndpoint::new();
        fake.add_code("unused", "kintone-access-1", "kintone-refresh-1");
        *fake.down.borrow_mut() = true;
        let t = active_grant(&kv, &config, 100);
        let before = kv.snapshot();
        let session = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        assert!(matches!(
            refresh_session(&kv, &config, &fake, &session, 201).await,
            Err(RefreshError::Upstream(CybozuError::Unavailable(_)))
        ));
        assert_eq!(kv.snapshot(), before);
    }

    #[tokio::test]
    async fn a_refresh_racing_a_revocation_does_not_resurrect_the_grant() {
        let (kv, config) = (MemoryStore::new(), test_config());
        let fake = FakeTokenEndpoint::new();
        fake.add_code("unused", "kintone-access-1", "kintone-refresh-1");
        let t = active_grant(&kv, &config, 100);
        let session = resolve_bearer(&kv, &config, t.access_token.expose_secret(), MCP, 200).unwrap();
        // The revocation deleted the refresh record but the refresh's grant write lands afterwards:
        // simulate by deleting only rt: (what a revocation does first).
        let rt_key = session.grant.refresh_key();
        kv.delete(&rt_key).unwrap();
        assert!(matches!(
            refresh_session(&kv, &config, &fake, &session, 201).await,
            Err(RefreshError::GrantRevoked)
        ));
        assert_no_grant_records(&kv);
    }

    /// Runs `before` once, when the first request goes out: something another request does while
    /// this one waits for Cybozu.
    struct WhileCybozuAnswers<'a, H> {
        inner: &'a H,
        before: std::cell::RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    }

    impl<H: HttpClient> HttpClient for WhileCybozuAnswers<'_, H> {
        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, platform::OutboundError> {
            let before = self.before.borrow_mut().take();
            if let Some(before) = before {
                before();
            }
            self.inner.send(request).await
        }
    }

    /// L3: while Cybozu answered a kintone refresh, the grant was revoked and its slot given to
    /// another user's grant. The late refresh must not overwrite (nor then delete) the newcomer.
    #[tokio::test]
    async fn a_kintone_refresh_does_not_overwrite_a_slot_reused_meanwhile() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "1")]);
        let fake = FakeTokenEndpoint::new();
        fake.add_code("unused", "kintone-access-1", "kintone-refresh-1");
        let old = active_grant(&kv, &config, 100);
        let session = resolve_bearer(&kv, &config, old.access_token.expose_secret(), MCP, 200).unwrap();
        let newcomer = std::cell::RefCell::new(None);
        let http = WhileCybozuAnswers {
            inner: &fake,
            before: std::cell::RefCell::new(Some(Box::new(|| {
                assert!(revoke_token(&kv, &config, old.refresh_token.expose_secret(), "kc1.client").unwrap());
                *newcomer.borrow_mut() = Some(active_grant(&kv, &config, 201));
            }))),
        };
        assert!(matches!(
            refresh_session(&kv, &config, &http, &session, 202).await,
            Err(RefreshError::GrantRevoked)
        ));
        let newcomer = newcomer.borrow_mut().take().unwrap();
        let fresh = resolve_bearer(&kv, &config, newcomer.access_token.expose_secret(), MCP, 203).unwrap();
        assert_eq!(
            fresh.kintone_access_token.expose_secret(),
            "kintone-access-1",
            "the newcomer's record is intact"
        );
        assert!(refresh_tokens(&kv, &config, refresh_with(newcomer.refresh_token.expose_secret()), 204).is_ok());
    }
}
