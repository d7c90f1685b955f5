//! Crash and recovery tests: the real WAL writer and recovery on the simulated disk (lost
//! unsynced writes, torn writes, bit flips, failing fsync), and the public API on real
//! files.

use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Id};

use super::backend::Dir;
use super::recovery::recover_in;
use super::segment::{self, SegmentReader, Step};
use super::sim::{Crash, SimDisk};
use super::snapshot::{read_snapshot_in, snapshot_name, write_snapshot_in};
use super::*;
use crate::tree::NodeKind;
use crate::txn::{apply, CreateKind, CreateOp, Txn, TxnOp};

pub(super) const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

pub(super) fn txn(zxid: i64, session: i64, op: TxnOp) -> Txn {
    Txn { zxid, time_ms: 1_700_000_000_000 + zxid, session, cxid: zxid as i32, ids: Arc::new(vec![]), op }
}

pub(super) fn create(path: &str, data: Option<&'static [u8]>, flags: i32, kind: CreateKind) -> TxnOp {
    TxnOp::Create(CreateOp {
        path: path.into(),
        data: data.map(Bytes::from_static),
        acl: vec![Acl::world(31)],
        flags,
        kind,
        ttl: if kind == CreateKind::Ttl { 60_000 } else { -1 },
    })
}

/// A deterministic workload: two sessions, then creates (some ephemeral, some null data),
/// data changes and deletes.
fn workload(n: i64) -> Vec<Txn> {
    let mut out = vec![
        txn(1, S1, TxnOp::CreateSession { timeout_ms: 30_000 }),
        txn(2, S2, TxnOp::CreateSession { timeout_ms: 10_000 }),
    ];
    for z in 3..=n {
        let op = match z % 13 {
            0 => TxnOp::Delete { path: format!("/n{}", z - 1), version: -1 },
            5 => TxnOp::SetData {
                path: format!("/n{}", z - 1),
                data: Some(Bytes::from(format!("changed {z}"))),
                version: -1,
            },
            7 => create(&format!("/n{z}"), Some(b"eph"), 1, CreateKind::Create),
            9 => create(&format!("/n{z}"), None, 0, CreateKind::Create2),
            _ => create(&format!("/n{z}"), Some(b"value"), 0, CreateKind::Create),
        };
        out.push(txn(z, if z % 2 == 0 { S1 } else { S2 }, op));
    }
    out
}

fn state_at(txns: &[Txn], zxid: i64) -> State {
    let mut s = State::default();
    for t in txns.iter().take_while(|t| t.zxid <= zxid) {
        apply(&mut s, t);
    }
    s
}

fn assert_same(got: &State, want: &State) {
    assert_eq!(got.last_zxid, want.last_zxid, "last zxid");
    assert_eq!(got.sessions, want.sessions, "sessions");
    assert_eq!(got.tree.digest(), want.tree.digest(), "digest");
    assert_eq!(got.tree.node_count(), want.tree.node_count(), "node count");
    for (path, w) in want.tree.iter() {
        let g = got.tree.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(g.data, w.data, "{path} data");
        assert_eq!(g.acl, w.acl, "{path} acl");
        assert_eq!(g.stat, w.stat, "{path} stat");
        assert_eq!(g.children, w.children, "{path} children");
    }
    assert_eq!(got.tree.ephemeral_count(), want.tree.ephemeral_count());
}

fn wal(disk: &SimDisk, last_zxid: i64) -> Wal {
    let opts = WalOptions { force_sync: true, preallocate_bytes: 4096 };
    Wal::open_in(Arc::new(disk.clone()), opts, last_zxid).expect("open wal")
}

fn recover(disk: &SimDisk, mode: RecoveryMode) -> Result<Recovered, StorageError> {
    recover_in(disk, disk, mode)
}

/// Appends and syncs `txns` in groups of `group`.
fn write_all(w: &mut Wal, txns: &[Txn], group: usize) {
    for chunk in txns.chunks(group) {
        for t in chunk {
            w.append(t).unwrap();
        }
        w.sync().unwrap();
    }
}

fn record_offsets(disk: &SimDisk, name: &str) -> Vec<u64> {
    let f = disk.open(name).unwrap();
    let mut r = SegmentReader::new(&*f).unwrap();
    r.header().unwrap().unwrap();
    let mut out = Vec::new();
    while let Step::Record { offset, .. } = r.next_record().unwrap() {
        out.push(offset);
    }
    out
}

/// Where the last record of a segment ends.
fn data_end(disk: &SimDisk, name: &str) -> u64 {
    let last = record_offsets(disk, name).last().copied().unwrap();
    let len = disk.contents(name)[last as usize..last as usize + 4].iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
    last + 8 + len
}

// Design.md, Storage: nothing acknowledged is lost whatever crashes. A crash during the
// fsync of the last batch may keep any prefix of it (torn at a seeded byte), never less
// than what was synced before.
#[test]
fn synced_records_survive_crashes_at_any_point() {
    let txns = workload(120);
    let (mut torn_cut, mut beyond_acked) = (0, 0);
    for seed in 0..60u64 {
        let disk = SimDisk::new("/sim");
        let mut w = wal(&disk, 0);
        let split = 10 + (seed as usize * 7) % 100;
        let group = 1 + (seed as usize % 9);
        let (synced, rest) = txns.split_at(split);
        for (i, chunk) in synced.chunks(group).enumerate() {
            for t in chunk {
                w.append(t).unwrap();
            }
            w.sync().unwrap();
            if i % 4 == 3 {
                w.roll().unwrap();
            }
        }
        let acked = w.synced_zxid();
        for t in &rest[..rest.len().min(group + 3)] {
            w.append(t).unwrap();
        }
        disk.fail_syncs(true);
        assert!(w.sync().is_err(), "seed {seed}");
        let crash = if seed % 3 == 0 { Crash::DropPending } else { Crash::Tear(seed) };
        disk.crash(crash);
        disk.fail_syncs(false);
        drop(w);

        let rec = recover(&disk, RecoveryMode::Strict).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(rec.state.last_zxid >= acked, "seed {seed}: lost acknowledged writes");
        assert!(rec.state.last_zxid <= acked + rest.len() as i64, "seed {seed}");
        assert_same(&rec.state, &state_at(&txns, rec.state.last_zxid));
        assert!(rec.discarded.is_empty());
        torn_cut += usize::from(rec.cut.iter().any(|c| c.contains("torn tail")));
        beyond_acked += usize::from(rec.state.last_zxid > acked);

        // The log continues after recovery and a second recovery sees everything.
        let mut w = wal(&disk, rec.state.last_zxid);
        let next = rec.state.last_zxid as usize;
        write_all(&mut w, &txns[next..], 5);
        drop(w);
        let rec = recover(&disk, RecoveryMode::Strict).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(rec.cut.is_empty(), "seed {seed}: {:?}", rec.cut);
        assert_same(&rec.state, &state_at(&txns, 120));
    }
    // The seeds really do tear writes and keep parts of unacknowledged batches.
    assert!(torn_cut > 5 && beyond_acked > 5, "torn {torn_cut}, beyond {beyond_acked}");
}

#[test]
fn torn_tail_is_cut_with_its_size() {
    let txns = workload(10);
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    write_all(&mut w, &txns, 3);
    let end = data_end(&disk, "log.0000000000000001");
    drop(w);
    // Half a record after the last one, as a crash mid-write leaves it.
    let mut framed = Vec::new();
    segment::frame_record(b"a record that never finished", &mut framed);
    let mut f = disk.open("log.0000000000000001").unwrap();
    f.write_at(end, &framed[..20]).unwrap();
    f.sync().unwrap();

    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_same(&rec.state, &state_at(&txns, 10));
    assert_eq!(rec.cut.len(), 1);
    assert!(rec.cut[0].contains("torn tail of 20 bytes cut at offset"), "{:?}", rec.cut);
    assert_eq!(disk.contents("log.0000000000000001").len() as u64, end);
    let again = recover(&disk, RecoveryMode::Strict).unwrap();
    assert!(again.cut.is_empty());
}

// Design.md: damage anywhere but the tail stops the server with the file and offset.
#[test]
fn bit_flip_before_the_tail_names_file_and_offset() {
    let txns = workload(10);
    let disk = SimDisk::new("/data/ferrozk");
    write_all(&mut wal(&disk, 0), &txns, 4);
    let offsets = record_offsets(&disk, "log.0000000000000001");
    disk.flip_bit("log.0000000000000001", offsets[2] + 20, 5);

    let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("/data/ferrozk/log.0000000000000001: bad crc at offset {} (a valid record follows at offset {}): the log is damaged before its end", offsets[2], offsets[3])
    );

    // The operator option starts from the record before the damage and says so.
    let rec = recover(&disk, RecoveryMode::TruncateToLastGood).unwrap();
    assert_same(&rec.state, &state_at(&txns, 2));
    assert_eq!(rec.discarded.len(), 1);
    assert!(rec.discarded[0].contains("bad crc at offset"), "{:?}", rec.discarded);
    assert!(disk.names().contains(&"log.0000000000000001.damaged".to_string()));
    // From then on it is a clean log that continues.
    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_eq!(rec.state.last_zxid, 2);
    write_all(&mut wal(&disk, 2), &txns[2..], 4);
    assert_same(&recover(&disk, RecoveryMode::Strict).unwrap().state, &state_at(&txns, 10));
}

// The brief's rule: a bad record at the very end, followed only by zeros, cannot be told
// from a torn write, so it is cut (loudly), not refused.
#[test]
fn bit_flip_in_the_last_record_is_treated_as_torn() {
    let txns = workload(10);
    let disk = SimDisk::new("/sim");
    write_all(&mut wal(&disk, 0), &txns, 10);
    let offsets = record_offsets(&disk, "log.0000000000000001");
    disk.flip_bit("log.0000000000000001", offsets[9] + 30, 1);
    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_eq!(rec.state.last_zxid, 9);
    assert_eq!(rec.cut.len(), 1);
}

fn three_segments(txns: &[Txn]) -> SimDisk {
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    for chunk in txns.chunks(3) {
        write_all(&mut w, chunk, 3);
        w.roll().unwrap();
    }
    disk
}

#[test]
fn missing_segment_is_an_error() {
    let txns = workload(9);
    let disk = three_segments(&txns);
    assert_eq!(disk.names(), ["log.0000000000000001", "log.0000000000000004", "log.0000000000000007"]);
    disk.remove("log.0000000000000004").unwrap();
    let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
    assert!(matches!(err, StorageError::MissingSegment { after: 3, prev: 6, .. }), "{err}");
    assert!(err.to_string().starts_with("/sim/log.0000000000000007: missing log segment"), "{err}");

    let rec = recover(&disk, RecoveryMode::TruncateToLastGood).unwrap();
    assert_same(&rec.state, &state_at(&txns, 3));
    assert!(disk.names().contains(&"log.0000000000000007.damaged".to_string()));
}

#[test]
fn zxids_going_backwards_are_an_error() {
    let txns = workload(4);
    let disk = SimDisk::new("/sim");
    let mut bytes = segment::encode_header(segment::SegmentHeader { first_zxid: 1, prev_zxid: 0 }).to_vec();
    for t in [&txns[0], &txns[1], &txns[3], &txns[2]] {
        let mut payload = bytes::BytesMut::new();
        crate::txn::codec::encode(t, &mut payload);
        segment::frame_record(&payload, &mut bytes);
    }
    disk.create("log.0000000000000001").unwrap().write_at(0, &bytes).unwrap();
    let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
    assert!(err.to_string().contains("zxid 0x3 after 0x4: zxids must increase at offset"), "{err}");
}

#[test]
fn segment_left_empty_by_a_crash_is_removed() {
    let txns = workload(6);
    let disk = SimDisk::new("/sim");
    write_all(&mut wal(&disk, 0), &txns[..3], 3);
    // A crash after the file was created and preallocated, before anything was written.
    disk.create("log.0000000000000004").unwrap().set_len(4096).unwrap();
    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_eq!(rec.state.last_zxid, 3);
    assert_eq!(disk.names(), ["log.0000000000000001"]);
    write_all(&mut wal(&disk, 3), &txns[3..], 3);
    assert_same(&recover(&disk, RecoveryMode::Strict).unwrap().state, &state_at(&txns, 6));
}

#[test]
fn damaged_header_with_records_after_it_is_an_error() {
    let disk = three_segments(&workload(9));
    disk.flip_bit("log.0000000000000007", 3, 0);
    let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
    assert_eq!(err.to_string(), "/sim/log.0000000000000007: unreadable segment header at offset 0");
}

/// Every node kind, null and empty data, a shared and a private ACL list, sessions.
fn rich_state() -> State {
    let mut ops = vec![
        TxnOp::CreateSession { timeout_ms: 30_000 },
        create("/app", Some(b""), 0, CreateKind::Create),
        create("/app/null", None, 0, CreateKind::Create),
        create("/app/eph", Some(b"e"), 1, CreateKind::Create),
        create("/app/seq-", Some(b"s"), 2, CreateKind::Create),
        create("/c", None, 4, CreateKind::Container),
        create("/c/child", Some(b"x"), 0, CreateKind::Create),
        create("/ttl", Some(b"t"), 5, CreateKind::Ttl),
        TxnOp::SetData { path: "/app".into(), data: Some(Bytes::from_static(&[0, 1, 2, 255])), version: -1 },
    ];
    ops.push(TxnOp::Create(CreateOp {
        path: "/app/private".into(),
        data: Some(Bytes::from_static(b"secret")),
        acl: vec![Acl { perms: 1, id: Id { scheme: "digest".into(), id: "u:hash=".into() } }, Acl::world(1)],
        flags: 0,
        kind: CreateKind::Create,
        ttl: -1,
    }));
    ops.push(TxnOp::SetAcl { path: "/app/null".into(), acl: vec![Acl::world(3)], version: -1 });
    let mut state = State::default();
    for (i, op) in ops.into_iter().enumerate() {
        let applied = apply(&mut state, &txn(i as i64 + 1, S1, op));
        assert!(!matches!(applied.result, crate::txn::OpResult::Error(_)), "{applied:?}");
    }
    state.sessions.insert(S2, 4000);
    assert_eq!(state.tree.get("/c").unwrap().kind(), NodeKind::Container);
    assert!(matches!(state.tree.get("/ttl").unwrap().kind(), NodeKind::Ttl(_)));
    assert_eq!(state.tree.get("/app/null").unwrap().data, None);
    state
}

#[test]
fn snapshot_round_trip_equals_the_state() {
    let state = rich_state();
    let disk = SimDisk::new("/sim");
    write_snapshot_in(&disk, &state).unwrap();
    assert_eq!(disk.names(), [snapshot_name(state.last_zxid)]);
    let back = read_snapshot_in(&disk, &snapshot_name(state.last_zxid)).unwrap();
    assert_same(&back, &state);
    // Loaded ACL lists are shared, not one allocation per node.
    let a = &back.tree.get("/app").unwrap().acl;
    assert!(Arc::ptr_eq(a, &back.tree.get("/c/child").unwrap().acl));
}

#[test]
fn snapshot_not_renamed_before_a_crash_is_not_there() {
    let state = rich_state();
    let disk = SimDisk::new("/sim");
    write_snapshot_in(&disk, &state).unwrap();
    disk.crash(Crash::DropPending);
    assert_eq!(disk.names(), [snapshot_name(state.last_zxid)]);
    // A temp file left behind by a crash mid-write is removed at start-up.
    disk.create(&format!("{}.tmp", snapshot_name(99))).unwrap();
    disk.sync().unwrap();
    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_same(&rec.state, &state);
    assert_eq!(disk.names(), [snapshot_name(state.last_zxid)]);
}

// Issue 5 item 3: a snapshot that does not verify stops start-up; the operator option
// falls back to the older snapshot plus the log.
fn two_snapshots(txns: &[Txn]) -> SimDisk {
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    write_all(&mut w, &txns[..20], 4);
    write_snapshot_in(&disk, &state_at(txns, 20)).unwrap();
    w.roll().unwrap();
    write_all(&mut w, &txns[20..], 4);
    write_snapshot_in(&disk, &state_at(txns, 40)).unwrap();
    disk
}

#[test]
fn damaged_snapshot_stops_or_falls_back_to_an_older_one() {
    let txns = workload(40);
    let newest = snapshot_name(40);
    let len = two_snapshots(&txns).contents(&newest).len() as u64;
    // The middle of the compressed data, the end (lz4 end mark and our crc), the lz4 header.
    for offset in [len / 2, len - 6, 5] {
        let disk = two_snapshots(&txns);
        disk.flip_bit(&newest, offset, 4);
        let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
        assert!(matches!(err, StorageError::BadSnapshot { .. }), "{offset}: {err}");
        assert!(err.to_string().starts_with(&format!("/sim/{newest}: snapshot does not verify at offset")), "{err}");

        let rec = recover(&disk, RecoveryMode::TruncateToLastGood).unwrap();
        assert_eq!(rec.snapshot.as_deref(), Some(disk.file(&snapshot_name(20)).as_path()));
        assert_eq!(rec.replayed, 20);
        assert_same(&rec.state, &state_at(&txns, 40));
        assert_eq!(rec.discarded.len(), 1);
        assert!(disk.names().contains(&format!("{newest}.damaged")));
    }
}

#[test]
fn purge_keeps_newest_snapshots_and_the_segments_they_need() {
    let disk = SimDisk::new("/sim");
    for z in [10, 20, 30, 40, 50] {
        disk.create(&snapshot_name(z)).unwrap();
    }
    for z in [1, 15, 25, 35, 45, 55] {
        disk.create(&segment::segment_name(z)).unwrap();
    }
    disk.create("log.0000000000000001.damaged").unwrap();
    disk.create(&format!("{}.tmp", snapshot_name(60))).unwrap();
    let report = super::purge::purge_in(&disk, &disk, 3).unwrap();
    let names = |v: &[std::path::PathBuf]| -> Vec<String> {
        v.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    assert_eq!(names(&report.removed_snapshots), [snapshot_name(10), snapshot_name(20)]);
    assert_eq!(names(&report.kept_snapshots), [snapshot_name(30), snapshot_name(40), snapshot_name(50)]);
    // The oldest kept snapshot is at 30: records after it may be in log.25 on.
    assert_eq!(names(&report.removed_segments), ["log.0000000000000001", "log.000000000000000f"]);
    assert_eq!(
        names(&report.kept_segments),
        ["log.0000000000000019", "log.0000000000000023", "log.000000000000002d", "log.0000000000000037"]
    );
    assert!(disk.names().contains(&"log.0000000000000001.damaged".to_string()));
    assert!(disk.names().contains(&format!("{}.tmp", snapshot_name(60))));
    // Nothing more to do the second time; without snapshots every segment stays.
    let again = super::purge::purge_in(&disk, &disk, 3).unwrap();
    assert!(again.removed_segments.is_empty() && again.removed_snapshots.is_empty());
    let bare = SimDisk::new("/bare");
    bare.create(&segment::segment_name(1)).unwrap();
    assert_eq!(super::purge::purge_in(&bare, &bare, 3).unwrap().kept_segments.len(), 1);
}

// style.md §4 item 13 (redb `PreviousIo`): after a failed fsync, refuse further work.
#[test]
fn failed_sync_poisons_the_log() {
    let txns = workload(5);
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    write_all(&mut w, &txns[..2], 2);
    disk.fail_syncs(true);
    w.append(&txns[2]).unwrap();
    let err = w.sync().unwrap_err();
    assert_eq!(err.to_string(), "/sim/log.0000000000000001: simulated fsync failure");
    disk.fail_syncs(false);
    assert!(w.is_poisoned());
    assert_eq!(w.synced_zxid(), 2);
    for result in [w.append(&txns[3]), w.sync(), w.roll()] {
        let err = result.unwrap_err();
        assert!(matches!(err, StorageError::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("simulated fsync failure"), "{err}");
    }
}

#[test]
fn appends_must_increase_and_fit() {
    let txns = workload(3);
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    w.append(&txns[1]).unwrap();
    let err = w.append(&txns[0]).unwrap_err();
    assert_eq!(err.to_string(), "append of zxid 0x1 after 0x2: zxids must increase");
    let mut big = txn(3, S1, create("/big", None, 0, CreateKind::Create));
    if let TxnOp::Create(c) = &mut big.op {
        c.data = Some(Bytes::from(vec![7u8; segment::RECORD_BYTES_MAX as usize]));
    }
    assert!(matches!(w.append(&big), Err(StorageError::RecordTooLarge { zxid: 3, .. })));
    // Neither error poisons the log or leaves bytes behind.
    w.append(&txns[2]).unwrap();
    w.sync().unwrap();
    assert_eq!(record_offsets(&disk, "log.0000000000000002").len(), 2);
}

#[test]
fn segments_are_preallocated_and_trimmed_on_roll() {
    let txns = workload(30);
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    write_all(&mut w, &txns[..1], 1);
    assert_eq!(disk.contents("log.0000000000000001").len(), 4096);
    write_all(&mut w, &txns[1..], 1);
    let len = disk.contents("log.0000000000000001").len();
    assert_eq!(len % 4096, 0);
    w.roll().unwrap();
    let trimmed = disk.contents("log.0000000000000001").len();
    assert!(trimmed < len && trimmed % 4096 != 0);
    assert_eq!(w.segment_path(), None);
}

/// The public API on real files, the way the driver uses it.
#[test]
fn real_files_write_snapshot_roll_purge_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = StorageOptions::new(&tmp.path().join("data"), &tmp.path().join("log"));
    opts.preallocate_bytes = 1 << 16;
    let txns = workload(60);
    let fresh = super::recover(&opts, RecoveryMode::Strict).unwrap();
    assert_eq!(fresh.state.last_zxid, 0);
    assert_eq!(fresh.snapshot, None);
    let mut w = Wal::open(&opts, 0).unwrap();
    for (i, chunk) in txns.chunks(10).enumerate() {
        for t in chunk {
            w.append(t).unwrap();
        }
        w.sync().unwrap();
        let zxid = (i as i64 + 1) * 10;
        let path = write_snapshot(&opts, &state_at(&txns, zxid)).unwrap();
        assert_eq!(path, opts.snap_dir().join(snapshot_name(zxid)));
        w.roll().unwrap();
        purge(&opts).unwrap();
    }
    drop(w);
    let snaps = std::fs::read_dir(opts.snap_dir()).unwrap().count();
    assert_eq!(snaps, 3);
    let rec = super::recover(&opts, RecoveryMode::Strict).unwrap();
    assert_same(&rec.state, &state_at(&txns, 60));
    assert_eq!(rec.snapshot, Some(opts.snap_dir().join(snapshot_name(60))));
    assert_eq!(rec.replayed, 0);
    assert!(matches!(Wal::open(&opts, 30), Err(StorageError::LogAhead { .. })));
    let mut w = Wal::open(&opts, 60).unwrap();
    let more = workload(70);
    write_all(&mut w, &more[60..], 3);
    drop(w);
    let rec = super::recover(&opts, RecoveryMode::Strict).unwrap();
    assert_eq!(rec.replayed, 10);
    assert_same(&rec.state, &state_at(&more, 70));
}

#[test]
fn utc_times_format_like_iso_8601() {
    use super::tools::utc;
    assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
}

#[test]
fn inspect_summarises_and_reports_damage_without_changing_anything() {
    let txns = workload(40);
    let disk = two_snapshots(&txns);
    let text = super::tools::inspect_in(&disk, &disk).unwrap();
    assert!(text.contains("snapshot.0000000000000028.lz4  zxid 0x28"), "{text}");
    assert!(text.contains("nodes  2 sessions  ok"), "{text}");
    assert!(text.contains("log.0000000000000001"), "{text}");
    assert!(text.contains("zxids 0x1..0x14 (20 records)  ends clean at offset"), "{text}");
    assert!(
        text.ends_with("summary: 2 snapshots, 2 segments, 40 records, zxids 0x1..0x28; damage found: 0\n"),
        "{text}"
    );

    let offsets = record_offsets(&disk, "log.0000000000000001");
    disk.flip_bit("log.0000000000000001", offsets[4] + 9, 0);
    disk.flip_bit(&snapshot_name(20), 40, 2);
    let mut f = disk.open("log.0000000000000015").unwrap();
    f.write_at(data_end(&disk, "log.0000000000000015"), &[1, 2, 3]).unwrap();
    let before: Vec<Vec<u8>> = disk.names().iter().map(|n| disk.contents(n)).collect();
    let text = super::tools::inspect_in(&disk, &disk).unwrap();
    assert!(
        text.contains(&format!(
            "DAMAGED: bad crc at offset {} (a valid record follows at offset {})",
            offsets[4], offsets[5]
        )),
        "{text}"
    );
    assert!(text.contains("snapshot.0000000000000014.lz4"), "{text}");
    assert!(text.contains("torn tail: 3 bytes after offset"), "{text}");
    assert!(text.ends_with("damage found: 2\n"), "{text}");
    let after: Vec<Vec<u8>> = disk.names().iter().map(|n| disk.contents(n)).collect();
    assert!(before == after, "inspect must not change files");
}

#[test]
fn dump_log_prints_one_line_per_record() {
    let txns = workload(14);
    let disk = SimDisk::new("/sim");
    write_all(&mut wal(&disk, 0), &txns, 5);
    let text = super::tools::dump_log_in(&disk, "log.0000000000000001").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "log.0000000000000001: ferrozk log segment, first zxid 0x1, follows zxid 0x0");
    assert_eq!(
        lines[1],
        "2023-11-14T22:13:20.001Z session 0x100000000000001 cxid 0x1 zxid 0x1 createSession timeout=30000 (offset 32)"
    );
    assert!(
        lines[3].contains("zxid 0x3 create /n3 data=\"value\" acl=[world:anyone:cdrwa] flags=0 kind=Create (offset"),
        "{text}"
    );
    assert!(lines[9].contains("create /n9 data=null"), "{text}");
    assert!(lines[13].contains("delete /n12 version=-1"), "{text}");
    assert!(lines[15].starts_with("14 records; ends clean at offset"), "{text}");
}

#[test]
fn dump_snapshot_prints_nodes_and_sessions() {
    let state = rich_state();
    let disk = SimDisk::new("/sim");
    write_snapshot_in(&disk, &state).unwrap();
    let text = super::tools::dump_snapshot_in(&disk, &snapshot_name(state.last_zxid), true).unwrap();
    assert!(text.starts_with("snapshot.000000000000000b.lz4: ferrozk snapshot v3, zxid 0xb, slot 0"), "{text}");
    assert!(text.contains(&format!("ZNode Details (count={}):", state.tree.node_count())), "{text}");
    assert!(text.contains("----\n/app/null\n  cZxid = 0x3\n"), "{text}");
    assert!(text.contains("  acl = [digest:u:hash=:r,world:anyone:r]\n  dataLength = 6\n  data=\"secret\""), "{text}");
    assert!(text.contains("Session Details (sid, timeout, ephemeralCount):\n0x100000000000001, 30000, 1\n0x100000000000002, 4000, 0\n"), "{text}");
    assert!(text.ends_with("crc ok, digest ok\n"), "{text}");
}

/// splitmix64 for the seeded damage tests.
pub(super) fn next_rand(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// Whatever single bit flips, recovery never panics and never builds a wrong state: it
// either refuses (naming the file) or yields exactly the state after some prefix of the
// log, with the snapshot's content verified by its crc and digest.
#[test]
fn a_bit_flip_anywhere_is_refused_or_recovered_to_a_true_prefix() {
    let txns = workload(40);
    for seed in 0..200u64 {
        let mut rng = seed;
        let disk = two_snapshots(&txns);
        let names = disk.names();
        let name = &names[next_rand(&mut rng) as usize % names.len()];
        let len = disk.contents(name).len() as u64;
        let offset = next_rand(&mut rng) % len;
        disk.flip_bit(name, offset, (next_rand(&mut rng) % 8) as u8);
        match recover(&disk, RecoveryMode::Strict) {
            Ok(rec) => {
                // A flip can leave the content intact (an LZ4 match offset pointing at equal
                // bytes); the content is what the crc and digest verify.
                assert_same(&rec.state, &state_at(&txns, rec.state.last_zxid));
            }
            Err(e) => assert!(e.to_string().contains(name.as_str()), "seed {seed}: {e}"),
        }
        let rec = recover(&disk, RecoveryMode::TruncateToLastGood).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_same(&rec.state, &state_at(&txns, rec.state.last_zxid));
    }
}

// The compact Stat coding must carry any values, not just the usual shapes.
#[test]
fn snapshot_round_trips_arbitrary_stats_and_paths() {
    let mut rng = 42u64;
    let pick = |rng: &mut u64| -> i64 {
        match next_rand(rng) % 6 {
            0 => 0,
            1 => i64::MIN,
            2 => i64::MAX,
            3 => -1,
            4 => (next_rand(rng) % 1000) as i64,
            _ => next_rand(rng) as i64,
        }
    };
    let mut tree = crate::tree::DataTree::empty();
    let acl = Arc::new(vec![Acl::world(31)]);
    let mut paths = vec!["/".to_string()];
    for i in 0..300 {
        let stat = crate::tree::NodeStat {
            czxid: pick(&mut rng),
            mzxid: pick(&mut rng),
            ctime: pick(&mut rng),
            mtime: pick(&mut rng),
            version: pick(&mut rng) as i32,
            cversion: pick(&mut rng) as i32,
            aversion: pick(&mut rng) as i32,
            ephemeral_owner: if i % 3 == 0 { 0 } else { pick(&mut rng) },
            pzxid: pick(&mut rng),
        };
        let path = if i == 0 {
            "/".to_string()
        } else {
            let parent = &paths[next_rand(&mut rng) as usize % paths.len()];
            crate::tree::child_path(parent, &format!("n\u{e9}{}", next_rand(&mut rng) % 50))
        };
        if tree.get(&path).is_some() {
            continue;
        }
        let data = match i % 4 {
            0 => None,
            1 => Some(Bytes::new()),
            _ => Some(Bytes::from(vec![i as u8; i])),
        };
        tree.insert_raw(&path, crate::tree::Node::new(data, acl.clone(), stat));
        paths.push(path);
    }
    let state = State { tree, sessions: [(S1, 1), (-5, i32::MAX)].into_iter().collect(), last_zxid: i64::MAX, slot: 0 };
    let disk = SimDisk::new("/sim");
    write_snapshot_in(&disk, &state).unwrap();
    assert_same(&read_snapshot_in(&disk, &snapshot_name(i64::MAX)).unwrap(), &state);
}

// A replica that installs a peer's snapshot skips zxids; its log must say so, or a
// recovery without that snapshot would replay later records onto an older state.
#[test]
fn restart_at_records_the_skip_in_the_log() {
    let txns = workload(30);
    let disk = SimDisk::new("/sim");
    let mut w = wal(&disk, 0);
    write_all(&mut w, &txns[..5], 5);
    w.restart_at(20).unwrap();
    assert!(matches!(w.restart_at(19), Err(StorageError::OutOfOrder { .. })));
    write_all(&mut w, &txns[20..], 5);
    drop(w);
    let err = recover(&disk, RecoveryMode::Strict).unwrap_err();
    assert!(matches!(err, StorageError::MissingSegment { after: 5, prev: 20, .. }), "{err}");
    write_snapshot_in(&disk, &state_at(&txns, 20)).unwrap();
    let rec = recover(&disk, RecoveryMode::Strict).unwrap();
    assert_eq!(rec.replayed, 10);
    assert_same(&rec.state, &state_at(&txns, 30));
}
