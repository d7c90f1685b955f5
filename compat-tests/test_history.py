"""The bridge from recorded histories to the consensus crate's linearizability checker
(history.py + the check_history binary), on small histories built here: no server."""

from __future__ import annotations

import json
import threading

import pytest

import history
from history import History


pytestmark = pytest.mark.skipif(not history.can_check(),
                                reason="no check_history binary and no cargo to build it")


def test_concurrent_recording_is_linearizable(tmp_path):
    """Threads share one History; each does its own writes to its own key, then reads
    everyone's keys: a history a correct register produces."""
    h = History()
    store: dict[str, str] = {}
    store_lock = threading.Lock()  # the "server": one lock makes every op atomic

    def worker(p: int):
        for i in range(50):
            key = f"/lin/{p}"
            t = h.invoke(p, "write", key, f"p{p}-{i}")
            with store_lock:
                store[key] = f"p{p}-{i}"
            h.ok(t)
            other = f"/lin/{(p + 1) % 4}"
            t = h.invoke(p, "read", other)
            with store_lock:
                seen = store.get(other)
            h.ok(t, value=seen)

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # An unknown outcome and a definite failure count as the model says.
    h.info(h.invoke(9, "write", "/lin/0", "maybe"), error="ConnectionLoss")
    h.fail(h.invoke(9, "delete", "/lin/none"), error="NoNode")
    h.invoke(9, "write", "/lin/1", "never-answered")  # still open at dump: unknown

    r = h.assert_linearizable(tmp_path / "ok.jsonl")
    assert r.conclusion == "linearizable"
    assert r.summary.startswith("check_history: 403 ops, 5 keys, 402 checked (2 pending), 1 dropped: "), r.output
    first = json.loads((tmp_path / "ok.jsonl").read_text().splitlines()[0])
    assert set(first) == {"process", "key", "op", "value", "call", "return", "ok"}


def test_stale_read_and_read_of_failed_write_are_caught(tmp_path):
    h = History()
    t = h.invoke(1, "write", "/stale", "a")
    h.ok(t)
    t = h.invoke(1, "write", "/stale", "b")
    h.ok(t)
    t = h.invoke(2, "read", "/stale")
    h.ok(t, value="a")  # stale: "b" was acknowledged before this read began
    t = h.invoke(1, "write", "/failed", "x")
    h.fail(t, error="NodeExists")
    t = h.invoke(2, "read", "/failed")
    h.ok(t, value="x")  # the failed write had no effect

    r = h.check(tmp_path / "bad.jsonl")
    assert not r and r.conclusion == "not linearizable"
    assert 'key "/stale": not linearizable' in r.output
    assert 'line 3: process 2 read -> "a"' in r.output
    assert '("x" is written only by failed ops, line 4)' in r.output
    with pytest.raises(AssertionError, match=r"is not linearizable:\n"):
        h.assert_linearizable(tmp_path / "bad.jsonl")


def test_misuse_is_refused(tmp_path):
    h = History()
    with pytest.raises(ValueError):
        h.invoke(1, "put", "/k", "v")
    with pytest.raises(ValueError):
        h.invoke(1, "write", "/k")  # no value
    t = h.invoke(1, "write", "/k", "v")
    h.ok(t)
    with pytest.raises(ValueError, match="completed twice"):
        h.fail(t)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "/k", "op": "write", "value": "v", "call": 1}\n{"op": "read"}\n')
    with pytest.raises(ValueError, match="line 2: missing field"):
        history.check_file(bad)
