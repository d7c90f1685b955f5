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

/// The bytes [`node_hash`] runs FNV-1a over, appended to `out`.
fn hash_input(path: &str, node: &Node, out: &mut Vec<u8>) {
    out.extend_from_slice(path.as_bytes());
    match &node.data {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            out.extend_from_slice(d);
        }
    }
    let s = &node.stat;
    for v in [s.czxid, s.mzxid, s.ctime, s.mtime, s.ephemeral_owner, s.pzxid] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for v in [s.version, s.cversion, s.aversion] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// [`node_hash`] of many nodes, the same values. FNV-1a waits on one multiply per byte;
/// four nodes hashed in lockstep keep the multiplier busy: about twice as fast as one
/// node after another (measured on nodes of 100 bytes of data).
pub fn node_hashes(nodes: &[(&str, &Node)]) -> Vec<u64> {
    let mut hashes = Vec::with_capacity(nodes.len());
    let mut bufs: [Vec<u8>; 4] = Default::default();
    for group in nodes.chunks(4) {
        for (buf, (path, node)) in bufs.iter_mut().zip(group) {
            buf.clear();
            hash_input(path, node, buf);
        }
        if let [a, b, c, d] = &bufs[..group.len()] {
            let common = a.len().min(b.len()).min(c.len()).min(d.len());
            let mut h = [FNV_OFFSET; 4];
            for (((&x, &y), &z), &w) in a[..common].iter().zip(&b[..common]).zip(&c[..common]).zip(&d[..common]) {
                h[0] = (h[0] ^ u64::from(x)).wrapping_mul(FNV_PRIME);
                h[1] = (h[1] ^ u64::from(y)).wrapping_mul(FNV_PRIME);
                h[2] = (h[2] ^ u64::from(z)).wrapping_mul(FNV_PRIME);
                h[3] = (h[3] ^ u64::from(w)).wrapping_mul(FNV_PRIME);
            }
            hashes.extend(h.iter().zip(&bufs).map(|(&h, buf)| fnv(h, &buf[common..])));
        } else {
            hashes.extend(bufs[..group.len()].iter().map(|buf| fnv(FNV_OFFSET, buf)));
        }
    }
    hashes
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::tree::NodeStat;

    #[test]
    fn node_hashes_equal_node_hash() {
        let acl = Arc::new(crate::tree::acl::open_acl_unsafe());
        let nodes: Vec<(String, Node)> = (0..23)
            .map(|i: i64| {
                let data = match i % 3 {
                    0 => None,
                    1 => Some(Bytes::new()),
                    _ => Some(Bytes::from(vec![i as u8; (i * 7 % 50) as usize])),
                };
                let stat = NodeStat { czxid: i, mzxid: i * 3, ctime: -i, version: i as i32, ..NodeStat::default() };
                (format!("/n{}", "x".repeat(i as usize % 5)), Node::new(data, acl.clone(), stat))
            })
            .collect();
        let refs: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (p.as_str(), n)).collect();
        let want: Vec<u64> = refs.iter().map(|(p, n)| node_hash(p, n)).collect();
        for len in [0, 1, 4, 5, 8, 23] {
            assert_eq!(node_hashes(&refs[..len]), want[..len], "{len} nodes");
        }
    }
}
