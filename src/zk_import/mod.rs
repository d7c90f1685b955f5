//! `ferrozk import-zk`: takes over an Apache ZooKeeper (3.4–3.9) data directory.
//!
//! It does what a ZooKeeper server does at start-up (`FileTxnSnapLog.restore`,
//! `ZooKeeperServer.loadData`), then writes the result as a ferrozk snapshot:
//!
//! 1. the newest `snapshot.*` (plain, `.gz` or `.snappy`) whose seals verify; an older one
//!    if it does not (each skipped file is reported with the offset of its damage);
//! 2. the `log.*` files from the one holding the snapshot's zxid on, replaying every txn
//!    after the snapshot's zxid with ZooKeeper's replay rules ([`tree`]), to the end of the
//!    preallocated zeros or a torn last write;
//! 3. ZooKeeper's tree digest is kept while replaying and compared with the digests it
//!    logged, so a replay that differs from ZooKeeper's own is reported;
//! 4. ephemerals of sessions that are no longer live are deleted (`loadData`);
//! 5. the tree, the live sessions with their timeouts and the last zxid go into
//!    `<to>/ferrozk/` through [`crate::storage::write_snapshot`], and are read back.
//!
//! Formats: [`snapshot`] and [`log`]; shared/reference/zookeeper-protocol.md §12.

mod adler32;
pub mod log;
pub mod snapshot;
pub mod tree;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use self::log::{HeaderFault, LogEnd, LogError, LogReader, Step};
use self::snapshot::{Compression, ZxidDigest};
use self::tree::{Failure, ZkState, ZkTxn, ZK_DIGEST_VERSION};
use crate::storage::{self, RecoveryMode, StorageError, StorageOptions};
use crate::txn::State;

/// Progress is reported every this many nodes or txns.
pub const PROGRESS_EVERY: usize = 100_000;
/// Digest mismatches listed one by one in the report (all are counted).
const MISMATCHES_LISTED_MAX: usize = 5;

/// What an import read, did and wrote.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// The directory the ZooKeeper files were read from (`<from>/version-2` or `<from>`).
    pub source: PathBuf,
    /// The snapshot loaded; `None` when the directory holds only logs.
    pub snapshot: Option<PathBuf>,
    pub snapshot_zxid: i64,
    pub snapshot_nodes: u64,
    /// Newer snapshots that did not verify, each with file, offset and reason.
    pub skipped_snapshots: Vec<String>,
    /// Log files read, in order.
    pub logs: Vec<PathBuf>,
    /// Txns applied after the snapshot.
    pub txns_replayed: u64,
    /// Txns at or before the snapshot's zxid, already in it.
    pub txns_skipped: u64,
    /// Txns (or multi entries) that changed nothing, as a replay over a fuzzy snapshot
    /// expects (the node already created or deleted); ZooKeeper ignores them too.
    pub failures_ignored: u64,
    /// ZooKeeper digests (the snapshot's and those logged with each txn) that matched the
    /// replayed tree, and those that did not.
    pub digests_matched: u64,
    pub digest_mismatches: u64,
    /// Torn last writes where a log's entries ended, with file and offset.
    pub torn: Vec<String>,
    /// Anything else the operator should know.
    pub warnings: Vec<String>,
    /// The result: znodes, ephemerals, live sessions, last zxid.
    pub nodes: usize,
    pub ephemerals: usize,
    pub sessions: usize,
    pub last_zxid: i64,
    /// The ferrozk snapshot written.
    pub written: PathBuf,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "read:      {}", self.source.display())?;
        match &self.snapshot {
            Some(p) => writeln!(
                f,
                "snapshot:  {} (zxid {:#x}, {} nodes)",
                p.display(),
                self.snapshot_zxid,
                self.snapshot_nodes
            )?,
            None => writeln!(f, "snapshot:  none (replayed the logs from an empty tree)")?,
        }
        let names: Vec<String> =
            self.logs.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
        writeln!(f, "logs:      {}", if names.is_empty() { "none".into() } else { names.join(", ") })?;
        writeln!(
            f,
            "txns:      {} replayed, {} already in the snapshot, {} failures ignored (as ZooKeeper does)",
            self.txns_replayed, self.txns_skipped, self.failures_ignored
        )?;
        writeln!(f, "digests:   {} matched, {} mismatched", self.digests_matched, self.digest_mismatches)?;
        writeln!(
            f,
            "result:    {} znodes, {} ephemerals, {} sessions, last zxid {:#x}",
            self.nodes, self.ephemerals, self.sessions, self.last_zxid
        )?;
        writeln!(f, "written:   {}", self.written.display())?;
        for s in &self.skipped_snapshots {
            writeln!(f, "skipped:   {s}")?;
        }
        for t in &self.torn {
            writeln!(f, "torn tail: {t}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning:   {w}")?;
        }
        Ok(())
    }
}

/// Why an import failed. Messages name the file, and the offset where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: no ZooKeeper snapshot.* or log.* files here or in its version-2/", dir.display())]
    NotZkDataDir { dir: PathBuf },
    #[error("{}: already holds ferrozk data, which the import would overwrite; import into an empty directory", dir.display())]
    TargetHasData { dir: PathBuf },
    /// The only snapshot does not verify.
    #[error("{}: snapshot does not verify at offset {offset}{}: {reason}", file.display(), if *compressed { " of the decompressed stream" } else { "" })]
    BadSnapshot { file: PathBuf, offset: u64, compressed: bool, reason: String },
    #[error("no snapshot verifies:\n  {}", tried.join("\n  "))]
    NoValidSnapshot { tried: Vec<String> },
    #[error("{}: {reason} at offset {offset}", file.display())]
    BadLog { file: PathBuf, offset: u64, reason: String },
    #[error("{}: node {path} refers to ACL ref {acl_ref}, which the snapshot's ACL cache lacks and no logged txn sets", file.display())]
    UnresolvedAcl { file: PathBuf, path: String, acl_ref: i64 },
    #[error("the imported tree has no {path} node")]
    MissingNode { path: String },
    #[error("writing the ferrozk data directory: {0}")]
    Storage(#[from] StorageError),
    #[error("{}: the snapshot written does not read back as imported: {reason}", file.display())]
    Verify { file: PathBuf, reason: String },
}

fn io_err(file: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { file: file.to_owned(), source }
}

/// Imports the ZooKeeper data directory `from` (its `version-2/`, or `from` itself when
/// it holds the files) into a new ferrozk data directory `to`, reporting progress lines.
///
/// # Errors
/// `TargetHasData` if `to` already holds ferrozk files; `NotZkDataDir`; damage that is not
/// a torn tail (`BadSnapshot`, `NoValidSnapshot`, `BadLog`, naming file and offset);
/// `UnresolvedAcl`; `Io`, `Storage` or `Verify` while writing.
pub fn import(from: &Path, to: &Path, progress: &mut dyn FnMut(&str)) -> Result<ImportReport, ImportError> {
    let opts = StorageOptions::new(to, to);
    check_target(&opts.snap_dir())?;
    let source = if from.join("version-2").is_dir() { from.join("version-2") } else { from.to_owned() };
    let files = list_files(&source)?;
    if files.snapshots.is_empty() && files.logs.is_empty() {
        return Err(ImportError::NotZkDataDir { dir: from.to_owned() });
    }
    let mut report = ImportReport { source: source.clone(), ..ImportReport::default() };
    report.warnings.extend(files.ignored.iter().map(|n| format!("ignored {n}: not a ZooKeeper file name")));
    let mut replay = load_snapshot(&source, &files.snapshots, &mut report, progress)?;
    replay_logs(&mut replay, &source, &files.logs, &mut report, progress)?;
    let state = finish(replay, &mut report, progress)?;
    write(&opts, state, &mut report, progress)?;
    Ok(report)
}

/// Refuses a directory that already holds ferrozk files.
fn check_target(snap_dir: &Path) -> Result<(), ImportError> {
    match std::fs::read_dir(snap_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ImportError::TargetHasData { dir: snap_dir.to_owned() });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImportError::Io { file: snap_dir.to_owned(), source: e }),
    }
}

struct Files {
    /// (zxid, name, compression), oldest first.
    snapshots: Vec<(i64, String, Compression)>,
    /// (first zxid, name), oldest first.
    logs: Vec<(i64, String)>,
    ignored: Vec<String>,
}

fn list_files(dir: &Path) -> Result<Files, ImportError> {
    let mut files = Files { snapshots: Vec::new(), logs: Vec::new(), ignored: Vec::new() };
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((zxid, comp)) = snapshot::parse_snapshot_name(&name) {
            files.snapshots.push((zxid, name, comp));
        } else if let Some(zxid) = log::parse_log_name(&name) {
            files.logs.push((zxid, name));
        } else if name.starts_with("snapshot.") || name.starts_with("log.") {
            files.ignored.push(name);
        }
    }
    files.snapshots.sort();
    files.logs.sort();
    files.ignored.sort();
    Ok(files)
}

/// Replay in progress: the state, where the snapshot left it, and the digest checks.
struct Replay {
    state: ZkState,
    snap_zxid: i64,
    /// The file whose ACL refs nodes point at (for error messages).
    snap_file: PathBuf,
    /// The snapshot's digest, to compare when replay reaches its zxid. Until then the
    /// tree is "fuzzy" and ZooKeeper compares no logged digest either.
    pending: Option<ZxidDigest>,
    /// The highest zxid seen; `None` until the first txn after the snapshot.
    highest: Option<i64>,
    failures: Vec<Failure>,
}

fn load_snapshot(
    dir: &Path,
    snapshots: &[(i64, String, Compression)],
    report: &mut ImportReport,
    progress: &mut dyn FnMut(&str),
) -> Result<Replay, ImportError> {
    let mut errors = Vec::new();
    for (zxid, name, comp) in snapshots.iter().rev() {
        let file = dir.join(name);
        progress(&format!("reading {} (zxid {zxid:#x})", file.display()));
        let mut tick = |n: u64| progress(&format!("{name}: {n} nodes"));
        match snapshot::load(&file, *comp, &mut tick) {
            Ok(loaded) => {
                let mut state = loaded.state;
                state.last_zxid = *zxid;
                report.snapshot = Some(file.clone());
                report.snapshot_zxid = *zxid;
                report.snapshot_nodes = loaded.nodes;
                report.warnings.extend(loaded.notes.iter().map(|n| format!("{name}: {n}")));
                report.skipped_snapshots = errors.iter().map(ToString::to_string).collect();
                // DataTree.deserializeZxidDigest: a digest older than the snapshot's name
                // (or empty) is not compared.
                let pending = loaded.digest.filter(|d| d.zxid > 0 && d.zxid >= *zxid);
                let mut replay =
                    Replay { state, snap_zxid: *zxid, snap_file: file, pending, highest: None, failures: Vec::new() };
                replay.check_digest(*zxid, None, report);
                return Ok(replay);
            }
            Err(e) => errors.push(ImportError::BadSnapshot {
                file,
                offset: e.offset,
                compressed: *comp != Compression::None,
                reason: e.reason,
            }),
        }
    }
    if errors.len() == 1 {
        return Err(errors.pop().expect("one error"));
    }
    if !errors.is_empty() {
        return Err(ImportError::NoValidSnapshot { tried: errors.iter().map(ToString::to_string).collect() });
    }
    report.warnings.push(
        "no snapshot: replayed the logs from ZooKeeper's initial tree (ZooKeeper 3.5.3+ itself refuses this without zookeeper.snapshot.trust.empty)".into(),
    );
    Ok(Replay {
        state: ZkState::fresh(),
        snap_zxid: 0,
        snap_file: dir.to_owned(),
        pending: None,
        highest: None,
        failures: Vec::new(),
    })
}

impl Replay {
    /// `compareSnapshotDigests` then `compareDigest`, after applying the txn `zxid`.
    fn check_digest(&mut self, zxid: i64, logged: Option<&jute::txn::TxnDigest>, report: &mut ImportReport) {
        let compare = |what: &str, want: i64, have: u64, report: &mut ImportReport| {
            if want as u64 == have {
                report.digests_matched += 1;
            } else {
                report.digest_mismatches += 1;
                if report.digest_mismatches as usize <= MISMATCHES_LISTED_MAX {
                    report.warnings.push(format!(
                        "digest mismatch after zxid {zxid:#x}: {what} says {want:#x}, the replayed tree has {have:#x}"
                    ));
                }
            }
        };
        if let Some(p) = self.pending {
            if zxid != p.zxid {
                return;
            }
            self.pending = None;
            if p.version == ZK_DIGEST_VERSION {
                compare("the snapshot", p.digest, self.state.digest(), report);
            }
        }
        if let Some(d) = logged.filter(|d| d.version == ZK_DIGEST_VERSION) {
            compare("the log", d.tree_digest, self.state.digest(), report);
        }
    }
}

/// Reads the logs `FileTxnLog.read(snapZxid + 1)` would: the newest one starting at or
/// before the snapshot's zxid, and every later one.
fn replay_logs(
    replay: &mut Replay,
    dir: &Path,
    logs: &[(i64, String)],
    report: &mut ImportReport,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ImportError> {
    let first = logs.iter().rposition(|(z, _)| *z <= replay.snap_zxid).unwrap_or(0);
    let chosen = &logs[first.min(logs.len())..];
    for (i, (_, name)) in chosen.iter().enumerate() {
        let file = dir.join(name);
        let last = i + 1 == chosen.len();
        progress(&format!("replaying {}", file.display()));
        let mut reader = match LogReader::open(&file).map_err(io_err(&file))? {
            Ok((r, _header)) => r,
            Err(fault) => {
                header_fault(&file, fault, last, report)?;
                continue;
            }
        };
        report.logs.push(file.clone());
        replay_file(replay, &mut reader, report, progress)?;
    }
    Ok(())
}

/// A log whose header is missing: harmless as the last file (a crash while creating it),
/// damage anywhere else, as ZooKeeper sees it.
fn header_fault(file: &Path, fault: HeaderFault, last: bool, report: &mut ImportReport) -> Result<(), ImportError> {
    match fault {
        HeaderFault::Empty if last => {
            report.torn.push(format!("{}: empty file (a crash while creating it)", file.display()));
            Ok(())
        }
        HeaderFault::Partial(n) if last => {
            report.torn.push(format!("{}: only {n} bytes of header (a crash while creating it)", file.display()));
            Ok(())
        }
        HeaderFault::Empty => Err(ImportError::BadLog {
            file: file.to_owned(),
            offset: 0,
            reason: "empty log file before the last one".into(),
        }),
        HeaderFault::Partial(n) => Err(ImportError::BadLog {
            file: file.to_owned(),
            offset: n,
            reason: format!("log file of {n} bytes ends inside its header, and later logs follow"),
        }),
        HeaderFault::BadMagic(m) => Err(ImportError::BadLog {
            file: file.to_owned(),
            offset: 0,
            reason: format!("bad magic {m:#x} (a log starts with \"ZKLG\")"),
        }),
    }
}

fn replay_file(
    replay: &mut Replay,
    reader: &mut LogReader,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ImportError> {
    let file = reader.file().to_owned();
    let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
    loop {
        let entry = match reader.next_step() {
            Ok(Step::Entry(e)) => e,
            Ok(Step::End(LogEnd::Clean)) => return Ok(()),
            Ok(Step::End(LogEnd::Torn { offset, reason })) => {
                report.torn.push(format!("{}: offset {offset}: {reason}; the log ends there", file.display()));
                return Ok(());
            }
            Err(LogError::Io(e)) => return Err(ImportError::Io { file, source: e }),
            Err(LogError::Corrupt { offset, reason }) => return Err(ImportError::BadLog { file, offset, reason }),
        };
        let h = &entry.header;
        let zxid = h.zxid;
        match replay.highest {
            None if zxid <= replay.snap_zxid => {
                report.txns_skipped += 1;
                continue;
            }
            None => gap_check(replay.snap_zxid, zxid, &name, entry.offset, report),
            Some(high) if zxid < high => report.warnings.push(format!(
                "{name}: offset {}: zxid {zxid:#x} comes after {high:#x}; applied anyway, as ZooKeeper does",
                entry.offset
            )),
            Some(high) => gap_check(high, zxid, &name, entry.offset, report),
        }
        if let ZkTxn::Multi(subs) = &entry.txn {
            if !subs.iter().any(|(t, _)| *t == tree::op::ERROR) {
                if let Some((t, Err(reason))) = subs.iter().find(|(_, s)| s.is_err()) {
                    report.warnings.push(format!(
                        "{name}: offset {}: multi {zxid:#x}: entry of type {t}: {reason}; ZooKeeper stops applying this multi there, and so does the import",
                        entry.offset
                    ));
                }
            }
        }
        replay.failures.clear();
        replay.state.apply(h.client_id, zxid, h.time, &entry.txn, &mut replay.failures);
        report.failures_ignored += replay.failures.len() as u64;
        if replay.failures.contains(&Failure::BadTtl) {
            report.warnings.push(format!(
                "{name}: offset {}: zxid {zxid:#x} creates a TTL node with an invalid ttl; ZooKeeper's apply throws on it (it cannot start from this log); skipped",
                entry.offset
            ));
        }
        report.txns_replayed += 1;
        replay.check_digest(zxid, entry.digest.as_ref(), report);
        replay.highest = Some(replay.highest.map_or(zxid, |h| h.max(zxid)));
        if report.txns_replayed % PROGRESS_EVERY as u64 == 0 {
            progress(&format!("{name}: {} txns replayed", report.txns_replayed));
        }
    }
}

/// Within one epoch every txn takes the next zxid, so a jump means txns no file holds.
/// ZooKeeper loads such a gap silently; the import says so.
fn gap_check(prev: i64, next: i64, name: &str, offset: u64, report: &mut ImportReport) {
    if next > prev.saturating_add(1) && next >> 32 == prev >> 32 {
        report.warnings.push(format!(
            "{name}: offset {offset}: zxid jumps from {prev:#x} to {next:#x}: {} txns are in no log file",
            next - prev - 1
        ));
    }
}

/// What `ZooKeeperServer.loadData` does after loading, then the move into ferrozk's types.
fn finish(mut replay: Replay, report: &mut ImportReport, progress: &mut dyn FnMut(&str)) -> Result<State, ImportError> {
    if let Some(p) = replay.pending {
        report.warnings.push(format!(
            "the snapshot's digest is for zxid {:#x}, which no log holds: not compared (ZooKeeper warns the same)",
            p.zxid
        ));
    }
    let state = &mut replay.state;
    for s in state.dead_sessions() {
        let last = state.last_zxid;
        let before = state.ephemeral_count();
        state.kill_session(s, last, None);
        report.warnings.push(format!(
            "session {s:#x} owns {} ephemerals but is not live: deleted, as ZooKeeper does at start-up",
            before - state.ephemeral_count()
        ));
    }
    if let Some((path, acl_ref)) = state.unresolved_acls().next() {
        let (path, acl_ref) = (path.to_owned(), acl_ref);
        return Err(ImportError::UnresolvedAcl { file: replay.snap_file, path, acl_ref });
    }
    for path in ["/", "/zookeeper"] {
        if !state.contains(path) {
            return Err(ImportError::MissingNode { path: path.into() });
        }
    }
    if !state.contains("/zookeeper/config") {
        state.add_config_node();
        report
            .warnings
            .push("added /zookeeper/config, which 3.4 did not have (as ZooKeeper 3.5+ does on upgrade)".into());
    }
    report.ephemerals = state.ephemeral_count();
    report.sessions = state.sessions.len();
    report.last_zxid = state.last_zxid;
    let (state, orphans) = replay.state.into_state(|n| progress(&format!("building the tree: {n} nodes")));
    if orphans > 0 {
        report.warnings.push(format!(
            "{orphans} nodes were left under a deleted parent and are not reachable; ZooKeeper does not serve them either: dropped"
        ));
    }
    report.nodes = state.tree.node_count();
    Ok(state)
}

/// Writes the ferrozk snapshot and reads it back through recovery. The state is dropped
/// before the read-back, so two whole trees are never in memory at once.
fn write(
    opts: &StorageOptions,
    state: State,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ImportError> {
    progress(&format!("writing {} ({} nodes)", opts.snap_dir().display(), state.tree.node_count()));
    let file = storage::write_snapshot(opts, &state)?;
    let State { tree, sessions, last_zxid, .. } = state;
    let (nodes, digest) = (tree.node_count(), tree.digest());
    drop(tree);
    progress("reading it back");
    let back = storage::recover(opts, RecoveryMode::Strict)?.state;
    let checks = [
        ("last zxid", back.last_zxid == last_zxid),
        ("node count", back.tree.node_count() == nodes),
        ("tree digest", back.tree.digest() == digest),
        ("sessions", back.sessions == sessions),
    ];
    if let Some((what, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(ImportError::Verify { file, reason: format!("{what} differs") });
    }
    report.written = file;
    Ok(())
}
