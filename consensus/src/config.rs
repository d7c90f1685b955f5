//! Static configuration of one replica: who votes, who observes, and the timeouts in ticks.

use crate::types::ServerId;

/// How one replica is set up. Times are in ticks (ZooKeeper's `tickTime` is the host's tick
/// period); the replica never reads a clock.
#[derive(Clone, Debug)]
pub struct Config {
    /// This server.
    pub id: ServerId,
    /// Servers that accept and vote (ZooKeeper `participant`s), this one included if it votes.
    pub voters: Vec<ServerId>,
    /// Servers that only learn chosen entries (ZooKeeper `observer`s).
    pub observers: Vec<ServerId>,
    /// ZooKeeper `syncLimit`: a follower that hears nothing from its leader for this many ticks
    /// starts an election (after jitter); a leader that hears no quorum for this long steps down.
    pub sync_limit_ticks: u32,
    /// ZooKeeper `initLimit`: how long a candidate's phase 1 may take before it retries.
    pub init_limit_ticks: u32,
    /// The leader sends heartbeats (commit point, read-index rounds) every this many ticks.
    pub heartbeat_ticks: u32,
    /// Largest zxid counter an epoch may use; past it the leader moves to a new epoch without
    /// waiting for an election timeout. `u32::MAX` in production; small in the simulator so
    /// the path is exercised.
    pub zxid_counter_max: u32,
    /// Most entries in one `Learn` or `Accept` message, so catch-up never sends unbounded frames.
    pub entries_per_message_max: usize,
    /// An acceptor refuses to promise a candidate whose commit point is more than this many
    /// slots behind its own: such a candidate would need the whole gap in its promises (one
    /// huge message), and a better-informed server can win instead. This bounds a promise to
    /// this many entries plus the leader's pipeline.
    pub promise_lag_max: u64,
    /// Seeds this replica's own PRNG (election jitter only).
    pub seed: u64,
    /// A planted bug, for proving the simulator catches it.
    #[cfg(feature = "mutations")]
    pub mutation: Mutation,
}

impl Config {
    /// A configuration with ZooKeeper's sample zoo.cfg timing (initLimit=10, syncLimit=5).
    pub fn new(id: ServerId, voters: Vec<ServerId>, observers: Vec<ServerId>, seed: u64) -> Self {
        Config {
            id,
            voters,
            observers,
            sync_limit_ticks: 5,
            init_limit_ticks: 10,
            heartbeat_ticks: 1,
            zxid_counter_max: u32::MAX,
            entries_per_message_max: 64,
            promise_lag_max: 10_000,
            seed,
            #[cfg(feature = "mutations")]
            mutation: Mutation::None,
        }
    }

    /// Votes needed: a strict majority of voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether this server votes.
    pub fn is_voter(&self) -> bool {
        self.voters.contains(&self.id)
    }

    /// The smallest epoch above `above` that this server owns. Epochs are dealt round-robin
    /// over the sorted voters, so no two servers ever lead in the same epoch and zxids, whose
    /// high half is the epoch, can never be stamped twice.
    ///
    /// # Panics
    /// If this server is not a voter, or epochs run out (after 2^32 elections).
    pub fn next_epoch(&self, above: u32) -> u32 {
        let mut sorted = self.voters.clone();
        sorted.sort();
        let n = sorted.len() as u64;
        let index = sorted.iter().position(|v| *v == self.id).expect("only voters campaign") as u64;
        let base = u64::from(above) + 1;
        let epoch = base + (index + n - base % n) % n;
        assert!(epoch < u64::from(u32::MAX), "epochs exhausted");
        epoch as u32
    }
}

/// Planted bugs (compiled only with the `mutations` feature). Each breaks one rule the
/// protocol depends on; the simulator must report a violation for each.
#[cfg(feature = "mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// The real protocol.
    None,
    /// Promises and Accepted acknowledgements leave before the write they report is durable.
    AckBeforePersist,
    /// Acceptors ignore their promise in phase 2: they accept (and acknowledge heartbeats
    /// from) ballots lower than the one they promised.
    AcceptLowerBallot,
    /// The leader counts one vote fewer than a majority before committing.
    CommitWithoutQuorum,
    /// A new leader ignores the values reported in promises and keeps only its own log.
    SkipPhase1Recovery,
    /// Followers hand entries to the host as soon as they are accepted, before they are chosen.
    ApplyUncommitted,
    /// The leader answers `sync` from its own commit point without a quorum round (the
    /// stale read Jepsen found in ZooKeeper's sync); proves the checker judges reads.
    SyncWithoutQuorum,
}

#[cfg(feature = "mutations")]
impl Mutation {
    /// Every planted bug, for tests and `--mutation` parsing.
    pub const ALL: [Mutation; 6] = [
        Mutation::AckBeforePersist,
        Mutation::AcceptLowerBallot,
        Mutation::CommitWithoutQuorum,
        Mutation::SkipPhase1Recovery,
        Mutation::ApplyUncommitted,
        Mutation::SyncWithoutQuorum,
    ];

    /// The `--mutation` name.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::AckBeforePersist => "ack-before-persist",
            Mutation::AcceptLowerBallot => "accept-lower-ballot",
            Mutation::CommitWithoutQuorum => "commit-without-quorum",
            Mutation::SkipPhase1Recovery => "skip-phase1-recovery",
            Mutation::ApplyUncommitted => "apply-uncommitted",
            Mutation::SyncWithoutQuorum => "sync-without-quorum",
        }
    }

    /// Parses a `--mutation` name.
    pub fn from_name(name: &str) -> Option<Mutation> {
        std::iter::once(Mutation::None).chain(Mutation::ALL).find(|m| m.name() == name)
    }
}
