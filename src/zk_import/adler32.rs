//! Adler-32 as `java.util.zip.Adler32` computes it (RFC 1950 §8.2): ZooKeeper seals its
//! snapshots with it and checks each log entry with it. Small enough to write out rather
//! than add a crate for.

const MOD: u32 = 65_521;
/// Largest run of bytes whose sums cannot overflow a u32 before the modulo (zlib's NMAX).
const RUN_MAX: usize = 5_552;

/// A running Adler-32.
#[derive(Debug, Clone, Copy)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    /// Adds `bytes` to the sum.
    pub fn update(&mut self, bytes: &[u8]) {
        for run in bytes.chunks(RUN_MAX) {
            for &x in run {
                self.a += u32::from(x);
                self.b += self.a;
            }
            self.a %= MOD;
            self.b %= MOD;
        }
    }

    /// The value as Java's `getValue()` returns it: the 32 bits in a non-negative long.
    pub fn value(&self) -> i64 {
        i64::from((self.b << 16) | self.a)
    }

    /// The Adler-32 of one buffer.
    pub fn of(bytes: &[u8]) -> i64 {
        let mut a = Adler32::default();
        a.update(bytes);
        a.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 1950 / Wikipedia's example, and the empty input.
        assert_eq!(Adler32::of(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(Adler32::of(b""), 1);
        // Long input crosses the modulo runs: split updates give the same value.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut split = Adler32::default();
        split.update(&data[..12_345]);
        split.update(&data[12_345..]);
        assert_eq!(split.value(), Adler32::of(&data));
        let all_ff = vec![0xFFu8; 20_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &all_ff {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(Adler32::of(&all_ff), ((b << 16) | a) as i64);
    }
}
