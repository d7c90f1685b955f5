#!/usr/bin/env python3
"""Record golden jute frames from a real Apache ZooKeeper.

A TCP proxy on a loopback port sits between clients and a running ZooKeeper and records
every frame in each direction. Scenarios drive traffic through it with kazoo, the Java
client (Driver.java, beside this file), zkCli.sh and frames built by hand (struct.pack, not
our jute crate, so the two stay independent). Each scenario becomes one file here,
`<scenario>.frames`, read by `jute/tests/golden.rs`.

File format: `#` lines are comments; every other line is one frame:

    <conn> <dir> <op> <name> <hex>

* conn: connection number within the scenario (1, 2, ...)
* dir:  C (client to server) or S (server to client)
* op:   `connect` for the handshake frames, `event` for a watch notification (xid -1),
        otherwise the request opcode; on an S line, the opcode of the request it answers
* name: for people only (opcode name, and the error code of a failed reply)
* hex:  the whole frame, 4-byte length prefix included

Rerun (ZooKeeper 3.8.0 from Debian's `zookeeper` package; kazoo in a venv):

    mkdir -p /tmp/h4zk/data && cat > /tmp/h4zk/zoo.cfg <<EOF
    tickTime=2000
    dataDir=/tmp/h4zk/data
    clientPort=23181
    4lw.commands.whitelist=*
    admin.enableServer=false
    extendedTypesEnabled=true
    EOF
    java -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \\
        org.apache.zookeeper.server.ZooKeeperServerMain /tmp/h4zk/zoo.cfg &
    python3 -m venv /tmp/h4venv && /tmp/h4venv/bin/pip install kazoo
    /tmp/h4venv/bin/python jute/tests/golden/capture.py --upstream 127.0.0.1:23181

Use a fresh dataDir: scenarios expect a server without their nodes. Session ids, zxids
and times differ between runs; the Rust test only needs every frame to decode and
re-encode exactly.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_CP = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

OP_NAMES = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData",
    6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2",
    13: "check", 14: "multi", 15: "create2", 16: "reconfig", 17: "checkWatches",
    18: "removeWatches", 19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl", 103: "getEphemerals",
    104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch", 107: "whoAmI",
    -10: "createSession", -11: "closeSession",
}

# ---------------------------------------------------------------------------------------
# The recording proxy


class Conn:
    """One proxied client connection and what it has recorded."""

    def __init__(self, proxy, num, client, upstream):
        self.proxy = proxy
        self.num = num
        self.client = client
        self.upstream = upstream
        self.seen_connect = {"C": False, "S": False}
        self.pending = []  # (xid, opcode) of requests not yet answered, in order
        self.done = 0

    def classify(self, direction, payload):
        """Returns (op, name) for one frame's payload."""
        if not self.seen_connect[direction]:
            self.seen_connect[direction] = True
            return "connect", "connect%d" % len(payload)
        if direction == "C":
            if len(payload) < 8:
                return "?", "short"
            xid, op = struct.unpack(">ii", payload[:8])
            self.pending.append((xid, op))
            return str(op), OP_NAMES.get(op, "unknown%d" % op)
        if len(payload) < 16:
            return "?", "short"
        xid, _zxid, err = struct.unpack(">iqi", payload[:16])
        if xid == -1:
            return "event", "event"
        for i, (pxid, op) in enumerate(self.pending):
            # A ping is answered with xid -2 whatever xid it carried.
            if pxid == xid or (xid == -2 and op == 11):
                del self.pending[i]
                name = OP_NAMES.get(op, "unknown%d" % op)
                if err != 0:
                    name += ":err%d" % err
                return str(op), name
        return "?", "unmatched-xid%d" % xid

    def pump(self, src, dst, direction):
        buf = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if n < 0 or len(buf) < 4 + n:
                        break
                    frame, buf = buf[: 4 + n], buf[4 + n :]
                    self.proxy.record(self, direction, frame)
                # Recorded before forwarded, so a reply never precedes its request.
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.proxy.pump_done(self)


class Proxy:
    def __init__(self, listen_port, upstream):
        self.upstream = upstream
        self.lock = threading.Condition()
        self.lines = []
        self.conns = []
        self.live = 0
        self.hold = threading.Event()
        self.hold.set()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % listen_port
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            client, _ = self.sock.accept()
            # While held (see `drop`), new connections wait here unanswered.
            self.hold.wait()
            up = socket.create_connection(self.upstream)
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                conn = Conn(self, len(self.conns) + 1, client, up)
                self.conns.append(conn)
                self.live += 1
            threading.Thread(target=conn.pump, args=(client, up, "C"), daemon=True).start()
            threading.Thread(target=conn.pump, args=(up, client, "S"), daemon=True).start()

    def record(self, conn, direction, frame):
        with self.lock:
            op, name = conn.classify(direction, frame[4:])
            self.lines.append("%d %s %s %s %s" % (conn.num, direction, op, name, frame.hex()))

    def pump_done(self, conn):
        with self.lock:
            conn.done += 1
            if conn.done == 2:
                self.live -= 1
                self.lock.notify_all()

    def begin(self):
        with self.lock:
            self.lines = []
            self.conns = []

    def drop(self, hold):
        """Closes every live connection; with `hold`, new ones wait until `resume`."""
        if hold:
            self.hold.clear()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            for s in (c.client, c.upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def resume(self):
        self.hold.set()

    def end(self, timeout=20.0):
        deadline = time.time() + timeout
        with self.lock:
            while self.live > 0 and time.time() < deadline:
                self.lock.wait(0.2)
            if self.live > 0:
                print("  warning: %d connection(s) still open" % self.live, file=sys.stderr)
            return list(self.lines)


# ---------------------------------------------------------------------------------------
# Hand-built frames (independent of the Rust jute crate on purpose)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def ustring(s):
    if s is None:
        return i32(-1)
    b = s.encode()
    return i32(len(b)) + b


def buffer(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def vector(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def acl_world(perms=31):
    return i32(perms) + ustring("world") + ustring("anyone")


def frame(payload):
    return i32(len(payload)) + payload


def connect_req(read_only, session_id=0, passwd=b"\0" * 16, last_zxid=0, timeout=10000):
    body = i32(0) + i64(last_zxid) + i32(timeout) + i64(session_id) + buffer(passwd)
    if read_only is not None:
        body += boolean(read_only)
    return frame(body)


def request(xid, op, body=b""):
    return frame(i32(xid) + i32(op) + body)


def multi_header(op, done=False, err=-1):
    return i32(op) + boolean(done) + i32(err)


class Raw:
    """A raw socket client that sends hand-built frames and reads whole replies."""

    def __init__(self, address):
        host, port = address.split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.settimeout(5.0)
        self.buf = b""

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the server closed first; the recording shows what it answered

    def read_frame(self):
        """Returns one payload, or None when the server closed the connection."""
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">i", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    payload, self.buf = self.buf[4 : 4 + n], self.buf[4 + n :]
                    return payload
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def call(self, data):
        """Sends one request and reads up to its reply (events before it included), so the
        next request goes out only once this one is answered."""
        self.send(data)
        xid, op = struct.unpack(">ii", data[4:12])
        want = -2 if op == 11 else xid  # a ping is answered with xid -2
        frames = []
        while True:
            f = self.read_frame()
            frames.append(f)
            if f is None or struct.unpack(">i", f[:4])[0] == want:
                return frames

    def handshake(self, read_only=True, **kw):
        self.send(connect_req(read_only, **kw))
        resp = self.read_frame()
        if resp is None:
            return None
        _pv, _to, sid = struct.unpack(">iiq", resp[:16])
        return sid

    def until_closed(self):
        while self.read_frame() is not None:
            pass

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------
# Scenarios


def scenario_raw(proxy, upstream):
    """Hand-built frames: connect without readOnly, odd xids, error replies, hand-made
    SetWatches/SetWatches2, malformed bodies, auth failure, bad sessions, unknown opcode."""
    base = "/golden-raw"
    # conn 1: the old-client handshake (no readOnly byte), then a run of requests.
    c = Raw(proxy.address)
    sid = c.handshake(read_only=None, timeout=30000)
    c.call(request(77, 11))  # ping with xid 77: the reply has xid -2
    c.call(request(-2, 11))
    acl = vector([1], lambda _: acl_world())
    c.call(request(1, 1, ustring(base) + buffer(b"raw") + acl + i32(0)))
    c.call(request(2, 1, ustring(base + "/a") + buffer(None) + acl + i32(0)))
    c.call(request(3, 1, ustring(base + "/bad") + buffer(b"") + acl + i32(7)))  # -8
    c.call(request(4, 1, ustring(base + "/noacl") + buffer(b"") + i32(0) + i32(0)))  # -114
    c.call(request(5, 1, ustring(base + "/nullacl") + buffer(b"") + i32(-1) + i32(0)))
    c.call(request(6, 3, ustring("/nope\0") + boolean(False)))  # NUL in exists: -8
    c.call(request(7, 4, ustring(base + "/a") + boolean(False)))  # null data
    c.call(request(8, 17, ustring(base) + i32(2)))  # checkWatches, none: -121
    c.call(request(9, 18, ustring(base) + i32(3)))  # removeWatches, none: -121
    c.call(request(10, 106, ustring(base) + i32(2)))  # addWatch bad mode: -5
    c.call(request(11, 106, ustring(base) + i32(0)))  # addWatch persistent
    c.call(request(12, 17, ustring(base) + i32(4)))  # checkWatches persistent: ok
    c.call(request(13, 18, ustring(base) + i32(4)))  # removeWatches persistent: ok
    c.call(request(14, 4, i32(40) + b"/golden"))  # string runs past the frame: -5
    c.call(request(15, 4, b""))  # empty body: -5
    # A read op inside multi: -5. A write op inside multiRead: -5 with a body.
    c.call(request(16, 14, multi_header(4) + ustring(base) + boolean(False) + multi_header(-1, True)))
    c.call(request(17, 22, multi_header(4) + ustring(base) + boolean(False)
                   + multi_header(5) + ustring(base) + buffer(b"x") + i32(-1)
                   + multi_header(-1, True)))
    # Writes only in a multiRead: -5 with a body, the (empty) results and the terminator.
    c.call(request(37, 22, multi_header(5) + ustring(base) + buffer(b"x") + i32(-1)
                   + multi_header(-1, True)))
    c.call(request(18, 14, multi_header(-1, True)))  # empty multi
    c.call(request(19, 22, multi_header(-1, True)))  # empty multiRead
    # multiRead: getData hit, getData on null data, getChildren hit, getData miss.
    c.call(request(20, 22, multi_header(4) + ustring(base) + boolean(False)
                   + multi_header(4) + ustring(base + "/a") + boolean(False)
                   + multi_header(8) + ustring(base) + boolean(False)
                   + multi_header(4) + ustring(base + "/missing") + boolean(False)
                   + multi_header(8) + ustring(base + "/missing") + boolean(False)
                   + multi_header(-1, True)))
    # A multi with a create2 (3.8 answers type 1) and a setData with null data.
    c.call(request(21, 14, multi_header(15) + ustring(base + "/m2") + buffer(b"") + acl + i32(0)
                   + multi_header(5) + ustring(base + "/m2") + buffer(None) + i32(-1)
                   + multi_header(2) + ustring(base + "/m2") + i32(-1)
                   + multi_header(-1, True)))
    # SetWatches with made-up events: /a changed since zxid 0, /missing deleted, / exists.
    rel = 0
    c.call(request(-8, 101, i64(rel) + vector([base + "/a", base + "/missing"], ustring)
                   + vector(["/", base + "/new"], ustring) + vector([base], ustring)))
    c.call(request(-8, 105, i64(0x7FFFFFFFFFFF) + vector([base], ustring) + vector([], ustring)
                   + vector([], ustring) + vector([base + "/p"], ustring)
                   + vector([base + "/r"], ustring)))
    c.call(request(22, 5, ustring(base) + buffer(b"changed") + i32(-1)))  # the event comes first
    c.call(request(23, 103, ustring("/")))  # getEphemerals
    c.call(request(24, 104, ustring("/")))  # getAllChildrenNumber
    c.call(request(25, 107))  # whoAmI
    c.call(request(26, 16, ustring(None) + ustring(None) + ustring("server.1=localhost:2888:3888")
                   + i64(-1)))  # reconfig: -123
    c.call(request(27, 9, ustring(base + "/missing")))  # sync echoes even a missing path
    c.call(request(28, 8, ustring(base + "/missing") + boolean(True)))  # -101
    c.call(request(29, 12, ustring(base) + boolean(False)))
    c.call(request(30, 6, ustring("/zookeeper/config")))  # aversion -1
    c.call(request(31, 4, ustring("/") + boolean(False)))  # root: empty data
    ttl_body = ustring(base + "/ttl") + buffer(b"t") + acl + i32(5)
    c.call(request(33, 21, ttl_body + i64(0)))  # ttl 0: -8
    c.call(request(34, 21, ttl_body + i64(1 << 40)))  # ttl 2^40: -8
    c.call(request(35, 19, ustring(base + "/c") + buffer(b"") + acl + i32(0)))
    c.call(request(36, 2, ustring(base + "/c") + i32(-1)))
    c.send(request(32, 999, b"ignored"))  # unknown opcode: -6, then close
    c.until_closed()
    c.close()

    # conn 2: auth with an unknown scheme: -115, then close.
    c = Raw(proxy.address)
    c.handshake(read_only=False)
    c.call(request(-4, 100, i32(0) + ustring("digest") + buffer(b"u:p")))
    c.send(request(-4, 100, i32(0) + ustring("nosuchscheme") + buffer(b"x")))
    c.until_closed()
    c.close()

    # conn 3: an unknown session: all-zero response, then close.
    c = Raw(proxy.address)
    c.handshake(read_only=True, session_id=0x0123456789, passwd=b"\x01" * 16)
    c.until_closed()
    c.close()

    # conn 4: the same with an old client (no readOnly byte): 36 zero-ish bytes.
    c = Raw(proxy.address)
    c.handshake(read_only=None, session_id=0x0123456789, passwd=b"\x01" * 16)
    c.until_closed()
    c.close()

    # conn 5: a client that has seen more than the server: closed with no response.
    c = Raw(proxy.address)
    c.send(connect_req(True, last_zxid=0x7FFF00000000))
    c.until_closed()
    c.close()

    # conn 6: resume conn 1's session with a wrong password: zeros, then close.
    c = Raw(proxy.address)
    c.handshake(read_only=True, session_id=sid, passwd=b"\x02" * 16)
    c.until_closed()
    c.close()

    # conn 7: clean up, then closeSession.
    c = Raw(proxy.address)
    c.handshake(read_only=True)
    for i, path in enumerate([base + "/a", base]):
        c.call(request(1 + i, 2, ustring(path) + i32(-1)))
    c.call(request(3, 2, ustring(base) + i32(-1)))  # already gone: -101
    c.call(request(4, -11))
    c.until_closed()
    c.close()

    # conn 8: a SASL token on a server without SASL configured, last: it may close.
    c = Raw(proxy.address)
    c.handshake(read_only=True)
    c.call(request(1, 102, buffer(b"\x00token")))
    c.call(request(2, -11))
    c.until_closed()
    c.close()


def scenario_kazoo(proxy, upstream):
    """kazoo 2.x: its handshake, create/create2 with ACLs, reads, writes, watches, auth,
    transactions (success and failure), sync, pings, close."""
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl

    base = "/golden-kazoo"
    events = []
    zk = KazooClient(hosts=proxy.address, timeout=4.0)
    zk.start()
    zk.add_auth("digest", "alice:secret")
    zk.create(base, b"", acl=OPEN_ACL_UNSAFE)
    zk.create(base + "/n", b"value", acl=[make_digest_acl("alice", "secret", all=True),
                                          make_acl("ip", "127.0.0.1", read=True)])
    zk.create(base + "/d", b"data", acl=READ_ACL_UNSAFE + [make_acl("auth", "", all=True)],
              include_data=True)
    eph = zk.create(base + "/e-", b"", ephemeral=True, sequence=True)
    zk.create(base + "/s-", b"x", sequence=True)
    zk.exists(base + "/n", watch=events.append)
    zk.exists(base + "/missing", watch=events.append)
    zk.get(base + "/n", watch=events.append)
    zk.get(eph)
    zk.set(base + "/n", b"new")
    zk.get_acls(base + "/n")
    zk.set_acls(base + "/n", OPEN_ACL_UNSAFE, version=0)
    zk.get_children(base, watch=events.append)
    zk.get_children(base, include_data=True)
    zk.sync(base)
    zk.create(base + "/missing", b"now")  # fires the exists watch
    try:
        zk.create(base + "/n", b"")
    except Exception:
        pass
    try:
        zk.set(base + "/n", b"", version=99)
    except Exception:
        pass
    try:
        zk.delete(base)
    except Exception:
        pass
    t = zk.transaction()
    t.create(base + "/t1", b"1")
    t.set_data(base + "/t1", b"2")
    t.check(base + "/t1", 1)
    t.delete(base + "/t1")
    t.commit()
    t = zk.transaction()
    t.create(base + "/t2", b"1")
    t.check(base + "/n", 42)
    t.delete(base + "/missing")
    t.commit()
    time.sleep(3.0)  # long enough for kazoo to ping
    for child in zk.get_children(base):
        zk.delete(base + "/" + child)
    zk.delete(base)
    zk.stop()
    zk.close()


def run_java(proxy, upstream, scenario):
    up = "%s:%d" % upstream
    cmd = ["java", "-cp", JAVA_CP, os.path.join(HERE, "Driver.java"), scenario,
           proxy.address, up]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        line = line.rstrip("\n")
        if line == "@@DROP":
            proxy.drop(hold=True)
            p.stdin.write("ok\n")
            p.stdin.flush()
        elif line == "@@RESUME":
            proxy.resume()
            p.stdin.write("ok\n")
            p.stdin.flush()
        else:
            print("  java: " + line)
    if p.wait() != 0:
        raise SystemExit("Driver.java %s failed" % scenario)


def scenario_java_ops(proxy, upstream):
    """The Java client (3.8.0): every client operation it has, with errors and events."""
    run_java(proxy, upstream, "ops")


def scenario_java_reconnect(proxy, upstream):
    """The Java client reconnecting: ConnectRequest with session id and password, auth
    replayed, SetWatches (101) and SetWatches2 (105) with made-up events."""
    run_java(proxy, upstream, "reconnect")


def scenario_zkcli(proxy, upstream):
    """A scripted zkCli.sh session: the seed commands from issue 3."""
    script = "\n".join([
        "ls /",
        "create /app \"v\"",
        "create -e -s /app/e- \"\"",
        "create -c /cont",
        "create -t 60000 /ttl x",
        "get /app",
        "get -s /app",
        "set /app \"w\"",
        "stat /app",
        "getAcl /app",
        "setAcl /app world:anyone:cdrwa",
        "getAllChildrenNumber /",
        "getEphemerals /",
        "whoami",
        "addauth digest bob:pw",
        "whoami",
        "sync /app",
        "delete /ttl",
        "delete /cont",
        "deleteall /app",
        "get /app",
        "quit",
    ]) + "\n"
    env = dict(os.environ, CLIENT_JVMFLAGS="-Dzookeeper.log.dir=/tmp")
    p = subprocess.run([ZKCLI, "-server", proxy.address], input=script, text=True,
                       capture_output=True, env=env, timeout=120)
    for line in p.stdout.splitlines()[-12:]:
        print("  zkCli: " + line)


SCENARIOS = [
    ("raw", scenario_raw),
    ("kazoo", scenario_kazoo),
    ("java-ops", scenario_java_ops),
    ("java-reconnect", scenario_java_reconnect),
    ("zkcli", scenario_zkcli),
]


def server_version(upstream):
    s = socket.create_connection(upstream)
    s.sendall(b"srvr")
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    s.close()
    return out.decode().splitlines()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", default="127.0.0.1:23181", help="ZooKeeper host:port")
    ap.add_argument("--listen", type=int, default=23182, help="proxy port on 127.0.0.1")
    ap.add_argument("--out", default=HERE, help="where the .frames files go")
    ap.add_argument("scenarios", nargs="*", help="subset to run (default: all)")
    args = ap.parse_args()
    host, port = args.upstream.split(":")
    upstream = (host, int(port))
    version = server_version(upstream)
    proxy = Proxy(args.listen, upstream)
    for name, fn in SCENARIOS:
        if args.scenarios and name not in args.scenarios:
            continue
        print("scenario %s" % name)
        proxy.begin()
        fn(proxy, upstream)
        lines = proxy.end()
        path = os.path.join(args.out, name + ".frames")
        with open(path, "w") as f:
            f.write("# scenario %s: %s\n" % (name, " ".join(fn.__doc__.split())))
            f.write("# recorded by capture.py from %s\n" % version)
            f.write("# <conn> <C|S> <connect|event|opcode> <name> <hex frame, length included>\n")
            for line in lines:
                f.write(line + "\n")
        print("  %d frames -> %s" % (len(lines), path))


if __name__ == "__main__":
    main()
