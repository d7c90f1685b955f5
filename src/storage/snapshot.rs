//! Snapshots: the whole replicated [`State`] at one zxid, streamed through LZ4 into a
//! temporary file that is fsynced and then renamed into place, so a reader sees either the
//! old set of snapshots or the new one whole. Loading checks a CRC32C over every byte and
//! that the rebuilt tree's digest equals the one recorded at write time.
//!
//! ```text
//! snapshot.<last_zxid as 16 hex>.lz4 = LZ4 frame of Body
//! Body     = Header Sessions Nodes crc32c u32 (of every Body byte before it)
//! Header   = magic "FZKSNAP\0" | version u32 = 3 | digest_version i32 | last_zxid i64
//!            | slot u64 (version 3 only: the ensemble log slot; 0 standalone) | digest u64
//! Sessions = count u32 | (id i64 | timeout_ms i32)*
//! Nodes    = count u64 | Node*                    (pre-order: every parent before its children)
//! Node     = shared var | suffix (len var | bytes)   path = previous path[..shared] ++ suffix
//!            | data var (0 = null, n + 1 = n bytes follow) | acl var [AclList] | flags u8
//!            | czxid zvar (delta to the previous node's) | ctime zvar (delta likewise)
//!            | mzxid zvar (delta to czxid)  unless flags & 1    (else mzxid = czxid)
//!            | mtime zvar (delta to ctime)  unless flags & 2    (else mtime = ctime)
//!            | pzxid zvar (delta to czxid)  unless flags & 4    (else pzxid = czxid)
//!            | version zvar unless flags & 8 | cversion zvar unless flags & 16
//!            | aversion zvar unless flags & 32                   (else 0)
//!            | ephemeral_owner var (as u64) unless flags & 64   (else 0); bit 128 is 0
//! acl      = index of an ACL list; the number of lists defined so far introduces a new one:
//! AclList  = count u32 | (perms i32 | scheme Str | id Str)*
//! Str      = len u32 | UTF-8 bytes;  var = LEB128 u64;  zvar = zigzag LEB128 i64
//!            (fixed-width integers big-endian)
//! ```
//! Front-coded paths (siblings are adjacent in pre-order) and a Stat reduced to what
//! differs from its usual shape take a node's overhead from ~90 to ~10 bytes before
//! compression, so the file is bound by the data itself.
//! ACL lists are defined once and referenced by index, as ZooKeeper's `ReferenceCountedACLCache`
//! does, which keeps the file small and lets the loader share one allocation per list.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Id};
use lz4_flex::frame::{BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::backend::{BackendReader, BackendWriter, Dir};
use super::StorageError;
use crate::tree::build::PreorderBuilder;
use crate::tree::digest::{self, DIGEST_VERSION};
use crate::tree::{DataTree, Node, NodeStat};
use crate::txn::State;

/// Magic at the start of the (decompressed) body.
pub const MAGIC: [u8; 8] = *b"FZKSNAP\0";
/// Format version (2: front-coded paths, compact Stat; 3: adds the ensemble log slot).
pub const VERSION: u32 = 3;
/// The oldest format version still read (its slot reads as 0).
pub const VERSION_MIN: u32 = 2;
/// Largest path, data, ACL scheme or id accepted when reading: a damaged length never makes
/// the loader allocate more.
pub const FIELD_BYTES_MAX: u32 = 64 << 20;
/// Largest ACL list accepted.
pub const ACL_ENTRIES_MAX: u32 = 1 << 16;
const CHUNK_BYTES: usize = 64 << 10;
/// Nodes per message from the decoding thread to the one building the tree.
const BATCH_NODES: usize = 4096;
/// Messages in flight between the two (a bound on the memory between them).
const BATCHES_IN_FLIGHT: usize = 4;
/// Nodes the tree's map is sized for at most before any are read: the count comes from a
/// header not yet verified by the CRC, so a damaged one must not reserve gigabytes.
const RESERVE_NODES_MAX: u64 = 1 << 22;

/// The file name of the snapshot of the state at `zxid`.
pub fn snapshot_name(zxid: i64) -> String {
    format!("snapshot.{:016x}.lz4", zxid as u64)
}

/// The zxid a snapshot file name carries, if `name` is one.
pub fn parse_snapshot_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("snapshot.")?.strip_suffix(".lz4")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// Whether `name` is a temporary file left by an interrupted snapshot write.
pub fn is_snapshot_temp(name: &str) -> bool {
    name.strip_suffix(".tmp").and_then(parse_snapshot_name).is_some()
}

/// Stages body bytes in a buffer; CRCs and forwards them in chunks.
struct BodyWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: u32,
}

impl<W: Write> BodyWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn str(&mut self, s: &str) -> io::Result<()> {
        self.put(&(s.len() as u32).to_be_bytes())?;
        self.put(s.as_bytes())
    }

    /// Writes the CRC trailer and hands back the inner writer.
    fn finish(mut self) -> io::Result<W> {
        self.drain()?;
        self.out.write_all(&self.crc.to_be_bytes())?;
        Ok(self.out)
    }
}

fn write_body<W: Write>(state: &State, out: W) -> io::Result<W> {
    let mut w = BodyWriter { out, buf: Vec::with_capacity(CHUNK_BYTES * 2), crc: 0 };
    w.put(&MAGIC)?;
    w.put(&VERSION.to_be_bytes())?;
    w.put(&DIGEST_VERSION.to_be_bytes())?;
    w.put(&state.last_zxid.to_be_bytes())?;
    w.put(&state.slot.to_be_bytes())?;
    w.put(&state.tree.digest().to_be_bytes())?;
    w.put(&(state.sessions.len() as u32).to_be_bytes())?;
    for (id, timeout) in &state.sessions {
        w.put(&id.to_be_bytes())?;
        w.put(&timeout.to_be_bytes())?;
    }
    w.put(&(state.tree.node_count() as u64).to_be_bytes())?;
    let mut acls: HashMap<usize, u32> = HashMap::new();
    let mut prev = Prev::default();
    let mut result = Ok(());
    state.tree.walk_preorder(|p, node| {
        if result.is_ok() {
            result = write_node(&mut w, &mut acls, &mut prev, p, node);
        }
    });
    result?;
    w.finish()
}

const MZXID_IS_CZXID: u8 = 1;
const MTIME_IS_CTIME: u8 = 2;
const PZXID_IS_CZXID: u8 = 4;
const VERSION_ZERO: u8 = 8;
const CVERSION_ZERO: u8 = 16;
const AVERSION_ZERO: u8 = 32;
const OWNER_ZERO: u8 = 64;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// What node coding is relative to: the node before.
#[derive(Default)]
struct Prev {
    path: String,
    czxid: i64,
    ctime: i64,
}

impl<W: Write> BodyWriter<W> {
    fn var(&mut self, mut v: u64) -> io::Result<()> {
        let mut b = [0u8; 10];
        let mut n = 0;
        while v >= 0x80 {
            b[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        b[n] = v as u8;
        self.put(&b[..=n])
    }

    fn zvar(&mut self, v: i64) -> io::Result<()> {
        self.var(zigzag(v))
    }
}

fn write_node<W: Write>(
    w: &mut BodyWriter<W>,
    acls: &mut HashMap<usize, u32>,
    prev: &mut Prev,
    p: &str,
    node: &Node,
) -> io::Result<()> {
    let shared = prev.path.bytes().zip(p.bytes()).take_while(|(a, b)| a == b).count();
    w.var(shared as u64)?;
    w.var((p.len() - shared) as u64)?;
    w.put(&p.as_bytes()[shared..])?;
    prev.path.clear();
    prev.path.push_str(p);
    match &node.data {
        None => w.var(0)?,
        Some(d) => {
            w.var(d.len() as u64 + 1)?;
            w.put(d)?;
        }
    }
    // Nodes sharing one `Arc` share one list; pointers stay valid while `state` is borrowed.
    let key = Arc::as_ptr(&node.acl) as usize;
    let next = acls.len() as u32;
    let index = *acls.entry(key).or_insert(next);
    w.var(u64::from(index))?;
    if index == next {
        w.put(&(node.acl.len() as u32).to_be_bytes())?;
        for a in node.acl.iter() {
            w.put(&a.perms.to_be_bytes())?;
            w.str(&a.id.scheme)?;
            w.str(&a.id.id)?;
        }
    }
    write_stat(w, prev, &node.stat)
}

fn write_stat<W: Write>(w: &mut BodyWriter<W>, prev: &mut Prev, s: &NodeStat) -> io::Result<()> {
    let flag = |cond: bool, bit: u8| if cond { bit } else { 0 };
    let flags = flag(s.mzxid == s.czxid, MZXID_IS_CZXID)
        | flag(s.mtime == s.ctime, MTIME_IS_CTIME)
        | flag(s.pzxid == s.czxid, PZXID_IS_CZXID)
        | flag(s.version == 0, VERSION_ZERO)
        | flag(s.cversion == 0, CVERSION_ZERO)
        | flag(s.aversion == 0, AVERSION_ZERO)
        | flag(s.ephemeral_owner == 0, OWNER_ZERO);
    w.put(&[flags])?;
    w.zvar(s.czxid.wrapping_sub(prev.czxid))?;
    w.zvar(s.ctime.wrapping_sub(prev.ctime))?;
    (prev.czxid, prev.ctime) = (s.czxid, s.ctime);
    if flags & MZXID_IS_CZXID == 0 {
        w.zvar(s.mzxid.wrapping_sub(s.czxid))?;
    }
    if flags & MTIME_IS_CTIME == 0 {
        w.zvar(s.mtime.wrapping_sub(s.ctime))?;
    }
    if flags & PZXID_IS_CZXID == 0 {
        w.zvar(s.pzxid.wrapping_sub(s.czxid))?;
    }
    for (v, bit) in [(s.version, VERSION_ZERO), (s.cversion, CVERSION_ZERO), (s.aversion, AVERSION_ZERO)] {
        if flags & bit == 0 {
            w.zvar(i64::from(v))?;
        }
    }
    if flags & OWNER_ZERO == 0 {
        w.var(s.ephemeral_owner as u64)?;
    }
    Ok(())
}

/// Writes `state` as `snapshot.<last_zxid>.lz4` in `dir`: temporary file, fsync, rename,
/// directory fsync. Blocking; meant for a background thread holding a clone of the state.
///
/// # Errors
/// `Io` naming the file that failed; the temporary file is removed on a best-effort basis.
pub fn write_snapshot_in(dir: &dyn Dir, state: &State) -> Result<PathBuf, StorageError> {
    let name = snapshot_name(state.last_zxid);
    let tmp = format!("{name}.tmp");
    let _ = dir.remove(&tmp);
    let result = write_temp(dir, &tmp, state).map_err(|e| StorageError::io(&dir.file(&tmp), e)).and_then(|()| {
        dir.rename(&tmp, &name).and_then(|()| dir.sync()).map_err(|e| StorageError::io(&dir.file(&name), e))
    });
    if result.is_err() {
        let _ = dir.remove(&tmp);
    }
    result.map(|()| dir.file(&name))
}

fn write_temp(dir: &dyn Dir, tmp: &str, state: &State) -> io::Result<()> {
    let info = FrameInfo::new().block_size(BlockSize::Max1MB);
    let enc = FrameEncoder::with_frame_info(info, BackendWriter::new(dir.create(tmp)?));
    let enc = write_body(state, enc)?;
    let mut out = enc.finish().map_err(io::Error::from)?;
    out.sync()
}

/// The bytes of a snapshot file of `state`, built in memory: what an ensemble leader sends a
/// replica too far behind its log (the receiver stores them unchanged as its own file).
///
/// # Errors
/// Only if compression fails (it does not on a `Vec`).
pub fn encode_snapshot(state: &State) -> io::Result<Vec<u8>> {
    let info = FrameInfo::new().block_size(BlockSize::Max1MB);
    let enc = write_body(state, FrameEncoder::with_frame_info(info, Vec::new()))?;
    enc.finish().map_err(io::Error::from)
}

/// Stores snapshot bytes received from a peer as `snapshot.<zxid>.lz4` in `dir` (temporary
/// file, fsync, rename, directory fsync) and loads them back, verified, so a damaged
/// transfer is refused before anything depends on it.
///
/// # Errors
/// `Io` naming the file; `BadSnapshot` if the bytes do not verify or hold another zxid.
pub fn install_snapshot_in(dir: &dyn Dir, zxid: i64, bytes: &[u8]) -> Result<State, StorageError> {
    let name = snapshot_name(zxid);
    let tmp = format!("{name}.tmp");
    let _ = dir.remove(&tmp);
    let written = dir
        .create(&tmp)
        .and_then(|mut f| f.write_at(0, bytes).and_then(|()| f.sync()))
        .and_then(|()| dir.rename(&tmp, &name))
        .and_then(|()| dir.sync());
    if let Err(e) = written {
        let _ = dir.remove(&tmp);
        return Err(StorageError::io(&dir.file(&name), e));
    }
    let state = read_snapshot_in(dir, &name)?;
    if state.last_zxid != zxid {
        let reason = format!("holds zxid {:#x}, expected {zxid:#x}", state.last_zxid);
        return Err(StorageError::BadSnapshot { file: dir.file(&name), offset: 16, reason });
    }
    Ok(state)
}

/// The fixed part at the start of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub version: u32,
    pub digest_version: i32,
    pub last_zxid: i64,
    /// Ensemble log slot of the last entry included (0 standalone and in version 2).
    pub slot: u64,
    pub digest: u64,
}

/// One node as read from a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotNode {
    pub path: Arc<str>,
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: NodeStat,
}

/// Streams a snapshot back: header, sessions, then nodes one at a time, checking the CRC
/// at the end. Used by the loader and by `dump-snapshot`.
pub struct SnapshotReader {
    file: PathBuf,
    inner: FrameDecoder<BackendReader>,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes of `buf[..crc_from]` are already in `crc`.
    crc_from: usize,
    crc: u32,
    /// Body offset of `buf[0]`.
    base: u64,
    acls: Vec<Arc<Vec<Acl>>>,
    open_acl: Arc<Vec<Acl>>,
    nodes_left: u64,
    /// The previous node's path (front coding), czxid and ctime (delta coding).
    prev_path: Vec<u8>,
    prev_czxid: i64,
    prev_ctime: i64,
}

impl SnapshotReader {
    /// Opens `name` in `dir` and reads the header and the sessions.
    ///
    /// # Errors
    /// `Io` if the file cannot be opened; `BadSnapshot` naming the file and body offset if
    /// the header or sessions do not parse.
    pub fn open(
        dir: &dyn Dir,
        name: &str,
    ) -> Result<(SnapshotReader, SnapshotHeader, BTreeMap<i64, i32>), StorageError> {
        let file = dir.file(name);
        let backend = dir.open_read(name).map_err(|e| StorageError::io(&file, e))?;
        let mut r = SnapshotReader {
            file,
            inner: FrameDecoder::new(BackendReader::new(backend)),
            buf: Vec::new(),
            pos: 0,
            crc_from: 0,
            crc: 0,
            base: 0,
            acls: Vec::new(),
            open_acl: Arc::new(crate::tree::acl::open_acl_unsafe()),
            nodes_left: 0,
            prev_path: Vec::new(),
            prev_czxid: 0,
            prev_ctime: 0,
        };
        if r.take(8)? != MAGIC {
            return Err(r.bad(0, "not a ferrozk snapshot (bad magic)".into()));
        }
        let version = r.u32()?;
        if !(VERSION_MIN..=VERSION).contains(&version) {
            return Err(r.bad(8, format!("unsupported format version {version}")));
        }
        let digest_version = r.i32()?;
        let last_zxid = r.i64()?;
        let slot = if version >= 3 { r.u64()? } else { 0 };
        let header = SnapshotHeader { version, digest_version, last_zxid, slot, digest: r.u64()? };
        let mut sessions = BTreeMap::new();
        for _ in 0..r.u32()? {
            let id = r.i64()?;
            sessions.insert(id, r.i32()?);
        }
        r.nodes_left = r.u64()?;
        Ok((r, header, sessions))
    }

    /// Nodes not yet read.
    pub fn nodes_left(&self) -> u64 {
        self.nodes_left
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn bad(&self, offset: u64, reason: String) -> StorageError {
        StorageError::BadSnapshot { file: self.file.clone(), offset, reason }
    }

    /// Makes `n` bytes available at `pos` and consumes them.
    fn take(&mut self, n: usize) -> Result<&[u8], StorageError> {
        if self.buf.len() - self.pos < n {
            self.crc = crc32c::crc32c_append(self.crc, &self.buf[self.crc_from..self.pos]);
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
            self.crc_from = 0;
            while self.buf.len() < n {
                let have = self.buf.len();
                self.buf.resize(have + (n - have).max(CHUNK_BYTES), 0);
                let got = match self.inner.read(&mut self.buf[have..]) {
                    Ok(got) => got,
                    Err(e) => {
                        self.buf.truncate(have);
                        let at = self.offset() + have as u64;
                        return Err(self.bad(at, format!("cannot decompress: {e}")));
                    }
                };
                self.buf.truncate(have + got);
                if got == 0 {
                    let at = self.offset() + have as u64;
                    return Err(self.bad(at, "truncated".into()));
                }
            }
        }
        let at = self.pos;
        self.pos += n;
        Ok(&self.buf[at..at + n])
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn u32(&mut self) -> Result<u32, StorageError> {
        self.arr().map(u32::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, StorageError> {
        self.arr().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, StorageError> {
        self.arr().map(i64::from_be_bytes)
    }
    fn u64(&mut self) -> Result<u64, StorageError> {
        self.arr().map(u64::from_be_bytes)
    }

    fn len_checked(&mut self, len: impl Into<u64>, what: &str) -> Result<usize, StorageError> {
        let len = len.into();
        if len > u64::from(FIELD_BYTES_MAX) {
            let at = self.offset();
            return Err(self.bad(at, format!("{what} length {len} over the limit")));
        }
        Ok(len as usize)
    }

    fn str(&mut self, what: &str) -> Result<String, StorageError> {
        let len = self.u32()?;
        let len = self.len_checked(len, what)?;
        let at = self.offset();
        let bytes = self.take(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.bad(at, format!("{what} is not UTF-8")))
    }

    fn acl(&mut self) -> Result<Arc<Vec<Acl>>, StorageError> {
        let at = self.offset();
        let index = self.var()?;
        if index < self.acls.len() as u64 {
            return Ok(self.acls[index as usize].clone());
        }
        if index != self.acls.len() as u64 {
            return Err(self.bad(at, format!("acl list {index} referenced before defined")));
        }
        let count = self.u32()?;
        if count > ACL_ENTRIES_MAX {
            return Err(self.bad(at, format!("acl list of {count} entries")));
        }
        let mut list = Vec::new();
        for _ in 0..count {
            let perms = self.i32()?;
            let scheme = self.str("acl scheme")?;
            let id = self.str("acl id")?;
            list.push(Acl { perms, id: Id { scheme, id } });
        }
        let list = if list == *self.open_acl { self.open_acl.clone() } else { Arc::new(list) };
        self.acls.push(list.clone());
        Ok(list)
    }

    /// The next node in pre-order, or `None` after the last one (the CRC checked then).
    ///
    /// # Errors
    /// `BadSnapshot` naming the file and body offset.
    pub fn next_node(&mut self) -> Result<Option<(u64, SnapshotNode)>, StorageError> {
        if self.nodes_left == 0 {
            self.finish()?;
            return Ok(None);
        }
        self.nodes_left -= 1;
        let at = self.offset();
        let path = self.path(at)?;
        let data = match self.var()? {
            0 => None,
            n => {
                let n = self.len_checked(n - 1, "data")?;
                Some(Bytes::copy_from_slice(self.take(n)?))
            }
        };
        let acl = self.acl()?;
        let stat = self.stat()?;
        Ok(Some((at, SnapshotNode { path, data, acl, stat })))
    }

    fn path(&mut self, at: u64) -> Result<Arc<str>, StorageError> {
        let shared = self.var()?;
        if shared > self.prev_path.len() as u64 {
            return Err(self.bad(at, format!("path shares {shared} bytes with a shorter previous path")));
        }
        let len = self.var()?;
        let len = self.len_checked(len, "path")?;
        let mut bytes = std::mem::take(&mut self.prev_path);
        bytes.truncate(shared as usize);
        bytes.extend_from_slice(self.take(len)?);
        self.prev_path = bytes;
        let path = std::str::from_utf8(&self.prev_path).map_err(|_| self.bad(at, "path is not UTF-8".into()))?;
        Ok(path.into())
    }

    fn stat(&mut self) -> Result<NodeStat, StorageError> {
        let at = self.offset();
        let [flags] = self.arr::<1>()?;
        if flags & 0x80 != 0 {
            return Err(self.bad(at, format!("unknown stat flags {flags:#04x}")));
        }
        let czxid = self.prev_czxid.wrapping_add(self.zvar()?);
        let ctime = self.prev_ctime.wrapping_add(self.zvar()?);
        (self.prev_czxid, self.prev_ctime) = (czxid, ctime);
        let delta = |r: &mut Self, bit: u8, base: i64| -> Result<i64, StorageError> {
            Ok(if flags & bit != 0 { base } else { base.wrapping_add(r.zvar()?) })
        };
        let mzxid = delta(self, MZXID_IS_CZXID, czxid)?;
        let mtime = delta(self, MTIME_IS_CTIME, ctime)?;
        let pzxid = delta(self, PZXID_IS_CZXID, czxid)?;
        let version = delta(self, VERSION_ZERO, 0)? as i32;
        let cversion = delta(self, CVERSION_ZERO, 0)? as i32;
        let aversion = delta(self, AVERSION_ZERO, 0)? as i32;
        let ephemeral_owner = if flags & OWNER_ZERO != 0 { 0 } else { self.var()? as i64 };
        Ok(NodeStat { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid })
    }

    fn var(&mut self) -> Result<u64, StorageError> {
        // Fast path: the whole varint is in the buffer (all but a few per 64 KiB).
        if let Some((v, n)) = decode_var(&self.buf[self.pos..]) {
            self.pos += n;
            return Ok(v);
        }
        let at = self.offset();
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let [b] = self.arr::<1>()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad(at, "varint longer than 10 bytes".into()))
    }

    fn zvar(&mut self) -> Result<i64, StorageError> {
        self.var().map(unzigzag)
    }
}

/// A LEB128 value at the start of `bytes` and its length, if it ends there within 10 bytes.
fn decode_var(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl SnapshotReader {
    /// Checks the CRC trailer and that nothing follows it.
    fn finish(&mut self) -> Result<(), StorageError> {
        self.crc = crc32c::crc32c_append(self.crc, &self.buf[self.crc_from..self.pos]);
        self.crc_from = self.pos;
        let at = self.offset();
        let want = self.crc;
        let stored = self.u32()?;
        self.crc_from = self.pos;
        if stored != want {
            return Err(self.bad(at, format!("bad crc (stored {stored:#010x}, computed {want:#010x})")));
        }
        let trailing = self.buf.len() - self.pos;
        let mut probe = [0u8; 1];
        let more = self.inner.read(&mut probe).map_err(|e| self.bad(at + 4, format!("cannot decompress: {e}")))?;
        if trailing > 0 || more > 0 {
            return Err(self.bad(at + 4, "bytes after the crc".into()));
        }
        // The LZ4 decoder takes a missing end mark for a normal end; we wrote one, so a
        // file that does not end with it (damaged or with bytes after it) does not verify.
        let framed = self.inner.get_ref().ends_with(&[0; 4]);
        if !framed.map_err(|e| self.bad(at + 4, format!("cannot read: {e}")))? {
            return Err(self.bad(at + 4, "the LZ4 frame does not end with its end mark".into()));
        }
        Ok(())
    }
}

/// Loads and verifies a whole snapshot: CRC, tree shape (root first, parents before
/// children, no duplicates) and digest.
///
/// Two threads share the work: this one decompresses, decodes and hashes each node for the
/// digest; a second one links them into the tree (allocation, the map inserts), which
/// measured about as long.
///
/// # Errors
/// `Io` if the file cannot be opened; `BadSnapshot` naming the file and body offset.
pub fn read_snapshot_in(dir: &dyn Dir, name: &str) -> Result<State, StorageError> {
    let (mut r, header, sessions) = SnapshotReader::open(dir, name)?;
    let hint = r.nodes_left().min(RESERVE_NODES_MAX) as usize;
    let (decoded, built) = std::thread::scope(|s| {
        let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
        let builder = std::thread::Builder::new()
            .name("ferrozk-snapshot-load".into())
            .spawn_scoped(s, move || build_tree(rx, hint))
            .map_err(|e| StorageError::io(&r.file, e))?;
        let decoded = decode_nodes(&mut r, &tx);
        drop(tx);
        let built = builder.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok::<_, StorageError>((decoded, built))
    })?;
    // The builder stops at the first node out of place, which comes before anything the
    // decoder found later (it stops sending once the builder is gone).
    let tree = match (built, decoded) {
        (Err(Misplaced { at, reason }), _) => return Err(r.bad(at.unwrap_or_else(|| r.offset()), reason)),
        (Ok(_), Err(e)) => return Err(e),
        (Ok(tree), Ok(())) => tree,
    };
    if header.digest_version == DIGEST_VERSION && tree.digest() != header.digest {
        return Err(
            r.bad(0, format!("tree digest {:#018x} differs from the recorded {:#018x}", tree.digest(), header.digest))
        );
    }
    if header.digest_version != DIGEST_VERSION {
        tracing::warn!(file = %r.file.display(), "snapshot digest version {} differs from ours ({DIGEST_VERSION}): digest not compared", header.digest_version);
    }
    Ok(State { tree, sessions, last_zxid: header.last_zxid, slot: header.slot })
}

/// A node decoded, with its body offset and digest hash.
struct Decoded {
    at: u64,
    path: Arc<str>,
    node: Node,
    hash: u64,
}

/// A node that cannot go where the snapshot puts it (`at` None: at the end).
struct Misplaced {
    at: Option<u64>,
    reason: String,
}

/// Decodes every node into batches for [`build_tree`], until the end (CRC checked) or
/// until the builder hangs up after an error of its own.
fn decode_nodes(r: &mut SnapshotReader, tx: &SyncSender<Vec<Decoded>>) -> Result<(), StorageError> {
    let mut batch = Vec::with_capacity(BATCH_NODES);
    loop {
        let next = r.next_node()?;
        let end = next.is_none();
        if let Some((at, n)) = next {
            let node = Node::new(n.data, n.acl, n.stat);
            let hash = digest::node_hash(&n.path, &node);
            batch.push(Decoded { at, path: n.path, node, hash });
            if batch.len() < BATCH_NODES {
                continue;
            }
        }
        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_NODES));
        if tx.send(full).is_err() || end {
            return Ok(());
        }
    }
}

fn build_tree(rx: Receiver<Vec<Decoded>>, hint: usize) -> Result<DataTree, Misplaced> {
    let mut b = PreorderBuilder::new(hint);
    let misplaced = |at, why| Misplaced {
        at,
        reason: format!("node out of place: {why} (root first, parents before children, once each)"),
    };
    for d in rx.into_iter().flatten() {
        b.push(d.path, Arc::new(d.node), d.hash).map_err(|why| misplaced(Some(d.at), why))?;
    }
    b.finish().map_err(|why| misplaced(None, why))
}
