//! The bridge from recorded histories to the linearizability checker: small hand-written
//! histories through the library (`sim::register`) and the `check_history` binary (exit
//! status and messages), and a generated 20,000-op history for speed.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrozk_consensus::sim::register::{Conclusion, History, Report};

/// `{"process":P,"key":K,"op":OP,...,"call":C,"return":R,"ok":OK}` with `extra` spliced in.
fn op(p: u32, key: &str, what: &str, extra: &str, call: u64, ret: Option<u64>, ok: Option<bool>) -> String {
    let ret = ret.map_or("null".to_string(), |r| r.to_string());
    let ok = ok.map_or("null".to_string(), |o| o.to_string());
    format!(r#"{{"process":{p},"key":"{key}","op":"{what}",{extra}"call":{call},"return":{ret},"ok":{ok}}}"#)
}

fn write(p: u32, v: &str, call: u64, ret: u64) -> String {
    op(p, "/k", "write", &format!(r#""value":"{v}","#), call, Some(ret), Some(true))
}

fn read(p: u32, v: Option<&str>, call: u64, ret: u64) -> String {
    let v = v.map_or("null".to_string(), |v| format!("\"{v}\""));
    op(p, "/k", "read", &format!(r#""value":{v},"#), call, Some(ret), Some(true))
}

fn delete(p: u32, call: u64, ret: u64) -> String {
    op(p, "/k", "delete", "", call, Some(ret), Some(true))
}

fn check(lines: &[String]) -> Report {
    History::parse(&lines.join("\n")).expect("history parses").check(1_000_000)
}

fn run_bin(input: &str, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_check_history"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn check_history");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("check_history runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn overlapping_writes_and_reads_linearize() {
    // p2's read overlaps p1's second write and may see either value; p3's later reads agree.
    let h = [
        write(1, "a", 10, 20),
        write(1, "b", 30, 60),
        read(2, Some("a"), 35, 40),
        read(2, Some("b"), 45, 50),
        read(3, Some("b"), 70, 80),
    ];
    let r = check(&h);
    assert_eq!(r.conclusion(), Conclusion::Linearizable, "{r:?}");
    assert_eq!((r.ops, r.keys, r.checked, r.pending, r.dropped), (5, 1, 5, 0, 0));
}

#[test]
fn stale_read_is_caught_and_explained() {
    let h = [
        write(1, "a", 5_000, 1_005_000),
        write(1, "b", 2_000_000, 3_250_000),
        read(2, Some("a"), 4_000_000, 4_500_000),
    ];
    let r = check(&h);
    assert_eq!(r.conclusion(), Conclusion::NotLinearizable);
    assert_eq!(r.violations.len(), 1);
    assert_eq!(r.violations[0].key, "/k");
    assert_eq!(
        r.violations[0].explanation,
        [
            "2 of 3 ops linearize; then the value is \"b\", last set by line 2: process 1 write \"b\" [+1.995ms, +3.245ms]",
            "cannot take effect before it returns: line 3: process 2 read -> \"a\" [+3.995ms, +4.495ms] (\"a\" is written by line 1)",
            "and no other op could have gone first",
        ]
    );
}

#[test]
fn pending_write_may_appear_later() {
    // Unknown outcome: absent at first, then seen long after the client gave up.
    let h = [
        op(1, "/k", "write", r#""value":"x","#, 10, None, None),
        read(2, None, 20, 30),
        read(2, Some("x"), 1_000, 1_010),
        read(3, Some("x"), 2_000, 2_010),
    ];
    let r = check(&h);
    assert_eq!(r.conclusion(), Conclusion::Linearizable, "{r:?}");
    assert_eq!(r.pending, 1);
}

#[test]
fn pending_write_may_never_appear_but_cannot_vanish() {
    // A `return` with `ok: null` is ignored: the effect may come even later.
    let never =
        [op(1, "/k", "write", r#""value":"x","#, 10, Some(15), None), read(2, None, 20, 30), read(2, None, 40, 50)];
    assert_eq!(check(&never).conclusion(), Conclusion::Linearizable);
    let flicker =
        [op(1, "/k", "write", r#""value":"x","#, 10, None, None), read(2, Some("x"), 20, 30), read(2, None, 40, 50)];
    assert_eq!(check(&flicker).conclusion(), Conclusion::NotLinearizable);
}

#[test]
fn value_of_a_failed_write_must_not_be_read() {
    let h = [op(1, "/k", "write", r#""value":"x","#, 10, Some(20), Some(false)), read(2, Some("x"), 30, 40)];
    let r = check(&h);
    assert_eq!(r.conclusion(), Conclusion::NotLinearizable);
    assert_eq!((r.checked, r.dropped), (1, 1));
    assert_eq!(
        r.violations[0].explanation[1],
        "cannot take effect before it returns: line 2: process 2 read -> \"x\" [+0.000ms, +0.000ms] \
         (\"x\" is written only by failed ops, line 1)"
    );
}

#[test]
fn deletes() {
    let fine = [
        write(1, "a", 10, 20),
        delete(2, 30, 40),
        read(1, None, 50, 60),
        write(1, "b", 70, 80),
        read(3, Some("b"), 90, 95),
    ];
    assert_eq!(check(&fine).conclusion(), Conclusion::Linearizable);
    // A read overlapping the delete may see either side of it.
    let overlap = [write(1, "a", 10, 20), delete(2, 30, 60), read(1, Some("a"), 40, 50), read(3, None, 70, 80)];
    assert_eq!(check(&overlap).conclusion(), Conclusion::Linearizable);
    let resurrected = [write(1, "a", 10, 20), delete(2, 30, 40), read(1, Some("a"), 50, 60)];
    assert_eq!(check(&resurrected).conclusion(), Conclusion::NotLinearizable);
    // A successful delete found the node: it cannot succeed on an absent key.
    let nothing_to_delete = [read(1, None, 10, 20), delete(2, 30, 40)];
    assert_eq!(check(&nothing_to_delete).conclusion(), Conclusion::NotLinearizable);
    // One with an unknown outcome may or may not have happened.
    let maybe = op(2, "/k", "delete", "", 30, None, None);
    let gone = [write(1, "a", 10, 20), maybe.clone(), read(1, Some("a"), 50, 60), read(1, None, 70, 80)];
    assert_eq!(check(&gone).conclusion(), Conclusion::Linearizable);
    let back = [write(1, "a", 10, 20), maybe, read(1, None, 50, 60), read(1, Some("a"), 70, 80)];
    assert_eq!(check(&back).conclusion(), Conclusion::NotLinearizable);
}

#[test]
fn cas_succeeds_only_on_its_expected_value() {
    let cas = |p, expect: &str, v: &str, call, ret, ok| {
        op(p, "/k", "cas", &format!(r#""expect":{expect},"value":"{v}","#), call, Some(ret), Some(ok))
    };
    let h = [
        cas(1, "null", "a", 10, 20, true), // a create
        cas(2, "\"a\"", "b", 30, 40, true),
        cas(3, "\"a\"", "c", 50, 60, false), // lost the race: dropped
        read(1, Some("b"), 70, 80),
    ];
    assert_eq!(check(&h).conclusion(), Conclusion::Linearizable);
    let both_won = [write(1, "a", 10, 20), cas(2, "\"a\"", "b", 30, 60, true), cas(3, "\"a\"", "c", 30, 60, true)];
    assert_eq!(check(&both_won).conclusion(), Conclusion::NotLinearizable);
    // Two timed-out ops can explain a read together: the write makes the cas succeed.
    let chain = [
        op(1, "/k", "write", r#""value":"e","#, 10, None, None),
        op(2, "/k", "cas", r#""expect":"e","value":"v","#, 20, None, None),
        read(3, Some("v"), 30, 40),
    ];
    assert_eq!(check(&chain).conclusion(), Conclusion::Linearizable);
}

#[test]
fn keys_are_independent_registers() {
    let other = op(1, "/other", "write", r#""value":"a","#, 10, Some(20), Some(true));
    let h = [other.clone(), read(2, None, 30, 40)];
    assert_eq!(check(&h).conclusion(), Conclusion::Linearizable);
    let r = check(&[other, write(1, "a", 10, 20), read(2, None, 30, 40)]);
    assert_eq!(r.keys, 2);
    assert_eq!(r.violations.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(), ["/k"]);
}

#[test]
fn malformed_lines_are_named() {
    let err = |line: &str| History::parse(&format!("{}\n\n{line}", write(1, "a", 1, 2))).unwrap_err().to_string();
    assert_eq!(err("{\"key\":\"/k\""), "line 3: column 12: expected ',' or '}'");
    assert_eq!(err("[1]"), "line 3: expected a JSON object");
    assert_eq!(err(r#"{"key":"/k","op":"write","value":"a","return":5,"ok":true}"#), "line 3: missing field \"call\"");
    assert_eq!(
        err(r#"{"key":"/k","op":"put","value":"a","call":1}"#),
        "line 3: unknown op \"put\" (write, read, delete or cas)"
    );
    assert_eq!(
        err(r#"{"key":"/k","op":"write","value":"a","call":9,"return":5,"ok":true}"#),
        "line 3: \"return\" is before \"call\""
    );
    assert_eq!(
        err(r#"{"key":"/k","op":"write","value":"a","call":1,"ok":true}"#),
        "line 3: \"ok\" is true but \"return\" is missing or null"
    );
    assert_eq!(
        err(r#"{"key":"/k","op":"read","call":1,"return":2,"ok":true}"#),
        "line 3: missing field \"value\" (use null for absent)"
    );
    assert_eq!(
        err(r#"{"key":"/k","op":"write","value":"a","call":1.5}"#),
        "line 3: \"call\" must be a non-negative integer (ns)"
    );
    assert_eq!(err(r#"{"key":"/k","op":"write","value":7,"call":1}"#), "line 3: \"value\" must be a string");
    // Unknown fields of any shape ride along.
    let extra = r#"{"key":"/k","op":"read","value":null,"call":1,"return":2,"ok":true,"error":{"why":[1,"x"]}}"#;
    assert!(History::parse(extra).is_ok());
}

#[test]
fn binary_exit_status_and_summary() {
    let good = [write(1, "a", 10, 20), read(2, Some("a"), 30, 40)].join("\n");
    let o = run_bin(&good, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).starts_with("check_history: 2 ops, 1 keys, 2 checked (0 pending), 0 dropped: linearizable in "),
        "{}",
        text(&o)
    );

    let bad = [write(1, "a", 10, 20), read(2, None, 30, 40)].join("\n");
    let o = run_bin(&bad, &["-"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.starts_with("key \"/k\": not linearizable\n  1 of 2 ops linearize;"), "{out}");
    assert!(out.contains("line 2: process 2 read -> absent"), "{out}");
    assert!(out.contains("not linearizable in "), "{out}");

    let o = run_bin(&format!("{good}\n{{\"op\":\"write\"}}\n"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o), "check_history: stdin: line 3: missing field \"key\"\n");

    let o = run_bin("", &["/nonexistent/history.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).starts_with("check_history: /nonexistent/history.jsonl: "), "{}", text(&o));

    // Out of steps on a key that is not known to violate: exit 3.
    let o = run_bin(&good, &["--steps-max", "1"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("key \"/k\": undecided after 1 search steps"), "{}", text(&o));
}

/// SplitMix64, for the generated history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A linearizable history of `n` ops: `procs` clients, each one op at a time on one of
/// `keys` keys; every op takes effect at a random point of its window, in effect order on
/// a real map. `unknown_pct`% time out (unknown outcome: half applied up to 100 windows
/// late, half never) and 2% fail.
fn generate(seed: u64, n: usize, procs: u64, keys: u64, unknown_pct: u64) -> Vec<String> {
    enum Kind {
        Write(String),
        Read(Option<String>),
        Delete,
    }
    struct Gen {
        process: u64,
        key: u64,
        kind: Kind,
        call: u64,
        ret: u64,
        effect: Option<u64>,
        ok: Option<bool>,
    }
    let mut rng = Rng(seed);
    let mut free_at = vec![0u64; procs as usize];
    let mut ops = Vec::with_capacity(n);
    for i in 0..n {
        let process = rng.below(procs);
        let call = free_at[process as usize] + rng.below(1_000);
        let ret = call + 100 + rng.below(3_000);
        free_at[process as usize] = ret;
        let (effect, ok) = match rng.below(100) {
            0 | 1 => (None, Some(false)),
            r if r < 2 + unknown_pct => ((r % 2 == 0).then(|| call + rng.below(300_000)), None),
            _ => (Some(call + rng.below(ret - call)), Some(true)),
        };
        let kind = match rng.below(10) {
            0..=4 => Kind::Write(format!("v{i}")),
            5..=8 => Kind::Read(None),
            _ => Kind::Delete,
        };
        ops.push(Gen { process, key: rng.below(keys), kind, call, ret, effect, ok });
    }
    let mut by_effect: Vec<usize> = (0..n).filter(|&i| ops[i].effect.is_some()).collect();
    by_effect.sort_by_key(|&i| ops[i].effect);
    let mut map: Vec<Option<String>> = vec![None; keys as usize];
    for i in by_effect {
        let o = &mut ops[i];
        let slot = &mut map[o.key as usize];
        match &mut o.kind {
            Kind::Write(v) => *slot = Some(v.clone()),
            Kind::Read(seen) => *seen = slot.clone(),
            Kind::Delete if slot.is_none() => o.ok = o.ok.map(|_| false), // NoNode
            Kind::Delete => *slot = None,
        }
    }
    ops.iter()
        .map(|o| {
            let (what, extra) = match &o.kind {
                Kind::Write(v) => ("write", format!(r#""value":"{v}","#)),
                Kind::Read(Some(v)) => ("read", format!(r#""value":"{v}","#)),
                Kind::Read(None) => ("read", r#""value":null,"#.to_string()),
                Kind::Delete => ("delete", String::new()),
            };
            let ret = o.ok.map(|_| o.ret);
            op(o.process as u32, &format!("/h/{}", o.key), what, &extra, o.call, ret, o.ok)
        })
        .collect()
}

#[test]
fn twenty_thousand_ops_check_in_seconds() {
    let lines = generate(7, 20_000, 5, 50, 2);
    let h = History::parse(&lines.join("\n")).expect("parses");
    let started = Instant::now();
    let r = h.check(50_000_000);
    let took = started.elapsed();
    assert_eq!(r.conclusion(), Conclusion::Linearizable, "{:?}", r.violations);
    assert_eq!((r.ops, r.keys), (20_000, 50));
    assert!(r.pending > 100 && r.dropped > 300, "{r:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // One late read of a value nobody wrote is caught on its key, after the search has
    // tried every order of what came before it.
    let mut broken = lines.clone();
    let victim = (1_000..lines.len())
        .find(|&i| lines[i].contains(r#""op":"read","value":"v"#) && lines[i].contains(r#""ok":true"#))
        .expect("a successful read");
    broken[victim] = broken[victim].replace(r#""value":"v"#, r#""value":"never-written-v"#);
    let r = History::parse(&broken.join("\n")).expect("parses").check(50_000_000);
    assert_eq!(r.conclusion(), Conclusion::NotLinearizable);
    assert_eq!(r.violations.len(), 1);
}

#[test]
fn hot_keys_with_many_timeouts_check_in_seconds() {
    // Six clients on two keys, 5% of ops timing out: ~3 ops overlap on a key at any time
    // and every timed-out op stays a candidate until the end.
    let lines = generate(11, 20_000, 6, 2, 5);
    let h = History::parse(&lines.join("\n")).expect("parses");
    let started = Instant::now();
    let r = h.check(50_000_000);
    let took = started.elapsed();
    assert_eq!(r.conclusion(), Conclusion::Linearizable, "{:?}", r.violations);
    assert!(r.pending > 400, "{r:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// One operation as the brute-force oracle sees it.
#[derive(Clone, Debug)]
struct Bare {
    /// 0 write, 1 read, 2 delete, 3 cas.
    kind: u8,
    value: Option<u8>,
    expect: Option<u8>,
    call: u64,
    ret: Option<u64>,
}

/// Tries every order that respects real time, with each pending op placed anywhere after
/// its call or never; no memo, no pruning.
fn oracle(ops: &[Bare], placed: &mut Vec<bool>, state: Option<u8>) -> bool {
    let open = |i: usize| !placed[i] && ops[i].ret.is_some();
    if !(0..ops.len()).any(open) {
        return true;
    }
    let horizon = (0..ops.len()).filter(|&i| open(i)).filter_map(|i| ops[i].ret).min().expect("an open op");
    for i in 0..ops.len() {
        if placed[i] || ops[i].call > horizon {
            continue;
        }
        let o = &ops[i];
        let known = o.ret.is_some();
        let next = match o.kind {
            0 => Some(o.value),
            1 => (state == o.value).then_some(state),
            2 if known => state.is_some().then_some(None),
            2 => Some(None),
            _ if state == o.expect => Some(o.value),
            _ => (!known).then_some(state),
        };
        if let Some(next) = next {
            placed[i] = true;
            let ok = oracle(ops, placed, next);
            placed[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

#[test]
fn search_agrees_with_brute_force_on_small_histories() {
    let mut rng = Rng(99);
    let (mut agreed_lin, mut agreed_not) = (0, 0);
    for _ in 0..4_000 {
        let n = 2 + rng.below(6) as usize;
        let mut lines = Vec::new();
        let mut bare = Vec::new();
        for p in 0..n {
            let call = rng.below(40);
            let ret = call + rng.below(25);
            let kind = rng.below(4) as u8;
            let value = |rng: &mut Rng| (rng.below(4) > 0).then(|| rng.below(3) as u8);
            let (mut v, expect) = (value(&mut rng), value(&mut rng));
            if kind == 0 || kind == 3 {
                v = Some(v.unwrap_or(0));
            }
            let outcome = rng.below(10); // 0-1 failed, 2-3 unknown, else ok
            let show = |v: Option<u8>| v.map_or("null".to_string(), |v| format!("\"x{v}\""));
            let extra = match kind {
                0 => format!(r#""value":{},"#, show(v)),
                1 => format!(r#""value":{},"#, show(v)),
                2 => String::new(),
                _ => format!(r#""expect":{},"value":{},"#, show(expect), show(v)),
            };
            let what = ["write", "read", "delete", "cas"][kind as usize];
            let ok = match outcome {
                0 | 1 => Some(false),
                2 | 3 => None,
                _ => Some(true),
            };
            lines.push(op(p as u32, "/k", what, &extra, call, ok.map(|_| ret), ok));
            let dropped = ok == Some(false) || (ok.is_none() && kind == 1);
            if !dropped {
                bare.push(Bare { kind, value: v, expect, call, ret: ok.map(|_| ret) });
            }
        }
        let want = oracle(&bare, &mut vec![false; bare.len()], None);
        let got = check(&lines).conclusion();
        assert_eq!(got == Conclusion::Linearizable, want, "history:\n{}", lines.join("\n"));
        if want {
            agreed_lin += 1
        } else {
            agreed_not += 1
        }
    }
    // Both answers were exercised.
    assert!(agreed_lin > 500 && agreed_not > 500, "{agreed_lin} {agreed_not}");
}
