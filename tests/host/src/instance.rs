//! Per-request instance state and the Spin host interfaces this host implements:
//! `fermyon:spin/key-value@2.0.0` and `fermyon:spin/variables@2.0.0`, plus the outbound-HTTP
//! hook that enforces `allowed_outbound_hosts`.

use crate::kv::KvStores;
use crate::outbound::AllowList;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

wasmtime::component::bindgen!({
    inline: r#"
        package fermyon:spin@2.0.0;

        interface key-value {
            resource store {
                open: static func(label: string) -> result<store, error>;
                get: func(key: string) -> result<option<list<u8>>, error>;
                set: func(key: string, value: list<u8>) -> result<_, error>;
                delete: func(key: string) -> result<_, error>;
                exists: func(key: string) -> result<bool, error>;
                get-keys: func() -> result<list<string>, error>;
            }
            variant error { store-table-full, no-such-store, access-denied, other(string) }
        }

        interface variables {
            get: func(name: string) -> result<string, error>;
            variant error { invalid-name(string), undefined(string), provider(string), other(string) }
        }

        world spin-host {
            import key-value;
            import variables;
        }
    "#,
    imports: { default: async },
    with: { "fermyon:spin/key-value.store": KvStoreHandle },
});

use fermyon::spin::{key_value, variables};

/// What a component may use, fixed at start-up from the manifest and resolved variables.
pub struct ComponentConfig {
    pub id: String,
    /// Component variable name → resolved value.
    pub variables: BTreeMap<String, String>,
    pub key_value_stores: Vec<String>,
    pub allowed_hosts: AllowList,
    /// `[[client_tls]]` of the runtime config for this component: host → TLS client config.
    pub client_tls: std::collections::HashMap<String, Arc<rustls::ClientConfig>>,
    pub environment: Vec<(String, String)>,
    pub kv: KvStores,
    /// The host's outbound connection pool (shared by every component, as in Spin).
    pub outbound_pool: crate::pooled_send::Pool,
}

/// An open store, as the guest holds it: resolved once, at `open`, as in Spin.
pub struct KvStoreHandle(crate::kv::Store);

/// How many stores one instance may hold open, like Spin's table limit.
const MAX_OPEN_STORES: usize = 16;

pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    config: Arc<ComponentConfig>,
    open_stores: usize,
}

impl InstanceState {
    pub fn new(config: Arc<ComponentConfig>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        for (k, v) in &config.environment {
            wasi.env(k, v);
        }
        InstanceState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks { config: config.clone() },
            config,
            open_stores: 0,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    key_value::add_to_linker::<_, HasSelf<InstanceState>>(linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<InstanceState>>(linker, |s| s)?;
    Ok(())
}

impl InstanceState {
    fn store(&self, handle: &Resource<KvStoreHandle>) -> Result<&KvStoreHandle, key_value::Error> {
        self.table
            .get(handle)
            .map_err(|e| key_value::Error::Other(format!("invalid store handle: {e}")))
    }
}

impl key_value::Host for InstanceState {}

impl key_value::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> Result<Resource<KvStoreHandle>, key_value::Error> {
        if !self.config.key_value_stores.contains(&label) {
            // Spin answers access-denied for a label the component does not list.
            return Err(key_value::Error::AccessDenied);
        }
        // Every label a component lists was checked at start-up, so this cannot miss.
        let store = self
            .config
            .kv
            .for_label(&label)
            .ok_or(key_value::Error::NoSuchStore)?
            .clone();
        // Spin's order (`factor-key-value` host.rs): the store's `get` and `after_open`, then
        // the table's capacity.
        store.open().await.map_err(key_value::Error::Other)?;
        if self.open_stores >= MAX_OPEN_STORES {
            return Err(key_value::Error::StoreTableFull);
        }
        let handle = self
            .table
            .push(KvStoreHandle(store))
            .map_err(|e| key_value::Error::Other(e.to_string()))?;
        self.open_stores += 1;
        Ok(handle)
    }

    async fn get(&mut self, store: Resource<KvStoreHandle>, key: String) -> Result<Option<Vec<u8>>, key_value::Error> {
        self.store(&store)?.0.get(&key).await.map_err(key_value::Error::Other)
    }

    async fn set(
        &mut self,
        store: Resource<KvStoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        self.store(&store)?
            .0
            .set(&key, &value)
            .await
            .map_err(key_value::Error::Other)
    }

    async fn delete(&mut self, store: Resource<KvStoreHandle>, key: String) -> Result<(), key_value::Error> {
        self.store(&store)?
            .0
            .delete(&key)
            .await
            .map_err(key_value::Error::Other)
    }

    async fn exists(&mut self, store: Resource<KvStoreHandle>, key: String) -> Result<bool, key_value::Error> {
        self.store(&store)?
            .0
            .exists(&key)
            .await
            .map_err(key_value::Error::Other)
    }

    async fn get_keys(&mut self, store: Resource<KvStoreHandle>) -> Result<Vec<String>, key_value::Error> {
        self.store(&store)?.0.keys().await.map_err(key_value::Error::Other)
    }

    async fn drop(&mut self, store: Resource<KvStoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.open_stores = self.open_stores.saturating_sub(1);
        Ok(())
    }
}

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(variables::Error::InvalidName(name));
        }
        self.config
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name))
    }
}

/// Outbound HTTP: refuse what `allowed_outbound_hosts` does not allow, send the rest.
struct OutboundHooks {
    config: Arc<ComponentConfig>,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16();
        if !self.config.allowed_hosts.allows(&scheme, &host, port) {
            let origin = match port {
                Some(p) => format!("{scheme}://{host}:{p}"),
                None => format!("{scheme}://{host}"),
            };
            eprintln!(
                "[{}] Outbound network destination not allowed: {origin} (not in allowed_outbound_hosts)",
                self.config.id
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let _ = fut;
        if scheme.eq_ignore_ascii_case("https") {
            if let Some(tls) = self.config.client_tls.get(&host.to_ascii_lowercase()).cloned() {
                return Box::new(async move {
                    use http_body_util::BodyExt;
                    let (response, io) = crate::tls_send::send_with_tls(request, options, tls).await?;
                    Ok((response.map(BodyExt::boxed_unsync), io))
                });
            }
        }
        if scheme.eq_ignore_ascii_case("http") {
            let pool = self.config.outbound_pool.clone();
            return Box::new(async move {
                use http_body_util::BodyExt;
                let (response, io) = crate::pooled_send::send(&pool, request, options).await?;
                Ok((response.map(BodyExt::boxed_unsync), io))
            });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}
