//! Start-up: the newest snapshot that verifies, then the log after it.
//!
//! What counts as what:
//! - a torn tail: the written data of the *last* segment ends in bytes holding no valid
//!   record (a crash mid-write, never acknowledged). It is cut off with a warning saying
//!   how many bytes; a last segment with no record at all (a crash while creating it) is
//!   removed.
//! - damage: a record that does not verify with a valid record after it, a torn or empty
//!   segment that is not the last, an unreadable header, a record that does not decode,
//!   zxids that do not increase, a gap between segments (`prev_zxid` in a header beyond
//!   the last zxid before it), a snapshot that does not verify. `Strict` mode stops with
//!   the error; `TruncateToLastGood` starts from the last good point and sets the rest
//!   aside as `*.damaged`, listing each thing in `Recovered::discarded`.

use tracing::warn;

use super::backend::Dir;
use super::segment::{self, HeaderFault, SegmentHeader, SegmentReader, Step, Tail, HEADER_BYTES};
use super::snapshot;
use super::{Recovered, RecoveryMode, StorageError};
use crate::txn::{self, codec, State};

/// [`super::recover`] over any pair of directories (the simulated disk in tests).
///
/// # Errors
/// As [`super::recover`].
pub fn recover_in(snap_dir: &dyn Dir, log_dir: &dyn Dir, mode: RecoveryMode) -> Result<Recovered, StorageError> {
    let mut rec =
        Recovered { state: State::default(), replayed: 0, snapshot: None, discarded: Vec::new(), cut: Vec::new() };
    remove_snapshot_temps(snap_dir, &mut rec)?;
    load_snapshot(snap_dir, mode, &mut rec)?;
    replay_log(log_dir, mode, &mut rec)?;
    Ok(rec)
}

fn list(dir: &dyn Dir) -> Result<Vec<String>, StorageError> {
    dir.list().map_err(|e| StorageError::io(dir.path(), e))
}

fn remove_snapshot_temps(dir: &dyn Dir, rec: &mut Recovered) -> Result<(), StorageError> {
    for name in list(dir)?.into_iter().filter(|n| snapshot::is_snapshot_temp(n)) {
        warn!(file = %dir.file(&name).display(), "removing a snapshot left half-written by a crash");
        dir.remove(&name).map_err(|e| StorageError::io(&dir.file(&name), e))?;
        rec.cut.push(format!("{}: half-written snapshot removed", dir.file(&name).display()));
    }
    Ok(())
}

fn load_snapshot(dir: &dyn Dir, mode: RecoveryMode, rec: &mut Recovered) -> Result<(), StorageError> {
    let mut snaps: Vec<(i64, String)> =
        list(dir)?.into_iter().filter_map(|n| Some((snapshot::parse_snapshot_name(&n)?, n))).collect();
    snaps.sort_unstable_by(|a, b| b.cmp(a));
    for (zxid, name) in snaps {
        let loaded = snapshot::read_snapshot_in(dir, &name).and_then(|state| {
            if state.last_zxid == zxid {
                Ok(state)
            } else {
                Err(StorageError::BadSnapshot {
                    file: dir.file(&name),
                    offset: 16,
                    reason: format!("holds zxid {:#x}, its name says {zxid:#x}", state.last_zxid),
                })
            }
        });
        match (loaded, mode) {
            (Ok(state), _) => {
                rec.state = state;
                rec.snapshot = Some(dir.file(&name));
                return Ok(());
            }
            (Err(e), RecoveryMode::Strict) => return Err(e),
            (Err(e), RecoveryMode::TruncateToLastGood) => {
                let aside = set_aside(dir, &name)?;
                warn!(error = %e, "DISCARDING snapshot (operator chose to start from the last good point); set aside as {aside}");
                rec.discarded.push(format!("{e}; set aside as {aside}"));
            }
        }
    }
    Ok(())
}

/// Renames a damaged file out of the way (keeping it for inspection) and returns its new
/// name.
fn set_aside(dir: &dyn Dir, name: &str) -> Result<String, StorageError> {
    let names = list(dir)?;
    let aside = (1..)
        .map(|i| if i == 1 { format!("{name}.damaged") } else { format!("{name}.damaged.{i}") })
        .find(|n| !names.contains(n))
        .expect("some free name");
    dir.rename(name, &aside).and_then(|()| dir.sync()).map_err(|e| StorageError::io(&dir.file(name), e))?;
    Ok(aside)
}

/// Where replay stands between segments.
struct Cursor {
    /// Zxid of the snapshot loaded (0 for none).
    snapshot_zxid: i64,
    /// Zxid of the last record seen in any segment, applied or not.
    last_record: Option<i64>,
}

impl Cursor {
    /// The highest zxid the snapshot and the segments so far account for.
    fn covered(&self) -> i64 {
        self.last_record.unwrap_or(i64::MIN).max(self.snapshot_zxid)
    }
}

/// How one segment went.
enum Outcome {
    Replayed,
    /// Damage at `offset`: what came before it was replayed.
    Damage {
        offset: u64,
        error: StorageError,
    },
}

fn replay_log(dir: &dyn Dir, mode: RecoveryMode, rec: &mut Recovered) -> Result<(), StorageError> {
    let mut segs: Vec<(i64, String)> =
        list(dir)?.into_iter().filter_map(|n| Some((segment::parse_segment_name(&n)?, n))).collect();
    segs.sort_unstable();
    let snapshot_zxid = rec.state.last_zxid;
    // Records after the snapshot can be in the last segment starting at or before it.
    let start = segs.iter().rposition(|(z, _)| *z <= snapshot_zxid).unwrap_or(0);
    let mut cursor = Cursor { snapshot_zxid, last_record: None };
    for i in start..segs.len() {
        let is_last = i + 1 == segs.len();
        let (first, name) = (&segs[i].0, &segs[i].1);
        match replay_segment(dir, name, *first, is_last, &mut cursor, rec)? {
            Outcome::Replayed => {}
            Outcome::Damage { error, .. } if mode == RecoveryMode::Strict => return Err(error),
            Outcome::Damage { offset, error } => {
                return truncate_at_damage(dir, &segs[i..], offset, &error, rec);
            }
        }
    }
    Ok(())
}

fn replay_segment(
    dir: &dyn Dir,
    name: &str,
    first: i64,
    is_last: bool,
    cursor: &mut Cursor,
    rec: &mut Recovered,
) -> Result<Outcome, StorageError> {
    let file = dir.file(name);
    let io = |e| StorageError::io(&file, e);
    let corrupt = |offset, reason: String| Outcome::Damage {
        offset,
        error: StorageError::Corrupt { file: file.clone(), offset, reason },
    };
    let mut backend = dir.open(name).map_err(io)?;
    let mut reader = SegmentReader::new(&*backend).map_err(io)?;
    let header = match reader.header().map_err(io)? {
        Ok(h) => h,
        Err(HeaderFault::Version(v)) => {
            return Err(StorageError::Corrupt {
                file,
                offset: 8,
                reason: format!("log format version {v} is not supported by this build"),
            });
        }
        Err(HeaderFault::Unreadable) => {
            let tail = reader.classify(0).map_err(io)?;
            return match tail {
                Tail::Damaged { .. } => Ok(corrupt(0, "unreadable segment header".into())),
                _ if is_last => remove_unborn(dir, name, rec),
                _ => Ok(corrupt(0, "unreadable header in a segment that is not the last".into())),
            };
        }
    };
    if let Some(damage) = check_header(&file, header, first, cursor) {
        return Ok(damage);
    }
    let mut last = header.prev_zxid;
    let mut count = 0u64;
    loop {
        let (offset, payload) = match reader.next_record().map_err(io)? {
            Step::Record { offset, payload } => (offset, payload),
            Step::End(Tail::Clean { .. }) => break,
            Step::End(Tail::Torn { end, bytes }) if is_last => {
                drop(reader);
                cut_torn_tail(&mut *backend, &file, end, bytes, rec).map_err(io)?;
                break;
            }
            Step::End(Tail::Torn { end, bytes }) => {
                return Ok(corrupt(end, format!("{bytes} bytes of torn data in a segment that is not the last")));
            }
            Step::End(Tail::Damaged { offset, next }) => {
                return Ok(Outcome::Damage { offset, error: StorageError::BadCrc { file, offset, next } });
            }
        };
        let txn = match codec::decode(&payload) {
            Ok(([], txn)) => txn,
            _ => return Ok(corrupt(offset, "record passes its crc but does not decode".into())),
        };
        if count == 0 && txn.zxid != header.first_zxid {
            return Ok(corrupt(
                offset,
                format!("first record has zxid {:#x}, the segment is named {first:#x}", txn.zxid),
            ));
        }
        let floor = cursor.last_record.map_or(last, |l| l.max(last));
        if txn.zxid <= floor {
            return Ok(corrupt(offset, format!("zxid {:#x} after {floor:#x}: zxids must increase", txn.zxid)));
        }
        last = txn.zxid;
        cursor.last_record = Some(txn.zxid);
        count += 1;
        if txn.zxid > rec.state.last_zxid {
            txn::apply(&mut rec.state, &txn);
            rec.replayed += 1;
        }
    }
    if count == 0 {
        if is_last {
            return remove_unborn(dir, name, rec);
        }
        return Ok(corrupt(HEADER_BYTES, "segment that is not the last holds no record".into()));
    }
    Ok(Outcome::Replayed)
}

fn check_header(file: &std::path::Path, h: SegmentHeader, first: i64, cursor: &Cursor) -> Option<Outcome> {
    if h.first_zxid != first {
        let reason = format!("header says first zxid {:#x}, the name says {first:#x}", h.first_zxid);
        return Some(Outcome::Damage {
            offset: 12,
            error: StorageError::Corrupt { file: file.to_owned(), offset: 12, reason },
        });
    }
    if h.prev_zxid > cursor.covered() {
        let error = StorageError::MissingSegment { file: file.to_owned(), after: cursor.covered(), prev: h.prev_zxid };
        return Some(Outcome::Damage { offset: 0, error });
    }
    None
}

/// Removes a last segment that holds no record: a crash came after it was created and
/// before its first records were synced. Its name must be free for the writer.
fn remove_unborn(dir: &dyn Dir, name: &str, rec: &mut Recovered) -> Result<Outcome, StorageError> {
    let file = dir.file(name);
    warn!(file = %file.display(), "removing a log segment that holds no record (crash while it was being created)");
    dir.remove(name).and_then(|()| dir.sync()).map_err(|e| StorageError::io(&file, e))?;
    rec.cut.push(format!("{}: segment without records removed", file.display()));
    Ok(Outcome::Replayed)
}

fn cut_torn_tail(
    backend: &mut dyn super::Backend,
    file: &std::path::Path,
    end: u64,
    bytes: u64,
    rec: &mut Recovered,
) -> std::io::Result<()> {
    warn!(file = %file.display(), offset = end, bytes, "cutting a torn tail: {bytes} bytes after the last valid record at offset {end} (a write interrupted by a crash, never acknowledged)");
    backend.set_len(end)?;
    backend.sync()?;
    rec.cut.push(format!("{}: torn tail of {bytes} bytes cut at offset {end}", file.display()));
    Ok(())
}

/// `TruncateToLastGood`: keeps the damaged segment's records before `offset` (a copy of
/// the whole file is set aside first), and sets every later segment aside.
fn truncate_at_damage(
    dir: &dyn Dir,
    segs: &[(i64, String)],
    offset: u64,
    error: &StorageError,
    rec: &mut Recovered,
) -> Result<(), StorageError> {
    let name = &segs[0].1;
    let file = dir.file(name);
    let io = |e| StorageError::io(&file, e);
    warn!(%error, "DISCARDING the log from {} offset {offset} on (operator chose to start from the last good point)", file.display());
    if offset <= HEADER_BYTES {
        let aside = set_aside(dir, name)?;
        rec.discarded.push(format!("{error}; whole segment set aside as {aside}"));
    } else {
        let copy = copy_aside(dir, name).map_err(io)?;
        let mut backend = dir.open(name).map_err(io)?;
        let len = backend.len().map_err(io)?;
        backend.set_len(offset).and_then(|()| backend.sync()).map_err(io)?;
        rec.discarded.push(format!(
            "{error}; cut at offset {offset}, {} bytes discarded (original kept as {copy})",
            len - offset
        ));
    }
    for (_, later) in &segs[1..] {
        let aside = set_aside(dir, later)?;
        warn!("DISCARDING log segment {} (after the damage); set aside as {aside}", dir.file(later).display());
        rec.discarded
            .push(format!("{}: whole segment after the damage set aside as {aside}", dir.file(later).display()));
    }
    Ok(())
}

fn copy_aside(dir: &dyn Dir, name: &str) -> std::io::Result<String> {
    let names = dir.list()?;
    let copy = (1..)
        .map(|i| if i == 1 { format!("{name}.damaged") } else { format!("{name}.damaged.{i}") })
        .find(|n| !names.contains(n))
        .expect("some free name");
    let src = dir.open(name)?;
    let mut dst = dir.create(&copy)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    loop {
        let n = src.read_at(at, &mut buf)?;
        if n == 0 {
            break;
        }
        dst.write_at(at, &buf[..n])?;
        at += n as u64;
    }
    dst.sync()?;
    dir.sync()?;
    Ok(copy)
}
