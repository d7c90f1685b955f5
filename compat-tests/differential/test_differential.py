"""Differential test: seeded random operation streams against the server under test and
Apache ZooKeeper 3.8 side by side (see __init__.py for the parts).

CI default: 500 short streams (seeds 1..500, 15-45 ops each, 2-4 sessions) in chunks of
100, against one pair of servers started here. On a difference the stream is shrunk to the
shortest prefix that still shows it (then single ops are dropped), and the failure prints
the seed, the ops kept, how to replay them, and both servers' transcripts side by side.

  DIFF_STREAMS=N   number of streams (default 500)
  DIFF_SEED=S      first seed (default 1); stream k uses S+k
  DIFF_LONG=1      long streams (80-200 ops)
  FERROZK_BIN      the ferrozk binary; FERROZK_TARGET=zookeeper runs ZooKeeper on both
                   sides (a self-check of the harness: no difference may show up)

For thousands of streams use the CLI: `.venv/bin/python -m differential --help`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from differential import runner
from differential.gen import long_length

CI_STREAMS = 500
CHUNK = 100
SHRINK_BUDGET_S = 60.0

STREAMS = runner.env_int("DIFF_STREAMS", CI_STREAMS)
FIRST_SEED = runner.env_int("DIFF_SEED", 1)
LENGTH = long_length if os.environ.get("DIFF_LONG") == "1" else None


def chunk_seeds(k: int) -> list[int]:
    seeds = runner.stream_seeds(FIRST_SEED, STREAMS)
    return seeds[k * CHUNK:(k + 1) * CHUNK]


@pytest.fixture(scope="module")
def differ(tmp_path_factory):
    if not Path("/usr/share/java/zookeeper.jar").exists():
        pytest.skip("Apache ZooKeeper (Debian package zookeeper) is not installed")
    pair = runner.Pair(tmp_path_factory.mktemp("differential"))
    pair.start()
    d = runner.Differ(pair, log=lambda m: print(m, flush=True))
    yield d
    pair.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("chunk", range(max(1, math.ceil(STREAMS / CHUNK))))
def test_streams_answer_as_zookeeper(differ, chunk):
    seeds = chunk_seeds(chunk)
    s = runner.run_many(differ, seeds, LENGTH, shrink_budget_s=SHRINK_BUDGET_S, stop_after=1)
    print(f"seeds {seeds[0]}..{seeds[-1]}: {s.streams} streams, {s.ops} ops in {s.seconds:.1f}s")
    if s.failures:
        pytest.fail(
            f"{differ.pair.test_name} answered differently from ZooKeeper 3.8 "
            f"(seeds {seeds[0]}..{seeds[-1]}):\n\n" + "\n\n".join(s.failures), pytrace=False)
    if s.known:
        for rep in s.known:
            print(rep)
        heads = ["\n".join(rep.splitlines()[:3]) for rep in s.known]
        pytest.xfail(f"{len(s.known)} streams show open ferrozk bugs (open_bugs.py; full "
                     "transcripts with -rP or the CLI):\n" + "\n".join(heads))


def test_streams_covered_enough(differ):
    """The streams run above must have exercised what the generator is meant to cover
    (checked on the reference's answers)."""
    c = differ.coverage
    if differ.streams < 100:
        pytest.skip("fewer than 100 streams ran in this session")
    missing = [k for k in (
        "create err=0", "create err=-101", "create err=-110", "create err=-108",
        "create err=-8", "create err=-114", "create err=-102", "create2 err=0",
        "createContainer err=0", "createTTL err=0", "createTTL err=-8",
        "delete err=0", "delete err=-103", "delete err=-111", "delete err=-102",
        "setData err=0", "setData err=-103", "setACL err=0", "getACL err=0", "getACL err=-102",
        "getData err=0", "getData err=-102", "exists err=0", "exists err=-101",
        "getChildren err=0", "getChildren2 err=0", "multi succeeded", "multi failed",
        "multi err=-5", "multiRead err=0", "auth err=0", "auth err=-115", "sync err=0",
        "getEphemerals err=0", "getAllChildrenNumber err=0", "addWatch err=0",
        "removeWatches err=0", "checkWatches err=-121", "whoAmI err=0", "closeSession err=0",
        "event type=1", "event type=2", "event type=3", "event type=4", "resume",
    ) if c[k] == 0]
    assert not missing, f"never answered: {missing}\n{runner.coverage_report(c)}"
