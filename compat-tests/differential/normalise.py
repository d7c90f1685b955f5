"""Turns a server's transcript into text lines that must be equal on both servers, and
compares two transcripts.

What may legitimately differ, and how it is normalised:
  * zxid values: each server's zxids are renamed z1, z2, ... in order of first appearance
    (reply headers, ping replies, and the czxid/mzxid/pzxid of Stats, in transcript
    order), so the relative order must still match. At its first appearance a label also
    carries the distance to the highest zxid seen before ("z7(+2)": one txn in between that
    no reply showed, such as a createSession), so both servers must use the same number of
    zxids. 0 and negative values stay as they are.
  * ctime/mtime: not compared as values; a Stat shows t=ok when ctime is set, mtime equals
    ctime while mzxid equals czxid, mtime is not below ctime after a change, and both stay
    the same every time the same (czxid, mzxid) is seen again; otherwise it names what broke.
  * session ids: renamed S<index>.<generation> (generation counts new sessions opened for
    that index), e.g. in ephemeralOwner.
  * child lists, getEphemerals and whoAmI: compared as sets (sorted).
  * the events of one closeSession (its ephemerals are deleted in one txn, in an order the
    server leaves open; ZooKeeper uses hash order): compared as a multiset per session.
  * the stream's root path (/d<seed>, or another root per replay) is shown as /R.

KNOWN INTENTIONAL DIFFERENCES: ferrozk follows ZooKeeper 3.9 (and 3.8.4+) where 3.8.0
differs. This is the one place where they are accepted (the generator also avoids the
requests listed in gen.py that 3.8.0 cannot take):
  1. Notification zxid: 3.8 sends -1, ferrozk (3.9, ZOOKEEPER-4655) the txn's zxid. The
     zxid of a notification is not compared (and not counted in the zxid order); on
     ferrozk it is checked instead (runner.notification_zxid_check): a zxid some reply
     showed, or -1 for an event SetWatches made up.
  2. exists on a node the caller may not READ: 3.8.0 answers the Stat, ferrozk NoAuth
     (3.8.4+/3.9.2+, ZOOKEEPER-2590). exists on an "s" node (the only nodes that may deny
     READ, see gen.py) shows err 0 and -102 alike as "visible" and its Stat is not shown.
  3. Events for a node the watcher may not READ: 3.8.0 sends them, ferrozk drops them
     (3.8.4+/3.9.2+, CVE-2024-23944). Events on "s" nodes that ZooKeeper sends and ferrozk
     does not are skipped; every event ferrozk sends must still be matched. (Blind spot:
     an event on an "s" node that ferrozk drops although the watcher may READ it.)
  4. create2 (15) inside multi: 3.8 answers a type-1 result (path only), ferrozk a type-15
     result with a Stat (3.9, ZOOKEEPER-4026). Such a result is shown as create(path) on
     both sides and its Stat is not shown.
  5. checkWatches/removeWatches with types 4/5 (persistent): -5 on 3.8.0; not generated.
  6. Several watch modes on one path for one connection: 3.8 keeps one, 3.9 keeps all;
     not generated (gen.py).
  7. A top-level check (13) and createTTL with a non-TTL flag and ttl < 0 damage 3.8.0 for
     good; never sent. SASL is out of scope.
  8. checkWatches: 3.8.0 answers 0 when *any* connection watches the path (its
     WatchManager.containsWatcher looks at the path's watcher set, not the caller's), and
     -5 for a path without '/' (its walk over the parents throws); 3.9 and ferrozk only
     look at the caller's own watches on that path. Where ZooKeeper says 0, ferrozk's
     NoWatcher (-121) is accepted; where it says -5 for a valid watcher type, 0 and -121
     are; where it says -121, ferrozk must too.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import wire as w
from .execute import Entry
from .gen import is_secret

OPNAMES = {w.CREATE: "create", w.DELETE: "delete", w.EXISTS: "exists", w.GET_DATA: "getData",
           w.SET_DATA: "setData", w.GET_ACL: "getACL", w.SET_ACL: "setACL",
           w.GET_CHILDREN: "getChildren", w.SYNC: "sync", w.GET_CHILDREN2: "getChildren2",
           w.CHECK: "check", w.MULTI: "multi", w.CREATE2: "create2",
           w.CHECK_WATCHES: "checkWatches", w.REMOVE_WATCHES: "removeWatches",
           w.CREATE_CONTAINER: "createContainer", w.CREATE_TTL: "createTTL",
           w.MULTI_READ: "multiRead", w.AUTH: "auth", w.GET_EPHEMERALS: "getEphemerals",
           w.GET_ALL_CHILDREN: "getAllChildrenNumber", w.ADD_WATCH: "addWatch",
           w.WHO_AM_I: "whoAmI", w.CLOSE_SESSION: "closeSession"}


@dataclass
class Line:
    op: int
    text: str
    droppable: bool = False   # the reference may send it and the server under test not
    alt: tuple[str, ...] = ()  # other texts the server under test may show instead
    event: bool = False
    sess: int = -1


class Normaliser:
    def __init__(self, root: str):
        self.root = root
        self.zx: dict[int, str] = {}
        self.top: int | None = None
        self.names: dict[int, str] = {}
        self.ctimes: dict[int, int] = {}
        self.mtimes: dict[tuple[int, int], int] = {}

    def z(self, v: int) -> str:
        if v <= 0:
            return str(v)
        label = self.zx.get(v)
        if label is not None:
            return label
        label = f"z{len(self.zx) + 1}"
        self.zx[v] = label
        # At its first appearance a zxid also shows how far it is from the highest one seen
        # before: the same number of txns must lie between them on both servers.
        gap = "" if self.top is None else f"(+{v - self.top})" if v > self.top else "(older)"
        self.top = v if self.top is None else max(self.top, v)
        return label + gap

    def p(self, path: str | None) -> str:
        if path is None:
            return "null"
        if path == self.root or path.startswith(self.root + "/"):
            path = "/R" + path[len(self.root):]
        return repr(path) if any(ord(ch) < 32 or ord(ch) > 126 for ch in path) else path

    def owner(self, sid: int) -> str:
        if sid == 0:
            return "0"
        return self.names.get(sid, "unknown-session")

    def times(self, st: dict) -> str:
        ct, mt, cz, mz = st["ctime"], st["mtime"], st["czxid"], st["mzxid"]
        if cz == 0 and ct == 0 and mt == 0:
            return "t=0"
        bad = []
        if ct <= 0:
            bad.append("ctime-unset")
        if self.ctimes.setdefault(cz, ct) != ct:
            bad.append("ctime-changed")
        if mz == cz and mt != ct:
            bad.append("mtime!=ctime")
        if mz != cz and mt < ct:
            bad.append("mtime<ctime")
        if self.mtimes.setdefault((cz, mz), mt) != mt:
            bad.append("mtime-changed")
        return "t=ok" if not bad else "t=" + ",".join(bad)

    def stat(self, st: dict) -> str:
        return (f"stat(c={self.z(st['czxid'])} m={self.z(st['mzxid'])} p={self.z(st['pzxid'])} "
                f"v={st['version']} cv={st['cversion']} av={st['aversion']} "
                f"own={self.owner(st['ephemeralOwner'])} len={st['dataLength']} "
                f"n={st['numChildren']} {self.times(st)})")

    @staticmethod
    def data(d: bytes | None) -> str:
        if d is None:
            return "null"
        if len(d) > 16:
            return f"{d[:8]!r}..({len(d)} bytes)"
        return repr(d)

    def acl(self, acl) -> str:
        if acl is None:
            return "null"
        return "[" + ", ".join(f"{p}:{s}:{i}" for p, s, i in acl) + "]"

    # ---- one entry ---------------------------------------------------------------------
    def render(self, e: Entry) -> Line:
        d = e.data
        s = f"S{e.sess}"
        if e.kind == "open":
            name = f"S{e.sess}.{d['gen']}"
            self.names[d["sid"]] = name
            return Line(e.op, f"{s} open session={name} timeout={d['timeout']} "
                              f"passwd={d['pwlen']}B readOnly={d['ro']}")
        if e.kind == "resume":
            return Line(e.op, f"{s} resume timeout={d['timeout']} same_session={d['same_session']} "
                              f"same_passwd={d['same_passwd']} readOnly={d['ro']}")
        if e.kind == "setwatches":
            extra = f" rest={d['rest'].hex()}" if d["rest"] else ""
            name = "setWatches2" if d["opcode"] == w.SET_WATCHES2 else "setWatches"
            return Line(e.op, f"{s} {name} {d['counts']} reply xid={d['xid']} "
                              f"zxid={self.z(d['zxid'])} err={d['err']}{extra}")
        if e.kind == "disconnected":
            return Line(e.op, f"{s} (client drops its connection)")
        if e.kind == "closed":
            return Line(e.op, f"{s} connection closed by server={d['closed']}")
        if e.kind == "fault":
            return Line(e.op, f"FAULT {d['what']}")
        if e.kind == "ping":
            extra = f" rest={d['rest'].hex()}" if d["rest"] else ""
            return Line(e.op, f"{s} ping-reply xid={d['xid']} zxid={self.z(d['zxid'])} "
                              f"err={d['err']}{extra}")
        if e.kind == "event":
            # (1) the notification's zxid is not compared: -1 on 3.8, the txn zxid on 3.9.
            extra = f" err={d['err']}" if d["err"] else ""
            if d["rest"]:
                extra += f" rest={d['rest'].hex()}"
            path = d["path"]
            return Line(e.op, f"{s} event type={d['type']} state={d['state']} "
                              f"path={self.p(path)}{extra}",
                        # (3) events on nodes that may deny READ may be missing on 3.9 rules.
                        droppable=path is not None and is_secret(path), event=True, sess=e.sess)
        text = self.reply(e)
        alt: tuple[str, ...] = ()
        if e.data["opcode"] == w.CHECK_WATCHES:
            # (8) 3.8.0's checkWatches answers 0 when any connection watches the path, and -5
            # for a path without '/' (its parent walk throws).
            err = e.data["err"]
            if err == 0:
                alt = (text.replace(" err=0 ", " err=-121 ", 1),)
            elif err == -5 and 1 <= e.data["op"].a["type"] <= 3:
                alt = (text.replace(" err=-5 ", " err=-121 ", 1),
                       text.replace(" err=-5 ", " err=0 ", 1))
        return Line(e.op, text, alt=alt)

    def reply(self, e: Entry) -> str:
        d = e.data
        op = d["op"]
        opcode = d["opcode"]
        meta = d["meta"]
        head = f"S{e.sess} #{e.op} {OPNAMES.get(opcode, opcode)}"
        if "path" in meta:
            head += f" {self.p(meta['path'])}"
        if not d["xid_ok"]:
            head += f" XID-MISMATCH(got {d.get('xid')})"
        err = d["err"]
        if opcode == w.EXISTS and is_secret(meta.get("path", "")) and err in (0, -102):
            # (2) exists without READ: Stat on 3.8.0, NoAuth on 3.8.4+/3.9.2+.
            return f"{head} zxid={self.z(d['zxid'])} visible(err 0 or -102)"
        if opcode == w.AUTH:
            head += f" {op.a['scheme']}:{op.a['cred']}"
        out = f"{head} err={err} zxid={self.z(d['zxid'])}"
        body = d.get("body")
        if err == 0 and body is not None:
            out += " " + self.body(opcode, meta, body)
        if d["rest"]:
            out += f" trailing={d['rest'].hex()}"
        return out.rstrip()

    def body(self, opcode: int, meta: dict, b: dict) -> str:
        if "undecodable" in b:
            return f"UNDECODABLE({b['undecodable']})"
        parts = []
        if "path" in b:
            parts.append(f"path={self.p(b['path'])}")
        if "data" in b:
            parts.append(f"data={self.data(b['data'])}")
        if "children" in b:
            ch = b["children"]
            parts.append("children=" + ("null" if ch is None else "{" + ",".join(sorted(ch)) + "}"))
        if "acl" in b:
            parts.append(f"acl={self.acl(b['acl'])}")
        if "stat" in b:
            parts.append(self.stat(b["stat"]))
        if "ephemerals" in b:
            eph = b["ephemerals"]
            parts.append("ephemerals=" + ("null" if eph is None else
                                          "{" + ",".join(sorted(self.p(x) for x in eph)) + "}"))
        if "count" in b:
            parts.append(f"count={b['count']}")
        if "who" in b:
            parts.append("who={" + ",".join(sorted(f"{a}:{u}" for a, u in b["who"])) + "}")
        if "errresp" in b:
            parts.append(f"errresp={b['errresp']}")
        if "results" in b:
            parts.append(self.results(meta, b["results"]))
        return " ".join(parts)

    def results(self, meta: dict, results: list[tuple]) -> str:
        subs = meta.get("subs", [])
        out = []
        for k, r in enumerate(results):
            sub_op, sub = subs[k] if k < len(subs) else (None, {})
            tag = r[0]
            if tag == "end":
                out.append(f"end({r[1]},{r[2]})")
            elif tag == "error":
                out.append(f"error({r[1]},{r[2]})")
            elif tag == "create":
                out.append(f"create({self.p(r[1])})")
            elif tag == "create2":
                if sub_op == w.CREATE2 and sub.get("flags") not in (4, 5, 6):
                    # (4) create2 inside multi: type 1 on 3.8, type 15 + Stat on 3.9.
                    out.append(f"create({self.p(r[2])})")
                else:
                    out.append(f"create2[{r[1]}]({self.p(r[2])} {self.stat(r[3])})")
            elif tag == "set":
                out.append(f"set({self.stat(r[1])})")
            elif tag == "op":
                out.append(f"op{r[1]}")
            elif tag == "data":
                out.append(f"data({self.data(r[1])} {self.stat(r[2])})")
            elif tag == "children":
                ch = r[1]
                out.append("children(" + ("null" if ch is None else ",".join(sorted(ch))) + ")")
            else:
                out.append(f"unknown({r[1]},{r[2]})")
        return "[" + ", ".join(out) + "]"


def render(entries: list[Entry], root: str, close_ops: set[int] = frozenset()) -> list[Line]:
    """The transcript as lines. The events a closeSession causes (op indices in close_ops)
    are sorted within each run of one session: the session's ephemerals go in one txn, in
    an order the server leaves open (hash order in ZooKeeper)."""
    n = Normaliser(root)
    lines = [n.render(e) for e in entries]
    out: list[Line] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.event and line.op in close_ops:
            run = [line]
            while (k + len(run) < len(lines) and lines[k + len(run)].event
                   and lines[k + len(run)].op == line.op and lines[k + len(run)].sess == line.sess):
                run.append(lines[k + len(run)])
            out += sorted(run, key=lambda x: x.text)
            k += len(run)
        else:
            out.append(line)
            k += 1
    return out


@dataclass
class Mismatch:
    i: int            # index into the server under test's lines (may be len)
    j: int            # index into the reference's lines (may be len)
    op: int           # op index where the difference shows


def compare(test: list[Line], ref: list[Line]) -> Mismatch | None:
    """First point where the two transcripts differ; reference-only droppable events are
    skipped (difference 3)."""
    i = j = 0
    while i < len(test) and j < len(ref):
        if test[i].text == ref[j].text or test[i].text in ref[j].alt:
            i += 1
            j += 1
        elif ref[j].droppable:
            j += 1
        else:
            return Mismatch(i, j, min(test[i].op, ref[j].op))
    while j < len(ref) and ref[j].droppable:
        j += 1
    if i < len(test) or j < len(ref):
        op = test[i].op if i < len(test) else ref[j].op
        return Mismatch(i, j, op)
    return None


def side_by_side(test: list[Line], ref: list[Line], test_name: str, ref_name: str,
                 ops_desc: dict[int, str]) -> str:
    """The whole (short) transcript, aligned, with every differing pair marked."""
    out = []
    i = j = 0
    shown_op = None
    width = max(len(test_name), len(ref_name))
    while i < len(test) or j < len(ref):
        a = test[i] if i < len(test) else None
        b = ref[j] if j < len(ref) else None
        op = min(x.op for x in (a, b) if x is not None)
        if op != shown_op:
            shown_op = op
            out.append(f"  --- op {op}: {ops_desc.get(op, 'end of stream: close every open session')}")
        if a is not None and b is not None and a.text == b.text:
            out.append(f"      {a.text}")
            i += 1
            j += 1
        elif a is not None and b is not None and a.text in b.alt:
            out.append(f"      ({ref_name}, accepted: 3.8.0 checkWatches) {b.text}")
            out.append(f"      ({test_name}) {a.text}")
            i += 1
            j += 1
        elif b is not None and b.droppable and (a is None or a.text != b.text):
            out.append(f"      ({ref_name} only, accepted: event on a node that may deny READ) {b.text}")
            j += 1
        else:
            out.append(f"  !!  {ref_name:<{width}}: {b.text if b else '(nothing)'}")
            out.append(f"  !!  {test_name:<{width}}: {a.text if a else '(nothing)'}")
            i += 1 if a is not None else 0
            j += 1 if b is not None else 0
    return "\n".join(out)
