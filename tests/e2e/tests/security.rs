//! The security regression suite, in one place. Each attack class and where it is tested:
//!
//! | attack | test |
//! |---|---|
//! | redirect-URI mismatch, dangerous redirect URIs (and Unicode or full-width look-alike hosts), PKCE missing/plain/wrong, code replay, expired codes, refresh-token reuse, tokens for another resource, CSRF, state replay, callback without the browser cookie, wrong client secret, revoked tokens, HTML in client names | `oauth_refusals.rs` (through the wasm app) |
//! | transport refusals (size, type, Accept, protocol version, Origin, Host, method), malformed JSON-RPC | `mcp_bad_input.rs` |
//! | legacy SSE messages for unknown or foreign sessions | `mcp_legacy_sse.rs` |
//! | any bytes / JSON-RPC shape / header at the MCP endpoint; refused legacy messages change nothing | `crates/mcp/tests/proptest_requests.rs`, fuzz target `mcp_request` |
//! | any query, form, Basic credentials, cookies at the OAuth routes; garbage callbacks never reach Cybozu | `crates/oauth/tests/proptest_requests.rs`, fuzz target `oauth_request` |
//! | any tool arguments and kintone answers; requests only to the kintone origin | `crates/kintone/tests/proptest_arguments.rs`, fuzz target `kintone_arguments` |
//! | forged, tampered, misplaced bearer tokens; hostile inputs over real HTTP (below) | this file |
//! | M2: consent POST replayed 500 times while a real sign-in completes; nothing stored | `security/browser_flow.rs` `replaying_the_approve_post_500_times_stores_nothing_and_a_real_sign_in_completes` |
//! | M3: remembered approval reused for another client id, a new scope or another resource | `security/browser_flow.rs` `a_remembered_approval_covers_only_its_client_id_resource_and_scopes` |
//! | L4: bidi / zero-width characters in `client_name` | `security/browser_flow.rs` `client_names_with_bidi_or_zero_width_characters_are_refused_at_registration` |
//! | L4: consent page hiding the redirect URI's path, presenting the name as fact | `security/browser_flow.rs` `the_consent_page_shows_the_full_redirect_uri_and_the_name_as_the_clients_claim` |
//! | denial at Cybozu never reaching the client (RFC 6749 §4.1.2.1) | `security/browser_flow.rs` `a_denial_at_cybozu_sends_access_denied_back_to_the_client` |
//! | M1: a thief's old refresh token presented 5 times pushing the victim's out; older tokens revoke | `security/token_store.rs` `m1_a_thief_replaying_an_old_refresh_token_cannot_push_the_victims_token_out` |
//! | M1/L3: concurrent refreshes with one token by one honest client signing it out | `security/token_store.rs` `m1_concurrent_refreshes_with_one_token_get_one_successor_and_keep_the_grant` |
//! | M4: a refresh record planted in the store (hash of a chosen token) | `security/token_store.rs` `m4_a_planted_refresh_record_is_refused` |
//! | M4: a forged grant record re-pointing a user's kintone tokens to the attacker's code | `security/token_store.rs` `m4_a_forged_grant_record_is_refused_and_nothing_reaches_kintone` |
//! | L2: automated sign-ins evicting other users' grants | `security/token_store.rs` `l2_automated_sign_ins_cannot_evict_another_users_grant` |
//! | L2: one client accumulating grants | `security/token_store.rs` `l2_one_client_keeps_at_most_five_grants_replacing_its_oldest` |
//! | L3: concurrent redemptions of one code giving two token sets, or a redemption writing after a replay revoked the grant and bringing it back (unit: `a_redemption_that_writes_after_a_replay_revoked_the_grant_undoes_its_writes`) | `security/token_store.rs` `l3_concurrent_redemptions_of_one_code_never_give_two_refresh_tokens` |
//! | refresh by a client registered without the `refresh_token` grant type | `security/token_store.rs` `a_client_registered_without_refresh_token_cannot_refresh` |
//! | a client secret sent another way than the registered `token_endpoint_auth_method` | `security/token_store.rs` `a_confidential_client_must_use_its_registered_authentication_method` |
//! | H1: tool calls spelt with JSON escapes (`tools\/call`, `\u` in method or name), escaped batches, legacy `/sse/message` beyond the token's scopes | `security/tool_scopes.rs` `escaped_tool_calls_need_their_scope_on_mcp_and_post_sse`, `a_batch_with_one_call_beyond_the_token_is_refused_whole`, `an_escaped_call_on_a_legacy_sse_session_is_refused_and_never_queued` |
//! | `Bearer` scheme in any case (RFC 9110) | `security/tool_scopes.rs` `the_bearer_scheme_is_case_insensitive` |
//! | L1: unbounded legacy SSE sessions per grant; a killed host's sessions left forever | `security/sse_sessions.rs` `sse_sessions_are_capped_per_grant_and_a_killed_hosts_sessions_are_collected` |
//! | client metadata document that is not JSON | `security/cimd.rs` `a_document_that_is_not_json_is_refused` |
//! | client metadata document naming another `client_id` | `security/cimd.rs` `a_document_naming_another_client_id_is_refused` |
//! | redirect URI the client metadata document does not list | `security/cimd.rs` `a_redirect_uri_the_document_does_not_list_is_refused` |
//! | oversized client metadata document | `security/cimd.rs` `an_oversized_document_is_refused_unread` |
//! | slow client metadata origin | `security/cimd.rs` `a_slow_origin_is_given_up_on_within_seconds` |
//! | redirect from a client metadata document URL | `security/cimd.rs` `a_redirect_from_the_document_url_is_not_followed` |
//! | non-https (or fragment, dot-segment, path-less) `client_id` URL | `security/cimd.rs` `a_non_https_client_id_is_refused_without_a_request` |
//! | `client_id` URL on an origin the operator did not allow (SSRF) | `security/cimd.rs` `a_disallowed_origin_is_never_contacted` |
//!
//! Fuzzing (see fuzz/README.md) found nothing so far; a finding gets its input added here.

use e2e::signin::{self, Tokens};
use e2e::{kv_store, App};
use std::collections::BTreeMap;

#[path = "security/browser_flow.rs"]
mod browser_flow;
#[path = "security/cimd.rs"]
mod cimd;
#[path = "security/sse_sessions.rs"]
mod sse_sessions;
#[path = "security/token_store.rs"]
mod token_store;
#[path = "security/tool_scopes.rs"]
mod tool_scopes;

type Snapshot = BTreeMap<(String, String), Vec<u8>>;

fn snapshot(app: &App) -> Snapshot {
    kv_store::snapshot(app).unwrap()
}

async fn tools_list(app: &App, path: &str, authorization: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("{path}{query}")))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// Variants of a real access token an attacker could try.
fn forgeries(tokens: &Tokens) -> Vec<(String, String)> {
    let token = &tokens.access_token;
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    vec![
        ("last character changed".into(), format!("Bearer {flipped}")),
        ("truncated".into(), format!("Bearer {}", &token[..token.len() / 2])),
        ("extended".into(), format!("Bearer {token}x")),
        (
            "refresh token as access token".into(),
            format!("Bearer {}", tokens.refresh_token),
        ),
        ("Basic scheme".into(), format!("Basic {token}")),
        ("scheme only".into(), "Bearer".into()),
        ("empty token".into(), "Bearer ".into()),
        ("two tokens".into(), format!("Bearer {token} {token}")),
        (
            "control characters".into(),
            "Bearer \u{1}\u{2}".replace(['\u{1}', '\u{2}'], "%01"),
        ),
        ("very long".into(), format!("Bearer {}", "A".repeat(16 * 1024))),
    ]
}

#[tokio::test]
async fn forged_or_tampered_bearer_tokens_get_401_and_never_reach_kintone() {
    let app = App::start().await.unwrap();
    let tokens = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    let before = snapshot(&app);
    for (what, authorization) in forgeries(&tokens) {
        for path in ["/mcp", "/sse"] {
            let response = tools_list(&app, path, Some(&authorization), "").await;
            assert_eq!(response.status(), 401, "{what} at {path}");
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(challenge.starts_with("Bearer "), "{what} at {path}: {challenge}");
        }
    }
    assert!(
        fake.requests().is_empty(),
        "a forged token reached kintone: {:?}",
        fake.requests()
    );
    assert_eq!(before, snapshot(&app), "refusing forged tokens changed the store");
    // The real token still works afterwards.
    assert_eq!(tools_list(&app, "/mcp", Some(&tokens.bearer()), "").await.status(), 200);
}

#[tokio::test]
async fn an_access_token_in_the_query_string_is_not_accepted() {
    let app = App::start().await.unwrap();
    let tokens = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let query = format!("?access_token={}", tokens.access_token);
    let response = tools_list(&app, "/mcp", None, &query).await;
    assert_eq!(
        response.status(),
        401,
        "RFC 6750 query tokens must not be honoured (they leak into logs)"
    );
}

/// Inputs the property tests and fuzzers generate, replayed over real HTTP against the wasm app:
/// each gets a 4xx, changes nothing, and the server keeps answering.
#[tokio::test]
async fn hostile_oauth_inputs_over_http_are_refused_and_change_nothing() {
    let app = App::start().await.unwrap();
    let http = e2e::http_client();
    let long = "A".repeat(64 * 1024);
    // URIs are limited to 64 KiB by the http crate on the client side already.
    let long_query = "A".repeat(8 * 1024);
    /// (method, path, query, content type, extra header "name: value", body)
    type Case = (
        &'static str,
        &'static str,
        String,
        Option<&'static str>,
        Option<String>,
        Vec<u8>,
    );
    let cases: Vec<Case> = vec![
        // (method, path, query, content type, extra header "name: value", body)
        (
            "GET",
            "/authorize",
            "?response_type=code&response_type=code&client_id=x".into(),
            None,
            None,
            vec![],
        ),
        (
            "GET",
            "/authorize",
            "?client_id=%ff%fe&redirect_uri=%00".into(),
            None,
            None,
            vec![],
        ),
        (
            "GET",
            "/authorize",
            format!("?client_id={long_query}"),
            None,
            None,
            vec![],
        ),
        (
            "POST",
            "/authorize",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            Some(format!("cookie: __Host-kmcp-csrf={long}")),
            b"request=%%%&csrf_token=".to_vec(),
        ),
        (
            "POST",
            "/token",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            None,
            b"grant_type=authorization_code&grant_type=refresh_token".to_vec(),
        ),
        (
            "POST",
            "/token",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            Some("authorization: Basic %%%".into()),
            b"grant_type=authorization_code&code=a.b.c".to_vec(),
        ),
        (
            "POST",
            "/token",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            Some("authorization: Basic Og==".into()),
            b"grant_type=refresh_token&refresh_token=rt.0.x.y".to_vec(),
        ),
        (
            "POST",
            "/token",
            String::new(),
            Some("application/json"),
            None,
            br#"{"grant_type":"authorization_code"}"#.to_vec(),
        ),
        (
            "POST",
            "/token",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            None,
            vec![0xff, 0xfe, b'=', 0x00],
        ),
        (
            "POST",
            "/register",
            String::new(),
            Some("application/json"),
            None,
            b"{\"redirect_uris\":[\"javascript:alert(1)\"]}".to_vec(),
        ),
        (
            "POST",
            "/register",
            String::new(),
            Some("application/json"),
            None,
            format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        (
            "POST",
            "/revoke",
            String::new(),
            Some("application/x-www-form-urlencoded"),
            None,
            format!("token={long}").into_bytes(),
        ),
        (
            "GET",
            "/callback",
            "?code=x&state=%00%00".into(),
            None,
            Some("cookie: ;;;=;".into()),
            vec![],
        ),
        (
            "GET",
            "/callback",
            "?error=access_denied&state=forged".into(),
            None,
            None,
            vec![],
        ),
    ];
    let before = snapshot(&app);
    for (method, path, query, content_type, header, body) in cases {
        let mut request = http
            .request(method.parse().unwrap(), app.url(&format!("{path}{query}")))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(header) = &header {
            let (name, value) = header.split_once(": ").unwrap();
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{method} {path}{} answered {status}",
            query.chars().take(60).collect::<String>()
        );
        if path == "/token" {
            assert_eq!(
                response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "{path}"
            );
        }
    }
    assert_eq!(before, snapshot(&app), "a refused request changed the store");
    assert!(
        app.fake.as_ref().unwrap().requests().is_empty(),
        "a refused request reached Cybozu"
    );
    // Still healthy: a full sign-in works after all that.
    let tokens = signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    assert_eq!(tools_list(&app, "/mcp", Some(&tokens.bearer()), "").await.status(), 200);
}
