//! The simulator's state machine: a tiny ZooKeeper-like key-value map (create fails if the
//! key exists; set and delete fail if it does not), with a running digest and a snapshot
//! encoding. The replica carries its commands as opaque batches.

use std::collections::BTreeMap;

/// A write a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Write {
    /// Create `key` with a value; fails with `Exists` if present.
    Create(u8, u64),
    /// Overwrite `key`; fails with `NoNode` if absent.
    Set(u8, u64),
    /// Remove `key`; fails with `NoNode` if absent.
    Delete(u8),
}

impl Write {
    /// The key it touches (histories are checked per key).
    pub fn key(self) -> u8 {
        match self {
            Write::Create(k, _) | Write::Set(k, _) | Write::Delete(k) => k,
        }
    }
}

/// A write's answer, the same on every replica (checked in apply, as ZooKeeper does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Create of an existing key.
    Exists,
    /// Set or delete of a missing key.
    NoNode,
}

/// One stamped command inside a batch: who asked, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// Client number.
    pub client: u32,
    /// The client's operation number.
    pub seq: u64,
    /// Server that proposed it and owes the reply.
    pub origin: u32,
    /// The write.
    pub write: Write,
}

const CMD_BYTES: usize = 4 + 8 + 4 + 1 + 1 + 8;

/// Encodes a batch of commands (fixed 26-byte records).
pub fn encode_batch(cmds: &[Cmd]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmds.len() * CMD_BYTES);
    for c in cmds {
        let (kind, key, val) = match c.write {
            Write::Create(k, v) => (0u8, k, v),
            Write::Set(k, v) => (1, k, v),
            Write::Delete(k) => (2, k, 0),
        };
        out.extend_from_slice(&c.client.to_le_bytes());
        out.extend_from_slice(&c.seq.to_le_bytes());
        out.extend_from_slice(&c.origin.to_le_bytes());
        out.push(kind);
        out.push(key);
        out.extend_from_slice(&val.to_le_bytes());
    }
    out
}

/// Decodes [`encode_batch`] output.
///
/// # Panics
/// On a malformed batch: only the simulator writes them.
pub fn decode_batch(data: &[u8]) -> Vec<Cmd> {
    assert_eq!(data.len() % CMD_BYTES, 0, "kv: torn batch");
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    data.chunks(CMD_BYTES)
        .map(|b| {
            let (key, val) = (b[17], u64_at(b, 18));
            let write = match b[16] {
                0 => Write::Create(key, val),
                1 => Write::Set(key, val),
                2 => Write::Delete(key),
                k => panic!("kv: bad kind {k}"),
            };
            Cmd { client: u32_at(b, 0), seq: u64_at(b, 4), origin: u32_at(b, 12), write }
        })
        .collect()
}

/// The map itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    map: BTreeMap<u8, u64>,
}

impl Kv {
    /// Applies one write; the answer depends only on the map, so it is equal everywhere.
    pub fn apply(&mut self, w: Write) -> Outcome {
        match w {
            Write::Create(k, v) => {
                if self.map.contains_key(&k) {
                    return Outcome::Exists;
                }
                self.map.insert(k, v);
            }
            Write::Set(k, v) => match self.map.get_mut(&k) {
                Some(slot) => *slot = v,
                None => return Outcome::NoNode,
            },
            Write::Delete(k) => {
                if self.map.remove(&k).is_none() {
                    return Outcome::NoNode;
                }
            }
        }
        Outcome::Ok
    }

    /// Reads a key.
    pub fn get(&self, k: u8) -> Option<u64> {
        self.map.get(&k).copied()
    }

    /// FNV-1a over the whole map: replicas must agree at equal slots.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.encode() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    /// Snapshot bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.map.len() * 9);
        for (k, v) in &self.map {
            out.push(*k);
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Loads snapshot bytes.
    pub fn decode(data: &[u8]) -> Kv {
        let map = data.chunks(9).map(|c| (c[0], u64::from_le_bytes(c[1..9].try_into().expect("8 bytes")))).collect();
        Kv { map }
    }
}
