//! The per-session mailbox of the legacy HTTP+SSE transport, over a key-value store that has
//! only `get`/`set`/`delete`/`exists` — no compare-and-swap, no key listing.
//!
//! Many `POST /sse/message` requests for one session may run at once in different instances;
//! each must hand its reply to the one instance holding the stream (the *reader*), and no
//! reply may be lost or delivered twice. A single shared key loses messages under
//! last-writer-wins (observed on Spin), so every message gets a slot of its own.
//!
//! # Keys (session `S`)
//!
//! - `mcp:sse:S` — the session record ([`SessionRecord`]). Written only by the reader.
//! - per slot `k` = 0, 1, 2, …: `mcp:sse:S:x:k` and `…:y:k` (a splitter), `…:p:k` (the
//!   message), `…:c:k` (closed by the reader).
//!
//! # Writer (one `POST`)
//!
//! Each message gets a random 128-bit id `u`. The writer reads the record (its `frontier`
//! hint), skips upward over slots whose `y` is set to the first free one, `h`, and runs a
//! Moir–Anderson *splitter* on slot `k = h` — or, after a failed try, on a `k` picked at random
//! in `[h, h + WINDOW)`, so a burst of writers spreads out instead of colliding slot after slot
//! (splitters in a plain chain let a herd burn every slot together):
//!
//! ```text
//! set x:k = token;  if exists y:k → try again;  set y:k = token;
//! if get x:k ≠ token → try again;  else STOP: slot k is ours
//! ```
//!
//! After STOP it re-reads the record: if `k < low` the slot was already retired (a stale
//! hint), so it tries again. Otherwise it writes `p:k = u ⏎ message`, then checks
//! `exists c:k`, then reads the record once more. It reports success if the slot is not
//! closed (even if the reader has already delivered and retired it: a quick reader is the
//! common case). A missing or `closed` record means the session ended (the POST fails); a
//! closed slot is retried in a fresh slot with the same `u`.
//!
//! # Waking the reader
//!
//! An idle reader's poll reads one key, `y` of its frontier slot; a full pass over the slots
//! runs when that is set, while slots are claimed but not final, and at least every
//! `full_scan_interval` anyway. A writer alone takes the first free slot `h`: every slot from
//! the reader's frontier up to `h` has `y` set, so the reader sees its frontier claimed and
//! its pass finds `h`. A writer that spread out to `k > h` after a collision first sets `y`
//! on every unset slot of `[h, k)` to `gap` — a `y` alone never lets a second writer STOP,
//! it only makes splitters fail — so the same holds for `k`; the reader closes a `gap` slot
//! at once (a writer that STOPs there anyway sees the close and moves on). This costs writes
//! only after a collision; a message costs three (`x`, `y`, `p`). A missed wake-up only
//! delays delivery to the next full pass; correctness rests on the slots alone.
//!
//! # Reader (the stream)
//!
//! The reader keeps in memory `low` (every slot below is *final*), the *frontier* (the first
//! slot at or above `low` whose `y` it has not seen set) and the ids it has delivered. Each
//! poll it visits every non-final slot in `[low, frontier + WINDOW)`: a slot with `y` set and
//! `p` present is delivered (unless its id was already delivered) and becomes final; a slot
//! with `y` set and no `p` for longer than `suspect_timeout` is *closed* — `set c:k`, then
//! `get p:k` once more (deliver if present) — and becomes final. When `low` or the frontier
//! moves, the reader first writes the record, then deletes the retired slots' `x`, `y` and
//! `p`. A `c` stays until the session ends (the record lists the closed slots below `low`,
//! `closed_below`, so whoever ends the session deletes them): a writer must never miss a
//! close because the key was already gone.
//!
//! # Why nothing is lost or duplicated
//!
//! Assume each key-value operation is atomic (linearizable), as SQLite (`spin up`) and Redis
//! (SpinKube) give. (Eventually consistent replicated stores give no such guarantee to any
//! protocol.)
//!
//! 1. *At most one writer STOPs in a live slot.* The splitter: of two STOPping writers, the
//!    one that wrote `x` last read `y` after the other had set it — a contradiction. Keys are
//!    deleted only below a `low` that was published first, and `low` only grows, so a slot
//!    at or above `low` is never reset under its writers.
//! 2. *The reader visits every claimed slot.* `y` is never unset at or above `low`, so every
//!    slot in `[low, frontier)` has `y` set and the frontier only grows. A writer that saw
//!    `[hint, h)` all set, with `hint` a published frontier, knows `h ≤` the reader's frontier
//!    from then on, and it claims below `h + WINDOW`.
//! 3. *If a writer reports success, the reader delivers its id.* At its record read after
//!    STOP `k ≥ low`, so slot `k` was live and, by (1), `p:k` holds only its message. A slot
//!    becomes final only by delivering its `p`, or by closing — and the reader closes with
//!    `set c:k` *then* `get p:k`, keeping `c:k` until the session ends, while the writer did
//!    `set p:k` *then* found `c:k` unset: any close came after the writer's `set`, and its
//!    `get` sees the message. By (2) the slot is visited, by a poll or, if the session ends
//!    first, by the last look — which the writer's last record read (not `closed`) precedes.
//! 4. *No id is delivered twice*: a retry reuses its id, and the reader — the session's only
//!    reader, from creation to close — delivers each id once.
//! 5. *A writer never waits for the reader*; it retries only after a race, so a burst of
//!    POSTs costs each a handful of key-value operations.
//!
//! At the end of a stream the reader marks the record `closed`, takes a last look, deletes
//! the slot keys, then deletes the record. A writer whose last record read found it not yet
//! `closed` wrote its message before that last look, so it is delivered. A writer that finds
//! it `closed` or gone reports the session closed (its reply may or may not have been
//! delivered; it is never delivered twice) and deletes its own keys — once the record is gone,
//! because the last look finds claimed slots through their `y` keys. Writers also delete what
//! they left in retired slots, so a session leaves no key behind. A session whose stream died
//! without closing is removed by the first writer that finds it past its expiry.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use platform::{KeyValue, KvError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How far above the first free slot writers spread, and the reader looks.
pub const WINDOW: u64 = 8;
/// Splitter tries per claim before giving up (contention this high means something is wrong;
/// the POST then fails with 503 rather than spinning).
const MAX_TRIES: u32 = 256;
/// Claims per message (a retry follows a closed or retired slot).
const MAX_ATTEMPTS: u32 = 32;
/// A writer that raced the end of a stream waits at most this many pauses for the reader's
/// last look to finish before deleting its own keys.
const CLOSE_WAITS: u32 = 200;
const CLOSE_PAUSE: Duration = Duration::from_millis(5);

/// The session record. Only the stream that created it writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the owner the glue named (e.g. the grant id): messages are accepted
    /// only from the same owner.
    pub owner: String,
    /// Unix seconds after which the session is dead even if the stream never cleaned up.
    pub expires_at: u64,
    /// The stream has stopped accepting new POSTs and is draining.
    pub closing: bool,
    /// The stream is taking its last look and deleting the mailbox: nothing more can land.
    #[serde(default)]
    pub closed: bool,
    /// Every slot below is final (delivered or closed).
    pub low: u64,
    /// The first slot whose `y` the reader found unset: where writers start.
    pub frontier: u64,
    /// Unix seconds of the reader's last heartbeat. A stream whose instance died without
    /// closing (a killed or crashed host) stops beating, and its session is treated as gone.
    #[serde(default)]
    pub alive_at: u64,
    /// Closed slots below `low`: their `c` keys stay until the session ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed_below: Vec<u64>,
}

pub fn record_key(session: &str) -> String {
    format!("mcp:sse:{session}")
}

/// The key earlier versions' writers rang after each message; still deleted with a session,
/// so a session that lived across an upgrade leaves nothing behind.
fn legacy_bell_key(session: &str) -> String {
    format!("mcp:sse:{session}:bell")
}

/// The `y` a writer that spread out puts in the unclaimed slots it skipped (tokens are
/// `<hex id>.<attempt>`, so nothing else looks like it).
const GAP: &[u8] = b"gap";

fn slot_key(session: &str, kind: char, slot: u64) -> String {
    format!("mcp:sse:{session}:{kind}:{slot}")
}

/// Read the session record; a record that does not parse counts as absent.
pub fn read_record(kv: &dyn KeyValue, session: &str) -> Result<Option<SessionRecord>, KvError> {
    Ok(kv
        .get(&record_key(session))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

fn write_record(kv: &dyn KeyValue, session: &str, record: &SessionRecord) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(record).map_err(|e| KvError(e.to_string()))?;
    kv.set(&record_key(session), &bytes)
}

/// Why a message could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The session ended (or never existed) before the message was safely in the mailbox.
    #[error("the session is closed")]
    Gone,
    /// No slot could be claimed within the bounds.
    #[error("the session mailbox is too busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] KvError),
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Post one message into the session's mailbox (the writer side; see the module docs).
/// `now_unix` decides whether the session has expired.
pub fn post(kv: &dyn KeyValue, session: &str, message: &[u8], now_unix: u64) -> Result<(), PostError> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| PostError::Random(e.to_string()))?;
    post_with(
        kv,
        session,
        message,
        now_unix,
        u64::from_le_bytes(seed),
        &std::thread::sleep,
    )
}

/// [`post`] with the slot-spreading seed and the pause between record reads chosen by the
/// caller (tests replay schedules and do not sleep).
pub(crate) fn post_with(
    kv: &dyn KeyValue,
    session: &str,
    message: &[u8],
    now_unix: u64,
    seed: u64,
    pause: &dyn Fn(Duration),
) -> Result<(), PostError> {
    let id = random_hex::<16>().map_err(PostError::Random)?;
    let mut writer = Writer {
        kv,
        session,
        visited: BTreeMap::new(),
        spread: SmallRng::seed_from_u64(seed),
    };
    match writer.post(&id, message, now_unix) {
        Ok(low) => {
            writer.tidy_retired(low);
            Ok(())
        }
        Err(Refusal::Gone(reason)) => {
            writer.after_close(reason, pause);
            Err(PostError::Gone)
        }
        Err(Refusal::Other(e)) => Err(e),
    }
}

/// How a writer learnt that the session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The record is gone: the reader has finished.
    Missing,
    /// The reader is taking its last look: it still needs every `y`.
    Closed,
    /// Past its expiry: the reader died without cleaning up.
    Expired,
}

#[derive(Debug)]
enum Refusal {
    Gone(Ending),
    Other(PostError),
}

impl<E: Into<PostError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Other(e.into())
    }
}

/// A writer's own key footprint in one slot.
#[derive(Default, Clone, Copy)]
struct Footprint {
    wrote_y: bool,
    wrote_p: bool,
}

struct Writer<'a> {
    kv: &'a dyn KeyValue,
    session: &'a str,
    visited: BTreeMap<u64, Footprint>,
    spread: SmallRng,
}

impl Writer<'_> {
    fn live_record(&self, now_unix: u64) -> Result<SessionRecord, Refusal> {
        match read_record(self.kv, self.session)? {
            None => Err(Refusal::Gone(Ending::Missing)),
            Some(record) if record.expires_at <= now_unix => {
                collect_expired(self.kv, self.session, &record);
                Err(Refusal::Gone(Ending::Expired))
            }
            Some(record) if record.closed => Err(Refusal::Gone(Ending::Closed)),
            Some(record) => Ok(record),
        }
    }

    /// Returns the `low` of the record read that confirmed success.
    fn post(&mut self, id: &str, message: &[u8], now_unix: u64) -> Result<u64, Refusal> {
        let mut start = self.live_record(now_unix)?.frontier;
        let mut payload = Vec::with_capacity(id.len() + 1 + message.len());
        payload.extend_from_slice(id.as_bytes());
        payload.push(b'\n');
        payload.extend_from_slice(message);
        for attempt in 0..MAX_ATTEMPTS {
            let token = format!("{id}.{attempt}");
            let (slot, first_free) = self.claim(start, &token)?;
            let record = self.live_record(now_unix)?;
            if slot < record.low {
                // A stale hint led us into a retired slot.
                start = record.frontier;
                continue;
            }
            self.mark_gaps(first_free, slot)?;
            self.kv.set(&slot_key(self.session, 'p', slot), &payload)?;
            self.visited.entry(slot).or_default().wrote_p = true;
            let closed = self.kv.exists(&slot_key(self.session, 'c', slot))?;
            let record = self.live_record(now_unix)?;
            if !closed {
                // The reader may already have delivered the message and retired the slot
                // (deleting its keys): nothing of it is left to tidy.
                self.visited.remove(&slot);
                return Ok(record.low);
            }
            // Closed under us: the reader may or may not have taken the message; post it
            // again under the same id (the reader drops duplicates).
            start = record.frontier;
        }
        Err(Refusal::Other(PostError::Busy))
    }

    /// A writer that STOPped above the first free slot it saw sets `y` = `gap` on the unset
    /// slots between, so that the reader, watching the `y` of its frontier, is woken (see the
    /// module docs). Best effort: a missed wake-up only waits for the next full pass.
    fn mark_gaps(&mut self, first_free: u64, slot: u64) -> Result<(), KvError> {
        for gap in first_free..slot {
            let y = slot_key(self.session, 'y', gap);
            if !self.kv.exists(&y)? && self.kv.set(&y, GAP).is_ok() {
                self.visited.entry(gap).or_default().wrote_y = true;
            }
        }
        Ok(())
    }

    /// Splitters at random slots above the first free one, until this writer STOPs. Returns
    /// the slot and the first free slot of the try that won it.
    fn claim(&mut self, start: u64, token: &str) -> Result<(u64, u64), Refusal> {
        let mut free = start;
        for tries in 0..MAX_TRIES {
            while self.kv.exists(&slot_key(self.session, 'y', free))? {
                free += 1;
            }
            // Alone, a writer takes the first free slot (slots stay contiguous and are retired
            // promptly); after a collision it spreads out.
            let slot = match tries {
                0 => free,
                _ => free + self.spread.random_range(0..WINDOW),
            };
            let x = slot_key(self.session, 'x', slot);
            let y = slot_key(self.session, 'y', slot);
            self.kv.set(&x, token.as_bytes())?;
            self.visited.entry(slot).or_default();
            if self.kv.exists(&y)? {
                continue;
            }
            self.kv.set(&y, token.as_bytes())?;
            self.visited.entry(slot).or_default().wrote_y = true;
            if self.kv.get(&x)?.as_deref() == Some(token.as_bytes()) {
                return Ok((slot, free));
            }
        }
        Err(Refusal::Other(PostError::Busy))
    }

    /// After success: delete what this writer left in slots below `low` (retired: final, and
    /// never visited again). `low` is the one this writer saw confirming success; slots at or
    /// above it belong to the reader, which may still be about to read our message there.
    fn tidy_retired(&self, low: u64) {
        for (&slot, footprint) in self.visited.range(..low) {
            self.delete_footprint(slot, *footprint);
        }
    }

    /// After the session ended: delete everything this writer wrote — but not while the
    /// reader takes its last look, which finds claimed slots through their `y` keys. That
    /// look takes milliseconds; a writer meets it only if it raced the very end of the stream.
    fn after_close(&self, ending: Ending, pause: &dyn Fn(Duration)) {
        if self.visited.is_empty() {
            return;
        }
        if ending == Ending::Closed {
            for _ in 0..CLOSE_WAITS {
                match read_record(self.kv, self.session) {
                    Ok(Some(record)) if record.closed => pause(CLOSE_PAUSE),
                    // Gone (or unreadable, or reopened by nobody): stop waiting.
                    _ => break,
                }
            }
        }
        for (&slot, footprint) in &self.visited {
            self.delete_footprint(slot, *footprint);
        }
    }

    fn delete_footprint(&self, slot: u64, footprint: Footprint) {
        // Best effort: a failed delete leaves garbage, never a wrong answer.
        let _ = self.kv.delete(&slot_key(self.session, 'x', slot));
        if footprint.wrote_y {
            let _ = self.kv.delete(&slot_key(self.session, 'y', slot));
        }
        if footprint.wrote_p {
            let _ = self.kv.delete(&slot_key(self.session, 'p', slot));
        }
    }
}

/// The reader side: owned by the stream, the only writer of the session record.
#[derive(Debug)]
pub struct Reader {
    session: String,
    record: SessionRecord,
    /// Slots seen claimed (`y` set), not yet final: when first seen (ms).
    pending: BTreeMap<u64, u64>,
    /// Final slots at or above `low`.
    finished: BTreeSet<u64>,
    /// Of those, the ones that were closed (their `c` key outlives retirement).
    closed: BTreeSet<u64>,
    delivered: HashSet<String>,
    suspect_timeout_ms: u64,
    /// The record as last written (to skip unchanged writes).
    published: (u64, u64),
}

impl Reader {
    /// Create the session: write its record. The caller has made `session` unguessable.
    pub fn create(
        kv: &dyn KeyValue,
        session: &str,
        owner_hash: String,
        expires_at: u64,
        suspect_timeout_ms: u64,
        now_unix: u64,
    ) -> Result<Reader, KvError> {
        let record = SessionRecord {
            owner: owner_hash,
            expires_at,
            closing: false,
            closed: false,
            low: 0,
            frontier: 0,
            alive_at: now_unix,
            closed_below: Vec::new(),
        };
        write_record(kv, session, &record)?;
        Ok(Reader {
            session: session.to_owned(),
            record,
            pending: BTreeMap::new(),
            finished: BTreeSet::new(),
            closed: BTreeSet::new(),
            delivered: HashSet::new(),
            suspect_timeout_ms,
            published: (0, 0),
        })
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    /// Say the stream is still alive (one record write).
    pub fn heartbeat(&mut self, kv: &dyn KeyValue, now_unix: u64) -> Result<(), KvError> {
        self.record.alive_at = now_unix;
        write_record(kv, &self.session, &self.record)
    }

    /// Stop accepting new messages (POSTs that already passed their first check still land).
    pub fn begin_closing(&mut self, kv: &dyn KeyValue) -> Result<(), KvError> {
        self.record.closing = true;
        write_record(kv, &self.session, &self.record)
    }

    /// At most one key-value read: is the frontier slot claimed, or is a claimed slot still
    /// waiting for its message? Then [`Reader::poll`] has work (see "Waking the reader").
    pub fn needs_poll(&self, kv: &dyn KeyValue) -> Result<bool, KvError> {
        if !self.pending.is_empty() {
            return Ok(true);
        }
        kv.exists(&slot_key(&self.session, 'y', self.record.frontier))
    }

    /// Collect the messages that arrived since the last poll: a full pass over the slots. It
    /// writes nothing but the `c` of a slot it gives up: the slots it finished are retired by
    /// [`Reader::retire`], which the stream calls after sending what this returned, so a reply
    /// does not wait for the store's writes (each one a disk sync on `spin up`'s SQLite).
    pub fn poll(&mut self, kv: &dyn KeyValue, now_ms: u64) -> Result<Vec<Vec<u8>>, KvError> {
        let mut out = Vec::new();
        self.visit(kv, now_ms, false, &mut out)?;
        Ok(out)
    }

    /// End the session: mark it closed, take what is left, delete every key, then the record.
    pub fn close(mut self, kv: &dyn KeyValue) -> Result<Vec<Vec<u8>>, KvError> {
        self.record.closed = true;
        write_record(kv, &self.session, &self.record)?;
        let mut out = Vec::new();
        let visited = self.visit(kv, 0, true, &mut out);
        // Delete even if the look failed half-way: garbage is worse than a lost drain.
        delete_mailbox(kv, &self.session, &self.record);
        kv.delete(&record_key(&self.session))?;
        visited.map(|()| out)
    }

    /// One pass over the non-final slots of `[low, frontier + WINDOW)`. With `last`, the
    /// record says `closed`: slots still without a message are given up (their writers will
    /// read `closed` and report the session gone).
    fn visit(&mut self, kv: &dyn KeyValue, now_ms: u64, last: bool, out: &mut Vec<Vec<u8>>) -> Result<(), KvError> {
        let mut slot = self.record.low;
        while slot < self.record.frontier + WINDOW {
            if self.finished.contains(&slot) {
                slot += 1;
                continue;
            }
            let mut gap = false;
            if !self.pending.contains_key(&slot) {
                let Some(y) = kv.get(&slot_key(&self.session, 'y', slot))? else {
                    slot += 1;
                    continue;
                };
                gap = y == GAP;
                self.pending.insert(slot, now_ms);
                self.advance_frontier();
            }
            if let Some(payload) = kv.get(&slot_key(&self.session, 'p', slot))? {
                self.deliver(&payload, out);
                self.finish(slot);
            } else if last {
                self.finish(slot);
            } else {
                let since = self.pending.get(&slot).copied().unwrap_or(now_ms);
                if gap || now_ms.saturating_sub(since) >= self.suspect_timeout_ms {
                    // Close, then look once more: a writer that wrote `p` before seeing `c`
                    // is caught by this second look; one that writes later sees `c` and
                    // posts again elsewhere. A `gap` slot is closed at once: it was marked
                    // to wake us, not claimed.
                    kv.set(&slot_key(&self.session, 'c', slot), b"1")?;
                    if let Some(payload) = kv.get(&slot_key(&self.session, 'p', slot))? {
                        self.deliver(&payload, out);
                    }
                    self.finish(slot);
                    self.closed.insert(slot);
                }
            }
            slot += 1;
        }
        Ok(())
    }

    fn advance_frontier(&mut self) {
        while self.pending.contains_key(&self.record.frontier) || self.finished.contains(&self.record.frontier) {
            self.record.frontier += 1;
        }
    }

    fn deliver(&mut self, payload: &[u8], out: &mut Vec<Vec<u8>>) {
        let Some(split) = payload.iter().position(|&b| b == b'\n') else {
            return;
        };
        let id = String::from_utf8_lossy(&payload[..split]).into_owned();
        if self.delivered.insert(id) {
            out.push(payload[split + 1..].to_vec());
        }
    }

    fn finish(&mut self, slot: u64) {
        self.pending.remove(&slot);
        self.finished.insert(slot);
    }

    /// Advance `low` over final slots; publish, then delete the retired keys. Writes nothing
    /// when no slot became final since the last call.
    pub fn retire(&mut self, kv: &dyn KeyValue) -> Result<(), KvError> {
        let old_low = self.record.low;
        let mut low = old_low;
        while self.finished.remove(&low) {
            low += 1;
        }
        self.record.low = low;
        if (low, self.record.frontier) == self.published {
            return Ok(());
        }
        let still_open = self.closed.split_off(&low);
        let retired_closed = std::mem::replace(&mut self.closed, still_open);
        self.record.closed_below.extend(retired_closed);
        write_record(kv, &self.session, &self.record)?;
        self.published = (low, self.record.frontier);
        for slot in old_low..low {
            delete_slot_keys(kv, &self.session, slot, &['x', 'y', 'p']);
        }
        Ok(())
    }
}

/// Best effort: a failed delete leaves garbage, never a wrong answer.
fn delete_slot_keys(kv: &dyn KeyValue, session: &str, slot: u64, kinds: &[char]) {
    for &kind in kinds {
        let _ = kv.delete(&slot_key(session, kind, slot));
    }
}

/// Every key of a session's mailbox that `record` can tell of, but the record itself.
fn delete_mailbox(kv: &dyn KeyValue, session: &str, record: &SessionRecord) {
    let _ = kv.delete(&legacy_bell_key(session));
    for &slot in &record.closed_below {
        delete_slot_keys(kv, session, slot, &['c']);
    }
    for slot in record.low..record.frontier + WINDOW {
        delete_slot_keys(kv, session, slot, &['x', 'y', 'p', 'c']);
    }
}

/// A session past its expiry lost its stream without cleanup (the instance died): remove the
/// record and the slots it last published. Best effort; any instance may do it.
pub(crate) fn collect_expired(kv: &dyn KeyValue, session: &str, record: &SessionRecord) {
    let _ = kv.delete(&record_key(session));
    delete_mailbox(kv, session, record);
}

/// `N` random bytes as lowercase hex (getrandom: the OS on native, `wasi:random` on wasip2).
pub fn random_hex<const N: usize>() -> Result<String, String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(hex(&bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests;
