//! ferrozk's SASL DIGEST-MD5 server and JAAS reader against the JDK's own: the DIGEST-MD5 client
//! and server created exactly as Apache ZooKeeper 3.8 creates them (`SecurityUtils`, ZooKeeper's
//! callback handlers) and the JDK's JAAS `ConfigFile`, run by `tests/sasl/SaslPeer.java`, compiled
//! with javac against Debian's `/usr/share/java/zookeeper.jar`. Where javac, java or the jar is
//! missing, each test says so and passes without checking anything.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};

use ferrozk::sasl::{parse_jaas, DigestMd5Server, JaasError, SaslStep, SaslUsers, DEFAULT_SECTION};

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

/// The compiled helper's directory, or `None` (with a message) where Java is not installed.
fn helper_classes() -> Option<&'static Path> {
    static CLASSES: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLASSES
        .get_or_init(|| {
            if !Path::new(ZK_JAR).exists() {
                eprintln!("skipping: {ZK_JAR} is missing (apt-get install zookeeper)");
                return None;
            }
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sasl-java");
            std::fs::create_dir_all(&out).unwrap();
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sasl/SaslPeer.java");
            match Command::new("javac").args(["-nowarn", "-cp", ZK_JAR, "-d"]).arg(&out).arg(&src).output() {
                Err(e) => {
                    eprintln!("skipping: javac cannot run ({e}); install a JDK");
                    None
                }
                Ok(o) if !o.status.success() => panic!("javac failed:\n{}", String::from_utf8_lossy(&o.stderr)),
                Ok(_) => Some(out),
            }
        })
        .as_deref()
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn text(s: &str) -> String {
    String::from_utf8(unhex(s)).unwrap()
}

/// One `java SaslPeer` process (started and killed by this test).
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_path: PathBuf,
    next_id: u32,
}

/// The answer to a `step`.
#[derive(Debug)]
struct Stepped {
    complete: bool,
    /// `None` when the mechanism returned null (nothing more to send).
    token: Option<Vec<u8>>,
    authorization_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Authenticated {
        id: String,
    },
    /// The server refused (ZooKeeper answers AuthFailed and closes).
    Refused,
}

/// What the client and server sent each other, nonces masked.
#[derive(Debug, Default)]
struct Transcript {
    server_tokens: Vec<Vec<u8>>,
    client_tokens: Vec<Vec<u8>>,
}

impl Peer {
    fn start(name: &str) -> Option<Peer> {
        let classes = helper_classes()?;
        let stderr_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sasl-java-{name}.stderr"));
        let mut child = Command::new("java")
            .args(["-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(format!("{}:{ZK_JAR}", classes.display()))
            .arg("SaslPeer")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("java runs where javac does");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Peer { child, stdin, stdout, stderr_path, next_id: 0 })
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        if self.stdout.read_line(&mut line).unwrap() == 0 {
            panic!("SaslPeer exited:\n{}", std::fs::read_to_string(&self.stderr_path).unwrap_or_default());
        }
        line.trim_end().to_string()
    }

    fn call(&mut self, words: &[&str]) -> String {
        writeln!(self.stdin, "{}", words.join(" ")).unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }

    fn expect_ok(&mut self, words: &[&str]) {
        let answer = self.call(words);
        assert_eq!(answer, "OK", "{words:?}");
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// ZooKeeper's own client setup: the DigestLoginModule subject, `SecurityUtils.createSaslClient`
    /// (authzid = username).
    fn zk_client(&mut self, user: &str, password: &str) -> String {
        let id = self.id();
        self.expect_ok(&["client", &id, "zk", &hex(user.as_bytes()), &hex(password.as_bytes()), "-"]);
        id
    }

    /// The JDK client with an authzid of our choosing (or none, as kazoo's pure-sasl sends).
    fn plain_client(&mut self, user: &str, password: &str, authzid: Option<&str>) -> String {
        let id = self.id();
        let authzid = authzid.map_or("-".to_string(), |z| hex(z.as_bytes()));
        self.expect_ok(&["client", &id, "plain", &hex(user.as_bytes()), &hex(password.as_bytes()), &authzid]);
        id
    }

    /// ZooKeeper's server setup: `SaslServerCallbackHandler` on the JAAS file,
    /// `SecurityUtils.createSaslServer` with a subject without principals (so DIGEST-MD5).
    fn zk_server(&mut self, jaas: &Path) -> String {
        let id = self.id();
        let path = jaas.to_str().unwrap().as_bytes().to_vec();
        self.expect_ok(&["server", &id, &hex(&path), &hex(DEFAULT_SECTION.as_bytes())]);
        id
    }

    fn step(&mut self, id: &str, token: &[u8]) -> Result<Stepped, String> {
        let answer = self.call(&["step", id, &hex(token)]);
        let w: Vec<&str> = answer.split(' ').collect();
        if w[0] != "OK" {
            return Err(answer);
        }
        Ok(Stepped {
            complete: w[1] == "1",
            token: (w[2] != "null").then(|| unhex(w[2])),
            authorization_id: (w[3] != "-").then(|| text(w[3])),
        })
    }

    /// The JDK's reading of a JAAS file: the section's entries (module, options), `Ok(None)` for no
    /// such section, `Err` for a file it refuses.
    #[allow(clippy::type_complexity)]
    fn jaas(&mut self, path: &Path, section: &str) -> Result<Option<Vec<(String, Vec<(String, String)>)>>, String> {
        let answer = self.call(&["jaas", &hex(path.to_str().unwrap().as_bytes()), &hex(section.as_bytes())]);
        if answer == "NONE" {
            return Ok(None);
        }
        let Some(n) = answer.strip_prefix("OK ") else { return Err(answer) };
        let mut entries = Vec::new();
        for _ in 0..n.parse::<usize>().unwrap() {
            let line = self.line();
            let mut w = line.split(' ');
            assert_eq!(w.next(), Some("ENTRY"));
            let module = text(w.next().unwrap());
            let options = w
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (text(k), text(v))
                })
                .collect();
            entries.push((module, options));
        }
        assert_eq!(self.line(), "END");
        Ok(Some(entries))
    }

    /// Runs a Java client against ferrozk the way ZooKeeper's client does: an empty first token
    /// (DIGEST-MD5 has no initial response), then each server token answered until complete.
    fn against_ferrozk(&mut self, client: &str, server: &mut DigestMd5Server) -> (Outcome, Transcript) {
        let mut t = Transcript::default();
        let mut token = Vec::new();
        for _ in 0..4 {
            t.client_tokens.push(token.clone());
            match server.step(&token) {
                Err(_) => return (Outcome::Refused, t),
                Ok(SaslStep::Challenge(c)) => {
                    t.server_tokens.push(c.clone());
                    let s = self.step(client, &c).expect("Java client answers the challenge");
                    assert!(!s.complete);
                    token = s.token.expect("a digest-response");
                }
                Ok(SaslStep::Success { final_token, authorization_id }) => {
                    t.server_tokens.push(final_token.clone());
                    // The Java client checks rspauth; it throws if ours were wrong.
                    let s = self.step(client, &final_token).expect("Java client accepts rspauth");
                    assert!(s.complete && s.token.is_none(), "{s:?}");
                    return (Outcome::Authenticated { id: authorization_id }, t);
                }
            }
        }
        panic!("exchange did not end: {t:?}");
    }

    /// The same exchange against ZooKeeper's own server (the JDK's DigestMD5Server).
    fn against_java(&mut self, client: &str, server: &str) -> (Outcome, Transcript) {
        let mut t = Transcript::default();
        let mut token = Vec::new();
        for _ in 0..4 {
            t.client_tokens.push(token.clone());
            let Ok(s) = self.step(server, &token) else { return (Outcome::Refused, t) };
            let answer = s.token.unwrap_or_default();
            t.server_tokens.push(answer.clone());
            let c = self.step(client, &answer).expect("Java client answers");
            if s.complete {
                assert!(c.complete && c.token.is_none(), "{c:?}");
                return (Outcome::Authenticated { id: s.authorization_id.unwrap() }, t);
            }
            token = c.token.expect("a digest-response");
        }
        panic!("exchange did not end: {t:?}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nonce="..."` and `cnonce="..."` values replaced, so two runs compare.
fn mask_nonces(token: &[u8]) -> String {
    let s = String::from_utf8_lossy(token).into_owned();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push('N');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn users(pairs: &[(&str, &str)]) -> Arc<SaslUsers> {
    let mut u = SaslUsers::new();
    for (name, password) in pairs {
        u.insert(*name, *password);
    }
    Arc::new(u)
}

/// A nonce like the JDK's: 40 base64 characters.
fn nonce(seed: u8) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..40u32).map(|i| B64[((i * 7 + u32::from(seed) * 13) % 64) as usize] as char).collect()
}

#[test]
fn zookeeper_java_client_authenticates_to_ferrozk() {
    let Some(mut peer) = Peer::start("client") else { return };
    let client = peer.zk_client("bob", "bobsecret");
    let mut server = DigestMd5Server::new(users(&[("bob", "bobsecret")]), nonce(1));
    let (outcome, t) = peer.against_ferrozk(&client, &mut server);
    assert_eq!(outcome, Outcome::Authenticated { id: "bob".into() });
    // Two round trips: empty → challenge, digest-response → rspauth.
    assert_eq!(t.client_tokens.len(), 2);
    assert!(t.client_tokens[0].is_empty());
    assert_eq!(
        String::from_utf8_lossy(&t.server_tokens[0]),
        format!("realm=\"zk-sasl-md5\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess", nonce(1))
    );
    let response = String::from_utf8_lossy(&t.client_tokens[1]).into_owned();
    for part in ["username=\"bob\"", "realm=\"zk-sasl-md5\"", "digest-uri=\"zookeeper/zk-sasl-md5\"", "authzid=\"bob\""]
    {
        assert!(response.contains(part), "{response}");
    }
    assert!(t.server_tokens[1].starts_with(b"rspauth=") && t.server_tokens[1].len() == 8 + 32);

    // Wrong password and unknown user: refused after the digest-response.
    for (user, password) in [("bob", "wrong"), ("eve", "bobsecret")] {
        let client = peer.zk_client(user, password);
        let mut server = DigestMd5Server::new(users(&[("bob", "bobsecret")]), nonce(2));
        let (outcome, t) = peer.against_ferrozk(&client, &mut server);
        assert_eq!(outcome, Outcome::Refused, "{user}/{password}");
        assert_eq!(t.client_tokens.len(), 2);
    }
}

/// The same clients against ZooKeeper's own server and against ferrozk: same verdict, same
/// identity, same challenge (nonces aside).
#[test]
fn same_outcomes_as_zookeepers_own_server() {
    let Some(mut peer) = Peer::start("differential") else { return };
    let dir = tempfile::tempdir().unwrap();
    let jaas_path = dir.path().join("jaas.conf");
    let jaas = r#"
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="adminsecret"
    user_bob="bobsecret"
    "user_jürgen"="pässwörd"
    "user_ünï€"="p€ss"
    "user_svc/host@"="svcpw"
    "user_bob@EXAMPLE.COM"="realmpw"
    "user_with space"="sp ace";
};
"#;
    std::fs::write(&jaas_path, jaas).unwrap();
    let ours = Arc::new(parse_jaas(jaas, DEFAULT_SECTION).unwrap());
    assert_eq!(ours.len(), 7);

    type Case = (&'static str, &'static str, Option<Option<&'static str>>);
    // (user, password, None = ZooKeeper's client setup, Some(authzid) = JDK client with that authzid)
    let cases: [Case; 12] = [
        ("bob", "bobsecret", None),
        ("bob", "wrong", None),
        ("eve", "bobsecret", None),
        ("super", "adminsecret", None),
        ("bob", "bobsecret", Some(None)),
        ("bob", "bobsecret", Some(Some("super"))),
        ("jürgen", "pässwörd", None),
        ("ünï€", "p€ss", None),
        ("svc/host@", "svcpw", None),
        ("bob@EXAMPLE.COM", "realmpw", None),
        ("with space", "sp ace", None),
        ("BOB", "bobsecret", None),
    ];
    for (i, (user, password, setup)) in cases.into_iter().enumerate() {
        let mut client = || match setup {
            None => peer.zk_client(user, password),
            Some(authzid) => peer.plain_client(user, password, authzid),
        };
        let (java_client, our_client) = (client(), client());
        let java_server = peer.zk_server(&jaas_path);
        let (java, java_t) = peer.against_java(&java_client, &java_server);
        let mut server = DigestMd5Server::new(ours.clone(), nonce(i as u8));
        let (ferrozk, our_t) = peer.against_ferrozk(&our_client, &mut server);
        assert_eq!(ferrozk, java, "{user}/{password}/{setup:?}");
        let masked = |t: &Transcript| t.server_tokens.first().map(|c| mask_nonces(c));
        assert_eq!(masked(&our_t), masked(&java_t), "{user}");
        assert_eq!(our_t.client_tokens.len(), java_t.client_tokens.len(), "{user}");
    }
}

/// JAAS files read by the JDK's ConfigFile and by `parse_jaas`: the same users, the same files
/// refused, the same sections missing.
#[test]
fn jaas_files_read_as_the_jdk_reads_them() {
    let Some(mut peer) = Peer::start("jaas") else { return };
    let dir = tempfile::tempdir().unwrap();
    const DIGEST: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
    let files: Vec<String> = vec![
        format!("// c\n/* block\n comment */ Server {{\n {DIGEST} required\n user_super=\"adminsecret\" // x\n user_bob=\"bobsecret\";\n}};\nClient {{ {DIGEST} required username=\"bob\" password=\"bobsecret\"; }};\n"),
        format!("Server {{ {DIGEST} REQUIRED user_a=plain.word-1_x* user_b=\"esc\\\"\\\\\\n\\101\\7\\q\" \"user_c d\"=\"\" user_e=$x; }};"),
        format!("\"Server\" {{ {DIGEST} Optional user_a=\"1\"; com.example.Other sufficient user_b=\"2\" user_a=\"3\"; }};"),
        format!("Server {{ {DIGEST} required user_a=\"1\" / user_b=\"2\"\n user_c=\"3\"; }};"),
        format!("Server {{ {DIGEST} required user_a=\"open\n user_b=\"2\"; }};"),
        format!("Server {{\r\n {DIGEST} required\r\n user_ü=\"ä€\"\r\n user_a=a-1.2;\r\n}};\r\n"),
        format!("Other {{ {DIGEST} required user_a=\"1\"; }};"),
        "Server { };".to_string(),
        format!("Server {{ {DIGEST} required user_a=\"1\" }};"),
        format!("Server {{ {DIGEST} mandatory user_a=\"1\"; }};"),
        format!("Server {{ {DIGEST} required user_a=123; }};"),
        format!("Server {{ {DIGEST} required user_a=-x; }};"),
        format!("Server {{ {DIGEST} required user_a='x'; }};"),
        format!("Server {{ {DIGEST} required user_a; }};"),
        format!("Server {{ {DIGEST} required user_a=\"${{no.such.property}}\"; }};"),
        format!("Server {{ {DIGEST} required; }};\nServer {{ {DIGEST} required; }};"),
        format!("Server {{ {DIGEST} required; }};\nBroken {{"),
        format!("Server {{ {DIGEST} required user_a=\"1\";}}"),
    ];
    let (mut read, mut missing, mut refused) = (0, 0, 0);
    for (i, file) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}.conf"));
        std::fs::write(&path, file).unwrap();
        let java = peer.jaas(&path, DEFAULT_SECTION);
        let ours = parse_jaas(file, DEFAULT_SECTION);
        match (&java, &ours) {
            (Ok(Some(entries)), Ok(users)) => {
                // ZooKeeper's SaslServerCallbackHandler: user_ options of every entry, later wins.
                let mut expected = std::collections::BTreeMap::new();
                for (_, options) in entries {
                    for (k, v) in options {
                        if let Some(name) = k.strip_prefix("user_") {
                            expected.insert(name.to_string(), v.clone());
                        }
                    }
                }
                let got = users.users().map(|u| (u.to_string(), users.password(u).unwrap().to_string())).collect();
                assert_eq!(expected, got, "file {i}:\n{file}");
                read += 1;
            }
            (Ok(None), Err(JaasError::NoSection { .. })) => missing += 1,
            (Err(_), Err(JaasError::Syntax { .. } | JaasError::DuplicateSection { .. })) => refused += 1,
            _ => panic!("file {i}: JDK {java:?}, ferrozk {ours:?}\n{file}"),
        }
    }
    assert_eq!((read, missing, refused), (6, 2, 10));
}
