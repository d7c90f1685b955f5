//! The data tree: every znode with its data, ACL and Stat, the ephemeral index, the
//! container and TTL sets, and a running digest. Pure: no clock, no IO; the zxid and time
//! of a change come from the stamped command being applied.

pub mod acl;
pub mod build;
pub mod children;
pub mod digest;
pub mod path;
pub mod quota;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Stat};

pub use children::{ChildName, Children};

/// The path map's hasher: aHash with keys drawn at random per process. Hashing every path
/// of a million-node tree at start-up showed SipHash as the top cost; aHash is several
/// times faster on short keys and, being keyed, still keeps clients from choosing paths
/// that collide (an unkeyed hash such as FxHash would let them degrade the map).
type PathHasher = ahash::RandomState;

/// Stored ephemeral owner marking a container (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte that marks a TTL node's stored owner (`EphemeralType.TTL`); low bits hold the ttl.
pub const TTL_MASK: i64 = 0xFF00_0000_0000_0000_u64 as i64;
/// Largest TTL in ms (`EphemeralType.MAX_EXTENDED_SERVER_ID` layout leaves 40 bits).
pub const TTL_MAX_MS: i64 = (1 << 40) - 1;

/// What kind of node a stored ephemeral owner denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Plain persistent node (owner 0).
    Persistent,
    /// Ephemeral node owned by a session.
    Ephemeral(i64),
    /// Container: deleted by the reaper once its last child goes.
    Container,
    /// TTL node: deleted by the reaper when childless and unchanged for `ttl` ms.
    Ttl(i64),
}

impl NodeKind {
    /// Decodes the raw stored owner (`EphemeralType.get`).
    pub fn from_owner(owner: i64) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if owner & TTL_MASK == TTL_MASK {
            NodeKind::Ttl(owner & !TTL_MASK)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    /// The raw value stored (and written to snapshots).
    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(s) => s,
            NodeKind::Container => CONTAINER_OWNER,
            NodeKind::Ttl(ttl) => TTL_MASK | ttl,
        }
    }
}

/// The persisted part of a Stat (`StatPersisted`). `cversion` is the count of child
/// creations ever: clients see `2·cversion − numChildren`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

/// One znode.
#[derive(Debug, Clone)]
pub struct Node {
    /// `None` is null data (distinct from empty) and round-trips to clients.
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: NodeStat,
    pub children: Children,
}

impl Node {
    /// A childless node (children are linked as they are inserted).
    pub fn new(data: Option<Bytes>, acl: Arc<Vec<Acl>>, stat: NodeStat) -> Node {
        Node { data, acl, stat, children: Children::default() }
    }

    /// The Stat clients see (`DataNode.copyStat`): derived cversion, and owner 0 for
    /// containers and TTL nodes.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let n = self.children.len() as i32;
        let owner = match NodeKind::from_owner(s.ephemeral_owner) {
            NodeKind::Ephemeral(id) => id,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: n,
            pzxid: s.pzxid,
        }
    }

    /// The node's kind, from its stored owner.
    pub fn kind(&self) -> NodeKind {
        NodeKind::from_owner(self.stat.ephemeral_owner)
    }
}

/// The whole tree, keyed by full path.
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Nodes are shared with snapshots in flight: cloning the tree copies pointers, and a
    /// node is copied only when it changes while a snapshot still holds it.
    nodes: HashMap<Arc<str>, Arc<Node>, PathHasher>,
    ephemerals: HashMap<i64, BTreeSet<Box<str>>>,
    containers: BTreeSet<Box<str>>,
    ttls: BTreeSet<Box<str>>,
    digest: u64,
    data_bytes: u64,
    open_acl: Arc<Vec<Acl>>,
    /// Paths with a quota (a `zookeeper_limits` node exists for them).
    quota_paths: BTreeSet<String>,
    /// `enforceQuota`: hard limits refuse writes (configuration, not persisted).
    enforce_quota: bool,
}

/// The special paths clients may not delete.
pub fn is_special_path(path: &str) -> bool {
    matches!(path, "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config")
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config` with the
    /// built-in ACLs and stats ZooKeeper gives them.
    pub fn new() -> DataTree {
        let mut t = DataTree::empty();
        let open_acl = t.open_acl.clone();
        let empty = Some(Bytes::new());
        t.insert_raw("/", Node::new(empty.clone(), open_acl.clone(), NodeStat::default()));
        t.insert_raw("/zookeeper", Node::new(empty.clone(), open_acl.clone(), NodeStat::default()));
        t.insert_raw("/zookeeper/quota", Node::new(empty.clone(), open_acl.clone(), NodeStat::default()));
        let config_acl = Arc::new(vec![Acl::world(jute::data::perms::READ)]);
        let config_stat = NodeStat { aversion: -1, ..NodeStat::default() };
        t.insert_raw("/zookeeper/config", Node::new(empty, config_acl, config_stat));
        t
    }

    /// A tree with no nodes at all, to be filled with [`DataTree::insert_raw`] from a
    /// snapshot (root first, parents before children).
    pub fn empty() -> DataTree {
        let open_acl = Arc::new(acl::open_acl_unsafe());
        DataTree {
            nodes: HashMap::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            digest: 0,
            data_bytes: 0,
            open_acl,
            quota_paths: BTreeSet::new(),
            enforce_quota: false,
        }
    }

    /// Visits every node parents-first (pre-order from the root), the order snapshots use
    /// so a loader can insert each node under an already-present parent.
    pub fn walk_preorder(&self, mut visit: impl FnMut(&str, &Node)) {
        let mut stack = vec!["/"];
        while let Some(p) = stack.pop() {
            let Some(n) = self.nodes.get(p) else { continue };
            visit(p, n);
            stack.extend(n.children.iter().rev().map(|c| &**c.path()));
        }
    }

    /// Inserts a node and links it under its parent without touching the parent's stat
    /// (used for the built-in nodes and for loading snapshots).
    ///
    /// # Panics
    /// If the parent is not in the tree yet.
    pub fn insert_raw(&mut self, path: &str, mut node: Node) {
        node.children.clear();
        let path: Arc<str> = path.into();
        if &*path != "/" {
            let parent = path::parent_of(&path).expect("absolute path");
            let p = self.nodes.get_mut(parent).unwrap_or_else(|| panic!("insert {path}: parent {parent} missing"));
            Arc::make_mut(p).children.insert(ChildName::new(path.clone()));
        }
        if let Some(limited) = quota::limited_path(&path) {
            self.quota_paths.insert(limited.to_owned());
        }
        let hash = digest::node_hash(&path, &node);
        self.index(&path, &node, hash);
        self.nodes.insert(path, Arc::new(node));
    }

    /// Indexes a node and adds `hash` (its [`digest::node_hash`]) to the digest.
    fn index(&mut self, path: &str, node: &Node, hash: u64) {
        match node.kind() {
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(path.into());
            }
            NodeKind::Container => {
                self.containers.insert(path.into());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.into());
            }
            NodeKind::Persistent => {}
        }
        self.digest = self.digest.wrapping_add(hash);
        self.data_bytes += (path.len() + node.data.as_ref().map_or(0, |d| d.len())) as u64;
    }

    fn unindex(&mut self, path: &str, node: &Node) {
        match node.kind() {
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Persistent => {}
        }
        self.digest = self.digest.wrapping_sub(digest::node_hash(path, node));
        self.data_bytes -= (path.len() + node.data.as_ref().map_or(0, |d| d.len())) as u64;
    }

    /// Looks a node up by its full path.
    /// `""` is the root too: ZooKeeper's tree keeps the root under both `""` and `/`, so
    /// reads of `""` (getData, exists, getChildren, getACL, ...) answer for the root. Writes
    /// reject `""` before any lookup.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path }).map(|n| &**n)
    }

    /// Runs `f` on a node in place and keeps the digest and data size in step. A node's
    /// owner never changes, so the ephemeral, container and TTL indexes stay as they are.
    fn modify<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> R {
        let slot = self.nodes.get_mut(path).unwrap_or_else(|| panic!("modify {path}: node missing"));
        let (hash_before, len_before, owner) =
            (digest::node_hash(path, slot), data_len(slot), slot.stat.ephemeral_owner);
        let node = Arc::make_mut(slot);
        let r = f(node);
        assert_eq!(node.stat.ephemeral_owner, owner, "modify {path}: the owner changed");
        let (hash_after, len_after) = (digest::node_hash(path, node), data_len(node));
        self.digest = self.digest.wrapping_sub(hash_before).wrapping_add(hash_after);
        self.data_bytes = self.data_bytes - len_before + len_after;
        r
    }

    /// Adds a new node under an existing parent, updating the parent's child counter,
    /// pzxid and the indexes. Checks were done by the caller.
    ///
    /// # Panics
    /// If the parent is missing or the node exists: apply's checks make that impossible.
    pub fn create(&mut self, path: &str, data: Option<Bytes>, acl: Arc<Vec<Acl>>, owner: i64, zxid: i64, time_ms: i64) {
        assert!(!self.nodes.contains_key(path), "create {path} at {zxid:#x}: node exists");
        let parent = path::parent_of(path).expect("absolute path");
        let key: Arc<str> = path.into();
        let child = ChildName::new(key.clone());
        self.modify(parent, |p| {
            p.stat.cversion = p.stat.cversion.saturating_add(1);
            p.stat.pzxid = zxid;
            p.children.insert(child);
        });
        let stat = NodeStat {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let node = Node::new(own_small(data), acl, stat);
        let bytes = data_len(&node);
        self.index(path, &node, digest::node_hash(path, &node));
        self.nodes.insert(key, Arc::new(node));
        self.quota_on_create(path, parent, path::name_of(path), bytes);
    }

    /// Removes a childless node and unlinks it from its parent (pzxid moves; the stored
    /// child counter does not).
    ///
    /// # Panics
    /// If the node is missing or has children.
    pub fn delete(&mut self, path: &str, zxid: i64) -> Node {
        let node = self.nodes.remove(path).unwrap_or_else(|| panic!("delete {path} at {zxid:#x}: node missing"));
        let node = Arc::try_unwrap(node).unwrap_or_else(|shared| (*shared).clone());
        assert!(node.children.is_empty(), "delete {path} at {zxid:#x}: has children");
        self.unindex(path, &node);
        let parent = path::parent_of(path).expect("absolute path");
        let name = path::name_of(path);
        self.modify(parent, |p| {
            p.children.remove(name);
            p.stat.pzxid = zxid;
        });
        self.quota_on_delete(path, parent, name, data_len(&node));
        node
    }

    /// Replaces a node's data, bumping version, mzxid and mtime.
    pub fn set_data(&mut self, path: &str, data: Option<Bytes>, version: i32, zxid: i64, time_ms: i64) {
        let data = own_small(data);
        let new = data.as_ref().map_or(0, |d| d.len() as u64);
        let old = self.modify(path, |n| {
            n.stat.version = version;
            n.stat.mzxid = zxid;
            n.stat.mtime = time_ms;
            std::mem::replace(&mut n.data, data)
        });
        self.quota_on_set_data(path, old.map_or(0, |d| d.len() as u64), new);
    }

    /// Replaces a node's data and nothing else (the server's own upkeep of quota stats).
    pub fn set_data_raw(&mut self, path: &str, data: Option<Bytes>) {
        self.modify(path, |n| n.data = data);
    }

    /// Replaces a node's ACL and sets its aversion.
    pub fn set_acl(&mut self, path: &str, acl: Arc<Vec<Acl>>, aversion: i32) {
        self.modify(path, |n| {
            n.acl = acl;
            n.stat.aversion = aversion;
        });
    }

    /// A client's ACL list as stored ([`acl::fixup`]), sharing one allocation for the
    /// common world:anyone ALL list, which needs no fixing (no copy on the create path).
    ///
    /// # Errors
    /// As [`acl::fixup`].
    pub fn fixed_acl(&self, acl: &[Acl], ids: &[jute::Id]) -> Result<Arc<Vec<Acl>>, jute::ErrorCode> {
        if acl == self.open_acl.as_slice() {
            return Ok(self.open_acl.clone());
        }
        acl::fixup(acl, ids).map(|fixed| self.intern_acl(fixed))
    }

    /// Shares one allocation for the common world:anyone ALL list.
    pub fn intern_acl(&self, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
        if *acl == **self.open_acl {
            self.open_acl.clone()
        } else {
            Arc::new(acl)
        }
    }

    /// The ephemeral paths a session owns.
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &str> {
        self.ephemerals.get(&session).into_iter().flat_map(|s| s.iter().map(|p| &**p))
    }

    /// Every session with ephemerals, and its paths (for `dump`).
    pub fn ephemerals(&self) -> impl Iterator<Item = (i64, &BTreeSet<Box<str>>)> {
        self.ephemerals.iter().map(|(s, p)| (*s, p))
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Container nodes (reaper candidates).
    pub fn containers(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|p| &**p)
    }

    /// TTL nodes (reaper candidates).
    pub fn ttl_nodes(&self) -> impl Iterator<Item = &str> {
        self.ttls.iter().map(|p| &**p)
    }

    /// Real number of znodes (ZooKeeper reports one more: it keeps the root twice).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Path plus data bytes over all nodes (`zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_bytes
    }

    /// The running digest over every node.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Number of nodes strictly below `path` (`getAllChildrenNumber`). For `""` ZooKeeper
    /// counts every key that starts with `/`, the root's `/` alias included: one more than `/`.
    pub fn descendant_count(&self, path: &str) -> usize {
        if path.is_empty() {
            return self.descendant_count("/") + 1;
        }
        let mut count = 0;
        let mut stack = vec![path];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(p) {
                count += n.children.len();
                stack.extend(n.children.iter().map(|c| &**c.path()));
            }
        }
        count
    }

    /// Iterates over all nodes (any order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (&**p, &**n))
    }
}

/// Data bytes a node holds (0 for null data).
fn data_len(n: &Node) -> u64 {
    n.data.as_ref().map_or(0, |d| d.len() as u64)
}

/// Data up to this size is stored in an allocation of its own.
const DATA_OWN_BYTES_MAX: usize = 4096;

/// Small data as an allocation of its own: the caller's `Bytes` is shared with the logged
/// command, and a clone of it would keep a shared header (or, for a slice, a whole larger
/// buffer) alive as long as the node. For the small data of most znodes the copy is cheaper
/// than that memory; large data is kept as it is.
fn own_small(data: Option<Bytes>) -> Option<Bytes> {
    data.map(|d| if d.len() <= DATA_OWN_BYTES_MAX { Bytes::copy_from_slice(&d) } else { d })
}

/// Joins a parent path and a child name.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.get("/").unwrap().client_stat().cversion, -1);
        assert_eq!(t.get("/zookeeper").unwrap().client_stat().cversion, -2);
        assert_eq!(t.get("/zookeeper/config").unwrap().client_stat().aversion, -1);
        assert_eq!(t.get("/").unwrap().data.as_deref(), Some(&b""[..]));
        assert_eq!(t.descendant_count("/"), 3);
    }

    /// Differential test (compat-tests/differential), ZooKeeper 3.8.0: `""` reads as the root.
    #[test]
    fn empty_path_is_the_root() {
        let mut t = DataTree::new();
        let acl = t.intern_acl(acl::open_acl_unsafe());
        t.create("/a", None, acl, 0, 1, 10);
        assert_eq!(t.get("").unwrap().children.len(), 2);
        assert_eq!(t.get("").unwrap().client_stat(), t.get("/").unwrap().client_stat());
        assert_eq!(t.descendant_count("/"), 4);
        assert_eq!(t.descendant_count(""), 5);
    }

    #[test]
    fn cversion_counts_creates_and_deletes() {
        let mut t = DataTree::new();
        let acl = t.intern_acl(acl::open_acl_unsafe());
        t.create("/a", None, acl.clone(), 0, 1, 10);
        t.create("/a/x", None, acl.clone(), 0, 2, 11);
        t.create("/a/y", None, acl.clone(), 0, 3, 12);
        t.delete("/a/x", 4);
        let s = t.get("/a").unwrap().client_stat();
        assert_eq!((s.cversion, s.num_children, s.pzxid), (3, 1, 4));
        assert_eq!(t.get("/a").unwrap().stat.cversion, 2);
    }

    #[test]
    fn digest_tracks_changes() {
        let mut t = DataTree::new();
        let d0 = t.digest();
        let acl = t.intern_acl(acl::open_acl_unsafe());
        t.create("/a", Some(Bytes::from_static(b"x")), acl, 0, 1, 10);
        assert_ne!(t.digest(), d0);
        t.delete("/a", 2);
        // the root's pzxid/cversion changed, so the digest differs from the fresh tree
        assert_ne!(t.digest(), d0);
    }

    /// A node is one allocation of 128 bytes with its `Arc` counts (144 with malloc's
    /// header), for a million nodes the bulk of the tree.
    #[test]
    fn node_stays_small() {
        assert!(std::mem::size_of::<Node>() <= 112, "{}", std::mem::size_of::<Node>());
    }

    #[test]
    fn small_data_is_stored_apart_from_the_callers_buffer() {
        let mut t = DataTree::new();
        let acl = t.intern_acl(acl::open_acl_unsafe());
        let before = t.approximate_data_size();
        let request = Bytes::from(vec![7u8; 100]);
        t.create("/a", Some(request.slice(10..20)), acl.clone(), 0, 1, 10);
        assert_eq!(t.get("/a").unwrap().data.as_deref(), Some(&[7u8; 10][..]));
        assert!(request.is_unique(), "the node holds no reference to the request's buffer");
        t.set_data("/a", Some(request.slice(..50)), 1, 2, 11);
        assert!(request.is_unique());
        let big = Bytes::from(vec![1u8; DATA_OWN_BYTES_MAX + 1]);
        t.set_data("/a", Some(big.clone()), 2, 3, 12);
        assert!(!big.is_unique(), "large data is kept, not copied");
        assert_eq!(t.approximate_data_size() - before, (2 + DATA_OWN_BYTES_MAX + 1) as u64);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            NodeKind::Persistent,
            NodeKind::Ephemeral(0x0100_0000_0000_0001),
            NodeKind::Container,
            NodeKind::Ttl(3_600_000),
        ] {
            assert_eq!(NodeKind::from_owner(k.owner()), k);
        }
        assert_eq!(NodeKind::Ttl(3_600_000).owner() as u64, 0xFF00_0000_0036_EE80);
    }
}
