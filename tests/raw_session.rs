//! Handshake, special xids and framing: hand-built frames over a raw socket, asserting exact bytes and values for the subtle
//! cases of the client protocol (shared/reference/zookeeper-protocol.md; § numbers below
//! refer to it). Every test also runs against Apache ZooKeeper 3.8 with
//! `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows 3.9 instead, the check branches on
//! the target and says why.

mod common;

use bytes::{Bytes, BytesMut};
use common::ops::*;
use common::{ev, Raw, Server};
use jute::proto::*;
use jute::{Field, OpCode, Record};

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
