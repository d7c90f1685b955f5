"""Runs one stream against one server and records everything the server sent.

Ops are grouped into batches: a run of consecutive ops of one session. A batch is sent
pipelined (all requests written before any reply is read), then its replies and the
notifications between them are read in arrival order. Then every other open session sends
a ping and reads up to the ping's reply, which collects every notification the batch
caused (a server queues a change's notifications before the writer's reply, and each
connection's output is FIFO). So the whole transcript is deterministic and the two
servers' transcripts can be compared entry by entry.

A batch is cut before an auth packet (ZooKeeper answers auth at once, ahead of earlier
pipelined requests, so an auth only goes out on an idle connection); after a closeSession
or an auth with an unknown scheme (the server closes the connection); and after a setACL:
ZooKeeper (3.8.0 and 3.9.4 alike) checks a request against the pending change record of a
setACL still in flight, which keeps the *old* ACL (PrepRequestProcessor duplicates the
record without the new list), so what a request pipelined behind a setACL gets depends on
timing there. Likewise after a multi with a create entry (1, 15, 19) carrying a TTL
flag: ZooKeeper fails it with -5 by an exception that skips the rollback of the pending
changes of the ops before it, so requests prepared before that multi is applied see its
nodes (a phantom ephemeral parent gives NoChildrenForEphemerals, seen live). And after a
createContainer (19) with an ephemeral flag: its pending record is an ephemeral of the
session (from the flag) while the applied node is a container (from the opcode), so a
pipelined child create may get NoChildrenForEphemerals and a pipelined closeSession may
delete the container, depending on timing (seen live, ZooKeeper against itself).
A disconnect op also ends its batch: the client drops its TCP connection without closing
the session.

Sessions open lazily at their first op; a closed session index gets a new session at its
next op. A session whose connection is gone (dropped by the client, or closed by the server
after a failed auth) resumes at its next op on a new connection (id, password,
lastZxidSeen) and sends the watches it still holds (SetWatches, or SetWatches2 with
persistent watches), tracked as a client library tracks them: the events made up for
what changed meanwhile come before the -8 reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import wire as w
from .gen import Ctx, Op, encode

SESSION_TIMEOUT_MS = 30000
REPLY_WAIT_S = 10.0
CLOSE_WAIT_S = 3.0


@dataclass
class Entry:
    op: int          # index of the op it belongs to (len(ops) for the final closes)
    sess: int        # session index that received it
    kind: str        # open, resume, reply, event, ping, closed, fault
    data: dict


@dataclass
class Session:
    conn: w.Conn | None
    sid: int
    passwd: bytes
    gen: int
    open: bool
    last_zxid: int = 0          # as the Java client keeps it: zxid of the last normal reply
    setwatches2: bool = False   # send SetWatches2 even without persistent watches
    # The watches this connection holds, as a client library tracks them (Java's
    # ZKWatchManager): data, exist, child, persistent, recursive -> paths.
    watches: dict = field(default_factory=lambda: {k: set() for k in WATCH_KINDS})


WATCH_KINDS = ("data", "exist", "child", "persistent", "recursive")


def track_reply(sess: Session, op: Op, opcode: int, meta: dict, err: int):
    """Registers the watch a successful request set (exists on a missing node too)."""
    path = meta.get("path")
    wt = sess.watches
    if opcode == w.EXISTS and op.a.get("watch") and err in (0, -101):
        wt["data" if err == 0 else "exist"].add(path)
    elif opcode == w.GET_DATA and op.a.get("watch") and err == 0:
        wt["data"].add(path)
    elif opcode in (w.GET_CHILDREN, w.GET_CHILDREN2) and op.a.get("watch") and err == 0:
        wt["child"].add(path)
    elif opcode == w.ADD_WATCH and err == 0 and op.a["mode"] in (0, 1):
        wt["persistent" if op.a["mode"] == 0 else "recursive"].add(path)
    elif opcode == w.REMOVE_WATCHES and err == 0:
        kinds = {1: ("child",), 2: ("data", "exist"), 3: WATCH_KINDS}.get(op.a["type"], ())
        for k in kinds:
            wt[k].discard(path)


def track_event(sess: Session, etype: int, path: str):
    """A standard watch is gone once its event arrived (persistent ones stay)."""
    wt = sess.watches
    if etype in (1, 3):
        wt["data"].discard(path)
        wt["exist"].discard(path)
    elif etype == 2:
        wt["data"].discard(path)
        wt["exist"].discard(path)
        wt["child"].discard(path)
    elif etype == 4:
        wt["child"].discard(path)


def decode_stat(r: w.Reader) -> dict:
    return r.stat()


def decode_multi(r: w.Reader, read: bool) -> list[tuple]:
    out = []
    while True:
        t, done, err = r.i32(), r.boolean(), r.i32()
        if done:
            out.append(("end", t, err))
            return out
        if t == -1:
            out.append(("error", err, r.i32()))
        elif t == w.CREATE:
            out.append(("create", r.string()))
        elif t in (w.CREATE2, w.CREATE_CONTAINER, w.CREATE_TTL):
            out.append(("create2", t, r.string(), r.stat()))
        elif t == w.SET_DATA:
            out.append(("set", r.stat()))
        elif t in (w.DELETE, w.CHECK):
            out.append(("op", t))
        elif t == w.GET_DATA and read:
            out.append(("data", r.buf(), r.stat()))
        elif t == w.GET_CHILDREN and read:
            out.append(("children", r.strings()))
        else:
            out.append(("unknown", t, r.rest().hex()))
            return out


def decode_reply(opcode: int, meta: dict, r: w.Reader) -> dict:
    """Body of a successful reply."""
    if opcode == w.CREATE:
        return {"path": r.string()}
    if opcode in (w.CREATE2, w.CREATE_CONTAINER, w.CREATE_TTL):
        return {"path": r.string(), "stat": r.stat()}
    if opcode in (w.EXISTS, w.SET_DATA, w.SET_ACL):
        return {"stat": r.stat()}
    if opcode == w.GET_DATA:
        return {"data": r.buf(), "stat": r.stat()}
    if opcode == w.GET_CHILDREN:
        return {"children": r.strings()}
    if opcode == w.GET_CHILDREN2:
        return {"children": r.strings(), "stat": r.stat()}
    if opcode == w.GET_ACL:
        return {"acl": r.acls(), "stat": r.stat()}
    if opcode == w.SYNC:
        return {"path": r.string()}
    if opcode == w.GET_EPHEMERALS:
        return {"ephemerals": r.strings()}
    if opcode == w.GET_ALL_CHILDREN:
        return {"count": r.i32()}
    if opcode == w.WHO_AM_I:
        n = r.i32()
        return {"who": [(r.string(), r.string()) for _ in range(max(n, 0))]}
    if opcode == w.ADD_WATCH:
        return {"errresp": r.i32()} if not r.at_end() else {}
    if opcode in (w.MULTI, w.MULTI_READ):
        return {"results": decode_multi(r, opcode == w.MULTI_READ)}
    return {}


class SideRunner:
    def __init__(self, port: int, root: str, ops: list[Op], label: str = ""):
        self.port = port
        self.root = root
        self.ops = ops
        self.label = label
        self.ctx = Ctx(root)
        self.sessions: dict[int, Session] = {}
        self.entries: list[Entry] = []
        self.gens: dict[int, int] = {}
        self.fault = False
        self.requests = 0

    # ---- sessions ----------------------------------------------------------------------
    def _open(self, s: int, op_index: int):
        old = self.sessions.get(s)
        if old is not None and old.open and old.conn is None:
            # Resume the session on a new connection (after a disconnect, or a failed auth
            # that closed it), with lastZxidSeen, and send the watches again.
            conn = w.Conn(self.port, timeout=REPLY_WAIT_S)
            to, sid, pw, ro = conn.connect(SESSION_TIMEOUT_MS, old.sid, old.passwd, old.last_zxid)
            old.conn = conn
            self.entries.append(Entry(op_index, s, "resume", {
                "timeout": to, "same_session": sid == old.sid, "same_passwd": pw == old.passwd,
                "ro": ro}))
            self._set_watches(op_index, s, old, conn)
            return
        gen = self.gens.get(s, -1) + 1
        self.gens[s] = gen
        conn = w.Conn(self.port, timeout=REPLY_WAIT_S)
        to, sid, pw, ro = conn.connect(SESSION_TIMEOUT_MS)
        self.sessions[s] = Session(conn, sid, pw, gen, True)
        self.entries.append(Entry(op_index, s, "open", {
            "timeout": to, "sid": sid, "gen": gen, "pwlen": len(pw), "ro": ro}))

    def _ensure(self, s: int, op_index: int):
        sess = self.sessions.get(s)
        if sess is None or not sess.open or sess.conn is None:
            self._open(s, op_index)

    def close_all(self):
        for sess in self.sessions.values():
            if sess.conn is not None:
                sess.conn.close()

    # ---- batches -----------------------------------------------------------------------
    @staticmethod
    def batches(ops: list[Op]) -> list[list[int]]:
        out: list[list[int]] = []
        cur: list[int] = []
        for i, op in enumerate(ops):
            cut = bool(cur) and (ops[cur[-1]].s != op.s or op.kind in ("auth", "disconnect")
                                 or ends_batch(ops[cur[-1]]))
            if cut:
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def run(self) -> list[Entry]:
        try:
            # Preamble (op -1): session 0 creates the stream's root, open to everybody.
            self._ensure(0, -1)
            self._send_and_read(0, [(-1, ROOT_OP)])
            for batch in self.batches(self.ops):
                self._batch(batch)
            # The end: close every open session, one at a time, and collect the events.
            end = len(self.ops)
            for s in sorted(self.sessions):
                sess = self.sessions[s]
                if not sess.open:
                    continue
                self._ensure(s, end)
                self._send_and_read(s, [(end, Op(s, "close", {}))])
                self._barrier(s, end)
        except (w.Closed, w.Timeout, ValueError, OSError) as e:
            self.fault = True
            self.entries.append(Entry(self._last_op(), -1, "fault", {"what": f"{type(e).__name__}: {e}"}))
        finally:
            self.close_all()
        return self.entries

    def _last_op(self) -> int:
        return self.entries[-1].op if self.entries else 0

    def _batch(self, batch: list[int]):
        s = self.ops[batch[0]].s
        if self.ops[batch[0]].kind == "disconnect":
            self._disconnect(batch[0], self.ops[batch[0]])
        else:
            self._ensure(s, batch[0])
            self._send_and_read(s, [(i, self.ops[i]) for i in batch])
        self._barrier(s, batch[-1])

    def _send_and_read(self, s: int, items: list[tuple[int, Op]]):
        sess = self.sessions[s]
        conn = sess.conn
        pending = []
        for i, op in items:
            opcode, body, meta = encode(op, self.ctx)
            xid = w.AUTH_XID if opcode == w.AUTH else None
            xid = conn.send(opcode, body, xid=xid)
            self.requests += 1
            pending.append((i, op, opcode, meta, xid))
        for i, op, opcode, meta, xid in pending:
            while True:
                frame = conn.read_frame()
                r = w.Reader(frame)
                rxid, zxid, err = r.i32(), r.i64(), r.i32()
                if rxid == w.NOTIFICATION_XID:
                    self._event(i, s, zxid, err, r)
                    continue
                break
            if rxid not in (w.AUTH_XID, w.PING_XID, w.SET_WATCHES_XID) and zxid > 0:
                sess.last_zxid = zxid
            track_reply(sess, op, opcode, meta, err)
            data = {"xid_ok": rxid == xid, "zxid": zxid, "err": err, "opcode": opcode,
                    "meta": meta, "op": op}
            if rxid != xid:
                data["xid"] = rxid
            if err == 0:
                try:
                    data["body"] = decode_reply(opcode, meta, r)
                except ValueError as e:
                    data["body"] = {"undecodable": str(e)}
                self._note_sequential(op, opcode, meta, data["body"])
            data["rest"] = r.rest()
            self.entries.append(Entry(i, s, "reply", data))
        last_i, last = items[-1]
        if last.kind == "close" or (last.kind == "auth" and self.entries[-1].kind == "reply"
                                    and self.entries[-1].data.get("err") != 0):
            closed = conn.closed_by_server(CLOSE_WAIT_S)
            self.entries.append(Entry(last_i, s, "closed", {"closed": closed}))
            conn.close()
            sess.conn = None
            # The server dropped this connection's watches; the resume does not send them.
            sess.watches = {k: set() for k in WATCH_KINDS}
            if last.kind == "close":
                sess.open = False

    def _event(self, op_index: int, s: int, zxid: int, err: int, r: w.Reader):
        etype, state, path = r.i32(), r.i32(), r.string()
        self.entries.append(Entry(op_index, s, "event", {
            "zxid": zxid, "err": err, "type": etype, "state": state, "path": path,
            "rest": r.rest()}))
        track_event(self.sessions[s], etype, path)

    def _disconnect(self, i: int, op: Op):
        """The client loses its TCP connection (no closeSession): the session lives on, the
        server drops the connection's watches, and the session's next op resumes it on a
        new connection that sends the watches again (see _resume)."""
        sess = self.sessions.get(op.s)
        if sess is None or not sess.open or sess.conn is None:
            return
        sess.conn.close()
        sess.conn = None
        sess.setwatches2 = bool(op.a.get("v2"))
        self.entries.append(Entry(i, op.s, "disconnected", {}))

    def _set_watches(self, i: int, s: int, sess: "Session", conn: w.Conn):
        """Sends the watches the client holds, as the Java client does after it reconnects:
        SetWatches2 when it holds persistent ones (or the disconnect op asked for it), else
        SetWatches; relativeZxid is its lastZxid. Made-up events come before the reply."""
        wt = sess.watches
        if not any(wt.values()):
            return
        v2 = sess.setwatches2 or bool(wt["persistent"] or wt["recursive"])
        lists = ["data", "exist", "child"] + (["persistent", "recursive"] if v2 else [])
        counts = [len(wt[k]) for k in lists]
        body = w.i64(sess.last_zxid) + b"".join(
            w.i32(len(wt[k])) + b"".join(w.string(p) for p in sorted(wt[k])) for k in lists)
        opcode = w.SET_WATCHES2 if v2 else w.SET_WATCHES
        conn.send(opcode, body, xid=w.SET_WATCHES_XID)
        self.requests += 1
        while True:
            r = w.Reader(conn.read_frame())
            rxid, zxid, err = r.i32(), r.i64(), r.i32()
            if rxid == w.NOTIFICATION_XID:
                self._event(i, s, zxid, err, r)
                continue
            self.entries.append(Entry(i, s, "setwatches", {
                "xid": rxid, "zxid": zxid, "err": err, "opcode": opcode, "counts": counts,
                "rest": r.rest()}))
            return

    def _note_sequential(self, op: Op, opcode: int, meta: dict, body: dict):
        if op.kind == "create" and op.a.get("flags") in (2, 3, 6) and "path" in body:
            self.ctx.seq.append(body["path"])
        if op.kind == "multi":
            for (t, sub), res in zip(meta.get("subs", []), body.get("results", [])):
                if sub.get("t") == "create" and sub.get("flags") in (2, 3, 6) and \
                        res[0] in ("create", "create2"):
                    self.ctx.seq.append(res[1] if res[0] == "create" else res[2])

    def _barrier(self, s: int, op_index: int):
        for o in sorted(self.sessions):
            sess = self.sessions[o]
            if o == s or not sess.open or sess.conn is None:
                continue
            conn = sess.conn
            conn.send(w.PING, b"", xid=w.PING_XID)
            self.requests += 1
            while True:
                r = w.Reader(conn.read_frame())
                rxid, zxid, err = r.i32(), r.i64(), r.i32()
                if rxid == w.NOTIFICATION_XID:
                    self.entries.append(Entry(op_index, o, "event", {
                        "zxid": zxid, "err": err, "type": r.i32(), "state": r.i32(),
                        "path": r.string(), "rest": r.rest()}))
                    continue
                self.entries.append(Entry(op_index, o, "ping", {
                    "xid": rxid, "zxid": zxid, "err": err, "rest": r.rest()}))
                break


ROOT_OP = Op(0, "create", {"op": w.CREATE, "path": "{R}", "data": b"", "acl": "open", "flags": 0})


def ends_connection(op: Op) -> bool:
    return op.kind == "close" or (op.kind == "auth" and op.a.get("scheme") not in ("digest", "ip"))


def ends_batch(op: Op) -> bool:
    if op.kind == "disconnect":
        return True
    if op.kind == "create" and op.a["op"] == w.CREATE_CONTAINER and op.a["flags"] in (1, 3):
        return True
    return ends_connection(op) or op.kind == "setacl" or (
        op.kind == "multi" and any(sub.get("t") == "create" and sub.get("op") != w.CREATE_TTL
                                   and sub.get("flags") in (5, 6) for sub in op.a["subs"]))


def run_side(port: int, root: str, ops: list[Op]) -> tuple[list[Entry], bool, int]:
    runner = SideRunner(port, root, ops)
    t0 = time.monotonic()
    entries = runner.run()
    _ = time.monotonic() - t0
    return entries, runner.fault, runner.requests
