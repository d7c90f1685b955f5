//! The storage thread: recovery at start-up, then group commit. The driver sends stamped
//! commands; this thread appends every command that has queued up, makes them durable
//! with one fsync, and tells the driver how far the log is durable. Snapshots are written
//! on their own thread from a consistent copy of the state, so writes never stop for them.

use std::sync::Arc;
use std::thread;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::commit::{Log, StorageCmd};
use super::driver::DriverMsg;
use crate::config::Config;
use crate::storage::{self, RecoveryMode, SnapshotGate, SnapshotTicket, StorageError, StorageOptions, Wal};
use crate::txn::State;

/// Commands the thread takes in one group commit at most (bounds one batch's memory).
const GROUP_COMMANDS_MAX: usize = 16 * 1024;

/// The storage settings a config implies.
pub fn options(config: &Config) -> StorageOptions {
    StorageOptions {
        data_dir: config.data_dir.clone(),
        data_log_dir: config.data_log_dir.clone().unwrap_or_else(|| config.data_dir.clone()),
        force_sync: config.force_sync,
        snap_retain_count: config.autopurge_snap_retain_count.max(3),
        preallocate_bytes: config.prealloc_bytes,
    }
}

/// Recovers the state from disk and starts the storage thread.
///
/// # Errors
/// When the data on disk is damaged (the error names file and offset) or cannot be read.
pub fn start(
    config: &Config,
    mode: RecoveryMode,
    driver: mpsc::Sender<DriverMsg>,
) -> Result<(State, Log), StorageError> {
    let opts = options(config);
    if !opts.force_sync {
        warn!("forceSync=no: writes are acknowledged before they are on disk; a crash can lose them (unsafe outside tests and benchmarks)");
    }
    let recovered = storage::recover(&opts, mode)?;
    for d in &recovered.discarded {
        warn!("recovery discarded: {d}");
    }
    info!(
        zxid = format_args!("{:#x}", recovered.state.last_zxid),
        replayed = recovered.replayed,
        snapshot = ?recovered.snapshot,
        nodes = recovered.state.tree.node_count(),
        sessions = recovered.state.sessions.len(),
        "recovered"
    );
    let wal = Wal::open(&opts, recovered.state.last_zxid)?;
    let (tx, rx) = mpsc::unbounded_channel();
    if recovered.replayed > 0 {
        // As ZooKeeper does after replaying: the next start need not replay this again.
        // Its own gate: the driver does not exist yet, and a second snapshot beside this
        // one would only write another file.
        let ticket = SnapshotGate::default().try_begin().expect("a new gate is open");
        let _ = tx.send(StorageCmd::Snapshot(Box::new(recovered.state.clone()), ticket));
    }
    thread::Builder::new()
        .name("ferrozk-log".into())
        .spawn(move || run(wal, opts, rx, driver))
        .map_err(|e| StorageError::Io { file: "storage thread".into(), source: e })?;
    Ok((recovered.state, Log::Durable(tx)))
}

fn run(
    mut wal: Wal,
    opts: StorageOptions,
    mut rx: mpsc::UnboundedReceiver<StorageCmd>,
    driver: mpsc::Sender<DriverMsg>,
) {
    let opts = Arc::new(opts);
    let mut last = wal.last_zxid();
    let mut batch = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < GROUP_COMMANDS_MAX {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        for cmd in batch.drain(..) {
            match cmd {
                StorageCmd::Append(txn) => {
                    must(wal.append(&txn));
                    last = txn.zxid;
                }
                StorageCmd::Snapshot(state, ticket) => {
                    must(wal.sync());
                    must(wal.roll());
                    start_snapshot(&opts, state, ticket);
                }
            }
        }
        must(wal.sync());
        if driver.blocking_send(DriverMsg::Durable { zxid: last }).is_err() {
            return;
        }
    }
}

/// A log that cannot be written makes every later acknowledgement a lie: stop.
fn must(r: Result<(), StorageError>) {
    if let Err(e) = r {
        error!("write-ahead log failed: {e}");
        super::fatal("the write-ahead log failed; stopping so nothing unlogged is acknowledged");
    }
}

fn start_snapshot(opts: &Arc<StorageOptions>, state: Box<State>, ticket: SnapshotTicket) {
    let opts = opts.clone();
    let spawned = thread::Builder::new().name("ferrozk-snapshot".into()).spawn(move || {
        let zxid = state.last_zxid;
        match storage::write_snapshot(&opts, &state) {
            Ok(path) => {
                info!(zxid = format_args!("{zxid:#x}"), path = %path.display(), "snapshot written");
                match storage::purge(&opts) {
                    Ok(report) => info!(?report, "purged old snapshots and logs"),
                    Err(e) => warn!("purge failed: {e}"),
                }
            }
            Err(e) => error!("snapshot at {zxid:#x} failed: {e}"),
        }
        // Free the copy before the next one may be taken.
        drop(state);
        drop(ticket);
    });
    if spawned.is_err() {
        error!("cannot start the snapshot thread");
    }
}
