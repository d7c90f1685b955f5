//! Four-letter words: the text Apache ZooKeeper 3.8.0 prints, byte for byte, rendered from a
//! [`StatsSnapshot`]. Operators' scripts, zkServer.sh (`srvr` → `Mode:`), kazoo
//! (`envi` → `zookeeper.version=`) and monitoring agents (`mntr`) parse this text, so the
//! layout is copied from ZooKeeper's `server/command/*Command.java` and checked against a
//! live 3.8.0 (see the tests); only the values are ours.
//!
//! The connection task recognises a word with [`is_four_letter_word`], the driver resets
//! counters for `crst`/`srst`, then [`render`] (or [`render_with`]) makes the reply and the
//! connection is closed after it is written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::env;
use super::java_fmt as java;
use super::stats::{ConnectionInfo, ExpiryBucket, Extras, MetricValue, ServerMode, StatsSnapshot};

/// The ZooKeeper release whose behaviour and output we reproduce; it leads our version
/// string because clients and tools parse `X.Y.Z` from there.
pub const ZOOKEEPER_VERSION: &str = "3.9.4";

/// Every word ZooKeeper 3.8 knows (`FourLetterCommands.cmd2String`), besides the telnet
/// close sequence.
pub const WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat", "wchc", "wchp",
    "wchs", "mntr", "isro", "hash",
];

/// What telnet sends when it closes (IAC DO TIMING-MARK). ZooKeeper knows it as a command
/// named `telnet close` so that it is answered (or refused) instead of read as a length.
pub const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

/// `AbstractFourLetterCommand.ZK_NOT_SERVING`.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// ZooKeeper's `NIOServerCnxnFactory` files connections in 10 s groups
/// (`zookeeper.nio.sessionlessCnxnTimeout`), which `dump` shows.
const CNXN_EXPIRY_INTERVAL_MS: i64 = 10_000;

/// The name of the word the first 4 bytes of a connection spell, if they spell one; a
/// ZooKeeper server checks this before reading the bytes as a frame length.
pub fn is_four_letter_word(first4: &[u8; 4]) -> Option<&'static str> {
    if *first4 == TELNET_CLOSE {
        return Some("telnet close");
    }
    WORDS.iter().copied().find(|w| w.as_bytes() == first4)
}

/// Our `Version.getFullVersion()`: `3.8.0-ferrozk-<crate version>, built on <date>`. Tools
/// read `X.Y.Z` up to the first `-` (kazoo, aiozk, Datadog) and the rest up to
/// `, built on `. The date is `SOURCE_DATE_EPOCH` at build time when set.
pub fn full_version() -> String {
    let built_on = option_env!("SOURCE_DATE_EPOCH")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map(|secs| java::build_date(secs.saturating_mul(1000)))
        .unwrap_or_else(|| "an unrecorded date".into());
    format!("{ZOOKEEPER_VERSION}-ferrozk-{}, built on {built_on}", env!("CARGO_PKG_VERSION"))
}

/// The reply to `cmd` as ZooKeeper 3.8 writes it, reading the clock and (for `envi`) the
/// environment now. `allowed` is the whitelist's verdict (`Config::four_letter_allowed`).
/// Unknown words and an allowed telnet close give "" (ZooKeeper just closes).
pub fn render(cmd: &str, snap: &StatsSnapshot, allowed: bool) -> String {
    let mut extras = if allowed && cmd == "envi" {
        env::live_extras()
    } else {
        Extras { now_ms: env::now_ms(), ..Extras::default() }
    };
    extras.metrics = snap.metrics.clone();
    render_with(cmd, snap, &extras, allowed)
}

/// [`render`] with every value given, so the output is a pure function of its inputs.
pub fn render_with(cmd: &str, snap: &StatsSnapshot, extras: &Extras, allowed: bool) -> String {
    if !allowed {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    let mut out = String::new();
    let o = &mut out;
    match cmd {
        // These four never look at the server, so they answer even when it is not serving.
        "ruok" => o.push_str("imok"),
        "envi" => envi(o, snap, extras),
        "gtmk" | "stmk" => push(o, format_args!("{}", extras.trace_mask)),
        "isro" => o.push_str(match (snap.serving, is_read_only(snap)) {
            (false, _) => "null",
            (true, true) => "ro",
            (true, false) => "rw",
        }),
        // DigestCommand uses print, not println, for this one.
        "hash" if !snap.serving => o.push_str(NOT_SERVING),
        _ if !snap.serving && WORDS.contains(&cmd) => {
            o.push_str(NOT_SERVING);
            o.push('\n');
        }
        "srvr" => server_stats(o, snap, extras, false),
        "stat" => server_stats(o, snap, extras, true),
        "cons" => {
            for c in &snap.connections {
                connection(o, c, true);
                o.push('\n');
            }
            o.push('\n');
        }
        "conf" => conf(o, snap),
        "crst" => o.push_str("Connection stats reset.\n"),
        "srst" => o.push_str("Server stats reset.\n"),
        "dirs" => push(
            o,
            format_args!("datadir_size: {}\nlogdir_size: {}\n", snap.conf.data_dir_size, snap.conf.data_log_size),
        ),
        "dump" => dump(o, snap, extras),
        "wchs" => watch_summary(o, snap),
        "wchc" => watches_by_session(o, snap),
        "wchp" => watches_by_path(o, snap),
        "mntr" => mntr(o, snap, extras),
        "hash" => {
            for (zxid, digest) in &snap.digests {
                // ZooKeeper's digest is a Java long.
                push(o, format_args!("{}: {}\n", java::hex(*zxid), *digest as i64));
            }
        }
        _ => {}
    }
    out
}

fn push(out: &mut String, args: std::fmt::Arguments) {
    out.write_fmt(args).expect("writing to a String cannot fail");
}

fn is_read_only(snap: &StatsSnapshot) -> bool {
    snap.read_only || snap.mode == ServerMode::ReadOnly
}

/// `srvr` and `stat` (`StatCommand` + `ServerStats.toString`).
fn server_stats(o: &mut String, snap: &StatsSnapshot, extras: &Extras, with_clients: bool) {
    push(o, format_args!("Zookeeper version: {}\n", snap.version));
    if is_read_only(snap) {
        o.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        o.push_str("Clients:\n");
        for c in &snap.connections {
            connection(o, c, false);
            o.push('\n');
        }
        o.push('\n');
    }
    let l = &snap.latency;
    push(
        o,
        format_args!(
            "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\n\
             Outstanding: {}\nZxid: 0x{}\nMode: {}\nNode count: {}\n",
            l.min_ms,
            java::double(java::round4(l.avg_ms)),
            l.max_ms,
            snap.packets_received,
            snap.packets_sent,
            snap.connections.len(),
            snap.outstanding_requests,
            java::hex(snap.last_zxid),
            snap.mode.as_str(),
            snap.node_count
        ),
    );
    if snap.mode == ServerMode::Leader {
        let p = extras.proposal_sizes;
        push(o, format_args!("Proposal sizes last/min/max: {}/{}/{}\n", p.last, p.min, p.max));
    }
}

/// One connection (`ServerCnxn.dumpConnectionInfo`); `full` adds the session part `cons`
/// shows. ZooKeeper prints the selector interest ops in brackets: 0 for the four-letter
/// connection itself (reads suspended), 1 (read) for a client; we know only which kind a
/// connection is, so a connection without a session shows 0.
fn connection(o: &mut String, c: &ConnectionInfo, full: bool) {
    let ops = if c.session_id.is_some() { 1 } else { 0 };
    push(
        o,
        format_args!(
            " {}[{ops}](queued={},recved={},sent={}",
            java::socket_addr(&c.remote),
            c.queued,
            c.received,
            c.sent
        ),
    );
    if let Some(sid) = c.session_id.filter(|s| full && *s != 0) {
        push(
            o,
            format_args!(",sid=0x{},lop={},est={},to={}", java::hex(sid), c.last_op, c.established_ms, c.timeout_ms),
        );
        if c.last_cxid >= 0 {
            push(o, format_args!(",lcxid=0x{}", java::hex(i64::from(c.last_cxid))));
        }
        push(
            o,
            format_args!(
                ",lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
                java::hex(c.last_zxid),
                c.last_response_ms,
                c.last_latency_ms,
                c.latency.min_ms,
                // ServerCnxn keeps an integer mean (total / count).
                c.latency.avg_ms as u64,
                c.latency.max_ms
            ),
        );
    }
    o.push(')');
}

/// `ZooKeeperServer.dumpConf` for a standalone server. There is no TLS port and no listen
/// backlog setting, so those print ZooKeeper's "unset" value, -1.
fn conf(o: &mut String, snap: &StatsSnapshot) {
    let c = &snap.conf;
    push(
        o,
        format_args!(
            "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\n\
             dataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\n\
             maxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
            c.client_port,
            c.data_dir,
            c.data_dir_size,
            c.data_log_dir,
            c.data_log_size,
            c.tick_time_ms,
            c.max_client_cnxns,
            c.min_session_timeout_ms,
            c.max_session_timeout_ms,
            c.server_id
        ),
    );
    if let Some(q) = &c.quorum {
        // electionAlg is ZooKeeper's FLE number; ferrozk elects with Paxos phase 1 but
        // dashboards read the key, so it keeps the value every 3.x server prints.
        push(
            o,
            format_args!(
                "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType={}\nmembership: \n",
                q.init_limit, q.sync_limit, q.election_port, q.quorum_port, q.peer_type
            ),
        );
        for m in &q.members {
            push(o, format_args!("{m}\n"));
        }
        // A static configuration's version, as ZooKeeper prints it (no newline after it).
        o.push_str("version=0");
    }
}

/// `EnvCommand`: the version line, then the environment in ZooKeeper's order.
fn envi(o: &mut String, snap: &StatsSnapshot, extras: &Extras) {
    o.push_str("Environment:\n");
    push(o, format_args!("zookeeper.version={}\n", snap.version));
    for (k, v) in &extras.env {
        push(o, format_args!("{k}={v}\n"));
    }
}

/// `wchs` (`WatchManager.toString` + a newline). Like ZooKeeper it counts the data and
/// exists watches the snapshot lists, not child watches (those count in `mntr` only).
fn watch_summary(o: &mut String, snap: &StatsSnapshot) {
    let total: usize = snap.watches_by_session.iter().map(|(_, paths)| paths.len()).sum();
    push(
        o,
        format_args!(
            "{} connections watching {} paths\nTotal watches:{total}\n",
            snap.watches_by_session.len(),
            snap.watches_by_path.len()
        ),
    );
}

fn watches_by_session(o: &mut String, snap: &StatsSnapshot) {
    for (sid, paths) in &snap.watches_by_session {
        push(o, format_args!("0x{}\n", java::hex(*sid)));
        for p in paths {
            push(o, format_args!("\t{p}\n"));
        }
    }
    o.push('\n');
}

fn watches_by_path(o: &mut String, snap: &StatsSnapshot) {
    for (path, sids) in &snap.watches_by_path {
        push(o, format_args!("{path}\n"));
        for sid in sids {
            push(o, format_args!("\t0x{}\n", java::hex(*sid)));
        }
    }
    o.push('\n');
}

/// `DumpCommand`: session expiry groups, ephemerals by session, connection expiry groups.
fn dump(o: &mut String, snap: &StatsSnapshot, extras: &Extras) {
    o.push_str("SessionTracker dump:\nSession ");
    let sessions = extras.session_buckets.clone().unwrap_or_else(|| estimate_sessions(snap, extras.now_ms));
    expiry_queue(o, &sessions, |o, sid| push(o, format_args!("0x{}", java::hex(*sid))));
    o.push_str("ephemeral nodes dump:\n");
    push(o, format_args!("Sessions with Ephemerals ({}):\n", snap.ephemerals_by_session.len()));
    for (sid, paths) in &snap.ephemerals_by_session {
        push(o, format_args!("0x{}:\n", java::hex(*sid)));
        for p in paths {
            push(o, format_args!("\t{p}\n"));
        }
    }
    o.push_str("Connections dump:\nConnections ");
    let conns = extras.connection_buckets.clone().unwrap_or_else(|| estimate_connections(snap));
    expiry_queue(o, &conns, |o, (remote, sid)| {
        push(o, format_args!("ip: {} sessionId: 0x{}", java::socket_addr(remote), java::hex(*sid)))
    });
}

/// `ExpiryQueue.dump`: groups in time order, empty ones included.
fn expiry_queue<T>(o: &mut String, buckets: &[ExpiryBucket<T>], item: impl Fn(&mut String, &T)) {
    let elements: usize = buckets.iter().map(|b| b.members.len()).sum();
    push(o, format_args!("Sets ({})/({elements}):\n", buckets.len()));
    let mut sorted: Vec<&ExpiryBucket<T>> = buckets.iter().collect();
    sorted.sort_by_key(|b| b.expire_at_ms);
    for b in sorted {
        push(o, format_args!("{} expire at {}:\n", b.members.len(), java::date(b.expire_at_ms)));
        for m in &b.members {
            o.push('\t');
            item(o, m);
            o.push('\n');
        }
    }
}

/// `ExpiryQueue.roundToNextInterval`.
fn round_up(time_ms: i64, interval_ms: i64) -> i64 {
    (time_ms / interval_ms + 1) * interval_ms
}

/// Without the driver's buckets: every session as if touched now (a live client pings
/// well within its timeout), grouped by tick as ZooKeeper's session tracker groups them.
fn estimate_sessions(snap: &StatsSnapshot, now_ms: i64) -> Vec<ExpiryBucket<i64>> {
    let tick = i64::from(snap.conf.tick_time_ms).max(1);
    let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (sid, timeout) in &snap.sessions {
        let at = round_up(now_ms + i64::from(*timeout), tick);
        groups.entry(at).or_default().push(*sid);
    }
    into_buckets(groups)
}

/// Without the driver's buckets: each connection expires its timeout (10 s before the
/// handshake) after its last response, in 10 s groups.
fn estimate_connections(snap: &StatsSnapshot) -> Vec<ExpiryBucket<(std::net::SocketAddr, i64)>> {
    let mut groups: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for c in &snap.connections {
        let last = c.established_ms.max(c.last_response_ms);
        let timeout = match c.session_id {
            Some(_) => i64::from(c.timeout_ms),
            None => CNXN_EXPIRY_INTERVAL_MS,
        };
        let at = round_up(last + timeout, CNXN_EXPIRY_INTERVAL_MS);
        groups.entry(at).or_default().push((c.remote, c.session_id.unwrap_or(0)));
    }
    into_buckets(groups)
}

fn into_buckets<T>(groups: BTreeMap<i64, Vec<T>>) -> Vec<ExpiryBucket<T>> {
    groups.into_iter().map(|(expire_at_ms, members)| ExpiryBucket { expire_at_ms, members }).collect()
}

/// `MonitorCommand`: version and state first, then the gauges every 3.8 server registers
/// (`ZooKeeperServer.registerMetrics`) in the order a 3.8.0 server prints them, then
/// `extras.metrics`. ZooKeeper 3.8 also prints about 450 counter and summary lines
/// (`zk_avg_readlatency`, `zk_p99_…`); we print none we do not measure.
fn mntr(o: &mut String, snap: &StatsSnapshot, extras: &Extras) {
    use MetricValue::{Float, Int, Text};
    let l = &snap.latency;
    let r = &extras.client_response_sizes;
    let n = |v: u64| Int(i64::try_from(v).unwrap_or(i64::MAX));
    let lines = [
        ("version", Text(snap.version.clone())),
        ("server_state", Text(snap.mode.as_str().into())),
        ("ephemerals_count", n(snap.ephemerals_count)),
        ("num_alive_connections", n(snap.connections.len() as u64)),
        ("avg_latency", Float(java::round4(l.avg_ms))),
        ("outstanding_requests", n(snap.outstanding_requests)),
        ("znode_count", n(snap.node_count)),
        ("global_sessions", n(snap.global_sessions)),
        // Counts of plaintext connections refused when mTLS is required: we have no TLS.
        ("non_mtls_remote_conn_count", Int(0)),
        ("last_client_response_size", Int(r.last)),
        ("packets_sent", n(snap.packets_sent)),
        ("packets_received", n(snap.packets_received)),
        ("max_client_response_size", Int(r.max)),
        // Connections are never dropped on purpose (ZooKeeper's throttling knob).
        ("connection_drop_probability", Float(0.0)),
        ("watch_count", n(snap.watch_count)),
        ("auth_failed_count", n(extras.auth_failed_count)),
        ("min_latency", n(l.min_ms)),
        ("max_file_descriptor_count", n(snap.max_file_descriptors)),
        ("approximate_data_size", n(snap.approximate_data_size)),
        ("open_file_descriptor_count", n(snap.open_file_descriptors)),
        ("local_sessions", n(snap.local_sessions)),
        ("uptime", n(snap.uptime_ms)),
        ("max_latency", n(l.max_ms)),
        ("outstanding_tls_handshake", Int(0)),
        ("min_client_response_size", Int(r.min)),
        ("non_mtls_local_conn_count", Int(0)),
    ];
    let all = lines.iter().map(|(k, v)| (*k, v)).chain(extras.metrics.iter().map(|(k, v)| (k.as_str(), v)));
    for (key, value) in all {
        match value {
            Int(i) => push(o, format_args!("zk_{key}\t{i}\n")),
            Float(f) => push(o, format_args!("zk_{key}\t{}\n", java::double(*f))),
            Text(t) => push(o, format_args!("zk_{key}\t{t}\n")),
        }
    }
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
