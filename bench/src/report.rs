//! The output: one JSON object per run (a line of a `.jsonl` file) and tables, and the
//! comparison of two servers' records round by round.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::run::Measurement;

/// One run, as written to the JSON lines output. `case` names what was run (so records of
/// two servers pair up); `metrics` holds every figure, by name (see [`METRICS`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub label: String,
    #[serde(default)]
    pub round: u32,
    pub case: String,
    #[serde(default)]
    pub workload: String,
    #[serde(default)]
    pub connections: usize,
    #[serde(default)]
    pub outstanding: usize,
    #[serde(default)]
    pub value_bytes: usize,
    #[serde(default)]
    pub ops: u64,
    #[serde(default)]
    pub window_s: f64,
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
}

/// Metric names in display order, with their unit and whether higher is better.
pub const METRICS: &[(&str, &str, bool)] = &[
    ("ops_per_s", "ops/s", true),
    ("lat_p50_us", "p50 µs", false),
    ("lat_p99_us", "p99 µs", false),
    ("lat_p999_us", "p99.9 µs", false),
    ("lat_max_us", "max µs", false),
    ("server_cpu_us_per_op", "srv CPU µs/op", false),
    ("server_rss_mb", "srv RSS MB", false),
    ("gen_cpu_pct", "gen CPU %", false),
    ("first_notification_p50_us", "1st notif p50 µs", false),
    ("rss_bytes_per_znode", "RSS B/znode", false),
    ("snapshot_bytes_per_znode", "snapshot B/znode", false),
    ("snapshot_mb", "snapshot MB", false),
    ("restart_log_ms", "restart (log replay) ms", false),
    ("restart_snapshot_ms", "restart (snapshot) ms", false),
    ("failover_ms", "failover ms", false),
];

impl Record {
    /// Turns a measurement into a record.
    pub fn new(label: &str, round: u32, case: String, m: &Measurement, meta: (&str, usize, usize, usize)) -> Record {
        let (workload, connections, outstanding, value_bytes) = meta;
        let secs = m.window.as_secs_f64();
        let ops = m.stats.ops();
        let mut metrics = BTreeMap::new();
        metrics.insert("ops_per_s".into(), if secs > 0.0 { ops as f64 / secs } else { 0.0 });
        if ops > 0 {
            metrics.insert("lat_p50_us".into(), m.stats.quantile_us(0.5));
            metrics.insert("lat_p99_us".into(), m.stats.quantile_us(0.99));
            metrics.insert("lat_p999_us".into(), m.stats.quantile_us(0.999));
            metrics.insert("lat_max_us".into(), m.stats.latency_ns.max() as f64 / 1000.0);
            metrics.insert("lat_mean_us".into(), m.stats.latency_ns.mean() / 1000.0);
        }
        if let Some((a, b)) = m.server {
            let cpu = b.cpu_s - a.cpu_s;
            metrics.insert("server_cpu_s".into(), cpu);
            if ops > 0 {
                metrics.insert("server_cpu_us_per_op".into(), cpu * 1e6 / ops as f64);
            }
            metrics.insert("server_rss_mb".into(), b.rss_bytes as f64 / 1e6);
            metrics.insert("server_rss_peak_mb".into(), b.rss_peak_bytes as f64 / 1e6);
        }
        let (ga, gb) = m.generator;
        metrics.insert("gen_cpu_s".into(), gb.cpu_s - ga.cpu_s);
        if secs > 0.0 {
            metrics.insert("gen_cpu_pct".into(), (gb.cpu_s - ga.cpu_s) * 100.0 / secs);
        }
        metrics.extend(m.extra.iter().map(|(k, v)| (k.clone(), *v)));
        Record {
            label: label.to_string(),
            round,
            case,
            workload: workload.to_string(),
            connections,
            outstanding,
            value_bytes,
            ops,
            window_s: secs,
            metrics,
            errors: m.stats.errors(),
        }
    }
}

/// A number in a short human form: 3 significant digits, thousands as `k`, millions as `M`.
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 10e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 100e3 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The one-run table row (and its header when `header`).
pub fn table_row(r: &Record, header: bool) -> String {
    let mut out = String::new();
    let cols = ["ops/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "srv µs/op", "srv RSS MB", "gen CPU%"];
    let keys = [
        "ops_per_s",
        "lat_p50_us",
        "lat_p99_us",
        "lat_p999_us",
        "lat_max_us",
        "server_cpu_us_per_op",
        "server_rss_mb",
        "gen_cpu_pct",
    ];
    if header {
        let _ = write!(out, "{:<10} {:<26}", "label", "case");
        for c in cols {
            let _ = write!(out, " {c:>10}");
        }
        out.push_str("  errors\n");
    }
    let _ = write!(out, "{:<10} {:<26}", r.label, r.case);
    for k in keys {
        let v = r.metrics.get(k).map_or("-".to_string(), |v| human(*v));
        let _ = write!(out, " {v:>10}");
    }
    let errs = if r.errors.is_empty() {
        "none".to_string()
    } else {
        r.errors.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    };
    let _ = writeln!(out, "  {errs}");
    out
}

/// Subject/baseline ratios per case and metric: the median over rounds with min–max, and
/// the two medians as absolute context.
pub fn compare(records: &[Record], subject: &str, baseline: &str) -> String {
    let mut cases: Vec<&str> = Vec::new();
    for r in records {
        if !cases.contains(&r.case.as_str()) {
            cases.push(&r.case);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<24} {:>22} {:>12} {:>12} {:>6}",
        "case",
        "metric",
        format!("{subject}/{baseline}"),
        subject,
        baseline,
        "rounds"
    );
    for case in cases {
        for &(key, unit, _higher_better) in METRICS {
            let by_round = |label: &str| -> BTreeMap<u32, f64> {
                records
                    .iter()
                    .filter(|r| r.case == case && r.label == label)
                    .filter_map(|r| r.metrics.get(key).map(|v| (r.round, *v)))
                    .collect()
            };
            let (s, b) = (by_round(subject), by_round(baseline));
            if s.is_empty() && b.is_empty() {
                continue;
            }
            let ratios: Vec<f64> =
                s.iter().filter_map(|(round, sv)| b.get(round).filter(|bv| **bv > 0.0).map(|bv| sv / bv)).collect();
            let ratio = if ratios.is_empty() {
                "-".to_string()
            } else {
                let (lo, hi) = (min(&ratios), max(&ratios));
                format!("{:.2} ({:.2}–{:.2})", median(&ratios), lo, hi)
            };
            let abs = |m: &BTreeMap<u32, f64>| {
                if m.is_empty() {
                    "-".to_string()
                } else {
                    human(median(&m.values().copied().collect::<Vec<_>>()))
                }
            };
            let _ = writeln!(
                out,
                "{:<28} {:<24} {:>22} {:>12} {:>12} {:>6}",
                case,
                unit,
                ratio,
                abs(&s),
                abs(&b),
                ratios.len()
            );
        }
    }
    out
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The median (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(label: &str, round: u32, ops: f64) -> Record {
        Record {
            label: label.into(),
            round,
            case: "get 8x32".into(),
            workload: "get".into(),
            connections: 8,
            outstanding: 32,
            value_bytes: 100,
            ops: 0,
            window_s: 1.0,
            metrics: BTreeMap::from([("ops_per_s".to_string(), ops)]),
            errors: BTreeMap::new(),
        }
    }

    #[test]
    fn ratios_pair_rounds_and_show_min_max() {
        let rs = vec![
            rec("f", 1, 300.0),
            rec("z", 1, 100.0),
            rec("f", 2, 200.0),
            rec("z", 2, 100.0),
            rec("f", 3, 100.0),
            rec("z", 3, 50.0),
        ];
        let t = compare(&rs, "f", "z");
        assert!(t.contains("2.00 (2.00–3.00)"), "{t}");
        assert!(t.contains("   3\n"), "{t}");
    }

    #[test]
    fn records_round_trip_through_json() {
        let r = rec("f", 1, 1.5);
        let line = serde_json::to_string(&r).unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back.metrics, r.metrics);
        // bench.sh writes scale records by hand with only the required fields.
        let hand: Record =
            serde_json::from_str(r#"{"label":"f","round":1,"case":"scale","metrics":{"snapshot_mb":2}}"#).unwrap();
        assert_eq!(hand.metrics["snapshot_mb"], 2.0);
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(123_456.0), "123k");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(1.234), "1.23");
        assert_eq!(human(12_345_678.0), "12.3M");
    }
}
