"""kazoo against the server under test: CRUD with exact Stats, errors, transactions,
watches, sessions, four-letter words. Expected values are what Apache ZooKeeper 3.8
answers (run with FERROZK_TARGET=zookeeper to see)."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState
from kazoo.security import ACL, Id, Permissions

from zkharness import four_letter, wait_until


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# CRUD and Stat


def test_create_get_stat_exact(zk, base):
    t0 = _now_ms()
    path = zk.create(f"{base}/n", b"hello")
    t1 = _now_ms()
    assert path == f"{base}/n"
    data, st = zk.get(path)
    assert data == b"hello"
    assert st.version == 0
    assert st.cversion == 0
    assert st.aversion == 0
    assert st.numChildren == 0
    assert st.dataLength == 5
    assert st.ephemeralOwner == 0
    assert st.czxid == st.mzxid == st.pzxid
    assert st.czxid > 0
    assert st.ctime == st.mtime
    assert t0 - 5000 <= st.ctime <= t1 + 5000
    assert zk.exists(path) == st


def test_create2_returns_stat(zk, base):
    path, st = zk.create(f"{base}/c2", b"abc", include_data=True)
    assert path == f"{base}/c2"
    assert st.dataLength == 3 and st.version == 0 and st.numChildren == 0
    assert st == zk.exists(path)


def test_child_create_set_delete_update_parent_stat(zk, base):
    p0 = zk.exists(base)
    child, cst = zk.create(f"{base}/a", b"1", include_data=True)
    p1 = zk.exists(base)
    # A child create: cversion +1, numChildren +1, pzxid = the child's czxid,
    # the parent's data Stat untouched.
    assert p1.cversion == p0.cversion + 1
    assert p1.numChildren == p0.numChildren + 1
    assert p1.pzxid == cst.czxid
    assert (p1.mzxid, p1.version, p1.mtime, p1.dataLength) == (
        p0.mzxid, p0.version, p0.mtime, p0.dataLength)

    # setData on the child leaves the parent alone.
    st = zk.set(child, b"22")
    assert st.version == 1
    assert st.dataLength == 2
    assert st.mzxid > st.czxid
    assert st.czxid == cst.czxid
    assert st.pzxid == cst.pzxid
    assert st.mtime >= st.ctime
    assert zk.exists(base) == p1

    # Same bytes again still counts as a change.
    st2 = zk.set(child, b"22")
    assert st2.version == 2 and st2.mzxid > st.mzxid

    # Conditional set with the right version.
    st3 = zk.set(child, b"333", version=2)
    assert st3.version == 3 and st3.dataLength == 3

    zk.delete(child, version=3)
    p2 = zk.exists(base)
    assert p2.cversion == p1.cversion + 1
    assert p2.numChildren == p0.numChildren
    assert p2.pzxid > p1.pzxid
    assert p2.mzxid == p0.mzxid
    assert zk.exists(child) is None


def test_get_children_with_stat(zk, base):
    for name in ("x", "y", "z"):
        zk.create(f"{base}/{name}", name.encode())
    children, st = zk.get_children(base, include_data=True)
    assert sorted(children) == ["x", "y", "z"]
    assert st.numChildren == 3
    assert st.cversion == 3
    assert st == zk.exists(base)
    assert sorted(zk.get_children(base)) == ["x", "y", "z"]


def test_empty_data_and_binary_data(zk, base):
    zk.create(f"{base}/empty", b"")
    data, st = zk.get(f"{base}/empty")
    assert data == b"" and st.dataLength == 0
    blob = bytes(range(256)) * 4
    zk.create(f"{base}/bin", blob)
    data, st = zk.get(f"{base}/bin")
    assert data == blob and st.dataLength == 1024


def test_large_data(zk, base):
    big = b"z" * 1_000_000
    zk.create(f"{base}/big", big)
    data, st = zk.get(f"{base}/big")
    assert data == big and st.dataLength == len(big)


def test_ephemeral_owner_and_no_children(zk, base):
    path = zk.create(f"{base}/eph", b"", ephemeral=True)
    st = zk.exists(path)
    assert st.ephemeralOwner == zk.client_id[0]
    assert st.ephemeralOwner != 0
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{path}/child", b"")
    # NodeExists wins over NoChildrenForEphemerals.
    with pytest.raises(NodeExistsError):
        zk.create(path, b"", ephemeral=True)


def test_ensure_path_and_recursive_delete(zk, base):
    zk.ensure_path(f"{base}/a/b/c/d")
    assert zk.exists(f"{base}/a/b/c/d") is not None
    zk.create(f"{base}/a/b/x", b"")
    zk.delete(f"{base}/a", recursive=True)
    assert zk.exists(f"{base}/a") is None
    assert zk.get_children(base) == []


# ---------------------------------------------------------------------------
# errors


def test_errors(zk, base):
    missing = f"{base}/missing"
    with pytest.raises(NoNodeError):
        zk.get(missing)
    with pytest.raises(NoNodeError):
        zk.get_children(missing)
    with pytest.raises(NoNodeError):
        zk.set(missing, b"x")
    with pytest.raises(NoNodeError):
        zk.delete(missing)
    with pytest.raises(NoNodeError):
        zk.create(f"{missing}/child", b"x")
    with pytest.raises(NoNodeError):
        zk.get_acls(missing)
    assert zk.exists(missing) is None

    zk.create(f"{base}/n", b"v")
    with pytest.raises(NodeExistsError):
        zk.create(f"{base}/n", b"other")
    assert zk.get(f"{base}/n")[0] == b"v"

    with pytest.raises(BadVersionError):
        zk.set(f"{base}/n", b"x", version=7)
    with pytest.raises(BadVersionError):
        zk.delete(f"{base}/n", version=7)
    assert zk.exists(f"{base}/n").version == 0

    zk.create(f"{base}/n/kid", b"")
    with pytest.raises(NotEmptyError):
        zk.delete(f"{base}/n")
    # A bad version is reported before NotEmpty.
    with pytest.raises(BadVersionError):
        zk.delete(f"{base}/n", version=9)

    for special in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        with pytest.raises(BadArgumentsError):
            zk.delete(special)
    with pytest.raises(NodeExistsError):
        zk.create("/zookeeper", b"")


def test_failed_writes_consume_zxids(zk, base):
    st1 = zk.create(f"{base}/a", b"", include_data=True)[1]
    z = st1.czxid
    assert zk.last_zxid == z
    with pytest.raises(NodeExistsError):
        zk.create(f"{base}/a", b"")
    assert zk.last_zxid == z + 1, "a failed create is an error txn with its own zxid"
    with pytest.raises(BadVersionError):
        zk.set(f"{base}/a", b"", version=3)
    assert zk.last_zxid == z + 2
    zk.get(f"{base}/a")
    zk.exists(f"{base}/nope")
    zk.get_children(base)
    assert zk.last_zxid == z + 2, "reads do not use zxids"
    st2 = zk.create(f"{base}/b", b"", include_data=True)[1]
    assert st2.czxid == z + 3


def test_sequential_suffix_is_create_counter(zk, base):
    p = f"{base}/seq"
    zk.create(p, b"")
    names = [zk.create(f"{p}/n-", b"", sequence=True) for _ in range(3)]
    assert names == [f"{p}/n-0000000000", f"{p}/n-0000000001", f"{p}/n-0000000002"]
    zk.delete(f"{p}/n-0000000001")
    st = zk.exists(p)
    assert st.cversion == 4 and st.numChildren == 2
    # Deletes do not move the counter back; other prefixes and plain creates share it.
    assert zk.create(f"{p}/n-", b"", sequence=True) == f"{p}/n-0000000003"
    assert zk.create(f"{p}/e-", b"", sequence=True, ephemeral=True) == f"{p}/e-0000000004"
    zk.create(f"{p}/plain", b"")
    assert zk.create(f"{p}/", b"", sequence=True) == f"{p}/0000000006"
    st = zk.exists(p)
    assert st.numChildren == 6
    # client view: cversion = creates + deletes = 2 * creates - numChildren
    assert st.cversion == 2 * 7 - 6


def test_system_nodes(zk):
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert "zookeeper" in zk.get_children("/")
    data, st = zk.get("/")
    assert data == b""
    assert st.czxid == 0 and st.ctime == 0
    data, st = zk.get("/zookeeper/config")
    assert data == b""
    acls, st = zk.get_acls("/zookeeper/config")
    assert acls == [ACL(Permissions.READ, Id("world", "anyone"))]
    assert st.aversion == -1
    acls, st = zk.get_acls("/zookeeper")
    assert acls == [ACL(Permissions.ALL, Id("world", "anyone"))]
    st = zk.exists("/zookeeper")
    assert st.numChildren == 2 and st.cversion == -2 and st.czxid == 0


def test_acl_roundtrip(zk, base):
    acl = [ACL(Permissions.READ | Permissions.WRITE | Permissions.ADMIN, Id("world", "anyone"))]
    zk.create(f"{base}/acl", b"", acl=acl)
    got, st = zk.get_acls(f"{base}/acl")
    assert got == acl
    assert st.aversion == 0
    st = zk.set_acls(f"{base}/acl", [ACL(Permissions.ALL, Id("world", "anyone"))])
    assert st.aversion == 1 and st.version == 0
    with pytest.raises(BadVersionError):
        zk.set_acls(f"{base}/acl", acl, version=0)
    got, st = zk.get_acls(f"{base}/acl")
    assert got == [ACL(Permissions.ALL, Id("world", "anyone"))] and st.aversion == 1


# ---------------------------------------------------------------------------
# transactions (multi)


def test_transaction_success(zk, base):
    zk.create(f"{base}/old", b"o")
    zk.create(f"{base}/gone", b"")
    t = zk.transaction()
    t.create(f"{base}/new", b"n")
    t.set_data(f"{base}/old", b"o2")
    t.check(f"{base}/old", 1)
    t.delete(f"{base}/gone")
    results = t.commit()
    assert results[0] == f"{base}/new"
    assert results[1].version == 1 and results[1].dataLength == 2
    assert results[2:] == [True, True]
    new = zk.exists(f"{base}/new")
    old = zk.exists(f"{base}/old")
    assert new.czxid == old.mzxid == results[1].mzxid, "all ops of a multi share one zxid"
    assert zk.exists(f"{base}/gone") is None


def test_transaction_failure_rolls_back(zk, base):
    zk.create(f"{base}/exists", b"e")
    t = zk.transaction()
    t.create(f"{base}/a", b"")
    t.create(f"{base}/exists", b"")
    t.set_data(f"{base}/exists", b"changed")
    results = t.commit()
    assert len(results) == 3
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NodeExistsError)
    assert isinstance(results[2], RuntimeInconsistency)
    assert zk.exists(f"{base}/a") is None
    assert zk.get(f"{base}/exists")[0] == b"e"

    t = zk.transaction()
    t.check(f"{base}/exists", 5)
    t.delete(f"{base}/exists")
    results = t.commit()
    assert isinstance(results[0], BadVersionError)
    assert isinstance(results[1], RuntimeInconsistency)
    assert zk.exists(f"{base}/exists") is not None


def test_failed_transaction_uses_a_zxid(zk, base):
    z0 = zk.create(f"{base}/x", b"", include_data=True)[1].czxid
    t = zk.transaction()
    t.create(f"{base}/x", b"")
    t.commit()
    assert zk.last_zxid == z0 + 1
    assert zk.create(f"{base}/y", b"", include_data=True)[1].czxid == z0 + 2


# ---------------------------------------------------------------------------
# one-shot watches


def test_data_and_child_watches(zk, make_client, base):
    other = make_client()
    events = []
    got = threading.Event()

    def w(event):
        events.append(event)
        got.set()

    def expect(etype, path):
        assert got.wait(10), f"no watch event, expected {etype} {path}"
        got.clear()
        ev = events.pop(0)
        assert (ev.type, ev.path, ev.state) == (etype, path, KeeperState.CONNECTED)

    p = f"{base}/w"
    # exists() on a missing node sets a watch.
    assert zk.exists(p, watch=w) is None
    other.create(p, b"1")
    expect(EventType.CREATED, p)

    zk.get(p, watch=w)
    other.set(p, b"2")
    expect(EventType.CHANGED, p)
    # one-shot: a second change sends nothing
    other.set(p, b"3")
    assert not got.wait(0.5), f"unexpected event {events}"

    zk.get_children(p, watch=w)
    other.create(f"{p}/kid", b"")
    expect(EventType.CHILD, p)

    zk.get(f"{p}/kid", watch=w)
    other.delete(f"{p}/kid")
    expect(EventType.DELETED, f"{p}/kid")

    # getData on a missing node fails and sets no watch.
    with pytest.raises(NoNodeError):
        zk.get(f"{p}/kid", watch=w)
    other.create(f"{p}/kid", b"")
    assert not got.wait(0.5), f"unexpected event {events}"

    zk.get_children(p, watch=w)
    zk.exists(p, watch=w)
    other.delete(f"{p}/kid")
    expect(EventType.CHILD, p)
    other.delete(p)
    expect(EventType.DELETED, p)
    assert not got.wait(0.3), f"unexpected event {events}"


def test_own_write_fires_own_watch(zk, base):
    """A client's own write fires its own watch, every time it re-arms it. (The order of
    event and reply is checked on the wire in test_wire.py and by the Java client: kazoo
    runs watchers on another thread, so it cannot show it.)"""
    p = f"{base}/order"
    zk.create(p, b"")
    for i in range(20):
        seen = []
        zk.get(p, watch=lambda ev: seen.append(ev))
        zk.set(p, str(i).encode())
        # kazoo runs watchers on its event thread; give it a moment to run.
        wait_until(lambda: seen, 5, what="data watch")
        assert seen[0].type == EventType.CHANGED


# ---------------------------------------------------------------------------
# sessions


def test_session_close_deletes_ephemerals(zk, make_client, base):
    member = make_client()
    member.create(f"{base}/e1", b"", ephemeral=True)
    member.create(f"{base}/e2", b"", ephemeral=True, sequence=True)
    assert len(zk.get_children(base)) == 2
    deleted = threading.Event()
    zk.exists(f"{base}/e1", watch=lambda ev: ev.type == EventType.DELETED and deleted.set())
    member.stop()
    assert deleted.wait(10), "no NodeDeleted after the owner closed its session"
    assert zk.get_children(base) == []


def test_session_expiry_deletes_ephemerals(zk, make_client, proxy, base):
    """A client behind a proxy with the minimum timeout; cut its connection and keep it
    from reconnecting: the server expires the session and deletes its ephemerals."""
    victim = make_client(hosts=proxy.hosts, timeout=4.0)
    states = []
    victim.add_listener(states.append)
    victim.create(f"{base}/eph", b"mine", ephemeral=True)
    sid = victim.client_id[0]
    assert zk.exists(f"{base}/eph").ephemeralOwner == sid

    deleted = threading.Event()
    children = []
    zk.exists(f"{base}/eph", watch=lambda ev: ev.type == EventType.DELETED and deleted.set())
    zk.get_children(base, watch=children.append)

    t0 = time.monotonic()
    proxy.refuse()
    proxy.drop()
    # Session timeout 4 s; expiry falls between timeout and timeout + tickTime.
    assert deleted.wait(20), "ephemeral not deleted after the session expired"
    elapsed = time.monotonic() - t0
    assert elapsed >= 2.5, f"session expired after only {elapsed:.1f}s (timeout 4 s)"
    assert elapsed <= 9.0, f"session expired only after {elapsed:.1f}s (timeout 4 s, tick 2 s)"
    wait_until(lambda: children, 5, what="NodeChildrenChanged on the parent")
    assert children[0].type == EventType.CHILD
    assert zk.exists(f"{base}/eph") is None
    wait_until(lambda: KazooState.SUSPENDED in states, 5, what="victim SUSPENDED")

    # When it can reach the server again, the client learns that its session is gone.
    proxy.accept()
    wait_until(lambda: KazooState.LOST in states, 20, what="victim LOST (session expired)")


def test_pings_keep_an_idle_session_alive(make_client, zk, base):
    c = make_client(timeout=4.0)
    c.create(f"{base}/eph", b"", ephemeral=True)
    sid = c.client_id[0]
    lost = []
    c.add_listener(lambda state: state != KazooState.CONNECTED and lost.append(state))
    time.sleep(7)  # idle for longer than the session timeout: only pings flow
    assert lost == [], f"idle client lost its connection: {lost}"
    assert c.client_id[0] == sid
    assert zk.exists(f"{base}/eph").ephemeralOwner == sid


def test_many_children(zk, base):
    for batch in range(5):
        t = zk.transaction()
        for i in range(100):
            t.create(f"{base}/c{batch:02d}-{i:03d}", b"x" * 10)
        assert all(isinstance(r, str) for r in t.commit())
    children, st = zk.get_children(base, include_data=True)
    assert len(children) == 500 == st.numChildren
    assert st.cversion == 500
    assert len(set(children)) == 500


def test_reconnect_keeps_session(zk, make_client, proxy, base):
    c = make_client(hosts=proxy.hosts, timeout=10.0)
    c.create(f"{base}/eph", b"", ephemeral=True)
    sid = c.client_id[0]
    for _ in range(3):
        assert proxy.drop() >= 1
        wait_until(lambda: c.connected and c.exists(f"{base}/eph") is not None, 15,
                   what="reconnect with the same session")
        assert c.client_id[0] == sid
    assert zk.exists(f"{base}/eph").ephemeralOwner == sid


# ---------------------------------------------------------------------------
# four-letter words and server_version


def test_server_version(zk):
    v = zk.server_version()
    assert isinstance(v, tuple) and len(v) >= 3, v
    assert v[0] == 3 and v[1] >= 5, f"server_version() = {v}"


def test_ruok_srvr_via_kazoo(zk, server):
    assert zk.command(b"ruok") == "imok"
    srvr = zk.command(b"srvr")
    lines = srvr.splitlines()
    assert lines[0].startswith("Zookeeper version: 3."), srvr
    keys = [line.split(":")[0] for line in lines]
    assert keys == ["Zookeeper version", "Latency min/avg/max", "Received", "Sent",
                    "Connections", "Outstanding", "Zxid", "Mode", "Node count"], srvr
    assert "Mode: standalone" in lines
    assert srvr.endswith("\n")
    zxid_line = next(line for line in lines if line.startswith("Zxid: "))
    assert int(zxid_line.split("0x")[1], 16) >= zk.last_zxid


def _mntr(port) -> dict:
    out = four_letter(port, "mntr")
    lines = out.splitlines()
    assert lines[0].startswith("zk_version\t3."), lines[:2]
    assert lines[1] == "zk_server_state\tstandalone", lines[:2]
    result = {}
    for line in lines:
        k, v = line.split("\t", 1)
        result[k] = v
    return result


def test_mntr_counts(zk, server, base):
    m0 = _mntr(server.port)
    for key in ("zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
                "zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests",
                "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
                "zk_approximate_data_size", "zk_open_file_descriptor_count",
                "zk_max_file_descriptor_count"):
        assert key in m0, f"mntr lacks {key}"
    zk.create(f"{base}/p", b"")
    zk.create(f"{base}/e1", b"", ephemeral=True)
    zk.create(f"{base}/e2", b"", ephemeral=True)
    m1 = _mntr(server.port)
    assert int(m1["zk_znode_count"]) == int(m0["zk_znode_count"]) + 3
    assert int(m1["zk_ephemerals_count"]) == int(m0["zk_ephemerals_count"]) + 2
    assert int(m1["zk_num_alive_connections"]) >= 1


def test_other_four_letter_words(zk, server):
    port = server.port
    assert four_letter(port, "ruok") == "imok"
    assert four_letter(port, "isro") == "rw"
    conf = dict(line.split("=", 1) for line in four_letter(port, "conf").splitlines()
                if "=" in line)
    assert conf["clientPort"] == str(port)
    assert conf["tickTime"] == "2000"
    assert conf["minSessionTimeout"] == "4000"
    assert conf["maxSessionTimeout"] == "40000"
    assert conf["maxClientCnxns"] == "0"
    envi = four_letter(port, "envi").splitlines()
    assert envi[0] == "Environment:"
    assert any(line.startswith("zookeeper.version=3.") for line in envi), envi
    stat = four_letter(port, "stat")
    assert stat.startswith("Zookeeper version: 3.")
    assert "Clients:\n" in stat and "Mode: standalone\n" in stat
    wchs = four_letter(port, "wchs").splitlines()
    assert " connections watching " in wchs[0] and wchs[1].startswith("Total watches:"), wchs


def test_watch_and_session_four_letter_words(zk, server, base):
    """wchs/wchc/wchp list data and exist watches only (Apache ZooKeeper 3.8 dumps its
    data-watch table), while mntr's zk_watch_count counts child watches too."""
    sid = f"0x{zk.client_id[0]:x}"
    zk.create(f"{base}/w", b"")
    zk.create(f"{base}/e", b"", ephemeral=True)
    zk.get(f"{base}/w", watch=lambda ev: None)
    zk.exists(f"{base}/missing", watch=lambda ev: None)
    zk.get_children(base, watch=lambda ev: None)
    port = server.port
    # this test's client is the only one connected to this server now
    assert four_letter(port, "wchs") == "1 connections watching 2 paths\nTotal watches:2\n"
    assert four_letter(port, "wchc") == f"{sid}\n\t{base}/missing\n\t{base}/w\n\n" or \
        four_letter(port, "wchc") == f"{sid}\n\t{base}/w\n\t{base}/missing\n\n"
    wchp = four_letter(port, "wchp")
    assert wchp in (f"{base}/missing\n\t{sid}\n{base}/w\n\t{sid}\n\n",
                    f"{base}/w\n\t{sid}\n{base}/missing\n\t{sid}\n\n"), wchp
    assert _mntr(port)["zk_watch_count"] == "3"

    dump = four_letter(port, "dump")
    assert dump.startswith("SessionTracker dump:\n"), dump[:200]
    assert f"{sid}:\n\t{base}/e\n" in dump, dump

    cons = four_letter(port, "cons")
    assert f"sid={sid}," in cons, cons
    assert cons.endswith("\n\n"), repr(cons[-20:])

    assert four_letter(port, "crst") == "Connection stats reset.\n"
    assert four_letter(port, "srst") == "Server stats reset.\n"
    dirs = four_letter(port, "dirs").splitlines()
    assert [line.split(":")[0] for line in dirs] == ["datadir_size", "logdir_size"], dirs
