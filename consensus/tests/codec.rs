//! Peer message encoding: every message round-trips, and no truncation or corruption of a
//! valid frame panics (seeded, so a failure replays).

use ferrozk_consensus::codec::{decode, encode, DecodeError};
use ferrozk_consensus::{Ballot, Entry, LogEntry, Message, Rng, ServerId, Snapshot, SnapshotMeta, Zxid};

fn ballot(rng: &mut Rng) -> Ballot {
    Ballot { epoch: rng.below(1 << 32) as u32, id: ServerId(rng.below(256) as u32) }
}

fn entry(rng: &mut Rng) -> Entry {
    if rng.chance(200) {
        return Entry::Noop;
    }
    let data = (0..rng.below(40)).map(|_| rng.below(256) as u8).collect();
    Entry::Batch { zxid: Zxid(rng.next_u64()), data }
}

fn message(rng: &mut Rng) -> Message {
    let b = ballot(rng);
    let entries = |rng: &mut Rng| (0..rng.below(5)).map(|_| (rng.next_u64(), entry(rng))).collect();
    match rng.below(13) {
        0 => Message::Prepare { ballot: b, from_slot: rng.next_u64() },
        1 => Message::Promise {
            ballot: b,
            accepted: (0..rng.below(5))
                .map(|_| LogEntry { slot: rng.next_u64(), ballot: ballot(rng), entry: entry(rng) })
                .collect(),
        },
        2 => Message::Nack { ballot: b, promised: ballot(rng) },
        3 => Message::Accept { ballot: b, entries: entries(rng), commit: rng.next_u64() },
        4 => Message::Accepted {
            ballot: b,
            slots: (0..rng.below(5)).map(|_| rng.next_u64()).collect(),
            chosen: rng.next_u64(),
        },
        5 => Message::Heartbeat { ballot: b, commit: rng.next_u64(), seq: rng.next_u64() },
        6 => Message::HeartbeatAck { ballot: b, seq: rng.next_u64(), chosen: rng.next_u64() },
        7 => Message::Learn { ballot: b, entries: entries(rng) },
        8 => Message::InstallSnapshot {
            ballot: b,
            snapshot: Snapshot {
                meta: SnapshotMeta { slot: rng.next_u64(), last_zxid: Zxid(rng.next_u64()) },
                data: (0..rng.below(64)).map(|_| rng.below(256) as u8).collect(),
            },
        },
        9 => Message::SyncRequest { id: rng.next_u64() },
        10 => Message::PreVote { ballot: b, commit: rng.next_u64() },
        11 => Message::PreVoteReply { ballot: b, granted: rng.below(2) == 1, promised: ballot(rng) },
        _ => Message::SyncReply { id: rng.next_u64(), read_index: rng.next_u64() },
    }
}

#[test]
fn every_message_round_trips() {
    let mut rng = Rng::new(0xC0DEC);
    for _ in 0..5_000 {
        let m = message(&mut rng);
        let mut buf = Vec::new();
        encode(&m, &mut buf);
        assert_eq!(decode(&buf), Ok(m));
    }
}

#[test]
fn damaged_frames_fail_cleanly() {
    let mut rng = Rng::new(7);
    for _ in 0..5_000 {
        let mut buf = Vec::new();
        encode(&message(&mut rng), &mut buf);
        let cut = rng.below(buf.len() as u64) as usize;
        assert_eq!(decode(&buf[..cut]).err().map(|_| ()), Some(()), "a prefix must not decode");
        let i = rng.below(buf.len() as u64) as usize;
        buf[i] ^= 1 + rng.below(255) as u8;
        let _ = decode(&buf); // may decode to another message; must not panic or over-allocate
    }
    assert_eq!(decode(&[42]), Err(DecodeError::BadTag(42)));
    assert_eq!(decode(&[9, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Err(DecodeError::Trailing(1)));
    // A list claiming 2^32-1 entries in a short frame is refused before allocating.
    assert_eq!(decode(&[4, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), Err(DecodeError::Truncated));
}
