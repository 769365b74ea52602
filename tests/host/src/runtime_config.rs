//! The runtime configuration file (`--runtime-config-file`, as `spin up` takes it). This host
//! supports two tables, with Spin's schema and rules (spinframework/spin v4.0.2):
//!
//! - `[[client_tls]]` (`crates/factor-outbound-networking/src/runtime_config/spin.rs`):
//!   `component_ids` and `hosts` non-empty, hosts without ports, paths relative to the file's
//!   directory, and roots defaulting to the platform's only when no `ca_roots_file` is given;
//! - `[key_value_store.<label>]` of `type = "spin"` (`crates/key-value-spin/src/lib.rs`): a SQLite
//!   database at `path`, relative to the file's directory, or in memory without one; or of
//!   `type = "redis"` (`crates/key-value-redis/src/lib.rs`): the Redis server at `url`.
//!
//! Anything else (another table, another store type, an unknown field) is refused by name at
//! start-up, so a test never passes by ignoring a setting.

use anyhow::{bail, ensure, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::kv::Location;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    client_tls: Vec<RawClientTls>,
    #[serde(default)]
    key_value_store: BTreeMap<String, RawKeyValueStore>,
}

/// `[key_value_store.<label>]`: Spin's own SQLite store or Redis.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawKeyValueStore {
    #[serde(rename = "spin")]
    Spin { path: Option<PathBuf> },
    #[serde(rename = "redis")]
    Redis { url: String },
}

/// What this host takes from a runtime configuration file.
#[derive(Default)]
pub struct RuntimeConfig {
    pub client_tls: ClientTls,
    /// Store labels with a database of their own, by label.
    pub key_value_stores: Vec<(String, Location)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientTls {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_platform_roots: Option<bool>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

/// Per component id: host → the TLS client configuration for it (first matching entry wins).
#[derive(Default, Clone)]
pub struct ClientTls {
    by_component: HashMap<String, HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl ClientTls {
    /// The TLS configurations one component's outbound requests use, by host.
    pub fn for_component(&self, id: &str) -> HashMap<String, Arc<rustls::ClientConfig>> {
        self.by_component.get(id).cloned().unwrap_or_default()
    }
}

/// Reads the file; `known_components` are the manifest's component ids.
pub fn load(path: &Path, known_components: &[String]) -> Result<RuntimeConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the runtime config {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, dir, known_components).with_context(|| format!("runtime config {}", path.display()))
}

pub fn parse(text: &str, dir: &Path, known_components: &[String]) -> Result<RuntimeConfig> {
    let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
    for (key, value) in &table {
        match key.as_str() {
            "client_tls" => {}
            "key_value_store" => {
                for (label, store) in value.as_table().into_iter().flatten() {
                    let kind = store.get("type").and_then(toml::Value::as_str).unwrap_or("");
                    if kind != "spin" && kind != "redis" {
                        bail!("[key_value_store.{label}]: this test host does not support store type {kind:?} (only \"spin\" and \"redis\")");
                    }
                }
            }
            _ => bail!(
                "`{key}` is a runtime-config table this test host does not support (only [[client_tls]] and [key_value_store.*])"
            ),
        }
    }
    let raw: RawRuntimeConfig = toml::Value::Table(table)
        .try_into()
        .context("failed to parse the runtime config")?;
    let key_value_stores = raw
        .key_value_store
        .into_iter()
        .map(|(label, store)| {
            let location = match store {
                // As Spin resolves it: relative to the runtime config file's directory.
                RawKeyValueStore::Spin { path } => path.map_or(Location::Memory, |p| Location::File(dir.join(p))),
                RawKeyValueStore::Redis { url } => Location::Redis(url),
            };
            (label, location)
        })
        .collect();
    Ok(RuntimeConfig {
        client_tls: client_tls(raw.client_tls, dir, known_components)?,
        key_value_stores,
    })
}

fn client_tls(entries: Vec<RawClientTls>, dir: &Path, known_components: &[String]) -> Result<ClientTls> {
    let mut out = ClientTls::default();
    for (i, entry) in entries.into_iter().enumerate() {
        let context = || format!("[[client_tls]] entry {}", i + 1);
        ensure!(
            !entry.component_ids.is_empty(),
            "{}: 'component_ids' list may not be empty",
            context()
        );
        ensure!(!entry.hosts.is_empty(), "{}: 'hosts' list may not be empty", context());
        for host in &entry.hosts {
            let authority: http::uri::Authority = host
                .parse()
                .with_context(|| format!("{}: invalid TLS 'host' {host:?}", context()))?;
            ensure!(
                authority.port().is_none(),
                "{}: invalid TLS 'host' {host:?}; ports not currently supported",
                context()
            );
        }
        for id in &entry.component_ids {
            ensure!(
                known_components.contains(id),
                "{}: no component `{id}` in the manifest",
                context()
            );
        }
        if entry.client_cert_file.is_some() || entry.client_private_key_file.is_some() {
            bail!("{}: client certificates are not supported by this test host", context());
        }
        let (platform, webpki) = match (entry.ca_use_platform_roots, entry.ca_use_webpki_roots) {
            (Some(p), Some(w)) => (p, w),
            (Some(p), None) => (p, false),
            (None, Some(w)) => (false, w),
            (None, None) => (entry.ca_roots_file.is_none(), false),
        };
        let mut roots = rustls::RootCertStore::empty();
        if let Some(file) = &entry.ca_roots_file {
            let path = dir.join(file);
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
                .and_then(Iterator::collect)
                .with_context(|| format!("{}: failed to load certificate(s) from '{}'", context(), path.display()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("{}: unusable CA certificate in '{}'", context(), path.display()))?;
            }
        }
        // This host has no platform store of its own: the webpki roots stand in for it, as they do
        // for every other https request it sends.
        if platform || webpki {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        // An explicit provider: whichever other rustls backend the workspace enables elsewhere,
        // this never depends on a process-wide default.
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        for id in &entry.component_ids {
            let hosts = out.by_component.entry(id.clone()).or_default();
            for host in &entry.hosts {
                hosts.entry(host.to_ascii_lowercase()).or_insert_with(|| config.clone());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components() -> Vec<String> {
        vec!["oauth-provider".into()]
    }

    #[test]
    fn refuses_what_spin_refuses_and_what_this_host_lacks() {
        let dir = Path::new(".");
        for (text, why) in [
            ("[[client_tls]]\ncomponent_ids = []\nhosts = [\"localhost\"]", "may not be empty"),
            ("[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = []", "may not be empty"),
            ("[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = [\"localhost:8443\"]", "ports not currently supported"),
            ("[[client_tls]]\ncomponent_ids = [\"other\"]\nhosts = [\"localhost\"]", "no component"),
            ("[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = [\"localhost\"]\nca_roots_file = \"missing.pem\"", "failed to load"),
            ("[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = [\"localhost\"]\ntypo = 1", "unknown field"),
            ("[key_value_store.default]\ntype = \"azure_cosmos\"", "does not support store type \"azure_cosmos\""),
            ("[key_value_store.default]\ntype = \"redis\"", "missing field `url`"),
            ("[key_value_store.default]\npath = \"x.db\"", "does not support store type \"\""),
            ("[key_value_store.default]\ntype = \"spin\"\npaht = \"x.db\"", "unknown field"),
            ("[sqlite_database.default]\ntype = \"spin\"", "does not support"),
        ] {
            let err = format!("{:#}", parse(text, dir, &components()).err().unwrap_or_else(|| panic!("accepted: {text}")));
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn platform_roots_stand_in_when_no_file_is_given() {
        let tls = parse(
            "[[client_tls]]\ncomponent_ids = [\"oauth-provider\"]\nhosts = [\"Example.com\"]",
            Path::new("."),
            &components(),
        )
        .unwrap()
        .client_tls;
        assert!(tls.for_component("oauth-provider").contains_key("example.com"));
        assert!(tls.for_component("other").is_empty());
        assert!(parse("", Path::new("."), &components())
            .unwrap()
            .client_tls
            .for_component("oauth-provider")
            .is_empty());
    }

    #[test]
    fn a_spin_store_lives_at_its_path_beside_the_file_or_in_memory_and_redis_at_its_url() {
        let config = parse(
            "[key_value_store.default]\ntype = \"spin\"\n[key_value_store.cache]\ntype = \"spin\"\npath = \"data/cache.db\"\n[key_value_store.abs]\ntype = \"spin\"\npath = \"/var/kv.db\"\n[key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://localhost:6379\"",
            Path::new("/etc/app"),
            &components(),
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores,
            vec![
                ("abs".to_string(), Location::File("/var/kv.db".into())),
                ("cache".to_string(), Location::File("/etc/app/data/cache.db".into())),
                ("default".to_string(), Location::Memory),
                ("shared".to_string(), Location::Redis("redis://localhost:6379".into())),
            ]
        );
        assert!(parse("", Path::new("."), &components())
            .unwrap()
            .key_value_stores
            .is_empty());
    }
}
