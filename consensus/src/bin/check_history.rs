//! `check_history`: checks a history recorded against real servers for linearizability,
//! with the simulator's checker (`ferrozk_consensus::sim::register`, which runs
//! `sim::linear::search` per key).
//!
//! ```text
//! check_history [--steps-max N] [FILE | -]      (no FILE or `-`: standard input)
//! ```
//!
//! The input is JSON Lines: one operation per line, blank lines skipped, unknown fields
//! ignored (so a recorder may add e.g. `"error"`). Each key is a register (a znode path)
//! holding a string value or nothing; every key starts absent, so use fresh paths.
//!
//! ```text
//! {"process": 3, "key": "/r/7", "op": "write", "value": "a12", "call": 1000, "return": 2000, "ok": true}
//! {"process": 1, "key": "/r/7", "op": "read", "value": null, "call": 1500, "return": 1900, "ok": true}
//! {"process": 2, "key": "/r/7", "op": "delete", "call": 2100, "return": null, "ok": null}
//! {"process": 3, "key": "/r/7", "op": "cas", "expect": "a12", "value": "a13", "call": 2200, "return": 2400, "ok": false}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `process` | who (number or string; messages only; optional) |
//! | `key` | the register, a znode path (string) |
//! | `op` | `write` (create-or-set), `read` (after `sync`), `delete`, `cas` |
//! | `value` | `write`/`cas`: the string written. `read`: the string read, or `null` for absent (required when `ok` is true) |
//! | `expect` | `cas` only: the value it requires, `null` for absent (so a create) |
//! | `call` | when it was invoked: integer nanoseconds, one clock for the whole history (`time.monotonic_ns()`) |
//! | `return` | when its answer arrived (integer ns), or `null` / missing when there was none |
//! | `ok` | `true`: it succeeded. `false`: it definitely had no effect (dropped). `null` / missing: unknown (timeout, connection loss): it may take effect at any point after `call`, however late, or never; `return` is then ignored |
//!
//! `ok: true` needs a `return`. A read with an unknown outcome, or any failed operation,
//! constrains nothing and is dropped. A `delete` with `ok: true` means the node existed (one
//! answered `NoNode` may be recorded as a `read` of `null`). A `cas` is `setData` with the
//! version that came with the value `expect`, or `create` when `expect` is null; modelling
//! it by value is exact when every write stores a fresh value and a key is not deleted and
//! recreated between the read and the `setData`. Write distinct values: the check is
//! strongest then, and messages can say who wrote what.
//!
//! Prints one block per non-linearizable key (how far the longest explainable order got,
//! the answered operation that could not go next with who wrote the value it read, and the
//! operations overlapping it), then always a last line
//! `check_history: N ops, K keys, C checked (P pending), D dropped: RESULT in Ts`.
//! The search is exponential in how many operations overlap on one key: spread the load
//! over more keys than processes (consensus/README.md has figures).
//! Exit status: 0 linearizable, 1 not linearizable, 2 malformed input or bad arguments
//! (naming the line), 3 undecided (the search ran out of `--steps-max` steps on some key).

use std::io::{BufRead, BufReader, Read, Write as _};
use std::process::ExitCode;
use std::time::Instant;

use ferrozk_consensus::sim::register::{Conclusion, History, STEPS_MAX_DEFAULT};

const USAGE: &str = "usage: check_history [--steps-max N] [FILE | -]";

struct Args {
    path: Option<String>,
    steps_max: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { path: None, steps_max: STEPS_MAX_DEFAULT };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--steps-max" => {
                let v = it.next().ok_or("--steps-max needs a value")?;
                a.steps_max = v.parse().map_err(|e| format!("bad number {v}: {e}"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            "-" if a.path.is_none() => a.path = Some(arg),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}; {USAGE}")),
            _ if a.path.is_none() => a.path = Some(arg),
            _ => return Err(format!("only one file, please; {USAGE}")),
        }
    }
    Ok(a)
}

/// Reads the history line by line; the error names the input and the line.
fn read(name: &str, input: impl Read) -> Result<History, String> {
    let mut h = History::new();
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        n += 1;
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(h),
            Ok(_) => {}
            Err(e) => return Err(format!("{name}: line {n}: {e}")),
        }
        let text = std::str::from_utf8(&buf).map_err(|e| format!("{name}: line {n}: not UTF-8: {e}"))?;
        h.push_line(n, text).map_err(|e| format!("{name}: {e}"))?;
    }
}

/// Prints a line, ignoring a closed pipe (`check_history ... | head`).
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("check_history: {e}");
            return ExitCode::from(2);
        }
    };
    let history = match args.path.as_deref() {
        None | Some("-") => read("stdin", std::io::stdin().lock()),
        Some(p) => std::fs::File::open(p).map_err(|e| format!("{p}: {e}")).and_then(|f| read(p, f)),
    };
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            eprintln!("check_history: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let r = history.check(args.steps_max);
    for v in &r.violations {
        say(&format!("key {:?}: not linearizable", v.key));
        v.explanation.iter().for_each(|line| say(&format!("  {line}")));
    }
    for key in &r.undecided {
        say(&format!("key {key:?}: undecided after {} search steps (raise --steps-max)", args.steps_max));
    }
    say(&format!(
        "check_history: {} ops, {} keys, {} checked ({} pending), {} dropped: {} in {:.2}s",
        r.ops,
        r.keys,
        r.checked,
        r.pending,
        r.dropped,
        r.conclusion(),
        started.elapsed().as_secs_f64()
    ));
    match r.conclusion() {
        Conclusion::Linearizable => ExitCode::SUCCESS,
        Conclusion::NotLinearizable => ExitCode::from(1),
        Conclusion::Undecided => ExitCode::from(3),
    }
}
