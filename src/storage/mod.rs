//! Durable storage: the write-ahead log, snapshots, recovery and purging. The only module
//! besides `server` and `admin` that touches the disk, and it does so through the narrow
//! [`backend::Backend`]/[`backend::Dir`] traits so tests run the same code on a simulated
//! disk that crashes, tears writes and flips bits.
//!
//! # Files
//! ferrozk keeps its files in a `ferrozk/` subdirectory of `dataDir` (snapshots) and of
//! `dataLogDir` (log segments; `dataDir` when unset), so they never mix with the
//! `version-2/` directory of an Apache ZooKeeper pointed at the same place:
//!
//! ```text
//! <dataLogDir>/ferrozk/log.<first zxid, 16 hex digits>        see segment.rs
//! <dataDir>/ferrozk/snapshot.<last zxid, 16 hex>.lz4         see snapshot.rs
//! <dataDir>/ferrozk/snapshot.<zxid>.lz4.tmp                  a snapshot being written
//! <name>.damaged                                             set aside by recovery in
//!                                                            TruncateToLastGood mode
//! ```
//!
//! # The write path
//! The driver [`Wal::append`]s each stamped command, then calls [`Wal::sync`] once for the
//! whole batch (group commit) and replies only after it returns. Every `snapCount`
//! commands (randomised as ZooKeeper does; skipped while the last snapshot is still being
//! written, see [`gate`]) it clones the state, hands the clone to a thread that runs
//! [`write_snapshot`], calls [`Wal::roll`] so the next records go to a new segment, and
//! later [`purge`]s what the retained snapshots no longer need.
//!
//! # Start-up
//! [`recover`] loads the newest snapshot that verifies and replays the log after it;
//! [`Wal::open`] then continues in a new segment.

pub mod backend;
pub mod gate;
pub mod purge;
pub mod recovery;
pub mod segment;
pub mod snapshot;
pub mod tools;
pub mod wal;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use backend::{Backend, Dir, FsDir};
pub use gate::{SnapshotGate, SnapshotTicket};
pub use purge::PurgeReport;
pub use wal::{Wal, WalOptions};

use crate::txn::State;

/// Name of the subdirectory of `dataDir` and `dataLogDir` that holds ferrozk's files.
pub const SUBDIR: &str = "ferrozk";
/// Default preallocation step of log segments (ZooKeeper's `zookeeper.preAllocSize`).
pub const PREALLOCATE_BYTES_DEFAULT: u64 = 64 << 20;

/// Where storage lives and how careful it is, from zoo.cfg.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// `dataDir`: snapshots go in `<data_dir>/ferrozk/`.
    pub data_dir: PathBuf,
    /// `dataLogDir`, or `dataDir` when unset: log segments go in `<data_log_dir>/ferrozk/`.
    pub data_log_dir: PathBuf,
    /// `forceSync`: false skips every fsync (tests and benchmarks only; the caller logs it
    /// as unsafe).
    pub force_sync: bool,
    /// `autopurge.snapRetainCount` (at least 3, enforced by the config parser).
    pub snap_retain_count: u32,
    /// Preallocation step for log segments.
    pub preallocate_bytes: u64,
}

impl StorageOptions {
    /// Options with ZooKeeper's defaults: fsync on, 3 snapshots kept, 64 MiB preallocation.
    pub fn new(data_dir: &Path, data_log_dir: &Path) -> StorageOptions {
        StorageOptions {
            data_dir: data_dir.to_owned(),
            data_log_dir: data_log_dir.to_owned(),
            force_sync: true,
            snap_retain_count: 3,
            preallocate_bytes: PREALLOCATE_BYTES_DEFAULT,
        }
    }

    /// The directory holding snapshots.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join(SUBDIR)
    }

    /// The directory holding log segments.
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir.join(SUBDIR)
    }

    fn wal_options(&self) -> WalOptions {
        WalOptions { force_sync: self.force_sync, preallocate_bytes: self.preallocate_bytes }
    }
}

/// What recovery does when it finds damage (anything but a torn tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Stop with an error naming the file and offset: the default, because silently
    /// starting from less than was acknowledged would break the durability promise.
    Strict,
    /// The operator's choice: start from the last good point (an older snapshot, the
    /// records before the damage), set the rest aside as `*.damaged`, and log each thing
    /// discarded.
    TruncateToLastGood,
}

/// The state recovery rebuilt, and what it did to get there.
#[derive(Debug)]
pub struct Recovered {
    /// The state after the snapshot and every replayed record.
    pub state: State,
    /// Log records applied on top of the snapshot.
    pub replayed: u64,
    /// The snapshot loaded; `None` when starting from the empty tree.
    pub snapshot: Option<PathBuf>,
    /// What `TruncateToLastGood` discarded, one line each (empty in `Strict` mode).
    pub discarded: Vec<String>,
    /// Torn tails cut and half-created files removed (never acknowledged data).
    pub cut: Vec<String>,
}

/// Why storage failed. Messages name the file, and the byte offset where there is one, so
/// an operator can go straight to the damage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system error on a file or directory.
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A log record does not verify, yet valid records follow: not a torn tail.
    #[error("{}: bad crc at offset {offset} (a valid record follows at offset {next}): the log is damaged before its end", file.display())]
    BadCrc { file: PathBuf, offset: u64, next: u64 },
    /// The log is malformed in another way (header, decoding, zxid order).
    #[error("{}: {reason} at offset {offset}", file.display())]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    /// A segment starts after a gap: records between `after` and `prev` are in no file.
    #[error("{}: missing log segment: the log holds zxids up to {after:#x} but this segment continues after {prev:#x}", file.display())]
    MissingSegment { file: PathBuf, after: i64, prev: i64 },
    /// A snapshot that fails its CRC, digest or structure checks.
    #[error("{}: snapshot does not verify at offset {offset} of its decompressed body: {reason}", file.display())]
    BadSnapshot { file: PathBuf, offset: u64, reason: String },
    /// An earlier IO error stopped the log; only a restart (and recovery) clears it.
    #[error("write-ahead log poisoned by an earlier error ({cause}); restart to recover")]
    Poisoned { cause: String },
    /// Appends must come in increasing zxid order.
    #[error("append of zxid {zxid:#x} after {last:#x}: zxids must increase")]
    OutOfOrder { zxid: i64, last: i64 },
    /// A single command too large to log.
    #[error("record for zxid {zxid:#x} is {bytes} bytes, over the {max} byte limit")]
    RecordTooLarge { zxid: i64, bytes: usize, max: u32 },
    /// The log already holds records after the zxid the writer was opened at.
    #[error("{}: log segment starts at zxid {first:#x}, after the recovered zxid {last_zxid:#x}", file.display())]
    LogAhead { file: PathBuf, first: i64, last_zxid: i64 },
}

impl StorageError {
    /// An IO error on `file`.
    pub fn io(file: &Path, source: io::Error) -> StorageError {
        StorageError::Io { file: file.to_owned(), source }
    }
}

/// Rebuilds the state from disk: the newest snapshot that verifies, then every log record
/// after it through `txn::apply`. A fresh directory gives `State::default()`. Torn tails
/// are cut (with a warning); other damage is an error in `Strict` mode.
///
/// # Errors
/// `Io`, or the damage found (`BadCrc`, `Corrupt`, `MissingSegment`, `BadSnapshot`) naming
/// the file and offset.
pub fn recover(opts: &StorageOptions, mode: RecoveryMode) -> Result<Recovered, StorageError> {
    let snap_dir = FsDir::create_all(&opts.snap_dir()).map_err(|e| StorageError::io(&opts.snap_dir(), e))?;
    let log_dir = FsDir::create_all(&opts.log_dir()).map_err(|e| StorageError::io(&opts.log_dir(), e))?;
    recovery::recover_in(&snap_dir, &log_dir, mode)
}

impl Wal {
    /// Opens the log in `<data_log_dir>/ferrozk/` to continue after `last_zxid` (the
    /// recovered state's); the first sync starts a new segment named by its first zxid.
    ///
    /// # Errors
    /// `Io` if the directory cannot be made; `LogAhead` if it already holds a segment
    /// starting after `last_zxid`.
    pub fn open(opts: &StorageOptions, last_zxid: i64) -> Result<Wal, StorageError> {
        let dir = FsDir::create_all(&opts.log_dir()).map_err(|e| StorageError::io(&opts.log_dir(), e))?;
        Wal::open_in(Arc::new(dir), opts.wal_options(), last_zxid)
    }
}

/// Writes a snapshot of `state` (a consistent clone) to `<data_dir>/ferrozk/`. Blocking:
/// run it on a background thread.
///
/// # Errors
/// `Io` naming the file that failed; nothing is left half-written under the final name.
pub fn write_snapshot(opts: &StorageOptions, state: &State) -> Result<PathBuf, StorageError> {
    let dir = FsDir::create_all(&opts.snap_dir()).map_err(|e| StorageError::io(&opts.snap_dir(), e))?;
    snapshot::write_snapshot_in(&dir, state)
}

/// Keeps the `snap_retain_count` newest snapshots and every log segment that may hold
/// records after the oldest of them; deletes the rest.
///
/// # Errors
/// `Io` naming the file or directory that failed.
pub fn purge(opts: &StorageOptions) -> Result<PurgeReport, StorageError> {
    let snap_dir = FsDir::create_all(&opts.snap_dir()).map_err(|e| StorageError::io(&opts.snap_dir(), e))?;
    let log_dir = FsDir::create_all(&opts.log_dir()).map_err(|e| StorageError::io(&opts.log_dir(), e))?;
    purge::purge_in(&snap_dir, &log_dir, opts.snap_retain_count)
}
