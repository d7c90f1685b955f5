import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

/**
 * The Java client (Debian's zookeeper 3.8 jars) against the server under test.
 *
 * <pre>
 * java CompatMain GROUP SERVER_HOSTPORT [PROXY_HOSTPORT PROXY_CONTROL_PORT]
 * GROUP: core | watches | reconnect | curator
 * </pre>
 *
 * Prints PASS/FAIL per check and exits 1 if any check failed (2 on bad usage).
 */
public final class CompatMain extends TestKit {
    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;
    static final long WAIT_S = 15;

    static String server;
    static String proxy;
    static int proxyControlPort;
    static String root;

    private static final List<ZooKeeper> opened = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: CompatMain core|watches|reconnect|curator HOST:PORT [PROXY:PORT CONTROL_PORT]");
            System.exit(2);
        }
        String group = args[0];
        server = args[1];
        if (args.length >= 4) {
            proxy = args[2];
            proxyControlPort = Integer.parseInt(args[3]);
        }
        root = "/java-" + group + "-" + Long.toHexString(System.nanoTime());
        ZooKeeper admin = connect(server, 10000);
        admin.create(root, new byte[0], OPEN, CreateMode.PERSISTENT);
        switch (group) {
            case "core":
                CoreChecks.run(admin);
                break;
            case "watches":
                WatchChecks.run(admin);
                break;
            case "reconnect":
                if (proxy == null) {
                    System.err.println("reconnect needs PROXY:PORT CONTROL_PORT");
                    System.exit(2);
                }
                ReconnectChecks.run(admin);
                break;
            case "curator":
                CuratorChecks.run();
                break;
            default:
                System.err.println("unknown group " + group);
                System.exit(2);
        }
        for (ZooKeeper zk : opened) {
            try {
                zk.close(5000);
            } catch (Exception e) {
                // closing is best effort
            }
        }
        finish(group);
    }


    static <T extends KeeperException> T expectError(Class<T> type, Check c) throws Exception {
        try {
            c.run();
        } catch (KeeperException e) {
            if (type.isInstance(e)) {
                return type.cast(e);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + e, e);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", got success");
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** A connected client; its default watcher puts every event on the returned queue. */
    static ZooKeeper connect(String hosts, int timeoutMs) throws Exception {
        return connect(hosts, timeoutMs, new LinkedBlockingQueue<>());
    }

    static ZooKeeper connect(String hosts, int timeoutMs, BlockingQueue<WatchedEvent> events)
            throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, timeoutMs, ev -> {
            if (ev.getType() == EventType.None && ev.getState() == KeeperState.SyncConnected) {
                connected.countDown();
            }
            events.add(ev);
        });
        opened.add(zk);
        if (!connected.await(WAIT_S, TimeUnit.SECONDS)) {
            zk.close(1000);
            throw new AssertionError("could not connect to " + hosts + " within " + WAIT_S + "s");
        }
        return zk;
    }

    static WatchedEvent next(BlockingQueue<WatchedEvent> q, String what) throws InterruptedException {
        WatchedEvent ev = q.poll(WAIT_S, TimeUnit.SECONDS);
        if (ev == null) {
            throw new AssertionError("no event within " + WAIT_S + "s: expected " + what);
        }
        return ev;
    }

    /** Skips connection-state events and returns the next node event. */
    static WatchedEvent nextNodeEvent(BlockingQueue<WatchedEvent> q, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (true) {
            long left = deadline - System.nanoTime();
            WatchedEvent ev = q.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (ev == null) {
                throw new AssertionError("no event within " + WAIT_S + "s: expected " + what);
            }
            if (ev.getType() != EventType.None) {
                return ev;
            }
        }
    }

    static void expectEvent(BlockingQueue<WatchedEvent> q, EventType type, String path) throws InterruptedException {
        WatchedEvent ev = nextNodeEvent(q, type + " " + path);
        eq(type + " " + path, ev.getType() + " " + ev.getPath(), "watch event");
    }

    static void expectNoEvent(BlockingQueue<WatchedEvent> q, long ms) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            WatchedEvent ev = q.poll(left, TimeUnit.NANOSECONDS);
            if (ev == null) {
                return;
            }
            if (ev.getType() != EventType.None) {
                throw new AssertionError("unexpected event " + ev);
            }
        }
    }

    static void waitState(BlockingQueue<WatchedEvent> q, KeeperState state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        List<String> seen = new ArrayList<>();
        while (true) {
            long left = deadline - System.nanoTime();
            WatchedEvent ev = q.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (ev == null) {
                throw new AssertionError("client did not reach state " + state + " within " + WAIT_S
                        + "s; events seen: " + seen);
            }
            seen.add(ev.getState() + "/" + ev.getType());
            if (ev.getType() == EventType.None && ev.getState() == state) {
                return;
            }
        }
    }

    /** Sends a command to the test's TCP proxy (drop, refuse, accept, drop-refuse). */
    static void proxyControl(String cmd) throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxyControlPort)) {
            s.setSoTimeout(10000);
            OutputStream out = s.getOutputStream();
            out.write(b(cmd + "\n"));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String line = in.readLine();
            eq("ok", line, "proxy answer to " + cmd);
        }
    }

    static Set<String> set(String... items) {
        return new HashSet<>(Arrays.asList(items));
    }

    static Set<String> set(List<String> items) {
        return new HashSet<>(items);
    }

    // ------------------------------------------------------------------ core

    static final class CoreChecks {
        static void run(ZooKeeper zk) {
            check("session timeout negotiation", () -> {
                eq(4000, connect(server, 1000).getSessionTimeout(), "timeout 1000 -> min");
                eq(10001, connect(server, 10001).getSessionTimeout(), "timeout 10001");
                eq(40000, connect(server, 1000000).getSessionTimeout(), "timeout 1e6 -> max");
                ok(zk.getSessionId() != 0, "session id is not 0");
                eq(16, zk.getSessionPasswd().length, "password length");
            });

            check("create all modes", () -> {
                String p = root + "/modes";
                zk.create(p, new byte[0], OPEN, CreateMode.PERSISTENT);
                Stat st = new Stat();
                eq(p + "/persistent", zk.create(p + "/persistent", b("a"), OPEN, CreateMode.PERSISTENT, st), "path");
                eq(0L, st.getEphemeralOwner(), "persistent owner");
                eq(1, st.getDataLength(), "dataLength");

                eq(p + "/eph", zk.create(p + "/eph", b("e"), OPEN, CreateMode.EPHEMERAL, st), "path");
                eq(zk.getSessionId(), st.getEphemeralOwner(), "ephemeral owner");

                eq(p + "/ps0000000002", zk.create(p + "/ps", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "seq path");
                eq(p + "/es0000000003", zk.create(p + "/es", b(""), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL, st), "eph seq path");
                eq(zk.getSessionId(), st.getEphemeralOwner(), "ephemeral seq owner");

                zk.create(p + "/container", b("c"), OPEN, CreateMode.CONTAINER, st);
                eq(0L, st.getEphemeralOwner(), "container shows owner 0");

                zk.create(p + "/ttl", b("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 3600_000L);
                eq(0L, st.getEphemeralOwner(), "TTL node shows owner 0");
                String ttlSeq = zk.create(p + "/ttlseq", b("t"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 3600_000L);
                eq(p + "/ttlseq0000000006", ttlSeq, "TTL sequential path");

                expectError(KeeperException.NoChildrenForEphemeralsException.class,
                        () -> zk.create(p + "/eph/kid", b(""), OPEN, CreateMode.PERSISTENT));
                // containers and TTL nodes may have children
                zk.create(p + "/container/kid", b(""), OPEN, CreateMode.PERSISTENT);
                zk.create(p + "/ttl/kid", b(""), OPEN, CreateMode.PERSISTENT);

                Stat parent = zk.exists(p, false);
                eq(7, parent.getNumChildren(), "numChildren");
                eq(7, parent.getCversion(), "cversion");
                eq(7, zk.getChildren(p, false).size(), "children");
            });

            check("null data versus empty data", () -> {
                String p = root + "/nulls";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                Stat st = new Stat();
                eq(null, zk.getData(p, false, st), "null data stays null");
                eq(0, st.getDataLength(), "dataLength of null");
                zk.setData(p, new byte[0], -1);
                eq(0, zk.getData(p, false, st).length, "empty data stays empty");
                zk.setData(p, null, -1);
                eq(null, zk.getData(p, false, null), "set null");
                eq(0, zk.getData("/", false, null).length, "root data is empty, not null");
            });

            check("stat bookkeeping", () -> {
                String p = root + "/stat";
                Stat c = new Stat();
                zk.create(p, b("12345"), OPEN, CreateMode.PERSISTENT, c);
                eq(c.getCzxid(), c.getMzxid(), "mzxid = czxid");
                eq(c.getCzxid(), c.getPzxid(), "pzxid = czxid");
                eq(c.getCtime(), c.getMtime(), "mtime = ctime");
                ok(Math.abs(System.currentTimeMillis() - c.getCtime()) < 60_000, "ctime is wall clock ms");
                Stat s = zk.setData(p, b("abc"), 0);
                eq(1, s.getVersion(), "version");
                eq(3, s.getDataLength(), "dataLength");
                eq(c.getCzxid(), s.getCzxid(), "czxid kept");
                ok(s.getMzxid() > c.getMzxid(), "mzxid advanced");
                Stat kid = new Stat();
                zk.create(p + "/k", null, OPEN, CreateMode.PERSISTENT, kid);
                Stat after = zk.exists(p, false);
                eq(kid.getCzxid(), after.getPzxid(), "pzxid = child czxid");
                eq(1, after.getCversion(), "cversion");
                eq(s.getMzxid(), after.getMzxid(), "parent mzxid untouched");
                Stat acl = zk.setACL(p, OPEN, 0);
                eq(1, acl.getAversion(), "aversion");
                eq(1, acl.getVersion(), "version untouched by setACL");
                expectError(KeeperException.BadVersionException.class, () -> zk.setACL(p, OPEN, 0));
            });

            check("errors", () -> {
                String p = root + "/err";
                zk.create(p, b("x"), OPEN, CreateMode.PERSISTENT);
                expectError(KeeperException.NoNodeException.class, () -> zk.getData(p + "/no", false, null));
                expectError(KeeperException.NoNodeException.class, () -> zk.create(p + "/no/kid", null, OPEN, CreateMode.PERSISTENT));
                expectError(KeeperException.NodeExistsException.class, () -> zk.create(p, null, OPEN, CreateMode.PERSISTENT));
                expectError(KeeperException.BadVersionException.class, () -> zk.setData(p, null, 42));
                zk.create(p + "/kid", null, OPEN, CreateMode.PERSISTENT);
                expectError(KeeperException.NotEmptyException.class, () -> zk.delete(p, -1));
                expectError(KeeperException.BadVersionException.class, () -> zk.delete(p, 42));
                expectError(KeeperException.BadArgumentsException.class, () -> zk.delete("/zookeeper", -1));
                expectError(KeeperException.InvalidACLException.class,
                        () -> zk.create(p + "/acl", null, Collections.emptyList(), CreateMode.PERSISTENT));
                expectError(KeeperException.NoNodeException.class, () -> zk.getAllChildrenNumber(p + "/no"));
                ok(zk.exists(p + "/no", false) == null, "exists on missing is null");
            });

            check("getChildren2 stat", () -> {
                String p = root + "/gc2";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                for (String n : new String[] {"a", "b", "c"}) {
                    zk.create(p + "/" + n, null, OPEN, CreateMode.PERSISTENT);
                }
                Stat st = new Stat();
                List<String> kids = zk.getChildren(p, false, st);
                eq(set("a", "b", "c"), set(kids), "children");
                eq(3, st.getNumChildren(), "numChildren");
                eq(3, st.getCversion(), "cversion");
                eq(zk.exists(p, false), st, "stat of the parent");
            });

            check("getEphemerals and getAllChildrenNumber", () -> {
                String p = root + "/ephs";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                zk.create(p + "/e1", null, OPEN, CreateMode.EPHEMERAL);
                zk.create(p + "/sub", null, OPEN, CreateMode.PERSISTENT);
                zk.create(p + "/sub/e2", null, OPEN, CreateMode.EPHEMERAL);
                zk.create(p + "/sub/p", null, OPEN, CreateMode.PERSISTENT);
                ZooKeeper other = connect(server, 10000);
                other.create(p + "/theirs", null, OPEN, CreateMode.EPHEMERAL);
                eq(set(p + "/e1", p + "/sub/e2"), set(zk.getEphemerals(p)), "own ephemerals under prefix");
                eq(set(p + "/sub/e2"), set(zk.getEphemerals(p + "/sub")), "prefix /sub");
                ok(set(zk.getEphemerals()).containsAll(set(p + "/e1", p + "/sub/e2")), "all own ephemerals");
                ok(!zk.getEphemerals().contains(p + "/theirs"), "not another session's");
                eq(set(p + "/theirs"), set(other.getEphemerals()), "other's ephemerals");
                eq(5, zk.getAllChildrenNumber(p), "all descendants");
                eq(2, zk.getAllChildrenNumber(p + "/sub"), "descendants of /sub");
                eq(0, zk.getAllChildrenNumber(p + "/e1"), "leaf");
            });

            check("whoAmI", () -> {
                ZooKeeper c = connect(server, 10000);
                List<ClientInfo> before = c.whoAmI();
                eq(1, before.size(), "one identity before auth: " + before);
                eq("ip", before.get(0).getAuthScheme(), "scheme");
                eq("127.0.0.1", before.get(0).getUser(), "user");
                c.addAuthInfo("digest", b("carol:pw"));
                Set<String> ids = new HashSet<>();
                for (ClientInfo ci : c.whoAmI()) {
                    ids.add(ci.getAuthScheme() + ":" + ci.getUser());
                }
                eq(set("ip:127.0.0.1", "digest:carol"), ids, "identities after addauth");
            });

            check("multi success and failure", () -> {
                String p = root + "/multi";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                zk.create(p + "/old", b("o"), OPEN, CreateMode.PERSISTENT);
                List<OpResult> res = zk.multi(Arrays.asList(
                        Op.create(p + "/a", b("a"), OPEN, CreateMode.PERSISTENT),
                        Op.create(p + "/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                        Op.setData(p + "/old", b("o2"), 0),
                        Op.check(p + "/old", 1),
                        Op.delete(p + "/old", 1)));
                eq(5, res.size(), "results");
                eq(p + "/a", ((OpResult.CreateResult) res.get(0)).getPath(), "create result");
                eq(p + "/s-0000000002", ((OpResult.CreateResult) res.get(1)).getPath(), "sequential in multi");
                eq(1, ((OpResult.SetDataResult) res.get(2)).getStat().getVersion(), "setData result");
                ok(res.get(3) instanceof OpResult.CheckResult, "check result");
                ok(res.get(4) instanceof OpResult.DeleteResult, "delete result");
                ok(zk.exists(p + "/old", false) == null, "deleted in multi");
                long z = zk.exists(p + "/a", false).getCzxid();
                eq(z, zk.exists(p + "/s-0000000002", false).getCzxid(), "one zxid for the multi");

                try {
                    zk.multi(Arrays.asList(
                            Op.create(p + "/b", null, OPEN, CreateMode.PERSISTENT),
                            Op.create(p + "/a", null, OPEN, CreateMode.PERSISTENT),
                            Op.delete(p + "/a", -1)));
                    throw new AssertionError("failed multi did not throw");
                } catch (KeeperException.NodeExistsException e) {
                    List<OpResult> r = e.getResults();
                    eq(3, r.size(), "results of failed multi");
                    int[] codes = new int[3];
                    for (int i = 0; i < 3; i++) {
                        ok(r.get(i) instanceof OpResult.ErrorResult, "error result " + i + ": " + r.get(i));
                        codes[i] = ((OpResult.ErrorResult) r.get(i)).getErr();
                    }
                    eq("[0, -110, -2]", Arrays.toString(codes), "error codes");
                }
                ok(zk.exists(p + "/b", false) == null, "rolled back");

                // containers and TTL inside multi
                List<OpResult> r2 = zk.multi(Arrays.asList(
                        Op.create(p + "/cont", null, OPEN, CreateMode.CONTAINER),
                        Op.create(p + "/ttl", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 60_000L)));
                eq(p + "/cont", ((OpResult.CreateResult) r2.get(0)).getPath(), "container in multi");
                eq(p + "/ttl", ((OpResult.CreateResult) r2.get(1)).getPath(), "ttl in multi");
                eq(0L, zk.exists(p + "/cont", false).getEphemeralOwner(), "container owner");
            });

            check("multiRead partial results", () -> {
                String p = root + "/mread";
                zk.create(p, b("top"), OPEN, CreateMode.PERSISTENT);
                zk.create(p + "/k", null, OPEN, CreateMode.PERSISTENT);
                List<OpResult> r = zk.multi(Arrays.asList(
                        Op.getData(p), Op.getChildren(p), Op.getData(p + "/missing")));
                eq(3, r.size(), "results");
                eq(b("top"), ((OpResult.GetDataResult) r.get(0)).getData(), "getData result");
                eq(Collections.singletonList("k"), ((OpResult.GetChildrenResult) r.get(1)).getChildren(), "getChildren result");
                eq(-101, ((OpResult.ErrorResult) r.get(2)).getErr(), "missing node in multiRead");
            });

            check("sync and getConfig", () -> {
                CountDownLatch done = new CountDownLatch(1);
                String[] got = new String[1];
                int[] rcs = new int[1];
                zk.sync(root, (rc, path, ctx) -> {
                    rcs[0] = rc;
                    got[0] = path;
                    done.countDown();
                }, null);
                ok(done.await(WAIT_S, TimeUnit.SECONDS), "sync answered");
                eq(0, rcs[0], "sync rc");
                eq(root, got[0], "sync echoes the path");
                Stat st = new Stat();
                byte[] cfg = zk.getConfig(false, st);
                eq(0, cfg.length, "standalone /zookeeper/config is empty");
                eq(-1, st.getAversion(), "/zookeeper/config aversion");
            });

            check("event before the reply of the write that caused it", () -> {
                String p = root + "/order";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                for (int i = 0; i < 20; i++) {
                    BlockingQueue<String> log = new LinkedBlockingQueue<>();
                    Watcher w = ev -> log.add("event " + ev.getType());
                    zk.getData(p, w, null);
                    zk.exists(p + "/c" + i, w);
                    CountDownLatch replies = new CountDownLatch(2);
                    zk.setData(p, b("v" + i), -1, (rc, path, ctx, stat) -> {
                        log.add("reply setData " + rc);
                        replies.countDown();
                    }, null);
                    zk.create(p + "/c" + i, null, OPEN, CreateMode.PERSISTENT, (rc, path, ctx, name) -> {
                        log.add("reply create " + rc);
                        replies.countDown();
                    }, null);
                    ok(replies.await(WAIT_S, TimeUnit.SECONDS), "replies arrived");
                    eq(Arrays.asList("event NodeDataChanged", "reply setData 0", "event NodeCreated", "reply create 0"),
                            new ArrayList<>(log), "order seen by the client");
                }
            });
        }
    }

    // ------------------------------------------------------------------ watches

    static final class WatchChecks {
        static void run(ZooKeeper zk) {
            check("one-shot watches", () -> {
                String p = root + "/oneshot";
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                Watcher w = q::add;
                ZooKeeper writer = connect(server, 10000);
                ok(zk.exists(p, w) == null, "missing");
                writer.create(p, null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p);
                zk.getData(p, w, null);
                writer.setData(p, b("1"), -1);
                expectEvent(q, EventType.NodeDataChanged, p);
                writer.setData(p, b("2"), -1);
                expectNoEvent(q, 300);
                zk.getChildren(p, w);
                writer.create(p + "/k", null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeChildrenChanged, p);
                zk.getData(p + "/k", w, null);
                zk.getChildren(p, w);
                writer.delete(p + "/k", -1);
                expectEvent(q, EventType.NodeDeleted, p + "/k");
                expectEvent(q, EventType.NodeChildrenChanged, p);
                expectError(KeeperException.NoNodeException.class, () -> zk.getData(p + "/k", w, null));
                writer.create(p + "/k", null, OPEN, CreateMode.PERSISTENT);
                expectNoEvent(q, 300);
                // a data and a child watch on one node: one NodeDeleted per connection
                writer.delete(p + "/k", -1);
                zk.getData(p, w, null);
                zk.getChildren(p, w);
                writer.delete(p, -1);
                expectEvent(q, EventType.NodeDeleted, p);
                expectNoEvent(q, 300);
            });

            check("ephemeral deletion on close fires watches", () -> {
                String p = root + "/ephclose";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                ZooKeeper owner = connect(server, 10000);
                owner.create(p + "/e", null, OPEN, CreateMode.EPHEMERAL);
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                zk.exists(p + "/e", q::add);
                zk.getChildren(p, q::add);
                owner.close();
                expectEvent(q, EventType.NodeDeleted, p + "/e");
                expectEvent(q, EventType.NodeChildrenChanged, p);
            });

            check("addWatch persistent", () -> {
                String p = root + "/persistent";
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                Watcher w = q::add;
                ZooKeeper writer = connect(server, 10000);
                zk.addWatch(p, w, AddWatchMode.PERSISTENT);
                writer.create(p, null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p);
                writer.setData(p, b("1"), -1);
                expectEvent(q, EventType.NodeDataChanged, p);
                writer.setData(p, b("2"), -1);
                expectEvent(q, EventType.NodeDataChanged, p);
                writer.create(p + "/k", null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeChildrenChanged, p);
                writer.setData(p + "/k", b("x"), -1);
                expectNoEvent(q, 300);
                writer.delete(p + "/k", -1);
                expectEvent(q, EventType.NodeChildrenChanged, p);
                writer.delete(p, -1);
                expectEvent(q, EventType.NodeDeleted, p);
                writer.create(p, null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p);
                zk.removeWatches(p, w, Watcher.WatcherType.Any, false);
                expectEvent(q, EventType.PersistentWatchRemoved, p);
                writer.setData(p, b("3"), -1);
                expectNoEvent(q, 300);
            });

            check("addWatch persistent recursive", () -> {
                String p = root + "/recursive";
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                Watcher w = q::add;
                ZooKeeper writer = connect(server, 10000);
                zk.addWatch(p, w, AddWatchMode.PERSISTENT_RECURSIVE);
                writer.create(p, null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p);
                writer.create(p + "/a", null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p + "/a");
                writer.create(p + "/a/b", null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p + "/a/b");
                writer.setData(p + "/a/b", b("x"), -1);
                expectEvent(q, EventType.NodeDataChanged, p + "/a/b");
                writer.delete(p + "/a/b", -1);
                expectEvent(q, EventType.NodeDeleted, p + "/a/b");
                writer.setData(root, b("outside"), -1);
                expectNoEvent(q, 300);
                zk.removeWatches(p, w, Watcher.WatcherType.Any, false);
                expectEvent(q, EventType.PersistentWatchRemoved, p);
                writer.create(p + "/after", null, OPEN, CreateMode.PERSISTENT);
                expectNoEvent(q, 300);
            });

            check("removeWatches of one-shot watches", () -> {
                String p = root + "/remove";
                zk.create(p, null, OPEN, CreateMode.PERSISTENT);
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                Watcher w = q::add;
                zk.getData(p, w, null);
                zk.getChildren(p, w);
                zk.removeWatches(p, w, Watcher.WatcherType.Data, false);
                expectEvent(q, EventType.DataWatchRemoved, p);
                zk.setData(p, b("x"), -1);
                expectNoEvent(q, 300);
                zk.removeWatches(p, w, Watcher.WatcherType.Children, false);
                expectEvent(q, EventType.ChildWatchRemoved, p);
                zk.create(p + "/k", null, OPEN, CreateMode.PERSISTENT);
                expectNoEvent(q, 300);
                expectError(KeeperException.NoWatcherException.class,
                        () -> zk.removeWatches(p, w, Watcher.WatcherType.Any, false));
            });
        }
    }

    // ------------------------------------------------------------------ reconnect

    static final class ReconnectChecks {
        static void run(ZooKeeper direct) {
            check("SetWatches after a lost connection", () -> {
                String p = root + "/sw";
                direct.create(p, null, OPEN, CreateMode.PERSISTENT);
                direct.create(p + "/data", b("0"), OPEN, CreateMode.PERSISTENT);
                direct.create(p + "/quiet", b("0"), OPEN, CreateMode.PERSISTENT);
                direct.create(p + "/doomed", b("0"), OPEN, CreateMode.PERSISTENT);
                direct.create(p + "/rec", null, OPEN, CreateMode.PERSISTENT);

                BlockingQueue<WatchedEvent> states = new LinkedBlockingQueue<>();
                ZooKeeper c = connect(proxy, 20000, states);
                long sid = c.getSessionId();
                c.create(p + "/mine", null, OPEN, CreateMode.EPHEMERAL);
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                Watcher w = q::add;
                c.getData(p + "/data", w, null);
                c.getData(p + "/quiet", w, null);
                c.getData(p + "/doomed", w, null);
                ok(c.exists(p + "/born", w) == null, "born is missing");
                c.getChildren(p, w);
                c.addWatch(p + "/rec", w, AddWatchMode.PERSISTENT_RECURSIVE);

                proxyControl("drop-refuse");
                waitState(states, KeeperState.Disconnected);
                direct.setData(p + "/data", b("1"), -1);
                direct.create(p + "/born", null, OPEN, CreateMode.PERSISTENT);
                direct.delete(p + "/doomed", -1);
                proxyControl("accept");
                waitState(states, KeeperState.SyncConnected);
                eq(sid, c.getSessionId(), "same session after reconnect");

                Set<String> got = new HashSet<>();
                for (int i = 0; i < 4; i++) {
                    WatchedEvent ev = nextNodeEvent(q, "made-up events after SetWatches, have " + got);
                    got.add(ev.getType() + " " + ev.getPath());
                }
                eq(set("NodeDataChanged " + p + "/data", "NodeCreated " + p + "/born",
                        "NodeDeleted " + p + "/doomed", "NodeChildrenChanged " + p), got,
                        "events made up by SetWatches");
                expectNoEvent(q, 300);

                // the untouched watch was registered again and fires now
                direct.setData(p + "/quiet", b("1"), -1);
                expectEvent(q, EventType.NodeDataChanged, p + "/quiet");
                // the persistent recursive watch too (SetWatches2), without a made-up event
                direct.create(p + "/rec/x", null, OPEN, CreateMode.PERSISTENT);
                expectEvent(q, EventType.NodeCreated, p + "/rec/x");
                ok(direct.exists(p + "/mine", false).getEphemeralOwner() == sid, "ephemeral survived");
            });

            check("requests issued while disconnected complete after reconnect", () -> {
                String p = root + "/queued";
                BlockingQueue<WatchedEvent> states = new LinkedBlockingQueue<>();
                ZooKeeper c = connect(proxy, 20000, states);
                proxyControl("drop-refuse");
                waitState(states, KeeperState.Disconnected);
                CountDownLatch done = new CountDownLatch(1);
                int[] rc = {Integer.MIN_VALUE};
                c.create(p, b("q"), OPEN, CreateMode.PERSISTENT, (r, path, ctx, name) -> {
                    rc[0] = r;
                    done.countDown();
                }, null);
                Thread.sleep(200);
                proxyControl("accept");
                ok(done.await(WAIT_S, TimeUnit.SECONDS), "callback ran");
                // The request may have been cut with the connection (ConnectionLoss) or sent after it.
                ok(rc[0] == 0 || rc[0] == KeeperException.Code.CONNECTIONLOSS.intValue(), "rc " + rc[0]);
                waitState(states, KeeperState.SyncConnected);
                c.create(p + "2", null, OPEN, CreateMode.PERSISTENT);
                ok(direct.exists(p + "2", false) != null, "created after reconnect");
            });

            check("resume a session by id and password", () -> {
                ZooKeeper first = connect(server, 20000);
                long sid = first.getSessionId();
                byte[] pw = first.getSessionPasswd();
                first.create(root + "/resumed", null, OPEN, CreateMode.EPHEMERAL);
                BlockingQueue<WatchedEvent> q2 = new LinkedBlockingQueue<>();
                CountDownLatch connected = new CountDownLatch(1);
                ZooKeeper second = new ZooKeeper(server, 20000, ev -> {
                    q2.add(ev);
                    if (ev.getState() == KeeperState.SyncConnected) {
                        connected.countDown();
                    }
                }, sid, pw);
                opened.add(second);
                ok(connected.await(WAIT_S, TimeUnit.SECONDS), "second connection with the same session");
                eq(sid, second.getSessionId(), "same id");
                eq(sid, direct.exists(root + "/resumed", false).getEphemeralOwner(), "owner");
                second.close();
                ok(direct.exists(root + "/resumed", false) == null, "closing the session deleted its ephemeral");
            });

            check("closed session or wrong password is expired", () -> {
                ZooKeeper first = connect(server, 20000);
                long sid = first.getSessionId();
                byte[] pw = first.getSessionPasswd();
                first.close();
                BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
                ZooKeeper late = new ZooKeeper(server, 20000, q::add, sid, pw);
                opened.add(late);
                waitState(q, KeeperState.Expired);

                // (Apache ZooKeeper closes the live connection of a session before it checks
                // the password of a new connection for it, so nothing more is asserted about
                // the owner here.)
                ZooKeeper owner = connect(server, 20000);
                byte[] wrong = owner.getSessionPasswd().clone();
                wrong[0] ^= 1;
                BlockingQueue<WatchedEvent> q2 = new LinkedBlockingQueue<>();
                ZooKeeper bad = new ZooKeeper(server, 20000, q2::add, owner.getSessionId(), wrong);
                opened.add(bad);
                waitState(q2, KeeperState.Expired);
            });
        }
    }
}
