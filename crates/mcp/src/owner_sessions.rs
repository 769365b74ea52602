//! Each owner's (grant's) legacy SSE sessions, listed under one key, so an owner holds at most
//! [`MAX_SESSIONS_PER_OWNER`] sessions and a session whose stream died is collected the next
//! time its owner opens a stream.
//!
//! # Key
//!
//! `mcp:sse-owner:H` — the owner hash `H` (as in the session record) → the JSON list of the
//! owner's session ids, oldest first.
//!
//! # Without compare-and-swap
//!
//! The list is read, changed and written back; two streams opening at once for one owner can
//! each drop the other's id (last writer wins). The list is therefore also the stream's licence
//! to run: every heartbeat a stream reads it, and a stream whose id is missing — replaced as the
//! oldest, or lost in such a race — ends cleanly (its client reconnects and is listed anew). So
//! no live stream stays unlisted for longer than a heartbeat, and ids of ended or dead sessions
//! are dropped, their keys collected, at the next open. The one thing that can escape is a
//! stream whose instance died within a heartbeat of losing such a race: its record still
//! expires, and the next message POSTed to it collects it.

use platform::{KeyValue, KvError};

use crate::mailbox::{self, read_record};

/// Legacy streams one owner may hold open at once; opening another ends the oldest.
pub const MAX_SESSIONS_PER_OWNER: usize = 4;

fn key(owner_hash: &str) -> String {
    format!("mcp:sse-owner:{owner_hash}")
}

/// The listed session ids; a list that does not parse counts as empty.
pub fn listed(kv: &dyn KeyValue, owner_hash: &str) -> Result<Vec<String>, KvError> {
    Ok(kv
        .get(&key(owner_hash))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

fn write(kv: &dyn KeyValue, owner_hash: &str, sessions: &[String]) -> Result<(), KvError> {
    if sessions.is_empty() {
        return kv.delete(&key(owner_hash));
    }
    let bytes = serde_json::to_vec(sessions).map_err(|e| KvError(e.to_string()))?;
    kv.set(&key(owner_hash), &bytes)
}

/// List `session` for its owner: sessions that ended or died are dropped (a dead one's keys
/// collected), and the oldest live ones are unlisted so that at most
/// [`MAX_SESSIONS_PER_OWNER`] remain; their streams end at their next heartbeat.
pub fn add(
    kv: &dyn KeyValue,
    owner_hash: &str,
    session: &str,
    stale_after_secs: u64,
    now_unix: u64,
) -> Result<(), KvError> {
    let mut live = Vec::new();
    for id in listed(kv, owner_hash)? {
        let Some(record) = read_record(kv, &id)? else {
            continue;
        };
        if record.owner != owner_hash {
            continue;
        }
        if record.expires_at <= now_unix || record.alive_at + stale_after_secs <= now_unix {
            mailbox::collect_expired(kv, &id, &record);
            continue;
        }
        live.push(id);
    }
    let keep = MAX_SESSIONS_PER_OWNER - 1;
    if live.len() > keep {
        live.drain(..live.len() - keep);
    }
    live.push(session.to_owned());
    write(kv, owner_hash, &live)
}

/// Unlist `session` (its stream has ended). Best effort: an id left behind is dropped at the
/// owner's next open, since its record is gone.
pub fn remove(kv: &dyn KeyValue, owner_hash: &str, session: &str) -> Result<(), KvError> {
    let mut sessions = listed(kv, owner_hash)?;
    let before = sessions.len();
    sessions.retain(|id| id != session);
    if sessions.len() == before {
        return Ok(());
    }
    write(kv, owner_hash, &sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Reader;
    use platform::MemoryStore;

    const OWNER: &str = "owner-hash";

    fn open(kv: &MemoryStore, session: &str, now: u64) -> Reader {
        let reader = Reader::create(kv, session, OWNER.into(), now + 300, 2_000, now).unwrap();
        add(kv, OWNER, session, 10, now).unwrap();
        reader
    }

    #[test]
    fn an_owner_keeps_at_most_four_sessions_the_oldest_unlisted_first() {
        let kv = MemoryStore::new();
        let _readers: Vec<Reader> = (0..6).map(|i| open(&kv, &format!("s{i}"), 100)).collect();
        assert_eq!(listed(&kv, OWNER).unwrap(), ["s2", "s3", "s4", "s5"]);
    }

    #[test]
    fn dead_sessions_are_collected_at_the_next_open_and_ended_ones_dropped() {
        let kv = MemoryStore::new();
        let _dead = open(&kv, "dead", 100);
        let ended = open(&kv, "ended", 100);
        ended.close(&kv).unwrap();
        // Twenty seconds later "dead" has not beaten since: its instance died.
        let _fresh = open(&kv, "fresh", 120);
        assert_eq!(listed(&kv, OWNER).unwrap(), ["fresh"]);
        let left: Vec<String> = kv.snapshot().into_keys().collect();
        assert!(
            left.iter().all(|k| !k.contains(":dead") && !k.contains(":ended")),
            "{left:?}"
        );
    }

    #[test]
    fn removing_unlists_only_that_session_and_the_last_removes_the_key() {
        let kv = MemoryStore::new();
        let _a = open(&kv, "a", 100);
        let _b = open(&kv, "b", 100);
        remove(&kv, OWNER, "a").unwrap();
        assert_eq!(listed(&kv, OWNER).unwrap(), ["b"]);
        remove(&kv, OWNER, "a").unwrap();
        remove(&kv, OWNER, "b").unwrap();
        assert!(kv.snapshot().keys().all(|k| !k.starts_with("mcp:sse-owner:")));
    }
}
