import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

/**
 * A write load for the ensemble fault tests (test_ensemble_faults.py): one Java client
 * session on a connect string listing every server writes for a while, alternating a
 * create of a new node PREFIX/c-NNNNNN and a setData of PREFIX/k to "NNNNNN", one request
 * at a time and never retried, and prints one line per outcome for Python to parse
 * (times are System.currentTimeMillis(), comparable with Python's time.time()):
 *
 * <pre>
 *   SESSION &lt;hex id&gt;                 the session, once connected
 *   READY                            setup done, the timed load starts
 *   STATE &lt;ms&gt; &lt;state&gt; &lt;hex id&gt;      each connection state change (Disconnected, SyncConnected, ...)
 *   ACK create &lt;path&gt; &lt;ms&gt; &lt;zxid&gt; &lt;call ms&gt;   acknowledged (zxid: the created node's czxid)
 *   ACK set &lt;n&gt; &lt;ms&gt; &lt;zxid&gt; &lt;call ms&gt;         acknowledged (zxid: the node's new mzxid)
 *   UNKNOWN create|set &lt;arg&gt; &lt;ms&gt; &lt;code&gt;   connection loss or timeout: may or may not have happened
 *   FAIL create|set &lt;arg&gt; &lt;ms&gt; &lt;code&gt;      a definite error answer
 *   END &lt;hex id&gt; acked=&lt;n&gt; unknown=&lt;n&gt; failed=&lt;n&gt;
 * </pre>
 *
 * Usage: EnsembleLoad CONNECT PREFIX MAX_SECONDS [SESSION_TIMEOUT_MS]. The load ends when a
 * line "stop" (or the end of input) arrives on stdin, or after MAX_SECONDS. Exits 3 if the
 * session expires (clients must keep their sessions across a failover), 2 on a setup
 * failure.
 */
public class EnsembleLoad {
    static long now() {
        return System.currentTimeMillis();
    }

    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static boolean unknown(KeeperException.Code code) {
        return code == KeeperException.Code.CONNECTIONLOSS
                || code == KeeperException.Code.OPERATIONTIMEOUT
                || code == KeeperException.Code.REQUESTTIMEOUT;
    }

    /** Creates path (and missing parents) with retries; NodeExists is fine. */
    static void ensure(ZooKeeper zk, String path, long deadline) throws Exception {
        int slash = path.lastIndexOf('/');
        if (slash > 0) {
            ensure(zk, path.substring(0, slash), deadline);
        }
        while (true) {
            try {
                zk.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
                return;
            } catch (KeeperException.NodeExistsException e) {
                return;
            } catch (KeeperException e) {
                if (!unknown(e.code()) || now() > deadline) {
                    throw e;
                }
                Thread.sleep(100);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: EnsembleLoad CONNECT PREFIX SECONDS [SESSION_TIMEOUT_MS]");
            System.exit(2);
        }
        String connect = args[0];
        String prefix = args[1];
        long millis = (long) (Double.parseDouble(args[2]) * 1000);
        int sessionTimeout = args.length > 3 ? Integer.parseInt(args[3]) : 10000;

        CountDownLatch connected = new CountDownLatch(1);
        final ZooKeeper[] holder = new ZooKeeper[1];
        Watcher watcher = event -> {
            if (event.getType() == Watcher.Event.EventType.None) {
                ZooKeeper z = holder[0];
                long sid = z == null ? 0 : z.getSessionId();
                out("STATE " + now() + " " + event.getState() + " " + Long.toHexString(sid));
                if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                    connected.countDown();
                }
            }
        };
        ZooKeeper zk = new ZooKeeper(connect, sessionTimeout, watcher);
        holder[0] = zk;
        if (!connected.await(30, TimeUnit.SECONDS)) {
            out("SETUP-FAILED not connected within 30 s");
            System.exit(2);
        }
        long session = zk.getSessionId();
        out("SESSION " + Long.toHexString(session));
        String key = prefix + "/k";
        try {
            long deadline = now() + 30_000;
            ensure(zk, prefix, deadline);
            ensure(zk, key, deadline);
        } catch (Exception e) {
            out("SETUP-FAILED " + e);
            System.exit(2);
        }
        AtomicBoolean stop = new AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("stop")) {
                    // ignored
                }
            } catch (IOException e) {
                // the end of input stops the load as well
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        out("READY");

        long end = now() + millis;
        int acked = 0;
        int unknown = 0;
        int failed = 0;
        int n = 0;
        boolean expired = false;
        while (now() < end && !stop.get()) {
            n++;
            boolean create = n % 2 == 1;
            String arg = create ? String.format("%s/c-%06d", prefix, n) : String.format("%06d", n);
            String op = create ? "create" : "set";
            long call = now();
            try {
                Stat stat = new Stat();
                if (create) {
                    zk.create(arg, arg.getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                            CreateMode.PERSISTENT, stat);
                    out("ACK create " + arg + " " + now() + " " + stat.getCzxid() + " " + call);
                } else {
                    stat = zk.setData(key, arg.getBytes(StandardCharsets.UTF_8), -1);
                    out("ACK set " + arg + " " + now() + " " + stat.getMzxid() + " " + call);
                }
                acked++;
            } catch (KeeperException e) {
                if (e.code() == KeeperException.Code.SESSIONEXPIRED) {
                    out("EXPIRED " + now() + " " + op + " " + arg);
                    expired = true;
                    break;
                }
                if (unknown(e.code())) {
                    unknown++;
                    out("UNKNOWN " + op + " " + arg + " " + now() + " " + e.code());
                    Thread.sleep(50); // the client reconnects on its own meanwhile
                } else {
                    failed++;
                    out("FAIL " + op + " " + arg + " " + now() + " " + e.code());
                }
            }
        }
        out("END " + Long.toHexString(zk.getSessionId()) + " acked=" + acked + " unknown=" + unknown
                + " failed=" + failed);
        zk.close();
        System.exit(expired ? 3 : 0);
    }
}
