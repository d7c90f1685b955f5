"""CLI for long differential runs (from compat-tests/):

    .venv/bin/python -m differential                      # the CI default set (300 streams)
    .venv/bin/python -m differential --streams 5000 --seed 7000 --long
    .venv/bin/python -m differential --seed 123 --keep 0,4,9   # replay a shrunk stream
    .venv/bin/python -m differential --seed 123 --show         # print a stream, run nothing

Environment: DIFF_SEED, DIFF_STREAMS, DIFF_KEEP, DIFF_LONG=1 (same as the flags);
FERROZK_BIN picks the ferrozk binary (default <repo>/target/release/ferrozk);
FERROZK_TARGET=zookeeper runs Apache ZooKeeper on both sides (a self-check: no difference
may show up). Exit status 1 if any stream differs (open ferrozk bugs from open_bugs.py
included).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import runner
from .gen import generate, long_length

DEFAULT_SEED = 1
DEFAULT_STREAMS = 300


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m differential", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=runner.env_int("DIFF_SEED", DEFAULT_SEED),
                    help="first stream seed (env DIFF_SEED); stream k uses seed+k")
    ap.add_argument("--streams", type=int, default=None,
                    help="number of streams (env DIFF_STREAMS; default 300, or 1 with --keep)")
    ap.add_argument("--long", action="store_true", default=os.environ.get("DIFF_LONG") == "1",
                    help="long streams (80-200 ops each) instead of the short CI ones (15-45)")
    ap.add_argument("--length", type=int, default=None, help="ops per stream (default: random)")
    ap.add_argument("--keep", default=os.environ.get("DIFF_KEEP") or None,
                    help="comma-separated op indices of the seed's stream to replay (env DIFF_KEEP)")
    ap.add_argument("--show", action="store_true", help="print the stream(s), run nothing")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--shrink-budget", type=float, default=120.0, help="seconds per difference")
    ap.add_argument("--max-failures", type=int, default=5,
                    help="stop after this many differing streams (0: never)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds, then stop")
    ap.add_argument("--coverage", action="store_true", help="print what the reference answered")
    args = ap.parse_args(argv)

    streams = args.streams or runner.env_int("DIFF_STREAMS", 1 if args.keep else DEFAULT_STREAMS)
    length = args.length if args.length is not None else (long_length if args.long else None)

    def length_for(seed):
        return length(seed) if callable(length) else length

    if args.show:
        for seed in runner.stream_seeds(args.seed, streams):
            ops = generate(seed, length_for(seed))
            print(f"# seed {seed}: {len(ops)} ops")
            for k, op in enumerate(ops):
                print(f"{k:4d}  {op.describe()}")
        return 0

    pair = runner.Pair()
    print(f"starting {runner.under_test_target()} and zookeeper 3.8 ...", flush=True)
    pair.start()
    print(f"  {pair.test_name}: {pair.test.hosts}  zookeeper: {pair.ref.hosts}", flush=True)
    differ = runner.Differ(pair, log=lambda m: print(m, flush=True))
    try:
        if args.keep:
            keep = [int(x) for x in args.keep.split(",") if x.strip()]
            full = generate(args.seed, length_for(args.seed))
            o = differ.replay(args.seed, full, keep)
            if o.differs:
                print(differ.report(o, len(full)))
                return 1
            print(f"seed {args.seed}, ops {keep}: no difference")
            return 0
        s = runner.run_many(differ, runner.stream_seeds(args.seed, streams), length,
                            shrink=not args.no_shrink, shrink_budget_s=args.shrink_budget,
                            stop_after=args.max_failures, log=lambda m: print(m, flush=True),
                            time_limit_s=args.time_limit, progress=100)
        if args.coverage:
            print("reference answers:\n" + runner.coverage_report(differ.coverage))
        print(f"{s.streams} streams, {s.ops} ops, {differ.requests} requests in {s.seconds:.1f}s "
              f"(server starts: {pair.starts}); {len(s.failures)} differing"
              + (f" (seeds {s.failed_seeds})" if s.failures else "")
              + f"; {len(s.known)} showing open ferrozk bugs"
              + (f" (seeds {s.known_seeds})" if s.known else ""))
        return 1 if (s.failures or s.known) else 0
    finally:
        pair.close()


if __name__ == "__main__":
    sys.exit(main())
