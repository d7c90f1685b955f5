import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.data.Stat;

/**
 * More Curator recipes (Debian's libcurator jars) against the server under test, each
 * with several clients and checking what the recipe promises.
 *
 * <pre>
 * java MoreRecipes SERVER_HOSTPORT PROXY_HOSTPORT PROXY_CONTROL_PORT [CHECK_NAME_SUBSTRING]
 * </pre>
 *
 * The proxy (compat-tests' TcpProxy) lets a check cut one client off until its session
 * expires. Prints "PASS name (ms)" / "FAIL name: why" per check, then a summary line;
 * exits 1 if any check failed.
 */
public final class MoreRecipes extends TestKit {
    static final long WAIT_S = 15;
    /** Sessions cut off through the proxy: short, so that expiry comes quickly. */
    static final int SHORT_SESSION_MS = 4000;

    static String server;
    static String proxy;
    static int proxyControlPort;
    static String root;

    private static final List<CuratorFramework> clients = new CopyOnWriteArrayList<>();

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: MoreRecipes HOST:PORT PROXY:PORT CONTROL_PORT [FILTER]");
            System.exit(2);
        }
        server = args[0];
        proxy = args[1];
        proxyControlPort = Integer.parseInt(args[2]);
        String filter = args.length > 3 ? args[3] : "";
        root = "/more-" + Long.toHexString(System.nanoTime());
        CuratorFramework admin = client();
        admin.create().forPath(root);

        Map<String, Check> checks = new java.util.LinkedHashMap<>();
        checks.put("InterProcessReadWriteLock readers share, writer excludes", MoreRecipes::rwLockShareExclude);
        checks.put("InterProcessReadWriteLock contention", MoreRecipes::rwLockContention);
        checks.put("InterProcessReadWriteLock write-to-read downgrade", MoreRecipes::rwLockDowngrade);
        checks.put("LeaderSelector takes turns", MoreRecipes::leaderSelectorTurns);
        checks.put("LeaderSelector hand-over on session expiry and close", MoreRecipes::leaderSelectorHandOver);
        checks.put("DistributedBarrier", MoreRecipes::barrier);
        checks.put("DistributedDoubleBarrier", MoreRecipes::doubleBarrier);
        checks.put("DistributedQueue single consumer order", MoreRecipes::queueOrder);
        checks.put("DistributedQueue several consumers", MoreRecipes::queueConsumers);
        checks.put("PersistentNode re-created after delete", MoreRecipes::persistentNodeDelete);
        checks.put("PersistentNode re-created after session expiry", MoreRecipes::persistentNodeSessionLoss);
        checks.put("transaction success", MoreRecipes::transactionSuccess);
        checks.put("transaction failure is atomic", MoreRecipes::transactionFailure);
        checks.put("namespace", MoreRecipes::namespace);
        for (Map.Entry<String, Check> e : checks.entrySet()) {
            if (e.getKey().contains(filter)) {
                check(e.getKey(), e.getValue());
            }
        }
        for (CuratorFramework c : clients) {
            try {
                c.close();
            } catch (Exception e) {
                // best effort
            }
        }
        finish("more-recipes");
    }


    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    static CuratorFramework client() throws Exception {
        return client(server, 15000);
    }

    static CuratorFramework client(String hosts, int sessionMs) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts)
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                .build();
        clients.add(c);
        c.start();
        ok(c.blockUntilConnected((int) WAIT_S, TimeUnit.SECONDS), "Curator connected to " + hosts);
        return c;
    }

    static void waitFor(String what, java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + WAIT_S + "s waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    interface ThrowingSupplier {
        boolean get() throws Exception;
    }

    static java.util.function.BooleanSupplier quiet(ThrowingSupplier s) {
        return () -> {
            try {
                return s.get();
            } catch (Exception e) {
                return false;
            }
        };
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static Runnable unchecked(ThrowingRunnable r) {
        return () -> {
            try {
                r.run();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        };
    }

    static void runThreads(List<Runnable> work) throws Exception {
        runThreads(work, 45);
    }

    /** Runs r in a daemon thread; the returned queue gets "ok" or the failure. */
    static BlockingQueue<Object> background(ThrowingSupplier r) {
        BlockingQueue<Object> out = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            try {
                out.add(r.get());
            } catch (Throwable e) {
                out.add(e);
            }
        });
        t.setDaemon(true);
        t.start();
        return out;
    }

    static void proxyControl(String cmd) throws Exception {
        try (Socket sock = new Socket("127.0.0.1", proxyControlPort)) {
            sock.setSoTimeout(10000);
            OutputStream out = sock.getOutputStream();
            out.write(b(cmd + "\n"));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.UTF_8));
            eq("ok", in.readLine(), "proxy answer to " + cmd);
        }
    }

    /** Cuts the proxied clients off until the server has expired the session that owns
     *  watchedEphemeral (seen from an unproxied client), then lets them reconnect. */
    static void expireProxiedSession(CuratorFramework direct, String watchedEphemeral, long owner)
            throws Exception {
        proxyControl("drop-refuse");
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            while (true) {
                Stat st = direct.checkExists().forPath(watchedEphemeral);
                if (st == null || st.getEphemeralOwner() != owner) {
                    break;
                }
                ok(System.nanoTime() < deadline, "session 0x" + Long.toHexString(owner)
                        + " not expired within " + WAIT_S + "s of being cut off");
                Thread.sleep(50);
            }
        } finally {
            proxyControl("accept");
        }
    }

    static long sessionId(CuratorFramework c) throws Exception {
        return c.getZookeeperClient().getZooKeeper().getSessionId();
    }

    // ------------------------------------------------------------------ read/write lock

    /** Holds a lock in its own thread (Curator's locks belong to the acquiring thread)
     *  until told to release it. */
    static final class Holder {
        final BlockingQueue<Object> acquired = new LinkedBlockingQueue<>();
        final BlockingQueue<Object> released = new LinkedBlockingQueue<>();
        final CountDownLatch release = new CountDownLatch(1);

        Holder(InterProcessLock lock, long waitMs) {
            Thread t = new Thread(() -> {
                try {
                    boolean got = lock.acquire(waitMs, TimeUnit.MILLISECONDS);
                    acquired.add(got);
                    if (got) {
                        release.await(60, TimeUnit.SECONDS);
                        lock.release();
                        released.add(Boolean.TRUE);
                    }
                } catch (Throwable e) {
                    acquired.add(e);
                    released.add(e);
                }
            });
            t.setDaemon(true);
            t.start();
        }

        /** The acquire's result if it came within ms, else null. */
        Object acquiredWithin(long ms) throws InterruptedException {
            Object r = acquired.poll(ms, TimeUnit.MILLISECONDS);
            if (r != null) {
                acquired.add(r); // keep it for later looks
            }
            return r;
        }

        void expectAcquired(String what) throws InterruptedException {
            eq(Boolean.TRUE, acquiredWithin(TimeUnit.SECONDS.toMillis(WAIT_S)), what);
        }

        void release() throws InterruptedException {
            release.countDown();
            eq(Boolean.TRUE, released.poll(WAIT_S, TimeUnit.SECONDS), "released");
        }
    }

    static void rwLockShareExclude() throws Exception {
        String p = root + "/rw1";
        int n = 3;
        List<InterProcessReadWriteLock> rws = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rws.add(new InterProcessReadWriteLock(client(), p));
        }
        // three readers on three sessions hold the lock at the same time (none releases
        // before all of them have it)
        List<Holder> readers = new ArrayList<>();
        for (InterProcessReadWriteLock rw : rws) {
            readers.add(new Holder(rw.readLock(), TimeUnit.SECONDS.toMillis(WAIT_S)));
        }
        for (Holder h : readers) {
            h.expectAcquired("reader holds while the other readers hold");
        }
        CuratorFramework wc = client();
        InterProcessReadWriteLock wrw = new InterProcessReadWriteLock(wc, p);
        ok(!wrw.writeLock().acquire(500, TimeUnit.MILLISECONDS), "writer got in while readers held the lock");

        Holder writer = new Holder(wrw.writeLock(), 30_000);
        waitFor("the writer to queue", quiet(() -> wc.getChildren().forPath(p).size() == 4));
        readers.get(0).release();
        readers.get(1).release();
        eq(null, writer.acquiredWithin(400), "writer result while one reader still holds");
        readers.get(2).release();
        writer.expectAcquired("writer after the readers left");

        // while the writer holds it, readers and other writers wait
        ok(!rws.get(0).readLock().acquire(500, TimeUnit.MILLISECONDS), "reader got in while the writer held the lock");
        ok(!rws.get(1).writeLock().acquire(300, TimeUnit.MILLISECONDS), "second writer got in");
        Holder late = new Holder(rws.get(2).readLock(), 30_000);
        eq(null, late.acquiredWithin(300), "reader result while the writer holds");
        writer.release();
        late.expectAcquired("reader after the writer left");
        late.release();
        waitFor("no lock nodes left", quiet(() -> wc.getChildren().forPath(p).isEmpty()));
    }

    static void rwLockContention() throws Exception {
        String p = root + "/rw2";
        String valuePath = root + "/rw2-value";
        CuratorFramework admin = client();
        admin.create().forPath(valuePath, b("0"));
        AtomicInteger readers = new AtomicInteger();
        AtomicInteger writers = new AtomicInteger();
        AtomicInteger maxReaders = new AtomicInteger();
        List<String> bad = new CopyOnWriteArrayList<>();
        AtomicInteger reads = new AtomicInteger();
        int rounds = 4;
        List<Runnable> work = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            CuratorFramework c = client();
            boolean isWriter = i < 2;
            work.add(unchecked(() -> {
                InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, p);
                for (int r = 0; r < rounds; r++) {
                    if (isWriter) {
                        ok(rw.writeLock().acquire(30, TimeUnit.SECONDS), "write lock");
                        try {
                            if (writers.incrementAndGet() != 1 || readers.get() != 0) {
                                bad.add("writer with writers=" + writers.get() + " readers=" + readers.get());
                            }
                            int v = Integer.parseInt(s(c.getData().forPath(valuePath)));
                            Thread.sleep(10);
                            c.setData().forPath(valuePath, b(Integer.toString(v + 1)));
                            writers.decrementAndGet();
                        } finally {
                            rw.writeLock().release();
                        }
                    } else {
                        ok(rw.readLock().acquire(30, TimeUnit.SECONDS), "read lock");
                        try {
                            maxReaders.accumulateAndGet(readers.incrementAndGet(), Math::max);
                            if (writers.get() != 0) {
                                bad.add("reader with a writer");
                            }
                            String v1 = s(c.getData().forPath(valuePath));
                            Thread.sleep(20);
                            String v2 = s(c.getData().forPath(valuePath));
                            if (!v1.equals(v2)) {
                                bad.add("value changed under a read lock: " + v1 + " -> " + v2);
                            }
                            readers.decrementAndGet();
                            reads.incrementAndGet();
                        } finally {
                            rw.readLock().release();
                        }
                    }
                }
            }));
            if (!isWriter) {
                // a second reader thread on the same client
                work.add(unchecked(() -> {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, p);
                    for (int r = 0; r < rounds; r++) {
                        ok(rw.readLock().acquire(30, TimeUnit.SECONDS), "read lock");
                        try {
                            maxReaders.accumulateAndGet(readers.incrementAndGet(), Math::max);
                            if (writers.get() != 0) {
                                bad.add("reader with a writer");
                            }
                            Thread.sleep(20);
                            readers.decrementAndGet();
                            reads.incrementAndGet();
                        } finally {
                            rw.readLock().release();
                        }
                    }
                }));
            }
        }
        runThreads(work);
        eq(Collections.emptyList(), bad, "exclusion violations");
        eq(4 * rounds, reads.get(), "reads");
        eq(Integer.toString(2 * rounds), s(admin.getData().forPath(valuePath)), "value after the writes");
        waitFor("no lock nodes left", quiet(() -> admin.getChildren().forPath(p).isEmpty()));
    }

    static void rwLockDowngrade() throws Exception {
        String p = root + "/rw3";
        InterProcessReadWriteLock mine = new InterProcessReadWriteLock(client(), p);
        InterProcessReadWriteLock other = new InterProcessReadWriteLock(client(), p);
        ok(mine.writeLock().acquire(WAIT_S, TimeUnit.SECONDS), "write lock");
        ok(mine.readLock().acquire(WAIT_S, TimeUnit.SECONDS), "the write holder may take the read lock");
        mine.writeLock().release();
        // now only a read lock is held: other readers share it, writers still wait
        ok(other.readLock().acquire(WAIT_S, TimeUnit.SECONDS), "another reader after the downgrade");
        ok(!other.writeLock().acquire(400, TimeUnit.MILLISECONDS), "a writer got in past the downgraded reader");
        other.readLock().release();
        mine.readLock().release();
        ok(other.writeLock().acquire(WAIT_S, TimeUnit.SECONDS), "writer once every reader left");
        other.writeLock().release();
    }

    // ------------------------------------------------------------------ LeaderSelector

    static void leaderSelectorTurns() throws Exception {
        String p = root + "/selector1";
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger maxInside = new AtomicInteger();
        Map<String, AtomicInteger> terms = new HashMap<>();
        List<String> order = new CopyOnWriteArrayList<>();
        List<LeaderSelector> selectors = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "s" + i;
            terms.put(id, new AtomicInteger());
            LeaderSelector sel = new LeaderSelector(client(), p, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework c) throws Exception {
                    maxInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                    order.add(id);
                    terms.get(id).incrementAndGet();
                    try {
                        Thread.sleep(100);
                    } finally {
                        inside.decrementAndGet();
                    }
                }
            });
            sel.setId(id);
            sel.autoRequeue();
            selectors.add(sel);
        }
        for (LeaderSelector sel : selectors) {
            sel.start();
        }
        waitFor("every selector to lead twice " + order,
                () -> terms.values().stream().allMatch(t -> t.get() >= 2));
        for (LeaderSelector sel : selectors) {
            sel.close();
        }
        eq(1, maxInside.get(), "leaders at once");
        // leadership goes round in queue order: nobody leads twice before everyone led once
        Set<String> firstRound = new HashSet<>(order.subList(0, 3));
        eq(3, firstRound.size(), "first three terms " + order);
    }

    static void leaderSelectorHandOver() throws Exception {
        String p = root + "/selector2";
        CuratorFramework direct = client();
        Map<String, AtomicInteger> terms = new HashMap<>();
        Map<String, AtomicReference<String>> endedBy = new HashMap<>();
        Set<String> leading = Collections.synchronizedSet(new HashSet<>());
        List<LeaderSelector> selectors = new ArrayList<>();
        List<CuratorFramework> owners = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "s" + i;
            terms.put(id, new AtomicInteger());
            endedBy.put(id, new AtomicReference<>());
            // s0 goes through the proxy with a short session: it is the one cut off
            CuratorFramework c = i == 0 ? client(proxy, SHORT_SESSION_MS) : client();
            owners.add(c);
            LeaderSelector sel = new LeaderSelector(c, p, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework cf) throws Exception {
                    terms.get(id).incrementAndGet();
                    leading.add(id);
                    try {
                        Thread.sleep(TimeUnit.MINUTES.toMillis(5));
                    } catch (InterruptedException e) {
                        endedBy.get(id).set("interrupted");
                        throw e;
                    } finally {
                        leading.remove(id);
                    }
                }
            });
            sel.setId(id);
            sel.autoRequeue();
            selectors.add(sel);
            sel.start();
            if (i == 0) {
                waitFor("s0 to lead", sel::hasLeadership);
            }
        }
        waitFor("three participants", quiet(() -> selectors.get(0).getParticipants().size() == 3));
        Thread.sleep(200);
        eq(Set.of("s0"), new HashSet<>(leading), "leaders");
        for (LeaderSelector sel : selectors) {
            eq("s0", sel.getLeader().getId(), "leader seen by " + sel.getId());
        }

        // s0 is cut off until its session expires: s1 (next in line) takes over, s0's
        // leadership is interrupted, and s0 requeues with its new session
        String s0node = null;
        for (String child : direct.getChildren().forPath(p)) {
            byte[] data = direct.getData().forPath(p + "/" + child);
            if (s(data).equals("s0")) {
                s0node = p + "/" + child;
            }
        }
        ok(s0node != null, "s0's election node");
        long s0session = sessionId(owners.get(0));
        expireProxiedSession(direct, s0node, s0session);
        waitFor("s1 to take over " + leading, () -> leading.equals(Set.of("s1")));
        waitFor("s0's leadership to end", () -> "interrupted".equals(endedBy.get("s0").get()));
        waitFor("s0 to rejoin", quiet(() -> selectors.get(2).getParticipants().size() == 3));
        ok(sessionId(owners.get(0)) != s0session, "s0 has a new session");
        eq("s1", selectors.get(0).getLeader().getId(), "leader after the expiry, as s0 sees it");
        eq(1, terms.get("s0").get(), "s0's terms");

        // s1's client closes (its session ends): leadership passes on
        owners.get(1).close();
        waitFor("a new leader after s1's session closed " + leading,
                () -> leading.contains("s2") || leading.contains("s0"));
        Thread.sleep(200);
        Set<String> now = new HashSet<>(leading);
        now.remove("s1"); // s1's own thread is not told: its client was closed under it
        eq(1, now.size(), "leaders among the live selectors " + now);
        String leader = now.iterator().next();
        eq(leader, selectors.get(2).getLeader().getId(), "leader seen by s2");
        eq(2, selectors.get(2).getParticipants().size(), "participants after s1 left");
        selectors.get(0).close();
        selectors.get(2).close();
    }

    // ------------------------------------------------------------------ barriers

    static void barrier() throws Exception {
        String p = root + "/barrier";
        DistributedBarrier owner = new DistributedBarrier(client(), p);
        owner.setBarrier();
        List<Long> released = new CopyOnWriteArrayList<>();
        List<BlockingQueue<Object>> results = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            DistributedBarrier w = new DistributedBarrier(client(), p);
            results.add(background(() -> {
                boolean passedBarrier = w.waitOnBarrier(30, TimeUnit.SECONDS);
                released.add(System.nanoTime());
                return passedBarrier;
            }));
        }
        Thread.sleep(500);
        eq(Collections.emptyList(), released, "waiters released while the barrier stands");
        ok(!new DistributedBarrier(client(), p).waitOnBarrier(200, TimeUnit.MILLISECONDS), "timed wait on a set barrier");
        long removed = System.nanoTime();
        owner.removeBarrier();
        for (BlockingQueue<Object> r : results) {
            eq(Boolean.TRUE, r.poll(WAIT_S, TimeUnit.SECONDS), "waiter passed");
        }
        for (long t : released) {
            ok(t >= removed, "a waiter passed before the barrier was removed");
        }
        ok(new DistributedBarrier(client(), p).waitOnBarrier(1, TimeUnit.SECONDS), "no barrier: no wait");
    }

    static void doubleBarrier() throws Exception {
        String p = root + "/dbarrier";
        int n = 3;
        List<long[]> log = new CopyOnWriteArrayList<>(); // {kind, member, time}; kind 0 arrive 1 entered 2 left
        List<Runnable> work = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int me = i;
            CuratorFramework c = client();
            work.add(unchecked(() -> {
                if (me == n - 1) {
                    Thread.sleep(500); // the last member is late: nobody enters before it arrives
                }
                log.add(new long[] {0, me, System.nanoTime()});
                DistributedDoubleBarrier b = new DistributedDoubleBarrier(c, p, n);
                ok(b.enter(30, TimeUnit.SECONDS), "entered");
                log.add(new long[] {1, me, System.nanoTime()});
                Thread.sleep(50L * me);
                ok(b.leave(30, TimeUnit.SECONDS), "left");
                log.add(new long[] {2, me, System.nanoTime()});
            }));
        }
        runThreads(work);
        long lastArrival = log.stream().filter(e -> e[0] == 0).mapToLong(e -> e[2]).max().getAsLong();
        long firstEntered = log.stream().filter(e -> e[0] == 1).mapToLong(e -> e[2]).min().getAsLong();
        long lastEntered = log.stream().filter(e -> e[0] == 1).mapToLong(e -> e[2]).max().getAsLong();
        long firstLeft = log.stream().filter(e -> e[0] == 2).mapToLong(e -> e[2]).min().getAsLong();
        eq(3 * n, log.size(), "log entries");
        ok(firstEntered >= lastArrival, "a member entered before every member arrived");
        ok(firstLeft >= lastEntered, "a member left before every member entered");
        // a member alone cannot get through
        DistributedDoubleBarrier alone = new DistributedDoubleBarrier(client(), root + "/dbarrier-alone", 2);
        ok(!alone.enter(500, TimeUnit.MILLISECONDS), "entered a 2-member barrier alone");
    }

    // ------------------------------------------------------------------ queue

    static final QueueSerializer<String> STRINGS = new QueueSerializer<String>() {
        @Override
        public byte[] serialize(String item) {
            return b(item);
        }

        @Override
        public String deserialize(byte[] bytes) {
            return s(bytes);
        }
    };

    static DistributedQueue<String> queue(CuratorFramework c, String p, QueueConsumer<String> consumer)
            throws Exception {
        DistributedQueue<String> q = QueueBuilder.builder(c, consumer, STRINGS, p)
                .putInBackground(false)
                .executor(Runnable::run)
                .buildQueue();
        q.start();
        return q;
    }

    static QueueConsumer<String> consumer(List<String> into) {
        return new QueueConsumer<String>() {
            @Override
            public void consumeMessage(String message) {
                into.add(message);
            }

            @Override
            public void stateChanged(CuratorFramework c, ConnectionState st) {
            }
        };
    }

    static void queueOrder() throws Exception {
        String p = root + "/queue1";
        DistributedQueue<String> producer = queue(client(), p, null);
        List<String> items = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            items.add("item-" + i);
            producer.put("item-" + i);
        }
        List<String> got = new CopyOnWriteArrayList<>();
        DistributedQueue<String> consumerQ = queue(client(), p, consumer(got));
        waitFor("20 items consumed " + got, () -> got.size() >= 20);
        Thread.sleep(200);
        eq(items, new ArrayList<>(got), "consumed in put order, once each");
        // items put while the consumer runs are consumed too, still in order
        for (int i = 20; i < 25; i++) {
            items.add("item-" + i);
            producer.put("item-" + i);
        }
        waitFor("25 items consumed", () -> got.size() >= 25);
        Thread.sleep(200);
        eq(items, new ArrayList<>(got), "all items in order");
        CuratorFramework c = client();
        waitFor("an empty queue node", quiet(() -> c.getChildren().forPath(p).isEmpty()));
        consumerQ.close();
        producer.close();
    }

    static void queueConsumers() throws Exception {
        String p = root + "/queue2";
        int perProducer = 30;
        List<List<String>> got = new ArrayList<>();
        List<DistributedQueue<String>> consumers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            List<String> mine = new CopyOnWriteArrayList<>();
            got.add(mine);
            consumers.add(queue(client(), p, consumer(mine)));
        }
        List<Runnable> producers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            String tag = "p" + i;
            CuratorFramework c = client();
            producers.add(unchecked(() -> {
                DistributedQueue<String> q = queue(c, p, null);
                for (int k = 0; k < perProducer; k++) {
                    q.put(tag + "-" + String.format("%03d", k));
                }
                q.close();
            }));
        }
        runThreads(producers);
        waitFor("every item consumed", () -> got.stream().mapToInt(List::size).sum() >= 2 * perProducer);
        Thread.sleep(300);
        List<String> all = new ArrayList<>();
        for (List<String> g : got) {
            all.addAll(g);
            for (String tag : List.of("p0", "p1")) {
                List<String> fromTag = new ArrayList<>();
                for (String item : g) {
                    if (item.startsWith(tag)) {
                        fromTag.add(item);
                    }
                }
                List<String> sorted = new ArrayList<>(fromTag);
                Collections.sort(sorted);
                eq(sorted, fromTag, "a consumer's items from " + tag + " in put order");
            }
        }
        eq(2 * perProducer, all.size(), "items consumed (each once)");
        eq(2 * perProducer, new HashSet<>(all).size(), "distinct items consumed");
        for (DistributedQueue<String> q : consumers) {
            q.close();
        }
    }

    // ------------------------------------------------------------------ PersistentNode

    static void persistentNodeDelete() throws Exception {
        String p = root + "/pnode/persistent";
        CuratorFramework c = client();
        CuratorFramework other = client();
        PersistentNode node = new PersistentNode(c, CreateMode.PERSISTENT, false, p, b("v1"));
        node.start();
        ok(node.waitForInitialCreate(WAIT_S, TimeUnit.SECONDS), "initial create");
        eq(b("v1"), other.getData().forPath(p), "data");
        for (int round = 0; round < 3; round++) {
            Stat before = other.checkExists().forPath(p);
            other.delete().forPath(p);
            waitFor("re-created after delete #" + round, quiet(() -> {
                Stat st = other.checkExists().forPath(p);
                return st != null && st.getCzxid() > before.getCzxid();
            }));
            eq(b("v1"), other.getData().forPath(p), "data of the re-created node");
        }
        node.setData(b("v2"));
        waitFor("setData visible", quiet(() -> s(other.getData().forPath(p)).equals("v2")));
        other.delete().forPath(p);
        waitFor("re-created with the new data", quiet(() -> s(other.getData().forPath(p)).equals("v2")));
        node.close();
        waitFor("closing removes the node", quiet(() -> other.checkExists().forPath(p) == null));
    }

    static void persistentNodeSessionLoss() throws Exception {
        String p = root + "/pnode/ephemeral";
        CuratorFramework direct = client();
        CuratorFramework cut = client(proxy, SHORT_SESSION_MS);
        PersistentNode node = new PersistentNode(cut, CreateMode.EPHEMERAL, false, p, b("eph"));
        node.start();
        ok(node.waitForInitialCreate(WAIT_S, TimeUnit.SECONDS), "initial create");
        long firstSession = sessionId(cut);
        eq(firstSession, direct.checkExists().forPath(p).getEphemeralOwner(), "owner");

        // deleted by someone else: re-created by the same session
        direct.delete().forPath(p);
        waitFor("re-created after delete", quiet(() -> direct.checkExists().forPath(p) != null));
        eq(firstSession, direct.checkExists().forPath(p).getEphemeralOwner(), "owner after re-create");

        // the owning session expires: the node goes, and comes back under the new session
        expireProxiedSession(direct, p, firstSession);
        waitFor("re-created under a new session", quiet(() -> {
            Stat st = direct.checkExists().forPath(p);
            return st != null && st.getEphemeralOwner() != firstSession;
        }));
        long owner = direct.checkExists().forPath(p).getEphemeralOwner();
        eq(sessionId(cut), owner, "the node belongs to the client's new session");
        eq(b("eph"), direct.getData().forPath(p), "data after the session loss");
        node.close();
        waitFor("closing removes the node", quiet(() -> direct.checkExists().forPath(p) == null));
    }

    // ------------------------------------------------------------------ transactions

    static void transactionSuccess() throws Exception {
        String p = root + "/txn1";
        CuratorFramework c = client();
        CuratorFramework other = client();
        c.create().forPath(p, b("0"));
        c.create().forPath(p + "/old", b("x"));
        List<CuratorTransactionResult> res = c.transaction().forOperations(
                c.transactionOp().create().forPath(p + "/a", b("a")),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/seq-", b("s")),
                c.transactionOp().setData().forPath(p, b("1")),
                c.transactionOp().check().withVersion(1).forPath(p),
                c.transactionOp().delete().forPath(p + "/old"));
        eq(5, res.size(), "results");
        eq(OperationType.CREATE, res.get(0).getType(), "result 0 type");
        eq(p + "/a", res.get(0).getForPath(), "result 0 path");
        eq(p + "/a", res.get(0).getResultPath(), "result 0 created path");
        ok(res.get(1).getResultPath().matches(java.util.regex.Pattern.quote(p + "/seq-") + "\\d{10}"),
                "sequential result path " + res.get(1).getResultPath());
        eq(OperationType.SET_DATA, res.get(2).getType(), "result 2 type");
        eq(1, res.get(2).getResultStat().getVersion(), "setData result version");
        eq(OperationType.CHECK, res.get(3).getType(), "result 3 type");
        eq(OperationType.DELETE, res.get(4).getType(), "result 4 type");
        for (CuratorTransactionResult r : res) {
            eq(0, r.getError(), "error code of " + r.getType());
        }
        // every change is visible to another session, all with one zxid
        Stat a = other.checkExists().forPath(p + "/a");
        Stat top = other.checkExists().forPath(p);
        eq(a.getCzxid(), top.getMzxid(), "one zxid for the whole transaction");
        eq(b("1"), other.getData().forPath(p), "data");
        eq(null, other.checkExists().forPath(p + "/old"), "deleted node");
        eq(Set.of("a", res.get(1).getResultPath().substring(p.length() + 1)),
                new HashSet<>(other.getChildren().forPath(p)), "children");
    }

    static void transactionFailure() throws Exception {
        String p = root + "/txn2";
        CuratorFramework c = client();
        CuratorFramework other = client();
        c.create().forPath(p, b("0"));
        Stat before = other.checkExists().forPath(p);
        try {
            c.transaction().forOperations(
                    c.transactionOp().create().forPath(p + "/a", b("a")),
                    c.transactionOp().setData().forPath(p, b("1")),
                    c.transactionOp().check().withVersion(7).forPath(p),
                    c.transactionOp().create().forPath(p + "/b", b("b")));
            throw new AssertionError("transaction with a wrong version succeeded");
        } catch (KeeperException.BadVersionException e) {
            List<OpResult> results = e.getResults();
            ok(results != null && results.size() == 4, "per-op results " + results);
            int[] codes = new int[4];
            for (int i = 0; i < 4; i++) {
                codes[i] = ((OpResult.ErrorResult) results.get(i)).getErr();
            }
            eq(Arrays.toString(new int[] {0, 0, KeeperException.Code.BADVERSION.intValue(),
                    KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()}), Arrays.toString(codes),
                    "per-op error codes");
        }
        // nothing happened
        eq(null, other.checkExists().forPath(p + "/a"), "create rolled back");
        eq(b("0"), other.getData().forPath(p), "setData rolled back");
        eq(before, other.checkExists().forPath(p), "stat unchanged");
        // a failing create (node exists) fails the whole transaction too
        c.create().forPath(p + "/exists");
        try {
            c.transaction().forOperations(
                    c.transactionOp().delete().forPath(p + "/exists"),
                    c.transactionOp().create().forPath(p + "/exists/child/deep"));
            throw new AssertionError("transaction with a create under a missing parent succeeded");
        } catch (KeeperException.NoNodeException e) {
            // expected
        }
        ok(other.checkExists().forPath(p + "/exists") != null, "delete rolled back");
    }

    // ------------------------------------------------------------------ namespaces

    static void namespace() throws Exception {
        String ns = root.substring(1) + "/ns";
        CuratorFramework plain = client();
        CuratorFramework base = client();
        CuratorFramework nc = base.usingNamespace(ns);
        eq(ns, nc.getNamespace(), "namespace");
        nc.create().creatingParentsIfNeeded().forPath("/a/b", b("ab"));
        eq(b("ab"), plain.getData().forPath("/" + ns + "/a/b"), "the node lands under the namespace");
        eq(null, plain.checkExists().forPath("/a"), "nothing at the un-namespaced path");
        eq(List.of("a"), nc.getChildren().forPath("/"), "children of the namespace root");
        String seq = nc.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/a/s-", b(""));
        ok(seq.matches("/a/s-\\d{10}"), "created path without the namespace: " + seq);
        ok(plain.checkExists().forPath("/" + ns + seq) != null, "sequential node under the namespace");

        // a watch through the namespaced client reports un-namespaced paths
        BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
        nc.checkExists().usingWatcher((org.apache.zookeeper.Watcher) events::add).forPath("/a/w");
        plain.create().forPath("/" + ns + "/a/w", b("w"));
        WatchedEvent ev = events.poll(WAIT_S, TimeUnit.SECONDS);
        ok(ev != null, "watch event");
        eq("NodeCreated /a/w", ev.getType() + " " + ev.getPath(), "event under the namespace");

        // a transaction through the namespaced client
        List<CuratorTransactionResult> res = nc.transaction().forOperations(
                nc.transactionOp().create().forPath("/t", b("t")),
                nc.transactionOp().setData().forPath("/a/b", b("ab2")));
        eq("/t", res.get(0).getForPath(), "transaction result path");
        eq(b("t"), plain.getData().forPath("/" + ns + "/t"), "transaction create under the namespace");
        eq(b("ab2"), plain.getData().forPath("/" + ns + "/a/b"), "transaction setData under the namespace");

        // a recipe through a namespace: its nodes live under the namespace, and two
        // clients with the same namespace exclude each other
        CuratorFramework nc2 = client().usingNamespace(ns);
        InterProcessMutex m1 = new InterProcessMutex(nc, "/lock");
        InterProcessMutex m2 = new InterProcessMutex(nc2, "/lock");
        ok(m1.acquire(WAIT_S, TimeUnit.SECONDS), "mutex through the namespace");
        eq(1, plain.getChildren().forPath("/" + ns + "/lock").size(), "lock node under the namespace");
        ok(!m2.acquire(300, TimeUnit.MILLISECONDS), "second holder through the same namespace");
        m1.release();
        ok(m2.acquire(WAIT_S, TimeUnit.SECONDS), "mutex after release");
        m2.release();

        // a different namespace is a different tree
        CuratorFramework other = base.usingNamespace(ns + "2");
        eq(null, other.checkExists().forPath("/a"), "other namespace is empty");
        nc.delete().deletingChildrenIfNeeded().forPath("/a");
        eq(null, plain.checkExists().forPath("/" + ns + "/a"), "recursive delete under the namespace");
        Collection<String> left = plain.getChildren().forPath("/" + ns);
        eq(new HashSet<>(List.of("t", "lock")), new HashSet<>(left), "namespace root children");
    }

    private MoreRecipes() {
    }
}
