//! What the server's handlers and the test handle share, and the control operations both the
//! library API and the `/_fake/...` HTTP API call.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faults::{Fault, FaultKind, FaultTable};
use crate::kintone::fields;
use crate::request_log::LoggedRequest;
use crate::state::State;

pub struct Shared {
    state: Mutex<State>,
    faults: Mutex<FaultTable>,
    log: Mutex<Vec<LoggedRequest>>,
    log_seq: AtomicU64,
    /// kintone requests being served now, for the concurrency limit and its headers.
    pub in_flight: AtomicUsize,
    pub concurrency_limit: usize,
}

/// A poisoned lock only means a handler panicked; the data is still the best there is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown app {0}")]
    UnknownApp(u64),
    #[error("redirect URI must be an absolute http(s) URL: {0:?}")]
    BadRedirectUri(String),
    #[error("no fault with id {0}")]
    UnknownFault(u64),
}

impl Shared {
    pub fn new(state: State, concurrency_limit: usize) -> Self {
        Shared {
            state: Mutex::new(state),
            faults: Mutex::new(FaultTable::default()),
            log: Mutex::new(Vec::new()),
            log_seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            concurrency_limit,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn log_request(&self, mut entry: LoggedRequest) -> u64 {
        let seq = self.log_seq.fetch_add(1, Ordering::SeqCst) + 1;
        entry.seq = seq;
        lock(&self.log).push(entry);
        seq
    }

    /// The entry `seq` names, looked for from the newest: it is among the last few (those still
    /// being served), and a search from the oldest made a long run's every request scan the whole
    /// log (half the bench's CPU at 32 clients after a minute).
    fn logged(log: &mut [LoggedRequest], seq: u64) -> Option<&mut LoggedRequest> {
        log.iter_mut().rev().find(|e| e.seq == seq)
    }

    pub fn finish_request(&self, seq: u64, status: u16) {
        if let Some(entry) = Self::logged(&mut lock(&self.log), seq) {
            entry.status = Some(status);
        }
    }

    pub fn note_fault(&self, seq: u64, kind: &FaultKind) {
        if let Some(entry) = Self::logged(&mut lock(&self.log), seq) {
            entry.fault = Some(match kind {
                FaultKind::Latency { millis } => format!("latency {millis}ms"),
                FaultKind::RateLimit => "rate_limit".into(),
                FaultKind::Unavailable => "unavailable".into(),
                FaultKind::DropConnection => "drop_connection".into(),
            });
        }
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    pub fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        lock(&self.faults).take(method, path)
    }

    pub fn add_fault(&self, fault: Fault) -> u64 {
        lock(&self.faults).add(fault)
    }

    pub fn faults(&self) -> Vec<crate::faults::ActiveFault> {
        lock(&self.faults).active.clone()
    }

    pub fn remove_fault(&self, id: u64) -> Result<(), ControlError> {
        let mut table = lock(&self.faults);
        let before = table.active.len();
        table.active.retain(|f| f.id != id);
        if table.active.len() == before {
            return Err(ControlError::UnknownFault(id));
        }
        Ok(())
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).active.clear();
    }

    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state().oauth.token_lifetime = lifetime;
    }

    /// Makes every access token issued so far expired (refresh tokens stay valid).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for token in self.state().oauth.access_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// Revokes the user's refresh tokens, as removing them from the OAuth client's allowed
    /// users does; returns how many there were.
    pub fn revoke_refresh_tokens(&self, user: &str) -> Result<usize, ControlError> {
        let mut state = self.state();
        if state.user(user).is_none() {
            return Err(ControlError::UnknownUser(user.to_string()));
        }
        let before = state.oauth.refresh_tokens.len();
        state.oauth.refresh_tokens.retain(|_, t| t.user != user);
        Ok(before - state.oauth.refresh_tokens.len())
    }

    pub fn set_approving_user(&self, user: Option<&str>) -> Result<(), ControlError> {
        let mut state = self.state();
        if let Some(user) = user {
            if state.user(user).is_none() {
                return Err(ControlError::UnknownUser(user.to_string()));
            }
        }
        state.oauth.approving_user = user.map(String::from);
        Ok(())
    }

    pub fn add_redirect_uri(&self, uri: &str) -> Result<(), ControlError> {
        let parsed = url::Url::parse(uri).map_err(|_| ControlError::BadRedirectUri(uri.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ControlError::BadRedirectUri(uri.to_string()));
        }
        let mut state = self.state();
        if !state.oauth.client.redirect_uris.iter().any(|u| u == uri) {
            state.oauth.client.redirect_uris.push(uri.to_string());
        }
        Ok(())
    }

    pub fn redirect_uris(&self) -> Vec<String> {
        self.state().oauth.client.redirect_uris.clone()
    }

    /// Every record of an app in kintone's shape, all fields, by ascending id.
    pub fn records(&self, app_id: u64) -> Result<Vec<Value>, ControlError> {
        let state = self.state();
        let app = state.apps.get(&app_id).ok_or(ControlError::UnknownApp(app_id))?;
        let names = |code: &str| state.user_name(code);
        let visible = |_: &str| true;
        Ok(app
            .records
            .values()
            .map(|r| {
                let mut rendered = fields::render_record(&app.live.properties, r, &names, &visible);
                let comments: Vec<Value> = r
                    .comments
                    .iter()
                    .map(|c| serde_json::json!({"id": c.id.to_string(), "text": c.text, "creator": c.creator}))
                    .collect();
                // Not a kintone field: lets tests see comments without another API call.
                rendered.insert("$comments".into(), Value::Array(comments));
                Value::Object(rendered)
            })
            .collect())
    }
}
