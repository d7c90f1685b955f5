"""Start and stop the server under test, and small helpers the tests share.

The target is chosen with FERROZK_TARGET:
  ferrozk   (default) the binary at FERROZK_BIN, default <repo>/target/release/ferrozk,
            started as `ferrozk serve --config <dir>/zoo.cfg`
  zookeeper Apache ZooKeeper 3.8 from Debian's `zookeeper` package, started as
            `java ... org.apache.zookeeper.server.ZooKeeperServerMain <dir>/zoo.cfg`

Both read the same zoo.cfg. Every wait here is bounded in time, and a server is
stopped by its own PID (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = "127.0.0.1"

ZK_JAVA_DIR = Path("/usr/share/java")
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


def target() -> str:
    t = os.environ.get("FERROZK_TARGET", "ferrozk").strip().lower()
    if t not in ("ferrozk", "zookeeper"):
        raise RuntimeError(f"FERROZK_TARGET must be 'ferrozk' or 'zookeeper', not {t!r}")
    return t


def ferrozk_bin() -> Path:
    return Path(os.environ.get("FERROZK_BIN", str(REPO / "target" / "release" / "ferrozk")))


def free_port() -> int:
    """A port that was free on the loopback interface a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll predicate() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - reported below if we time out
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def run_threads(targets, timeout: float):
    """Run callables in threads; re-raise the first exception; bounded join."""
    errors = []

    def wrap(fn):
        def inner():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
        return inner

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in threads if t.is_alive()]
    if errors:
        raise errors[0]
    assert not alive, f"{len(alive)} worker thread(s) still running after {timeout}s"


def four_letter(port: int, cmd: str, host: str = HOST, timeout: float = 10.0) -> str:
    """Send a four-letter word and read the answer until the server closes."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode("ascii"))
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{cmd}: server did not close the connection in {timeout}s")
            s.settimeout(left)
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def zoo_cfg_text(port: int, data_dir: Path, extra: dict | None = None) -> str:
    lines = {
        "tickTime": "2000",
        "dataDir": str(data_dir),
        "clientPort": str(port),
        "clientPortAddress": HOST,
        "maxClientCnxns": "0",
        "4lw.commands.whitelist": "*",
        "extendedTypesEnabled": "true",
        # Apache ZooKeeper would otherwise start Jetty on 8080; ferrozk may warn about it.
        "admin.enableServer": "false",
    }
    lines.update(extra or {})
    return "".join(f"{k}={v}\n" for k, v in lines.items())


class Server:
    """One server process under test, listening on 127.0.0.1:port."""

    def __init__(self, workdir: Path, extra_cfg: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.cfg_path = self.workdir / "zoo.cfg"
        self.cfg_path.write_text(zoo_cfg_text(self.port, self.data_dir, extra_cfg))
        self.log_path = self.workdir / "server.log"
        self.target = target()
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> list[str]:
        if self.target == "zookeeper":
            jar = ZK_JAVA_DIR / "zookeeper.jar"
            if not jar.exists():
                raise RuntimeError(f"{jar} is missing: apt-get install zookeeper")
            cp = [str(jar)]  # its manifest lists the other jars it needs
            simple = ZK_JAVA_DIR / "slf4j-simple.jar"
            if simple.exists():
                cp.append(str(simple))
            return [
                "java",
                "-Xmx512m",
                "-XX:+UseSerialGC",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-cp",
                ":".join(cp),
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(self.cfg_path),
            ]
        binary = ferrozk_bin()
        if not binary.exists():
            raise RuntimeError(
                f"ferrozk binary not found at {binary}: run `cargo build --release` "
                "or set FERROZK_BIN (or FERROZK_TARGET=zookeeper to test Apache ZooKeeper)"
            )
        return [str(binary), "serve", "--config", str(self.cfg_path)]

    def start(self, timeout: float = START_TIMEOUT_S) -> "Server":
        cmd = self.command()
        self._log = open(self.log_path, "ab")
        self._log.write(f"$ {' '.join(cmd)}\n".encode())
        self._log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")  # plain server logs in failure reports
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.target} exited with status {code} during startup; log:\n{self.log_tail()}"
                )
            try:
                if four_letter(self.port, "ruok", timeout=2.0) == "imok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.target} did not answer ruok on {self.hosts} within {timeout}s; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        # ZooKeeper answers ruok a moment before it serves sessions; wait for a real one.
        wait_until(self._session_ok, timeout=max(1.0, deadline - time.monotonic()),
                   what=f"{self.target} to accept a session on {self.hosts}")
        return self

    def _session_ok(self) -> bool:
        """Open a session and close it again (closeSession answered), on the wire, so
        that the probe leaves no session behind to expire later."""
        from rawzk import CLOSE_SESSION, RawClient

        with RawClient(self.port, timeout=5.0) as c:
            resp = c.connect(10000)
            if resp.session_id == 0 or resp.timeout <= 0:
                return False
            rep = c.call(CLOSE_SESSION)
            return rep.err == 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the process by its PID: SIGTERM, then SIGKILL after a grace period."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=STOP_GRACE_S)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class TcpProxy:
    """A loopback TCP proxy in front of the server, so a test can cut a client's
    connection without closing its session.

    drop()   closes every proxied connection at once;
    refuse() makes new connections close immediately (the client cannot reconnect);
    accept() lets new connections through again.

    It can also be driven over a control port (one command per line: drop, refuse,
    accept, drop-refuse; answered with `ok`), which the Java tests use.
    """

    def __init__(self, upstream_port: int, upstream_host: str = HOST):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._ctl = socket.create_server((HOST, 0))
        self._ctl.settimeout(0.2)
        self.control_port = self._ctl.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._refusing = False
        self._stopped = threading.Event()
        self.accepted = 0
        self._threads = [
            threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True),
            threading.Thread(target=self._control_loop, name="proxy-control", daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        socks = [a, b]
        try:
            while not self._stopped.is_set():
                readable, _, _ = select.select(socks, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _close(a)
            _close(b)
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))

    def _control_loop(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._ctl.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._control_conn, args=(conn,), daemon=True).start()

    def _control_conn(self, conn: socket.socket):
        conn.settimeout(30)
        buf = b""
        try:
            while not self._stopped.is_set():
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = line.decode().strip()
                    if cmd == "drop":
                        self.drop()
                    elif cmd == "refuse":
                        self.refuse()
                    elif cmd == "accept":
                        self.accept()
                    elif cmd == "drop-refuse":
                        self.refuse()
                        self.drop()
                    else:
                        conn.sendall(f"error unknown command {cmd}\n".encode())
                        continue
                    conn.sendall(b"ok\n")
        except OSError:
            return
        finally:
            _close(conn)

    def drop(self) -> int:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _shutdown(a)
            _shutdown(b)
        return len(pairs)

    def refuse(self):
        with self._lock:
            self._refusing = True

    def accept(self):
        with self._lock:
            self._refusing = False

    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def close(self):
        self._stopped.set()
        _close(self._listener)
        _close(self._ctl)
        self.drop()
        for t in self._threads:
            t.join(timeout=2)


# ----------------------------------------------------------------------------- ensembles

# Ports below the kernel's ephemeral range are never handed out for outgoing connections,
# so a port picked here stays free while its server is down between a kill and a restart
# (an ephemeral port could meanwhile become some client socket's local port).
ENSEMBLE_PORT_RANGE = (20000, 32000)
SRVR_TIMEOUT_S = 2.0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As a server binds it (SO_REUSEADDR): a TIME_WAIT left by an earlier test is fine.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


_reserved_ports: set[int] = set()
_reserved_lock = threading.Lock()


def free_ports(n: int) -> list[int]:
    """n distinct ports, free on the loopback interface a moment ago, below the ephemeral
    range, and never handed out twice by this process."""
    import random

    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    out: list[int] = []
    with _reserved_lock:
        for _ in range(200 * n):
            if len(out) == n:
                break
            p = rng.randrange(*ENSEMBLE_PORT_RANGE)
            if p in _reserved_ports or p in out or not _port_free(p):
                continue
            out.append(p)
        if len(out) < n:
            raise RuntimeError(f"found only {len(out)} of {n} free ports in {ENSEMBLE_PORT_RANGE}")
        _reserved_ports.update(out)
    return out


class NetnsNetwork:
    """Each server of an ensemble in its own network namespace, with two links:

    * a client link: a veth pair between the test's namespace (10.X.i.1) and the server's
      (10.X.i.2), where the server listens for clients on 0.0.0.0:2181;
    * a peer link: a veth pair from the server's namespace (10.X.0.i) to a bridge in a
      hub namespace, which carries the quorum traffic.

    isolate(i) takes server i's peer link down (a real partition: no resets, packets are
    lost), while its clients can still reach it; heal(i) brings it back. Deleting the
    namespaces (teardown) removes every link and the bridge with them. Needs root and
    `ip netns`; setup() raises RuntimeError with the reason otherwise.
    """

    PREFIX = "fzk"

    def __init__(self, ids):
        import random

        self.ids = list(ids)
        self.tag = f"{random.randrange(16 ** 4):04x}"
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout \
            if shutil_which("ip") else ""
        octets = [o for o in range(200, 250) if f" 10.{o}." not in used]
        self.octet = random.choice(octets) if octets else 250
        self.hub = f"{self.PREFIX}{self.tag}-hub-{os.getpid()}"
        self.created: list[str] = []

    def ns(self, i: int) -> str:
        return f"{self.PREFIX}{self.tag}-s{i}-{os.getpid()}"

    def peer_ip(self, i: int) -> str:
        return f"10.{self.octet}.0.{i}"

    def client_ip(self, i: int) -> str:
        return f"10.{self.octet}.{i}.2"

    @staticmethod
    def unavailable() -> str | None:
        """Why namespaces cannot be used here, or None."""
        if os.geteuid() != 0:
            return "not root: network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN"
        if not shutil_which("ip"):
            return "no `ip` command (iproute2)"
        p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        if p.returncode != 0:
            return f"`ip netns list` failed: {p.stderr.strip()}"
        return None

    def _ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} failed: {p.stderr.strip()}")
        return p

    @classmethod
    def remove_stale(cls):
        """Deletes namespaces this class made in test processes that no longer exist."""
        p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        for line in p.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            parts = name.split("-")
            if not name.startswith(cls.PREFIX) or len(parts) != 3 or not parts[2].isdigit():
                continue
            try:
                os.kill(int(parts[2]), 0)
                continue  # its test process is alive
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def setup(self):
        self.remove_stale()
        try:
            t = self.tag
            self._ip("netns", "add", self.hub)
            self.created.append(self.hub)
            self._ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            self._ip("-n", self.hub, "link", "set", "br0", "up")
            self._ip("-n", self.hub, "link", "set", "lo", "up")
            for i in self.ids:
                ns = self.ns(i)
                self._ip("netns", "add", ns)
                self.created.append(ns)
                self._ip("-n", ns, "link", "set", "lo", "up")
                # client link: fzk<tag>c<i> here, c0 in the server's namespace
                here = f"{self.PREFIX}{t}c{i}"
                self._ip("link", "add", here, "type", "veth", "peer", "name", "c0", "netns", ns)
                self._ip("addr", "add", f"10.{self.octet}.{i}.1/24", "dev", here)
                self._ip("link", "set", here, "up")
                self._ip("-n", ns, "addr", "add", f"{self.client_ip(i)}/24", "dev", "c0")
                self._ip("-n", ns, "link", "set", "c0", "up")
                # peer link: p<i> on the hub's bridge, p0 in the server's namespace
                self._ip("-n", self.hub, "link", "add", f"p{i}", "type", "veth", "peer", "name", "p0",
                         "netns", ns)
                self._ip("-n", self.hub, "link", "set", f"p{i}", "master", "br0")
                self._ip("-n", self.hub, "link", "set", f"p{i}", "up")
                self._ip("-n", ns, "addr", "add", f"{self.peer_ip(i)}/24", "dev", "p0")
                self._ip("-n", ns, "link", "set", "p0", "up")
        except BaseException:
            self.teardown()
            raise

    def wrap(self, i: int, cmd: list[str]) -> list[str]:
        # `ip netns exec` execs the command: the process keeps the pid Popen sees.
        return ["ip", "netns", "exec", self.ns(i), *cmd]

    def isolate(self, i: int):
        self._ip("-n", self.hub, "link", "set", f"p{i}", "down")

    def heal(self, i: int):
        self._ip("-n", self.hub, "link", "set", f"p{i}", "up")

    def teardown(self):
        for ns in reversed(self.created):
            self._ip("netns", "del", ns, check=False)
        self.created = []


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


class Member:
    """One server of an Ensemble: its files, ports and process."""

    def __init__(self, ens: "Ensemble", sid: int, observer: bool):
        self.ens = ens
        self.id = sid
        self.observer = observer
        self.dir = ens.workdir / f"server{sid}"
        self.data_dir = self.dir / "data"
        self.datalog_dir = self.dir / "datalog"
        self.cfg_path = self.dir / "zoo.cfg"
        self.log_path = self.dir / "ferrozk.log"
        net = ens.network
        if net is None:
            self.peer_host = self.client_host = HOST
            self.client_port, self.quorum_port, self.election_port = free_ports(3)
        else:
            self.peer_host, self.client_host = net.peer_ip(sid), net.client_ip(sid)
            self.client_port, self.quorum_port, self.election_port = 2181, 2888, 3888
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self._log = None

    @property
    def hosts(self) -> str:
        return f"{self.client_host}:{self.client_port}"

    def server_line(self) -> str:
        role = ":observer" if self.observer else ""
        client = "0.0.0.0" if self.ens.network else self.client_host
        return (f"server.{self.id}={self.peer_host}:{self.quorum_port}:{self.election_port}{role}"
                f";{client}:{self.client_port}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_ensemble(ens, request):
    """Starts `ens` and waits for a leader; stops it whatever happens. The test module
    remembers it, so conftest shows its servers' log tails on a failure."""
    request.module._server_under_test = ens
    try:
        ens.start()
        ens.wait_leader()
        yield ens
    finally:
        ens.stop()


class Ensemble:
    """A replicated ferrozk ensemble of real processes: `voters` participants and
    `observers` observers (ids after the voters), ZooKeeper-style zoo.cfg + myid in
    workdir/server<i>/, like scripts/ensemble.sh writes them, on loopback ports below the
    ephemeral range (or, with a NetnsNetwork, each server in its own namespace).

    Every process is signalled by its own pid; every wait is bounded. hash() remembers the
    digest each server reported for each zxid, and any two different digests at one zxid
    are kept in `divergences` (assert_no_divergence)."""

    def __init__(self, workdir: Path, voters: int = 3, observers: int = 0, tick_ms: int = 500,
                 extra_cfg: dict | None = None, network: NetnsNetwork | None = None):
        self.workdir = Path(workdir)
        self.tick_ms = tick_ms
        self.extra_cfg = dict(extra_cfg or {})
        self.network = network
        self.members: dict[int, Member] = {}
        for sid in range(1, voters + observers + 1):
            self.members[sid] = Member(self, sid, observer=sid > voters)
        self.divergences: list[str] = []
        self._digests: dict[int, tuple[str, int]] = {}
        self._digest_lock = threading.Lock()
        # FERROZK_TARGET=zookeeper runs Apache ZooKeeper's QuorumPeerMain on the same
        # files, to check what a test expects (it has no `hash`: wait_converged fails).
        self.target = f"{target()} ensemble"
        self.log_path = self.workdir

    # ------------------------------------------------------------------ configuration
    @property
    def ids(self) -> list[int]:
        return list(self.members)

    @property
    def voter_ids(self) -> list[int]:
        return [i for i, m in self.members.items() if not m.observer]

    def __getitem__(self, sid: int) -> Member:
        return self.members[sid]

    def hosts_of(self, ids) -> str:
        return ",".join(self.members[i].hosts for i in ids)

    @property
    def hosts(self) -> str:
        return self.hosts_of(self.ids)

    def cfg_text(self, m: Member) -> str:
        lines = {
            "tickTime": str(self.tick_ms),
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": str(m.data_dir),
            "dataLogDir": str(m.datalog_dir),
            "clientPort": str(m.client_port),
            "maxClientCnxns": "0",
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
        }
        if m.observer:
            lines["peerType"] = "observer"
        lines.update(self.extra_cfg)
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        return text + "".join(o.server_line() + "\n" for o in self.members.values())

    def write_files(self, m: Member):
        m.data_dir.mkdir(parents=True, exist_ok=True)
        m.datalog_dir.mkdir(parents=True, exist_ok=True)
        (m.data_dir / "myid").write_text(f"{m.id}\n")
        m.cfg_path.write_text(self.cfg_text(m))

    # ------------------------------------------------------------------ processes
    def launch(self, sid: int):
        """Starts server sid (its files are rewritten, data kept); does not wait."""
        m = self.members[sid]
        if m.alive():
            raise RuntimeError(f"server.{sid} is already running (pid {m.pid})")
        self.write_files(m)
        if target() == "zookeeper":
            cp = [str(ZK_JAVA_DIR / "zookeeper.jar")]
            if (ZK_JAVA_DIR / "slf4j-simple.jar").exists():
                cp.append(str(ZK_JAVA_DIR / "slf4j-simple.jar"))
            cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.jmx.log4j.disable=true",
                   "-cp", ":".join(cp), "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                   str(m.cfg_path)]
        else:
            binary = ferrozk_bin()
            if not binary.exists():
                raise RuntimeError(f"ferrozk binary not found at {binary}: run `cargo build --release`")
            cmd = [str(binary), "serve", "--config", str(m.cfg_path)]
        if self.network is not None:
            cmd = self.network.wrap(sid, cmd)
        if m._log:
            m._log.close()
        m._log = open(m.log_path, "ab")
        m._log.write(f"=== {time.strftime('%H:%M:%S')} $ {' '.join(cmd)}\n".encode())
        m._log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")
        m.proc = subprocess.Popen(cmd, cwd=m.dir, stdin=subprocess.DEVNULL, stdout=m._log,
                                  stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)
        m.paused = False

    def start(self, ids=None, timeout: float = START_TIMEOUT_S) -> "Ensemble":
        """Starts the servers (all by default) and waits until each answers srvr with a
        Mode and one voter leads."""
        ids = self.ids if ids is None else list(ids)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for sid in ids:
            self.launch(sid)
        self.wait_serving(ids, timeout)
        return self

    def restart(self, sid: int, timeout: float = START_TIMEOUT_S):
        self.launch(sid)
        self.wait_serving([sid], timeout)

    def wait_serving(self, ids, timeout: float = START_TIMEOUT_S):
        """Waits until each server in ids answers srvr with a Mode line (it serves)."""
        ids = list(ids)

        def ready():
            for sid in ids:
                m = self.members[sid]
                if m.proc is not None and m.proc.poll() is not None:
                    raise RuntimeError(f"server.{sid} exited with status {m.proc.returncode}; "
                                       f"log:\n{m.log_tail()}")
            return all(self.mode(sid) for sid in ids)

        try:
            wait_until(ready, timeout, interval=0.1,
                       what=f"servers {ids} to serve (srvr with a Mode)")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; modes {self.modes()}\n{self.log_tail(ids=ids)}") from None

    @staticmethod
    def _signal(m, sig):
        """Sends sig to a member's process if it is still running."""
        if m.proc is not None and m.proc.poll() is None:
            try:
                os.kill(m.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self, sid: int):
        """kill -9 server sid and reap it."""
        m = self.members[sid]
        if m.proc is None:
            return
        self._signal(m, signal.SIGKILL)
        m.proc.wait(timeout=STOP_GRACE_S)
        self._forget(m)

    def kill_many(self, ids):
        """kill -9 several servers at once (all signalled before any is reaped)."""
        ids = list(ids)
        for sid in ids:
            self._signal(self.members[sid], signal.SIGKILL)
        for sid in ids:
            self.kill(sid)

    def stop_server(self, sid: int):
        """SIGTERM (SIGCONT first if paused), SIGKILL after a grace period."""
        m = self.members[sid]
        if m.proc is None:
            return
        if m.proc.poll() is None:
            try:
                os.kill(m.proc.pid, signal.SIGTERM)
                if m.paused:
                    os.kill(m.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            try:
                m.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(m.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                m.proc.wait(timeout=STOP_GRACE_S)
        self._forget(m)

    def _forget(self, m: Member):
        m.proc = None
        m.paused = False
        if m._log:
            m._log.close()
            m._log = None

    def pause(self, sid: int):
        """SIGSTOP: a frozen server (its sockets stay open, nothing answers)."""
        m = self.members[sid]
        os.kill(m.proc.pid, signal.SIGSTOP)
        m.paused = True

    def resume(self, sid: int):
        m = self.members[sid]
        os.kill(m.proc.pid, signal.SIGCONT)
        m.paused = False

    def stop(self):
        """Stops every server (in parallel: each may wait its grace period)."""
        threads = [threading.Thread(target=self.stop_server, args=(sid,), daemon=True)
                   for sid in self.ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(3 * STOP_GRACE_S)

    def wipe(self, sid: int):
        """Removes server sid's data and log (it must be stopped); myid is kept."""
        import shutil

        m = self.members[sid]
        if m.alive():
            raise RuntimeError(f"server.{sid} is running; stop it before wiping")
        for d in (m.data_dir, m.datalog_dir):
            shutil.rmtree(d, ignore_errors=True)
        self.write_files(m)

    def alive(self) -> bool:
        return any(m.alive() for m in self.members.values())

    def live_ids(self) -> list[int]:
        return [i for i, m in self.members.items() if m.alive() and not m.paused]

    # ------------------------------------------------------------------ four-letter words
    def four(self, sid: int, cmd: str, timeout: float = SRVR_TIMEOUT_S) -> str | None:
        """The answer to a four-letter word, or None when the server does not answer."""
        m = self.members[sid]
        try:
            return four_letter(m.client_port, cmd, host=m.client_host, timeout=timeout)
        except (OSError, TimeoutError):
            return None

    def mode(self, sid: int) -> str | None:
        """'leader', 'follower' or 'observer' from srvr; None when not serving or down."""
        if not self.members[sid].alive() or self.members[sid].paused:
            return None
        out = self.four(sid, "srvr") or ""
        for line in out.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def modes(self, ids=None) -> dict[int, str | None]:
        return {sid: self.mode(sid) for sid in (self.ids if ids is None else ids)}

    def leader(self, ids=None) -> int | None:
        """The one server among ids (default: all) whose srvr says leader, if exactly one."""
        leaders = [sid for sid, mode in self.modes(ids).items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, ids=None, timeout: float = 30.0, not_id: int | None = None) -> int:
        """Waits until, among ids (default: the live servers), exactly one leads, the other
        voters follow and the observers observe; returns the leader's id."""

        def settled():
            sids = self.live_ids() if ids is None else list(ids)
            modes = self.modes(sids)
            leaders = [s for s, mode in modes.items() if mode == "leader"]
            if len(leaders) != 1 or leaders[0] == not_id:
                return None
            want = {s: ("observer" if self.members[s].observer else "follower") for s in sids}
            want[leaders[0]] = "leader"
            return leaders[0] if modes == want else None

        try:
            return wait_until(settled, timeout, interval=0.1, what="one leader")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; modes {self.modes()}") from None

    def mntr(self, sid: int) -> dict[str, str]:
        out = self.four(sid, "mntr") or ""
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def hash(self, sid: int) -> tuple[int, str] | None:
        """(zxid, digest) of server sid's current tree from `hash`, or None. (ZooKeeper has
        no `hash`: its srvr Zxid, digest "-", so only zxids are compared there.)"""
        if target() == "zookeeper":
            out = self.four(sid, "srvr") or ""
            zx = [line.split(":", 1)[1].strip() for line in out.splitlines()
                  if line.startswith("Zxid:")]
            return (int(zx[0], 16), "-") if zx else None
        out = self.four(sid, "hash")
        if not out:
            return None
        first = out.strip().splitlines()[0] if out.strip() else ""
        if ":" not in first:
            return None
        z, d = first.split(":", 1)
        try:
            zxid = int(z.strip(), 16)
        except ValueError:
            return None
        digest = d.strip()
        with self._digest_lock:
            seen = self._digests.get(zxid)
            if seen is None:
                self._digests[zxid] = (digest, sid)
            elif seen[0] != digest:
                self.divergences.append(
                    f"zxid {zxid:#x}: server.{seen[1]} digest {seen[0]}, server.{sid} {digest}")
        return zxid, digest

    def hashes(self, ids=None) -> dict[int, tuple[int, str] | None]:
        return {sid: self.hash(sid) for sid in (self.live_ids() if ids is None else ids)}

    def assert_no_divergence(self):
        assert not self.divergences, "replicas differ at equal zxids:\n" + "\n".join(self.divergences)

    def wait_converged(self, ids=None, timeout: float = 60.0) -> tuple[int, str]:
        """Waits until every server in ids (default: the live ones) reports the same zxid
        and digest; fails at once if two report different digests at one zxid."""
        last = {}

        def same():
            nonlocal last
            last = self.hashes(ids)
            self.assert_no_divergence()
            values = set(last.values())
            if len(values) == 1 and None not in values:
                return values.pop()
            return None

        try:
            return wait_until(same, timeout, interval=0.2, what="the replicas to converge")
        except TimeoutError as exc:
            shown = {s: (f"{v[0]:#x}: {v[1]}" if v else None) for s, v in last.items()}
            raise TimeoutError(f"{exc}; hash: {shown}; modes {self.modes()}") from None

    def log_tail(self, lines: int = 40, ids=None) -> str:
        parts = []
        for sid in (self.ids if ids is None else ids):
            m = self.members[sid]
            state = "paused" if m.paused else ("running" if m.alive() else "down")
            parts.append(f"--- server.{sid} ({state}, {m.log_path}) ---\n{m.log_tail(lines)}")
        return "\n".join(parts)


def _die_with_parent():
    # If pytest itself is killed, the kernel stops the server too (PR_SET_PDEATHSIG).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:  # noqa: BLE001
        pass


def _shutdown(s: socket.socket):
    # Only shut down: the pump thread sees EOF and closes the socket itself, so no
    # descriptor is closed under a select() running in another thread.
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(s: socket.socket):
    try:
        s.close()
    except OSError:
        pass


if __name__ == "__main__":
    # Manual use: start a server under test in a temp dir and keep it until Ctrl-C.
    import tempfile

    def _interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with tempfile.TemporaryDirectory(prefix="ferrozk-compat-") as d:
        srv = Server(Path(d)).start()
        print(f"{srv.target} serving on {srv.hosts} (pid {srv.proc.pid}); log {srv.log_path}")
        try:
            while srv.alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            srv.stop()
