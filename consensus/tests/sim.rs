//! The simulator as a test: a few hundred seeds must run clean, every planted bug must be
//! caught within a modest number of seeds, and a seed must replay to the same trace.
//! Bigger runs: `scripts/simulate.sh --seeds 100000`.

use ferrozk_consensus::sim::{run, Options};
use ferrozk_consensus::Mutation;

/// Seeds per replica count in the default (CI) run.
const CLEAN_SEEDS: u64 = 300;
/// Every mutation must be caught within this many seeds.
const CATCH_WITHIN: u64 = 400;

fn clean(replicas: usize) {
    let opts = Options::new(replicas);
    for seed in 1..=CLEAN_SEEDS {
        let r = run(seed, &opts);
        assert!(
            r.violations.is_empty(),
            "seed {seed} ({replicas} replicas): {:?}; replay with scripts/simulate.sh --seed {seed} --replicas {replicas} --trace",
            r.violations
        );
    }
}

#[test]
fn three_replicas_run_clean() {
    clean(3);
}

#[test]
fn five_replicas_run_clean() {
    clean(5);
}

fn caught(replicas: usize) {
    for m in Mutation::ALL {
        let mut opts = Options::new(replicas);
        opts.mutation = m;
        let caught = (1..=CATCH_WITHIN).find(|seed| !run(*seed, &opts).violations.is_empty());
        assert!(caught.is_some(), "mutation {} survived {CATCH_WITHIN} seeds on {replicas} replicas", m.name());
    }
}

#[test]
fn every_planted_bug_is_caught_with_three_replicas() {
    caught(3);
}

#[test]
fn every_planted_bug_is_caught_with_five_replicas() {
    caught(5);
}

#[test]
fn a_seed_replays_to_the_same_trace() {
    let mut opts = Options::new(5);
    opts.trace = true;
    let a = run(42, &opts);
    let b = run(42, &opts);
    assert!(a.trace.len() > 100, "trace too short to mean anything");
    assert_eq!(a.trace, b.trace);
}

#[test]
fn a_failing_seed_replays_to_the_same_trace() {
    let mut opts = Options::new(3);
    opts.mutation = Mutation::SkipPhase1Recovery;
    let seed = (1..=CATCH_WITHIN).find(|seed| !run(*seed, &opts).violations.is_empty()).expect("caught");
    opts.trace = true;
    let (a, b) = (run(seed, &opts), run(seed, &opts));
    assert!(!a.violations.is_empty());
    assert_eq!(a.violations, b.violations);
    assert_eq!(a.trace, b.trace);
}
