//! Sessions: ids shaped as ZooKeeper shapes them, passwords ZooKeeper clients can check,
//! and the expiry buckets (`ExpiryQueue`). Pure: the current time is always an argument.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Secret mixed into the password seed (`ZooKeeperServer.superSecret`).
const SUPER_SECRET: i64 = 0xB341_5C00;

/// Java's `java.util.Random`, exactly, so passwords equal Apache ZooKeeper's.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom { seed: (seed ^ Self::MULTIPLIER) & Self::MASK }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// The 16-byte password of a session (`ZooKeeperServer.generatePasswd`). Never stored:
/// recomputed to check a resuming client.
pub fn password(session_id: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut out);
    out
}

/// First session id of a server (`SessionTrackerImpl.initializeNextSessionId`): server id
/// in the top byte, the start time in ms in the next 40 bits, a counter in the low 16.
pub fn first_session_id(server_id: u8, now_ms: i64) -> i64 {
    let mut next = ((now_ms << 24) as u64 >> 8) as i64;
    next |= i64::from(server_id) << 56;
    if next == i64::MIN {
        next += 1;
    }
    next
}

/// Clamps a requested timeout into the configured range (zero and negative get the minimum).
pub fn negotiate_timeout(requested: i32, min_ms: u32, max_ms: u32) -> i32 {
    (requested.max(0) as i64).clamp(i64::from(min_ms), i64::from(max_ms)) as i32
}

/// Tracks when each session expires, in tickTime buckets: a silent session expires
/// between its timeout and timeout + tickTime after its last packet.
#[derive(Debug)]
pub struct ExpiryTracker {
    tick_ms: i64,
    deadlines: HashMap<i64, (i64, i32)>,
    buckets: BTreeMap<i64, BTreeSet<i64>>,
}

impl ExpiryTracker {
    /// An empty tracker with the bucket width `tick_ms`.
    pub fn new(tick_ms: u32) -> ExpiryTracker {
        ExpiryTracker { tick_ms: i64::from(tick_ms.max(1)), deadlines: HashMap::new(), buckets: BTreeMap::new() }
    }

    fn round_up(&self, t: i64) -> i64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Starts or renews a session's deadline: `now + timeout`, rounded up to the next tick.
    pub fn touch(&mut self, session: i64, timeout_ms: i32, now_ms: i64) {
        let deadline = self.round_up(now_ms + i64::from(timeout_ms));
        if let Some((old, _)) = self.deadlines.get(&session) {
            if *old == deadline {
                return;
            }
            let old = *old;
            if let Some(b) = self.buckets.get_mut(&old) {
                b.remove(&session);
                if b.is_empty() {
                    self.buckets.remove(&old);
                }
            }
        }
        self.deadlines.insert(session, (deadline, timeout_ms));
        self.buckets.entry(deadline).or_default().insert(session);
    }

    /// Renews a tracked session with its own timeout; unknown sessions are ignored.
    pub fn renew(&mut self, session: i64, now_ms: i64) {
        if let Some((_, timeout)) = self.deadlines.get(&session) {
            let timeout = *timeout;
            self.touch(session, timeout, now_ms);
        }
    }

    /// Stops tracking a session (closed).
    pub fn remove(&mut self, session: i64) {
        if let Some((d, _)) = self.deadlines.remove(&session) {
            if let Some(b) = self.buckets.get_mut(&d) {
                b.remove(&session);
                if b.is_empty() {
                    self.buckets.remove(&d);
                }
            }
        }
    }

    /// Every tracked session (an ensemble follower reports these to the leader as alive).
    pub fn sessions(&self) -> impl Iterator<Item = i64> + '_ {
        self.deadlines.keys().copied()
    }

    /// Whether a session is tracked (alive, not yet expired).
    pub fn contains(&self, session: i64) -> bool {
        self.deadlines.contains_key(&session)
    }

    /// Takes out every session whose deadline has passed.
    pub fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((&d, _)) = self.buckets.first_key_value() {
            if d > now_ms {
                break;
            }
            let sessions = self.buckets.remove(&d).unwrap_or_default();
            for s in sessions {
                self.deadlines.remove(&s);
                out.push(s);
            }
        }
        out
    }

    /// Number of tracked sessions.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// True when no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_jdk() {
        // new java.util.Random(42).nextInt() == -1170105035
        assert_eq!(JavaRandom::new(42).next_int(), -1_170_105_035);
    }

    #[test]
    fn timeouts_clamp() {
        for (req, want) in [(1, 4000), (-5, 4000), (3999, 4000), (10001, 10001), (40001, 40000), (1_000_000_000, 40000)]
        {
            assert_eq!(negotiate_timeout(req, 4000, 40000), want);
        }
    }

    #[test]
    fn expiry_is_bucketed() {
        let mut t = ExpiryTracker::new(2000);
        t.touch(1, 4000, 1000);
        assert!(t.expire(5999).is_empty());
        assert_eq!(t.expire(6000), vec![1]);
        assert!(t.is_empty());
    }

    #[test]
    fn session_ids_carry_server_id() {
        let id = first_session_id(1, 1_700_000_000_000);
        assert_eq!(id >> 56, 1);
    }
}
