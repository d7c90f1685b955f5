//! The replica: one Multi-Paxos acceptor + learner + (sometimes) leader, as a plain state
//! machine. Inputs: [`Replica::step`], [`Replica::tick`], [`Replica::propose`],
//! [`Replica::sync`], [`Replica::persisted`]. Output: [`Actions`], taken with
//! [`Replica::take_actions`]. The role-specific handlers live in `acceptor.rs` and
//! `leader.rs`.

use std::collections::{BTreeMap, VecDeque};

use crate::config::Config;
use crate::leader::{Candidate, Leader};
use crate::message::{Envelope, Message};
use crate::rng::Rng;
use crate::types::{Ballot, Entry, HardState, LogEntry, ServerId, Slot, Snapshot, SnapshotMeta, Zxid};

/// What the host must do, in this order (etcd-raft's loop: persist, send, apply):
/// 1. write `persist` (snapshot, then entries, then hard state); call
///    [`Replica::persisted`] with its token once it is durable;
/// 2. send `send` now (durability-dependent messages are only released by `persisted`);
/// 3. if `persist.snapshot` is set, load it into the state machine; then apply `committed`;
/// 4. answer `synced`; produce snapshots for `snapshot_wanted` ([`Replica::send_snapshot`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Writes; `None` when nothing changed.
    pub persist: Option<PersistBatch>,
    /// Messages that may leave at once.
    pub send: Vec<Envelope>,
    /// Chosen entries, each exactly once, in slot order, to apply.
    pub committed: Vec<Committed>,
    /// Finished `sync` requests: apply through `read_index`, then serve the read.
    pub synced: Vec<Synced>,
    /// Peers too far behind the log: the host should call [`Replica::send_snapshot`].
    pub snapshot_wanted: Vec<ServerId>,
}

impl Actions {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        *self == Actions::default()
    }
}

/// One group of writes. Messages that report them wait inside the replica until
/// [`Replica::persisted`] is called with `token` (raft-rs "persisted messages", by type).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PersistBatch {
    /// Pass to [`Replica::persisted`] when durable; tokens grow, and `persisted(t)` covers
    /// every batch up to `t`.
    pub token: u64,
    /// A snapshot received from the leader: persist it and load it into the state machine.
    pub snapshot: Option<Snapshot>,
    /// Log records; a later record for a slot supersedes an earlier one.
    pub entries: Vec<LogEntry>,
    /// The new hard state, if it changed.
    pub hard_state: Option<HardState>,
}

/// A chosen entry, ready to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its slot.
    pub slot: Slot,
    /// The zxid it takes effect with: its stamped zxid, or one above the previous slot's if
    /// the stamp is not higher. Stamps grow along the log in all but rare recoveries (a
    /// value re-proposed by a later leader can land after a newer stamp); this rule, a pure
    /// function of the chosen log, keeps zxids strictly increasing on every replica alike.
    /// For a no-op: the previous slot's zxid.
    pub zxid: Zxid,
    /// The value.
    pub entry: Entry,
}

/// A confirmed `sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Synced {
    /// The host's id from [`Replica::sync`].
    pub id: u64,
    /// Serve the read once applied through this slot.
    pub read_index: Slot,
}

/// Where a proposal went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposed {
    /// Its slot.
    pub slot: Slot,
    /// The zxid stamped on it.
    pub zxid: Zxid,
}

/// Refusal to propose or sync: only an established leader can. Carries who to ask instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotLeader {
    /// The leader this replica believes in, if any.
    pub leader: Option<ServerId>,
}

impl std::fmt::Display for NotLeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.leader {
            Some(l) => write!(f, "not the leader; try {l}"),
            None => write!(f, "not the leader; no leader known"),
        }
    }
}

impl std::error::Error for NotLeader {}

/// One peer as the leader sees it: what `mntr` reports as followers and synced followers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    /// The peer.
    pub id: ServerId,
    /// Whether it votes (observers do not).
    pub voter: bool,
    /// Its commit point, as it last reported it.
    pub chosen: Slot,
    /// Ticks since the leader last heard from it.
    pub silent_ticks: u64,
}

/// What the host recovered from disk, for [`Replica::restore`].
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Last durable hard state.
    pub hard_state: HardState,
    /// Last durable snapshot; the host has already loaded it into its state machine.
    pub snapshot: Option<SnapshotMeta>,
    /// Durable log records in write order (later ones supersede earlier ones per slot).
    pub entries: Vec<LogEntry>,
}

/// The replica's role, for status displays and the simulator's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKind {
    /// Votes and follows a leader (or waits for one).
    Follower,
    /// Running phase 1.
    Candidate,
    /// Phase 1 done; proposes.
    Leader,
    /// Learns only.
    Observer,
}

/// A read-only view of the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Role.
    pub role: RoleKind,
    /// Highest ballot promised (a leader's own ballot).
    pub promised: Ballot,
    /// The leader this replica follows, if known.
    pub leader: Option<ServerId>,
    /// Commit point.
    pub chosen: Slot,
    /// Entries at or below this slot live only in a snapshot.
    pub snapshot_slot: Slot,
    /// On a leader, slots proposed but not yet chosen: the host should stop proposing (and
    /// push back on clients) past a limit of its choosing. Zero elsewhere.
    pub in_flight: u64,
}

pub(crate) enum Role {
    Follower,
    Observer,
    Candidate(Candidate),
    Leader(Box<Leader>),
}

/// Buffered output plus the bookkeeping that holds durability-dependent messages back.
#[derive(Default)]
pub(crate) struct Outbox {
    pub send: Vec<Envelope>,
    /// Wait for the writes queued so far.
    pub after_persist: Vec<Envelope>,
    pub entries: Vec<LogEntry>,
    pub snapshot: Option<Snapshot>,
    pub hard_dirty: bool,
    pub committed: Vec<Committed>,
    pub synced: Vec<Synced>,
    pub snapshot_wanted: Vec<ServerId>,
    issued: u64,
    durable: u64,
    waiting: VecDeque<(u64, Vec<Envelope>)>,
}

/// A Multi-Paxos replica. See the crate docs for the driving loop.
pub struct Replica {
    pub(crate) cfg: Config,
    pub(crate) rng: Rng,
    pub(crate) role: Role,
    /// Durable: highest ballot promised (for observers: highest leader ballot seen).
    pub(crate) promised: Ballot,
    /// Accepted or chosen values above `snap.slot`.
    pub(crate) log: BTreeMap<Slot, (Ballot, Entry)>,
    pub(crate) snap: SnapshotMeta,
    /// Commit point: every slot up to here is chosen and `log` holds the chosen value.
    pub(crate) chosen: Slot,
    /// Committed entries handed to the host up to here.
    pub(crate) emitted: Slot,
    /// Effective zxid at `emitted` (see [`Committed::zxid`]).
    pub(crate) emitted_zxid: Zxid,
    pub(crate) leader: Option<ServerId>,
    /// Ballot of the leader whose commit point `leader_commit` is.
    pub(crate) follow: Ballot,
    pub(crate) leader_commit: Slot,
    /// Highest epoch seen anywhere, so a new ballot outbids everything known.
    pub(crate) epoch_seen: u32,
    /// Largest zxid seen in the log or snapshot, so a new leader keeps zxids growing.
    pub(crate) zxid_seen: Zxid,
    pub(crate) idle_ticks: u32,
    pub(crate) election_ticks: u32,
    /// A pre-vote round this follower runs before campaigning.
    pub(crate) prevote: Option<crate::prevote::PreVote>,
    /// The host reported the link to the leader broken since the leader was last heard.
    pub(crate) leader_suspect: bool,
    pub(crate) out: Outbox,
    /// Messages to self, delivered before the current call returns.
    pub(crate) loopback: VecDeque<Message>,
}

impl Replica {
    /// A brand-new replica with an empty disk.
    pub fn new(cfg: Config) -> Replica {
        Replica::restore(cfg, Recovered::default())
    }

    /// A replica restarted from what its host recovered. Committed entries after the
    /// snapshot are handed out again by the first [`Replica::take_actions`].
    pub fn restore(cfg: Config, rec: Recovered) -> Replica {
        let snap = rec.snapshot.unwrap_or_default();
        let mut log = BTreeMap::new();
        for e in rec.entries {
            if e.slot > snap.slot {
                log.insert(e.slot, (e.ballot, e.entry));
            }
        }
        let mut chosen = snap.slot;
        while chosen < rec.hard_state.commit && log.contains_key(&(chosen + 1)) {
            chosen += 1;
        }
        let role = if cfg.is_voter() { Role::Follower } else { Role::Observer };
        let mut r = Replica {
            rng: Rng::new(cfg.seed),
            cfg,
            role,
            promised: rec.hard_state.promised,
            log,
            snap,
            chosen,
            emitted: snap.slot,
            emitted_zxid: snap.last_zxid,
            leader: None,
            follow: Ballot::ZERO,
            leader_commit: 0,
            epoch_seen: rec.hard_state.promised.epoch,
            zxid_seen: snap.last_zxid,
            idle_ticks: 0,
            election_ticks: 0,
            prevote: None,
            leader_suspect: false,
            out: Outbox::default(),
            loopback: VecDeque::new(),
        };
        let seen: Vec<Zxid> = r.log.values().filter_map(|(_, e)| e.zxid()).collect();
        seen.into_iter().for_each(|z| r.see_zxid(z));
        r.reset_election_timer();
        r.emit_committed();
        r
    }

    /// Advances time by one tick: elections, heartbeats, retransmissions, step-down.
    pub fn tick(&mut self) {
        match self.role {
            Role::Observer => {
                // An observer never campaigns, but it must notice that its leader is gone
                // (so its host stops serving clients), as a follower would.
                self.idle_ticks += 1;
                if self.idle_ticks >= self.cfg.sync_limit_ticks.max(1) {
                    self.leader = None;
                }
            }
            Role::Follower => {
                self.idle_ticks += 1;
                if self.prevote.is_some() {
                    self.tick_pre_vote();
                } else if self.idle_ticks >= self.election_ticks {
                    self.start_pre_vote();
                }
            }
            Role::Candidate(_) => self.tick_candidate(),
            Role::Leader(_) => self.tick_leader(),
        }
        self.drain_loopback();
    }

    /// Handles one message from a peer.
    pub fn step(&mut self, from: ServerId, msg: Message) {
        self.handle(from, msg);
        self.drain_loopback();
    }

    /// Proposes a batch of commands at the next slot.
    ///
    /// # Errors
    /// [`NotLeader`] unless this replica is a leader whose phase 1 is complete (including
    /// the moment its zxid counter runs out and it re-runs phase 1 in a new epoch).
    pub fn propose(&mut self, data: Vec<u8>) -> Result<Proposed, NotLeader> {
        let res = self.propose_batch(data);
        self.drain_loopback();
        res
    }

    /// Asks for a linearizable read point. On a leader: one heartbeat round confirms that no
    /// higher ballot has a quorum, then `Synced { id, read_index }` comes out. On a follower:
    /// forwarded to the leader. Requests lost on the way are not retried: the host times out.
    ///
    /// # Errors
    /// [`NotLeader`] with `leader: None` when no leader is known.
    pub fn sync(&mut self, id: u64) -> Result<(), NotLeader> {
        let res = self.start_sync(id, self.cfg.id);
        self.drain_loopback();
        res
    }

    /// The host reports that every batch up to `token` is durable; the messages that
    /// reported those writes are released.
    pub fn persisted(&mut self, token: u64) {
        assert!(token <= self.out.issued, "persisted({token}) beyond issued {}", self.out.issued);
        self.out.durable = self.out.durable.max(token);
        while self.out.waiting.front().is_some_and(|(t, _)| *t <= self.out.durable) {
            let (_, msgs) = self.out.waiting.pop_front().expect("checked");
            self.release(msgs);
        }
        self.drain_loopback();
    }

    /// The host has durably written a snapshot through `meta.slot`; the log before it is
    /// dropped and lagging peers will be sent a snapshot instead.
    ///
    /// # Panics
    /// If `meta.slot` is beyond the commit point: only chosen state may be snapshotted.
    pub fn compact(&mut self, meta: SnapshotMeta) {
        assert!(meta.slot <= self.chosen, "compact({}) beyond chosen {}", meta.slot, self.chosen);
        if meta.slot > self.snap.slot {
            self.log = self.log.split_off(&(meta.slot + 1));
            self.snap = meta;
        }
    }

    /// Sends a snapshot the host produced after [`Actions::snapshot_wanted`] named `to`.
    pub fn send_snapshot(&mut self, to: ServerId, snapshot: Snapshot) {
        if let Role::Leader(l) = &self.role {
            let ballot = l.ballot;
            self.send(to, Message::InstallSnapshot { ballot, snapshot });
        }
    }

    /// Everything the host must do now; see [`Actions`] for the order.
    pub fn take_actions(&mut self) -> Actions {
        self.notify_commit();
        self.drain_loopback();
        let out = &mut self.out;
        let writes = out.hard_dirty || !out.entries.is_empty() || out.snapshot.is_some();
        let mut persist = None;
        if writes {
            out.issued += 1;
            persist = Some(PersistBatch {
                token: out.issued,
                snapshot: out.snapshot.take(),
                entries: std::mem::take(&mut out.entries),
                hard_state: out.hard_dirty.then_some(HardState { promised: self.promised, commit: self.chosen }),
            });
            out.hard_dirty = false;
        }
        if !out.after_persist.is_empty() {
            let msgs = std::mem::take(&mut out.after_persist);
            if out.issued == out.durable {
                self.release(msgs);
                self.drain_loopback();
            } else {
                self.out.waiting.push_back((self.out.issued, msgs));
            }
        }
        let out = &mut self.out;
        Actions {
            persist,
            send: std::mem::take(&mut out.send),
            committed: std::mem::take(&mut out.committed),
            synced: std::mem::take(&mut out.synced),
            snapshot_wanted: std::mem::take(&mut out.snapshot_wanted),
        }
    }

    /// A read-only view, for four-letter words and the simulator's checks.
    pub fn status(&self) -> Status {
        let role = match self.role {
            Role::Follower => RoleKind::Follower,
            Role::Observer => RoleKind::Observer,
            Role::Candidate(_) => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
        };
        let in_flight = match &self.role {
            Role::Leader(l) => l.last_proposed().saturating_sub(self.chosen),
            _ => 0,
        };
        Status {
            role,
            promised: self.promised,
            leader: self.leader,
            chosen: self.chosen,
            snapshot_slot: self.snap.slot,
            in_flight,
        }
    }

    /// On a leader, every peer's progress; empty elsewhere.
    pub fn peer_progress(&self) -> Vec<PeerProgress> {
        match &self.role {
            Role::Leader(l) => l
                .progress()
                .map(|(id, chosen, silent_ticks)| PeerProgress {
                    id,
                    voter: self.cfg.voters.contains(&id),
                    chosen,
                    silent_ticks,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The host saw its link to the leader break (connection refused or reset, as when the
    /// leader's process died): ask for pre-votes now instead of waiting out `syncLimit`.
    /// Voters that saw the same break (or have not heard the leader for two heartbeats) say
    /// yes; one that still hears the leader says no, so a false alarm deposes no one. If
    /// two followers campaign at once, the higher ballot wins phase 1 in one round. Only
    /// timing changes, so safety does not depend on the host being right.
    pub fn leader_unreachable(&mut self) {
        if matches!(self.role, Role::Follower) && self.leader.is_some() && self.prevote.is_none() {
            self.leader_suspect = true;
            self.start_pre_vote();
            self.drain_loopback();
        }
    }

    /// This replica's id.
    pub fn id(&self) -> ServerId {
        self.cfg.id
    }

    // ---- shared helpers -------------------------------------------------------------

    fn handle(&mut self, from: ServerId, msg: Message) {
        match msg {
            Message::Prepare { ballot, from_slot } => self.on_prepare(from, ballot, from_slot),
            Message::Promise { ballot, accepted } => self.on_promise(from, ballot, accepted),
            Message::Nack { ballot, promised } => self.on_nack(ballot, promised),
            Message::Accept { ballot, entries, commit } => self.on_accept(from, ballot, entries, commit),
            Message::Accepted { ballot, slots, chosen } => self.on_accepted(from, ballot, slots, chosen),
            Message::Heartbeat { ballot, commit, seq } => self.on_heartbeat(from, ballot, commit, seq),
            Message::HeartbeatAck { ballot, seq, chosen } => self.on_heartbeat_ack(from, ballot, seq, chosen),
            Message::Learn { ballot, entries } => self.on_learn(from, ballot, entries),
            Message::InstallSnapshot { ballot, snapshot } => self.on_snapshot(from, ballot, snapshot),
            Message::SyncRequest { id } => {
                let _ = self.start_sync(id, from);
            }
            Message::SyncReply { id, read_index } => self.out.synced.push(Synced { id, read_index }),
            Message::PreVote { ballot, commit } => self.on_pre_vote(from, ballot, commit),
            Message::PreVoteReply { ballot, granted, promised } => {
                self.on_pre_vote_reply(from, ballot, granted, promised)
            }
        }
    }

    fn release(&mut self, msgs: Vec<Envelope>) {
        for e in msgs {
            if e.to == self.cfg.id {
                self.loopback.push_back(e.msg);
            } else {
                self.out.send.push(e);
            }
        }
    }

    pub(crate) fn drain_loopback(&mut self) {
        // Bounded: each self-message triggers at most one reply to self.
        let mut budget = 1_000_000u32;
        while let Some(msg) = self.loopback.pop_front() {
            budget -= 1;
            assert!(budget > 0, "loopback does not settle");
            self.handle(self.cfg.id, msg);
        }
    }

    /// Queues a message that may leave at once (self-messages are delivered in this call).
    pub(crate) fn send(&mut self, to: ServerId, msg: Message) {
        if to == self.cfg.id {
            self.loopback.push_back(msg);
        } else {
            self.out.send.push(Envelope { to, msg });
        }
    }

    /// Queues a message that reports a write: it leaves only once the write is durable.
    pub(crate) fn send_after_persist(&mut self, to: ServerId, msg: Message) {
        if self.mutated_ack_before_persist() {
            self.send(to, msg);
        } else {
            self.out.after_persist.push(Envelope { to, msg });
        }
    }

    pub(crate) fn persist_entry(&mut self, slot: Slot, ballot: Ballot, entry: Entry) {
        if let Some(z) = entry.zxid() {
            self.see_zxid(z);
        }
        self.out.entries.push(LogEntry { slot, ballot, entry: entry.clone() });
        self.log.insert(slot, (ballot, entry));
    }

    pub(crate) fn see_zxid(&mut self, z: Zxid) {
        self.zxid_seen = self.zxid_seen.max(z);
        self.epoch_seen = self.epoch_seen.max(z.epoch());
    }

    pub(crate) fn see_ballot(&mut self, b: Ballot) {
        if b != Ballot::CHOSEN {
            self.epoch_seen = self.epoch_seen.max(b.epoch);
        }
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.idle_ticks = 0;
        self.prevote = None;
        self.leader_suspect = false;
        let limit = u64::from(self.cfg.sync_limit_ticks.max(1));
        self.election_ticks = (limit + self.rng.below(limit + 1)) as u32;
    }

    /// Hands newly chosen entries to the host, in order, exactly once.
    pub(crate) fn emit_committed(&mut self) {
        let upto = if self.mutated_apply_uncommitted() { self.accepted_prefix() } else { self.chosen };
        while self.emitted < upto {
            let s = self.emitted + 1;
            let (_, e) = self.log.get(&s).unwrap_or_else(|| panic!("committed slot {s} missing from log"));
            if let Some(stamped) = e.zxid() {
                self.emitted_zxid = stamped.max(self.emitted_zxid.next());
            }
            let c = Committed { slot: s, zxid: self.emitted_zxid, entry: e.clone() };
            self.out.committed.push(c);
            self.emitted = s;
            let z = self.emitted_zxid;
            self.see_zxid(z);
        }
    }

    fn accepted_prefix(&self) -> Slot {
        let mut s = self.chosen;
        while self.log.contains_key(&(s + 1)) {
            s += 1;
        }
        s
    }

    /// Leaves any leading role (outbid, or lost the quorum).
    pub(crate) fn step_down(&mut self) {
        if matches!(self.role, Role::Leader(_) | Role::Candidate(_)) {
            self.role = Role::Follower;
            self.leader = None;
            self.reset_election_timer();
        }
    }

    #[cfg(feature = "mutations")]
    pub(crate) fn mutated(&self, m: crate::config::Mutation) -> bool {
        self.cfg.mutation == m
    }

    fn mutated_ack_before_persist(&self) -> bool {
        #[cfg(feature = "mutations")]
        return self.mutated(crate::config::Mutation::AckBeforePersist);
        #[cfg(not(feature = "mutations"))]
        false
    }

    fn mutated_apply_uncommitted(&self) -> bool {
        #[cfg(feature = "mutations")]
        return self.mutated(crate::config::Mutation::ApplyUncommitted) && matches!(self.role, Role::Follower);
        #[cfg(not(feature = "mutations"))]
        false
    }
}
