"""SASL DIGEST-MD5 end to end: the server reads its users from a JAAS file as Apache
ZooKeeper does (`java.security.auth.login.config`), and zkCli.sh (the Java client) logs in
with a `Client` section. Checks the `sasl` identity in whoami and in ACLs, and that a
wrong password ends in AuthFailed. Runs against either server (FERROZK_TARGET)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from zkharness import Server

ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
RUN_TIMEOUT_S = 120

SERVER_JAAS = """Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_super="adminsecret"
  user_bob="bobsecret";
};
"""


def client_jaas(user: str, password: str) -> str:
    return f"""Client {{
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="{user}"
  password="{password}";
}};
"""


class SaslServer(Server):
    """A server started with `-Djava.security.auth.login.config=<jaas>` (ZooKeeper) or the
    same flag in SERVER_JVMFLAGS (ferrozk reads it there, as the docker image passes it)."""

    def __init__(self, workdir: Path, jaas: Path):
        super().__init__(workdir, {"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"})
        self.jaas = jaas

    def command(self) -> list[str]:
        cmd = super().command()
        if self.target == "zookeeper":
            cmd.insert(1, f"-Djava.security.auth.login.config={self.jaas}")
        return cmd

    def start(self, timeout: float = 60.0):
        old = os.environ.get("SERVER_JVMFLAGS")
        os.environ["SERVER_JVMFLAGS"] = f"-Djava.security.auth.login.config={self.jaas}"
        try:
            return super().start(timeout)
        finally:
            if old is None:
                os.environ.pop("SERVER_JVMFLAGS", None)
            else:
                os.environ["SERVER_JVMFLAGS"] = old


@pytest.fixture(scope="module")
def sasl_server(tmp_path_factory):
    if not ZKCLI.exists():
        pytest.skip("zkCli.sh missing: apt-get install zookeeper")
    work = tmp_path_factory.mktemp("sasl")
    jaas = work / "server-jaas.conf"
    jaas.write_text(SERVER_JAAS)
    srv = SaslServer(work / "srv", jaas)
    srv.start()
    yield srv
    srv.stop()


def zkcli(srv: Server, tmp: Path, script: str, jaas_text: str | None) -> str:
    env = dict(os.environ)
    env.pop("SERVER_JVMFLAGS", None)
    if jaas_text is None:
        env["CLIENT_JVMFLAGS"] = "-Dzookeeper.sasl.client=false"
    else:
        jaas = tmp / f"client-{abs(hash(jaas_text))}.conf"
        jaas.write_text(jaas_text)
        env["CLIENT_JVMFLAGS"] = f"-Djava.security.auth.login.config={jaas} -Dzookeeper.sasl.client=true"
    proc = subprocess.Popen(
        [str(ZKCLI), "-server", srv.hosts],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(script.encode(), timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("zkCli.sh did not finish:\n" + out.decode(errors="replace")[-3000:])
    return out.decode(errors="replace")


def test_sasl_login_identity_and_acl(sasl_server, tmp_path):
    out = zkcli(
        sasl_server,
        tmp_path,
        "whoami\ncreate /sasl-bob data sasl:bob:cdrwa\ngetAcl /sasl-bob\nget /sasl-bob\nquit\n",
        client_jaas("bob", "bobsecret"),
    )
    assert "state:SaslAuthenticated" in out, out
    assert "sasl: bob" in out, out
    assert "Created /sasl-bob" in out, out
    assert "'sasl,'bob" in out, out
    assert "\ndata\n" in out, out
    # Without SASL the same node is out of reach.
    anon = zkcli(sasl_server, tmp_path, "get /sasl-bob\nquit\n", None)
    assert "Insufficient permission" in anon, anon
    assert "sasl: bob" not in anon


def test_sasl_wrong_password_is_auth_failed(sasl_server, tmp_path):
    out = zkcli(sasl_server, tmp_path, "whoami\nquit\n", client_jaas("bob", "wrong"))
    assert "state:AuthFailed" in out, out
    assert "sasl: bob" not in out, out
