//! The one task that owns the replicated state, the session tracker, the watch registry
//! and the table of connections. Everything that changes or reads the tree happens here,
//! in arrival order, so a session's replies go out in request order and a watch event is
//! queued before the reply to the write that caused it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jute::proto::{ConnectRequest, ConnectResponse};
use jute::{Field, Id, OpCode};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use super::commit::{AfterWrite, Log, Origin, Queued, Unapplied};
use super::outbox::Outbox;
use super::request::Request;
use super::stats::{ConnStats, ServerStats};
use super::ConnId;
use crate::config::Config;
use crate::ensemble::peer::PeerEvent;
use crate::sasl::{DigestMd5Server, SaslUsers};
use crate::session::{self, ExpiryTracker};
use crate::storage::gate::{self, SnapshotGate};
use crate::tree::{DataTree, NodeKind};
use crate::txn::stamp::{StampRules, Stamper};
use crate::txn::{State, TxnOp};
use crate::watch::Registry;
use ferrozk_consensus::{ServerId, Snapshot, SnapshotMeta};

/// `znode.container.maxPerMinute`: bounds the reaper's deletes.
const CONTAINER_DELETES_PER_MINUTE_MAX: u64 = 10_000;

/// Containers that are empty and once had a child, and TTL nodes that are empty and whose
/// mtime is older than their TTL, at most `max` of them.
pub fn container_candidates(tree: &DataTree, now_ms: i64, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for p in tree.containers() {
        if let Some(n) = tree.get(p) {
            if n.children.is_empty() && n.stat.cversion > 0 {
                out.push(p.to_owned());
            }
        }
    }
    for p in tree.ttl_nodes() {
        if let Some(n) = tree.get(p) {
            if let NodeKind::Ttl(ttl) = n.kind() {
                if n.children.is_empty() && ttl != 0 && now_ms - n.stat.mtime > ttl {
                    out.push(p.to_owned());
                }
            }
        }
    }
    out.truncate(max);
    out
}

/// After a restart every recovered session gets a full timeout from now, as ZooKeeper's
/// session tracker does when it loads a snapshot.
pub(super) fn recovered_sessions(state: &State, tick_ms: u32, now_ms: i64) -> ExpiryTracker {
    let mut t = ExpiryTracker::new(tick_ms);
    for (id, timeout) in &state.sessions {
        t.touch(*id, *timeout, now_ms);
    }
    t
}

/// Messages from connection tasks (and timers) to the driver.
pub enum DriverMsg {
    /// A handshake: create or resume a session.
    Connect { conn: ConnId, remote: SocketAddr, req: ConnectRequest, outbox: Arc<Outbox> },
    /// One request, in the connection's order.
    Request { conn: ConnId, xid: i32, req: Request, received: Instant },
    /// The socket closed.
    Closed { conn: ConnId },
    /// The log made every command up to `zxid` durable.
    Durable { zxid: i64 },
    /// Take a snapshot now (an operator sent SIGUSR1).
    SnapshotNow,
    /// A four-letter word wants its text.
    FourLetter { cmd: &'static str, arg: Option<i64>, remote: SocketAddr, reply: oneshot::Sender<String> },
    /// Ensemble: a peer link delivered a frame or broke.
    Peer(PeerEvent),
    /// Ensemble: the consensus log made every batch up to `token` durable.
    Persisted { token: u64 },
    /// Ensemble: a snapshot through `meta.slot` is on disk.
    SnapshotTaken(SnapshotMeta),
    /// Ensemble: a snapshot encoded for a peer too far behind the log.
    PeerSnapshot { to: ServerId, snapshot: Snapshot },
}

/// A connection as the driver knows it.
pub(super) struct Conn {
    pub outbox: Arc<Outbox>,
    pub remote: SocketAddr,
    pub session: Option<i64>,
    pub timeout_ms: i32,
    /// Identities for ACL checks: `ip:<addr>` plus what auth added.
    pub ids: Arc<Vec<Id>>,
    pub stats: ConnStats,
    /// What this connection waits for, in order (see `commit`).
    pub queue: VecDeque<Queued>,
    /// The connection's SASL DIGEST-MD5 exchange, once the client started one.
    pub sasl: Option<DigestMd5Server>,
}

impl Conn {
    /// A connection with no session yet.
    fn new(outbox: Arc<Outbox>, remote: SocketAddr, ids: Arc<Vec<Id>>) -> Conn {
        Conn {
            outbox,
            remote,
            session: None,
            timeout_ms: 0,
            ids,
            stats: ConnStats::new(0, 0),
            queue: VecDeque::new(),
            sasl: None,
        }
    }
}

/// The driver's state.
pub struct Driver {
    pub(super) config: Config,
    pub(super) state: State,
    pub(super) stamper: Stamper,
    pub(super) expiry: ExpiryTracker,
    pub(super) watches: Registry,
    pub(super) conns: HashMap<ConnId, Conn>,
    pub(super) owners: HashMap<i64, ConnId>,
    pub(super) next_session_id: i64,
    pub(super) stats: ServerStats,
    pub(super) started: Instant,
    pub(super) log: Log,
    pub(super) unapplied: Unapplied,
    pub(super) since_snapshot: u64,
    pub(super) snapshot_after: u64,
    /// Open unless a snapshot is being written.
    pub(super) snapshots: SnapshotGate,
    /// Draws the commands between snapshots.
    pub(super) snapshot_random: std::collections::hash_map::RandomState,
    /// DIGEST-MD5 users from the JAAS file; `None` when SASL is not configured.
    pub(super) sasl_users: Option<Arc<SaslUsers>>,
}

/// Wall clock in ms since the Unix epoch: the time the leader stamps into commands.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Driver {
    /// A driver over `state` (fresh or recovered) writing to `log`.
    pub fn new(config: Config, mut state: State, log: Log) -> Driver {
        state.tree.set_enforce_quota(config.enforce_quota);
        let rules = StampRules { extended_types_enabled: config.extended_types_enabled };
        let tick = config.tick_time_ms;
        let snapshot_random = std::collections::hash_map::RandomState::new();
        let snapshot_after = gate::next_interval(config.snap_count, &snapshot_random, state.last_zxid);
        Driver {
            stamper: Stamper::new(state.last_zxid, rules),
            expiry: recovered_sessions(&state, tick, now_ms()),
            state,
            watches: Registry::default(),
            conns: HashMap::new(),
            owners: HashMap::new(),
            next_session_id: session::first_session_id(config.server_id.unwrap_or(1) as u8, now_ms()),
            stats: ServerStats::default(),
            started: Instant::now(),
            log,
            unapplied: Unapplied::new(),
            since_snapshot: 0,
            snapshot_after,
            snapshots: SnapshotGate::default(),
            snapshot_random,
            sasl_users: None,
            config,
        }
    }

    /// Enables SASL DIGEST-MD5 with these users.
    pub fn with_sasl(mut self, users: Option<Arc<SaslUsers>>) -> Driver {
        self.sasl_users = users;
        self
    }

    /// Runs until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<DriverMsg>) {
        let per_tick = match self.log {
            Log::Replicated(_) => crate::ensemble::TICKS_PER_TICK_TIME,
            _ => 1,
        };
        let tick = Duration::from_millis(u64::from(self.config.tick_time_ms.clamp(1, 1000) / per_tick).max(1));
        let mut timer = tokio::time::interval(tick);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reap_every = Duration::from_millis(self.config.container_check_interval_ms.max(1));
        let mut reaper = tokio::time::interval_at(tokio::time::Instant::now() + reap_every, reap_every);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(256);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        return;
                    }
                    for msg in batch.drain(..) {
                        self.handle(msg);
                    }
                    self.pump();
                }
                _ = timer.tick() => {
                    if matches!(self.log, Log::Replicated(_)) {
                        self.replica_tick();
                    } else {
                        self.expire_sessions();
                    }
                }
                _ = reaper.tick() => self.reap_containers(),
            }
        }
    }

    fn handle(&mut self, msg: DriverMsg) {
        match msg {
            DriverMsg::Connect { conn, remote, req, outbox } => self.connect(conn, remote, req, outbox),
            DriverMsg::Request { conn, xid, req, received } => self.request(conn, xid, req, received),
            DriverMsg::Closed { conn } => self.closed(conn),
            DriverMsg::Durable { zxid } => self.durable(zxid),
            DriverMsg::SnapshotNow => self.snapshot_now(),
            DriverMsg::FourLetter { cmd, arg, remote, reply } => {
                let _ = reply.send(self.four_letter(cmd, arg, remote));
            }
            DriverMsg::Peer(ev) => self.peer_event(ev),
            DriverMsg::Persisted { token } => self.persisted(token),
            DriverMsg::SnapshotTaken(meta) => self.snapshot_taken(meta),
            DriverMsg::PeerSnapshot { to, snapshot } => self.send_peer_snapshot(to, snapshot),
        }
    }

    fn connect(&mut self, conn: ConnId, remote: SocketAddr, req: ConnectRequest, outbox: Arc<Outbox>) {
        let ids = Arc::new(vec![Id { scheme: "ip".into(), id: remote.ip().to_string() }]);
        self.stats.packets_received += 1;
        if !self.serving() {
            // ZooKeeper does not serve clients while it has no leader (no quorum).
            info!(conn, %remote, "not serving clients: no leader; closing");
            outbox.close();
            return;
        }
        if req.last_zxid_seen > self.state.last_zxid {
            info!(conn, %remote, "client has seen zxid {:#x}, ahead of ours {:#x}: closing", req.last_zxid_seen, self.state.last_zxid);
            outbox.close();
            return;
        }
        let (min, max) = self.config.session_timeout_range_ms();
        let timeout = session::negotiate_timeout(req.time_out, min, max);
        let now = now_ms();
        if req.session_id == 0 {
            let id = self.next_session_id;
            self.next_session_id += 1;
            self.attach(conn, id, timeout, now, Conn::new(outbox, remote, ids.clone()));
            let after = AfterWrite::Connect { read_only: req.read_only };
            let op = TxnOp::CreateSession { timeout_ms: timeout };
            let from = Origin { conn, session: id, xid: 0, op: OpCode::CREATE_SESSION, ids, received: Instant::now() };
            self.submit_for(from, op, after);
            debug!(conn, session = format_args!("{id:#x}"), "session created");
            return;
        }
        let id = req.session_id;
        // ZooKeeper closes the connection that holds the session before it checks the
        // password (`processConnectRequest`: closeSession, then reopenSession), so even a
        // refused attempt moves the client off its old connection; the session lives on.
        self.close_owner_connection(id, conn);
        // In an ensemble only the leader tracks every session's deadline; the replicated
        // session table is what every server agrees on.
        let tracked = match &self.log {
            Log::Replicated(r) if r.mode() != crate::admin::stats::ServerMode::Leader => true,
            _ => self.expiry.contains(id),
        };
        let alive = self.state.sessions.contains_key(&id) && tracked;
        if !alive || req.passwd.as_ref() != session::password(id) {
            info!(conn, %remote, session = format_args!("{id:#x}"), "session expired or wrong password: closing");
            let resp = ConnectResponse {
                passwd: vec![0u8; 16].into(),
                read_only: req.read_only.map(|_| false),
                ..Default::default()
            };
            outbox.push_frame(|out| resp.encode(out));
            outbox.close();
            return;
        }
        self.attach(conn, id, timeout, now, Conn::new(outbox, remote, ids));
        self.session_moved_here(id);
        self.connect_response(conn, req.read_only);
    }

    /// Makes `c` the connection of session `id` and (re)starts the session's timeout.
    fn attach(&mut self, conn: ConnId, id: i64, timeout: i32, now: i64, mut c: Conn) {
        self.expiry.touch(id, timeout, now);
        self.owners.insert(id, conn);
        c.session = Some(id);
        c.timeout_ms = timeout;
        c.stats = ConnStats::new(now, timeout);
        self.conns.insert(conn, c);
    }

    /// Closes the connection that currently holds `session`, if it is not `conn`.
    pub(super) fn close_owner_connection(&mut self, session: i64, conn: ConnId) {
        let Some(old) = self.owners.get(&session).copied() else {
            return;
        };
        if old == conn {
            return;
        }
        self.owners.remove(&session);
        if let Some(c) = self.conns.get_mut(&old) {
            c.outbox.close();
            c.session = None;
        }
    }

    fn closed(&mut self, conn: ConnId) {
        self.watches.remove_connection(conn);
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(s) = c.session {
                if self.owners.get(&s) == Some(&conn) {
                    self.owners.remove(&s);
                }
            }
        }
    }

    /// Closes every session whose deadline passed: a closeSession command each, as the
    /// leader's expirer submits it.
    fn expire_sessions(&mut self) {
        let now = now_ms();
        for s in self.expiry.expire(now) {
            info!(session = format_args!("{s:#x}"), "session expired");
            self.close_session(s);
        }
    }

    /// Applies closeSession for an expired `session` and closes the connection that holds it.
    fn close_session(&mut self, session: i64) {
        self.submit(None, session, 0, Arc::new(Vec::new()), TxnOp::CloseSession);
        self.close_session_after_reply(session);
    }

    /// Forgets a closed session and closes its connection once queued replies are out.
    pub(super) fn close_session_after_reply(&mut self, session: i64) {
        self.expiry.remove(session);
        if let Some(conn) = self.owners.remove(&session) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = None;
                c.outbox.close();
            }
        }
    }

    /// Deletes empty containers that once had a child and expired TTL nodes, through the
    /// same stamped write path as client deletes (`ContainerManager`), so replicas agree.
    fn reap_containers(&mut self) {
        let now = now_ms();
        let per_check =
            (CONTAINER_DELETES_PER_MINUTE_MAX * self.config.container_check_interval_ms / 60_000).max(1) as usize;
        let candidates = container_candidates(&self.state.tree, now, per_check);
        for path in candidates {
            let zxid = self.submit(None, 0, 0, Arc::new(Vec::new()), TxnOp::DeleteContainer { path: path.clone() });
            debug!(%path, zxid, "reaping container/TTL node");
        }
    }

    pub(super) fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Number of requests in flight over all connections.
    pub(super) fn outstanding(&self) -> u64 {
        self.conns.values().map(|c| c.outbox.outstanding.load(Ordering::Relaxed) as u64).sum()
    }
}
