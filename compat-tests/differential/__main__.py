"""CLI for long differential runs (from compat-tests/):

    .venv/bin/python -m differential                      # the CI default set
    .venv/bin/python -m differential --streams 5000 --seed 7000 --long
    .venv/bin/python -m differential --seed 123 --keep 0,4,9   # replay a shrunk stream
    .venv/bin/python -m differential --seed 123 --show         # print a stream, run nothing

FERROZK_BIN picks the ferrozk binary (default <repo>/target/release/ferrozk);
FERROZK_TARGET=zookeeper runs Apache ZooKeeper on both sides (a self-check: no difference
may show up).
"""

from __future__ import annotations

import argparse
import sys
import time

from . import runner
from .gen import generate

DEFAULT_SEED = 1
DEFAULT_STREAMS = 300


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m differential", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=runner.env_int("DIFF_SEED", DEFAULT_SEED),
                    help="first stream seed (env DIFF_SEED)")
    ap.add_argument("--streams", type=int, default=None,
                    help="number of streams (env DIFF_STREAMS; default 300, or 1 with --keep)")
    ap.add_argument("--long", action="store_true",
                    help="long streams (80-200 ops each) instead of the short CI ones")
    ap.add_argument("--length", type=int, default=None, help="ops per stream (default: random)")
    ap.add_argument("--keep", default=None,
                    help="comma-separated op indices of the seed's stream to replay (env DIFF_KEEP)")
    ap.add_argument("--show", action="store_true", help="print the stream(s), run nothing")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--shrink-budget", type=float, default=120.0, help="seconds per difference")
    ap.add_argument("--max-failures", type=int, default=5, help="stop after this many (0: never)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds, then stop")
    args = ap.parse_args(argv)

    keep_env = args.keep or (runner.os.environ.get("DIFF_KEEP") or None)
    streams = args.streams or runner.env_int("DIFF_STREAMS", 1 if keep_env else DEFAULT_STREAMS)
    length = args.length
    if args.long and length is None:
        length = -1  # marker: per-stream random long length
    if args.show:
        for seed in runner.stream_seeds(args.seed, streams):
            ops = generate(seed, long_length(seed) if length == -1 else length)
            print(f"# seed {seed}: {len(ops)} ops")
            for k, op in enumerate(ops):
                print(f"{k:4d}  {op.describe()}")
        return 0

    pair = runner.Pair()
    print(f"starting {runner.under_test_target()} and zookeeper 3.8 ...", flush=True)
    pair.start()
    print(f"  {pair.test_name}: {pair.test.hosts}  zookeeper: {pair.ref.hosts}", flush=True)
    differ = runner.Differ(pair)
    t0 = time.monotonic()
    try:
        if keep_env:
            keep = [int(x) for x in keep_env.split(",") if x.strip()]
            full = generate(args.seed, long_length(args.seed) if length == -1 else length)
            o = differ.replay(args.seed, full, keep)
            print(differ.report(o, len(full)) if o.differs else
                  f"seed {args.seed}, ops {keep}: no difference")
            return 1 if o.differs else 0
        failures = 0
        total = runner.Summary()
        for k, seed in enumerate(runner.stream_seeds(args.seed, streams)):
            if args.time_limit and time.monotonic() - t0 > args.time_limit:
                print(f"time limit reached after {k} streams")
                break
            s = runner.run_many(differ, [seed], long_length(seed) if length == -1 else length,
                                shrink=not args.no_shrink, shrink_budget_s=args.shrink_budget,
                                stop_after=0, log=lambda m: print(m, flush=True))
            total.streams += s.streams
            total.ops += s.ops
            failures += len(s.failures)
            total.failed_seeds += s.failed_seeds
            if (k + 1) % 100 == 0:
                print(f"  {k + 1} streams, {total.ops} ops, {time.monotonic() - t0:.0f}s, "
                      f"{failures} differing", flush=True)
            if args.max_failures and failures >= args.max_failures:
                break
        took = time.monotonic() - t0
        print(f"{total.streams} streams, {total.ops} ops, {differ.requests} requests in "
              f"{took:.1f}s; {failures} differing streams"
              + (f": seeds {total.failed_seeds}" if failures else ""))
        return 1 if failures else 0
    finally:
        pair.close()


def long_length(seed: int) -> int:
    import random
    return random.Random(seed * 7919 + 1).randint(80, 200)


if __name__ == "__main__":
    sys.exit(main())
