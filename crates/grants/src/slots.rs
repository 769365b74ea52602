//! Bounded tables in a store that cannot list its keys.
//!
//! Without `get_keys` and without TTL, a record nobody reads again (an abandoned sign-in, a grant
//! whose client vanished) would stay forever. So the records that strangers or abandoned flows
//! can create live in fixed-size tables: key `<prefix><slot>` with `slot < capacity`. A new record
//! takes the first slot, probing linearly from a random start, that is free or whose occupant has
//! expired (removing it on the way); only when every slot is live is the occupant closest to its
//! expiry evicted. Probing the whole table (not a few random slots) matters: with a fixed number
//! of random probes a table 90 % full would evict a live user's grant on almost half of all new
//! sign-ins. Sign-ins are rare, so reading up to `capacity` slots then is affordable. The store therefore
//! never holds more than `capacity` such records, whatever happens, and ids carry their slot so
//! lookups stay one read.

use crate::crypto;
use crate::store::BackendError;

/// What a probe found in a slot (the inspector removes expired occupants itself).
pub(crate) enum Occupancy {
    Free,
    Live { expires_at: u64 },
}

/// Choose a slot in `0..capacity`. `inspect` reports (and cleans) a slot; `evict` removes a
/// live occupant when no free slot was found.
pub(crate) fn allocate(
    capacity: u16,
    mut inspect: impl FnMut(u16) -> Result<Occupancy, BackendError>,
    mut evict: impl FnMut(u16) -> Result<(), BackendError>,
) -> Result<u16, BackendError> {
    let capacity = capacity.max(1);
    let mut soonest: Option<(u64, u16)> = None;
    let start = u16::from_le_bytes(crypto::random_bytes::<2>()?) as u32 % capacity as u32;
    for step in 0..capacity as u32 {
        let slot = ((start + step) % capacity as u32) as u16;
        match inspect(slot)? {
            Occupancy::Free => return Ok(slot),
            Occupancy::Live { expires_at } => {
                if soonest.is_none_or(|(e, _)| expires_at < e) {
                    soonest = Some((expires_at, slot));
                }
            }
        }
    }
    // Every slot is live: the table is full. Evict the one that would have
    // expired first rather than refuse a user who just signed in.
    let (_, slot) = soonest.unwrap_or((0, 0));
    evict(slot)?;
    Ok(slot)
}

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
    use std::cell::RefCell;
    use std::collections::HashMap;

    fn occupancy(live: &RefCell<HashMap<u16, u64>>, s: u16) -> Result<Occupancy, BackendError> {
        Ok(match live.borrow().get(&s) {
            Some(e) => Occupancy::Live { expires_at: *e },
            None => Occupancy::Free,
        })
    }

    #[test]
    fn a_single_free_slot_is_always_found_and_nothing_is_evicted() {
        // 255 of 256 slots live: the one free slot must be taken every time, never an eviction.
        for _ in 0..50 {
            let live: RefCell<HashMap<u16, u64>> = RefCell::new((0..256).map(|s| (s, 100 + s as u64)).collect());
            live.borrow_mut().remove(&77);
            let evicted = RefCell::new(false);
            let slot = allocate(256, |s| occupancy(&live, s), |_| {
                *evicted.borrow_mut() = true;
                Ok(())
            })
            .unwrap();
            assert_eq!(slot, 77);
            assert!(!*evicted.borrow());
        }
    }

    #[test]
    fn a_full_table_evicts_the_soonest_expiring_occupant() {
        let evicted = RefCell::new(vec![]);
        let slot = allocate(1, |_| Ok(Occupancy::Live { expires_at: 5 }), |s| { evicted.borrow_mut().push(s); Ok(()) }).unwrap();
        assert_eq!(slot, 0);
        assert_eq!(*evicted.borrow(), vec![0]);

        let seen = RefCell::new(vec![]);
        let victim = RefCell::new(None);
        let slot = allocate(
            1000,
            |s| { seen.borrow_mut().push(s); Ok(Occupancy::Live { expires_at: 10_000 - s as u64 }) },
            |s| { *victim.borrow_mut() = Some(s); Ok(()) },
        )
        .unwrap();
        assert_eq!(Some(slot), *victim.borrow());
        assert_eq!(slot, 999, "slot 999 expires first");
        assert_eq!(seen.borrow().len(), 1000, "every slot is looked at before evicting");
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
