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
