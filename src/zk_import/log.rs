//! ZooKeeper's transaction log files (`FileTxnLog`):
//!
//! ```text
//! log.<first zxid hex> = FileHeader{magic "ZKLG", version 2, dbid 0} Entry* ZeroPad
//! Entry = checksum long (Adler32 of txn) | txn buffer (int length + bytes) | 0x42 ('B')
//! txn   = TxnHeader{clientId, cxid, zxid, time, type} | record by type | TxnDigest?
//! ```
//!
//! The file is preallocated with zeros, so the entries end at the first one whose
//! checksum and length are both 0 (or at the end of the file). An entry that is cut
//! short, lacks its 0x42, or fails its checksum is a torn write when nothing but zeros
//! follows it: the crash happened while it was written, so it was never acknowledged and
//! the log ends before it. Anything else is damage, reported with the file and offset.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use jute::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn, DeleteTxn,
    ErrorTxn, FileHeader, MultiTxn, SetAclTxn, SetDataTxn, TxnDigest, TxnHeader,
};
use jute::{Acl, Field};

use super::adler32::Adler32;
use super::tree::{op, CreateOwner, ZkTxn};

/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG".
pub const LOG_MAGIC: i32 = 0x5A4B_4C47;
/// End-of-record byte after each entry.
const EOR: u8 = 0x42;
const HEADER_BYTES: u64 = 16;
/// Largest txn accepted. ZooKeeper's own limit is `jute.maxbuffer` (1 MiB by default), which
/// operators raise; this only stops a damaged length from being believed.
pub const TXN_BYTES_MAX: u64 = 256 << 20;

jute::record!(
    /// `org.apache.zookeeper.txn.CreateTxnV0`: a create logged before parentCVersion existed.
    CreateTxnV0 { path: String, data: Option<Bytes>, acl: Vec<Acl>, ephemeral: bool }
);

/// One txn read from a log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Offset of the entry's checksum in the file.
    pub offset: u64,
    pub header: TxnHeader,
    pub txn: ZkTxn,
    pub digest: Option<TxnDigest>,
}

/// How the entries of a file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// At the end of the file or at the preallocated zeros.
    Clean,
    /// A torn last write at `offset`, for `reason`; nothing but zeros after it.
    Torn { offset: u64, reason: String },
}

/// What reading a log file yields next.
#[derive(Debug)]
pub enum Step {
    Entry(Box<LogEntry>),
    End(LogEnd),
}

/// Why a log file's header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFault {
    /// A zero-length file (ZooKeeper crashed creating it; it deletes such a last file).
    Empty,
    /// Fewer than 16 bytes.
    Partial(u64),
    /// Not a ZooKeeper log.
    BadMagic(i32),
}

/// Damage found in a log: not a torn tail.
#[derive(Debug)]
pub enum LogError {
    Io(io::Error),
    Corrupt { offset: u64, reason: String },
}

impl From<io::Error> for LogError {
    fn from(e: io::Error) -> Self {
        LogError::Io(e)
    }
}

/// Reads one log file entry by entry.
pub struct LogReader {
    file: PathBuf,
    r: BufReader<File>,
    pos: u64,
    len: u64,
    ended: bool,
}

impl LogReader {
    /// Opens a log and reads its header.
    ///
    /// # Errors
    /// `Err(Err(io))` when the file cannot be read, `Err(Ok(fault))` when its header is
    /// missing or wrong.
    pub fn open(path: &Path) -> Result<Result<(LogReader, FileHeader), HeaderFault>, io::Error> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        let mut r =
            LogReader { file: path.to_owned(), r: BufReader::with_capacity(1 << 20, f), pos: 0, len, ended: false };
        if len == 0 {
            return Ok(Err(HeaderFault::Empty));
        }
        if len < HEADER_BYTES {
            return Ok(Err(HeaderFault::Partial(len)));
        }
        let mut h = [0u8; HEADER_BYTES as usize];
        r.read_exact(&mut h)?;
        let header = FileHeader {
            magic: i32::from_be_bytes(h[0..4].try_into().expect("4 bytes")),
            version: i32::from_be_bytes(h[4..8].try_into().expect("4 bytes")),
            dbid: i64::from_be_bytes(h[8..16].try_into().expect("8 bytes")),
        };
        if header.magic != LOG_MAGIC {
            return Ok(Err(HeaderFault::BadMagic(header.magic)));
        }
        Ok(Ok((r, header)))
    }

    /// The file being read.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.r.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// The next entry, or how the file ends.
    ///
    /// # Errors
    /// `Corrupt` with the offset when an entry fails and data follows it, or when a whole
    /// entry does not decode; `Io` when reading fails.
    pub fn next_step(&mut self) -> Result<Step, LogError> {
        if self.ended {
            return Ok(Step::End(LogEnd::Clean));
        }
        let at = self.pos;
        let left = self.len - at;
        if left == 0 {
            self.ended = true;
            return Ok(Step::End(LogEnd::Clean));
        }
        if left < 12 {
            let mut tail = vec![0u8; left as usize];
            self.read_exact(&mut tail)?;
            self.ended = true;
            if tail.iter().all(|b| *b == 0) {
                return Ok(Step::End(LogEnd::Clean));
            }
            return Ok(Step::End(LogEnd::Torn {
                offset: at,
                reason: format!("a partial entry header ({left} bytes)"),
            }));
        }
        let mut head = [0u8; 12];
        self.read_exact(&mut head)?;
        let crc = i64::from_be_bytes(head[0..8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(head[8..12].try_into().expect("4 bytes"));
        if len == 0 {
            if crc == 0 {
                // The preallocated zeros: ZooKeeper defines this as the end of the log.
                self.ended = true;
                return Ok(Step::End(LogEnd::Clean));
            }
            return self.bad_entry(at, at + 12, format!("an entry of length 0 with checksum {crc:#x}"));
        }
        if len < 0 || len as u64 > TXN_BYTES_MAX {
            return self.bad_entry(at, at + 12, format!("an implausible entry length {len}"));
        }
        let len = len as u64;
        if len + 1 > self.len - self.pos {
            return self.bad_entry(at, self.len, format!("an entry of {len} bytes that runs past the end of the file"));
        }
        let mut bytes = vec![0u8; len as usize];
        self.read_exact(&mut bytes)?;
        let mut eor = [0u8; 1];
        self.read_exact(&mut eor)?;
        let end = self.pos;
        if eor[0] != EOR {
            return self.bad_entry(at, end, format!("no end-of-record byte (found {:#04x})", eor[0]));
        }
        let sum = Adler32::of(&bytes);
        if sum != crc {
            return self.bad_entry(at, end, format!("a bad checksum (stored {crc:#x}, computed {sum:#x})"));
        }
        match decode_txn(&bytes) {
            Ok((header, txn, digest)) => Ok(Step::Entry(Box::new(LogEntry { offset: at, header, txn, digest }))),
            Err(reason) => {
                self.ended = true;
                Err(LogError::Corrupt { offset: at, reason })
            }
        }
    }

    /// An entry at `at` that does not verify and whose bytes run to `end`: a torn tail if
    /// only zeros follow, damage otherwise.
    fn bad_entry(&mut self, at: u64, end: u64, reason: String) -> Result<Step, LogError> {
        self.ended = true;
        if let Some(nonzero) = self.first_nonzero_from(end)? {
            return Err(LogError::Corrupt {
                offset: at,
                reason: format!(
                    "entry has {reason}, yet data follows at offset {nonzero}: the log is damaged before its end"
                ),
            });
        }
        Ok(Step::End(LogEnd::Torn { offset: at, reason: format!("entry has {reason}") }))
    }

    /// Offset of the first nonzero byte at or after `from`, if any.
    fn first_nonzero_from(&mut self, from: u64) -> io::Result<Option<u64>> {
        if from >= self.len {
            return Ok(None);
        }
        self.r.seek(io::SeekFrom::Start(from))?;
        self.pos = from;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.r.read(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            if let Some(i) = buf[..n].iter().position(|b| *b != 0) {
                return Ok(Some(self.pos + i as u64));
            }
            self.pos += n as u64;
        }
    }
}

type Decoded<T> = Result<(T, usize), String>;

/// Decodes one record from the front of `input`: the value and the bytes it took.
fn record<T: Field>(input: &[u8], what: &str) -> Decoded<T> {
    match T::decode(input) {
        Ok((rest, v)) => Ok((v, input.len() - rest.len())),
        Err(_) => Err(format!("{what} does not decode")),
    }
}

/// Decodes a logged txn as `SerializeUtils.deserializeTxn` does: the header, the record
/// its type names, and the digest when one follows.
///
/// # Errors
/// The reason, for a type ZooKeeper does not log or a record that does not decode.
pub fn decode_txn(bytes: &[u8]) -> Result<(TxnHeader, ZkTxn, Option<TxnDigest>), String> {
    let (header, used) = record::<TxnHeader>(bytes, "the txn header")?;
    let body = &bytes[used..];
    let t = header.r#type;
    let (txn, used) = match t {
        op::CLOSE_SESSION => match record::<CloseSessionTxn>(body, "CloseSessionTxn") {
            Ok((c, n)) => (ZkTxn::CloseSession { paths: Some(c.paths2_delete) }, n),
            // 3.4 logged closeSession with no record.
            Err(_) => (ZkTxn::CloseSession { paths: None }, 0),
        },
        op::CREATE => match decode_record(t, body) {
            Ok(v) => v,
            Err(e) => {
                let (c, n) = record::<CreateTxnV0>(body, "CreateTxn").map_err(|_| e)?;
                let owner = if c.ephemeral { CreateOwner::Session } else { CreateOwner::Persistent };
                (ZkTxn::Create { op: t, path: c.path, data: c.data, acl: c.acl, owner, parent_cversion: -1 }, n)
            }
        },
        op::MULTI => {
            let (m, n) = record::<MultiTxn>(body, "MultiTxn")?;
            let subs = m.txns.into_iter().map(|s| (s.r#type, decode_multi_entry(s.r#type, &s.data))).collect();
            (ZkTxn::Multi(subs), n)
        }
        _ => decode_record(t, body)?,
    };
    let rest = &body[used..];
    let digest = if rest.len() >= 12 { record::<TxnDigest>(rest, "TxnDigest").ok().map(|(d, _)| d) } else { None };
    Ok((header, txn, digest))
}

/// One entry of a MultiTxn (`DataTree.processTxn`'s multi branch: only these types).
fn decode_multi_entry(t: i32, data: &[u8]) -> Result<ZkTxn, String> {
    match t {
        op::CREATE
        | op::CREATE2
        | op::CREATE_TTL
        | op::CREATE_CONTAINER
        | op::DELETE
        | op::DELETE_CONTAINER
        | op::SET_DATA
        | op::ERROR
        | op::CHECK => decode_record(t, data).map(|(txn, _)| txn),
        _ => Err(format!("type {t} cannot be part of a multi")),
    }
}

/// The record of txn type `t`.
fn decode_record(t: i32, body: &[u8]) -> Decoded<ZkTxn> {
    Ok(match t {
        op::CREATE_SESSION => {
            let (c, n) = record::<CreateSessionTxn>(body, "CreateSessionTxn")?;
            (ZkTxn::CreateSession { timeout_ms: c.time_out }, n)
        }
        op::CREATE | op::CREATE2 => {
            let (c, n) = record::<CreateTxn>(body, "CreateTxn")?;
            let owner = if c.ephemeral { CreateOwner::Session } else { CreateOwner::Persistent };
            (
                ZkTxn::Create {
                    op: t,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    owner,
                    parent_cversion: c.parent_c_version,
                },
                n,
            )
        }
        op::CREATE_TTL => {
            let (c, n) = record::<CreateTtlTxn>(body, "CreateTTLTxn")?;
            let owner = CreateOwner::Ttl(c.ttl);
            (
                ZkTxn::Create {
                    op: t,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    owner,
                    parent_cversion: c.parent_c_version,
                },
                n,
            )
        }
        op::CREATE_CONTAINER => {
            let (c, n) = record::<CreateContainerTxn>(body, "CreateContainerTxn")?;
            let owner = CreateOwner::Container;
            (
                ZkTxn::Create {
                    op: t,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    owner,
                    parent_cversion: c.parent_c_version,
                },
                n,
            )
        }
        op::DELETE | op::DELETE_CONTAINER => {
            let (d, n) = record::<DeleteTxn>(body, "DeleteTxn")?;
            (ZkTxn::Delete { path: d.path }, n)
        }
        op::SET_DATA | op::RECONFIG => {
            let (s, n) = record::<SetDataTxn>(body, "SetDataTxn")?;
            (ZkTxn::SetData { path: s.path, data: s.data, version: s.version }, n)
        }
        op::SET_ACL => {
            let (s, n) = record::<SetAclTxn>(body, "SetACLTxn")?;
            (ZkTxn::SetAcl { path: s.path, acl: s.acl, version: s.version }, n)
        }
        op::ERROR => (ZkTxn::Error, record::<ErrorTxn>(body, "ErrorTxn")?.1),
        op::CHECK => (ZkTxn::Check, record::<CheckVersionTxn>(body, "CheckVersionTxn")?.1),
        _ => return Err(format!("txn type {t} is not one ZooKeeper logs")),
    })
}

/// The zxid a `log.<hex>` name carries.
pub fn parse_log_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("log.")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}
