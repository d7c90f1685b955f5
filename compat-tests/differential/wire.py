"""A small ZooKeeper wire client that builds every frame by hand (jute encoding).

It pipelines: `send()` writes a request and returns at once, `read_frame()` returns the
next frame the server sent (a reply or a notification) in arrival order. Every read is
bounded by a deadline; nothing here waits forever.
"""

from __future__ import annotations

import socket
import struct
import time

# opcodes (ZooDefs.OpCode)
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL = 1, 2, 3, 4, 5, 6, 7
GET_CHILDREN, SYNC, PING, GET_CHILDREN2, CHECK, MULTI, CREATE2 = 8, 9, 11, 12, 13, 14, 15
CHECK_WATCHES, REMOVE_WATCHES, CREATE_CONTAINER, CREATE_TTL, MULTI_READ = 17, 18, 19, 21, 22
AUTH, GET_EPHEMERALS, GET_ALL_CHILDREN, ADD_WATCH, WHO_AM_I = 100, 103, 104, 106, 107
SET_WATCHES, SET_WATCHES2 = 101, 105
CLOSE_SESSION = -11

NOTIFICATION_XID, PING_XID, AUTH_XID, SET_WATCHES_XID = -1, -2, -4, -8

# The jute primitives and the Stat layout are the compat tests' own (../rawzk.py).
from rawzk import STAT, STAT_FIELDS, acl_vec, boolean, buf, i32, i64, string  # noqa: E402,F401


def create_body(path: str, data: bytes | None, acls, flags: int) -> bytes:
    return string(path) + buf(data) + acl_vec(acls) + i32(flags)


def create_ttl_body(path: str, data: bytes | None, acls, flags: int, ttl: int) -> bytes:
    return create_body(path, data, acls, flags) + i64(ttl)


def multi_body(entries) -> bytes:
    """entries: list of (type, record bytes); adds the terminator."""
    out = b"".join(i32(t) + boolean(False) + i32(-1) + rec for t, rec in entries)
    return out + i32(-1) + boolean(True) + i32(-1)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
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
        return None if b is None else b.decode("utf-8", "replace")

    def stat(self) -> dict:
        return dict(zip(STAT_FIELDS, STAT.unpack(self.take(STAT.size))))

    def strings(self) -> list[str] | None:
        n = self.i32()
        return None if n < 0 else [self.string() for _ in range(n)]

    def acls(self) -> list[tuple[int, str, str]] | None:
        n = self.i32()
        return None if n < 0 else [(self.i32(), self.string(), self.string()) for _ in range(n)]

    def rest(self) -> bytes:
        return self.data[self.pos:]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


class Closed(Exception):
    """The server closed the connection."""


class Timeout(Exception):
    """Nothing arrived before the deadline."""


class Conn:
    """One TCP connection to a server, speaking frames."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.closed = False
        self.xid = 0

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def send_frame(self, payload: bytes):
        try:
            self.sock.sendall(i32(len(payload)) + payload)
        except OSError as e:
            raise Closed(f"send failed: {e}") from e

    def send(self, op: int, body: bytes = b"", xid: int | None = None) -> int:
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(i32(xid) + i32(op) + body)
        return xid

    def _fill(self, deadline: float):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("no frame before the deadline")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout as e:
            raise Timeout("no frame before the deadline") from e
        except OSError as e:
            raise Closed(f"recv failed: {e}") from e
        if not chunk:
            raise Closed("connection closed by the server")
        self._buf += chunk

    def read_frame(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._buf) < 4:
            self._fill(deadline)
        (n,) = struct.unpack(">i", self._buf[:4])
        if n < 0 or n > 16 << 20:
            raise Closed(f"bad frame length {n}")
        while len(self._buf) < 4 + n:
            self._fill(deadline)
        frame = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        return frame

    def closed_by_server(self, wait: float) -> bool:
        """True if the server closes the connection within `wait` seconds and sends nothing
        more (extra bytes count as not closed)."""
        if self._buf:
            return False
        try:
            self._fill(time.monotonic() + wait)
        except Closed:
            return True
        except Timeout:
            return False
        return False

    def connect(self, timeout_ms: int, session_id: int = 0, passwd: bytes = b"\x00" * 16,
                last_zxid: int = 0) -> tuple[int, int, bytes, bool | None]:
        """Handshake (with the readOnly byte); returns (timeout, session id, password, ro)."""
        body = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(session_id) + buf(passwd)
        self.send_frame(body + boolean(False))
        r = Reader(self.read_frame())
        _pv, to, sid, pw = r.i32(), r.i32(), r.i64(), r.buf()
        ro = r.boolean() if not r.at_end() else None
        return to, sid, pw or b"", ro
