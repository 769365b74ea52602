//! `/authorize`: validate the request before showing anything, ask the user (or recall their
//! approval of this very client, resource and scopes), then send them to Cybozu with the pending
//! sign-in sealed into a browser-bound `state`. Nothing is stored: replaying the consent POST
//! only mints more states for the replayer's own browser.

use crate::browser::{self, ConsentFormError, CSRF_COOKIE, SIGNIN_COOKIE};
use crate::clients::{ClientError, Clients};
use crate::pages::{consent_page, Consent, ErrorPage, Lang};
use crate::web::{
    clear_cookie, client_label, cookie, form_params, host_cookie, param, query_params, redirect, security_event,
    with_query, Params, Request, Response, SameSite,
};
use grants::{
    begin_signin, ct_eq, is_browser_binding, is_our_resource, new_browser_binding, normalize_resource, random_token,
    AuthorizationRequest, Config, RegisteredClient, Scopes, SIGNIN_LIFETIME_SECS,
};
use http::{header, StatusCode};

/// Longest client `state` we carry around (it is sealed into the upstream `state` and echoed).
const MAX_STATE_LEN: usize = 1024;

/// A request that cannot proceed: an error page when the redirect URI is not trusted yet, a
/// redirect back to the client (RFC 6749 §4.1.2.1) once it is.
enum Refusal {
    Page(ErrorPage),
    Redirect(Box<Response>),
}

pub struct Ctx<'a> {
    pub config: &'a Config,
    pub clients: &'a Clients<'a>,
    pub issuer: &'a str,
    pub lang: Lang,
    pub now: u64,
}

pub fn authorize_get(ctx: &Ctx<'_>, request: &Request) -> Response {
    let Ok(params) = query_params(request) else {
        return ErrorPage::InvalidRequest.render(ctx.lang);
    };
    let (client, validated) = match validate(ctx.clients, ctx.issuer, &params) {
        Ok(ok) => ok,
        Err(Refusal::Page(page)) => return page.render(ctx.lang),
        Err(Refusal::Redirect(response)) => return *response,
    };
    let force_consent = param(&params, "prompt").is_some_and(|p| p.split(' ').any(|v| v == "consent"));
    if !force_consent && browser::is_approved(ctx.config, request, &validated, ctx.now) {
        log_consent("remembered", &validated);
        return start_signin(ctx, request, &validated, StatusCode::FOUND, vec![]);
    }
    show_consent(ctx, &client, &validated)
}

pub fn authorize_post(ctx: &Ctx<'_>, request: &Request) -> Response {
    let Ok(form) = form_params(request) else {
        return ErrorPage::InvalidRequest.render(ctx.lang);
    };
    // Double-submit: the cookie (which another site cannot set or read) must equal the field.
    let (Some(cookie_token), Some(form_token)) = (cookie(request, CSRF_COOKIE), param(&form, "csrf_token")) else {
        return ErrorPage::CsrfFailed.render(ctx.lang);
    };
    if !ct_eq(cookie_token.as_bytes(), form_token.as_bytes()) {
        return ErrorPage::CsrfFailed.render(ctx.lang);
    }
    let sealed = param(&form, "request").unwrap_or("");
    let validated = match browser::open_consent(ctx.config, sealed, form_token, ctx.now) {
        Ok(r) => r,
        Err(ConsentFormError::Invalid) => return ErrorPage::CsrfFailed.render(ctx.lang),
        Err(ConsentFormError::Expired) => return ErrorPage::ConsentExpired.render(ctx.lang),
    };
    // Re-check what the sealed request names, as if it were new.
    let client = match ctx.clients.lookup(&validated.client_id) {
        Ok(c) => c,
        Err(e) => return client_error_page(e).render(ctx.lang),
    };
    if client.resolve_redirect_uri(Some(&validated.redirect_uri)).is_none() {
        return ErrorPage::RedirectUriMismatch.render(ctx.lang);
    }
    let spent_csrf = clear_cookie(CSRF_COOKIE);
    match param(&form, "decision") {
        Some("approve") => {
            log_consent("approved", &validated);
            let remember = browser::remember_approval(ctx.config, request, &validated, ctx.now);
            start_signin(
                ctx,
                request,
                &validated,
                StatusCode::SEE_OTHER,
                vec![spent_csrf, remember],
            )
        }
        Some("deny") => {
            log_consent("denied", &validated);
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "the user denied access"),
            ];
            if let Some(state) = &validated.state {
                pairs.push(("state", state));
            }
            pairs.push(("iss", &validated.issuer));
            match with_query(&validated.redirect_uri, &pairs) {
                Some(location) => redirect(StatusCode::SEE_OTHER, &location)
                    .header(header::SET_COOKIE, spent_csrf)
                    .finish(),
                None => ErrorPage::RedirectUriMismatch.render(ctx.lang),
            }
        }
        _ => ErrorPage::InvalidRequest.render(ctx.lang),
    }
}

/// RFC 6749 §4.1.1 + RFC 7636 + RFC 8707 checks, client and redirect URI first.
fn validate(
    clients: &Clients<'_>,
    issuer: &str,
    params: &Params,
) -> Result<(RegisteredClient, AuthorizationRequest), Refusal> {
    let client_id = param(params, "client_id").ok_or(Refusal::Page(ErrorPage::InvalidRequest))?;
    let client = clients
        .lookup(client_id)
        .map_err(|e| Refusal::Page(client_error_page(e)))?;
    let requested_redirect = param(params, "redirect_uri");
    let redirect_uri = client
        .resolve_redirect_uri(requested_redirect)
        .ok_or(Refusal::Page(ErrorPage::RedirectUriMismatch))?;

    // From here on the redirect URI is trusted: errors go back to the client.
    let state = param(params, "state").filter(|s| s.len() <= MAX_STATE_LEN);
    let refuse = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        Refusal::Redirect(Box::new(match with_query(&redirect_uri, &pairs) {
            Some(location) => redirect(StatusCode::FOUND, &location).finish(),
            None => ErrorPage::RedirectUriMismatch.render(Lang::En),
        }))
    };
    if param(params, "state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(refuse("invalid_request", "state is too long"));
    }
    match param(params, "response_type") {
        Some("code") => {}
        None => return Err(refuse("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    let challenge = param(params, "code_challenge")
        .ok_or_else(|| refuse("invalid_request", "code_challenge is required (PKCE with S256)"))?;
    if param(params, "code_challenge_method") != Some("S256") {
        return Err(refuse("invalid_request", "code_challenge_method must be S256"));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(refuse(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let resource = match param(params, "resource") {
        None => normalize_resource(issuer),
        Some(r) if is_our_resource(issuer, r) => normalize_resource(r),
        Some(_) => None,
    }
    .ok_or_else(|| refuse("invalid_target", "resource must be this server's MCP endpoint"))?;
    let scopes = match Scopes::parse_lenient(param(params, "scope").unwrap_or("")) {
        s if s.is_empty() => Scopes::ALL,
        s => s,
    };
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_explicit: requested_redirect.is_some(),
        code_challenge: challenge.to_owned(),
        resource,
        scopes,
        state: state.map(str::to_owned),
        issuer: issuer.to_owned(),
    };
    Ok((client, request))
}

/// The page for a client id that names no usable client (shown before any redirect: its
/// redirect URIs are not trusted).
fn client_error_page(error: ClientError) -> ErrorPage {
    match error {
        ClientError::Unknown => ErrorPage::UnknownClient,
        ClientError::Document(e) => ErrorPage::ClientMetadata(e.to_string()),
    }
}

fn show_consent(ctx: &Ctx<'_>, client: &RegisteredClient, request: &AuthorizationRequest) -> Response {
    let (Ok(csrf), redirect) = (random_token::<32>(), url::Url::parse(&request.redirect_uri)) else {
        return ErrorPage::ServerError.render(ctx.lang);
    };
    let Ok(sealed) = browser::seal_consent(ctx.config, request, &csrf, ctx.now) else {
        return ErrorPage::ServerError.render(ctx.lang);
    };
    let Ok(redirect) = redirect else {
        return ErrorPage::RedirectUriMismatch.render(ctx.lang);
    };
    let redirect_is_loopback = redirect.scheme() == "http";
    let kintone_host = url::Url::parse(ctx.config.kintone_base_url())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let mut response = consent_page(
        ctx.lang,
        &Consent {
            client_name: client.name.as_deref(),
            verified_host: client.document_host.as_deref(),
            redirect_uri: redirect.as_str(),
            redirect_is_loopback,
            kintone_host: &kintone_host,
            scopes: request.scopes,
            sealed_request: &sealed,
            csrf_token: &csrf,
        },
    );
    let cookie = host_cookie(CSRF_COOKIE, &csrf, browser::CONSENT_LIFETIME_SECS, SameSite::Strict);
    match http::HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().append(header::SET_COOKIE, value);
            response
        }
        Err(_) => ErrorPage::ServerError.render(ctx.lang),
    }
}

/// Seal the pending sign-in into the upstream `state` (bound to this browser's binding cookie)
/// and send the browser to Cybozu's authorization endpoint with all six kintone scopes.
fn start_signin(
    ctx: &Ctx<'_>,
    request: &Request,
    validated: &AuthorizationRequest,
    status: StatusCode,
    extra_cookies: Vec<String>,
) -> Response {
    // Reuse the browser's binding so parallel sign-ins in one browser all stay valid.
    let binding = match cookie(request, SIGNIN_COOKIE).filter(|b| is_browser_binding(b)) {
        Some(b) => b,
        None => match new_browser_binding() {
            Ok(b) => b,
            Err(_) => return ErrorPage::ServerError.render(ctx.lang),
        },
    };
    let callback_uri = validated.callback_uri();
    let state = match begin_signin(ctx.config, validated, &binding, ctx.now) {
        Ok(s) => s,
        Err(_) => return ErrorPage::ServerError.render(ctx.lang),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", ctx.config.cybozu_client_id())
        .append_pair("redirect_uri", &callback_uri)
        .append_pair("state", &state)
        .append_pair("response_type", "code")
        .append_pair("scope", &Scopes::ALL.to_string())
        .finish()
        // Cybozu's documentation writes the scope separator as %20; `+` only means space in forms.
        .replace('+', "%20");
    let location = format!("{}?{query}", ctx.config.cybozu_authorization_endpoint());
    let mut reply = redirect(status, &location).header(
        header::SET_COOKIE,
        host_cookie(SIGNIN_COOKIE, &binding, SIGNIN_LIFETIME_SECS, SameSite::Lax),
    );
    for c in extra_cookies {
        reply = reply.header(header::SET_COOKIE, c);
    }
    reply.finish()
}

/// One security-log line for a consent decision.
fn log_consent(decision: &str, request: &AuthorizationRequest) {
    security_event(format_args!("{}", consent_event(decision, request)));
}

/// The consent event: client label, scopes and resource only (no client id, state, PKCE
/// challenge or cookie).
fn consent_event(decision: &str, request: &AuthorizationRequest) -> String {
    format!(
        "consent {decision}: client {} scopes \"{}\" resource {}",
        client_label(&request.client_id),
        request.scopes,
        request.resource
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_events_name_no_secret() {
        let request = AuthorizationRequest {
            client_id: "kc1.eyJuIjoiRXZpbFxuc2VjdXJpdHk6IGZha2UifQ.tag".into(),
            redirect_uri: "http://localhost:4567/cb".into(),
            redirect_uri_explicit: true,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: "https://mcp.example.com/mcp".into(),
            scopes: Scopes::ALL,
            state: Some("client-state-secret".into()),
            issuer: "https://mcp.example.com".into(),
        };
        let line = consent_event("approved", &request);
        assert!(line.starts_with("consent approved: client "), "{line}");
        assert!(line.contains("k:app_record:read") && line.contains("https://mcp.example.com/mcp"));
        for secret in [
            &request.client_id,
            &request.code_challenge,
            "client-state-secret",
            "localhost",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(!line.contains('\n'));
    }
}
