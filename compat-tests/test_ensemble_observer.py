"""Three voters and one observer (server.4=...:observer, peerType=observer): the observer
serves reads, forwards writes and fires watches; srvr says Mode: observer; killing it
leaves the quorum (and its leader and clients) alone; and it never counts toward a quorum:
with two voters down, a client of the observer gets no write through.
"""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.exceptions import ConnectionLoss, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, KazooState

from ensemble_load import clients, close_client, kazoo_client, synced_get  # noqa: F401 - clients is a fixture
import zkharness
from zkharness import Ensemble, running_ensemble, wait_until

OBSERVER = 4


@pytest.fixture
def ens(tmp_path, request):
    e = Ensemble(tmp_path / "ens", voters=3, observers=1)
    with running_ensemble(e, request):
        yield e


def test_observer_serves_reads_forwards_writes_and_fires_watches(ens, clients):
    assert "peerType=observer" in ens[OBSERVER].cfg_path.read_text()
    leader = ens.wait_leader()
    assert ens.mode(OBSERVER) == "observer"
    assert sorted(m for s, m in ens.modes().items() if s != OBSERVER) == \
        ["follower", "follower", "leader"]
    wait_until(lambda: ens.mntr(leader).get("zk_synced_observers") == "1", 20,
               what="the leader to count one synced observer")
    g = ens.mntr(leader)
    assert g.get("zk_synced_followers") == "2", g  # voters only
    assert ens.mntr(OBSERVER).get("zk_server_state") == "observer"

    obs = clients(ens[OBSERVER].hosts)
    voter = clients(ens[leader].hosts)
    follower = clients(ens[next(s for s in ens.voter_ids if s != leader)].hosts)
    # A write through the observer reaches the voters.
    obs.create("/obs", b"from-observer")
    assert synced_get(voter, "/obs")[0] == b"from-observer"
    assert synced_get(follower, "/obs")[0] == b"from-observer"
    # A voter's write is read on the observer after sync, with the same Stat.
    follower.set("/obs", b"from-follower")
    assert synced_get(obs, "/obs") == synced_get(voter, "/obs")
    # Watches on the observer fire for writes made elsewhere.
    fired = threading.Event()
    seen = []
    obs.get("/obs", watch=lambda ev: (seen.append(ev), fired.set()))
    voter.set("/obs", b"again")
    assert fired.wait(15), "a data watch on the observer did not fire"
    assert (seen[0].type, seen[0].path) == (EventType.CHANGED, "/obs")
    # Sessions on the observer own ephemerals like any other.
    obs.create("/obs-eph", b"", ephemeral=True)
    assert synced_get(voter, "/obs-eph")[1].ephemeralOwner == obs.client_id[0]
    seq = [obs.create("/obs/s-", sequence=True) for _ in range(3)]
    assert seq == [f"/obs/s-{i:010d}" for i in range(3)]
    ens.wait_converged(timeout=30)


def test_killing_the_observer_leaves_the_quorum_alone(ens, clients):
    leader = ens.wait_leader()
    states = []
    voters = clients(ens.hosts_of(ens.voter_ids))
    voters.add_listener(states.append)
    sid = voters.client_id[0]
    obs_client = clients(ens[OBSERVER].hosts)
    obs_client.create("/obs-kill", b"0")
    ens.kill(OBSERVER)
    # Writes go on at once, under the same leader, on the same connection.
    for i in range(50):
        voters.set("/obs-kill", str(i).encode())
    assert ens.wait_leader(ids=ens.voter_ids, timeout=10) == leader
    assert states == [], f"the voters' client saw {states} when the observer died"
    assert voters.client_id[0] == sid
    ens.restart(OBSERVER)
    assert ens.mode(OBSERVER) == "observer"
    ens.wait_converged(timeout=30)
    fresh = clients(ens[OBSERVER].hosts)
    assert synced_get(fresh, "/obs-kill")[0] == b"49"
    assert states == [] and ens.wait_leader(timeout=10) == leader


def test_an_observer_never_makes_a_quorum(ens, clients):
    leader = ens.wait_leader()
    obs = clients(ens[OBSERVER].hosts, timeout=4.0)
    obs.create("/obs-quorum", b"before")
    down = [s for s in ens.voter_ids if s != leader][:1] + [leader]
    for s in down:
        ens.kill(s)
    # One voter and one observer: two of four servers, but one of three voters.
    deadline = time.monotonic() + 5.0
    acked = []
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            obs.set_async("/obs-quorum", f"minority-{attempts}".encode()).get(timeout=3)
            acked.append(attempts)
        except (ConnectionLoss, SessionExpiredError, KazooTimeoutError):
            time.sleep(0.2)
        except Exception:  # noqa: BLE001 - any error answer is not an acknowledgement
            time.sleep(0.2)
    assert not acked, f"writes acknowledged without a quorum of voters: {acked}"
    left = [s for s in ens.voter_ids if s not in down][0]
    assert ens.mode(left) != "leader", ens.modes()
    # A voter back: a quorum again; the observer serves and its client's writes go through.
    ens.restart(down[0])
    ens.wait_leader(timeout=30)
    obs.retry(obs.set, "/obs-quorum", b"after")
    wait_until(lambda: obs.state == KazooState.CONNECTED, 20, what="the observer's client")
    back = clients(ens.hosts_of([down[0]]))
    value = synced_get(back, "/obs-quorum")[0]
    assert value == b"after" or value.startswith(b"minority-"), value
    assert synced_get(back, "/obs-quorum")[0] == b"after"
    ens.restart(down[1])
    ens.wait_leader(timeout=30)
    ens.wait_converged(timeout=30)
    close_client(obs)


def test_an_observer_without_a_quorum_stops_serving(ens, clients):
    """With no leader (two of three voters down), the observer serves nobody, as the
    voters do: srvr answers "not currently serving" and new clients are refused at once,
    instead of waiting on a leader that is gone."""
    leader = ens.wait_leader()
    follower = next(s for s in ens.voter_ids if s != leader)
    ens.kill(follower)
    ens.kill(leader)
    left = next(s for s in ens.voter_ids if s not in (leader, follower))
    wait_until(lambda: ens.mode(left) is None, 20, interval=0.2,
               what=f"the last voter server.{left} to stop serving")
    wait_until(lambda: ens.mode(OBSERVER) is None, 20, interval=0.2,
               what=f"the observer to stop serving without a leader (modes {ens.modes()})")
    ens.restart(follower)
    ens.wait_leader(timeout=30)
    assert ens.mode(OBSERVER) == "observer"


def test_sync_on_a_lagging_observer_reads_the_latest_write(ens, clients):
    """An observer that missed writes (it was frozen) answers a sync only once it applied
    everything acknowledged before it: sync + getData never returns an older value."""
    from rawzk import GET_DATA, SYNC, RawClient, boolean, string

    voter = clients(ens.hosts_of(ens.voter_ids))
    voter.create("/obs-sync", b"0")
    for round_ in range(3):
        c = RawClient(ens[OBSERVER].client_port, timeout=30)
        try:
            c.connect(timeout_ms=10000)
            ens.pause(OBSERVER)
            try:
                for i in range(20):
                    voter.set("/obs-sync", b"r%d-%d" % (round_, i))
                c.send(SYNC, string("/obs-sync"))
                c.send(GET_DATA, string("/obs-sync") + boolean(False))
            finally:
                ens.resume(OBSERVER)
            sync, get = c.read_reply(), c.read_reply()
            data = get.body.buf() if get.err == 0 else None
            assert (sync.err, get.err, data) == (0, 0, b"r%d-19" % round_), \
                f"the observer answered sync + get with {sync.err}, {get.err}, {data!r}"
        finally:
            c.close()
