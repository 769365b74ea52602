//! A loopback https origin serving Client ID Metadata Documents, with a test CA made at start
//! (rcgen) and the runtime configuration that makes the app trust it: `[[client_tls]]` for the
//! `oauth-provider` component and host `localhost`, `ca_roots_file` the CA. Real `spin up` and the
//! test host read the same file (`--runtime-config-file`), so the suites run unchanged on both.
//!
//! Each path answers what the test set (a document, a status, a delay, an oversized body); every
//! request is logged, so a test can show that nothing was fetched.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one path answers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering at all.
    pub delay: Duration,
}

impl Answer {
    /// A document with `Cache-Control: max-age=3600`.
    pub fn json(document: &serde_json::Value) -> Answer {
        Answer {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "max-age=3600".into()),
            ],
            body: document.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, headers: &[(&str, &str)]) -> Answer {
        Answer {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct State {
    answers: HashMap<String, Answer>,
    requests: Vec<String>,
}

/// The origin: `https://localhost:<port>`.
pub struct CimdOrigin {
    pub origin: String,
    /// The runtime configuration file to start the app with.
    pub runtime_config_file: PathBuf,
    dir: PathBuf,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl CimdOrigin {
    /// A CA, a certificate for `localhost` and `127.0.0.1` signed by it, and the server.
    pub async fn start() -> Result<CimdOrigin> {
        let dir = crate::unique_temp_dir("kintone-mcp-cimd");
        std::fs::create_dir_all(&dir)?;
        let ca_key = rcgen::KeyPair::generate().context("CA key")?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kintone-mcp e2e test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).context("CA certificate")?;
        let key = rcgen::KeyPair::generate().context("server key")?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .context("server parameters")?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca, &ca_key).context("server certificate")?;

        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem())?;
        let runtime_config_file = dir.join("runtime-config.toml");
        // Paths are relative to the file's directory, as Spin resolves them.
        std::fs::write(
            &runtime_config_file,
            "[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = [\"localhost\"]\nca_roots_file = \"ca.pem\"\n",
        )?;

        let server_config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .context("server TLS configuration")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let served = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = served.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&state, &request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(CimdOrigin {
            origin: format!("https://localhost:{port}"),
            runtime_config_file,
            dir,
            state,
            server,
        })
    }

    /// `localhost:<port>`: what the consent page names as the verified host.
    pub fn authority(&self) -> &str {
        self.origin.trim_start_matches("https://")
    }

    /// The URL of `path` on this origin (a client id).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// What `path` answers from now on.
    pub fn serve(&self, path: &str, answer: Answer) {
        self.lock().answers.insert(path.to_owned(), answer);
    }

    /// Every request path so far.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for CimdOrigin {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn answer(state: &Mutex<State>, request: &hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let found = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push(path.clone());
        state.answers.get(&path).cloned()
    };
    let answer = found.unwrap_or_else(|| Answer::status(404, &[]));
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::try_from(name),
            hyper::header::HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The app, allowed to fetch documents from `origin` (the free slot `cimd_origin_4`) and trusting
/// its test CA.
pub async fn start_app(origin: &CimdOrigin) -> Result<crate::App> {
    crate::App::start_with(crate::Options {
        variables: vec![("cimd_origin_4".into(), origin.origin.clone())],
        runtime_config_file: Some(origin.runtime_config_file.clone()),
        ..crate::Options::default()
    })
    .await
}

/// A valid document for `client_id` returning to `redirect_uris`.
pub fn document(client_id: &str, name: &str, redirect_uris: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "client_id": client_id,
        "client_name": name,
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// A registered-looking [`crate::signin::Client`] for a metadata document client.
pub fn client(client_id: &str, redirect_uri: &str) -> crate::signin::Client {
    crate::signin::Client {
        client_id: client_id.to_owned(),
        client_secret: None,
        redirect_uri: redirect_uri.to_owned(),
        registration: serde_json::Value::Null,
    }
}
