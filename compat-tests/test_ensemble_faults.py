"""kill -9 of a 3-server ensemble's leader, then of a follower, while kazoo clients and a
Java client (java/src/EnsembleLoad.java) write through connect strings listing every
server: a new leader serves writes within seconds, no acknowledged write is lost, clients
keep their sessions, the replicas converge (equal digests at equal zxids), the killed
server rejoins and catches up, and the recorded history of sets and synced reads is
linearizable (history.py).

FERROZK_LONG_FAULTS=1 runs more rounds (kill, restart, kill the next leader, ...).
"""

from __future__ import annotations

import threading
import time

import pytest

import history
from ensemble_load import LONG, Load, close_client, kazoo_client
from rawzk import CREATE, RawClient, create_body
from test_java import RUN_JARS, classpath, java_classes  # noqa: F401 - a fixture
from zkharness import Ensemble, running_ensemble, wait_until

ROUNDS = 3 if LONG else 1
EPHEMERAL = 1
# Generous for a loaded 2-core machine; measured values are printed.
ELECTION_MAX_S = 20.0
pytestmark = pytest.mark.skipif(not history.can_check(),
                                reason="no check_history binary and no cargo to build it")


@pytest.fixture
def ens(tmp_path, request):
    e = Ensemble(tmp_path / "ens", voters=3)
    with running_ensemble(e, request):
        yield e


@pytest.fixture
def load(ens, tmp_path, java_classes):  # noqa: F811 - the fixture imported above
    ld = Load(ens, tmp_path, java_classes, classpath(RUN_JARS))
    yield ld
    ld.kill()


def report(capsys, text: str):
    with capsys.disabled():
        print(f"\n    {text}", end="")


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_kill9_under_load(ens, load, victim, capsys):
    load.start()
    for round_ in range(ROUNDS):
        leader = ens.wait_leader(timeout=30)
        target = leader if victim == "leader" else next(s for s in ens.voter_ids if s != leader)
        survivors = [s for s in ens.ids if s != target]
        # Let some writes go through before the fault.
        load.work.wait_writes_after(time.monotonic(), 10)
        t_mono, t_wall = time.monotonic(), time.time()
        ens.kill(target)
        new_leader = ens.wait_leader(ids=survivors, timeout=ELECTION_MAX_S)
        elected = time.monotonic() - t_mono
        if victim == "follower":
            assert new_leader == leader, "killing a follower changed the leader"
        else:
            assert new_leader != target
        fo = load.failover(t_mono, t_wall, timeout=ELECTION_MAX_S + 10)
        report(capsys, f"kill -9 {victim} server.{target} (round {round_ + 1}): leader "
                       f"server.{new_leader} after {elected:.2f}s; first write acknowledged "
                       f"after {fo['kazoo']:.2f}s (kazoo), {fo['java']:.2f}s (Java)")
        assert max(fo.values()) < ELECTION_MAX_S
        # The survivors agree while the killed server is down.
        load.work.wait_writes_after(time.monotonic(), 20)
        # It rejoins under load and catches up.
        t_restart = time.monotonic()
        ens.restart(target)
        ens.wait_leader(timeout=30)
        load.work.wait_writes_after(time.monotonic(), 20)
        report(capsys, f"server.{target} restarted and serving as {ens.mode(target)} after "
                       f"{time.monotonic() - t_restart:.2f}s")
    r = load.stop_and_verify()
    report(capsys, f"kazoo {r['kazoo']}; java {r['java']}; {r['history']}")


def test_a_dead_leaders_sessions_expire_and_live_ones_keep_watches(ens, capsys):
    """kill -9 of the leader: sessions whose clients were on it and never come back are
    expired by the new leader (their ephemerals vanish everywhere), while a kazoo client
    that reconnects keeps its session, its ephemeral and its watches (SetWatches), and
    sequential names go on without reuse."""
    leader = ens.wait_leader()
    others = [s for s in ens.ids if s != leader]
    # A raw session on the leader, 2 s timeout, that will never reconnect.
    dead = RawClient(ens[leader].client_port)
    r = dead.connect(timeout_ms=2000)
    assert dead.call(CREATE, create_body("/dead-eph", b"", EPHEMERAL)).err == 0
    # A kazoo client on the leader that reconnects elsewhere, with watches set.
    live = kazoo_client(ens.hosts_of([leader] + others))
    writer = kazoo_client(ens.hosts_of(others))
    try:
        live.create("/live-eph", b"", ephemeral=True)
        live.create("/watched", b"0")
        seq_before = [writer.create("/seq/n-", makepath=True, sequence=True) for _ in range(3)]
        sid = live.client_id[0]
        data_fired, child_fired = threading.Event(), threading.Event()
        live.get("/watched", watch=lambda ev: data_fired.set())
        live.get_children("/seq", watch=lambda ev: child_fired.set())
        t0 = time.monotonic()
        ens.kill(leader)
        dead.close()
        ens.wait_leader(ids=others, timeout=ELECTION_MAX_S)
        wait_until(lambda: live.connected and live.client_id[0] == sid, 30,
                   what="the live client to reconnect with its session")
        writer.retry(writer.set, "/watched", b"1")
        seq_after = writer.retry(writer.create, "/seq/n-", sequence=True)
        assert data_fired.wait(15), "a data watch set before the leader died did not fire"
        assert child_fired.wait(15), "a child watch set before the leader died did not fire"
        assert seq_after > seq_before[-1], (seq_before, seq_after)

        def dead_gone():
            writer.sync("/")
            return writer.exists("/dead-eph") is None
        wait_until(dead_gone, 30, interval=0.2,
                   what="the dead session's ephemeral to go after its 2 s timeout")
        expired_after = time.monotonic() - t0
        writer.sync("/")
        st = writer.exists("/live-eph")
        assert st is not None and st.ephemeralOwner == sid, "the live session lost its ephemeral"
        report(capsys, f"dead session {r.session_id:#x} expired {expired_after:.2f}s after the "
                       f"leader's kill; the live session kept its ephemeral and watches")
        ens.restart(leader)
        ens.wait_converged(timeout=60)
    finally:
        dead.close()
        close_client(live)
        close_client(writer)


def test_kill9_of_every_server_at_once(ens, load, capsys):
    """Every server killed at once under load, then all started again: the acknowledged
    writes are all there (each was on a quorum's disk, or at least in its files, before
    its answer), the clients keep their sessions, and the history is linearizable."""
    load.start()
    load.work.wait_writes_after(time.monotonic(), 30)
    t_mono, t_wall = time.monotonic(), time.time()
    ens.kill_many(ens.ids)
    ens.start()
    leader = ens.wait_leader(timeout=30)
    fo = load.failover(t_mono, t_wall, timeout=60)
    report(capsys, f"all three killed and restarted: server.{leader} leads after "
                   f"{time.monotonic() - t_mono:.2f}s; first write acknowledged after "
                   f"{fo['kazoo']:.2f}s (kazoo), {fo['java']:.2f}s (Java)")
    load.work.wait_writes_after(time.monotonic(), 20)
    r = load.stop_and_verify()
    report(capsys, f"kazoo {r['kazoo']}; java {r['java']}; {r['history']}")
