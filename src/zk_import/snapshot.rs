//! ZooKeeper's snapshot files (`FileSnap`, `SnapStream`, `DataTree.serialize`):
//!
//! ```text
//! snapshot.<zxid hex>[.gz|.snappy] = stream, compressed as the suffix says, of:
//!   FileHeader{magic "ZKSN", version 2, dbid -1}
//!   count int, (session id long, timeout int)*           the session table
//!   count int, (ref long, vector<ACL>)*                  the ACL cache
//!   (path ustring, data buffer, acl ref long, StatPersisted)*  pre-order, the root as ""
//!   "/" ustring                                          end of nodes
//!   seal: Adler32 long of every byte so far, "/" ustring
//!   [zxid long, digestVersion int, digest (long; hex ustring before version 2), seal]
//!   [lastProcessedZxid long, seal]                       3.9+
//! ```
//!
//! The checksum is `java.util.zip.Adler32` over the decompressed stream from its first
//! byte. `.snappy` is snappy-java's `SnappyOutputStream` format (not the snappy framing
//! format): a 16-byte header (magic `\x82SNAPPY\0`, version, compatible version) and then
//! chunks of `length int` + one raw snappy block.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Id};

use super::adler32::Adler32;
use super::tree::ZkState;
use crate::tree::{acl, Node, NodeStat};

/// `FileSnap.SNAP_MAGIC`: "ZKSN".
pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
/// Largest data, path or ACL string accepted; stops a damaged length from being believed.
pub const FIELD_BYTES_MAX: usize = 256 << 20;
/// `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`: the ref of world:anyone ALL.
const OPEN_ACL_REF: i64 = -1;
/// Bytes after the first seal that are read as the optional digest and zxid sections.
const TRAILER_BYTES_MAX: u64 = 4096;
/// snappy-java's stream magic (`SnappyCodec.MAGIC_HEADER`).
const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Largest snappy-java chunk accepted (it writes 32 KiB blocks).
const SNAPPY_CHUNK_MAX: usize = 64 << 20;

/// How a snapshot file is compressed, from its name (`SnapStream.getStreamMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
}

/// The zxid and compression a `snapshot.<hex>[.gz|.snappy]` name carries.
pub fn parse_snapshot_name(name: &str) -> Option<(i64, Compression)> {
    let rest = name.strip_prefix("snapshot.")?;
    let (hex, comp) = match rest.split_once('.') {
        None => (rest, Compression::None),
        Some((hex, "gz")) => (hex, Compression::Gzip),
        Some((hex, "snappy")) => (hex, Compression::Snappy),
        Some(_) => return None,
    };
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((u64::from_str_radix(hex, 16).ok()? as i64, comp))
}

/// Where and why a snapshot failed.
#[derive(Debug)]
pub struct SnapError {
    /// Offset in the decompressed stream (the file offset for an uncompressed snapshot).
    pub offset: u64,
    pub reason: String,
}

fn bad(offset: u64, reason: impl Into<String>) -> SnapError {
    SnapError { offset, reason: reason.into() }
}

/// The digest section (`DataTree.ZxidDigest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub version: i32,
    pub digest: i64,
}

/// A snapshot read and verified.
pub struct Loaded {
    pub state: ZkState,
    pub nodes: u64,
    /// The digest section, when the file has one.
    pub digest: Option<ZxidDigest>,
    /// 3.9's lastProcessedZxid section.
    pub last_processed_zxid: Option<i64>,
    /// Things the reader tolerated, as ZooKeeper does, worth telling the operator.
    pub notes: Vec<String>,
}

/// A byte stream that keeps the running Adler32 and the offset.
struct Checked<R> {
    inner: R,
    adler: Adler32,
    pos: u64,
}

impl<R: Read> Checked<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SnapError> {
        let at = self.pos;
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad(at, "truncated"),
            _ => bad(at, format!("cannot read: {e}")),
        })?;
        self.adler.update(buf);
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn i32(&mut self) -> Result<i32, SnapError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }

    fn i64(&mut self) -> Result<i64, SnapError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(i64::from_be_bytes(b))
    }

    /// A jute buffer: `None` for length −1.
    fn buffer(&mut self, what: &str) -> Result<Option<Vec<u8>>, SnapError> {
        let at = self.pos;
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > FIELD_BYTES_MAX {
            return Err(bad(at, format!("{what} has an unreasonable length {len}")));
        }
        // Grows as bytes arrive, so a damaged length cannot make us reserve memory.
        let mut v = Vec::new();
        let got = (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut v)
            .map_err(|e| bad(self.pos, format!("cannot read: {e}")))?;
        self.adler.update(&v);
        self.pos += got as u64;
        if got < len as usize {
            return Err(bad(self.pos, format!("truncated inside {what}")));
        }
        Ok(Some(v))
    }

    /// A jute ustring (null reads as empty; invalid UTF-8 as U+FFFD, as Java decodes).
    fn ustring(&mut self, what: &str) -> Result<String, SnapError> {
        Ok(self
            .buffer(what)?
            .map(|b| String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            .unwrap_or_default())
    }

    /// `SnapStream.checkSealIntegrity`: the stored long must equal the checksum of every
    /// byte before it; the "/" after it is read and ignored.
    fn seal(&mut self, which: &str) -> Result<(), SnapError> {
        let at = self.pos;
        let want = self.adler.value();
        let stored = self.i64()?;
        self.ustring("seal")?;
        if stored != want {
            return Err(bad(
                at,
                format!("{which} seal does not match: stored Adler32 {stored:#x}, computed {want:#x}"),
            ));
        }
        Ok(())
    }
}

/// snappy-java's `SnappyInputStream`, over `snap`'s raw block decoder.
struct XerialSnappy<R> {
    inner: R,
    block: Vec<u8>,
    at: usize,
    compressed: Vec<u8>,
    decoder: snap::raw::Decoder,
}

impl<R: Read> XerialSnappy<R> {
    fn new(mut inner: R) -> io::Result<Self> {
        let mut header = [0u8; 16];
        inner.read_exact(&mut header)?;
        check_snappy_header(&header)?;
        Ok(XerialSnappy { inner, block: Vec::new(), at: 0, compressed: Vec::new(), decoder: snap::raw::Decoder::new() })
    }

    /// Reads the next chunk into `block`; false at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        loop {
            let mut len = [0u8; 4];
            let got = read_up_to(&mut self.inner, &mut len)?;
            if got == 0 {
                return Ok(false);
            }
            if got < 4 {
                return Err(invalid("snappy stream ends inside a chunk length"));
            }
            if len == SNAPPY_MAGIC[..4] {
                // A second stream appended to the first: its header, then more chunks.
                let mut header = [0u8; 16];
                header[..4].copy_from_slice(&len);
                self.inner.read_exact(&mut header[4..])?;
                check_snappy_header(&header)?;
                continue;
            }
            let len = i32::from_be_bytes(len);
            if len < 0 || len as usize > SNAPPY_CHUNK_MAX {
                return Err(invalid(format!("snappy chunk of implausible length {len}")));
            }
            self.compressed.resize(len as usize, 0);
            self.inner.read_exact(&mut self.compressed)?;
            let n = snap::raw::decompress_len(&self.compressed).map_err(invalid)?;
            if n > SNAPPY_CHUNK_MAX {
                return Err(invalid(format!("snappy chunk claims {n} uncompressed bytes")));
            }
            self.block.resize(n, 0);
            self.decoder.decompress(&self.compressed, &mut self.block).map_err(invalid)?;
            self.at = 0;
            if n > 0 {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for XerialSnappy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.block.len() && !self.next_chunk()? {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn check_snappy_header(h: &[u8; 16]) -> io::Result<()> {
    if h[..8] != SNAPPY_MAGIC {
        return Err(invalid("not a snappy-java stream (bad magic)"));
    }
    let compatible = i32::from_be_bytes(h[12..16].try_into().expect("4 bytes"));
    if compatible > 1 {
        return Err(invalid(format!("snappy-java stream needs format version {compatible}")));
    }
    Ok(())
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `SnapStream.isValidSnapshot`: the quick check ZooKeeper makes before reading a file
/// (an uncompressed snapshot must end in the int 1 and '/', a half-written one does not).
fn precheck(file: &mut File, comp: Compression) -> Result<(), SnapError> {
    let len = file.metadata().map_err(|e| bad(0, format!("cannot stat: {e}")))?.len();
    let mut head = [0u8; 8];
    match comp {
        Compression::None => {
            if len < 10 {
                return Err(bad(0, format!("only {len} bytes: not a complete snapshot")));
            }
            let mut tail = [0u8; 5];
            file.seek(io::SeekFrom::Start(len - 5))
                .and_then(|_| file.read_exact(&mut tail))
                .map_err(|e| bad(len - 5, e.to_string()))?;
            if tail != [0, 0, 0, 1, b'/'] {
                return Err(bad(len - 5, "does not end with the seal's \"/\": not a complete snapshot"));
            }
        }
        Compression::Gzip => {
            let n = read_up_to(file, &mut head[..2]).map_err(|e| bad(0, e.to_string()))?;
            if n < 2 || head[..2] != [0x1f, 0x8b] {
                return Err(bad(0, "not a gzip file (bad magic)"));
            }
        }
        Compression::Snappy => {
            let n = read_up_to(file, &mut head).map_err(|e| bad(0, e.to_string()))?;
            if n < 8 || head != SNAPPY_MAGIC {
                return Err(bad(0, "not a snappy-java stream (bad magic)"));
            }
        }
    }
    file.seek(io::SeekFrom::Start(0)).map_err(|e| bad(0, e.to_string()))?;
    Ok(())
}

/// Reads and verifies a snapshot into a fresh [`ZkState`].
///
/// # Errors
/// The offset (in the decompressed stream) and the reason: a bad magic, a truncation, a
/// seal that does not match, a node before its parent.
pub fn load(path: &Path, comp: Compression, progress: &mut dyn FnMut(u64)) -> Result<Loaded, SnapError> {
    let mut file = File::open(path).map_err(|e| bad(0, format!("cannot open: {e}")))?;
    precheck(&mut file, comp)?;
    let raw = BufReader::with_capacity(1 << 20, file);
    let stream: Box<dyn Read> = match comp {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(raw))),
        Compression::Snappy => Box::new(BufReader::with_capacity(
            1 << 16,
            XerialSnappy::new(raw).map_err(|e| bad(0, format!("cannot decompress: {e}")))?,
        )),
    };
    let mut r = Checked { inner: stream, adler: Adler32::default(), pos: 0 };
    let magic = r.i32()?;
    if magic != SNAP_MAGIC {
        return Err(bad(0, format!("bad magic {magic:#x} (a snapshot starts with \"ZKSN\")")));
    }
    r.i32()?; // version: ZooKeeper does not check it
    r.i64()?; // dbid
    let mut state = ZkState::new();
    read_sessions(&mut r, &mut state)?;
    let acls = read_acl_cache(&mut r, &mut state)?;
    let (nodes, mut notes) = read_nodes(&mut r, &mut state, &acls, progress)?;
    r.seal("the")?;
    let (digest, last_processed_zxid) = read_trailer(&mut r, &mut notes)?;
    Ok(Loaded { state, nodes, digest, last_processed_zxid, notes })
}

fn read_sessions<R: Read>(r: &mut Checked<R>, state: &mut ZkState) -> Result<(), SnapError> {
    let at = r.pos;
    let count = r.i32()?;
    if count < 0 {
        return Err(bad(at, format!("session count {count}")));
    }
    for _ in 0..count {
        let id = r.i64()?;
        let timeout = r.i32()?;
        state.sessions.insert(id, timeout);
    }
    Ok(())
}

fn read_acl_cache<R: Read>(r: &mut Checked<R>, state: &mut ZkState) -> Result<HashMap<i64, Arc<Vec<Acl>>>, SnapError> {
    let at = r.pos;
    let count = r.i32()?;
    if count < 0 {
        return Err(bad(at, format!("ACL cache count {count}")));
    }
    let mut map = HashMap::new();
    for _ in 0..count {
        let acl_ref = r.i64()?;
        let at = r.pos;
        let n = r.i32()?;
        if n < 0 {
            // ReferenceCountedACLCache.deserialize: "missing acls".
            return Err(bad(at, format!("ACL list of ref {acl_ref} has count {n}")));
        }
        let mut list = Vec::new();
        for _ in 0..n {
            let perms = r.i32()?;
            let scheme = r.ustring("ACL scheme")?;
            let id = r.ustring("ACL id")?;
            list.push(Acl { perms, id: Id { scheme, id } });
        }
        map.insert(acl_ref, state.intern(list));
    }
    Ok(map)
}

fn read_stat<R: Read>(r: &mut Checked<R>) -> Result<NodeStat, SnapError> {
    let mut b = [0u8; 60];
    r.fill(&mut b)?;
    let l = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let w = |i: usize| i32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    Ok(NodeStat {
        czxid: l(0),
        mzxid: l(8),
        ctime: l(16),
        mtime: l(24),
        version: w(32),
        cversion: w(36),
        aversion: w(40),
        ephemeral_owner: l(44),
        pzxid: l(52),
    })
}

/// The node list, as `DataTree.deserialize` reads it: until the path "/".
fn read_nodes<R: Read>(
    r: &mut Checked<R>,
    state: &mut ZkState,
    acls: &HashMap<i64, Arc<Vec<Acl>>>,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, Vec<String>), SnapError> {
    let open = state.intern(acl::open_acl_unsafe());
    let mut notes = Vec::new();
    let mut count = 0u64;
    loop {
        let at = r.pos;
        let path = r.ustring("path")?;
        if path == "/" {
            break;
        }
        let data = r.buffer("data")?.map(Bytes::from);
        let acl_ref = r.i64()?;
        let stat = read_stat(r)?;
        let key = if path.is_empty() { "/" } else { path.as_str() };
        if count == 0 && !path.is_empty() {
            return Err(bad(at, format!("the first node is {path:?}, not the root")));
        }
        if count > 0 && !path.starts_with('/') {
            return Err(bad(at, format!("node path {path:?} is not absolute (a second root?)")));
        }
        if state.contains(key) {
            notes.push(format!("offset {at}: node {key} appears twice; the later one is kept, as ZooKeeper does"));
        }
        let resolved = if acl_ref == OPEN_ACL_REF { Some(open.clone()) } else { acls.get(&acl_ref).cloned() };
        let node = Node::new(data, resolved.clone().unwrap_or_else(|| open.clone()), stat);
        state.insert_loaded(key, node).map_err(|reason| bad(at, reason))?;
        if resolved.is_none() {
            state.mark_unresolved_acl(key, acl_ref);
        }
        count += 1;
        if count % super::PROGRESS_EVERY as u64 == 0 {
            progress(count);
        }
    }
    if count == 0 {
        return Err(bad(r.pos, "no root node"));
    }
    Ok((count, notes))
}

/// The optional sections after the first seal. Which ones a file has depends on the
/// writer's settings (digest on by default since 3.6, lastProcessedZxid since 3.9), so
/// they are told apart by the bytes left: 21 is lastProcessedZxid alone.
fn read_trailer<R: Read>(
    r: &mut Checked<R>,
    notes: &mut Vec<String>,
) -> Result<(Option<ZxidDigest>, Option<i64>), SnapError> {
    let start = r.pos;
    let mut rest = Vec::new();
    (&mut r.inner)
        .take(TRAILER_BYTES_MAX + 1)
        .read_to_end(&mut rest)
        .map_err(|e| bad(start, format!("cannot read: {e}")))?;
    let left = rest.len() as u64;
    if left > TRAILER_BYTES_MAX {
        notes.push(format!("more than {TRAILER_BYTES_MAX} bytes after the seal at offset {start} were not read"));
    }
    let mut t = Checked { inner: &rest[..], adler: r.adler, pos: start };
    let section_bytes = |t: &Checked<&[u8]>| t.pos - start;
    let mut digest = None;
    let mut lpz = None;
    if left == 0 {
        return Ok((None, None));
    }
    if left != 21 {
        let zxid = t.i64()?;
        let version = t.i32()?;
        let value = if version < 2 {
            let at = t.pos;
            let s = t.ustring("digest")?;
            i64::from_str_radix(&s, 16)
                .or_else(|_| u64::from_str_radix(&s, 16).map(|v| v as i64))
                .map_err(|_| bad(at, format!("digest {s:?} is not hex")))?
        } else {
            t.i64()?
        };
        t.seal("the digest")?;
        digest = Some(ZxidDigest { zxid, version, digest: value });
    }
    if left - section_bytes(&t) >= 21 {
        lpz = Some(t.i64()?);
        t.seal("the lastProcessedZxid")?;
    }
    let unread = left.min(TRAILER_BYTES_MAX) - section_bytes(&t);
    if unread > 0 {
        notes.push(format!("{unread} bytes after the last seal at offset {} were ignored, as ZooKeeper does", t.pos));
    }
    Ok((digest, lpz))
}
