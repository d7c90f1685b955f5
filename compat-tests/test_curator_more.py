"""More Curator recipes (Debian's libcurator jars) against the server under test:
InterProcessReadWriteLock, LeaderSelector, DistributedBarrier, DistributedDoubleBarrier,
DistributedQueue, PersistentNode, transactions and namespaces.

java/src/MoreRecipes.java (with the shared TestKit.java) is compiled on its own into
java/build/more-classes (so a run of test_java.py, which rebuilds java/build/classes,
cannot pull the classes out from under it) and runs in one JVM, whose PASS/FAIL lines
become one pytest test per check. A TcpProxy lets the checks expire one client's session.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from test_java import COMPILE_JARS, JAVA_DIR, RUN_JARS, SRC, classpath

SOURCES = [SRC / "MoreRecipes.java", SRC / "TestKit.java"]
BUILD = JAVA_DIR / "build" / "more-classes"
RUN_TIMEOUT_S = 150

# The checks MoreRecipes runs, in its order (names as it prints them).
CHECKS = [
    "InterProcessReadWriteLock readers share, writer excludes",
    "InterProcessReadWriteLock contention",
    "InterProcessReadWriteLock write-to-read downgrade",
    "LeaderSelector takes turns",
    "LeaderSelector hand-over on session expiry and close",
    "DistributedBarrier",
    "DistributedDoubleBarrier",
    "DistributedQueue single consumer order",
    "DistributedQueue several consumers",
    "PersistentNode re-created after delete",
    "PersistentNode re-created after session expiry",
    "transaction success",
    "transaction failure is atomic",
    "namespace",
]


def compile_more() -> str:
    if shutil.which("javac") is None:
        pytest.fail("javac not found (install a JDK, e.g. default-jdk-headless)")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()
    stamp = BUILD / ".sources.sha256"
    if not (stamp.exists() and stamp.read_text() == digest):
        if BUILD.exists():
            shutil.rmtree(BUILD)
        BUILD.mkdir(parents=True)
        proc = subprocess.run(
            ["javac", "-nowarn", "-Xlint:-path", "-encoding", "UTF-8", "-d", str(BUILD),
             "-cp", classpath(COMPILE_JARS), *map(str, SOURCES)],
            capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            pytest.fail(f"javac failed:\n{proc.stdout}\n{proc.stderr}")
        stamp.write_text(digest)
    return str(BUILD)


@pytest.fixture(scope="module")
def more_run(server, tmp_path_factory):
    """Runs every check once; returns {name: (passed, detail)} and the whole output."""
    from zkharness import TcpProxy

    classes = compile_more()
    proxy = TcpProxy(server.port)
    cmd = [
        "java", "-Xmx256m", "-XX:+UseSerialGC",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dzookeeper.sasl.client=false",
        # a request the server never answers fails its check instead of hanging the run
        "-Dzookeeper.request.timeout=20000",
        "-cp", f"{classes}:{classpath(RUN_JARS)}",
        "MoreRecipes", server.hosts, proxy.hosts, str(proxy.control_port),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              env=dict(os.environ))
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
        err, rc = f"(JVM killed after {RUN_TIMEOUT_S}s)", None
    finally:
        proxy.close()
    log = tmp_path_factory.mktemp("curator-more") / "output.txt"
    log.write_text(f"$ {' '.join(cmd)}\nexit {rc}\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
    results = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(PASS|FAIL) (.+?)(?: \(\d+ ms\)|: (.*))$", line)
        if m:
            name = m.group(2)
            detail = line
            if m.group(1) == "FAIL":
                # the stack trace that follows, up to the next check line
                trace = []
                for nxt in lines[i + 1:]:
                    if nxt.startswith(("PASS ", "FAIL ")) or not nxt.strip():
                        break
                    trace.append(nxt)
                detail = "\n".join([line] + trace[:40])
            results[name] = (m.group(1) == "PASS", detail)
    return {"results": results, "stdout": out, "stderr": err, "rc": rc, "log": str(log)}


@pytest.mark.parametrize("check", CHECKS)
def test_curator_recipe(more_run, check):
    res = more_run["results"].get(check)
    if res is None:
        pytest.fail(
            f"check {check!r} did not report (JVM exit {more_run['rc']}); full output in "
            f"{more_run['log']}\n--- stdout tail ---\n"
            + "\n".join(more_run["stdout"].splitlines()[-40:])
            + "\n--- stderr tail ---\n" + "\n".join(more_run["stderr"].splitlines()[-40:]))
    passed, detail = res
    print(detail)
    assert passed, f"{detail}\n(full output in {more_run['log']})"


def test_curator_more_exit_status(more_run):
    """Every check the JVM ran is listed above, and the JVM exited as its results say."""
    assert set(more_run["results"]) <= set(CHECKS), set(more_run["results"]) - set(CHECKS)
    ok = all(p for p, _ in more_run["results"].values())
    assert more_run["rc"] == (0 if ok else 1), (
        f"JVM exit {more_run['rc']}; output in {more_run['log']}\n"
        + "\n".join(more_run["stderr"].splitlines()[-30:]))
