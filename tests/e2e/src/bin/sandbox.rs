//! `cargo run -p e2e --bin sandbox`: the whole product on this machine, without a kintone account.
//!
//! Starts the fake cybozu.com (its sample apps, and a sign-in page with the seed users instead of
//! auto-approval) and the real wasm app configured against it — on the Spin-compatible test host,
//! or on a real `spin up` when `KINTONE_MCP_HOST=spin` — then prints the MCP URL, the users to sign
//! in as and what to do next, and on Ctrl-C (or SIGTERM) stops both and removes the app's state.
//!
//! It builds what it runs first (the four wasm components and, for the test host, the host itself),
//! so the sandbox never serves stale code; both builds are no-ops when nothing changed.

use anyhow::{bail, Context, Result};
use e2e::{App, FakeConfig, HostKind, Options};
use std::process::{Command, ExitCode};

const DEFAULT_PORT: u16 = 3000;

const USAGE: &str = "\
usage: cargo run -p e2e --bin sandbox [-- --port PORT] [--no-build]

Runs kintone-mcp against a fake cybozu.com on http://127.0.0.1:PORT (default 3000).
--no-build uses the wasm components and test host as built (they are built when missing).
KINTONE_MCP_HOST=spin runs it on a real `spin up` from PATH instead of the test host.
Ctrl-C stops everything.";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let Some(args) = Args::parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let port = args.port;
    let host = HostKind::from_env()?;
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} on 127.0.0.1 is in use: stop whatever listens there, or pass `-- --port <another>`");
    }
    if args.build {
        build_what_runs(host)?;
    }

    println!("starting the fake cybozu.com and kintone-mcp ({}) ...", host_name(host));
    let options = Options {
        port: Some(port),
        // Show the fake's sign-in page (user picker) rather than approving as alice at once, so
        // the sandbox walks through every page a real user sees.
        fake_config: Some(FakeConfig {
            auto_approve_user: None,
            ..FakeConfig::default()
        }),
        ..Options::default()
    };
    let mut app = App::start_with(options).await?;
    print_banner(&app)?;

    wait_for_stop_signal().await?;
    println!("\nstopping ...");
    let fake = app.fake.take();
    // Dropping the app kills the host process and removes its state dir.
    drop(app);
    if let Some(fake) = fake {
        fake.shutdown().await;
    }
    println!("stopped.");
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
struct Args {
    port: u16,
    /// Build the wasm components and the test host before starting (the default).
    build: bool,
}

impl Args {
    /// `None` when help was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>> {
        let mut parsed = Args {
            port: DEFAULT_PORT,
            build: true,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--no-build" => parsed.build = false,
                "--port" => {
                    let value = args.next().context("--port needs a value")?;
                    parsed.port = value
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .with_context(|| format!("--port {value}: expected a port number 1-65535"))?;
                }
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(Some(parsed))
    }
}

fn host_name(host: HostKind) -> &'static str {
    match host {
        HostKind::TestHost => "on the Spin-compatible test host",
        HostKind::Spin => "on `spin up`",
    }
}

/// Builds the wasm components and, for the test host, the host binary. The harness only builds
/// what is missing; building here as well keeps an edited checkout from serving old code.
fn build_what_runs(host: HostKind) -> Result<()> {
    let root = e2e::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Cargo's own progress goes to the terminal: a first run compiles wasmtime for the test host,
    // which is most of the wait.
    println!("building (on a clean checkout this takes about 8 more minutes on 2 cores: ~1 min for");
    println!("the wasm components, ~7 min for the test host; later runs start in seconds) ...");
    let started = std::time::Instant::now();
    println!("building the wasm components (wasm32-wasip2, release) ...");
    let mut wasm = Command::new(&cargo);
    wasm.current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--release"]);
    for component in e2e::COMPONENTS {
        wasm.args(["-p", component]);
    }
    let status = wasm.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building the wasm components failed (is the target installed? `rustup target add wasm32-wasip2`)");
    }
    println!("wasm components built ({:.0} s)", started.elapsed().as_secs_f64());
    if host == HostKind::TestHost {
        println!("building the test host ...");
        let status = Command::new(&cargo)
            .current_dir(&root)
            .args(["build", "-p", "spin-test-host"])
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("building the test host failed");
        }
        println!("test host built ({:.0} s in all)", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn print_banner(app: &App) -> Result<()> {
    let seed = fake_cybozu::seed::Seed::parse(fake_cybozu::seed::BUNDLED).context("reading the fake's seed data")?;
    let mcp = app.url("/mcp");
    println!();
    println!("kintone-mcp sandbox is running.");
    println!();
    println!("  MCP URL (Streamable HTTP):  {mcp}");
    println!("  legacy SSE URL:             {}", app.url("/sse"));
    println!("  fake cybozu.com:            {}", app.fake_base_url);
    println!();
    println!("Sign in at the fake cybozu.com as one of:");
    for user in &seed.users {
        let password = user.password.as_deref().unwrap_or("(any password)");
        println!("  {:<8} password {:<16} {}", user.code, password, user.name);
    }
    println!("Sample apps:");
    for app in &seed.apps {
        println!("  app {:<3} {}", app.app_id, app.name);
    }
    println!();
    println!("Next: connect the MCP Inspector (Node.js 22 or newer):");
    println!("  npx @modelcontextprotocol/inspector");
    println!("  then choose Transport \"Streamable HTTP\", URL {mcp}, and Connect;");
    println!("  allow access on the consent page, sign in as a user above, then list and call tools.");
    println!();
    println!("Press Ctrl-C to stop.");
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_are_port_3000_and_a_build() {
        assert_eq!(
            Args::parse(args(&[])).unwrap(),
            Some(Args {
                port: 3000,
                build: true
            })
        );
        assert_eq!(
            Args::parse(args(&["--port", "3456", "--no-build"])).unwrap(),
            Some(Args {
                port: 3456,
                build: false
            })
        );
        assert_eq!(Args::parse(args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Args::parse(args(&["--port"])).is_err());
        assert!(Args::parse(args(&["--port", "0"])).is_err());
        assert!(Args::parse(args(&["--port", "http"])).is_err());
        assert!(Args::parse(args(&["--verbose"])).is_err());
    }
}
