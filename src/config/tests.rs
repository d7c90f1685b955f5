//! zoo.cfg parsing against ZooKeeper 3.8's rules (`QuorumPeerConfig.parseProperties`).

use super::*;

const BASE: &str = "tickTime=2000\ndataDir=/var/lib/zk\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_str(text, Path::new("zoo.cfg"))
}

fn ok(extra: &str) -> Config {
    parse(&format!("{BASE}{extra}")).unwrap_or_else(|e| panic!("{e}"))
}

/// The Display text of the error `extra` (appended after the two base lines) causes.
fn err(extra: &str) -> String {
    match parse(&format!("{BASE}{extra}")) {
        Ok(c) => panic!("accepted {extra:?}: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zoo_cfg_defaults_follow_zookeeper() {
    let c = ok("");
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.effective_data_log_dir(), Path::new("/var/lib/zk"));
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.client_port_address, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.session_timeout_range_ms(), (4000, 40000));
    assert_eq!(c.four_letter_whitelist, vec!["srvr"]);
    assert!(c.four_letter_allowed("srvr") && !c.four_letter_allowed("ruok"));
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(c.autopurge_purge_interval_hours, 0);
    assert_eq!(c.source.as_deref(), Some(Path::new("zoo.cfg")));
    assert!(c.unknown_keys.is_empty() && c.warnings.is_empty() && c.servers.is_empty());
    // The embedded default (no file) stays on loopback.
    assert_eq!(Config::default().client_port_address, IpAddr::from([127, 0, 0, 1]));
}

#[test]
fn every_key_is_read() {
    let c = ok("initLimit=7\nsyncLimit=3\ndataLogDir=/logs\nclientPort=3181\n\
         clientPortAddress=10.1.2.3\nmaxClientCnxns=0\nminSessionTimeout=1000\n\
         maxSessionTimeout=90000\n4lw.commands.whitelist= ruok , mntr,,conf \n\
         extendedTypesEnabled=TRUE\nreconfigEnabled=true\njute.maxbuffer=0x400000\n\
         snapCount=5000\nautopurge.snapRetainCount=7\nautopurge.purgeInterval=24\n\
         peerType=observer\nstandaloneEnabled=False\nserver.1=a:2888:3888\n\
         znode.container.checkIntervalMs=1000\n\
         zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n");
    assert_eq!((c.init_limit, c.sync_limit), (7, 3));
    assert_eq!(c.effective_data_log_dir(), Path::new("/logs"));
    assert_eq!(c.client_port, 3181);
    assert_eq!(c.client_port_address, IpAddr::from([10, 1, 2, 3]));
    assert_eq!(c.max_client_cnxns, 0);
    assert_eq!(c.session_timeout_range_ms(), (1000, 90000));
    assert_eq!(c.four_letter_whitelist, vec!["ruok", "mntr", "conf"]);
    assert!(c.four_letter_allowed("mntr") && c.four_letter_allowed("srvr"));
    assert!(!c.four_letter_allowed("envi"));
    assert!(c.extended_types_enabled && c.reconfig_enabled && !c.standalone_enabled);
    assert_eq!(c.jute_max_buffer, 0x400000);
    assert_eq!(c.snap_count, 5000);
    assert_eq!(c.autopurge_snap_retain_count, 7);
    assert_eq!(c.autopurge_purge_interval_hours, 24);
    assert_eq!(c.peer_type, PeerType::Observer);
    assert_eq!(c.container_check_interval_ms, 1000);
    assert_eq!(c.super_digest.as_deref(), Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="));
    assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
}

#[test]
fn whitelist_star_means_all() {
    let c = ok("4lw.commands.whitelist=stat, *\n");
    assert_eq!(c.four_letter_whitelist, vec!["*"]);
    assert!(c.four_letter_allowed("envi") && c.four_letter_allowed("wchp"));
    assert_eq!(ok("4lw.commands.whitelist=\n").four_letter_whitelist, Vec::<String>::new());
}

#[test]
fn host_names_and_ipv6_client_addresses() {
    assert!(ok("clientPortAddress=localhost\n").client_port_address.is_loopback());
    let v6 = IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(ok("clientPortAddress=::1\n").client_port_address, v6);
    assert_eq!(ok("clientPortAddress=[::1]\n").client_port_address, v6);
}

#[test]
fn session_timeout_minus_one_keeps_the_default() {
    let c = ok("minSessionTimeout=-1\nmaxSessionTimeout=-1\n");
    assert_eq!(c.session_timeout_range_ms(), (4000, 40000));
}

#[test]
fn snap_retain_count_is_clamped_to_three_with_a_warning() {
    let c = ok("autopurge.snapRetainCount=1\nautopurge.purgeInterval=-5\n");
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(c.autopurge_purge_interval_hours, 0);
    assert!(c.warnings[0].contains("snapRetainCount"), "{:?}", c.warnings);
}

#[test]
fn relative_data_dir_stays_relative_with_a_warning() {
    let c = parse("tickTime=2000\ndataDir=data\n").unwrap();
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert!(c.warnings[0].contains("dataDir is relative"), "{:?}", c.warnings);
}

#[test]
fn unknown_keys_are_collected_not_fatal() {
    let c = ok("admin.enableServer=false\nmetricsProvider.httpPort=7000\nadmin.enableServer=1\n");
    assert_eq!(c.unknown_keys, vec!["metricsProvider.httpPort", "admin.enableServer"]);
}

#[test]
fn server_lines() {
    let c = ok("initLimit=5\nsyncLimit=2\nserver.2=zk2:2888:3888\n\
         server.1=zk1.example:2888:3888:participant;2181\n\
         server.3=[2001:db8::3]:2888:3888:observer;[::1]:2182\n\
         server.4 = zk4:2888:3888 ; 10.0.0.4:2183\n");
    let s = &c.servers;
    assert_eq!(s.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(
        s[0],
        ServerSpec {
            id: 1,
            host: "zk1.example".into(),
            quorum_port: 2888,
            election_port: 3888,
            observer: false,
            client_addr: None,
            client_port: Some(2181),
        }
    );
    assert_eq!((s[1].client_addr.as_deref(), s[1].client_port), (None, None));
    assert_eq!(s[2].host, "2001:db8::3");
    assert!(s[2].observer);
    assert_eq!((s[2].client_addr.as_deref(), s[2].client_port), (Some("::1"), Some(2182)));
    assert_eq!((s[3].client_addr.as_deref(), s[3].client_port), (Some("10.0.0.4"), Some(2183)));
    assert!(c.is_distributed());
}

#[test]
fn bad_server_lines() {
    let e = err("server.1=zk1:2888\n");
    assert!(e.starts_with("zoo.cfg:3: server.1: expected host:quorumPort"), "{e}");
    assert_eq!(err("server.x=zk1:2888:3888\n"), "zoo.cfg:3: server.x: expected server.<id> with a numeric id");
    assert!(err("server.1=zk1:2888:2888\n").contains("must differ"));
    assert!(err("server.1=zk1:2888:3888:voter\n").contains("participant or observer"));
    assert!(err("server.1=zk1:2888:99999\n").contains("bad port \"99999\""));
    assert!(err("server.1=zk1:2888:3888;a:b:c\n").contains("expected host:"));
    assert!(err("server.1=[::1:2888:3888\n").contains("expected host:"));
    assert!(err("server.1=a:1:2|b:1:2\n").contains("multiple addresses"));
}

#[test]
fn ensemble_needs_limits() {
    let two = "server.1=a:1:2\nserver.2=b:1:2\n";
    assert_eq!(err(two), "zoo.cfg: initLimit is not set");
    assert_eq!(err(&format!("initLimit=5\n{two}")), "zoo.cfg: syncLimit is not set");
    // One voter with standalone allowed is a standalone server.
    assert!(!ok("server.1=a:1:2\n").is_distributed());
}

#[test]
fn bad_values_name_file_line_and_key() {
    assert_eq!(
        parse("# c\n\ndataDir=/d\n\n  tickTime = abc\n").unwrap_err().to_string(),
        "zoo.cfg:5: tickTime: expected a positive integer, got \"abc\""
    );
    let cases = [
        ("tickTime=0", "tickTime: expected a positive integer, got \"0\""),
        ("tickTime=3000000000", "tickTime: expected a positive integer, got \"3000000000\""),
        ("initLimit=-1", "initLimit: expected a non-negative integer, got \"-1\""),
        ("syncLimit=x", "syncLimit: expected a non-negative integer, got \"x\""),
        ("dataLogDir=", "dataLogDir: expected a directory, got an empty value"),
        ("clientPort=65536", "clientPort: expected a port number (0-65535), got \"65536\""),
        (
            "clientPortAddress=no.such.host.invalid",
            "clientPortAddress: expected an IP address or a known host, got \"no.such.host.invalid\"",
        ),
        ("maxClientCnxns=-3", "maxClientCnxns: expected a non-negative integer, got \"-3\""),
        (
            "minSessionTimeout=-2",
            "minSessionTimeout: expected a non-negative integer (or -1 for the default), got \"-2\"",
        ),
        (
            "maxSessionTimeout=1e4",
            "maxSessionTimeout: expected a non-negative integer (or -1 for the default), got \"1e4\"",
        ),
        ("extendedTypesEnabled=yes", "extendedTypesEnabled: expected true or false, got \"yes\""),
        ("reconfigEnabled=1", "reconfigEnabled: expected true or false, got \"1\""),
        ("standaloneEnabled=", "standaloneEnabled: expected true or false, got \"\""),
        ("jute.maxbuffer=0xZZ", "jute.maxbuffer: expected a positive integer, got \"0xZZ\""),
        ("snapCount=0", "snapCount: expected a positive integer, got \"0\""),
        (
            "znode.container.checkIntervalMs=-1",
            "znode.container.checkIntervalMs: expected a positive integer, got \"-1\"",
        ),
        ("autopurge.snapRetainCount=many", "autopurge.snapRetainCount: expected an integer, got \"many\""),
        ("autopurge.purgeInterval=1.5", "autopurge.purgeInterval: expected an integer, got \"1.5\""),
        ("peerType=voter", "peerType: expected participant or observer, got \"voter\""),
        (
            "zookeeper.DigestAuthenticationProvider.superDigest=nocolon",
            "zookeeper.DigestAuthenticationProvider.superDigest: expected user:base64-digest, got \"nocolon\"",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(err(&format!("{line}\n")), format!("zoo.cfg:3: {want}"), "for {line}");
    }
}

#[test]
fn min_above_max_session_timeout_is_an_error() {
    assert_eq!(
        err("minSessionTimeout=50000\n"),
        "zoo.cfg:3: minSessionTimeout: minSessionTimeout (50000) must not be larger than maxSessionTimeout (40000)"
    );
    assert!(err("maxSessionTimeout=3000\n").starts_with("zoo.cfg:3: maxSessionTimeout: "));
}

#[test]
fn required_keys() {
    assert_eq!(parse("tickTime=2000\n").unwrap_err().to_string(), "zoo.cfg: dataDir is not set");
    assert_eq!(parse("dataDir=/d\n").unwrap_err().to_string(), "zoo.cfg: tickTime is not set");
}

#[test]
fn java_properties_syntax() {
    // Comments with # and !, blank and whitespace-only lines, CRLF, the three separators,
    // surrounding whitespace, continuations, escapes, and the last duplicate winning.
    let text = "# comment\r\n   ! also a comment\r\n\t \r\n  tickTime  2000\r\n\
                dataDir:/a\\\n      /b\ndataLogDir = C:\\\\logs\\tx\nclientPort=1\n\
                clientPort = 2182   \nmaxClientCnxns\t=\t5\n\
                4lw.commands.whitelist=\\u0073rvr\nno\\ value=1\n";
    let c = parse(text).unwrap();
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.data_dir, PathBuf::from("/a/b"));
    assert_eq!(c.data_log_dir, Some(PathBuf::from("C:\\logs\tx")));
    assert_eq!(c.client_port, 2182);
    assert_eq!(c.max_client_cnxns, 5);
    assert_eq!(c.four_letter_whitelist, vec!["srvr"]);
    assert_eq!(c.unknown_keys, vec!["no value"]);
    // Only one separator is skipped: `==7` is the value `=7`.
    assert!(err("snapCount==7\n").contains("got \"=7\""));
    let bad = parse("tickTime=1\ndataDir=/d\nx=\\u12\n").unwrap_err().to_string();
    assert_eq!(bad, "zoo.cfg:3: malformed \\uxxxx escape: \\u12");
}

#[test]
fn myid_is_read_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("myid"), "3\n").unwrap();
    assert_eq!(read_myid(dir.path()).unwrap(), Some(3));
    std::fs::write(dir.path().join("myid"), "three\n").unwrap();
    let e = read_myid(dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("myid:1: myid: expected a server id (a non-negative integer), got \"three\""), "{e}");
}

#[test]
fn parse_zoo_cfg_reads_file_and_myid() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("myid"), "2").unwrap();
    let cfg_path = dir.path().join("zoo.cfg");
    let text = format!(
        "tickTime=2000\ndataDir={}\ninitLimit=5\nsyncLimit=2\npeerType=participant\n\
         server.1=a:2888:3888\nserver.2=b:2888:3888:observer;127.0.0.2:2190\nserver.3=c:2888:3888\n",
        data.display()
    );
    std::fs::write(&cfg_path, text).unwrap();
    let c = parse_zoo_cfg(&cfg_path).unwrap();
    assert_eq!(c.server_id, Some(2));
    assert_eq!(c.client_port, 2190);
    assert_eq!(c.client_port_address, IpAddr::from([127, 0, 0, 2]));
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(c.warnings.iter().any(|w| w.contains("peerType")), "{:?}", c.warnings);

    let missing = parse_zoo_cfg(&dir.path().join("nope.cfg")).unwrap_err().to_string();
    assert!(missing.contains("nope.cfg: cannot read"), "{missing}");

    // An ensemble without myid cannot know which server it is.
    std::fs::remove_file(data.join("myid")).unwrap();
    std::fs::write(
        &cfg_path,
        format!("tickTime=1\ndataDir={}\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\n", data.display()),
    )
    .unwrap();
    let e = parse_zoo_cfg(&cfg_path).unwrap_err().to_string();
    assert!(e.ends_with("myid: myid is not set"), "{e}");
}

#[test]
fn clientport_conflicting_with_own_server_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("myid"), "1\n").unwrap();
    let cfg_path = dir.path().join("zoo.cfg");
    let text = format!("tickTime=2000\ndataDir={}\nclientPort=2181\nserver.1=a:2888:3888;2182\n", dir.path().display());
    std::fs::write(&cfg_path, text).unwrap();
    let e = parse_zoo_cfg(&cfg_path).unwrap_err().to_string();
    assert!(e.ends_with("zoo.cfg:3: clientPort: 2181 differs from the client port 2182 of server.1"), "{e}");
}

#[test]
fn jvm_flags_set_system_properties() {
    let mut cfg = Config::default();
    let flags = "-Xmx1g -Dzookeeper.DigestAuthenticationProvider.superDigest=super:abc= -Dzookeeper.enforceQuota=true \
                 -Dzookeeper.4lw.commands.whitelist=ruok,srvr -Dunrelated=1";
    apply_jvm_flags(&mut cfg, flags, "SERVER_JVMFLAGS").unwrap();
    assert_eq!(cfg.super_digest.as_deref(), Some("super:abc="));
    assert!(cfg.enforce_quota);
    assert_eq!(cfg.four_letter_whitelist, vec!["ruok".to_string(), "srvr".to_string()]);
    let err = apply_jvm_flags(&mut cfg, "-Dzookeeper.enforceQuota=maybe", "JVMFLAGS").unwrap_err();
    assert!(err.to_string().contains("JVMFLAGS") && err.to_string().contains("enforceQuota"), "{err}");
}

/// Writes `text` as zoo.cfg (with `dataDir` pointing at a fresh directory) and `myid`, if
/// given, and parses both as the server does.
fn parse_with_myid(myid: Option<u64>, text: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(id) = myid {
        std::fs::write(dir.path().join("myid"), format!("{id}\n")).unwrap();
    }
    let cfg_path = dir.path().join("zoo.cfg");
    std::fs::write(&cfg_path, format!("tickTime=2000\ndataDir={}\n{text}", dir.path().display())).unwrap();
    let parsed = parse_zoo_cfg(&cfg_path);
    (dir, parsed)
}

const LIMITS: &str = "initLimit=5\nsyncLimit=2\n";
const THREE: &str = "server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;2182\n\
                     server.3=127.0.0.1:2890:3890;2183\n";

#[test]
fn own_id_must_be_in_the_peer_list() {
    // ZooKeeper: QuorumPeer.start throws "My id 4 not in the peer list"; we refuse while parsing.
    let (dir, parsed) = parse_with_myid(Some(4), &format!("{LIMITS}{THREE}"));
    let e = parsed.unwrap_err().to_string();
    let want = format!(
        "{}:1: myid: my id 4 is not in the peer list of {} (server.1, server.2, server.3)",
        dir.path().join("myid").display(),
        dir.path().join("zoo.cfg").display()
    );
    assert_eq!(e, want);
    // Standalone (one voter, standaloneEnabled) does not use the list, as in ZooKeeper.
    let (_dir, parsed) = parse_with_myid(Some(4), "server.1=127.0.0.1:2888:3888;2181\n");
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn own_server_voters_and_observers() {
    let (_dir, parsed) =
        parse_with_myid(Some(2), &format!("{LIMITS}{THREE}server.4=127.0.0.1:2891:3891:observer;2184\n"));
    let c = parsed.unwrap();
    assert_eq!(c.own_server().map(|s| (s.id, s.client_port)), Some((2, Some(2182))));
    assert_eq!(c.voters().iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(c.observers().iter().map(|s| s.id).collect::<Vec<_>>(), vec![4]);
    assert_eq!(c.client_port, 2182);
    assert_eq!(c.peer_type, PeerType::Participant);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(ok("").own_server().is_none());
}

#[test]
fn an_observer_says_so_in_peer_type_and_its_line() {
    let text = format!("{LIMITS}peerType=observer\n{THREE}server.4=127.0.0.1:2891:3891:observer;2184\n");
    let (_dir, parsed) = parse_with_myid(Some(4), &text);
    let c = parsed.unwrap();
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(c.own_server().is_some_and(|s| s.observer));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The line wins over a contradicting peerType, with a warning (ZooKeeper's setupPeerType).
    let (_dir, parsed) = parse_with_myid(Some(4), &text.replace("peerType=observer", "peerType=participant"));
    let c = parsed.unwrap();
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(c.warnings.iter().any(|w| w.contains("peerType (Participant) differs from server.4")), "{:?}", c.warnings);
}

#[test]
fn ensemble_member_needs_a_client_port() {
    // ZooKeeper logs "clientPort is not set" and runs the peer without clients; ferrozk
    // cannot, and guessing 2181 collides on a shared host.
    let text = format!("{LIMITS}server.1=a:2888:3888\nserver.2=b:2888:3888;2181\nserver.3=c:2888:3888\n");
    let (dir, parsed) = parse_with_myid(Some(1), &text);
    let want = format!(
        "{}:5: server.1: clientPort is not set: end this server's line with ;port or ;host:port, or set clientPort",
        dir.path().join("zoo.cfg").display()
    );
    assert_eq!(parsed.unwrap_err().to_string(), want);
    // The clientPort key or the own line's ;port is enough; other lines need none.
    let (_dir, parsed) = parse_with_myid(Some(1), &format!("clientPort=2190\n{text}"));
    assert_eq!(parsed.unwrap().client_port, 2190);
    let (_dir, parsed) = parse_with_myid(Some(2), &text);
    assert_eq!(parsed.unwrap().client_port, 2181);
}

#[test]
fn duplicate_addresses_name_both_servers() {
    let cases = [
        // A local ensemble that reuses a client port.
        (
            "server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;2181\n",
            "zoo.cfg:6: server.2: 127.0.0.1:2181 is the client port of server.2 and already the \
             client port of server.1 (line 5)",
        ),
        // One server's election port is another's quorum port.
        (
            "server.1=zk1:2888:3888\nserver.2=ZK1:3888:3889\n",
            "zoo.cfg:6: server.2: zk1:3888 is the quorum port of server.2 and already the election port of \
             server.1 (line 5)",
        ),
        // A client port on every interface collides with the line's own host.
        (
            "server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\nserver.3=10.0.0.3:2888:3888;0.0.0.0:3888\n",
            "zoo.cfg:7: server.3: 10.0.0.3:3888 is the client port of server.3 and already the election port of \
             server.3 (line 7)",
        ),
        // IPv6 literals compare in canonical form.
        (
            "server.1=[::1]:2888:3888\nserver.2=[0:0:0:0:0:0:0:1]:2888:3889\n",
            "zoo.cfg:6: server.2: [::1]:2888 is the quorum port of server.2 and already the quorum port of \
             server.1 (line 5)",
        ),
    ];
    for (servers, want) in cases {
        assert_eq!(err(&format!("{LIMITS}{servers}")), want, "for {servers}");
    }
    // Same port on different hosts, or different ports on one host, is fine.
    ok(&format!("{LIMITS}server.1=a:2888:3888;2181\nserver.2=b:2888:3888;2181\nserver.3=a:2889:3889;2182\n"));
    // ZooKeeper: "Client and election port must be different!" (meaning the quorum port).
    assert!(err("server.1=zk1:2888:2888\n").contains("quorum and election ports must differ"));
}

#[test]
fn even_voter_counts_warn() {
    let warnings = |n: u64| {
        let servers: String = (1..=n).map(|i| format!("server.{i}=zk{i}:2888:3888\n")).collect();
        ok(&format!("{LIMITS}{servers}")).warnings
    };
    // ZooKeeper: "No server failure will be tolerated. You need at least 3 servers."
    assert_eq!(warnings(2), vec!["2 voters: no server failure will be tolerated; you need at least 3 servers"]);
    assert!(warnings(3).is_empty());
    // ZooKeeper: "Non-optimal configuration, consider an odd number of servers."
    assert_eq!(
        warnings(4),
        vec![
            "4 voters: non-optimal configuration, consider an odd number of servers: 4 tolerate 1 failure, \
              no more than 3 do"
        ]
    );
    assert!(warnings(5).is_empty());
    assert!(warnings(6)[0].ends_with("6 tolerate 2 failures, no more than 5 do"));
    // Observers do not vote, so they do not make a count odd.
    let c = ok(&format!("{LIMITS}server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\n"));
    assert!(c.warnings[0].starts_with("2 voters: "), "{:?}", c.warnings);
}

#[test]
fn small_lists_follow_standalone_enabled() {
    // One voter with standalone allowed runs standalone; ZooKeeper logs "Invalid
    // configuration, only one server specified (ignoring)".
    let c = ok("server.1=a:2888:3888\n");
    assert!(!c.is_distributed());
    assert!(c.warnings[0].starts_with("only one server specified (server.1): running standalone"), "{:?}", c.warnings);
    // standaloneEnabled=false makes one voter an ensemble, which tolerates no failure.
    let c = ok(&format!("{LIMITS}standaloneEnabled=false\nserver.1=a:2888:3888\n"));
    assert!(c.is_distributed());
    assert_eq!(c.warnings, vec!["1 voter: no server failure will be tolerated; you need at least 3 servers"]);
    // ZooKeeper: "standaloneEnabled = false then number of participants should be >0".
    assert_eq!(
        err("standaloneEnabled=false\n"),
        "zoo.cfg:3: standaloneEnabled: false needs at least one participant (a server.N line that is not an observer)"
    );
    // ZooKeeper: "Observers w/o participants is an invalid configuration".
    assert_eq!(
        err("server.2=b:2888:3888:observer\n"),
        "zoo.cfg:3: server.2: observers without participants is an invalid configuration"
    );
    // ZooKeeper: "Observers w/o quorum is an invalid configuration".
    let e = err("server.1=a:2888:3888\nserver.3=c:2888:3888:observer\nserver.2=b:2888:3888:observer\n");
    assert!(e.starts_with("zoo.cfg:4: server.3: observers without a quorum is an invalid configuration"), "{e}");
    ok(&format!("{LIMITS}standaloneEnabled=false\nserver.1=a:2888:3888\nserver.2=b:2888:3888:observer\n"));
}
