//! Autopurge (`autopurge.snapRetainCount`, as ZooKeeper's `PurgeTxnLog`): keep the newest
//! snapshots and every log segment that may hold a record after the oldest kept one, so
//! recovery from any kept snapshot (including the fallback to an older one) still works.

use std::path::PathBuf;

use super::backend::Dir;
use super::segment::parse_segment_name;
use super::snapshot::parse_snapshot_name;
use super::StorageError;

/// What a purge kept and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub kept_snapshots: Vec<PathBuf>,
    pub removed_snapshots: Vec<PathBuf>,
    pub kept_segments: Vec<PathBuf>,
    pub removed_segments: Vec<PathBuf>,
}

fn sorted(dir: &dyn Dir, parse: fn(&str) -> Option<i64>) -> Result<Vec<(i64, String)>, StorageError> {
    let names = dir.list().map_err(|e| StorageError::io(dir.path(), e))?;
    let mut v: Vec<(i64, String)> = names.into_iter().filter_map(|n| Some((parse(&n)?, n))).collect();
    v.sort_unstable();
    Ok(v)
}

/// [`super::purge`] over any pair of directories. Never removes the newest segment (the
/// writer's), temporary files, or files set aside as damaged.
///
/// # Errors
/// `Io` naming the file or directory that failed.
pub fn purge_in(snap_dir: &dyn Dir, log_dir: &dyn Dir, retain: u32) -> Result<PurgeReport, StorageError> {
    let retain = retain.max(1) as usize;
    let snaps = sorted(snap_dir, parse_snapshot_name)?;
    let segs = sorted(log_dir, parse_segment_name)?;
    let mut report = PurgeReport::default();
    let cut = snaps.len().saturating_sub(retain);
    let (old, kept) = snaps.split_at(cut);
    report.kept_snapshots = kept.iter().map(|(_, n)| snap_dir.file(n)).collect();
    // Segments before the last one starting at or before the oldest kept snapshot hold
    // only records that snapshot already has.
    let first_needed = match kept.first() {
        Some((oldest, _)) => segs.iter().rposition(|(z, _)| z <= oldest).unwrap_or(0),
        None => 0,
    };
    let (old_segs, kept_segs) = segs.split_at(first_needed);
    report.kept_segments = kept_segs.iter().map(|(_, n)| log_dir.file(n)).collect();
    for (_, name) in old_segs {
        log_dir.remove(name).map_err(|e| StorageError::io(&log_dir.file(name), e))?;
        report.removed_segments.push(log_dir.file(name));
    }
    for (_, name) in old {
        snap_dir.remove(name).map_err(|e| StorageError::io(&snap_dir.file(name), e))?;
        report.removed_snapshots.push(snap_dir.file(name));
    }
    if !old_segs.is_empty() {
        log_dir.sync().map_err(|e| StorageError::io(log_dir.path(), e))?;
    }
    if !old.is_empty() {
        snap_dir.sync().map_err(|e| StorageError::io(snap_dir.path(), e))?;
    }
    if !report.removed_segments.is_empty() || !report.removed_snapshots.is_empty() {
        tracing::info!(
            snapshots = report.removed_snapshots.len(),
            segments = report.removed_segments.len(),
            "purged old snapshots and log segments"
        );
    }
    Ok(report)
}
