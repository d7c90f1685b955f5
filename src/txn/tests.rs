//! Apply, checked against what Apache ZooKeeper answers (protocol reference §4–§6).

use std::sync::Arc;

use bytes::Bytes;
use jute::multi::MultiResult;
use jute::{Acl, ErrorCode, Id};

use super::stamp::{StampRules, Stamper};
use super::*;

struct World {
    state: State,
    stamper: Stamper,
}

const S1: i64 = 0x0100_0000_0000_0001;

impl World {
    fn new() -> World {
        let mut w =
            World { state: State::default(), stamper: Stamper::new(0, StampRules { extended_types_enabled: true }) };
        w.run(S1, TxnOp::CreateSession { timeout_ms: 4000 });
        w
    }

    fn run_as(&mut self, session: i64, ids: Vec<Id>, op: TxnOp) -> Applied {
        let txn = self.stamper.stamp(session, 1, Arc::new(ids), op, 1000);
        apply(&mut self.state, &txn)
    }

    fn run(&mut self, session: i64, op: TxnOp) -> Applied {
        self.run_as(session, vec![], op)
    }

    fn create(&mut self, path: &str, flags: i32) -> OpResult {
        self.run(S1, TxnOp::Create(create_op(path, flags, CreateKind::Create))).result
    }
}

fn create_op(path: &str, flags: i32, kind: CreateKind) -> CreateOp {
    CreateOp {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: vec![Acl::world(31)],
        flags,
        kind,
        ttl: -1,
    }
}

fn created(path: &str) -> OpResult {
    OpResult::Created { path: path.into(), stat: None }
}

fn err(code: ErrorCode) -> OpResult {
    OpResult::Error(code)
}

#[test]
fn sequential_suffix_is_the_parents_create_count() {
    // Reference §6: deletes do not move the counter back.
    let mut w = World::new();
    w.create("/p", 0);
    assert_eq!(w.create("/p/n-", 2), created("/p/n-0000000000"));
    assert_eq!(w.create("/p/n-", 2), created("/p/n-0000000001"));
    assert_eq!(w.create("/p/n-", 2), created("/p/n-0000000002"));
    w.run(S1, TxnOp::Delete { path: "/p/n-0000000001".into(), version: -1 });
    assert_eq!(w.create("/p/e-", 3), created("/p/e-0000000003"));
    assert_eq!(w.state.tree.get("/p").unwrap().client_stat().cversion, 5);
}

#[test]
fn failed_writes_take_consecutive_zxids() {
    let mut w = World::new();
    let a = w.run(S1, TxnOp::Create(create_op("/", 0, CreateKind::Create)));
    let b = w.run(S1, TxnOp::Create(create_op("/", 0, CreateKind::Create)));
    assert_eq!(a.result, err(ErrorCode::NodeExists));
    assert_eq!(b.zxid, a.zxid + 1);
}

#[test]
fn create_check_order() {
    // Reference §4: parent lookup before full-path validation; exists before ephemeral parent.
    let mut w = World::new();
    w.create("/a", 0);
    assert_eq!(w.create("/a/", 0), err(ErrorCode::BadArguments));
    assert_eq!(w.create("base//x", 0), err(ErrorCode::NoNode)); // its parent "base/" does not exist
    assert_eq!(w.create("/nope//x", 0), err(ErrorCode::NoNode));
    assert_eq!(w.create("//x", 0), err(ErrorCode::BadArguments));
    assert_eq!(w.create("/a/", 2), created("/a/0000000000"));
    w.create("/e", 1);
    assert_eq!(w.create("/e", 1), err(ErrorCode::NodeExists));
    assert_eq!(w.create("/e/c", 0), err(ErrorCode::NoChildrenForEphemerals));
    assert_eq!(w.create("/x", 7), err(ErrorCode::BadArguments));
}

#[test]
fn delete_check_order() {
    let mut w = World::new();
    w.create("/a", 0);
    w.create("/a/b", 0);
    assert_eq!(w.run(S1, TxnOp::Delete { path: "/a".into(), version: 5 }).result, err(ErrorCode::BadVersion));
    assert_eq!(w.run(S1, TxnOp::Delete { path: "/a".into(), version: -1 }).result, err(ErrorCode::NotEmpty));
    assert_eq!(
        w.run(S1, TxnOp::Delete { path: "/zookeeper".into(), version: -1 }).result,
        err(ErrorCode::BadArguments)
    );
    let digest = Acl { perms: 31, id: Id { scheme: "digest".into(), id: "u:h".into() } };
    w.run(S1, TxnOp::SetAcl { path: "/a".into(), acl: vec![digest], version: -1 });
    // NoAuth on the parent beats NoNode on the child.
    assert_eq!(w.run(S1, TxnOp::Delete { path: "/a/missing".into(), version: -1 }).result, err(ErrorCode::NoAuth));
}

#[test]
fn failed_multi_reports_every_op_and_changes_nothing() {
    let mut w = World::new();
    let before = w.state.tree.digest();
    let ops = vec![
        TxnOp::Create(create_op("/m", 0, CreateKind::Create)),
        TxnOp::Create(create_op("/m", 0, CreateKind::Create)),
        TxnOp::Delete { path: "/m".into(), version: -1 },
    ];
    let r = w.run(S1, TxnOp::Multi(ops)).result;
    let want: Vec<MultiResult> = [0, -110, -2].iter().map(|&e| MultiResult::Error { err: e }).collect();
    assert_eq!(r, OpResult::Multi(want));
    assert_eq!(w.state.tree.digest(), before);
    assert!(w.state.tree.get("/m").is_none());
}

#[test]
fn multi_sees_its_own_earlier_ops() {
    let mut w = World::new();
    let ops = vec![
        TxnOp::Create(create_op("/m", 0, CreateKind::Create)),
        TxnOp::Create(create_op("/m/c", 0, CreateKind::Create)),
        TxnOp::SetData { path: "/m/c".into(), data: None, version: 0 },
        TxnOp::Check { path: "/m/c".into(), version: 1 },
    ];
    let OpResult::Multi(r) = w.run(S1, TxnOp::Multi(ops)).result else { panic!() };
    assert!(matches!(r[3], MultiResult::Check), "{r:?}");
    assert_eq!(w.state.tree.get("/m/c").unwrap().data, None);
}

#[test]
fn close_session_deletes_ephemerals_and_triggers() {
    let mut w = World::new();
    w.create("/g", 0);
    w.create("/g/m", 1);
    let a = w.run(S1, TxnOp::CloseSession);
    assert!(w.state.tree.get("/g/m").is_none());
    let paths: Vec<_> = a.triggers.iter().map(|t| (t.path.as_str(), t.event)).collect();
    assert_eq!(paths, vec![("/g/m", apply::EventType::NodeDeleted), ("/g", apply::EventType::NodeChildrenChanged)]);
    assert_eq!(w.state.tree.get("/g").unwrap().stat.pzxid, a.zxid);
    // A write from the closed session fails as checkSession would.
    assert_eq!(w.create("/late", 0), err(ErrorCode::SessionExpired));
}

#[test]
fn containers_and_ttl_show_owner_zero() {
    let mut w = World::new();
    let r = w.run(S1, TxnOp::Create(create_op("/c", 0, CreateKind::Container))).result;
    let OpResult::Created { stat: Some(stat), .. } = r else { panic!("{r:?}") };
    assert_eq!(stat.ephemeral_owner, 0);
    let mut ttl = create_op("/t", 5, CreateKind::Ttl);
    ttl.ttl = 100;
    assert!(matches!(w.run(S1, TxnOp::Create(ttl)).result, OpResult::Created { .. }));
    let mut bad = create_op("/t2", 0, CreateKind::Ttl);
    bad.ttl = -1;
    assert_eq!(w.run(S1, TxnOp::Create(bad)).result, err(ErrorCode::BadArguments));
}

#[test]
fn ttl_needs_extended_types() {
    let mut w = World::new();
    w.stamper = Stamper::new(w.state.last_zxid, StampRules { extended_types_enabled: false });
    let mut ttl = create_op("/t", 5, CreateKind::Ttl);
    ttl.ttl = 100;
    assert_eq!(w.run(S1, TxnOp::Create(ttl)).result, err(ErrorCode::Unimplemented));
}

#[test]
fn replicas_agree_on_digest() {
    let mut a = World::new();
    let mut b = World::new();
    for w in [&mut a, &mut b] {
        w.create("/x", 0);
        w.create("/x/y", 2);
        w.run(S1, TxnOp::SetData { path: "/x".into(), data: None, version: -1 });
    }
    assert_eq!(a.state.tree.digest(), b.state.tree.digest());
}

#[test]
fn triggers_carry_the_acl_a_watcher_needs_to_read() {
    // ZooKeeper 3.9.2+ (CVE-2024-23944) delivers an event only to watchers with READ on the
    // node as it was when the change fired; NodeChildrenChanged is checked on the parent.
    let mut w = World::new();
    let secret = vec![Acl { perms: 31, id: Id { scheme: "digest".into(), id: "u:h".into() } }];
    w.create("/p", 0);
    let mut op = create_op("/p/s", 0, CreateKind::Create);
    op.acl = secret.clone();
    let created = w.run(S1, TxnOp::Create(op));
    let owner = vec![Id { scheme: "digest".into(), id: "u:h".into() }];
    let set = w.run_as(S1, owner, TxnOp::SetData { path: "/p/s".into(), data: None, version: -1 });
    let deleted = w.run(S1, TxnOp::Delete { path: "/p/s".into(), version: -1 });
    let acls = |a: &Applied| a.triggers.iter().map(|t| (t.path.clone(), (*t.acl).clone())).collect::<Vec<_>>();
    let open = vec![Acl::world(31)];
    let want_change = vec![("/p/s".to_owned(), secret.clone()), ("/p".to_owned(), open.clone())];
    assert_eq!(acls(&created), want_change);
    assert_eq!(acls(&set), vec![("/p/s".to_owned(), secret.clone())]);
    assert_eq!(acls(&deleted), want_change, "a deleted node's ACL is kept for its event");
}
