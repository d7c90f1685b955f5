//! Errors and zxids, multi, null data and TTL misuse: hand-built frames over a raw socket, asserting exact bytes and values for the subtle
//! cases of the client protocol (shared/reference/zookeeper-protocol.md; § numbers below
//! refer to it). Every test also runs against Apache ZooKeeper 3.8 with
//! `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows 3.9 instead, the check branches on
//! the target and says why.

mod common;

use bytes::Bytes;
use common::ops::*;
use common::{is_zookeeper, Raw, Server};
use jute::data::perms;
use jute::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use jute::proto::*;
use jute::{Acl, OpCode, Record, Stat};

// ---------------------------------------------------------------------- §4 errors, zxids

/// Failed writes are error txns: each takes the next zxid and carries it in its reply;
/// reads take none. An error reply is exactly the 16-byte header.
#[test]
fn failed_writes_consume_consecutive_zxids() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/fw");
    let r = create(&mut raw, "/fw", None, 0);
    assert_eq!((r.zxid(), r.err(), r.body.len()), (z + 1, -110, 0));
    let r = create(&mut raw, "/fw", None, 0);
    assert_eq!((r.zxid(), r.err()), (z + 2, -110));
    let r = set_data(&mut raw, "/fw", Some(b"x"), 7);
    assert_eq!((r.zxid(), r.err()), (z + 3, -103));
    let r = delete(&mut raw, "/fw/missing", -1);
    assert_eq!((r.zxid(), r.err()), (z + 4, NO_NODE));
    let r = create(&mut raw, "/fw/", None, 0);
    assert_eq!((r.zxid(), r.err()), (z + 5, BAD_ARGS));
    // Reads do not consume zxids.
    assert_eq!(exists(&mut raw, "/fw", false).zxid(), z + 5);
    let r = get_data(&mut raw, "/nope", false);
    assert_eq!((r.zxid(), r.err()), (z + 5, NO_NODE));
    let r = create(&mut raw, "/fw2", None, 0);
    assert_eq!((r.zxid(), r.err()), (z + 6, 0));
    assert_eq!(stat(&mut raw, "/fw2").czxid, z + 6);
}

/// Create checks in ZooKeeper's order (§4): the parent is looked up before the full path
/// is validated; delete checks the parent's DELETE permission before the node exists, and
/// the version before NotEmpty.
#[test]
fn create_and_delete_check_order() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/co");
    let cases: [(&str, i32, i32); 8] = [
        ("/co/", 0, BAD_ARGS),
        ("base//x", 0, NO_NODE),
        ("//x", 0, BAD_ARGS),
        ("nope", 0, BAD_ARGS),
        ("/", 0, -110),
        ("/co/\u{1F600}", 0, BAD_ARGS),
        ("/co/x", 7, BAD_ARGS),
        ("/missing/x", 0, NO_NODE),
    ];
    for (path, flags, want) in cases {
        assert_eq!(create(&mut raw, path, None, flags).err(), want, "create {path:?} flags {flags}");
    }
    // An empty name under a sequential flag is fine: the suffix makes it valid.
    let r = create(&mut raw, "/co/", None, 2);
    assert_eq!(r.err(), 0);
    assert_eq!(r.decode::<CreateResponse>().path, "/co/0000000000");

    for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(delete(&mut raw, path, -1).err(), BAD_ARGS, "delete {path}");
    }
    assert_eq!(delete(&mut raw, "/co/", -1).err(), NO_NODE);

    let protected = CreateRequest {
        path: "/prot".into(),
        data: None,
        acl: vec![Acl::world(perms::READ | perms::CREATE)],
        flags: 0,
    };
    assert_eq!(raw.call(OpCode::CREATE.0, &protected).err(), 0);
    assert_eq!(delete(&mut raw, "/prot/missing", -1).err(), -102);

    mk(&mut raw, "/full");
    mk(&mut raw, "/full/child");
    assert_eq!(delete(&mut raw, "/full", 9).err(), -103);
    assert_eq!(delete(&mut raw, "/full", -1).err(), -111);

    assert_eq!(create(&mut raw, "/eph", None, 1).err(), 0);
    assert_eq!(create(&mut raw, "/eph/x", None, 0).err(), -108);
    assert_eq!(create(&mut raw, "/eph", None, 0).err(), -110);

    // The ACL list is checked before the parent is looked up, and before setACL's node.
    let no_acl = CreateRequest { path: "/missing/x".into(), data: None, acl: vec![], flags: 0 };
    assert_eq!(raw.call(OpCode::CREATE.0, &no_acl).err(), -114);
    let set_acl = SetAclRequest { path: "/missing".into(), acl: vec![], version: -1 };
    assert_eq!(raw.call(OpCode::SET_ACL.0, &set_acl).err(), -114);
    let set_acl = SetAclRequest { path: "/missing".into(), acl: open_acl(), version: -1 };
    assert_eq!(raw.call(OpCode::SET_ACL.0, &set_acl).err(), NO_NODE);

    // Reads never validate the path: missing or invalid is just NoNode; exists rejects NUL.
    assert_eq!(get_data(&mut raw, "nope", false).err(), NO_NODE);
    assert_eq!(get_data(&mut raw, "/zookeeper/", false).err(), NO_NODE);
    assert_eq!(exists(&mut raw, "/a\0b", false).err(), BAD_ARGS);
}

/// A failed multi: header err 0, every result an error result (0 before the failing op,
/// its code, −2 after), nothing applied, one zxid used.
#[test]
fn failed_multi_has_header_err_0_and_error_results() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/mf");
    let multi = MultiRequest {
        ops: vec![
            MultiOp::Create { op: 1, req: create_req("/mf/a", None, 0) },
            MultiOp::SetData(SetDataRequest { path: "/mf".into(), data: None, version: 5 }),
            MultiOp::Create { op: 1, req: create_req("/mf/b", None, 0) },
            MultiOp::Delete(DeleteRequest { path: "/mf".into(), version: -1 }),
        ],
    };
    let r = raw.call(OpCode::MULTI.0, &multi);
    assert_eq!((r.zxid(), r.err()), (z + 1, 0));
    let want = MultiResponse { results: [0, -103, -2, -2].into_iter().map(|err| MultiResult::Error { err }).collect() };
    assert_eq!(r.body, want.to_bytes().to_vec(), "exact bytes");
    assert_eq!(exists(&mut raw, "/mf/a", false).err(), NO_NODE);
    assert_eq!(stat(&mut raw, "/mf").version, 0);

    // An empty multi answers only the terminator and still takes a zxid.
    let r = raw.call(OpCode::MULTI.0, &MultiRequest { ops: vec![] });
    assert_eq!((r.zxid(), r.err()), (z + 2, 0));
    assert_eq!(r.body, [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
}

/// A successful multi: all ops share one zxid, results by type.
#[test]
fn successful_multi_shares_one_zxid() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/ms");
    mk(&mut raw, "/ms/old");
    let multi = MultiRequest {
        ops: vec![
            MultiOp::Check(CheckVersionRequest { path: "/ms".into(), version: 0 }),
            MultiOp::Create { op: 1, req: create_req("/ms/a", Some(b"a"), 0) },
            MultiOp::Create { op: 15, req: create_req("/ms/b", Some(b"bb"), 0) },
            MultiOp::SetData(SetDataRequest { path: "/ms".into(), data: Some(Bytes::from_static(b"new")), version: 0 }),
            MultiOp::Check(CheckVersionRequest { path: "/ms".into(), version: 1 }),
            MultiOp::Delete(DeleteRequest { path: "/ms/old".into(), version: 0 }),
        ],
    };
    let r = raw.call(OpCode::MULTI.0, &multi);
    let zm = z + 2;
    assert_eq!((r.zxid(), r.err()), (zm, 0));
    let results = r.decode::<MultiResponse>().results;
    assert_eq!(results.len(), 6);
    assert_eq!(results[0], MultiResult::Check);
    assert_eq!(results[1], MultiResult::Create { path: "/ms/a".into() });
    let b = stat(&mut raw, "/ms/b");
    assert_eq!(b.czxid, zm);
    if is_zookeeper() {
        // [3.9 ≠ 3.8] 3.8 downgrades create2 inside multi to create: path only.
        assert_eq!(results[2], MultiResult::Create { path: "/ms/b".into() });
    } else {
        // 3.9 (ZOOKEEPER-4026), which ferrozk follows: a create2 result with the Stat.
        assert_eq!(results[2], MultiResult::Create2 { path: "/ms/b".into(), stat: b });
    }
    let ms = stat(&mut raw, "/ms");
    // setData's result is the Stat right after that op: /ms/old is not deleted yet.
    let at_set = Stat { cversion: 3, num_children: 3, ..ms.clone() };
    assert_eq!(results[3], MultiResult::SetData { stat: at_set });
    assert_eq!(results[4], MultiResult::Check);
    assert_eq!(results[5], MultiResult::Delete);
    assert_eq!((ms.mzxid, ms.version, ms.pzxid), (zm, 1, zm));
    // Two creates and one delete: client-view cversion counts all three plus the first.
    assert_eq!((ms.cversion, ms.num_children), (4, 2));
}

/// Read ops inside multi are refused with MarshallingError (a zxid is still used); a
/// write op inside multiRead is −5 with the results so far and the terminator as a body.
#[test]
fn multi_and_multi_read_refuse_the_wrong_kind_of_op() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/mk");
    let multi = MultiRequest { ops: vec![MultiOp::GetData(GetDataRequest { path: "/mk".into(), watch: false })] };
    let r = raw.call(OpCode::MULTI.0, &multi);
    assert_eq!((r.zxid(), r.err()), (z + 1, -5));
    assert!(r.body.is_empty());

    let read = MultiRequest { ops: vec![MultiOp::Create { op: 1, req: create_req("/mk/x", None, 0) }] };
    let r = raw.call(OpCode::MULTI_READ.0, &read);
    assert_eq!(r.err(), -5);
    assert_eq!(r.body, [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(r.zxid(), z + 1, "multiRead uses no zxid, even when refused");
    assert_eq!(exists(&mut raw, "/mk/x", false).err(), NO_NODE);
    raw.expect_no_events();
}

/// multiRead answers each op on its own: failures (NoNode, NoAuth) do not fail the others;
/// header err 0; no zxid used.
#[test]
fn multi_read_returns_partial_results() {
    let server = Server::start();
    let mut raw = server.session();
    assert_eq!(create(&mut raw, "/mr", Some(b"d"), 0).err(), 0);
    mk(&mut raw, "/mr/c");
    let secret = CreateRequest {
        path: "/secret".into(),
        data: Some(Bytes::from_static(b"s")),
        acl: vec![Acl::world(perms::WRITE)],
        flags: 0,
    };
    let z = raw.call(OpCode::CREATE.0, &secret).zxid();
    let get = |path: &str| MultiOp::GetData(GetDataRequest { path: path.into(), watch: true });
    let children = |path: &str| MultiOp::GetChildren(GetChildrenRequest { path: path.into(), watch: true });
    let read = MultiRequest {
        ops: vec![get("/mr"), children("/mr"), get("/nope"), get("/secret"), children("/mr/c"), children("/secret")],
    };
    let r = raw.call(OpCode::MULTI_READ.0, &read);
    assert_eq!((r.zxid(), r.err()), (z, 0));
    let mr = stat(&mut raw, "/mr");
    assert_eq!(
        r.decode::<MultiResponse>().results,
        vec![
            MultiResult::GetData { data: Some(Bytes::from_static(b"d")), stat: mr },
            MultiResult::GetChildren { children: vec!["c".into()] },
            MultiResult::Error { err: NO_NODE },
            MultiResult::Error { err: -102 },
            MultiResult::GetChildren { children: vec![] },
            MultiResult::Error { err: -102 },
        ]
    );
    // The watch flags inside multiRead are ignored.
    set_data(&mut raw, "/mr", Some(b"e"), -1);
    mk(&mut raw, "/mr/d");
    raw.expect_no_events();
}

// ---------------------------------------------------------------------- §1 null data

/// Null data (−1) and empty data (0 bytes) are different and round-trip; both have
/// dataLength 0. The root's data is empty, not null.
#[test]
fn null_and_empty_data_round_trip() {
    let server = Server::start();
    let mut raw = server.session();
    assert_eq!(create(&mut raw, "/null", None, 0).err(), 0);
    assert_eq!(create(&mut raw, "/empty", Some(b""), 0).err(), 0);
    let data_prefix = |raw: &mut Raw, path: &str| {
        let r = get_data(raw, path, false);
        assert_eq!(r.err(), 0);
        let resp = r.decode::<GetDataResponse>();
        assert_eq!(resp.stat.data_length, 0);
        (r.body[..4].to_vec(), resp.data)
    };
    assert_eq!(data_prefix(&mut raw, "/null"), (vec![0xff; 4], None), "null stays null");
    assert_eq!(data_prefix(&mut raw, "/empty"), (vec![0; 4], Some(Bytes::new())));
    assert_eq!(data_prefix(&mut raw, "/"), (vec![0; 4], Some(Bytes::new())));
    assert_eq!(set_data(&mut raw, "/empty", None, 0).err(), 0);
    assert_eq!(set_data(&mut raw, "/null", Some(b""), 0).err(), 0);
    assert_eq!(data_prefix(&mut raw, "/empty").1, None);
    assert_eq!(data_prefix(&mut raw, "/null").1, Some(Bytes::new()));
}

// ---------------------------------------------------------------------- §6 TTL misuse

/// TTL values out of range are BadArguments (safe on both servers).
#[test]
fn create_ttl_bad_values_are_bad_arguments() {
    let server = Server::start();
    let mut raw = server.session();
    let ttl = |flags: i32, ttl: i64| CreateTtlRequest { path: "/ttl".into(), data: None, acl: open_acl(), flags, ttl };
    let z = mk(&mut raw, "/before");
    for (i, (flags, value)) in [(5, 0), (5, 1 << 40), (6, -1), (0, 1000)].iter().enumerate() {
        let r = raw.call(OpCode::CREATE_TTL.0, &ttl(*flags, *value));
        assert_eq!((r.err(), r.zxid()), (BAD_ARGS, z + 1 + i as i64), "flags {flags} ttl {value}");
    }
    let r = raw.call(OpCode::CREATE_TTL.0, &ttl(5, 60_000));
    assert_eq!(r.err(), 0);
    let created = r.decode::<Create2Response>();
    assert_eq!(created.path, "/ttl");
    assert_eq!(created.stat.ephemeral_owner, 0, "TTL nodes show owner 0");
}

/// createTTL with a non-TTL flag and ttl < 0: ferrozk answers BadArguments. ferrozk only:
/// ZooKeeper 3.8.0 accepts it, then crashes applying it and cannot restart (§6).
#[test]
fn create_ttl_with_non_ttl_flag_and_negative_ttl_is_bad_arguments() {
    if skip_on_zookeeper("this request crashes ZooKeeper 3.8.0") {
        return;
    }
    let server = Server::start();
    let mut raw = server.session();
    for flags in [0, 1, 2, 3, 4] {
        let req = CreateTtlRequest { path: "/ttl-bad".into(), data: None, acl: open_acl(), flags, ttl: -1 };
        assert_eq!(raw.call(OpCode::CREATE_TTL.0, &req).err(), BAD_ARGS, "flags {flags}");
    }
    assert_eq!(exists(&mut raw, "/ttl-bad", false).err(), NO_NODE);
}
