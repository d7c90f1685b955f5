//! The tree being imported, with ZooKeeper's own replay rules (`DataTree.processTxn`,
//! `createNode`, `deleteNode`, `killSession`, `setCversionPzxid`), not ferrozk's apply: a
//! snapshot is fuzzy, so replaying a txn it already holds must end where ZooKeeper ends,
//! errors and all. It also keeps ZooKeeper's tree digest (`DigestCalculator`, version 2) so
//! the replay can be checked against the digests ZooKeeper logged with each txn.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Field};

use crate::tree::{
    acl, child_path, ChildName, DataTree, Node, NodeKind, NodeStat, CONTAINER_OWNER, TTL_MASK, TTL_MAX_MS,
};
use crate::txn::State;

/// The digest layout this module computes (`DigestCalculator.DIGEST_VERSION`).
pub const ZK_DIGEST_VERSION: i32 = 2;

/// Opcodes of ZooKeeper txn records (`ZooDefs.OpCode`).
pub mod op {
    pub const ERROR: i32 = -1;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
}

/// The owner a create gives its node (`createTxn.getEphemeral()`, `EphemeralType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOwner {
    /// `ephemeral` false.
    Persistent,
    /// `ephemeral` true: the txn header's session.
    Session,
    /// createContainer (19).
    Container,
    /// createTTL (21) with its ttl in ms.
    Ttl(i64),
}

/// One decoded txn record, as `SerializeUtils.deserializeTxn` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkTxn {
    CreateSession {
        timeout_ms: i32,
    },
    /// `paths` is `None` for logs older than `CloseSessionTxn` (3.4).
    CloseSession {
        paths: Option<Vec<String>>,
    },
    /// create (1), create2 (15), createContainer (19), createTTL (21). `parent_cversion`
    /// −1 (a 3.4-era `CreateTxnV0`) means "the parent's counter plus one".
    Create {
        op: i32,
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        owner: CreateOwner,
        parent_cversion: i32,
    },
    /// delete (2) and deleteContainer (20).
    Delete {
        path: String,
    },
    /// setData (5) and reconfig (16, on `/zookeeper/config`).
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// check (13), only inside multi: changes nothing.
    Check,
    /// error (−1): a failed request that still took a zxid.
    Error,
    /// multi (14): each entry is its type and the decoded record, or why it did not decode.
    Multi(Vec<(i32, Result<ZkTxn, String>)>),
}

/// Why one (sub-)txn did not change the tree. ZooKeeper ignores these on replay: a fuzzy
/// snapshot may already hold the txn's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoNode,
    NodeExists,
    /// A path without a parent (ZooKeeper would throw outside its error handling).
    BadPath,
    /// A createTTL whose ttl `EphemeralType.TTL.toEphemeralOwner` rejects: ZooKeeper's
    /// apply thread dies on it and the server cannot start from such a log again.
    BadTtl,
}

/// The state being rebuilt: ZooKeeper's `DataTree` plus `ZKDatabase`'s session table.
pub struct ZkState {
    nodes: HashMap<Box<str>, Node>,
    ephemerals: HashMap<i64, HashSet<Box<str>>>,
    /// One allocation per distinct ACL list (ZooKeeper's `ReferenceCountedACLCache`),
    /// keyed by the list's jute encoding.
    acls: HashMap<Vec<u8>, Arc<Vec<Acl>>>,
    /// Nodes whose snapshot ACL ref is not in the snapshot's ACL cache (possible in a
    /// fuzzy snapshot; a replayed create then sets the ACL), with that ref.
    unresolved_acl: HashMap<Box<str>, i64>,
    placeholder_acl: Arc<Vec<Acl>>,
    digest: u64,
    pub sessions: BTreeMap<i64, i32>,
    pub last_zxid: i64,
}

/// ZooKeeper's per-node digest (`DigestCalculator.calculateDigest`): CRC32 over the path
/// (the root as ""), the data and 60 bytes of stat; nodes under `/zookeeper/` count 0.
pub fn zk_node_digest(path: &str, node: &Node) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let s = &node.stat;
    let mut stat = [0u8; 60];
    let longs = [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime];
    for (i, v) in longs.iter().enumerate() {
        stat[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    for (i, v) in [s.version, s.cversion, s.aversion].iter().enumerate() {
        stat[40 + i * 4..44 + i * 4].copy_from_slice(&v.to_be_bytes());
    }
    stat[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(if path == "/" { b"" } else { path.as_bytes() });
    if let Some(d) = &node.data {
        h.update(d);
    }
    h.update(&stat);
    u64::from(h.finalize())
}

/// The parent of a txn path as ZooKeeper computes it (`path.substring(0, lastSlash)`), with
/// its "" spelled "/"; `None` for the root and for a path with no slash.
fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let at = path.rfind('/')?;
    Some(if at == 0 { "/" } else { &path[..at] })
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

fn create_stat(zxid: i64, time: i64, owner: i64) -> NodeStat {
    NodeStat {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: zxid,
    }
}

/// A session's ephemeral, as ZooKeeper indexes them (`DataTree.ephemerals`).
fn session_owner(owner: i64) -> Option<i64> {
    match NodeKind::from_owner(owner) {
        NodeKind::Ephemeral(s) => Some(s),
        _ => None,
    }
}

impl Default for ZkState {
    fn default() -> Self {
        Self::new()
    }
}

impl ZkState {
    /// A state with no nodes, to be filled from a snapshot.
    pub fn new() -> ZkState {
        ZkState {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            acls: HashMap::new(),
            unresolved_acl: HashMap::new(),
            placeholder_acl: Arc::new(Vec::new()),
            digest: 0,
            sessions: BTreeMap::new(),
            last_zxid: 0,
        }
    }

    /// The tree a ZooKeeper server starts with when it has no snapshot (the built-in nodes
    /// of `DataTree`'s constructor), for a data dir that holds only logs.
    pub fn fresh() -> ZkState {
        let mut s = ZkState::new();
        let empty = Some(Bytes::new());
        let open = s.intern(acl::open_acl_unsafe());
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            s.insert_loaded(p, Node::new(empty.clone(), open.clone(), NodeStat::default()))
                .expect("built-in nodes come parents first");
        }
        s.add_config_node();
        s
    }

    /// Shares one allocation per distinct list.
    pub fn intern(&mut self, list: Vec<Acl>) -> Arc<Vec<Acl>> {
        let mut key = bytes::BytesMut::new();
        list.encode(&mut key);
        self.acls.entry(key.to_vec()).or_insert_with(|| Arc::new(list)).clone()
    }

    /// Number of nodes (ZooKeeper's count minus its second root entry).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// ZooKeeper's tree digest (`DataTree.getTreeDigest`).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Whether a node is present.
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// Nodes still pointing at an ACL ref the snapshot did not define.
    pub fn unresolved_acls(&self) -> impl Iterator<Item = (&str, i64)> {
        self.unresolved_acl.iter().map(|(p, r)| (&**p, *r))
    }

    /// Adds a node read from a snapshot under its (already loaded) parent, replacing a
    /// node of the same path as ZooKeeper's `nodes.put` does. `Err` if the parent is
    /// missing (ZooKeeper: "Invalid Datatree, unable to find parent").
    pub fn insert_loaded(&mut self, path: &str, node: Node) -> Result<(), String> {
        if path != "/" {
            let parent = parent_of(path).ok_or_else(|| format!("node path {path:?} has no parent"))?;
            let name = ChildName::new(path.into());
            let Some(p) = self.nodes.get_mut(parent) else {
                return Err(format!("node {path:?} comes before its parent {parent:?}"));
            };
            p.children.insert(name);
        }
        if let Some(old) = self.nodes.remove(path) {
            self.unlink_index(path, &old);
        }
        self.link_index(path, &node);
        self.nodes.insert(path.into(), node);
        Ok(())
    }

    /// Marks a loaded node whose ACL ref is not in the cache.
    pub fn mark_unresolved_acl(&mut self, path: &str, acl_ref: i64) {
        if let Some(n) = self.nodes.get_mut(path) {
            n.acl = self.placeholder_acl.clone();
            self.unresolved_acl.insert(path.into(), acl_ref);
        }
    }

    fn link_index(&mut self, path: &str, node: &Node) {
        self.digest = self.digest.wrapping_add(zk_node_digest(path, node));
        if let Some(s) = session_owner(node.stat.ephemeral_owner) {
            self.ephemerals.entry(s).or_default().insert(path.into());
        }
    }

    fn unlink_index(&mut self, path: &str, node: &Node) {
        self.digest = self.digest.wrapping_sub(zk_node_digest(path, node));
        if let Some(s) = session_owner(node.stat.ephemeral_owner) {
            if let Some(set) = self.ephemerals.get_mut(&s) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&s);
                }
            }
        }
        self.unresolved_acl.remove(path);
    }

    /// Changes a node's stat or data and keeps the digest in step (`preChange`/`postChange`).
    fn modify(&mut self, path: &str, f: impl FnOnce(&mut Node)) -> Result<(), Failure> {
        let node = self.nodes.get_mut(path).ok_or(Failure::NoNode)?;
        let before = zk_node_digest(path, node);
        f(node);
        let after = zk_node_digest(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        Ok(())
    }

    /// `/zookeeper/config` as `DataTree.addConfigNode` makes it: empty, read-only for the
    /// world, aversion −1.
    pub fn add_config_node(&mut self) {
        let read = self.intern(vec![Acl::world(jute::data::perms::READ)]);
        let stat = NodeStat { aversion: -1, ..NodeStat::default() };
        let _ = self.insert_loaded("/zookeeper/config", Node::new(Some(Bytes::new()), read, stat));
    }

    /// Applies one logged txn as `FileTxnSnapLog.processTransaction` does: the session
    /// table, then `DataTree.processTxn`. Returns the failures it ignored.
    pub fn apply(&mut self, session: i64, zxid: i64, time: i64, txn: &ZkTxn, failures: &mut Vec<Failure>) {
        match txn {
            ZkTxn::CreateSession { timeout_ms } => {
                self.sessions.insert(session, *timeout_ms);
            }
            ZkTxn::CloseSession { paths } => {
                self.sessions.remove(&session);
                self.kill_session(session, zxid, paths.as_deref());
            }
            _ => self.process(session, zxid, time, txn, failures),
        }
        self.last_zxid = self.last_zxid.max(zxid);
    }

    /// `DataTree.processTxn` for everything but the session table.
    fn process(&mut self, session: i64, zxid: i64, time: i64, txn: &ZkTxn, failures: &mut Vec<Failure>) {
        let result = match txn {
            ZkTxn::CreateSession { .. } | ZkTxn::Check | ZkTxn::Error => Ok(()),
            ZkTxn::CloseSession { paths } => {
                self.kill_session(session, zxid, paths.as_deref());
                Ok(())
            }
            ZkTxn::Create { op, path, data, acl, owner, parent_cversion } => {
                let r = self.create(path, data.clone(), acl.clone(), *owner, session, *parent_cversion, zxid, time);
                if r == Err(Failure::NodeExists) && *op == op::CREATE {
                    // `processTxn`: a plain create that finds its node (deleted by a session
                    // close and re-created after the parent was serialized) still moves the
                    // parent's counter and pzxid.
                    if let Some(parent) = parent_of(path) {
                        if let Err(f) = self.set_cversion_pzxid(parent, *parent_cversion, zxid) {
                            failures.push(f);
                        }
                    }
                }
                r
            }
            ZkTxn::Delete { path } => self.delete(path, zxid),
            ZkTxn::SetData { path, data, version } => self.modify(path, |n| {
                n.data = data.clone();
                n.stat.mtime = time;
                n.stat.mzxid = zxid;
                n.stat.version = *version;
            }),
            ZkTxn::SetAcl { path, acl, version } => self.set_acl(path, acl.clone(), *version),
            ZkTxn::Multi(subs) => {
                self.multi(session, zxid, time, subs, failures);
                Ok(())
            }
        };
        if let Err(f) = result {
            failures.push(f);
        }
    }

    /// `processTxn` for multi: if any entry is an error the whole multi failed and changes
    /// nothing; otherwise each entry applies in order, its failures ignored. An entry that
    /// is of a type multi cannot hold, or does not decode, stops the rest (ZooKeeper's
    /// IOException); it was reported when the log was read.
    fn multi(
        &mut self,
        session: i64,
        zxid: i64,
        time: i64,
        subs: &[(i32, Result<ZkTxn, String>)],
        f: &mut Vec<Failure>,
    ) {
        if subs.iter().any(|(t, _)| *t == op::ERROR) {
            return;
        }
        for (_, sub) in subs {
            match sub {
                Ok(txn) => self.process(session, zxid, time, txn, f),
                Err(_) => return,
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the fields of one CreateTxn, as createNode takes them
    fn create(
        &mut self,
        path: &str,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        owner: CreateOwner,
        session: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
    ) -> Result<(), Failure> {
        let parent = parent_of(path).ok_or(Failure::BadPath)?;
        let owner = match owner {
            CreateOwner::Persistent => 0,
            CreateOwner::Session => session,
            CreateOwner::Container => CONTAINER_OWNER,
            CreateOwner::Ttl(ttl) if ttl > 0 && ttl <= TTL_MAX_MS => TTL_MASK | ttl,
            CreateOwner::Ttl(_) => return Err(Failure::BadTtl),
        };
        let parent_cv = self.nodes.get(parent).ok_or(Failure::NoNode)?.stat.cversion;
        let acl = self.intern(acl);
        if let Some(existing) = self.nodes.get_mut(path) {
            // createNode: the existing node takes the txn's ACL (fuzzy-snapshot repair).
            existing.acl = acl;
            self.unresolved_acl.remove(path);
            return Err(Failure::NodeExists);
        }
        let cv = if parent_cversion == -1 { parent_cv.wrapping_add(1) } else { parent_cversion };
        let name = ChildName::new(path.into());
        self.modify(parent, |p| {
            // Only upwards: replaying a create whose node the fuzzy snapshot already saw
            // deleted must not move the counter or pzxid back.
            if cv > p.stat.cversion {
                p.stat.cversion = cv;
                p.stat.pzxid = zxid;
            }
            p.children.insert(name);
        })?;
        let node = Node::new(data, acl, create_stat(zxid, time, owner));
        self.link_index(path, &node);
        self.nodes.insert(path.into(), node);
        Ok(())
    }

    /// `deleteNode`: the parent forgets the child and takes the zxid as pzxid (if higher)
    /// even when the node is already gone. Like ZooKeeper it does not look for children.
    fn delete(&mut self, path: &str, zxid: i64) -> Result<(), Failure> {
        let parent = parent_of(path).ok_or(Failure::BadPath)?;
        let name = name_of(path);
        self.modify(parent, |p| {
            p.children.remove(name);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        })?;
        let node = self.nodes.remove(path).ok_or(Failure::NoNode)?;
        self.unlink_index(path, &node);
        Ok(())
    }

    fn set_acl(&mut self, path: &str, acl: Vec<Acl>, version: i32) -> Result<(), Failure> {
        let acl = self.intern(acl);
        self.modify(path, |n| {
            n.acl = acl;
            n.stat.aversion = version;
        })?;
        self.unresolved_acl.remove(path);
        Ok(())
    }

    /// `setCversionPzxid`: −1 means one more; only upwards.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) -> Result<(), Failure> {
        let path = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
        self.modify(path, |n| {
            let cv = if cversion == -1 { n.stat.cversion.wrapping_add(1) } else { cversion };
            if cv > n.stat.cversion {
                n.stat.cversion = cv;
                n.stat.pzxid = zxid;
            }
        })
    }

    /// `killSession`: the paths the txn lists, in order, then any other ephemeral the
    /// session still owns. Missing nodes are skipped.
    pub fn kill_session(&mut self, session: i64, zxid: i64, listed: Option<&[String]>) {
        let mut local: HashSet<Box<str>> = self.ephemerals.remove(&session).unwrap_or_default();
        for p in listed.unwrap_or_default() {
            let _ = self.delete(p, zxid);
            local.remove(p.as_str());
        }
        let mut rest: Vec<Box<str>> = local.into_iter().collect();
        rest.sort_unstable();
        for p in rest {
            let _ = self.delete(&p, zxid);
        }
    }

    /// Sessions that own ephemerals but are not in the session table: ZooKeeper's
    /// `loadData` kills them right after loading ("Clean up dead sessions").
    pub fn dead_sessions(&self) -> Vec<i64> {
        let mut dead: Vec<i64> = self.ephemerals.keys().filter(|s| !self.sessions.contains_key(s)).copied().collect();
        dead.sort_unstable();
        dead
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(HashSet::len).sum()
    }

    /// Moves every node reachable from the root into a ferrozk [`State`], parents first.
    /// Nodes left unreachable (ZooKeeper's delete of a node that still had children leaves
    /// them behind, unserved) are dropped; their count is returned.
    pub fn into_state(mut self, mut progress: impl FnMut(usize)) -> (State, usize) {
        let mut tree = DataTree::empty();
        let mut stack = vec![String::from("/")];
        let mut moved = 0usize;
        while let Some(p) = stack.pop() {
            let Some(mut node) = self.nodes.remove(p.as_str()) else { continue };
            for c in std::mem::take(&mut node.children) {
                stack.push(child_path(&p, &c));
            }
            tree.insert_raw(&p, node);
            moved += 1;
            if moved % super::PROGRESS_EVERY == 0 {
                progress(moved);
            }
        }
        let orphans = self.nodes.len();
        (State { tree, sessions: std::mem::take(&mut self.sessions), last_zxid: self.last_zxid, slot: 0 }, orphans)
    }

    /// A node, for tests and checks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }
}
