import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.data.Stat;

/** Curator 5 (Debian's libcurator-*-java) recipes against the server under test. */
final class CuratorChecks {
    private static final List<CuratorFramework> clients = new ArrayList<>();

    static CuratorFramework client() throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(CompatMain.server)
                .sessionTimeoutMs(15000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 2000))
                .build();
        clients.add(c);
        c.start();
        CompatMain.ok(c.blockUntilConnected(15, TimeUnit.SECONDS), "Curator connected");
        return c;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void waitFor(String what, java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CompatMain.WAIT_S);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    static void runThreads(List<Runnable> work) throws Exception {
        TestKit.runThreads(work, 60);
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

    @SuppressWarnings("deprecation")
    static void run() {
        String root = CompatMain.root;

        CompatMain.check("curator basics and transaction", () -> {
            CuratorFramework c = client();
            String p = root + "/basics/deep/node";
            c.create().creatingParentContainersIfNeeded().forPath(p, b("v"));
            CompatMain.eq(b("v"), c.getData().forPath(p), "data");
            Stat st = c.checkExists().forPath(root + "/basics");
            CompatMain.eq(0L, st.getEphemeralOwner(), "parent container owner");
            String e = c.create().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                    .forPath(root + "/basics/prot-", b(""));
            CompatMain.ok(e.contains("_c_") && e.matches(".*prot-\\d{10}$"), "protected name " + e);
            List<CuratorTransactionResult> res = c.transaction().forOperations(
                    c.transactionOp().create().forPath(root + "/basics/t1", b("1")),
                    c.transactionOp().setData().forPath(p, b("w")),
                    c.transactionOp().check().withVersion(1).forPath(p));
            CompatMain.eq(3, res.size(), "transaction results");
            CompatMain.eq(b("w"), c.getData().forPath(p), "data after transaction");
            c.delete().deletingChildrenIfNeeded().forPath(root + "/basics");
            CompatMain.ok(c.checkExists().forPath(root + "/basics") == null, "deleted");
        });

        CompatMain.check("LeaderLatch", () -> {
            String p = root + "/latch";
            List<LeaderLatch> latches = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                LeaderLatch l = new LeaderLatch(client(), p, "l" + i);
                l.start();
                latches.add(l);
            }
            waitFor("one leader", () -> latches.stream().filter(LeaderLatch::hasLeadership).count() == 1);
            Thread.sleep(300);
            CompatMain.eq(1L, latches.stream().filter(LeaderLatch::hasLeadership).count(), "exactly one leader");
            LeaderLatch leader = latches.stream().filter(LeaderLatch::hasLeadership).findFirst().get();
            CompatMain.eq(leader.getId(), latches.get(0).getLeader().getId(), "everyone agrees on the leader");
            CompatMain.eq(3, leader.getParticipants().size(), "participants");
            leader.close();
            latches.remove(leader);
            waitFor("a new leader", () -> latches.stream().filter(LeaderLatch::hasLeadership).count() == 1);
            for (LeaderLatch l : latches) {
                l.close();
            }
        });

        CompatMain.check("InterProcessMutex contention", () -> {
            String p = root + "/mutex";
            AtomicInteger inside = new AtomicInteger();
            AtomicInteger maxInside = new AtomicInteger();
            AtomicInteger done = new AtomicInteger();
            int rounds = 5;
            List<Runnable> work = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                CuratorFramework c = client();
                for (int t = 0; t < 2; t++) {
                    work.add(unchecked(() -> {
                        InterProcessMutex m = new InterProcessMutex(c, p);
                        for (int r = 0; r < rounds; r++) {
                            CompatMain.ok(m.acquire(30, TimeUnit.SECONDS), "acquired");
                            CompatMain.ok(m.acquire(1, TimeUnit.SECONDS), "re-entrant acquire");
                            try {
                                int now = inside.incrementAndGet();
                                maxInside.accumulateAndGet(now, Math::max);
                                Thread.sleep(5);
                                inside.decrementAndGet();
                                done.incrementAndGet();
                            } finally {
                                m.release();
                                m.release();
                            }
                        }
                    }));
                }
            }
            runThreads(work);
            CompatMain.eq(1, maxInside.get(), "holders at once");
            CompatMain.eq(6 * rounds, done.get(), "critical sections");
        });

        CompatMain.check("DistributedAtomicLong", () -> {
            String p = root + "/along";
            int per = 10;
            List<Runnable> work = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                CuratorFramework c = client();
                for (int t = 0; t < 2; t++) {
                    work.add(unchecked(() -> {
                        DistributedAtomicLong v = new DistributedAtomicLong(c, p, new RetryNTimes(200, 5));
                        for (int r = 0; r < per; r++) {
                            AtomicValue<Long> res = v.increment();
                            CompatMain.ok(res.succeeded(), "increment succeeded");
                        }
                    }));
                }
            }
            runThreads(work);
            DistributedAtomicLong v = new DistributedAtomicLong(client(), p, new RetryNTimes(3, 10));
            CompatMain.eq((long) (6 * per), v.get().postValue(), "final value");
        });

        CompatMain.check("SharedCount", () -> {
            String p = root + "/shared";
            SharedCount a = new SharedCount(client(), p, 0);
            SharedCount b = new SharedCount(client(), p, 0);
            BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
            b.addListener(new SharedCountListener() {
                @Override
                public void countHasChanged(SharedCountReader r, int newCount) {
                    seen.add(newCount);
                }

                @Override
                public void stateChanged(CuratorFramework c, ConnectionState s) {
                }
            });
            a.start();
            b.start();
            VersionedValue<Integer> vv = a.getVersionedValue();
            CompatMain.ok(a.trySetCount(vv, 7), "first trySetCount");
            CompatMain.ok(!a.trySetCount(vv, 8), "stale version refused");
            Integer got = seen.poll(CompatMain.WAIT_S, TimeUnit.SECONDS);
            CompatMain.eq(7, got, "listener saw the new count");
            waitFor("b sees 7", () -> b.getCount() == 7);
            a.close();
            b.close();
        });

        CompatMain.check("CuratorCache", () -> {
            String p = root + "/cache";
            CuratorFramework c = client();
            CuratorFramework w = client();
            c.create().forPath(p, b("top"));
            c.create().forPath(p + "/pre", b("0"));
            List<String> events = new CopyOnWriteArrayList<>();
            CuratorCache cache = CuratorCache.build(c, p);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(n -> events.add("create " + n.getPath() + " " + new String(n.getData(), StandardCharsets.UTF_8)))
                    .forChanges((o, n) -> events.add("change " + n.getPath() + " " + new String(n.getData(), StandardCharsets.UTF_8)))
                    .forDeletes(o -> events.add("delete " + o.getPath()))
                    .build());
            cache.start();
            waitFor("initial nodes " + events, () -> events.size() >= 2);
            // one change at a time: the cache reads a node after its event, so a node that
            // is already gone again would (rightly) never show up
            String[][] steps = {
                {"create " + p + "/a 1"}, {"create " + p + "/a/b 2"}, {"change " + p + "/a 3"},
                {"delete " + p + "/a/b"}};
            w.create().forPath(p + "/a", b("1"));
            waitFor(steps[0][0] + " in " + events, () -> events.contains(steps[0][0]));
            w.create().forPath(p + "/a/b", b("2"));
            waitFor(steps[1][0] + " in " + events, () -> events.contains(steps[1][0]));
            w.setData().forPath(p + "/a", b("3"));
            waitFor(steps[2][0] + " in " + events, () -> events.contains(steps[2][0]));
            w.delete().forPath(p + "/a/b");
            waitFor(steps[3][0] + " in " + events, () -> events.contains(steps[3][0]));
            List<String> expected = List.of("create " + p + " top", "create " + p + "/pre 0",
                    "create " + p + "/a 1", "create " + p + "/a/b 2", "change " + p + "/a 3",
                    "delete " + p + "/a/b");
            CompatMain.eq(new HashSet<>(expected), new HashSet<>(events), "cache events");
            CompatMain.eq(b("3"), cache.get(p + "/a").get().getData(), "cached data");
            cache.close();
        });

        CompatMain.check("PathChildrenCache", () -> {
            String p = root + "/pcc";
            CuratorFramework c = client();
            CuratorFramework w = client();
            c.create().forPath(p);
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            @SuppressWarnings("deprecation")
            PathChildrenCache cache = new PathChildrenCache(c, p, true);
            cache.getListenable().addListener((cl, ev) -> {
                if (ev.getData() != null) {
                    events.add(ev.getType() + " " + ev.getData().getPath() + " "
                            + new String(ev.getData().getData(), StandardCharsets.UTF_8));
                } else if (ev.getType() != PathChildrenCacheEvent.Type.CONNECTION_RECONNECTED) {
                    events.add(ev.getType().toString());
                }
            });
            cache.start(PathChildrenCache.StartMode.POST_INITIALIZED_EVENT);
            CompatMain.eq("INITIALIZED", events.poll(CompatMain.WAIT_S, TimeUnit.SECONDS), "first event");
            w.create().forPath(p + "/x", b("1"));
            CompatMain.eq("CHILD_ADDED " + p + "/x 1", events.poll(CompatMain.WAIT_S, TimeUnit.SECONDS), "add");
            w.setData().forPath(p + "/x", b("2"));
            CompatMain.eq("CHILD_UPDATED " + p + "/x 2", events.poll(CompatMain.WAIT_S, TimeUnit.SECONDS), "update");
            w.delete().forPath(p + "/x");
            CompatMain.eq("CHILD_REMOVED " + p + "/x 2", events.poll(CompatMain.WAIT_S, TimeUnit.SECONDS), "remove");
            cache.close();
        });

        for (CuratorFramework c : clients) {
            try {
                c.close();
            } catch (Exception e) {
                // best effort
            }
        }
    }

    private CuratorChecks() {
    }
}
