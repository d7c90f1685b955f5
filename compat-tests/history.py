"""Record histories of register operations and check them for linearizability with the
consensus crate's checker (the ``check_history`` binary, consensus/src/bin/check_history.rs,
which documents the JSON Lines format).

Each key (a znode path) is a register holding a string or nothing; every key starts
absent, so use fresh paths, and write a distinct value each time::

    h = History()
    t = h.invoke(process=1, op="write", key="/lin/3", value="p1-17")
    try:
        zk_create_or_set("/lin/3", b"p1-17")
        h.ok(t)
    except NoNodeError:                 # a definite failure: it had no effect
        h.fail(t)
    except (ConnectionLoss, KazooTimeoutError):
        h.info(t)                       # unknown: it may still take effect, later
    t = h.invoke(2, "read", "/lin/3")
    zk.sync("/lin/3"); data = zk.get("/lin/3")  ...; h.ok(t, value=data.decode())  # or None: absent
    h.assert_linearizable(tmp_path / "history.jsonl")

Operations: ``write`` (create-or-set), ``read`` (after sync; ``ok(t, value)`` with the
value read, ``None`` for absent), ``delete`` (``ok`` only if it removed an existing node;
record a ``NoNode`` answer as ``fail``, or better as a ``read`` of ``None``), ``cas``
(``setData`` with the version read together with ``expect``, or ``create`` when ``expect``
is ``None``). One attempt per operation: when a client retries, record each attempt.
Operations never completed by the time of ``dump`` count as unknown.

The binary: ``$FERROZK_CHECK_HISTORY`` if set, else ``<target>/release/check_history``
(``$CARGO_TARGET_DIR`` or ``<repo>/target``), built with cargo once per process when it is
missing or older than the crate's sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OPS = ("write", "read", "delete", "cas")
BUILD = ["cargo", "build", "--release", "-p", "ferrozk-consensus", "--features", "sim",
         "--bin", "check_history"]
BUILD_TIMEOUT_S = 900


@dataclass
class CheckResult:
    """What the checker said about one history file."""

    path: Path
    exit_code: int
    output: str

    @property
    def linearizable(self) -> bool:
        return self.exit_code == 0

    @property
    def conclusion(self) -> str:
        """'linearizable', 'not linearizable' or 'undecided' (search budget exhausted)."""
        return {0: "linearizable", 1: "not linearizable", 3: "undecided"}[self.exit_code]

    @property
    def summary(self) -> str:
        """The checker's last line: ops, keys, pending, dropped, result, time."""
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else ""

    def __bool__(self) -> bool:
        return self.linearizable


class History:
    """A thread-safe record of operations with their call and return times
    (``time.monotonic_ns``: one clock for every thread of this process)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ops: list[dict] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def invoke(self, process, op: str, key: str, value: str | None = None, *,
               expect: str | None = None) -> int:
        """Records the call of an operation (just before sending it); returns its handle.

        ``value``: what a write or cas stores (a str); None for read and delete.
        ``expect``: for cas only, the value it requires (None: absent, a create).
        """
        if op not in OPS:
            raise ValueError(f"op must be one of {OPS}, not {op!r}")
        if op in ("write", "cas") and not isinstance(value, str):
            raise ValueError(f"{op} needs a str value, not {value!r}")
        if op in ("read", "delete") and value is not None:
            raise ValueError(f"{op} takes no value at invoke (a read's value goes to ok())")
        if isinstance(process, bool) or not isinstance(process, (int, str)):
            raise ValueError(f"process must be an int or a str, not {process!r}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, not {key!r}")
        rec = {"process": process, "key": key, "op": op}
        if op in ("write", "cas"):
            rec["value"] = value
        if op == "cas":
            rec["expect"] = expect
        with self._lock:
            rec["call"] = time.monotonic_ns()
            rec["return"] = None
            rec["ok"] = None
            self._ops.append(rec)
            return len(self._ops) - 1

    def _complete(self, handle: int, ok: bool | None, **fields):
        now = time.monotonic_ns()
        with self._lock:
            rec = self._ops[handle]
            if rec["return"] is not None:
                raise ValueError(f"operation {handle} ({rec['op']} {rec['key']}) completed twice")
            rec["return"] = now
            rec["ok"] = ok
            rec.update(fields)

    def ok(self, handle: int, value: str | None = None):
        """It succeeded (call just after the answer arrived). For a read, ``value`` is what
        it read: a str, or None when the node was absent."""
        with self._lock:
            is_read = self._ops[handle]["op"] == "read"
        if is_read:
            if value is not None and not isinstance(value, str):
                raise ValueError(f"a read's value must be a str or None, not {value!r}")
            self._complete(handle, True, value=value)
        elif value is not None:
            raise ValueError("only a read reports a value in ok()")
        else:
            self._complete(handle, True)

    def fail(self, handle: int, error: str | None = None):
        """It definitely had no effect (e.g. NoNode, NodeExists, BadVersion)."""
        self._complete(handle, False, **({"error": error} if error else {}))

    def info(self, handle: int, error: str | None = None):
        """Its outcome is unknown (timeout, connection loss): it may take effect at any
        point after its call, however late, or never."""
        self._complete(handle, None, **({"error": error} if error else {}))

    def dump(self, path) -> Path:
        """Writes the history as JSON Lines, in invocation order."""
        path = Path(path)
        with self._lock:
            lines = [json.dumps(rec, separators=(",", ":")) for rec in self._ops]
        path.write_text("".join(line + "\n" for line in lines))
        return path

    def check(self, path, steps_max: int | None = None) -> CheckResult:
        """Dumps the history to ``path`` (kept for a post-mortem) and checks it."""
        return check_file(self.dump(path), steps_max)

    def assert_linearizable(self, path, steps_max: int | None = None) -> CheckResult:
        """Like check(), but raises AssertionError with the checker's explanation."""
        r = self.check(path, steps_max)
        if not r.linearizable:
            raise AssertionError(f"history {r.path} is {r.conclusion}:\n{r.output}")
        return r


def check_file(path, steps_max: int | None = None) -> CheckResult:
    """Runs the checker on a history file. Raises ValueError when the file is malformed
    (a recording bug), naming the line."""
    cmd = [str(checker_binary()), str(path)]
    if steps_max is not None:
        cmd[1:1] = ["--steps-max", str(steps_max)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    output = p.stdout + p.stderr
    if p.returncode == 2:
        raise ValueError(f"check_history rejected {path}:\n{output}")
    if p.returncode not in (0, 1, 3):
        raise RuntimeError(f"check_history failed on {path} (exit {p.returncode}):\n{output}")
    return CheckResult(Path(path), p.returncode, output)


_binary_lock = threading.Lock()
_binary: Path | None = None


def _target_dir() -> Path:
    t = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return t if t.is_absolute() else REPO / t


def _sources_mtime() -> float:
    crate = REPO / "consensus"
    files = [REPO / "Cargo.lock", crate / "Cargo.toml", *(crate / "src").rglob("*.rs")]
    return max(f.stat().st_mtime for f in files if f.exists())


def can_check() -> bool:
    """Whether checker_binary() can work here (a binary, or cargo to build one)."""
    return bool(os.environ.get("FERROZK_CHECK_HISTORY") or shutil.which("cargo")
                or (_target_dir() / "release" / "check_history").exists())


def checker_binary() -> Path:
    """The check_history binary, built (once per process) when missing or stale."""
    global _binary
    with _binary_lock:
        if _binary is not None:
            return _binary
        env = os.environ.get("FERROZK_CHECK_HISTORY")
        if env:
            _binary = Path(env)
            return _binary
        exe = _target_dir() / "release" / "check_history"
        fresh = exe.exists() and exe.stat().st_mtime >= _sources_mtime()
        if not fresh and shutil.which("cargo"):
            p = subprocess.run(BUILD, cwd=REPO, capture_output=True, text=True,
                               timeout=BUILD_TIMEOUT_S)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(BUILD)} failed:\n{p.stderr[-4000:]}")
        if not exe.exists():
            raise RuntimeError(f"no checker at {exe} and no cargo to build it "
                               f"({' '.join(BUILD)}); or set FERROZK_CHECK_HISTORY")
        _binary = exe
        return _binary
