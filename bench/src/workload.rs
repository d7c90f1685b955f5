//! What each workload sends, and the znodes it needs before the clock starts.
//!
//! Layout on the server (every workload stays under its own parent, so runs can share a
//! server without seeing each other's nodes):
//!
//! ```text
//! /bench/kv/k<i>            keys for set, get, exists, mixed (i < --keys), --value-bytes each
//! /bench/ch/p<j>/c<i>       16 parents for getChildren, --children each
//! /bench/cr/<run>-<c>-<n>   create: new names every run
//! /bench/sq/<run>-<c>-NNNN  create --sequential (the server appends the counter)
//! /bench/del/<run>-<c>-<n>  delete: made untimed before the run, then deleted
//! /bench/watch              the node watch fan-out sets
//! /scale/p<j>/n<i>          load (the scale mode): --ops znodes under --parents parents
//! ```

use bytes::Bytes;
use jute::data::perms;
use jute::proto::{CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, SetDataRequest};
use jute::{Acl, OpCode};

use crate::conn::Conn;

/// The workloads. `Load` is the scale mode's populate step, measured like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Create,
    Delete,
    Set,
    Get,
    Exists,
    Children,
    Mixed,
    Watch,
    Load,
}

impl Workload {
    /// The name used on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Delete => "delete",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Children => "children",
            Workload::Mixed => "mixed",
            Workload::Watch => "watch",
            Workload::Load => "load",
        }
    }
}

/// `CreateMode` flag bits as the wire carries them.
pub const FLAG_SEQUENTIAL: i32 = 2;

/// Parents the getChildren workload reads (`/bench/ch/p0` … `p15`).
pub const CHILDREN_PARENTS: usize = 16;

/// One request.
#[derive(Debug, Clone)]
pub enum Op {
    Create { path: String, data: Bytes, flags: i32 },
    Delete { path: String },
    Set { path: String, data: Bytes },
    Get { path: String },
    Exists { path: String },
    Children { path: String },
}

impl Op {
    /// Appends the request to the connection's write buffer; returns its xid.
    pub fn push(self, conn: &mut Conn) -> i32 {
        match self {
            Op::Create { path, data, flags } => {
                let acl = vec![Acl::world(perms::ALL)];
                conn.push(OpCode::CREATE, &CreateRequest { path, data: Some(data), acl, flags })
            }
            Op::Delete { path } => conn.push(OpCode::DELETE, &DeleteRequest { path, version: -1 }),
            Op::Set { path, data } => {
                conn.push(OpCode::SET_DATA, &SetDataRequest { path, data: Some(data), version: -1 })
            }
            Op::Get { path } => conn.push(OpCode::GET_DATA, &GetDataRequest { path, watch: false }),
            Op::Exists { path } => conn.push(OpCode::EXISTS, &ExistsRequest { path, watch: false }),
            Op::Children { path } => conn.push(OpCode::GET_CHILDREN, &GetChildrenRequest { path, watch: false }),
        }
    }
}

/// The settings that decide which requests a workload sends.
#[derive(Debug, Clone)]
pub struct Shape {
    pub workload: Workload,
    pub connections: usize,
    pub value_bytes: usize,
    pub keys: usize,
    pub children: usize,
    pub parents: usize,
    /// Percent of reads in `mixed`.
    pub read_pct: u32,
    pub sequential: bool,
    /// Nodes `delete` makes (untimed) and then deletes, and `load` creates, over all connections.
    pub nodes: u64,
    /// Unique per run, so `create` and `delete` never collide with an earlier run.
    pub run_id: String,
    pub seed: u64,
}

/// The `i`-th key of the key space.
pub fn key_path(i: usize) -> String {
    format!("/bench/kv/k{i}")
}

/// xorshift64*: a seeded generator, so a run's key sequence can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so seeds 0, 1, 2… give unrelated streams; never 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` random bytes: znode data that compresses no better than real data would, so
    /// a compressed snapshot is not flattered by repeated filler.
    pub fn bytes(&mut self, len: usize) -> Bytes {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(len);
        Bytes::from(v)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for key spaces < 2^32.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The request stream of one connection.
pub struct OpSource {
    shape: std::sync::Arc<Shape>,
    conn: usize,
    n: u64,
    rng: Rng,
}

impl OpSource {
    pub fn new(shape: std::sync::Arc<Shape>, conn: usize) -> OpSource {
        let rng = Rng::new(shape.seed.wrapping_add(conn as u64));
        OpSource { shape, conn, n: 0, rng }
    }

    /// This connection's share of a fixed number of nodes (`delete`, `load`).
    fn share(&self) -> u64 {
        let c = self.shape.connections as u64;
        self.shape.nodes / c + u64::from((self.conn as u64) < self.shape.nodes % c)
    }

    /// The next request, or `None` when this connection's share is done.
    pub fn next_op(&mut self) -> Option<Op> {
        let s = &*self.shape;
        let n = self.n;
        self.n += 1;
        let len = s.value_bytes;
        let op = match s.workload {
            Workload::Create if s.sequential => Op::Create {
                path: format!("/bench/sq/{}-{}-", s.run_id, self.conn),
                data: self.rng.bytes(len),
                flags: FLAG_SEQUENTIAL,
            },
            Workload::Create => Op::Create {
                path: format!("/bench/cr/{}-{}-{n}", s.run_id, self.conn),
                data: self.rng.bytes(len),
                flags: 0,
            },
            Workload::Delete if n < self.share() => Op::Delete { path: delete_path(s, self.conn, n) },
            Workload::Delete => return None,
            Workload::Set => Op::Set { path: key_path(self.rng.below(s.keys)), data: self.rng.bytes(len) },
            Workload::Get => Op::Get { path: key_path(self.rng.below(s.keys)) },
            Workload::Exists => Op::Exists { path: key_path(self.rng.below(s.keys)) },
            Workload::Children => Op::Children { path: format!("/bench/ch/p{}", self.rng.below(CHILDREN_PARENTS)) },
            Workload::Mixed => {
                let path = key_path(self.rng.below(s.keys));
                if self.rng.below(100) < s.read_pct as usize {
                    Op::Get { path }
                } else {
                    Op::Set { path, data: self.rng.bytes(len) }
                }
            }
            Workload::Load if n < self.share() => {
                // Stripe the connections over the whole range, then over the parents.
                let i = n * s.connections as u64 + self.conn as u64;
                let path = format!("/scale/p{}/n{i}", i % s.parents as u64);
                Op::Create { path, data: self.rng.bytes(len), flags: 0 }
            }
            Workload::Load => return None,
            Workload::Watch => unreachable!("watch fan-out has its own driver (fanout.rs)"),
        };
        Some(op)
    }
}

/// The `n`-th node connection `conn` deletes in the delete workload.
pub fn delete_path(s: &Shape, conn: usize, n: u64) -> String {
    format!("/bench/del/{}-{conn}-{n}", s.run_id)
}

/// The requests that must succeed (or find the node there already) before the clock starts,
/// in waves: every node of one wave may be created in parallel, after the previous wave.
pub fn setup_waves(s: &Shape) -> Vec<Vec<Op>> {
    let node = |path: String| Op::Create { path, data: Bytes::new(), flags: 0 };
    let mut rng = Rng::new(s.seed ^ 0x5e7u64);
    let mut value = move || rng.bytes(s.value_bytes);
    let mut waves = vec![vec![node("/bench".into())]];
    match s.workload {
        Workload::Create => waves.push(vec![node("/bench/cr".into()), node("/bench/sq".into())]),
        Workload::Delete => {
            waves.push(vec![node("/bench/del".into())]);
            let mut all = Vec::new();
            for conn in 0..s.connections {
                let src = OpSource { shape: std::sync::Arc::new(s.clone()), conn, n: 0, rng: Rng::new(0) };
                for n in 0..src.share() {
                    all.push(Op::Create { path: delete_path(s, conn, n), data: value(), flags: 0 });
                }
            }
            waves.push(all);
        }
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed => {
            waves.push(vec![node("/bench/kv".into())]);
            waves.push((0..s.keys).map(|i| Op::Create { path: key_path(i), data: value(), flags: 0 }).collect());
        }
        Workload::Children => {
            waves.push(vec![node("/bench/ch".into())]);
            waves.push((0..CHILDREN_PARENTS).map(|j| node(format!("/bench/ch/p{j}"))).collect());
            let kids = (0..CHILDREN_PARENTS)
                .flat_map(|j| (0..s.children).map(move |i| format!("/bench/ch/p{j}/c{i}")))
                .map(|path| Op::Create { path, data: value(), flags: 0 })
                .collect();
            waves.push(kids);
        }
        Workload::Watch => waves.push(vec![Op::Create { path: "/bench/watch".into(), data: value(), flags: 0 }]),
        Workload::Load => {
            waves[0] = vec![node("/scale".into())];
            waves.push((0..s.parents).map(|j| node(format!("/scale/p{j}"))).collect());
        }
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(workload: Workload, connections: usize, nodes: u64) -> Shape {
        Shape {
            workload,
            connections,
            value_bytes: 3,
            keys: 10,
            children: 2,
            parents: 10,
            read_pct: 90,
            sequential: false,
            nodes,
            run_id: "r".into(),
            seed: 1,
        }
    }

    #[test]
    fn shares_cover_every_node_once() {
        let s = std::sync::Arc::new(shape(Workload::Load, 3, 10));
        let mut paths = Vec::new();
        for c in 0..3 {
            let mut src = OpSource::new(s.clone(), c);
            while let Some(Op::Create { path, .. }) = src.next_op() {
                paths.push(path);
            }
        }
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 10);
        assert!(paths.iter().all(|p| p.starts_with("/scale/p")));
    }

    #[test]
    fn mixed_respects_the_ratio() {
        let s = std::sync::Arc::new(shape(Workload::Mixed, 1, 0));
        let mut src = OpSource::new(s, 0);
        let reads = (0..10_000).filter(|_| matches!(src.next_op(), Some(Op::Get { .. }))).count();
        assert!((8_700..9_300).contains(&reads), "{reads}");
    }

    #[test]
    fn delete_setup_makes_what_delete_deletes() {
        let s = shape(Workload::Delete, 2, 5);
        let made: Vec<String> = setup_waves(&s)
            .pop()
            .unwrap()
            .into_iter()
            .map(|op| match op {
                Op::Create { path, .. } => path,
                other => panic!("{other:?}"),
            })
            .collect();
        let arc = std::sync::Arc::new(s);
        let mut deleted = Vec::new();
        for c in 0..2 {
            let mut src = OpSource::new(arc.clone(), c);
            while let Some(Op::Delete { path }) = src.next_op() {
                deleted.push(path);
            }
        }
        assert_eq!(made.len(), 5);
        assert_eq!(made, deleted);
    }
}
