//! Watches, limits and four-letter words: hand-built frames over a raw socket, asserting exact bytes and values for the subtle
//! cases of the client protocol (shared/reference/zookeeper-protocol.md; § numbers below
//! refer to it). Every test also runs against Apache ZooKeeper 3.8 with
//! `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows 3.9 instead, the check branches on
//! the target and says why.

mod common;

use common::ops::*;
use common::{ev, four_letter, Raw, Reply, Server};
use jute::proto::*;
use jute::{OpCode, Record};

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
