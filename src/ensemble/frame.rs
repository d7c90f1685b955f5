//! What travels on a peer link besides the consensus protocol: the first frame names the
//! sender, followers forward their clients' writes to the leader, and report which sessions
//! are alive (the leader decides expiry).
//!
//! ```text
//! frame   = len u32 (bytes after it) | tag u8 | body           (big-endian)
//! Hello   = 1 | server id u32 | cluster digest u64             first frame of a connection
//! Paxos   = 2 | consensus::codec bytes
//! Forward = 3 | count u32 | (len u32 | encoded command)*       a follower's client writes
//! Touch   = 4 | count u32 | session id i64*                   sessions alive on the sender
//! Moved   = 5 | count u32 | session id i64*                   sessions that reconnected to
//!                                                               the sender: close them here
//! ```
//! The cluster digest hashes the server list, so two ensembles configured differently
//! refuse each other's links instead of mixing logs.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrozk_consensus::{codec, Message, ServerId};

/// Largest frame accepted: a snapshot for a far-behind replica travels in one frame.
pub const FRAME_BYTES_MAX: usize = 1 << 30;

/// One peer-link frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerFrame {
    /// Names the dialing server and its view of the ensemble.
    Hello { id: ServerId, cluster: u64 },
    /// A consensus message.
    Paxos(Message),
    /// Encoded commands (`txn::codec`) for the leader to propose, in session order.
    Forward(Vec<Bytes>),
    /// Sessions whose clients were heard from since the last report.
    Touch(Vec<i64>),
    /// Sessions that reconnected to the sender: a receiver closes its old connection of
    /// each, so a write cannot arrive on a session's stale connection (ZooKeeper answers
    /// such a write SessionMoved).
    Moved(Vec<i64>),
}

/// Why a frame did not decode: the link is dropped.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("peer frame truncated")]
    Truncated,
    #[error("peer frame has unknown tag {0}")]
    BadTag(u8),
    #[error("peer frame has {0} trailing bytes")]
    Trailing(usize),
    #[error(transparent)]
    Paxos(#[from] codec::DecodeError),
}

impl PeerFrame {
    /// Appends the whole frame, length prefix included.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(0);
        match self {
            PeerFrame::Hello { id, cluster } => {
                out.put_u8(1);
                out.put_u32(id.0);
                out.put_u64(*cluster);
            }
            PeerFrame::Paxos(msg) => {
                out.put_u8(2);
                let mut v = Vec::new();
                codec::encode(msg, &mut v);
                out.put_slice(&v);
            }
            PeerFrame::Forward(cmds) => {
                out.put_u8(3);
                out.put_u32(cmds.len() as u32);
                for c in cmds {
                    out.put_u32(c.len() as u32);
                    out.put_slice(c);
                }
            }
            PeerFrame::Touch(ids) | PeerFrame::Moved(ids) => {
                out.put_u8(if matches!(self, PeerFrame::Touch(_)) { 4 } else { 5 });
                out.put_u32(ids.len() as u32);
                for id in ids {
                    out.put_i64(*id);
                }
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Decodes one frame body (what follows the length prefix).
    ///
    /// # Errors
    /// [`FrameError`] when the bytes are not exactly one frame.
    pub fn decode(mut b: Bytes) -> Result<PeerFrame, FrameError> {
        let need = |b: &Bytes, n: usize| if b.remaining() < n { Err(FrameError::Truncated) } else { Ok(()) };
        need(&b, 1)?;
        let frame = match b.get_u8() {
            1 => {
                need(&b, 12)?;
                PeerFrame::Hello { id: ServerId(b.get_u32()), cluster: b.get_u64() }
            }
            2 => return Ok(PeerFrame::Paxos(codec::decode(&b)?)),
            3 => {
                need(&b, 4)?;
                let n = b.get_u32() as usize;
                // Each command takes at least its 4-byte length: never allocate past the frame.
                let mut cmds = Vec::with_capacity(n.min(b.remaining() / 4));
                for _ in 0..n {
                    need(&b, 4)?;
                    let len = b.get_u32() as usize;
                    need(&b, len)?;
                    cmds.push(b.split_to(len));
                }
                PeerFrame::Forward(cmds)
            }
            tag @ (4 | 5) => {
                need(&b, 4)?;
                let n = b.get_u32() as usize;
                need(&b, n.saturating_mul(8))?;
                let ids = (0..n).map(|_| b.get_i64()).collect();
                if tag == 4 {
                    PeerFrame::Touch(ids)
                } else {
                    PeerFrame::Moved(ids)
                }
            }
            t => return Err(FrameError::BadTag(t)),
        };
        match b.remaining() {
            0 => Ok(frame),
            n => Err(FrameError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrozk_consensus::Ballot;

    fn roundtrip(f: PeerFrame) {
        let mut out = BytesMut::new();
        f.encode(&mut out);
        let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 4);
        assert_eq!(PeerFrame::decode(out.freeze().slice(4..)).unwrap(), f);
    }

    #[test]
    fn every_frame_round_trips() {
        roundtrip(PeerFrame::Hello { id: ServerId(3), cluster: 0xdead_beef });
        roundtrip(PeerFrame::Paxos(Message::Heartbeat {
            ballot: Ballot { epoch: 2, id: ServerId(1) },
            commit: 9,
            seq: 4,
        }));
        roundtrip(PeerFrame::Forward(vec![Bytes::from_static(b"abc"), Bytes::new()]));
        roundtrip(PeerFrame::Touch(vec![1, -2, i64::MAX]));
        roundtrip(PeerFrame::Moved(vec![7]));
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        for bytes in
            [&b""[..], &[9], &[3, 0, 0, 0, 9], &[3, 0, 0, 0, 1, 0, 0, 0, 5, 1], &[4, 255, 255, 255, 255], &[1, 0]]
        {
            assert!(PeerFrame::decode(Bytes::copy_from_slice(bytes)).is_err(), "{bytes:?}");
        }
        let mut out = BytesMut::new();
        PeerFrame::Touch(vec![1]).encode(&mut out);
        out.put_u8(0);
        assert!(matches!(PeerFrame::decode(out.freeze().slice(4..)), Err(FrameError::Trailing(1))));
    }
}
