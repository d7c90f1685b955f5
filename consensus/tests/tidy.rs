//! The replica and the simulator must stay pure: no IO, no clock, no OS randomness
//! (style §4.15, TigerBeetle's `tidy.zig`). Only the binaries in `src/bin` (`simulate`,
//! `check_history`) may read files or time themselves.

use std::path::Path;

const BANNED: [&str; 8] =
    ["tokio", "std::fs", "std::net", "Instant::now", "SystemTime", "thread_rng", "rand::", "std::thread"];

fn scan(dir: &Path, offenders: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            scan(&path, offenders);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read file");
            for (n, line) in text.lines().enumerate() {
                for word in BANNED {
                    if line.contains(word) && !line.trim_start().starts_with("//") {
                        offenders.push(format!("{}:{}: {word}", path.display(), n + 1));
                    }
                }
            }
        }
    }
}

#[test]
fn pure_code_does_no_io_and_reads_no_clock() {
    let mut offenders = Vec::new();
    scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut offenders);
    assert!(offenders.is_empty(), "impure code:\n{}", offenders.join("\n"));
}
