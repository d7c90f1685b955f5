//! Messages between replicas. The host encodes them for the peer link; the simulator passes
//! them by value.

use crate::types::{Ballot, Entry, LogEntry, ServerId, Slot, Snapshot};

/// A message and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Recipient.
    pub to: ServerId,
    /// Payload.
    pub msg: Message,
}

/// Every message of the protocol. Names follow Paxos Made Simple (prepare/promise,
/// accept/accepted) plus the learner and read-index messages of Paxos Made Live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Phase 1a: "promise me `ballot`, and tell me what you accepted from `from_slot` on".
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// First slot the candidate does not know to be chosen; phase 1 covers the whole
        /// suffix from here, so one round serves every future slot.
        from_slot: Slot,
    },
    /// Phase 1b; sent only after the promise is durable.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Everything the acceptor holds from `from_slot` on.
        accepted: Vec<LogEntry>,
    },
    /// A refusal, so a stale candidate or leader learns it was outbid (or is too far behind).
    Nack {
        /// The ballot refused.
        ballot: Ballot,
        /// What the acceptor has promised instead.
        promised: Ballot,
    },
    /// Phase 2a, pipelined: several slots per message and several messages in flight.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The values proposed.
        entries: Vec<(Slot, Entry)>,
        /// The leader's commit point, piggybacked.
        commit: Slot,
    },
    /// Phase 2b; sent only after the accepted entries are durable.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// Which slots.
        slots: Vec<Slot>,
        /// The acceptor's own commit point, so the leader knows whom to help catch up.
        chosen: Slot,
    },
    /// Keeps followers from electing, carries the commit point and numbers read-index rounds.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's commit point.
        commit: Slot,
        /// Read-index round number; a quorum of acks for round n confirms leadership at n.
        seq: u64,
    },
    /// Reply to a heartbeat (or a learn / snapshot): "still yours, and chosen up to here".
    HeartbeatAck {
        /// The leader's ballot, echoed.
        ballot: Ballot,
        /// The round acknowledged (0 for learn and snapshot replies).
        seq: u64,
        /// The follower's commit point.
        chosen: Slot,
    },
    /// Catch-up: chosen values, sent to lagging followers and to observers.
    Learn {
        /// The sender's ballot (values are chosen whatever the ballot).
        ballot: Ballot,
        /// Chosen entries, consecutive from the peer's commit point.
        entries: Vec<(Slot, Entry)>,
    },
    /// Catch-up when the log no longer reaches back far enough.
    InstallSnapshot {
        /// The leader's ballot.
        ballot: Ballot,
        /// The host's snapshot, carried unread.
        snapshot: Snapshot,
    },
    /// A follower forwards a client's `sync` to the leader.
    SyncRequest {
        /// The follower host's request id.
        id: u64,
    },
    /// Pre-vote: "would you promise `ballot` now?" Changes nothing on the receiver.
    PreVote {
        /// The ballot the asker would campaign with.
        ballot: Ballot,
        /// The asker's commit point (a far-behind asker is refused, as its prepare would be).
        commit: Slot,
    },
    /// The answer to [`Message::PreVote`].
    PreVoteReply {
        /// Echoed.
        ballot: Ballot,
        /// Yes only if the voter has no live leader.
        granted: bool,
        /// What the voter has promised, so the asker's next ballot outbids it.
        promised: Ballot,
    },
    /// The leader's answer: wait until applied through `read_index`, then read.
    SyncReply {
        /// Echoed request id.
        id: u64,
        /// Commit index confirmed by a quorum round.
        read_index: Slot,
    },
}
