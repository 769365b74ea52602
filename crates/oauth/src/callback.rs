//! `/callback`: Cybozu sends the user back here. Check the state and its browser binding, exchange
//! the code once, store the encrypted grant, and send the user to the MCP client with our code.
//! Every failure ends on an error page and creates nothing.

use crate::browser::SIGNIN_COOKIE;
use crate::pages::{ErrorPage, Lang};
use crate::web::{cookie, param, query_params, redirect, with_query, Request, Response};
use grants::{create_grant, exchange_code, finish_signin, Config, CybozuError, ExposeSecret, SigninError};
use http::StatusCode;
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
    let signin = match finish_signin(kv, state, binding.as_deref(), now) {
        Ok(s) => s,
        Err(SigninError::UnknownState) => return ErrorPage::SigninUnknown.render(lang),
        Err(SigninError::Expired) => return ErrorPage::SigninExpired.render(lang),
        Err(SigninError::MissingBrowserCookie | SigninError::WrongBrowser) => return ErrorPage::SigninOtherBrowser.render(lang),
        Err(SigninError::Backend(_)) => return ErrorPage::ServerError.render(lang),
    };
    if let Some(error) = param(&params, "error") {
        let code: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        return if code == "access_denied" { ErrorPage::CybozuDenied } else { ErrorPage::CybozuError(code) }.render(lang);
    }
    let Some(code) = param(&params, "code") else {
        return ErrorPage::InvalidRequest.render(lang);
    };
    let tokens = match exchange_code(http, config, code, &signin.callback_uri, now).await {
        Ok(t) => t,
        Err(CybozuError::Unavailable(_)) => return ErrorPage::CybozuUnavailable.render(lang),
        Err(_) => return ErrorPage::CybozuRejected.render(lang),
    };
    let our_code = match create_grant(kv, config, &signin.request, &tokens, now) {
        Ok(c) => c,
        Err(_) => return ErrorPage::ServerError.render(lang),
    };
    let mut pairs = vec![("code", our_code.expose_secret())];
    if let Some(state) = &signin.request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &signin.request.issuer));
    match with_query(&signin.request.redirect_uri, &pairs) {
        Some(location) => redirect(StatusCode::FOUND, &location).finish(),
        None => ErrorPage::ServerError.render(lang),
    }
}
