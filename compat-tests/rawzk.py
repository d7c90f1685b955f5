"""A tiny ZooKeeper wire client for tests that need exact frames (jute encoding).

Only what the wire tests use; every read is bounded by a socket timeout.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

OPEN_ACL = [(31, "world", "anyone")]
STAT = struct.Struct(">qqqqiiiqiiq")  # 68 bytes
STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")

# opcodes
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA = 1, 2, 3, 4, 5
GET_CHILDREN, SYNC, PING, GET_CHILDREN2, MULTI, CREATE2 = 8, 9, 11, 12, 14, 15
CREATE_CONTAINER, CREATE_TTL, AUTH, CLOSE_SESSION, ADD_WATCH = 19, 21, 100, -11, 106


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def buf(v: bytes | None) -> bytes:
    return i32(-1) if v is None else i32(len(v)) + v


def string(v: str | None) -> bytes:
    return buf(None if v is None else v.encode("utf-8"))


def acl_vec(acls) -> bytes:
    return i32(len(acls)) + b"".join(i32(p) + string(s) + string(i) for p, s, i in acls)


def create_body(path: str, data: bytes | None = b"", flags: int = 0, acls=OPEN_ACL) -> bytes:
    return string(path) + buf(data) + acl_vec(acls) + i32(flags)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"short record: need {n} bytes at {self.pos} of {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def boolean(self) -> bool:
        return self.take(1) != b"\x00"

    def buf(self) -> bytes | None:
        n = self.i32()
        return None if n < 0 else self.take(n)

    def string(self) -> str | None:
        b = self.buf()
        return None if b is None else b.decode("utf-8")

    def stat(self) -> dict:
        return dict(zip(STAT_FIELDS, STAT.unpack(self.take(STAT.size))))

    def strings(self) -> list[str] | None:
        n = self.i32()
        return None if n < 0 else [self.string() for _ in range(n)]

    def rest(self) -> bytes:
        return self.data[self.pos:]


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: Reader


@dataclass
class ConnectResponse:
    length: int
    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.xid = 0
        self.events: list[tuple[int, int, str]] = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # framing
    def send_frame(self, payload: bytes):
        self.sock.sendall(i32(len(payload)) + payload)

    def recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError(f"connection closed after {len(out)} of {n} bytes")
            out += chunk
        return out

    def read_frame(self) -> bytes:
        (n,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def closed_by_server(self, wait: float = 5.0) -> bool:
        """True if the server closes the connection (EOF or reset) within `wait` seconds
        without sending anything more."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        return data == b""

    # handshake
    def connect(self, timeout_ms: int = 10000, session_id: int = 0,
                passwd: bytes = b"\x00" * 16, last_zxid: int = 0,
                read_only: bool | None = False) -> ConnectResponse:
        body = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(session_id) + buf(passwd)
        if read_only is not None:
            body += boolean(read_only)
        self.send_frame(body)
        frame = self.read_frame()
        r = Reader(frame)
        pv, to, sid, pw = r.i32(), r.i32(), r.i64(), r.buf()
        ro = r.boolean() if r.pos < len(frame) else None
        return ConnectResponse(len(frame), pv, to, sid, pw, ro)

    # requests
    def send(self, op: int, body: bytes = b"", xid: int | None = None) -> int:
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(i32(xid) + i32(op) + body)
        return xid

    def read_reply(self) -> Reply:
        frame = self.read_frame()
        r = Reader(frame)
        return Reply(r.i32(), r.i64(), r.i32(), r)

    def call(self, op: int, body: bytes = b"", xid: int | None = None) -> Reply:
        """Send one request and return its reply; notifications before it are kept in
        self.events."""
        sent = self.send(op, body, xid)
        while True:
            rep = self.read_reply()
            if rep.xid == -1 and sent != -1:
                self.events.append(parse_event(rep))
                continue
            return rep

    def start_session(self, timeout_ms: int = 10000) -> ConnectResponse:
        self.events = []
        resp = self.connect(timeout_ms)
        assert resp.timeout > 0 and resp.session_id != 0, resp
        return resp


def parse_event(rep: Reply) -> tuple[int, int, str]:
    r = rep.body
    return (r.i32(), r.i32(), r.string())
