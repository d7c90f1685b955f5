"""Both servers, one stream on both at once, the comparison, and shrinking."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import normalise, open_bugs
from .execute import Entry, run_side
from .gen import SUPER_DIGEST, Op, generate

import zkharness  # noqa: E402  (compat-tests/ is on sys.path, see __init__.py)

# kazoo (used by zkharness to see that a server is up) reports dropped connections loudly.
logging.getLogger("kazoo").setLevel(logging.ERROR)

# Containers and TTL nodes must not be reaped in the middle of a run (the reaper's txns
# would take zxids at different moments on the two servers), so the check runs once a day.
CONTAINER_CHECK_MS = 86_400_000
EXTRA_CFG = {
    "forceSync": "no",
    "znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS),
    "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
}


class DiffServer(zkharness.Server):
    """zkharness.Server with a fixed target (ferrozk or zookeeper) whatever FERROZK_TARGET
    says, and the container check period passed to the JVM (it is a system property there,
    a zoo.cfg key for ferrozk)."""

    def __init__(self, workdir: Path, target: str):
        super().__init__(workdir, EXTRA_CFG)
        self.target = target

    def command(self) -> list[str]:
        cmd = super().command()
        if self.target == "zookeeper":
            at = cmd.index("-cp")
            cmd[at:at] = [f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_MS}",
                          f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"]
        return cmd


def under_test_target() -> str:
    """The server under test: ferrozk, unless FERROZK_TARGET=zookeeper (then both sides are
    Apache ZooKeeper, which checks the harness itself: it must find no difference)."""
    return zkharness.target()


class Pair:
    """The server under test and the reference (Apache ZooKeeper 3.8), each on its own free
    loopback port with a fresh data directory."""

    def __init__(self, workdir: Path | None = None):
        self._own_tmp = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ferrozk-diff-"))
        self.test: DiffServer | None = None
        self.ref: DiffServer | None = None
        self.starts = 0
        self.test_name = under_test_target()
        self.ref_name = "zookeeper-3.8"

    def start(self):
        # Started one after the other from the calling thread: zkharness asks the kernel to
        # kill a server when the thread that started it ends (PR_SET_PDEATHSIG).
        self.starts += 1
        gen = self.workdir / f"run{self.starts}"
        # Keep the previous run's directory (its logs may go into a report), not older ones.
        shutil.rmtree(self.workdir / f"run{self.starts - 2}", ignore_errors=True)
        self.test = DiffServer(gen / "test", under_test_target())
        self.ref = DiffServer(gen / "ref", "zookeeper")
        try:
            self.ref.start()
            self.test.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for srv in (self.test, self.ref):
            if srv is not None:
                srv.stop()

    def restart(self):
        self.stop()
        self.start()

    def alive(self) -> bool:
        return bool(self.test and self.ref and self.test.alive() and self.ref.alive())

    def close(self):
        self.stop()
        if self._own_tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tails(self, lines: int = 30) -> str:
        out = []
        for name, srv in ((self.test_name, self.test), (self.ref_name, self.ref)):
            if srv is not None:
                state = "running" if srv.alive() else "NOT RUNNING"
                out.append(f"--- {name} log tail ({state}, {srv.log_path})\n{srv.log_tail(lines)}")
        return "\n".join(out)


@dataclass
class Outcome:
    seed: int
    keep: list[int]                    # indices of the generated stream that were run
    ops: list[Op]
    test_lines: list[normalise.Line]
    ref_lines: list[normalise.Line]
    mismatch: normalise.Mismatch | None
    fault: bool
    requests: int
    died: bool = False

    @property
    def differs(self) -> bool:
        return self.mismatch is not None or self.died

    def open_bug(self) -> str | None:
        """The open ferrozk bug (open_bugs.py) the first difference is, if any."""
        m = self.mismatch
        if m is None or self.died or m.j >= len(self.ref_lines) or m.i >= len(self.test_lines):
            return None
        return open_bugs.classify(self.ref_lines[m.j].text, self.test_lines[m.i].text)

    def first_op_kind(self) -> str | None:
        if self.mismatch is None:
            return None
        k = self.mismatch.op
        return self.ops[k].kind if k < len(self.ops) else "end"


class Differ:
    """Runs streams on a Pair and shrinks the ones that differ."""

    def __init__(self, pair: Pair, log=print):
        self.pair = pair
        self.log = log
        self.runs = 0
        self.streams = 0
        self.requests = 0
        self.coverage: Counter = Counter()
        self.last_ref_entries: list[Entry] = []

    def root_for(self, seed: int) -> str:
        self.runs += 1
        return f"/d{seed}" if self.runs == 1 else f"/d{seed}r{self.runs}"

    def run(self, seed: int, ops: list[Op], keep: list[int], root: str | None = None) -> Outcome:
        if not self.pair.alive():
            self.pair.restart()
        root = root or self.root_for(seed)
        results: dict[str, tuple] = {}

        def side(name, port):
            results[name] = run_side(port, root, ops)

        threads = [threading.Thread(target=side, args=(n, srv.port), daemon=True)
                   for n, srv in (("test", self.pair.test), ("ref", self.pair.ref))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("a side did not finish within 300 s (every read is bounded, so "
                               "this is a harness bug)")
        t_entries, t_fault, t_req = results["test"]
        r_entries, r_fault, r_req = results["ref"]
        self.last_ref_entries = r_entries
        close_ops = {k for k, op in enumerate(ops) if op.kind == "close"} | {len(ops)}
        test_lines = normalise.render(t_entries, root, close_ops)
        ref_lines = normalise.render(r_entries, root, close_ops)
        if self.pair.test_name == "ferrozk":
            test_lines += notification_zxid_check(t_entries)
        mismatch = normalise.compare(test_lines, ref_lines)
        died = not self.pair.alive()
        self.requests += t_req + r_req
        out = Outcome(seed, keep, ops, test_lines, ref_lines, mismatch, t_fault or r_fault,
                      t_req, died)
        if out.fault or died:
            # A connection broke or a server died: start both afresh for what follows.
            self.pair.restart()
        return out

    def stream(self, seed: int, length: int | None = None) -> Outcome:
        self.streams += 1
        ops = generate(seed, length)
        self.runs = 0
        out = self.run(seed, ops, list(range(len(ops))))
        tally(self.last_ref_entries, self.coverage)
        return out

    # ---- shrinking ---------------------------------------------------------------------
    def replay(self, seed: int, full: list[Op], keep: list[int]) -> Outcome:
        return self.run(seed, [full[k] for k in keep], keep)

    def shrink(self, first: Outcome, budget_s: float = 90.0, max_runs: int = 400) -> Outcome:
        """Shortest prefix that still differs (binary search on its length), then drops
        single ops while the difference stays (same kind of op at the first difference)."""
        deadline = time.monotonic() + budget_s
        full = first.ops
        kind = first.first_op_kind()
        best = first
        runs = 0

        def still(o: Outcome) -> bool:
            return o.differs and (o.first_op_kind() == kind or o.died)

        def budget_left() -> bool:
            return time.monotonic() < deadline and runs < max_runs

        hi = len(full)
        if first.mismatch is not None and first.mismatch.op < len(full):
            cand = list(range(first.mismatch.op + 1))
            o = self.replay(first.seed, full, cand)
            runs += 1
            if still(o):
                best, hi = o, len(cand)
        lo = 1
        while lo < hi and budget_left():
            mid = (lo + hi) // 2
            o = self.replay(first.seed, full, list(range(mid)))
            runs += 1
            if still(o):
                best, hi = o, mid
            else:
                lo = mid + 1
        keep = list(best.keep)
        changed = True
        while changed and budget_left():
            changed = False
            for pos in range(len(keep) - 1, -1, -1):
                if not budget_left():
                    break
                cand = keep[:pos] + keep[pos + 1:]
                if not cand:
                    continue
                o = self.replay(first.seed, full, cand)
                runs += 1
                if still(o):
                    best, keep, changed = o, cand, True
        self.log(f"shrunk seed {first.seed} from {len(first.keep)} to {len(best.keep)} ops "
                 f"in {runs} replays")
        return best

    def report(self, o: Outcome, full_len: int | None = None) -> str:
        ops = o.ops
        desc = {k: f"{op.describe()}   [stream op {o.keep[k]}]" for k, op in enumerate(ops)}
        desc[-1] = "preamble: S0 creates the stream root /R"
        lines = [
            f"DIFFERENCE: seed {o.seed}, {len(ops)} ops"
            + (f" (of {full_len})" if full_len else "")
            + (f", first difference at op {o.mismatch.op}" if o.mismatch else "")
            + (" -- A SERVER DIED" if o.died else ""),
            f"replay: DIFF_SEED={o.seed} DIFF_KEEP={','.join(map(str, o.keep))} "
            f"python -m differential --seed {o.seed} --keep {','.join(map(str, o.keep))}",
            "stream:",
        ]
        lines += [f"  {k:3d}  {desc[k]}" for k in range(len(ops))]
        lines.append(f"transcripts ({self.pair.ref_name} vs {self.pair.test_name}; '!!' marks "
                     "differences):")
        lines.append(normalise.side_by_side(o.test_lines, o.ref_lines, self.pair.test_name,
                                            self.pair.ref_name, desc))
        return "\n".join(lines)


def notification_zxid_check(entries: list[Entry]) -> list[normalise.Line]:
    """Intentional difference 1 is not compared, so it is checked here on ferrozk alone: a
    notification carries the zxid of the txn that fired it (a zxid some reply showed), and
    an event made up by SetWatches carries -1. Each violation becomes an extra line, which
    the reference does not have."""
    seen = {e.data["zxid"] for e in entries if e.kind in ("reply", "ping", "setwatches")}
    out = []
    for k, e in enumerate(entries):
        if e.kind != "event":
            continue
        nxt = next((x for x in entries[k + 1:] if x.sess == e.sess and x.kind != "event"), None)
        made_up = nxt is not None and nxt.kind == "setwatches"
        z = e.data["zxid"]
        if (made_up and z != -1) or (not made_up and (z <= 0 or z not in seen)):
            out.append(normalise.Line(e.op, f"S{e.sess} NOTIFICATION ZXID {z} for event type "
                                            f"{e.data['type']} {e.data['path']} is not "
                                            + ("-1 (SetWatches)" if made_up else "a txn's zxid")))
    return out


def tally(entries: list[Entry], c: Counter):
    """What the reference answered: (op name, error code) for replies, multi results,
    event types; so a run can show (and a test check) what it covered."""
    for e in entries:
        if e.kind == "reply":
            name = normalise.OPNAMES.get(e.data["opcode"], str(e.data["opcode"]))
            c[f"{name} err={e.data['err']}"] += 1
            if e.data["opcode"] == 14 and e.data["err"] == 0:
                res = e.data.get("body", {}).get("results", [])
                failed = any(r[0] == "error" and r[1] not in (0, -2) for r in res)
                c["multi failed" if failed else "multi succeeded"] += 1
        elif e.kind == "event":
            c[f"event type={e.data['type']}"] += 1
        elif e.kind in ("open", "resume", "closed"):
            c[e.kind] += 1
        elif e.kind == "setwatches":
            c[f"setWatches{'2' if e.data['opcode'] == 105 else ''} err={e.data['err']}"] += 1
            if sum(e.data["counts"]):
                c["setWatches with watches"] += 1


def coverage_report(c: Counter) -> str:
    return "\n".join(f"  {n:8d}  {k}" for k, n in sorted(c.items()))


def stream_seeds(base: int, count: int) -> list[int]:
    return [base + k for k in range(count)]


@dataclass
class Summary:
    streams: int = 0
    ops: int = 0
    requests: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    failed_seeds: list[int] = field(default_factory=list)
    known: list[str] = field(default_factory=list)       # reports of open ferrozk bugs
    known_seeds: list[int] = field(default_factory=list)


def run_many(differ: Differ, seeds: list[int], length=None, shrink: bool = True,
             shrink_budget_s: float = 90.0, stop_after: int = 1, log=print,
             time_limit_s: float | None = None, progress: int = 0) -> Summary:
    """Runs the streams; on a difference shrinks it and records the report. Stops after
    `stop_after` differing streams (0: never)."""
    s = Summary()
    t0 = time.monotonic()
    for seed in seeds:
        if time_limit_s is not None and time.monotonic() - t0 > time_limit_s:
            log(f"time limit reached after {s.streams} streams")
            break
        o = differ.stream(seed, length(seed) if callable(length) else length)
        s.streams += 1
        s.ops += len(o.ops)
        if progress and s.streams % progress == 0:
            log(f"  {s.streams} streams, {s.ops} ops, {time.monotonic() - t0:.0f}s, "
                f"{len(s.failures)} differing, {len(s.known)} open-bug")
        if o.differs:
            log(f"seed {seed}: difference at op {o.mismatch.op if o.mismatch else '?'}; shrinking")
            # The servers' trees now differ (and some reads, like the root's Stat, see the
            # whole tree): shrink on fresh servers, and go on with fresh ones.
            differ.pair.restart()
            small = differ.shrink(o, shrink_budget_s) if shrink else o
            differ.pair.restart()
            rep = differ.report(small, len(o.ops))
            if differ.pair.test and differ.pair.ref and (small.died or small.fault):
                rep += "\n" + differ.pair.log_tails()
            bug = small.open_bug()
            if bug is not None:
                rep = open_bugs.describe(bug) + "\n" + rep
                s.known.append(rep)
                s.known_seeds.append(seed)
                log(rep)
                continue
            s.failures.append(rep)
            s.failed_seeds.append(seed)
            log(rep)
            if stop_after and len(s.failures) >= stop_after:
                break
    s.requests = differ.requests
    s.seconds = time.monotonic() - t0
    return s


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    return int(v) if v else default
