//! `ferrozk import-zk` against the real thing: Apache ZooKeeper 3.8 (Debian's package)
//! writes a data directory (snapCount=50, so there are several snapshots and logs after
//! the newest one) while a client creates every kind of node, ACL and data, and records
//! every znode as ZooKeeper serves it. ZooKeeper is then killed (-9, with a session still
//! holding ephemerals), the directory imported, `ferrozk serve` started on the result, and
//! every znode's data, Stat, ACL and children compared with what ZooKeeper served. Run for
//! uncompressed, `.gz` and `.snappy` snapshots. Skipped when ZooKeeper is not installed.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use common::{java_password, Raw};
use jute::multi::{MultiOp, MultiRequest};
use jute::proto::{
    AuthPacket, CheckVersionRequest, ConnectRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetAclRequest,
    GetAclResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse, SetAclRequest,
    SetDataRequest,
};
use jute::{Acl, Id, Stat};
use sha1::{Digest, Sha1};

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
/// How long a server may take to serve (a JVM on two busy cores is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const ALL: i32 = 31;
const READ: i32 = 1;
/// Persistent nodes created in bulk so ZooKeeper rolls its log and snapshots several times.
const BULK: usize = 120;

/// A child process killed (by its handle) and reaped on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A four-letter word's answer, or `None` if the server does not answer in time.
fn four_letter(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Waits until `srvr` shows a mode (ZooKeeper answers it before it serves sessions).
fn wait_serving(p: &mut Proc, port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("server exited with {status} during startup; log:\n{}", p.log_tail());
        }
        if four_letter(port, "srvr").is_some_and(|t| t.contains("Mode:")) {
            return;
        }
        assert!(Instant::now() < deadline, "not serving on {port} within {START_TIMEOUT:?}; log:\n{}", p.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(mut cmd: Command, log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    Proc { child: cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")), log: log.to_owned() }
}

fn start_zookeeper(dir: &Path, port: u16, compression: Option<&str>, cfg_extra: &str) -> Proc {
    let data = dir.join("zk-data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
         extendedTypesEnabled=true\n4lw.commands.whitelist=*\nsnapCount=50\n{cfg_extra}",
        data.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dzookeeper.jmx.log4j.disable=true"]);
    if let Some(m) = compression {
        cmd.arg(format!("-Dzookeeper.snapshot.compression.method={m}"));
    }
    cmd.args(["-cp", &format!("{ZK_JAR}:/usr/share/java/slf4j-simple.jar")]);
    cmd.arg("org.apache.zookeeper.server.ZooKeeperServerMain").arg(&cfg);
    let mut p = spawn(cmd, &dir.join("zk.log"));
    wait_serving(&mut p, port);
    p
}

fn start_ferrozk(dir: &Path, data: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrozk"));
    cmd.args(["serve", "--port", &port.to_string(), "--data-dir"]).arg(data).env("RUST_LOG", "info");
    let mut p = spawn(cmd, &dir.join("ferrozk.log"));
    wait_serving(&mut p, port);
    p
}

fn session(port: u16, timeout_ms: i32) -> Raw {
    let mut raw = Raw::open(addr(port));
    raw.handshake(timeout_ms);
    raw
}

fn add_digest_auth(raw: &mut Raw, user_password: &str) {
    let auth = AuthPacket { r#type: 0, scheme: "digest".into(), auth: Bytes::from(user_password.to_owned()) };
    raw.send(-4, 100, &auth);
    assert_eq!(raw.reply_to(-4).err(), 0, "addAuth");
}

/// `digest` ACL id for `user:password`: `user:BASE64(SHA1("user:password"))`.
fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(user_password.as_bytes()));
    format!("{user}:{hash}")
}

fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl { perms, id: Id { scheme: scheme.into(), id: id.into() } }
}

fn open_acl() -> Vec<Acl> {
    vec![acl(ALL, "world", "anyone")]
}

/// A create (op 1, 19 container) that must succeed; returns the created path.
fn create(raw: &mut Raw, op: i32, path: &str, data: Option<&[u8]>, acl: Vec<Acl>, flags: i32) -> String {
    let req = CreateRequest { path: path.into(), data: data.map(Bytes::copy_from_slice), acl, flags };
    let r = raw.call(op, &req);
    assert_eq!(r.err(), 0, "create {path} (op {op}, flags {flags})");
    r.decode::<jute::proto::CreateResponse>().path
}

fn call_ok<R: jute::Field>(raw: &mut Raw, op: i32, body: &R, what: &str) -> i64 {
    let r = raw.call(op, body);
    assert_eq!(r.err(), 0, "{what}");
    r.zxid()
}

/// Creates every kind of node, data and ACL the import must carry over.
/// Returns the sessions it leaves open (one holds ephemerals when ZooKeeper is killed).
fn every_kind(port: u16, zk_data: &Path) -> Vec<Raw> {
    let mut holder = session(port, 20_000);
    let mut w = session(port, 12_000);
    add_digest_auth(&mut w, "bob:secret");
    let open = open_acl;
    create(&mut w, 1, "/app", Some(b"app"), open(), 0);
    create(&mut w, 1, "/bulk", None, open(), 0);
    for i in 0..BULK {
        create(&mut w, 1, &format!("/bulk/n{i}"), Some(format!("data {i}").as_bytes()), open(), 0);
    }
    create(&mut w, 1, "/app/null", None, open(), 0);
    create(&mut w, 1, "/app/empty", Some(b""), open(), 0);
    create(&mut w, 1, "/app/big", Some(&vec![0xA5; 100_000]), open(), 0);
    create(&mut w, 1, "/app/ünïcödé", Some("ü".as_bytes()), open(), 0);
    // Sequential names under one parent, one deleted: the counter does not go back.
    create(&mut w, 1, "/app/seq", None, open(), 0);
    for _ in 0..3 {
        create(&mut w, 1, "/app/seq/s-", Some(b"s"), open(), 2);
    }
    call_ok(&mut w, 2, &DeleteRequest { path: "/app/seq/s-0000000001".into(), version: -1 }, "delete seq");
    // Ephemerals of the live session (one sequential).
    create(&mut w, 1, "/app/eph", None, open(), 0);
    create(&mut holder, 1, "/app/eph/holder", Some(b"mine"), open(), 1);
    create(&mut holder, 1, "/app/eph/e-", None, open(), 3);
    // A closed session's ephemeral is gone, its parent's pzxid moved.
    let mut gone = session(port, 8_000);
    create(&mut gone, 1, "/app/eph/gone", None, open(), 1);
    assert_eq!(gone.call_bytes(-11, &[]).err(), 0, "closeSession");
    drop(gone);
    // Containers (one with a child, one never used) and a TTL node.
    create(&mut w, 19, "/app/cont", Some(b"c"), open(), 4);
    create(&mut w, 1, "/app/cont/child", None, open(), 0);
    create(&mut w, 19, "/app/cont-unused", None, open(), 4);
    let ttl =
        CreateTtlRequest { path: "/app/ttl".into(), data: Some("t".into()), acl: open(), flags: 5, ttl: 3_600_000 };
    call_ok(&mut w, 21, &ttl, "createTTL");
    // ACLs: digest, auth (expanded to the caller's digest), read-only, mixed.
    let bob = digest_id("bob:secret");
    create(&mut w, 1, "/app/secret", Some(b"s3"), vec![acl(ALL, "digest", &bob)], 0);
    create(&mut w, 1, "/app/auth", Some(b"a"), vec![acl(ALL, "auth", "")], 0);
    create(&mut w, 1, "/app/readonly", Some(b"r"), vec![acl(READ, "world", "anyone")], 0);
    create(&mut w, 1, "/app/acl", None, open(), 0);
    let set_acl = SetAclRequest {
        path: "/app/acl".into(),
        acl: vec![acl(ALL, "digest", &bob), acl(READ, "world", "anyone")],
        version: 0,
    };
    call_ok(&mut w, 7, &set_acl, "setACL");
    // setData: twice, back to null, empty to something.
    for d in [Some(&b"v1"[..]), Some(&b"v2"[..])] {
        call_ok(
            &mut w,
            5,
            &SetDataRequest { path: "/app".into(), data: d.map(Bytes::copy_from_slice), version: -1 },
            "set /app",
        );
    }
    call_ok(&mut w, 5, &SetDataRequest { path: "/app/null".into(), data: None, version: -1 }, "set null");
    call_ok(&mut w, 5, &SetDataRequest { path: "/bulk/n3".into(), data: Some("x".into()), version: 0 }, "set n3");
    // Deletes.
    for i in [7, 8, 50] {
        call_ok(&mut w, 2, &DeleteRequest { path: format!("/bulk/n{i}"), version: -1 }, "delete bulk");
    }
    // A multi that succeeds, one that fails (logged as error entries), a failed create.
    let multi = MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: 1,
                req: CreateRequest { path: "/app/multi".into(), data: None, acl: open(), flags: 0 },
            },
            MultiOp::Create {
                op: 1,
                req: CreateRequest { path: "/app/multi/a".into(), data: Some("a".into()), acl: open(), flags: 0 },
            },
            MultiOp::SetData(SetDataRequest { path: "/app/multi".into(), data: Some("m".into()), version: 0 }),
            MultiOp::Delete(DeleteRequest { path: "/bulk/n9".into(), version: -1 }),
            MultiOp::Check(CheckVersionRequest { path: "/app".into(), version: 2 }),
        ],
    };
    call_ok(&mut w, 14, &multi, "multi");
    let failing = MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: 1,
                req: CreateRequest { path: "/app/never".into(), data: None, acl: open(), flags: 0 },
            },
            MultiOp::Create { op: 1, req: CreateRequest { path: "/app".into(), data: None, acl: open(), flags: 0 } },
        ],
    };
    w.call(14, &failing);
    let exists = w.call(1, &CreateRequest { path: "/app".into(), data: None, acl: open(), flags: 0 });
    assert_eq!(exists.err(), -110);
    log_tail(&mut w, zk_data);
    vec![holder, w]
}

/// A log tail to replay: writes until the newest log (named by its first zxid) holds 10 to
/// 20 txns. ZooKeeper rolls the log (and snapshots) only after more than snapCount/2 = 25
/// txns in it, so these stay after the newest snapshot. (With more, the log may just have
/// rolled: the next file appears only with the next txn.)
fn log_tail(w: &mut Raw, zk_data: &Path) {
    create(w, 1, "/tail", None, open_acl(), 0);
    for n in 0.. {
        let set = SetDataRequest { path: "/tail".into(), data: Some(format!("{n}").into()), version: -1 };
        let zxid = call_ok(w, 5, &set, "set /tail");
        if newest_file_zxid(&zk_data.join("version-2"), "log.").is_some_and(|l| (9..20).contains(&(zxid - l))) {
            break;
        }
        assert!(n < 200, "ZooKeeper does not roll its log");
    }
}

/// Four sessions race creates, deletes, setData, ephemerals and sequentials over a few
/// paths while ZooKeeper snapshots a tree with 4 MB of data every 25–50 txns, so the
/// snapshots are fuzzy: they hold txns after their zxid, which the import replays again
/// (ZooKeeper's own rules make that harmless). Two sessions are closed, two stay open.
fn concurrent(port: u16, zk_data: &Path) -> Vec<Raw> {
    let mut w = session(port, 12_000);
    create(&mut w, 1, "/fat", None, open_acl(), 0);
    for i in 0..40u8 {
        create(&mut w, 1, &format!("/fat/f{i}"), Some(&vec![i; 100_000]), open_acl(), 0);
    }
    create(&mut w, 1, "/c", None, open_acl(), 0);
    let racers: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut s = session(port, 10_000 + 1000 * t as i32);
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for i in 0..250 {
                    // xorshift64: a fixed sequence per thread (the interleaving is not).
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    race_op(&mut s, t, i, rng);
                }
                s
            })
        })
        .collect();
    let mut sessions: Vec<Raw> = racers.into_iter().map(|h| h.join().expect("racer")).collect();
    for mut s in sessions.drain(..2) {
        assert_eq!(s.call_bytes(-11, &[]).err(), 0, "closeSession");
    }
    log_tail(&mut w, zk_data);
    sessions.push(w);
    sessions
}

/// One random operation; failures (NodeExists, NoNode, NotEmpty) are part of the test:
/// ZooKeeper logs them as error txns.
fn race_op(s: &mut Raw, t: u64, i: u32, rng: u64) {
    let path = format!("/c/k{}", rng % 12);
    // Large values make the snapshot spend long on /c, so racing creates and deletes
    // there land while it is written.
    let mut value = format!("t{t} i{i} ").into_bytes();
    value.resize(50_000, b'.');
    let data = Some(Bytes::from(value));
    match (rng >> 8) % 7 {
        0 | 1 => {
            s.call(1, &CreateRequest { path, data, acl: open_acl(), flags: 0 });
        }
        2 => {
            s.call(5, &SetDataRequest { path, data, version: -1 });
        }
        3 => {
            s.call(2, &DeleteRequest { path, version: -1 });
        }
        4 => {
            s.call(1, &CreateRequest { path: format!("{path}/e{t}"), data: None, acl: open_acl(), flags: 1 });
        }
        5 => {
            s.call(1, &CreateRequest { path: "/c/s-".into(), data, acl: open_acl(), flags: 2 });
        }
        _ => {
            s.call(5, &SetDataRequest { path: format!("/fat/f{}", rng % 40), data, version: -1 });
        }
    }
}

/// Deletes every snapshot in `dir` but the middle one by zxid.
fn keep_middle_snapshot(dir: &Path) {
    let mut snaps: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            let hex = name.strip_prefix("snapshot.")?.split('.').next()?.to_owned();
            Some((i64::from_str_radix(&hex, 16).ok()?, path))
        })
        .collect();
    snaps.sort();
    let keep = snaps.len() / 2;
    for (i, (_, path)) in snaps.iter().enumerate() {
        if i != keep {
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// The highest zxid among `prefix<hex>[.ext]` file names in `dir`.
fn newest_file_zxid(dir: &Path, prefix: &str) -> Option<i64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let hex = name.strip_prefix(prefix)?.split('.').next()?.to_owned();
            i64::from_str_radix(&hex, 16).ok()
        })
        .max()
}

/// One znode as a server serves it: getData, getACL, getChildren (each its reply or error).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    data: Result<(Option<Bytes>, Stat), i32>,
    acl: Result<(Vec<Acl>, Stat), i32>,
    children: Result<Vec<String>, i32>,
}

fn walk(raw: &mut Raw) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    let mut stack = vec![String::from("/")];
    while let Some(p) = stack.pop() {
        let r = raw.call(4, &GetDataRequest { path: p.clone(), watch: false });
        let data = if r.err() == 0 {
            let d: GetDataResponse = r.decode();
            Ok((d.data, d.stat))
        } else {
            Err(r.err())
        };
        let r = raw.call(6, &GetAclRequest { path: p.clone() });
        let acl = if r.err() == 0 {
            let a: GetAclResponse = r.decode();
            Ok((a.acl, a.stat))
        } else {
            Err(r.err())
        };
        let r = raw.call(8, &GetChildrenRequest { path: p.clone(), watch: false });
        let children = if r.err() == 0 {
            let mut c = r.decode::<GetChildrenResponse>().children;
            c.sort();
            for name in &c {
                stack.push(if p == "/" { format!("/{name}") } else { format!("{p}/{name}") });
            }
            Ok(c)
        } else {
            Err(r.err())
        };
        out.insert(p, Seen { data, acl, children });
    }
    out
}

fn srvr_zxid(port: u16) -> i64 {
    let text = four_letter(port, "srvr").expect("srvr");
    let line = text.lines().find_map(|l| l.strip_prefix("Zxid: ")).unwrap_or_else(|| panic!("no Zxid in {text}"));
    i64::from_str_radix(line.trim().trim_start_matches("0x"), 16).unwrap()
}

/// The `name:` line of the import report.
fn report_line<'a>(report: &'a str, name: &str) -> &'a str {
    report.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("no {name} line in:\n{report}")).trim()
}

fn first_number(s: &str) -> u64 {
    s.split(|c: char| !c.is_ascii_digit()).find(|t| !t.is_empty()).unwrap().parse().unwrap()
}

/// One run: how ZooKeeper is set up, what the clients do, where the import starts.
struct Case {
    /// `zookeeper.snapshot.compression.method`, if not the default.
    compression: Option<&'static str>,
    /// Extra zoo.cfg lines.
    zoo_cfg: &'static str,
    /// Returns the sessions it leaves open.
    workload: fn(u16, &Path) -> Vec<Raw>,
    start: Start,
}

/// Which snapshot the import starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The newest, as ZooKeeper would.
    Newest,
    /// The middle one by zxid (the others are deleted first), so most of the log is
    /// replayed over a snapshot taken while writes were racing.
    Middle,
}

/// Runs the workload on ZooKeeper, records what it serves, kills it, imports, serves the
/// result with ferrozk and compares.
fn scenario(case: Case) {
    let Case { compression, zoo_cfg, workload, start } = case;
    if !Path::new(ZK_JAR).exists() {
        eprintln!("SKIPPED: Apache ZooKeeper is not installed ({ZK_JAR} missing; apt-get install zookeeper)");
        return;
    }
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("ferrozk-import-").tempdir().unwrap();
    let zk_port = free_port();
    let mut zk = start_zookeeper(dir.path(), zk_port, compression, zoo_cfg);
    let zk_data = dir.path().join("zk-data");
    let mut open = workload(zk_port, &zk_data);
    let mut reader = session(zk_port, 15_000);
    add_digest_auth(&mut reader, "bob:secret");
    let served = walk(&mut reader);
    let zk_zxid = srvr_zxid(zk_port);
    open.push(reader);
    let live: BTreeMap<i64, i32> = open.iter().map(|r| (r.session_id, r.timeout_ms)).collect();
    // Killed with the sessions open: their ephemerals must survive the import.
    let _ = zk.child.kill();
    let _ = zk.child.wait();
    let snapshots: Vec<String> = std::fs::read_dir(zk_data.join("version-2"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let suffix = compression.map(|c| format!(".{c}")).unwrap_or_default();
    assert!(
        snapshots.iter().filter(|n| n.starts_with("snapshot.") && n.ends_with(&suffix)).count() >= 2
            && snapshots.iter().filter(|n| n.starts_with("log.")).count() >= 2,
        "expected several snapshots{suffix} and logs: {snapshots:?}"
    );

    if start == Start::Middle {
        keep_middle_snapshot(&zk_data.join("version-2"));
    }
    let fz_data = dir.path().join("ferrozk-data");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrozk"))
        .args(["import-zk", "--from"])
        .arg(&zk_data)
        .arg("--to")
        .arg(&fz_data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let progress = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import-zk failed:\n{progress}\n{report}");
    eprintln!("{report}");
    assert!(report_line(&report, "snapshot:").contains(&suffix), "{report}");
    assert!(first_number(report_line(&report, "txns:")) >= 10, "the log tail was not replayed:\n{report}");
    let digests = report_line(&report, "digests:");
    assert!(first_number(digests) > 0 && digests.ends_with(" 0 mismatched"), "{report}");
    assert!(!report.contains("warning:") && !report.contains("torn tail:"), "{report}");

    // Sessions and their timeouts, read straight from the written data directory.
    let opts = ferrozk::storage::StorageOptions::new(&fz_data, &fz_data);
    let state = ferrozk::storage::recover(&opts, ferrozk::storage::RecoveryMode::Strict).unwrap().state;
    assert_eq!(state.sessions, live, "sessions with their timeouts");
    assert_eq!(state.last_zxid, zk_zxid);
    // Clients see owner 0 for containers and TTL nodes; the stored markers must survive.
    let owner = |p: &str| state.tree.get(p).map(|n| n.stat.ephemeral_owner);
    if served.contains_key("/app/ttl") {
        assert_eq!(owner("/app/cont"), Some(ferrozk::tree::CONTAINER_OWNER));
        assert_eq!(owner("/app/ttl"), Some(ferrozk::tree::TTL_MASK | 3_600_000));
    }

    let fz_port = free_port();
    let _fz = start_ferrozk(dir.path(), &fz_data, fz_port);
    assert_eq!(srvr_zxid(fz_port), zk_zxid, "last zxid");
    let mut fz_reader = session(fz_port, 15_000);
    add_digest_auth(&mut fz_reader, "bob:secret");
    let imported = walk(&mut fz_reader);
    for (path, zk_seen) in &served {
        assert_eq!(imported.get(path), Some(zk_seen), "{path}: ferrozk (left) vs ZooKeeper (right)");
    }
    let extra: Vec<&String> = imported.keys().filter(|p| !served.contains_key(*p)).collect();
    assert!(extra.is_empty(), "nodes ZooKeeper did not serve: {extra:?}");

    // Every open session lives on: it resumes with ZooKeeper's password, and can delete
    // its own ephemerals.
    for s in &open {
        let mut resumed = Raw::open(addr(fz_port));
        let resp = resumed.connect(&ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: zk_zxid,
            time_out: s.timeout_ms,
            session_id: s.session_id,
            passwd: Bytes::copy_from_slice(&java_password(s.session_id)),
            read_only: Some(false),
        });
        assert_eq!(resp.session_id, s.session_id, "session {:#x} did not survive the import", s.session_id);
        let own = served.iter().filter(|(_, n)| n.data.as_ref().is_ok_and(|d| d.1.ephemeral_owner == s.session_id));
        for (path, _) in own {
            call_ok(&mut resumed, 2, &DeleteRequest { path: path.clone(), version: -1 }, "delete own ephemeral");
        }
    }
    eprintln!(
        "compared {} znodes (data, Stat, ACL, children) in {:?}{}",
        served.len(),
        started.elapsed(),
        compression.map(|c| format!(" with {c} snapshots")).unwrap_or_default()
    );
}

#[test]
fn import_plain_snapshots() {
    scenario(Case { compression: None, zoo_cfg: "", workload: every_kind, start: Start::Newest });
}

#[test]
fn import_gzip_snapshots() {
    scenario(Case { compression: Some("gz"), zoo_cfg: "", workload: every_kind, start: Start::Newest });
}

#[test]
fn import_snappy_snapshots() {
    scenario(Case { compression: Some("snappy"), zoo_cfg: "", workload: every_kind, start: Start::Newest });
}

#[test]
fn import_after_concurrent_writes() {
    // Without fsync the racing writes come fast enough to land while a snapshot is being
    // written (a kill -9 loses nothing the kernel has).
    scenario(Case { compression: None, zoo_cfg: "forceSync=no\n", workload: concurrent, start: Start::Middle });
}
