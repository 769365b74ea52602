//! `/callback`: Cybozu sends the user back here. Open the sealed state and check its browser
//! binding, exchange the code once, store the encrypted grant, and send the user to the MCP client
//! with our code. A refusal at Cybozu goes back to the client as `access_denied`; every other
//! failure ends on an error page and creates nothing.
//!
//! The state is sealed, not stored (see `grants::signin` for why a state presented twice does no
//! harm). As a courtesy on top, the browser remembers in a signed cookie which states it completed,
//! so reloading or replaying a callback URL in that browser stops here instead of sending a spent
//! code to Cybozu.

use crate::browser::{self, SIGNIN_COOKIE};
use crate::pages::{ErrorPage, Lang};
use crate::web::{client_label, cookie, param, query_params, redirect, security_event, with_query, Request, Response};
use grants::{
    create_grant, exchange_code, finish_signin, AuthorizationRequest, Config, CybozuError, ExposeSecret, SigninError,
};
use http::{header, StatusCode};
use platform::{HttpClient, KeyValue};

pub async fn callback(
    config: &Config,
    kv: &impl KeyValue,
    http: &impl HttpClient,
    request: &Request,
    lang: Lang,
    now: u64,
) -> Response {
    let Ok(params) = query_params(request) else {
        return ErrorPage::InvalidRequest.render(lang);
    };
    let Some(state) = param(&params, "state") else {
        return ErrorPage::SigninUnknown.render(lang);
    };
    let binding = cookie(request, SIGNIN_COOKIE);
    let signin = match finish_signin(config, state, binding.as_deref(), now) {
        Ok(s) => s,
        Err(SigninError::UnknownState) => return ErrorPage::SigninUnknown.render(lang),
        Err(SigninError::Expired) => return ErrorPage::SigninExpired.render(lang),
        Err(SigninError::MissingBrowserCookie | SigninError::WrongBrowser) => {
            return ErrorPage::SigninOtherBrowser.render(lang)
        }
    };
    if browser::is_completed(config, request, state, now) {
        return ErrorPage::SigninUnknown.render(lang);
    }
    if let Some(error) = param(&params, "error") {
        return refused_at_cybozu(&signin.request, error, lang);
    }
    let Some(code) = param(&params, "code") else {
        return ErrorPage::InvalidRequest.render(lang);
    };
    let tokens = match exchange_code(http, config, code, &signin.callback_uri, now).await {
        Ok(t) => t,
        Err(CybozuError::Unavailable(_)) => return ErrorPage::CybozuUnavailable.render(lang),
        // Cybozu's code is single-use and short-lived: `invalid_grant` here is this browser
        // replaying or resuming a finished sign-in (400, start again), not a server fault.
        Err(CybozuError::InvalidGrant) => return ErrorPage::SigninUnknown.render(lang),
        Err(_) => return ErrorPage::CybozuRejected.render(lang),
    };
    let our_code = match create_grant(kv, config, &signin.request, &tokens, now) {
        Ok(c) => c,
        Err(grants::BackendError::Full(_)) => return ErrorPage::ServerFull.render(lang),
        Err(_) => return ErrorPage::ServerError.render(lang),
    };
    let mut pairs = vec![("code", our_code.expose_secret())];
    if let Some(state) = &signin.request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &signin.request.issuer));
    let Some(location) = with_query(&signin.request.redirect_uri, &pairs) else {
        return ErrorPage::ServerError.render(lang);
    };
    security_event(format_args!(
        "sign-in completed: client {} scopes \"{}\" resource {}",
        client_label(&signin.request.client_id),
        signin.request.scopes,
        signin.request.resource
    ));
    let completed = browser::remember_completed(config, request, state, signin.expires_at, now);
    redirect(StatusCode::FOUND, &location)
        .header(header::SET_COOKIE, completed)
        .finish()
}

/// Cybozu answered with an error (the user denied, or Cybozu could not go on): tell the client,
/// whose redirect URI the sealed state vouches for, with `access_denied` (RFC 6749 §4.1.2.1),
/// its `state` and our `iss`. Cybozu's own code is logged (sanitised), not forwarded: it speaks
/// of our client at Cybozu, not of the MCP client's request.
fn refused_at_cybozu(request: &AuthorizationRequest, error: &str, lang: Lang) -> Response {
    let upstream: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    security_event(format_args!(
        "sign-in refused at Cybozu ({upstream}): client {} told access_denied",
        client_label(&request.client_id)
    ));
    let description = if upstream == "access_denied" {
        "the user denied access at Cybozu"
    } else {
        "the sign-in at Cybozu did not complete"
    };
    let mut pairs = vec![("error", "access_denied"), ("error_description", description)];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &request.issuer));
    match with_query(&request.redirect_uri, &pairs) {
        Some(location) => redirect(StatusCode::FOUND, &location).finish(),
        None => if upstream == "access_denied" {
            ErrorPage::CybozuDenied
        } else {
            ErrorPage::CybozuError(upstream)
        }
        .render(lang),
    }
}
