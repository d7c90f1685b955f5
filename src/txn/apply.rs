//! Apply one stamped command to the state: check, change, and report the reply and the
//! watch triggers, in one deterministic step. Apply itself cannot fail; a check that fails
//! is an error reply, the same on every replica.

use std::sync::Arc;

use jute::multi::MultiResult;
use jute::{Acl, ErrorCode, Stat};

use super::prepare::{self, Change, CreateReply, View};
use super::{State, Txn, TxnOp};
use crate::tree::path;

/// ZooKeeper's event types (`Watcher.Event.EventType`) that a change can fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// One watch trigger, in the order ZooKeeper fires them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub path: String,
    pub event: EventType,
    /// The ACL a watcher needs READ on to be told (ZooKeeper 3.9.2+, CVE-2024-23944): the
    /// node's own (as it was, for NodeDeleted), or the parent's for NodeChildrenChanged.
    pub acl: Arc<Vec<Acl>>,
}

/// The reply a command earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Error(ErrorCode),
    Created { path: String, stat: Option<Stat> },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Multi(Vec<MultiResult>),
    SessionCreated,
    SessionClosed,
}

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub zxid: i64,
    pub result: OpResult,
    pub triggers: Vec<Trigger>,
}

/// Applies `txn` to `state`.
///
/// # Panics
/// If `txn.zxid` is not above the last applied zxid: the log is out of order, a bug.
pub fn apply(state: &mut State, txn: &Txn) -> Applied {
    assert!(txn.zxid > state.last_zxid, "apply {:#x} after {:#x}", txn.zxid, state.last_zxid);
    state.last_zxid = txn.zxid;
    let mut triggers = Vec::new();
    let result = match &txn.op {
        TxnOp::CreateSession { timeout_ms } => {
            state.sessions.insert(txn.session, *timeout_ms);
            OpResult::SessionCreated
        }
        TxnOp::CloseSession => {
            close_session(state, txn, &mut triggers);
            OpResult::SessionClosed
        }
        // A client write from a session that is gone (closed or expired while the write
        // waited) fails as ZooKeeper's `checkSession` fails it. Session 0 is the server's own.
        TxnOp::Create(_) | TxnOp::Delete { .. } | TxnOp::SetData { .. } | TxnOp::SetAcl { .. } | TxnOp::Multi(_)
            if txn.session != 0 && !state.sessions.contains_key(&txn.session) =>
        {
            OpResult::Error(ErrorCode::SessionExpired)
        }
        TxnOp::Multi(ops) => match apply_multi(state, txn, ops, &mut triggers) {
            Ok(results) => OpResult::Multi(results),
            Err(code) => OpResult::Error(code),
        },
        op => {
            let view = View::new(&state.tree);
            let sessions = &state.sessions;
            match prepare::prepare(&view, op, txn.session, &txn.ids, |s| sessions.contains_key(&s), false) {
                Err(code) => OpResult::Error(code),
                Ok(change) => match commit(state, txn, change, &mut triggers) {
                    MultiResult::Create { path } => OpResult::Created { path, stat: None },
                    MultiResult::Create2 { path, stat } => OpResult::Created { path, stat: Some(stat) },
                    MultiResult::SetData { stat } if matches!(op, TxnOp::SetAcl { .. }) => OpResult::AclSet(stat),
                    MultiResult::SetData { stat } => OpResult::DataSet(stat),
                    MultiResult::Delete => OpResult::Deleted,
                    other => panic!("apply {:#x}: unexpected result {other:?}", txn.zxid),
                },
            }
        }
    };
    Applied { zxid: txn.zxid, result, triggers }
}

fn close_session(state: &mut State, txn: &Txn, triggers: &mut Vec<Trigger>) {
    state.sessions.remove(&txn.session);
    let paths: Vec<String> = state.tree.ephemerals_of(txn.session).map(str::to_owned).collect();
    for p in paths {
        delete(state, txn.zxid, &p, triggers);
    }
}

fn delete(state: &mut State, zxid: i64, p: &str, triggers: &mut Vec<Trigger>) {
    let gone = state.tree.delete(p, zxid);
    triggers.push(Trigger { path: p.to_owned(), event: EventType::NodeDeleted, acl: gone.acl });
    children_changed(state, p, triggers);
}

/// NodeChildrenChanged for the parent of `p`, which exists after any create or delete.
fn children_changed(state: &State, p: &str, triggers: &mut Vec<Trigger>) {
    let parent = path::parent_of(p).expect("checked path");
    let acl = acl_of(state, parent);
    triggers.push(Trigger { path: parent.to_owned(), event: EventType::NodeChildrenChanged, acl });
}

fn acl_of(state: &State, p: &str) -> Arc<Vec<Acl>> {
    state.tree.get(p).unwrap_or_else(|| panic!("acl of {p}: node missing after change")).acl.clone()
}

fn stat_of(state: &State, p: &str) -> Stat {
    state.tree.get(p).unwrap_or_else(|| panic!("stat of {p}: node missing after change")).client_stat()
}

/// Makes a checked change real and says what it answers.
fn commit(state: &mut State, txn: &Txn, change: Change, triggers: &mut Vec<Trigger>) -> MultiResult {
    match change {
        Change::Create { path: p, data, acl, owner, reply } => {
            state.tree.create(&p, data, acl.clone(), owner, txn.zxid, txn.time_ms);
            triggers.push(Trigger { path: p.clone(), event: EventType::NodeCreated, acl });
            children_changed(state, &p, triggers);
            match reply {
                CreateReply::Path => MultiResult::Create { path: p },
                CreateReply::PathStat => {
                    let stat = stat_of(state, &p);
                    MultiResult::Create2 { path: p, stat }
                }
            }
        }
        Change::Delete { path: p } => {
            delete(state, txn.zxid, &p, triggers);
            MultiResult::Delete
        }
        Change::SetData { path: p, data, version } => {
            state.tree.set_data(&p, data, version, txn.zxid, txn.time_ms);
            triggers.push(Trigger { path: p.clone(), event: EventType::NodeDataChanged, acl: acl_of(state, &p) });
            MultiResult::SetData { stat: stat_of(state, &p) }
        }
        Change::SetAcl { path: p, acl, aversion } => {
            state.tree.set_acl(&p, acl, aversion);
            MultiResult::SetData { stat: stat_of(state, &p) }
        }
        Change::Check => MultiResult::Check,
    }
}

/// All or nothing: check every op against an overlay first, then apply them all. On the
/// first failure every result is an error: 0 before it, its code, −2 after. An
/// `Error(MarshallingError)` op reached before any failure fails the whole multi with that
/// code instead (ZooKeeper's prep throws a non-Keeper exception there; see
/// `pipeline::multi_op_to_txn`): the reply is −5 with no results.
fn apply_multi(
    state: &mut State,
    txn: &Txn,
    ops: &[TxnOp],
    triggers: &mut Vec<Trigger>,
) -> Result<Vec<MultiResult>, ErrorCode> {
    let mut changes = Vec::with_capacity(ops.len());
    let mut failed = None;
    {
        let mut view = View::new(&state.tree);
        let sessions = &state.sessions;
        for (i, op) in ops.iter().enumerate() {
            match prepare::prepare(&view, op, txn.session, &txn.ids, |s| sessions.contains_key(&s), true) {
                Ok(change) => {
                    view.record(&change);
                    changes.push(change);
                }
                Err(ErrorCode::MarshallingError) if matches!(op, TxnOp::Error(_)) => {
                    return Err(ErrorCode::MarshallingError);
                }
                Err(code) => {
                    failed = Some((i, code));
                    break;
                }
            }
        }
    }
    if let Some((at, code)) = failed {
        return Ok((0..ops.len())
            .map(|i| MultiResult::Error {
                err: match i.cmp(&at) {
                    std::cmp::Ordering::Less => 0,
                    std::cmp::Ordering::Equal => code.code(),
                    std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                },
            })
            .collect());
    }
    Ok(changes.into_iter().map(|c| commit(state, txn, c, triggers)).collect())
}

#[cfg(test)]
mod multi_marshalling_tests {
    use std::sync::Arc;

    use jute::multi::MultiResult;
    use jute::{Acl, ErrorCode};

    use super::*;
    use crate::txn::{CreateKind, CreateOp};

    const S: i64 = 0x0100_0000_0000_0001;

    fn txn(zxid: i64, op: TxnOp) -> Txn {
        Txn { zxid, time_ms: 1000, session: S, cxid: 1, ids: Arc::new(vec![]), op }
    }

    fn create(path: &str) -> TxnOp {
        TxnOp::Create(CreateOp {
            path: path.into(),
            data: None,
            acl: vec![Acl::world(31)],
            flags: 0,
            kind: CreateKind::Create,
            ttl: -1,
        })
    }

    /// Differential test (compat-tests/differential), ZooKeeper 3.8.0: a multi whose create
    /// entry carries a TTL flag is answered −5 as a whole, nothing applied; an earlier
    /// failing op wins and the multi fails the usual way.
    #[test]
    fn marshalling_error_op_fails_the_whole_multi_unless_an_earlier_op_failed() {
        let mut state = State::default();
        apply(&mut state, &txn(1, TxnOp::CreateSession { timeout_ms: 4000 }));
        let bad = TxnOp::Error(ErrorCode::MarshallingError);
        let a = apply(&mut state, &txn(2, TxnOp::Multi(vec![create("/a"), bad.clone(), create("/b")])));
        assert_eq!(a.result, OpResult::Error(ErrorCode::MarshallingError));
        assert!(a.triggers.is_empty());
        assert!(state.tree.get("/a").is_none());
        let b = apply(&mut state, &txn(3, TxnOp::Multi(vec![TxnOp::Delete { path: "/x".into(), version: -1 }, bad])));
        assert_eq!(
            b.result,
            OpResult::Multi(vec![
                MultiResult::Error { err: ErrorCode::NoNode.code() },
                MultiResult::Error { err: ErrorCode::RuntimeInconsistency.code() },
            ])
        );
    }
}
