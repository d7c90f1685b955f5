//! What one connection measured, and the merge of all of them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies above this are clamped (a reply later than this fails the run anyway).
const LATENCY_NS_MAX: u64 = 120_000_000_000;

/// Completed operations, their latencies and their result codes.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub latency_ns: Histogram<u64>,
    /// Result code (`ReplyHeader.err`, 0 = ok) → count.
    pub results: BTreeMap<i32, u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats::new()
    }
}

impl OpStats {
    pub fn new() -> OpStats {
        // 3 significant digits from 1 ns to 120 s: about 0.1% error, ~200 KB per histogram.
        let latency_ns = Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("valid histogram bounds");
        OpStats { latency_ns, results: BTreeMap::new() }
    }

    /// Records one completed operation.
    pub fn record(&mut self, latency: Duration, err: i32) {
        let ns = (latency.as_nanos() as u64).clamp(1, LATENCY_NS_MAX);
        self.latency_ns.saturating_record(ns);
        *self.results.entry(err).or_insert(0) += 1;
    }

    pub fn ops(&self) -> u64 {
        self.latency_ns.len()
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.latency_ns.add(&other.latency_ns).expect("histograms with the same bounds");
        for (code, n) in &other.results {
            *self.results.entry(*code).or_insert(0) += n;
        }
    }

    /// Failed operations by ZooKeeper error name.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.results
            .iter()
            .filter(|(code, _)| **code != 0)
            .map(|(code, n)| {
                let name =
                    jute::ErrorCode::from_code(*code).map_or_else(|| format!("code{code}"), |c| format!("{c:?}"));
                (name, *n)
            })
            .collect()
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.latency_ns.value_at_quantile(q) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merges_and_names_errors() {
        let mut a = OpStats::new();
        a.record(Duration::from_micros(100), 0);
        a.record(Duration::from_micros(300), -101);
        let mut b = OpStats::new();
        b.record(Duration::from_micros(200), 0);
        a.merge(&b);
        assert_eq!(a.ops(), 3);
        assert_eq!(a.errors(), BTreeMap::from([("NoNode".to_string(), 1)]));
        let p50 = a.quantile_us(0.5);
        assert!((199.0..=201.0).contains(&p50), "{p50}");
    }
}
