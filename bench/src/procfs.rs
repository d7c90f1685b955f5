//! CPU time and resident memory of processes, from `/proc/<pid>/stat` and
//! `/proc/<pid>/status`. Linux only; a missing process reads as an error, not as zero.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// A process's accumulated CPU time and its memory at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime of every thread, live or exited, in seconds.
    pub cpu_s: f64,
    /// VmRSS in bytes.
    pub rss_bytes: u64,
    /// VmHWM (peak resident set) in bytes.
    pub rss_peak_bytes: u64,
}

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
#[error("/proc/{pid}: {what}")]
pub struct ProcError {
    pub pid: u32,
    pub what: String,
}

/// Clock ticks per second for `/proc/<pid>/stat` (USER_HZ). It is 100 on every Linux
/// architecture we run on, but ask `getconf` so a different kernel does not skew figures.
fn ticks_per_s() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Reads one process (`None`: this process).
///
/// # Errors
/// When the process is gone or its files do not parse.
pub fn sample(pid: Option<u32>) -> Result<ProcSample, ProcError> {
    let id = pid.unwrap_or_else(std::process::id);
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let err = |what: String| ProcError { pid: id, what };
    let stat = std::fs::read_to_string(Path::new(&dir).join("stat")).map_err(|e| err(format!("stat: {e}")))?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| err("stat: no ')'".into()))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); utime and stime are fields 14 and 15.
    let tick = |i: usize| -> Result<u64, ProcError> {
        fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| err(format!("stat: field {} unreadable", i + 3)))
    };
    let cpu_ticks = tick(11)? + tick(12)?;
    let status = std::fs::read_to_string(Path::new(&dir).join("status")).map_err(|e| err(format!("status: {e}")))?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_s: cpu_ticks as f64 / ticks_per_s(),
        rss_bytes: kb("VmRSS:") * 1024,
        rss_peak_bytes: kb("VmHWM:") * 1024,
    })
}

/// The summed sample of several processes (a server may be more than one).
///
/// # Errors
/// As [`sample`], for the first process that cannot be read.
pub fn sample_all(pids: &[u32]) -> Result<ProcSample, ProcError> {
    let mut total = ProcSample::default();
    for &p in pids {
        let s = sample(Some(p))?;
        total.cpu_s += s.cpu_s;
        total.rss_bytes += s.rss_bytes;
        total.rss_peak_bytes += s.rss_peak_bytes;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample(None).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.rss_peak_bytes >= s.rss_bytes);
        assert!(s.cpu_s >= 0.0);
        let same = sample(Some(std::process::id())).unwrap();
        assert!(same.rss_bytes > 0);
    }
}
