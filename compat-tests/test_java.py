"""The Java client and Curator (Debian's jars) against the server under test.

java/src/*.java is compiled once per run into java/build/classes; each check group
runs in its own JVM and prints PASS/FAIL lines; a non-zero exit fails the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
JAVA_DIR = HERE / "java"
SRC = JAVA_DIR / "src"
BUILD = JAVA_DIR / "build" / "classes"
JARS = Path("/usr/share/java")
COMPILE_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "curator-client.jar", "curator-framework.jar",
    "curator-recipes.jar", "guava.jar", "slf4j-api.jar",
]
# The jars' manifests name the rest (netty, jackson, ...); slf4j-simple prints warnings.
RUN_JARS = COMPILE_JARS + ["slf4j-simple.jar"]
RUN_TIMEOUT_S = 150


def classpath(names) -> str:
    missing = [n for n in names if not (JARS / n).exists()]
    if missing:
        pytest.fail(f"missing jars in {JARS}: {missing} (scripts/test.sh installs zookeeper "
                    "and libcurator-*-java)")
    return ":".join(str(JARS / n) for n in names)


@pytest.fixture(scope="session")
def java_classes():
    if shutil.which("javac") is None:
        pytest.fail("javac not found (install a JDK, e.g. default-jdk-headless)")
    sources = sorted(SRC.glob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    stamp = BUILD / ".sources.sha256"
    if not (stamp.exists() and stamp.read_text() == digest):
        if BUILD.exists():
            shutil.rmtree(BUILD)
        BUILD.mkdir(parents=True)
        proc = subprocess.run(
            ["javac", "-nowarn", "-Xlint:-path", "-encoding", "UTF-8", "-d", str(BUILD),
             "-cp", classpath(COMPILE_JARS), *map(str, sources)],
            capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            pytest.fail(f"javac failed:\n{proc.stdout}\n{proc.stderr}")
        stamp.write_text(digest)
    return BUILD


def run_group(classes: Path, group: str, args: list[str]):
    cmd = [
        "java", "-Xmx256m", "-XX:+UseSerialGC",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dzookeeper.sasl.client=false",
        # a request the server never answers fails its check instead of hanging the run
        "-Dzookeeper.request.timeout=20000",
        "-cp", f"{classes}:{classpath(RUN_JARS)}",
        "CompatMain", group, *args,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              env=dict(os.environ))
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
        pytest.fail(f"java {group} did not finish within {RUN_TIMEOUT_S}s; output so far:\n{out}")
    print(proc.stdout)
    if proc.returncode != 0:
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        pytest.fail(
            f"java {group} exited {proc.returncode}; failed checks:\n  " + "\n  ".join(failed)
            + f"\n--- stdout ---\n{proc.stdout}\n--- stderr (last 60 lines) ---\n"
            + "\n".join(proc.stderr.splitlines()[-60:])
        )
    assert " passed, 0 failed" in proc.stdout


@pytest.mark.parametrize("group", ["core", "watches", "curator"])
def test_java_client(java_classes, server, group):
    run_group(java_classes, group, [server.hosts])


def test_java_reconnect_setwatches(java_classes, server, proxy):
    run_group(java_classes, "reconnect", [server.hosts, proxy.hosts, str(proxy.control_port)])
