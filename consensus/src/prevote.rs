//! Pre-vote (Raft thesis §9.6, etcd's `PreVote`): before a follower whose leader went silent
//! raises its ballot, it asks the voters whether they would promise. A voter says yes only if
//! it has not heard from a leader lately itself. A server cut off from the others therefore
//! never raises its ballot while they still follow a leader, and when it comes back it simply
//! follows that leader again instead of deposing it with a higher ballot (which would drop
//! every client of the ensemble for a new election). Pre-vote changes no durable state, so it
//! affects liveness only; safety stays with phase 1.

use std::collections::BTreeSet;

use crate::message::Message;
use crate::replica::{Replica, Role};
use crate::types::{Ballot, ServerId, Slot};

/// A pre-vote round in progress on a follower.
pub(crate) struct PreVote {
    /// The ballot a real campaign would use now.
    pub ballot: Ballot,
    /// Voters that said yes (this server included).
    pub granted: BTreeSet<ServerId>,
    pub ticks: u32,
}

/// Ticks a pre-vote round waits for answers before it gives up and retries later.
const ROUND_TICKS: u32 = 3;
/// A voter that heard its leader within this many heartbeat intervals refuses pre-votes.
const LEADER_ALIVE_HEARTBEATS: u32 = 2;

impl Replica {
    /// The election timer fired: ask before campaigning.
    pub(crate) fn start_pre_vote(&mut self) {
        if !self.cfg.is_voter() {
            return;
        }
        let epoch = self.cfg.next_epoch(self.promised.epoch.max(self.epoch_seen));
        let ballot = Ballot { epoch, id: self.cfg.id };
        // The leader went silent for the election timeout: this server follows no one now
        // (its host stops serving clients), though it keeps its ballot until a quorum agrees.
        self.leader = None;
        let mut granted = BTreeSet::new();
        granted.insert(self.cfg.id);
        self.prevote = Some(PreVote { ballot, granted, ticks: 0 });
        if self.cfg.quorum() <= 1 {
            self.prevote = None;
            self.campaign();
            return;
        }
        let commit = self.chosen;
        for v in self.cfg.voters.clone() {
            if v != self.cfg.id {
                self.send(v, Message::PreVote { ballot, commit });
            }
        }
    }

    /// A tick while a pre-vote round is open: after a few ticks without a quorum, wait a
    /// little (jittered) and ask again.
    pub(crate) fn tick_pre_vote(&mut self) {
        let Some(p) = &mut self.prevote else { return };
        p.ticks += 1;
        if p.ticks >= ROUND_TICKS {
            self.prevote = None;
            let soon = 1 + self.rng.below(u64::from(ROUND_TICKS)) as u32;
            self.idle_ticks = self.election_ticks.saturating_sub(soon);
        }
    }

    /// Whether this server would promise a new ballot now: it leads no one and has not
    /// heard a leader lately (or its host saw the link to the leader break).
    fn would_promise(&self, candidate_commit: Slot) -> bool {
        if !self.cfg.is_voter() || self.chosen >= candidate_commit.saturating_add(self.cfg.promise_lag_max) {
            return false;
        }
        match self.role {
            Role::Leader(_) | Role::Observer => false,
            Role::Candidate(_) => true,
            Role::Follower => {
                self.leader.is_none()
                    || self.leader_suspect
                    || self.idle_ticks >= LEADER_ALIVE_HEARTBEATS * self.cfg.heartbeat_ticks.max(1)
            }
        }
    }

    pub(crate) fn on_pre_vote(&mut self, from: ServerId, ballot: Ballot, commit: Slot) {
        let granted = self.would_promise(commit) && ballot > self.promised;
        let promised = self.promised;
        self.send(from, Message::PreVoteReply { ballot, granted, promised });
    }

    pub(crate) fn on_pre_vote_reply(&mut self, from: ServerId, ballot: Ballot, granted: bool, promised: Ballot) {
        self.see_ballot(promised);
        let quorum = self.cfg.quorum();
        let Some(p) = &mut self.prevote else { return };
        if p.ballot != ballot || !self.cfg.voters.contains(&from) {
            return;
        }
        if granted {
            p.granted.insert(from);
            if p.granted.len() >= quorum && matches!(self.role, Role::Follower) {
                self.prevote = None;
                self.campaign();
            }
        }
    }
}
