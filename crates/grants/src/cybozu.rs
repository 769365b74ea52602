//! Client of Cybozu's OAuth token endpoint (`{kintone_base_url}/oauth2/token`).
//!
//! Facts (reference kintone-api.md §10.3): form body, HTTP Basic client authentication,
//! `expires_in` as a number or a string, refresh responses without a new `refresh_token`
//! (keep the old one), RFC 6749 JSON errors where only `invalid_grant` means the grant is gone.
//! One attempt per code: a failed exchange is final (the original replayed codes).

use crate::Config;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use platform::HttpClient;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Cybozu documents one hour; used when a response omits `expires_in`.
const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Token responses are a few hundred bytes; anything far larger is not a token response.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The user's kintone tokens as Cybozu issued them.
pub struct KintoneTokens {
    pub access_token: SecretString,
    /// Present after a code exchange; usually absent after a refresh (keep the old one).
    pub refresh_token: Option<SecretString>,
    /// Unix time at which the access token expires.
    pub expires_at: u64,
    pub scope: Option<String>,
}

impl std::fmt::Debug for KintoneTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KintoneTokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why Cybozu gave no tokens. Messages carry status and error code only, never bodies or tokens.
#[derive(Debug, thiserror::Error)]
pub enum CybozuError {
    /// The code or refresh token is invalid, expired or revoked (e.g. the user was removed from
    /// the OAuth client's allowed users): the grant is dead.
    #[error("Cybozu refused the grant (invalid_grant)")]
    InvalidGrant,
    /// Any other refusal (bad client credentials, redirect mismatch, bad request).
    #[error("Cybozu refused the token request: HTTP {status}, error {error}")]
    Rejected { status: u16, error: String },
    /// Network failure or a 5xx: transient, try again later.
    #[error("Cybozu's token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// A 2xx that is not a usable token response.
    #[error("Cybozu sent an unusable token response: {0}")]
    Malformed(&'static str),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: Option<String>,
}

/// Exchange the authorization code Cybozu sent to `/callback`. `redirect_uri` must be the one
/// sent in the authorization request.
pub async fn exchange_code(
    http: &impl HttpClient,
    config: &Config,
    code: &str,
    redirect_uri: &str,
    now: u64,
) -> Result<KintoneTokens, CybozuError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .finish();
    let tokens = post_token_request(http, config, body, now).await?;
    if tokens.refresh_token.is_none() {
        // Without a refresh token the user would be locked out after an hour.
        return Err(CybozuError::Malformed("no refresh_token in the code exchange response"));
    }
    Ok(tokens)
}

/// Get a new kintone access token with the grant's refresh token.
pub async fn refresh_kintone_token(
    http: &impl HttpClient,
    config: &Config,
    refresh_token: &SecretString,
    now: u64,
) -> Result<KintoneTokens, CybozuError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.expose_secret())
        .finish();
    post_token_request(http, config, body, now).await
}

async fn post_token_request(
    http: &impl HttpClient,
    config: &Config,
    body: String,
    now: u64,
) -> Result<KintoneTokens, CybozuError> {
    // Cybozu client ids and secrets are URL-safe; real clients send them unencoded.
    let credentials = format!(
        "{}:{}",
        config.cybozu_client_id(),
        config.cybozu_client_secret().expose_secret()
    );
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(config.cybozu_token_endpoint())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(credentials)),
        )
        .body(body.into_bytes())
        .map_err(|_| CybozuError::Unavailable("could not build the token request".into()))?;
    let response = http
        .send(request)
        .await
        .map_err(|e| CybozuError::Unavailable(e.to_string()))?;
    let status = response.status();
    let body = response.body();
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(CybozuError::Malformed("response body too large"));
    }
    if status.is_server_error() {
        return Err(CybozuError::Unavailable(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        let error = serde_json::from_slice::<ErrorResponse>(body)
            .ok()
            .and_then(|e| e.error)
            .map(|e| sanitize_code(&e))
            .unwrap_or_else(|| "unknown".into());
        if error == "invalid_grant" {
            return Err(CybozuError::InvalidGrant);
        }
        return Err(CybozuError::Rejected {
            status: status.as_u16(),
            error,
        });
    }
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|_| CybozuError::Malformed("not a JSON token response"))?;
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(CybozuError::Malformed("no access_token"))?;
    if let Some(kind) = &parsed.token_type {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(CybozuError::Malformed("token_type is not bearer"));
        }
    }
    let expires_in = match parsed.expires_in {
        None | Some(serde_json::Value::Null) => DEFAULT_EXPIRES_IN,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or(CybozuError::Malformed("expires_in is not a whole number"))?,
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| CybozuError::Malformed("expires_in is not a whole number"))?,
        Some(_) => return Err(CybozuError::Malformed("expires_in is not a number")),
    };
    Ok(KintoneTokens {
        access_token: SecretString::from(access_token),
        refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
        expires_at: now.saturating_add(expires_in),
        scope: parsed.scope,
    })
}

/// Keep an upstream error code printable and short: it ends up in logs and on error pages.
fn sanitize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config_with, test_config, FakeTokenEndpoint};
    use platform::OutboundError;

    #[tokio::test]
    async fn exchanges_a_code_with_basic_auth() {
        let fake = FakeTokenEndpoint::new();
        fake.add_code("code-1", "access-1", "refresh-1");
        let tokens = exchange_code(
            &fake,
            &test_config(),
            "code-1",
            "https://mcp.example.com/callback",
            1000,
        )
        .await
        .unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "access-1");
        assert_eq!(tokens.refresh_token.as_ref().unwrap().expose_secret(), "refresh-1");
        assert_eq!(tokens.expires_at, 4600);
        assert!(fake.requests.borrow()[0].contains("redirect_uri=https%3A%2F%2Fmcp.example.com%2Fcallback"));
        // A second use of the same code is refused (and we never retry with another method).
        let err = exchange_code(&fake, &test_config(), "code-1", "x", 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, CybozuError::InvalidGrant));
        assert_eq!(fake.requests.borrow().len(), 2);
    }

    #[tokio::test]
    async fn refresh_keeps_no_new_refresh_token_and_parses_string_expiry() {
        let fake = FakeTokenEndpoint::new();
        fake.add_code("c", "a", "r");
        let tokens = refresh_kintone_token(&fake, &test_config(), &SecretString::from("r"), 10)
            .await
            .unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "refreshed-1");
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.expires_at, 3610);
        fake.revoke_refresh("r");
        assert!(matches!(
            refresh_kintone_token(&fake, &test_config(), &SecretString::from("r"), 10).await,
            Err(CybozuError::InvalidGrant)
        ));
    }

    #[tokio::test]
    async fn transport_failures_and_rejections_are_told_apart() {
        let fake = FakeTokenEndpoint::new();
        *fake.down.borrow_mut() = true;
        let err = exchange_code(&fake, &test_config(), "c", "x", 0).await.unwrap_err();
        assert!(matches!(err, CybozuError::Unavailable(_)));

        let wrong_secret = config_with(&[("cybozu_client_secret", "not-the-secret")]);
        *fake.down.borrow_mut() = false;
        let err = exchange_code(&fake, &wrong_secret, "c", "x", 0).await.unwrap_err();
        assert!(matches!(&err, CybozuError::Rejected { status: 401, error } if error == "invalid_client"));
        assert!(!err.to_string().contains("not-the-secret"));
    }

    struct Canned(u16, &'static str);
    impl HttpClient for Canned {
        async fn send(&self, _: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
            Ok(http::Response::builder()
                .status(self.0)
                .body(self.1.as_bytes().to_vec())
                .unwrap())
        }
    }

    #[tokio::test]
    async fn odd_responses_are_classified() {
        let config = test_config();
        let r = SecretString::from("r");
        type Check = fn(&CybozuError) -> bool;
        let cases: [(Canned, Check); 7] = [
            (Canned(503, "<html>maintenance</html>"), |e| {
                matches!(e, CybozuError::Unavailable(_))
            }),
            (Canned(400, "not json"), |e| {
                matches!(e, CybozuError::Rejected { status: 400, .. })
            }),
            (
                Canned(400, r#"{"error":"<script>"}"#),
                |e| matches!(e, CybozuError::Rejected { error, .. } if error == "script"),
            ),
            (Canned(200, "{}"), |e| matches!(e, CybozuError::Malformed(_))),
            (Canned(200, r#"{"access_token":"a","token_type":"mac"}"#), |e| {
                matches!(e, CybozuError::Malformed(_))
            }),
            (Canned(200, r#"{"access_token":"a","expires_in":"soon"}"#), |e| {
                matches!(e, CybozuError::Malformed(_))
            }),
            (Canned(200, r#"{"access_token":"a","expires_in":-5}"#), |e| {
                matches!(e, CybozuError::Malformed(_))
            }),
        ];
        for (i, (canned, check)) in cases.iter().enumerate() {
            let err = refresh_kintone_token(canned, &config, &r, 0).await.unwrap_err();
            assert!(check(&err), "case {i}: {err}");
        }
        // A code exchange without a refresh token is useless to us.
        let err = exchange_code(&Canned(200, r#"{"access_token":"a"}"#), &config, "c", "x", 0)
            .await
            .unwrap_err();
        assert!(matches!(err, CybozuError::Malformed(_)));
        // Missing expires_in falls back to one hour.
        let ok = refresh_kintone_token(&Canned(200, r#"{"access_token":"a"}"#), &config, &r, 5)
            .await
            .unwrap();
        assert_eq!(ok.expires_at, 3605);
    }
}
