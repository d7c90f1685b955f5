// Test helper for tests/sasl.rs: the JDK's DIGEST-MD5 client and server, created exactly as
// Apache ZooKeeper creates them (org.apache.zookeeper.util.SecurityUtils, ZooKeeper's own callback
// handlers, from /usr/share/java/zookeeper.jar), driven over stdin/stdout so the Rust test can put
// ferrozk's DigestMd5Server between them or beside them.
//
// One command per line, every argument hex-encoded UTF-8 ("-" for empty); one answer line each:
//   client ID zk AUTHCID PASSWORD -          ZooKeeper's client (authzid = username)  -> OK
//   client ID plain AUTHCID PASSWORD AUTHZID JDK client with our own callbacks        -> OK
//   server ID JAASFILE SECTION               ZooKeeper's server side                   -> OK
//   step ID TOKEN                            evaluateChallenge / evaluateResponse
//                                            -> OK COMPLETE(0|1) TOKEN AUTHZID  or  ERR text
//                                               (TOKEN: hex, "-" if empty, "null" if none)
//   jaas JAASFILE SECTION                    the JDK's ConfigFile on that file
//                                            -> OK N, then N lines "ENTRY MODULE KEY=VALUE ...",
//                                               or NONE (no such section), or ERR text
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.URIParameter;
import java.util.HashMap;
import java.util.Map;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.sasl.RealmCallback;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;
import javax.security.sasl.SaslServer;
import org.apache.zookeeper.server.auth.SaslServerCallbackHandler;
import org.apache.zookeeper.util.SecurityUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public class SaslPeer {
    private static final Logger LOG = LoggerFactory.getLogger(SaslPeer.class);
    private static final Map<String, SaslClient> CLIENTS = new HashMap<>();
    private static final Map<String, SaslServer> SERVERS = new HashMap<>();

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            StringBuilder out = new StringBuilder();
            try {
                handle(line.split(" "), out);
            } catch (Throwable e) {
                out.setLength(0);
                out.append("ERR ").append(e.getClass().getName()).append(": ").append(e.getMessage());
            }
            System.out.println(out.toString().replace('\n', ' ').replace('\r', ' '));
            System.out.flush();
        }
    }

    private static void handle(String[] w, StringBuilder out) throws Exception {
        switch (w[0]) {
            case "client": {
                String id = w[1];
                String authcid = text(w[3]);
                String password = text(w[4]);
                SaslClient client;
                if (w[2].equals("zk")) {
                    // As DigestLoginModule leaves the Subject for the "Client" JAAS section.
                    Subject subject = new Subject();
                    subject.getPublicCredentials().add(authcid);
                    subject.getPrivateCredentials().add(password);
                    client = SecurityUtils.createSaslClient(subject, "zookeeper/zk-sasl-md5", "zookeeper",
                            "zk-sasl-md5", LOG, "Client");
                } else {
                    String authzid = w[5].equals("-") ? null : text(w[5]);
                    client = Sasl.createSaslClient(new String[] {"DIGEST-MD5"}, authzid, "zookeeper",
                            "zk-sasl-md5", null, plainHandler(authcid, password));
                }
                CLIENTS.put(id, client);
                out.append("OK");
                return;
            }
            case "server": {
                Configuration config = load(text(w[2]));
                System.setProperty("zookeeper.sasl.serverconfig", text(w[3]));
                SaslServerCallbackHandler handler = new SaslServerCallbackHandler(config);
                SaslServer server = SecurityUtils.createSaslServer(new Subject(), "zookeeper", "zk-sasl-md5",
                        handler, LOG);
                SERVERS.put(w[1], server);
                out.append("OK");
                return;
            }
            case "step": {
                byte[] token = bytes(w[2]);
                byte[] answer;
                boolean complete;
                String authzid = null;
                SaslClient client = CLIENTS.get(w[1]);
                if (client != null) {
                    answer = client.evaluateChallenge(token);
                    complete = client.isComplete();
                } else {
                    SaslServer server = SERVERS.get(w[1]);
                    answer = server.evaluateResponse(token);
                    complete = server.isComplete();
                    if (complete) {
                        authzid = server.getAuthorizationID();
                    }
                }
                out.append("OK ").append(complete ? "1" : "0").append(' ').append(hex(answer)).append(' ')
                        .append(authzid == null ? "-" : hex(authzid.getBytes(StandardCharsets.UTF_8)));
                return;
            }
            case "jaas": {
                AppConfigurationEntry[] entries = load(text(w[1])).getAppConfigurationEntry(text(w[2]));
                if (entries == null) {
                    out.append("NONE");
                    return;
                }
                out.append("OK ").append(entries.length);
                for (AppConfigurationEntry e : entries) {
                    out.append("\nENTRY ").append(hex(e.getLoginModuleName().getBytes(StandardCharsets.UTF_8)));
                    for (Map.Entry<String, ?> o : e.getOptions().entrySet()) {
                        out.append(' ').append(hex(o.getKey().getBytes(StandardCharsets.UTF_8))).append('=')
                                .append(hex(((String) o.getValue()).getBytes(StandardCharsets.UTF_8)));
                    }
                }
                // One answer line per command: entries go on following lines, already counted.
                System.out.println(out);
                System.out.flush();
                out.setLength(0);
                out.append("END");
                return;
            }
            default:
                throw new IllegalArgumentException("unknown command " + w[0]);
        }
    }

    private static Configuration load(String path) throws Exception {
        return Configuration.getInstance("JavaLoginConfig", new URIParameter(new File(path).toURI()));
    }

    private static CallbackHandler plainHandler(String authcid, String password) {
        return (Callback[] callbacks) -> {
            for (Callback cb : callbacks) {
                if (cb instanceof NameCallback) {
                    ((NameCallback) cb).setName(authcid);
                } else if (cb instanceof PasswordCallback) {
                    ((PasswordCallback) cb).setPassword(password.toCharArray());
                } else if (cb instanceof RealmCallback) {
                    RealmCallback rc = (RealmCallback) cb;
                    rc.setText(rc.getDefaultText());
                }
            }
        };
    }

    private static String text(String h) {
        return new String(bytes(h), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String h) {
        if (h.equals("-")) {
            return new byte[0];
        }
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    private static String hex(byte[] b) {
        if (b == null) {
            return "null";
        }
        if (b.length == 0) {
            return "-";
        }
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }
}
