//! A scripted browser for OAuth flows: HTTP with redirects off (each hop is looked at) and a
//! cookie jar kept by hand. The app's cookies are `__Host-…; Secure`, and generic jars may
//! refuse to store or send Secure cookies over `http://127.0.0.1`; real browsers treat loopback
//! as a secure context, and so does this one. Cookies are scoped by host, not port, as browsers
//! scope them (RFC 6265 §8.5).

use anyhow::{bail, Context, Result};
use reqwest::header::{HeaderMap, ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;
use url::Url;

/// One HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Page {
    /// The URL that was requested.
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The redirect target, resolved against the request URL; `None` when there is none.
    pub fn location(&self) -> Option<Url> {
        let value = self.headers.get(LOCATION)?.to_str().ok()?;
        self.url.join(value).ok()
    }

    /// The redirect target, or an error naming what came instead.
    pub fn redirect(&self) -> Result<Url> {
        match self.location() {
            Some(url) if (300..400).contains(&self.status) => Ok(url),
            _ => bail!(
                "expected a redirect from {}, got {}: {}",
                self.url.path(),
                self.status,
                excerpt(&self.body)
            ),
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The start of a body, for error messages.
pub fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// The query parameters of a URL (last one wins).
pub fn query_of(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[derive(Debug, Clone)]
struct StoredCookie {
    value: String,
    attributes: String,
}

pub struct Browser {
    client: reqwest::Client,
    /// host → name → cookie.
    jar: BTreeMap<String, BTreeMap<String, StoredCookie>>,
    /// Every cookie value ever set, for "nothing in clear" checks after cookies are cleared.
    seen: Vec<String>,
    pub accept_language: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let client = crate::http_client();
        Browser {
            client,
            jar: BTreeMap::new(),
            seen: vec![],
            accept_language: None,
        }
    }

    pub async fn get(&mut self, url: &str) -> Result<Page> {
        let url = Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let request = self.client.get(url.clone());
        self.send(url, request).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Result<Page> {
        let url = Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(url, request).await
    }

    async fn send(&mut self, url: Url, mut request: reqwest::RequestBuilder) -> Result<Page> {
        let host = url.host_str().unwrap_or_default().to_owned();
        if let Some(cookies) = self.jar.get(&host).filter(|c| !c.is_empty()) {
            let header = cookies
                .iter()
                .map(|(k, c)| format!("{k}={}", c.value))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(COOKIE, header);
        }
        if let Some(lang) = &self.accept_language {
            request = request.header(ACCEPT_LANGUAGE, lang);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("request to {} failed", url.path()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .with_context(|| format!("reading the body of {} failed", url.path()))?;
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().context("Set-Cookie is not text")?;
            self.absorb(&host, text)?;
        }
        Ok(Page {
            url,
            status,
            headers,
            body,
        })
    }

    fn absorb(&mut self, host: &str, set_cookie: &str) -> Result<()> {
        let (pair, attributes) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("malformed Set-Cookie {set_cookie:?}"))?;
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        let removed = attributes
            .split(';')
            .any(|a| a.trim().eq_ignore_ascii_case("Max-Age=0"));
        let cookies = self.jar.entry(host.to_owned()).or_default();
        if removed {
            cookies.remove(&name);
        } else {
            self.seen.push(value.clone());
            cookies.insert(
                name,
                StoredCookie {
                    value,
                    attributes: attributes.trim().to_owned(),
                },
            );
        }
        Ok(())
    }

    /// The value of a cookie this browser holds for `host`.
    pub fn cookie(&self, host: &str, name: &str) -> Option<&str> {
        self.jar.get(host)?.get(name).map(|c| c.value.as_str())
    }

    /// The attributes (`Max-Age=…; Path=/; Secure; …`) a cookie was set with.
    pub fn cookie_attributes(&self, host: &str, name: &str) -> Option<&str> {
        self.jar.get(host)?.get(name).map(|c| c.attributes.as_str())
    }

    /// Put a cookie in the jar (an attacker's forged value, say).
    pub fn set_cookie(&mut self, host: &str, name: &str, value: &str) {
        self.jar.entry(host.to_owned()).or_default().insert(
            name.to_owned(),
            StoredCookie {
                value: value.to_owned(),
                attributes: String::new(),
            },
        );
    }

    pub fn remove_cookie(&mut self, host: &str, name: &str) {
        if let Some(cookies) = self.jar.get_mut(host) {
            cookies.remove(name);
        }
    }

    /// Every cookie value set so far, including cleared ones.
    pub fn seen_cookie_values(&self) -> &[String] {
        &self.seen
    }
}
