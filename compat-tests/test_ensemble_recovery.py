"""Replicas coming back: a server whose data was wiped (myid kept) catches up from its
peers, by a snapshot transfer when the others have compacted their logs (snapCount=100,
more than 1000 znodes); and a rolling restart of all three servers, one by one, under a
light write load from clients that retry (kazoo's retry), loses nothing.
"""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.exceptions import NodeExistsError

from ensemble_load import LONG, Clients, assert_present_everywhere, close_client, kazoo_client, \
    synced_get
from zkharness import Ensemble, running_ensemble, wait_until

SNAP_COUNT = 100
ZNODES = 1200


def report(capsys, text: str):
    with capsys.disabled():
        print(f"\n    {text}", end="")


@pytest.fixture
def clients():
    c = Clients()
    yield c
    c.close_all()


def make_ensemble(tmp_path, request, **kwargs) -> Ensemble:
    e = Ensemble(tmp_path / "ens", voters=3, **kwargs)
    request.module._server_under_test = e  # conftest shows its log tails on a failure
    return e


@pytest.fixture
def snap_ens(tmp_path, request):
    e = make_ensemble(tmp_path, request, extra_cfg={"snapCount": str(SNAP_COUNT)})
    with running_ensemble(e, request):
        yield e


@pytest.fixture
def ens(tmp_path, request):
    e = make_ensemble(tmp_path, request)
    with running_ensemble(e, request):
        yield e


def create_many(zk, parent: str, count: int, start: int = 0, size: int = 20):
    """count znodes parent/n<i> (pipelined creates), data of `size` bytes each."""
    zk.ensure_path(parent)
    batch = 200
    for lo in range(start, start + count, batch):
        pending = [zk.create_async(f"{parent}/n{i:05d}", (b"%05d" % i) * (size // 5))
                   for i in range(lo, min(lo + batch, start + count))]
        for p in pending:
            p.get(timeout=30)


@pytest.mark.parametrize("role", ["follower", "leader"] if LONG else ["follower"])
def test_wiped_replica_catches_up_by_snapshot(snap_ens, clients, role, capsys):
    ens = snap_ens
    zk = clients(ens.hosts)
    create_many(zk, "/wipe", ZNODES)
    for i in range(0, ZNODES, 7):
        zk.set(f"/wipe/n{i:05d}", b"changed")
    for i in range(0, ZNODES, 11):
        zk.delete(f"/wipe/n{i:05d}")
    zk.create("/wipe-eph", b"", ephemeral=True)
    before = ens.wait_converged(timeout=60)

    leader = ens.wait_leader()
    victim = leader if role == "leader" else next(s for s in ens.ids if s != leader)
    ens.stop_server(victim)
    ens.wipe(victim)
    assert not any(ens[victim].datalog_dir.iterdir())
    assert [p.name for p in ens[victim].data_dir.iterdir()] == ["myid"]
    rest = [s for s in ens.ids if s != victim]
    ens.wait_leader(ids=rest, timeout=30)
    # More writes while it is away, so it is behind the others' snapshots and logs.
    zk.retry(create_many, zk, "/wipe-later", 300)
    t0 = time.monotonic()
    ens.restart(victim)
    zxid, digest = ens.wait_converged(timeout=90)
    took = time.monotonic() - t0
    assert zxid > before[0]

    # Its clients see the whole tree, with the others' Stats.
    own = clients(ens[victim].hosts)
    other = clients(ens[rest[0]].hosts)
    for path in ("/wipe", "/wipe-later"):
        own.sync(path)
        assert sorted(own.get_children(path)) == sorted(other.get_children(path))
    assert synced_get(own, "/wipe/n00007") == synced_get(other, "/wipe/n00007")
    assert own.exists("/wipe-eph").ephemeralOwner == zk.client_id[0]
    log = ens[victim].log_path.read_text(errors="replace")
    senders = [s for s in rest if "sending a snapshot" in ens[s].log_path.read_text(errors="replace")]
    report(capsys, f"wiped {role} server.{victim} converged at zxid {zxid:#x} {took:.2f}s after "
                   f"its restart; snapshot sent by {senders or 'nobody (log only)'}")
    if ens.target.startswith("ferrozk"):
        assert senders, "no peer logged sending a snapshot to the wiped replica (snapCount=100)"
        assert "panic" not in log.lower()
    # It writes and serves as a member again.
    own.create("/wipe-after", b"ok")
    assert synced_get(other, "/wipe-after")[0] == b"ok"
    ens.wait_converged(timeout=30)


class RetryingLoad:
    """Light load: clients that retry each write (kazoo's zk.retry) through ConnectionLoss
    until it succeeds; a create retried after it took effect answers NodeExists, which
    counts as success when the node holds this client's value. Any other error fails."""

    def __init__(self, hosts: str, clients: int = 2):
        self.hosts = hosts
        self.n = clients
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.last_set: dict[int, int] = {}
        self.errors: list[BaseException] = []
        self.sessions: dict[int, tuple[int, int]] = {}
        self.threads: list[threading.Thread] = []
        self.zks = []

    def start(self):
        zk = kazoo_client(self.hosts)
        try:
            zk.ensure_path("/roll")
            for c in range(self.n):
                zk.ensure_path(f"/roll-k{c}")
        finally:
            close_client(zk)
        for c in range(self.n):
            zk = kazoo_client(self.hosts)
            self.zks.append(zk)
            th = threading.Thread(target=self._run, args=(c, zk), daemon=True)
            self.threads.append(th)
            th.start()

    def _run(self, c, zk):
        first = zk.client_id[0]
        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                path = f"/roll/c{c}-{n:06d}"
                value = path.encode()

                def create():
                    try:
                        zk.create(path, value)
                    except NodeExistsError:
                        if zk.get(path)[0] != value:
                            raise
                zk.retry(create)
                zk.retry(zk.set, f"/roll-k{c}", str(n).encode())
                with self.lock:
                    self.acked.append(path)
                    self.last_set[c] = n
                time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001
            self.errors.append(exc)
        finally:
            self.sessions[c] = (first, zk.client_id[0] if zk.client_id else None)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def wait_progress(self, more: int = 10, timeout: float = 60.0):
        target = self.count() + more
        wait_until(lambda: self.errors or self.count() >= target, timeout, interval=0.05,
                   what=f"{more} more writes")
        if self.errors:
            raise self.errors[0]

    def stop(self):
        self.stop_event.set()
        for th in self.threads:
            th.join(90)
        for zk in self.zks:
            close_client(zk)
        assert not any(th.is_alive() for th in self.threads)


def test_rolling_restart_under_load(ens, clients, capsys):
    load = RetryingLoad(ens.hosts)
    load.start()
    try:
        load.wait_progress(20)
        leader = ens.wait_leader()
        order = [s for s in ens.ids if s != leader] + [leader]  # as operators do: leader last
        rounds = 2 if LONG else 1
        times = []
        for _ in range(rounds):
            for sid in order:
                t0 = time.monotonic()
                ens.stop_server(sid)  # SIGTERM
                ens.wait_leader(ids=[s for s in ens.ids if s != sid], timeout=30)
                load.wait_progress(10)
                ens.restart(sid)
                ens.wait_leader(timeout=30)
                load.wait_progress(10)
                times.append(f"server.{sid} {time.monotonic() - t0:.1f}s")
            order = order[1:] + order[:1]
    finally:
        load.stop()
    assert not load.errors, f"a retried write failed: {load.errors[0]!r}"
    ens.wait_converged(timeout=60)
    assert_present_everywhere(ens, "/roll", load.acked)
    for sid in ens.ids:
        zk = clients(ens[sid].hosts)
        for c, n in load.last_set.items():
            assert int(synced_get(zk, f"/roll-k{c}")[0]) == n
    changed = {c: s for c, s in load.sessions.items() if s[0] != s[1]}
    assert not changed, f"sessions changed during the rolling restart: {changed}"
    report(capsys, f"rolling restart ({', '.join(times)}): {len(load.acked)} creates and as "
                   f"many sets acknowledged, all present on every server")
