//! The write-ahead log writer. Appends are buffered in memory; [`Wal::sync`] writes the
//! whole buffer with one `write_at` and makes it durable with one fsync, so every request
//! waiting for the disk shares that fsync (group commit) and throughput grows with load.
//!
//! A segment is created lazily, at the first sync after open or [`Wal::roll`], named by
//! the zxid of its first record (as ZooKeeper names `log.<zxid>`), and preallocated with
//! zeros in `preallocate_bytes` steps so most fsyncs change no file size. Segments are
//! never reopened for append: after a restart the log continues in a new segment.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;

use super::backend::{Backend, Dir};
use super::segment::{self, SegmentHeader, HEADER_BYTES, RECORD_BYTES_MAX};
use super::StorageError;
use crate::txn::{codec, Txn};

/// How the writer behaves, from [`super::StorageOptions`].
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// fsync on every [`Wal::sync`]; false only for tests and benchmarks.
    pub force_sync: bool,
    /// Preallocation step in bytes; 0 turns preallocation off.
    pub preallocate_bytes: u64,
}

struct OpenSegment {
    name: String,
    backend: Box<dyn Backend>,
    /// Where the next record goes.
    end: u64,
    /// Bytes the file has been extended to.
    allocated: u64,
}

/// The log writer. Owned by the one task that orders writes.
pub struct Wal {
    dir: Arc<dyn Dir>,
    opts: WalOptions,
    segment: Option<OpenSegment>,
    /// Framed records not yet written.
    buf: Vec<u8>,
    /// Scratch for encoding one payload.
    scratch: BytesMut,
    buf_first_zxid: Option<i64>,
    /// Last zxid appended (buffered or written).
    last_zxid: i64,
    /// Last zxid made durable (or written, without force_sync).
    synced_zxid: i64,
    poisoned: Option<String>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir.path())
            .field("segment", &self.segment.as_ref().map(|s| &s.name))
            .field("last_zxid", &self.last_zxid)
            .field("synced_zxid", &self.synced_zxid)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Wal {
    /// A writer over any directory (the simulated disk in tests) that continues after
    /// `last_zxid`, the last zxid recovery replayed (0 for a fresh log).
    ///
    /// # Errors
    /// The directory cannot be listed, or already holds a segment starting after
    /// `last_zxid` (recovery was skipped or ran on another directory).
    pub fn open_in(dir: Arc<dyn Dir>, opts: WalOptions, last_zxid: i64) -> Result<Wal, StorageError> {
        let names = dir.list().map_err(|e| StorageError::io(dir.path(), e))?;
        if let Some((name, first)) = names
            .iter()
            .filter_map(|n| Some((n, segment::parse_segment_name(n)?)))
            .filter(|(_, z)| *z > last_zxid)
            .max_by_key(|(_, z)| *z)
        {
            return Err(StorageError::LogAhead { file: dir.file(name), first, last_zxid });
        }
        Ok(Wal {
            dir,
            opts,
            segment: None,
            buf: Vec::new(),
            scratch: BytesMut::new(),
            buf_first_zxid: None,
            last_zxid,
            synced_zxid: last_zxid,
            poisoned: None,
        })
    }

    /// Last zxid appended, buffered or not.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Last zxid on disk: every record up to it survives a crash (with `force_sync`).
    pub fn synced_zxid(&self) -> i64 {
        self.synced_zxid
    }

    /// Whether an IO error has stopped the log.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Bytes buffered and not yet written.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The file of the segment being written, if one is open.
    pub fn segment_path(&self) -> Option<std::path::PathBuf> {
        self.segment.as_ref().map(|s| self.dir.file(&s.name))
    }

    fn check(&self) -> Result<(), StorageError> {
        match &self.poisoned {
            Some(cause) => Err(StorageError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// Buffers one record; nothing reaches the disk until [`Wal::sync`].
    ///
    /// # Errors
    /// `Poisoned` after an earlier IO error; `OutOfOrder` if the zxid does not increase;
    /// `RecordTooLarge` over `RECORD_BYTES_MAX`. None of these changes the buffer.
    pub fn append(&mut self, txn: &Txn) -> Result<(), StorageError> {
        self.check()?;
        if txn.zxid <= self.last_zxid {
            return Err(StorageError::OutOfOrder { zxid: txn.zxid, last: self.last_zxid });
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        codec::encode(txn, &mut scratch);
        let result = self.append_payload(txn.zxid, &scratch);
        self.scratch = scratch;
        result
    }

    /// Buffers one record whose payload the caller encoded; `key` takes the place of the
    /// zxid (it names segments and must increase). The ensemble's consensus log uses it
    /// with a record counter.
    ///
    /// # Errors
    /// As [`Wal::append`].
    pub fn append_payload(&mut self, key: i64, payload: &[u8]) -> Result<(), StorageError> {
        self.check()?;
        if key <= self.last_zxid {
            return Err(StorageError::OutOfOrder { zxid: key, last: self.last_zxid });
        }
        if payload.len() > RECORD_BYTES_MAX as usize {
            return Err(StorageError::RecordTooLarge { zxid: key, bytes: payload.len(), max: RECORD_BYTES_MAX });
        }
        segment::frame_record(payload, &mut self.buf);
        self.buf_first_zxid.get_or_insert(key);
        self.last_zxid = key;
        Ok(())
    }

    /// Writes everything buffered, then one fsync (none when `force_sync` is off). Once it
    /// returns `Ok`, every appended record survives a crash.
    ///
    /// # Errors
    /// `Poisoned` after an earlier IO error; `Io` naming the file if this write or fsync
    /// fails, after which the log is poisoned: a failed fsync may have dropped dirty pages
    /// the kernel will never write again, so retrying could acknowledge lost data.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check()?;
        let Some(first) = self.buf_first_zxid else {
            return Ok(());
        };
        let result = self.write_buffered(first);
        self.poison_on_err(result)?;
        self.buf.clear();
        self.buf_first_zxid = None;
        self.synced_zxid = self.last_zxid;
        Ok(())
    }

    /// Closes the current segment (syncing anything buffered first, and trimming its
    /// preallocated zeros); the next sync starts a new segment. Called when a snapshot is
    /// taken, so purging can drop whole segments.
    ///
    /// # Errors
    /// As [`Wal::sync`].
    pub fn roll(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        let Some(mut seg) = self.segment.take() else {
            return Ok(());
        };
        let trimmed = seg.backend.set_len(seg.end).and_then(|()| self.sync_file(&mut *seg.backend));
        let file = self.dir.file(&seg.name);
        self.poison_on_err(trimmed.map_err(|e| StorageError::Io { file, source: e }))
    }

    /// Continues the log after `zxid`, skipping the zxids between: for a replica that
    /// installed a snapshot at `zxid` from a peer. Rolls to a new segment whose header says
    /// it follows `zxid`, so a recovery that lacks that snapshot reports the gap
    /// (`MissingSegment`) instead of replaying later records onto an older state. Write the
    /// snapshot (durably) before syncing anything after it.
    ///
    /// # Errors
    /// As [`Wal::roll`]; `OutOfOrder` if `zxid` is below the last appended zxid.
    pub fn restart_at(&mut self, zxid: i64) -> Result<(), StorageError> {
        if zxid < self.last_zxid {
            return Err(StorageError::OutOfOrder { zxid, last: self.last_zxid });
        }
        self.roll()?;
        self.last_zxid = zxid;
        self.synced_zxid = zxid;
        Ok(())
    }

    fn poison_on_err(&mut self, result: Result<(), StorageError>) -> Result<(), StorageError> {
        if let Err(e) = &result {
            tracing::error!(error = %e, "write-ahead log failed; refusing further writes");
            self.poisoned = Some(e.to_string());
            self.segment = None;
        }
        result
    }

    fn sync_file(&self, backend: &mut dyn Backend) -> io::Result<()> {
        if self.opts.force_sync {
            backend.sync()
        } else {
            Ok(())
        }
    }

    fn write_buffered(&mut self, first: i64) -> Result<(), StorageError> {
        let created = self.segment.is_none();
        if created {
            self.segment = Some(self.create_segment(first)?);
        }
        let seg = self.segment.as_mut().expect("segment just ensured");
        if let Err(source) = write_records(seg, &self.buf, self.opts) {
            return Err(StorageError::Io { file: self.dir.file(&seg.name), source });
        }
        if created && self.opts.force_sync {
            // The new name must be durable too, or a crash could lose a synced segment.
            self.dir.sync().map_err(|e| StorageError::io(self.dir.path(), e))?;
        }
        Ok(())
    }

    fn create_segment(&mut self, first: i64) -> Result<OpenSegment, StorageError> {
        let name = segment::segment_name(first);
        let mut backend = self.dir.create(&name).map_err(|e| StorageError::io(&self.dir.file(&name), e))?;
        let header = segment::encode_header(SegmentHeader { first_zxid: first, prev_zxid: self.synced_zxid });
        backend.write_at(0, &header).map_err(|e| StorageError::io(&self.dir.file(&name), e))?;
        Ok(OpenSegment { name, backend, end: HEADER_BYTES, allocated: HEADER_BYTES })
    }
}

/// Extends the file in preallocation steps if the records do not fit, writes them after
/// the last record, and fsyncs.
fn write_records(seg: &mut OpenSegment, records: &[u8], opts: WalOptions) -> io::Result<()> {
    let end = seg.end + records.len() as u64;
    if end > seg.allocated && opts.preallocate_bytes > 0 {
        let step = opts.preallocate_bytes;
        seg.backend.set_len(end.div_ceil(step) * step)?;
        seg.allocated = end.div_ceil(step) * step;
    }
    seg.backend.write_at(seg.end, records)?;
    if opts.force_sync {
        seg.backend.sync()?;
    }
    seg.end = end;
    Ok(())
}
