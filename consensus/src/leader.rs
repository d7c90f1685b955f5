//! Candidate and leader rules: phase 1 over the whole unchosen suffix, recovery of open
//! slots, pipelined phase 2, commit counting, read-index rounds, catch-up, step-down.

use std::collections::{BTreeMap, BTreeSet};

use crate::message::Message;
use crate::replica::{NotLeader, Proposed, Replica, Role, Synced};
use crate::types::{Ballot, Entry, LogEntry, ServerId, Slot, Zxid};

/// Phase 1 in progress.
pub(crate) struct Candidate {
    pub ballot: Ballot,
    pub from_slot: Slot,
    pub promises: BTreeMap<ServerId, Vec<LogEntry>>,
    pub ticks: u32,
    pub timeout_ticks: u32,
}

/// Replaces with no-ops the values that a later leader's recovery provably skipped.
///
/// A value accepted under ballot b at slot x that sits above a batch stamped fresh in an
/// epoch E > b.epoch was outside E's phase-1 recovery: it was not chosen before E's phase 1
/// (E's quorum would have reported it) and cannot be chosen under b after it (that quorum
/// promised E). Plain Paxos would still re-propose it, and the log would then order an older
/// zxid after a newer one; ZooKeeper clients need zxids to grow along the log.
fn drop_overtaken(merged: &mut BTreeMap<Slot, (Ballot, Entry)>, first_fresh: &BTreeMap<u32, Slot>) {
    for (slot, (ballot, entry)) in merged.iter_mut() {
        if *ballot == Ballot::CHOSEN {
            continue;
        }
        let overtaken = first_fresh.range(ballot.epoch + 1..).any(|(_, s)| s < slot);
        if overtaken {
            *entry = Entry::Noop;
        }
    }
}

fn l_seq(role: &Role) -> u64 {
    match role {
        Role::Leader(l) => l.seq,
        _ => 0,
    }
}

/// A sync waiting for its heartbeat round.
struct PendingSync {
    id: u64,
    origin: ServerId,
    read_index: Slot,
    seq: u64,
}

/// What the leader knows about one peer.
#[derive(Default)]
struct Peer {
    chosen: Slot,
    heard_tick: u64,
    acked_seq: u64,
    snapshot_asked_tick: Option<u64>,
    /// Highest slot sent by `Learn`, and when: catch-up streams ahead of the acks and
    /// starts again from `chosen` when they stop coming.
    learn_sent: Slot,
    learn_tick: u64,
}

/// Votes for one open slot.
#[derive(Default)]
struct Votes {
    voters: BTreeSet<ServerId>,
    /// When the slot was last sent, so retransmission waits for a slow fsync.
    sent_tick: u64,
}

/// Retransmit accepts and learns not answered within this many ticks.
const RETRANSMIT_TICKS: u64 = 2;
/// Most learn batches in flight to one peer.
const LEARN_WINDOW: u64 = 4;

/// Phase 1 done: proposing under `ballot`.
pub(crate) struct Leader {
    pub ballot: Ballot,
    next_slot: Slot,
    /// Last slot recovered by phase 1; a read index must cover it (Raft's "commit an entry
    /// of your own term first"), since writes chosen under earlier ballots may sit there.
    recovered_to: Slot,
    /// Voters that accepted each open slot under `ballot`.
    votes: BTreeMap<Slot, Votes>,
    /// Commit points carried by the last two heartbeat rounds. A follower below the older
    /// one has missed a commit it should have learned by piggyback: it needs `Learn`.
    hb_commit: [Slot; 2],
    /// Commit point last sent to the peers; see [`Replica::notify_commit`].
    notified_commit: Slot,
    peers: BTreeMap<ServerId, Peer>,
    ticks: u64,
    seq: u64,
    syncs: Vec<PendingSync>,
}

impl Leader {
    /// The highest slot proposed so far.
    pub(crate) fn last_proposed(&self) -> Slot {
        self.next_slot - 1
    }

    /// Each peer's last reported commit point and the ticks since it was last heard.
    pub(crate) fn progress(&self) -> impl Iterator<Item = (ServerId, Slot, u64)> + '_ {
        self.peers.iter().map(|(id, p)| (*id, p.chosen, self.ticks.saturating_sub(p.heard_tick)))
    }

    /// Forgets open slots that became known as chosen another way (a snapshot).
    pub(crate) fn forget_through(&mut self, slot: Slot) {
        self.votes = self.votes.split_off(&(slot + 1));
        self.next_slot = self.next_slot.max(slot + 1);
    }
}

impl Replica {
    /// Starts phase 1 with a fresh ballot in an epoch this server owns.
    pub(crate) fn campaign(&mut self) {
        if !self.cfg.is_voter() {
            return;
        }
        let epoch = self.cfg.next_epoch(self.promised.epoch.max(self.epoch_seen));
        let ballot = Ballot { epoch, id: self.cfg.id };
        self.epoch_seen = epoch;
        self.promised = ballot;
        self.out.hard_dirty = true;
        self.leader = None;
        let limit = u64::from(self.cfg.sync_limit_ticks.max(1));
        let timeout_ticks = self.cfg.init_limit_ticks + self.rng.below(limit) as u32;
        let from_slot = self.chosen + 1;
        self.role =
            Role::Candidate(Candidate { ballot, from_slot, promises: BTreeMap::new(), ticks: 0, timeout_ticks });
        for v in self.cfg.voters.clone() {
            self.send(v, Message::Prepare { ballot, from_slot });
        }
    }

    /// Retries prepares to silent voters each tick; starts over after initLimit (+ jitter).
    pub(crate) fn tick_candidate(&mut self) {
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        c.ticks += 1;
        if c.ticks >= c.timeout_ticks {
            self.campaign();
            return;
        }
        let (ballot, from_slot) = (c.ballot, c.from_slot);
        let silent: Vec<ServerId> = self.cfg.voters.iter().copied().filter(|v| !c.promises.contains_key(v)).collect();
        for v in silent {
            if v != self.cfg.id {
                self.send(v, Message::Prepare { ballot, from_slot });
            }
        }
    }

    pub(crate) fn on_promise(&mut self, from: ServerId, ballot: Ballot, accepted: Vec<LogEntry>) {
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        if c.ballot != ballot || !self.cfg.voters.contains(&from) {
            return;
        }
        c.promises.insert(from, accepted);
        if c.promises.len() >= self.cfg.quorum() {
            let Role::Candidate(c) = std::mem::replace(&mut self.role, Role::Follower) else { unreachable!() };
            self.become_leader(c);
        }
    }

    /// Outbid: whoever refused us promised a higher ballot.
    pub(crate) fn on_nack(&mut self, ballot: Ballot, promised: Ballot) {
        self.see_ballot(promised);
        let mine = match &self.role {
            Role::Candidate(c) => c.ballot,
            Role::Leader(l) => l.ballot,
            _ => return,
        };
        if ballot == mine && promised > mine {
            self.step_down();
        }
    }

    /// Recovery (Paxos Made Simple §3): for each slot from the candidate's commit point on,
    /// keep the value of the highest ballot reported, fill holes with no-ops, and re-propose
    /// all of them under our ballot before any new value.
    fn become_leader(&mut self, c: Candidate) {
        let mut merged: BTreeMap<Slot, (Ballot, Entry)> = BTreeMap::new();
        for entries in c.promises.values() {
            for e in entries.iter().filter(|e| e.slot >= c.from_slot).cloned() {
                if merged.get(&e.slot).is_none_or(|(b, _)| e.ballot > *b) {
                    merged.insert(e.slot, (e.ballot, e.entry));
                }
            }
        }
        let evidence = self.fresh_evidence(&c.promises);
        drop_overtaken(&mut merged, &evidence);
        if self.mutated_skip_recovery() {
            merged = self.log.range(c.from_slot..).map(|(s, v)| (*s, v.clone())).collect();
        }
        // Slots learned as chosen while campaigning (a `Learn` from a leader we had not yet
        // heard of) need no recovery; new values go above them.
        let first_open = c.from_slot.max(self.chosen + 1);
        let last = merged.keys().next_back().copied().unwrap_or(0).max(first_open - 1);
        let mut peers = BTreeMap::new();
        for p in self.cfg.voters.iter().chain(&self.cfg.observers).filter(|p| **p != self.cfg.id) {
            peers.insert(*p, Peer::default());
        }
        self.leader = Some(self.cfg.id);
        self.follow = c.ballot;
        self.leader_commit = 0;
        self.role = Role::Leader(Box::new(Leader {
            ballot: c.ballot,
            next_slot: last + 1,
            recovered_to: last,
            votes: BTreeMap::new(),
            hb_commit: [0, 0],
            notified_commit: 0,
            peers,
            ticks: 0,
            seq: 0,
            syncs: Vec::new(),
        }));
        let open: Vec<(Slot, Entry)> =
            (first_open..=last).map(|s| (s, merged.remove(&s).map_or(Entry::Noop, |(_, e)| e))).collect();
        for chunk in open.chunks(self.cfg.entries_per_message_max.max(1)) {
            self.broadcast_accept(chunk.to_vec());
        }
        self.heartbeat();
    }

    /// For each epoch, the lowest slot known to hold a batch stamped in it. A leader stamps
    /// fresh zxids only above the end of its phase-1 recovery, so such a batch at slot s
    /// proves that leader's recovery ended below s.
    fn fresh_evidence(&self, promises: &BTreeMap<ServerId, Vec<LogEntry>>) -> BTreeMap<u32, Slot> {
        let mut first: BTreeMap<u32, Slot> = BTreeMap::new();
        let mut note = |slot: Slot, e: &Entry| {
            if let Some(z) = e.zxid() {
                let f = first.entry(z.epoch()).or_insert(slot);
                *f = (*f).min(slot);
            }
        };
        if self.snap.slot > 0 {
            note(self.snap.slot, &Entry::Batch { zxid: self.snap.last_zxid, data: Vec::new() });
        }
        self.log.iter().for_each(|(s, (_, e))| note(*s, e));
        promises.values().flatten().for_each(|e| note(e.slot, &e.entry));
        first
    }

    pub(crate) fn propose_batch(&mut self, data: Vec<u8>) -> Result<Proposed, NotLeader> {
        let Role::Leader(l) = &self.role else {
            return Err(NotLeader { leader: self.leader });
        };
        let floor = Zxid::new(l.ballot.epoch, 1);
        let zxid = if self.zxid_seen.0 + 1 > floor.0 { Zxid(self.zxid_seen.0 + 1) } else { floor };
        if zxid.epoch() != l.ballot.epoch || zxid.counter() > self.cfg.zxid_counter_max {
            // Counter exhausted: move to a new epoch at once, without an election timeout.
            self.campaign();
            return Err(NotLeader { leader: Some(self.cfg.id) });
        }
        let Role::Leader(l) = &mut self.role else { unreachable!() };
        let slot = l.next_slot;
        l.next_slot += 1;
        self.see_zxid(zxid);
        self.broadcast_accept(vec![(slot, Entry::Batch { zxid, data })]);
        Ok(Proposed { slot, zxid })
    }

    /// Phase 2a to every voter, self included (our own vote counts once durable).
    fn broadcast_accept(&mut self, entries: Vec<(Slot, Entry)>) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        for (s, _) in &entries {
            l.votes.entry(*s).or_default().sent_tick = l.ticks;
        }
        let (ballot, commit) = (l.ballot, self.chosen);
        for v in self.cfg.voters.clone() {
            self.send(v, Message::Accept { ballot, entries: entries.clone(), commit });
        }
    }

    /// Counts a vote; a slot is chosen once a majority accepted it under our ballot.
    pub(crate) fn on_accepted(&mut self, from: ServerId, ballot: Ballot, slots: Vec<Slot>, chosen: Slot) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if ballot != l.ballot || !self.cfg.voters.contains(&from) {
            return;
        }
        let ticks = l.ticks;
        if let Some(p) = l.peers.get_mut(&from) {
            p.heard_tick = ticks;
            // The latest report, not the highest: a restarted peer may have lost its tail.
            p.chosen = chosen;
        }
        for s in slots {
            if let Some(v) = l.votes.get_mut(&s) {
                v.voters.insert(from);
            }
        }
        self.advance_leader_commit();
    }

    fn advance_leader_commit(&mut self) {
        let need = self.votes_needed();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let before = self.chosen;
        while l.votes.get(&(self.chosen + 1)).is_some_and(|v| v.voters.len() >= need) {
            self.chosen += 1;
            l.votes.remove(&self.chosen);
        }
        if self.chosen != before {
            self.out.hard_dirty = true;
            self.emit_committed();
            let observers = self.cfg.observers.clone();
            for o in observers {
                self.catch_up(o);
            }
        }
    }

    pub(crate) fn on_heartbeat_ack(&mut self, from: ServerId, ballot: Ballot, seq: u64, chosen: Slot) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if ballot != l.ballot {
            return;
        }
        let ticks = l.ticks;
        let mut progressed = false;
        if let Some(p) = l.peers.get_mut(&from) {
            p.heard_tick = ticks;
            progressed = chosen > p.chosen;
            p.chosen = chosen;
            p.acked_seq = p.acked_seq.max(seq);
        }
        self.release_syncs();
        // Pipelined catch-up: the next batch as soon as the last one landed. Only on
        // progress, so duplicated acks cannot start a message storm; ticks retry the rest.
        if progressed {
            self.catch_up(from);
        }
    }

    pub(crate) fn tick_leader(&mut self) {
        let quorum = self.cfg.quorum();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.ticks += 1;
        let window = u64::from(self.cfg.sync_limit_ticks);
        let heard = 1 + l
            .peers
            .iter()
            .filter(|(id, p)| self.cfg.voters.contains(id) && l.ticks - p.heard_tick <= window)
            .count();
        if heard < quorum {
            // Cannot hear a quorum for syncLimit ticks: stop serving (ZooKeeper does the same).
            self.step_down();
            return;
        }
        if l.ticks % u64::from(self.cfg.heartbeat_ticks.max(1)) == 0 {
            self.heartbeat();
            self.resend_accepts();
            let peers: Vec<ServerId> = self.cfg.voters.iter().chain(&self.cfg.observers).copied().collect();
            for p in peers {
                self.catch_up(p);
            }
        }
    }

    /// Tells the peers at once when the commit point moved, so a follower answers its
    /// clients' writes without waiting for the next heartbeat tick. The notice is a
    /// heartbeat of the current round (no new read-index round: syncs waiting for a later
    /// round are not released by its acks).
    pub(crate) fn notify_commit(&mut self) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if self.chosen <= l.notified_commit {
            return;
        }
        l.notified_commit = self.chosen;
        let (ballot, commit, seq) = (l.ballot, self.chosen, l.seq);
        let peers: Vec<ServerId> = l.peers.keys().copied().collect();
        for p in peers {
            self.send(p, Message::Heartbeat { ballot, commit, seq });
        }
    }

    /// Starts a read-index round: every heartbeat carries a new round number.
    fn heartbeat(&mut self) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.notified_commit = self.chosen;
        l.seq += 1;
        l.hb_commit = [l.hb_commit[1], self.chosen];
        let (ballot, commit, seq) = (l.ballot, self.chosen, l.seq);
        let peers: Vec<ServerId> = l.peers.keys().copied().collect();
        for p in peers {
            self.send(p, Message::Heartbeat { ballot, commit, seq });
        }
        self.release_syncs();
    }

    /// Re-sends open slots to voters that have not accepted them (lost or reordered accepts).
    fn resend_accepts(&mut self) {
        let Role::Leader(l) = &mut self.role else { return };
        let (ballot, commit, max) = (l.ballot, self.chosen, self.cfg.entries_per_message_max.max(1));
        let mut per_peer: BTreeMap<ServerId, Vec<(Slot, Entry)>> = BTreeMap::new();
        for (s, votes) in l.votes.iter_mut().filter(|(_, v)| l.ticks - v.sent_tick >= RETRANSMIT_TICKS) {
            votes.sent_tick = l.ticks;
            for v in self.cfg.voters.iter().filter(|v| **v != self.cfg.id && !votes.voters.contains(v)) {
                let batch = per_peer.entry(*v).or_default();
                if batch.len() < max {
                    if let Some((_, e)) = self.log.get(s) {
                        batch.push((*s, e.clone()));
                    }
                }
            }
        }
        for (to, entries) in per_peer.into_iter().filter(|(_, e)| !e.is_empty()) {
            self.send(to, Message::Accept { ballot, entries, commit });
        }
    }

    /// Sends chosen entries a peer lacks, or asks the host for a snapshot when the log was
    /// compacted past what the peer needs.
    fn catch_up(&mut self, to: ServerId) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let ticks = l.ticks;
        let Some(p) = l.peers.get_mut(&to) else {
            return;
        };
        if p.chosen >= self.chosen {
            return;
        }
        if p.chosen < self.snap.slot {
            let asked_recently =
                p.snapshot_asked_tick.is_some_and(|t| ticks - t < u64::from(self.cfg.sync_limit_ticks));
            if !asked_recently {
                p.snapshot_asked_tick = Some(ticks);
                self.out.snapshot_wanted.push(to);
            }
            return;
        }
        // Followers learn recent commits from the piggybacked commit point; only one that
        // fell behind the previous round's commit needs the values sent. Observers get no
        // accepts, so they are always sent what they lack.
        let healthy_upto = if self.cfg.observers.contains(&to) { self.chosen } else { l.hb_commit[0] };
        if p.chosen >= healthy_upto {
            return;
        }
        let ballot = l.ballot;
        let max = self.cfg.entries_per_message_max.max(1) as u64;
        let streaming = p.learn_sent > p.chosen && ticks - p.learn_tick < RETRANSMIT_TICKS;
        let from = if streaming { p.learn_sent + 1 } else { p.chosen + 1 };
        if from > self.chosen || from - 1 - p.chosen >= LEARN_WINDOW * max {
            return;
        }
        let upto = self.chosen.min(from - 1 + max);
        p.learn_sent = upto;
        p.learn_tick = ticks;
        let entries: Vec<(Slot, Entry)> = (from..=upto)
            .map(|s| (s, self.log.get(&s).unwrap_or_else(|| panic!("chosen slot {s} missing")).1.clone()))
            .collect();
        self.send(to, Message::Learn { ballot, entries });
    }

    /// Local syncs and syncs forwarded by followers.
    pub(crate) fn start_sync(&mut self, id: u64, origin: ServerId) -> Result<(), NotLeader> {
        match &mut self.role {
            Role::Leader(l) => {
                let read_index = self.chosen.max(l.recovered_to);
                let seq = l.seq + 1;
                #[cfg(feature = "mutations")]
                if self.cfg.mutation == crate::config::Mutation::SyncWithoutQuorum {
                    let read_index = self.chosen;
                    if origin == self.cfg.id {
                        self.out.synced.push(Synced { id, read_index });
                    } else {
                        self.send(origin, Message::SyncReply { id, read_index });
                    }
                    return Ok(());
                }
                l.syncs.push(PendingSync { id, origin, read_index, seq });
                // One round in flight at a time: syncs arriving meanwhile share the next one.
                if self.confirmed_seq() == Some(l_seq(&self.role)) {
                    self.heartbeat();
                }
                Ok(())
            }
            _ if origin != self.cfg.id => Ok(()), // forwarded to a non-leader: dropped
            _ => match self.leader {
                Some(leader) => {
                    self.send(leader, Message::SyncRequest { id });
                    Ok(())
                }
                None => Err(NotLeader { leader: None }),
            },
        }
    }

    /// The latest heartbeat round a quorum (self included) has acknowledged.
    fn confirmed_seq(&self) -> Option<u64> {
        let Role::Leader(l) = &self.role else {
            return None;
        };
        let mut acks: Vec<u64> =
            l.peers.iter().filter(|(id, _)| self.cfg.voters.contains(id)).map(|(_, p)| p.acked_seq).collect();
        if self.cfg.is_voter() {
            acks.push(l.seq);
        }
        acks.sort_unstable_by(|a, b| b.cmp(a));
        acks.get(self.cfg.quorum() - 1).copied()
    }

    /// Releases syncs whose round a quorum has acknowledged, and starts the round that
    /// syncs which arrived during the last one are waiting for.
    fn release_syncs(&mut self) {
        let Some(confirmed) = self.confirmed_seq() else {
            return;
        };
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let (done, rest): (Vec<PendingSync>, Vec<PendingSync>) = l.syncs.drain(..).partition(|s| s.seq <= confirmed);
        l.syncs = rest;
        let waiting = l.syncs.iter().any(|s| s.seq > l.seq);
        if waiting && confirmed == l.seq {
            self.heartbeat(); // releases nothing new: its round has just begun
        }
        for s in done {
            if s.origin == self.cfg.id {
                self.out.synced.push(Synced { id: s.id, read_index: s.read_index });
            } else {
                self.send(s.origin, Message::SyncReply { id: s.id, read_index: s.read_index });
            }
        }
    }

    fn votes_needed(&self) -> usize {
        #[cfg(feature = "mutations")]
        if self.mutated(crate::config::Mutation::CommitWithoutQuorum) {
            return (self.cfg.quorum() - 1).max(1);
        }
        self.cfg.quorum()
    }

    fn mutated_skip_recovery(&self) -> bool {
        #[cfg(feature = "mutations")]
        return self.mutated(crate::config::Mutation::SkipPhase1Recovery);
        #[cfg(not(feature = "mutations"))]
        false
    }
}
