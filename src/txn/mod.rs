//! The replicated command. The leader stamps each write ([`stamp`]) with everything that is
//! not derived from the tree (zxid, time, session id, the caller's identities); [`apply`]
//! then checks and changes the [`State`] in one deterministic step, the same on every
//! replica. A failed check is a reply (a ZooKeeper error code), not a failure of apply.

pub mod apply;
pub mod codec;
pub mod prepare;
pub mod stamp;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, ErrorCode, Id};

use crate::tree::DataTree;

pub use apply::{apply, Applied, OpResult, Trigger};

/// Which create opcode a create came in with: the opcode, not the flag, makes a container
/// or TTL node outside multi; inside multi the flags decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    /// create (1): replies with the path only.
    Create,
    /// create2 (15): replies with path and Stat.
    Create2,
    /// createContainer (19).
    Container,
    /// createTTL (21).
    Ttl,
}

/// A create as stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOp {
    pub path: String,
    pub data: Option<Bytes>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub kind: CreateKind,
    /// −1 for non-TTL creates.
    pub ttl: i64,
}

/// What a stamped command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// A new session with its negotiated timeout (the id is `Txn::session`).
    CreateSession {
        timeout_ms: i32,
    },
    /// Close (or expire) `Txn::session`, deleting its ephemerals.
    CloseSession,
    Create(CreateOp),
    Delete {
        path: String,
        version: i32,
    },
    /// The container/TTL reaper's delete (op 20): only childless containers and TTL nodes.
    DeleteContainer {
        path: String,
    },
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
    /// check (13): valid only inside multi.
    Check {
        path: String,
        version: i32,
    },
    /// multi (14): create/delete/setData/check ops, all or nothing.
    Multi(Vec<TxnOp>),
    /// A request the stamper refused from configuration alone; it still takes a zxid.
    Error(ErrorCode),
}

/// One stamped command: what a log holds and a replica applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub zxid: i64,
    /// Leader's wall clock at stamping, ms since the Unix epoch.
    pub time_ms: i64,
    pub session: i64,
    pub cxid: i32,
    /// The caller's identities, for ACL checks and `auth` ACL expansion.
    pub ids: Arc<Vec<Id>>,
    pub op: TxnOp,
}

/// The replicated state: the tree plus the live sessions and their timeouts (sessions are
/// replicated so every replica agrees on ephemeral owners).
#[derive(Debug, Clone, Default)]
pub struct State {
    pub tree: DataTree,
    pub sessions: BTreeMap<i64, i32>,
    /// Zxid of the last applied command.
    pub last_zxid: i64,
    /// In an ensemble, the consensus log slot of the last applied entry (a snapshot must say
    /// which prefix of the replicated log it replaces); 0 on a standalone server.
    pub slot: u64,
}

#[cfg(test)]
mod tests;
