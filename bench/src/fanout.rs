//! Watch fan-out: W sessions hold a data watch on `/bench/watch`; one more session sets it;
//! a round's figure is the time from sending the setData to the last notification received.
//! Watchers re-arm (getData with watch) only once every notification of the round is in,
//! so the figure is the fan-out alone, not fan-out racing the re-arming reads; the next
//! round starts when all are armed again.
//!
//! One round is one "operation" in the output, so CPU per operation is the server's cost of
//! one setData, W notifications and W re-arming getData requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::proto::GetDataRequest;
use jute::OpCode;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::conn::{Conn, ConnError, XID_NOTIFICATION};
use crate::procfs;
use crate::run::{close_all, connect_all, sample_server, set_data, setup, Drive, Measurement, RunError};
use crate::stats::OpStats;
use crate::workload::Shape;

const WATCH_PATH: &str = "/bench/watch";

/// Messages from a watcher to the coordinator.
enum Event {
    Armed,
    Fired(Instant),
}

/// One watcher: arm, wait for the notification, report, and again until told to stop.
/// Every wait is bounded: arming by the reply timeout, the notification by `idle_max`.
async fn watcher(
    mut conn: Conn,
    tx: mpsc::Sender<Event>,
    mut rearm: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    idle_max: Duration,
) -> Result<Conn, ConnError> {
    loop {
        let r = conn.call(OpCode::GET_DATA, &GetDataRequest { path: WATCH_PATH.into(), watch: true }).await?;
        if r.header.err != 0 {
            let what = format!("getData {WATCH_PATH}: error {}", r.header.err);
            return Err(ConnError::Protocol { addr: conn.addr(), what });
        }
        if tx.send(Event::Armed).await.is_err() {
            return Ok(conn);
        }
        'wait: loop {
            conn.fill_within(idle_max, "watch notification").await?;
            while let Some(r) = conn.try_reply()? {
                if r.header.xid == XID_NOTIFICATION {
                    let _ = tx.send(Event::Fired(Instant::now())).await;
                    break 'wait;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(conn);
        }
        // The coordinator's sender lives until every watcher is joined; a closed channel
        // means it failed, and the watcher stops too.
        match tokio::time::timeout(idle_max, rearm.changed()).await {
            Ok(Ok(())) => {}
            _ => return Ok(conn),
        }
    }
}

/// Counts watcher events across rounds: a quick watcher may re-arm for the next round
/// while the coordinator still waits for this round's slowest notification.
struct Tally {
    rx: mpsc::Receiver<Event>,
    armed_early: usize,
}

impl Tally {
    async fn next(&mut self, deadline: tokio::time::Instant, what: &str) -> Result<Event, RunError> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(ev)) => Ok(ev),
            Ok(None) => Err(RunError::Watch("a watcher failed".into())),
            Err(_) => Err(RunError::Watch(format!("timed out waiting for {what}"))),
        }
    }

    /// Waits until `n` watchers are armed.
    async fn armed(&mut self, n: usize, limit: Duration) -> Result<(), RunError> {
        let deadline = tokio::time::Instant::now() + limit;
        while self.armed_early < n {
            match self.next(deadline, "watches to be armed").await? {
                Event::Armed => self.armed_early += 1,
                Event::Fired(_) => return Err(RunError::Watch("a notification without a setData".into())),
            }
        }
        self.armed_early -= n;
        Ok(())
    }

    /// Waits for `n` notifications and returns when each arrived.
    async fn fired(&mut self, n: usize, limit: Duration) -> Result<Vec<Instant>, RunError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut times = Vec::with_capacity(n);
        while times.len() < n {
            match self.next(deadline, "notifications").await? {
                Event::Armed => self.armed_early += 1,
                Event::Fired(t) => times.push(t),
            }
        }
        Ok(times)
    }
}

/// Runs the fan-out: `shape.connections` watchers, rounds until the duration or `--ops`.
///
/// # Errors
/// A failed session, a watcher that never hears, or an unreadable server process.
pub async fn run(d: &Drive, shape: Arc<Shape>) -> Result<Measurement, RunError> {
    let watchers = shape.connections;
    let mut setter = connect_all(d, 1).await?;
    setup(&mut setter, &shape, 64).await?;
    let mut setter = setter.pop().expect("one connection");
    let conns = connect_all(d, watchers).await?;
    let (tx, rx) = mpsc::channel(watchers * 2);
    let mut tally = Tally { rx, armed_early: 0 };
    let stop = Arc::new(AtomicBool::new(false));
    let (rearm_tx, rearm_rx) = watch::channel(0u64);
    // A watcher waits for at most one round of everyone else, bounded by the reply timeout.
    let idle_max = d.reply_timeout * 2;
    let mut tasks = JoinSet::new();
    for conn in conns {
        tasks.spawn(watcher(conn, tx.clone(), rearm_rx.clone(), stop.clone(), idle_max));
    }
    drop(tx);
    let value = Bytes::from(vec![b'y'; shape.value_bytes]);
    let mut stats = OpStats::new();
    let mut first = OpStats::new();
    let mut window_start = None;
    let mut samples_a = None;
    let begin = Instant::now();
    let mut rounds = 0u64;
    for round in 1u64.. {
        tally.armed(watchers, d.reply_timeout).await?;
        let now = Instant::now();
        if window_start.is_none() && now - begin >= d.warmup {
            samples_a = Some((sample_server(&d.server_pids)?, procfs::sample(None)?));
            window_start = Some(now);
        }
        let last = match window_start {
            Some(ws) => now - ws >= d.duration || d.ops_max.is_some_and(|m| rounds + 1 >= m),
            None => false,
        };
        // Bound the warm-up too: a server slower than the warm-up still ends.
        let last = last || now - begin >= d.warmup + d.duration * 2;
        stop.store(last, Ordering::Relaxed);
        let sent = Instant::now();
        set_data(&mut setter, WATCH_PATH, value.clone()).await?;
        let times = tally.fired(watchers, d.reply_timeout).await?;
        if window_start.is_some() {
            let latest = times.iter().max().copied().unwrap_or(sent);
            let earliest = times.iter().min().copied().unwrap_or(sent);
            stats.record(latest - sent, 0);
            first.record(earliest.saturating_duration_since(sent), 0);
            rounds += 1;
        }
        if last {
            break;
        }
        rearm_tx.send_replace(round);
    }
    let end = Instant::now();
    let server_b = sample_server(&d.server_pids)?;
    let gen_b = procfs::sample(None)?;
    let mut conns = vec![setter];
    while let Some(r) = tasks.join_next().await {
        conns.push(r.expect("watcher task panicked")?);
    }
    close_all(conns).await;
    let (server_a, gen_a) = samples_a.unwrap_or((server_b, gen_b));
    let extra = BTreeMap::from([
        ("watchers".to_string(), watchers as f64),
        ("first_notification_p50_us".to_string(), first.quantile_us(0.5)),
    ]);
    let window = window_start.map_or(Duration::ZERO, |ws| end - ws);
    Ok(Measurement { stats, window, server: server_a.zip(server_b), generator: (gen_a, gen_b), extra })
}
