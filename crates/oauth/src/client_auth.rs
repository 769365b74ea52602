//! Client authentication at `/token` and `/revoke` (RFC 6749 §2.3): HTTP Basic, credentials in
//! the body, or `client_id` alone for public clients, as registered.

use crate::clients::{ClientError, Clients};
use crate::web::{oauth_error, param, Params, Reply, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use grants::{ClientAuthMethod, Config, RegisteredClient};
use http::{header, StatusCode};

/// Authenticate the caller, or the complete error response. An unknown client gets
/// `401 invalid_client`, which makes Claude register again.
pub fn authenticate_client(
    config: &Config,
    clients: &Clients<'_>,
    headers: &http::HeaderMap,
    form: &Params,
) -> Result<RegisteredClient, Box<Response>> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            Some(parse_basic(value).ok_or_else(|| invalid_client(true, "malformed HTTP Basic credentials"))?)
        }
    };
    let body_id = param(form, "client_id");
    let body_secret = param(form, "client_secret");
    let (client_id, secret, used_basic) = match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(Box::new(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "use one client authentication method, not two",
                )));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(Box::new(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client_id differs from the Basic credentials",
                )));
            }
            (id, (!secret.is_empty()).then_some(secret), true)
        }
        None => match body_id {
            Some(id) => (id.to_owned(), body_secret.map(str::to_owned), false),
            None => return Err(invalid_client(false, "client authentication is required (client_id)")),
        },
    };
    let client = match clients.lookup(&client_id) {
        Ok(c) => c,
        Err(ClientError::Unknown) => return Err(invalid_client(used_basic, "unknown client; register again")),
        Err(ClientError::Document(e)) => return Err(invalid_client(used_basic, &e.to_string())),
    };
    // The registered `token_endpoint_auth_method` is the only one accepted (RFC 7591 §2): a
    // secret sent another way than registered is refused even when it is right.
    match (client.auth_method, secret) {
        (ClientAuthMethod::ClientSecretBasic, Some(_)) if !used_basic => Err(invalid_client(
            used_basic,
            "this client is registered for client_secret_basic: send its credentials with HTTP Basic",
        )),
        (ClientAuthMethod::ClientSecretPost, Some(_)) if used_basic => Err(invalid_client(
            used_basic,
            "this client is registered for client_secret_post: send client_id and client_secret in the form",
        )),
        (method, Some(secret)) if method.is_confidential() && client.verify_secret(config, &secret) => Ok(client),
        (method, _) if method.is_confidential() => Err(invalid_client(used_basic, "client authentication failed")),
        (_, None) => Ok(client),
        (_, Some(_)) => Err(invalid_client(
            used_basic,
            "this client is registered as public (none) and has no secret",
        )),
    }
}

fn parse_basic(value: &http::HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn invalid_client(used_basic: bool, description: &str) -> Box<Response> {
    let mut reply = Reply::new(StatusCode::UNAUTHORIZED)
        .cors()
        .no_store()
        .json(&serde_json::json!({ "error": "invalid_client", "error_description": description }));
    if used_basic {
        // RFC 6749 §5.2: MUST when the client tried the Authorization header.
        reply = reply.header(header::WWW_AUTHENTICATE, "Basic realm=\"kintone-mcp\"");
    }
    Box::new(reply.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use grants::{register_client, ClientRegistration, ExposeSecret};

    fn config() -> Config {
        Config::from_lookup(|name| {
            Some(
                match name {
                    "kintone_base_url" => "https://example.cybozu.com",
                    "cybozu_client_id" => "cybozu-client",
                    "cybozu_client_secret" => "cybozu-secret",
                    "secret_key" => "0123456789abcdef0123456789abcdef-test",
                    _ => return None,
                }
                .to_owned(),
            )
        })
        .unwrap()
    }

    fn registered(config: &Config, method: &str) -> (String, Option<String>) {
        let request = ClientRegistration {
            redirect_uris: vec!["http://localhost:4567/cb".into()],
            token_endpoint_auth_method: Some(method.into()),
            ..ClientRegistration::default()
        };
        let r = register_client(config, &request, 1000).unwrap();
        (
            r.client.client_id,
            r.client_secret.map(|s| s.expose_secret().to_owned()),
        )
    }

    fn basic(id: &str, secret: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn form(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn status(result: Result<RegisteredClient, Box<Response>>) -> u16 {
        match result {
            Ok(_) => 200,
            Err(response) => response.status().as_u16(),
        }
    }

    #[test]
    fn only_the_registered_authentication_method_is_accepted() {
        let config = config();
        let kv = platform::MemoryStore::new();
        let clients = Clients::new(&config, &kv, 1000, None);
        let none = http::HeaderMap::new();
        let (basic_id, basic_secret) = registered(&config, "client_secret_basic");
        let basic_secret = basic_secret.unwrap();
        assert_eq!(
            status(authenticate_client(
                &config,
                &clients,
                &basic(&basic_id, &basic_secret),
                &form(&[])
            )),
            200
        );
        let in_body = form(&[("client_id", &basic_id), ("client_secret", &basic_secret)]);
        assert_eq!(
            status(authenticate_client(&config, &clients, &none, &in_body)),
            401,
            "basic client, secret in the body"
        );

        let (post_id, post_secret) = registered(&config, "client_secret_post");
        let post_secret = post_secret.unwrap();
        let in_body = form(&[("client_id", &post_id), ("client_secret", &post_secret)]);
        assert_eq!(status(authenticate_client(&config, &clients, &none, &in_body)), 200);
        assert_eq!(
            status(authenticate_client(
                &config,
                &clients,
                &basic(&post_id, &post_secret),
                &form(&[])
            )),
            401,
            "post client, Basic"
        );

        let (public_id, _) = registered(&config, "none");
        assert_eq!(
            status(authenticate_client(
                &config,
                &clients,
                &none,
                &form(&[("client_id", &public_id)])
            )),
            200
        );
        let with_secret = form(&[("client_id", &public_id), ("client_secret", "anything")]);
        assert_eq!(
            status(authenticate_client(&config, &clients, &none, &with_secret)),
            401,
            "public client sending a secret"
        );
        assert_eq!(
            status(authenticate_client(
                &config,
                &clients,
                &basic(&public_id, "anything"),
                &form(&[])
            )),
            401
        );
    }
}
