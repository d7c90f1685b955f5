//! The pipelined driver: every connection keeps `outstanding` requests in flight, sends a
//! whole window in one write and refills it as replies come back. One task per connection,
//! no locks; the phases (warm-up, measure, stop) are one shared atomic.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::proto::SetDataRequest;
use jute::{ErrorCode, OpCode};
use tokio::task::JoinSet;

use crate::conn::{Conn, ConnError};
use crate::procfs::{self, ProcSample};
use crate::stats::OpStats;
use crate::workload::{setup_waves, Op, OpSource, Shape, Workload};

/// Connections opened at once; more would only queue in the server's accept backlog.
const CONNECTS_PARALLEL_MAX: usize = 64;

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct Drive {
    /// Servers; connection i goes to `addrs[i % len]`, as clients spread over an ensemble.
    pub addrs: Vec<SocketAddr>,
    pub outstanding: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop once this many operations were issued in the measured phase.
    pub ops_max: Option<u64>,
    pub server_pids: Vec<u32>,
    pub session_timeout_ms: i32,
    pub reply_timeout: Duration,
    /// Leave the nodes a create run made (by default they are deleted, untimed, after it).
    pub keep_created: bool,
}

/// What a run measured. CPU and memory samples are taken at the edges of the window.
#[derive(Debug)]
pub struct Measurement {
    pub stats: OpStats,
    pub window: Duration,
    pub server: Option<(ProcSample, ProcSample)>,
    pub generator: (ProcSample, ProcSample),
    /// Workload-specific figures (watch fan-out's notification spread).
    pub extra: BTreeMap<String, f64>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error(transparent)]
    Proc(#[from] procfs::ProcError),
    #[error("setup: {path}: {err}")]
    Setup { path: String, err: String },
    #[error("{0}")]
    Watch(String),
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Shared between the coordinator and the connection tasks.
pub struct Control {
    phase: AtomicU8,
    /// Operations still allowed in the measured phase (u64::MAX: unbounded).
    budget: AtomicU64,
}

impl Control {
    fn new(ops_max: Option<u64>) -> Control {
        Control { phase: AtomicU8::new(WARMUP), budget: AtomicU64::new(ops_max.unwrap_or(u64::MAX)) }
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    fn take_budget(&self) -> bool {
        self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_ok()
    }
}

/// Opens `n` sessions, at most [`CONNECTS_PARALLEL_MAX`] at a time.
///
/// # Errors
/// The first connection that fails.
pub async fn connect_all(d: &Drive, n: usize) -> Result<Vec<Conn>, ConnError> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let mut set = JoinSet::new();
        for i in 0..(n - conns.len()).min(CONNECTS_PARALLEL_MAX) {
            let addr = d.addrs[(conns.len() + i) % d.addrs.len()];
            let (st, rt) = (d.session_timeout_ms, d.reply_timeout);
            set.spawn(async move { Conn::connect(addr, st, rt).await });
        }
        while let Some(r) = set.join_next().await {
            conns.push(r.expect("connect task panicked")?);
        }
    }
    Ok(conns)
}

/// Runs every setup wave, spreading each wave's requests over the connections. A create
/// that finds the node there already sets its data instead (an earlier run may have used
/// another value size).
///
/// # Errors
/// A request that fails with anything but NodeExists.
pub async fn setup(conns: &mut [Conn], s: &Shape, window: usize) -> Result<(), RunError> {
    for wave in setup_waves(s) {
        let mut per_conn: Vec<Vec<Op>> = vec![Vec::new(); conns.len()];
        for (i, op) in wave.into_iter().enumerate() {
            per_conn[i % conns.len()].push(op);
        }
        let mut fixups = Vec::new();
        for (conn, ops) in conns.iter_mut().zip(per_conn) {
            for (op, err) in ops.iter().zip(pipeline(conn, ops.clone(), window).await?) {
                match (op, ErrorCode::from_code(err)) {
                    (_, Some(ErrorCode::Ok)) => {}
                    (Op::Create { path, data, .. }, Some(ErrorCode::NodeExists)) if !data.is_empty() => {
                        fixups.push(Op::Set { path: path.clone(), data: data.clone() })
                    }
                    (Op::Create { .. }, Some(ErrorCode::NodeExists)) => {}
                    (op, _) => return Err(RunError::Setup { path: format!("{op:?}"), err: format!("error {err}") }),
                }
            }
        }
        if let Some(conn) = conns.first_mut() {
            for (op, err) in fixups.iter().zip(pipeline(conn, fixups.clone(), window).await?) {
                if err != 0 {
                    return Err(RunError::Setup { path: format!("{op:?}"), err: format!("error {err}") });
                }
            }
        }
    }
    Ok(())
}

/// Sends `ops` on one connection with up to `window` in flight; returns each result code.
async fn pipeline(conn: &mut Conn, ops: Vec<Op>, window: usize) -> Result<Vec<i32>, ConnError> {
    let mut results = Vec::with_capacity(ops.len());
    let mut pending = ops.into_iter();
    let mut inflight = VecDeque::new();
    loop {
        while inflight.len() < window.max(1) {
            let Some(op) = pending.next() else { break };
            inflight.push_back(op.push(conn));
        }
        if inflight.is_empty() {
            return Ok(results);
        }
        conn.flush().await?;
        conn.fill().await?;
        while let Some(r) = conn.try_reply()? {
            if r.header.xid < 0 {
                continue;
            }
            expect_xid(&mut inflight, r.header.xid, conn.addr())?;
            results.push(r.header.err);
        }
    }
}

fn expect_xid(inflight: &mut VecDeque<i32>, xid: i32, addr: SocketAddr) -> Result<(), ConnError> {
    match inflight.pop_front() {
        Some(want) if want == xid => Ok(()),
        other => Err(ConnError::Protocol {
            addr,
            what: format!("reply xid {xid}, expected {other:?} (replies out of order)"),
        }),
    }
}

/// One connection's load loop. Replies count only if they arrive in the measured phase.
///
/// Bounded: it stops issuing when the phase is STOP, the op budget is spent or its source
/// is exhausted, and every wait for a reply is bounded by the connection's reply timeout.
async fn drive(
    mut conn: Conn,
    mut src: OpSource,
    outstanding: usize,
    ctl: Arc<Control>,
    collect_created: bool,
) -> Result<(Conn, OpStats, Vec<String>), ConnError> {
    let mut stats = OpStats::new();
    let mut inflight: VecDeque<(i32, Instant)> = VecDeque::with_capacity(outstanding);
    let mut exhausted = false;
    let mut created = Vec::new();
    loop {
        let phase = ctl.phase();
        if phase != STOP && !exhausted && inflight.len() < outstanding {
            let sent_at = Instant::now();
            while inflight.len() < outstanding {
                if phase == MEASURE && !ctl.take_budget() {
                    exhausted = true;
                    break;
                }
                let Some(op) = src.next_op() else {
                    exhausted = true;
                    break;
                };
                inflight.push_back((op.push(&mut conn), sent_at));
            }
        }
        if inflight.is_empty() {
            return Ok((conn, stats, created));
        }
        conn.flush().await?;
        conn.fill().await?;
        let now = Instant::now();
        let counted = ctl.phase() == MEASURE;
        while let Some(r) = conn.try_reply()? {
            if r.header.xid < 0 {
                continue; // a notification or a ping reply
            }
            let (xid, sent_at) = inflight.pop_front().unwrap_or((i32::MIN, now));
            if xid != r.header.xid {
                let what = format!("reply xid {}, expected {xid} (replies out of order)", r.header.xid);
                return Err(ConnError::Protocol { addr: conn.addr(), what });
            }
            if counted {
                stats.record(now - sent_at, r.header.err);
            }
            if collect_created && r.header.err == 0 {
                created.extend(r.first_string());
            }
        }
    }
}

/// Runs one pipelined workload: connect, set up, warm up, measure, drain, close.
///
/// # Errors
/// Any connection failure, setup failure, or unreadable server process.
pub async fn run(d: &Drive, shape: Arc<Shape>) -> Result<Measurement, RunError> {
    let mut conns = connect_all(d, shape.connections).await?;
    setup(&mut conns, &shape, d.outstanding.max(64)).await?;
    let ctl = Arc::new(Control::new(d.ops_max));
    // What a create run made, kept (per connection) only to be deleted afterwards.
    let collect_created = shape.workload == Workload::Create && !d.keep_created;
    let mut tasks = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let src = OpSource::new(shape.clone(), i);
        tasks.spawn(drive(conn, src, d.outstanding, ctl.clone(), collect_created));
    }
    tokio::time::sleep(d.warmup).await;
    let server_a = sample_server(&d.server_pids)?;
    let gen_a = procfs::sample(None)?;
    let start = Instant::now();
    ctl.phase.store(MEASURE, Ordering::Relaxed);
    let deadline = tokio::time::Instant::from_std(start + d.duration);
    let mut end = None;
    let mut finished = Vec::new();
    let mut end_samples = None;
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(r) => finished.push(r.expect("connection task panicked")?),
                None => break,
            },
            () = tokio::time::sleep_until(deadline), if end.is_none() => {
                ctl.phase.store(STOP, Ordering::Relaxed);
                end = Some(Instant::now());
                end_samples = Some((sample_server(&d.server_pids)?, procfs::sample(None)?));
            }
        }
    }
    // All sources ran dry before the deadline (delete, load, --ops): the window ends now.
    let end = end.unwrap_or_else(Instant::now);
    let (server_b, gen_b) = match end_samples {
        Some(s) => s,
        None => (sample_server(&d.server_pids)?, procfs::sample(None)?),
    };
    let mut stats = OpStats::new();
    let mut conns = Vec::with_capacity(finished.len());
    let mut created = Vec::with_capacity(finished.len());
    for (conn, s, c) in finished {
        stats.merge(&s);
        conns.push(conn);
        created.push(c);
    }
    if collect_created {
        conns = remove_created(conns, created, d.outstanding.max(64)).await?;
    }
    close_all(conns).await;
    Ok(Measurement {
        stats,
        window: end - start,
        server: server_a.zip(server_b),
        generator: (gen_a, gen_b),
        extra: BTreeMap::new(),
    })
}

/// Deletes, untimed, every node a create run made (each connection its own), so the next
/// workload finds the tree it would find on any server: left in place, a faster server
/// would run every later workload on a larger tree (larger snapshots) for being faster.
async fn remove_created(conns: Vec<Conn>, created: Vec<Vec<String>>, window: usize) -> Result<Vec<Conn>, RunError> {
    let mut tasks = JoinSet::new();
    for (i, (mut conn, paths)) in conns.into_iter().zip(created).enumerate() {
        tasks.spawn(async move {
            let ops: Vec<Op> = paths.into_iter().map(|path| Op::Delete { path }).collect();
            let results = pipeline(&mut conn, ops.clone(), window).await?;
            if let Some((op, err)) = ops.iter().zip(results).find(|(_, e)| *e != 0) {
                return Err(RunError::Setup { path: format!("cleanup {op:?}"), err: format!("error {err}") });
            }
            Ok((i, conn))
        });
    }
    let mut back = Vec::new();
    while let Some(r) = tasks.join_next().await {
        back.push(r.expect("cleanup task panicked")?);
    }
    back.sort_by_key(|(i, _)| *i);
    Ok(back.into_iter().map(|(_, c)| c).collect())
}

/// Samples the server processes, if any were named.
///
/// # Errors
/// When a named process cannot be read (it died: the run is void).
pub fn sample_server(pids: &[u32]) -> Result<Option<ProcSample>, procfs::ProcError> {
    if pids.is_empty() {
        return Ok(None);
    }
    procfs::sample_all(pids).map(Some)
}

/// Closes sessions, a bounded number at a time; a close that fails only warns: the
/// figures are already taken.
pub async fn close_all(conns: Vec<Conn>) {
    let mut set = JoinSet::new();
    let mut failed = 0usize;
    for conn in conns {
        if set.len() >= CONNECTS_PARALLEL_MAX {
            if let Some(Ok(Err(_))) = set.join_next().await {
                failed += 1;
            }
        }
        set.spawn(conn.close());
    }
    while let Some(r) = set.join_next().await {
        if let Ok(Err(_)) = r {
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!("ferrozk-bench: warning: {failed} sessions did not close cleanly");
    }
}

/// Sets `path` to `data` on one connection; used by the watch fan-out.
///
/// # Errors
/// As [`Conn::call`]; a non-zero result code is reported as a watch error.
pub async fn set_data(conn: &mut Conn, path: &str, data: Bytes) -> Result<(), RunError> {
    let r = conn.call(OpCode::SET_DATA, &SetDataRequest { path: path.into(), data: Some(data), version: -1 }).await?;
    if r.header.err != 0 {
        return Err(RunError::Watch(format!("setData {path}: error {}", r.header.err)));
    }
    Ok(())
}
