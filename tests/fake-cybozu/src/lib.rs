//! A faithful fake cybozu.com for tests and a local sandbox: Cybozu OAuth 2.0
//! (`/oauth2/authorization`, `/oauth2/token`) and the kintone REST API (`/k/v1/…` and
//! `/k/guest/{space}/v1/…`), with seed data, per-user permissions, fault injection and a
//! request log. Start one with [`FakeCybozu::start`]; drive it from tests through the handle's
//! methods or, for a separate process, through the `/_fake/…` HTTP API.

pub mod control;
pub mod faults;
pub mod kintone;
pub mod oauth;
pub mod random;
pub mod request_log;
pub mod seed;
pub mod server;
pub mod shared;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{ActiveFault, Fault, FaultKind, FaultTimes};
pub use request_log::LoggedRequest;
pub use shared::ControlError;

/// Where the seed data comes from.
#[derive(Debug, Clone, Default)]
pub enum SeedData {
    /// `data/seed.json`, bundled into the crate.
    #[default]
    Bundled,
    File(PathBuf),
    Json(String),
}

/// How to start the fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// None: 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    pub data: SeedData,
    pub client_id: String,
    pub client_secret: String,
    /// The OAuth client's redirect endpoints; matched exactly. More can be added later with
    /// [`FakeCybozu::add_redirect_uri`], since an app's callback URL may be known only at run time.
    pub redirect_uris: Vec<String>,
    /// `expires_in` of access tokens.
    pub token_lifetime: Duration,
    pub code_lifetime: Duration,
    /// Some(user): the authorization endpoint approves at once as that user.
    /// None: it shows a sign-in page with a user picker that posts back.
    pub auto_approve_user: Option<String>,
    /// How many deploy-status polls answer PROCESSING after a deploy before the outcome.
    pub deploy_processing_polls: u32,
    /// Concurrent kintone requests before 429 GAIA_TO04 (kintone: 100 per domain).
    pub concurrency_limit: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            listen: None,
            data: SeedData::Bundled,
            client_id: "kintone-mcp-test".into(),
            client_secret: "test-secret".into(),
            redirect_uris: vec!["http://127.0.0.1:3000/callback".into()],
            token_lifetime: Duration::from_secs(3600),
            code_lifetime: Duration::from_secs(600),
            auto_approve_user: Some("alice".into()),
            deploy_processing_polls: 1,
            concurrency_limit: 100,
        }
    }
}

/// A running fake cybozu.com. Dropping it (or [`FakeCybozu::shutdown`]) stops the server.
pub struct FakeCybozu {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

use shared::Shared;

impl FakeCybozu {
    /// Loads the seed data, binds, and starts serving in the background.
    pub async fn start(config: FakeConfig) -> anyhow::Result<FakeCybozu> {
        let text = match &config.data {
            SeedData::Bundled => seed::BUNDLED.to_string(),
            SeedData::File(path) => {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
            }
            SeedData::Json(text) => text.clone(),
        };
        let seed = seed::Seed::parse(&text)?;
        let state = seed::build_state(
            seed,
            seed::OAuthSetup {
                client: state::OAuthClient {
                    client_id: config.client_id.clone(),
                    client_secret: config.client_secret.clone(),
                    redirect_uris: config.redirect_uris.clone(),
                },
                token_lifetime: config.token_lifetime,
                code_lifetime: config.code_lifetime,
                approving_user: config.auto_approve_user.clone(),
            },
            config.deploy_processing_polls,
        )?;
        let shared = Arc::new(Shared::new(state, config.concurrency_limit));
        let listener = server::bind(config.listen).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (shutdown, stop) = oneshot::channel();
        let app = server::router(shared.clone());
        let task = tokio::spawn(server::serve(listener, app, stop));
        Ok(FakeCybozu {
            shared,
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (for the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `expires_in` for tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.set_token_lifetime(lifetime);
    }

    /// Every access token issued so far stops working (401 CB_OA01); refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        self.shared.expire_access_tokens();
    }

    /// The user's refresh tokens are revoked (refresh answers `invalid_grant`).
    pub fn revoke_refresh_tokens(&self, user: &str) -> Result<usize, ControlError> {
        self.shared.revoke_refresh_tokens(user)
    }

    /// Some(user): approve authorization requests at once as that user; None: sign-in page.
    pub fn set_approving_user(&self, user: Option<&str>) -> Result<(), ControlError> {
        self.shared.set_approving_user(user)
    }

    pub fn add_redirect_uri(&self, uri: &str) -> Result<(), ControlError> {
        self.shared.add_redirect_uri(uri)
    }

    pub fn redirect_uris(&self) -> Vec<String> {
        self.shared.redirect_uris()
    }

    /// Injects a fault; returns its id.
    pub fn add_fault(&self, fault: Fault) -> u64 {
        self.shared.add_fault(fault)
    }

    pub fn faults(&self) -> Vec<ActiveFault> {
        self.shared.faults()
    }

    pub fn remove_fault(&self, id: u64) -> Result<(), ControlError> {
        self.shared.remove_fault(id)
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Every cybozu.com request so far (not `/_fake/…`), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.requests()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// An app's records as stored, in kintone's `{code: {type, value}}` shape, ascending id,
    /// with every field (no permission filtering) and a non-kintone `$comments` list.
    pub fn records(&self, app: u64) -> Result<Vec<serde_json::Value>, ControlError> {
        self.shared.records(app)
    }
}

impl Drop for FakeCybozu {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
