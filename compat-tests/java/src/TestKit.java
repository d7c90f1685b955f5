import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The tiny test kit the compat programs share (CompatMain, CuratorChecks, MoreRecipes):
 * named checks that record pass/fail, assertions, bounded worker threads, and the summary
 * the pytest side reads. Programs extend it to call its static helpers unqualified.
 */
class TestKit {
    static int passed;
    static final List<String> failures = new ArrayList<>();

    interface Check {
        void run() throws Exception;
    }

    static void check(String name, Check c) {
        long t0 = System.nanoTime();
        try {
            c.run();
            passed++;
            System.out.printf("PASS %s (%d ms)%n", name, (System.nanoTime() - t0) / 1_000_000);
        } catch (Throwable t) {
            failures.add(name + ": " + t);
            System.out.printf("FAIL %s: %s%n", name, t);
            t.printStackTrace(System.out);
        }
        System.out.flush();
    }

    static void eq(Object expected, Object actual, String what) {
        boolean same = expected == null ? actual == null
                : (expected instanceof byte[] && actual instanceof byte[])
                        ? Arrays.equals((byte[]) expected, (byte[]) actual)
                        : expected.equals(actual);
        if (!same) {
            throw new AssertionError(what + ": expected " + show(expected) + ", got " + show(actual));
        }
    }

    static void ok(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static String show(Object o) {
        if (o instanceof byte[]) {
            return "bytes\"" + new String((byte[]) o, StandardCharsets.UTF_8) + "\"";
        }
        return String.valueOf(o);
    }

    /** Runs the work on daemon threads, each bounded by one shared deadline. */
    static void runThreads(List<Runnable> work, long seconds) throws Exception {
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (Runnable r : work) {
            Thread t = new Thread(() -> {
                try {
                    r.run();
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (Thread t : threads) {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            ok(!t.isAlive(), "worker thread still running after " + seconds + " s");
        }
        if (!errors.isEmpty()) {
            throw new AssertionError("worker failed: " + errors.get(0), errors.get(0));
        }
    }

    /** Prints the summary the pytest side reads and exits (1 on any failure). */
    static void finish(String group) {
        System.out.println();
        System.out.println(group + ": " + passed + " passed, " + failures.size() + " failed");
        for (String f : failures) {
            System.out.println("FAILED " + f);
        }
        System.out.flush();
        // Curator and the client keep non-daemon threads; do not wait for them.
        Runtime.getRuntime().halt(failures.isEmpty() ? 0 : 1);
    }
}
