"""A scripted zkCli.sh session (Debian's zookeeper package) against a fresh server.

Each zkcli/<name>.txt is fed to `zkCli.sh -server 127.0.0.1:PORT` on stdin; its output
(stdout and stderr together) is normalised and compared with its expected output, which
was recorded against Apache ZooKeeper 3.8.0. Normalised: times, session ids, the port,
SLF4J noise and connection-state events; lines whose order the server leaves open
(whoami ids, `ls -R` paths) are sorted. Zxids are written relative to the first zxid
the session prints (Z, Z+1, ...), so the zxids a server uses, failed writes included,
still have to match.

To re-record (only against Apache ZooKeeper):
  FERROZK_TARGET=zookeeper ZKCLI_RECORD=1 pytest test_zkcli.py

zkcli/session.txt is the seeds' session; zkcli/quota.txt covers setquota/listquota/delquota.
"""

from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import zkharness

HERE = Path(__file__).resolve().parent
ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
# script -> expected output
SESSIONS = {
    "session": ("session.txt", "expected.txt"),
    "quota": ("quota.txt", "quota.expected.txt"),
}
RUN_TIMEOUT_S = 120


def normalise(raw: str) -> str:
    text = raw.replace("\r\n", "\n")
    # The client's event thread prints these two atomically, at racy places.
    text = text.replace("\nWATCHER::\n", "")
    text = re.sub(r"\nWatchedEvent state:\w+ type:None path:null\n", "", text)
    lines = [line for line in text.split("\n") if not line.startswith("SLF4J:")]
    # Orders the server leaves unspecified (hash order in Apache ZooKeeper): the ids of
    # `whoami` and the paths of `ls -R`. Sort each run of such lines.
    unordered = re.compile(r"^((ip|digest|super|sasl|x509): .*|/\S*)$")
    out, run = [], []
    for line in lines + [None]:
        if line is not None and unordered.match(line):
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line is not None:
            out.append(line)
    text = "\n".join(out)
    text = re.sub(r"Connecting to 127\.0\.0\.1:\d+", "Connecting to 127.0.0.1:PORT", text)
    text = re.sub(r"^(ctime|mtime) = .*$", r"\1 = <TIME>", text, flags=re.M)
    text = re.sub(r"^ephemeralOwner = 0x0*[1-9a-f][0-9a-f]*$", "ephemeralOwner = <SESSION>",
                  text, flags=re.M)
    base = None

    def zxid(m):
        nonlocal base
        value = int(m.group(2), 16)
        if base is None:
            base = value
        delta = value - base
        rel = "Z" if delta == 0 else f"Z{delta:+d}"
        return f"{m.group(1)} = {rel}"

    text = re.sub(r"^([cmp]Zxid) = 0x([0-9a-f]+)$", zxid, text, flags=re.M)
    return text.strip("\n") + "\n"


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_zkcli_session(tmp_path, request, name):
    # a fresh server for each script: the expected output depends on the whole tree
    server = zkharness.Server(tmp_path / "srv").start()
    request.module._server_under_test = server  # its log tail is shown on failure
    try:
        run_session(server, name)
    finally:
        server.stop()


def run_session(server, name):
    script, expected_name = SESSIONS[name]
    SESSION = HERE / "zkcli" / script
    EXPECTED = HERE / "zkcli" / expected_name
    if not ZKCLI.exists():
        pytest.fail(f"{ZKCLI} is missing: apt-get install zookeeper")
    env = dict(os.environ)
    env["CLIENT_JVMFLAGS"] = "-Xmx256m -XX:+UseSerialGC"
    # zkCli.sh runs java as its child: give it its own process group so that a timeout
    # can stop both (by that group's id).
    with open(SESSION, "rb") as stdin:
        proc = subprocess.Popen(
            [str(ZKCLI), "-server", server.hosts],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=10)
            pytest.fail(f"zkCli.sh did not finish within {RUN_TIMEOUT_S}s; output so far:\n"
                        + out.decode(errors="replace"))
    got = normalise(out.decode("utf-8", "replace"))
    if os.environ.get("ZKCLI_RECORD") == "1":
        if zkharness.target() != "zookeeper":
            pytest.fail("ZKCLI_RECORD=1 records the truth: use it with FERROZK_TARGET=zookeeper")
        EXPECTED.write_text(got)
    expected = EXPECTED.read_text()
    if got != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(True), got.splitlines(True),
            "expected (Apache ZooKeeper 3.8)", f"got ({zkharness.target()})"))
        pytest.fail(f"zkCli.sh output differs:\n{diff}")
    assert proc.returncode == 0, f"zkCli.sh exited {proc.returncode}"
