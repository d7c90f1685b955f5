"""Restart with the same zoo.cfg and dataDir: the tree, the zxids and the sessions come
back, as with Apache ZooKeeper (which logs every write to disk before it answers)."""

from __future__ import annotations

import os
import signal

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from rawzk import CREATE, RawClient, create_body
from zkharness import Server, wait_until


@pytest.fixture
def own_server(tmp_path):
    srv = Server(tmp_path / "srv")
    srv.start()
    yield srv
    srv.stop()


def client(hosts, timeout=20.0) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=timeout,
                     connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
    zk.start(timeout=15)
    return zk


def kill9(srv: Server):
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.stop()  # reaps and closes the log


def test_clean_restart_keeps_tree_and_session(own_server):
    srv = own_server
    zk = client(srv.hosts)
    states = []
    zk.add_listener(states.append)
    try:
        zk.create("/r", b"root")
        zk.create("/r/p", b"data")
        zk.set("/r/p", b"data2")
        seq = [zk.create("/r/s-", b"", sequence=True) for _ in range(3)]
        zk.create("/r/e", b"eph", ephemeral=True)
        sid = zk.client_id[0]
        before = {p: zk.get(p) for p in ["/r", "/r/p", "/r/e", *seq]}
        last = zk.last_zxid

        srv.stop()  # SIGTERM
        srv.start()
        wait_until(lambda: KazooState.CONNECTED in states[states.index(KazooState.SUSPENDED):]
                   if KazooState.SUSPENDED in states else False,
                   30, what="the client to reconnect after the restart")
        assert zk.client_id[0] == sid, "the session survives a restart"
        for p, (data, st) in before.items():
            assert zk.get(p) == (data, st), f"{p} changed across the restart"
        assert zk.exists("/r/e").ephemeralOwner == sid
        assert zk.create("/r/s-", b"", sequence=True) == "/r/s-0000000005"
        assert zk.exists("/r/s-0000000005").czxid > last
    finally:
        zk.stop()
        zk.close()


def test_acknowledged_writes_survive_kill9(own_server):
    srv = own_server
    zk = client(srv.hosts)
    try:
        zk.create("/k", b"")
        for i in range(100):
            zk.create(f"/k/n{i:03d}", str(i).encode())
        for i in range(0, 100, 3):
            zk.set(f"/k/n{i:03d}", b"changed")
        t = zk.transaction()
        t.create("/k/multi", b"m")
        t.delete("/k/n099")
        t.commit()
        expected = {c: zk.get(f"/k/{c}") for c in zk.get_children("/k")}
        last = zk.last_zxid
    finally:
        zk.stop()
        zk.close()
    kill9(srv)
    srv.start()
    zk = client(srv.hosts)
    try:
        got = {c: zk.get(f"/k/{c}") for c in zk.get_children("/k")}
        assert set(got) == set(expected)
        for c in expected:
            assert got[c] == expected[c], f"/k/{c}"
        zk.create("/k/after", b"")
        assert zk.exists("/k/after").czxid > last
    finally:
        zk.stop()
        zk.close()


def test_expired_session_ephemerals_gone_after_restart(own_server):
    """A session whose client never comes back expires after the restart too."""
    srv = own_server
    raw = RawClient(srv.port)
    raw.start_session(4000)
    assert raw.call(CREATE, create_body("/x")).err == 0
    assert raw.call(CREATE, create_body("/x/e", flags=1)).err == 0
    raw.close()  # no closeSession: the session lives on until it expires
    srv.stop()
    srv.start()
    watcher = client(srv.hosts)
    try:
        assert watcher.exists("/x") is not None
        wait_until(lambda: watcher.exists("/x/e") is None, 20,
                   what="the dead session's ephemeral to go after the restart")
    finally:
        watcher.stop()
        watcher.close()
