//! What `envi` and `dump` read from the machine when they run: the clock, host, user and
//! memory. This is the only OS-reading code of the admin views; the renderers stay pure.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use super::stats::Extras;

/// ZooKeeper's placeholder for a value it cannot get.
const NA: &str = "<NA>";

/// [`Extras`] for a word running now: the wall clock and the environment, nothing else.
pub fn live_extras() -> Extras {
    Extras { now_ms: now_ms(), env: environment(), ..Extras::default() }
}

/// Wall-clock ms since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// `envi`'s lines after `zookeeper.version`, in ZooKeeper's order (`Environment.list`).
/// There is no JVM, so the `java.*` keys say what stands in its place: the executable for
/// the class path and home, `<NA>` where nothing does. The `os.memory.*` keys, the JVM heap
/// in ZooKeeper, are the machine's available and total memory and this process's resident
/// size.
pub fn environment() -> Vec<(String, String)> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(|p| p.parent()).map(|p| p.display().to_string());
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mb = |text: &str, key: &str| kib_field(text, key).map(|kib| format!("{}MB", kib / 1024));
    let pairs: [(&str, Option<String>); 17] = [
        ("host.name", first_line("/proc/sys/kernel/hostname").or_else(|| var("HOSTNAME"))),
        ("java.version", None),
        ("java.vendor", Some("ferrozk".into())),
        ("java.home", exe_dir),
        ("java.class.path", exe.map(|p| p.display().to_string())),
        ("java.library.path", var("LD_LIBRARY_PATH")),
        ("java.io.tmpdir", Some(std::env::temp_dir().display().to_string())),
        ("java.compiler", None),
        ("os.name", Some(java_os_name().into())),
        ("os.arch", Some(java_os_arch().into())),
        ("os.version", first_line("/proc/sys/kernel/osrelease")),
        ("user.name", var("USER").or_else(|| var("LOGNAME")).or_else(user_from_passwd)),
        ("user.home", var("HOME")),
        ("user.dir", std::env::current_dir().ok().map(|p| p.display().to_string())),
        ("os.memory.free", mb(&meminfo, "MemAvailable:")),
        ("os.memory.max", mb(&meminfo, "MemTotal:")),
        ("os.memory.total", mb(&status, "VmRSS:")),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v.unwrap_or_else(|| NA.into()))).collect()
}

fn first_line(path: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    Some(text.lines().next()?.trim().to_string()).filter(|s| !s.is_empty())
}

/// A `Key:   123 kB` field of /proc/meminfo or /proc/self/status.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Java's `user.name` comes from the password database, not the environment; do the same
/// when `USER` is unset (as in many containers).
fn user_from_passwd() -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(1)?.to_string();
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

/// The JVM's spelling of the OS (`os.name`).
fn java_os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// The JVM's spelling of the architecture (`os.arch`): `amd64`, not `x86_64`.
fn java_os_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_zookeepers_keys_in_order() {
        let keys: Vec<String> = environment().into_iter().map(|(k, _)| k).collect();
        let want = [
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total",
        ];
        assert_eq!(keys, want);
        assert!(environment().iter().all(|(_, v)| !v.is_empty() && !v.contains('\n')));
    }

    #[test]
    fn kib_fields() {
        let meminfo = "MemTotal:       24683656 kB\nMemAvailable:   23748372 kB\n";
        assert_eq!(kib_field(meminfo, "MemTotal:"), Some(24_683_656));
        assert_eq!(kib_field(meminfo, "VmRSS:"), None);
    }
}
