//! Acceptor and learner rules: what a voter does with prepares and accepts, and how any
//! replica (voter or observer) learns which slots are chosen.

use crate::message::Message;
use crate::replica::{Replica, Role};
use crate::types::{Ballot, Entry, LogEntry, ServerId, Slot, Snapshot};

impl Replica {
    /// Phase 1b (Paxos Made Simple §2.2): promise never to accept below `ballot`, and report
    /// everything accepted from `from_slot` on. The promise leaves only once durable.
    pub(crate) fn on_prepare(&mut self, from: ServerId, ballot: Ballot, from_slot: Slot) {
        if matches!(self.role, Role::Observer) {
            return;
        }
        self.see_ballot(ballot);
        // A compacted acceptor cannot report the slots the candidate is missing, and a far
        // more advanced one would have to send them all; refusing is safe (it is like being
        // unreachable) and a better-informed server will win.
        let far_behind = self.chosen >= from_slot.saturating_add(self.cfg.promise_lag_max);
        if ballot < self.promised || from_slot <= self.snap.slot || far_behind {
            let promised = self.promised;
            self.send(from, Message::Nack { ballot, promised });
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            self.out.hard_dirty = true;
            if ballot.id != self.cfg.id {
                self.step_down();
                self.leader = None;
            }
        }
        if ballot.id != self.cfg.id {
            // Give the candidate time to finish before competing with it.
            self.reset_election_timer();
        }
        let accepted = self
            .log
            .range(from_slot..)
            .map(|(s, (b, e))| LogEntry { slot: *s, ballot: *b, entry: e.clone() })
            .collect();
        self.send_after_persist(from, Message::Promise { ballot, accepted });
    }

    /// Phase 2b: accept unless promised higher; accepting implies promising. The Accepted
    /// reply leaves only once the entries are durable (Paxos Made Live §2.2: acceptors must
    /// remember what they accepted across crashes).
    pub(crate) fn on_accept(&mut self, from: ServerId, ballot: Ballot, entries: Vec<(Slot, Entry)>, commit: Slot) {
        if matches!(self.role, Role::Observer) {
            return;
        }
        self.see_ballot(ballot);
        if ballot < self.promised && !self.mutated_accept_lower() {
            let promised = self.promised;
            self.send(from, Message::Nack { ballot, promised });
            return;
        }
        if ballot >= self.promised {
            self.follow_leader(ballot, commit);
        }
        let mut slots = Vec::with_capacity(entries.len());
        for (slot, entry) in entries {
            slots.push(slot);
            // Already known chosen, or a retransmission of what we hold: nothing to write.
            // The reply still waits for the latest write, which covers the earlier one.
            let held = self.log.get(&slot).is_some_and(|(b, e)| *b == Ballot::CHOSEN || (*b == ballot && *e == entry));
            if slot > self.snap.slot && !held {
                self.persist_entry(slot, ballot, entry);
            }
        }
        self.advance_chosen();
        let chosen = self.chosen;
        self.send_after_persist(from, Message::Accepted { ballot, slots, chosen });
    }

    /// A heartbeat keeps this follower loyal, moves its commit point, and is acknowledged at
    /// once: the ack only claims "I have promised nothing higher", which needs no disk.
    pub(crate) fn on_heartbeat(&mut self, from: ServerId, ballot: Ballot, commit: Slot, seq: u64) {
        self.see_ballot(ballot);
        if ballot < self.promised {
            if self.mutated_accept_lower() {
                let chosen = self.chosen;
                self.send(from, Message::HeartbeatAck { ballot, seq, chosen });
                return;
            }
            let promised = self.promised;
            self.send(from, Message::Nack { ballot, promised });
            return;
        }
        self.follow_leader(ballot, commit);
        self.advance_chosen();
        let chosen = self.chosen;
        self.send(from, Message::HeartbeatAck { ballot, seq, chosen });
    }

    /// Chosen values from the leader: true whatever the sender's ballot, stored as
    /// [`Ballot::CHOSEN`] so a later phase 1 prefers them.
    pub(crate) fn on_learn(&mut self, from: ServerId, ballot: Ballot, entries: Vec<(Slot, Entry)>) {
        self.see_ballot(ballot);
        for (slot, entry) in entries {
            let known_chosen = self.log.get(&slot).is_some_and(|(b, _)| *b == Ballot::CHOSEN);
            if slot > self.chosen && slot > self.snap.slot && !known_chosen {
                self.persist_entry(slot, Ballot::CHOSEN, entry);
            }
        }
        if ballot >= self.promised {
            self.follow_leader(ballot, 0);
        }
        self.advance_chosen();
        let chosen = self.chosen;
        self.send(from, Message::HeartbeatAck { ballot, seq: 0, chosen });
    }

    /// A snapshot replaces the log prefix it covers; the host persists and loads it.
    pub(crate) fn on_snapshot(&mut self, from: ServerId, ballot: Ballot, snapshot: Snapshot) {
        self.see_ballot(ballot);
        if snapshot.meta.slot > self.chosen {
            let meta = snapshot.meta;
            self.log = self.log.split_off(&(meta.slot + 1));
            self.snap = meta;
            self.chosen = meta.slot;
            if meta.slot > self.emitted {
                self.emitted = meta.slot;
                self.emitted_zxid = meta.last_zxid;
            }
            self.see_zxid(meta.last_zxid);
            self.out.hard_dirty = true;
            self.out.snapshot = Some(snapshot);
            if let Role::Leader(l) = &mut self.role {
                l.forget_through(meta.slot);
            }
            self.advance_chosen();
        }
        if ballot >= self.promised {
            self.follow_leader(ballot, 0);
        }
        let chosen = self.chosen;
        self.send(from, Message::HeartbeatAck { ballot, seq: 0, chosen });
    }

    /// Adopts the leader of `ballot` (at least our promise): accepting its messages implies
    /// promising it, and a replica that was leading or campaigning lower is outbid.
    fn follow_leader(&mut self, ballot: Ballot, commit: Slot) {
        if ballot > self.promised {
            self.promised = ballot;
            self.out.hard_dirty = true;
        }
        if ballot.id == self.cfg.id {
            return;
        }
        self.step_down();
        if self.follow != ballot {
            self.follow = ballot;
            self.leader_commit = 0;
        }
        self.leader = Some(ballot.id);
        self.leader_commit = self.leader_commit.max(commit);
        self.idle_ticks = 0;
        self.prevote = None;
        self.leader_suspect = false;
    }

    /// Learner rule: slot s is chosen if its value was learned as chosen, or was accepted
    /// under the followed leader's ballot and that leader has committed s (a leader proposes
    /// one value per slot per ballot, so ours is the leader's, which is chosen).
    pub(crate) fn advance_chosen(&mut self) {
        let before = self.chosen;
        while let Some((b, _)) = self.log.get(&(self.chosen + 1)) {
            let s = self.chosen + 1;
            let by_leader = *b == self.follow && s <= self.leader_commit && !matches!(self.role, Role::Leader(_));
            if *b == Ballot::CHOSEN || by_leader {
                self.chosen = s;
            } else {
                break;
            }
        }
        if self.chosen != before {
            self.out.hard_dirty = true;
        }
        self.emit_committed();
    }

    fn mutated_accept_lower(&self) -> bool {
        #[cfg(feature = "mutations")]
        return self.mutated(crate::config::Mutation::AcceptLowerBallot);
        #[cfg(not(feature = "mutations"))]
        false
    }
}
