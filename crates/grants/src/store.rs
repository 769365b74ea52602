//! JSON records over the key-value seam, and the error every record operation can hit.

use crate::crypto::CryptoError;
use platform::{KeyValue, KvError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failure below the OAuth logic: the store, the random source, or encoding. Never carries
/// secrets. The HTTP layer turns it into a 5xx (or a `server_error`/`temporarily_unavailable`).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Store(#[from] KvError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("could not encode a record: {0}")]
    Encode(String),
    /// A stored record is unusable (e.g. its encrypted token no longer decrypts because
    /// `secret_key` changed).
    #[error("a stored record is unusable: {0}")]
    Corrupt(&'static str),
}

/// Read a record. A value that does not parse is treated as absent: it cannot be one of ours
/// (or belongs to an older format), and the caller will overwrite or delete it.
pub(crate) fn read<T: DeserializeOwned>(kv: &impl KeyValue, key: &str) -> Result<Option<T>, KvError> {
    Ok(kv.get(key)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

pub(crate) fn write<T: Serialize>(kv: &impl KeyValue, key: &str, record: &T) -> Result<(), BackendError> {
    let bytes = serde_json::to_vec(record).map_err(|e| BackendError::Encode(e.to_string()))?;
    kv.set(key, &bytes)?;
    Ok(())
}
