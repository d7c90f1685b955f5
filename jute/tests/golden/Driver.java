// Traffic for capture.py from the Java client of Apache ZooKeeper 3.8.0 (Debian's jars).
// Run by capture.py as a single-file program:
//   java -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar Driver.java \
//       <ops|reconnect> <proxy host:port> <server host:port>
// It prints "@@DROP" / "@@RESUME" and waits for a line on stdin when it wants the proxy to
// cut every connection (and hold new ones) or to let them through again.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZKUtil;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class Driver {
    static final BufferedReader IN = new BufferedReader(new InputStreamReader(System.in));

    interface Call {
        Object run() throws Exception;
    }

    static void attempt(String what, Call c) {
        try {
            Object r = c.run();
            System.out.println(what + " -> " + r);
        } catch (KeeperException e) {
            System.out.println(what + " -> " + e.code());
        } catch (Exception e) {
            System.out.println(what + " -> " + e);
        }
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void control(String cmd) throws Exception {
        System.out.println("@@" + cmd);
        System.out.flush();
        IN.readLine();
    }

    static final Watcher PRINT = e -> System.out.println("event " + e);

    /** Connects and returns once the session is established. */
    static ZooKeeper connect(String cs, int timeoutMs, CountDownLatch[] reconnected) throws Exception {
        CountDownLatch first = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(cs, timeoutMs, e -> {
            System.out.println("session event " + e);
            if (e.getType() == EventType.None && e.getState() == KeeperState.SyncConnected) {
                first.countDown();
                if (reconnected != null && reconnected[0] != null) {
                    reconnected[0].countDown();
                }
            }
        });
        if (!first.await(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no session");
        }
        return zk;
    }

    static void ops(String cs) throws Exception {
        String base = "/golden-java";
        ZooKeeper zk = connect(cs, 6000, null);
        Stat st = new Stat();
        zk.addAuthInfo("digest", b("alice:secret"));
        attempt("exists miss", () -> zk.exists(base, false));
        attempt("create null data", () -> zk.create(base, null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        attempt("getData null", () -> Arrays.toString(zk.getData(base, false, st)));
        attempt("create2 empty", () -> zk.create(base + "/empty", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT, new Stat()));
        attempt("getData empty watch", () -> Arrays.toString(zk.getData(base + "/empty", PRINT, st)));
        attempt("setData fires", () -> zk.setData(base + "/empty", b("v1"), -1));
        attempt("setData badversion", () -> zk.setData(base + "/empty", b("v2"), 7));
        attempt("create exists", () -> zk.create(base + "/empty", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        attempt("create noparent", () -> zk.create(base + "/missing/x", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        List<ACL> mixed = Arrays.asList(
                new ACL(Perms.ALL, new Id("digest", DigestAuthenticationProvider.generateDigest("alice:secret"))),
                new ACL(Perms.READ | Perms.WRITE, new Id("ip", "127.0.0.1")),
                new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        attempt("create acl", () -> zk.create(base + "/acl", b("a"), mixed, CreateMode.PERSISTENT));
        attempt("create creator", () -> zk.create(base + "/creator", b("c"), Ids.CREATOR_ALL_ACL,
                CreateMode.PERSISTENT));
        attempt("create badacl", () -> zk.create(base + "/badacl", b(""),
                Arrays.asList(new ACL(Perms.ALL, new Id("world", "nobody"))), CreateMode.PERSISTENT));
        attempt("getACL", () -> zk.getACL(base + "/acl", st));
        attempt("setACL", () -> zk.setACL(base + "/acl", Ids.OPEN_ACL_UNSAFE, 0));
        attempt("setACL badversion", () -> zk.setACL(base + "/acl", Ids.READ_ACL_UNSAFE, 0));
        attempt("create seq", () -> zk.create(base + "/seq-", b("s"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_SEQUENTIAL));
        attempt("create eph", () -> zk.create(base + "/eph", b("e"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.EPHEMERAL));
        attempt("create ephseq", () -> zk.create(base + "/eph-", b("e"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.EPHEMERAL_SEQUENTIAL));
        attempt("create under eph", () -> zk.create(base + "/eph/x", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        attempt("createContainer", () -> zk.create(base + "/container", b("c"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.CONTAINER));
        attempt("createContainer stat", () -> zk.create(base + "/container2", b("c"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.CONTAINER, new Stat()));
        attempt("createTTL", () -> zk.create(base + "/ttl", b("t"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_WITH_TTL, new Stat(), 3600000));
        attempt("createTTL seq", () -> zk.create(base + "/ttl-", b("t"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, new Stat(), 1000));
        attempt("getChildren watch", () -> zk.getChildren(base, PRINT));
        attempt("getChildren2", () -> zk.getChildren(base, false, st));
        attempt("create fires child", () -> zk.create(base + "/kid", b("k"), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        attempt("exists miss watch", () -> zk.exists(base + "/later", PRINT));
        attempt("create fires created", () -> zk.create(base + "/later", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        attempt("exists hit watch", () -> zk.exists(base + "/later", PRINT));
        attempt("delete fires deleted", () -> { zk.delete(base + "/later", -1); return "ok"; });
        attempt("delete notempty", () -> { zk.delete(base, -1); return "ok"; });
        attempt("delete nonode", () -> { zk.delete(base + "/missing", -1); return "ok"; });
        attempt("delete badversion", () -> { zk.delete(base + "/kid", 5); return "ok"; });
        attempt("sync", () -> {
            CountDownLatch l = new CountDownLatch(1);
            zk.sync(base, (rc, path, ctx) -> l.countDown(), null);
            return l.await(10, TimeUnit.SECONDS);
        });
        attempt("multi ok", () -> zk.multi(Arrays.asList(
                Op.create(base + "/m1", b("1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create(base + "/m-seq-", b("1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create(base + "/m-c", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER),
                Op.create(base + "/m-ttl", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, 60000),
                Op.setData(base + "/m1", b("2"), 0),
                Op.check(base + "/m1", 1),
                Op.delete(base + "/m1", 1))));
        attempt("multi fails", () -> zk.multi(Arrays.asList(
                Op.create(base + "/m2", b("1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.check(base + "/acl", 99),
                Op.delete(base + "/missing", -1))));
        attempt("multiRead", () -> zk.multi(Arrays.asList(
                Op.getData(base + "/acl"),
                Op.getChildren(base),
                Op.getData(base + "/missing"),
                Op.getData(base))));
        Watcher w = e -> System.out.println("removable " + e);
        attempt("getData for checkWatches", () -> zk.getData(base + "/acl", w, st));
        attempt("checkWatches", () -> { zk.removeWatches(base + "/acl", w, Watcher.WatcherType.Data, false); return "ok"; });
        attempt("getChildren for removeWatches", () -> zk.getChildren(base + "/acl", w));
        attempt("removeWatches", () -> { zk.removeAllWatches(base + "/acl", Watcher.WatcherType.Any, false); return "ok"; });
        attempt("addWatch persistent", () -> { zk.addWatch(base, PRINT, AddWatchMode.PERSISTENT); return "ok"; });
        attempt("addWatch recursive", () -> { zk.addWatch(base + "/acl", PRINT, AddWatchMode.PERSISTENT_RECURSIVE); return "ok"; });
        attempt("setData fires persistent", () -> zk.setData(base + "/acl", b("x"), -1));
        attempt("create fires recursive", () -> zk.create(base + "/acl/kid", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        attempt("create fires persistent child", () -> zk.create(base + "/pkid", b(""), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT));
        // 3.8.0 has no WatcherType.Persistent (4); removeAll with Any (3) instead.
        attempt("removeWatches any", () -> { zk.removeAllWatches(base, Watcher.WatcherType.Any, false); return "ok"; });
        attempt("getEphemerals prefix", () -> zk.getEphemerals(base));
        attempt("getEphemerals all", () -> zk.getEphemerals());
        attempt("getAllChildrenNumber", () -> zk.getAllChildrenNumber(base));
        attempt("getAllChildrenNumber miss", () -> zk.getAllChildrenNumber(base + "/missing"));
        attempt("whoAmI", () -> zk.whoAmI());
        attempt("getData miss", () -> zk.getData(base + "/missing", false, st));
        attempt("getChildren miss", () -> zk.getChildren(base + "/missing", false));
        attempt("getACL miss", () -> zk.getACL(base + "/missing", st));
        attempt("setData miss", () -> zk.setData(base + "/missing", b(""), -1));
        attempt("exists config", () -> zk.exists("/zookeeper/config", false));
        Thread.sleep(3000); // idle past readTimeout/2, so the client pings
        attempt("deleteRecursive", () -> { ZKUtil.deleteRecursive(zk, base); return "ok"; });
        zk.close();
    }

    static void reconnect(String cs, String direct) throws Exception {
        String base = "/golden-reconnect";
        CountDownLatch[] again = new CountDownLatch[1];
        ZooKeeper zk = connect(cs, 10000, again);
        Stat st = new Stat();
        zk.addAuthInfo("digest", b("alice:secret"));
        zk.create(base, b("base"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(base + "/a", b("1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(base + "/b", b("1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(base + "/mine", b(""), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        zk.getData(base + "/a", PRINT, st); // data watch: changed while away
        zk.getData(base + "/b", PRINT, st); // data watch: deleted while away
        zk.getData(base, PRINT, st); // data watch: unchanged, registered again
        zk.exists(base + "/new", PRINT); // exist watch: created while away
        zk.exists(base + "/never", PRINT); // exist watch: still missing
        zk.getChildren(base, PRINT); // child watch: children changed while away

        // Cut the connection; change things through another client; let it reconnect.
        again[0] = new CountDownLatch(1);
        control("DROP");
        ZooKeeper other = connect(direct, 10000, null);
        other.setData(base + "/a", b("2"), -1);
        other.create(base + "/new", b(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        other.delete(base + "/b", -1);
        control("RESUME");
        if (!again[0].await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no reconnect");
        }
        attempt("after SetWatches", () -> zk.getData(base + "/mine", false, st).length);

        // Persistent watches make the client send SetWatches2 instead.
        zk.addWatch(base, PRINT, AddWatchMode.PERSISTENT);
        zk.addWatch(base + "/a", PRINT, AddWatchMode.PERSISTENT_RECURSIVE);
        zk.getData(base + "/a", PRINT, st);
        zk.getChildren(base + "/a", PRINT);
        again[0] = new CountDownLatch(1);
        control("DROP");
        other.setData(base + "/a", b("3"), -1);
        control("RESUME");
        if (!again[0].await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no reconnect");
        }
        attempt("after SetWatches2", () -> zk.exists(base, false));
        ZKUtil.deleteRecursive(zk, base);
        Thread.sleep(500);
        zk.close();
        other.close();
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "ops":
                ops(args[1]);
                break;
            case "reconnect":
                reconnect(args[1], args[2]);
                break;
            default:
                throw new IllegalArgumentException(args[0]);
        }
        System.exit(0);
    }
}
