//! Figures, not timed tests (all `#[ignore]`): group commit, snapshot of 1M znodes, log
//! replay. `cargo test --release --lib storage::bench -- --ignored --nocapture`;
//! `FERROZK_BENCH_DIR` picks the disk, `FERROZK_BENCH_RANDOM=1` incompressible data.

use bytes::Bytes;

use super::snapshot::snapshot_name;
use super::tests::{create, next_rand, txn, S1};
use super::*;
use crate::txn::{apply, CreateKind, TxnOp};

fn bench_dir() -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    match std::env::var_os("FERROZK_BENCH_DIR") {
        Some(d) => (None, d.into()),
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_owned();
            (Some(t), p)
        }
    }
}

/// Figures, not a timed test: records per second with fsync for several group sizes.
/// `cargo test --release --lib storage::bench::bench_group_commit -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_group_commit() {
    let data = Bytes::from(vec![b'x'; 100]);
    for group in [1usize, 4, 16, 64, 256] {
        let (_keep, root) = bench_dir();
        let opts = StorageOptions::new(&root.join(format!("g{group}")), &root.join(format!("g{group}")));
        let mut w = Wal::open(&opts, 0).unwrap();
        let records = (group * 200).clamp(1000, 20_000);
        let started = std::time::Instant::now();
        for z in 1..=records as i64 {
            let mut t = txn(z, S1, create(&format!("/bench/n{z:010}"), None, 0, CreateKind::Create));
            if let TxnOp::Create(c) = &mut t.op {
                c.data = Some(data.clone());
            }
            w.append(&t).unwrap();
            if z as usize % group == 0 {
                w.sync().unwrap();
            }
        }
        w.sync().unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "group {group:>4}: {records} records in {secs:.2} s = {:.0} records/s, {:.0} fsyncs/s",
            records as f64 / secs,
            (records / group) as f64 / secs
        );
    }
}

/// Figures: snapshot write/load of 1 000 000 znodes of 100 bytes under 10 parents (the
/// issue's restart and size targets).
#[test]
#[ignore]
fn bench_snapshot_million() {
    let (_keep, root) = bench_dir();
    let opts = StorageOptions::new(&root.join("snap"), &root.join("snap"));
    let mut state = State::default();
    let mut z = 0;
    let mut next = |op| {
        z += 1;
        txn(z, S1, op)
    };
    // FERROZK_BENCH_RANDOM=1: incompressible data, the worst case for the snapshot size.
    let random = std::env::var_os("FERROZK_BENCH_RANDOM").is_some();
    let mut rng = 7u64;
    let mut data_for = move || {
        if random {
            Bytes::from((0..100).map(|_| next_rand(&mut rng) as u8).collect::<Vec<u8>>())
        } else {
            Bytes::from(vec![b'v'; 100])
        }
    };
    apply(&mut state, &next(TxnOp::CreateSession { timeout_ms: 30_000 }));
    for p in 0..10 {
        apply(&mut state, &next(create(&format!("/p{p}"), None, 0, CreateKind::Create)));
    }
    let started = std::time::Instant::now();
    for i in 0..1_000_000 {
        let mut t = next(create(&format!("/p{}/node{i:07}", i % 10), None, 0, CreateKind::Create));
        if let TxnOp::Create(c) = &mut t.op {
            c.data = Some(data_for());
        }
        let applied = apply(&mut state, &t);
        assert!(!matches!(applied.result, crate::txn::OpResult::Error(_)), "{applied:?}");
    }
    assert_eq!(state.tree.node_count(), 1_000_014);
    println!("built 1M nodes in {:.2} s", started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let path = write_snapshot(&opts, &state).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "snapshot written in {:.2} s, {} bytes ({:.1} bytes/znode)",
        started.elapsed().as_secs_f64(),
        size,
        size as f64 / 1e6
    );
    let started = std::time::Instant::now();
    let dir = FsDir::existing(&opts.snap_dir());
    let (mut r, _, _) = snapshot::SnapshotReader::open(&dir, &snapshot_name(state.last_zxid)).unwrap();
    let mut n = 0;
    while r.next_node().unwrap().is_some() {
        n += 1;
    }
    println!("read {n} nodes without building the tree in {:.2} s", started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let rec = recover(&opts, RecoveryMode::Strict).unwrap();
    println!("recovered in {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(rec.state.tree.digest(), state.tree.digest());
}

/// Figures: log replay speed at start-up (200 000 creates of 100 bytes, no snapshot).
#[test]
#[ignore]
fn bench_replay() {
    let (_keep, root) = bench_dir();
    let mut opts = StorageOptions::new(&root.join("replay"), &root.join("replay"));
    opts.force_sync = false;
    let mut w = Wal::open(&opts, 0).unwrap();
    w.append(&txn(1, S1, TxnOp::CreateSession { timeout_ms: 30_000 })).unwrap();
    let data = Bytes::from(vec![b'r'; 100]);
    let records = 200_000;
    let started = std::time::Instant::now();
    for z in 2..=records {
        let mut t = txn(z, S1, create(&format!("/n{z:010}"), None, 0, CreateKind::Create));
        if let TxnOp::Create(c) = &mut t.op {
            c.data = Some(data.clone());
        }
        w.append(&t).unwrap();
        if z % 1000 == 0 {
            w.sync().unwrap();
        }
    }
    w.sync().unwrap();
    println!("appended {records} records in {:.2} s (no fsync)", started.elapsed().as_secs_f64());
    drop(w);
    let started = std::time::Instant::now();
    let rec = recover(&opts, RecoveryMode::Strict).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("replayed {} records in {secs:.2} s = {:.0} records/s", rec.replayed, rec.replayed as f64 / secs);
    assert_eq!(rec.state.tree.node_count(), records as usize + 3);
}

/// Figures: loading one existing snapshot, e.g. one `scripts/bench.sh --znodes` left behind.
/// `FERROZK_BENCH_SNAPSHOT=<dir>/snapshot.<zxid>.lz4`; wall and process CPU time per load,
/// best of `FERROZK_BENCH_ROUNDS` (default 3): on a shared machine the best is the figure.
#[test]
#[ignore]
fn bench_load_snapshot_file() {
    let Some(file) = std::env::var_os("FERROZK_BENCH_SNAPSHOT").map(std::path::PathBuf::from) else {
        println!("FERROZK_BENCH_SNAPSHOT not set: nothing to load");
        return;
    };
    let rounds: usize = std::env::var("FERROZK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let dir = FsDir::existing(file.parent().unwrap());
    let name = file.file_name().unwrap().to_str().unwrap();
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let (wall, cpu) = (std::time::Instant::now(), process_cpu_s());
        let state = snapshot::read_snapshot_in(&dir, name).unwrap();
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), process_cpu_s() - cpu);
        println!("loaded {} nodes in {wall:.3} s wall, {cpu:.3} s CPU", state.tree.node_count());
        best = (best.0.min(wall), best.1.min(cpu));
    }
    println!("best: {:.3} s wall, {:.3} s CPU", best.0, best.1);
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, 100 ticks/s).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}
