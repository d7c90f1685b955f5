//! Kill -9 under load: concurrent writers record every acknowledged create, set and
//! delete; the server is killed at a random moment and restarted on the same data
//! directory; every acknowledged write must be there, and the one write each writer had
//! in flight may or may not be. Three rounds, each on the state the previous one left.
//!
//! The seed is printed; `FERROZK_CRASH_SEED=<n>` replays the same kill moments, and
//! `FERROZK_CRASH_ROUNDS=<n>` runs more rounds than CI's three (e.g. 300 for a soak).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::Server;
use jute::proto::{
    ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, GetDataRequest, GetDataResponse, ReplyHeader,
    RequestHeader, SetDataRequest,
};
use jute::{Acl, Field, Record};

const WRITERS: usize = 4;
const KEYS_PER_WRITER: usize = 16;
/// Rounds in CI; `FERROZK_CRASH_ROUNDS` overrides.
const ROUNDS_DEFAULT: usize = 3;
/// Bounds each writer's run in a round even if the kill never comes.
const ROUND_TIME_MAX: Duration = Duration::from_secs(20);

/// What a key holds: `None` is absent.
type Value = Option<Vec<u8>>;

/// A minimal blocking client that reports a broken connection instead of panicking.
struct Client {
    stream: TcpStream,
    xid: i32,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let mut c = Client { stream, xid: 0 };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: vec![0u8; 16].into(),
            read_only: Some(false),
        };
        c.write_frame(&req.to_bytes())?;
        let resp = ConnectResponse::from_bytes(&c.read_frame()?).map_err(std::io::Error::other)?;
        assert_ne!(resp.session_id, 0, "server refused a new session");
        Ok(c)
    }

    fn write_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut out = (payload.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        self.stream.write_all(&out)
    }

    fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Sends one request and returns (err, body) of its reply.
    fn call<R: Field>(&mut self, op: i32, body: &R) -> std::io::Result<(i32, Vec<u8>)> {
        self.xid += 1;
        let mut out = BytesMut::new();
        RequestHeader { xid: self.xid, r#type: op }.encode(&mut out);
        body.encode(&mut out);
        self.write_frame(&out)?;
        loop {
            let frame = self.read_frame()?;
            let h = ReplyHeader::from_bytes(&frame).map_err(std::io::Error::other)?;
            if h.xid == -1 {
                continue; // a notification
            }
            assert_eq!(h.xid, self.xid, "reply out of order");
            return Ok((h.err, frame[16..].to_vec()));
        }
    }

    fn create(&mut self, path: &str, data: &[u8]) -> std::io::Result<i32> {
        let req = CreateRequest {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: vec![Acl::world(31)],
            flags: 0,
        };
        Ok(self.call(1, &req)?.0)
    }

    fn read(&mut self, path: &str) -> std::io::Result<Value> {
        let (err, body) = self.call(4, &GetDataRequest { path: path.into(), watch: false })?;
        match err {
            0 => Ok(GetDataResponse::from_bytes(&body).expect("GetDataResponse").data.map(|d| d.to_vec())),
            -101 => Ok(None),
            e => panic!("getData {path}: error {e}"),
        }
    }
}

/// A small deterministic generator (splitmix64), so a seed replays the same choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One writer's knowledge after a round: acknowledged values, and the write in flight.
struct WriterLog {
    acked: HashMap<String, Value>,
    in_flight: Option<(String, Value)>,
    acked_count: u64,
}

fn writer(addr: SocketAddr, id: usize, seed: u64, start: HashMap<String, Value>, stop: Arc<AtomicBool>) -> WriterLog {
    let mut rng = Rng(seed ^ (id as u64).wrapping_mul(0x1234_5678_9abc));
    let mut log = WriterLog { acked: start, in_flight: None, acked_count: 0 };
    let Ok(mut c) = Client::connect(addr) else { return log };
    let deadline = Instant::now() + ROUND_TIME_MAX;
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let key = format!("/crash/w{id}/k{}", rng.below(KEYS_PER_WRITER as u64));
        seq += 1;
        let data = format!("w{id}-{seed}-{seq}").into_bytes();
        let current = log.acked.get(&key).cloned().flatten();
        let (intended, result) = match current {
            None => (Some(data.clone()), c.create(&key, &data)),
            Some(_) if rng.below(10) < 7 => {
                let req = SetDataRequest { path: key.clone(), data: Some(Bytes::from(data.clone())), version: -1 };
                (Some(data.clone()), c.call(5, &req).map(|r| r.0))
            }
            Some(_) => (None, c.call(2, &DeleteRequest { path: key.clone(), version: -1 }).map(|r| r.0)),
        };
        match result {
            Ok(0) => {
                log.acked.insert(key, intended);
                log.acked_count += 1;
            }
            Ok(err) => panic!("writer {id}: {key}: unexpected error {err}"),
            Err(_) => {
                log.in_flight = Some((key, intended));
                break;
            }
        }
    }
    log
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if common::is_zookeeper() {
        eprintln!("crash test runs against ferrozk only");
    }
    let seed = std::env::var("FERROZK_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    eprintln!("crash test seed {seed} (replay with FERROZK_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    // A small snapCount so rounds cross snapshots and log rolls, not only the log.
    let mut server = Server::start_with(&[("snapCount", "300"), ("preAllocSize", "256")]);
    {
        let mut c = Client::connect(server.addr()).expect("connect");
        assert_eq!(c.create("/crash", b"").unwrap(), 0);
        for w in 0..WRITERS {
            assert_eq!(c.create(&format!("/crash/w{w}"), b"").unwrap(), 0);
        }
    }
    let mut model: Vec<HashMap<String, Value>> = vec![HashMap::new(); WRITERS];
    let rounds = std::env::var("FERROZK_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(ROUNDS_DEFAULT);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (addr, start, stop) = (server.addr(), model[w].clone(), stop.clone());
                let seed = seed.wrapping_add(round as u64);
                std::thread::spawn(move || writer(addr, w, seed, start, stop))
            })
            .collect();
        let kill_after = Duration::from_millis(300 + rng.below(1200));
        std::thread::sleep(kill_after);
        server.restart(); // SIGKILL, then start again on the same data directory
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<WriterLog> = handles.into_iter().map(|h| h.join().expect("writer")).collect();
        let acked: u64 = logs.iter().map(|l| l.acked_count).sum();
        assert!(acked > 0, "round {round}: no write was acknowledged before the kill at {kill_after:?}");
        let mut c = Client::connect(server.addr()).expect("connect after restart");
        for (w, log) in logs.into_iter().enumerate() {
            for k in 0..KEYS_PER_WRITER {
                let key = format!("/crash/w{w}/k{k}");
                let actual = c.read(&key).expect("read after restart");
                let want = log.acked.get(&key).cloned().flatten();
                let in_flight = log.in_flight.as_ref().filter(|(p, _)| *p == key).map(|(_, v)| v.clone());
                assert!(
                    actual == want || in_flight.as_ref() == Some(&actual),
                    "seed {seed} round {round}: {key} is {actual:?}, acknowledged {want:?}, in flight {in_flight:?}\n{}",
                    server.log_tail()
                );
                model[w].insert(key, actual);
            }
        }
        eprintln!("round {round}: killed after {kill_after:?}, {acked} acknowledged writes, all present");
    }
}
