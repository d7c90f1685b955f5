//! Each word rendered from a snapshot holding the values a live ZooKeeper 3.8.0 printed,
//! compared byte for byte with what it printed (`golden.rs`).

use std::net::SocketAddr;

use super::golden::*;
use super::*;
use crate::admin::stats::{BufferSizes, ConfView, Latency};

/// The version line of Debian's 3.8.0 build, so the goldens compare whole.
const ZK_VERSION: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";
const SID_A: i64 = 0x1000003b73d0000;
const SID_B: i64 = 0x1000003b73d0001;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// The connection a four-letter word arrives on: no session, one packet received.
fn word_conn(remote: &str) -> ConnectionInfo {
    ConnectionInfo {
        remote: addr(remote),
        queued: 0,
        received: 1,
        sent: 0,
        session_id: None,
        last_op: "NA".into(),
        established_ms: 0,
        timeout_ms: 0,
        last_cxid: -1,
        last_zxid: -1,
        last_response_ms: 0,
        last_latency_ms: 0,
        latency: Latency::default(),
    }
}

/// One of the two test clients after its creates, watches and pings.
fn client(remote: &str, sid: i64, est: i64, lresp: i64, llat: u64, max: u64) -> ConnectionInfo {
    ConnectionInfo {
        remote: addr(remote),
        queued: 0,
        received: 9,
        sent: 9,
        session_id: Some(sid),
        last_op: "PING".into(),
        established_ms: est,
        timeout_ms: 30_000,
        last_cxid: 7,
        last_zxid: 8,
        last_response_ms: lresp,
        last_latency_ms: llat,
        latency: Latency { min_ms: 0, avg_ms: 3.4, max_ms: max, count: 9 },
    }
}

/// The server as it was when `srvr` was captured.
fn snapshot() -> StatsSnapshot {
    StatsSnapshot {
        version: ZK_VERSION.into(),
        mode: ServerMode::Standalone,
        latency: Latency { min_ms: 0, avg_ms: 34.0 / 9.0, max_ms: 17, count: 9 },
        packets_received: 24,
        packets_sent: 23,
        connections: vec![
            word_conn("127.0.0.1:47100"),
            client("127.0.0.1:48302", SID_B, 1795451828584, 261908, 4, 14),
            client("127.0.0.1:48288", SID_A, 1795451828579, 261909, 4, 17),
        ],
        last_zxid: 8,
        node_count: 11,
        watch_count: 8,
        ephemerals_count: 4,
        approximate_data_size: 74,
        uptime_ms: 149_480,
        global_sessions: 2,
        conf: ConfView {
            client_port: 22181,
            client_port_address: "0.0.0.0".into(),
            data_dir: "/tmp/h3zk/data/version-2".into(),
            data_dir_size: 67_109_337,
            data_log_dir: "/tmp/h3zk/data/version-2".into(),
            data_log_size: 67_109_337,
            tick_time_ms: 2000,
            max_client_cnxns: 60,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            server_id: 0,
            quorum: None,
        },
        watches_by_session: vec![
            (SID_B, vec!["/b".into(), "/missing_b".into(), "/b/e1".into()]),
            (SID_A, vec!["/a".into(), "/missing_a".into(), "/a/e1".into()]),
        ],
        watches_by_path: ["/a", "/b", "/missing_b", "/missing_a", "/a/e1", "/b/e1"]
            .iter()
            .map(|p| (p.to_string(), vec![if p.contains('a') { SID_A } else { SID_B }]))
            .collect(),
        sessions: vec![(SID_A, 30_000), (SID_B, 30_000)],
        ephemerals_by_session: vec![
            (SID_A, vec!["/a/e2".into(), "/a/e1".into()]),
            (SID_B, vec!["/b/e2".into(), "/b/e1".into()]),
        ],
        open_file_descriptors: 42,
        max_file_descriptors: 20_000,
        serving: true,
        ..StatsSnapshot::default()
    }
}

fn render_all(cmd: &str, snap: &StatsSnapshot) -> String {
    render_with(cmd, snap, &Extras::default(), true)
}

#[test]
fn srvr_matches_zookeeper() {
    assert_eq!(render_all("srvr", &snapshot()), SRVR);
}

#[test]
fn stat_matches_zookeeper() {
    let mut s = snapshot();
    s.packets_received = 25;
    s.packets_sent = 24;
    assert_eq!(render_all("stat", &s), STAT);
}

#[test]
fn cons_matches_zookeeper() {
    let mut s = snapshot();
    s.connections[0] = word_conn("127.0.0.1:47108");
    assert_eq!(render_all("cons", &s), CONS);

    // After crst: last cxid reset to -1 (not printed); asked over IPv6.
    s.connections[0] = word_conn("[::1]:51844");
    for (c, (lresp, llat, max)) in s.connections[1..].iter_mut().zip([(393983, 0, 3), (393985, 1, 4)]) {
        (c.received, c.sent, c.last_cxid, c.last_response_ms, c.last_latency_ms) = (44, 44, -1, lresp, llat);
        c.latency = Latency { min_ms: 0, avg_ms: 0.2, max_ms: max, count: 20 };
    }
    assert_eq!(render_all("cons", &s), CONS_AFTER_CRST_IPV6);
}

#[test]
fn conf_and_dirs_match_zookeeper() {
    assert_eq!(render_all("conf", &snapshot()), CONF);
    assert_eq!(render_all("dirs", &snapshot()), DIRS);
}

/// `conf` of the leader of a 3-server ZooKeeper 3.8.0 ensemble, captured on this machine.
const CONF_QUORUM: &str = "clientPort=27903\nsecureClientPort=-1\ndataDir=/tmp/zke/z3/data/version-2\n\
dataDirSize=645\ndataLogDir=/tmp/zke/z3/data/version-2\ndataLogSize=645\ntickTime=500\nmaxClientCnxns=60\n\
minSessionTimeout=1000\nmaxSessionTimeout=10000\nclientPortListenBacklog=-1\nserverId=3\ninitLimit=10\n\
syncLimit=5\nelectionAlg=3\nelectionPort=37883\nquorumPort=27883\npeerType=0\nmembership: \n\
server.1=127.0.0.1:27881:37881:participant;127.0.0.1:27901\n\
server.2=127.0.0.1:27882:37882:participant;127.0.0.1:27902\n\
server.3=127.0.0.1:27883:37883:participant;127.0.0.1:27903\nversion=0";

#[test]
fn conf_of_an_ensemble_member_matches_zookeeper() {
    let mut s = snapshot();
    s.conf = ConfView {
        client_port: 27903,
        client_port_address: "127.0.0.1".into(),
        data_dir: "/tmp/zke/z3/data/version-2".into(),
        data_dir_size: 645,
        data_log_dir: "/tmp/zke/z3/data/version-2".into(),
        data_log_size: 645,
        tick_time_ms: 500,
        max_client_cnxns: 60,
        min_session_timeout_ms: 1000,
        max_session_timeout_ms: 10000,
        server_id: 3,
        quorum: Some(crate::admin::stats::QuorumConf {
            init_limit: 10,
            sync_limit: 5,
            election_port: 37883,
            quorum_port: 27883,
            peer_type: 0,
            members: (1..=3)
                .map(|i| format!("server.{i}=127.0.0.1:2788{i}:3788{i}:participant;127.0.0.1:2790{i}"))
                .collect(),
        }),
    };
    assert_eq!(render_all("conf", &s), CONF_QUORUM);
}

#[test]
fn envi_matches_zookeeper() {
    let env: Vec<(String, String)> = ENVI
        .lines()
        .skip(2)
        .map(|l| l.split_once('=').expect("key=value"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let extras = Extras { env, ..Extras::default() };
    assert_eq!(render_with("envi", &snapshot(), &extras, true), ENVI);
}

#[test]
fn live_envi_keeps_kazoos_version_parse_working() {
    let mut s = snapshot();
    s.version = full_version();
    let text = render("envi", &s, true);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Environment:");
    assert_eq!(lines.len(), 19, "{text}");
    // kazoo: the value of zookeeper.version, digits and dots up to the first other char.
    let version = lines[1].strip_prefix("zookeeper.version=").expect("version line");
    let digits: String = version.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    assert_eq!(digits, ZOOKEEPER_VERSION);
    assert!(lines.iter().any(|l| l.starts_with("java.compiler=")));
}

#[test]
fn watch_words_match_zookeeper() {
    assert_eq!(render_all("wchs", &snapshot()), WCHS);
    assert_eq!(render_all("wchc", &snapshot()), WCHC);
    assert_eq!(render_all("wchp", &snapshot()), WCHP);
}

#[test]
fn dump_matches_zookeeper() {
    let mut s = snapshot();
    s.connections[0] = word_conn("127.0.0.1:47124");
    let at = |hh_mm_ss: i64| 1_795_451_839_000 - 19_000 + hh_mm_ss * 1000; // 16:37:00 + s
    let extras = Extras {
        session_buckets: Some(vec![
            ExpiryBucket { expire_at_ms: at(39), members: vec![] },
            ExpiryBucket { expire_at_ms: at(41), members: vec![SID_A, SID_B] },
        ]),
        connection_buckets: Some(vec![
            ExpiryBucket {
                expire_at_ms: at(49),
                members: vec![(addr("127.0.0.1:48302"), SID_B), (addr("127.0.0.1:48288"), SID_A)],
            },
            ExpiryBucket { expire_at_ms: at(19), members: vec![] },
            ExpiryBucket { expire_at_ms: at(29), members: vec![(addr("127.0.0.1:47124"), 0)] },
            ExpiryBucket { expire_at_ms: at(39), members: vec![] },
        ]),
        ..Extras::default()
    };
    assert_eq!(render_with("dump", &s, &extras, true), DUMP);
}

#[test]
fn dump_estimates_buckets_from_the_snapshot() {
    let mut s = snapshot();
    s.connections[0] = word_conn("127.0.0.1:47124");
    s.connections[0].established_ms = 1_795_451_828_000;
    let extras = Extras { now_ms: 1_795_451_830_500, ..Extras::default() };
    let text = render_with("dump", &s, &extras, true);
    let want_sessions = "Session Sets (1)/(2):\n2 expire at Mon Nov 23 16:37:42 UTC 2026:\n\t0x1000003b73d0000\n";
    assert!(text.contains(want_sessions), "{text}");
    // The word connection: established + 10 s, rounded up to the next 10 s; the clients:
    // their last activity (established) + their 30 s timeout, rounded likewise.
    let want_conns = "Connections Sets (2)/(3):\n\
        1 expire at Mon Nov 23 16:37:20 UTC 2026:\n\tip: /127.0.0.1:47124 sessionId: 0x0\n\
        2 expire at Mon Nov 23 16:37:40 UTC 2026:\n\tip: /127.0.0.1:48302 sessionId: 0x1000003b73d0001\n";
    assert!(text.contains(want_conns), "{text}");
}

#[test]
fn mntr_matches_zookeepers_gauges() {
    let mut s = snapshot();
    s.latency.avg_ms = 0.56978;
    s.latency.max_ms = 4;
    s.packets_received = 93;
    s.packets_sent = 94;
    let mut extras = Extras { client_response_sizes: BufferSizes { last: 16, min: 16, max: 16 }, ..Extras::default() };
    assert_eq!(render_with("mntr", &s, &extras, true), MNTR_HEAD);
    extras.metrics =
        vec![("proposal_count".into(), MetricValue::Int(0)), ("avg_readlatency".into(), MetricValue::Float(0.0))];
    let text = render_with("mntr", &s, &extras, true);
    assert!(text.ends_with("zk_non_mtls_local_conn_count\t0\nzk_proposal_count\t0\nzk_avg_readlatency\t0.0\n"));
}

#[test]
fn mntr_on_a_fresh_server_prints_java_doubles_and_unset_sizes() {
    let text = render_all("mntr", &StatsSnapshot { serving: true, ..StatsSnapshot::default() });
    for line in ["zk_avg_latency\t0.0\n", "zk_last_client_response_size\t-1\n", "zk_server_state\tstandalone\n"] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}

#[test]
fn short_words() {
    let s = snapshot();
    assert_eq!(render_all("ruok", &s), "imok");
    assert_eq!(render_all("isro", &s), "rw");
    assert_eq!(render_all("gtmk", &s), "306");
    let set = Extras { trace_mask: 1234, ..Extras::default() };
    assert_eq!(render_with("stmk", &s, &set, true), "1234");
    assert_eq!(render_all("crst", &s), "Connection stats reset.\n");
    assert_eq!(render_all("srst", &s), "Server stats reset.\n");
    // 3.8.0 kept no digests on a young server and printed nothing.
    assert_eq!(render_all("hash", &s), "");
    let mut d = s.clone();
    d.digests = vec![(0x8, 1_234_567), (-1, u64::MAX)];
    assert_eq!(render_all("hash", &d), "8: 1234567\nffffffffffffffff: -1\n");
}

#[test]
fn whitelist_refusal_and_telnet_close() {
    let s = snapshot();
    assert_eq!(
        render_with("ruok", &s, &Extras::default(), false),
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(render("stmk", &s, false), "stmk is not executed because it is not in the whitelist.\n");
    assert_eq!(render("telnet close", &s, false), "telnet close is not executed because it is not in the whitelist.\n");
    // Allowed (with `*`), ZooKeeper runs nothing and closes.
    assert_eq!(render("telnet close", &s, true), "");
}

#[test]
fn words_when_not_serving() {
    let s = StatsSnapshot { serving: false, ..snapshot() };
    let refused = "This ZooKeeper instance is not currently serving requests\n";
    for w in ["srvr", "stat", "cons", "conf", "crst", "srst", "dirs", "dump", "wchs", "wchc", "wchp", "mntr"] {
        assert_eq!(render_all(w, &s), refused, "{w}");
    }
    assert_eq!(render_all("hash", &s), refused.trim_end());
    assert_eq!(render_all("isro", &s), "null");
    assert_eq!(render_all("ruok", &s), "imok");
    assert_eq!(render_all("gtmk", &s), "306");
    assert!(render_all("envi", &s).starts_with("Environment:\nzookeeper.version="));
}

#[test]
fn read_only_and_leader_lines() {
    // From StatCommand's source (not seen live: that needs an ensemble).
    let ro = StatsSnapshot { mode: ServerMode::ReadOnly, read_only: true, ..snapshot() };
    let text = render_all("srvr", &ro);
    assert!(text.starts_with(&format!(
        "Zookeeper version: {ZK_VERSION}\nREAD-ONLY mode; serving only read-only clients\nLatency"
    )));
    assert!(text.contains("\nMode: read-only\n"));
    assert_eq!(render_all("isro", &ro), "ro");
    let leader = StatsSnapshot { mode: ServerMode::Leader, ..snapshot() };
    assert!(
        render_all("srvr", &leader).ends_with("Mode: leader\nNode count: 11\nProposal sizes last/min/max: -1/-1/-1\n")
    );
}

#[test]
fn recognises_every_word_and_nothing_else() {
    for w in WORDS {
        let bytes: [u8; 4] = w.as_bytes().try_into().unwrap();
        assert_eq!(is_four_letter_word(&bytes), Some(w));
    }
    assert_eq!(is_four_letter_word(&TELNET_CLOSE), Some("telnet close"));
    assert_eq!(is_four_letter_word(b"xxxx"), None);
    assert_eq!(is_four_letter_word(b"RUOK"), None);
    // A ConnectRequest frame starts with its length (45 bytes).
    assert_eq!(is_four_letter_word(&[0, 0, 0, 45]), None);
    assert_eq!(render_all("xxxx", &snapshot()), "");
}

#[test]
fn version_line_parses_like_zookeepers() {
    let v = full_version();
    assert!(v.starts_with(&format!("{ZOOKEEPER_VERSION}-ferrozk-{}, built on ", env!("CARGO_PKG_VERSION"))), "{v}");
    // aiozk: `Zookeeper version: (\d+)\.(\d+)\.(\d+)-.*`; Datadog: `([^.]+)\.([^.]+)\.([^-]+)`.
    let mut s = snapshot();
    s.version = v;
    let line = render_all("srvr", &s).lines().next().unwrap().to_string();
    let rest = line.strip_prefix("Zookeeper version: ").unwrap();
    let (numbers, tail) = rest.split_once('-').unwrap();
    assert_eq!(numbers, ZOOKEEPER_VERSION);
    assert!(tail.contains(", built on "));
}
