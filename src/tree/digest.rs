//! The tree digest: a wrapping sum of per-node hashes, so one change updates it in O(1)
//! (as ZooKeeper's `DigestCalculator`). FNV-1a over a fixed byte layout keeps it equal
//! across builds and machines; bump [`DIGEST_VERSION`] whenever the inputs change.

use crate::tree::Node;

/// Version of the digest's inputs and layout.
pub const DIGEST_VERSION: i32 = 1;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Hash of one node: its path, data (null and empty differ) and persisted stat.
pub fn node_hash(path: &str, node: &Node) -> u64 {
    let mut h = fnv(FNV_OFFSET, path.as_bytes());
    h = match &node.data {
        None => fnv(h, &[0]),
        Some(d) => fnv(fnv(h, &[1]), d),
    };
    let s = &node.stat;
    for v in [s.czxid, s.mzxid, s.ctime, s.mtime, s.ephemeral_owner, s.pzxid] {
        h = fnv(h, &v.to_be_bytes());
    }
    for v in [s.version, s.cversion, s.aversion] {
        h = fnv(h, &v.to_be_bytes());
    }
    h
}
