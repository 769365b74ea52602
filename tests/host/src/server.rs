//! The HTTP trigger: accept connections, route like Spin, add Spin's request headers, run a fresh
//! instance per request and stream its response body as the guest writes it.

use crate::instance::{ComponentConfig, InstanceState};
use crate::routing::Router;
use anyhow::Result;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use wasmtime::component::Component;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

type ResponseBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, anyhow::Error>;

pub struct LoadedComponent {
    pub pre: ProxyPre<InstanceState>,
    pub config: Arc<ComponentConfig>,
}

pub struct Server {
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, LoadedComponent>,
}

impl Server {
    pub fn instantiate_pre(engine: &Engine, component: &Component) -> Result<ProxyPre<InstanceState>> {
        let mut linker = wasmtime::component::Linker::new(engine);
        crate::instance::add_to_linker(&mut linker)?;
        let pre = linker.instantiate_pre(component).map_err(anyhow::Error::from)?;
        Ok(ProxyPre::new(pre)?)
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        loop {
            let (stream, client) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req, client).await) }
                });
                // As Spin's trigger-http serves (crates/trigger-http/src/server.rs): the auto
                // builder, and the socket as accepted (Nagle on), so a response whose head leaves
                // before its body shows the same delayed-ACK stall here as under `spin up`.
                // Errors here are client disconnects mid-response; nothing to report.
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        client: SocketAddr,
    ) -> hyper::Response<ResponseBody> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let response = match self.dispatch(req, client).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{method} {path}: component failed: {e:#}");
                plain(500, "Internal Server Error\n")
            }
        };
        eprintln!(
            "{method} {path} -> {} ({} ms)",
            response.status().as_u16(),
            started.elapsed().as_millis()
        );
        response
    }

    async fn dispatch(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        client: SocketAddr,
    ) -> Result<hyper::Response<ResponseBody>> {
        let path = req.uri().path().to_owned();
        let Some(matched) = self.router.route(&path) else {
            return Ok(plain(404, "Not Found\n"));
        };
        let Some(component) = self.components.get(&matched.route.component) else {
            return Ok(plain(404, "Not Found\n"));
        };

        let (mut parts, body) = req.into_parts();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        // A client must not be able to forge the metadata Spin adds.
        let forged: Vec<_> = parts
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("spin-"))
            .cloned()
            .collect();
        for name in forged {
            parts.headers.remove(name);
        }
        let mut spin_headers: Vec<(String, String)> = vec![
            ("spin-full-url".into(), format!("http://{host}{path_and_query}")),
            ("spin-path-info".into(), matched.path_info.clone()),
            ("spin-matched-route".into(), matched.route.pattern.clone()),
            ("spin-base-path".into(), "/".into()),
            ("spin-raw-component-route".into(), matched.route.pattern.clone()),
            ("spin-component-route".into(), matched.component_route.clone()),
            ("spin-client-addr".into(), client.to_string()),
        ];
        for (name, value) in &matched.params {
            spin_headers.push((format!("spin-path-match-{name}"), value.clone()));
        }
        for (name, value) in spin_headers {
            if let (Ok(n), Ok(v)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
                parts.headers.insert(n, v);
            }
        }
        // The guest sees an absolute URI, as under Spin.
        parts.uri = format!("http://{host}{path_and_query}").parse()?;
        let req = hyper::Request::from_parts(parts, body);

        let mut store = Store::new(&self.engine, InstanceState::new(component.config.clone()));
        store.set_epoch_deadline(crate::engine::EPOCH_DEADLINE);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        // The response is looked at the instant the guest sets it (see `hand_over`).
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam_from_callback(move |set| {
                let _ = sender.send(set.map(crate::hand_over::hand_over));
            })?;
        let pre = component.pre.clone();
        let id = component.config.id.clone();
        // The guest keeps running after it sets the response head (streaming bodies), so it runs
        // in its own task and the response is returned as soon as the head is ready.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => {
                let known_body = response
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .is_some_and(|length| length.as_bytes() != b"0");
                if response.body().head_went_alone() && known_body {
                    eprintln!(
                        "[{id}] {path}: set a {} response before writing its body of known length: its head leaves alone \
                         and, with Nagle on, the body waits for the client's delayed ACK",
                        response.status()
                    );
                }
                Ok(response.map(|body| body.map_err(anyhow::Error::from).boxed_unsync()))
            }
            Ok(Err(code)) => {
                eprintln!("[{id}] responded with error code {code:?}");
                Ok(plain(500, "Internal Server Error\n"))
            }
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "the component returned without setting a response".to_owned(),
                    Ok(Err(e)) => format!("{e:?}"),
                    Err(e) => e.to_string(),
                };
                eprintln!("[{id}] {why}");
                Ok(plain(500, "Internal Server Error\n"))
            }
        }
    }
}

fn plain(status: u16, text: &'static str) -> hyper::Response<ResponseBody> {
    let mut response = hyper::Response::new(
        Full::new(bytes::Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    response
}
