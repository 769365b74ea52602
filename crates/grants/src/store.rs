//! JSON records over the key-value seam, and the error every record operation can hit.

use crate::crypto::{self, CryptoError, Keys, Purpose};
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
    /// Every slot of a bounded table holds a live record that a newcomer may not evict (a new
    /// sign-in never evicts another client's active grant): raise the table's capacity.
    #[error("the {0} table is full of live records; try again later or raise its capacity")]
    Full(&'static str),
}

/// Read a record. A value that does not parse is treated as absent: it cannot be one of ours
/// (or belongs to an older format), and the caller will overwrite or delete it.
pub(crate) fn read<T: DeserializeOwned>(kv: &impl KeyValue, key: &str) -> Result<Option<T>, KvError> {
    Ok(kv.get(key)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Domain label of the record MAC (a new record format gets a new label).
const RECORD_MAC_LABEL: &[u8] = b"kintone-mcp/store-record/v2";
/// The member holding a record's MAC, beside the record's own members.
const MAC_MEMBER: &str = "m";

/// Read an authenticated record (see [`write_authentic`]). A record without a valid MAC for this
/// very key (planted by whoever can write the store, altered, moved from another key, or written
/// by an older version) is refused: logged, removed, and reported as absent. It is never trusted.
pub(crate) fn read_authentic<T: Serialize + DeserializeOwned>(
    kv: &impl KeyValue,
    keys: &Keys,
    key: &str,
) -> Result<Option<T>, KvError> {
    let Some(bytes) = kv.get(key)? else {
        return Ok(None);
    };
    match verify_record(keys, key, &bytes) {
        Some(record) => Ok(Some(record)),
        None => {
            security_event(format_args!("refused the store record {key}: it fails its integrity check (forged, altered or from an older version); removed"));
            kv.delete(key)?;
            Ok(None)
        }
    }
}

fn verify_record<T: Serialize + DeserializeOwned>(keys: &Keys, key: &str, bytes: &[u8]) -> Option<T> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let tag = match value.as_object_mut()?.remove(MAC_MEMBER)? {
        serde_json::Value::String(tag) => crypto::unb64(&tag)?,
        _ => return None,
    };
    let record: T = serde_json::from_value(value).ok()?;
    // The MAC covers the record's canonical encoding (struct order, no unknown members), so
    // members an attacker adds are dropped and any change to a known one fails the check.
    let canonical = serde_json::to_vec(&record).ok()?;
    crypto::verify_mac(
        keys.get(Purpose::RecordMacs),
        &[RECORD_MAC_LABEL, key.as_bytes(), &canonical],
        &tag,
    )
    .then_some(record)
}

/// Write a record with a MAC over its canonical encoding and its key, under a key derived from
/// `secret_key` for this purpose alone. The record stays plain JSON (operators and tests can read
/// it); only the application can produce one that [`read_authentic`] accepts.
pub(crate) fn write_authentic<T: Serialize>(
    kv: &impl KeyValue,
    keys: &Keys,
    key: &str,
    record: &T,
) -> Result<(), BackendError> {
    kv.set(key, &seal_record(keys, key, record)?)?;
    Ok(())
}

pub(crate) fn seal_record<T: Serialize>(keys: &Keys, key: &str, record: &T) -> Result<Vec<u8>, BackendError> {
    let encode = |e: serde_json::Error| BackendError::Encode(e.to_string());
    let canonical = serde_json::to_vec(record).map_err(encode)?;
    let tag = crypto::mac(
        keys.get(Purpose::RecordMacs),
        &[RECORD_MAC_LABEL, key.as_bytes(), &canonical],
    );
    let mut value = serde_json::to_value(record).map_err(encode)?;
    let object = value
        .as_object_mut()
        .ok_or(BackendError::Encode("a record must be a JSON object".into()))?;
    object.insert(MAC_MEMBER.to_owned(), serde_json::Value::String(crypto::b64(&tag)));
    serde_json::to_vec(&value).map_err(encode)
}

/// One log line for a security event (code replay, refresh-token reuse, eviction, a refused
/// record). Callers pass identifiers only (keys, slots): no token, code, hash, client id or
/// kintone data ever reaches the log.
pub(crate) fn security_event(what: std::fmt::Arguments<'_>) {
    eprintln!("security: {what}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::MemoryStore;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(rename = "a")]
        a: String,
        #[serde(rename = "n")]
        n: u64,
    }

    fn keys() -> Keys {
        Keys::derive(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn authentic_records_round_trip_and_stay_readable_json() {
        let (kv, keys) = (MemoryStore::new(), keys());
        let sample = Sample { a: "x".into(), n: 7 };
        write_authentic(&kv, &keys, "g:1", &sample).unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&kv.get("g:1").unwrap().unwrap()).unwrap();
        assert_eq!(stored["a"], "x");
        assert!(stored["m"].is_string());
        assert_eq!(read_authentic::<Sample>(&kv, &keys, "g:1").unwrap(), Some(sample));
    }

    #[test]
    fn forged_altered_moved_or_old_records_are_refused_removed_and_absent() {
        let (kv, keys) = (MemoryStore::new(), keys());
        let sample = Sample { a: "x".into(), n: 7 };
        let sealed = seal_record(&keys, "g:1", &sample).unwrap();
        let mut altered: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        altered["n"] = 8.into();
        let other_key = Keys::derive(b"another secret that is long enough!!");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "no MAC (an older version's record)",
                serde_json::to_vec(&sample).unwrap(),
            ),
            ("altered", serde_json::to_vec(&altered).unwrap()),
            ("moved from g:2", seal_record(&keys, "g:2", &sample).unwrap()),
            (
                "sealed under another secret_key",
                seal_record(&other_key, "g:1", &sample).unwrap(),
            ),
            ("not JSON", b"\xff\x00".to_vec()),
            ("MAC not a string", br#"{"a":"x","n":7,"m":1}"#.to_vec()),
        ];
        for (what, bytes) in cases {
            kv.set("g:1", &bytes).unwrap();
            assert_eq!(read_authentic::<Sample>(&kv, &keys, "g:1").unwrap(), None, "{what}");
            assert!(kv.get("g:1").unwrap().is_none(), "{what}: a refused record is removed");
        }
        // Members an attacker adds are not covered, and not kept either.
        let mut extended: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        extended["extra"] = "ignored".into();
        kv.set("g:1", &serde_json::to_vec(&extended).unwrap()).unwrap();
        assert_eq!(read_authentic::<Sample>(&kv, &keys, "g:1").unwrap(), Some(sample));
    }
}
