//! Programmatic sign-in over real HTTP, the way an MCP client and a person in a browser do it:
//! discovery (protected-resource and authorization-server metadata), dynamic client
//! registration, PKCE S256, `/authorize`, the consent form (CSRF field and `__Host-` cookies),
//! Cybozu's sign-in form at the fake, `/callback`, and `/token`.
//!
//! [`sign_in`] does it all in one call for suites that only need a bearer token; [`Flow`] exposes
//! every step for suites that test the steps themselves.
//!
//! The fake cybozu.com is signed in to through its sign-in form (`login`, `password`), not its
//! auto-approving user, so sign-ins of different users can run at the same time against one
//! fake. Seed users have the password `<user>-password` (see tests/fake-cybozu/README.md).

use crate::browser::{excerpt, query_of, Browser, Page};
use crate::App;
use anyhow::{bail, ensure, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use url::Url;

/// The redirect URI test clients register: loopback, so any port matches (RFC 8252), and never
/// fetched (the code is read from the `Location` header).
pub const CLIENT_REDIRECT_URI: &str = "http://127.0.0.1:1/e2e/callback";

/// The consent page's hidden fields.
pub const CONSENT_REQUEST_FIELD: &str = "request";
pub const CONSENT_CSRF_FIELD: &str = "csrf_token";

/// Our tokens for one user, with what is needed to refresh, revoke or call the endpoint.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    /// The resource (RFC 8707) the tokens are for, e.g. `http://127.0.0.1:PORT/mcp`.
    pub resource: String,
    /// The Cybozu user who signed in.
    pub user: String,
}

// Secrets stay out of test output.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("user", &self.user)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// `Authorization: Bearer …`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

/// Sign `user` in for the MCP endpoint at `resource_path` (`"/mcp"` or `"/sse"`) with a freshly
/// registered public client; all six scopes.
pub async fn sign_in(app: &App, user: &str, resource_path: &str) -> Result<Tokens> {
    let mut flow = Flow::new(app, resource_path).await?;
    let code = flow.code_for(user).await?;
    flow.exchange(&code).await
}

/// Rotate `tokens` at `/token` (`grant_type=refresh_token`); the new pair replaces the old.
pub async fn refresh(app: &App, tokens: &Tokens) -> Result<Tokens> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens.refresh_token.as_str()),
        ("resource", tokens.resource.as_str()),
    ];
    let reply = post_token(app, &form, &tokens.client_id, tokens.client_secret.as_deref()).await?;
    tokens_from(reply, tokens)
}

/// RFC 7009 revocation of `token` (an access or refresh token of `tokens`' client).
pub async fn revoke(app: &App, tokens: &Tokens, token: &str) -> Result<u16> {
    let reply = post_client_form(
        app,
        "/revoke",
        &[("token", token)],
        &tokens.client_id,
        tokens.client_secret.as_deref(),
    )
    .await?;
    Ok(reply.status)
}

/// What discovery found.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// `resource` of the protected-resource metadata.
    pub resource: String,
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub revocation_endpoint: String,
    pub scopes_supported: Vec<String>,
}

/// RFC 9728 metadata at the path-inserted URL for `resource_path`, then RFC 8414 metadata of
/// the authorization server it names.
pub async fn discover(app: &App, resource_path: &str) -> Result<Discovery> {
    let http = crate::http_client();
    let prm_url = app.url(&format!("/.well-known/oauth-protected-resource{resource_path}"));
    let prm: Value = get_json(&http, &prm_url).await?;
    let resource = text_field(&prm, "resource")?;
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .context("protected-resource metadata names no authorization server")?;
    let as_url = format!(
        "{}/.well-known/oauth-authorization-server",
        issuer.trim_end_matches('/')
    );
    let meta: Value = get_json(&http, &as_url).await?;
    ensure!(
        meta["issuer"] == issuer,
        "the authorization server's issuer {} is not {issuer}",
        meta["issuer"]
    );
    Ok(Discovery {
        resource,
        issuer: issuer.to_owned(),
        authorization_endpoint: text_field(&meta, "authorization_endpoint")?,
        token_endpoint: text_field(&meta, "token_endpoint")?,
        registration_endpoint: text_field(&meta, "registration_endpoint")?,
        revocation_endpoint: text_field(&meta, "revocation_endpoint")?,
        scopes_supported: meta["scopes_supported"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

/// A registered client.
#[derive(Clone)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    /// The registration response as sent.
    pub registration: Value,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The raw answer of an endpoint that speaks JSON.
#[derive(Clone)]
pub struct JsonReply {
    pub status: u16,
    pub headers: HeaderMap,
    /// `Value::Null` when the body is not JSON.
    pub body: Value,
}

// Token responses stay out of test output.
impl fmt::Debug for JsonReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonReply")
            .field("status", &self.status)
            .field("body", &redact(&self.body))
            .finish_non_exhaustive()
    }
}

impl JsonReply {
    /// The OAuth `error` code, if any.
    pub fn error(&self) -> Option<&str> {
        self.body["error"].as_str()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// POST client metadata to `/register` and return the answer as is.
pub async fn register_raw(app: &App, metadata: &Value) -> Result<JsonReply> {
    let response = crate::http_client()
        .post(app.url("/register"))
        .json(metadata)
        .send()
        .await
        .context("POST /register failed")?;
    json_reply(response).await
}

/// Register a client (201 expected); the first redirect URI becomes the client's.
pub async fn register(app: &App, metadata: &Value) -> Result<Client> {
    let reply = register_raw(app, metadata).await?;
    ensure!(
        reply.status == 201,
        "registration refused: {} {}",
        reply.status,
        reply.body
    );
    let redirect_uri = metadata["redirect_uris"][0]
        .as_str()
        .context("metadata has no redirect_uris")?
        .to_owned();
    Ok(Client {
        client_id: text_field(&reply.body, "client_id")?,
        client_secret: reply.body["client_secret"].as_str().map(str::to_owned),
        redirect_uri,
        registration: reply.body,
    })
}

/// Register a public client (`none`) the way mcp-remote does.
pub async fn register_public(app: &App, client_name: &str) -> Result<Client> {
    register(
        app,
        &json!({
            "client_name": client_name,
            "redirect_uris": [CLIENT_REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }),
    )
    .await
}

/// Register a confidential client with `client_secret_basic` or `client_secret_post`.
pub async fn register_confidential(app: &App, client_name: &str, auth_method: &str) -> Result<Client> {
    let client = register(
        app,
        &json!({
            "client_name": client_name,
            "redirect_uris": [CLIENT_REDIRECT_URI],
            "token_endpoint_auth_method": auth_method,
        }),
    )
    .await?;
    ensure!(client.client_secret.is_some(), "a confidential client got no secret");
    Ok(client)
}

/// A PKCE pair (RFC 7636, S256).
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Result<Pkce> {
        let verifier = random_b64::<32>()?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Ok(Pkce { verifier, challenge })
    }
}

/// 32 random bytes, base64url: the shape of a state, verifier or nonce.
pub fn random_b64<const N: usize>() -> Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The consent page's form.
#[derive(Debug, Clone)]
pub struct Consent {
    /// The sealed authorization request (hidden field `request`).
    pub request: String,
    pub csrf_token: String,
    pub html: String,
}

impl Consent {
    /// Read the form out of the page (200 expected).
    pub fn parse(page: &Page) -> Result<Consent> {
        ensure!(
            page.status == 200,
            "expected the consent page, got {}: {}",
            page.status,
            excerpt(&page.body)
        );
        Ok(Consent {
            request: hidden_field(&page.body, CONSENT_REQUEST_FIELD)?,
            csrf_token: hidden_field(&page.body, CONSENT_CSRF_FIELD)?,
            html: page.body.clone(),
        })
    }
}

/// `<input type="hidden" name="NAME" value="VALUE">` → VALUE (attribute-unescaped).
pub fn hidden_field(html: &str, name: &str) -> Result<String> {
    let marker = format!("name=\"{name}\"");
    let at = html
        .find(&marker)
        .with_context(|| format!("the page has no {name} field"))?;
    let tag_end = html[at..].find('>').map(|i| at + i).context("unterminated input tag")?;
    let tag = &html[at..tag_end];
    let start = tag
        .find("value=\"")
        .with_context(|| format!("the {name} field has no value"))?
        + "value=\"".len();
    let value = tag[start..].split('"').next().unwrap_or_default();
    Ok(html_unescape(value))
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What reached the client's redirect URI.
#[derive(Debug, Clone)]
pub struct Redirected {
    pub url: Url,
    pub params: std::collections::BTreeMap<String, String>,
}

/// One sign-in, step by step: a browser, a registered client, a PKCE pair and a `state`.
pub struct Flow<'a> {
    pub app: &'a App,
    pub discovery: Discovery,
    pub client: Client,
    pub pkce: Pkce,
    pub state: String,
    pub browser: Browser,
    /// `scope` sent to `/authorize` (`None`: not sent).
    pub scope: Option<String>,
    /// Who signed in at Cybozu, once someone has.
    pub user: Option<String>,
}

impl<'a> Flow<'a> {
    /// Discover and register a public client.
    pub async fn new(app: &'a App, resource_path: &str) -> Result<Flow<'a>> {
        let discovery = discover(app, resource_path).await?;
        let client = register_public(app, "e2e MCP client").await?;
        Flow::with_client(app, discovery, client)
    }

    pub fn with_client(app: &'a App, discovery: Discovery, client: Client) -> Result<Flow<'a>> {
        Ok(Flow {
            app,
            discovery,
            client,
            pkce: Pkce::new()?,
            state: random_b64::<16>()?,
            browser: Browser::new(),
            scope: None,
            user: None,
        })
    }

    /// The `/authorize` URL; `overrides` replace parameters, or remove them when the value is
    /// empty.
    pub fn authorize_url(&self, overrides: &[(&str, &str)]) -> String {
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), self.client.client_id.clone()),
            ("redirect_uri".into(), self.client.redirect_uri.clone()),
            ("code_challenge".into(), self.pkce.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
            ("state".into(), self.state.clone()),
            ("resource".into(), self.discovery.resource.clone()),
        ];
        if let Some(scope) = &self.scope {
            params.push(("scope".into(), scope.clone()));
        }
        for (name, value) in overrides {
            params.retain(|(n, _)| n != name);
            if !value.is_empty() {
                params.push((name.to_string(), value.to_string()));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{}?{query}", self.discovery.authorization_endpoint)
    }

    /// GET `/authorize` in the browser.
    pub async fn open_authorize(&mut self, overrides: &[(&str, &str)]) -> Result<Page> {
        let url = self.authorize_url(overrides);
        self.browser.get(&url).await
    }

    /// GET `/authorize` and read the consent form.
    pub async fn consent(&mut self) -> Result<Consent> {
        let page = self.open_authorize(&[]).await?;
        Consent::parse(&page)
    }

    /// POST the consent form with `decision` (`approve` or `deny`) and return the answer.
    pub async fn decide(&mut self, consent: &Consent, decision: &str) -> Result<Page> {
        let url = self.app.url("/authorize");
        self.browser
            .post_form(
                &url,
                &[
                    (CONSENT_REQUEST_FIELD, &consent.request),
                    (CONSENT_CSRF_FIELD, &consent.csrf_token),
                    ("decision", decision),
                ],
            )
            .await
    }

    /// Approve and return the Cybozu authorization URL the app sent the browser to.
    pub async fn approve(&mut self, consent: &Consent) -> Result<Url> {
        let page = self.decide(consent, "approve").await?;
        ensure!(
            page.status == 303,
            "approval answered {}: {}",
            page.status,
            excerpt(&page.body)
        );
        page.redirect()
    }

    /// Sign in at the fake Cybozu as `user` (its sign-in form) and return the URL it sends the
    /// browser back to (our `/callback?code=…&state=…`).
    pub async fn cybozu_sign_in(&mut self, authorization_url: &Url, user: &str) -> Result<Url> {
        let mut endpoint = authorization_url.clone();
        endpoint.set_query(None);
        let mut form: Vec<(String, String)> = query_of(authorization_url).into_iter().collect();
        form.push(("login".into(), user.into()));
        form.push(("password".into(), format!("{user}-password")));
        form.push(("decision".into(), "allow".into()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let page = self.browser.post_form(endpoint.as_str(), &pairs).await?;
        ensure!(
            page.status == 302,
            "Cybozu sign-in as {user} answered {}: {}",
            page.status,
            excerpt(&page.body)
        );
        page.redirect()
    }

    /// GET our `/callback` in the browser and return where it redirects (the client's redirect
    /// URI with `code`, `state` and `iss`), checking `state` and `iss`.
    pub async fn callback(&mut self, callback_url: &Url) -> Result<Redirected> {
        let page = self.browser.get(callback_url.as_str()).await?;
        ensure!(
            page.status == 302,
            "/callback answered {}: {}",
            page.status,
            excerpt(&page.body)
        );
        let url = page.redirect()?;
        ensure!(
            url.as_str().starts_with(&self.client.redirect_uri),
            "/callback redirected to {url}, not the client's {}",
            self.client.redirect_uri
        );
        let params = query_of(&url);
        ensure!(
            params.get("state") == Some(&self.state),
            "the client's state did not come back"
        );
        ensure!(
            params.get("iss") == Some(&self.discovery.issuer),
            "iss is {:?}, not {}",
            params.get("iss"),
            self.discovery.issuer
        );
        Ok(Redirected { url, params })
    }

    /// From `/authorize` to our code: consent (or a remembered approval), Cybozu, `/callback`.
    pub async fn code_for(&mut self, user: &str) -> Result<String> {
        let page = self.open_authorize(&[]).await?;
        let to_cybozu = match page.status {
            200 => {
                let consent = Consent::parse(&page)?;
                self.approve(&consent).await?
            }
            302 => page.redirect()?,
            other => bail!("/authorize answered {other}: {}", excerpt(&page.body)),
        };
        let callback = self.cybozu_sign_in(&to_cybozu, user).await?;
        let redirected = self.callback(&callback).await?;
        let code = redirected
            .params
            .get("code")
            .context("no code at the redirect URI")?
            .clone();
        self.user = Some(user.to_owned());
        Ok(code)
    }

    /// The `authorization_code` token request of this flow, answered as is. `overrides` replace
    /// or (empty value) remove form fields.
    pub async fn exchange_raw(&self, code: &str, overrides: &[(&str, &str)]) -> Result<JsonReply> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.client.redirect_uri),
            ("code_verifier", &self.pkce.verifier),
            ("resource", &self.discovery.resource),
        ];
        for (name, value) in overrides {
            form.retain(|(n, _)| n != name);
            if !value.is_empty() {
                form.push((name, value));
            }
        }
        post_token(
            self.app,
            &form,
            &self.client.client_id,
            self.client.client_secret.as_deref(),
        )
        .await
    }

    /// Exchange `code` for tokens (200 expected).
    pub async fn exchange(&self, code: &str) -> Result<Tokens> {
        let reply = self.exchange_raw(code, &[]).await?;
        let template = Tokens {
            access_token: String::new(),
            refresh_token: String::new(),
            token_type: String::new(),
            expires_in: 0,
            scope: String::new(),
            client_id: self.client.client_id.clone(),
            client_secret: self.client.client_secret.clone(),
            redirect_uri: self.client.redirect_uri.clone(),
            resource: self.discovery.resource.clone(),
            user: self.user.clone().unwrap_or_default(),
        };
        tokens_from(reply, &template)
    }
}

/// POST a form to `/token` authenticating as the client: Basic when it has a secret,
/// `client_id` in the body for public clients.
pub async fn post_token(
    app: &App,
    form: &[(&str, &str)],
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<JsonReply> {
    post_client_form(app, "/token", form, client_id, client_secret).await
}

async fn post_client_form(
    app: &App,
    path: &str,
    form: &[(&str, &str)],
    client_id: &str,
    client_secret: Option<&str>,
) -> Result<JsonReply> {
    match client_secret {
        Some(secret) => {
            let credentials = format!("{}:{}", form_encode(client_id), form_encode(secret));
            let basic = format!("Basic {}", STANDARD.encode(credentials));
            post_form(app, path, form, Some(&basic)).await
        }
        None => {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", client_id));
            post_form(app, path, &with_id, None).await
        }
    }
}

/// POST an `application/x-www-form-urlencoded` body to the app, optionally with an
/// `Authorization` header, and return the answer as is.
pub async fn post_form(app: &App, path: &str, form: &[(&str, &str)], authorization: Option<&str>) -> Result<JsonReply> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = crate::http_client()
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.with_context(|| format!("POST {path} failed"))?;
    json_reply(response).await
}

fn tokens_from(reply: JsonReply, template: &Tokens) -> Result<Tokens> {
    if reply.status != 200 {
        bail!(
            "/token answered {}: error {:?}, {:?}",
            reply.status,
            reply.error(),
            reply.body["error_description"].as_str()
        );
    }
    let body = &reply.body;
    Ok(Tokens {
        access_token: text_field(body, "access_token")?,
        refresh_token: text_field(body, "refresh_token")?,
        token_type: text_field(body, "token_type")?,
        expires_in: body["expires_in"]
            .as_u64()
            .context("token response has no expires_in")?,
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
        ..template.clone()
    })
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url} failed"))?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status == 200, "GET {url} answered {status}: {}", excerpt(&text));
    serde_json::from_str(&text).with_context(|| format!("GET {url} is not JSON"))
}

async fn json_reply(response: reqwest::Response) -> Result<JsonReply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.context("reading a response body failed")?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(JsonReply { status, headers, body })
}

fn text_field(value: &Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {name} in {}", redact(value)))
}

/// A JSON document with token-like fields masked, for error messages.
fn redact(value: &Value) -> Value {
    let mut copy = value.clone();
    if let Some(map) = copy.as_object_mut() {
        for key in ["access_token", "refresh_token", "client_secret"] {
            if map.contains_key(key) {
                map.insert(key.into(), Value::from("***"));
            }
        }
    }
    copy
}
