//! Checks of one write op against a view of the tree, in ZooKeeper's order
//! (`PrepRequestProcessor`), producing a [`Change`] that cannot fail to apply. For multi the
//! view is an overlay that already holds the earlier ops' effects.

use std::collections::HashMap;
use std::sync::Arc;

use jute::data::perms;
use jute::{Acl, ErrorCode, Id};

use super::{CreateKind, CreateOp, TxnOp};
use crate::tree::{acl, is_special_path, path, DataTree, NodeKind, CONTAINER_OWNER, TTL_MASK};

/// The parts of a node the checks read.
#[derive(Debug, Clone)]
pub struct Meta {
    pub version: i32,
    pub aversion: i32,
    /// Stored child-create counter.
    pub cversion: i32,
    pub num_children: usize,
    pub owner: i64,
    pub acl: Arc<Vec<Acl>>,
}

/// A checked change, ready to apply.
#[derive(Debug, Clone)]
pub enum Change {
    Create { path: String, data: Option<bytes::Bytes>, acl: Arc<Vec<Acl>>, owner: i64, reply: CreateReply },
    Delete { path: String },
    SetData { path: String, data: Option<bytes::Bytes>, version: i32 },
    SetAcl { path: String, acl: Arc<Vec<Acl>>, aversion: i32 },
    Check,
}

/// What a successful create answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateReply {
    /// Path only (create, and create inside a 3.8 multi).
    Path,
    /// Path and Stat.
    PathStat,
}

/// The tree as the checks see it, with pending multi changes on top.
pub struct View<'a> {
    tree: &'a DataTree,
    overlay: HashMap<String, Option<Meta>>,
}

impl<'a> View<'a> {
    /// A view of the tree with nothing pending.
    pub fn new(tree: &'a DataTree) -> View<'a> {
        View { tree, overlay: HashMap::new() }
    }

    fn meta(&self, path: &str) -> Option<Meta> {
        if let Some(m) = self.overlay.get(path) {
            return m.clone();
        }
        self.tree.get(path).map(|n| Meta {
            version: n.stat.version,
            aversion: n.stat.aversion,
            cversion: n.stat.cversion,
            num_children: n.children.len(),
            owner: n.stat.ephemeral_owner,
            acl: n.acl.clone(),
        })
    }

    /// Records a change's effect so later ops of the same multi see it.
    pub fn record(&mut self, change: &Change) {
        match change {
            Change::Create { path, acl, owner, .. } => {
                let parent = path::parent_of(path).expect("checked path").to_owned();
                let mut p = self.meta(&parent).expect("checked parent");
                p.cversion = p.cversion.saturating_add(1);
                p.num_children += 1;
                self.overlay.insert(parent, Some(p));
                let m = Meta { version: 0, aversion: 0, cversion: 0, num_children: 0, owner: *owner, acl: acl.clone() };
                self.overlay.insert(path.clone(), Some(m));
            }
            Change::Delete { path } => {
                let parent = path::parent_of(path).expect("checked path").to_owned();
                let mut p = self.meta(&parent).expect("checked parent");
                p.num_children -= 1;
                self.overlay.insert(parent, Some(p));
                self.overlay.insert(path.clone(), None);
            }
            Change::SetData { path, version, .. } => {
                let mut m = self.meta(path).expect("checked node");
                m.version = *version;
                self.overlay.insert(path.clone(), Some(m));
            }
            Change::SetAcl { path, acl, aversion } => {
                let mut m = self.meta(path).expect("checked node");
                m.acl = acl.clone();
                m.aversion = *aversion;
                self.overlay.insert(path.clone(), Some(m));
            }
            Change::Check => {}
        }
    }
}

type Checked = Result<Change, ErrorCode>;

fn need(meta: &Meta, ids: &[Id], perm: i32) -> Result<(), ErrorCode> {
    if acl::check(&meta.acl, ids, perm) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn check_version(expected: i32, current: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// Creates that carry a TTL mode (flags 5 and 6).
pub fn is_ttl_flags(flags: i32) -> bool {
    matches!(flags, 5 | 6)
}

/// Checks one op. `in_multi` switches the create rules (flags decide the node type).
pub fn prepare(
    view: &View<'_>,
    op: &TxnOp,
    session: i64,
    ids: &[Id],
    sessions_live: impl Fn(i64) -> bool,
    in_multi: bool,
) -> Checked {
    match op {
        TxnOp::Create(c) => prepare_create(view, c, session, ids, &sessions_live, in_multi),
        TxnOp::Delete { path, version } => prepare_delete(view, path, *version, ids),
        TxnOp::DeleteContainer { path } => prepare_delete_container(view, path),
        TxnOp::SetData { path, data, version } => {
            path::validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
            let m = view.meta(path).ok_or(ErrorCode::NoNode)?;
            need(&m, ids, perms::WRITE)?;
            let old = view.tree.get(path).map_or(0, |n| n.data.as_ref().map_or(0, |d| d.len() as i64));
            view.tree.check_quota(path, data.as_ref().map_or(0, |d| d.len() as i64) - old, 0)?;
            let version = check_version(*version, m.version)?;
            Ok(Change::SetData { path: path.clone(), data: data.clone(), version })
        }
        TxnOp::SetAcl { path, acl: list, version } => {
            path::validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
            let fixed = view.tree.fixed_acl(list, ids)?;
            let m = view.meta(path).ok_or(ErrorCode::NoNode)?;
            need(&m, ids, perms::ADMIN)?;
            let aversion = check_version(*version, m.aversion)?;
            Ok(Change::SetAcl { path: path.clone(), acl: fixed, aversion })
        }
        TxnOp::Check { path, version } => {
            path::validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
            let m = view.meta(path).ok_or(ErrorCode::NoNode)?;
            need(&m, ids, perms::READ)?;
            check_version(*version, m.version)?;
            Ok(Change::Check)
        }
        TxnOp::Error(code) => Err(*code),
        TxnOp::CreateSession { .. } | TxnOp::CloseSession | TxnOp::Multi(_) => {
            panic!("prepare: {op:?} is not a single tree op")
        }
    }
}

fn prepare_create(
    view: &View<'_>,
    c: &CreateOp,
    session: i64,
    ids: &[Id],
    sessions_live: &dyn Fn(i64) -> bool,
    in_multi: bool,
) -> Checked {
    let flags = c.flags;
    if !(0..=6).contains(&flags) {
        return Err(ErrorCode::BadArguments);
    }
    let ephemeral = matches!(flags, 1 | 3);
    let sequential = matches!(flags, 2 | 3 | 6);
    let container = if in_multi { flags == 4 } else { c.kind == CreateKind::Container };
    let ttl_node = if in_multi { is_ttl_flags(flags) } else { c.kind == CreateKind::Ttl };
    if ephemeral && !container && !sessions_live(session) {
        return Err(ErrorCode::SessionExpired);
    }
    let last_slash = c.path.rfind('/');
    if last_slash.is_none() || c.path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let fixed = view.tree.fixed_acl(&c.acl, ids)?;
    let parent_path = path::parent_of(&c.path).expect("has a slash");
    let parent = view.meta(parent_path).ok_or(ErrorCode::NoNode)?;
    need(&parent, ids, perms::CREATE)?;
    let mut full = c.path.clone();
    if sequential {
        full.push_str(&format!("{:010}", parent.cversion));
    }
    path::validate_path(&full).map_err(|_| ErrorCode::BadArguments)?;
    if view.meta(&full).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(NodeKind::from_owner(parent.owner), NodeKind::Ephemeral(_)) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    view.tree.check_quota(&full, c.data.as_ref().map_or(0, |d| d.len() as i64), 1)?;
    let owner = if container {
        CONTAINER_OWNER
    } else if ttl_node {
        TTL_MASK | c.ttl
    } else if ephemeral {
        session
    } else {
        0
    };
    let reply = match (in_multi, c.kind) {
        (_, CreateKind::Create) if !container && !ttl_node => CreateReply::Path,
        _ => CreateReply::PathStat,
    };
    Ok(Change::Create { path: full, data: c.data.clone(), acl: fixed, owner, reply })
}

fn prepare_delete(view: &View<'_>, p: &str, version: i32, ids: &[Id]) -> Checked {
    if !p.contains('/') || p.contains('\0') || is_special_path(p) {
        return Err(ErrorCode::BadArguments);
    }
    let parent_path = path::parent_of(p).expect("has a slash");
    let parent = view.meta(parent_path).ok_or(ErrorCode::NoNode)?;
    need(&parent, ids, perms::DELETE)?;
    let node = view.meta(p).ok_or(ErrorCode::NoNode)?;
    check_version(version, node.version)?;
    if node.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(Change::Delete { path: p.to_owned() })
}

fn prepare_delete_container(view: &View<'_>, p: &str) -> Checked {
    if !p.contains('/') || is_special_path(p) {
        return Err(ErrorCode::BadArguments);
    }
    let node = view.meta(p).ok_or(ErrorCode::NoNode)?;
    if !matches!(NodeKind::from_owner(node.owner), NodeKind::Container | NodeKind::Ttl(_)) {
        return Err(ErrorCode::BadVersion);
    }
    if node.num_children > 0 {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(Change::Delete { path: p.to_owned() })
}
