"""pytest fixtures: one server under test per test module, kazoo clients, a proxy.

FERROZK_TARGET=ferrozk|zookeeper picks the server (see zkharness.py).
"""

from __future__ import annotations

import logging
import re
import threading

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

import zkharness
from zkharness import Server, TcpProxy

# kazoo logs every connection drop at WARNING; the tests provoke many on purpose.
logging.getLogger("kazoo").setLevel(logging.ERROR)


def pytest_report_header(config):
    t = zkharness.target()
    where = zkharness.ferrozk_bin() if t == "ferrozk" else "/usr/share/java/zookeeper.jar"
    return f"server under test: {t} ({where})"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.module.__name__)[-40:]
    srv = Server(tmp_path_factory.mktemp(f"srv-{name}"))
    srv.start()
    request.module._server_under_test = srv
    yield srv
    srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        srv = getattr(item.module, "_server_under_test", None)
        if srv is not None:
            state = "running" if srv.alive() else "NOT RUNNING"
            rep.sections.append(
                (f"server log tail ({srv.target}, {state}, {srv.log_path})", srv.log_tail(80))
            )


class ClientFactory:
    """Makes started KazooClients and stops every one of them at teardown."""

    def __init__(self, hosts: str):
        self.hosts = hosts
        self.clients: list[KazooClient] = []
        self._lock = threading.Lock()

    def __call__(self, hosts: str | None = None, timeout: float = 10.0, start: bool = True,
                 **kwargs) -> KazooClient:
        kwargs.setdefault(
            "connection_retry", KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0)
        )
        kwargs.setdefault("command_retry", KazooRetry(max_tries=3, delay=0.1, max_delay=1.0))
        zk = KazooClient(hosts=hosts or self.hosts, timeout=timeout, **kwargs)
        with self._lock:
            self.clients.append(zk)
        if start:
            zk.start(timeout=15)
        return zk

    def close_all(self):
        for zk in self.clients:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def make_client(server):
    factory = ClientFactory(server.hosts)
    yield factory
    factory.close_all()


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def base(zk, request):
    """A fresh, empty persistent node for this test: /t/<test name>."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:80]
    path = f"/t/{name}"
    if zk.exists(path):
        zk.delete(path, recursive=True)
    zk.ensure_path(path)
    return path


@pytest.fixture
def proxy(server):
    p = TcpProxy(server.port)
    yield p
    p.close()


# With -x the first failure ends the run, so the most basic checks go first; files not
# named here run last, in their usual order.
MODULE_ORDER = [
    "test_kazoo_basic.py", "test_wire.py", "test_kazoo_recipes.py", "test_kazoo_acl.py",
    "test_java.py", "test_zkcli.py", "test_config.py", "test_restart.py",
    "test_differential.py",
]


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)

    items.sort(key=rank)  # stable: the order inside each file is kept
