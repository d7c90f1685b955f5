"""Loads for the ensemble fault tests: kazoo clients that write and read across a fault
while recording a linearizability history (history.py), the Java EnsembleLoad program,
and the checks made after the fault (every acknowledged write present on every server).

Writes are never retried here: a write whose answer is lost (ConnectionLoss, a timeout,
the session's connection closed by a leader change) is recorded as unknown (`info`), a
definite error answer as failed, an answer as ok. Reads are `sync` + `get` on one
connection and may fail freely (a failed read constrains nothing).
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    NoNodeError,
    NodeExistsError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from history import History
from zkharness import Ensemble, wait_until

# FERROZK_LONG_FAULTS=1: more rounds and longer loads (a nightly run, not CI).
LONG = os.environ.get("FERROZK_LONG_FAULTS", "").strip() not in ("", "0", "false", "no")

DEFINITE = (NoNodeError, NodeExistsError, BadVersionError)


def kazoo_client(hosts: str, timeout: float = 10.0, start: bool = True, **kwargs) -> KazooClient:
    """A kazoo client that reconnects forever (bounded by the tests' own deadlines) and
    retries nothing by itself: KazooClient's plain calls never retry; zk.retry() does, with
    command_retry."""
    kwargs.setdefault("connection_retry", KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
    kwargs.setdefault("command_retry", KazooRetry(max_tries=40, delay=0.05, max_delay=0.5,
                                                  deadline=60))
    zk = KazooClient(hosts=hosts, timeout=timeout, **kwargs)
    if start:
        zk.start(timeout=30)
    return zk


def close_client(zk: KazooClient):
    try:
        zk.stop()
        zk.close()
    except Exception:  # noqa: BLE001
        pass


class Clients:
    """Kazoo clients a test makes; all stopped at teardown."""

    def __init__(self):
        self.made: list[KazooClient] = []

    def __call__(self, hosts: str, **kwargs) -> KazooClient:
        zk = kazoo_client(hosts, start=False, **kwargs)
        self.made.append(zk)
        zk.start(timeout=30)
        return zk

    def close_all(self):
        for zk in self.made:
            close_client(zk)


@pytest.fixture
def clients():
    """kazoo clients a test opens; all closed when it ends."""
    c = Clients()
    yield c
    c.close_all()


def synced_get(zk: KazooClient, path: str, timeout: float = 20.0):
    """sync then get on the client's connection: a linearizable read."""
    zk.sync_async(path).get(timeout=timeout)
    return zk.get_async(path).get(timeout=timeout)


class Workload:
    """Kazoo clients (connect string `hosts`) that, until stopped, each loop over:
    setData of one of `keys` pre-created registers to a fresh value (history `write`),
    create of a fresh node under `acks` (its path kept if acknowledged), and a sync+get of
    a register (history `read`). One request at a time per client, no write retried."""

    def __init__(self, hosts: str, history: History, clients: int = 3, keys: int = 4,
                 prefix: str = "/lin", acks: str = "/acks", op_timeout: float = 20.0,
                 pace: float = 0.005, seed: int | None = None, name: str = "w"):
        self.hosts = hosts
        self.history = history
        self.n_clients = clients
        self.keys = [f"{prefix}/k{i}" for i in range(keys)]
        self.prefix = prefix
        self.acks = acks
        self.op_timeout = op_timeout
        self.pace = pace
        self.name = name
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked_creates: list[str] = []
        self.unknown_creates: list[str] = []
        # (call, return) monotonic seconds of acknowledged writes (sets and creates)
        self.write_oks: list[tuple[float, float]] = []
        self.errors: Counter = Counter()
        self.sessions: dict[int, tuple[int, int | None]] = {}  # client -> (first id, last id)
        self.states: dict[int, list[str]] = {}
        self.counts: Counter = Counter()
        self.threads: list[threading.Thread] = []
        self.clients: list[KazooClient] = []
        self.crashed: list[BaseException] = []
        self._next_process = 0

    def _process(self) -> int:
        with self.lock:
            self._next_process += 1
            return self._next_process

    def setup(self, zk: KazooClient):
        """Creates the registers (recorded as writes of 'init-<i>') and the acks node."""
        zk.ensure_path(self.prefix)
        zk.ensure_path(self.acks)
        for i, key in enumerate(self.keys):
            value = f"{self.name}-init-{i}"
            t = self.history.invoke("setup", "write", key, value)
            zk.create(key, value.encode())
            self.history.ok(t)

    def start(self):
        for c in range(self.n_clients):
            zk = kazoo_client(self.hosts, start=False)
            states: list[str] = []
            zk.add_listener(lambda s, states=states: states.append(str(s)))
            zk.start(timeout=30)
            self.clients.append(zk)
            self.states[c] = states
            self.sessions[c] = (zk.client_id[0], None)
        for c, zk in enumerate(self.clients):
            th = threading.Thread(target=self._run, args=(c, zk), name=f"load-{c}", daemon=True)
            self.threads.append(th)
            th.start()

    def _run(self, c: int, zk: KazooClient):
        rng = random.Random(self.rng.random())
        process = self._process()
        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                r = rng.random()
                if r < 0.4:
                    process = self._write(zk, process, rng.choice(self.keys), f"{self.name}-c{c}-{n}")
                elif r < 0.6:
                    process = self._create(zk, process, f"{self.acks}/{self.name}-c{c}-{n:06d}")
                else:
                    process = self._read(zk, process, rng.choice(self.keys))
                if self.pace:
                    time.sleep(self.pace)
        except BaseException as exc:  # noqa: BLE001
            self.crashed.append(exc)
        finally:
            with self.lock:
                self.sessions[c] = (self.sessions[c][0], zk.client_id[0] if zk.client_id else None)

    def _note(self, exc: BaseException):
        with self.lock:
            self.errors[type(exc).__name__] += 1

    def _write(self, zk, process, key, value):
        h = self.history
        call = time.monotonic()
        t = h.invoke(process, "write", key, value)
        try:
            zk.set_async(key, value.encode()).get(timeout=self.op_timeout)
        except DEFINITE as exc:
            h.fail(t, type(exc).__name__)
            self._note(exc)
            return process
        except KazooTimeoutError as exc:
            # Still in flight: this process may not invoke again; a new one goes on.
            h.info(t, "client timeout")
            self._note(exc)
            return self._process()
        except Exception as exc:  # noqa: BLE001 - ConnectionLoss, SessionExpired, closed
            h.info(t, type(exc).__name__)
            self._note(exc)
            time.sleep(0.05)
            return process
        h.ok(t)
        with self.lock:
            self.write_oks.append((call, time.monotonic()))
            self.counts["write ok"] += 1
        return process

    def _create(self, zk, process, path):
        call = time.monotonic()
        try:
            zk.create_async(path, b"x").get(timeout=self.op_timeout)
        except KazooTimeoutError as exc:
            self._note(exc)
            with self.lock:
                self.unknown_creates.append(path)
            return process
        except Exception as exc:  # noqa: BLE001
            self._note(exc)
            with self.lock:
                self.unknown_creates.append(path)
            time.sleep(0.05)
            return process
        with self.lock:
            self.acked_creates.append(path)
            self.write_oks.append((call, time.monotonic()))
            self.counts["create ok"] += 1
        return process

    def _read(self, zk, process, key):
        h = self.history
        t = h.invoke(process, "read", key)
        try:
            data, _ = synced_get(zk, key, self.op_timeout)
        except KazooTimeoutError as exc:
            h.fail(t, "client timeout")
            self._note(exc)
            return self._process()
        except Exception as exc:  # noqa: BLE001
            h.fail(t, type(exc).__name__)
            self._note(exc)
            time.sleep(0.05)
            return process
        h.ok(t, value=data.decode())
        with self.lock:
            self.counts["read ok"] += 1
        return process

    def stop(self, timeout: float = 60.0):
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, deadline - time.monotonic()))
        alive = [th.name for th in self.threads if th.is_alive()]
        # kazoo reports LOST when stop() ends a session: keep the states from before.
        self.states = {c: list(states) for c, states in self.states.items()}
        for zk in self.clients:
            close_client(zk)
        assert not alive, f"load threads still running {timeout}s after stop: {alive}"
        if self.crashed:
            raise self.crashed[0]

    def first_write_after(self, t: float) -> float | None:
        """When the first write invoked at or after monotonic time t was acknowledged."""
        with self.lock:
            done = [r for c, r in self.write_oks if c >= t]
        return min(done) if done else None

    def wait_writes_after(self, t: float, count: int = 1, timeout: float = 30.0):
        """Waits until `count` writes invoked after t are acknowledged."""
        def enough():
            with self.lock:
                return sum(1 for c, _ in self.write_oks if c >= t) >= count
        wait_until(enough, timeout, interval=0.05, what=f"{count} writes acknowledged after the fault")

    def sessions_kept(self) -> dict[int, tuple[int, int | None]]:
        """Clients whose session changed (or was lost) during the run: should be none."""
        lost = {c: s for c, s in self.sessions.items() if s[0] != s[1]}
        for c, states in self.states.items():
            if "LOST" in states:
                lost.setdefault(c, self.sessions[c])
        return lost

    def summary(self) -> str:
        return (f"{dict(self.counts)}, errors {dict(self.errors)}, "
                f"{len(self.acked_creates)} creates acked, {len(self.unknown_creates)} unknown")


def children_everywhere(ens: Ensemble, path: str, ids=None, timeout: float = 60.0) -> dict[int, set[str]]:
    """The children of path on each server (default: the live ones), each read by a client
    connected to that server only, after a sync."""
    out = {}
    for sid in (ens.live_ids() if ids is None else ids):
        zk = kazoo_client(ens[sid].hosts)
        try:
            def read():
                zk.sync(path)
                return (set(zk.get_children(path)),)  # a tuple: truthy even when empty
            out[sid] = wait_until(read, timeout, interval=0.2,
                                  what=f"children of {path} on server.{sid}")[0]
        finally:
            close_client(zk)
    return out


def assert_present_everywhere(ens: Ensemble, parent: str, paths, ids=None):
    """Every path in paths (children of parent) exists on every server in ids."""
    names = {p.rsplit("/", 1)[1] for p in paths}
    for sid, kids in children_everywhere(ens, parent, ids).items():
        missing = sorted(names - kids)
        assert not missing, (f"server.{sid} lacks {len(missing)} of {len(names)} acknowledged "
                             f"creates under {parent}, e.g. {missing[:5]}")


def final_reads(ens: Ensemble, history: History, keys, ids=None):
    """A sync+get of every key on every server, recorded as reads after everything."""
    for sid in (ens.live_ids() if ids is None else ids):
        zk = kazoo_client(ens[sid].hosts)
        try:
            for key in keys:
                t = history.invoke(f"final-s{sid}", "read", key)
                data, _ = zk.retry(synced_get, zk, key)
                history.ok(t, value=data.decode())
        finally:
            close_client(zk)


# ----------------------------------------------------------------------------- Java load


class JavaLoad:
    """java EnsembleLoad: one Java client session writing for `seconds` (see its source)."""

    def __init__(self, classes: Path, run_classpath: str, hosts: str, prefix: str,
                 seconds: float = 600, session_timeout_ms: int = 10000, log_dir: Path | None = None):
        self.cmd = [
            "java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
            "-Dzookeeper.sasl.client=false",
            "-Dzookeeper.request.timeout=15000",
            "-cp", f"{classes}:{run_classpath}",
            "EnsembleLoad", hosts, prefix, str(seconds), str(session_timeout_ms),
        ]
        self.prefix = prefix
        self.seconds = seconds
        self.lines: list[str] = []
        self.stderr_path = (log_dir or Path("/tmp")) / f"java-load-{os.getpid()}-{id(self)}.err"
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "JavaLoad":
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._err,
                                     stdin=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def _has(self, prefix: str) -> bool:
        with self._lock:
            return any(line.startswith(prefix) for line in self.lines)

    def wait_ready(self, timeout: float = 60.0):
        def ready():
            if self.proc.poll() is not None and not self._has("READY"):
                raise AssertionError(f"EnsembleLoad exited {self.proc.returncode}:\n{self.output()}")
            return self._has("READY") and self._has("ACK ")
        wait_until(ready, timeout, interval=0.1, what="the Java load to start writing")

    def stop(self):
        """Ends the load (a line "stop" on its stdin)."""
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def join(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"EnsembleLoad still running {timeout}s after its end:\n{self.output()}")
        self._reader.join(10)
        self._err.close()
        return code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if getattr(self, "_err", None):
            self._err.close()

    def output(self, last: int = 40) -> str:
        with self._lock:
            out = "\n".join(self.lines[-last:])
        try:
            err = "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            err = ""
        return f"{out}\n--- stderr ---\n{err}"

    def parsed(self) -> dict:
        """Acknowledged creates and sets, unknowns, (call, ack) times, sessions, END."""
        acked_creates, acked_sets, unknown_sets, ack_times = [], [], [], []
        sessions, end = [], None
        counts = Counter()
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            f = line.split()
            if not f:
                continue
            counts[f[0]] += 1
            if f[0] == "ACK" and f[1] == "create":
                acked_creates.append(f[2])
                ack_times.append((int(f[5]) / 1000.0, int(f[3]) / 1000.0))
            elif f[0] == "ACK" and f[1] == "set":
                acked_sets.append(int(f[2]))
                ack_times.append((int(f[5]) / 1000.0, int(f[3]) / 1000.0))
            elif f[0] == "UNKNOWN" and f[1] == "set":
                unknown_sets.append(int(f[2]))
            elif f[0] == "SESSION":
                sessions.append(f[1])
            elif f[0] == "END":
                end = f
                sessions.append(f[1])
        return {"acked_creates": acked_creates, "acked_sets": acked_sets,
                "unknown_sets": unknown_sets, "ack_times": ack_times, "sessions": sessions,
                "end": end, "counts": counts}

    def first_ack_after(self, wall: float) -> float | None:
        """When the first write invoked at or after wall (time.time()) was acknowledged.
        (Milliseconds: a call in the same millisecond as wall counts.)"""
        later = [ack for call, ack in self.parsed()["ack_times"] if call >= int(wall * 1000) / 1000.0]
        return min(later) if later else None


# ----------------------------------------------------------------------------- both loads


class Load:
    """The kazoo Workload (recording `history`) and, optionally, the Java EnsembleLoad,
    started together before a fault and checked together after it."""

    def __init__(self, ens: Ensemble, tmp_path: Path, java_classes: Path | None = None,
                 run_classpath: str | None = None, clients: int = 3, keys: int = 4,
                 hosts: str | None = None):
        self.ens = ens
        self.tmp_path = tmp_path
        self.hosts = hosts or ens.hosts
        self.history = History()
        self.work = Workload(self.hosts, self.history, clients=clients, keys=keys)
        self.java = None
        if java_classes is not None:
            self.java = JavaLoad(java_classes, run_classpath, self.hosts, "/java", seconds=150,
                                 log_dir=tmp_path)
        self.report: dict = {}

    def start(self, min_writes: int = 20) -> "Load":
        t0 = time.monotonic()
        zk = kazoo_client(self.hosts)
        try:
            self.work.setup(zk)
        finally:
            close_client(zk)
        if self.java is not None:
            self.java.start()
        self.work.start()
        if self.java is not None:
            self.java.wait_ready()
        self.work.wait_writes_after(t0, min_writes)
        return self

    def kill(self):
        """Stops the load without checks (teardown after a failure)."""
        self.work.stop_event.set()
        if self.java is not None:
            self.java.kill()

    def failover(self, t_mono: float, t_wall: float, timeout: float = 30.0) -> dict:
        """Waits for writes after a fault at t_mono (time.monotonic) / t_wall (time.time);
        returns the seconds from the fault to the first acknowledged write invoked after it,
        for the kazoo clients and for the Java client."""
        self.work.wait_writes_after(t_mono, 5, timeout)
        out = {"kazoo": self.work.first_write_after(t_mono) - t_mono}
        if self.java is not None:
            wait_until(lambda: self.java.first_ack_after(t_wall), timeout, interval=0.05,
                       what="the Java client's first write after the fault")
            out["java"] = self.java.first_ack_after(t_wall) - t_wall
        return out

    def stop_and_verify(self, ids=None, name: str = "history") -> dict:
        """Stops the loads and checks: every server in ids (default: all) converged to the
        same tree; every acknowledged create is on each; the Java client kept its session
        and its last acknowledged setData is not lost; the kazoo clients kept their
        sessions; the history (with a final read of every key on every server) is
        linearizable."""
        ens = self.ens
        ids = ens.ids if ids is None else list(ids)
        self.work.stop()
        java = None
        if self.java is not None:
            self.java.stop()
            code = self.java.join(60)
            java = self.java.parsed()
            assert code == 0 and java["end"], \
                f"EnsembleLoad exited {code} (3: its session expired):\n{self.java.output()}"
            assert len(set(java["sessions"])) == 1, f"Java session changed: {java['sessions']}"
            assert java["acked_creates"] and java["acked_sets"], self.java.output()
        ens.wait_converged(ids=ids, timeout=60)
        assert_present_everywhere(ens, self.work.acks, self.work.acked_creates, ids)
        if java is not None:
            assert_present_everywhere(ens, "/java", java["acked_creates"], ids)
            last = max(java["acked_sets"])
            for sid in ids:
                zk = kazoo_client(ens[sid].hosts)
                try:
                    value = int(zk.retry(synced_get, zk, "/java/k")[0].decode())
                finally:
                    close_client(zk)
                assert value == last or (value > last and value in java["unknown_sets"]), (
                    f"server.{sid}: /java/k is {value}, the last acknowledged set was {last} "
                    f"(unknown: {java['unknown_sets']})")
        lost = self.work.sessions_kept()
        assert not lost, f"kazoo clients lost or changed their session: {lost}"
        final_reads(ens, self.history, self.work.keys, ids)
        result = self.history.assert_linearizable(self.tmp_path / f"{name}.jsonl")
        self.report = {
            "kazoo": self.work.summary(),
            "java": dict(java["counts"]) if java else None,
            "history": result.summary,
        }
        ens.assert_no_divergence()
        return self.report
