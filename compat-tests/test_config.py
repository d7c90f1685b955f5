"""zoo.cfg keys the server must honour: each test starts its own server with a
different zoo.cfg (the same file for ferrozk and Apache ZooKeeper)."""

from __future__ import annotations

import re
import socket
import time

import pytest

import rawzk
from rawzk import PING, RawClient
from zkharness import Server, four_letter, wait_until


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(extra):
        srv = Server(tmp_path / f"srv{len(started)}", extra_cfg=extra)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


def conf_of(port) -> dict:
    return dict(line.split("=", 1) for line in four_letter(port, "conf").splitlines()
                if "=" in line)


def test_four_letter_whitelist(start_server):
    srv = start_server({"4lw.commands.whitelist": "ruok, conf"})
    assert four_letter(srv.port, "ruok") == "imok"
    assert conf_of(srv.port)["clientPort"] == str(srv.port)
    assert four_letter(srv.port, "mntr") == "mntr is not executed because it is not in the whitelist.\n"
    assert four_letter(srv.port, "envi") == "envi is not executed because it is not in the whitelist.\n"
    # srvr is always allowed (zkServer.sh status needs it)
    assert four_letter(srv.port, "srvr").startswith("Zookeeper version: ")


def test_tick_time_and_session_timeout_bounds(start_server):
    srv = start_server({"tickTime": "500", "minSessionTimeout": "3000",
                        "maxSessionTimeout": "7000"})
    conf = conf_of(srv.port)
    assert (conf["tickTime"], conf["minSessionTimeout"], conf["maxSessionTimeout"]) == (
        "500", "3000", "7000")
    for asked, granted in ((1000, 3000), (5000, 5000), (60000, 7000)):
        with RawClient(srv.port) as c:
            assert c.connect(asked).timeout == granted


def test_default_session_bounds_follow_tick_time(start_server):
    srv = start_server({"tickTime": "1000"})
    conf = conf_of(srv.port)
    assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("2000", "20000")
    with RawClient(srv.port) as c:
        assert c.connect(100).timeout == 2000
    with RawClient(srv.port) as c:
        assert c.connect(10**6).timeout == 20000


def test_max_client_connections(start_server):
    srv = start_server({"maxClientCnxns": "3"})
    assert conf_of(srv.port)["maxClientCnxns"] == "3"
    clients = []

    def open_session():
        # The four-letter-word connection above may still count for a moment.
        c = RawClient(srv.port)
        try:
            assert c.connect(10000).session_id != 0
        except (OSError, EOFError):
            c.close()
            return None
        clients.append(c)
        return c

    try:
        for _ in range(3):
            wait_until(open_session, 10, interval=0.2, what="a connection under the limit")
        # the fourth connection from this address is closed at once
        try:
            with RawClient(srv.port, timeout=5) as extra:
                resp = extra.connect(10000)
            pytest.fail(f"a fourth connection got a session: {resp}")
        except socket.timeout:
            pytest.fail("a fourth connection was neither answered nor closed within 5 s")
        except (EOFError, OSError):
            pass  # closed by the server, as expected
        # the first three still work
        for c in clients:
            rep = c.call(PING, xid=-2)
            assert rep.xid == -2
    finally:
        for c in clients:
            c.close()


def test_fresh_server_four_letter_words(start_server):
    srv = start_server({})
    port = srv.port
    conf = four_letter(port, "conf")
    keys = [line.split("=", 1)[0] for line in conf.splitlines()]
    assert keys == ["clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir",
                    "dataLogSize", "tickTime", "maxClientCnxns", "minSessionTimeout",
                    "maxSessionTimeout", "clientPortListenBacklog", "serverId"], conf
    values = dict(line.split("=", 1) for line in conf.splitlines())
    assert values["dataDir"] == f"{srv.data_dir}/version-2"
    assert values["dataLogDir"] == f"{srv.data_dir}/version-2"
    assert (values["secureClientPort"], values["serverId"]) == ("-1", "0")

    # the harness's readiness probe was one session, created (0x1) and closed (0x2)
    srvr = dict(line.split(": ", 1) for line in four_letter(port, "srvr").splitlines())
    assert srvr["Zxid"] == "0x2"
    assert srvr["Mode"] == "standalone"
    assert srvr["Node count"] == "5", "/, /zookeeper, quota, config: the root counts twice"
    mntr = dict(line.split("\t", 1) for line in four_letter(port, "mntr").splitlines())
    assert mntr["zk_znode_count"] == "5"
    assert mntr["zk_ephemerals_count"] == "0"
    assert mntr["zk_watch_count"] == "0"

    envi = four_letter(port, "envi").splitlines()
    assert envi[0] == "Environment:"
    assert [line.split("=", 1)[0] for line in envi[1:]] == [
        "zookeeper.version", "host.name", "java.version", "java.vendor", "java.home",
        "java.class.path", "java.library.path", "java.io.tmpdir", "java.compiler",
        "os.name", "os.arch", "os.version", "user.name", "user.home", "user.dir",
        "os.memory.free", "os.memory.max", "os.memory.total"], envi
    assert f"user.dir={srv.workdir}" in envi

    with RawClient(port) as c:
        c.start_session()
        stat = four_letter(port, "stat")
        lines = stat.splitlines()
        assert lines[1] == "Clients:"
        end = lines.index("")
        clients = lines[2:end]
        assert len(clients) == 2, stat  # this session and the stat connection itself
        for line in clients:
            assert re.fullmatch(r" /127\.0\.0\.1:\d+\[[01]\]\(queued=\d+,recved=\d+,sent=\d+\)",
                                line), line
        assert lines[end + 1].startswith("Latency min/avg/max: ")


def test_super_digest(start_server):
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha1(b"super:secret").digest()).decode()
    srv = start_server({"DigestAuthenticationProvider.superDigest": f"super:{digest}"})
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_digest_acl

    owner = KazooClient(hosts=srv.hosts, auth_data=[("digest", "bob:pw")])
    root = KazooClient(hosts=srv.hosts, auth_data=[("digest", "super:secret")])
    other = KazooClient(hosts=srv.hosts, auth_data=[("digest", "super:wrong")])
    for c in (owner, root, other):
        c.start(timeout=15)
    try:
        owner.create("/private", b"p", acl=[make_digest_acl("bob", "pw", all=True)])
        with pytest.raises(NoAuthError):
            other.get("/private")
        assert root.get("/private")[0] == b"p", "super reads everything"
        root.set("/private", b"by super")
        root.delete("/private")
    finally:
        for c in (owner, root, other):
            c.stop()
            c.close()


def test_closed_session_does_not_expire_later(start_server):
    """After closeSession the session is gone: nothing about it happens when its timeout
    would have run out (no second close, no zxid used), also when the client hangs up
    right after sending closeSession without waiting for the reply (kazoo does that)."""
    srv = start_server({})

    def zxid():
        return dict(line.split(": ", 1)
                    for line in four_letter(srv.port, "srvr").splitlines())["Zxid"]

    with RawClient(srv.port) as c:
        c.start_session(4000)
        assert c.call(rawzk.CREATE, rawzk.create_body("/n", b"", flags=1)).err == 0
        rep = c.call(rawzk.CLOSE_SESSION)
        assert rep.err == 0
        closed_at = rep.zxid
    assert zxid() == hex(closed_at)
    for _ in range(3):
        with RawClient(srv.port) as c:
            c.start_session(4000)
            c.send(rawzk.CLOSE_SESSION)  # and hang up at once
    time.sleep(1)
    settled = zxid()
    assert int(settled, 16) == closed_at + 6, "three sessions created and closed"
    time.sleep(4 + 2 * 2 + 1)  # timeout + two ticks + margin
    assert zxid() == settled, "a closed session was closed (expired) again later"
