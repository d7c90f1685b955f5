"""A 3-server ferrozk ensemble (real processes, zoo.cfg + myid) seen by clients on
different servers: writes on one server are visible (after sync) on the others, watches
fire on a server other than the writer's, ephemerals of closed or expired sessions vanish
everywhere, sessions move between servers with their ephemerals and never see their own
writes go back, srvr shows one leader, and the replicas' tree digests agree.

Also a drill of scripts/ensemble.sh itself (start, status, kill, restart, stop, wipe).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time

import pytest
from kazoo.protocol.states import EventType, KazooState

import rawzk
import zkharness
from ensemble_load import LONG, clients, close_client, kazoo_client, synced_get  # noqa: F401 - clients is a fixture
from rawzk import CLOSE_SESSION, CREATE, EXISTS, GET_DATA, SET_DATA, RawClient, boolean, buf, \
    create_body, i32, string
from zkharness import Ensemble, REPO, four_letter, free_ports, running_ensemble, wait_until

EPHEMERAL = 1
SESSION_MOVED = -118


@pytest.fixture(scope="module")
def ens(tmp_path_factory, request):
    e = Ensemble(tmp_path_factory.mktemp("ensemble-basic"), voters=3)
    with running_ensemble(e, request):
        yield e


@pytest.fixture
def per_server(ens, clients):
    """One kazoo client connected to each server only: {id: client}."""
    return {sid: clients(ens[sid].hosts) for sid in ens.ids}


def followers(ens) -> list[int]:
    leader = ens.wait_leader()
    return [sid for sid in ens.voter_ids if sid != leader]


def test_one_leader_two_followers_and_leader_gauges(ens):
    leader = ens.wait_leader(timeout=30)
    modes = ens.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    gauges = ens.mntr(leader)
    assert gauges.get("zk_server_state") == "leader", gauges
    # Both followers are connected and synced; no sync is waiting.
    wait_until(lambda: ens.mntr(leader).get("zk_synced_followers") == "2", 20,
               what="zk_synced_followers 2")
    gauges = ens.mntr(leader)
    assert (gauges.get("zk_learners"), gauges.get("zk_pending_syncs")) == ("2", "0"), gauges
    # ZooKeeper 3.4's zk_followers (3.8 prints zk_learners only); ferrozk prints both.
    assert gauges.get("zk_followers", "2") == "2", gauges
    for sid in followers(ens):
        g = ens.mntr(sid)
        assert g.get("zk_server_state") == "follower", g
        assert "zk_followers" not in g, "ZooKeeper prints the leader gauges on the leader only"


def test_write_on_one_server_read_after_sync_on_the_others(ens, per_server):
    a, b, c = (per_server[i] for i in ens.ids)
    base = "/basic-rw"
    a.create(base, b"root")
    for zk in (b, c):
        data, stat = synced_get(zk, base)
        assert data == b"root"
    # Every replica answers the same Stat (zxids and times are chosen once, by the leader).
    stats = {sid: synced_get(zk, base)[1] for sid, zk in per_server.items()}
    assert len(set(stats.values())) == 1, stats

    b.set(base, b"from-b")
    c.create(f"{base}/child", b"c")
    tx = a.transaction()
    tx.create(f"{base}/t1", b"1")
    tx.set_data(base, b"from-a-multi")
    tx.delete(f"{base}/child")
    results = tx.commit()
    assert not any(isinstance(r, Exception) for r in results), results
    for zk in per_server.values():
        data, stat = synced_get(zk, base)
        assert (data, stat.version) == (b"from-a-multi", 2)
        assert sorted(zk.get_children(base)) == ["t1"]
    c.delete(f"{base}/t1")
    for zk in (a, b):
        zk.sync(base)
        assert zk.exists(f"{base}/t1") is None


def test_sequential_creates_from_every_server_are_unique_and_dense(ens, per_server):
    base = "/basic-seq"
    per_server[1].create(base)
    per_thread = 20
    made: list[str] = []
    lock = threading.Lock()

    def worker(zk):
        def run():
            for _ in range(per_thread):
                name = zk.create(f"{base}/n-", b"", sequence=True)
                with lock:
                    made.append(name)
        return run

    threads = [threading.Thread(target=worker(zk), daemon=True) for zk in per_server.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    n = per_thread * len(per_server)
    assert sorted(made) == [f"{base}/n-{i:010d}" for i in range(n)]


def test_watches_fire_on_a_server_other_than_the_writers(ens, per_server):
    a, b, c = (per_server[i] for i in ens.ids)
    base = "/basic-watch"
    a.create(base, b"v0")
    b.sync(base)
    c.sync(base)
    events = {"data": [], "child": [], "created": []}
    got = {k: threading.Event() for k in events}

    def recorder(kind):
        def cb(ev):
            events[kind].append(ev)
            got[kind].set()
        return cb

    b.get(base, watch=recorder("data"))
    c.get_children(base, watch=recorder("child"))
    assert b.exists(f"{base}/later", watch=recorder("created")) is None

    a.set(base, b"v1")  # data watch on b
    assert got["data"].wait(15), "b's data watch did not fire for a's write"
    assert (events["data"][0].type, events["data"][0].path) == (EventType.CHANGED, base)

    a.create(f"{base}/kid")  # child watch on c
    assert got["child"].wait(15), "c's child watch did not fire for a's create"
    assert (events["child"][0].type, events["child"][0].path) == (EventType.CHILD, base)

    c.create(f"{base}/later", b"x")  # exists watch on b, written through c
    assert got["created"].wait(15), "b's exists watch did not fire for c's create"
    assert (events["created"][0].type, events["created"][0].path) == (EventType.CREATED,
                                                                        f"{base}/later")
    # One-shot: a second write fires nothing more.
    a.set(base, b"v2")
    b.sync(base)
    assert b.get(base)[0] == b"v2"
    assert len(events["data"]) == 1


def test_ephemeral_of_a_closed_session_disappears_everywhere(ens, clients):
    """closeSession answered on server 1: after a sync, no server has its ephemeral."""
    path = "/basic-eph-closed"
    readers = {i: clients(ens[i].hosts) for i in (2, 3)}
    with RawClient(ens[1].client_port) as owner:
        r = owner.connect(timeout_ms=10000)
        assert owner.call(CREATE, create_body(path, b"mine", EPHEMERAL)).err == 0
        for zk in readers.values():
            zk.sync(path)
            stat = zk.exists(path)
            assert stat is not None and stat.ephemeralOwner == r.session_id
        assert owner.call(CLOSE_SESSION).err == 0
    for i, zk in readers.items():
        zk.sync(path)
        assert zk.exists(path) is None, f"server.{i} still has the closed session's ephemeral"

    # kazoo's stop() sends closeSession without waiting for the answer: poll.
    owner = kazoo_client(ens[3].hosts)
    owner.create(path, b"kazoo", ephemeral=True)
    close_client(owner)

    def gone():
        for zk in readers.values():
            zk.sync(path)
            if zk.exists(path) is not None:
                return False
        return True

    wait_until(gone, 10, interval=0.1, what="the stopped kazoo session's ephemeral to go")


def test_ephemeral_of_an_expired_session_disappears_everywhere(ens, clients):
    """The leader expires a session whose client went silent (its connection to a
    follower dropped without closeSession); every server drops its ephemerals."""
    path = "/basic-eph-expired"
    f = followers(ens)[0]
    with RawClient(ens[f].client_port) as raw:
        r = raw.connect(timeout_ms=1000)  # the minimum: 2 * tickTime
        assert r.session_id != 0
        rep = raw.call(CREATE, create_body(path, b"e", EPHEMERAL))
        assert rep.err == 0
        t0 = time.monotonic()
    # The socket is closed, no closeSession: the session expires about 1 s later.
    readers = {i: clients(ens[i].hosts) for i in ens.ids}

    def gone_everywhere():
        for zk in readers.values():
            zk.sync(path)
            if zk.exists(path) is not None:
                return False
        return True

    wait_until(gone_everywhere, 20, interval=0.2, what="the expired session's ephemeral to go")
    took = time.monotonic() - t0
    assert took >= 0.5, f"expired after {took:.2f}s, before its 1 s timeout"


def test_a_follower_keeps_its_clients_sessions_alive(ens, clients):
    """Sessions are global: the leader must hear that a client pinging a follower is alive,
    so its 1 s session outlives several timeouts."""
    f = followers(ens)[0]
    path = "/basic-eph-alive"
    zk = kazoo_client(ens[f].hosts, timeout=1.0)
    states = []
    zk.add_listener(states.append)
    try:
        zk.create(path, b"alive", ephemeral=True)
        sid = zk.client_id[0]
        time.sleep(5.0)  # the point: five session timeouts pass with pings only
        watcher = clients(ens[ens.wait_leader()].hosts)
        watcher.sync(path)
        stat = watcher.exists(path)
        assert stat is not None and stat.ephemeralOwner == sid, \
            f"the session of a client on server.{f} expired although it pinged (states {states})"
        assert KazooState.LOST not in states and zk.client_id[0] == sid
    finally:
        close_client(zk)


def raw_set(raw: RawClient, path: str, data: bytes):
    rep = raw.call(SET_DATA, string(path) + buf(data) + i32(-1))
    assert rep.err == 0, rep.err
    return rep, rep.body.stat()


def raw_get(raw: RawClient, path: str):
    rep = raw.call(GET_DATA, string(path) + boolean(False))
    assert rep.err == 0, rep.err
    data = rep.body.buf()
    return data, rep.body.stat()


def resume(port, session, last_zxid):
    """Resumes `session` on the server at `port`. A server that has not yet applied the
    client's last zxid refuses it (closes), as ZooKeeper does, and a real client tries
    again: so does this, for up to 10 s. Returns the client and the ConnectResponse."""
    deadline = time.monotonic() + 10
    while True:
        c = RawClient(port)
        try:
            return c, c.connect(timeout_ms=10000, session_id=session.session_id, passwd=session.passwd,
                                last_zxid=last_zxid)
        except EOFError:
            c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_session_moves_between_servers_with_its_ephemerals(ens, clients):
    base = "/basic-move"
    first = RawClient(ens[1].client_port)
    r = first.connect(timeout_ms=10000)
    assert first.call(CREATE, create_body(base, b"")).err == 0
    rep = first.call(CREATE, create_body(f"{base}/eph", b"e", EPHEMERAL))
    assert rep.err == 0
    last_zxid = rep.zxid
    first.sock.close()  # the connection only; the session lives on

    owner_seen = []
    for sid in (2, 3, 1):
        c, r2 = resume(ens[sid].client_port, r, last_zxid)
        with c:
            assert (r2.session_id, r2.timeout) == (r.session_id, 10000), \
                f"server.{sid} did not take the session over: {r2}"
            rep = c.call(EXISTS, string(f"{base}/eph") + boolean(False))
            assert rep.err == 0, f"server.{sid}: the moved session's ephemeral is missing"
            owner_seen.append(rep.body.stat()["ephemeralOwner"])
            rep = c.call(CREATE, create_body(f"{base}/via-{sid}", b""))
            assert rep.err == 0
            last_zxid = max(last_zxid, rep.zxid)
            c.sock.close()
    assert owner_seen == [r.session_id] * 3

    # Finally closed on server 3: its ephemeral goes everywhere.
    c, _ = resume(ens[3].client_port, r, last_zxid)
    with c:
        assert c.call(CLOSE_SESSION).err == 0
    for sid in ens.ids:
        zk = clients(ens[sid].hosts)
        zk.sync(base)
        assert sorted(zk.get_children(base)) == ["via-1", "via-2", "via-3"], f"server.{sid}"


def test_a_moved_sessions_old_connection_cannot_write(ens):
    """ZooKeeper fails a write that arrives on a session's old connection after the session
    moved to another server (SessionMoved), or the old connection is closed."""
    base = "/basic-moved-old"
    with RawClient(ens[1].client_port) as old:
        r = old.connect(timeout_ms=10000)
        assert old.call(CREATE, create_body(base, b"0")).err == 0
        with RawClient(ens[2].client_port) as new:
            r2 = new.connect(timeout_ms=10000, session_id=r.session_id, passwd=r.passwd)
            assert r2.session_id == r.session_id
            assert new.call(EXISTS, string(base) + boolean(False)).err == 0
            try:
                rep = old.call(SET_DATA, string(base) + buf(b"stale") + i32(-1))
            except (EOFError, ConnectionResetError, socket.timeout):
                return  # closed: fine
            assert rep.err != 0, "a write on the moved session's old connection succeeded"
            assert rep.err == SESSION_MOVED, rep.err


def test_own_writes_never_go_back_after_moving_to_a_lagging_server(ens):
    """A client moving (with its lastZxidSeen) to a server that has not yet applied its
    writes must be refused or held until that server catches up: a read there never shows
    the client an older version than it wrote. The lagging server is a frozen follower;
    the connect request and a read are already waiting in its socket when it wakes."""
    path = "/basic-monotonic"
    lagging = followers(ens)[0]
    writer_at = next(s for s in ens.ids if s != lagging)
    rounds = 10 if LONG else 3
    outcomes = []
    for round_ in range(rounds):
        with RawClient(ens[writer_at].client_port) as w:
            r = w.connect(timeout_ms=10000)
            if round_ == 0:
                assert w.call(CREATE, create_body(path, b"0")).err == 0
            ens.pause(lagging)
            try:
                for i in range(30):
                    rep, stat = raw_set(w, path, f"{round_}-{i}".encode())
                last_zxid, version = rep.zxid, stat["version"]
                w.sock.close()
                c = RawClient(ens[lagging].client_port, timeout=20)
                # ConnectRequest, then getData: both wait in the frozen server's socket.
                c.send_frame(i32(0) + rawzk.i64(last_zxid) + i32(10000) + rawzk.i64(r.session_id)
                             + buf(r.passwd) + boolean(False))
                c.send(GET_DATA, string(path) + boolean(False))
            finally:
                ens.resume(lagging)
            try:
                try:
                    frame = c.read_frame()
                except (EOFError, ConnectionResetError, socket.timeout):
                    outcomes.append("refused (closed)")
                    continue  # refused: the client would try another server
                reader = rawzk.Reader(frame)
                _pv, timeout, sid = reader.i32(), reader.i32(), reader.i64()
                if timeout <= 0:
                    outcomes.append("refused (zero response)")
                    continue
                assert sid == r.session_id
                try:
                    rep = c.read_reply()
                except (EOFError, ConnectionResetError):
                    outcomes.append("accepted, then closed")
                    continue
                assert rep.err == 0
                data = rep.body.buf()
                stat = rep.body.stat()
                assert stat["version"] >= version and stat["mzxid"] >= last_zxid, (
                    f"round {round_}: server.{lagging} accepted a client that had seen zxid "
                    f"{last_zxid:#x} (version {version}) and answered version "
                    f"{stat['version']} (mzxid {stat['mzxid']:#x}, data {data!r})")
                outcomes.append("accepted, read up to date")
            finally:
                c.close()
    print(f"moves to a lagging server: {outcomes}")


def sync_and_read_on_a_frozen_server(ens, sid: int, path: str, write) -> tuple:
    """Freezes server sid, acknowledges write() elsewhere, sends sync + getData to the
    frozen server (they wait in its socket), wakes it, and returns the replies."""
    c = RawClient(ens[sid].client_port, timeout=30)
    try:
        c.connect(timeout_ms=10000)
        ens.pause(sid)
        try:
            write()
            c.send(rawzk.SYNC, string(path))
            c.send(GET_DATA, string(path) + boolean(False))
        finally:
            ens.resume(sid)
        sync = c.read_reply()
        get = c.read_reply()
        data = get.body.buf() if get.err == 0 else None
        return sync.err, get.err, data
    finally:
        c.close()


def test_sync_on_a_lagging_follower_reads_the_latest_write(ens, per_server):
    """sync is linearizable: a follower that missed writes (it was frozen) answers a sync
    only once it has applied everything acknowledged before the sync."""
    path = "/basic-sync-lag"
    f = followers(ens)[0]
    writer = per_server[next(s for s in ens.ids if s != f)]
    writer.create(path, b"0")
    for round_ in range(3):
        value = f"v{round_}".encode()

        def write():
            for i in range(20):
                writer.set(path, value + b"-%d" % i)
        sync_err, get_err, data = sync_and_read_on_a_frozen_server(ens, f, path, write)
        assert (sync_err, get_err, data) == (0, 0, value + b"-19"), \
            f"server.{f} answered sync + get with {sync_err}, {get_err}, {data!r}"


def test_large_znodes_and_multis_replicate(ens, per_server):
    """A znode near jute.maxbuffer (1 MiB) and a multi of many creates, written through a
    follower, reach every server intact."""
    f = followers(ens)[0]
    zk = per_server[f]
    big = bytes(range(256)) * 3900  # 998,400 bytes
    zk.create("/basic-big", big)
    tx = zk.transaction()
    for i in range(200):
        tx.create(f"/basic-big-{i:03d}", b"x" * 4000)
    results = tx.commit()
    assert not any(isinstance(r, Exception) for r in results), results[:3]
    for sid, other in per_server.items():
        data, stat = synced_get(other, "/basic-big")
        assert data == big and stat.dataLength == len(big), f"server.{sid}"
        assert other.exists("/basic-big-199").dataLength == 4000
    ens.wait_converged(timeout=30)


def test_session_ids_are_unique_across_servers(ens):
    ids = []
    for sid in ens.ids:
        for _ in range(15):
            with RawClient(ens[sid].client_port) as c:
                r = c.connect(timeout_ms=10000)
                ids.append(r.session_id)
                assert c.call(CLOSE_SESSION).err == 0
    assert len(set(ids)) == len(ids), "two servers handed out the same session id"


def test_replicas_converge_at_equal_zxid(ens, per_server):
    base = "/basic-hash"
    a = per_server[1]
    a.create(base)
    for i in range(50):
        per_server[1 + i % 3].create(f"{base}/n{i}", str(i).encode())
    zxid, digest = ens.wait_converged(timeout=30)
    assert zxid > 0
    ens.assert_no_divergence()
    # The digest moves with the tree: one more write changes it on every server.
    a.set(base, b"changed")
    zxid2, digest2 = ens.wait_converged(timeout=30)
    assert zxid2 > zxid and (digest2 != digest or ens.target.startswith("zookeeper"))


# ----------------------------------------------------------------------------- ensemble.sh


def free_base_port() -> int:
    """A base port whose 9 ensemble.sh ports (3 servers) are free, below the ephemeral
    range."""
    for _ in range(200):
        base = free_ports(1)[0]
        if base + 2003 >= 32000 or base < 20000:
            continue
        ports = [base, base + 1, base + 2] + [base + 1000 + i for i in (1, 2, 3)] + \
            [base + 2000 + i for i in (1, 2, 3)]
        from zkharness import _port_free

        if all(_port_free(p) for p in ports):
            return base
    raise RuntimeError("no free base port for ensemble.sh")


@pytest.mark.skipif(zkharness.target() != "ferrozk", reason="scripts/ensemble.sh runs ferrozk")
def test_ensemble_sh_drill(tmp_path):
    script = REPO / "scripts" / "ensemble.sh"
    env = dict(os.environ, FERROZK_ENSEMBLE_DIR=str(tmp_path / "ens"), FERROZK_ENSEMBLE_WAIT="60")
    if "FERROZK_BIN" not in env:
        env["FERROZK_BIN"] = str(REPO / "target" / "release" / "ferrozk")

    def sh(*args, ok=(0,)):
        p = subprocess.run([str(script), *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode in ok, f"ensemble.sh {' '.join(args)} exited {p.returncode}:\n" \
                                   f"{p.stdout}\n{p.stderr}"
        return p

    base = free_base_port()
    started = False
    try:
        out = sh("start", "3", str(base)).stdout.strip().splitlines()
        started = True
        assert out[-1] == ",".join(f"127.0.0.1:{base + i}" for i in range(3)), out
        wait_until(lambda: sorted(re.findall(r"Mode: (\w+)", sh("status", ok=(0, 3)).stdout))
                   == ["follower", "follower", "leader"], 30, interval=0.2, what="one leader")
        status = sh("status").stdout
        leader = int(re.search(r"server\.(\d+) .*Mode: leader", status).group(1))
        zk = kazoo_client(out[-1])
        try:
            zk.create("/drill", b"1")
            sh("kill", str(leader))
            down = sh("status", ok=(3,)).stdout
            assert re.search(rf"server\.{leader} .*down", down), down
            zk.retry(zk.set, "/drill", b"2")  # served by the new leader
            sh("restart", str(leader))
            wait_until(lambda: sh("status", ok=(0, 3)).returncode == 0 and "Mode: leader"
                       in sh("status", ok=(0, 3)).stdout, 30, interval=0.2,
                       what="all three serving again")
            back = kazoo_client(f"127.0.0.1:{base + leader - 1}")
            try:
                assert synced_get(back, "/drill")[0] == b"2"
            finally:
                close_client(back)
        finally:
            close_client(zk)
        stopped = sh("stop").stdout
        started = False
        assert stopped.count("stopped") == 3, stopped
        assert sh("status", ok=(3,)).stdout.count("down") == 3
        sh("wipe")
        assert not (tmp_path / "ens").exists()
    finally:
        if started:
            sh("stop", ok=(0, 1))
