"""The seeds' use cases through kazoo's recipes, with several clients and threads.

Every loop is bounded in count, and every wait in time."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.protocol.states import EventType
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock, Semaphore
from kazoo.recipe.party import Party
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.retry import KazooRetry

from zkharness import run_threads as harness_run_threads
from zkharness import wait_until

JOIN_S = 60.0


def run_threads(targets, timeout=JOIN_S):
    """Run callables in threads; re-raise the first exception; bounded join."""
    return harness_run_threads(targets, timeout)


# ---------------------------------------------------------------------------
# naming service: unique names from sequential nodes


def test_naming_with_sequential_nodes(make_client, base):
    clients = [make_client() for _ in range(4)]
    per_client = 25
    created = {i: [] for i in range(len(clients))}

    def worker(i):
        def run():
            for _ in range(per_client):
                created[i].append(clients[i].create(f"{base}/name-", b"", sequence=True))
        return run

    run_threads([worker(i) for i in range(len(clients))])
    names = [n for lst in created.values() for n in lst]
    total = per_client * len(clients)
    assert len(set(names)) == total
    suffixes = sorted(int(n.rsplit("-", 1)[1]) for n in names)
    assert suffixes == list(range(total)), "sequence numbers are 0..n-1 without gaps"
    for lst in created.values():
        # each client's own names increase in the order it created them (FIFO order)
        assert lst == sorted(lst)
    zk = clients[0]
    by_czxid = sorted(zk.get_children(base), key=lambda c: zk.exists(f"{base}/{c}").czxid)
    assert by_czxid == sorted(by_czxid), "name order follows the write order (zxid)"


# ---------------------------------------------------------------------------
# configuration pushed through a DataWatch


def test_configuration_data_watch(make_client, base):
    watcher, pusher = make_client(), make_client()
    path = f"{base}/config"
    seen = []
    cond = threading.Condition()

    def on_change(data, stat, event=None):
        with cond:
            seen.append((data, stat.version if stat else None,
                         event.type if event else None))
            cond.notify_all()

    watcher.DataWatch(path, on_change)
    wait_until(lambda: seen, 10, what="initial DataWatch call")
    assert seen[0] == (None, None, None), "a missing node is reported as (None, None)"

    pusher.create(path, b"v0")
    n = 20
    for i in range(1, n + 1):
        pusher.set(path, f"v{i}".encode())
        time.sleep(0.01)

    def last_version():
        with cond:
            return seen[-1][1] == n
    wait_until(last_version, 10, what=f"DataWatch to see version {n}")
    versions = [v for _, v, _ in seen[1:]]
    assert versions == sorted(set(versions)), f"versions not increasing: {versions}"
    for data, version, _ in seen[1:]:
        assert data == f"v{version}".encode()
    assert seen[1][2] == EventType.CREATED

    pusher.delete(path)
    wait_until(lambda: seen[-1][:2] == (None, None), 10, what="DataWatch to see the delete")
    assert seen[-1][2] == EventType.DELETED


# ---------------------------------------------------------------------------
# group membership: ephemerals and a ChildrenWatch


def test_group_membership(make_client, base):
    observer = make_client()
    members = [make_client() for _ in range(4)]
    group = f"{base}/group"
    observer.ensure_path(group)
    snapshots = []
    events = []

    def on_children(children, event=None):
        snapshots.append(sorted(children))
        if event is not None:
            events.append(event)

    observer.ChildrenWatch(group, on_children, send_event=True)
    names = []
    for i, m in enumerate(members):
        path = m.create(f"{group}/member-{i}-", str(i).encode(), ephemeral=True, sequence=True)
        names.append(path.rsplit("/", 1)[1])
    wait_until(lambda: snapshots[-1] == sorted(names), 10, what="all members in the watch")

    # a member closes its session: its ephemeral goes and the watch fires
    members[1].stop()
    expected = sorted(names[:1] + names[2:])
    wait_until(lambda: snapshots[-1] == expected, 10, what="member 1 to leave the group")
    assert events and all(e.type == EventType.CHILD and e.path == group for e in events)

    # a new member joins
    late = make_client()
    p = late.create(f"{group}/member-late-", b"", ephemeral=True, sequence=True)
    expected = sorted(expected + [p.rsplit("/", 1)[1]])
    wait_until(lambda: snapshots[-1] == expected, 10, what="the late member to join")
    assert observer.get_children(group, include_data=True)[1].numChildren == len(expected)


def test_party(make_client, base):
    clients = [make_client() for _ in range(3)]
    parties = [Party(c, f"{base}/party", identifier=f"p{i}") for i, c in enumerate(clients)]
    for p in parties:
        p.join()
    assert sorted(parties[0]) == ["p0", "p1", "p2"]
    assert len(parties[2]) == 3
    parties[0].leave()
    assert sorted(parties[1]) == ["p1", "p2"]


# ---------------------------------------------------------------------------
# leader election


def test_leader_election(make_client, base):
    clients = [make_client() for _ in range(4)]
    path = f"{base}/election"
    lock = threading.Lock()
    state = {"leading": 0, "max": 0}
    leaders = []
    contenders_seen = []

    def lead(ident, zk):
        with lock:
            state["leading"] += 1
            state["max"] = max(state["max"], state["leading"])
            leaders.append(ident)
        contenders_seen.append(Election(zk, path).contenders())
        time.sleep(0.2)
        with lock:
            state["leading"] -= 1

    def contender(i):
        def run():
            Election(clients[i], path, identifier=f"c{i}").run(lead, f"c{i}", clients[i])
        return run

    run_threads([contender(i) for i in range(len(clients))])
    assert sorted(leaders) == ["c0", "c1", "c2", "c3"], "every contender leads once"
    assert state["max"] == 1, "two leaders at once"
    # The leader sees itself first among the contenders.
    for ident, contenders in zip(leaders, contenders_seen):
        assert contenders and contenders[0] == ident, (ident, contenders)


def test_election_failover_on_session_close(make_client, base):
    a, b = make_client(), make_client()
    path = f"{base}/election"
    a_leads, b_leads = threading.Event(), threading.Event()
    release_a = threading.Event()

    def lead_a():
        a_leads.set()
        release_a.wait(30)

    def run_a():
        try:
            Election(a, path, "a").run(lead_a)
        except Exception:  # noqa: BLE001 - its session is closed under it on purpose
            pass

    ta = threading.Thread(target=run_a, daemon=True)
    ta.start()
    assert a_leads.wait(10)
    eb = Election(b, path, "b")
    tb = threading.Thread(target=eb.run, args=(b_leads.set,), daemon=True)
    tb.start()
    wait_until(lambda: eb.contenders() == ["a", "b"], 10, what="both contenders")
    assert not b_leads.wait(0.3)
    a.stop()  # the leader's session closes; its ephemeral vanishes
    assert b_leads.wait(10), "b did not take over after a's session closed"
    release_a.set()
    tb.join(10)
    ta.join(10)


# ---------------------------------------------------------------------------
# distributed lock with contention


def test_lock_mutual_exclusion(make_client, base):
    clients = [make_client() for _ in range(3)]
    path = f"{base}/lock"
    counter_path = f"{base}/counter"
    clients[0].create(counter_path, b"0")
    threads_per_client, rounds = 2, 4
    guard = threading.Lock()
    state = {"inside": 0, "max": 0, "done": 0}

    def worker(zk, ident):
        def run():
            for _ in range(rounds):
                lock = Lock(zk, path, identifier=ident)
                assert lock.acquire(timeout=30), f"{ident} could not get the lock"
                try:
                    with guard:
                        state["inside"] += 1
                        state["max"] = max(state["max"], state["inside"])
                    # read-modify-write without a version check: only the lock protects it
                    value = int(zk.get(counter_path)[0])
                    time.sleep(0.005)
                    zk.set(counter_path, str(value + 1).encode())
                    with guard:
                        state["inside"] -= 1
                        state["done"] += 1
                finally:
                    lock.release()
        return run

    targets = [worker(c, f"c{i}t{j}") for i, c in enumerate(clients)
               for j in range(threads_per_client)]
    run_threads(targets)
    total = len(targets) * rounds
    assert state["max"] == 1, "two holders inside the lock at once"
    assert state["done"] == total
    assert int(clients[0].get(counter_path)[0]) == total
    assert clients[0].get_children(path) == [], "lock nodes left behind"


def test_lock_timeout_contenders_and_release_on_close(make_client, base):
    a, b = make_client(), make_client()
    path = f"{base}/lock"
    la = Lock(a, path, identifier="holder")
    assert la.acquire(timeout=10)
    lb = Lock(b, path, identifier="waiter")
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)
    assert la.contenders() == ["holder"]

    got = threading.Event()
    lb2 = Lock(b, path, identifier="waiter")
    t = threading.Thread(target=lambda: lb2.acquire(timeout=20) and got.set(), daemon=True)
    t.start()
    wait_until(lambda: la.contenders() == ["holder", "waiter"], 10, what="two contenders")
    a.stop()  # the holder's session closes: the lock passes on
    assert got.wait(10), "waiter did not get the lock after the holder's session closed"
    t.join(5)
    lb2.release()


def test_semaphore(make_client, base):
    clients = [make_client() for _ in range(4)]
    path = f"{base}/sem"
    guard = threading.Lock()
    state = {"inside": 0, "max": 0}

    def worker(zk, i):
        def run():
            sem = Semaphore(zk, path, identifier=f"s{i}", max_leases=2)
            assert sem.acquire(timeout=30)
            try:
                with guard:
                    state["inside"] += 1
                    state["max"] = max(state["max"], state["inside"])
                time.sleep(0.1)
                with guard:
                    state["inside"] -= 1
            finally:
                sem.release()
        return run

    run_threads([worker(c, i) for i, c in enumerate(clients)])
    assert state["max"] <= 2


def test_counter_with_contention(make_client, base):
    # Counter retries a lost compare-and-set through the client's command retry policy:
    # give it enough tries for six contending threads (bounded all the same).
    clients = [make_client(command_retry=KazooRetry(max_tries=200, delay=0.005, max_delay=0.1))
               for _ in range(3)]
    path = f"{base}/counter"
    per_thread = 15

    def worker(zk):
        def run():
            c = Counter(zk, path)
            for _ in range(per_thread):
                c += 1  # optimistic: setData with the read version, retried on BadVersion
        return run

    run_threads([worker(c) for c in clients for _ in range(2)])
    assert Counter(clients[0], path).value == per_thread * 6


# ---------------------------------------------------------------------------
# queues


def test_queue_priority_and_fifo(make_client, base):
    zk = make_client()
    q = Queue(zk, f"{base}/q")
    q.put(b"low-1", priority=200)
    q.put(b"hi-1", priority=10)
    q.put(b"mid-1")
    q.put(b"hi-2", priority=10)
    q.put(b"low-2", priority=200)
    assert len(q) == 5
    got = [q.get() for _ in range(5)]
    assert got == [b"hi-1", b"hi-2", b"mid-1", b"low-1", b"low-2"]
    assert q.get() is None
    assert len(q) == 0


def test_locking_queue_consumers(make_client, base):
    path = f"{base}/lq"
    producer = make_client()
    consumers = [make_client() for _ in range(3)]
    items = [f"item-{i}".encode() for i in range(24)]
    LockingQueue(producer, path).put_all(items[:12])
    for it in items[12:]:
        LockingQueue(producer, path).put(it)
    consumed = []
    guard = threading.Lock()

    def consume(zk):
        def run():
            q = LockingQueue(zk, path)
            for _ in range(len(items)):  # bounded
                value = q.get(timeout=1)
                if value is None:
                    return
                with guard:
                    consumed.append(value)
                assert q.consume()
        return run

    run_threads([consume(c) for c in consumers])
    assert sorted(consumed) == sorted(items), "every item consumed exactly once"
    assert len(LockingQueue(producer, path)) == 0


def test_locking_queue_release_returns_item(make_client, base):
    a, b = make_client(), make_client()
    path = f"{base}/lq"
    LockingQueue(a, path).put(b"only")
    qa = LockingQueue(a, path)
    assert qa.get(timeout=5) == b"only"
    qb = LockingQueue(b, path)
    assert qb.get(timeout=0.5) is None, "a locked item must not be handed out twice"
    assert qa.release()
    assert qb.get(timeout=5) == b"only"
    assert qb.consume()
    assert len(qb) == 0


# ---------------------------------------------------------------------------
# barriers


def test_barrier(make_client, base):
    owner = make_client()
    waiters = [make_client() for _ in range(3)]
    path = f"{base}/barrier"
    barrier = Barrier(owner, path)
    barrier.create()
    released = []

    def wait(zk):
        def run():
            assert Barrier(zk, path).wait(timeout=20)
            released.append(time.monotonic())
        return run

    threads = [threading.Thread(target=wait(w), daemon=True) for w in waiters]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert released == [], "a waiter passed the barrier before it was removed"
    assert Barrier(waiters[0], path).wait(timeout=0.2) is False
    t_remove = time.monotonic()
    barrier.remove()
    for t in threads:
        t.join(15)
    assert len(released) == 3
    assert all(t >= t_remove for t in released)
    assert Barrier(waiters[0], path).wait(timeout=1) is True


def test_double_barrier(make_client, base):
    n = 3
    clients = [make_client() for _ in range(n)]
    path = f"{base}/dbarrier"
    guard = threading.Lock()
    log = []

    def participant(i):
        def run():
            if i == n - 1:
                time.sleep(0.5)  # the last one is late: nobody may enter before it arrives
            with guard:
                log.append(("arrive", i, time.monotonic()))
            b = DoubleBarrier(clients[i], path, n, identifier=f"d{i}")
            b.enter()
            with guard:
                log.append(("entered", i, time.monotonic()))
            time.sleep(0.05 * i)
            b.leave()
            with guard:
                log.append(("left", i, time.monotonic()))
        return run

    run_threads([participant(i) for i in range(n)], timeout=60)
    last_arrival = max(t for kind, _, t in log if kind == "arrive")
    entered = [t for kind, _, t in log if kind == "entered"]
    left = [t for kind, _, t in log if kind == "left"]
    assert len(entered) == n and len(left) == n
    assert min(entered) >= last_arrival, "entered before every participant arrived"
    assert min(left) >= max(entered), "left before every participant entered"
    assert clients[0].get_children(path) == []
