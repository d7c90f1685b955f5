//! Hand-built frames over a raw socket, asserting exact bytes and values for the subtle
//! cases of the client protocol (shared/reference/zookeeper-protocol.md; § numbers below
//! refer to it). Every test also runs against Apache ZooKeeper 3.8 with
//! `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows 3.9 instead, the check branches on
//! the target and says why.

mod common;

use bytes::{Bytes, BytesMut};
use common::{ev, four_letter, is_zookeeper, Event, Raw, Reply, Server};
use jute::data::perms;
use jute::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use jute::proto::*;
use jute::{Acl, ErrorCode, Field, OpCode, Record, Stat};

const NO_NODE: i32 = ErrorCode::NoNode as i32;
const BAD_ARGS: i32 = ErrorCode::BadArguments as i32;

fn open_acl() -> Vec<Acl> {
    vec![Acl::world(perms::ALL)]
}

fn create_req(path: &str, data: Option<&[u8]>, flags: i32) -> CreateRequest {
    CreateRequest { path: path.into(), data: data.map(Bytes::copy_from_slice), acl: open_acl(), flags }
}

fn create(raw: &mut Raw, path: &str, data: Option<&[u8]>, flags: i32) -> Reply {
    raw.call(OpCode::CREATE.0, &create_req(path, data, flags))
}

/// Creates a persistent node and returns the zxid of the create.
fn mk(raw: &mut Raw, path: &str) -> i64 {
    let r = create(raw, path, Some(b""), 0);
    assert_eq!(r.err(), 0, "create {path}");
    r.zxid()
}

fn exists(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = ExistsRequest { path: path.into(), watch };
    raw.call(OpCode::EXISTS.0, &req)
}

fn stat(raw: &mut Raw, path: &str) -> Stat {
    let r = exists(raw, path, false);
    assert_eq!(r.err(), 0, "exists {path}");
    r.decode::<ExistsResponse>().stat
}

fn get_data(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = GetDataRequest { path: path.into(), watch };
    raw.call(OpCode::GET_DATA.0, &req)
}

fn set_data(raw: &mut Raw, path: &str, data: Option<&[u8]>, version: i32) -> Reply {
    let req = SetDataRequest { path: path.into(), data: data.map(Bytes::copy_from_slice), version };
    raw.call(OpCode::SET_DATA.0, &req)
}

fn delete(raw: &mut Raw, path: &str, version: i32) -> Reply {
    let req = DeleteRequest { path: path.into(), version };
    raw.call(OpCode::DELETE.0, &req)
}

fn get_children(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = GetChildrenRequest { path: path.into(), watch };
    raw.call(OpCode::GET_CHILDREN.0, &req)
}

/// The server's last processed zxid, as a read's reply carries it.
fn last_zxid(raw: &mut Raw) -> i64 {
    exists(raw, "/", false).zxid()
}

/// The zxid a notification carries. [3.9 ≠ 3.8] (§7): 3.9 sends the zxid of the txn that
/// fired it (ZOOKEEPER-4655) and ferrozk follows 3.9; 3.8 sends −1.
fn event_zxid(txn_zxid: i64) -> i64 {
    if is_zookeeper() {
        -1
    } else {
        txn_zxid
    }
}

fn event(zxid: i64, kind: i32, path: &str) -> Event {
    Event { zxid, kind, path: path.into() }
}

fn skip_on_zookeeper(why: &str) -> bool {
    if is_zookeeper() {
        eprintln!("skipped against ZooKeeper 3.8: {why}");
    }
    is_zookeeper()
}

// ---------------------------------------------------------------------- §2 handshake

/// The readOnly byte is optional in both directions: 37 bytes back for a request that had
/// it, 36 for one that did not. A new session consumes a zxid (the first one is zxid 1).
#[test]
fn connect_response_carries_read_only_byte_only_if_requested() {
    let server = Server::start();

    let mut with = Raw::open(server.addr());
    with.send_payload(&Raw::connect_request(30_000).to_bytes());
    let frame = with.read_frame().expect("ConnectResponse");
    assert_eq!(frame.len(), 37, "{frame:02x?}");
    let resp = ConnectResponse::from_bytes(&frame).unwrap();
    assert_eq!(resp.protocol_version, 0);
    assert_eq!(resp.time_out, 30_000);
    assert_eq!(resp.passwd.len(), 16);
    assert_eq!(resp.read_only, Some(false));
    // Standalone servers put server id 1 in the top byte of session ids.
    assert_eq!(resp.session_id >> 56, 1, "{:#x}", resp.session_id);
    assert_eq!(frame[36], 0);
    with.session_id = resp.session_id;
    assert_eq!(last_zxid(&mut with), 1, "createSession is zxid 1");

    let mut without = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.read_only = None;
    let bytes = req.to_bytes();
    assert_eq!(bytes.len(), 44);
    without.send_payload(&bytes);
    let frame = without.read_frame().expect("ConnectResponse");
    assert_eq!(frame.len(), 36, "{frame:02x?}");
    let resp2 = ConnectResponse::from_bytes(&frame).unwrap();
    assert_eq!(resp2.read_only, None);
    assert_eq!(resp2.session_id, resp.session_id + 1, "the low bits count sessions");
    assert_eq!(last_zxid(&mut with), 2);
    // Extra bytes after readOnly are ignored.
    let mut extra = Raw::open(server.addr());
    let mut bytes = Raw::connect_request(30_000).to_bytes().to_vec();
    bytes.extend_from_slice(&[7, 7, 7]);
    extra.send_payload(&bytes);
    assert_eq!(extra.read_frame().expect("ConnectResponse").len(), 37);
}

/// The requested timeout is clamped to [2, 20] × tickTime by default, or to the
/// configured min/maxSessionTimeout; zero and negative get the minimum.
#[test]
fn session_timeout_is_clamped() {
    let server = Server::start();
    for (asked, want) in [
        (1, 4000),
        (-5, 4000),
        (0, 4000),
        (3999, 4000),
        (4000, 4000),
        (10_001, 10_001),
        (40_000, 40_000),
        (40_001, 40_000),
        (1_000_000_000, 40_000),
    ] {
        let mut raw = Raw::open(server.addr());
        let resp = raw.handshake(asked);
        assert_eq!(resp.time_out, want, "asked for {asked}");
    }
    drop(server);

    let server =
        Server::start_with(&[("tickTime", "500"), ("minSessionTimeout", "5000"), ("maxSessionTimeout", "6000")]);
    for (asked, want) in [(1000, 5000), (5500, 5500), (9000, 6000)] {
        let mut raw = Raw::open(server.addr());
        assert_eq!(raw.handshake(asked).time_out, want, "asked for {asked}");
    }
}

/// A wrong password, or a session that does not exist, gets the all-zero response (with
/// the readOnly byte only if asked) and then a close. ZooKeeper closes the connection that
/// holds the session before it checks the password, so even a refused attempt moves the
/// owner off its connection; the session itself lives on and can be resumed.
#[test]
fn resume_with_wrong_password_gets_zero_response_then_close() {
    let server = Server::start();
    let mut owner = server.session();
    let z = mk(&mut owner, "/owned");
    let zero = |read_only: Option<bool>| ConnectResponse {
        protocol_version: 0,
        time_out: 0,
        session_id: 0,
        passwd: vec![0u8; 16].into(),
        read_only,
    };
    for read_only in [Some(false), None] {
        for (session_id, passwd) in [(owner.session_id, vec![9u8; 16]), (owner.session_id + 1000, owner.passwd.clone())]
        {
            let mut raw = Raw::open(server.addr());
            let mut req = Raw::connect_request(30_000);
            req.session_id = session_id;
            req.passwd = passwd.into();
            req.read_only = read_only;
            raw.send_payload(&req.to_bytes());
            let frame = raw.read_frame().expect("a response before the close");
            assert_eq!(frame.len(), if read_only.is_some() { 37 } else { 36 });
            assert_eq!(ConnectResponse::from_bytes(&frame).unwrap(), zero(read_only));
            raw.expect_closed();
        }
    }
    owner.expect_closed();
    let mut back = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = owner.session_id;
    req.passwd = owner.passwd.clone().into();
    assert_eq!(back.connect(&req).session_id, owner.session_id);
    assert_eq!(stat(&mut back, "/owned").czxid, z);
}

/// A client that has seen a zxid the server has not is closed without any response.
#[test]
fn client_ahead_of_server_is_closed_without_response() {
    let server = Server::start();
    let mut raw = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.last_zxid_seen = 1_000_000;
    raw.send_payload(&req.to_bytes());
    raw.expect_closed();
}

/// Resuming a session from a second connection closes the first (§2, §9); the second
/// gets the same id and password back.
#[test]
fn resume_from_second_connection_closes_the_first() {
    let server = Server::start();
    let mut first = server.session();
    let z = mk(&mut first, "/resume");

    let mut second = Raw::open(server.addr());
    let mut req = Raw::connect_request(20_000);
    req.session_id = first.session_id;
    req.passwd = first.passwd.clone().into();
    req.last_zxid_seen = z;
    let resp = second.connect(&req);
    assert_eq!(resp.session_id, first.session_id);
    assert_eq!(resp.passwd.to_vec(), first.passwd);
    assert_eq!(resp.time_out, 20_000);
    first.expect_closed();
    assert_eq!(stat(&mut second, "/resume").czxid, z);
}

// ---------------------------------------------------------------------- §3 special xids

/// A ping is answered with xid −2 whatever xid it carried, with the current zxid.
#[test]
fn ping_is_answered_with_xid_minus_2() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/ping");
    for xid in [77, -2] {
        raw.send_bytes(xid, OpCode::PING.0, &[]);
        let r = raw.recv().expect("ping reply");
        assert_eq!((r.header.xid, r.zxid(), r.err()), (-2, z, 0), "ping with xid {xid}");
        assert!(r.body.is_empty());
    }
}

/// Unknown opcodes get Unimplemented (zxid −1), then the connection closes; the session
/// lives on and can be resumed.
#[test]
fn unknown_opcode_gets_unimplemented_then_close() {
    let server = Server::start();
    let mut raw = server.session();
    raw.send_bytes(5, 999, &[]);
    let r = raw.recv().expect("a reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (5, -1, -6));
    assert!(r.body.is_empty());
    raw.expect_closed();

    let mut again = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = raw.session_id;
    req.passwd = raw.passwd.clone().into();
    assert_eq!(again.connect(&req).session_id, raw.session_id);
    again.expect_no_events();
}

/// check (13) is only valid inside multi. ferrozk answers it like an unknown opcode, as
/// 3.8.5+/3.9.3+ do. NOT run against ZooKeeper 3.8.0: there it gets no reply and logs a
/// txn that keeps the server from ever restarting (§3).
#[test]
fn check_outside_multi_is_unimplemented_then_close() {
    if skip_on_zookeeper("a top-level check breaks ZooKeeper 3.8.0 for good") {
        return;
    }
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/chk");
    let req = CheckVersionRequest { path: "/chk".into(), version: 0 };
    raw.send(3, OpCode::CHECK.0, &req);
    let r = raw.recv().expect("a reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (3, -1, -6));
    raw.expect_closed();
    // The server still serves.
    let mut other = server.session();
    assert_eq!(stat(&mut other, "/chk").version, 0);
}

/// closeSession: the reply (with the txn's zxid), then a close; other connections see the
/// ephemerals go; the session cannot be resumed afterwards.
#[test]
fn close_session_replies_then_closes() {
    let server = Server::start();
    let mut owner = server.session();
    let mut watcher = server.session();
    mk(&mut owner, "/cs");
    assert_eq!(create(&mut owner, "/cs/e", Some(b"x"), 1).err(), 0);
    assert_eq!(get_data(&mut watcher, "/cs/e", true).err(), 0);
    assert_eq!(get_children(&mut watcher, "/cs", true).err(), 0);
    let before = last_zxid(&mut owner);

    owner.send_bytes(9, OpCode::CLOSE_SESSION.0, &[]);
    let r = owner.recv().expect("closeSession reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (9, before + 1, 0));
    assert!(r.body.is_empty());
    owner.expect_closed();

    let z = before + 1;
    assert_eq!(watcher.next_event(), event(event_zxid(z), ev::DELETED, "/cs/e"));
    assert_eq!(watcher.next_event(), event(event_zxid(z), ev::CHILDREN_CHANGED, "/cs"));
    let parent = stat(&mut watcher, "/cs");
    assert_eq!((parent.pzxid, parent.cversion, parent.num_children), (z, 2, 0));

    let mut late = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = owner.session_id;
    req.passwd = owner.passwd.clone().into();
    assert_eq!(late.connect(&req).session_id, 0);
    late.expect_closed();
}

/// auth with an unknown scheme: −115 with zxid 0, then a close. A good digest auth gets
/// {−4, 0, 0}.
#[test]
fn auth_with_unknown_scheme_fails_with_zxid_0_then_close() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/auth");
    let good = AuthPacket { r#type: 0, scheme: "digest".into(), auth: Bytes::from_static(b"alice:secret") };
    raw.send(-4, OpCode::AUTH.0, &good);
    let r = raw.recv().expect("auth reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (-4, 0, 0));

    let bad = AuthPacket { r#type: 0, scheme: "nope".into(), auth: Bytes::from_static(b"x") };
    raw.send(-4, OpCode::AUTH.0, &bad);
    let r = raw.recv().expect("auth reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (-4, 0, -115));
    assert!(r.body.is_empty());
    raw.expect_closed();
}

// ---------------------------------------------------------------------- §1 framing

/// A frame length above jute.maxbuffer (0xfffff), negative, or zero closes the connection
/// without a reply, before and after the handshake.
#[test]
fn bad_frame_lengths_close_without_reply() {
    let server = Server::start();
    for len in [1_048_576i32, -5, 0] {
        let mut raw = server.session();
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 64]);
        raw.send_raw(&bytes);
        raw.expect_closed();
    }
    // Before the handshake: "abcd" read as a length is 1.6 GB.
    let mut raw = Raw::open(server.addr());
    raw.send_raw(b"abcd");
    raw.expect_closed();
    let mut raw = Raw::open(server.addr());
    raw.send_raw(&1_048_576i32.to_be_bytes());
    raw.expect_closed();
}

/// An undecodable body gets MarshallingError and the connection stays open.
#[test]
fn malformed_body_gets_marshalling_error_and_connection_stays() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/mal");
    // A string length that runs past the end of the frame.
    let mut body = 100i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"/ma");
    let r = raw.call_bytes(OpCode::GET_DATA.0, &body);
    assert_eq!((r.zxid(), r.err()), (z, -5));
    assert!(r.body.is_empty());
    // Truncated: the watch flag is missing.
    let mut body = BytesMut::new();
    "/mal".to_owned().encode(&mut body);
    let r = raw.call_bytes(OpCode::EXISTS.0, &body);
    assert_eq!(r.err(), -5);
    raw.expect_no_events();
    assert_eq!(stat(&mut raw, "/mal").czxid, z);
}

/// A malformed write also gets −5 and keeps the connection.
#[test]
fn malformed_write_gets_marshalling_error() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/malw");
    let mut body = BytesMut::new();
    "/malw/x".to_owned().encode(&mut body);
    body.extend_from_slice(&[0, 0]);
    let r = raw.call_bytes(OpCode::CREATE.0, &body);
    assert_eq!(r.err(), -5);
    assert!(r.body.is_empty());
    assert_eq!(r.zxid(), z + 1, "like any failed write, it uses a zxid");
    raw.expect_no_events();
    assert_eq!(exists(&mut raw, "/malw/x", false).err(), NO_NODE, "nothing was created");
}

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

// ---------------------------------------------------------------------- §7 watches

/// A watcher's own write: its notification comes before its reply.
#[test]
fn event_precedes_the_reply_of_the_write_that_caused_it() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/ev");
    assert_eq!(get_data(&mut raw, "/ev", true).err(), 0);
    raw.send(50, OpCode::SET_DATA.0, &SetDataRequest { path: "/ev".into(), data: None, version: -1 });
    let first = raw.recv().expect("event");
    let second = raw.recv().expect("reply");
    assert_eq!(first.header.xid, -1, "the event comes first");
    assert_eq!(second.header.xid, 50);
    let z = second.zxid();
    assert_eq!(first.zxid(), event_zxid(z));
    assert_eq!(first.decode::<WatcherEvent>(), WatcherEvent { r#type: ev::DATA_CHANGED, state: 3, path: "/ev".into() });

    assert_eq!(exists(&mut raw, "/ev/c", true).err(), NO_NODE, "watch set");
    assert_eq!(get_children(&mut raw, "/ev", true).err(), 0);
    raw.send(51, OpCode::CREATE.0, &create_req("/ev/c", None, 0));
    let frames: Vec<Reply> = (0..3).map(|_| raw.recv().expect("frame")).collect();
    let xids: Vec<i32> = frames.iter().map(|f| f.header.xid).collect();
    assert_eq!(xids, [-1, -1, 51]);
    let z = frames[2].zxid();
    let kinds: Vec<(i64, WatcherEvent)> = frames[..2].iter().map(|f| (f.zxid(), f.decode::<WatcherEvent>())).collect();
    assert_eq!(
        kinds,
        vec![
            (event_zxid(z), WatcherEvent { r#type: ev::CREATED, state: 3, path: "/ev/c".into() }),
            (event_zxid(z), WatcherEvent { r#type: ev::CHILDREN_CHANGED, state: 3, path: "/ev".into() }),
        ]
    );
}

/// exists(watch) on a missing node sets a watch; getData/getChildren on a missing node do
/// not. Standard watches fire once. One change sends a connection one event even if
/// several of its watches match.
#[test]
fn watches_on_missing_nodes_and_one_shot_delivery() {
    let server = Server::start();
    let mut w = server.session();
    let mut writer = server.session();
    assert_eq!(get_data(&mut w, "/wm", true).err(), NO_NODE);
    assert_eq!(get_children(&mut w, "/wm", true).err(), NO_NODE);
    mk(&mut writer, "/wm");
    mk(&mut writer, "/wm/x");
    set_data(&mut writer, "/wm", Some(b"0"), -1);
    w.expect_no_events();
    assert_eq!(exists(&mut w, "/wm2", true).err(), NO_NODE);
    let z = mk(&mut writer, "/wm2");
    assert_eq!(w.next_event(), event(event_zxid(z), ev::CREATED, "/wm2"));
    w.expect_no_events();
    delete(&mut writer, "/wm/x", -1);

    // Data and child watch on one path, both standard: the delete sends one event.
    assert_eq!(get_data(&mut w, "/wm", true).err(), 0);
    assert_eq!(get_children(&mut w, "/wm", true).err(), 0);
    let z = set_data(&mut writer, "/wm", Some(b"1"), -1).zxid();
    set_data(&mut writer, "/wm", Some(b"2"), -1);
    assert_eq!(w.next_event(), event(event_zxid(z), ev::DATA_CHANGED, "/wm"));
    w.expect_no_events();
    assert_eq!(get_data(&mut w, "/wm", true).err(), 0);
    let z = delete(&mut writer, "/wm", -1).zxid();
    assert_eq!(w.next_event(), event(event_zxid(z), ev::DELETED, "/wm"));
    w.expect_no_events();
    mk(&mut writer, "/wm");
    w.expect_no_events();
}

/// SetWatches: events for what changed since relativeZxid go out before the −8 reply, all
/// with zxid −1; the rest is registered; a watch that fired is not registered again.
#[test]
fn set_watches_synthesizes_events_before_the_reply() {
    let server = Server::start();
    let mut writer = server.session();
    for p in ["/sw", "/sw/d", "/sw/c", "/sw/same", "/sw/gone", "/sw/cgone"] {
        mk(&mut writer, p);
    }
    let rel = last_zxid(&mut writer);
    set_data(&mut writer, "/sw/d", Some(b"new"), -1);
    mk(&mut writer, "/sw/c/x");
    mk(&mut writer, "/sw/e");
    delete(&mut writer, "/sw/gone", -1);
    delete(&mut writer, "/sw/cgone", -1);

    let mut w = server.session();
    let sw = SetWatches {
        relative_zxid: rel,
        data_watches: vec!["/sw/d".into(), "/sw/gone".into(), "/sw/same".into()],
        exist_watches: vec!["/sw/e".into(), "/sw/none".into()],
        child_watches: vec!["/sw/c".into(), "/sw/cgone".into(), "/sw/same".into()],
    };
    w.send(-8, OpCode::SET_WATCHES.0, &sw);
    let mut events = Vec::new();
    let reply = loop {
        let r = w.recv().expect("frame");
        if r.header.xid != -1 {
            break r;
        }
        let e = r.decode::<WatcherEvent>();
        events.push(event(r.zxid(), e.r#type, &e.path));
    };
    assert_eq!((reply.header.xid, reply.err()), (-8, 0));
    assert!(reply.body.is_empty());
    assert_eq!(
        events,
        vec![
            event(-1, ev::DATA_CHANGED, "/sw/d"),
            event(-1, ev::DELETED, "/sw/gone"),
            event(-1, ev::CREATED, "/sw/e"),
            event(-1, ev::CHILDREN_CHANGED, "/sw/c"),
            event(-1, ev::DELETED, "/sw/cgone"),
        ]
    );
    // Registered: /sw/same (data and child), /sw/none (exist). Not: /sw/d, /sw/c.
    set_data(&mut writer, "/sw/d", Some(b"again"), -1);
    mk(&mut writer, "/sw/c/y");
    w.expect_no_events();
    let z = set_data(&mut writer, "/sw/same", Some(b"x"), -1).zxid();
    assert_eq!(w.next_event(), event(event_zxid(z), ev::DATA_CHANGED, "/sw/same"));
    let z = mk(&mut writer, "/sw/none");
    assert_eq!(w.next_event(), event(event_zxid(z), ev::CREATED, "/sw/none"));
    let z = mk(&mut writer, "/sw/same/k");
    assert_eq!(w.next_event(), event(event_zxid(z), ev::CHILDREN_CHANGED, "/sw/same"));
    w.expect_no_events();
}

/// addWatch answers a 4-byte 0 body; a bad mode is −5. checkWatches/removeWatches give
/// NoWatcher when there is no such watch; an exist watch is a data watch.
#[test]
fn add_watch_and_remove_watches() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/aw");
    let add = |mode| AddWatchRequest { path: "/aw".into(), mode };
    let r = raw.call(OpCode::ADD_WATCH.0, &add(0));
    assert_eq!((r.err(), r.body.clone()), (0, vec![0, 0, 0, 0]));
    assert_eq!(raw.call(OpCode::ADD_WATCH.0, &add(2)).err(), -5);

    let check = |path: &str, ty| CheckWatchesRequest { path: path.into(), r#type: ty };
    assert_eq!(raw.call(OpCode::CHECK_WATCHES.0, &check("/nowatch", 2)).err(), -121);
    assert_eq!(exists(&mut raw, "/aw2", true).err(), NO_NODE);
    let remove = RemoveWatchesRequest { path: "/aw2".into(), r#type: 2 };
    assert_eq!(raw.call(OpCode::REMOVE_WATCHES.0, &remove).err(), 0);
    assert_eq!(raw.call(OpCode::REMOVE_WATCHES.0, &remove).err(), -121);
    mk(&mut raw, "/aw2");
    raw.expect_no_events();
}

/// sync echoes the path, even for a missing node, and uses no zxid.
#[test]
fn sync_echoes_the_path() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/sy");
    let r = raw.call(OpCode::SYNC.0, &SyncRequest { path: "/nowhere".into() });
    assert_eq!((r.zxid(), r.err()), (z, 0));
    assert_eq!(r.decode::<SyncResponse>().path, "/nowhere");
    assert_eq!(last_zxid(&mut raw), z);
}

// ---------------------------------------------------------------------- limits, 4lw

/// maxClientCnxns bounds connections per client IP; extra ones are closed at once, and a
/// slot frees when a connection closes.
#[test]
fn max_client_cnxns_limits_connections_per_ip() {
    let server = Server::start_with(&[("maxClientCnxns", "2")]);
    let a = server.session();
    let _b = server.session();
    assert_eq!(try_session(&server), None, "the third connection is refused");
    drop(a);
    common::wait_for("a free connection slot", READ_SLOT_WAIT, || try_session(&server));
}

const READ_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a connection and asks for a session; `None` when the server closes it instead.
fn try_session(server: &Server) -> Option<i64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr()).ok()?;
    s.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    let req = Raw::connect_request(30_000).to_bytes();
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);
    // The server may already have closed it; then the write or the read fails.
    let _ = s.write_all(&frame);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() >= 41 {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    if got.len() < 41 {
        return None;
    }
    let resp = ConnectResponse::from_bytes(&got[4..]).ok()?;
    Some(resp.session_id)
}

/// ruok answers imok without a newline; a word not in the whitelist gets the refusal
/// text; srvr is always allowed.
#[test]
fn four_letter_words() {
    let server = Server::start();
    assert_eq!(four_letter(server.addr(), "ruok"), "imok");
    assert_eq!(four_letter(server.addr(), "isro"), "rw");
    assert_eq!(four_letter(server.addr(), "gtmk"), "306");
    // Watches: a data and a child watch on one connection, an exist watch on another.
    let mut a = server.session();
    let mut b = server.session();
    assert_eq!(get_data(&mut a, "/zookeeper", true).err(), 0);
    assert_eq!(get_children(&mut a, "/zookeeper", true).err(), 0);
    assert_eq!(exists(&mut b, "/x", true).err(), NO_NODE);
    assert_eq!(four_letter(server.addr(), "wchs"), "2 connections watching 2 paths\nTotal watches:2\n");
    let mntr = four_letter(server.addr(), "mntr");
    let lines: Vec<&str> = mntr.lines().collect();
    assert!(lines[0].starts_with("zk_version\t"), "{mntr}");
    assert_eq!(lines[1], "zk_server_state\tstandalone");
    // The tree keeps the root twice: 5 nodes on a fresh server.
    for want in ["zk_znode_count\t5", "zk_watch_count\t3", "zk_global_sessions\t2", "zk_ephemerals_count\t0"] {
        assert!(lines.contains(&want), "{want} in {mntr}");
    }
    let srvr = four_letter(server.addr(), "srvr");
    assert!(srvr.contains("\nZxid: 0x2\nMode: standalone\nNode count: 5\n"), "{srvr}");
    drop(server);

    let server = Server::start_with(&[("4lw.commands.whitelist", "ruok")]);
    assert_eq!(four_letter(server.addr(), "ruok"), "imok");
    assert_eq!(four_letter(server.addr(), "stat"), "stat is not executed because it is not in the whitelist.\n");
    assert_eq!(four_letter(server.addr(), "mntr"), "mntr is not executed because it is not in the whitelist.\n");
    let srvr = four_letter(server.addr(), "srvr");
    assert!(srvr.starts_with("Zookeeper version: "), "{srvr}");
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
}

// ---------------------------------------------------------------------- more §2 and §7

/// Requests pipelined behind the ConnectRequest in the same write (as the Java client
/// does on reconnect: connect, auth, then requests) are answered in order once the session
/// exists; a read sent right after a write sees it.
#[test]
fn requests_pipelined_behind_the_handshake_are_answered_in_order() {
    let server = Server::start();
    let mut raw = Raw::open(server.addr());
    let mut batch = Vec::new();
    let mut push = |payload: &[u8]| {
        batch.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        batch.extend_from_slice(payload);
    };
    push(&Raw::connect_request(30_000).to_bytes());
    let frame = |xid: i32, op: OpCode, body: &dyn Fn(&mut BytesMut)| {
        let mut out = BytesMut::new();
        RequestHeader { xid, r#type: op.0 }.encode(&mut out);
        body(&mut out);
        out
    };
    push(&frame(-4, OpCode::AUTH, &|o| {
        AuthPacket { r#type: 0, scheme: "digest".into(), auth: Bytes::from_static(b"pipe:pw") }.encode(o)
    }));
    let creator_all = CreateRequest {
        path: "/pipe".into(),
        data: Some(Bytes::from_static(b"p")),
        acl: vec![Acl { perms: perms::ALL, id: jute::Id { scheme: "auth".into(), id: String::new() } }],
        flags: 0,
    };
    push(&frame(1, OpCode::CREATE, &|o| creator_all.encode(o)));
    push(&frame(2, OpCode::GET_DATA, &|o| GetDataRequest { path: "/pipe".into(), watch: false }.encode(o)));
    push(&frame(3, OpCode::GET_ACL, &|o| GetAclRequest { path: "/pipe".into() }.encode(o)));
    raw.send_raw(&batch);
    let resp = ConnectResponse::from_bytes(&raw.read_frame().expect("handshake")).unwrap();
    assert_ne!(resp.session_id, 0);
    let xids: Vec<(i32, i32)> = (0..4).map(|_| raw.recv().expect("reply")).map(|r| (r.header.xid, r.err())).collect();
    assert_eq!(xids, [(-4, 0), (1, 0), (2, 0), (3, 0)]);
    let mut again = Raw::open(server.addr());
    again.handshake(30_000);
    assert_eq!(get_data(&mut again, "/pipe", false).err(), -102);
}

/// Watches belong to the connection: when a session moves to a new connection, the old
/// connection's watches are gone (the client sets them again with SetWatches).
#[test]
fn watches_do_not_follow_the_session_to_a_new_connection() {
    let server = Server::start();
    let mut writer = server.session();
    mk(&mut writer, "/cw");
    let mut first = server.session();
    assert_eq!(get_data(&mut first, "/cw", true).err(), 0);
    let add = AddWatchRequest { path: "/cw".into(), mode: 1 };
    assert_eq!(first.call(OpCode::ADD_WATCH.0, &add).err(), 0);

    let mut second = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = first.session_id;
    req.passwd = first.passwd.clone().into();
    req.last_zxid_seen = last_zxid(&mut writer);
    assert_eq!(second.connect(&req).session_id, first.session_id);
    first.expect_closed();
    set_data(&mut writer, "/cw", Some(b"x"), -1);
    mk(&mut writer, "/cw/child");
    second.expect_no_events();
}

/// SetWatches2 (105) registers persistent and recursive watches without catch-up events.
#[test]
fn set_watches2_registers_persistent_watches_without_events() {
    let server = Server::start();
    let mut writer = server.session();
    mk(&mut writer, "/p2");
    mk(&mut writer, "/r2");
    set_data(&mut writer, "/p2", Some(b"changed"), -1);
    let mut w = server.session();
    let sw = SetWatches2 {
        relative_zxid: 0,
        data_watches: vec![],
        exist_watches: vec![],
        child_watches: vec![],
        persistent_watches: vec!["/p2".into()],
        persistent_recursive_watches: vec!["/r2".into()],
    };
    w.send(-8, OpCode::SET_WATCHES2.0, &sw);
    let r = w.recv().expect("reply");
    assert_eq!((r.header.xid, r.err()), (-8, 0), "no events before the reply");
    w.expect_no_events();
    let z1 = set_data(&mut writer, "/p2", Some(b"1"), -1).zxid();
    let z2 = mk(&mut writer, "/r2/a");
    let z3 = set_data(&mut writer, "/p2", Some(b"2"), -1).zxid();
    assert_eq!(
        (0..3).map(|_| w.next_event()).collect::<Vec<_>>(),
        [
            event(event_zxid(z1), ev::DATA_CHANGED, "/p2"),
            event(event_zxid(z2), ev::CREATED, "/r2/a"),
            event(event_zxid(z3), ev::DATA_CHANGED, "/p2"),
        ]
    );
    w.expect_no_events();
}

/// The opcode, not the flag, makes a container outside multi: create (1) with flag 4 is a
/// plain persistent node and is never reaped; createContainer (19) is. Inside multi the flag
/// decides, and the result is a create2-type result (15) in both 3.8 and 3.9.
#[test]
fn container_kind_comes_from_the_opcode_outside_multi_and_the_flag_inside() {
    let server = Server::start_with(&[("znode.container.checkIntervalMs", "100")]);
    let mut raw = server.session();
    assert_eq!(create(&mut raw, "/flag4", None, 4).err(), 0);
    let r = raw.call(OpCode::CREATE_CONTAINER.0, &create_req("/op19", None, 0));
    assert_eq!(r.err(), 0);
    let created = r.decode::<Create2Response>();
    assert_eq!((created.path.as_str(), created.stat.ephemeral_owner), ("/op19", 0));
    let multi = MultiRequest { ops: vec![MultiOp::Create { op: 1, req: create_req("/inmulti", None, 4) }] };
    let r = raw.call(OpCode::MULTI.0, &multi);
    let results = r.decode::<MultiResponse>().results;
    let inmulti = stat(&mut raw, "/inmulti");
    assert_eq!(results, [MultiResult::Create2 { path: "/inmulti".into(), stat: inmulti }]);
    for p in ["/flag4", "/op19", "/inmulti"] {
        mk(&mut raw, &format!("{p}/c"));
        delete(&mut raw, &format!("{p}/c"), -1);
        assert_eq!(exists(&mut raw, p, true).err(), 0);
    }
    // The reaper deletes the two containers; the plain node stays.
    let mut gone: Vec<String> = (0..2).map(|_| raw.next_event().path).collect();
    gone.sort();
    assert_eq!(gone, ["/inmulti", "/op19"]);
    assert_eq!(exists(&mut raw, "/flag4", false).err(), 0);
}

/// reconfig in a standalone server: ReconfigDisabled while reconfigEnabled=false (the
/// default), Unimplemented when enabled; both are error txns that use a zxid. SASL without
/// a configured login: an empty success with a null token and zxid 0; the connection stays.
#[test]
fn reconfig_and_sasl_in_standalone() {
    let req = ReconfigRequest {
        joining_servers: "server.2=127.0.0.1:2888:3888;2182".into(),
        leaving_servers: String::new(),
        new_members: String::new(),
        cur_config_id: -1,
    };
    for (enabled, code) in [("false", -123), ("true", -6)] {
        let server = Server::start_with(&[("reconfigEnabled", enabled)]);
        let mut raw = server.session();
        let z = mk(&mut raw, "/rc");
        let r = raw.call(OpCode::RECONFIG.0, &req);
        assert_eq!((r.zxid(), r.err(), r.body.len()), (z + 1, code, 0), "reconfigEnabled={enabled}");
        if enabled == "false" {
            let r = raw.call(OpCode::SASL.0, &SaslRequest { token: Bytes::from_static(b"token") });
            assert_eq!((r.zxid(), r.err()), (0, 0));
            assert_eq!(r.body, [0xff; 4], "a null token");
            raw.expect_no_events();
        }
    }
}

/// [3.9 ≠ 3.8] A standard and a persistent watch on one path of one connection: 3.9
/// (ZOOKEEPER-4466), which ferrozk follows, keeps both, so the persistent one survives the
/// first event; 3.8 keeps one mode per path, and the standard watch replaces it.
#[test]
fn standard_and_persistent_watch_on_one_path() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/both");
    assert_eq!(raw.call(OpCode::ADD_WATCH.0, &AddWatchRequest { path: "/both".into(), mode: 0 }).err(), 0);
    assert_eq!(get_data(&mut raw, "/both", true).err(), 0);
    let mut counts = vec![];
    for _ in 0..3 {
        let z = set_data(&mut raw, "/both", None, -1).zxid();
        let events = raw.take_events();
        assert!(events.iter().all(|e| *e == event(event_zxid(z), ev::DATA_CHANGED, "/both")), "{events:?}");
        counts.push(events.len());
    }
    let want = if is_zookeeper() { [1, 0, 0] } else { [1, 1, 1] };
    assert_eq!(counts, want, "one event per change, never two");
}

/// A first frame that is not a ConnectRequest closes the connection without a reply;
/// readOnly=true is answered with readOnly false by a read-write server.
#[test]
fn handshake_edge_cases() {
    let server = Server::start();
    let mut raw = Raw::open(server.addr());
    raw.send_payload(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    raw.expect_closed();

    let mut raw = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.read_only = Some(true);
    let resp = raw.connect(&req);
    assert_ne!(resp.session_id, 0);
    assert_eq!(resp.read_only, Some(false));
}

/// Every packet renews a session, and a session outlives its connection until it expires:
/// resuming within the timeout keeps the ephemerals.
#[test]
fn sessions_survive_while_pinged_and_across_reconnects() {
    let server = Server::start_with(&[("tickTime", "200")]);
    let mut raw = Raw::open(server.addr());
    assert_eq!(raw.handshake(400).time_out, 400);
    assert_eq!(create(&mut raw, "/alive", None, 1).err(), 0);
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(120));
        raw.send_bytes(-2, OpCode::PING.0, &[]);
        assert_eq!(raw.recv().expect("ping").header.xid, -2);
    }
    // 1.2 s of pings: three timeouts, still alive.
    drop(raw.stream_shutdown());
    std::thread::sleep(std::time::Duration::from_millis(150));
    let mut again = Raw::open(server.addr());
    let mut req = Raw::connect_request(400);
    req.session_id = raw.session_id;
    req.passwd = raw.passwd.clone().into();
    req.last_zxid_seen = 0;
    assert_eq!(again.connect(&req).session_id, raw.session_id);
    assert_eq!(stat(&mut again, "/alive").ephemeral_owner, raw.session_id);
}

/// ACL lists: duplicates are dropped; `auth` expands to every authenticated id of the
/// caller (not its ip); digest auth always succeeds, even without a colon.
#[test]
fn acl_fixup_and_auth_expansion() {
    let server = Server::start();
    let mut raw = server.session();
    let req = CreateRequest {
        path: "/dup".into(),
        data: None,
        acl: vec![Acl::world(perms::ALL), Acl::world(perms::ALL)],
        flags: 0,
    };
    assert_eq!(raw.call(OpCode::CREATE.0, &req).err(), 0);
    let acl = |raw: &mut Raw, path: &str| {
        let r = raw.call(OpCode::GET_ACL.0, &GetAclRequest { path: path.into() });
        assert_eq!(r.err(), 0);
        let mut acl = r.decode::<GetAclResponse>().acl;
        acl.sort_by(|a, b| a.id.id.cmp(&b.id.id));
        acl
    };
    assert_eq!(acl(&mut raw, "/dup"), [Acl::world(perms::ALL)]);

    for who in ["alice:pw", "bob:pw", "nocolon"] {
        let auth = AuthPacket { r#type: 0, scheme: "digest".into(), auth: Bytes::copy_from_slice(who.as_bytes()) };
        raw.send(-4, OpCode::AUTH.0, &auth);
        assert_eq!(raw.recv().expect("auth").err(), 0, "{who}");
    }
    let ip_auth = AuthPacket { r#type: 0, scheme: "ip".into(), auth: Bytes::from_static(b"whatever") };
    raw.send(-4, OpCode::AUTH.0, &ip_auth);
    assert_eq!(raw.recv().expect("auth").err(), 0);

    let req = CreateRequest {
        path: "/mine".into(),
        data: None,
        acl: vec![Acl { perms: perms::READ | perms::WRITE, id: jute::Id { scheme: "auth".into(), id: String::new() } }],
        flags: 0,
    };
    assert_eq!(raw.call(OpCode::CREATE.0, &req).err(), 0);
    let ids: Vec<(i32, String, String)> = acl(&mut raw, "/mine")
        .into_iter()
        .map(|a| (a.perms, a.id.scheme, a.id.id.split(':').next().unwrap().to_owned()))
        .collect();
    assert_eq!(
        ids,
        [
            (3, "digest".into(), "alice".into()),
            (3, "digest".into(), "bob".into()),
            (3, "digest".into(), "nocolon".into()),
        ]
    );
    let who = raw.call_bytes(OpCode::WHO_AM_I.0, &[]);
    let mut users: Vec<(String, String)> =
        who.decode::<WhoAmIResponse>().client_info.into_iter().map(|c| (c.auth_scheme, c.user)).collect();
    users.sort();
    assert_eq!(
        users,
        [
            ("digest".into(), "alice".into()),
            ("digest".into(), "bob".into()),
            ("digest".into(), "nocolon".into()),
            ("ip".into(), "127.0.0.1".into()),
        ]
    );
}

/// [3.9.2+/3.8.4+, CVE-2024-23944] An event reaches a connection only if it may READ the
/// node at firing time (the deleted node's ACL for NodeDeleted, the parent's for
/// NodeChildrenChanged), so a recursive watch on a readable parent does not reveal hidden
/// children. ferrozk follows 3.9.2+; so does Debian's ZooKeeper 3.8.0 package, which
/// carries the fix as a security patch.
#[test]
fn events_are_filtered_by_read_permission() {
    let server = Server::start();
    let mut owner = server.session();
    let auth = AuthPacket { r#type: 0, scheme: "digest".into(), auth: Bytes::from_static(b"owner:pw") };
    owner.send(-4, OpCode::AUTH.0, &auth);
    assert_eq!(owner.recv().expect("auth").err(), 0);
    let mine = || vec![Acl { perms: perms::ALL, id: jute::Id { scheme: "auth".into(), id: String::new() } }];
    mk(&mut owner, "/sec");
    let mut w = server.session();
    assert_eq!(w.call(OpCode::ADD_WATCH.0, &AddWatchRequest { path: "/sec".into(), mode: 1 }).err(), 0);
    assert_eq!(exists(&mut w, "/sec/hidden2", true).err(), NO_NODE);

    let hidden = CreateRequest { path: "/sec/hidden".into(), data: None, acl: mine(), flags: 0 };
    assert_eq!(owner.call(OpCode::CREATE.0, &hidden).err(), 0);
    assert_eq!(set_data(&mut owner, "/sec/hidden", Some(b"x"), -1).err(), 0);
    assert_eq!(delete(&mut owner, "/sec/hidden", -1).err(), 0);
    let hidden2 = CreateRequest { path: "/sec/hidden2".into(), data: None, acl: mine(), flags: 0 };
    assert_eq!(owner.call(OpCode::CREATE.0, &hidden2).err(), 0);
    let z_open = mk(&mut owner, "/sec/open");
    // A child of an unreadable parent: NodeCreated is checked against the child's ACL.
    let z_child = mk(&mut owner, "/sec/hidden2/open");

    let mut got = vec![];
    loop {
        let e = w.next_event();
        let last = e.path == "/sec/hidden2/open";
        got.push(e);
        if last {
            break;
        }
    }
    w.expect_no_events();
    assert_eq!(
        got,
        [
            event(event_zxid(z_open), ev::CREATED, "/sec/open"),
            event(event_zxid(z_child), ev::CREATED, "/sec/hidden2/open")
        ]
    );
}

/// Later ops of a multi see the earlier ones: sequential suffixes count creates made
/// earlier in the same multi, a node created earlier can be checked, changed, deleted and
/// given children; a failure rolls everything back.
#[test]
fn multi_ops_see_earlier_ops_of_the_same_multi() {
    let server = Server::start();
    let mut raw = server.session();
    let z = mk(&mut raw, "/mm");
    let c = |path: &str, flags: i32| MultiOp::Create { op: 1, req: create_req(path, None, flags) };
    let check = |path: &str, version: i32| MultiOp::Check(CheckVersionRequest { path: path.into(), version });
    let set = |path: &str| MultiOp::SetData(SetDataRequest { path: path.into(), data: None, version: -1 });
    let del = |path: &str| MultiOp::Delete(DeleteRequest { path: path.into(), version: -1 });
    let multi = MultiRequest {
        ops: vec![
            c("/mm/s-", 2),
            c("/mm/s-", 2),
            del("/mm/s-0000000000"),
            c("/mm/s-", 2),
            c("/mm/p", 0),
            check("/mm/p", 0),
            set("/mm/p"),
            check("/mm/p", 1),
            c("/mm/p/child", 0),
            del("/mm/p/child"),
            c("/mm/gone", 0),
            del("/mm/gone"),
        ],
    };
    let r = raw.call(OpCode::MULTI.0, &multi);
    assert_eq!((r.zxid(), r.err()), (z + 1, 0));
    let results = r.decode::<MultiResponse>().results;
    let paths: Vec<&str> = results
        .iter()
        .filter_map(|r| match r {
            MultiResult::Create { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(paths, ["/mm/s-0000000000", "/mm/s-0000000001", "/mm/s-0000000002", "/mm/p", "/mm/p/child", "/mm/gone"]);
    let MultiResult::SetData { stat: p } = &results[6] else { panic!("{results:?}") };
    assert_eq!((p.version, p.mzxid, p.czxid), (1, z + 1, z + 1));
    let mut names = get_children(&mut raw, "/mm", false).decode::<GetChildrenResponse>().children;
    names.sort();
    assert_eq!(names, ["p", "s-0000000001", "s-0000000002"]);
    let mm = stat(&mut raw, "/mm");
    // Five creates and two deletes under /mm.
    assert_eq!((mm.cversion, mm.num_children, mm.pzxid), (7, 3, z + 1));

    for (ops, at, code) in [
        (vec![c("/mm/e", 1), c("/mm/e/x", 0)], 1, -108),
        (vec![c("/mm/q", 0), c("/mm/q/r", 0), del("/mm/q")], 2, -111),
        (vec![del("/mm/p"), c("/mm/p/x", 0)], 1, NO_NODE),
        (vec![c("/mm/t", 0), c("/mm/t", 0)], 1, -110),
        (vec![c("/mm/u", 0), check("/mm/u", 1)], 1, -103),
    ] {
        let n = ops.len();
        let r = raw.call(OpCode::MULTI.0, &MultiRequest { ops });
        let want: Vec<MultiResult> = (0..n)
            .map(|i| MultiResult::Error {
                err: match i.cmp(&at) {
                    std::cmp::Ordering::Less => 0,
                    std::cmp::Ordering::Equal => code,
                    std::cmp::Ordering::Greater => -2,
                },
            })
            .collect();
        assert_eq!(r.decode::<MultiResponse>().results, want, "failing op {at}, code {code}");
    }
    let mut after = get_children(&mut raw, "/mm", false).decode::<GetChildrenResponse>().children;
    after.sort();
    assert_eq!(after, names, "failed multis change nothing");
    assert_eq!(stat(&mut raw, "/mm").cversion, 7);
}

/// A sequential create at the root, setData on the root.
#[test]
fn root_is_a_parent_like_any_other() {
    let server = Server::start();
    let mut raw = server.session();
    let r = create(&mut raw, "/", None, 2);
    assert_eq!(r.err(), 0);
    assert_eq!(r.decode::<CreateResponse>().path, "/0000000000");
    let r = set_data(&mut raw, "/", Some(b"root"), 0);
    assert_eq!(r.err(), 0);
    let s = r.decode::<SetDataResponse>().stat;
    assert_eq!((s.version, s.czxid, s.mzxid, s.num_children), (1, 0, r.zxid(), 2));
}

/// checkWatches/removeWatches by WatcherType when only a persistent watch is set: Any (3)
/// finds and removes every mode; an unknown type is MarshallingError.
#[test]
fn check_and_remove_watches_by_type_with_a_persistent_watch() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/rwa");
    mk(&mut raw, "/rwr");
    let add = |path: &str, mode| AddWatchRequest { path: path.into(), mode };
    assert_eq!(raw.call(OpCode::ADD_WATCH.0, &add("/rwa", 0)).err(), 0);
    assert_eq!(raw.call(OpCode::ADD_WATCH.0, &add("/rwr", 1)).err(), 0);
    let check = |path: &str, ty| CheckWatchesRequest { path: path.into(), r#type: ty };
    let mut codes = |path: &str| -> Vec<i32> {
        (0..=7).map(|ty| raw.call(OpCode::CHECK_WATCHES.0, &check(path, ty)).err()).collect()
    };
    let (persistent, recursive) = (codes("/rwa"), codes("/rwr"));
    if is_zookeeper() {
        // [3.9 ≠ 3.8] 3.8 knows neither modes in checkWatches nor the types Persistent (4)
        // and PersistentRecursive (5): any watch matches Children, Data and Any.
        assert_eq!(persistent, [-5, 0, 0, 0, -5, -5, -5, -5]);
        assert_eq!(recursive, [-5, 0, 0, 0, -5, -5, -5, -5]);
    } else {
        // 3.9: Children and Data match standard watches only; 4 and 5 match their mode.
        assert_eq!(persistent, [-5, -121, -121, 0, 0, -121, -5, -5]);
        assert_eq!(recursive, [-5, -121, -121, 0, -121, 0, -5, -5]);
    }
    for path in ["/rwa", "/rwr"] {
        let remove = RemoveWatchesRequest { path: path.into(), r#type: 3 };
        assert_eq!(raw.call(OpCode::REMOVE_WATCHES.0, &remove).err(), 0, "{path}");
        assert_eq!(raw.call(OpCode::REMOVE_WATCHES.0, &remove).err(), -121, "{path}");
        set_data(&mut raw, path, Some(b"x"), -1);
    }
    mk(&mut raw, "/rwa/c");
    mk(&mut raw, "/rwr/c");
    raw.expect_no_events();
}

/// A frame of exactly jute.maxbuffer (1,048,575) bytes is accepted; the reply may be
/// larger (the server does not check what it sends).
#[test]
fn frame_of_exactly_jute_maxbuffer_is_accepted() {
    let server = Server::start();
    let mut raw = server.session();
    mk(&mut raw, "/big");
    // Header 8, path 4 + 4, data length 4, version 4.
    let data_len = 1_048_575 - (8 + 4 + 4 + 4 + 4);
    let set = SetDataRequest { path: "/big".into(), data: Some(Bytes::from(vec![7u8; data_len])), version: -1 };
    assert_eq!(raw.call(OpCode::SET_DATA.0, &set).err(), 0);
    let r = get_data(&mut raw, "/big", false);
    assert_eq!(r.decode::<GetDataResponse>().stat.data_length as usize, data_len);
    assert_eq!(r.body.len(), 4 + data_len + 68);
}

/// Requests pipelined behind a closeSession are not answered: the reply, then the close.
#[test]
fn requests_after_close_session_are_not_answered() {
    let server = Server::start();
    let mut raw = server.session();
    let mut batch = Vec::new();
    for (xid, op, body) in [
        (5, OpCode::CLOSE_SESSION.0, vec![]),
        (6, OpCode::GET_DATA.0, GetDataRequest { path: "/".into(), watch: false }.to_bytes().to_vec()),
        (7, OpCode::CREATE.0, create_req("/late", None, 0).to_bytes().to_vec()),
    ] {
        let mut payload = RequestHeader { xid, r#type: op }.to_bytes().to_vec();
        payload.extend(body);
        batch.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        batch.extend(payload);
    }
    raw.send_raw(&batch);
    let r = raw.recv().expect("closeSession reply");
    assert_eq!((r.header.xid, r.zxid(), r.err()), (5, 2, 0));
    raw.expect_closed();
    let mut other = server.session();
    assert_eq!(exists(&mut other, "/late", false).err(), NO_NODE);
}

/// A session that sends nothing expires between its timeout and timeout + tickTime; its
/// connection is then closed without any frame.
#[test]
fn silent_session_expires_and_its_connection_closes() {
    let server = Server::start_with(&[("tickTime", "200")]);
    let mut raw = Raw::open(server.addr());
    assert_eq!(raw.handshake(400).time_out, 400);
    let since = std::time::Instant::now();
    raw.expect_closed();
    let waited = since.elapsed();
    assert!(
        (350..2000).contains(&waited.as_millis()),
        "closed after {waited:?}, expected between the 400 ms timeout and timeout + tickTime"
    );
}

/// A restart keeps the tree, the Stats and the sessions (with their ephemerals); zxids go
/// on from where they were.
#[test]
fn restart_keeps_tree_and_sessions() {
    let mut server = Server::start();
    let mut raw = server.session();
    assert_eq!(create(&mut raw, "/kept", Some(b"data"), 0).err(), 0);
    assert_eq!(create(&mut raw, "/kept/eph", None, 1).err(), 0);
    let z = set_data(&mut raw, "/kept", Some(b"data2"), 0).zxid();
    let before = stat(&mut raw, "/kept");
    let mut closed = server.session();
    closed.send_bytes(1, OpCode::CLOSE_SESSION.0, &[]);
    let r = closed.recv().expect("closeSession reply");
    assert_eq!(r.err(), 0);
    let closed_at = r.zxid();
    assert_eq!(closed_at, z + 2, "createSession and closeSession");

    server.restart();
    let mut again = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = raw.session_id;
    req.passwd = raw.passwd.clone().into();
    req.last_zxid_seen = closed_at;
    assert_eq!(again.connect(&req).session_id, raw.session_id, "the session survived");
    assert_eq!(stat(&mut again, "/kept"), before);
    let data = get_data(&mut again, "/kept", false).decode::<GetDataResponse>().data;
    assert_eq!(data.as_deref(), Some(&b"data2"[..]));
    assert_eq!(stat(&mut again, "/kept/eph").ephemeral_owner, raw.session_id);
    assert_eq!(last_zxid(&mut again), closed_at);
    let next = mk(&mut again, "/after");
    assert_eq!(
        next & 0xffff_ffff,
        (closed_at & 0xffff_ffff) + 1,
        "the counter goes on: {next:#x} after {closed_at:#x}"
    );

    let mut late = Raw::open(server.addr());
    let mut req = Raw::connect_request(30_000);
    req.session_id = closed.session_id;
    req.passwd = closed.passwd.clone().into();
    assert_eq!(late.connect(&req).session_id, 0, "a closed session stays closed");
}

/// Session passwords are Java's `Random(sessionId ^ 0xB3415C00)`, so a client of an Apache
/// ensemble can resume its session on ferrozk.
#[test]
fn session_password_is_javas_random() {
    let server = Server::start();
    for _ in 0..3 {
        let raw = server.session();
        assert_eq!(raw.passwd, common::java_password(raw.session_id), "session {:#x}", raw.session_id);
    }
}

/// Many requests pipelined in one write, reads mixed with writes that succeed and fail:
/// replies come back in request order, each read sees the session's earlier writes and
/// carries the zxid of the last one, and a write's event comes just before its reply.
#[test]
fn pipelined_reads_and_writes_are_answered_in_order() {
    const ROUNDS: i32 = 100;
    let server = Server::start();
    let mut raw = server.session();
    let z0 = mk(&mut raw, "/pl");
    let mut batch = Vec::new();
    let mut push = |xid: i32, op: OpCode, body: BytesMut| {
        let mut payload = RequestHeader { xid, r#type: op.0 }.to_bytes();
        payload.extend_from_slice(&body);
        batch.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        batch.extend_from_slice(&payload);
    };
    for i in 0..ROUNDS {
        let path = format!("/pl/{i}");
        let x = 100 + 5 * i;
        push(x, OpCode::CREATE, create_req(&path, Some(b"v"), 0).to_bytes());
        push(x + 1, OpCode::GET_DATA, GetDataRequest { path: path.clone(), watch: false }.to_bytes());
        push(x + 2, OpCode::CREATE, create_req(&path, None, 0).to_bytes());
        push(x + 3, OpCode::EXISTS, ExistsRequest { path: path.clone(), watch: true }.to_bytes());
        push(x + 4, OpCode::SET_DATA, SetDataRequest { path, data: None, version: 0 }.to_bytes());
    }
    raw.send_raw(&batch);
    for i in 0..ROUNDS {
        let path = format!("/pl/{i}");
        let x = 100 + 5 * i;
        // Three writes per round, each with its own zxid.
        let z = z0 + 1 + 3 * i64::from(i);
        let mut next = || raw.recv().expect("frame");
        let r = next();
        assert_eq!((r.header.xid, r.zxid(), r.err()), (x, z, 0));
        let r = next();
        assert_eq!((r.header.xid, r.zxid(), r.err()), (x + 1, z, 0), "the read sees the create");
        assert_eq!(r.decode::<GetDataResponse>().data.as_deref(), Some(&b"v"[..]));
        let r = next();
        assert_eq!((r.header.xid, r.zxid(), r.err()), (x + 2, z + 1, -110));
        let r = next();
        assert_eq!((r.header.xid, r.zxid(), r.err()), (x + 3, z + 1, 0));
        let e = next();
        assert_eq!((e.header.xid, e.zxid()), (-1, event_zxid(z + 2)));
        assert_eq!(e.decode::<WatcherEvent>().path, path);
        let r = next();
        assert_eq!((r.header.xid, r.zxid(), r.err()), (x + 4, z + 2, 0));
    }
    raw.expect_no_events();
}
