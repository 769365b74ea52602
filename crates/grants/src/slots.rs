//! Bounded tables in a store that cannot list its keys.
//!
//! Without `get_keys` and without TTL, a record nobody reads again (an abandoned sign-in, a grant
//! whose client vanished) would stay forever. So such records live in fixed-size tables: key
//! `<prefix><slot>` with `slot < capacity`, and ids carry their slot so lookups stay one read. A
//! new record probes the whole table from a random start (see `grant_table::create_grant` for the grant
//! table's policy: free or dead slots first, per-client cap, pending codes evict only pending
//! codes). Probing every slot rather than a few random ones matters: with a fixed number of random
//! probes a table 90 % full would miss its free slots on almost half of all new sign-ins. Sign-ins
//! are rare, so reading up to `capacity` slots then is affordable. The store therefore never holds
//! more than `capacity` such records, whatever happens.

use crate::crypto;
use crate::store::BackendError;

/// Every slot of `0..capacity` once, starting at a random slot: the order in which a table is
/// probed, so that concurrent allocations rarely look at the same free slot first.
pub(crate) fn probe_order(capacity: u16) -> Result<impl Iterator<Item = u16>, BackendError> {
    let capacity = capacity.max(1) as u32;
    let start = u16::from_le_bytes(crypto::random_bytes::<2>()?) as u32 % capacity;
    Ok((0..capacity).map(move |step| ((start + step) % capacity) as u16))
}

/// Slot numbers are written in lower-case hex in keys and ids.
pub(crate) fn parse_slot(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_visits_every_slot_once() {
        for capacity in [1u16, 2, 7, 256] {
            let mut seen: Vec<u16> = probe_order(capacity).unwrap().collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..capacity).collect::<Vec<_>>());
        }
        assert_eq!(
            probe_order(0).unwrap().collect::<Vec<_>>(),
            vec![0],
            "a capacity of 0 counts as 1"
        );
    }

    #[test]
    fn slots_parse_from_lower_hex_only() {
        assert_eq!(parse_slot("0"), Some(0));
        assert_eq!(parse_slot("ff"), Some(255));
        assert_eq!(parse_slot("ffff"), Some(65535));
        for bad in ["", "FF", "10000", "-1", "g", "+1"] {
            assert_eq!(parse_slot(bad), None, "{bad}");
        }
    }
}
