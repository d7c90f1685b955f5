//! The driver in an ensemble. Writes are stamped here (time, session ids, identities),
//! encoded, and proposed by the leader's replica (a follower forwards them); every server
//! applies chosen entries in slot order with the zxid the replica gives, so every tree is
//! the same. A connection's write is answered when the entry holding it (same session and
//! xid) is applied on the server the client is connected to. The leader decides session
//! expiry; the others report which of their sessions are alive. When the leader changes,
//! every client connection is closed, as ZooKeeper's servers do: clients reconnect with
//! their session and watches, and no request is left waiting on a leader that is gone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrozk_consensus::{Committed, Entry, Replica, RoleKind, ServerId, SnapshotMeta, Synced};
use jute::proto::SyncResponse;
use jute::{Field, OpCode};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::commit::{Log, Queued};
use super::driver::{now_ms, recovered_sessions, Driver};
use super::ConnId;
use crate::admin::stats::{MetricValue, ServerMode};
use crate::ensemble::frame::PeerFrame;
use crate::ensemble::peer::{PeerEvent, PeerNet};
use crate::ensemble::store::{self, StoreCmd};
use crate::storage::StorageOptions;
use crate::txn::{apply, codec, Txn, TxnOp};

/// Slots a leader keeps proposed but not yet chosen; further writes wait in its backlog.
const IN_FLIGHT_MAX: u64 = 4096;

/// The ensemble half of the driver's state.
pub struct Replicated {
    pub(super) replica: Replica,
    pub(super) peers: PeerNet,
    pub(super) store: mpsc::UnboundedSender<StoreCmd>,
    pub(super) opts: StorageOptions,
    /// The leader this server serves under (itself when it leads); `None`: not serving.
    pub(super) leader: Option<ServerId>,
    /// Commands waiting for room in the leader's pipeline.
    backlog: VecDeque<Vec<u8>>,
    /// Commands to forward to the leader when this round of work ends.
    forward: Vec<Bytes>,
    next_sync: u64,
    /// Open `sync` requests by id.
    syncs: HashMap<u64, ConnId>,
    /// Connections whose front `sync` waits for the apply point to reach its read index.
    syncs_waiting: Vec<(u64, ConnId)>,
    /// Replica ticks so far (the driver ticks it `TICKS_PER_TICK_TIME` times a tickTime).
    pub(super) ticks: u64,
}

impl Replicated {
    /// Wraps a restored replica and its links.
    pub fn new(replica: Replica, peers: PeerNet, store: mpsc::UnboundedSender<StoreCmd>, opts: StorageOptions) -> Self {
        Replicated {
            replica,
            peers,
            store,
            opts,
            leader: None,
            backlog: VecDeque::new(),
            forward: Vec::new(),
            next_sync: 1,
            syncs: HashMap::new(),
            syncs_waiting: Vec::new(),
            ticks: 0,
        }
    }

    /// How `srvr` names this server's role.
    pub fn mode(&self) -> ServerMode {
        match self.replica.status().role {
            RoleKind::Leader => ServerMode::Leader,
            RoleKind::Observer => ServerMode::Observer,
            RoleKind::Follower | RoleKind::Candidate => ServerMode::Follower,
        }
    }

    fn is_leader(&self) -> bool {
        self.replica.status().role == RoleKind::Leader
    }

    /// The ensemble's `mntr` gauges: `zk_peer_state` everywhere, and on the leader what
    /// ZooKeeper 3.8 prints there (plus `zk_followers`, which older versions printed).
    pub fn mntr_metrics(&self, sync_limit_ticks: u64) -> Vec<(String, MetricValue)> {
        let peer_state = match (self.replica.status().role, self.leader) {
            (_, None) => "looking",
            (RoleKind::Leader, _) => "leading - broadcast",
            (RoleKind::Observer, _) => "observing - broadcast",
            _ => "following - broadcast",
        };
        let mut out = vec![("peer_state".to_string(), MetricValue::Text(peer_state.into()))];
        if !self.is_leader() {
            return out;
        }
        let progress = self.replica.peer_progress();
        let chosen = self.replica.status().chosen;
        let live = |silent: u64| silent <= sync_limit_ticks;
        let learners = progress.iter().filter(|p| live(p.silent_ticks)).count() as i64;
        let followers = progress.iter().filter(|p| p.voter && live(p.silent_ticks)).count() as i64;
        // Synced: heard within syncLimit and no more than a heartbeat's worth behind.
        let synced = |voter: bool| {
            progress
                .iter()
                .filter(|p| p.voter == voter && live(p.silent_ticks) && p.chosen + IN_FLIGHT_MAX >= chosen)
                .count() as i64
        };
        out.extend([
            ("learners".into(), MetricValue::Int(learners)),
            ("synced_followers".into(), MetricValue::Int(synced(true))),
            ("synced_non_voting_followers".into(), MetricValue::Int(0)),
            ("synced_observers".into(), MetricValue::Int(synced(false))),
            ("pending_syncs".into(), MetricValue::Int(self.syncs.len() as i64)),
            ("followers".into(), MetricValue::Int(followers)),
        ]);
        out
    }
}

impl Driver {
    fn replicated(&mut self) -> Option<&mut Replicated> {
        match &mut self.log {
            Log::Replicated(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this server may take clients now: it leads, or follows a known leader.
    pub(super) fn serving(&self) -> bool {
        match &self.log {
            Log::Replicated(r) => r.leader.is_some(),
            _ => true,
        }
    }

    /// Hands a stamped command to the ensemble: proposed here when this server leads,
    /// otherwise forwarded to the leader.
    pub(super) fn replicate(&mut self, txn: &Txn) {
        let mut buf = BytesMut::new();
        codec::encode(txn, &mut buf);
        let Some(r) = self.replicated() else { return };
        if r.is_leader() {
            r.backlog.push_back(Vec::from(buf));
        } else if r.leader.is_some() {
            r.forward.push(buf.freeze());
        } else {
            // No leader: the connection is closed (leader change) or times out.
            debug!("no leader; command dropped");
        }
    }

    /// One replica tick (several per tickTime).
    pub(super) fn replica_tick(&mut self) {
        let Some(r) = self.replicated() else { return };
        r.replica.tick();
        r.ticks += 1;
        let every = u64::from(crate::ensemble::TICKS_PER_TICK_TIME);
        let session_tick = r.ticks % every == 0;
        self.pump();
        if session_tick {
            self.session_tick();
        }
    }

    /// Once per tickTime: the leader expires sessions; the others report theirs alive, and
    /// every server gives up on requests that waited too long for the ensemble.
    fn session_tick(&mut self) {
        let now = now_ms();
        let leader = self.replicated().map(|r| (r.is_leader(), r.leader));
        let Some((is_leader, leader)) = leader else { return };
        let expired = self.expiry.expire(now);
        if is_leader {
            for s in expired {
                info!(session = format_args!("{s:#x}"), "session expired");
                self.submit(None, s, 0, Arc::new(Vec::new()), TxnOp::CloseSession);
            }
        } else if let Some(leader) = leader {
            // Sessions with a live connection here whose client was heard within its
            // timeout; a client that left stops being reported at once.
            let alive: Vec<i64> = self.expiry.sessions().filter(|s| self.owners.contains_key(s)).collect();
            if !alive.is_empty() {
                if let Some(r) = self.replicated() {
                    r.peers.send(leader, PeerFrame::Touch(alive));
                }
            }
        }
        self.time_out_requests();
        self.pump();
    }

    /// Closes connections whose oldest write or sync has waited longer than a leader change
    /// takes (the forward or the proposal was lost): the client retries after reconnecting.
    fn time_out_requests(&mut self) {
        let limit = Duration::from_millis(
            u64::from(self.config.tick_time_ms) * u64::from(self.config.init_limit + self.config.sync_limit).max(2),
        );
        let now = Instant::now();
        for (id, c) in &self.conns {
            let stuck = match c.queue.front() {
                Some(Queued::Write { received, .. } | Queued::Sync { received, .. }) => now - *received > limit,
                _ => false,
            };
            if stuck {
                warn!(conn = id, "request waited {limit:?} for the ensemble; closing the connection");
                c.outbox.close();
            }
        }
    }

    /// A frame from a peer.
    pub(super) fn peer_event(&mut self, ev: PeerEvent) {
        let now = now_ms();
        let Some(r) = self.replicated() else { return };
        match ev {
            PeerEvent::Frame { from, frame: PeerFrame::Paxos(msg) } => r.replica.step(from, msg),
            PeerEvent::Frame { from, frame: PeerFrame::Forward(cmds) } => {
                if r.is_leader() {
                    r.backlog.extend(cmds.into_iter().map(Vec::from));
                } else {
                    debug!(peer = %from, n = cmds.len(), "forwarded commands reached a non-leader; dropped");
                }
            }
            PeerEvent::Frame { frame: PeerFrame::Touch(ids), .. } => {
                if r.is_leader() {
                    for id in ids {
                        if let Some(&timeout) = self.state.sessions.get(&id) {
                            if self.expiry.contains(id) {
                                self.expiry.touch(id, timeout, now);
                            }
                        }
                    }
                }
            }
            PeerEvent::Frame { frame: PeerFrame::Moved(ids), .. } => {
                for id in ids {
                    self.close_owner_connection(id, ConnId::MAX);
                }
            }
            PeerEvent::Frame { frame: PeerFrame::Hello { .. }, .. } => {}
            PeerEvent::Down { id } => {
                if r.replica.status().leader == Some(id) && !r.is_leader() {
                    debug!(peer = %id, "link to the leader broke");
                    r.replica.leader_unreachable();
                }
            }
        }
        self.pump();
    }

    /// A session resumed on this server: the others close its old connection.
    pub(super) fn session_moved_here(&mut self, session: i64) {
        if let Some(r) = self.replicated() {
            r.peers.broadcast(&PeerFrame::Moved(vec![session]));
        }
    }

    /// The store made every batch up to `token` durable.
    pub(super) fn persisted(&mut self, token: u64) {
        if let Some(r) = self.replicated() {
            r.replica.persisted(token);
        }
        self.pump();
    }

    /// A snapshot of the applied state is on disk: the log before it can go.
    pub(super) fn snapshot_taken(&mut self, meta: SnapshotMeta) {
        if let Some(r) = self.replicated() {
            r.replica.compact(meta);
        }
        self.pump();
    }

    /// A snapshot for a peer behind the log is encoded.
    pub(super) fn send_peer_snapshot(&mut self, to: ServerId, snapshot: ferrozk_consensus::Snapshot) {
        if let Some(r) = self.replicated() {
            r.replica.send_snapshot(to, snapshot);
        }
        self.pump();
    }

    /// Does everything the replica asks until it asks nothing more: persist, send, apply,
    /// answer syncs; notices a change of leader; feeds the leader's pipeline.
    pub(super) fn pump(&mut self) {
        loop {
            self.run_actions();
            self.check_leader();
            if !self.feed_pipeline() {
                break;
            }
        }
    }

    fn run_actions(&mut self) {
        loop {
            let Some(r) = self.replicated() else { return };
            let a = r.replica.take_actions();
            if a.is_empty() {
                return;
            }
            if let Some(p) = a.persist {
                if let Some(snap) = &p.snapshot {
                    self.install_snapshot(snap);
                }
                let Some(r) = self.replicated() else { return };
                let cmd = StoreCmd::Persist { token: p.token, entries: p.entries, hard_state: p.hard_state };
                if r.store.send(cmd).is_err() {
                    super::fatal("the consensus log thread is gone");
                }
            }
            let Log::Replicated(r) = &self.log else { return };
            for env in a.send {
                r.peers.send(env.to, PeerFrame::Paxos(env.msg));
            }
            for to in a.snapshot_wanted {
                let _ = r.store.send(StoreCmd::ForPeer { to, state: Box::new(self.state.clone()) });
            }
            let applied_any = !a.committed.is_empty();
            for c in a.committed {
                self.apply_committed(c);
            }
            for s in a.synced {
                self.synced(s);
            }
            if applied_any {
                self.wake_syncs();
                self.maybe_snapshot();
            }
        }
    }

    /// Proposes backlog commands while the pipeline has room (true if any was proposed),
    /// and forwards a follower's commands to the leader.
    fn feed_pipeline(&mut self) -> bool {
        let Some(r) = self.replicated() else { return false };
        let mut proposed = false;
        if r.is_leader() {
            while r.replica.status().in_flight < IN_FLIGHT_MAX {
                let Some(cmd) = r.backlog.pop_front() else { break };
                if r.replica.propose(cmd).is_err() {
                    r.backlog.clear();
                    break;
                }
                proposed = true;
            }
        } else if !r.backlog.is_empty() {
            debug!(n = r.backlog.len(), "no longer leading; dropping unproposed commands");
            r.backlog.clear();
        }
        if !r.forward.is_empty() {
            let cmds = std::mem::take(&mut r.forward);
            match r.leader {
                Some(leader) => r.peers.send(leader, PeerFrame::Forward(cmds)),
                None => debug!(n = cmds.len(), "no leader to forward to; dropped"),
            }
        }
        proposed
    }

    /// Applies one chosen entry with the zxid the replica gives it.
    fn apply_committed(&mut self, c: Committed) {
        let Committed { slot, zxid, entry } = c;
        let Entry::Batch { data, .. } = entry else {
            self.state.slot = slot;
            return;
        };
        let mut txn = match codec::decode(&data) {
            Ok(([], t)) => t,
            _ => super::fatal(&format!("the command chosen at slot {slot} does not decode")),
        };
        txn.zxid = zxid.0 as i64;
        let applied = apply(&mut self.state, &txn);
        self.state.slot = slot;
        self.fire(&applied);
        self.since_snapshot += 1;
        let leads = self.replicated().is_some_and(|r| r.is_leader());
        match &txn.op {
            TxnOp::CreateSession { timeout_ms } if leads => self.expiry.touch(txn.session, *timeout_ms, now_ms()),
            TxnOp::CloseSession => self.expiry.remove(txn.session),
            _ => {}
        }
        let waiting = self.owners.get(&txn.session).copied().filter(|conn| {
            self.conns
                .get(conn)
                .is_some_and(|c| matches!(c.queue.front(), Some(Queued::Write { xid, .. }) if *xid == txn.cxid))
        });
        match waiting {
            Some(conn) => self.complete_write(conn, applied),
            None if matches!(txn.op, TxnOp::CloseSession) => self.close_session_after_reply(txn.session),
            None => {}
        }
    }

    /// A sync's read point is known: answer it once applied that far.
    fn synced(&mut self, s: Synced) {
        let Some(r) = self.replicated() else { return };
        let Some(conn) = r.syncs.remove(&s.id) else { return };
        r.syncs_waiting.push((s.read_index, conn));
        if let Some(c) = self.conns.get_mut(&conn) {
            for q in c.queue.iter_mut() {
                if let Queued::Sync { id, read_index, .. } = q {
                    if *id == s.id {
                        *read_index = Some(s.read_index);
                    }
                }
            }
        }
        self.wake_syncs();
    }

    /// Answers the syncs (and the reads behind them) whose read index is applied.
    fn wake_syncs(&mut self) {
        let applied = self.state.slot;
        let Some(r) = self.replicated() else { return };
        if r.syncs_waiting.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = r.syncs_waiting.drain(..).partition(|(at, _)| *at <= applied);
        r.syncs_waiting = waiting;
        for (_, conn) in ready {
            self.drain(conn);
        }
    }

    /// Starts a `sync`: the leader confirms its leadership with a quorum round, then the
    /// reply waits until this server has applied that far (a linearizable read point).
    pub(super) fn start_sync(&mut self, conn: ConnId, xid: i32, path: String, received: Instant) {
        let Some(r) = self.replicated() else { return };
        let id = r.next_sync;
        r.next_sync += 1;
        if r.replica.sync(id).is_err() {
            info!(conn, "sync with no leader; closing the connection");
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close();
            }
            return;
        }
        r.syncs.insert(id, conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.queue.push_back(Queued::Sync { xid, path, received, id, read_index: None });
        }
        self.pump();
    }

    /// Answers a sync at the front of a connection's queue.
    pub(super) fn answer_sync(&mut self, conn: ConnId, xid: i32, path: String, received: Instant) {
        let resp = SyncResponse { path };
        self.reply(conn, xid, self.state.last_zxid, 0, |o| resp.encode(o));
        self.record_latency(conn, OpCode::SYNC, xid, received);
    }

    /// Drops every client when the leader changes (or is lost), as ZooKeeper does; a new
    /// leader starts every session's timeout afresh.
    fn check_leader(&mut self) {
        let Some(r) = self.replicated() else { return };
        let st = r.replica.status();
        let now_leader = match st.role {
            RoleKind::Leader => Some(r.replica.id()),
            RoleKind::Follower | RoleKind::Observer => st.leader,
            RoleKind::Candidate => None,
        };
        if now_leader == r.leader {
            return;
        }
        let was = r.leader;
        r.leader = now_leader;
        r.syncs.clear();
        r.syncs_waiting.clear();
        r.forward.clear();
        let leads = st.role == RoleKind::Leader;
        match now_leader {
            Some(_) if leads => info!(epoch = st.promised.epoch, "leading (was following {was:?})"),
            Some(l) => info!(leader = %l, "following {l} (was following {was:?})"),
            None => warn!("lost the leader; not serving clients until one is elected"),
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        if !conns.is_empty() {
            info!(clients = conns.len(), "closing client connections: the leader changed");
        }
        for id in conns {
            if let Some(c) = self.conns.get(&id) {
                c.outbox.close();
            }
        }
        if leads {
            self.expiry = recovered_sessions(&self.state, self.config.tick_time_ms, now_ms());
        }
    }

    /// Loads a snapshot the leader sent (this replica was too far behind its log).
    fn install_snapshot(&mut self, snap: &ferrozk_consensus::Snapshot) {
        let Some(r) = self.replicated() else { return };
        match store::install_snapshot(&r.opts, snap) {
            Ok(mut state) => {
                info!(
                    slot = snap.meta.slot,
                    zxid = format_args!("{:#x}", state.last_zxid),
                    "installed a snapshot from the leader"
                );
                state.tree.set_enforce_quota(self.config.enforce_quota);
                self.state = state;
                // Watches registered against the old tree cannot be fired correctly: drop the
                // clients; they re-register with SetWatches and get what they missed.
                for c in self.conns.values() {
                    c.outbox.close();
                }
            }
            Err(e) => super::fatal(&format!("cannot install the leader's snapshot: {e}")),
        }
    }
}
