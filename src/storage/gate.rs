//! One snapshot at a time. The driver asks the gate before it copies the state for a
//! snapshot; while an earlier snapshot is still being written the answer is no, and the
//! copy (and later freeing it) is never paid for, as ZooKeeper's `SyncRequestProcessor`
//! skips a snapshot while its snapshot thread is alive ("Too busy to snap, skipping").

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared between the driver and the threads that write snapshots.
#[derive(Debug, Clone, Default)]
pub struct SnapshotGate(Arc<AtomicBool>);

/// Held by whoever writes the snapshot; the gate opens again when it is dropped, on every
/// path (written, failed, or skipped).
#[derive(Debug)]
pub struct SnapshotTicket(Arc<AtomicBool>);

impl SnapshotGate {
    /// A ticket when no snapshot is in progress.
    pub fn try_begin(&self) -> Option<SnapshotTicket> {
        if self.0.swap(true, Ordering::AcqRel) {
            None
        } else {
            Some(SnapshotTicket(Arc::clone(&self.0)))
        }
    }
}

impl Drop for SnapshotTicket {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Commands until the next snapshot: `snapCount/2` plus a random part below `snapCount/2`
/// (ZooKeeper's `randRoll`), so on average three quarters of `snapCount`, and an ensemble's
/// servers do not all snapshot at once.
pub fn next_interval(snap_count: u64, random: &impl BuildHasher, salt: i64) -> u64 {
    let half = (snap_count / 2).max(1);
    half + random.hash_one(salt) % half
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ticket_at_a_time_and_dropping_it_opens_the_gate() {
        let gate = SnapshotGate::default();
        let t = gate.try_begin().expect("open at first");
        assert!(gate.try_begin().is_none(), "closed while a ticket is out");
        assert!(gate.clone().try_begin().is_none(), "clones share the gate");
        drop(t);
        assert!(gate.try_begin().is_some(), "open again once the ticket is dropped");
    }

    #[test]
    fn intervals_spread_over_the_upper_half_of_snap_count() {
        let random = std::collections::hash_map::RandomState::new();
        let xs: Vec<u64> = (0..2000).map(|i| next_interval(100_000, &random, i)).collect();
        assert!(xs.iter().all(|&x| (50_000..100_000).contains(&x)));
        let mean = xs.iter().sum::<u64>() / xs.len() as u64;
        assert!((70_000..80_000).contains(&mean), "mean {mean}");
        assert_eq!(next_interval(1, &random, 7), 1);
    }
}
