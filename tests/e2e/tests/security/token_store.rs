//! Security regressions: the token endpoint and the records behind it (issue 11: M1, M4, L2, L3,
//! registered grant types and authentication methods). See the index in `security.rs`.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::signin::{Flow, JsonReply, Pkce, CLIENT_REDIRECT_URI};
use e2e::Options;
use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn refresh_form(token: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", token)]
}

async fn refresh_raw(app: &App, tokens: &Tokens, token: &str) -> JsonReply {
    signin::post_token(
        app,
        &refresh_form(token),
        &tokens.client_id,
        tokens.client_secret.as_deref(),
    )
    .await
    .unwrap()
}

fn assert_invalid_grant(reply: &JsonReply, what: &str) {
    assert_eq!(
        (reply.status, reply.error()),
        (400, Some("invalid_grant")),
        "{what}: {reply:?}"
    );
}

fn grant_keys(app: &App) -> Vec<String> {
    kv_store::grant_keys(app).unwrap()
}

/// The one grant in the store: its slot (hex, as in keys) and its record.
fn only_grant(app: &App) -> (String, Value) {
    let keys: Vec<String> = kv_store::keys(app)
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("g:"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let record = serde_json::from_slice(&kv_store::get(app, &keys[0]).unwrap().unwrap()).unwrap();
    (keys[0].trim_start_matches("g:").to_owned(), record)
}

fn sha256_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// M1: the thief's old refresh token, presented five times, used to push the victim's token out
/// of the four remembered retired ones; the victim's next refresh then failed without revoking,
/// and the thief kept the grant. Now the previous token only ever yields the one successor already
/// issued (changing nothing), the victim's token keeps working, and an older token revokes.
#[tokio::test]
async fn m1_a_thief_replaying_an_old_refresh_token_cannot_push_the_victims_token_out() {
    let app = App::start().await.unwrap();
    let first = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let victim = signin::refresh(&app, &first).await.unwrap();
    let before = snapshot(&app);
    for attempt in 0..5 {
        let thief = refresh_raw(&app, &first, &first.refresh_token).await;
        assert_eq!(thief.status, 200, "attempt {attempt} within the grace: {thief:?}");
        assert_eq!(
            thief.body["refresh_token"].as_str(),
            Some(victim.refresh_token.as_str()),
            "the same successor, no new chain"
        );
    }
    assert_eq!(
        before,
        snapshot(&app),
        "uses of the previous token within its grace change nothing"
    );
    // The victim carries on.
    let next = signin::refresh(&app, &victim)
        .await
        .expect("the victim's refresh token still works");
    // The thief's token is now two generations old: reuse, and the grant ends for everyone.
    assert_invalid_grant(
        &refresh_raw(&app, &first, &first.refresh_token).await,
        "a token two rotations old",
    );
    assert!(signin::refresh(&app, &next).await.is_err(), "the grant is revoked");
    assert_eq!(tools_list(&app, "/mcp", Some(&next.bearer()), "").await.status(), 401);
    assert!(grant_keys(&app).is_empty(), "{:?}", grant_keys(&app));
}

/// M1/L3: one honest client refreshing with the same token from several requests at once is not
/// signed out: every request gets the same successor, and the chain goes on from it.
#[tokio::test]
async fn m1_concurrent_refreshes_with_one_token_get_one_successor_and_keep_the_grant() {
    let app = App::start().await.unwrap();
    let tokens = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let replies = join_all((0..4).map(|_| signin::refresh(&app, &tokens))).await;
    let successors: Vec<String> = replies
        .into_iter()
        .map(|r| r.expect("a concurrent refresh failed").refresh_token)
        .collect();
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "concurrent refreshes gave different refresh tokens"
    );
    let rotated = Tokens {
        refresh_token: successors[0].clone(),
        ..tokens.clone()
    };
    let next = signin::refresh(&app, &rotated)
        .await
        .expect("the shared successor works");
    assert!(signin::refresh(&app, &next).await.is_ok());
    assert_eq!(tools_list(&app, "/mcp", Some(&next.bearer()), "").await.status(), 200);
}

/// M4: whoever could write the store (an unauthenticated Redis) could plant a refresh state with
/// the SHA-256 of a token of their choosing and mint tokens for any user. Records are now
/// authenticated and tokens stored as keyed hashes: the planted record is refused.
#[tokio::test]
async fn m4_a_planted_refresh_record_is_refused() {
    let app = App::start().await.unwrap();
    let alice = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let (slot, grant) = only_grant(&app);
    let nonce = grant["n"].as_str().unwrap();
    let client_id = grant["c"].as_str().unwrap();
    assert_eq!(
        client_id, alice.client_id,
        "the grant names its client in clear, as an attacker reads it"
    );
    let chosen = format!("krt_{slot}.{nonce}.{}", signin::random_b64::<32>().unwrap());
    let planted = json!({"n": nonce, "g": 0, "cur": sha256_b64(&chosen), "e": unix_now() + 86_400});
    kv_store::put(&app, &format!("rt:{slot}"), &serde_json::to_vec(&planted).unwrap()).unwrap();

    let reply = signin::post_token(&app, &refresh_form(&chosen), client_id, None)
        .await
        .unwrap();
    assert_invalid_grant(&reply, "a refresh token whose hash was planted in the store");
    assert!(reply.body["access_token"].is_null());
    // Whatever the attacker writes next, a record without the application's MAC is never trusted:
    // alice's own refresh now meets the planted record, refuses it and removes it.
    assert!(signin::refresh(&app, &alice).await.is_err());
    assert!(
        kv_store::get(&app, &format!("rt:{slot}")).unwrap().is_none(),
        "the planted record is removed"
    );
}

/// M4: a forged grant record (alice's encrypted kintone tokens, re-pointed to the attacker's
/// client, code and PKCE challenge) used to redeem for tokens acting as alice at kintone.
#[tokio::test]
async fn m4_a_forged_grant_record_is_refused_and_nothing_reaches_kintone() {
    let app = App::start().await.unwrap();
    let _alice = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let (slot, mut grant) = only_grant(&app);
    let nonce = grant["n"].as_str().unwrap().to_owned();
    let attacker = signin::register_public(&app, "attacker").await.unwrap();
    let pkce = Pkce::new().unwrap();
    let code = format!("kac_{slot}.{nonce}.{}", signin::random_b64::<32>().unwrap());
    grant["c"] = json!(attacker.client_id);
    grant["p"] = json!({"k": "pending", "h": sha256_b64(&code), "e": unix_now() + 600, "pk": pkce.challenge, "u": CLIENT_REDIRECT_URI, "ux": true});
    kv_store::put(&app, &format!("g:{slot}"), &serde_json::to_vec(&grant).unwrap()).unwrap();

    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CLIENT_REDIRECT_URI),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let reply = signin::post_token(&app, &form, &attacker.client_id, None)
        .await
        .unwrap();
    assert_invalid_grant(&reply, "a code whose grant record was forged in the store");
    if let Some(token) = reply.body["access_token"].as_str() {
        tools_list(&app, "/mcp", Some(&format!("Bearer {token}")), "").await;
    }
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
        "the forged grant reached kintone"
    );
    assert!(
        kv_store::get(&app, &format!("g:{slot}")).unwrap().is_none(),
        "the forged record is removed"
    );
}

/// L2: one allowed user automating sign-ins (a new client each time) used to evict every other
/// user's grant once the table was full. Now a sign-in may evict only an unredeemed code: with the
/// table full of active grants the attacker's further sign-ins fail and alice keeps her grant.
#[tokio::test]
async fn l2_automated_sign_ins_cannot_evict_another_users_grant() {
    let options = Options {
        variables: vec![("max_grants".into(), "4".into())],
        ..Options::default()
    };
    let app = App::start_with(options).await.unwrap();
    let alice = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let mut refused = 0;
    for _ in 0..6 {
        if signin::sign_in(&app, "bob", "/mcp").await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 3,
        "three of bob's sign-ins fit beside alice's grant; the rest are refused"
    );
    assert_eq!(
        tools_list(&app, "/mcp", Some(&alice.bearer()), "").await.status(),
        200,
        "alice's grant survived"
    );
    assert!(signin::refresh(&app, &alice).await.is_ok());
    assert_eq!(grant_keys(&app).len(), 8);
}

/// L2: one client signing in again and again keeps at most five grants, replacing its own oldest.
#[tokio::test]
async fn l2_one_client_keeps_at_most_five_grants_replacing_its_oldest() {
    let app = App::start().await.unwrap();
    let alice = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let mut flow = Flow::new(&app, "/mcp").await.unwrap();
    let mut grants = vec![];
    for _ in 0..7 {
        // Grants record their creation to the second: one second apart, "oldest" is exact.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let code = flow.code_for("bob").await.unwrap();
        grants.push(flow.exchange(&code).await.unwrap());
    }
    let mut alive = vec![];
    for tokens in &grants {
        alive.push(tools_list(&app, "/mcp", Some(&tokens.bearer()), "").await.status() == 200);
    }
    assert_eq!(alive, [false, false, true, true, true, true, true]);
    assert_eq!(tools_list(&app, "/mcp", Some(&alice.bearer()), "").await.status(), 200);
    assert_eq!(grant_keys(&app).len(), 2 * 6);
}

/// L3: concurrent redemptions of one code never give two refresh tokens: either all succeed with
/// the same one (the refresh token is derived from the code), or one came after the other's
/// activation, which is a replay and revokes the grant.
#[tokio::test]
async fn l3_concurrent_redemptions_of_one_code_never_give_two_refresh_tokens() {
    let app = App::start().await.unwrap();
    for round in 0..3 {
        let mut flow = Flow::new(&app, "/mcp").await.unwrap();
        let code = flow.code_for("alice").await.unwrap();
        let replies = join_all((0..3).map(|_| flow.exchange_raw(&code, &[]))).await;
        let replies: Vec<JsonReply> = replies.into_iter().map(Result::unwrap).collect();
        let issued: Vec<&str> = replies
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.body["refresh_token"].as_str())
            .collect();
        assert!(
            !issued.is_empty() || replies.iter().all(|r| r.error() == Some("invalid_grant")),
            "round {round}: {replies:?}"
        );
        if replies.iter().all(|r| r.status == 200) {
            assert!(
                issued.iter().all(|t| *t == issued[0]),
                "round {round}: two refresh tokens for one code"
            );
            let response = refresh_raw(&app, &template(&flow), issued[0]).await;
            assert_eq!(response.status, 200, "round {round}: {response:?}");
        } else {
            // A replay was detected: nothing issued for this code may work any more.
            for token in issued {
                assert_invalid_grant(
                    &refresh_raw(&app, &template(&flow), token).await,
                    "a token of a replayed code",
                );
            }
        }
    }
}

fn template(flow: &Flow<'_>) -> Tokens {
    Tokens {
        access_token: String::new(),
        refresh_token: String::new(),
        token_type: "Bearer".into(),
        expires_in: 0,
        scope: String::new(),
        client_id: flow.client.client_id.clone(),
        client_secret: flow.client.client_secret.clone(),
        redirect_uri: flow.client.redirect_uri.clone(),
        resource: flow.discovery.resource.clone(),
        user: String::new(),
    }
}

/// A client registered without the `refresh_token` grant type gets no refresh token and cannot
/// refresh (RFC 7591 §2); it used to get and use one like any other client.
#[tokio::test]
async fn a_client_registered_without_refresh_token_cannot_refresh() {
    let app = App::start().await.unwrap();
    let discovery = signin::discover(&app, "/mcp").await.unwrap();
    let client = signin::register(
        &app,
        &json!({"client_name": "code only", "redirect_uris": [CLIENT_REDIRECT_URI], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"]}),
    )
    .await
    .unwrap();
    assert_eq!(client.registration["grant_types"], json!(["authorization_code"]));
    let mut flow = Flow::with_client(&app, discovery, client).unwrap();
    let code = flow.code_for("alice").await.unwrap();
    let reply = flow.exchange_raw(&code, &[]).await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body["refresh_token"].is_null(),
        "no refresh token for a client that cannot use one"
    );
    let access = reply.body["access_token"].as_str().unwrap();
    assert_eq!(
        tools_list(&app, "/mcp", Some(&format!("Bearer {access}")), "")
            .await
            .status(),
        200
    );

    let attempt = signin::post_token(
        &app,
        &refresh_form("krt_0.AAAAAAAAAAAAAAAA.x"),
        &flow.client.client_id,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (attempt.status, attempt.error()),
        (400, Some("unauthorized_client")),
        "{attempt:?}"
    );
}

/// A confidential client must authenticate with the method it registered: its secret sent the
/// other way is refused (it used to be accepted either way), and nothing changes.
#[tokio::test]
async fn a_confidential_client_must_use_its_registered_authentication_method() {
    let app = App::start().await.unwrap();
    for (method, wrong_way) in [("client_secret_basic", "form"), ("client_secret_post", "basic")] {
        let discovery = signin::discover(&app, "/mcp").await.unwrap();
        let client = signin::register_confidential(&app, "Postman", method).await.unwrap();
        let secret = client.client_secret.clone().unwrap();
        let mut flow = Flow::with_client(&app, discovery, client).unwrap();
        let code = flow.code_for("alice").await.unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CLIENT_REDIRECT_URI),
            ("code_verifier", flow.pkce.verifier.as_str()),
            ("resource", flow.discovery.resource.as_str()),
        ];
        let mut in_form = form.to_vec();
        in_form.extend([
            ("client_id", flow.client.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ]);
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", flow.client.client_id))
        );
        let before = snapshot(&app);
        let refused = match wrong_way {
            "form" => signin::post_form(&app, "/token", &in_form, None).await.unwrap(),
            _ => signin::post_form(&app, "/token", &form, Some(&basic)).await.unwrap(),
        };
        assert_eq!(
            (refused.status, refused.error()),
            (401, Some("invalid_client")),
            "{method} sent as {wrong_way}: {refused:?}"
        );
        assert_eq!(
            before,
            snapshot(&app),
            "{method}: a refused authentication changed the store"
        );
        let accepted = match wrong_way {
            "form" => signin::post_form(&app, "/token", &form, Some(&basic)).await.unwrap(),
            _ => signin::post_form(&app, "/token", &in_form, None).await.unwrap(),
        };
        assert_eq!(accepted.status, 200, "{method} the registered way: {accepted:?}");
    }
}
