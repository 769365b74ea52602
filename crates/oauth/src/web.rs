//! Request parsing and response building shared by the handlers.

use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use std::collections::BTreeMap;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Largest form or JSON body accepted (registration, token, revocation and consent posts are
/// a few KB at most; the consent form carries a sealed request of up to ~6 KB).
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// A response under construction. Header values are checked once in [`Reply::finish`]: an
/// invalid one (which only our own bug could produce) becomes a 500 instead of a panic.
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: Vec<u8>,
}

impl Reply {
    pub fn new(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// CORS for browser-based clients (MCP Inspector web, Claude web): any origin, no
    /// credentials, `WWW-Authenticate` readable.
    pub fn cors(self) -> Self {
        self.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .header(header::ACCESS_CONTROL_EXPOSE_HEADERS, "WWW-Authenticate")
    }

    pub fn no_store(self) -> Self {
        self.header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
    }

    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header(header::CONTENT_TYPE, "application/json")
            .body(value.to_string())
    }

    pub fn finish(self) -> Response {
        let mut response = Response::new(self.body);
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            match HeaderValue::from_str(&value) {
                Ok(v) => {
                    response.headers_mut().append(name, v);
                }
                Err(_) => return internal_error(),
            }
        }
        response
    }
}

fn internal_error() -> Response {
    let mut response = Response::new(b"internal error".to_vec());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// An RFC 6749 §5.2 style JSON error (also used by registration and revocation).
pub fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    Reply::new(status)
        .cors()
        .no_store()
        .json(&serde_json::json!({ "error": code, "error_description": description }))
        .finish()
}

pub fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub fn method_not_allowed(allow: &str) -> Response {
    Reply::new(StatusCode::METHOD_NOT_ALLOWED)
        .cors()
        .header(header::ALLOW, allow)
        .json(&serde_json::json!({ "error": "method_not_allowed", "error_description": format!("use {allow}") }))
        .finish()
}

/// Answer a CORS preflight for one of our JSON endpoints.
pub fn preflight(allow: &str) -> Response {
    Reply::new(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, format!("{allow}, OPTIONS"))
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, MCP-Protocol-Version",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .finish()
}

/// Request parameters, with RFC 6749 §3.1's rule that none may appear twice.
pub type Params = BTreeMap<String, String>;

#[derive(Debug)]
pub enum ParamError {
    Duplicate(String),
    TooLarge,
    WrongContentType(&'static str),
}

impl ParamError {
    pub fn describe(&self) -> String {
        match self {
            ParamError::Duplicate(name) => format!("parameter {} appears more than once", sanitize_name(name)),
            ParamError::TooLarge => format!("request body exceeds {MAX_BODY_BYTES} bytes"),
            ParamError::WrongContentType(expected) => format!("Content-Type must be {expected}"),
        }
    }
}

fn sanitize_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

fn parse_pairs(bytes: &[u8]) -> Result<Params, ParamError> {
    let mut params = Params::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        if params.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(ParamError::Duplicate(name.into_owned()));
        }
    }
    Ok(params)
}

pub fn query_params(request: &Request) -> Result<Params, ParamError> {
    parse_pairs(request.uri().query().unwrap_or("").as_bytes())
}

/// Whether the request's media type (ignoring parameters such as charset) is `expected`.
pub fn has_content_type(request: &Request, expected: &str) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

pub fn form_params(request: &Request) -> Result<Params, ParamError> {
    if request.body().len() > MAX_BODY_BYTES {
        return Err(ParamError::TooLarge);
    }
    if !has_content_type(request, "application/x-www-form-urlencoded") {
        return Err(ParamError::WrongContentType("application/x-www-form-urlencoded"));
    }
    parse_pairs(request.body())
}

/// Treat empty parameters as absent (`redirect_uri=` is as good as no redirect_uri).
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The value of cookie `name`, if the browser sent it.
pub fn cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// SameSite policy of a cookie.
#[derive(Clone, Copy)]
pub enum SameSite {
    /// Sent only with same-site requests (the consent form post).
    Strict,
    /// Also sent on top-level cross-site GET navigations (Cybozu's redirect to `/callback`, a
    /// client opening `/authorize`).
    Lax,
}

/// A `__Host-` cookie: `Secure`, `Path=/`, no `Domain`, so no other host can set or read it.
pub fn host_cookie(name: &str, value: &str, max_age_secs: u64, same_site: SameSite) -> String {
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    format!("{name}={value}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite={same_site}")
}

pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// Append parameters to a URL's query, keeping what is already there.
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    Some(url.into())
}

pub fn redirect(status: StatusCode, location: &str) -> Reply {
    Reply::new(status)
        .no_store()
        .header(header::LOCATION, location)
        .header(header::REFERRER_POLICY, "no-referrer")
}

/// One log line (stderr) for a security event: consent approved, denied or remembered, a sign-in
/// completed or refused at Cybozu. Callers pass [`client_label`]s, scope names and resources
/// only: never a token, code, cookie, state or client id.
pub fn security_event(what: std::fmt::Arguments<'_>) {
    eprintln!("security: {what}");
}

/// A short digest naming a client in logs and events (client ids run to kilobytes and carry the
/// client's own metadata, which is attacker-chosen text).
pub fn client_label(client_id: &str) -> String {
    grants::sha256_b64(client_id.as_bytes()).chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        assert!(matches!(
            query_params(&request("/a?x=1&x=2", &[], "")),
            Err(ParamError::Duplicate(_))
        ));
        let form = request(
            "/t",
            &[("content-type", "application/x-www-form-urlencoded; charset=UTF-8")],
            "a=1&b=%20x",
        );
        assert_eq!(form_params(&form).unwrap()["b"], " x");
        let json = request("/t", &[("content-type", "application/json")], "a=1");
        assert!(matches!(form_params(&json), Err(ParamError::WrongContentType(_))));
        let big = request(
            "/t",
            &[("content-type", "application/x-www-form-urlencoded")],
            &"a".repeat(MAX_BODY_BYTES + 1),
        );
        assert!(matches!(form_params(&big), Err(ParamError::TooLarge)));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let r = request("/", &[("cookie", "a=1; __Host-x=two; b=3"), ("cookie", "c=4")], "");
        assert_eq!(cookie(&r, "__Host-x").as_deref(), Some("two"));
        assert_eq!(cookie(&r, "c").as_deref(), Some("4"));
        assert_eq!(cookie(&r, "x"), None);
    }

    #[test]
    fn invalid_header_values_become_500_not_panics() {
        let r = Reply::new(StatusCode::OK)
            .header(header::LOCATION, "bad\nvalue")
            .finish();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn client_labels_are_short_and_reveal_nothing_of_the_id() {
        let id = "kc1.eyJuIjoiQ2xhdWRlIn0.tag";
        let label = client_label(id);
        assert_eq!(label.len(), 12);
        assert!(!id.contains(&label));
        assert_eq!(label, client_label(id));
        assert_ne!(label, client_label("kc1.other"));
    }

    #[test]
    fn query_is_appended_and_encoded() {
        let url = with_query("https://c.example/cb?keep=1", &[("code", "a b"), ("state", "x&y")]).unwrap();
        assert_eq!(url, "https://c.example/cb?keep=1&code=a+b&state=x%26y");
    }
}
