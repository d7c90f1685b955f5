"""The docker/ packaging: entrypoint, Dockerfile, compose file.

docker/docker-entrypoint.sh must write the same zoo.cfg as the official `zookeeper`
image's entrypoint (github.com/31z4/zookeeper-docker, 3.8.x/3.9.x docker-entrypoint.sh),
so that the ZOO_* variables of existing compose files mean the same thing. The expected
texts below follow that script: dataDir, dataLogDir, tickTime, initLimit, syncLimit,
autopurge.snapRetainCount, autopurge.purgeInterval, maxClientCnxns, standaloneEnabled,
admin.enableServer, the ZOO_SERVERS words (default server.1=localhost:2888:3888;2181),
4lw.commands.whitelist when ZOO_4LW_COMMANDS_WHITELIST is not empty, then the
ZOO_CFG_EXTRA words; defaults from its Dockerfile's ENV.

The entrypoint runs in dry-run mode (ZOO_ENTRYPOINT_DRY_RUN=1): it writes zoo.cfg and
myid, then prints the command it would exec. The generated file is also started with the
server under test (FERROZK_TARGET), and the image is built and run when
FERROZK_DOCKER_TESTS=1 and a Docker daemon answers (without pulling anything).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import zkharness
from zkharness import REPO, Server, four_letter, free_port

DOCKER_DIR = REPO / "docker"
ENTRYPOINT = DOCKER_DIR / "docker-entrypoint.sh"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE = DOCKER_DIR / "docker-compose.yml"
RUN_TIMEOUT_S = 30

# The official image's Dockerfile ENV (ZOO_4LW_COMMANDS_WHITELIST has no default there).
OFFICIAL_DEFAULTS = {
    "ZOO_TICK_TIME": "2000",
    "ZOO_INIT_LIMIT": "5",
    "ZOO_SYNC_LIMIT": "2",
    "ZOO_AUTOPURGE_PURGEINTERVAL": "0",
    "ZOO_AUTOPURGE_SNAPRETAINCOUNT": "3",
    "ZOO_MAX_CLIENT_CNXNS": "60",
    "ZOO_STANDALONE_ENABLED": "true",
    "ZOO_ADMINSERVER_ENABLED": "true",
}

THREE_SERVERS = (
    "server.1=zoo1:2888:3888;2181 server.2=zoo2:2888:3888;2181 server.3=zoo3:2888:3888;2181"
)


def official_zoo_cfg(env: dict) -> str:
    """What the official entrypoint writes for these variables (a model of its shell)."""
    v = {**OFFICIAL_DEFAULTS, **env}
    out = [
        f"dataDir={v['ZOO_DATA_DIR']}",
        f"dataLogDir={v['ZOO_DATA_LOG_DIR']}",
        f"tickTime={v['ZOO_TICK_TIME']}",
        f"initLimit={v['ZOO_INIT_LIMIT']}",
        f"syncLimit={v['ZOO_SYNC_LIMIT']}",
        f"autopurge.snapRetainCount={v['ZOO_AUTOPURGE_SNAPRETAINCOUNT']}",
        f"autopurge.purgeInterval={v['ZOO_AUTOPURGE_PURGEINTERVAL']}",
        f"maxClientCnxns={v['ZOO_MAX_CLIENT_CNXNS']}",
        f"standaloneEnabled={v['ZOO_STANDALONE_ENABLED']}",
        f"admin.enableServer={v['ZOO_ADMINSERVER_ENABLED']}",
    ]
    servers = v.get("ZOO_SERVERS", "") or "server.1=localhost:2888:3888;2181"
    out += servers.split()  # unquoted $ZOO_SERVERS: split on blanks and newlines
    if v.get("ZOO_4LW_COMMANDS_WHITELIST", ""):
        out.append(f"4lw.commands.whitelist={v['ZOO_4LW_COMMANDS_WHITELIST']}")
    out += v.get("ZOO_CFG_EXTRA", "").split()
    return "".join(line + "\n" for line in out)


def clean_env(**zoo) -> dict:
    """The test process's environment without any ZOO_*/FERROZK_USER, plus `zoo`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZOO_") and k != "FERROZK_USER"}
    env.update({k: str(v) for k, v in zoo.items()})
    return env


def run_entrypoint(args, env: dict, dry_run: bool = True, timeout: float = RUN_TIMEOUT_S,
                   script: Path = ENTRYPOINT) -> subprocess.CompletedProcess:
    env = dict(env)
    if dry_run:
        env["ZOO_ENTRYPOINT_DRY_RUN"] = "1"
    return subprocess.run(
        [str(script), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=timeout,
    )


class Dirs:
    def __init__(self, root: Path):
        self.conf = root / "conf"
        self.data = root / "data"
        self.datalog = root / "datalog"

    def env(self, **zoo) -> dict:
        return clean_env(ZOO_CONF_DIR=self.conf, ZOO_DATA_DIR=self.data,
                         ZOO_DATA_LOG_DIR=self.datalog, **zoo)

    def zoo_vars(self) -> dict:
        return {"ZOO_CONF_DIR": str(self.conf), "ZOO_DATA_DIR": str(self.data),
                "ZOO_DATA_LOG_DIR": str(self.datalog)}

    @property
    def cfg(self) -> Path:
        return self.conf / "zoo.cfg"

    @property
    def myid(self) -> Path:
        return self.data / "myid"


@pytest.fixture
def dirs(tmp_path) -> Dirs:
    return Dirs(tmp_path)


def dry_run(dirs: Dirs, args=("ferrozk", "serve", "--config", "/conf/zoo.cfg"), **zoo) -> list[str]:
    res = run_entrypoint(list(args), dirs.env(**zoo))
    assert res.returncode == 0, f"entrypoint failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return shlex.split(res.stdout)


# --------------------------------------------------------------------- (a) generated zoo.cfg

def test_entrypoint_is_an_executable_bash_script():
    assert ENTRYPOINT.is_file()
    assert os.access(ENTRYPOINT, os.X_OK), "docker/docker-entrypoint.sh must be executable"
    assert ENTRYPOINT.read_text().startswith("#!/bin/bash\n")
    res = subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True, text=True,
                         timeout=RUN_TIMEOUT_S)
    assert res.returncode == 0, res.stderr
    mode = subprocess.run(["git", "ls-files", "-s", "docker/docker-entrypoint.sh"], cwd=REPO,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S).stdout
    if mode:  # once committed, git must keep the executable bit (COPY keeps it)
        assert mode.startswith("100755"), mode


def test_defaults_generate_the_official_zoo_cfg(dirs):
    cmd = dry_run(dirs)
    assert cmd == ["ferrozk", "serve", "--config", "/conf/zoo.cfg"]
    expected = (
        f"dataDir={dirs.data}\n"
        f"dataLogDir={dirs.datalog}\n"
        "tickTime=2000\n"
        "initLimit=5\n"
        "syncLimit=2\n"
        "autopurge.snapRetainCount=3\n"
        "autopurge.purgeInterval=0\n"
        "maxClientCnxns=60\n"
        "standaloneEnabled=true\n"
        "admin.enableServer=true\n"
        "server.1=localhost:2888:3888;2181\n"
    )
    assert dirs.cfg.read_bytes() == expected.encode()
    assert dirs.myid.read_bytes() == b"1\n"
    assert dirs.datalog.is_dir()


def test_image_paths_are_the_default(tmp_path):
    """Without ZOO_*_DIR the script uses /conf, /data, /datalog (checked in dry run on a
    copy whose paths are redirected, so nothing is written outside tmp_path)."""
    text = ENTRYPOINT.read_text()
    for var, path in (("ZOO_CONF_DIR", "/conf"), ("ZOO_DATA_DIR", "/data"),
                      ("ZOO_DATA_LOG_DIR", "/datalog")):
        assert f': "${{{var}={path}}}"' in text, f"{var} should default to {path}"
    copy = tmp_path / "ep.sh"
    copy.write_text(text.replace("=/conf}", f"={tmp_path}/c}}")
                    .replace("=/data}", f"={tmp_path}/d}}")
                    .replace("=/datalog}", f"={tmp_path}/l}}"))
    copy.chmod(0o755)
    res = run_entrypoint(["true"], clean_env(), script=copy)
    assert res.returncode == 0, res.stderr
    cfg = (tmp_path / "c" / "zoo.cfg").read_text()
    assert cfg.startswith(f"dataDir={tmp_path}/d\ndataLogDir={tmp_path}/l\n")
    assert (tmp_path / "d" / "myid").read_text() == "1\n"


def test_every_variable_in_the_official_order(dirs):
    zoo = {
        "ZOO_MY_ID": "2",
        "ZOO_SERVERS": THREE_SERVERS,
        "ZOO_TICK_TIME": "3000",
        "ZOO_INIT_LIMIT": "10",
        "ZOO_SYNC_LIMIT": "4",
        "ZOO_MAX_CLIENT_CNXNS": "0",
        "ZOO_STANDALONE_ENABLED": "false",
        "ZOO_ADMINSERVER_ENABLED": "false",
        "ZOO_AUTOPURGE_PURGEINTERVAL": "24",
        "ZOO_AUTOPURGE_SNAPRETAINCOUNT": "7",
        "ZOO_4LW_COMMANDS_WHITELIST": "srvr,mntr,ruok,stat,conf,cons,hash",
        "ZOO_CFG_EXTRA": "metricsProvider.className=org.example.Metrics quorumListenOnAllIPs=true",
    }
    dry_run(dirs, **zoo)
    expected = (
        f"dataDir={dirs.data}\n"
        f"dataLogDir={dirs.datalog}\n"
        "tickTime=3000\n"
        "initLimit=10\n"
        "syncLimit=4\n"
        "autopurge.snapRetainCount=7\n"
        "autopurge.purgeInterval=24\n"
        "maxClientCnxns=0\n"
        "standaloneEnabled=false\n"
        "admin.enableServer=false\n"
        "server.1=zoo1:2888:3888;2181\n"
        "server.2=zoo2:2888:3888;2181\n"
        "server.3=zoo3:2888:3888;2181\n"
        "4lw.commands.whitelist=srvr,mntr,ruok,stat,conf,cons,hash\n"
        "metricsProvider.className=org.example.Metrics\n"
        "quorumListenOnAllIPs=true\n"
    )
    assert dirs.cfg.read_text() == expected
    assert official_zoo_cfg({**dirs.zoo_vars(), **zoo}) == expected  # the model agrees
    assert dirs.myid.read_text() == "2\n"


@pytest.mark.parametrize("zoo", [
    {},
    {"ZOO_MY_ID": "3", "ZOO_SERVERS": THREE_SERVERS},
    # newlines and runs of blanks separate words too
    {"ZOO_SERVERS": "\n  server.1=a:2888:3888;2181\n\tserver.2=b:2888:3888:observer;0.0.0.0:2181  \n"},
    {"ZOO_SERVERS": "server.1=[::1]:2888:3888;[::1]:2181"},
    {"ZOO_4LW_COMMANDS_WHITELIST": "*"},
    {"ZOO_4LW_COMMANDS_WHITELIST": ""},          # empty: no whitelist line
    {"ZOO_CFG_EXTRA": "4lw.commands.whitelist=* snapCount=1000"},  # `*` is not globbed
    {"ZOO_CFG_EXTRA": "  "},
    {"ZOO_TICK_TIME": ""},                         # set but empty stays empty, as upstream
    {"ZOO_STANDALONE_ENABLED": "False", "ZOO_ADMINSERVER_ENABLED": "no"},
    {"ZOO_SERVERS": "server.1=localhost:2888:3888;2181", "ZOO_MY_ID": ""},
])
def test_matches_the_official_entrypoint(dirs, zoo):
    # a file whose name a `*` would glob to, in the entrypoint's working directory
    (dirs.conf.parent / "4lw.commands.whitelist=globbed").write_text("")
    res = subprocess.run(
        [str(ENTRYPOINT), "ferrozk", "serve", "--config", "/conf/zoo.cfg"],
        env={**dirs.env(**zoo), "ZOO_ENTRYPOINT_DRY_RUN": "1"}, cwd=dirs.conf.parent,
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr
    assert dirs.cfg.read_text() == official_zoo_cfg({**dirs.zoo_vars(), **zoo})
    # ${ZOO_MY_ID:-1}: unset or empty is 1
    assert dirs.myid.read_text() == (zoo.get("ZOO_MY_ID") or "1") + "\n"


def test_command_passes_through_unchanged(dirs):
    assert dry_run(dirs, args=["bash", "-c", "echo 'a b' $HOME"]) == [
        "bash", "-c", "echo 'a b' $HOME"]
    assert dry_run(dirs, args=["ferrozk", "inspect", "/data"]) == ["ferrozk", "inspect", "/data"]
    # the config is written whatever the command, as upstream does
    assert dirs.cfg.is_file() and dirs.myid.is_file()


@pytest.mark.parametrize("args, cfg", [
    (["zkServer.sh", "start-foreground"], "{conf}/zoo.cfg"),
    (["zkServer.sh"], "{conf}/zoo.cfg"),
    (["/apache-zookeeper-3.9.4-bin/bin/zkServer.sh", "start-foreground"], "{conf}/zoo.cfg"),
    (["zkServer.sh", "start-foreground", "other.cfg"], "{conf}/other.cfg"),
    (["zkServer.sh", "start-foreground", "/etc/zk/zoo.cfg"], "/etc/zk/zoo.cfg"),
])
def test_zkserver_sh_runs_ferrozk(dirs, args, cfg):
    assert dry_run(dirs, args=args) == [
        "ferrozk", "serve", "--config", cfg.format(conf=dirs.conf)]


def test_zkserver_sh_other_actions_are_refused(dirs):
    res = run_entrypoint(["zkServer.sh", "status"], dirs.env())
    assert res.returncode == 2
    assert "not supported" in res.stderr


# --------------------------------------------------------------- (b) existing files win

def test_mounted_zoo_cfg_and_myid_are_left_alone(dirs):
    dirs.conf.mkdir(parents=True)
    dirs.data.mkdir(parents=True)
    mine = "# mine\ntickTime=1000\ndataDir=/elsewhere\nclientPort=2999\n"
    dirs.cfg.write_text(mine)
    dirs.myid.write_text("7\n")
    os.utime(dirs.cfg, (1_000_000_000, 1_000_000_000))
    cmd = dry_run(dirs, ZOO_MY_ID="3", ZOO_SERVERS=THREE_SERVERS, ZOO_TICK_TIME="5000",
                  ZOO_CFG_EXTRA="a=b")
    assert cmd[:2] == ["ferrozk", "serve"]
    assert dirs.cfg.read_text() == mine
    assert dirs.cfg.stat().st_mtime == 1_000_000_000
    assert dirs.myid.read_text() == "7\n"
    assert sorted(p.name for p in dirs.conf.iterdir()) == ["zoo.cfg"]


def test_myid_is_written_next_to_a_mounted_zoo_cfg(dirs):
    dirs.conf.mkdir(parents=True)
    dirs.cfg.write_text("tickTime=2000\n")
    dry_run(dirs, ZOO_MY_ID="5")
    assert dirs.myid.read_text() == "5\n"
    assert dirs.cfg.read_text() == "tickTime=2000\n"


def test_second_start_keeps_the_first_config(dirs):
    dry_run(dirs, ZOO_MY_ID="1", ZOO_TICK_TIME="2500")
    first = dirs.cfg.read_bytes()
    dry_run(dirs, ZOO_MY_ID="2", ZOO_TICK_TIME="9999")
    assert dirs.cfg.read_bytes() == first
    assert dirs.myid.read_text() == "1\n"


# ------------------------------------------------------------- root: chown + setpriv

@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv (util-linux)")
def test_as_root_it_chowns_and_drops_to_the_service_user():
    """Started as root with the server command, the entrypoint chowns the data dirs and
    re-executes itself as FERROZK_USER (the image's `ferrozk`; here `nobody`), which then
    writes zoo.cfg and myid and runs the server (a stand-in `ferrozk` printing its uid)."""
    try:
        import pwd
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    root = Path(tempfile.mkdtemp(prefix="ferrozk-docker-"))
    try:
        root.chmod(0o755)
        bindir = root / "bin"
        bindir.mkdir()
        script = bindir / "docker-entrypoint.sh"
        shutil.copy(ENTRYPOINT, script)
        script.chmod(0o755)
        fake = bindir / "ferrozk"
        fake.write_text('#!/bin/sh\necho "uid=$(id -u) gid=$(id -g) args=$*"\n')
        fake.chmod(0o755)
        d = Dirs(root)
        for p in (d.conf, d.data, d.datalog):
            p.mkdir()
        (d.data / "old").write_text("x")
        env = d.env(FERROZK_USER="nobody", ZOO_MY_ID="4")
        env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
        res = run_entrypoint(["ferrozk", "serve", "--config", str(d.cfg)], env,
                             dry_run=False, script=script)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == (
            f"uid={nobody.pw_uid} gid={nobody.pw_gid} args=serve --config {d.cfg}")
        for p in (d.data, d.datalog, d.data / "old", d.myid, d.cfg):
            assert p.stat().st_uid == nobody.pw_uid, p
        assert d.myid.read_text() == "4\n"
        # other commands keep running as root, as upstream
        res = run_entrypoint(["id", "-u"], env, dry_run=False, script=script)
        assert res.returncode == 0 and res.stdout.strip() == "0", res
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------- (c) the server takes the config

def test_generated_config_is_served(tmp_path):
    """The official-style config for one server (standalone) starts the server under
    test, which answers ruok and opens sessions; the entrypoint's healthcheck agrees."""
    srv = Server(tmp_path / "srv")
    d = Dirs(tmp_path / "gen")
    d.data = srv.data_dir
    quorum, election = free_port(), free_port()
    cmd = dry_run(
        d,
        ZOO_SERVERS=f"server.1=localhost:{quorum}:{election};{srv.port}",
        ZOO_4LW_COMMANDS_WHITELIST="srvr,ruok",
        # Apache ZooKeeper would start its AdminServer on 8080; keep it off shared ports.
        ZOO_CFG_EXTRA=f"admin.serverPort={free_port()}",
    )
    assert cmd == ["ferrozk", "serve", "--config", "/conf/zoo.cfg"]
    generated = d.cfg.read_text()
    assert f"server.1=localhost:{quorum}:{election};{srv.port}\n" in generated
    assert "clientPort" not in generated  # the port comes from the server line
    srv.cfg_path.write_text(generated)
    env = clean_env(ZOO_CONF_DIR=d.conf, ZOO_DATA_DIR=d.data)
    srv.start()
    try:
        assert four_letter(srv.port, "ruok") == "imok"
        assert four_letter(srv.port, "srvr").startswith("Zookeeper version:")
        if zkharness.target() == "ferrozk":
            log = srv.log_path.read_text(errors="replace")
            assert "standalone" in log, srv.log_tail()
        # healthcheck finds the port in zoo.cfg (server.<myid> line) by itself
        res = run_entrypoint(["healthcheck"], env, dry_run=False)
        assert res.returncode == 0, res.stderr
        res = run_entrypoint(["healthcheck", str(srv.port)], env, dry_run=False)
        assert res.returncode == 0, res.stderr
    finally:
        srv.stop()
    res = run_entrypoint(["healthcheck"], env, dry_run=False)
    assert res.returncode == 1
    assert "unhealthy" in res.stderr


class FakeFourLetter:
    """Answers four-letter words from a table, like a server with a narrow whitelist."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.asked: list[str] = []
        self.sock = socket.create_server((zkharness.HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    word = conn.recv(4).decode()
                    self.asked.append(word)
                    conn.sendall(self.answers.get(word, "").encode())
                except OSError:
                    pass

    def close(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("answers, healthy", [
    ({"ruok": "imok"}, True),
    ({"ruok": "ruok is not executed because it is not in the whitelist.\n",
      "srvr": "Zookeeper version: 3.9.4-ferrozk\nMode: standalone\n"}, True),
    ({"ruok": "ruok is not executed because it is not in the whitelist.\n",
      "srvr": "This ZooKeeper instance is not currently serving requests\n"}, False),
    ({}, False),
])
def test_healthcheck_answers(tmp_path, answers, healthy):
    fake = FakeFourLetter(answers)
    try:
        env = clean_env(ZOO_CONF_DIR=tmp_path / "none", ZOO_DATA_DIR=tmp_path / "none")
        start = time.monotonic()
        res = run_entrypoint(["healthcheck", str(fake.port)], env, dry_run=False)
        assert time.monotonic() - start < 15
        assert (res.returncode == 0) == healthy, (res.returncode, res.stderr, fake.asked)
        assert fake.asked[0] == "ruok"
    finally:
        fake.close()


def test_healthcheck_reads_client_port_from_zoo_cfg(tmp_path):
    fake = FakeFourLetter({"ruok": "imok"})
    try:
        conf = tmp_path / "conf"
        conf.mkdir()
        env = clean_env(ZOO_CONF_DIR=conf, ZOO_DATA_DIR=tmp_path)
        (conf / "zoo.cfg").write_text(f"tickTime=2000\nclientPort = {fake.port}\n")
        assert run_entrypoint(["healthcheck"], env, dry_run=False).returncode == 0
        (tmp_path / "myid").write_text("2\n")
        (conf / "zoo.cfg").write_text(
            "server.1=a:1:2;1\n"
            f"server.2=b:1:2:participant;127.0.0.1:{fake.port}\n"
            "server.3=c:1:2;3\n")
        assert run_entrypoint(["healthcheck"], env, dry_run=False).returncode == 0
        (conf / "zoo.cfg").write_text(f"server.2=b:1:2;0.0.0.0:{fake.port}\n")
        assert run_entrypoint(["healthcheck"], env, dry_run=False).returncode == 0
        assert fake.asked == ["ruok"] * 3
    finally:
        fake.close()


# ------------------------------------------------------------------- (d) compose file

def test_compose_file_is_a_three_server_ensemble():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert sorted(services) == ["zoo1", "zoo2", "zoo3"]
    ids, servers, host_ports = set(), set(), set()
    for name, svc in services.items():
        assert svc["image"] == "ferrozk:latest"
        assert svc["hostname"] == name
        assert svc["restart"] == "always"
        build = svc["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == REPO
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        env = svc["environment"]
        ids.add(str(env["ZOO_MY_ID"]))
        servers.add(env["ZOO_SERVERS"])
        assert set(env["ZOO_4LW_COMMANDS_WHITELIST"].split(",")) >= {"ruok", "srvr", "mntr"}
        (port,) = svc["ports"]
        host, container = str(port).split(":")
        assert container == "2181"
        host_ports.add(host)
        hc = svc["healthcheck"]
        test = hc["test"]
        assert test[0] in ("CMD", "CMD-SHELL")
        assert "healthcheck" in " ".join(test) or "ruok" in " ".join(test)
        for key in ("interval", "timeout", "retries"):
            assert key in hc
    assert ids == {"1", "2", "3"}
    assert servers == {THREE_SERVERS}
    assert host_ports == {"2181", "2182", "2183"}
    # every server line names a service by its hostname, with the id of that service
    for word in THREE_SERVERS.split():
        m = re.fullmatch(r"server\.(\d+)=([^:]+):2888:3888;2181", word)
        assert m and services[m.group(2)]["environment"]["ZOO_MY_ID"] == int(m.group(1))


def compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) when it answers, else `docker-compose`, else None."""
    if shutil.which("docker"):
        try:
            probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                                   timeout=RUN_TIMEOUT_S)
            if probe.returncode == 0:
                return ["docker", "compose"]
        except subprocess.TimeoutExpired:
            pass
    exe = shutil.which("docker-compose")
    return [exe] if exe else None


def test_compose_file_validates_with_docker_compose():
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker-compose / docker compose")
    res = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                         text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------------- (e) Dockerfile

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped, continuation lines joined."""
    out, cur = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue  # a comment inside a continued RUN
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def test_dockerfile_two_stages_and_non_root_user():
    ins = dockerfile_instructions()
    froms = [(i, a) for i, (w, a) in enumerate(ins) if w == "FROM"]
    assert len(froms) == 2, froms
    assert re.fullmatch(r"rust:1-bookworm\s+AS\s+build", froms[0][1], re.I), froms[0]
    assert froms[1][1] == "debian:bookworm-slim"
    build = ins[froms[0][0]:froms[1][0]]
    runtime = ins[froms[1][0]:]
    assert any(w == "RUN" and "cargo build --release --locked -p ferrozk" in a for w, a in build)
    assert ("COPY", "--from=build /usr/local/bin/ferrozk /usr/local/bin/ferrozk") in runtime
    assert any(w == "COPY" and a.startswith("docker/docker-entrypoint.sh ") for w, a in runtime)
    users = [a for w, a in runtime if w == "USER"]
    assert users, "the runtime stage must set a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users
    assert user in ("1000", "ferrozk")
    run = " ".join(a for w, a in runtime if w == "RUN")
    assert "--uid=1000" in run and "useradd" in run
    for d in ("ZOO_CONF_DIR", "ZOO_DATA_DIR", "ZOO_DATA_LOG_DIR"):
        assert f'"${d}"' in run
    assert "chown ferrozk:ferrozk" in run
    assert ("EXPOSE", "2181 2888 3888 8080") in runtime
    vol = [a for w, a in runtime if w == "VOLUME"]
    assert vol and "/data" in vol[0] and "/datalog" in vol[0]
    assert [a for w, a in runtime if w == "ENTRYPOINT"] == ['["docker-entrypoint.sh"]']
    assert [a for w, a in runtime if w == "CMD"] == [
        '["ferrozk", "serve", "--config", "/conf/zoo.cfg"]']
    env = " ".join(a for w, a in runtime if w == "ENV")
    for k, v in {**OFFICIAL_DEFAULTS, "ZOO_CONF_DIR": "/conf", "ZOO_DATA_DIR": "/data",
                 "ZOO_DATA_LOG_DIR": "/datalog"}.items():
        assert f"{k}={v}" in env, k


def test_dockerignore_keeps_the_build_inputs():
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    for must in ("target", ".git", "ferrozk-data", "compat-tests"):
        assert must in lines or must + "/" in lines, must
    for needed in ("src", "jute", "consensus", "bench", "Cargo.toml", "Cargo.lock",
                   "docker", "docker/docker-entrypoint.sh", "docker/Dockerfile"):
        assert needed not in lines and needed + "/" not in lines, needed


# -------------------------------------------- (f) the image itself (opt-in, no pulling)

def docker_ok() -> bool:
    if os.environ.get("FERROZK_DOCKER_TESTS") != "1" or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True,
                              timeout=RUN_TIMEOUT_S).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# Host programs the runtime stage and the entrypoint use; copied with their libraries
# into a FROM-scratch stand-in for debian:bookworm-slim, so nothing is pulled.
BASE_PROGRAMS = ["bash", "sh", "cat", "chmod", "chown", "id", "ln", "mkdir", "timeout",
                 "setpriv", "groupadd", "useradd", "true", "rm", "ls", "stat", "nologin"]


def _libs(path: str) -> set[str]:
    res = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    found = set()
    for line in res.stdout.splitlines():
        m = re.search(r"(/\S+)", line.split("=>")[-1])
        if m:
            found.add(m.group(1))
    return found


def _base_rootfs(root: Path, binary: Path):
    # bookworm-slim has the libraries the release binary links (libc, libgcc_s, libm)
    files: set[str] = _libs(str(binary))
    for prog in BASE_PROGRAMS:
        p = shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/sbin")
        if p is None:
            pytest.skip(f"host has no {prog} for the stand-in base image")
        files.add(p)
        files |= _libs(p)
    for f in sorted(files):
        dst = root / f.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), dst)
    # /bin, /lib, /sbin as in Debian's merged /usr
    for name in ("bin", "sbin", "lib", "lib64"):
        src, dst = root / name, root / "usr" / name
        if src.is_dir() and not src.is_symlink():
            dst.mkdir(parents=True, exist_ok=True)
            for child in src.iterdir():
                shutil.move(str(child), dst / child.name)
            src.rmdir()
        if dst.exists():
            (root / name).symlink_to(f"usr/{name}")
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\n")
    (etc / "login.defs").write_text("UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\n"
                                    "SYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\n"
                                    "SYS_GID_MIN 100\nSYS_GID_MAX 999\n")
    for d in ("tmp", "root", "usr/local/bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)


def _docker(*args, timeout: float = 300, check: bool = True, **kw):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                         **kw)
    if check:
        assert res.returncode == 0, f"docker {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res


def build_runtime_image(workdir: Path, image: str, base: str) -> None:
    """Builds docker/Dockerfile's runtime stage as `image`, on a stand-in for
    debian:bookworm-slim tagged `base` (host binaries and libraries, FROM scratch), with the
    local release binary in place of the build stage's: nothing is pulled. Skips when the
    binary is missing. The caller removes both tags (even when this fails half-way)."""
    binary = zkharness.ferrozk_bin()
    if not binary.exists():
        pytest.skip(f"{binary} missing")
    base_ctx = workdir / "base"
    _base_rootfs(base_ctx / "rootfs", binary)
    (base_ctx / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\nCMD [\"bash\"]\n")
    # The runtime stage as written, with the build stage's binary taken from the host.
    text = DOCKERFILE.read_text()
    runtime = text[text.index("FROM debian:bookworm-slim"):]
    runtime = runtime.replace("FROM debian:bookworm-slim", f"FROM {base}", 1)
    runtime = runtime.replace("COPY --from=build /usr/local/bin/ferrozk",
                              "COPY ferrozk-bin/ferrozk", 1)
    assert "--from=build" not in runtime
    ctx = workdir / "ctx"
    (ctx / "docker").mkdir(parents=True)
    (ctx / "ferrozk-bin").mkdir()
    shutil.copy2(binary, ctx / "ferrozk-bin" / "ferrozk")
    shutil.copy2(ENTRYPOINT, ctx / "docker" / "docker-entrypoint.sh")
    (ctx / "Dockerfile").write_text(runtime)
    _docker("build", "--force-rm", "-q", "-t", base, str(base_ctx))
    _docker("build", "--force-rm", "-q", "-t", image, str(ctx))


@pytest.mark.timeout(900)
@pytest.mark.skipif(not docker_ok(), reason="set FERROZK_DOCKER_TESTS=1 with a working docker")
def test_image_runtime_stage(tmp_path):
    """Builds docker/Dockerfile's runtime stage on a local stand-in for
    debian:bookworm-slim (host binaries, FROM scratch) with the local release binary,
    runs it with --network host on free ports, and checks that the container generated
    zoo.cfg, runs as uid 1000 and answers ruok; the healthcheck subcommand agrees."""
    tag = f"ferrozk-test-{os.getpid()}"
    base = f"{tag}-base:bookworm-slim"
    image = f"{tag}:latest"
    container = f"{tag}-run"
    try:
        build_runtime_image(tmp_path, image, base)
        insp = _docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip()
        assert insp == "1000:1000"
        port, quorum, election = free_port(), free_port(), free_port()
        _docker("run", "-d", "--name", container, "--network", "host",
                "-e", f"ZOO_SERVERS=server.1=localhost:{quorum}:{election};{port}",
                "-e", "ZOO_4LW_COMMANDS_WHITELIST=ruok,srvr", "-e", "ZOO_MY_ID=1",
                "-e", "ZOO_CFG_EXTRA=admin.serverPort=0", image, timeout=120)

        def answers():
            return four_letter(port, "ruok", timeout=2.0) == "imok"

        try:
            zkharness.wait_until(answers, timeout=60, what="the container to answer ruok")
        except TimeoutError:
            logs = _docker("logs", container, check=False, timeout=30)
            raise AssertionError(f"container logs:\n{logs.stdout}\n{logs.stderr}")
        cfg = _docker("exec", container, "cat", "/conf/zoo.cfg", timeout=60).stdout
        assert cfg == official_zoo_cfg({
            "ZOO_CONF_DIR": "/conf", "ZOO_DATA_DIR": "/data", "ZOO_DATA_LOG_DIR": "/datalog",
            "ZOO_SERVERS": f"server.1=localhost:{quorum}:{election};{port}",
            "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr", "ZOO_CFG_EXTRA": "admin.serverPort=0"})
        assert _docker("exec", container, "cat", "/data/myid", timeout=60).stdout == "1\n"
        assert _docker("exec", container, "id", "-u", timeout=60).stdout.strip() == "1000"
        _docker("exec", container, "docker-entrypoint.sh", "healthcheck", timeout=60)
        _docker("exec", container, "/docker-entrypoint.sh", "healthcheck", timeout=60)
        # `--user root`: the entrypoint chowns the volumes and drops to ferrozk
        port2 = free_port()
        _docker("run", "-d", "--name", f"{container}-root", "--user", "root",
                "--network", "host",
                "-e", f"ZOO_SERVERS=server.1=localhost:{free_port()}:{free_port()};{port2}",
                "-e", "ZOO_4LW_COMMANDS_WHITELIST=ruok", image, timeout=120)
        zkharness.wait_until(lambda: four_letter(port2, "ruok", timeout=2.0) == "imok",
                             timeout=60, what="the root-started container to answer ruok")
        ps = _docker("exec", f"{container}-root", "bash", "-c",
                     "for p in /proc/[0-9]*; do "
                     "[ \"$(cat $p/comm)\" = ferrozk ] && stat -c %u $p; done; true",
                     timeout=60)
        assert ps.stdout.split() == ["1000"], ps.stdout  # the server runs as ferrozk
        owner = _docker("exec", f"{container}-root", "stat", "-c", "%u %U",
                        "/data", "/datalog", "/data/myid", "/conf/zoo.cfg", timeout=60)
        assert owner.stdout.splitlines() == ["1000 ferrozk"] * 4, owner.stdout
    finally:
        for c in (container, f"{container}-root"):
            _docker("rm", "-f", "-v", c, check=False, timeout=120)
        for img in (image, base):
            _docker("rmi", "-f", img, check=False, timeout=120)
