"""Exact frames on the wire, as Apache ZooKeeper 3.8 sends them (see
shared/reference/zookeeper-protocol.md). A hand-written jute client (rawzk.py) so that
framing, error replies, special xids and connection closes are visible.

Not tested on purpose: a top-level check (op 13) and createTTL with a non-TTL flag and
ttl < 0, which break Apache ZooKeeper 3.8.0 itself; the zxid inside a notification
(3.8 sends -1, 3.9 the txn's zxid)."""

from __future__ import annotations

import socket
import struct

import pytest

import rawzk
from rawzk import (
    AUTH, CLOSE_SESSION, CREATE, CREATE2, CREATE_CONTAINER, CREATE_TTL, DELETE, EXISTS,
    GET_CHILDREN, GET_DATA, MULTI, PING, SYNC, RawClient, boolean, buf, create_body, i32,
    i64, string,
)
from zkharness import four_letter

# error codes
OK, MARSHALLING, UNIMPLEMENTED, BAD_ARGUMENTS = 0, -5, -6, -8
NO_NODE, NODE_EXISTS, NOT_EMPTY, AUTH_FAILED, RUNTIME_INCONSISTENCY = -101, -110, -111, -115, -2
# events
NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED, NODE_CHILDREN_CHANGED = 1, 2, 3, 4
SYNC_CONNECTED = 3


@pytest.fixture
def raw(server):
    c = RawClient(server.port)
    c.start_session()
    yield c
    c.close()


@pytest.fixture
def wbase(raw, request):
    path = f"/wire-{request.node.name}"[:90]
    rep = raw.call(CREATE, create_body(path))
    assert rep.err == OK, f"create {path}: {rep.err}"
    return path


def java_random_bytes(seed: int, n: int) -> bytes:
    """java.util.Random(seed).nextBytes(n)."""
    mask = (1 << 48) - 1
    s = (seed ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < n:
        s = (s * 0x5DEECE66D + 0xB) & mask
        rnd = s >> 16
        for _ in range(min(4, n - len(out))):
            out.append(rnd & 0xFF)
            rnd >>= 8
    return bytes(out)


# ---------------------------------------------------------------------------
# handshake


def test_connect_response_with_and_without_readonly_byte(server):
    with RawClient(server.port) as c:
        r = c.connect(10000, read_only=False)
        assert (r.length, r.protocol_version, r.timeout, len(r.passwd), r.read_only) == (
            37, 0, 10000, 16, False)
    with RawClient(server.port) as c:
        r = c.connect(10000, read_only=None)
        assert (r.length, r.protocol_version, r.timeout, len(r.passwd), r.read_only) == (
            36, 0, 10000, 16, None)


@pytest.mark.parametrize("asked,granted", [
    (1, 4000), (-5, 4000), (3999, 4000), (4000, 4000), (10001, 10001), (40000, 40000),
    (40001, 40000), (10**9, 40000)])
def test_session_timeout_negotiation(server, asked, granted):
    with RawClient(server.port) as c:
        assert c.connect(asked).timeout == granted


def test_session_ids_and_passwords(server):
    with RawClient(server.port) as a, RawClient(server.port) as b:
        ra = a.connect(10000)
        rb = b.connect(10000)
    assert ra.session_id >> 56 == 1, f"standalone session ids start with 0x01: {ra.session_id:#x}"
    assert rb.session_id == ra.session_id + 1, (hex(ra.session_id), hex(rb.session_id))
    # The password is java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16), so that
    # sessions of an Apache ensemble survive a takeover.
    assert ra.passwd == java_random_bytes(ra.session_id ^ 0xB3415C00, 16)
    assert rb.passwd == java_random_bytes(rb.session_id ^ 0xB3415C00, 16)


def test_resume_session_and_old_connection_closed(server):
    first = RawClient(server.port)
    r = first.connect(10000)
    with RawClient(server.port) as second:
        r2 = second.connect(10000, session_id=r.session_id, passwd=r.passwd)
        assert (r2.session_id, r2.passwd, r2.timeout) == (r.session_id, r.passwd, 10000)
        assert first.closed_by_server(5), "the old connection of a resumed session stays open"
        rep = second.call(PING, xid=-2)
        assert (rep.xid, rep.err) == (-2, OK)
    first.close()


def test_wrong_password_gets_zero_response_then_close(server):
    with RawClient(server.port) as a:
        r = a.connect(10000)
        bad = bytes([r.passwd[0] ^ 1]) + r.passwd[1:]
        with RawClient(server.port) as b:
            z = b.connect(10000, session_id=r.session_id, passwd=bad)
            assert (z.length, z.protocol_version, z.timeout, z.session_id, z.passwd,
                    z.read_only) == (37, 0, 0, 0, b"\x00" * 16, False)
            assert b.closed_by_server(5)


def test_closed_session_cannot_be_resumed(server):
    with RawClient(server.port) as a:
        r = a.connect(10000)
        rep = a.call(CLOSE_SESSION)
        assert rep.err == OK and rep.zxid > 0
        assert a.closed_by_server(5), "server keeps the connection after closeSession"
    with RawClient(server.port) as b:
        z = b.connect(10000, session_id=r.session_id, passwd=r.passwd, read_only=None)
        assert (z.length, z.timeout, z.session_id, z.passwd) == (36, 0, 0, b"\x00" * 16)
        assert b.closed_by_server(5)


def test_client_ahead_of_server_is_refused(server):
    with RawClient(server.port) as c:
        with pytest.raises((EOFError, ConnectionResetError)):
            c.connect(10000, last_zxid=1 << 40)


# ---------------------------------------------------------------------------
# framing, special xids, bad input


def test_ping_is_answered_with_xid_minus_2(raw):
    rep = raw.call(PING, xid=77)
    assert (rep.xid, rep.err, rep.body.rest()) == (-2, OK, b"")
    rep = raw.call(PING, xid=-2)
    assert (rep.xid, rep.err) == (-2, OK)


def test_error_reply_is_header_only(raw):
    raw.send(GET_DATA, string("/no/such/node") + boolean(False))
    frame = raw.read_frame()
    assert len(frame) == 16
    xid, zxid, err = struct.unpack(">iqi", frame)
    assert (xid, err) == (raw.xid, NO_NODE)


def test_unknown_opcode_unimplemented_then_close(raw):
    rep = raw.call(999, b"")
    assert (rep.xid, rep.err) == (raw.xid, UNIMPLEMENTED)
    assert raw.closed_by_server(5)


def test_malformed_body_marshalling_error_connection_stays(raw):
    # getData whose path claims 100 bytes but carries 3
    rep = raw.call(GET_DATA, i32(100) + b"abc")
    assert (rep.xid, rep.err) == (raw.xid, MARSHALLING)
    rep = raw.call(PING, xid=-2)
    assert (rep.xid, rep.err) == (-2, OK)


@pytest.mark.parametrize("length", [1048576, -5, 0])
def test_bad_frame_length_closes_without_reply(raw, length):
    raw.sock.sendall(i32(length) + b"\x00" * 16)
    assert raw.closed_by_server(5)


def test_unknown_four_letter_word_closes_silently(server):
    assert four_letter(server.port, "abcd") == ""


def test_auth_replies(raw, server):
    rep = raw.call(AUTH, i32(0) + string("digest") + buf(b"u:p"), xid=-4)
    assert (rep.xid, rep.zxid, rep.err) == (-4, 0, OK)
    with RawClient(server.port) as c:
        c.start_session()
        rep = c.call(AUTH, i32(0) + string("nosuchscheme") + buf(b"x"), xid=-4)
        assert (rep.xid, rep.zxid, rep.err) == (-4, 0, AUTH_FAILED)
        assert c.closed_by_server(5)


# ---------------------------------------------------------------------------
# replies and zxids


def test_create_and_create2_bodies(raw, wbase):
    rep = raw.call(CREATE, create_body(f"{wbase}/a", b"x"))
    assert rep.err == OK
    assert rep.body.string() == f"{wbase}/a" and rep.body.rest() == b""
    rep2 = raw.call(CREATE2, create_body(f"{wbase}/b", b"xy"))
    assert rep2.err == OK and rep2.body.string() == f"{wbase}/b"
    st = rep2.body.stat()
    assert rep2.body.rest() == b""
    assert st["czxid"] == rep2.zxid == rep.zxid + 1
    assert (st["dataLength"], st["version"], st["pzxid"]) == (2, 0, st["czxid"])


def test_null_and_empty_data_round_trip(raw, wbase):
    assert raw.call(CREATE, create_body(f"{wbase}/null", None)).err == OK
    assert raw.call(CREATE, create_body(f"{wbase}/empty", b"")).err == OK
    rep = raw.call(GET_DATA, string(f"{wbase}/null") + boolean(False))
    assert rep.err == OK and rep.body.buf() is None and rep.body.stat()["dataLength"] == 0
    rep = raw.call(GET_DATA, string(f"{wbase}/empty") + boolean(False))
    assert rep.err == OK and rep.body.buf() == b"" and rep.body.stat()["dataLength"] == 0
    rep = raw.call(GET_DATA, string("/") + boolean(False))
    assert rep.err == OK and rep.body.buf() == b""


def test_zxids_of_failed_writes_and_reads(raw, wbase):
    z = raw.call(CREATE, create_body(f"{wbase}/a")).zxid
    rep = raw.call(CREATE, create_body(f"{wbase}/a"))
    assert (rep.err, rep.zxid) == (NODE_EXISTS, z + 1)
    rep = raw.call(CREATE, create_body(f"{wbase}/a"))
    assert (rep.err, rep.zxid) == (NODE_EXISTS, z + 2)
    rep = raw.call(GET_DATA, string(f"{wbase}/a") + boolean(False))
    assert (rep.err, rep.zxid) == (OK, z + 2), "a read carries the last zxid"
    rep = raw.call(GET_DATA, string(f"{wbase}/zz") + boolean(False))
    assert (rep.err, rep.zxid) == (NO_NODE, z + 2)
    rep = raw.call(SYNC, string(f"{wbase}/missing"))
    assert (rep.err, rep.zxid) == (OK, z + 2), "sync uses no zxid"
    assert rep.body.string() == f"{wbase}/missing"
    rep = raw.call(PING, xid=-2)
    assert rep.zxid == z + 2


def test_error_precedence(raw, wbase):
    def err(op, body):
        return raw.call(op, body).err

    assert err(CREATE, create_body(f"{wbase}/")) == BAD_ARGUMENTS
    assert err(CREATE, create_body(f"{wbase}//x")) == NO_NODE
    assert err(CREATE, create_body("//x")) == BAD_ARGUMENTS
    assert err(CREATE, create_body("nope")) == BAD_ARGUMENTS
    assert err(CREATE, create_body(f"{wbase}/x", flags=7)) == BAD_ARGUMENTS
    assert err(CREATE, create_body("/")) == NODE_EXISTS
    assert err(GET_DATA, string("nope") + boolean(False)) == NO_NODE
    assert err(GET_DATA, string("/zookeeper/") + boolean(False)) == NO_NODE
    assert err(EXISTS, string(f"{wbase}/a\x00b") + boolean(False)) == BAD_ARGUMENTS
    assert err(DELETE, string("/") + i32(-1)) == BAD_ARGUMENTS
    assert err(DELETE, string(f"{wbase}/") + i32(-1)) == NO_NODE
    assert err(CREATE, create_body(f"{wbase}/p")) == OK
    assert err(CREATE, create_body(f"{wbase}/p/k")) == OK
    assert err(DELETE, string(f"{wbase}/p") + i32(5)) == -103, "bad version beats NotEmpty"
    assert err(DELETE, string(f"{wbase}/p") + i32(-1)) == NOT_EMPTY
    # sequential flag with an empty last name
    rep = raw.call(CREATE, create_body(f"{wbase}/p/", flags=2))
    assert rep.err == OK and rep.body.string() == f"{wbase}/p/0000000001"


def test_container_and_ttl_opcodes(raw, wbase):
    rep = raw.call(CREATE_CONTAINER, create_body(f"{wbase}/c", b"", flags=4))
    assert rep.err == OK and rep.body.string() == f"{wbase}/c"
    assert rep.body.stat()["ephemeralOwner"] == 0
    for ttl in (0, 1 << 40):
        rep = raw.call(CREATE_TTL, create_body(f"{wbase}/t", b"", flags=5) + i64(ttl))
        assert rep.err == BAD_ARGUMENTS, f"ttl {ttl}"
    rep = raw.call(CREATE_TTL, create_body(f"{wbase}/t", b"", flags=5) + i64(60000))
    assert rep.err == OK and rep.body.string() == f"{wbase}/t"
    assert rep.body.stat()["ephemeralOwner"] == 0
    rep = raw.call(CREATE_TTL, create_body(f"{wbase}/ts-", b"", flags=6) + i64(60000))
    assert rep.err == OK and rep.body.string() == f"{wbase}/ts-0000000002"


def test_failed_multi_wire_format(raw, wbase):
    def header(t, done=False, err=-1):
        return i32(t) + boolean(done) + i32(err)

    body = (header(CREATE) + create_body(f"{wbase}/m1")
            + header(CREATE) + create_body(wbase)
            + header(DELETE) + string(f"{wbase}/m1") + i32(-1)
            + header(-1, True, -1))
    rep = raw.call(MULTI, body)
    assert rep.err == OK, "a failed multi has err 0 in its reply header"
    results = []
    r = rep.body
    while True:
        t, done, e = r.i32(), r.boolean(), r.i32()
        if done:
            assert (t, e) == (-1, -1)
            break
        assert t == -1, f"result type {t}"
        results.append((e, r.i32()))
    assert r.rest() == b""
    assert results == [(0, 0), (NODE_EXISTS, NODE_EXISTS),
                       (RUNTIME_INCONSISTENCY, RUNTIME_INCONSISTENCY)]
    assert raw.call(EXISTS, string(f"{wbase}/m1") + boolean(False)).err == NO_NODE


# ---------------------------------------------------------------------------
# notifications


def test_notification_before_own_reply(raw, wbase):
    p = f"{wbase}/n"
    assert raw.call(EXISTS, string(p) + boolean(True)).err == NO_NODE  # sets a watch
    xid = raw.send(CREATE, create_body(p))
    first = raw.read_reply()
    assert first.xid == -1 and first.err == OK, "the event comes before the create reply"
    assert rawzk.parse_event(first) == (NODE_CREATED, SYNC_CONNECTED, p)
    second = raw.read_reply()
    assert (second.xid, second.err) == (xid, OK)

    assert raw.call(GET_DATA, string(p) + boolean(True)).err == OK
    xid = raw.send(rawzk.SET_DATA, string(p) + buf(b"v") + i32(-1))
    ev = raw.read_reply()
    assert rawzk.parse_event(ev) == (NODE_DATA_CHANGED, SYNC_CONNECTED, p)
    assert raw.read_reply().xid == xid


def test_one_event_per_connection(raw, server, wbase):
    p = f"{wbase}/d"
    assert raw.call(CREATE, create_body(p)).err == OK
    assert raw.call(GET_DATA, string(p) + boolean(True)).err == OK
    assert raw.call(GET_CHILDREN, string(p) + boolean(True)).err == OK
    assert raw.call(EXISTS, string(p) + boolean(True)).err == OK
    with RawClient(server.port) as other:
        other.start_session()
        assert other.call(DELETE, string(p) + i32(-1)).err == OK
    ev = raw.read_reply()
    assert rawzk.parse_event(ev) == (NODE_DELETED, SYNC_CONNECTED, p)
    # nothing else may follow: the next frame is the ping's reply
    rep = raw.call(PING, xid=-2)
    assert rep.xid == -2 and raw.events == []


def test_getdata_on_missing_node_sets_no_watch(raw, server, wbase):
    p = f"{wbase}/later"
    assert raw.call(GET_DATA, string(p) + boolean(True)).err == NO_NODE
    assert raw.call(GET_CHILDREN, string(p) + boolean(True)).err == NO_NODE
    with RawClient(server.port) as other:
        other.start_session()
        assert other.call(CREATE, create_body(p)).err == OK
    raw.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        raw.read_reply()


# ---------------------------------------------------------------------------
# SetWatches: what a client sends after it reconnects (possibly to another server)

SET_WATCHES, SET_WATCHES2 = 101, 105


def str_vec(items) -> bytes:
    return i32(len(items)) + b"".join(string(s) for s in items)


def test_set_watches_made_up_events_then_reply(raw, server, wbase):
    def create(p):
        rep = raw.call(CREATE, create_body(p))
        assert rep.err == OK, p
        return rep.zxid

    for name in ("changed", "same", "gone", "parent", "quiet"):
        create(f"{wbase}/{name}")
    z0 = raw.call(PING, xid=-2).zxid
    assert raw.call(rawzk.SET_DATA, string(f"{wbase}/changed") + buf(b"x") + i32(-1)).err == OK
    assert raw.call(DELETE, string(f"{wbase}/gone") + i32(-1)).err == OK
    create(f"{wbase}/born")
    create(f"{wbase}/parent/kid")

    with RawClient(server.port) as c:
        c.start_session()
        w = lambda n: f"{wbase}/{n}"  # noqa: E731
        body = (i64(z0)
                + str_vec([w("changed"), w("same"), w("gone")])
                + str_vec([w("born"), w("absent")])
                + str_vec([w("parent"), w("quiet"), w("gone")]))
        c.send(SET_WATCHES, body, xid=-8)
        frames = []
        for _ in range(20):  # bounded: at most a handful of events, then the reply
            rep = c.read_reply()
            if rep.xid != -1:
                break
            frames.append(rawzk.parse_event(rep))
        assert (rep.xid, rep.err) == (-8, OK), "SetWatches is answered with xid -8"
        assert frames == [
            (NODE_DATA_CHANGED, SYNC_CONNECTED, w("changed")),
            (NODE_DELETED, SYNC_CONNECTED, w("gone")),
            (NODE_CREATED, SYNC_CONNECTED, w("born")),
            (NODE_CHILDREN_CHANGED, SYNC_CONNECTED, w("parent")),
            (NODE_DELETED, SYNC_CONNECTED, w("gone")),
        ], "events made up from relativeZxid, all before the reply"

        # The watches that did not fire are registered; those that fired are not.
        assert raw.call(rawzk.SET_DATA, string(w("changed")) + buf(b"y") + i32(-1)).err == OK
        assert raw.call(rawzk.SET_DATA, string(w("same")) + buf(b"y") + i32(-1)).err == OK
        create(w("absent"))
        create(w("quiet") + "/kid")
        c.call(PING, xid=-2)
        assert c.events == [
            (NODE_DATA_CHANGED, SYNC_CONNECTED, w("same")),
            (NODE_CREATED, SYNC_CONNECTED, w("absent")),
            (NODE_CHILDREN_CHANGED, SYNC_CONNECTED, w("quiet")),
        ]


def test_set_watches2_persistent_get_no_made_up_events(raw, server, wbase):
    z0 = raw.call(CREATE, create_body(f"{wbase}/p")).zxid
    assert raw.call(rawzk.SET_DATA, string(f"{wbase}/p") + buf(b"x") + i32(-1)).err == OK
    with RawClient(server.port) as c:
        c.start_session()
        empty = i32(0)
        body = (i64(z0 - 1) + empty + empty + empty
                + str_vec([f"{wbase}/p"]) + str_vec([wbase]))
        rep = c.call(SET_WATCHES2, body, xid=-8)
        assert (rep.xid, rep.err) == (-8, OK)
        assert c.events == [], "persistent watches get no catch-up events"
        assert raw.call(rawzk.SET_DATA, string(f"{wbase}/p") + buf(b"y") + i32(-1)).err == OK
        c.call(PING, xid=-2)
        # one event per connection, though both the persistent and the recursive watch match
        assert c.events == [(NODE_DATA_CHANGED, SYNC_CONNECTED, f"{wbase}/p")]


def test_path_characters(raw, wbase):
    def create(name):
        return raw.call(CREATE, create_body(f"{wbase}/{name}")).err

    assert create("ünïcödé-名前") == OK
    assert create("with space") == OK
    assert create("😀") == BAD_ARGUMENTS, "characters outside the BMP are rejected"
    assert create("a\x01b") == BAD_ARGUMENTS
    assert create("a\x7fb") == BAD_ARGUMENTS
    assert create(".") == BAD_ARGUMENTS
    assert create("..") == BAD_ARGUMENTS
    assert create("...") == OK
    assert create(".hidden") == OK
    rep = raw.call(GET_CHILDREN, string(wbase) + boolean(False))
    assert sorted(rep.body.strings()) == sorted(
        ["ünïcödé-名前", "with space", "...", ".hidden"])
