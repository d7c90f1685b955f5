"""The 3-server ensemble of docker/docker-compose.yml, run as users run it (opt-in, like
test_docker.py's image test: FERROZK_DOCKER_TESTS=1, a Docker daemon, and `docker compose`
or `docker-compose`; nothing is pulled).

The image is docker/Dockerfile's runtime stage on the local stand-in for
debian:bookworm-slim, with the local release binary (test_docker.build_runtime_image).
The compose file is used as written except for three keys of each service, rewritten in a
copy in a temp dir: `build` dropped, `image` set to the locally built tag, `ports` mapped
to free loopback ports instead of 2181-2183. (An override file cannot do that: compose v1,
and v2 without the `!override` tag, append an override's `ports` to the base file's.)
`compose config` of both files is compared, so that nothing else differs. The project name
is unique, and the fixture tears everything down (`down -v`, images removed by tag) even
when a test fails.

Checked, with every wait bounded: all three containers report healthy; srvr through the
mapped ports shows one leader and two followers; kazoo writes through each mapped port
and through a client given all three; then
* `compose stop` of the leader: the other two elect a leader and serve writes; `compose
  start` brings it back, it rejoins and the three converge (`hash` equal at equal zxid
  after a sync through each server);
* `docker network disconnect` of the leader from the compose network: the other two elect
  and serve writes, the isolated server stops serving (srvr inside the container) and
  acknowledges no write; `docker network connect` (with its aliases) heals it, it
  rejoins and the three converge.
Every acknowledged create is present, with its data, on every server at the end of each
test. Timings (failover, rejoin) are printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from test_docker import COMPOSE, _docker, build_runtime_image, compose_command, docker_ok
from zkharness import HOST, four_letter, free_port, wait_until

SERVICES = ("zoo1", "zoo2", "zoo3")
CMD_TIMEOUT_S = 180          # one docker / compose command
HEALTHY_TIMEOUT_S = 150      # healthcheck: interval 10s, start_period 30s, retries 3
SERVING_TIMEOUT_S = 60       # a (re)started server answers srvr with a Mode
ELECTION_TIMEOUT_S = 60      # a majority elects a leader and acknowledges a write
CONVERGE_TIMEOUT_S = 60      # the replicas reach the same zxid and digest
ISOLATE_S = 15.0             # how long the heal test keeps the leader cut off
OP_TIMEOUT_S = 10.0          # one kazoo request
SESSION_TIMEOUT_S = 10.0


def _enabled() -> bool:
    return docker_ok() and compose_command() is not None


pytestmark = [
    pytest.mark.skipif(not _enabled(), reason="set FERROZK_DOCKER_TESTS=1 with a working "
                                              "docker and docker compose / docker-compose"),
    pytest.mark.timeout(900),
]


def report(capsys, text: str):
    with capsys.disabled():
        print(f"\n    {text}", end="", flush=True)


def summary(outcomes: list[str]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in counts.items()) or "none answered"


def distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def retrying(fn, timeout: float = 60.0, what: str = "a read"):
    """fn() until it returns without raising (reads and syncs only: a client may be
    reconnecting, or opening a new session, after a fault). NoNodeError is an answer."""
    from kazoo.exceptions import NoNodeError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except NoNodeError:
            raise
        except Exception as exc:  # noqa: BLE001
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} still failing after {timeout}s: {exc!r}") \
                    from None
            time.sleep(0.2)


class Stack:
    """One `compose up` of the adapted docker-compose.yml, and what the tests learn of it:
    kazoo clients per mapped port, every acknowledged create, every digest seen per zxid."""

    def __init__(self, workdir: Path, project: str, image: str):
        import yaml

        self.workdir = workdir
        self.project = project
        self.image = image
        self.cmd = compose_command()
        self.file = workdir / "docker-compose.yml"
        self.ports = dict(zip(SERVICES, distinct_free_ports(len(SERVICES))))
        doc = yaml.safe_load(COMPOSE.read_text())
        assert sorted(doc["services"]) == list(SERVICES)
        for name, svc in doc["services"].items():
            svc.pop("build", None)
            svc["image"] = image
            (port,) = svc["ports"]
            container = str(port).rsplit(":", 1)[1]
            svc["ports"] = [f"{HOST}:{self.ports[name]}:{container}"]
        # x- extension fields were only anchors; the services hold their expanded values.
        doc = {k: v for k, v in doc.items() if not str(k).startswith("x-")}

        class NoAliases(yaml.SafeDumper):
            def ignore_aliases(self, data):
                return True

        self.file.write_text(yaml.dump(doc, Dumper=NoAliases, sort_keys=False))
        self.containers: dict[str, str] = {}
        self.network = ""
        self.aliases: dict[str, list[str]] = {}
        self.clients: dict[str, object] = {}
        self.all_client = None
        self.acked: dict[str, bytes] = {}      # path -> data of every acknowledged create
        self.unknown: set[str] = set()         # creates whose outcome is not known
        self.digests: dict[int, tuple[str, str]] = {}
        self.divergences: list[str] = []
        self.seq = 0
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ docker / compose
    def compose(self, *args: str, timeout: float = CMD_TIMEOUT_S, check: bool = True):
        res = subprocess.run([*self.cmd, "-p", self.project, "-f", str(self.file), *args],
                             capture_output=True, text=True, timeout=timeout, cwd=self.workdir,
                             stdin=subprocess.DEVNULL)
        if check:
            assert res.returncode == 0, (
                f"{' '.join(self.cmd)} {' '.join(args)} exited {res.returncode}:\n"
                f"{res.stdout}\n{res.stderr}")
        return res

    def up(self):
        self.compose("up", "-d")
        for svc in SERVICES:
            cid = self.compose("ps", "-q", svc).stdout.strip()
            assert cid, f"no container for {svc}"
            self.containers[svc] = cid
        nets = _docker("inspect", "-f",
                       "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                       self.containers["zoo1"], timeout=60).stdout.split()
        assert len(nets) == 1, nets
        self.network = nets[0]

    def state(self, svc: str) -> tuple[str, str]:
        """(container status, health status) from docker inspect."""
        out = _docker("inspect", "-f",
                      "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                      self.containers[svc], timeout=60, check=False).stdout.split()
        return (out[0] if out else "?", out[1] if len(out) > 1 else "")

    def wait_healthy(self, services=SERVICES, timeout: float = HEALTHY_TIMEOUT_S):
        def healthy():
            states = {svc: self.state(svc) for svc in services}
            for svc, (status, _) in states.items():
                if status in ("exited", "dead"):
                    raise AssertionError(f"{svc} {status}:\n{self.logs([svc])}")
            return all(h == "healthy" for _, h in states.values())

        try:
            wait_until(healthy, timeout, interval=0.5, what=f"{list(services)} to be healthy")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; {self.states()}\n{self.logs()}") from None

    def states(self) -> dict[str, tuple[str, str]]:
        return {svc: self.state(svc) for svc in SERVICES}

    def logs(self, services=SERVICES, tail: int = 60) -> str:
        res = self.compose("logs", "--no-color", f"--tail={tail}", *services, check=False,
                           timeout=60)
        return res.stdout + res.stderr

    def aliases_of(self, svc: str) -> list[str]:
        out = _docker("inspect", "-f",
                      "{{range (index .NetworkSettings.Networks \"" + self.network +
                      "\").Aliases}}{{.}} {{end}}", self.containers[svc], timeout=60).stdout
        return out.split()

    def disconnect(self, svc: str):
        self.aliases[svc] = self.aliases_of(svc)
        _docker("network", "disconnect", self.network, self.containers[svc], timeout=60)

    def connect(self, svc: str):
        """Reconnects with the aliases compose gave it (the service name is one of them:
        the others find it by that name)."""
        args = []
        for a in self.aliases.get(svc) or [svc]:
            args += ["--alias", a]
        _docker("network", "connect", *args, self.network, self.containers[svc], timeout=60)

    def down(self):
        res = self.compose("down", "-v", "--remove-orphans", "-t", "10", check=False,
                           timeout=CMD_TIMEOUT_S)
        if res.returncode != 0:  # still remove what was made, by id and name
            for cid in self.containers.values():
                _docker("rm", "-f", "-v", cid, check=False, timeout=120)
            if self.network:
                _docker("network", "rm", self.network, check=False, timeout=60)
        return res

    # ------------------------------------------------------------------ four-letter words
    def four(self, svc: str, word: str, timeout: float = 5.0) -> str | None:
        """Through the mapped port; None when nothing answers."""
        try:
            return four_letter(self.ports[svc], word, timeout=timeout)
        except (OSError, TimeoutError):
            return None

    def four_inside(self, svc: str, word: str) -> str | None:
        """From inside the container (bash /dev/tcp to its own client port), for a server
        the host cannot reach."""
        try:
            res = _docker("exec", self.containers[svc], "bash", "-c",
                          'exec 3<>/dev/tcp/127.0.0.1/2181 && printf %s "$1" >&3 && '
                          'timeout 5 cat <&3', "_", word, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return None
        return res.stdout if res.returncode == 0 else None

    @staticmethod
    def mode_of(srvr: str | None) -> str | None:
        m = re.search(r"^Mode: (\w+)", srvr or "", re.M)
        return m.group(1) if m else None

    def modes(self, services=SERVICES) -> dict[str, str | None]:
        return {svc: self.mode_of(self.four(svc, "srvr")) for svc in services}

    def wait_serving(self, services, timeout: float = SERVING_TIMEOUT_S):
        try:
            wait_until(lambda: all(self.modes(services).values()), timeout, interval=0.2,
                       what=f"{list(services)} to answer srvr with a Mode")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; modes {self.modes()}; {self.states()}\n"
                                 f"{self.logs()}") from None

    def wait_leader(self, services=SERVICES, timeout: float = ELECTION_TIMEOUT_S) -> str:
        """Waits until one of services leads and the others follow; returns the leader."""
        def settled():
            modes = self.modes(services)
            leaders = [s for s, m in modes.items() if m == "leader"]
            if len(leaders) == 1 and all(m == "follower" for s, m in modes.items()
                                         if s != leaders[0]):
                return leaders[0]
            return None

        try:
            return wait_until(settled, timeout, interval=0.2, what="one leader")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; modes {self.modes()}\n{self.logs()}") from None

    def hash(self, svc: str) -> tuple[int, str] | None:
        """(zxid, digest) from `hash`; remembers the digest of each zxid, and any other
        digest later reported for that zxid (by any server) is a divergence."""
        lines = (self.four(svc, "hash") or "").strip().splitlines()
        if not lines or ":" not in lines[0]:
            return None
        z, d = lines[0].split(":", 1)
        try:
            zxid = int(z.strip(), 16)
        except ValueError:
            return None
        digest = d.strip()
        seen = self.digests.setdefault(zxid, (digest, svc))
        if seen[0] != digest:
            self.divergences.append(f"zxid {zxid:#x}: {seen[1]} digest {seen[0]}, "
                                    f"{svc} {digest}")
        return zxid, digest

    def wait_converged(self, timeout: float = CONVERGE_TIMEOUT_S) -> tuple[int, str]:
        """A sync through each server, then waits until all report one zxid and digest."""
        for svc in SERVICES:
            retrying(lambda: self.clients[svc].sync_async("/").get(timeout=OP_TIMEOUT_S),
                     what=f"a sync through {svc}")
        last: dict = {}

        def same():
            nonlocal last
            last = {svc: self.hash(svc) for svc in SERVICES}
            assert not self.divergences, "replicas differ at equal zxids:\n" + \
                "\n".join(self.divergences)
            values = set(last.values())
            return values.pop() if len(values) == 1 and None not in values else None

        try:
            return wait_until(same, timeout, interval=0.2, what="the replicas to converge")
        except TimeoutError as exc:
            shown = {s: (f"{v[0]:#x}: {v[1]}" if v else None) for s, v in last.items()}
            raise AssertionError(f"{exc}; hash {shown}; modes {self.modes()}") from None

    # ------------------------------------------------------------------ clients and writes
    def client(self, hosts: str):
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        zk = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_S,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0))
        zk.start(timeout=30)
        return zk

    def open_clients(self):
        for svc in SERVICES:
            self.clients[svc] = self.client(f"{HOST}:{self.ports[svc]}")
        self.all_client = self.client(",".join(f"{HOST}:{self.ports[s]}" for s in SERVICES))

    def close_clients(self):
        for zk in [*self.clients.values(), self.all_client]:
            if zk is None:
                continue
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001
                pass

    def next_path(self, parent: str, via: str) -> str:
        with self.lock:
            self.seq += 1
            return f"{parent}/{via}-{self.seq:05d}"

    def create(self, zk, parent: str, via: str, timeout: float = OP_TIMEOUT_S):
        """One create of a fresh node, never retried. Returns (path, ack time) when
        acknowledged (recorded in `acked`), None otherwise (recorded in `unknown`)."""
        path = self.next_path(parent, via)
        data = path.encode()
        try:
            zk.create_async(path, data).get(timeout=timeout)
        except Exception:  # noqa: BLE001 - ConnectionLoss, timeouts, not serving
            with self.lock:
                self.unknown.add(path)
            return None
        now = time.monotonic()
        with self.lock:
            self.acked[path] = data
        return path, now

    def write_until_acked(self, services, parent: str, timeout: float = ELECTION_TIMEOUT_S,
                          per_try: float = 2.0) -> float:
        """Creates through services' clients in turn until one is acknowledged; returns the
        monotonic time of that acknowledgement."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for svc in services:
                got = self.create(self.clients[svc], parent, svc, timeout=per_try)
                if got:
                    return got[1]
            time.sleep(0.05)
        raise AssertionError(f"no write acknowledged through {list(services)} in {timeout}s; "
                             f"modes {self.modes()}\n{self.logs()}")

    def write_through(self, services, parent: str, n: int):
        """n acknowledged creates through each of services' clients and through the client
        given all three ports."""
        for svc in services:
            for _ in range(n):
                assert self.create(self.clients[svc], parent, svc), \
                    f"create through {svc} failed; modes {self.modes()}"
        for _ in range(n):
            assert self.create(self.all_client, parent, "all"), \
                f"create through the 3-port client failed; modes {self.modes()}"

    def rejoin_and_verify(self, back, parent: str, since: float):
        """After the servers in `back` return: waits until they serve and all three
        converge, writes through every port, converges again and checks every acknowledged
        create on all three. Returns (seconds until serving, leader, converged zxid,
        seconds until converged, creates checked), times counted from `since`."""
        self.wait_serving(back)
        serving_in = time.monotonic() - since
        leader = self.wait_leader()
        zxid, _ = self.wait_converged()
        converged_in = time.monotonic() - since
        self.write_through(SERVICES, parent, 3)
        self.wait_converged()
        self.wait_healthy()
        return serving_in, leader, zxid, converged_in, self.check_acked_everywhere()

    def check_acked_everywhere(self):
        """Every acknowledged create is on every server, with its data (sync first)."""
        with self.lock:
            acked = dict(self.acked)
        for svc in SERVICES:
            zk = self.clients[svc]
            retrying(lambda: zk.sync_async("/").get(timeout=OP_TIMEOUT_S),
                     what=f"a sync through {svc}")
            by_parent: dict[str, set[str]] = {}
            for path in acked:
                parent, name = path.rsplit("/", 1)
                by_parent.setdefault(parent, set()).add(name)
            for parent, names in by_parent.items():
                have = set(retrying(
                    lambda: zk.get_children_async(parent).get(timeout=OP_TIMEOUT_S),
                    what=f"children of {parent} through {svc}"))
                missing = names - have
                assert not missing, f"{svc} lacks {len(missing)} acknowledged creates under " \
                    f"{parent}: {sorted(missing)[:10]}"
            for path, data in acked.items():
                got, _ = retrying(lambda: zk.get_async(path).get(timeout=OP_TIMEOUT_S),
                                  what=f"{path} through {svc}")
                assert got == data, f"{svc}: {path} holds {got!r}, acknowledged {data!r}"
        return len(acked)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("docker-ensemble")
    tag = f"ferrozk-ens-test-{os.getpid()}"
    image, base = f"{tag}:latest", f"{tag}-base:bookworm-slim"
    st = None
    try:
        t0 = time.monotonic()
        build_runtime_image(workdir, image, base)
        built = time.monotonic() - t0
        st = Stack(workdir, f"ferrozkens{os.getpid()}", image)
        st.up()
        st.wait_healthy()
        st.healthy_after = time.monotonic() - t0 - built
        st.built_in = built
        st.wait_serving(SERVICES)
        st.open_clients()
        yield st
    finally:
        if st is not None:
            st.close_clients()
            if st.containers:  # shown with the failure report (captured teardown output)
                print(f"--- compose ps / logs ({st.project}) ---")
                print(st.compose("ps", check=False, timeout=60).stdout)
                print(st.logs(tail=200))
            res = st.down()
            print(f"compose down: exit {res.returncode}\n{res.stdout}{res.stderr}")
        for img in (image, base):
            _docker("rmi", "-f", img, check=False, timeout=120)
        left = _docker("ps", "-aq", "--filter", f"label=com.docker.compose.project="
                       f"ferrozkens{os.getpid()}", check=False, timeout=60).stdout.split()
        assert not left, f"containers left behind: {left}"


# ----------------------------------------------------------------------------- tests

def test_adapted_compose_file_differs_only_in_build_image_ports(stack):
    import yaml

    def config(path: Path) -> dict:
        res = subprocess.run([*stack.cmd, "-f", str(path), "config"], capture_output=True,
                             text=True, timeout=CMD_TIMEOUT_S, cwd=path.parent)
        assert res.returncode == 0, res.stderr
        doc = yaml.safe_load(res.stdout)
        doc.pop("name", None)  # v2 prints the project name (the directory's)
        for svc in doc["services"].values():
            for key in ("build", "image", "ports"):
                svc.pop(key, None)
        return doc

    assert config(stack.file) == config(COMPOSE)


def test_healthy_one_leader_two_followers_writes_through_every_port(stack, capsys):
    assert {svc: h for svc, (_, h) in stack.states().items()} == dict.fromkeys(SERVICES,
                                                                              "healthy")
    leader = stack.wait_leader()
    modes = stack.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    for svc in SERVICES:
        srvr = stack.four(svc, "srvr")
        assert srvr and srvr.startswith("Zookeeper version:"), srvr
        inside = subprocess.run(["docker", "exec", stack.containers[svc],
                                 "docker-entrypoint.sh", "healthcheck"],
                                capture_output=True, text=True, timeout=60)
        assert inside.returncode == 0, inside.stderr
    stack.all_client.ensure_path("/docker/basic")
    stack.write_through(SERVICES, "/docker/basic", 10)
    zxid, _ = stack.wait_converged()
    n = stack.check_acked_everywhere()
    report(capsys, f"image built in {stack.built_in:.1f}s; all healthy "
                   f"{stack.healthy_after:.1f}s after compose up; leader {leader}; "
                   f"{n} creates on all three at zxid {zxid:#x}")


def test_leader_compose_stop_then_start(stack, capsys):
    stack.all_client.ensure_path("/docker/stop")
    stack.write_through(SERVICES, "/docker/stop", 3)
    leader = stack.wait_leader()
    others = [s for s in SERVICES if s != leader]

    t0 = time.monotonic()
    stack.compose("stop", "-t", "10", leader)
    stopped_in = time.monotonic() - t0
    assert stack.state(leader)[0] == "exited", stack.state(leader)
    acked_at = stack.write_until_acked(others, "/docker/stop")
    failover = acked_at - t0
    new_leader = stack.wait_leader(others)
    assert new_leader != leader
    assert stack.four(leader, "srvr") is None  # its port answers nothing while stopped
    stack.write_through(others, "/docker/stop", 5)
    # the 3-port client moves to a live server by itself
    for _ in range(5):
        assert stack.create(stack.all_client, "/docker/stop", "all", timeout=30), \
            f"3-port client: create failed; modes {stack.modes()}"

    t1 = time.monotonic()
    stack.compose("start", leader)
    serving_in, final_leader, zxid, converged_in, n = stack.rejoin_and_verify([leader], "/docker/stop", t1)
    report(capsys, f"compose stop {leader} (took {stopped_in:.1f}s): {new_leader} leads and "
                   f"a write was acknowledged {failover:.2f}s after the stop began; compose "
                   f"start {leader}: serving as {stack.modes([leader])[leader]} after "
                   f"{serving_in:.2f}s, converged at zxid {zxid:#x} after {converged_in:.2f}s "
                   f"(leader now {final_leader}); {n} acknowledged creates on all three")


def test_leader_network_disconnect_then_connect(stack, capsys):
    stack.all_client.ensure_path("/docker/partition")
    stack.write_through(SERVICES, "/docker/partition", 3)
    leader = stack.wait_leader()
    others = [s for s in SERVICES if s != leader]
    isolated_zk = stack.clients[leader]

    # Writes through a client connected only to the isolated server, while it is cut off.
    attempts: list[tuple[str, object, list[float]]] = []
    outcomes: list[str] = []
    stop = threading.Event()

    def minority():
        n = 0
        while not stop.is_set():
            n += 1
            path = stack.next_path("/docker/partition", f"minority-{leader}")
            done: list[float] = []
            try:
                res = isolated_zk.create_async(path, path.encode())
            except Exception:  # noqa: BLE001 - the client refuses to send (closed, lost)
                stop.wait(0.3)
                continue
            res.rawlink(lambda r, done=done: done.append(time.monotonic()))
            attempts.append((path, res, done))
            try:
                res.get(timeout=3)
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001
                outcomes.append(type(exc).__name__)
            stop.wait(0.3)

    t0 = time.monotonic()
    stack.disconnect(leader)
    writer = threading.Thread(target=minority, daemon=True)
    writer.start()
    healed_at = None
    try:
        acked_at = stack.write_until_acked(others, "/docker/partition")
        failover = acked_at - t0
        new_leader = stack.wait_leader(others)
        stack.write_through(others, "/docker/partition", 5)
        for _ in range(5):
            assert stack.create(stack.all_client, "/docker/partition", "all", timeout=30), \
                f"3-port client: create failed; modes {stack.modes()}"

        # The isolated server stops serving (inside its container, srvr has no Mode).
        def not_serving():
            out = stack.four_inside(leader, "srvr")
            return out is not None and stack.mode_of(out) is None and out
        try:
            inside = wait_until(not_serving, ELECTION_TIMEOUT_S, interval=0.5,
                                what=f"the isolated {leader} to stop serving")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; srvr inside: {stack.four_inside(leader, 'srvr')!r}"
                                 f"\n{stack.logs([leader])}") from None
        stopped_serving = time.monotonic() - t0
        host_view = stack.four(leader, "srvr", timeout=3)
        # Keep it cut off a little longer, while the minority client keeps trying.
        wait_until(lambda: len(attempts) >= 3 or time.monotonic() - t0 > 20, 30,
                   interval=0.2, what="minority attempts")
        stop.set()
        writer.join(15)
        assert not writer.is_alive()
        healed_at = time.monotonic()
        stack.connect(leader)
    finally:
        stop.set()
        if healed_at is None:  # a failure above: heal anyway, so teardown sees 3 servers
            try:
                stack.connect(leader)
            except Exception:  # noqa: BLE001
                pass
    early = [p for p, r, done in attempts
             if done and done[0] < healed_at and r.successful()]
    assert not early, f"the isolated {leader} acknowledged writes while cut off: {early}"
    with stack.lock:
        for p, r, done in attempts:
            if r.ready() and r.successful():
                stack.acked[p] = p.encode()  # acknowledged after the heal: must be kept
            else:
                stack.unknown.add(p)

    serving_in, final_leader, zxid, converged_in, n = stack.rejoin_and_verify(
        SERVICES, "/docker/partition", healed_at)
    report(capsys, f"network disconnect {leader}: {new_leader} leads and a write was "
                   f"acknowledged {failover:.2f}s after; {leader} stopped serving after "
                   f"{stopped_serving:.2f}s ({inside.splitlines()[0]!r}; host port: "
                   f"{'no answer' if host_view is None else host_view.splitlines()[0]!r}); "
                   f"{len(attempts)} writes tried through it ({summary(outcomes)}), none "
                   f"acknowledged while cut off; connect: serving after {serving_in:.2f}s, "
                   f"converged at zxid {zxid:#x} after {converged_in:.2f}s (leader "
                   f"{final_leader}); {n} acknowledged creates on all three")


def test_healed_server_rejoins_without_deposing_the_leader(stack, capsys):
    """A server cut off for a while (several of its election rounds) and then reconnected
    should follow the leader the majority elected meanwhile, as a ZooKeeper server does
    (its election finds the established leader), rather than take over: a leader change
    drops every client of every server. Safety is asserted; the takeover is an xfail."""
    from kazoo.protocol.states import KazooState

    parent = "/docker/heal"
    stack.all_client.ensure_path(parent)
    leader = stack.wait_leader()
    others = [s for s in SERVICES if s != leader]
    t0 = time.monotonic()
    stack.disconnect(leader)
    healed = False
    writes: list[float] = []
    drops: list[tuple[str, float]] = []
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            got = stack.create(stack.all_client, parent, "heal", timeout=5)
            if got:
                writes.append(got[1])
            else:
                stop.wait(0.05)

    def listener(svc):
        def on_state(state):
            if state != KazooState.CONNECTED:
                drops.append((svc, time.monotonic()))
        return on_state

    listeners = {svc: listener(svc) for svc in others}
    th = threading.Thread(target=writer, daemon=True)
    try:
        stack.write_until_acked(others, parent)
        new_leader = stack.wait_leader(others)
        # Cut off for ISOLATE_S in all: the isolated server runs several election rounds.
        wait_until(lambda: time.monotonic() - t0 >= ISOLATE_S, ISOLATE_S + 5, interval=0.2,
                   what="the isolation period")
        for svc, fn in listeners.items():
            stack.clients[svc].add_listener(fn)
        th.start()
        wait_until(lambda: len(writes) >= 3, 30, interval=0.05, what="writes before the heal")
        healed_at = time.monotonic()
        stack.connect(leader)
        healed = True
        stack.wait_serving(SERVICES)
        final_leader = stack.wait_leader()
        wait_until(lambda: writes and writes[-1] > healed_at + 2, 60, interval=0.1,
                   what="writes after the heal")
    finally:
        stop.set()
        th.join(15)
        for svc, fn in listeners.items():
            stack.clients[svc].remove_listener(fn)
        if not healed:
            try:
                stack.connect(leader)
            except Exception:  # noqa: BLE001
                pass
    zxid, _ = stack.wait_converged()
    stack.wait_healthy()
    n = stack.check_acked_everywhere()
    # the longest wait between two acknowledged writes, from the last one before the heal
    around = [w for w in writes if w < healed_at][-1:] + [w for w in writes if w >= healed_at]
    pause = max(b - a for a, b in zip(around, around[1:]))
    dropped = sorted({svc for svc, t in drops if t >= healed_at})
    text = (f"{leader} cut off {healed_at - t0:.1f}s ({new_leader} led the other two), then "
            f"reconnected: leader now {final_leader}; writes through the 3-port client waited "
            f"up to {pause:.2f}s for an acknowledgement after the heal; the majority's "
            f"clients lost their connection on {dropped or 'no server'}; converged at zxid "
            f"{zxid:#x}; {n} acknowledged creates on all three")
    report(capsys, text)
    if final_leader != new_leader:
        pytest.xfail(f"the healed server took over the leadership: {text}")
