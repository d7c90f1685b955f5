"""More of kazoo's recipes, with several clients: ReadLock/WriteLock, TreeCache and the
watchers of kazoo.recipe.watchers (DataWatch, ChildrenWatch, PatientChildrenWatch).

Each test checks the recipe's promise, not just that it runs. Every loop is bounded in
count, and every wait in time."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.lock import ReadLock, WriteLock
from kazoo.recipe.watchers import ChildrenWatch, DataWatch, PatientChildrenWatch

from zkharness import run_threads as harness_run_threads
from zkharness import wait_until

JOIN_S = 45.0
WAIT_S = 10.0


def run_threads(targets, timeout=JOIN_S):
    """Run callables in threads; re-raise the first exception; bounded join."""
    return harness_run_threads(targets, timeout)


def background(fn):
    """Start fn in a daemon thread; returns (thread, result dict with 'value'/'error')."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# ---------------------------------------------------------------------------
# ReadLock / WriteLock


def test_rwlock_readers_share_writer_waits_for_all(make_client, base):
    path = f"{base}/rw"
    readers = [make_client() for _ in range(3)]
    wclient = make_client()

    # three readers on three sessions hold the lock at the same time: each one waits,
    # holding it, until all three hold it (a reader that excluded others would hang here)
    all_in = threading.Barrier(len(readers), timeout=WAIT_S)
    locks = [ReadLock(c, path, identifier=f"r{i}") for i, c in enumerate(readers)]

    def reader(i):
        def run():
            assert locks[i].acquire(timeout=WAIT_S), f"reader r{i} did not get the read lock"
            all_in.wait()
        return run

    run_threads([reader(i) for i in range(len(readers))], timeout=2 * WAIT_S)
    assert all(lk.is_acquired for lk in locks)
    assert sorted(locks[0].contenders()) == ["r0", "r1", "r2"]

    # a writer is shut out while any reader holds the lock
    with pytest.raises(LockTimeout):
        WriteLock(wclient, path, identifier="w-try").acquire(timeout=0.5)

    w = WriteLock(wclient, path, identifier="w")
    tw, res = background(lambda: w.acquire(timeout=30))
    wait_until(lambda: "w" in locks[0].contenders(), WAIT_S, what="the writer to queue up")
    locks[0].release()
    locks[1].release()
    time.sleep(0.4)
    assert tw.is_alive() and "value" not in res, "the writer got in while a reader held the lock"
    locks[2].release()
    tw.join(WAIT_S)
    assert res.get("value") is True, f"writer did not get the lock after the readers left: {res}"
    assert w.is_acquired

    # while the writer holds it, no reader gets in
    with pytest.raises(LockTimeout):
        ReadLock(readers[0], path, identifier="r-try").acquire(timeout=0.5)

    # the writer's session closes: its lock node goes and a reader gets in
    late = ReadLock(readers[1], path, identifier="r-late")
    tr, rres = background(lambda: late.acquire(timeout=30))
    wait_until(lambda: "r-late" in locks[0].contenders(), WAIT_S, what="the late reader to queue up")
    time.sleep(0.3)
    assert "value" not in rres, "a reader got in while the writer held the lock"
    wclient.stop()
    tr.join(WAIT_S)
    assert rres.get("value") is True, f"reader did not get in after the writer's session closed: {rres}"
    late.release()
    assert readers[0].get_children(path) == [], "lock nodes left behind"


def test_rwlock_queued_writer_blocks_later_readers(make_client, base):
    """Fairness: a reader arriving after a waiting writer queues behind it."""
    a, b, c = make_client(), make_client(), make_client()
    path = f"{base}/rw"
    first = ReadLock(a, path, identifier="r-first")
    assert first.acquire(timeout=WAIT_S)
    w = WriteLock(b, path, identifier="w")
    tw, wres = background(lambda: w.acquire(timeout=30))
    wait_until(lambda: first.contenders() == ["r-first", "w"], WAIT_S, what="the writer to queue")

    later = ReadLock(c, path, identifier="r-later")
    order = []
    guard = threading.Lock()

    def later_reader():
        ok = later.acquire(timeout=30)
        with guard:
            order.append(("reader", w.is_acquired))
        return ok

    tr, rres = background(later_reader)
    wait_until(lambda: first.contenders() == ["r-first", "w", "r-later"], WAIT_S,
               what="the later reader to queue behind the writer")
    time.sleep(0.4)
    assert "value" not in rres, "a reader overtook a waiting writer"
    first.release()
    tw.join(WAIT_S)
    assert wres.get("value") is True, f"writer: {wres}"
    time.sleep(0.3)
    assert "value" not in rres, "a reader got in while the writer held the lock"
    w.release()
    tr.join(WAIT_S)
    assert rres.get("value") is True, f"later reader: {rres}"
    assert order == [("reader", False)]
    later.release()


def test_rwlock_contention(make_client, base):
    """Writers exclude everyone; readers see a stable value while they hold the lock."""
    clients = [make_client() for _ in range(4)]
    path = f"{base}/rw"
    value_path = f"{base}/value"
    clients[0].create(value_path, b"0")
    guard = threading.Lock()
    st = {"readers": 0, "writers": 0, "max_readers": 0, "bad": [], "reads": 0, "writes": 0}
    rounds = 4

    def writer(zk, ident):
        def run():
            for _ in range(rounds):
                lk = WriteLock(zk, path, identifier=ident)
                assert lk.acquire(timeout=30), f"{ident} could not get the write lock"
                try:
                    with guard:
                        st["writers"] += 1
                        if st["writers"] > 1 or st["readers"]:
                            st["bad"].append(("writer-with", st["writers"], st["readers"]))
                    v = int(zk.get(value_path)[0])
                    time.sleep(0.01)
                    zk.set(value_path, str(v + 1).encode())
                    with guard:
                        st["writers"] -= 1
                        st["writes"] += 1
                finally:
                    lk.release()
        return run

    def reader(zk, ident):
        def run():
            for _ in range(rounds):
                lk = ReadLock(zk, path, identifier=ident)
                assert lk.acquire(timeout=30), f"{ident} could not get the read lock"
                try:
                    with guard:
                        st["readers"] += 1
                        st["max_readers"] = max(st["max_readers"], st["readers"])
                        if st["writers"]:
                            st["bad"].append(("reader-with-writer", st["writers"]))
                    v1 = zk.get(value_path)[0]
                    time.sleep(0.02)
                    v2 = zk.get(value_path)[0]
                    if v1 != v2:
                        st["bad"].append(("value changed under a read lock", v1, v2))
                    with guard:
                        st["readers"] -= 1
                        st["reads"] += 1
                finally:
                    lk.release()
        return run

    targets = [writer(clients[0], "w0"), writer(clients[1], "w1")]
    targets += [reader(clients[i % 4], f"r{i}") for i in range(4)]
    run_threads(targets)
    assert st["bad"] == [], st["bad"]
    assert st["writes"] == 2 * rounds and st["reads"] == 4 * rounds
    assert int(clients[0].get(value_path)[0]) == 2 * rounds
    assert clients[0].get_children(path) == [], "lock nodes left behind"


# ---------------------------------------------------------------------------
# TreeCache


class TreeRecorder:
    def __init__(self):
        self.cond = threading.Condition()
        self.events = []  # (type, path, data)

    def __call__(self, event):
        d = event.event_data
        with self.cond:
            self.events.append((event.event_type, d.path if d else None, d.data if d else None))
            self.cond.notify_all()

    def wait_for(self, item, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        with self.cond:
            while item not in self.events:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no tree event {item} within {timeout}s; got {self.events}")
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return list(self.events)


ADDED, UPDATED, REMOVED = TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED


def test_tree_cache_subtree_events(make_client, base):
    owner, writer = make_client(), make_client()
    root = f"{base}/tree"
    owner.create(f"{root}/pre/x", b"px", makepath=True)
    owner.set(root, b"top")
    owner.set(f"{root}/pre", b"p")
    rec = TreeRecorder()
    cache = TreeCache(owner, root)
    cache.listen(rec)
    faults = []
    cache.listen_fault(faults.append)
    cache.start()
    try:
        rec.wait_for((TreeEvent.INITIALIZED, None, None))
        init = rec.snapshot()
        assert sorted(e for e in init if e[0] == ADDED) == sorted([
            (ADDED, root, b"top"), (ADDED, f"{root}/pre", b"p"), (ADDED, f"{root}/pre/x", b"px")])
        assert init[-1][0] == TreeEvent.INITIALIZED
        assert cache.get_data(f"{root}/pre/x").data == b"px"

        # one change at a time from another session, each seen as its event
        steps = [
            (lambda: writer.create(f"{root}/a", b"1"), (ADDED, f"{root}/a", b"1")),
            (lambda: writer.create(f"{root}/a/b", b"2"), (ADDED, f"{root}/a/b", b"2")),
            (lambda: writer.create(f"{root}/a/b/c", b"3"), (ADDED, f"{root}/a/b/c", b"3")),
            (lambda: writer.set(f"{root}/a", b"1b"), (UPDATED, f"{root}/a", b"1b")),
            (lambda: writer.set(f"{root}/a/b/c", b"3b"), (UPDATED, f"{root}/a/b/c", b"3b")),
            (lambda: writer.set(root, b"top2"), (UPDATED, root, b"top2")),
            (lambda: writer.delete(f"{root}/pre/x"), (REMOVED, f"{root}/pre/x", b"px")),
            (lambda: writer.delete(f"{root}/a/b/c"), (REMOVED, f"{root}/a/b/c", b"3b")),
        ]
        for action, expected in steps:
            action()
            rec.wait_for(expected)

        # a recursive delete of a subtree: every node in it is reported removed
        writer.delete(f"{root}/a", recursive=True)
        rec.wait_for((REMOVED, f"{root}/a", b"1b"))
        rec.wait_for((REMOVED, f"{root}/a/b", b"2"))

        after_init = rec.snapshot()[len(init):]
        expected = [e for _, e in steps] + [(REMOVED, f"{root}/a/b", b"2"),
                                            (REMOVED, f"{root}/a", b"1b")]
        assert sorted(after_init) == sorted(expected), after_init
        # per path, events come in the order the changes were made
        for p in {e[1] for e in expected}:
            assert [e for e in after_init if e[1] == p] == [e for e in expected if e[1] == p]
        assert cache.get_children(root) == frozenset({"pre"})
        assert cache.get_children(f"{root}/pre") == frozenset()
        assert cache.get_data(f"{root}/a") is None
        assert cache.get_data(root).data == b"top2"
        assert faults == []
    finally:
        cache.close()


def test_tree_cache_catches_up_after_reconnect(make_client, base, proxy):
    """Changes made while the cache's client is cut off show up after it reconnects
    (the same session: its watches are re-registered with SetWatches)."""
    writer = make_client()
    cut = make_client(hosts=proxy.hosts, timeout=15.0)
    root = f"{base}/tree"
    writer.create(f"{root}/k", b"v1", makepath=True)
    writer.create(f"{root}/gone", b"g", makepath=True)
    rec = TreeRecorder()
    cache = TreeCache(cut, root)
    cache.listen(rec)
    cache.start()
    try:
        rec.wait_for((TreeEvent.INITIALIZED, None, None))
        sid = cut.client_id[0]
        states = []
        cut.add_listener(states.append)
        proxy.refuse()
        proxy.drop()
        wait_until(lambda: KazooState.SUSPENDED in states, WAIT_S, what="the client to notice the cut")
        writer.set(f"{root}/k", b"v2")
        writer.create(f"{root}/new", b"n")
        writer.delete(f"{root}/gone")
        time.sleep(0.3)
        proxy.accept()
        rec.wait_for((UPDATED, f"{root}/k", b"v2"), timeout=20)
        rec.wait_for((ADDED, f"{root}/new", b"n"))
        rec.wait_for((REMOVED, f"{root}/gone", b"g"))
        assert cut.client_id[0] == sid, "the session was not kept"
        assert KazooState.LOST not in states
        assert cache.get_children(root) == frozenset({"k", "new"})
    finally:
        cache.close()


# ---------------------------------------------------------------------------
# kazoo.recipe.watchers


def test_data_watch_several_writers_and_stop(make_client, base):
    watcher = make_client()
    writers = [make_client() for _ in range(3)]
    path = f"{base}/cfg"
    writers[0].create(path, b"init")
    calls = []
    cond = threading.Condition()
    stop = threading.Event()

    def func(data, stat, event):
        with cond:
            calls.append((data, stat.version if stat else None, stat.mzxid if stat else None,
                          event.type if event else None))
            cond.notify_all()
        if stop.is_set():
            return False  # unregisters the watch
        return None

    DataWatch(watcher, path, func)
    wait_until(lambda: calls, WAIT_S, what="the first DataWatch call")
    assert calls[0][:2] == (b"init", 0) and calls[0][3] is None

    per = 5

    def bump(zk, tag):
        def run():
            for i in range(per):
                zk.set(path, f"{tag}-{i}".encode())
                time.sleep(0.02)
        return run

    run_threads([bump(w, f"w{i}") for i, w in enumerate(writers)])
    final = 3 * per
    wait_until(lambda: calls[-1][1] == final, WAIT_S, what=f"the DataWatch to see version {final}")
    data, stat = watcher.get(path)
    assert calls[-1][0] == data
    versions = [c[1] for c in calls]
    mzxids = [c[2] for c in calls]
    assert versions == sorted(set(versions)), f"versions repeat or go back: {versions}"
    assert mzxids == sorted(set(mzxids))
    assert all(c[3] == EventType.CHANGED for c in calls[1:])

    # returning False ends the watch: no more calls after that one
    stop.set()
    writers[0].set(path, b"last-seen")
    wait_until(lambda: calls[-1][0] == b"last-seen", WAIT_S, what="the call that stops the watch")
    n = len(calls)
    writers[1].set(path, b"unseen")
    writers[1].delete(path)
    time.sleep(0.5)
    assert len(calls) == n, f"DataWatch called after it returned False: {calls[n:]}"


def test_data_watch_on_missing_node_sees_create_and_delete(make_client, base):
    watcher, writer = make_client(), make_client()
    path = f"{base}/later"
    seen = []
    DataWatch(watcher, path, lambda data, stat: seen.append((data, stat.version if stat else None)))
    wait_until(lambda: seen == [(None, None)], WAIT_S, what="the initial (None, None) call")
    for round_ in range(3):
        writer.create(path, f"c{round_}".encode())
        wait_until(lambda: seen[-1] == (f"c{round_}".encode(), 0), WAIT_S,
                   what=f"create #{round_}")
        writer.delete(path)
        wait_until(lambda: seen[-1] == (None, None), WAIT_S, what=f"delete #{round_}")
    assert seen == [(None, None)] + [x for r in range(3) for x in ((f"c{r}".encode(), 0), (None, None))]


def test_children_watch_members_and_stop(make_client, base):
    observer = make_client()
    members = [make_client() for _ in range(3)]
    group = f"{base}/group"
    observer.ensure_path(group)
    snapshots = []
    events = []
    stop = threading.Event()

    def func(children, event):
        snapshots.append(sorted(children))
        if event is not None:
            events.append((event.type, event.path))
        return False if stop.is_set() else None

    ChildrenWatch(observer, group, func, send_event=True)
    wait_until(lambda: snapshots == [[]], WAIT_S, what="the initial empty list")

    names = []
    for i, m in enumerate(members):
        names.append(m.create(f"{group}/m{i}", b"", ephemeral=True).rsplit("/", 1)[1])
        wait_until(lambda: snapshots[-1] == sorted(names), WAIT_S, what=f"member m{i} to show")
    members[0].stop()  # its session closes: its ephemeral child goes
    wait_until(lambda: snapshots[-1] == ["m1", "m2"], WAIT_S, what="m0 to leave")
    assert events and all(e == (EventType.CHILD, group) for e in events)
    # a data change on a child is no children change
    n = len(snapshots)
    members[1].set(f"{group}/m1", b"x")
    time.sleep(0.3)
    assert len(snapshots) == n

    stop.set()
    members[2].create(f"{group}/m3", b"")
    wait_until(lambda: snapshots[-1] == ["m1", "m2", "m3"], WAIT_S, what="the stopping call")
    n = len(snapshots)
    members[2].delete(f"{group}/m3")
    members[2].create(f"{group}/m4", b"")
    time.sleep(0.5)
    assert len(snapshots) == n, f"ChildrenWatch called after it returned False: {snapshots[n:]}"


def test_children_watch_ends_when_parent_deleted(make_client, base):
    observer, writer = make_client(), make_client()
    parent = f"{base}/p"
    writer.create(f"{parent}/c1", b"", makepath=True)
    snapshots = []
    ChildrenWatch(observer, parent, lambda ch: snapshots.append(sorted(ch)))
    wait_until(lambda: snapshots == [["c1"]], WAIT_S, what="the initial children")
    writer.delete(f"{parent}/c1")
    wait_until(lambda: snapshots[-1] == [], WAIT_S, what="the child delete")
    writer.delete(parent)
    time.sleep(0.3)
    n = len(snapshots)
    writer.create(f"{parent}/c2", b"", makepath=True)
    time.sleep(0.5)
    # kazoo's ChildrenWatch stops once its node is gone (NoNode on the re-read)
    assert len(snapshots) == n, snapshots


def test_patient_children_watch(make_client, base):
    observer = make_client()
    writers = [make_client() for _ in range(2)]
    path = f"{base}/patient"
    observer.ensure_path(path)
    boundary = 0.6
    watch = PatientChildrenWatch(observer, path, time_boundary=boundary)
    t0 = time.monotonic()
    async_result = watch.start()
    # keep changing the children for a while, faster than the boundary
    added = []
    for i in range(6):
        w = writers[i % 2]
        added.append(w.create(f"{path}/c{i}", b"").rsplit("/", 1)[1])
        time.sleep(0.2)
    last_change = time.monotonic()
    children, changed = async_result.get(timeout=WAIT_S + 6 * boundary)
    settled = time.monotonic()
    assert sorted(children) == sorted(added)
    assert settled - last_change >= boundary * 0.5, \
        "the result came before the children had been stable for the boundary"
    assert settled - t0 >= 6 * 0.2
    # the returned async result fires on the next change
    assert not changed.ready()
    writers[0].delete(f"{path}/c0")
    stamp = changed.get(timeout=WAIT_S)
    assert isinstance(stamp, float)
