"""Seeded generator of operation streams, and how each operation becomes a request.

What a stream holds (2-4 sessions, 15-45 ops; 80-200 with --long): a warm-up that creates
a few "focus" nodes, then creates of every kind (create/create2/createContainer/createTTL
with every flag 0-6 and bad ones, sequential names, ephemerals, containers, TTLs with good
and bad ttls, bad paths, missing and ephemeral parents, existing nodes, invalid ACLs),
setData and delete with right and wrong versions, exists/getData/getChildren/getChildren2
with and without watches, getACL/setACL, multi (create/delete/setData/check, succeeding
and failing, empty, with a read op or a setACL inside, TTL-flag creates), multiRead (with
failing ops, empty, with a write inside), auth (digest users, a wrong password, the super
user, ip, an unknown scheme that closes the connection), ACLs world/digest/ip/auth with
and without READ, sync, getEphemerals, getAllChildrenNumber, whoAmI, addWatch
(persistent, recursive, a bad mode), checkWatches/removeWatches (Children, Data, Any, a bad
type), reads of the root and /zookeeper nodes, deletes of the special nodes, session close
(and a new session in its place), and dropped connections that come back with SetWatches.
Consecutive ops of one session are pipelined (see execute.py).

A stream is a list of `Op`s. Each op names the session (by index) that sends it. Paths are
templates resolved on each server when the op is sent: `{R}` is the stream's root
(`/d<seed>`, or a fresh root for each replay while shrinking) and `{Q<k>}` is the k-th
(mod count) sequential node this server has created in the stream so far, so ops can aim
at sequential names without guessing them.

Constraints the generator keeps, because 3.8 and ferrozk (3.9 rules) may differ there:
  * nodes whose name starts with "s" ("secret" nodes) are the only ones that may get an
    ACL without READ for everybody; no standard or persistent watch is ever set on them
    (see normalise.py: exists without READ, and the READ filter on events);
  * one connection never mixes watch modes on one path (3.8 keeps one mode per path and
    connection, 3.9 keeps several): a path that got a standard watch from a connection
    never gets addWatch from it, and vice versa, and persistent and recursive are not
    mixed; checkWatches/removeWatches of type Data/Children only go to paths without a
    persistent watch of that connection (3.8.0 removes the persistent one, 3.9 does not);
  * never a top-level check (13), never createTTL with a non-TTL flag and ttl < 0 (both
    damage ZooKeeper 3.8.0 for good), never checkWatches/removeWatches types 4 and 5
    (−5 on 3.8.0), no SASL.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field

from . import wire as w

NAMES = ["a", "b", "c", "s"]
NAME_WEIGHTS = [5, 4, 2, 3]
SEQ_PREFIXES = ["q", "s"]

USERS = {"alice": "pw1", "bob": "pw2"}
SUPER_PASSWORD = "secret"


def digest_id(user_pw: str) -> str:
    user = user_pw.split(":", 1)[0]
    h = base64.b64encode(hashlib.sha1(user_pw.encode()).digest()).decode()
    return f"{user}:{h}"


ALICE = digest_id("alice:pw1")
BOB = digest_id("bob:pw2")
SUPER_DIGEST = digest_id(f"super:{SUPER_PASSWORD}")

WORLD = ("world", "anyone")
R, W, C, D, A, ALL = 1, 2, 4, 8, 16, 31

# ACL lists that let every connection of the test READ (all of them come from 127.0.0.1).
READABLE_ACLS = {
    "open": [(ALL, *WORLD)],
    "world-r": [(R, *WORLD)],
    "world-rc": [(R | C, *WORLD)],
    "world-rcd": [(R | C | D, *WORLD)],
    "world-rw": [(R | W, *WORLD)],
    "r+alice": [(R, *WORLD), (ALL, "digest", ALICE)],
    "r+bob-admin": [(R | C, *WORLD), (W | D | A, "digest", BOB)],
    "ip-all": [(ALL, "ip", "127.0.0.1")],
    "ip8": [(R | C | D, "ip", "127.0.0.0/8"), (A, "digest", ALICE)],
    "r+auth": [(R, *WORLD), (ALL, "auth", "")],
    "r+auth+alice": [(R, *WORLD), (ALL, "auth", ""), (A, "digest", ALICE)],
    "dup": [(ALL, *WORLD), (ALL, *WORLD)],
}
# Only for "s" nodes: someone may lack READ.
SECRET_ACLS = {
    "alice": [(ALL, "digest", ALICE)],
    "bob-r": [(R, "digest", BOB), (C | D, *WORLD)],
    "auth": [(ALL, "auth", "")],
    "auth+alice": [(ALL, "digest", ALICE), (R | W, "auth", ""), (ALL, "digest", ALICE)],
    "ip10": [(ALL, "ip", "10.0.0.0/8")],
    "no-read": [(W | C | D | A, *WORLD)],
    "nothing": [(0, *WORLD)],
    "ip10+alice": [(R, "ip", "10.1.2.3"), (ALL, "digest", ALICE)],
}
INVALID_ACLS = {
    "empty": [],
    "world-bob": [(ALL, "world", "bob")],
    "ip-33": [(ALL, "ip", "127.0.0.1/33")],
    "ip-bad": [(ALL, "ip", "not-an-ip")],
    "digest-nocolon": [(ALL, "digest", "alice")],
    "scheme-foo": [(ALL, "foo", "bar")],
}
ALL_ACLS = {**READABLE_ACLS, **SECRET_ACLS, **INVALID_ACLS}

DATAS = [None, b"", b"x", b"hello", b"\x00\xff\x10", b"y" * 300]
BAD_PATHS = ["{R}//x", "{R}/a/", "{R}/.", "{R}/a/../b", "nope", "{R}/x\x01", "{R}/\U0001F600",
             "{R}/\u00e9t\u00e9", "{R}/x\x00y", "{R}/./a", "{R}/..", "{R}/a//b"]
# Outside the stream's root: only reads whose answer does not depend on other streams'
# nodes beyond the root's Stat ("" is the root's alias in ZooKeeper's tree).
GLOBAL_READ_PATHS = ["/", "", "/zookeeper", "/zookeeper/config", "/zookeeper/quota", "/nonexistent"]


@dataclass
class Op:
    s: int                      # session index
    kind: str
    a: dict = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        for k, v in self.a.items():
            if k == "subs":
                v = "[" + "; ".join(describe_sub(x) for x in v) + "]"
            elif isinstance(v, bytes) and len(v) > 16:
                v = f"{v[:4]!r}..({len(v)} bytes)"
            elif isinstance(v, (bytes, str)) or v is None:
                v = repr(v)
            parts.append(f"{k}={v}")
        return f"S{self.s} {self.kind} " + " ".join(parts)


def describe_sub(sub: dict) -> str:
    return " ".join(f"{k}={v[:4]!r}..({len(v)} bytes)" if isinstance(v, bytes) and len(v) > 16
                    else f"{k}={v!r}" for k, v in sub.items())


def is_secret(path: str) -> bool:
    """A path whose node may deny READ (its last name starts with 's')."""
    last = path.rsplit("/", 1)[-1]
    return last.startswith("s")


class Generator:
    def __init__(self, seed: int, length: int | None = None, sessions: int | None = None):
        self.rng = random.Random(seed)
        rng = self.rng
        self.sessions = sessions or rng.randint(2, 4)
        self.length = length or rng.randint(15, 45)
        self.known: list[str] = []          # relative paths that may exist
        self.watched: list[str] = []        # path templates some watch was asked for
        # A few paths the stream keeps coming back to, so that watches see changes.
        self.focus = [rng.choices(NAMES, weights=NAME_WEIGHTS)[0] + ("/" + rng.choice(NAMES) if rng.random() < 0.3 else "")
                      for _ in range(rng.randint(2, 5))]
        self.seq_made = 0
        # per (session, connection generation): path -> "std" | "p0" | "p1"
        self.watch_mode: dict[tuple[int, int], dict[str, str]] = {}
        self.conn_gen = [0] * self.sessions
        self.authed = [False] * self.sessions
        self.cur = 0
        self.away: dict[int, int] = {}

    # ---- paths -----------------------------------------------------------------------
    def rel(self) -> str:
        rng = self.rng
        depth = rng.choices([1, 2, 3], weights=[6, 4, 1])[0]
        return "/".join(rng.choices(NAMES, weights=NAME_WEIGHTS, k=depth))

    def tmpl(self, rel: str) -> str:
        return "{R}" if rel == "" else "{R}/" + rel

    def path(self, bad: float = 0.04, root: float = 0.05) -> str:
        rng = self.rng
        x = rng.random()
        if x < bad:
            return rng.choice(BAD_PATHS)
        x -= bad
        if x < root:
            return "{R}"
        x -= root
        if self.seq_made and x < 0.12:
            k = rng.randrange(self.seq_made + 2)
            return f"{{Q{k}}}" + (rng.choice(["", "", "/a", "/s"]))
        if self.watched and rng.random() < 0.3:
            return rng.choice(self.watched)
        if self.known and rng.random() < 0.75:
            return self.tmpl(rng.choice(self.known))
        if rng.random() < 0.5:
            return self.tmpl(rng.choice(self.focus))
        return self.tmpl(self.rel())

    def parent_for_create(self) -> str:
        rng = self.rng
        if self.watched and rng.random() < 0.2:
            w = rng.choice(self.watched)
            if w.startswith("{R}/") and rng.random() < 0.5:
                return w[4:]   # (re)create the watched node itself
            if w.startswith("{R}/"):
                return w[4:] + "/" + rng.choices(NAMES, weights=NAME_WEIGHTS)[0]
        x = rng.random()
        if x < 0.25:
            focus = rng.choice(self.focus)
            return focus if rng.random() < 0.7 else focus + "/" + rng.choices(NAMES, weights=NAME_WEIGHTS)[0]
        if x < 0.5 or not self.known:
            base = ""
        else:
            base = rng.choice(self.known)
        name = rng.choices(NAMES, weights=NAME_WEIGHTS)[0]
        return base + "/" + name if base else name

    def remember(self, path_tmpl: str):
        """A create was asked for: remember the path if its parent probably exists."""
        if path_tmpl.startswith("{R}/"):
            rel = path_tmpl[4:]
            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
            if (rel not in self.known and len(self.known) < 40 and all(x in NAMES for x in rel.split("/"))
                    and (parent == "" or parent in self.known)):
                self.known.append(rel)

    def forget(self, path_tmpl: str):
        if path_tmpl.startswith("{R}/") and path_tmpl[4:] in self.known and self.rng.random() < 0.7:
            self.known.remove(path_tmpl[4:])

    # ---- small choices ---------------------------------------------------------------
    def data(self):
        return self.rng.choice(DATAS)

    def version(self):
        return self.rng.choice([-1, -1, -1, 0, 0, 1, 2, 7])

    def acl_name(self, path_tmpl: str) -> str:
        rng = self.rng
        x = rng.random()
        if x < 0.06:
            return rng.choice(list(INVALID_ACLS))
        if is_secret(path_tmpl) and x < 0.6:
            return rng.choice(list(SECRET_ACLS))
        if x < 0.55:
            return "open"
        return rng.choice(list(READABLE_ACLS))

    def modes(self, s: int) -> dict[str, str]:
        return self.watch_mode.setdefault((s, self.conn_gen[s]), {})

    def std_watch(self, s: int, path: str) -> bool:
        """A random watch flag for a standard watch on `path`, within the constraints."""
        if is_secret(path) or path.startswith("{Q") or self.modes(s).get(path, "std") != "std":
            return False
        watch = self.rng.random() < 0.6
        if watch:
            self.modes(s)[path] = "std"
            self.note_watched(path)
        return watch

    def note_watched(self, path: str):
        if path not in self.watched and len(self.watched) < 20:
            self.watched.append(path)

    # ---- ops -------------------------------------------------------------------------
    def next_session(self) -> int:
        # A session that dropped its connection stays away for a few ops, so that the others
        # change what it watches and its SetWatches has something to report.
        self.away = {s: n - 1 for s, n in self.away.items() if n > 1}
        if self.cur not in self.away and self.rng.random() < 0.45:
            return self.cur
        choices = [s for s in range(self.sessions) if s not in self.away] or list(range(self.sessions))
        self.cur = self.rng.choice(choices)
        return self.cur

    def stream(self) -> list[Op]:
        ops = []
        # Warm-up: create the focus nodes (parents first), so later ops find a tree.
        rng = self.rng
        for rel in sorted(set(self.focus), key=lambda r: r.count("/")):
            parts = rel.split("/")
            for depth in range(1, len(parts) + 1):
                sub = "/".join(parts[:depth])
                if sub in self.known or len(ops) >= self.length // 3:
                    continue
                s = rng.randrange(self.sessions)
                flags = rng.choices([0, 1, 4], weights=[8, 1, 1])[0] if depth == len(parts) else 0
                op = w.CREATE_CONTAINER if flags == 4 else rng.choice([w.CREATE, w.CREATE2])
                ops.append(Op(s, "create", {"op": op, "path": self.tmpl(sub), "data": self.data(),
                                            "acl": self.acl_name(self.tmpl(sub)), "flags": flags}))
                self.known.append(sub)
        while len(ops) < self.length:
            s = self.next_session()
            ops.append(self.op(s))
        return ops

    def op(self, s: int) -> Op:
        rng = self.rng
        kind = rng.choices(
            ["create", "delete", "set", "exists", "get", "children", "children2", "getacl",
             "setacl", "multi", "multiread", "auth", "sync", "ephemerals", "allkids", "addwatch",
             "checkwatches", "removewatches", "whoami", "close", "global", "disconnect"],
            weights=[26, 9, 9, 7, 7, 4, 4, 3, 4, 8, 3, 3, 1, 2, 2, 3, 1, 2, 1, 1.2, 1, 2.5])[0]
        return getattr(self, "op_" + kind)(s)

    def create_args(self, in_multi: bool = False) -> dict:
        rng = self.rng
        rel = self.parent_for_create()
        path = self.tmpl(rel)
        if rng.random() < 0.06:
            path = rng.choice(BAD_PATHS)
        elif self.seq_made and rng.random() < 0.05:
            path = f"{{Q{rng.randrange(self.seq_made)}}}/a"
        opcode = rng.choices([w.CREATE, w.CREATE2, w.CREATE_CONTAINER, w.CREATE_TTL],
                             weights=[10, 8, 2, 2])[0]
        if opcode == w.CREATE_TTL:
            flags = rng.choices([5, 6, 0, 1, 4], weights=[6, 4, 1, 1, 1])[0]
            if flags in (5, 6):
                ttl = rng.choice([3_600_000, 3_600_000, 1, 0, 1 << 40, (1 << 40) - 1])
            else:
                # A non-TTL flag with ttl < 0 breaks ZooKeeper 3.8.0: only positive ttls.
                ttl = rng.choice([1000, 3_600_000])
        else:
            flags = rng.choices([0, 1, 2, 3, 4, 5, 6, 7, -1], weights=[10, 6, 4, 4, 2, 1, 1, 0.5, 0.5])[0]
            ttl = None
        if flags in (2, 3, 6):
            prefix = rng.choice(SEQ_PREFIXES)
            if path.startswith("{R}") and rel:
                parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                path = self.tmpl((parent + "/" if parent else "") + prefix)
            self.seq_made += 1
        else:
            self.remember(path)
        a = {"op": opcode, "path": path, "data": self.data(), "acl": self.acl_name(path),
             "flags": flags}
        if ttl is not None:
            a["ttl"] = ttl
        return a

    def op_create(self, s: int) -> Op:
        return Op(s, "create", self.create_args())

    def op_delete(self, s: int) -> Op:
        p = self.path()
        self.forget(p)
        return Op(s, "delete", {"path": p, "version": self.version()})

    def op_set(self, s: int) -> Op:
        return Op(s, "set", {"path": self.path(), "data": self.data(), "version": self.version()})

    def op_read(self, s: int, kind: str) -> Op:
        p = self.path()
        return Op(s, kind, {"path": p, "watch": self.std_watch(s, p)})

    def op_exists(self, s):
        return self.op_read(s, "exists")

    def op_get(self, s):
        return self.op_read(s, "get")

    def op_children(self, s):
        return self.op_read(s, "children")

    def op_children2(self, s):
        return self.op_read(s, "children2")

    def op_getacl(self, s):
        return Op(s, "getacl", {"path": self.path()})

    def op_setacl(self, s):
        p = self.path()
        return Op(s, "setacl", {"path": p, "acl": self.acl_name(p),
                                "version": self.rng.choice([-1, -1, 0, 1, 3])})

    def op_sync(self, s):
        return Op(s, "sync", {"path": self.path()})

    def op_ephemerals(self, s):
        prefix = self.rng.choice(["{R}", "{R}", "{R}/a", "/", "", "{R}/nope"])
        return Op(s, "ephemerals", {"prefix": prefix})

    def op_allkids(self, s):
        return Op(s, "allkids", {"path": self.path()})

    def op_whoami(self, s):
        return Op(s, "whoami", {})

    def op_global(self, s):
        rng = self.rng
        kind = rng.choice(["exists", "get", "getacl", "children2", "create-root", "delete-special",
                           "write-empty"])
        if kind == "create-root":
            return Op(s, "create", {"op": rng.choice([w.CREATE, w.CREATE2]),
                                    "path": rng.choice(["/", ""]), "data": b"", "acl": "open",
                                    "flags": rng.choice([0, 2])})
        if kind == "write-empty":
            k = rng.choice(["set", "sync", "delete", "allkids"])
            if k == "set":
                return Op(s, "set", {"path": "", "data": b"x", "version": -1})
            if k == "delete":
                return Op(s, "delete", {"path": "", "version": -1})
            return Op(s, k, {"path": "/nonexistent" if k == "allkids" else ""})
        if kind == "delete-special":
            return Op(s, "delete", {"path": rng.choice(["/", "/zookeeper", "/zookeeper/quota",
                                                        "/zookeeper/config"]), "version": -1})
        p = rng.choice(GLOBAL_READ_PATHS if kind != "children2" else
                       ["/zookeeper", "/zookeeper/quota", "/nonexistent"])
        if kind in ("exists", "get", "children2"):
            return Op(s, kind, {"path": p, "watch": False})
        return Op(s, kind, {"path": p})

    def op_auth(self, s):
        rng = self.rng
        choice = rng.choices(["alice", "bob", "alice-wrong", "super", "ip", "nocolon", "badscheme"],
                             weights=[5, 4, 2, 1, 1, 1, 0.7])[0]
        scheme, cred = {
            "alice": ("digest", "alice:pw1"),
            "bob": ("digest", "bob:pw2"),
            "alice-wrong": ("digest", "alice:wrong"),
            "super": ("digest", f"super:{SUPER_PASSWORD}"),
            "ip": ("ip", "10.9.8.7"),
            "nocolon": ("digest", "carol"),
            "badscheme": ("foo", "bar"),
        }[choice]
        if scheme == "foo":
            # The server closes the connection: watches of this connection are gone.
            self.conn_gen[s] += 1
        return Op(s, "auth", {"scheme": scheme, "cred": cred})

    def op_disconnect(self, s):
        if not self.modes(s) and self.rng.random() < 0.8:
            return self.op_read(s, self.rng.choice(["exists", "get", "children"]))
        # The next connection gets this one's watches back (SetWatches), modes included.
        old = dict(self.modes(s))
        self.conn_gen[s] += 1
        self.watch_mode[(s, self.conn_gen[s])] = old
        self.away[s] = self.rng.randint(3, 12)
        return Op(s, "disconnect", {"v2": self.rng.random() < 0.3})

    def op_close(self, s):
        self.conn_gen[s] += 1
        return Op(s, "close", {})

    def op_addwatch(self, s):
        rng = self.rng
        p = self.path(bad=0.02)
        mode = rng.choices([0, 1, 2], weights=[5, 5, 0.3])[0]
        want = {0: "p0", 1: "p1"}.get(mode)
        have = self.modes(s).get(p)
        if is_secret(p) or p.startswith("{Q") or (have is not None and have != want):
            return self.op_read(s, "exists")
        if want:
            self.modes(s)[p] = want
            self.note_watched(p)
        return Op(s, "addwatch", {"path": p, "mode": mode})

    def op_watchcheck(self, s, kind):
        rng = self.rng
        modes = self.modes(s)
        if modes and rng.random() < 0.7:
            p = rng.choice(sorted(modes))
        else:
            p = self.path()
        # Data/Children against a persistent watch differ between 3.8.0 and 3.9: only Any there.
        wtype = rng.choice([1, 2, 3]) if modes.get(p, "std") == "std" else 3
        if rng.random() < 0.04:
            wtype = 9  # unknown watcher type
        return Op(s, kind, {"path": p, "type": wtype})

    def op_checkwatches(self, s):
        return self.op_watchcheck(s, "checkwatches")

    def op_removewatches(self, s):
        return self.op_watchcheck(s, "removewatches")

    def op_multi(self, s):
        rng = self.rng
        subs = []
        for _ in range(rng.choices([0, 1, 2, 3, 4, 5], weights=[0.5, 3, 4, 3, 2, 1])[0]):
            k = rng.choices(["create", "delete", "set", "check", "read", "setacl"],
                            weights=[10, 4, 4, 3, 0.3, 0.2])[0]
            if k == "create":
                sub = {"t": "create", **self.create_args(in_multi=True)}
            elif k == "delete":
                p = self.path()
                sub = {"t": "delete", "path": p, "version": self.version()}
                self.forget(p)
            elif k == "set":
                sub = {"t": "set", "path": self.path(), "data": self.data(), "version": self.version()}
            elif k == "check":
                sub = {"t": "check", "path": self.path(), "version": self.version()}
            elif k == "read":
                sub = {"t": "get", "path": self.path(), "watch": False}
            else:
                sub = {"t": "setacl", "path": self.path(), "acl": "open", "version": -1}
            subs.append(sub)
        return Op(s, "multi", {"subs": subs})

    def op_multiread(self, s):
        rng = self.rng
        subs = []
        for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[0.3, 2, 3, 2, 1])[0]):
            k = rng.choices(["get", "children", "write"], weights=[5, 4, 0.3])[0]
            if k == "write":
                subs.append({"t": "set", "path": self.path(), "data": b"w", "version": -1})
            else:
                subs.append({"t": k, "path": self.path(), "watch": rng.random() < 0.3})
        return Op(s, "multiread", {"subs": subs})


def generate(seed: int, length: int | None = None) -> list[Op]:
    return Generator(seed, length).stream()


def long_length(seed: int) -> int:
    """Length of the seed's stream in long runs (80-200 ops)."""
    return random.Random(seed * 7919 + 1).randint(80, 200)


# ---- encoding -------------------------------------------------------------------------

class Ctx:
    """Per server and per run: the root and the sequential nodes created so far."""

    def __init__(self, root: str):
        self.root = root
        self.seq: list[str] = []

    def resolve(self, tmpl: str) -> str:
        if tmpl.startswith("{Q"):
            end = tmpl.index("}")
            k = int(tmpl[2:end])
            base = self.seq[k % len(self.seq)] if self.seq else self.root + "/q-none"
            return base + tmpl[end + 1:]
        return tmpl.replace("{R}", self.root)


def acl_list(name: str):
    return ALL_ACLS[name]


def encode_sub(sub: dict, ctx: Ctx) -> tuple[int, bytes]:
    t = sub["t"]
    if t == "create":
        p = ctx.resolve(sub["path"])
        if sub["op"] == w.CREATE_TTL:
            return w.CREATE_TTL, w.create_ttl_body(p, sub["data"], acl_list(sub["acl"]),
                                                   sub["flags"], sub["ttl"])
        return sub["op"], w.create_body(p, sub["data"], acl_list(sub["acl"]), sub["flags"])
    if t == "delete":
        return w.DELETE, w.string(ctx.resolve(sub["path"])) + w.i32(sub["version"])
    if t == "set":
        return w.SET_DATA, (w.string(ctx.resolve(sub["path"])) + w.buf(sub["data"])
                            + w.i32(sub["version"]))
    if t == "check":
        return w.CHECK, w.string(ctx.resolve(sub["path"])) + w.i32(sub["version"])
    if t == "get":
        return w.GET_DATA, w.string(ctx.resolve(sub["path"])) + w.boolean(sub["watch"])
    if t == "children":
        return w.GET_CHILDREN, w.string(ctx.resolve(sub["path"])) + w.boolean(sub["watch"])
    if t == "setacl":
        return w.SET_ACL, (w.string(ctx.resolve(sub["path"])) + w.acl_vec(acl_list(sub["acl"]))
                           + w.i32(sub["version"]))
    raise ValueError(f"unknown sub-op {t}")


def encode(op: Op, ctx: Ctx) -> tuple[int, bytes, dict]:
    """(opcode, body, meta) for one op on one server; meta tells the decoder what to expect."""
    a = op.a
    k = op.kind
    meta: dict = {}
    if "path" in a:
        meta["path"] = ctx.resolve(a["path"])
    if k == "create":
        opcode, body = encode_sub({"t": "create", **a}, ctx)
        meta["flags"] = a["flags"]
        return opcode, body, meta
    if k == "delete":
        return w.DELETE, w.string(meta["path"]) + w.i32(a["version"]), meta
    if k == "set":
        return w.SET_DATA, w.string(meta["path"]) + w.buf(a["data"]) + w.i32(a["version"]), meta
    if k in ("exists", "get", "children", "children2"):
        opcode = {"exists": w.EXISTS, "get": w.GET_DATA, "children": w.GET_CHILDREN,
                  "children2": w.GET_CHILDREN2}[k]
        return opcode, w.string(meta["path"]) + w.boolean(a["watch"]), meta
    if k == "getacl":
        return w.GET_ACL, w.string(meta["path"]), meta
    if k == "setacl":
        return (w.SET_ACL, w.string(meta["path"]) + w.acl_vec(acl_list(a["acl"]))
                + w.i32(a["version"]), meta)
    if k == "sync":
        return w.SYNC, w.string(meta["path"]), meta
    if k == "ephemerals":
        return w.GET_EPHEMERALS, w.string(ctx.resolve(a["prefix"])), meta
    if k == "allkids":
        return w.GET_ALL_CHILDREN, w.string(meta["path"]), meta
    if k == "whoami":
        return w.WHO_AM_I, b"", meta
    if k == "auth":
        return w.AUTH, w.i32(0) + w.string(a["scheme"]) + w.buf(a["cred"].encode()), meta
    if k == "close":
        return w.CLOSE_SESSION, b"", meta
    if k == "addwatch":
        return w.ADD_WATCH, w.string(meta["path"]) + w.i32(a["mode"]), meta
    if k in ("checkwatches", "removewatches"):
        opcode = w.CHECK_WATCHES if k == "checkwatches" else w.REMOVE_WATCHES
        return opcode, w.string(meta["path"]) + w.i32(a["type"]), meta
    if k in ("multi", "multiread"):
        entries = [encode_sub(sub, ctx) for sub in a["subs"]]
        meta["subs"] = [(t, sub) for (t, _), sub in zip(entries, a["subs"])]
        opcode = w.MULTI if k == "multi" else w.MULTI_READ
        return opcode, w.multi_body(entries), meta
    raise ValueError(f"unknown op kind {k}")
