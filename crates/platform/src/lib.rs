//! The seam between the plain-Rust logic of every component and the Spin platform.
//!
//! Logic crates take these traits, so their unit tests run natively against [`MemoryStore`]
//! and real HTTP servers, while components plug in the Spin implementations (feature `spin`).

mod kv;
mod outbound;
#[cfg(feature = "spin")]
pub mod spin;

pub use kv::{KeyValue, KvError, MemoryStore};
pub use outbound::{HttpClient, OutboundError};

/// Seconds since the Unix epoch. Records carry their own expiry in these units, because the
/// key-value store has no TTL.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
