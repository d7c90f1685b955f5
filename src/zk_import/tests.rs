//! Import of small hand-made ZooKeeper files: replay rules, torn tails, damage, seals,
//! compression. The real-thing test (files written by ZooKeeper 3.8.0) is
//! tests/import_zk.rs.

use std::io::Write;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use jute::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetAclTxn,
    SetDataTxn, Txn, TxnDigest, TxnHeader,
};
use jute::{Acl, Field, Id};

use super::adler32::Adler32;
use super::log::LOG_MAGIC;
use super::snapshot::SNAP_MAGIC;
use super::{import, ImportError, ImportReport};
use crate::storage::{recover, RecoveryMode, StorageOptions};
use crate::tree::NodeStat;
use crate::txn::State;

const ALL: i32 = 31;

fn world(perms: i32) -> Acl {
    Acl::world(perms)
}

fn digest_acl() -> Acl {
    Acl { perms: ALL, id: Id { scheme: "digest".into(), id: "bob:abc=".into() } }
}

fn stat(czxid: i64, cversion: i32, owner: i64) -> NodeStat {
    NodeStat {
        czxid,
        mzxid: czxid,
        ctime: 1000 + czxid,
        mtime: 1000 + czxid,
        version: 0,
        cversion,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: czxid,
    }
}

/// One node of a hand-made snapshot: path ("" for the root), data, ACL ref, stat.
struct SnapNode(&'static str, Option<&'static [u8]>, i64, NodeStat);

fn put<F: Field>(out: &mut BytesMut, v: F) {
    v.encode(out);
}

fn seal(out: &mut BytesMut) {
    let sum = Adler32::of(out);
    put(out, sum);
    put(out, String::from("/"));
}

/// Snapshot bytes as `FileSnap.serialize` writes them (digest section optional).
fn snapshot_bytes(
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: &[SnapNode],
    digest: Option<(i64, i64)>,
) -> Vec<u8> {
    let mut out = BytesMut::new();
    put(&mut out, SNAP_MAGIC);
    put(&mut out, 2i32);
    put(&mut out, -1i64);
    put(&mut out, sessions.len() as i32);
    for (id, t) in sessions {
        put(&mut out, *id);
        put(&mut out, *t);
    }
    put(&mut out, acls.len() as i32);
    for (r, list) in acls {
        put(&mut out, *r);
        put(&mut out, list.clone());
    }
    for SnapNode(path, data, acl, s) in nodes {
        put(&mut out, path.to_string());
        put(&mut out, data.map(Bytes::from_static));
        put(&mut out, *acl);
        for v in [s.czxid, s.mzxid, s.ctime, s.mtime] {
            put(&mut out, v);
        }
        for v in [s.version, s.cversion, s.aversion] {
            put(&mut out, v);
        }
        put(&mut out, s.ephemeral_owner);
        put(&mut out, s.pzxid);
    }
    put(&mut out, String::from("/"));
    seal(&mut out);
    if let Some((zxid, d)) = digest {
        put(&mut out, zxid);
        put(&mut out, 2i32);
        put(&mut out, d);
        seal(&mut out);
    }
    out.to_vec()
}

/// The built-in nodes plus `/a` (digest ACL, null data) and the ephemeral `/a/e` of
/// session 0x100, as of zxid 5.
fn base_nodes() -> Vec<SnapNode> {
    vec![
        SnapNode("", Some(b""), -1, NodeStat { cversion: 1, pzxid: 2, ..NodeStat::default() }),
        SnapNode("/zookeeper", Some(b""), -1, NodeStat::default()),
        SnapNode("/zookeeper/quota", Some(b""), -1, NodeStat::default()),
        SnapNode("/zookeeper/config", Some(b""), 1, NodeStat { aversion: -1, ..NodeStat::default() }),
        SnapNode("/a", None, 2, stat(2, 1, 0)),
        SnapNode("/a/e", Some(b"eph"), -1, stat(4, 0, 0x100)),
    ]
}

fn base_acls() -> Vec<(i64, Vec<Acl>)> {
    vec![(1, vec![world(1)]), (2, vec![digest_acl()])]
}

fn base_snapshot() -> Vec<u8> {
    snapshot_bytes(&[(0x100, 30_000)], &base_acls(), &base_nodes(), None)
}

fn hdr(session: i64, zxid: i64, t: i32) -> TxnHeader {
    TxnHeader { client_id: session, cxid: 1, zxid, time: 5000 + zxid, r#type: t }
}

/// The txn bytes of one entry: header, record, optional digest.
fn txn<R: Field>(h: TxnHeader, rec: &R, digest: Option<i64>) -> Vec<u8> {
    let mut out = BytesMut::new();
    h.encode(&mut out);
    rec.encode(&mut out);
    if let Some(d) = digest {
        TxnDigest { version: 2, tree_digest: d }.encode(&mut out);
    }
    out.to_vec()
}

/// A framed log entry: checksum, length, bytes, 'B'.
fn entry(bytes: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    put(&mut out, Adler32::of(bytes));
    put(&mut out, Bytes::copy_from_slice(bytes));
    out.extend_from_slice(b"B");
    out.to_vec()
}

fn log_bytes(entries: &[Vec<u8>], zeros: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    put(&mut out, LOG_MAGIC);
    put(&mut out, 2i32);
    put(&mut out, 0i64);
    for e in entries {
        out.extend_from_slice(e);
    }
    out.extend_from_slice(&vec![0u8; zeros]);
    out.to_vec()
}

fn create(path: &str, data: Option<&'static [u8]>, ephemeral: bool, parent_cversion: i32) -> CreateTxn {
    CreateTxn {
        path: path.into(),
        data: data.map(Bytes::from_static),
        acl: vec![world(ALL)],
        ephemeral,
        parent_c_version: parent_cversion,
    }
}

/// A ZooKeeper dataDir with `version-2/` holding `files`.
fn zk_dir(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("version-2");
    std::fs::create_dir(&v2).unwrap();
    for (name, bytes) in files {
        std::fs::write(v2.join(name), bytes).unwrap();
    }
    dir
}

fn run(from: &Path) -> (Result<ImportReport, ImportError>, tempfile::TempDir) {
    let to = tempfile::tempdir().unwrap();
    (import(from, to.path(), &mut |_| {}), to)
}

fn read_back(to: &Path) -> State {
    recover(&StorageOptions::new(to, to), RecoveryMode::Strict).unwrap().state
}

fn import_ok(files: &[(&str, Vec<u8>)]) -> (ImportReport, State) {
    let from = zk_dir(files);
    let (r, to) = run(from.path());
    let report = r.unwrap_or_else(|e| panic!("import failed: {e}"));
    (report, read_back(to.path()))
}

#[test]
fn snapshot_and_log_replay() {
    let entries = vec![
        // Already in the snapshot (zxid <= 5): skipped.
        entry(&txn(hdr(0x100, 5, 1), &create("/old", None, false, 2), None)),
        entry(&txn(hdr(0x200, 6, -10), &CreateSessionTxn { time_out: 4000 }, None)),
        entry(&txn(hdr(0x200, 7, 15), &create("/a/s", Some(b""), true, 2), None)),
        entry(&txn(
            hdr(0x200, 8, 5),
            &SetDataTxn { path: "/a".into(), data: Some(Bytes::from_static(b"x")), version: 1 },
            None,
        )),
        entry(&txn(hdr(0x200, 9, -1), &ErrorTxn { err: -110 }, None)),
        entry(&txn(hdr(0x100, 10, -11), &CloseSessionTxn { paths2_delete: vec!["/a/e".into()] }, None)),
        entry(&txn(
            hdr(0x200, 11, 14),
            &MultiTxn {
                txns: vec![
                    Txn { r#type: 1, data: txn_record(&create("/m", None, false, 2)) },
                    Txn { r#type: 5, data: txn_record(&SetDataTxn { path: "/m".into(), data: None, version: 1 }) },
                    Txn { r#type: 13, data: txn_record(&CheckVersionTxn { path: "/m".into(), version: 1 }) },
                ],
            },
            None,
        )),
        entry(&txn(hdr(0x200, 12, 7), &SetAclTxn { path: "/m".into(), acl: vec![digest_acl()], version: 1 }, None)),
        // A failed multi changes nothing.
        entry(&txn(
            hdr(0x200, 13, 14),
            &MultiTxn {
                txns: vec![
                    Txn { r#type: -1, data: txn_record(&ErrorTxn { err: 0 }) },
                    Txn { r#type: -1, data: txn_record(&ErrorTxn { err: -101 }) },
                ],
            },
            None,
        )),
    ];
    let (report, state) = import_ok(&[("snapshot.5", base_snapshot()), ("log.1", log_bytes(&entries, 1024))]);
    assert_eq!((report.txns_skipped, report.txns_replayed), (1, 8), "{report}");
    assert!(report.torn.is_empty() && report.warnings.is_empty(), "{report}");
    assert_eq!(state.last_zxid, 13);
    // Session 0x100 closed, 0x200 live with its timeout.
    assert_eq!(state.sessions.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), vec![(0x200, 4000)]);
    let t = &state.tree;
    assert!(t.get("/a/e").is_none());
    let a = t.get("/a").unwrap();
    assert_eq!(a.data.as_deref(), Some(&b"x"[..]));
    assert_eq!(a.acl.as_slice(), &[digest_acl()]);
    // /a: created /a/e (c=1 in the snapshot), /a/s at parentCVersion 2; /a/e deleted at 10.
    assert_eq!((a.stat.cversion, a.stat.pzxid, a.stat.mzxid, a.stat.version), (2, 10, 8, 1));
    let s = t.get("/a/s").unwrap();
    assert_eq!((s.stat.ephemeral_owner, s.data.as_deref()), (0x200, Some(&b""[..])));
    let m = t.get("/m").unwrap();
    assert_eq!((m.data.clone(), m.stat.version, m.stat.aversion, m.stat.czxid), (None, 1, 1, 11));
    assert_eq!(m.acl.as_slice(), &[digest_acl()]);
    assert_eq!(t.get("/zookeeper/config").unwrap().acl.as_slice(), &[world(1)]);
    assert_eq!(t.get("/zookeeper/config").unwrap().stat.aversion, -1);
    assert_eq!(t.node_count(), 7);
}

fn txn_record<R: Field>(r: &R) -> Bytes {
    let mut out = BytesMut::new();
    r.encode(&mut out);
    out.freeze()
}

fn creates(from_zxid: i64, n: i64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let z = from_zxid + i;
            entry(&txn(hdr(0, z, 1), &create(&format!("/n{z}"), Some(b"d"), false, (z - from_zxid + 2) as i32), None))
        })
        .collect()
}

#[test]
fn preallocated_zeros_end_the_log() {
    let (report, state) = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&creates(6, 3), 64 << 10))]);
    assert_eq!((report.txns_replayed, state.last_zxid), (3, 8));
    assert!(report.torn.is_empty(), "{report}");
}

#[test]
fn torn_last_entry_ends_the_log() {
    let mut entries = creates(6, 3);
    let whole = log_bytes(&entries, 0);
    let torn_at = whole.len() as u64;
    entries.push(creates(9, 1).remove(0));
    // Cut inside the last entry: a crash mid-write.
    let mut cut = log_bytes(&entries, 0);
    cut.truncate(whole.len() + 20);
    let (report, state) = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", cut)]);
    assert_eq!((report.txns_replayed, state.last_zxid), (3, 8));
    assert_eq!(report.torn.len(), 1, "{report}");
    assert!(report.torn[0].contains(&format!("offset {torn_at}")), "{report}");
    assert!(report.torn[0].contains("log.6"), "{report}");

    // The same entry written in full but without its 0x42, zeros after: torn too.
    let mut no_eor = log_bytes(&entries, 4096);
    let eor_at = log_bytes(&entries, 0).len() - 1;
    no_eor[eor_at] = 0;
    let (report, state) = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", no_eor)]);
    assert_eq!((report.txns_replayed, state.last_zxid), (3, 8));
    assert!(report.torn[0].contains(&format!("offset {torn_at}")) && report.torn[0].contains("end-of-record"));
}

#[test]
fn bad_checksum_before_the_end_is_damage() {
    let entries = creates(6, 3);
    let mut bytes = log_bytes(&entries, 4096);
    let second = 16 + entries[0].len();
    bytes[second + 30] ^= 0x01; // inside the second entry's txn bytes
    let from = zk_dir(&[("snapshot.5", base_snapshot()), ("log.6", bytes)]);
    let (r, _to) = run(from.path());
    match r {
        Err(ImportError::BadLog { file, offset, reason }) => {
            assert!(file.ends_with("version-2/log.6"));
            assert_eq!(offset, second as u64);
            assert!(reason.contains("checksum") && reason.contains("data follows"), "{reason}");
        }
        other => panic!("expected BadLog, got {other:?}"),
    }
}

#[test]
fn bad_seal_names_file_and_offset() {
    let mut snap = base_snapshot();
    // Flip a byte of /a/e's data ("eph"): the seal no longer matches.
    let at = snap.windows(3).position(|w| w == b"eph").unwrap();
    snap[at] = b'E';
    let seal_at = snap.len() - 8 - 5;
    let from = zk_dir(&[("snapshot.5", snap.clone())]);
    let (r, _to) = run(from.path());
    let e = r.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImportError::BadSnapshot { offset, .. } if offset == seal_at as u64), "{msg}");
    assert!(msg.contains("version-2/snapshot.5") && msg.contains(&format!("offset {seal_at}")), "{msg}");
    assert!(msg.contains("seal"), "{msg}");

    // With an older good snapshot and the log from it, the import falls back, as
    // ZooKeeper does, and says which file it skipped and why.
    let older = snapshot_bytes(&[(0x100, 30_000)], &base_acls(), &base_nodes()[..4], None);
    let log = log_bytes(
        &[
            entry(&txn(hdr(0, 3, 1), &create("/a", None, false, 1), None)),
            entry(&txn(hdr(0x100, 4, 1), &create("/a/e", Some(b"eph"), true, 1), None)),
            entry(&txn(hdr(0, 5, 7), &SetAclTxn { path: "/a".into(), acl: vec![digest_acl()], version: 0 }, None)),
        ],
        128,
    );
    let (report, state) = import_ok(&[("snapshot.2", older), ("snapshot.5", snap), ("log.3", log)]);
    assert_eq!(report.snapshot_zxid, 2);
    assert_eq!(report.skipped_snapshots.len(), 1);
    assert!(report.skipped_snapshots[0].contains(&format!("offset {seal_at}")), "{report}");
    assert_eq!(state.tree.get("/a/e").unwrap().stat.ephemeral_owner, 0x100);
    assert_eq!(state.last_zxid, 5);
}

#[test]
fn parent_cversion_moves_only_upwards() {
    let entries = vec![
        // The snapshot already counts /a/e (c = 1): a create with parentCVersion 1 leaves
        // the counter and pzxid alone...
        entry(&txn(hdr(0, 6, 1), &create("/a/x", None, false, 1), None)),
        // ...one with 5 raises both.
        entry(&txn(hdr(0, 7, 1), &create("/a/y", None, false, 5), None)),
        // A create that finds its node: a plain create (1) still moves the parent on.
        entry(&txn(hdr(0, 8, 1), &create("/a/y", None, false, 6), None)),
        // Delete of a node that is gone: pzxid still moves (and the failure is ignored).
        entry(&txn(hdr(0, 9, 2), &DeleteTxn { path: "/a/gone".into() }, None)),
    ];
    let (report, state) = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&entries, 0))]);
    let a = state.tree.get("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid), (6, 9));
    assert_eq!(report.failures_ignored, 2, "{report}");
    assert_eq!(state.tree.get("/a/x").unwrap().stat.czxid, 6);
}

#[test]
fn zookeeper_3_4_records() {
    // CreateTxnV0 (no parentCVersion) and closeSession with no record.
    let v0 = {
        let mut out = BytesMut::new();
        hdr(0x100, 6, 1).encode(&mut out);
        put(&mut out, String::from("/a/v0"));
        put(&mut out, Some(Bytes::from_static(b"z")));
        put(&mut out, vec![world(ALL)]);
        put(&mut out, false);
        out.to_vec()
    };
    let close = {
        let mut out = BytesMut::new();
        hdr(0x100, 7, -11).encode(&mut out);
        out.to_vec()
    };
    let (_, state) =
        import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&[entry(&v0), entry(&close)], 64))]);
    let a = state.tree.get("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid), (2, 7));
    assert!(state.tree.get("/a/v0").is_some() && state.tree.get("/a/e").is_none());
    assert!(state.sessions.is_empty());
}

#[test]
fn ephemerals_of_dead_sessions_are_deleted() {
    // /a/e's session 0x100 is not in the session table.
    let snap = snapshot_bytes(&[(0x300, 5000)], &base_acls(), &base_nodes(), None);
    let (report, state) = import_ok(&[("snapshot.5", snap)]);
    assert!(state.tree.get("/a/e").is_none());
    assert_eq!(state.tree.get("/a").unwrap().stat.pzxid, 5);
    assert_eq!(state.sessions.len(), 1);
    assert!(report.warnings.iter().any(|w| w.contains("0x100")), "{report}");
}

#[test]
fn logged_digests_are_checked() {
    // No digest logged: nothing compared. A wrong one: reported, not fatal.
    let good = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&creates(6, 1), 0))]).0;
    assert_eq!((good.digests_matched, good.digest_mismatches), (0, 0));
    let bad = entry(&txn(hdr(0, 6, 1), &create("/n6", Some(b"d"), false, 2), Some(12345)));
    let (report, _) = import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&[bad], 0))]);
    assert_eq!(report.digest_mismatches, 1, "{report}");
    assert!(report.warnings[0].contains("digest mismatch after zxid 0x6"), "{report}");
}

#[test]
fn snapshot_digest_is_compared_at_its_zxid() {
    // Load the snapshot once to learn its ZooKeeper digest, then write it into the file.
    let from = zk_dir(&[("snapshot.5", base_snapshot())]);
    let loaded = super::snapshot::load(
        &from.path().join("version-2/snapshot.5"),
        super::snapshot::Compression::None,
        &mut |_| {},
    )
    .unwrap();
    let d = loaded.state.digest() as i64;
    let snap = snapshot_bytes(&[(0x100, 30_000)], &base_acls(), &base_nodes(), Some((5, d)));
    let (report, _) = import_ok(&[("snapshot.5", snap)]);
    assert_eq!((report.digests_matched, report.digest_mismatches), (1, 0), "{report}");
    let snap = snapshot_bytes(&[(0x100, 30_000)], &base_acls(), &base_nodes(), Some((5, d ^ 1)));
    let (report, _) = import_ok(&[("snapshot.5", snap)]);
    assert_eq!(report.digest_mismatches, 1, "{report}");
}

fn xerial_snappy(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1];
    let mut enc = snap::raw::Encoder::new();
    for block in raw.chunks(100) {
        let c = enc.compress_vec(block).unwrap();
        out.extend_from_slice(&(c.len() as i32).to_be_bytes());
        out.extend_from_slice(&c);
    }
    out
}

#[test]
fn compressed_snapshots() {
    let raw = base_snapshot();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    for (name, bytes) in [("snapshot.5.gz", gz), ("snapshot.5.snappy", xerial_snappy(&raw))] {
        let (report, state) = import_ok(&[(name, bytes)]);
        assert_eq!(report.snapshot_nodes, 6, "{name}");
        assert_eq!(state.tree.get("/a/e").unwrap().data.as_deref(), Some(&b"eph"[..]), "{name}");
    }
    // Damage inside a compressed stream names the decompressed offset.
    let mut raw_bad = raw.clone();
    let at = raw_bad.windows(3).position(|w| w == b"eph").unwrap();
    raw_bad[at] = b'E';
    let from = zk_dir(&[("snapshot.5.snappy", xerial_snappy(&raw_bad))]);
    let msg = run(from.path()).0.unwrap_err().to_string();
    assert!(msg.contains("of the decompressed stream") && msg.contains("seal"), "{msg}");
}

#[test]
fn refuses_a_target_with_ferrozk_data() {
    let from = zk_dir(&[("snapshot.5", base_snapshot())]);
    let to = tempfile::tempdir().unwrap();
    import(from.path(), to.path(), &mut |_| {}).unwrap();
    let again = import(from.path(), to.path(), &mut |_| {});
    assert!(matches!(again, Err(ImportError::TargetHasData { .. })), "{again:?}");
    // An empty ferrozk/ is fine.
    let to2 = tempfile::tempdir().unwrap();
    std::fs::create_dir(to2.path().join("ferrozk")).unwrap();
    import(from.path(), to2.path(), &mut |_| {}).unwrap();
}

#[test]
fn unresolved_acl_ref() {
    // /a points at ACL ref 7, which the cache lacks: an error unless a replayed create
    // (the fuzzy-snapshot case) sets it.
    let mut nodes = base_nodes();
    nodes[4].2 = 7;
    let snap = snapshot_bytes(&[(0x100, 30_000)], &base_acls(), &nodes, None);
    let from = zk_dir(&[("snapshot.5", snap.clone())]);
    let e = run(from.path()).0.unwrap_err();
    assert!(matches!(&e, ImportError::UnresolvedAcl { path, acl_ref: 7, .. } if path == "/a"), "{e}");
    let fix = entry(&txn(hdr(0, 6, 1), &create("/a", None, false, 1), None));
    let (report, state) = import_ok(&[("snapshot.5", snap), ("log.6", log_bytes(&[fix], 0))]);
    assert_eq!(state.tree.get("/a").unwrap().acl.as_slice(), &[world(ALL)]);
    assert_eq!(report.failures_ignored, 1);
}

#[test]
fn logs_only() {
    let entries = vec![
        entry(&txn(hdr(0x100, 1, -10), &CreateSessionTxn { time_out: 6000 }, None)),
        entry(&txn(hdr(0x100, 2, 1), &create("/x", Some(b"1"), true, 1), None)),
    ];
    let (report, state) = import_ok(&[("log.1", log_bytes(&entries, 100))]);
    assert!(report.snapshot.is_none());
    assert_eq!(state.tree.get("/x").unwrap().stat.ephemeral_owner, 0x100);
    assert_eq!(state.tree.get("/zookeeper/config").unwrap().stat.aversion, -1);
    assert_eq!(state.last_zxid, 2);
}

#[test]
fn zxid_gap_is_reported() {
    let (report, _) = import_ok(&[("snapshot.5", base_snapshot()), ("log.8", log_bytes(&creates(8, 1), 0))]);
    assert!(report.warnings.iter().any(|w| w.contains("jumps from 0x5 to 0x8")), "{report}");
}

/// Snapshot bytes with a raw trailer appended after the first seal: `(bytes, seal after)`.
fn with_trailer(sections: &[(&[u8], bool)]) -> Vec<u8> {
    let mut out = BytesMut::from(&base_snapshot()[..]);
    for (bytes, sealed) in sections {
        out.extend_from_slice(bytes);
        if *sealed {
            seal(&mut out);
        }
    }
    out.to_vec()
}

#[test]
fn snapshot_trailer_variants() {
    let load = |bytes: Vec<u8>| {
        let from = zk_dir(&[("snapshot.5", bytes)]);
        super::snapshot::load(
            &from.path().join("version-2/snapshot.5"),
            super::snapshot::Compression::None,
            &mut |_| {},
        )
    };
    let mut digest = BytesMut::new();
    put(&mut digest, 5i64);
    put(&mut digest, 2i32);
    put(&mut digest, 77i64);
    let mut lpz = BytesMut::new();
    put(&mut lpz, 9i64);
    let mut hex = BytesMut::new();
    put(&mut hex, 5i64);
    put(&mut hex, 1i32);
    put(&mut hex, String::from("ff"));
    // 3.9: digest and lastProcessedZxid, each sealed.
    let l = load(with_trailer(&[(&digest, true), (&lpz, true)])).unwrap();
    assert_eq!(l.digest.map(|d| (d.zxid, d.version, d.digest)), Some((5, 2, 77)));
    assert_eq!(l.last_processed_zxid, Some(9));
    // 3.9 with the digest off: lastProcessedZxid alone (21 bytes).
    let l = load(with_trailer(&[(&lpz, true)])).unwrap();
    assert_eq!((l.digest, l.last_processed_zxid), (None, Some(9)));
    // A digest version < 2 stores the digest as a hex string.
    let l = load(with_trailer(&[(&hex, true)])).unwrap();
    assert_eq!(l.digest.map(|d| (d.version, d.digest)), Some((1, 255)));
    // A bad second seal names its offset.
    let mut bytes = with_trailer(&[(&digest, true)]);
    let n = bytes.len();
    bytes[n - 6] ^= 1;
    let e = load(bytes).err().expect("bad digest seal");
    assert_eq!(e.offset, (n - 13) as u64);
    assert!(e.reason.contains("the digest seal"), "{}", e.reason);
}

#[test]
fn empty_and_partial_log_headers() {
    // The last log empty or cut inside its header: a crash while creating it.
    for bytes in [Vec::new(), log_bytes(&[], 0)[..7].to_vec()] {
        let (report, state) =
            import_ok(&[("snapshot.5", base_snapshot()), ("log.6", log_bytes(&creates(6, 2), 0)), ("log.8", bytes)]);
        assert_eq!((report.torn.len(), state.last_zxid), (1, 7), "{report}");
    }
    // The same before the last log: damage.
    let from =
        zk_dir(&[("snapshot.5", base_snapshot()), ("log.6", Vec::new()), ("log.8", log_bytes(&creates(8, 1), 0))]);
    let e = run(from.path()).0.unwrap_err();
    assert!(matches!(&e, ImportError::BadLog { file, .. } if file.ends_with("log.6")), "{e}");
}
