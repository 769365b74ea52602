//! Bearer authentication (one key-value read) and the user's kintone token refresh.

// A refusal is the complete HTTP response the component sends before returning; the instance
// serves one request, so carrying it by value in `Err` costs nothing worth a box.
#![allow(clippy::result_large_err)]

use crate::tools::KintoneTools;
use crate::Response;
use grants::{AuthError, ExposeSecret, RefreshError, Session};
use oauth::Challenge;
use platform::spin::{variable as var, SpinHttp, SpinStore};
use std::time::Duration;

/// Everything a request needs, read from Spin variables once per instance.
pub struct Endpoint {
    pub config: grants::Config,
    pub mcp: mcp::EndpointConfig,
    pub kv: SpinStore,
}

pub struct Authenticated {
    pub session: Session,
    pub tools: KintoneTools,
}

impl Endpoint {
    pub fn from_variables() -> Result<Endpoint, Response> {
        let config = grants::Config::from_lookup(var).map_err(oauth::misconfigured)?;
        let mut mcp = mcp::EndpointConfig {
            public_origin: config.public_url().map(str::to_owned),
            ..Default::default()
        };
        if let Some(seconds) = var("sse_max_seconds") {
            let Ok(seconds) = seconds.trim().parse::<u64>() else {
                return Err(oauth::misconfigured(
                    "sse_max_seconds must be a whole number of seconds",
                ));
            };
            mcp.stream.max_duration = Duration::from_secs(seconds);
        }
        let kv = SpinStore::open_default().map_err(|e| platform::unavailable_response(&e.to_string()))?;
        Ok(Endpoint { config, mcp, kv })
    }

    /// Which endpoint's metadata a challenge points to: `/sse` for both legacy routes.
    fn endpoint_path(request: &http::Request<Vec<u8>>) -> &'static str {
        if request.uri().path().starts_with("/sse") {
            "/sse"
        } else {
            "/mcp"
        }
    }

    fn issuer(&self, request: &http::Request<Vec<u8>>) -> Result<String, Response> {
        grants::issuer_for(&self.config, request.headers()).ok_or_else(|| {
            mcp::with_cors(bad_request(
                "Cannot tell this server's origin: set the public_url variable",
            ))
        })
    }

    /// Resolves the bearer token, refreshing the user's kintone token first when it has
    /// expired. A refusal is the complete response (401 with a challenge, or 503).
    pub async fn authenticate(&mut self, request: &http::Request<Vec<u8>>) -> Result<Authenticated, Response> {
        let issuer = self.issuer(request)?;
        let path = Self::endpoint_path(request);
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        let Some(token) = token else {
            return Err(challenge(&issuer, path, &Challenge::MissingToken));
        };
        let resource = format!("{issuer}{path}");
        let mut session = match grants::resolve_bearer(&self.kv, &self.config, token, &resource, platform::now_unix()) {
            Ok(s) => s,
            Err(AuthError::Backend(e)) => return Err(mcp::with_cors(platform::unavailable_response(&e.to_string()))),
            Err(e) => {
                let description = e.to_string();
                return Err(challenge(
                    &issuer,
                    path,
                    &Challenge::InvalidToken {
                        description: &description,
                    },
                ));
            }
        };
        if session.kintone_token_expired(platform::now_unix()) {
            self.refresh_in_place(request, &mut session).await?;
        }
        let tools = KintoneTools::new(
            self.config.kintone_base_url(),
            session.kintone_access_token.expose_secret(),
        );
        Ok(Authenticated { session, tools })
    }

    /// 403 `insufficient_scope` naming the kintone scopes a tool call needs that the token
    /// lacks, so the client can ask the user for them.
    pub fn insufficient_scope(&self, request: &http::Request<Vec<u8>>, missing: &[String]) -> Response {
        let issuer = match self.issuer(request) {
            Ok(issuer) => issuer,
            Err(refusal) => return refusal,
        };
        let required = grants::Scopes::parse_lenient(&missing.join(" "));
        let description = format!("this tool needs the kintone permission {required}; reconnect and approve it");
        challenge(
            &issuer,
            Self::endpoint_path(request),
            &Challenge::InsufficientScope {
                required,
                description: &description,
            },
        )
    }

    /// kintone said 401: refresh the user's kintone token and give tools bound to the new one.
    pub async fn refresh(
        &mut self,
        request: &http::Request<Vec<u8>>,
        session: &mut Session,
    ) -> Result<KintoneTools, Response> {
        self.refresh_in_place(request, session).await?;
        Ok(KintoneTools::new(
            self.config.kintone_base_url(),
            session.kintone_access_token.expose_secret(),
        ))
    }

    async fn refresh_in_place(
        &mut self,
        request: &http::Request<Vec<u8>>,
        session: &mut Session,
    ) -> Result<(), Response> {
        match grants::refresh_session(&self.kv, &self.config, &SpinHttp, session, platform::now_unix()).await {
            Ok(fresh) => {
                *session = fresh;
                Ok(())
            }
            Err(RefreshError::GrantRevoked) => {
                let issuer = self.issuer(request)?;
                let description = "kintone no longer accepts this sign-in; sign in again";
                Err(challenge(
                    &issuer,
                    Self::endpoint_path(request),
                    &Challenge::InvalidToken { description },
                ))
            }
            Err(e) => Err(mcp::with_cors(platform::unavailable_response(&e.to_string()))),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1); anything else, or an empty token, is no bearer token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn challenge(issuer: &str, path: &str, challenge: &Challenge<'_>) -> Response {
    mcp::with_cors(oauth::challenge_response(issuer, path, challenge))
}

fn bad_request(text: &str) -> Response {
    let mut response = http::Response::new(format!("{text}\n").into_bytes());
    *response.status_mut() = http::StatusCode::BAD_REQUEST;
    response
}

/// The kintone scopes the token was granted, under kintone's names, as the tool catalogue
/// declares what each tool needs.
pub fn scope_names(session: &Session) -> Vec<&'static str> {
    session.scopes.iter().map(grants::Scope::name).collect()
}
