//! The deterministic simulator (feature `sim`), in the manner of TigerBeetle's VOPR: one
//! thread, one seeded PRNG, simulated time, a faulty network and disk, crashes, restarts,
//! tick drift, and clients whose histories a linearizability checker judges. Every run is a
//! pure function of its seed, so any failure replays with `--seed S --trace`.
//!
//! Checked continuously: at most one leader per ballot and per epoch; a chosen slot never
//! changes; every replica's state digest equals at equal slots; batch zxids strictly grow.
//! Checked at the end: every replica converged to the same state after the faults stop;
//! every acknowledged write is in the chosen log; the client history of writes and
//! sync-then-reads is linearizable.
//!
//! [`register`] checks histories recorded against real servers with the same search (the
//! `check_history` binary).

pub mod disk;
mod json;
pub mod kv;
pub mod linear;
pub mod register;
mod world;

/// One line describing a message, as traces and scenario files print it.
pub fn describe(msg: &crate::Message) -> String {
    world::trace::brief(msg)
}

/// One line describing a log value (`noop`, or `zxid:Ncmd` for a simulator batch).
pub fn describe_entry(entry: &crate::Entry) -> String {
    world::trace::brief_entry(entry)
}

use crate::config::Mutation;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Voting replicas (3 or 5).
    pub replicas: usize,
    /// Observers.
    pub observers: usize,
    /// Planted bug.
    pub mutation: Mutation,
    /// Run length in nominal ticks; faults stop at 60%, client ops at 75%.
    pub ticks: u64,
    /// Record a human-readable trace.
    pub trace: bool,
}

impl Options {
    /// Defaults used by CI and `scripts/simulate.sh`.
    pub fn new(replicas: usize) -> Options {
        Options { replicas, observers: 1, mutation: Mutation::None, ticks: 300, trace: false }
    }
}

/// Counters for the summary line.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Writes acknowledged to clients.
    pub writes_acked: u64,
    /// Sync-then-reads answered.
    pub reads_acked: u64,
    /// Highest chosen slot.
    pub slots: u64,
    /// Messages sent.
    pub messages: u64,
    /// Crashes (single and whole-cluster).
    pub crashes: u64,
    /// Distinct leader ballots.
    pub leaders: u64,
    /// Disk records lost to crashes.
    pub lost_records: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Batches applied with a zxid above their stamp (most on any replica).
    pub zxids_bumped: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// What went wrong (empty when the run is clean).
    pub violations: Vec<String>,
    /// The trace, when asked for.
    pub trace: Vec<String>,
    /// Counters.
    pub stats: Stats,
}

/// Runs one seed. A panic inside the replica (a failed invariant assertion) is reported as
/// a violation rather than unwinding.
pub fn run(seed: u64, opts: &Options) -> Report {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world::World::new(seed, opts.clone()).run()));
    match res {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Report { seed, violations: vec![format!("panic: {what}")], trace: Vec::new(), stats: Stats::default() }
        }
    }
}
