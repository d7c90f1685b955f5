//! A simulated disk: appended records stay pending until a sync; a crash keeps a random
//! prefix of the pending records and may tear the next one (recovery drops a torn record,
//! as the real log does with its CRC).

use crate::rng::Rng;
use crate::types::{HardState, LogEntry, Snapshot};
use crate::Recovered;

/// One record of the write-ahead log.
#[derive(Clone, Debug)]
pub enum Record {
    /// Promise and commit point.
    Hard(HardState),
    /// An accepted or chosen value.
    Entry(LogEntry),
    /// A snapshot (own, or installed from the leader).
    Snap(Snapshot),
}

/// Durable and pending records.
#[derive(Default)]
pub struct Disk {
    durable: Vec<Record>,
    pending: Vec<Record>,
    /// Records lost to crashes, for the statistics line.
    pub lost: u64,
    /// Records torn by crashes.
    pub torn: u64,
}

impl Disk {
    /// Appends, not yet durable.
    pub fn write(&mut self, r: Record) {
        self.pending.push(r);
    }

    /// How many records have been written in all; pass to [`Disk::sync_to`] later.
    pub fn written(&self) -> u64 {
        (self.durable.len() + self.pending.len()) as u64
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) {
        self.durable.append(&mut self.pending);
    }

    /// Makes the first `upto` records ever written durable (one fsync of one batch), leaving
    /// later writes pending, so a crash can still lose them.
    pub fn sync_to(&mut self, upto: u64) {
        let n = (upto as usize).saturating_sub(self.durable.len()).min(self.pending.len());
        self.durable.extend(self.pending.drain(..n));
    }

    /// Power loss: a random prefix of the pending writes reached the platter; the next one
    /// may be torn, which recovery cuts off.
    pub fn crash(&mut self, rng: &mut Rng) {
        let n = self.pending.len() as u64;
        // Half the time nothing unsynced survives (the usual power loss); otherwise a prefix.
        let keep = if n == 0 || rng.chance(500) { 0 } else { rng.below(n + 1) } as usize;
        let mut pending = std::mem::take(&mut self.pending);
        let lost = pending.split_off(keep);
        self.durable.extend(pending);
        if !lost.is_empty() && rng.chance(500) {
            self.torn += 1;
        }
        self.lost += lost.len() as u64;
    }

    /// Writes a snapshot durably, then drops the log records it covers (log compaction).
    pub fn save_snapshot(&mut self, snap: Snapshot) {
        self.write(Record::Snap(snap.clone()));
        self.sync();
        let keep_from = self.durable.iter().rposition(|r| matches!(r, Record::Snap(_))).expect("just written");
        let slot = snap.meta.slot;
        let mut kept: Vec<Record> = Vec::new();
        for (i, r) in std::mem::take(&mut self.durable).into_iter().enumerate() {
            let drop = match &r {
                Record::Entry(e) => e.slot <= slot,
                Record::Snap(_) => i != keep_from,
                Record::Hard(_) => false,
            };
            if !drop {
                kept.push(r);
            }
        }
        self.durable = kept;
    }

    /// What a restarted server reads back, plus the snapshot bytes to load.
    pub fn recover(&self) -> (Recovered, Option<Snapshot>) {
        let mut rec = Recovered::default();
        let mut snap: Option<Snapshot> = None;
        for r in &self.durable {
            match r {
                Record::Hard(h) => rec.hard_state = *h,
                Record::Entry(e) => rec.entries.push(e.clone()),
                Record::Snap(s) => snap = Some(s.clone()),
            }
        }
        rec.snapshot = snap.as_ref().map(|s| s.meta);
        (rec, snap)
    }
}
