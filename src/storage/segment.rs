//! The byte layout of one log segment, and a reader that walks its records and tells a torn
//! tail (a crash mid-write: cut it) from damage (a record that does not verify with valid
//! records after it: stop).
//!
//! ```text
//! Segment = Header Record* Zero*            (preallocated space is zeros)
//! Header  = magic "FZKLOG\0\0" | version u32 = 1 | first_zxid i64 | prev_zxid i64
//!           | crc32c u32 of the 28 bytes before              (32 bytes, big-endian)
//! Record  = len u32 (1..=RECORD_BYTES_MAX) | crc32c u32 of (len bytes ++ payload)
//!           | payload = txn::codec::encode(txn)
//! ```
//! `first_zxid` equals the zxid in the file name and of the first record; `prev_zxid` is
//! the zxid of the record written just before this segment (0 for the first), so a missing
//! segment shows as a gap between one segment's last record and the next one's `prev_zxid`.

use std::io;

use super::backend::{Backend, PageReader};

/// Magic at the start of every segment.
pub const MAGIC: [u8; 8] = *b"FZKLOG\0\0";
/// Format version written in the header.
pub const VERSION: u32 = 1;
/// Bytes of the header; the first record starts here.
pub const HEADER_BYTES: u64 = 32;
/// Bytes before each record's payload (length and CRC).
pub const RECORD_HEAD_BYTES: u64 = 8;
/// Largest record payload accepted (a limit on everything: a corrupt length never makes the
/// reader allocate more than this).
pub const RECORD_BYTES_MAX: u32 = 64 << 20;

/// The parsed segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Zxid of the first record (and of the file name).
    pub first_zxid: i64,
    /// Zxid of the record written before this segment was started; 0 for none.
    pub prev_zxid: i64,
}

/// The file name of the segment whose first record is `zxid`.
pub fn segment_name(first_zxid: i64) -> String {
    format!("log.{:016x}", first_zxid as u64)
}

/// The first zxid named by a segment file name, if `name` is one.
pub fn parse_segment_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("log.")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// Encodes a header.
pub fn encode_header(h: SegmentHeader) -> [u8; HEADER_BYTES as usize] {
    let mut out = [0u8; HEADER_BYTES as usize];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_be_bytes());
    out[12..20].copy_from_slice(&h.first_zxid.to_be_bytes());
    out[20..28].copy_from_slice(&h.prev_zxid.to_be_bytes());
    let crc = crc32c::crc32c(&out[..28]);
    out[28..32].copy_from_slice(&crc.to_be_bytes());
    out
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The CRC a record carries: over its length field and payload, so a damaged length is
/// caught as surely as damaged data.
pub fn record_crc(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_be_bytes()), payload)
}

/// Why a header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFault {
    /// Shorter than a header, wrong magic, or bad CRC.
    Unreadable,
    /// A format this build does not know.
    Version(u32),
}

/// How the written data of a segment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The last record ends at `end`; nothing but zeros follows.
    Clean { end: u64 },
    /// The last valid record ends at `end`, followed by `bytes` bytes that hold no valid
    /// record: a write torn by a crash.
    Torn { end: u64, bytes: u64 },
    /// What is at `offset` does not verify, yet a valid record starts at `next`: damage.
    Damaged { offset: u64, next: u64 },
}

/// One step of [`SegmentReader::next`].
#[derive(Debug)]
pub enum Step {
    /// A record that verified, at `offset`.
    Record { offset: u64, payload: Vec<u8> },
    /// No more records.
    End(Tail),
}

/// Walks the records of one segment.
pub struct SegmentReader<'a> {
    pr: PageReader<'a>,
    offset: u64,
    done: bool,
}

impl<'a> SegmentReader<'a> {
    /// A reader positioned after the header.
    ///
    /// # Errors
    /// The file's length cannot be read.
    pub fn new(backend: &'a dyn Backend) -> io::Result<SegmentReader<'a>> {
        Ok(SegmentReader { pr: PageReader::new(backend)?, offset: HEADER_BYTES, done: false })
    }

    /// The file length seen when the reader was made.
    pub fn file_len(&self) -> u64 {
        self.pr.len()
    }

    /// Reads and checks the header.
    ///
    /// # Errors
    /// IO errors only; a bad header is the inner `Err`.
    pub fn header(&mut self) -> io::Result<Result<SegmentHeader, HeaderFault>> {
        let Some(h) = self.pr.array::<{ HEADER_BYTES as usize }>(0)? else {
            return Ok(Err(HeaderFault::Unreadable));
        };
        if h[..8] != MAGIC || crc32c::crc32c(&h[..28]) != be_u32(&h[28..]) {
            return Ok(Err(HeaderFault::Unreadable));
        }
        let version = be_u32(&h[8..]);
        if version != VERSION {
            return Ok(Err(HeaderFault::Version(version)));
        }
        Ok(Ok(SegmentHeader { first_zxid: be_i64(&h[12..]), prev_zxid: be_i64(&h[20..]) }))
    }

    /// The next verified record, or how the data ends.
    ///
    /// # Errors
    /// IO errors only.
    pub fn next_record(&mut self) -> io::Result<Step> {
        if self.done {
            return Ok(Step::End(Tail::Clean { end: self.offset }));
        }
        if let Some((payload_len, _)) = self.valid_at(self.offset)? {
            let at = self.offset;
            let payload = self.pr.bytes(at + RECORD_HEAD_BYTES, payload_len as usize)?.to_vec();
            self.offset = at + RECORD_HEAD_BYTES + u64::from(payload_len);
            return Ok(Step::Record { offset: at, payload });
        }
        self.done = true;
        Ok(Step::End(self.classify(self.offset)?))
    }

    /// Whether a record starting at `at` verifies; its payload length and CRC if so.
    fn valid_at(&mut self, at: u64) -> io::Result<Option<(u32, u32)>> {
        let Some(head) = self.pr.array::<8>(at)? else {
            return Ok(None);
        };
        let len = be_u32(&head);
        let crc = be_u32(&head[4..]);
        if len == 0 || len > RECORD_BYTES_MAX || at + RECORD_HEAD_BYTES + u64::from(len) > self.pr.len() {
            return Ok(None);
        }
        let payload = self.pr.bytes(at + RECORD_HEAD_BYTES, len as usize)?;
        Ok((record_crc(len, payload) == crc).then_some((len, crc)))
    }

    /// Decides what the bytes from `stop` on are: zeros (clean end), garbage with no valid
    /// record in it (torn), or garbage followed by a valid record (damage).
    ///
    /// A valid record can start at any byte, and its length field is big-endian with
    /// `RECORD_BYTES_MAX` < 2^27, so only the up to 3 bytes before each non-zero byte (and
    /// the byte itself) are candidates: runs of preallocated zeros are skipped in bulk.
    ///
    /// # Errors
    /// IO errors only.
    pub fn classify(&mut self, stop: u64) -> io::Result<Tail> {
        let len = self.pr.len();
        let mut p = stop;
        let mut last_nonzero = None;
        while p < len {
            let chunk = self.pr.bytes(p, 1 << 16)?;
            let Some(i) = first_nonzero(chunk) else {
                p += chunk.len() as u64;
                continue;
            };
            let q = p + i as u64;
            last_nonzero = Some(q);
            for cand in q.saturating_sub(3).max(p)..=q {
                if cand != stop && self.valid_at(cand)?.is_some() {
                    return Ok(Tail::Damaged { offset: stop, next: cand });
                }
            }
            p = q + 1;
        }
        Ok(match last_nonzero {
            None => Tail::Clean { end: stop },
            Some(q) => Tail::Torn { end: stop, bytes: q + 1 - stop },
        })
    }
}

/// Index of the first non-zero byte. Preallocated segments end in up to 64 MiB of zeros
/// that every start-up scans, so whole blocks are tested at once (the OR of a block
/// vectorises; a byte-by-byte search does not).
fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 256;
    let clean = bytes.chunks(BLOCK).take_while(|b| b.iter().fold(0, |acc, &x| acc | x) == 0).count();
    let from = (clean * BLOCK).min(bytes.len());
    bytes[from..].iter().position(|&b| b != 0).map(|i| from + i)
}

/// Appends one framed record to `out`.
pub fn frame_record(payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&record_crc(len, payload).to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::super::backend::Dir;
    use super::super::sim::SimDisk;
    use super::*;

    #[test]
    fn first_nonzero_finds_the_first_set_byte() {
        let mut bytes = vec![0u8; 2000];
        assert_eq!(first_nonzero(&bytes), None);
        assert_eq!(first_nonzero(&[]), None);
        for at in [0, 1, 255, 256, 257, 1000, 1999] {
            bytes[at] = 7;
            bytes[1999] = 1;
            assert_eq!(first_nonzero(&bytes), Some(at), "{at}");
            bytes[at] = 0;
        }
    }

    fn segment(records: &[&[u8]], tail: &[u8]) -> (SimDisk, Box<dyn Backend>) {
        let disk = SimDisk::new("/sim");
        let mut f = disk.create("log.0000000000000001").unwrap();
        let mut bytes = encode_header(SegmentHeader { first_zxid: 1, prev_zxid: 0 }).to_vec();
        for r in records {
            frame_record(r, &mut bytes);
        }
        bytes.extend_from_slice(tail);
        f.write_at(0, &bytes).unwrap();
        (disk, f)
    }

    fn read_all(f: &dyn Backend) -> (Vec<u64>, Tail) {
        let mut r = SegmentReader::new(f).unwrap();
        assert_eq!(r.header().unwrap(), Ok(SegmentHeader { first_zxid: 1, prev_zxid: 0 }));
        let mut offsets = Vec::new();
        loop {
            match r.next_record().unwrap() {
                Step::Record { offset, .. } => offsets.push(offset),
                Step::End(t) => return (offsets, t),
            }
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(0x1_0000_0002), "log.0000000100000002");
        assert_eq!(parse_segment_name("log.0000000100000002"), Some(0x1_0000_0002));
        assert_eq!(parse_segment_name("log.0000000100000002.damaged"), None);
        assert_eq!(parse_segment_name("log.1"), None);
    }

    #[test]
    fn zeros_after_records_are_a_clean_end() {
        let (_d, f) = segment(&[b"abc", b"defg"], &[0; 100]);
        let (offsets, tail) = read_all(&*f);
        assert_eq!(offsets, vec![32, 43]);
        assert_eq!(tail, Tail::Clean { end: 55 });
    }

    #[test]
    fn partial_last_record_is_torn() {
        let mut rec = Vec::new();
        frame_record(b"hello world", &mut rec);
        rec.truncate(12);
        rec.extend_from_slice(&[0; 40]);
        let (_d, f) = segment(&[b"abc"], &rec);
        let (offsets, tail) = read_all(&*f);
        assert_eq!(offsets, vec![32]);
        assert_eq!(tail, Tail::Torn { end: 43, bytes: 12 });
    }

    #[test]
    fn bad_record_followed_by_a_good_one_is_damage() {
        let (d, f) = segment(&[b"abc", b"defg", b"hij"], &[]);
        // a bit of the second record's payload
        d.flip_bit("log.0000000000000001", 43 + 9, 3);
        let (offsets, tail) = read_all(&*f);
        assert_eq!(offsets, vec![32]);
        assert_eq!(tail, Tail::Damaged { offset: 43, next: 55 });
    }

    #[test]
    fn bad_length_followed_by_a_good_record_is_damage() {
        let (d, f) = segment(&[b"abc", b"defg", b"hij"], &[0; 9]);
        d.flip_bit("log.0000000000000001", 43, 6);
        let (_, tail) = read_all(&*f);
        assert_eq!(tail, Tail::Damaged { offset: 43, next: 55 });
    }

    #[test]
    fn header_damage_is_detected() {
        let (d, f) = segment(&[b"abc"], &[]);
        d.flip_bit("log.0000000000000001", 14, 0);
        let mut r = SegmentReader::new(&*f).unwrap();
        assert_eq!(r.header().unwrap(), Err(HeaderFault::Unreadable));
        assert_eq!(r.classify(0).unwrap(), Tail::Damaged { offset: 0, next: 32 });
    }
}
