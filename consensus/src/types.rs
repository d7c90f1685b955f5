//! Identifiers and log records shared by the replica, its host and the simulator.

use std::fmt;

/// A server's id, as in `myid` and `server.N` of zoo.cfg; ballots and messages name servers by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u32);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Position in the replicated log. Slots start at 1; slot 0 stands for the empty prefix, so
/// "chosen up to 0" means nothing is chosen yet. A plain integer because slot ranges and
/// arithmetic are everywhere in the leader's bookkeeping.
pub type Slot = u64;

/// A Paxos ballot: `(epoch, server)`, ordered by epoch first, so every server can outbid every
/// other. Epochs are also the high half of zxids, so two servers never share an epoch (see
/// [`crate::Config::next_epoch`]); otherwise two leaders could stamp the same zxid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// The leader term; the high 32 bits of the zxids its leader stamps.
    pub epoch: u32,
    /// The server that owns this ballot (the only one that may lead under it).
    pub id: ServerId,
}

impl Ballot {
    /// Below every real ballot: what a fresh acceptor has promised.
    pub const ZERO: Ballot = Ballot { epoch: 0, id: ServerId(0) };
    /// Above every real ballot: marks a log entry the replica knows to be chosen (learned from
    /// a leader's commit point or a `Learn`). Phase 1 then prefers it over any accepted value,
    /// which is safe because every higher proposal for a chosen slot carries the same value.
    pub const CHOSEN: Ballot = Ballot { epoch: u32::MAX, id: ServerId(u32::MAX) };
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Ballot::CHOSEN {
            write!(f, "b(chosen)")
        } else {
            write!(f, "b({},{})", self.epoch, self.id.0)
        }
    }
}

/// ZooKeeper's transaction id: `epoch << 32 | counter`. The leader stamps one on each batch;
/// the zxid a batch takes effect with is [`crate::Committed::zxid`], which is strictly
/// increasing along the chosen log, as clients expect from `czxid`/`mzxid`/`lastZxidSeen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub u64);

impl Zxid {
    /// Builds a zxid from its two halves.
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid((u64::from(epoch) << 32) | u64::from(counter))
    }
    /// The leader epoch that stamped it.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The position within the epoch.
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
    /// The zxid right after this one.
    pub fn next(self) -> Zxid {
        Zxid(self.0 + 1)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// What a log slot holds. The replica never looks inside `data`: it is a batch of stamped
/// commands that the server crate encodes, so this crate stays ignorant of the data tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Fills a hole found by phase 1; applies as nothing and carries no zxid.
    Noop,
    /// A batch of commands stamped by the leader with one zxid.
    Batch {
        /// Stamped once by the leader that first proposed it; kept by every re-proposal.
        zxid: Zxid,
        /// Opaque payload.
        data: Vec<u8>,
    },
}

impl Entry {
    /// The batch's zxid; `None` for a no-op.
    pub fn zxid(&self) -> Option<Zxid> {
        match self {
            Entry::Noop => None,
            Entry::Batch { zxid, .. } => Some(*zxid),
        }
    }
}

/// One accepted (or known-chosen) log record, as the host persists it. A later record for
/// the same slot supersedes an earlier one: an acceptor may accept a slot again under a
/// higher ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Where in the log.
    pub slot: Slot,
    /// The ballot it was accepted under, or [`Ballot::CHOSEN`].
    pub ballot: Ballot,
    /// The value.
    pub entry: Entry,
}

/// The small durable record that must survive a crash: the acceptor's promise, and the
/// commit point (so a restart re-applies without asking the leader). The commit point may be
/// persisted lazily: losing it only means re-learning, never a wrong answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HardState {
    /// Highest ballot promised; a promise leaves only after this is durable.
    pub promised: Ballot,
    /// Every slot up to here is chosen, and the log (or a snapshot) holds its chosen value.
    pub commit: Slot,
}

impl Default for Ballot {
    fn default() -> Self {
        Ballot::ZERO
    }
}

/// Identifies the state a snapshot captures: everything applied up to `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// Last slot the snapshot includes.
    pub slot: Slot,
    /// Effective zxid ([`crate::Committed::zxid`]) of the last slot it includes, so zxids keep
    /// growing after the log is compacted.
    pub last_zxid: Zxid,
}

/// A snapshot the host produced; the replica carries it to lagging peers without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Which prefix of the log it replaces.
    pub meta: SnapshotMeta,
    /// The host's serialized state machine.
    pub data: Vec<u8>,
}
