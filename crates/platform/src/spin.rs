//! Spin implementations of the platform traits.

use crate::{HttpClient, KeyValue, KvError, OutboundError};
use spin_sdk::key_value::Store;

/// The `default` key-value store, the only label every platform offers.
pub struct SpinStore(Store);

impl SpinStore {
    pub fn open_default() -> Result<Self, KvError> {
        Store::open_default().map(SpinStore).map_err(|e| KvError(e.to_string()))
    }
}

impl KeyValue for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).map_err(|e| KvError(e.to_string()))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.set(key, value).map_err(|e| KvError(e.to_string()))
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).map_err(|e| KvError(e.to_string()))
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.0.exists(key).map_err(|e| KvError(e.to_string()))
    }
}

/// A Spin component variable; `None` when unset or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).ok().filter(|v| !v.trim().is_empty())
}

/// Outbound HTTP through `wasi:http/outgoing-handler`.
pub struct SpinHttp;

impl HttpClient for SpinHttp {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let host = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let response: http::Response<Vec<u8>> = spin_sdk::http::send(request).await.map_err(|e| {
            let reason = e.to_string();
            if reason.contains("HttpRequestDenied") || reason.contains("not permitted") {
                OutboundError::NotAllowed(host.clone())
            } else {
                OutboundError::Unreachable { host: host.clone(), reason }
            }
        })?;
        Ok(response)
    }
}
