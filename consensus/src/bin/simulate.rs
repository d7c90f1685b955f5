//! `simulate`: runs the deterministic simulator over a range of seeds.
//!
//! ```text
//! simulate --seeds N [--start S] [--replicas 3|5] [--observers K] [--ticks T] [--mutation NAME] [--jobs J]
//! simulate --seed S --trace [--replicas 3|5] [--mutation NAME]
//! ```
//! The last line is always `simulate: N seeds, V violations`; the exit status is 1 when V > 0.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use ferrozk_consensus::sim::{self, Options};
use ferrozk_consensus::Mutation;

struct Args {
    seeds: u64,
    jobs: u64,
    start: u64,
    trace: bool,
    opts: Options,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { seeds: 100, jobs: 1, start: 1, trace: false, opts: Options::new(3) };
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
            "--jobs" => a.jobs = num(value()?)?,
            "--replicas" => a.opts.replicas = num(value()?)? as usize,
            "--observers" => a.opts.observers = num(value()?)? as usize,
            "--ticks" => a.opts.ticks = num(value()?)?,
            "--mutation" => {
                let v = value()?;
                a.opts.mutation = Mutation::from_name(&v).ok_or_else(|| format!("unknown mutation {v}"))?;
            }
            "-h" | "--help" => return Err("usage: simulate --seeds N [--start S] [--replicas 3|5] [--observers K] [--ticks T] [--mutation NAME] [--jobs J] | --seed S --trace".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.opts.replicas == 0 {
        return Err("--replicas must be at least 1".into());
    }
    a.opts.trace = a.trace;
    Ok(a)
}

/// Sums over seeds, for the summary line.
#[derive(Default)]
struct Totals {
    violations: u64,
    writes: u64,
    reads: u64,
    crashes: u64,
    slots: u64,
    snapshots: u64,
    bumped: u64,
}

impl Totals {
    fn add(&mut self, r: &sim::Report) {
        self.writes += r.stats.writes_acked;
        self.reads += r.stats.reads_acked;
        self.crashes += r.stats.crashes;
        self.slots += r.stats.slots;
        self.snapshots += r.stats.snapshots_installed;
        self.bumped += r.stats.zxids_bumped;
        self.violations += u64::from(!r.violations.is_empty());
    }
}

/// Runs seeds `start + k*jobs + job` on `jobs` threads; each seed is still a pure function
/// of itself, and failures print in seed order within each thread's share.
fn run_all(args: &Args) -> Totals {
    let jobs = args.jobs.max(1);
    let end = args.start + args.seeds;
    let shares: Vec<(Totals, Vec<(u64, String)>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|job| {
                scope.spawn(move || {
                    let mut t = Totals::default();
                    let mut failures = Vec::new();
                    let mut seed = args.start + job;
                    while seed < end {
                        let r = sim::run(seed, &args.opts);
                        // Ignore a closed pipe (`| head`): the run itself still completes.
                        let mut out = std::io::stdout().lock();
                        for line in &r.trace {
                            let _ = writeln!(out, "{line}");
                        }
                        drop(out);
                        t.add(&r);
                        if !r.violations.is_empty() {
                            let v = r.violations.join("; ");
                            failures.push((seed, format!("seed {seed}: {v}; replay with --seed {seed} --trace")));
                        }
                        seed += jobs;
                    }
                    (t, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("simulation thread")).collect()
    });
    let mut total = Totals::default();
    let mut failures = Vec::new();
    for (t, f) in shares {
        total.violations += t.violations;
        total.writes += t.writes;
        total.reads += t.reads;
        total.crashes += t.crashes;
        total.slots += t.slots;
        total.snapshots += t.snapshots;
        total.bumped += t.bumped;
        failures.extend(f);
    }
    failures.sort();
    failures.iter().for_each(|(_, line)| say(line));
    total
}

/// Prints a line, ignoring a closed pipe (`simulate ... | head`).
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
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
    let t = run_all(&args);
    let secs = started.elapsed().as_secs_f64();
    say(&format!(
        "stats: {} replicas, mutation {}, {} writes and {} sync-reads acknowledged, {} slots chosen, {} crashes, {} snapshots installed, {} zxids bumped, {:.1}s on {} threads ({:.0} seeds/min)",
        args.opts.replicas,
        args.opts.mutation.name(),
        t.writes,
        t.reads,
        t.slots,
        t.crashes,
        t.snapshots,
        t.bumped,
        secs,
        args.jobs.max(1),
        args.seeds as f64 * 60.0 / secs.max(1e-9)
    ));
    say(&format!("simulate: {} seeds, {} violations", args.seeds, t.violations));
    if t.violations > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
