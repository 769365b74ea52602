//! Bounded tables in a store that cannot list its keys.
//!
//! Without `get_keys` and without TTL, a record nobody reads again (an abandoned sign-in, a grant
//! whose client vanished) would stay forever. So the records that strangers or abandoned flows
//! can create live in fixed-size tables: key `<prefix><slot>` with `slot < capacity`. A new record
//! takes a random slot that is free or whose occupant has expired (removing it on the way); when
//! every probed slot is live, the occupant closest to its expiry is evicted. The store therefore
//! never holds more than `capacity` such records, whatever happens, and ids carry their slot so
//! lookups stay one read.

use crate::crypto;
use crate::store::BackendError;

/// How many random slots a new record looks at before evicting one.
const PROBES: usize = 8;

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
    for _ in 0..PROBES.min(capacity as usize) {
        let slot = (u16::from_le_bytes(crypto::random_bytes::<2>()?) as u32 % capacity as u32) as u16;
        match inspect(slot)? {
            Occupancy::Free => return Ok(slot),
            Occupancy::Live { expires_at } => {
                if soonest.is_none_or(|(e, _)| expires_at < e) {
                    soonest = Some((expires_at, slot));
                }
            }
        }
    }
    // Every probed slot is live: the table is (nearly) full. Evict the one that would have
    // expired first rather than refuse a user who just signed in.
    let (_, slot) = soonest.unwrap_or((0, 0));
    evict(slot)?;
    Ok(slot)
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

    #[test]
    fn takes_a_free_slot_and_evicts_the_soonest_expiring_when_full() {
        let live: RefCell<HashMap<u16, u64>> = RefCell::new((0..4).map(|s| (s, 100 + s as u64)).collect());
        live.borrow_mut().remove(&2);
        // Slot 2 free: with capacity 4 and 8 probes it is almost always found; retry to make the
        // test deterministic enough (probability of missing it 8 times in a row is (3/4)^8 each run).
        let mut found = false;
        for _ in 0..20 {
            let slot = allocate(4, |s| Ok(match live.borrow().get(&s) { Some(e) => Occupancy::Live { expires_at: *e }, None => Occupancy::Free }), |_| Ok(())).unwrap();
            if slot == 2 {
                found = true;
                break;
            }
        }
        assert!(found);

        // Full table of one slot: evicts it.
        let evicted = RefCell::new(vec![]);
        let slot = allocate(1, |_| Ok(Occupancy::Live { expires_at: 5 }), |s| { evicted.borrow_mut().push(s); Ok(()) }).unwrap();
        assert_eq!(slot, 0);
        assert_eq!(*evicted.borrow(), vec![0]);

        // Full larger table: the victim is the soonest-expiring among those probed.
        let seen = RefCell::new(vec![]);
        let victim = RefCell::new(None);
        let slot = allocate(
            1000,
            |s| { seen.borrow_mut().push(s); Ok(Occupancy::Live { expires_at: 10_000 - s as u64 }) },
            |s| { *victim.borrow_mut() = Some(s); Ok(()) },
        )
        .unwrap();
        assert_eq!(Some(slot), *victim.borrow());
        assert_eq!(slot, *seen.borrow().iter().max().unwrap());
        assert!(seen.borrow().iter().all(|s| *s < 1000));
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
