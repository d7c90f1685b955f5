//! Wire encoding of [`Message`] for the peer links: a tag byte, then big-endian fields;
//! byte strings and lists carry a u32 length. Decoding checks every length against the
//! bytes actually present before allocating, so a corrupt or hostile frame cannot make a
//! replica allocate more than the frame itself (the server frames and caps messages).

use crate::message::Message;
use crate::types::{Ballot, Entry, LogEntry, ServerId, Slot, Snapshot, SnapshotMeta, Zxid};

/// Why a frame did not decode. Any of these means the peer link is broken or the peer runs
/// incompatible code: the host drops the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ended inside a field.
    Truncated,
    /// An unknown message or entry tag.
    BadTag(u8),
    /// Bytes left over after a whole message.
    Trailing(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "peer message truncated"),
            DecodeError::BadTag(t) => write!(f, "peer message has unknown tag {t}"),
            DecodeError::Trailing(n) => write!(f, "peer message has {n} trailing bytes"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends the encoding of `msg` to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    match msg {
        Message::Prepare { ballot, from_slot } => {
            w.u8(0);
            w.ballot(*ballot);
            w.u64(*from_slot);
        }
        Message::Promise { ballot, accepted } => {
            w.u8(1);
            w.ballot(*ballot);
            w.u32(accepted.len() as u32);
            for e in accepted {
                w.u64(e.slot);
                w.ballot(e.ballot);
                w.entry(&e.entry);
            }
        }
        Message::Nack { ballot, promised } => {
            w.u8(2);
            w.ballot(*ballot);
            w.ballot(*promised);
        }
        Message::Accept { ballot, entries, commit } => {
            w.u8(3);
            w.ballot(*ballot);
            w.slot_entries(entries);
            w.u64(*commit);
        }
        Message::Accepted { ballot, slots, chosen } => {
            w.u8(4);
            w.ballot(*ballot);
            w.u32(slots.len() as u32);
            slots.iter().for_each(|s| w.u64(*s));
            w.u64(*chosen);
        }
        Message::Heartbeat { ballot, commit, seq } => {
            w.u8(5);
            w.ballot(*ballot);
            w.u64(*commit);
            w.u64(*seq);
        }
        Message::HeartbeatAck { ballot, seq, chosen } => {
            w.u8(6);
            w.ballot(*ballot);
            w.u64(*seq);
            w.u64(*chosen);
        }
        Message::Learn { ballot, entries } => {
            w.u8(7);
            w.ballot(*ballot);
            w.slot_entries(entries);
        }
        Message::InstallSnapshot { ballot, snapshot } => {
            w.u8(8);
            w.ballot(*ballot);
            w.u64(snapshot.meta.slot);
            w.u64(snapshot.meta.last_zxid.0);
            w.bytes(&snapshot.data);
        }
        Message::SyncRequest { id } => {
            w.u8(9);
            w.u64(*id);
        }
        Message::SyncReply { id, read_index } => {
            w.u8(10);
            w.u64(*id);
            w.u64(*read_index);
        }
        Message::PreVote { ballot, commit } => {
            w.u8(11);
            w.ballot(*ballot);
            w.u64(*commit);
        }
        Message::PreVoteReply { ballot, granted, promised } => {
            w.u8(12);
            w.ballot(*ballot);
            w.u8(u8::from(*granted));
            w.ballot(*promised);
        }
    }
}

/// Decodes one whole message.
///
/// # Errors
/// [`DecodeError`] when the bytes are not exactly one message.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader(bytes);
    let msg = match r.u8()? {
        0 => Message::Prepare { ballot: r.ballot()?, from_slot: r.u64()? },
        1 => {
            let ballot = r.ballot()?;
            let n = r.count(8 + 8 + 1)?;
            let mut accepted = Vec::with_capacity(n);
            for _ in 0..n {
                accepted.push(LogEntry { slot: r.u64()?, ballot: r.ballot()?, entry: r.entry()? });
            }
            Message::Promise { ballot, accepted }
        }
        2 => Message::Nack { ballot: r.ballot()?, promised: r.ballot()? },
        3 => Message::Accept { ballot: r.ballot()?, entries: r.slot_entries()?, commit: r.u64()? },
        4 => {
            let ballot = r.ballot()?;
            let n = r.count(8)?;
            let slots = (0..n).map(|_| r.u64()).collect::<Result<Vec<Slot>, _>>()?;
            Message::Accepted { ballot, slots, chosen: r.u64()? }
        }
        5 => Message::Heartbeat { ballot: r.ballot()?, commit: r.u64()?, seq: r.u64()? },
        6 => Message::HeartbeatAck { ballot: r.ballot()?, seq: r.u64()?, chosen: r.u64()? },
        7 => Message::Learn { ballot: r.ballot()?, entries: r.slot_entries()? },
        8 => {
            let ballot = r.ballot()?;
            let meta = SnapshotMeta { slot: r.u64()?, last_zxid: Zxid(r.u64()?) };
            Message::InstallSnapshot { ballot, snapshot: Snapshot { meta, data: r.bytes()? } }
        }
        9 => Message::SyncRequest { id: r.u64()? },
        10 => Message::SyncReply { id: r.u64()?, read_index: r.u64()? },
        11 => Message::PreVote { ballot: r.ballot()?, commit: r.u64()? },
        12 => Message::PreVoteReply {
            ballot: r.ballot()?,
            granted: match r.u8()? {
                0 => false,
                1 => true,
                t => return Err(DecodeError::BadTag(t)),
            },
            promised: r.ballot()?,
        },
        t => return Err(DecodeError::BadTag(t)),
    };
    match r.0.len() {
        0 => Ok(msg),
        n => Err(DecodeError::Trailing(n)),
    }
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn ballot(&mut self, b: Ballot) {
        self.u32(b.epoch);
        self.u32(b.id.0);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).expect("peer payload over 4 GiB"));
        self.0.extend_from_slice(b);
    }
    fn entry(&mut self, e: &Entry) {
        match e {
            Entry::Noop => self.u8(0),
            Entry::Batch { zxid, data } => {
                self.u8(1);
                self.u64(zxid.0);
                self.bytes(data);
            }
        }
    }
    fn slot_entries(&mut self, entries: &[(Slot, Entry)]) {
        self.u32(entries.len() as u32);
        for (s, e) in entries {
            self.u64(*s);
            self.entry(e);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    /// A list length, refused if its smallest possible encoding would not fit.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes) > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn ballot(&mut self) -> Result<Ballot, DecodeError> {
        Ok(Ballot { epoch: self.u32()?, id: ServerId(self.u32()?) })
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.count(1)?;
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head.to_vec())
    }
    fn entry(&mut self) -> Result<Entry, DecodeError> {
        match self.u8()? {
            0 => Ok(Entry::Noop),
            1 => Ok(Entry::Batch { zxid: Zxid(self.u64()?), data: self.bytes()? }),
            t => Err(DecodeError::BadTag(t)),
        }
    }
    fn slot_entries(&mut self) -> Result<Vec<(Slot, Entry)>, DecodeError> {
        let n = self.count(8 + 1)?;
        (0..n).map(|_| Ok((self.u64()?, self.entry()?))).collect()
    }
}
