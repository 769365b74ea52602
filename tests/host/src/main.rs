//! `spin-test-host`: runs a Spin application (manifest v2, spin-sdk 5.2 components) the way
//! `spin up` does, for environments where no `spin` CLI can be installed. See README.md.

mod compose;
mod engine;
mod hand_over;
mod instance;
mod kv;
mod manifest;
mod outbound;
mod pooled_send;
mod routing;
mod runtime_config;
mod server;
mod tls_send;
mod variables;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// Command line modelled on `spin up`.
#[derive(Parser, Debug)]
#[command(name = "spin-test-host", version, about = "A Spin-compatible test host (wasmtime)")]
struct Args {
    /// Optional `up`, so `spin-test-host up -f spin.toml` reads like `spin up -f spin.toml`.
    #[arg(value_parser = ["up"])]
    command: Option<String>,
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: String,
    /// Directory for the key-value store (default: `.spin` next to the manifest).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Application variable, `name=value` (repeatable); `SPIN_VARIABLE_<NAME>` takes precedence.
    #[arg(long = "variable")]
    variables: Vec<String>,
    /// Runtime configuration (TOML) as `spin up` takes it; this host supports `[[client_tls]]`
    /// and `[key_value_store.<label>]` of `type = "spin"`.
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    let app = manifest::App::load(&args.from)?;
    let mut cli_vars = BTreeMap::new();
    for v in &args.variables {
        let Some((name, value)) = v.split_once('=') else {
            bail!("--variable `{v}`: expected NAME=VALUE");
        };
        cli_vars.insert(name.to_owned(), value.to_owned());
    }
    let resolved = variables::Resolved::resolve(&app.variables, |k| std::env::var(k).ok(), &cli_vars)?;
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => args.from.parent().unwrap_or(std::path::Path::new(".")).join(".spin"),
    };
    let runtime_config = match &args.runtime_config_file {
        Some(path) => runtime_config::load(path, &app.components.keys().cloned().collect::<Vec<_>>())?,
        None => runtime_config::RuntimeConfig::default(),
    };
    let kv = kv::KvStores::open(
        &state_dir,
        &runtime_config.key_value_stores,
        std::env::var_os(kv::FAULT_SWITCH_ENV).is_some(),
    )?;
    let client_tls = runtime_config.client_tls;

    let engine = engine::new()?;
    let outbound_pool = pooled_send::new_pool();

    let mut components = HashMap::new();
    for (id, c) in &app.components {
        let hosts = c
            .allowed_outbound_hosts
            .iter()
            .map(|t| resolved.expand(t))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
        let (allowed_hosts, problems) = outbound::AllowList::parse(&hosts);
        for p in problems {
            eprintln!("Warning: component `{id}`: {p}");
        }
        let mut vars = BTreeMap::new();
        for (name, template) in &c.variables {
            let value = resolved
                .expand(template)
                .with_context(|| format!("component `{id}`: variable `{name}`"))?;
            vars.insert(name.clone(), value);
        }
        kv.check_labels(id, &c.key_value_stores)?;
        let bytes = compose::load_composed(&c.source, &c.dependencies).with_context(|| format!("component `{id}`"))?;
        let component = wasmtime::component::Component::new(&engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component `{id}`: {}", c.source.display()))?;
        let pre = server::Server::instantiate_pre(&engine, &component)
            .with_context(|| format!("component `{id}`: unsatisfied imports"))?;
        let config = instance::ComponentConfig {
            id: id.clone(),
            variables: vars,
            key_value_stores: c.key_value_stores.clone(),
            allowed_hosts,
            client_tls: client_tls.for_component(id),
            environment: c.environment.clone().into_iter().collect(),
            kv: kv.clone(),
            outbound_pool: outbound_pool.clone(),
        };
        components.insert(
            id.clone(),
            server::LoadedComponent {
                pre,
                config: Arc::new(config),
            },
        );
    }

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("Serving http://{addr} ({})", app.name);
    println!("Available Routes:");
    for r in &app.routes {
        println!("  {}: http://{addr}{}", r.component, r.pattern);
    }
    let server = Arc::new(server::Server {
        engine,
        router: routing::Router::new(app.routes.clone()),
        components,
    });
    tokio::select! {
        r = server.serve(listener) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
