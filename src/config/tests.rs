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
         peerType=observer\nstandaloneEnabled=False\nznode.container.checkIntervalMs=1000\n\
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
         server.1=a:2888:3888\nserver.2=b:2888:3888:observer;127.0.0.2:2190\n",
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
