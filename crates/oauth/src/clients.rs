//! Which client a `client_id` names: one we registered (the id is its signed registration) or
//! one identified by its metadata document URL (see `grants::cimd`). The async entry resolves a
//! URL client id before the handlers run (fetching its document if need be), so the handlers
//! stay synchronous and look clients up here.

use grants::{cached_document_client, is_url_client_id, verify_client_id, CimdError, Config, RegisteredClient};
use platform::KeyValue;

/// Why a client id names no usable client.
pub enum ClientError {
    /// Not one of ours, or no longer valid: the client should register again.
    Unknown,
    /// A metadata document URL whose document could not be used.
    Document(CimdError),
}

pub struct Clients<'a> {
    config: &'a Config,
    kv: &'a dyn KeyValue,
    now: u64,
    /// A URL client id resolved for this request, and the outcome.
    resolved: Option<(String, Result<RegisteredClient, CimdError>)>,
}

impl<'a> Clients<'a> {
    pub fn new(
        config: &'a Config,
        kv: &'a dyn KeyValue,
        now: u64,
        resolved: Option<(String, Result<RegisteredClient, CimdError>)>,
    ) -> Self {
        Clients {
            config,
            kv,
            now,
            resolved,
        }
    }

    pub fn lookup(&self, client_id: &str) -> Result<RegisteredClient, ClientError> {
        if !is_url_client_id(client_id) {
            return verify_client_id(self.config, client_id).ok_or(ClientError::Unknown);
        }
        if let Some((id, outcome)) = &self.resolved {
            if id == client_id {
                return outcome.clone().map_err(ClientError::Document);
            }
        }
        // Not resolved for this request (the consent POST, credentials in a Basic header): the
        // cached document only, never a fetch.
        cached_document_client(self.config, &self.kv, client_id, self.now).ok_or(ClientError::Unknown)
    }
}
