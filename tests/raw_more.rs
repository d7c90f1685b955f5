//! More handshake and watch cases: hand-built frames over a raw socket, asserting exact bytes and values for the subtle
//! cases of the client protocol (shared/reference/zookeeper-protocol.md; § numbers below
//! refer to it). Every test also runs against Apache ZooKeeper 3.8 with
//! `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows 3.9 instead, the check branches on
//! the target and says why.

mod common;

use bytes::{Bytes, BytesMut};
use common::ops::*;
use common::{ev, is_zookeeper, Raw, Server};
use jute::data::perms;
use jute::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use jute::proto::*;
use jute::{Acl, Field, OpCode, Record};

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
