//! Where a new grant goes: a slot of the fixed-size grant table (`g:<slot>`, `rt:<slot>`; see
//! `slots` and `grant`), chosen so that no client can push the others out: at most
//! [`MAX_GRANTS_PER_CLIENT`] live grants per client, free or dead slots first, and when the table
//! is full only an unredeemed code may be evicted (issue 11, L2).

use crate::crypto;
use crate::cybozu::KintoneTokens;
use crate::grant::{
    clear_slot, grant_key, pending_grant, read_grant, refresh_key, write_grant, GrantRecord, Phase, RefreshRecord,
};
use crate::grant_id::GrantId;
use crate::signin::AuthorizationRequest;
use crate::slots;
use crate::store::{self, security_event, BackendError};
use crate::Config;
use platform::KeyValue;
use secrecy::SecretString;

/// Live grants one client may hold; its next sign-in replaces its oldest.
pub const MAX_GRANTS_PER_CLIENT: usize = 5;
/// Attempts to claim a grant slot when a concurrent sign-in took the one we chose.
const SLOT_CLAIM_ATTEMPTS: usize = 3;

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
        let id = GrantId {
            slot,
            nonce: crypto::random_token::<12>()?,
        };
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

/// What the first pass found in a grant slot (from `g:` alone).
enum SlotState {
    Free,
    Pending {
        expires_at: u64,
    },
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
        security_event(format_args!(
            "grant slot {slot:x} evicted: an unredeemed code, the grant table being full"
        ));
        return Ok(slot);
    }
    if !own.is_empty() {
        return replace_own("its client signed in again and the grant table is full");
    }
    security_event(format_args!(
        "sign-in refused: every grant slot holds another client's active grant (raise max_grants)"
    ));
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
        Phase::Pending { code_expires_at, .. } if *code_expires_at > now => Some(SlotState::Pending {
            expires_at: *code_expires_at,
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::CODE_LIFETIME_SECS;
    use crate::grant_id::{parse_grant_secret, CODE_PREFIX};
    use crate::test_support::{
        active_grant, config_with, kintone_tokens, redemption, refresh_with, resolve, sample_request,
    };
    use crate::token_endpoint::{
        redeem_code, refresh_tokens, revoke_token, CodeRedemption, IssuedTokens, RefreshRedemption, REFRESH_IDLE_SECS,
    };
    use platform::{KvError, MemoryStore};
    use secrecy::ExposeSecret;

    #[test]
    fn grant_table_stays_within_capacity_and_reclaims_dead_grants() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "3")]);
        // Abandoned codes (never redeemed) are reclaimed once expired.
        for i in 0..10 {
            create_grant(
                &kv,
                &config,
                &sample_request(),
                &kintone_tokens("a", "r"),
                100 + i * CODE_LIFETIME_SECS,
            )
            .unwrap();
        }
        assert!(kv.snapshot().len() <= 3);
        // A full table of live grants evicts one rather than growing.
        let mut live = vec![];
        for _ in 0..5 {
            live.push(active_grant(&kv, &config, 100_000));
        }
        assert!(kv.snapshot().len() <= 6, "{:?}", kv.snapshot().keys());
        // The newest grant always works.
        assert!(refresh_tokens(
            &kv,
            &config,
            refresh_with(live.last().unwrap().refresh_token.expose_secret()),
            100_001
        )
        .is_ok());
    }

    #[test]
    fn a_reused_slot_does_not_accept_the_previous_grants_tokens() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "1")]);
        let old = active_grant(&kv, &config, 100);
        let new = active_grant(&kv, &config, 200);
        assert!(refresh_tokens(&kv, &config, refresh_with(old.refresh_token.expose_secret()), 201).is_err());
        assert!(!revoke_token(&kv, &config, old.refresh_token.expose_secret(), "kc1.client").unwrap());
        assert!(refresh_tokens(&kv, &config, refresh_with(new.refresh_token.expose_secret()), 201).is_ok());
    }

    /// L3: a concurrent sign-in overwrote the slot this one just wrote: it notices and moves to
    /// another slot, and both codes work.
    #[test]
    fn a_sign_in_whose_slot_was_taken_meanwhile_moves_to_another() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "2")]);
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
                        let id = GrantId {
                            slot,
                            nonce: crypto::random_token::<12>().unwrap(),
                        };
                        let refresh = SecretString::from("r-b".to_owned());
                        let (code, record) = pending_grant(
                            self.config,
                            &id,
                            self.request_b,
                            &kintone_tokens("a-b", "r-b"),
                            &refresh,
                            100,
                        )
                        .unwrap();
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
        let racing = AfterWrite {
            inner: &kv,
            config: &config,
            request_b: &request_b,
            written: &written,
            b_code: Default::default(),
        };
        let a_code = create_grant(&racing, &config, &sample_request(), &kintone_tokens("a-a", "r-a"), 100).unwrap();
        let b_code = racing.b_code.borrow_mut().take().unwrap();
        let (a_id, _) = parse_grant_secret(a_code.expose_secret(), CODE_PREFIX).unwrap();
        assert_ne!(Some(a_id.slot), written.get(), "A moved to the other slot");
        assert!(redeem_code(&kv, &config, redemption(a_code.expose_secret()), 101).is_ok());
        let b = CodeRedemption {
            client_id: "kc1.other",
            ..redemption(&b_code)
        };
        assert!(redeem_code(&kv, &config, b, 101).is_ok());
    }

    fn sign_in_as(
        kv: &MemoryStore,
        config: &Config,
        client_id: &str,
        now: u64,
        redeem: bool,
    ) -> Result<Option<IssuedTokens>, BackendError> {
        let mut request = sample_request();
        request.client_id = client_id.to_owned();
        let code = create_grant(kv, config, &request, &kintone_tokens("a", "r"), now)?;
        if !redeem {
            return Ok(None);
        }
        let r = CodeRedemption {
            client_id,
            ..redemption(code.expose_secret())
        };
        Ok(Some(redeem_code(kv, config, r, now).unwrap()))
    }

    /// L2: one client signing in again and again replaces only its own oldest grant.
    #[test]
    fn a_client_holds_at_most_five_grants_and_replaces_its_oldest() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "16")]);
        let bystander = sign_in_as(&kv, &config, "kc1.bystander", 100, true).unwrap().unwrap();
        let mut mine = vec![];
        for i in 0..MAX_GRANTS_PER_CLIENT as u64 + 3 {
            mine.push(
                sign_in_as(&kv, &config, "kc1.automated", 200 + i, true)
                    .unwrap()
                    .unwrap(),
            );
        }
        let live = |t: &IssuedTokens| resolve(&kv, &config, t);
        assert!(live(&bystander));
        let alive: Vec<bool> = mine.iter().map(live).collect();
        assert_eq!(
            alive,
            [false, false, false, true, true, true, true, true],
            "the oldest three were replaced"
        );
        assert_eq!(kv.snapshot().len(), 2 * (1 + MAX_GRANTS_PER_CLIENT));
    }

    /// L2: when every slot holds another client's active grant, a new sign-in is refused rather
    /// than evicting someone; an unredeemed code is evicted only by another sign-in.
    #[test]
    fn a_full_table_evicts_only_pending_codes_and_never_other_clients_grants() {
        let kv = MemoryStore::new();
        let config = config_with(&[("max_grants", "4")]);
        let users: Vec<IssuedTokens> = (0..3)
            .map(|i| {
                sign_in_as(&kv, &config, &format!("kc1.user{i}"), 100, true)
                    .unwrap()
                    .unwrap()
            })
            .collect();
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
        let config = config_with(&[("max_grants", "2")]);
        let idle = sign_in_as(&kv, &config, "kc1.idle", 100, true).unwrap().unwrap();
        let busy = sign_in_as(&kv, &config, "kc1.busy", 100, true).unwrap().unwrap();
        let later = 100 + REFRESH_IDLE_SECS - 10;
        let busy = refresh_tokens(
            &kv,
            &config,
            RefreshRedemption {
                client_id: "kc1.busy",
                ..refresh_with(busy.refresh_token.expose_secret())
            },
            later,
        )
        .unwrap();
        let newcomer = sign_in_as(&kv, &config, "kc1.new", later + 20, true).unwrap().unwrap();
        let at = |t: &IssuedTokens| {
            crate::session::resolve_bearer(
                &kv,
                &config,
                t.access_token.expose_secret(),
                "https://mcp.example.com/mcp",
                later + 21,
            )
            .is_ok()
        };
        assert!(
            at(&busy) && at(&newcomer),
            "the newcomer got the idle grant's slot, not a refusal"
        );
        assert!(refresh_tokens(
            &kv,
            &config,
            RefreshRedemption {
                client_id: "kc1.idle",
                ..refresh_with(idle.refresh_token.expose_secret())
            },
            later + 22
        )
        .is_err());
        assert_eq!(kv.snapshot().len(), 4);
    }
}
