use super::*;
use crate::grant::CODE_LIFETIME_SECS;
use crate::grant_table::create_grant;
use crate::test_support::{
    active_grant, assert_no_grant_records, config_with, kintone_tokens, redemption, refresh_with, resolve,
    sample_request, test_config, RacingStore, CHALLENGE, VERIFIER,
};
use platform::MemoryStore;
use secrecy::ExposeSecret;

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
    let code = create_grant(
        &kv,
        &config,
        &sample_request(),
        &kintone_tokens("kintone-access-1", "kintone-refresh-1"),
        100,
    )
    .unwrap();
    assert!(code.expose_secret().starts_with("kac_"));
    let tokens = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
    assert_eq!(tokens.scopes, Scopes::ALL);
    assert_eq!(tokens.expires_in, 3600);
    let snapshot = kv.snapshot();
    assert_eq!(snapshot.len(), 2, "{:?}", snapshot.keys());
    for value in snapshot.values() {
        let text = String::from_utf8_lossy(value);
        for secret in [
            code.expose_secret(),
            tokens.access_token.expose_secret(),
            tokens.refresh_token.expose_secret(),
            "kintone-access-1",
            "kintone-refresh-1",
        ] {
            assert!(!text.contains(secret));
        }
    }
}

#[test]
fn code_replay_revokes_the_grant() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
    let tokens = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
    let err = redeem_code(&kv, &config, redemption(code.expose_secret()), 101)
        .err()
        .unwrap();
    assert_eq!(err.code(), "invalid_grant");
    assert!(err.to_string().contains("revoked"));
    assert_no_grant_records(&kv);
    assert_eq!(
        refresh_tokens(&kv, &config, refresh_with(tokens.refresh_token.expose_secret()), 102)
            .err()
            .unwrap()
            .code(),
        "invalid_grant"
    );
}

#[test]
fn expired_code_is_refused_and_removed() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
    let err = redeem_code(&kv, &config, redemption(code.expose_secret()), 100 + CODE_LIFETIME_SECS)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "authorization code expired");
    assert_no_grant_records(&kv);
}

#[test]
fn pkce_redirect_client_and_resource_mismatches_are_refused() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
    let code = code.expose_secret();
    let cases: Vec<(CodeRedemption, &str)> = vec![
        (
            CodeRedemption {
                client_id: "kc1.other",
                ..redemption(code)
            },
            "invalid_grant",
        ),
        (
            CodeRedemption {
                redirect_uri: Some("http://localhost:4567/other"),
                ..redemption(code)
            },
            "invalid_grant",
        ),
        (
            CodeRedemption {
                redirect_uri: None,
                ..redemption(code)
            },
            "invalid_request",
        ),
        (
            CodeRedemption {
                resource: Some("https://other.example.com/mcp"),
                ..redemption(code)
            },
            "invalid_target",
        ),
        (
            CodeRedemption {
                code_verifier: None,
                ..redemption(code)
            },
            "invalid_request",
        ),
    ];
    for (r, expected) in cases {
        assert_eq!(redeem_code(&kv, &config, r, 101).err().unwrap().code(), expected);
    }
    // None of those burned the code; the resource may also come in another spelling.
    let ok = CodeRedemption {
        resource: Some("HTTPS://mcp.example.com/mcp/"),
        ..redemption(code)
    };
    assert!(redeem_code(&kv, &config, ok, 101).is_ok());

    // A wrong verifier burns it.
    let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
    let wrong = CodeRedemption {
        code_verifier: Some(&"x".repeat(43)),
        ..redemption(code.expose_secret())
    };
    assert_eq!(
        redeem_code(&kv, &config, wrong, 101).err().unwrap().code(),
        "invalid_grant"
    );
    assert_eq!(
        redeem_code(&kv, &config, redemption(code.expose_secret()), 101)
            .err()
            .unwrap()
            .code(),
        "invalid_grant"
    );
}

#[test]
fn forged_codes_are_unknown_and_harmless() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
    let (id, _) = parse_grant_secret(code.expose_secret(), CODE_PREFIX).unwrap();
    let forged = format!("kac_{id}.{}", "A".repeat(43));
    for bad in [forged.as_str(), "kac_", "nonsense", "kac_0.short.x"] {
        assert_eq!(
            redeem_code(&kv, &config, redemption(bad), 101).err().unwrap().code(),
            "invalid_grant"
        );
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
    assert_no_grant_records(&kv);
    assert!(refresh_tokens(&kv, &config, refresh_with(third.refresh_token.expose_secret()), 302).is_err());
}

#[test]
fn the_previous_token_after_its_grace_revokes_the_grant() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let first = active_grant(&kv, &config, 100);
    let second = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200).unwrap();
    let late = refresh_tokens(
        &kv,
        &config,
        refresh_with(first.refresh_token.expose_secret()),
        200 + REFRESH_GRACE_SECS,
    );
    assert!(late.err().unwrap().to_string().contains("reuse"));
    assert_no_grant_records(&kv);
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
        assert_eq!(
            thief.refresh_token.expose_secret(),
            victim.refresh_token.expose_secret()
        );
    }
    assert_eq!(kv.snapshot(), state);
    let next = refresh_tokens(&kv, &config, refresh_with(victim.refresh_token.expose_secret()), 220).unwrap();
    // Once the victim has moved on, the thief's token is reuse and ends the grant for both.
    assert!(refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 221).is_err());
    assert_no_grant_records(&kv);
    assert!(refresh_tokens(&kv, &config, refresh_with(next.refresh_token.expose_secret()), 222).is_err());
}

#[test]
fn a_forged_refresh_token_naming_a_live_grant_is_unknown_and_revokes_nothing() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let t = active_grant(&kv, &config, 100);
    let (id, _) = parse_grant_secret(t.refresh_token.expose_secret(), REFRESH_PREFIX).unwrap();
    let before = kv.snapshot();
    for forged in [
        format!("krt_{id}.{}", "A".repeat(43)),
        format!("krt_{id}.{}", crypto::random_token::<32>().unwrap()),
    ] {
        let err = refresh_tokens(&kv, &config, refresh_with(&forged), 101).err().unwrap();
        assert_eq!(err.to_string(), "unknown, expired or revoked refresh token");
        assert!(!revoke_token(&kv, &config, &forged, "kc1.client").unwrap());
    }
    assert_eq!(kv.snapshot(), before);
    // Another deployment's token for the same slot and nonce is not ours either.
    let other = config_with(&[("secret_key", "another-deployment-secret-key-value-1234")]);
    let foreign = derive_refresh_token(&other, &id, 0, "kac_x");
    assert!(refresh_tokens(&kv, &config, refresh_with(&foreign), 101).is_err());
    assert_eq!(kv.snapshot(), before);
    assert!(refresh_tokens(&kv, &config, refresh_with(t.refresh_token.expose_secret()), 102).is_ok());
}

#[test]
fn refresh_reuse_after_rotation_is_refused() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let first = active_grant(&kv, &config, 100);
    let second = refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 200).unwrap();
    let _third = refresh_tokens(&kv, &config, refresh_with(second.refresh_token.expose_secret()), 300).unwrap();
    assert_eq!(
        refresh_tokens(&kv, &config, refresh_with(first.refresh_token.expose_secret()), 400)
            .err()
            .unwrap()
            .code(),
        "invalid_grant"
    );
}

#[test]
fn refresh_checks_client_scope_resource_and_expiry() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let t = active_grant(&kv, &config, 100);
    let rt = t.refresh_token.expose_secret();
    let other_client = RefreshRedemption {
        client_id: "kc1.other",
        ..refresh_with(rt)
    };
    assert_eq!(
        refresh_tokens(&kv, &config, other_client, 101).err().unwrap().code(),
        "invalid_grant"
    );
    let other_resource = RefreshRedemption {
        resource: Some("https://mcp.example.com/sse"),
        ..refresh_with(rt)
    };
    assert_eq!(
        refresh_tokens(&kv, &config, other_resource, 101).err().unwrap().code(),
        "invalid_target"
    );
    // Narrowing works; unknown scopes are ignored.
    let narrowed = refresh_tokens(
        &kv,
        &config,
        RefreshRedemption {
            scope: Some("k:file:read claudeai"),
            ..refresh_with(rt)
        },
        102,
    )
    .unwrap();
    assert_eq!(narrowed.scopes.to_string(), "k:file:read");
    // Idle expiry.
    let rt2 = narrowed.refresh_token.expose_secret().to_owned();
    assert_eq!(
        refresh_tokens(&kv, &config, refresh_with(&rt2), 102 + REFRESH_IDLE_SECS)
            .err()
            .unwrap()
            .code(),
        "invalid_grant"
    );
    assert_no_grant_records(&kv);
}

#[test]
fn refresh_cannot_widen_scopes() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let mut req = sample_request();
    req.scopes = Scopes::parse_lenient("k:app_record:read");
    let code = create_grant(&kv, &config, &req, &kintone_tokens("a", "r"), 100).unwrap();
    let t = redeem_code(&kv, &config, redemption(code.expose_secret()), 100).unwrap();
    let wide = RefreshRedemption {
        scope: Some("k:app_record:read k:app_record:write"),
        ..refresh_with(t.refresh_token.expose_secret())
    };
    assert_eq!(
        refresh_tokens(&kv, &config, wide, 101).err().unwrap().code(),
        "invalid_scope"
    );
}

#[test]
fn revocation_by_either_token_removes_everything_but_only_for_the_owner() {
    let (kv, config) = (MemoryStore::new(), test_config());
    let t = active_grant(&kv, &config, 100);
    assert!(!revoke_token(&kv, &config, t.access_token.expose_secret(), "kc1.other").unwrap());
    assert!(!revoke_token(&kv, &config, "garbage", "kc1.client").unwrap());
    assert_eq!(kv.snapshot().len(), 2);
    assert!(revoke_token(&kv, &config, t.refresh_token.expose_secret(), "kc1.client").unwrap());
    assert_no_grant_records(&kv);
    // Revoking again is a harmless no-op.
    assert!(!revoke_token(&kv, &config, t.refresh_token.expose_secret(), "kc1.client").unwrap());

    let t = active_grant(&kv, &config, 100);
    assert!(revoke_token(&kv, &config, t.access_token.expose_secret(), "kc1.client").unwrap());
    assert_no_grant_records(&kv);
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
        assert_eq!(
            mine.refresh_token.expose_secret(),
            theirs.refresh_token.expose_secret(),
            "{op} #{nth}"
        );
        // The client carries on with the successor, and again.
        let next = refresh_tokens(&kv, &config, refresh_with(mine.refresh_token.expose_secret()), 201).unwrap();
        assert!(
            refresh_tokens(&kv, &config, refresh_with(next.refresh_token.expose_secret()), 202).is_ok(),
            "{op} #{nth}"
        );
    }
}

/// L3: two redemptions of one code racing at each step give one refresh token, and the
/// grant stays usable; a redemption after the other's write is a replay and revokes.
#[test]
fn concurrent_redemptions_of_one_code_yield_one_refresh_token() {
    // (step at which the other redemption runs, whether both overlap = both read it pending)
    let steps = [
        ("get", "g", 1, false),
        ("get", "g", 2, true),
        ("set", "g", 1, true),
        ("get", "rt", 1, false),
        ("set", "rt", 1, false),
    ];
    for (op, key_kind, nth, overlapping) in steps {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let code = code.expose_secret().to_owned();
        let (id, _) = parse_grant_secret(&code, CODE_PREFIX).unwrap();
        let key = if key_kind == "g" {
            id.grant_key()
        } else {
            id.refresh_key()
        };
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
                assert_eq!(
                    a.refresh_token.expose_secret(),
                    b.refresh_token.expose_secret(),
                    "{op} {key_kind} #{nth}"
                );
                assert!(refresh_tokens(&kv, &config, refresh_with(a.refresh_token.expose_secret()), 101).is_ok());
            }
            // One came after the other's activation: a replay, which revokes the grant (the
            // first may learn it too, if it had not finished). Nothing survives either way.
            (mine, theirs) => {
                assert!(
                    !overlapping,
                    "{op} {key_kind} #{nth}: overlapping redemptions both succeed"
                );
                assert!(
                    kv.snapshot().keys().all(|k| k.starts_with("rv:")),
                    "{op} {key_kind} #{nth}: {:?}",
                    kv.snapshot().keys()
                );
                for tokens in [mine, theirs].into_iter().flatten() {
                    assert!(!resolve(&kv, &config, &tokens), "{op} {key_kind} #{nth}");
                }
            }
        }
    }
}

/// Three requests with one code: A has read the pending grant and is about to activate it when
/// B activates it and C, a replay, revokes it (or, with A already activated, B and C are both
/// replays). A's writes come after the revocation; they must
/// not bring the grant back (the e2e race `l3_concurrent_redemptions_of_one_code_never_give_two_refresh_tokens`
/// hit exactly this). A finds C's tombstone after writing, undoes its writes and hands out nothing.
#[test]
fn a_redemption_that_writes_after_a_replay_revoked_the_grant_undoes_its_writes() {
    for (op, key_kind) in [("set", "g"), ("set", "rt"), ("get", "rv")] {
        let (kv, config) = (MemoryStore::new(), test_config());
        let code = create_grant(&kv, &config, &sample_request(), &kintone_tokens("a", "r"), 100).unwrap();
        let code = code.expose_secret().to_owned();
        let (id, _) = parse_grant_secret(&code, CODE_PREFIX).unwrap();
        let key = match key_kind {
            "g" => id.grant_key(),
            "rt" => id.refresh_key(),
            _ => id.revoked_key(),
        };
        let b_tokens = std::cell::RefCell::new(None);
        let racing = RacingStore::new(&kv, op, &key, 1, |inner| {
            // B redeems (or, once A has activated, is itself the replay); C is a replay.
            *b_tokens.borrow_mut() = redeem_code(inner, &config, redemption(&code), 100).ok();
            let c = redeem_code(inner, &config, redemption(&code), 100);
            assert!(matches!(c, Err(TokenError::InvalidGrant(_))), "C is a replay");
        });
        let a = redeem_code(&racing, &config, redemption(&code), 100);
        assert!(racing.fired(), "{op} {key_kind}");
        assert!(
            matches!(a, Err(TokenError::InvalidGrant(_))),
            "{op} {key_kind}: {:?}",
            a.map(|_| ())
        );
        let left: Vec<String> = kv.snapshot().keys().cloned().collect();
        assert!(left.iter().all(|k| k.starts_with("rv:")), "{op} {key_kind}: {left:?}");
        let b = b_tokens.borrow_mut().take();
        if let Some(b) = b {
            assert!(
                !resolve(&kv, &config, &b),
                "{op} {key_kind}: B's tokens died with the grant"
            );
            assert!(refresh_tokens(&kv, &config, refresh_with(b.refresh_token.expose_secret()), 101).is_err());
        }
    }
}
