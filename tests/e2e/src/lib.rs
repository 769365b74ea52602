//! End-to-end harness. [`App::start`] starts the fake cybozu.com in-process and the real wasm app
//! in a separate process — the Spin-compatible test host by default, or a real `spin up` when
//! `KINTONE_MCP_HOST=spin` — on a free loopback port, waits until it answers, and stops both when
//! dropped. Tests then talk to it over real HTTP like any MCP client.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fake_cybozu::{FakeConfig, FakeCybozu};

pub mod browser;
pub mod cimd_origin;
pub mod clients;
pub mod kv_store;
pub mod mcp_client;
pub mod redis_server;
pub mod signin;

/// The OAuth client the app uses at the fake cybozu.com.
/// The MCP protocol revision the suites (and the bench) speak by default.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// All six kintone scopes, as a `scope` parameter lists them.
pub const ALL_SCOPES: &str =
    "k:app_record:read k:app_record:write k:app_settings:read k:app_settings:write k:file:read k:file:write";

/// The suites' plain HTTP client: redirects are not followed (they are what is checked) and
/// nothing waits longer than 30 s.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a reqwest client with static settings builds")
}

pub const CLIENT_ID: &str = "kintone-mcp-e2e";
pub const CLIENT_SECRET: &str = "e2e-client-secret";
/// Only for tests: a fixed secret so failures are reproducible.
pub const SECRET_KEY: &str = "e2e-secret-key-0123456789abcdef0123456789abcdef";

/// Which host runs the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `tests/host`, our wasmtime-based Spin-compatible host.
    TestHost,
    /// A real `spin up` from PATH.
    Spin,
}

impl HostKind {
    pub fn from_env() -> Result<HostKind> {
        match std::env::var("KINTONE_MCP_HOST").as_deref() {
            Err(_) | Ok("") | Ok("test-host") => Ok(HostKind::TestHost),
            Ok("spin") => Ok(HostKind::Spin),
            Ok(other) => bail!("KINTONE_MCP_HOST={other}: expected `spin` or `test-host`"),
        }
    }
}

/// For a test that needs a switch only the test host has: on a real `spin up`
/// (`KINTONE_MCP_HOST=spin`) it prints why it is skipped and returns true, so the test returns.
pub fn skip_on_spin(reason: &str) -> bool {
    let on_spin = matches!(HostKind::from_env(), Ok(HostKind::Spin));
    if on_spin {
        eprintln!("skipped on real Spin: {reason}");
    }
    on_spin
}

/// Options for one app instance.
#[derive(Default)]
pub struct Options {
    /// Extra `SPIN_VARIABLE_*` values, e.g. `("public_url", "https://mcp.example.com")`.
    pub variables: Vec<(String, String)>,
    /// Share another instance's state dir (two replicas on one store).
    pub state_dir: Option<PathBuf>,
    /// Use this fake instead of starting one.
    pub fake_base_url: Option<String>,
    /// Listen on this loopback port instead of a free one.
    pub port: Option<u16>,
    /// Configuration for the in-process fake (its redirect URIs get the app's `/callback` added).
    pub fake_config: Option<FakeConfig>,
    /// A runtime configuration file (`--runtime-config-file`, e.g. a test CA for an https origin).
    pub runtime_config_file: Option<PathBuf>,
    /// Switch on the test host's key-value fault file (`<state_dir>/kv-faults`; test host only:
    /// such tests skip on Spin).
    pub kv_fault_switch: bool,
}

pub struct App {
    pub base_url: String,
    pub state_dir: PathBuf,
    pub fake: Option<FakeCybozu>,
    pub fake_base_url: String,
    process: Child,
    owns_state_dir: bool,
    /// Where the host's stderr goes (unless E2E_HOST_LOG).
    log_file: PathBuf,
    /// The test stopped or killed the host itself.
    stopped: bool,
}

impl App {
    pub async fn start() -> Result<App> {
        App::start_with(Options::default()).await
    }

    /// An app whose `default` key-value store is Spin's SQLite in memory
    /// (`[key_value_store.default] type = "spin"` without a `path`, which both hosts honour):
    /// no write waits for the disk, and nothing outlives the host.
    pub async fn start_with_store_in_memory() -> Result<App> {
        App::start_with_default_store("type = \"spin\"\n").await
    }

    /// An app whose `default` key-value store is that Redis server (`type = "redis"`), as on
    /// SpinKube; both hosts serve it.
    pub async fn start_with_store_on_redis(redis: &redis_server::RedisServer) -> Result<App> {
        App::start_with_default_store(&format!("type = \"redis\"\nurl = \"{}\"\n", redis.url())).await
    }

    /// An app whose runtime config defines `[key_value_store.default]` with `table`'s lines.
    async fn start_with_default_store(table: &str) -> Result<App> {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let config = std::env::temp_dir().join(format!("kintone-mcp-default-store-{}-{nth}.toml", std::process::id()));
        std::fs::write(&config, format!("[key_value_store.default]\n{table}"))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let app = App::start_with(Options {
            runtime_config_file: Some(config.clone()),
            ..Options::default()
        })
        .await;
        // The host has read it by the time it answers.
        let _ = std::fs::remove_file(&config);
        app
    }

    pub async fn start_with(options: Options) -> Result<App> {
        let root = workspace_root();
        let app_root = app_dir();
        ensure_wasm_built(&app_root)?;
        let port = match options.port {
            Some(p) => p,
            None => free_port()?,
        };
        let base_url = format!("http://127.0.0.1:{port}");
        let (fake, fake_base_url) = match options.fake_base_url {
            Some(url) => (None, url),
            None => {
                let mut config = options.fake_config.unwrap_or_default();
                config.client_id = CLIENT_ID.into();
                config.client_secret = CLIENT_SECRET.into();
                config.redirect_uris = vec![format!("{base_url}/callback")];
                let fake = FakeCybozu::start(config).await?;
                let url = fake.base_url();
                (Some(fake), url)
            }
        };
        let owns_state_dir = options.state_dir.is_none();
        let state_dir = options
            .state_dir
            .unwrap_or_else(|| unique_temp_dir("kintone-mcp-state"));
        let mut command = match HostKind::from_env()? {
            HostKind::TestHost => {
                let host = target_dir(&root).join("debug").join("spin-test-host");
                if !host.exists() {
                    bail!(
                        "{} is missing: run `cargo build -p spin-test-host` (the README's test command does)",
                        host.display()
                    );
                }
                let mut c = Command::new(host);
                c.arg("up");
                c
            }
            HostKind::Spin => {
                let mut c = Command::new("spin");
                c.arg("up");
                c
            }
        };
        command
            .arg("-f")
            .arg(app_root.join("spin.toml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(&state_dir)
            .env("SPIN_VARIABLE_KINTONE_BASE_URL", &fake_base_url)
            .env("SPIN_VARIABLE_CYBOZU_CLIENT_ID", CLIENT_ID)
            .env("SPIN_VARIABLE_CYBOZU_CLIENT_SECRET", CLIENT_SECRET)
            .env("SPIN_VARIABLE_SECRET_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // The host's log goes to the terminal with E2E_HOST_LOG, else to a file that a test
        // whose host died under it prints (see `Drop for App`).
        let log_file = state_dir.join(format!("host-{port}.log"));
        if std::env::var_os("E2E_HOST_LOG").is_some() {
            command.stderr(Stdio::inherit());
        } else {
            std::fs::create_dir_all(&state_dir).context("cannot create the state dir")?;
            let log = std::fs::File::create(&log_file).context("cannot create the host's log file")?;
            command.stderr(log);
        }
        if let Some(file) = &options.runtime_config_file {
            command.arg("--runtime-config-file").arg(file);
        }
        if options.kv_fault_switch {
            command.env("SPIN_TEST_HOST_KV_FAULTS", "1");
        }
        for (name, value) in &options.variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()), value);
        }
        let process = command.spawn().context("cannot start the app host")?;
        let mut app = App {
            base_url,
            state_dir,
            fake,
            fake_base_url,
            process,
            owns_state_dir,
            log_file,
            stopped: false,
        };
        app.wait_until_ready().await?;
        Ok(app)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        let probe = format!("{}/.well-known/oauth-authorization-server", self.base_url);
        loop {
            if let Some(status) = self.process.try_wait()? {
                bail!(
                    "the app host exited during start-up ({status}); the end of its log:\n{}",
                    self.log_tail()
                );
            }
            // Only the app answers this document (the fake cybozu.com and others 404 it).
            if client.get(&probe).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the app did not answer on {} within 120 s", self.base_url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines the host wrote to its log file (empty with E2E_HOST_LOG: the terminal has them).
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Kills the host process at once, as a crash would (to test restarts); the state dir is kept.
    pub fn kill(&mut self) {
        self.stopped = true;
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    /// Stops the host as Ctrl-C does (SIGINT), waiting for it to exit — `spin up` shuts down
    /// gracefully and takes a moment with connections open — and kills it if it has not
    /// exited within 10 s.
    pub fn stop(&mut self) {
        self.stopped = true;
        if matches!(self.process.try_wait(), Ok(Some(_))) {
            return;
        }
        let interrupted = Command::new("kill")
            .args(["-INT", &self.process.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if interrupted {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(self.process.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if !self.stopped {
            if let Ok(Some(status)) = self.process.try_wait() {
                // Printed into the failing test's output: a host gone mid-test otherwise shows
                // only as refused connections.
                eprintln!(
                    "the app host on {} exited during the test ({status}); the end of its log:\n{}",
                    self.base_url,
                    self.log_tail()
                );
            }
        }
        self.stop();
        if self.owns_state_dir {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// The workspace root (where spin.toml is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The directory whose `spin.toml` the host serves (its components at the paths it names,
/// relative to it): the workspace root, or `KINTONE_MCP_APP_DIR` when set — e.g. a worktree of an
/// older commit, so the benchmark can measure those components with this checkout's host.
pub fn app_dir() -> PathBuf {
    std::env::var_os("KINTONE_MCP_APP_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(workspace_root)
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The components the app needs, built in release for wasm32-wasip2 if any is missing.
pub const COMPONENTS: [&str; 4] = ["oauth-provider", "cybozu-callback", "mcp-endpoint", "kintone-tools"];

fn ensure_wasm_built(root: &Path) -> Result<()> {
    let dir = target_dir(root).join("wasm32-wasip2").join("release");
    let missing = COMPONENTS
        .iter()
        .any(|c| !dir.join(format!("{}.wasm", c.replace('-', "_"))).exists());
    if !missing {
        return Ok(());
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "--target", "wasm32-wasip2", "--release"]);
    for c in COMPONENTS {
        cmd.args(["-p", c]);
    }
    let status = cmd.status().context("cannot run cargo to build the wasm components")?;
    if !status.success() {
        bail!("building the wasm components failed");
    }
    Ok(())
}

/// A loopback port nothing listens on now, never the same twice in one test run: between this
/// call and the host binding the port another test could be handed it too, and one of the two
/// hosts would then fail to bind while its probe was answered by the other.
pub fn free_port() -> Result<u16> {
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
    bail!("no loopback port left that this test run has not handed out")
}

pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}
