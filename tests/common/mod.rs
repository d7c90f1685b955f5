//! Test harness shared by the integration tests: starts a real server process on a free
//! loopback port and speaks the wire protocol to it by hand.
//!
//! The server under test is the `ferrozk` binary of this package, or Apache ZooKeeper 3.8
//! (Debian's `zookeeper` package) when `FERROZK_TEST_TARGET=zookeeper` is set, so every test
//! can be checked against the real server:
//!
//! ```text
//! FERROZK_TEST_TARGET=zookeeper cargo test --test raw_session --test raw_ops --test raw_watches --test raw_more
//! ```
//!
//! Both read the same zoo.cfg. Every wait is bounded, and the child process is killed by
//! its handle when the [`Server`] is dropped (also when a test panics).

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, WatcherEvent};
use jute::{Field, Record};

/// How long a server may take to start serving (a JVM on two busy cores is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long any single read on a raw connection may block.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at finding a free port before giving up (another process may grab it first).
const START_ATTEMPTS_MAX: u32 = 3;
/// Where Debian installs ZooKeeper's jars.
const ZK_JAVA_DIR: &str = "/usr/share/java";

/// Which server the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This package's `ferrozk` binary (the default).
    Ferrozk,
    /// Apache ZooKeeper 3.8 (`FERROZK_TEST_TARGET=zookeeper`).
    Zookeeper,
}

/// The target chosen by `FERROZK_TEST_TARGET` (`ferrozk` or `zookeeper`).
///
/// # Panics
/// On any other value, so a typo does not silently test the wrong server.
pub fn target() -> Target {
    match std::env::var("FERROZK_TEST_TARGET") {
        Err(_) => Target::Ferrozk,
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "ferrozk" => Target::Ferrozk,
            "zookeeper" | "zk" => Target::Zookeeper,
            other => panic!("FERROZK_TEST_TARGET must be ferrozk or zookeeper, not {other:?}"),
        },
    }
}

/// True when running against Apache ZooKeeper 3.8.
pub fn is_zookeeper() -> bool {
    target() == Target::Zookeeper
}

/// One server process listening on 127.0.0.1:`port`, killed on drop.
pub struct Server {
    child: Child,
    port: u16,
    log_path: PathBuf,
    cfg_path: PathBuf,
    overrides: Vec<(String, String)>,
    // Dropped after the child is killed (fields drop in order after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with the default test configuration (tickTime=2000, every
    /// four-letter word allowed, extended types on).
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server whose zoo.cfg has `overrides` on top of the defaults
    /// (e.g. `[("tickTime", "200")]`).
    ///
    /// # Panics
    /// When the server does not serve within [`START_TIMEOUT`] or exits during startup.
    pub fn start_with(overrides: &[(&str, &str)]) -> Server {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS_MAX {
            match Server::try_start(overrides) {
                Ok(s) => return s,
                // Most likely the port was taken between probing and binding: try another.
                Err(e) => last_error = e,
            }
        }
        panic!("{:?} did not start: {last_error}", target());
    }

    fn try_start(overrides: &[(&str, &str)]) -> Result<Server, String> {
        let dir = tempfile::Builder::new().prefix("ferrozk-it-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).map_err(|e| format!("data dir: {e}"))?;
        let port = free_port();
        let cfg_path = dir.path().join("zoo.cfg");
        std::fs::write(&cfg_path, zoo_cfg(port, &data_dir, overrides)).map_err(|e| format!("zoo.cfg: {e}"))?;
        let log_path = dir.path().join("server.log");
        let overrides: Vec<(String, String)> =
            overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let child = spawn(&cfg_path, &log_path, &overrides)?;
        let mut server = Server { child, port, log_path, cfg_path, overrides, _dir: dir };
        server.wait_serving()?;
        Ok(server)
    }

    /// Kills the server and starts it again on the same port, zoo.cfg and data dir.
    ///
    /// # Panics
    /// When it does not serve again within [`START_TIMEOUT`].
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.cfg_path, &self.log_path, &self.overrides).unwrap_or_else(|e| panic!("restart: {e}"));
        self.wait_serving().unwrap_or_else(|e| panic!("restart: {e}"));
    }

    /// Polls `srvr` until the server reports a mode: ZooKeeper answers four-letter words a
    /// moment before it serves sessions, and says "not currently serving" until then.
    /// `srvr` is always whitelisted and creates no session, so zxids start untouched.
    fn wait_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status} during startup; log:\n{}", self.log_tail()));
            }
            if let Ok(text) = four_letter_within(self.addr(), "srvr", Duration::from_secs(2)) {
                if text.contains("Mode:") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not serving on {} within {START_TIMEOUT:?}; log:\n{}",
                    self.addr(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A connect string for clients: `127.0.0.1:<port>`.
    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The last lines the server logged (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A raw connection with an established session (timeout 30 s requested).
    pub fn session(&self) -> Raw {
        let mut raw = Raw::open(self.addr());
        raw.handshake(30_000);
        raw
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only this child, by its handle; then reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server process, appending its output to `log_path`.
fn spawn(cfg_path: &Path, log_path: &Path, overrides: &[(String, String)]) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).map_err(|e| format!("log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("log: {e}"))?;
    let mut cmd = server_command(cfg_path, overrides);
    cmd.current_dir(cfg_path.parent().expect("zoo.cfg has a directory")).stdin(Stdio::null()).stdout(log).stderr(log2);
    cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))
}

/// A port that was free on the loopback interface a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn zoo_cfg(port: u16, data_dir: &Path, overrides: &[(&str, &str)]) -> String {
    let mut lines: Vec<(String, String)> = [
        ("tickTime", "2000".to_owned()),
        ("dataDir", data_dir.display().to_string()),
        ("clientPort", port.to_string()),
        ("clientPortAddress", "127.0.0.1".to_owned()),
        ("4lw.commands.whitelist", "*".to_owned()),
        ("extendedTypesEnabled", "true".to_owned()),
        // Apache ZooKeeper would otherwise start Jetty on port 8080.
        ("admin.enableServer", "false".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        match lines.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = (*v).to_owned(),
            None => lines.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

fn server_command(cfg: &Path, overrides: &[(String, String)]) -> Command {
    match target() {
        Target::Ferrozk => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_ferrozk"));
            c.arg("serve").arg("--config").arg(cfg);
            c.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or("info".into()));
            c
        }
        Target::Zookeeper => {
            // zookeeper.jar's manifest lists the other jars it needs; slf4j-simple logs.
            let cp = format!("{ZK_JAVA_DIR}/zookeeper.jar:{ZK_JAVA_DIR}/slf4j-simple.jar");
            let mut c = Command::new("java");
            c.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dzookeeper.jmx.log4j.disable=true"]);
            // ZooKeeperServerMain reads the container reaper's settings from system
            // properties without the "zookeeper." prefix zoo.cfg keys get; ferrozk reads
            // them from zoo.cfg.
            for (k, v) in overrides {
                if k.starts_with("znode.container.") {
                    c.arg(format!("-D{k}={v}"));
                }
            }
            c.args(["-cp", &cp, "org.apache.zookeeper.server.ZooKeeperServerMain"]).arg(cfg);
            c
        }
    }
}

/// Sends a four-letter word and reads the answer until the server closes.
///
/// # Panics
/// When the server does not answer and close within [`READ_TIMEOUT`].
pub fn four_letter(addr: SocketAddr, cmd: &str) -> String {
    four_letter_within(addr, cmd, READ_TIMEOUT).unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn four_letter_within(addr: SocketAddr, cmd: &str, limit: Duration) -> std::io::Result<String> {
    let deadline = Instant::now() + limit;
    let mut s = TcpStream::connect_timeout(&addr, limit)?;
    s.write_all(cmd.as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "no close"));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One reply or notification as read off the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub header: ReplyHeader,
    /// Everything after the 16-byte header.
    pub body: Vec<u8>,
}

impl Reply {
    /// Decodes the body as `T`.
    ///
    /// # Panics
    /// When the body does not decode.
    pub fn decode<T: Record>(&self) -> T {
        T::from_bytes(&self.body).unwrap_or_else(|e| panic!("decode {}: {e}", std::any::type_name::<T>()))
    }

    /// The reply's err code.
    pub fn err(&self) -> i32 {
        self.header.err
    }

    /// The reply's zxid.
    pub fn zxid(&self) -> i64 {
        self.header.zxid
    }
}

/// A notification (xid −1) with the zxid its header carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub zxid: i64,
    pub kind: i32,
    pub path: String,
}

/// Event types on the wire (`Watcher.Event.EventType`).
pub mod ev {
    pub const CREATED: i32 = 1;
    pub const DELETED: i32 = 2;
    pub const DATA_CHANGED: i32 = 3;
    pub const CHILDREN_CHANGED: i32 = 4;
}

/// A hand-driven client connection: whole frames in, whole frames out, blocking with a
/// bounded read timeout.
pub struct Raw {
    stream: TcpStream,
    next_xid: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    /// Notifications read while waiting for a reply, oldest first.
    pub events: Vec<Event>,
}

impl Raw {
    /// Opens a TCP connection; no handshake yet.
    pub fn open(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw { stream, next_xid: 1, session_id: 0, passwd: Vec::new(), timeout_ms: 0, events: Vec::new() }
    }

    /// A new-session ConnectRequest with the readOnly byte.
    pub fn connect_request(timeout_ms: i32) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: vec![0u8; 16].into(),
            read_only: Some(false),
        }
    }

    /// Starts a new session.
    ///
    /// # Panics
    /// When the server does not accept it.
    pub fn handshake(&mut self, timeout_ms: i32) -> ConnectResponse {
        let resp = self.connect(&Raw::connect_request(timeout_ms));
        assert_ne!(resp.session_id, 0, "server refused a new session");
        resp
    }

    /// Sends a ConnectRequest and reads the response; remembers the session.
    pub fn connect(&mut self, req: &ConnectRequest) -> ConnectResponse {
        self.send_payload(&req.to_bytes());
        let frame = self.read_frame().unwrap_or_else(|| panic!("connection closed instead of a ConnectResponse"));
        let resp = ConnectResponse::from_bytes(&frame).expect("ConnectResponse");
        self.session_id = resp.session_id;
        self.passwd = resp.passwd.to_vec();
        self.timeout_ms = resp.time_out;
        resp
    }

    /// Sends raw bytes as they are (no length prefix added).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends one frame: the length prefix, then `payload`.
    pub fn send_payload(&mut self, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 4);
        out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        out.extend_from_slice(payload);
        self.send_raw(&out);
    }

    /// Sends a request with an explicit xid and a body given as bytes.
    pub fn send_bytes(&mut self, xid: i32, op: i32, body: &[u8]) {
        let mut out = BytesMut::new();
        RequestHeader { xid, r#type: op }.encode(&mut out);
        out.extend_from_slice(body);
        self.send_payload(&out);
    }

    /// Sends a request with an explicit xid.
    pub fn send<R: Field>(&mut self, xid: i32, op: i32, body: &R) {
        let mut out = BytesMut::new();
        body.encode(&mut out);
        self.send_bytes(xid, op, &out);
    }

    /// The xid the next [`Raw::call`] will use.
    pub fn take_xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        x
    }

    /// Sends a request and returns its reply; notifications that arrive first are kept
    /// in [`Raw::events`].
    ///
    /// # Panics
    /// On a reply with another xid, a close, or a timeout.
    pub fn call<R: Field>(&mut self, op: i32, body: &R) -> Reply {
        let xid = self.take_xid();
        self.send(xid, op, body);
        self.reply_to(xid)
    }

    /// Like [`Raw::call`] with the body given as bytes.
    pub fn call_bytes(&mut self, op: i32, body: &[u8]) -> Reply {
        let xid = self.take_xid();
        self.send_bytes(xid, op, body);
        self.reply_to(xid)
    }

    /// Reads until the reply with `xid`, keeping notifications.
    pub fn reply_to(&mut self, xid: i32) -> Reply {
        loop {
            let r = self.recv().unwrap_or_else(|| panic!("closed before reply {xid}"));
            if r.header.xid == -1 {
                self.events.push(to_event(&r));
                continue;
            }
            assert_eq!(r.header.xid, xid, "reply out of order: {r:?}");
            return r;
        }
    }

    /// Reads one frame as a reply header + body; `None` when the server closed.
    pub fn recv(&mut self) -> Option<Reply> {
        let frame = self.read_frame()?;
        assert!(frame.len() >= 16, "frame shorter than a reply header: {frame:02x?}");
        let header = ReplyHeader::from_bytes(&frame).expect("reply header");
        Some(Reply { header, body: frame[16..].to_vec() })
    }

    /// Reads one frame's payload; `None` when the server closed the connection.
    ///
    /// # Panics
    /// When nothing arrives within [`READ_TIMEOUT`].
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        if !self.read_exact_or_eof(&mut len) {
            return None;
        }
        let len = i32::from_be_bytes(len);
        assert!((0..=16 << 20).contains(&len), "implausible frame length {len}");
        let mut payload = vec![0u8; len as usize];
        assert!(self.read_exact_or_eof(&mut payload), "closed mid-frame");
        Some(payload)
    }

    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> bool {
        let mut at = 0;
        while at < buf.len() {
            match self.stream.read(&mut buf[at..]) {
                Ok(0) if at == 0 => return false,
                Ok(0) => panic!("closed after {at} of {} bytes", buf.len()),
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset && at == 0 => return false,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("nothing from the server within {READ_TIMEOUT:?}")
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        true
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 256];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected a close, got {:02x?}", &buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open after {READ_TIMEOUT:?}")
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Sends a ping and asserts its reply is the next frame: no notification was pending.
    /// Because a server queues events before the writer's reply, this shows that earlier
    /// writes (by anyone, already answered) sent this connection nothing more.
    pub fn expect_no_events(&mut self) {
        self.send_bytes(-2, 11, &[]);
        let r = self.recv().expect("ping reply");
        assert_eq!(r.header.xid, -2, "expected the ping reply, got {r:?} (an unexpected notification?)");
        assert!(self.events.is_empty(), "unexpected events: {:?}", self.events);
    }

    /// Reads the next frame and asserts it is a notification.
    pub fn next_event(&mut self) -> Event {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        let r = self.recv().expect("closed while waiting for an event");
        assert_eq!(r.header.xid, -1, "expected a notification, got {r:?}");
        to_event(&r)
    }

    /// Closes the socket (the session lives on until it expires).
    pub fn stream_shutdown(&mut self) -> std::io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)
    }

    /// Takes the notifications collected so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

fn to_event(r: &Reply) -> Event {
    let e: WatcherEvent = r.decode();
    assert_eq!(e.state, 3, "notification state must be SyncConnected: {e:?}");
    Event { zxid: r.header.zxid, kind: e.r#type, path: e.path }
}

/// Runs `f` until it returns `Some`, at most `limit`, polling every 20 ms.
///
/// # Panics
/// When `limit` passes first.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A session's password as ZooKeeper computes it (`ZooKeeperServer.generatePasswd`):
/// `new java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16 bytes)`. Written out here,
/// apart from the server's code, so tests can check it and resume any session.
pub fn java_password(session_id: i64) -> [u8; 16] {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut seed = (session_id ^ 0xB341_5C00 ^ MULTIPLIER) & MASK;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        seed = (seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        let mut value = (seed >> 16) as i32;
        for b in chunk {
            *b = value as u8;
            value >>= 8;
        }
    }
    out
}
pub mod ops;
