//! The OAuth 2.1 authorization server of kintone-mcp-spin and its Cybozu callback, as plain
//! request handlers (`http::Request<Vec<u8>>` → `http::Response<Vec<u8>>`). The Spin components
//! `oauth-provider` and `cybozu-callback` only convert requests and open the store.
//!
//! | route | method | what |
//! |---|---|---|
//! | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | GET | RFC 8414 metadata |
//! | `/.well-known/oauth-protected-resource` (+ `/mcp`, `/sse`) | GET | RFC 9728 metadata, `resource` = the URL connected to |
//! | `/register` | POST | RFC 7591 registration (self-contained signed client ids: nothing stored) |
//! | `/authorize` | GET, POST | validate, consent page (JA/EN) or remembered approval, then Cybozu |
//!
//! (At `/authorize`, `/token` and `/revoke` a `client_id` is either one `/register` issued or
//! an `https` URL naming the client's metadata document, fetched and cached by `grants::cimd`.)
//! | `/callback` | GET | Cybozu's redirect: sealed state + browser check, code exchange, grant, our code |
//! | `/token` | POST | `authorization_code` (PKCE S256) and `refresh_token` (rotation) |
//! | `/revoke` | POST | RFC 7009 |
//!
//! Our tokens carry kintone's six scope names (see the `grants` crate docs); the MCP endpoint uses
//! [`www_authenticate`] for its 401/403 challenges and `grants::resolve_bearer` for the token.
//!
//! The issuer is `public_url` when configured, else the request's origin from Spin's
//! `spin-full-url` header (or `Host`). Cybozu's redirect endpoint must be `<issuer>/callback`,
//! so a deployment behind a proxy must set `public_url`.

mod authorize;
mod browser;
mod callback;
mod challenge;
mod client_auth;
mod clients;
mod metadata;
mod pages;
mod register;
mod revoke;
mod token;
mod web;

pub use browser::{APPROVED_COOKIE, CSRF_COOKIE, SIGNIN_COOKIE};
pub use challenge::{challenge_response, www_authenticate, Challenge};
pub use metadata::{authorization_server_metadata, protected_resource_metadata, protected_resource_metadata_url};
pub use pages::Lang;
pub use web::{Request, Response};

use authorize::Ctx;
use clients::Clients;
use grants::{issuer_for, CimdPolicy, Config};
use http::{header, Method, StatusCode};
use platform::{HttpClient, KeyValue};
use web::{method_not_allowed, not_found, oauth_error, preflight, Reply};

const WELL_KNOWN_AS: &str = "/.well-known/oauth-authorization-server";
const WELL_KNOWN_OIDC: &str = "/.well-known/openid-configuration";
const WELL_KNOWN_PRM: &str = "/.well-known/oauth-protected-resource";

/// Every route of the `oauth-provider` component at `now`. A `client_id` that is an `https` URL
/// (a Client ID Metadata Document) at `/authorize`, `/token` or `/revoke` is resolved first,
/// through `http`, from the origins `cimd` allows.
pub async fn handle_provider(
    config: &Config,
    cimd: &CimdPolicy,
    kv: &impl KeyValue,
    http: &impl HttpClient,
    request: &Request,
    now: u64,
) -> Response {
    let resolved = match document_client_id(request) {
        Some(id) => {
            let outcome = grants::resolve_document_client(config, cimd, kv, http, &id, now).await;
            if let Err(e) = &outcome {
                web::security_event(format_args!(
                    "client metadata document for client {} refused: {e}",
                    web::client_label(&id)
                ));
            }
            Some((id, outcome))
        }
        None => None,
    };
    route(config, kv, request, now, Clients::new(config, kv, now, resolved))
}

/// The routes without outbound HTTP: a URL client id resolves only from the document cache
/// (tests and fuzzing of everything else).
pub fn handle_provider_cached(config: &Config, kv: &impl KeyValue, request: &Request, now: u64) -> Response {
    route(config, kv, request, now, Clients::new(config, kv, now, None))
}

/// The URL `client_id` a request carries where it must be resolved before handling: the query of
/// `GET /authorize`, the form of `POST /token` and `/revoke`. Parsed as the handlers will parse
/// it; a request they will refuse anyway resolves nothing.
fn document_client_id(request: &Request) -> Option<String> {
    let params = match (request.uri().path(), request.method()) {
        ("/authorize", &Method::GET) => web::query_params(request).ok()?,
        ("/token" | "/revoke", &Method::POST) => web::form_params(request).ok()?,
        _ => return None,
    };
    web::param(&params, "client_id")
        .filter(|id| grants::is_url_client_id(id))
        .map(str::to_owned)
}

fn route(config: &Config, kv: &impl KeyValue, request: &Request, now: u64, clients: Clients<'_>) -> Response {
    let path = request.uri().path();
    let method = request.method();
    let allow = match path {
        WELL_KNOWN_AS | WELL_KNOWN_OIDC => "GET",
        p if p == WELL_KNOWN_PRM
            || p.strip_prefix(WELL_KNOWN_PRM)
                .is_some_and(|rest| grants::MCP_RESOURCE_PATHS.contains(&rest)) =>
        {
            "GET"
        }
        "/register" | "/token" | "/revoke" => "POST",
        "/authorize" => "GET, POST",
        _ => return not_found(),
    };
    if method == Method::OPTIONS {
        return preflight(allow);
    }
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return method_not_allowed(allow);
    }
    let Some(issuer) = issuer_for(config, request.headers()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "cannot tell this server's public URL; set the public_url variable",
        );
    };
    match path {
        WELL_KNOWN_AS | WELL_KNOWN_OIDC => metadata::document(&authorization_server_metadata(&issuer)),
        "/register" => register::register(config, request, now),
        "/token" => token::token(config, &clients, kv, request, now),
        "/revoke" => revoke::revoke(config, &clients, kv, request),
        "/authorize" => {
            let ctx = Ctx {
                config,
                clients: &clients,
                issuer: &issuer,
                lang: lang_of(request),
                now,
            };
            if method == Method::GET {
                authorize::authorize_get(&ctx, request)
            } else {
                authorize::authorize_post(&ctx, request)
            }
        }
        prm => metadata::document(&protected_resource_metadata(&issuer, &prm[WELL_KNOWN_PRM.len()..])),
    }
}

/// The `/callback` route of the `cybozu-callback` component at `now`.
pub async fn handle_callback(
    config: &Config,
    kv: &impl KeyValue,
    http: &impl HttpClient,
    request: &Request,
    now: u64,
) -> Response {
    if request.uri().path() != "/callback" {
        return not_found();
    }
    if request.method() != Method::GET {
        return method_not_allowed("GET");
    }
    callback::callback(config, kv, http, request, lang_of(request), now).await
}

/// What a component answers when its configuration is unusable: 500, naming the variable and
/// the rule (never a value).
pub fn misconfigured(problem: impl std::fmt::Display) -> Response {
    Reply::new(StatusCode::INTERNAL_SERVER_ERROR)
        .no_store()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(format!("kintone-mcp is misconfigured: {problem}\n"))
        .finish()
}

fn lang_of(request: &Request) -> Lang {
    Lang::negotiate(
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}
