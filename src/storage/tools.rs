//! Operator tools, as library functions returning text (the CLI prints it): `inspect`
//! summarises a data directory, `dump-log` and `dump-snapshot` print one file record by
//! record, like ZooKeeper's `LogFormatter` and `SnapshotFormatter`. All of them only read:
//! a torn tail is reported ("would be cut"), never cut.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jute::Acl;

use super::backend::{Dir, FsDir};
use super::segment::{parse_segment_name, HeaderFault, SegmentHeader, SegmentReader, Step, Tail};
use super::snapshot::{parse_snapshot_name, SnapshotHeader, SnapshotReader};
use super::{StorageError, SUBDIR};
use crate::tree::{digest, Node};
use crate::txn::{codec, Txn, TxnOp};

/// `ferrozk inspect DIR`: DIR is a `dataDir` (its `ferrozk/` subdirectory is used) or the
/// `ferrozk/` directory itself, holding both snapshots and log segments.
///
/// # Errors
/// `Io` if the directory cannot be listed; damage inside files is reported in the text.
pub fn inspect(dir: &Path) -> Result<String, StorageError> {
    let dir = resolve(dir);
    inspect_dirs(&dir, &dir)
}

/// `inspect` with snapshots and log segments in separate directories (a `dataLogDir`).
///
/// # Errors
/// As [`inspect`].
pub fn inspect_dirs(snap_dir: &Path, log_dir: &Path) -> Result<String, StorageError> {
    let snap_dir = FsDir::existing(&resolve(snap_dir));
    let log_dir = FsDir::existing(&resolve(log_dir));
    inspect_in(&snap_dir, &log_dir)
}

fn resolve(dir: &Path) -> PathBuf {
    let sub = dir.join(SUBDIR);
    if sub.is_dir() {
        sub
    } else {
        dir.to_owned()
    }
}

fn sorted(dir: &dyn Dir, parse: fn(&str) -> Option<i64>) -> Result<Vec<(i64, String)>, StorageError> {
    let names = dir.list().map_err(|e| StorageError::io(dir.path(), e))?;
    let mut v: Vec<(i64, String)> = names.into_iter().filter_map(|n| Some((parse(&n)?, n))).collect();
    v.sort_unstable();
    Ok(v)
}

fn file_len(dir: &dyn Dir, name: &str) -> u64 {
    dir.open_read(name).and_then(|b| b.len()).unwrap_or(0)
}

/// [`inspect`] over any pair of directories.
///
/// # Errors
/// As [`inspect`].
pub fn inspect_in(snap_dir: &dyn Dir, log_dir: &dyn Dir) -> Result<String, StorageError> {
    let mut out = String::new();
    let mut damage = 0;
    let snaps = sorted(snap_dir, parse_snapshot_name)?;
    let _ = writeln!(out, "snapshots in {} ({}):", snap_dir.path().display(), snaps.len());
    for (zxid, name) in snaps.iter().rev() {
        let size = file_len(snap_dir, name);
        match verify_snapshot(snap_dir, name) {
            Ok(s) if s.header.last_zxid == *zxid => {
                let _ = writeln!(
                    out,
                    "  {name}  zxid {zxid:#x}  {size} bytes  {} nodes  {} sessions  ok",
                    s.nodes, s.sessions
                );
            }
            Ok(s) => {
                damage += 1;
                let _ =
                    writeln!(out, "  {name}  DAMAGED: holds zxid {:#x}, its name says {zxid:#x}", s.header.last_zxid);
            }
            Err(e) => {
                damage += 1;
                let _ = writeln!(out, "  {name}  {size} bytes  DAMAGED: {e}");
            }
        }
    }
    let segs = sorted(log_dir, parse_segment_name)?;
    let _ = writeln!(out, "log segments in {} ({}):", log_dir.path().display(), segs.len());
    let (mut records, mut first_zxid, mut last_zxid) = (0u64, None, None::<i64>);
    let mut prev_damaged = false;
    for (i, (zxid, name)) in segs.iter().enumerate() {
        let size = file_len(log_dir, name);
        let s = summarize_segment(log_dir, name, *zxid)?;
        if let (Ok(h), Some(before), false) = (s.header, last_zxid, prev_damaged) {
            if h.prev_zxid > before {
                damage += 1;
                let _ = writeln!(out, "  GAP: records after {before:#x} up to {:#x} are in no segment", h.prev_zxid);
            }
        }
        let range = match (s.first, s.last) {
            (Some(a), Some(b)) => format!("zxids {a:#x}..{b:#x} ({} records)", s.records),
            _ => "no records".to_owned(),
        };
        let is_last = i + 1 == segs.len();
        let end = describe_end(&s, is_last);
        // A gap after a damaged segment is that damage's consequence, not a second finding.
        prev_damaged = end.contains("DAMAGED");
        damage += usize::from(prev_damaged);
        let _ = writeln!(out, "  {name}  {size} bytes  {range}  {end}");
        records += s.records;
        first_zxid = first_zxid.or(s.first);
        last_zxid = s.last.or(last_zxid);
    }
    let names = snap_dir.list().map_err(|e| StorageError::io(snap_dir.path(), e))?;
    let mut others: Vec<String> = names.into_iter().filter(|n| n.contains(".damaged") || n.ends_with(".tmp")).collect();
    if log_dir.path() != snap_dir.path() {
        let names = log_dir.list().map_err(|e| StorageError::io(log_dir.path(), e))?;
        others.extend(names.into_iter().filter(|n| n.contains(".damaged")));
    }
    others.sort();
    for n in &others {
        let why = if n.ends_with(".tmp") { "snapshot left half-written by a crash" } else { "set aside by recovery" };
        let _ = writeln!(out, "  other: {n} ({why})");
    }
    let zxids = match (first_zxid, last_zxid) {
        (Some(a), Some(b)) => format!(", zxids {a:#x}..{b:#x}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "summary: {} snapshots, {} segments, {records} records{zxids}; damage found: {damage}",
        snaps.len(),
        segs.len()
    );
    Ok(out)
}

fn describe_end(s: &SegmentSummary, is_last: bool) -> String {
    if let Some(problem) = &s.problem {
        return format!("DAMAGED: {problem}");
    }
    match s.tail {
        Tail::Clean { end } => format!("ends clean at offset {end}"),
        Tail::Torn { end, bytes } if is_last => {
            format!("torn tail: {bytes} bytes after offset {end} (recovery cuts them)")
        }
        Tail::Torn { end, bytes } => {
            format!("DAMAGED: {bytes} bytes of torn data after offset {end} in a segment that is not the last")
        }
        Tail::Damaged { offset, next } => {
            format!("DAMAGED: bad crc at offset {offset} (a valid record follows at offset {next})")
        }
    }
}

struct SnapshotSummary {
    header: SnapshotHeader,
    nodes: u64,
    sessions: usize,
}

/// Streams a snapshot: CRC and digest (computed node by node; no tree is built).
fn verify_snapshot(dir: &dyn Dir, name: &str) -> Result<SnapshotSummary, StorageError> {
    let (mut r, header, sessions) = SnapshotReader::open(dir, name)?;
    let (mut nodes, mut sum) = (0u64, 0u64);
    while let Some((_, n)) = r.next_node()? {
        nodes += 1;
        sum = sum.wrapping_add(digest::node_hash(&n.path, &Node::new(n.data, n.acl, n.stat)));
    }
    if header.digest_version == digest::DIGEST_VERSION && sum != header.digest {
        return Err(StorageError::BadSnapshot {
            file: dir.file(name),
            offset: 0,
            reason: format!("tree digest {sum:#018x} differs from the recorded {:#018x}", header.digest),
        });
    }
    Ok(SnapshotSummary { header, nodes, sessions: sessions.len() })
}

struct SegmentSummary {
    header: Result<SegmentHeader, HeaderFault>,
    records: u64,
    first: Option<i64>,
    last: Option<i64>,
    tail: Tail,
    /// A header or record problem found before the tail.
    problem: Option<String>,
}

fn summarize_segment(dir: &dyn Dir, name: &str, zxid: i64) -> Result<SegmentSummary, StorageError> {
    let mut s = SegmentSummary {
        header: Err(HeaderFault::Unreadable),
        records: 0,
        first: None,
        last: None,
        tail: Tail::Clean { end: 0 },
        problem: None,
    };
    walk_segment(dir, name, |event| match event {
        Event::Header(h) => {
            s.header = h;
            match h {
                Err(HeaderFault::Unreadable) => s.problem = Some("unreadable segment header".into()),
                Err(HeaderFault::Version(v)) => s.problem = Some(format!("log format version {v} not supported")),
                Ok(h) if h.first_zxid != zxid => {
                    s.problem = Some(format!("header says first zxid {:#x}, the name says {zxid:#x}", h.first_zxid))
                }
                Ok(_) => {}
            }
        }
        Event::Record(offset, Ok(txn)) => {
            if s.last.is_some_and(|l| txn.zxid <= l) && s.problem.is_none() {
                s.problem = Some(format!("zxid {:#x} after {:#x} at offset {offset}", txn.zxid, s.last.unwrap_or(0)));
            }
            s.records += 1;
            s.first = s.first.or(Some(txn.zxid));
            s.last = Some(txn.zxid);
        }
        Event::Record(offset, Err(())) => {
            s.problem.get_or_insert(format!("record at offset {offset} passes its crc but does not decode"));
        }
        Event::End(t) => s.tail = t,
    })?;
    Ok(s)
}

enum Event {
    Header(Result<SegmentHeader, HeaderFault>),
    Record(u64, Result<Txn, ()>),
    End(Tail),
}

fn walk_segment(dir: &dyn Dir, name: &str, mut f: impl FnMut(Event)) -> Result<(), StorageError> {
    let file = dir.file(name);
    let io = |e| StorageError::io(&file, e);
    let backend = dir.open_read(name).map_err(io)?;
    let mut r = SegmentReader::new(&*backend).map_err(io)?;
    let header = r.header().map_err(io)?;
    f(Event::Header(header));
    if header.is_err() {
        f(Event::End(r.classify(0).map_err(io)?));
        return Ok(());
    }
    loop {
        match r.next_record().map_err(io)? {
            Step::Record { offset, payload } => {
                let txn = match codec::decode(&payload) {
                    Ok(([], txn)) => Ok(txn),
                    _ => Err(()),
                };
                f(Event::Record(offset, txn));
            }
            Step::End(t) => {
                f(Event::End(t));
                return Ok(());
            }
        }
    }
}

/// `ferrozk dump-log FILE`: every record of one segment, one line each, then how it ends.
///
/// # Errors
/// `Io` if the file cannot be read; damage is reported in the text.
pub fn dump_log(file: &Path) -> Result<String, StorageError> {
    let (dir, name) = split(file);
    dump_log_in(&dir, &name)
}

fn split(file: &Path) -> (FsDir, String) {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (FsDir::existing(parent), name)
}

/// [`dump_log`] over any directory.
///
/// # Errors
/// As [`dump_log`].
pub fn dump_log_in(dir: &dyn Dir, name: &str) -> Result<String, StorageError> {
    let mut out = String::new();
    let mut count = 0u64;
    walk_segment(dir, name, |event| match event {
        Event::Header(Ok(h)) => {
            let _ = writeln!(
                out,
                "{name}: ferrozk log segment, first zxid {:#x}, follows zxid {:#x}",
                h.first_zxid, h.prev_zxid
            );
        }
        Event::Header(Err(HeaderFault::Version(v))) => {
            let _ = writeln!(out, "{name}: log format version {v}, not supported by this build");
        }
        Event::Header(Err(HeaderFault::Unreadable)) => {
            let _ = writeln!(out, "{name}: UNREADABLE HEADER");
        }
        Event::Record(offset, Ok(t)) => {
            count += 1;
            let _ = writeln!(
                out,
                "{} session {:#x} cxid {:#x} zxid {:#x} {} (offset {offset})",
                utc(t.time_ms),
                t.session,
                t.cxid,
                t.zxid,
                describe_op(&t.op)
            );
        }
        Event::Record(offset, Err(())) => {
            let _ = writeln!(out, "offset {offset}: RECORD PASSES ITS CRC BUT DOES NOT DECODE");
        }
        Event::End(t) => {
            let s = SegmentSummary {
                header: Err(HeaderFault::Unreadable),
                records: 0,
                first: None,
                last: None,
                tail: t,
                problem: None,
            };
            let _ = writeln!(out, "{count} records; {}", describe_end(&s, true));
        }
    })?;
    Ok(out)
}

/// One command in words.
pub fn describe_op(op: &TxnOp) -> String {
    match op {
        TxnOp::CreateSession { timeout_ms } => format!("createSession timeout={timeout_ms}"),
        TxnOp::CloseSession => "closeSession".into(),
        TxnOp::Create(c) => {
            let ttl = if c.ttl >= 0 { format!(" ttl={}", c.ttl) } else { String::new() };
            format!("create {} {} acl={} flags={} kind={:?}{ttl}", c.path, data(&c.data), acl(&c.acl), c.flags, c.kind)
        }
        TxnOp::Delete { path, version } => format!("delete {path} version={version}"),
        TxnOp::DeleteContainer { path } => format!("deleteContainer {path}"),
        TxnOp::SetData { path, data: d, version } => format!("setData {path} {} version={version}", data(d)),
        TxnOp::SetAcl { path, acl: a, version } => format!("setACL {path} acl={} version={version}", acl(a)),
        TxnOp::Check { path, version } => format!("check {path} version={version}"),
        TxnOp::Multi(ops) => {
            format!("multi [{}]", ops.iter().map(describe_op).collect::<Vec<_>>().join("; "))
        }
        TxnOp::Error(code) => format!("error {code:?}"),
    }
}

fn data(d: &Option<bytes::Bytes>) -> String {
    match d {
        None => "data=null".into(),
        Some(b) if b.len() <= 32 && b.iter().all(|c| (0x20..0x7f).contains(c)) => {
            format!("data={:?}", String::from_utf8_lossy(b))
        }
        Some(b) => format!("data=<{} bytes>", b.len()),
    }
}

fn acl(list: &[Acl]) -> String {
    let entries: Vec<String> = list.iter().map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perms(a.perms))).collect();
    format!("[{}]", entries.join(","))
}

fn perms(p: i32) -> String {
    [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')]
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// `ferrozk dump-snapshot FILE`: header, every node with its Stat (and data with
/// `with_data`), the sessions with their ephemeral counts, and whether CRC and digest hold.
///
/// # Errors
/// `Io` if the file cannot be opened; `BadSnapshot` if its header does not parse. Damage
/// further in is reported at the end of the text, after what could be read.
pub fn dump_snapshot(file: &Path, with_data: bool) -> Result<String, StorageError> {
    let (dir, name) = split(file);
    dump_snapshot_in(&dir, &name, with_data)
}

/// [`dump_snapshot`] over any directory.
///
/// # Errors
/// As [`dump_snapshot`].
pub fn dump_snapshot_in(dir: &dyn Dir, name: &str, with_data: bool) -> Result<String, StorageError> {
    let (mut r, h, sessions) = SnapshotReader::open(dir, name)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{name}: ferrozk snapshot v{}, zxid {:#x}, slot {}, digest {:#018x} (digest version {})",
        h.version, h.last_zxid, h.slot, h.digest, h.digest_version
    );
    let _ = writeln!(out, "ZNode Details (count={}):", r.nodes_left());
    let mut ephemerals: std::collections::BTreeMap<i64, u64> = Default::default();
    let mut sum = 0u64;
    let verdict = loop {
        match r.next_node() {
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
            Ok(Some((_, n))) => {
                let s = n.stat;
                let _ = writeln!(out, "----\n{}", n.path);
                let _ = writeln!(out, "  cZxid = {:#x}\n  ctime = {}", s.czxid, utc(s.ctime));
                let _ = writeln!(out, "  mZxid = {:#x}\n  mtime = {}", s.mzxid, utc(s.mtime));
                let _ = writeln!(out, "  pZxid = {:#x}\n  childCreates = {}", s.pzxid, s.cversion);
                let _ = writeln!(out, "  dataVersion = {}\n  aclVersion = {}", s.version, s.aversion);
                let _ = writeln!(out, "  ephemeralOwner = {:#x}\n  acl = {}", s.ephemeral_owner, acl(&n.acl));
                let len = n.data.as_ref().map_or(-1, |d| d.len() as i64);
                let _ = writeln!(out, "  dataLength = {len}");
                if with_data {
                    let _ = writeln!(out, "  {}", data(&n.data));
                }
                let node = Node::new(n.data, n.acl, n.stat);
                if let crate::tree::NodeKind::Ephemeral(owner) = node.kind() {
                    *ephemerals.entry(owner).or_default() += 1;
                }
                sum = sum.wrapping_add(digest::node_hash(&n.path, &node));
            }
        }
    };
    let _ = writeln!(out, "----\nSession Details (sid, timeout, ephemeralCount):");
    for (id, timeout) in &sessions {
        let _ = writeln!(out, "{id:#x}, {timeout}, {}", ephemerals.get(id).copied().unwrap_or(0));
    }
    let verdict = verdict.unwrap_or_else(|| {
        if h.digest_version != digest::DIGEST_VERSION || sum == h.digest {
            "crc ok, digest ok".into()
        } else {
            format!("DAMAGED: tree digest {sum:#018x} differs from the recorded {:#018x}", h.digest)
        }
    });
    let _ = writeln!(out, "{verdict}");
    Ok(out)
}

/// Milliseconds since the epoch as an ISO-8601 UTC time.
pub fn utc(ms: i64) -> String {
    let (year, month, day, h, m, s, _) = crate::admin::java_fmt::civil(ms);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z", ms.rem_euclid(1000))
}
