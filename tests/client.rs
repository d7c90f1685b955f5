//! The server through a real client library (`zookeeper-client`), as applications see it:
//! CRUD with exact Stats, sequential names, ephemerals, watches, multi, ACLs, special node
//! types and error codes (shared/reference/zookeeper-protocol.md). Every test also runs
//! against Apache ZooKeeper 3.8 with `FERROZK_TEST_TARGET=zookeeper`; where ferrozk follows
//! 3.9 instead, the check branches on the target and says why.

mod common;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{is_zookeeper, Raw, Server};
use sha1::{Digest, Sha1};
use zookeeper_client::{
    Acl, Acls, AddWatchMode, AuthId, Client, CreateMode, CreateOptions, Error, EventType, MultiReadResult,
    MultiWriteError, MultiWriteResult, OneshotWatcher, Permission, PersistentWatcher, Stat, WatchedEvent,
};

/// Bound on every wait for the server or an event.
const WAIT: Duration = Duration::from_secs(5);
/// How long "no further event" is watched for.
const QUIET: Duration = Duration::from_millis(300);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn connect(server: &Server) -> Client {
    let connector = Client::connector().with_session_timeout(Duration::from_secs(10));
    within("connect", connector.connect(&server.hosts())).await.expect("connect")
}

fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

fn ephemeral() -> CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

/// Creates a persistent node with empty data; returns its Stat.
async fn mk(c: &Client, path: &str) -> Stat {
    within(path, c.create(path, b"", &persistent())).await.unwrap_or_else(|e| panic!("create {path}: {e}")).0
}

async fn stat(c: &Client, path: &str) -> Stat {
    within(path, c.check_stat(path)).await.expect("exists").unwrap_or_else(|| panic!("{path} missing"))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The zxid a notification carries. [3.9 ≠ 3.8] (§7): 3.9 sends the zxid of the txn that
/// fired it (ZOOKEEPER-4655) and ferrozk follows 3.9; 3.8 sends −1.
fn event_zxid(txn_zxid: i64) -> i64 {
    if is_zookeeper() {
        WatchedEvent::NO_ZXID
    } else {
        txn_zxid
    }
}

async fn oneshot(w: OneshotWatcher) -> (EventType, String, i64) {
    let e = within("event", w.changed()).await;
    (e.event_type, e.path, e.zxid)
}

/// Events of a persistent watcher until it has been quiet for [`QUIET`].
async fn drain(w: &mut PersistentWatcher) -> Vec<(EventType, String)> {
    let mut out = Vec::new();
    while let Ok(e) = tokio::time::timeout(QUIET, w.changed()).await {
        out.push((e.event_type, e.path));
    }
    out
}

/// `digest` ACL id for `user:password`: `user:BASE64(SHA1("user:password"))`.
fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap();
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

// ------------------------------------------------------------------- CRUD and Stat (§5)

/// Every Stat field after create, setData, a child create and delete, and setACL.
#[tokio::test]
async fn crud_with_exact_stats() {
    let server = Server::start();
    let c = connect(&server).await;
    let before = now_ms();
    let (created, seq) = c.create("/crud", b"hello", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    let z = created.czxid;
    assert!(z > 0);
    assert_eq!((created.mzxid, created.pzxid), (z, z), "pzxid starts at czxid");
    assert_eq!(created.ctime, created.mtime);
    assert!((before - 1000..=now_ms() + 1000).contains(&created.ctime));
    assert_eq!((created.version, created.cversion, created.aversion), (0, 0, 0));
    assert_eq!((created.ephemeral_owner, created.data_length, created.num_children), (0, 5, 0));
    let (data, got) = c.get_data("/crud").await.unwrap();
    assert_eq!((data.as_slice(), got), (&b"hello"[..], created));

    let set = c.set_data("/crud", b"world!", Some(0)).await.unwrap();
    assert_eq!(set, Stat { mzxid: z + 1, mtime: set.mtime, version: 1, data_length: 6, ..created });
    assert!(set.mtime >= created.ctime);
    // The same bytes again still count as a change.
    let same = c.set_data("/crud", b"world!", None).await.unwrap();
    assert_eq!((same.mzxid, same.version), (z + 2, 2));

    let child = mk(&c, "/crud/child").await;
    assert_eq!(child.czxid, z + 3);
    let (children, parent) = c.get_children("/crud").await.unwrap();
    assert_eq!(children, ["child"]);
    assert_eq!(
        parent,
        Stat { cversion: 1, num_children: 1, pzxid: z + 3, ..same },
        "a child create moves only cversion, numChildren and pzxid"
    );
    c.delete("/crud/child", Some(0)).await.unwrap();
    let parent = stat(&c, "/crud").await;
    assert_eq!((parent.cversion, parent.num_children, parent.pzxid), (2, 0, z + 4));
    assert_eq!(parent.mzxid, z + 2);

    let acl_set = c.set_acl("/crud", &[Acl::new(Permission::ALL, AuthId::anyone())], Some(0)).await.unwrap();
    assert_eq!(acl_set, Stat { aversion: 1, ..parent }, "setACL changes only aversion");
    assert_eq!(
        c.set_acl("/crud", &[Acl::new(Permission::ALL, AuthId::anyone())], Some(0)).await,
        Err(Error::BadVersion),
        "setACL's version is compared with aversion"
    );

    assert_eq!(c.delete("/crud", Some(0)).await, Err(Error::BadVersion));
    c.delete("/crud", Some(2)).await.unwrap();
    assert_eq!(c.check_stat("/crud").await.unwrap(), None);
    assert_eq!(c.get_data("/crud").await, Err(Error::NoNode));
}

/// The built-in nodes: `/` has empty data and cversion −1, `/zookeeper` cversion −2,
/// `/zookeeper/config` is world-readable only with aversion −1; all have zxids 0.
#[tokio::test]
async fn built_in_nodes() {
    let server = Server::start();
    let c = connect(&server).await;
    let (data, root) = c.get_data("/").await.unwrap();
    assert!(data.is_empty());
    assert_eq!((root.czxid, root.mzxid, root.ctime, root.cversion, root.num_children), (0, 0, 0, -1, 1));
    let (mut children, zk) = c.get_children("/zookeeper").await.unwrap();
    children.sort();
    assert_eq!(children, ["config", "quota"]);
    assert_eq!((zk.czxid, zk.cversion, zk.num_children), (0, -2, 2));
    let (acl, config) = c.get_acl("/zookeeper/config").await.unwrap();
    assert_eq!(acl, [Acl::new(Permission::READ, AuthId::anyone())]);
    assert_eq!((config.aversion, config.czxid), (-1, 0));
    assert_eq!(c.set_data("/zookeeper/config", b"x", None).await, Err(Error::NoAuth));
    // Clients may create under /zookeeper.
    mk(&c, "/zookeeper/mine").await;
    // getAllChildrenNumber("/") counts the /zookeeper subtree.
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 4);
}

// ------------------------------------------------------------------- sequential (§6)

/// The suffix is the parent's count of child creations: deletes do not move it back, and
/// every kind and prefix under the parent shares it.
#[tokio::test]
async fn sequential_suffix_counts_creations() {
    let server = Server::start();
    let c = connect(&server).await;
    mk(&c, "/seq").await;
    let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    for want in 0..3 {
        let (_, n) = c.create("/seq/n-", b"", &seq).await.unwrap();
        assert_eq!(n.into_i64(), want);
        assert_eq!(n.to_string(), format!("{want:010}"));
    }
    c.delete("/seq/n-0000000001", None).await.unwrap();
    let parent = stat(&c, "/seq").await;
    assert_eq!((parent.cversion, parent.num_children), (4, 2));
    let (_, n) = c.create("/seq/n-", b"", &seq).await.unwrap();
    assert_eq!(n.into_i64(), 3, "not reduced by the delete");
    mk(&c, "/seq/plain").await;
    let eseq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (_, e) = c.create("/seq/e-", b"", &eseq).await.unwrap();
    assert_eq!(e.into_i64(), 5, "shared by every prefix and kind");
    let mut names = c.list_children("/seq").await.unwrap();
    names.sort();
    assert_eq!(names, ["e-0000000005", "n-0000000000", "n-0000000002", "n-0000000003", "plain"]);
    // The name is fixed before the NodeExists check, and a failed create does not count.
    mk(&c, "/seq/n-0000000007").await;
    for _ in 0..2 {
        assert_eq!(c.create("/seq/n-", b"", &seq).await, Err(Error::NodeExists));
    }
    mk(&c, "/seq/bump").await;
    let (_, n) = c.create("/seq/n-", b"", &seq).await.unwrap();
    assert_eq!(n.into_i64(), 8);
}

// ------------------------------------------------------------------- ephemerals (§6, §9)

/// Closing a session deletes its ephemerals in one txn; another session gets NodeDeleted
/// and NodeChildrenChanged.
#[tokio::test]
async fn ephemerals_go_when_their_session_closes() {
    let server = Server::start();
    let owner = connect(&server).await;
    let other = connect(&server).await;
    mk(&owner, "/eph").await;
    let (a, _) = owner.create("/eph/a", b"a", &ephemeral()).await.unwrap();
    assert_eq!(a.ephemeral_owner, owner.session_id().0);
    let eseq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    owner.create("/eph/s-", b"", &eseq).await.unwrap();
    assert_eq!(owner.create("/eph/a/x", b"", &persistent()).await, Err(Error::NoChildrenForEphemerals));

    let (_, _, data_w) = other.get_and_watch_data("/eph/a").await.unwrap();
    let (_, child_w) = other.list_and_watch_children("/eph").await.unwrap();
    drop(owner);
    let (kind, path, z1) = oneshot(data_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDeleted, "/eph/a"));
    let (kind, path, z2) = oneshot(child_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeChildrenChanged, "/eph"));
    let parent = stat(&other, "/eph").await;
    assert_eq!(parent.num_children, 0);
    assert_eq!(parent.cversion, 4, "2 creates + 2 deletes");
    assert_eq!(z1, z2, "one closeSession txn");
    assert_eq!(z1, event_zxid(parent.pzxid));
    assert_eq!(other.list_ephemerals("/").await.unwrap(), Vec::<String>::new());
}

/// A silent session expires between its timeout and timeout + tickTime; its ephemerals
/// go, and a later resume gets the all-zero response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_loses_its_ephemerals() {
    let server = Server::start_with(&[("tickTime", "200")]);
    let watcher = connect(&server).await;
    let mut raw = Raw::open(server.addr());
    let resp = raw.handshake(400);
    assert_eq!(resp.time_out, 400, "2 × tickTime is the minimum");
    let req = jute::proto::CreateRequest { path: "/exp".into(), data: None, acl: vec![jute::Acl::world(31)], flags: 1 };
    assert_eq!(raw.call(jute::OpCode::CREATE.0, &req).err(), 0);
    let (_, _, w) = watcher.get_and_watch_data("/exp").await.unwrap();
    let session = (raw.session_id, raw.passwd.clone());
    let silent_since = Instant::now();
    drop(raw);
    let (kind, path, _) = oneshot(w).await;
    let waited = silent_since.elapsed();
    assert_eq!((kind, path.as_str()), (EventType::NodeDeleted, "/exp"));
    assert!(
        waited >= Duration::from_millis(350),
        "expired after {waited:?}: a closed socket alone must not end the session"
    );
    assert_eq!(watcher.check_stat("/exp").await.unwrap(), None);

    let mut late = Raw::open(server.addr());
    let mut req = Raw::connect_request(400);
    req.session_id = session.0;
    req.passwd = session.1.into();
    assert_eq!(late.connect(&req).session_id, 0);
    late.expect_closed();
}

/// getEphemerals lists only the caller's own ephemerals, filtered by path prefix.
#[tokio::test]
async fn get_ephemerals_lists_own_ephemerals() {
    let server = Server::start();
    let c = connect(&server).await;
    let other = connect(&server).await;
    mk(&c, "/ge").await;
    mk(&c, "/ge/p").await;
    for p in ["/ge/a", "/ge/p/b", "/gex"] {
        c.create(p, b"", &ephemeral()).await.unwrap();
    }
    other.create("/ge/theirs", b"", &ephemeral()).await.unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(c.list_ephemerals("/").await.unwrap()), ["/ge/a", "/ge/p/b", "/gex"]);
    // A plain string prefix, as ZooKeeper matches it: /gex starts with /ge.
    assert_eq!(sorted(c.list_ephemerals("/ge").await.unwrap()), ["/ge/a", "/ge/p/b", "/gex"]);
    assert_eq!(sorted(c.list_ephemerals("/ge/p").await.unwrap()), ["/ge/p/b"]);
    assert_eq!(c.list_ephemerals("/nothing").await.unwrap(), Vec::<String>::new());
    assert_eq!(other.list_ephemerals("/").await.unwrap(), ["/ge/theirs"]);
}

/// getAllChildrenNumber counts every node below the path.
#[tokio::test]
async fn get_all_children_number_counts_descendants() {
    let server = Server::start();
    let c = connect(&server).await;
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
    for p in ["/cnt", "/cnt/a", "/cnt/a/b", "/cnt/c"] {
        mk(&c, p).await;
    }
    assert_eq!(c.count_descendants_number("/cnt").await.unwrap(), 3);
    assert_eq!(c.count_descendants_number("/cnt/a/b").await.unwrap(), 0);
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 7);
    assert_eq!(c.count_descendants_number("/nope").await, Err(Error::NoNode));
}

// ------------------------------------------------------------------- watches (§7)

/// Data, exist and child watches fire with the right event and path.
#[tokio::test]
async fn data_exist_and_child_watches_fire() {
    let server = Server::start();
    let w = connect(&server).await;
    let writer = connect(&server).await;

    let (none, exist_w) = w.check_and_watch_stat("/wt").await.unwrap();
    assert_eq!(none, None);
    let created = mk(&writer, "/wt").await;
    assert_eq!(oneshot(exist_w).await, (EventType::NodeCreated, "/wt".into(), event_zxid(created.czxid)));

    let (_, _, data_w) = w.get_and_watch_data("/wt").await.unwrap();
    let set = writer.set_data("/wt", b"v1", None).await.unwrap();
    assert_eq!(oneshot(data_w).await, (EventType::NodeDataChanged, "/wt".into(), event_zxid(set.mzxid)));

    let (_, child_w) = w.list_and_watch_children("/wt").await.unwrap();
    let child = mk(&writer, "/wt/c").await;
    assert_eq!(oneshot(child_w).await, (EventType::NodeChildrenChanged, "/wt".into(), event_zxid(child.czxid)));
    let (_, _, child2_w) = w.get_and_watch_children("/wt").await.unwrap();
    writer.delete("/wt/c", None).await.unwrap();
    let (kind, path, _) = oneshot(child2_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeChildrenChanged, "/wt"));

    let (_, exist_w) = w.check_and_watch_stat("/wt").await.unwrap();
    writer.delete("/wt", None).await.unwrap();
    let (kind, path, _) = oneshot(exist_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDeleted, "/wt"));
    // Reads of a missing node that cannot watch it fail.
    assert_eq!(w.get_and_watch_data("/wt").await.err(), Some(Error::NoNode));
    assert_eq!(w.list_and_watch_children("/wt").await.err(), Some(Error::NoNode));
}

/// Standard watches are one-shot: after firing, a second change sends nothing. A raw
/// connection watches (so an extra event would be seen); the library writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_watches_fire_once() {
    use common::ev;
    let server = Server::start();
    let writer = connect(&server).await;
    mk(&writer, "/once").await;
    let mut w = server.session();
    let get_data = jute::proto::GetDataRequest { path: "/once".into(), watch: true };
    assert_eq!(w.call(jute::OpCode::GET_DATA.0, &get_data).err(), 0);
    let children = jute::proto::GetChildrenRequest { path: "/once".into(), watch: true };
    assert_eq!(w.call(jute::OpCode::GET_CHILDREN.0, &children).err(), 0);
    let exists = jute::proto::ExistsRequest { path: "/once/x".into(), watch: true };
    assert_eq!(w.call(jute::OpCode::EXISTS.0, &exists).err(), -101);

    let s1 = writer.set_data("/once", b"1", None).await.unwrap();
    writer.set_data("/once", b"2", None).await.unwrap();
    let x = mk(&writer, "/once/x").await;
    writer.set_data("/once/x", b"x", None).await.unwrap();
    writer.delete("/once/x", None).await.unwrap();
    mk(&writer, "/once/y").await;

    let events: Vec<(i32, String)> = (0..3).map(|_| w.next_event()).map(|e| (e.kind, e.path)).collect();
    assert_eq!(
        events,
        [(ev::DATA_CHANGED, "/once".into()), (ev::CREATED, "/once/x".into()), (ev::CHILDREN_CHANGED, "/once".into()),]
    );
    w.expect_no_events();
    assert!(s1.mzxid < x.czxid);
}

/// A persistent watch (addWatch mode 0) stays: NodeCreated, NodeDataChanged and
/// NodeDeleted for the path, NodeChildrenChanged for its children, and it survives the
/// node's deletion.
#[tokio::test]
async fn persistent_watch_stays_registered() {
    let server = Server::start();
    let c = connect(&server).await;
    let mut w = c.watch("/pw", AddWatchMode::Persistent).await.unwrap();
    mk(&c, "/pw").await;
    c.set_data("/pw", b"1", None).await.unwrap();
    mk(&c, "/pw/c").await;
    c.set_data("/pw/c", b"1", None).await.unwrap();
    mk(&c, "/pw/c/deeper").await;
    c.delete("/pw/c/deeper", None).await.unwrap();
    c.delete("/pw/c", None).await.unwrap();
    c.delete("/pw", None).await.unwrap();
    mk(&c, "/pw").await;
    use EventType::*;
    let p = |kind, path: &str| (kind, path.to_owned());
    assert_eq!(
        drain(&mut w).await,
        [
            p(NodeCreated, "/pw"),
            p(NodeDataChanged, "/pw"),
            p(NodeChildrenChanged, "/pw"),
            p(NodeChildrenChanged, "/pw"),
            p(NodeDeleted, "/pw"),
            p(NodeCreated, "/pw"),
        ]
    );
}

/// A persistent recursive watch (mode 1) sees the path and every descendant, and never
/// NodeChildrenChanged.
#[tokio::test]
async fn recursive_watch_covers_descendants() {
    let server = Server::start();
    let c = connect(&server).await;
    let mut w = c.watch("/rw", AddWatchMode::PersistentRecursive).await.unwrap();
    mk(&c, "/rw").await;
    mk(&c, "/rw/a").await;
    mk(&c, "/rw/a/b").await;
    c.set_data("/rw/a/b", b"1", None).await.unwrap();
    c.delete("/rw/a/b", None).await.unwrap();
    c.set_data("/rw", b"1", None).await.unwrap();
    mk(&c, "/rwx").await;
    mk(&c, "/other").await;
    use EventType::*;
    let p = |kind, path: &str| (kind, path.to_owned());
    assert_eq!(
        drain(&mut w).await,
        [
            p(NodeCreated, "/rw"),
            p(NodeCreated, "/rw/a"),
            p(NodeCreated, "/rw/a/b"),
            p(NodeDataChanged, "/rw/a/b"),
            p(NodeDeleted, "/rw/a/b"),
            p(NodeDataChanged, "/rw"),
        ]
    );
}

// ------------------------------------------------------------------- multi (§4)

/// A successful multi applies every op under one zxid; a failed one applies nothing and
/// names the failing op.
#[tokio::test]
async fn multi_success_and_failure() {
    let server = Server::start();
    let c = connect(&server).await;
    let m = mk(&c, "/m").await;
    mk(&c, "/m/old").await;
    let mut w = c.new_multi_writer();
    w.add_check_version("/m", 0).unwrap();
    w.add_create("/m/a", b"a", &persistent()).unwrap();
    w.add_set_data("/m", b"x", Some(0)).unwrap();
    w.add_delete("/m/old", None).unwrap();
    let results = w.commit().await.unwrap();
    let zm = m.czxid + 2;
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], MultiWriteResult::Check);
    let MultiWriteResult::Create { path, stat: a } = &results[1] else { panic!("{results:?}") };
    assert_eq!(path, "/m/a");
    if is_zookeeper() {
        // [3.9 ≠ 3.8] 3.8 answers create2 inside multi with a plain create result.
        assert!(a.is_invalid());
    } else {
        // 3.9 (ZOOKEEPER-4026), which ferrozk follows: the Stat of the new node.
        assert_eq!((a.czxid, a.data_length), (zm, 1));
    }
    let MultiWriteResult::SetData { stat: m2 } = &results[2] else { panic!("{results:?}") };
    assert_eq!((m2.mzxid, m2.version), (zm, 1));
    assert_eq!(results[3], MultiWriteResult::Delete);
    assert_eq!(stat(&c, "/m/a").await.czxid, zm);

    let mut w = c.new_multi_writer();
    w.add_create("/m/b", b"", &persistent()).unwrap();
    w.add_set_data("/m", b"y", Some(0)).unwrap();
    w.add_delete("/m/a", None).unwrap();
    assert_eq!(w.commit().await, Err(MultiWriteError::OperationFailed { index: 1, source: Error::BadVersion }));
    assert_eq!(c.check_stat("/m/b").await.unwrap(), None, "nothing applied");
    assert!(c.check_stat("/m/a").await.unwrap().is_some());
    let after = stat(&c, "/m").await;
    assert_eq!(after.version, 1);

    // A failed check fails the whole transaction.
    let mut cw = c.new_check_writer("/m", Some(0)).unwrap();
    cw.add_delete("/m/a", None).unwrap();
    assert!(cw.commit().await.is_err());
    assert!(c.check_stat("/m/a").await.unwrap().is_some());
}

/// multiRead answers each op on its own: a missing node fails only its op.
#[tokio::test]
async fn multi_read_gives_partial_results() {
    let server = Server::start();
    let c = connect(&server).await;
    c.create("/mr", b"data", &persistent()).await.unwrap();
    mk(&c, "/mr/k").await;
    let mut r = c.new_multi_reader();
    r.add_get_data("/mr").unwrap();
    r.add_get_children("/mr").unwrap();
    r.add_get_data("/nope").unwrap();
    r.add_get_children("/mr/k").unwrap();
    let results = r.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    let want = stat(&c, "/mr").await;
    assert!(
        matches!(&results[0], MultiReadResult::Data { data, stat } if data == b"data" && *stat == want),
        "{results:?}"
    );
    assert!(matches!(&results[1], MultiReadResult::Children { children } if children == &["k"]), "{results:?}");
    assert!(matches!(&results[2], MultiReadResult::Error { err: Error::NoNode }), "{results:?}");
    assert!(matches!(&results[3], MultiReadResult::Children { children } if children.is_empty()), "{results:?}");
}

// ------------------------------------------------------------------- ACLs (§8)

/// Digest auth and ACL checks: NoAuth per operation (delete checks the parent first),
/// getACL masks digest ids for callers without ADMIN, `auth` ACLs need an authenticated id.
#[tokio::test]
async fn digest_acls() {
    let server = Server::start();
    let alice = connect(&server).await;
    alice.auth("digest", b"alice:pw").await.unwrap();
    let nobody = connect(&server).await;
    let id = digest_id("alice:pw");

    let creator_all = CreateMode::Persistent.with_acls(Acls::creator_all());
    alice.create("/acl", b"secret", &creator_all).await.unwrap();
    let (acl, _) = alice.get_acl("/acl").await.unwrap();
    assert_eq!(acl, [Acl::new(Permission::ALL, AuthId::new("digest", &id))]);
    mk(&alice, "/acl/child").await;

    assert_eq!(nobody.get_data("/acl").await, Err(Error::NoAuth));
    assert_eq!(nobody.get_acl("/acl").await, Err(Error::NoAuth));
    assert_eq!(nobody.set_data("/acl", b"x", None).await, Err(Error::NoAuth));
    assert_eq!(nobody.list_children("/acl").await, Err(Error::NoAuth));
    assert_eq!(nobody.create("/acl/x", b"", &persistent()).await.err(), Some(Error::NoAuth));
    assert_eq!(
        nobody.delete("/acl/missing", None).await,
        Err(Error::NoAuth),
        "DELETE on the parent is checked before the child's existence"
    );
    if is_zookeeper() {
        // [3.8.0] exists needs no permission.
        assert!(nobody.check_stat("/acl").await.unwrap().is_some());
    } else {
        // [3.9.2+, ZOOKEEPER-2590] exists needs READ, as ferrozk does.
        assert_eq!(nobody.check_stat("/acl").await, Err(Error::NoAuth));
    }

    let wrong = connect(&server).await;
    wrong.auth("digest", b"alice:wrong").await.unwrap();
    assert_eq!(wrong.get_data("/acl").await, Err(Error::NoAuth));

    let mixed = [Acl::new(Permission::READ, AuthId::anyone()), Acl::new(Permission::ALL, AuthId::new("digest", &id))];
    alice.create("/acl2", b"", &CreateMode::Persistent.with_acls(Acls::new(&mixed))).await.unwrap();
    let (masked, _) = nobody.get_acl("/acl2").await.unwrap();
    assert_eq!(
        masked,
        [Acl::new(Permission::READ, AuthId::anyone()), Acl::new(Permission::ALL, AuthId::new("digest", "alice:x")),],
        "without ADMIN, digest ids are masked"
    );
    assert_eq!(alice.get_acl("/acl2").await.unwrap().0, mixed);
    assert!(nobody.get_data("/acl2").await.is_ok());
    assert_eq!(nobody.set_acl("/acl2", &mixed, None).await, Err(Error::NoAuth));

    // ip ACLs match the caller's address.
    let ip = |net: &str| [Acl::new(Permission::READ, AuthId::new("ip", net))];
    for (net, readable) in [("127.0.0.1", true), ("127.0.0.0/8", true), ("10.0.0.0/8", false)] {
        let acl = ip(net);
        let path = format!("/ip-{}", net.replace('/', "_"));
        nobody.create(&path, b"", &CreateMode::Persistent.with_acls(Acls::new(&acl))).await.unwrap();
        assert_eq!(nobody.get_data(&path).await.is_ok(), readable, "{net}");
    }
}

/// ACL lists the server refuses: InvalidACL.
#[tokio::test]
async fn invalid_acls_are_refused() {
    let server = Server::start();
    let c = connect(&server).await;
    let creator_all = CreateMode::Persistent.with_acls(Acls::creator_all());
    assert_eq!(
        c.create("/bad", b"", &creator_all).await.err(),
        Some(Error::InvalidAcl),
        "an auth ACL needs an authenticated id"
    );
    for (scheme, id) in
        [("world", "someone"), ("ip", "1.2.3.4/33"), ("ip", "not-an-ip"), ("digest", "no-colon"), ("nosuch", "x")]
    {
        let acl = [Acl::new(Permission::ALL, AuthId::new(scheme, id))];
        let opts = CreateMode::Persistent.with_acls(Acls::new(&acl));
        assert_eq!(c.create("/bad", b"", &opts).await.err(), Some(Error::InvalidAcl), "{scheme}:{id}");
    }
    mk(&c, "/good").await;
    let acl = [Acl::new(Permission::ALL, AuthId::new("world", "nobody"))];
    assert_eq!(c.set_acl("/good", &acl, None).await, Err(Error::InvalidAcl));
    assert_eq!(
        c.set_acl("/missing", &acl, None).await,
        Err(Error::InvalidAcl),
        "the ACL list is checked before the node"
    );
}

/// whoAmI lists the connection's ids: always `ip`, plus what auth added (once).
#[tokio::test]
async fn who_am_i_lists_auth_ids() {
    let server = Server::start();
    let c = connect(&server).await;
    let users = |v: Vec<zookeeper_client::AuthUser>| {
        let mut v: Vec<(String, String)> = v.iter().map(|u| (u.scheme().to_owned(), u.user().to_owned())).collect();
        v.sort();
        v
    };
    let ip = ("ip".to_owned(), "127.0.0.1".to_owned());
    assert_eq!(users(c.list_auth_users().await.unwrap()), std::slice::from_ref(&ip));
    c.auth("digest", b"alice:pw").await.unwrap();
    c.auth("digest", b"alice:pw").await.unwrap();
    assert_eq!(users(c.list_auth_users().await.unwrap()), [("digest".to_owned(), "alice".to_owned()), ip]);
    c.auth("digest", b"bob:pw").await.unwrap();
    assert_eq!(users(c.list_auth_users().await.unwrap()).len(), 3);
}

// ------------------------------------------------------------------- containers, TTL (§6)

/// Container and TTL nodes show ephemeralOwner 0 and may have children.
#[tokio::test]
async fn container_and_ttl_creates() {
    let server = Server::start();
    let c = connect(&server).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    let (s, _) = c.create("/ct", b"c", &container).await.unwrap();
    assert_eq!((s.ephemeral_owner, s.data_length), (0, 1));
    mk(&c, "/ct/child").await;

    let ttl = persistent().with_ttl(Duration::from_secs(3600));
    let (s, _) = c.create("/ttl", b"", &ttl).await.unwrap();
    assert_eq!(s.ephemeral_owner, 0);
    mk(&c, "/ttl/child").await;
    let seq_ttl = CreateMode::PersistentSequential.with_acls(Acls::anyone_all()).with_ttl(Duration::from_secs(3600));
    let (s, n) = c.create("/ttl/s-", b"", &seq_ttl).await.unwrap();
    assert_eq!((n.into_i64(), s.ephemeral_owner), (1, 0));
    assert_eq!(stat(&c, "/ttl").await.ephemeral_owner, 0);
}

/// The reaper deletes a container once its last child goes (never one that had none) and
/// a TTL node once it is older than its TTL; watchers see NodeDeleted.
#[tokio::test]
async fn containers_and_expired_ttl_nodes_are_reaped() {
    let server = Server::start_with(&[("znode.container.checkIntervalMs", "100")]);
    let c = connect(&server).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    c.create("/used", b"", &container).await.unwrap();
    c.create("/unused", b"", &container).await.unwrap();
    mk(&c, "/used/child").await;
    let ttl = persistent().with_ttl(Duration::from_millis(300));
    c.create("/short", b"", &ttl).await.unwrap();
    let (_, used_w) = c.check_and_watch_stat("/used").await.unwrap();
    let (_, ttl_w) = c.check_and_watch_stat("/short").await.unwrap();
    c.delete("/used/child", None).await.unwrap();
    let (kind, path, _) = oneshot(used_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDeleted, "/used"));
    let (kind, path, _) = oneshot(ttl_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDeleted, "/short"));
    assert!(c.check_stat("/unused").await.unwrap().is_some());
}

/// TTL creates need extendedTypesEnabled: otherwise Unimplemented.
#[tokio::test]
async fn ttl_needs_extended_types() {
    let server = Server::start_with(&[("extendedTypesEnabled", "false")]);
    let c = connect(&server).await;
    let ttl = persistent().with_ttl(Duration::from_secs(60));
    assert_eq!(c.create("/ttl", b"", &ttl).await.err(), Some(Error::Unimplemented));
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    assert!(c.create("/ct", b"", &container).await.is_ok());
}

// ------------------------------------------------------------------- errors (§4)

/// The error codes applications branch on.
#[tokio::test]
async fn error_codes() {
    let server = Server::start();
    let c = connect(&server).await;
    mk(&c, "/e").await;
    mk(&c, "/e/child").await;
    c.create("/eph", b"", &ephemeral()).await.unwrap();

    assert_eq!(c.get_data("/nope").await, Err(Error::NoNode));
    assert_eq!(c.set_data("/nope", b"", None).await, Err(Error::NoNode));
    assert_eq!(c.delete("/nope", None).await, Err(Error::NoNode));
    assert_eq!(c.list_children("/nope").await, Err(Error::NoNode));
    assert_eq!(c.get_acl("/nope").await, Err(Error::NoNode));
    assert_eq!(c.create("/nope/x", b"", &persistent()).await.err(), Some(Error::NoNode));
    assert_eq!(c.create("/e", b"", &persistent()).await.err(), Some(Error::NodeExists));
    assert_eq!(c.set_data("/e", b"", Some(3)).await, Err(Error::BadVersion));
    assert_eq!(c.delete("/e/child", Some(3)).await, Err(Error::BadVersion));
    assert_eq!(c.delete("/e", None).await, Err(Error::NotEmpty));
    assert_eq!(c.delete("/e", Some(9)).await, Err(Error::BadVersion), "a bad version beats NotEmpty");
    assert_eq!(c.create("/eph/x", b"", &persistent()).await.err(), Some(Error::NoChildrenForEphemerals));
    let world_other = [Acl::new(Permission::ALL, AuthId::new("world", "other"))];
    let opts = CreateMode::Persistent.with_acls(Acls::new(&world_other));
    assert_eq!(c.create("/e/x", b"", &opts).await.err(), Some(Error::InvalidAcl));
    // Paths the library lets through but the server refuses (Java validates UTF-16 chars,
    // so a character outside the BMP is a surrogate pair and invalid).
    for path in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert!(matches!(c.delete(path, None).await, Err(Error::BadArguments(_))), "delete {path}");
    }
    assert!(matches!(c.create("/e/\u{1F600}", b"", &persistent()).await, Err(Error::BadArguments(_))));
    assert!(matches!(c.set_data("/e/\u{1F600}", b"", None).await, Err(Error::BadArguments(_))));
}

/// A superDigest user passes every ACL check and shows as `super` in whoAmI.
#[tokio::test]
async fn super_digest_passes_every_acl() {
    let hash = digest_id("super:secret");
    // ZooKeeper turns an unknown zoo.cfg key K into the system property zookeeper.K, so its
    // zoo.cfg sets the super digest with the first key (the second would become
    // zookeeper.zookeeper.…). ferrozk currently reads only the second; both are given so
    // the test runs against either server.
    let cfg = [
        ("DigestAuthenticationProvider.superDigest", hash.as_str()),
        ("zookeeper.DigestAuthenticationProvider.superDigest", hash.as_str()),
    ];
    let server = Server::start_with(&cfg);
    let alice = connect(&server).await;
    alice.auth("digest", b"alice:pw").await.unwrap();
    let creator_all = CreateMode::Persistent.with_acls(Acls::creator_all());
    alice.create("/private", b"p", &creator_all).await.unwrap();

    let root = connect(&server).await;
    root.auth("digest", b"super:secret").await.unwrap();
    let mut who: Vec<(String, String)> =
        root.list_auth_users().await.unwrap().iter().map(|u| (u.scheme().to_owned(), u.user().to_owned())).collect();
    who.sort();
    assert_eq!(
        who,
        [("digest".into(), "super".into()), ("ip".into(), "127.0.0.1".into()), ("super".into(), "".into())]
    );
    assert_eq!(root.get_data("/private").await.unwrap().0, b"p");
    root.set_data("/private", b"q", None).await.unwrap();
    let (acl, _) = root.get_acl("/private").await.unwrap();
    assert_eq!(acl[0].id(), digest_id("alice:pw"), "super counts as ADMIN: no masking");
    root.delete("/private", None).await.unwrap();
    // An `auth` ACL expands to authenticated ids only: digest, not super (no provider) or ip.
    root.create("/by-super", b"", &creator_all).await.unwrap();
    let (acl, _) = root.get_acl("/by-super").await.unwrap();
    assert_eq!(acl, [Acl::new(Permission::ALL, AuthId::new("digest", &hash))]);
}

/// After its connection is lost, the library reconnects, resumes the session and sets its
/// watches again (SetWatches): changes made while it was away fire the watches at once,
/// and a watch that saw no change stays set. (Persistent watches are left out: this
/// library version never re-sends them, as `resend_watches` always picks SetWatches.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_survive_a_reconnect() {
    let server = Server::start();
    let c = connect(&server).await;
    let writer = connect(&server).await;
    mk(&writer, "/away").await;
    mk(&writer, "/kids").await;
    mk(&writer, "/later").await;
    let (_, _, away_w) = c.get_and_watch_data("/away").await.unwrap();
    let (_, born_w) = c.check_and_watch_stat("/born").await.unwrap();
    let (_, kids_w) = c.list_and_watch_children("/kids").await.unwrap();
    let (_, _, later_w) = c.get_and_watch_data("/later").await.unwrap();
    let mut state = c.state_watcher();

    // Take the session over from a raw connection (this closes the library's connection),
    // change watched nodes while the library is away, then let go.
    let id = c.session_id().0;
    let mut thief = Raw::open(server.addr());
    let mut req = Raw::connect_request(10_000);
    req.session_id = id;
    req.passwd = common::java_password(id).to_vec().into();
    assert_eq!(thief.connect(&req).session_id, id);
    writer.set_data("/away", b"changed", None).await.unwrap();
    mk(&writer, "/born").await;
    mk(&writer, "/kids/k").await;
    drop(thief);
    while within("reconnect", state.changed()).await != zookeeper_client::SessionState::SyncConnected {}

    let (kind, path, _) = oneshot(away_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDataChanged, "/away"));
    let (kind, path, _) = oneshot(born_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeCreated, "/born"));
    let (kind, path, _) = oneshot(kids_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeChildrenChanged, "/kids"));
    writer.set_data("/later", b"x", None).await.unwrap();
    let (kind, path, _) = oneshot(later_w).await;
    assert_eq!((kind, path.as_str()), (EventType::NodeDataChanged, "/later"));
    assert_eq!(c.get_data("/away").await.unwrap().0, b"changed");
}
