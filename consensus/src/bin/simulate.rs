//! `simulate`: runs the deterministic simulator over a range of seeds.
//!
//! ```text
//! simulate --seeds N [--start S] [--replicas 3|5] [--observers K] [--ticks T] [--mutation NAME]
//! simulate --seed S --trace [--replicas 3|5] [--mutation NAME]
//! ```
//! The last line is always `simulate: N seeds, V violations`; the exit status is 1 when V > 0.

use std::process::ExitCode;
use std::time::Instant;

use ferrozk_consensus::sim::{self, Options};
use ferrozk_consensus::Mutation;

struct Args {
    seeds: u64,
    start: u64,
    trace: bool,
    opts: Options,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { seeds: 100, start: 1, trace: false, opts: Options::new(3) };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("bad number {v}: {e}"));
        match flag.as_str() {
            "--seeds" => a.seeds = num(value()?)?,
            "--start" => a.start = num(value()?)?,
            "--seed" => {
                a.start = num(value()?)?;
                a.seeds = 1;
            }
            "--trace" => a.trace = true,
            "--replicas" => a.opts.replicas = num(value()?)? as usize,
            "--observers" => a.opts.observers = num(value()?)? as usize,
            "--ticks" => a.opts.ticks = num(value()?)?,
            "--mutation" => {
                let v = value()?;
                a.opts.mutation = Mutation::from_name(&v).ok_or_else(|| format!("unknown mutation {v}"))?;
            }
            "-h" | "--help" => return Err("usage: simulate --seeds N [--start S] [--replicas 3|5] [--observers K] [--ticks T] [--mutation NAME] | --seed S --trace".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.opts.replicas == 0 {
        return Err("--replicas must be at least 1".into());
    }
    a.opts.trace = a.trace;
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::from(2);
        }
    };
    // Replica assertion failures are reported per seed; keep the default hook's noise out.
    if !args.trace {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let started = Instant::now();
    let mut violations = 0u64;
    let (mut writes, mut reads, mut crashes, mut slots) = (0u64, 0u64, 0u64, 0u64);
    let (mut snapshots, mut bumped) = (0u64, 0u64);
    for seed in args.start..args.start + args.seeds {
        let r = sim::run(seed, &args.opts);
        for line in &r.trace {
            println!("{line}");
        }
        writes += r.stats.writes_acked;
        reads += r.stats.reads_acked;
        crashes += r.stats.crashes;
        slots += r.stats.slots;
        snapshots += r.stats.snapshots_installed;
        bumped += r.stats.zxids_bumped;
        if !r.violations.is_empty() {
            violations += 1;
            println!("seed {seed}: {}; replay with --seed {seed} --trace", r.violations.join("; "));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "stats: {} replicas, mutation {}, {writes} writes and {reads} sync-reads acknowledged, {slots} slots chosen, {crashes} crashes, {snapshots} snapshots installed, {bumped} zxids bumped, {:.1}s ({:.0} seeds/min)",
        args.opts.replicas,
        args.opts.mutation.name(),
        secs,
        args.seeds as f64 * 60.0 / secs.max(1e-9)
    );
    println!("simulate: {} seeds, {violations} violations", args.seeds);
    if violations > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
