//! The durable side of a replica: the consensus log (accepted entries and the hard state
//! the replica hands out in `PersistBatch`es) and snapshots of the applied state.
//!
//! ```text
//! <dataLogDir>/ferrozk/paxos/log.<first record number, 16 hex>   segments as in segment.rs,
//!                                                                records numbered 1, 2, ...
//! <dataDir>/ferrozk/snapshot.<zxid, 16 hex>.lz4                  the applied state, with the
//!                                                                log slot in its header
//! record = number u64 | tag u8 | body
//!   tag 1, entry      = slot u64 | ballot epoch u32 | ballot id u32
//!                       | 0 (no-op) or 1 | zxid u64 | len u32 | command batch
//!   tag 2, hard state = promised epoch u32 | promised id u32 | commit u64
//! ```
//! Every segment starts with the hard state current when it was opened, so deleting older
//! segments (once a snapshot covers every slot they hold) never loses the promise.
//! A torn tail of the last segment is cut; any other damage stops start-up naming the file
//! and offset. There is no "start from the last good point" for a replica: wipe its data
//! directory instead and it catches up from its peers.

use std::sync::Arc;
use std::thread;

use ferrozk_consensus::{
    self as consensus, Ballot, Entry, HardState, LogEntry, ServerId, Snapshot, SnapshotMeta, Zxid,
};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::server::driver::DriverMsg;
use crate::storage::backend::{Dir, FsDir};
use crate::storage::segment::{self, HeaderFault, SegmentReader, Step, Tail, HEADER_BYTES};
use crate::storage::{snapshot, SnapshotTicket, StorageError, StorageOptions, Wal, WalOptions};
use crate::txn::State;

/// Subdirectory of `<dataLogDir>/ferrozk/` holding the consensus log.
pub const PAXOS_SUBDIR: &str = "paxos";
const TAG_ENTRY: u8 = 1;
const TAG_HARD_STATE: u8 = 2;

/// What the store thread is asked to do, in order.
pub enum StoreCmd {
    /// Append a batch's entries and hard state; answered with `DriverMsg::Persisted`.
    Persist { token: u64, entries: Vec<LogEntry>, hard_state: Option<HardState> },
    /// Write a snapshot of this (applied) state, then let the driver compact the log.
    Snapshot(Box<State>, SnapshotTicket),
    /// Encode a snapshot of this state for a peer too far behind the log.
    ForPeer { to: ServerId, state: Box<State> },
    /// The snapshot thread finished writing the snapshot at this point.
    SnapshotWritten(SnapshotMeta),
}

/// What start-up found on disk.
pub struct Recovered {
    /// The applied state of the newest snapshot (the log after it is replayed by the
    /// replica, which hands those entries out again as committed).
    pub state: State,
    /// For `Replica::restore`.
    pub replica: consensus::Recovered,
    /// Number of the last record on disk.
    last_record: i64,
    /// (first record number, highest slot held) of each segment, oldest first.
    segments: Vec<(i64, u64)>,
}

fn paxos_dir(opts: &StorageOptions) -> Result<FsDir, StorageError> {
    let path = opts.log_dir().join(PAXOS_SUBDIR);
    FsDir::create_all(&path).map_err(|e| StorageError::io(&path, e))
}

fn snap_dir(opts: &StorageOptions) -> Result<FsDir, StorageError> {
    FsDir::create_all(&opts.snap_dir()).map_err(|e| StorageError::io(&opts.snap_dir(), e))
}

/// Reads the newest snapshot and the whole consensus log.
///
/// # Errors
/// Damage (naming file and offset), or a data directory that holds a standalone server's
/// log, which a replica cannot join to an ensemble's.
pub fn recover(opts: &StorageOptions) -> Result<Recovered, StorageError> {
    let log_dir = FsDir::create_all(&opts.log_dir()).map_err(|e| StorageError::io(&opts.log_dir(), e))?;
    let names = log_dir.list().map_err(|e| StorageError::io(log_dir.path(), e))?;
    if let Some(n) = names.iter().find(|n| segment::parse_segment_name(n).is_some()) {
        return Err(StorageError::Corrupt {
            file: log_dir.file(n),
            offset: 0,
            reason: "this data directory holds a standalone server's log; an ensemble member starts from an \
                     empty data directory (move these files away) and copies the data from its peers"
                .into(),
        });
    }
    let snaps = snap_dir(opts)?;
    let state = load_newest_snapshot(&snaps)?;
    let dir = paxos_dir(opts)?;
    let mut rec = Recovered {
        replica: consensus::Recovered {
            hard_state: HardState::default(),
            snapshot: Some(SnapshotMeta { slot: state.slot, last_zxid: Zxid(state.last_zxid as u64) }),
            entries: Vec::new(),
        },
        state,
        last_record: 0,
        segments: Vec::new(),
    };
    let mut segs: Vec<(i64, String)> = dir
        .list()
        .map_err(|e| StorageError::io(dir.path(), e))?
        .into_iter()
        .filter_map(|n| Some((segment::parse_segment_name(&n)?, n)))
        .collect();
    segs.sort_unstable();
    for (i, (first, name)) in segs.iter().enumerate() {
        read_segment(&dir, name, *first, i + 1 == segs.len(), i == 0, &mut rec)?;
    }
    let snap_slot = rec.state.slot;
    rec.replica.entries.retain(|e| e.slot > snap_slot);
    Ok(rec)
}

fn load_newest_snapshot(dir: &FsDir) -> Result<State, StorageError> {
    let names = dir.list().map_err(|e| StorageError::io(dir.path(), e))?;
    for tmp in names.iter().filter(|n| snapshot::is_snapshot_temp(n)) {
        warn!(file = %dir.file(tmp).display(), "removing a snapshot left half-written by a crash");
        let _ = dir.remove(tmp);
    }
    let Some((zxid, name)) = names.iter().filter_map(|n| Some((snapshot::parse_snapshot_name(n)?, n))).max() else {
        return Ok(State::default());
    };
    let state = snapshot::read_snapshot_in(dir, name)?;
    if state.last_zxid != zxid || (state.slot == 0 && zxid != 0) {
        let reason = if state.slot == 0 {
            "a standalone server's snapshot (no log slot); an ensemble member starts from an empty data \
             directory and copies the data from its peers"
                .to_string()
        } else {
            format!("holds zxid {:#x}, its name says {zxid:#x}", state.last_zxid)
        };
        return Err(StorageError::BadSnapshot { file: dir.file(name), offset: 16, reason });
    }
    Ok(state)
}

fn read_segment(
    dir: &FsDir,
    name: &str,
    first: i64,
    is_last: bool,
    is_first: bool,
    rec: &mut Recovered,
) -> Result<(), StorageError> {
    let file = dir.file(name);
    let io = |e| StorageError::io(&file, e);
    let corrupt = |offset, reason: String| StorageError::Corrupt { file: file.clone(), offset, reason };
    let mut backend = dir.open(name).map_err(io)?;
    let mut reader = SegmentReader::new(&*backend).map_err(io)?;
    let header = match reader.header().map_err(io)? {
        Ok(h) => h,
        Err(HeaderFault::Version(v)) => return Err(corrupt(8, format!("log format version {v} is not supported"))),
        Err(HeaderFault::Unreadable) if is_last && !matches!(reader.classify(0).map_err(io)?, Tail::Damaged { .. }) => {
            drop(reader);
            warn!(file = %file.display(), "removing a log segment that holds no record (crash while it was being created)");
            return dir.remove(name).and_then(|()| dir.sync()).map_err(io);
        }
        Err(HeaderFault::Unreadable) => return Err(corrupt(0, "unreadable segment header".into())),
    };
    if header.first_zxid != first {
        return Err(corrupt(12, format!("header says first record {}, the name says {first}", header.first_zxid)));
    }
    if !is_first && header.prev_zxid != rec.last_record {
        return Err(StorageError::MissingSegment { file, after: rec.last_record, prev: header.prev_zxid });
    }
    let mut max_slot = 0;
    let mut count = 0;
    loop {
        let (offset, payload) = match reader.next_record().map_err(io)? {
            Step::Record { offset, payload } => (offset, payload),
            Step::End(Tail::Clean { .. }) => break,
            Step::End(Tail::Torn { end, bytes }) if is_last => {
                drop(reader);
                warn!(file = %file.display(), offset = end, bytes, "cutting a torn tail: {bytes} bytes after the last valid record (a write interrupted by a crash, never acknowledged)");
                backend.set_len(end).and_then(|()| backend.sync()).map_err(io)?;
                break;
            }
            Step::End(Tail::Torn { end, bytes }) => {
                return Err(corrupt(end, format!("{bytes} bytes of torn data in a segment that is not the last")));
            }
            Step::End(Tail::Damaged { offset, next }) => return Err(StorageError::BadCrc { file, offset, next }),
        };
        let Some((number, record)) = decode_record(&payload) else {
            return Err(corrupt(offset, "record passes its crc but does not decode".into()));
        };
        let expected = if count == 0 { first } else { rec.last_record + 1 };
        if number != expected {
            return Err(corrupt(offset, format!("record number {number}, expected {expected}")));
        }
        rec.last_record = number;
        count += 1;
        match record {
            Record::Entry(e) => {
                max_slot = max_slot.max(e.slot);
                rec.replica.entries.push(e);
            }
            Record::HardState(h) => rec.replica.hard_state = h,
        }
    }
    if count == 0 && is_last {
        warn!(file = %file.display(), "removing a log segment that holds no record (crash while it was being created)");
        return dir.remove(name).and_then(|()| dir.sync()).map_err(io);
    }
    if count == 0 {
        return Err(corrupt(HEADER_BYTES, "segment that is not the last holds no record".into()));
    }
    rec.segments.push((first, max_slot));
    Ok(())
}

enum Record {
    Entry(LogEntry),
    HardState(HardState),
}

fn encode_entry(number: i64, e: &LogEntry, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&number.to_be_bytes());
    out.push(TAG_ENTRY);
    out.extend_from_slice(&e.slot.to_be_bytes());
    out.extend_from_slice(&e.ballot.epoch.to_be_bytes());
    out.extend_from_slice(&e.ballot.id.0.to_be_bytes());
    match &e.entry {
        Entry::Noop => out.push(0),
        Entry::Batch { zxid, data } => {
            out.push(1);
            out.extend_from_slice(&zxid.0.to_be_bytes());
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
    }
}

fn encode_hard_state(number: i64, h: HardState, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&number.to_be_bytes());
    out.push(TAG_HARD_STATE);
    out.extend_from_slice(&h.promised.epoch.to_be_bytes());
    out.extend_from_slice(&h.promised.id.0.to_be_bytes());
    out.extend_from_slice(&h.commit.to_be_bytes());
}

fn decode_record(b: &[u8]) -> Option<(i64, Record)> {
    let mut r = b;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = r.split_at_checked(n)?;
        r = rest;
        Some(head)
    };
    let u64_ = |s: &[u8]| u64::from_be_bytes(s.try_into().expect("8 bytes"));
    let u32_ = |s: &[u8]| u32::from_be_bytes(s.try_into().expect("4 bytes"));
    let number = u64_(take(8)?) as i64;
    let record = match take(1)?[0] {
        TAG_ENTRY => {
            let slot = u64_(take(8)?);
            let ballot = Ballot { epoch: u32_(take(4)?), id: ServerId(u32_(take(4)?)) };
            let entry = match take(1)?[0] {
                0 => Entry::Noop,
                1 => {
                    let zxid = Zxid(u64_(take(8)?));
                    let len = u32_(take(4)?) as usize;
                    Entry::Batch { zxid, data: take(len)?.to_vec() }
                }
                _ => return None,
            };
            Record::Entry(LogEntry { slot, ballot, entry })
        }
        TAG_HARD_STATE => Record::HardState(HardState {
            promised: Ballot { epoch: u32_(take(4)?), id: ServerId(u32_(take(4)?)) },
            commit: u64_(take(8)?),
        }),
        _ => return None,
    };
    r.is_empty().then_some((number, record))
}

/// The store thread's state.
struct Store {
    wal: Wal,
    dir: FsDir,
    opts: Arc<StorageOptions>,
    next_record: i64,
    hard_state: HardState,
    segments: Vec<(i64, u64)>,
    /// The next record opens a new segment.
    segment_pending: bool,
    scratch: Vec<u8>,
}

impl Store {
    fn append(&mut self, record: impl FnOnce(i64, &mut Vec<u8>), slot: u64) {
        let number = self.next_record;
        record(number, &mut self.scratch);
        must(self.wal.append_payload(number, &self.scratch));
        self.next_record += 1;
        if self.segment_pending {
            self.segments.push((number, 0));
            self.segment_pending = false;
        }
        if let Some(last) = self.segments.last_mut() {
            last.1 = last.1.max(slot);
        }
    }

    fn append_hard_state(&mut self, h: HardState) {
        self.hard_state = h;
        self.append(|n, out| encode_hard_state(n, h, out), 0);
    }

    /// Starts a new segment that opens with the current hard state.
    fn roll(&mut self) {
        must(self.wal.roll());
        self.segment_pending = true;
        self.append_hard_state(self.hard_state);
    }

    /// Deletes segments whose every entry the snapshot at `slot` covers (never the newest).
    fn purge_through(&mut self, slot: u64) {
        let keep_from = self.segments.len().saturating_sub(1);
        let mut kept = Vec::new();
        for (i, (first, max)) in self.segments.drain(..).enumerate() {
            if i < keep_from && max <= slot {
                let name = segment::segment_name(first);
                match self.dir.remove(&name) {
                    Ok(()) => info!(file = %self.dir.file(&name).display(), "purged consensus log segment"),
                    Err(e) => warn!(file = %self.dir.file(&name).display(), "cannot purge: {e}"),
                }
            } else {
                kept.push((first, max));
            }
        }
        self.segments = kept;
        let _ = self.dir.sync();
    }
}

/// Starts the store thread over what [`recover`] found. Returns the state to serve from,
/// what the replica restores from, and the thread's command channel.
///
/// # Errors
/// The log directory cannot be opened for writing.
pub fn start(
    opts: StorageOptions,
    rec: Recovered,
    driver: mpsc::Sender<DriverMsg>,
) -> Result<(State, consensus::Recovered, mpsc::UnboundedSender<StoreCmd>), StorageError> {
    let dir = paxos_dir(&opts)?;
    let wal_opts = WalOptions { force_sync: opts.force_sync, preallocate_bytes: opts.preallocate_bytes };
    let wal = Wal::open_in(Arc::new(paxos_dir(&opts)?), wal_opts, rec.last_record)?;
    let mut store = Store {
        wal,
        dir,
        opts: Arc::new(opts),
        next_record: rec.last_record + 1,
        hard_state: rec.replica.hard_state,
        segments: rec.segments,
        segment_pending: true,
        scratch: Vec::new(),
    };
    // The new segment opens with the hard state, so purging older ones never loses it.
    store.append_hard_state(rec.replica.hard_state);
    must(store.wal.sync());
    let (tx, rx) = mpsc::unbounded_channel();
    let own = tx.clone();
    thread::Builder::new()
        .name("ferrozk-paxos-log".into())
        .spawn(move || run(store, rx, own, driver))
        .map_err(|e| StorageError::Io { file: "store thread".into(), source: e })?;
    Ok((rec.state, rec.replica, tx))
}

fn run(
    mut store: Store,
    mut rx: mpsc::UnboundedReceiver<StoreCmd>,
    own: mpsc::UnboundedSender<StoreCmd>,
    driver: mpsc::Sender<DriverMsg>,
) {
    let mut batch = Vec::new();
    while rx.blocking_recv_many(&mut batch, 4096) > 0 {
        let mut token = None;
        for cmd in batch.drain(..) {
            match cmd {
                StoreCmd::Persist { token: t, entries, hard_state } => {
                    for e in &entries {
                        store.append(|n, out| encode_entry(n, e, out), e.slot);
                    }
                    if let Some(h) = hard_state {
                        store.append_hard_state(h);
                    }
                    token = Some(t);
                }
                StoreCmd::Snapshot(state, ticket) => {
                    must(store.wal.sync());
                    store.roll();
                    spawn_snapshot(store.opts.clone(), state, ticket, own.clone());
                }
                StoreCmd::SnapshotWritten(meta) => {
                    store.purge_through(meta.slot);
                    if driver.blocking_send(DriverMsg::SnapshotTaken(meta)).is_err() {
                        return;
                    }
                }
                StoreCmd::ForPeer { to, state } => spawn_peer_snapshot(to, state, driver.clone()),
            }
        }
        must(store.wal.sync());
        if let Some(token) = token {
            if driver.blocking_send(DriverMsg::Persisted { token }).is_err() {
                return;
            }
        }
    }
}

fn spawn_snapshot(
    opts: Arc<StorageOptions>,
    state: Box<State>,
    ticket: SnapshotTicket,
    own: mpsc::UnboundedSender<StoreCmd>,
) {
    let spawned = thread::Builder::new().name("ferrozk-snapshot".into()).spawn(move || {
        let meta = SnapshotMeta { slot: state.slot, last_zxid: Zxid(state.last_zxid as u64) };
        let written = match crate::storage::write_snapshot(&opts, &state) {
            Ok(path) => {
                info!(zxid = format_args!("{:#x}", state.last_zxid), slot = state.slot, path = %path.display(), "snapshot written");
                if let Err(e) = crate::storage::purge(&opts) {
                    warn!("purge failed: {e}");
                }
                true
            }
            Err(e) => {
                error!("snapshot at {:#x} failed: {e}; the log is kept whole until one succeeds", state.last_zxid);
                false
            }
        };
        drop(state);
        // Only a snapshot on disk lets the log and the replica drop what it covers.
        if written {
            let _ = own.send(StoreCmd::SnapshotWritten(meta));
        }
        // After the notice: the next snapshot's command queues behind it.
        drop(ticket);
    });
    if spawned.is_err() {
        error!("cannot start the snapshot thread");
    }
}

fn spawn_peer_snapshot(to: ServerId, state: Box<State>, driver: mpsc::Sender<DriverMsg>) {
    let spawned = thread::Builder::new().name("ferrozk-snapshot-send".into()).spawn(move || {
        let meta = SnapshotMeta { slot: state.slot, last_zxid: Zxid(state.last_zxid as u64) };
        match snapshot::encode_snapshot(&state) {
            Ok(data) => {
                info!(peer = %to, slot = meta.slot, bytes = data.len(), "sending a snapshot to a peer behind the log");
                let _ = driver.blocking_send(DriverMsg::PeerSnapshot { to, snapshot: Snapshot { meta, data } });
            }
            Err(e) => error!("cannot encode a snapshot for {to}: {e}"),
        }
    });
    if spawned.is_err() {
        error!("cannot start the snapshot thread");
    }
}

/// Stores a snapshot received from the leader and loads it, before the batch's other writes.
///
/// # Errors
/// IO errors or a snapshot that does not verify.
pub fn install_snapshot(opts: &StorageOptions, snap: &Snapshot) -> Result<State, StorageError> {
    let dir = snap_dir(opts)?;
    snapshot::install_snapshot_in(&dir, snap.meta.last_zxid.0 as i64, &snap.data)
}

/// A log that cannot be written makes every later promise a lie: stop.
fn must(r: Result<(), StorageError>) {
    if let Err(e) = r {
        error!("consensus log failed: {e}");
        crate::server::fatal("the consensus log failed; stopping so nothing unlogged is promised");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        let e = LogEntry {
            slot: 7,
            ballot: Ballot { epoch: 3, id: ServerId(2) },
            entry: Entry::Batch { zxid: Zxid(0x3_0000_0001), data: b"cmd".to_vec() },
        };
        encode_entry(41, &e, &mut out);
        assert!(matches!(decode_record(&out), Some((41, Record::Entry(d))) if d == e));
        let noop = LogEntry { slot: 8, ballot: Ballot::CHOSEN, entry: Entry::Noop };
        encode_entry(42, &noop, &mut out);
        assert!(matches!(decode_record(&out), Some((42, Record::Entry(d))) if d == noop));
        let h = HardState { promised: Ballot { epoch: 9, id: ServerId(1) }, commit: 77 };
        encode_hard_state(43, h, &mut out);
        assert!(matches!(decode_record(&out), Some((43, Record::HardState(d))) if d == h));
        out.push(0);
        assert!(decode_record(&out).is_none(), "trailing bytes");
        assert!(decode_record(&out[..10]).is_none(), "truncated");
    }

    #[test]
    fn a_failed_snapshot_compacts_nothing_and_reopens_the_gate() {
        let tmp = tempfile::tempdir().unwrap();
        // A data directory that is a file: writing the snapshot fails.
        let not_a_dir = tmp.path().join("file");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let opts = StorageOptions::new(&not_a_dir, tmp.path());
        let gate = crate::storage::SnapshotGate::default();
        let ticket = gate.try_begin().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let state = State { slot: 5, ..State::default() };
        spawn_snapshot(Arc::new(opts), Box::new(state), ticket, tx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let reopened = loop {
            if let Some(t) = gate.try_begin() {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "the gate stayed closed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        drop(reopened);
        assert!(rx.try_recv().is_err(), "no SnapshotWritten for a snapshot that is not on disk");
    }

    #[test]
    fn recovery_reads_back_what_the_store_wrote_and_purges_behind_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let mut opts = StorageOptions::new(tmp.path(), tmp.path());
        opts.preallocate_bytes = 0;
        let rec = recover(&opts).unwrap();
        assert_eq!(rec.replica.entries.len(), 0);
        let dir = paxos_dir(&opts).unwrap();
        let wal_opts = WalOptions { force_sync: false, preallocate_bytes: 0 };
        let mut store = Store {
            wal: Wal::open_in(Arc::new(paxos_dir(&opts).unwrap()), wal_opts, rec.last_record).unwrap(),
            dir,
            opts: Arc::new(opts.clone()),
            next_record: rec.last_record + 1,
            hard_state: HardState::default(),
            segments: rec.segments,
            segment_pending: true,
            scratch: Vec::new(),
        };
        let b = Ballot { epoch: 1, id: ServerId(1) };
        for slot in 1..=3 {
            let e = LogEntry { slot, ballot: b, entry: Entry::Noop };
            store.append(|n, out| encode_entry(n, &e, out), slot);
        }
        store.append_hard_state(HardState { promised: b, commit: 3 });
        store.wal.sync().unwrap();
        store.roll();
        let e = LogEntry { slot: 4, ballot: b, entry: Entry::Noop };
        store.append(|n, out| encode_entry(n, &e, out), 4);
        store.wal.sync().unwrap();
        let rec = recover(&opts).unwrap();
        assert_eq!(rec.replica.hard_state, HardState { promised: b, commit: 3 });
        assert_eq!(rec.replica.entries.iter().map(|e| e.slot).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(rec.segments.len(), 2);
        store.purge_through(3);
        let rec = recover(&opts).unwrap();
        assert_eq!(rec.replica.hard_state, HardState { promised: b, commit: 3 }, "the newest segment keeps it");
        assert_eq!(rec.replica.entries.iter().map(|e| e.slot).collect::<Vec<_>>(), [4]);
    }
}
