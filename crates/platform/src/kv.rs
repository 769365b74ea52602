use std::collections::BTreeMap;
use std::sync::Mutex;

/// A failure of the key-value store itself (not "key absent", which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
#[error("key-value store error: {0}")]
pub struct KvError(pub String);

/// The subset of Spin's `fermyon:spin/key-value@2.0.0` that the app uses.
///
/// There is deliberately no `get_keys`: no code path may scan the store (hosted stores are small
/// and a scan is O(keys)), and there is no TTL or compare-and-swap, so records carry their own
/// expiry and writers avoid read-modify-write on shared keys.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.get(key)?.is_some())
    }
}

/// An in-memory store for native tests.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry, for tests that inspect what was stored (e.g. "no token in clear").
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A poisoned lock only means another test thread panicked; the map is still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.lock().remove(key);
        Ok(())
    }
}

impl<T: KeyValue + ?Sized> KeyValue for &T {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        (**self).delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        (**self).exists(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryStore::new();
        assert_eq!(store.get("a").unwrap(), None);
        store.set("a", b"1").unwrap();
        assert!(store.exists("a").unwrap());
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        store.delete("a").unwrap();
        assert!(!store.exists("a").unwrap());
        assert!(store.snapshot().is_empty());
    }
}
