//! The simulated cluster: nodes (replica + disk + state machine), network, clients, faults.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::disk::{Disk, Record};
use super::kv::{decode_batch, encode_batch, Cmd, Kv, Write};
use super::linear::{self, Input, Op, Output, Verdict};
use super::{Options, Report, Stats};
use crate::message::Message;
use crate::replica::{Actions, Committed, RoleKind};
use crate::rng::Rng;
use crate::types::{Ballot, Entry, ServerId, Slot, Snapshot, SnapshotMeta, Zxid};
use crate::{Config, Replica};

/// The replica's state at a slot: the map and the effective zxid, which must both agree.
fn state_digest(kv: &Kv, zxid: Zxid) -> u64 {
    kv.digest() ^ zxid.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

mod client;
mod fault;
pub(super) mod trace;

use trace::{brief, brief_entry};

/// Simulated time units per nominal tick.
const TICK: u64 = 10;
const KEYS: u64 = 3;
const LINEARIZABILITY_STEPS_MAX: u64 = 5_000_000;

enum Event {
    Tick(usize),
    Deliver { from: usize, to: usize, msg: Message },
    Fsync { node: usize, inc: u64, token: u64, upto: u64 },
    Client(usize),
    Fault,
    Restart(usize),
}

struct Scheduled {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(o.time, o.seq))
    }
}

struct Node {
    cfg: Config,
    up: bool,
    inc: u64,
    replica: Option<Replica>,
    disk: Disk,
    kv: Kv,
    applied: Slot,
    last_zxid: Zxid,
    /// Batches whose effective zxid differs from their stamp (recovery reordered them).
    zxids_bumped: u64,
    period: u64,
    snapshot_every: u64,
    last_snap: Slot,
    /// Writes proposed here, awaiting apply: (client, seq).
    writes: BTreeSet<(u32, u64)>,
    /// Sync id -> (client, seq, key).
    syncs: BTreeMap<u64, (u32, u64, u8)>,
    /// Writes waiting to be proposed as one batch.
    batch: Vec<Cmd>,
    /// Reads waiting to apply through a read index.
    reads: Vec<(Slot, u32, u64, u8)>,
    next_sync: u64,
}

impl Node {
    fn new(cfg: Config, period: u64, snapshot_every: u64) -> Node {
        Node {
            replica: Some(Replica::new(cfg.clone())),
            cfg,
            up: true,
            inc: 0,
            disk: Disk::default(),
            kv: Kv::default(),
            applied: 0,
            last_zxid: Zxid(0),
            zxids_bumped: 0,
            period,
            snapshot_every,
            last_snap: 0,
            writes: BTreeSet::new(),
            syncs: BTreeMap::new(),
            reads: Vec::new(),
            batch: Vec::new(),
            next_sync: 1,
        }
    }
}

struct Waiting {
    seq: u64,
    hist: usize,
    deadline: u64,
}

struct Client {
    server: usize,
    seq: u64,
    waiting: Option<Waiting>,
}

struct Net {
    drop_pm: u32,
    dup_pm: u32,
    delay_max: u64,
    /// Partition group of each node; messages cross only within a group.
    group: Option<Vec<u8>>,
    /// Single cut links (both directions): partitions that are not transitive, where two
    /// leaders can each reach the same acceptor but not each other.
    cut: BTreeSet<(usize, usize)>,
    /// Slowest fsync, in time units.
    fsync_max: u64,
}

pub(super) struct World {
    seed: u64,
    rng: Rng,
    opts: Options,
    now: u64,
    seq: u64,
    clock: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    net: Net,
    crash_pm: u32,
    power_pm: u32,
    /// Writes per proposal, at most.
    batch_max: usize,
    faults_until: u64,
    clients_until: u64,
    end: u64,
    chosen: BTreeMap<Slot, Entry>,
    digests: BTreeMap<Slot, u64>,
    leaders: BTreeMap<Ballot, ServerId>,
    epochs: BTreeMap<u32, ServerId>,
    history: Vec<(u8, Op)>,
    /// Writes answered to their client, with the slot they were applied at.
    acked: Vec<(Slot, u32, u64)>,
    violations: Vec<String>,
    trace: Vec<String>,
    stats: Stats,
}

impl World {
    pub(super) fn new(seed: u64, opts: Options) -> World {
        let mut rng = Rng::new(seed);
        let n = opts.replicas + opts.observers;
        let voters: Vec<ServerId> = (1..=opts.replicas as u32).map(ServerId).collect();
        let observers: Vec<ServerId> = (opts.replicas as u32 + 1..=n as u32).map(ServerId).collect();
        let counter_max = if rng.chance(300) { rng.range(5, 40) as u32 } else { u32::MAX };
        let snapshot_every = rng.range(8, 60);
        // ZooKeeper timing varies per ensemble; so does ours per seed.
        let sync_limit = rng.range(3, 8) as u32;
        let init_limit = sync_limit + rng.range(0, 8) as u32;
        let heartbeat = if rng.chance(250) { 2 } else { 1 };
        let promise_lag_max = if rng.chance(500) { rng.range(1, 30) } else { 10_000 };
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut cfg = Config::new(ServerId(i as u32 + 1), voters.clone(), observers.clone(), rng.next_u64());
            cfg.mutation = opts.mutation;
            cfg.zxid_counter_max = counter_max;
            cfg.sync_limit_ticks = sync_limit;
            cfg.init_limit_ticks = init_limit;
            cfg.heartbeat_ticks = heartbeat;
            cfg.promise_lag_max = promise_lag_max;
            cfg.entries_per_message_max = rng.range(2, 32) as usize;
            let period = rng.range(TICK - 2, TICK + 2);
            nodes.push(Node::new(cfg, period, snapshot_every));
        }
        let clients = (0..rng.range(2, 6))
            .map(|_| Client { server: rng.below(n as u64) as usize, seq: 0, waiting: None })
            .collect();
        let net = Net {
            drop_pm: rng.below(100) as u32,
            dup_pm: rng.below(50) as u32,
            delay_max: rng.range(2, 3 * TICK),
            group: None,
            cut: BTreeSet::new(),
            fsync_max: rng.range(2, 6 * TICK),
        };
        let end = opts.ticks * TICK;
        let crash_pm = rng.below(150) as u32;
        let power_pm = rng.below(25) as u32;
        let rng_batch_max = rng.range(1, 8) as usize;
        let mut w = World {
            seed,
            rng,
            faults_until: end * 6 / 10,
            clients_until: end * 3 / 4,
            end,
            opts,
            now: 0,
            seq: 0,
            clock: 0,
            queue: BinaryHeap::new(),
            nodes,
            clients,
            net,
            crash_pm,
            power_pm,
            batch_max: rng_batch_max,
            chosen: BTreeMap::new(),
            digests: BTreeMap::new(),
            leaders: BTreeMap::new(),
            epochs: BTreeMap::new(),
            history: Vec::new(),
            acked: Vec::new(),
            violations: Vec::new(),
            trace: Vec::new(),
            stats: Stats::default(),
        };
        let (nc, drop, dup) = (w.clients.len(), w.net.drop_pm, w.net.dup_pm);
        w.trace(|| format!("seed {seed}: {n} nodes, {nc} clients, drop {drop}‰ dup {dup}‰ crash {crash_pm}‰ power {power_pm}‰ zxid counter max {counter_max}"));
        for i in 0..n {
            let d = w.rng.range(1, TICK);
            w.schedule(d, Event::Tick(i));
        }
        for c in 0..w.clients.len() {
            let d = w.rng.range(1, 5 * TICK);
            w.schedule(d, Event::Client(c));
        }
        w.schedule(TICK, Event::Fault);
        w
    }

    pub(super) fn run(mut self) -> Report {
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.time > self.end || !self.violations.is_empty() {
                break;
            }
            self.now = s.time;
            self.dispatch(s.event);
        }
        if self.violations.is_empty() {
            self.final_checks();
        }
        self.stats.slots = self.chosen.keys().next_back().copied().unwrap_or(0);
        self.stats.leaders = self.leaders.len() as u64;
        self.stats.lost_records = self.nodes.iter().map(|n| n.disk.lost).sum();
        let seed = self.seed;
        Report { seed, violations: self.violations, trace: self.trace, stats: self.stats }
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { time: self.now + delay, seq: self.seq, event }));
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.opts.trace {
            let l = line();
            self.trace.push(format!("{:>6} {l}", self.now));
        }
    }

    fn violation(&mut self, what: String) {
        self.trace(|| format!("VIOLATION {what}"));
        self.violations.push(what);
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Tick(i) => {
                if !self.nodes[i].up {
                    return;
                }
                self.flush_batch(i);
                self.nodes[i].replica.as_mut().expect("up").tick();
                self.drive(i);
                let p = self.nodes[i].period + if self.rng.chance(50) { self.rng.below(3) } else { 0 };
                self.schedule(p, Event::Tick(i));
            }
            Event::Deliver { from, to, msg } => {
                if !self.nodes[to].up {
                    return;
                }
                let b = brief(&msg);
                self.trace(|| format!("s{}->s{} {b}", from + 1, to + 1));
                self.nodes[to].replica.as_mut().expect("up").step(ServerId(from as u32 + 1), msg);
                self.drive(to);
            }
            Event::Fsync { node, inc, token, upto } => {
                let n = &mut self.nodes[node];
                if n.up && n.inc == inc {
                    n.disk.sync_to(upto);
                    n.replica.as_mut().expect("up").persisted(token);
                    self.drive(node);
                }
            }
            Event::Client(c) => self.client_step(c),
            Event::Fault => self.fault(),
            Event::Restart(i) => self.restart(i),
        }
    }

    /// Runs a node's actions until it has nothing more to do.
    fn drive(&mut self, i: usize) {
        for _ in 0..1000 {
            let a = self.nodes[i].replica.as_mut().expect("up").take_actions();
            if a.is_empty() {
                self.check_leader(i);
                return;
            }
            self.handle_actions(i, a);
        }
        self.violation(format!("s{}: actions never settle", i + 1));
    }

    fn handle_actions(&mut self, i: usize, a: Actions) {
        if let Some(p) = a.persist {
            if let Some(snap) = p.snapshot {
                self.install_snapshot(i, &snap);
                self.nodes[i].disk.write(Record::Snap(snap));
            }
            for e in p.entries {
                self.nodes[i].disk.write(Record::Entry(e));
            }
            if let Some(h) = p.hard_state {
                self.nodes[i].disk.write(Record::Hard(h));
            }
            let (inc, upto) = (self.nodes[i].inc, self.nodes[i].disk.written());
            let d = self.rng.range(1, self.net.fsync_max);
            self.schedule(d, Event::Fsync { node: i, inc, token: p.token, upto });
        }
        for e in a.send {
            self.send(i, e.to.0 as usize - 1, e.msg);
        }
        for c in a.committed {
            self.apply(i, c);
        }
        for s in a.synced {
            if let Some(r) = self.nodes[i].syncs.remove(&s.id) {
                self.nodes[i].reads.push((s.read_index, r.0, r.1, r.2));
            }
        }
        for to in a.snapshot_wanted {
            let n = &mut self.nodes[i];
            let snap = Snapshot { meta: SnapshotMeta { slot: n.applied, last_zxid: n.last_zxid }, data: n.kv.encode() };
            n.replica.as_mut().expect("up").send_snapshot(to, snap);
        }
        self.serve_reads(i);
        self.maybe_snapshot(i);
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        self.stats.messages += 1;
        if let Some(g) = &self.net.group {
            if g[from] != g[to] {
                return;
            }
        }
        if self.net.cut.contains(&(from.min(to), from.max(to))) || self.rng.chance(self.net.drop_pm) {
            return;
        }
        let copies = if self.rng.chance(self.net.dup_pm) { 2 } else { 1 };
        for _ in 0..copies {
            let mut d = self.rng.range(1, self.net.delay_max);
            if self.rng.chance(20) {
                d += self.rng.range(TICK, 10 * TICK); // a straggler: reordering
            }
            self.schedule(d, Event::Deliver { from, to, msg: msg.clone() });
        }
    }

    fn install_snapshot(&mut self, i: usize, snap: &Snapshot) {
        self.stats.snapshots_installed += 1;
        let kv = Kv::decode(&snap.data);
        let slot = snap.meta.slot;
        self.check_digest(i, slot, state_digest(&kv, snap.meta.last_zxid));
        let n = &mut self.nodes[i];
        n.kv = kv;
        n.applied = slot;
        n.last_zxid = snap.meta.last_zxid;
        n.last_snap = slot;
        self.trace(|| format!("s{} installs snapshot at {slot}", i + 1));
    }

    fn apply(&mut self, i: usize, c: Committed) {
        let Committed { slot, zxid, entry } = c;
        let id = i + 1;
        if slot != self.nodes[i].applied + 1 {
            let applied = self.nodes[i].applied;
            return self.violation(format!("s{id}: committed slot {slot} after applied {applied}"));
        }
        match self.chosen.get(&slot) {
            Some(e) if *e != entry => {
                return self.violation(format!(
                    "slot {slot} chosen twice: {} then {} at s{id}",
                    brief_entry(e),
                    brief_entry(&entry)
                ))
            }
            Some(_) => {}
            None => {
                self.chosen.insert(slot, entry.clone());
            }
        }
        self.nodes[i].applied = slot;
        if let Entry::Batch { data, zxid: stamped } = entry {
            if stamped != zxid {
                self.nodes[i].zxids_bumped += 1;
            }
            if zxid <= self.nodes[i].last_zxid {
                let last = self.nodes[i].last_zxid;
                return self.violation(format!("s{id}: zxid {zxid} at slot {slot} not above {last}"));
            }
            self.nodes[i].last_zxid = zxid;
            for cmd in decode_batch(&data) {
                let outcome = self.nodes[i].kv.apply(cmd.write);
                if cmd.origin as usize == id && self.nodes[i].writes.remove(&(cmd.client, cmd.seq)) {
                    self.acked.push((slot, cmd.client, cmd.seq));
                    self.complete(cmd.client as usize, cmd.seq, Output::Write(outcome));
                }
            }
        }
        let d = state_digest(&self.nodes[i].kv, zxid);
        self.check_digest(i, slot, d);
    }

    /// No acknowledged write lost: each is in the chosen log at the slot it was answered
    /// from, and every replica has applied past that slot.
    fn check_acked_writes(&mut self) {
        let applied_min = self.nodes.iter().map(|n| n.applied).min().unwrap_or(0);
        for (slot, client, seq) in self.acked.clone() {
            let present = match self.chosen.get(&slot) {
                Some(Entry::Batch { data, .. }) => {
                    decode_batch(data).iter().any(|c| (c.client, c.seq) == (client, seq))
                }
                _ => false,
            };
            if !present || applied_min < slot {
                return self.violation(format!("acknowledged write {client}/{seq} at slot {slot} lost"));
            }
        }
    }

    fn check_digest(&mut self, i: usize, slot: Slot, digest: u64) {
        match self.digests.get(&slot) {
            Some(d) if *d != digest => {
                self.violation(format!("s{}: digest {digest:x} at slot {slot}, others {d:x}", i + 1))
            }
            Some(_) => {}
            None => {
                self.digests.insert(slot, digest);
            }
        }
    }

    fn serve_reads(&mut self, i: usize) {
        let applied = self.nodes[i].applied;
        let (ready, wait): (Vec<_>, Vec<_>) = self.nodes[i].reads.drain(..).partition(|r| r.0 <= applied);
        self.nodes[i].reads = wait;
        for (_, client, seq, key) in ready {
            let v = self.nodes[i].kv.get(key);
            self.complete(client as usize, seq, Output::Read(v));
        }
    }

    fn maybe_snapshot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let chosen = n.replica.as_ref().expect("up").status().chosen;
        if n.applied < n.last_snap + n.snapshot_every || n.applied > chosen {
            return;
        }
        let meta = SnapshotMeta { slot: n.applied, last_zxid: n.last_zxid };
        n.disk.save_snapshot(Snapshot { meta, data: n.kv.encode() });
        n.replica.as_mut().expect("up").compact(meta);
        n.last_snap = n.applied;
    }

    fn check_leader(&mut self, i: usize) {
        let st = self.nodes[i].replica.as_ref().expect("up").status();
        if st.role != RoleKind::Leader {
            return;
        }
        let me = ServerId(i as u32 + 1);
        if !self.leaders.contains_key(&st.promised) {
            self.trace(|| format!("s{} leads {}", i + 1, st.promised));
        }
        let by_ballot = *self.leaders.entry(st.promised).or_insert(me);
        let by_epoch = *self.epochs.entry(st.promised.epoch).or_insert(me);
        if by_ballot != me || st.promised.id != me || by_epoch != me {
            self.violation(format!("s{} leads {} already led by {by_ballot}/{by_epoch}", i + 1, st.promised));
        }
    }

    // ---- end of run -------------------------------------------------------------------

    fn final_checks(&mut self) {
        let states: Vec<(Slot, u64)> = self.nodes.iter().map(|n| (n.applied, n.kv.digest())).collect();
        if states.iter().any(|s| *s != states[0]) {
            let listing: Vec<String> = states.iter().enumerate().map(|(i, (a, _))| format!("s{}@{a}", i + 1)).collect();
            self.violation(format!("no convergence after faults stopped: {}", listing.join(" ")));
        }
        self.check_acked_writes();
        let bumped = self.nodes.iter().map(|n| n.zxids_bumped).max().unwrap_or(0);
        self.stats.zxids_bumped = bumped;
        match linear::check(&self.history, LINEARIZABILITY_STEPS_MAX) {
            Verdict::Linearizable => {}
            Verdict::Violation(k) => self.violation(format!("history of key {k} is not linearizable")),
            Verdict::GaveUp(k) => self.violation(format!("linearizability check of key {k} gave up")),
        }
    }
}
