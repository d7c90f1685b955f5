//! Counters the driver keeps for four-letter words, and the snapshot it hands to the
//! renderers in `admin`.

use std::net::SocketAddr;

use jute::OpCode;

use super::commit::Log;
use super::driver::{now_ms, Driver};
use crate::admin::stats::{ConfView, ConnectionInfo, Latency, QuorumConf, ServerMode, StatsSnapshot};

/// The version ferrozk reports where ZooKeeper reports its own; tools parse the leading
/// `X.Y.Z`, so it starts with the ZooKeeper version whose protocol we speak.
pub const VERSION: &str = concat!("3.9.4-ferrozk-", env!("CARGO_PKG_VERSION"));

/// Min/avg/max of request latencies in ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyStats {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

impl LatencyStats {
    /// Adds one sample.
    pub fn record(&mut self, ms: u64) {
        if self.count == 0 || ms < self.min {
            self.min = ms;
        }
        self.max = self.max.max(ms);
        self.total += ms;
        self.count += 1;
    }

    /// The summary four-letter words print.
    pub fn view(&self) -> Latency {
        let avg = if self.count == 0 { 0.0 } else { self.total as f64 / self.count as f64 };
        Latency { min_ms: self.min, avg_ms: avg, max_ms: self.max, count: self.count }
    }
}

/// Server-wide counters (`ServerStats`).
#[derive(Debug, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency: LatencyStats,
}

/// Per-connection counters for `cons`.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub established_ms: i64,
    pub last_op: OpCode,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response_ms: i64,
    pub last_latency_ms: u64,
    pub latency: LatencyStats,
}

impl ConnStats {
    /// Counters of a connection established at `now_ms`.
    pub fn new(now_ms: i64, _timeout_ms: i32) -> ConnStats {
        ConnStats {
            received: 1,
            sent: 1,
            established_ms: now_ms,
            last_op: OpCode::NOTIFICATION,
            last_cxid: 0,
            last_zxid: 0,
            last_response_ms: now_ms,
            last_latency_ms: 0,
            latency: LatencyStats::default(),
        }
    }

    /// Records a response.
    pub fn on_response(&mut self, op: OpCode, xid: i32, zxid: i64, now_ms: i64, latency_ms: u64) {
        self.sent += 1;
        self.last_op = op;
        if xid >= 0 {
            self.last_cxid = xid;
        }
        self.last_zxid = zxid;
        self.last_response_ms = now_ms;
        self.last_latency_ms = latency_ms;
        self.latency.record(latency_ms);
    }

    fn reset(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.latency = LatencyStats::default();
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    (open, max)
}

impl Driver {
    /// Captures everything a four-letter word may print.
    /// `conf`'s ensemble lines, from zoo.cfg's server list.
    fn quorum_conf(&self) -> Option<QuorumConf> {
        if !matches!(self.log, Log::Replicated(_)) {
            return None;
        }
        let own = self.config.own_server()?;
        let members = self
            .config
            .servers
            .iter()
            .map(|s| {
                let role = if s.observer { "observer" } else { "participant" };
                let client = match (s.client_addr.as_deref(), s.client_port) {
                    (addr, Some(port)) => format!(";{}:{port}", addr.unwrap_or("0.0.0.0")),
                    _ => String::new(),
                };
                format!("server.{}={}:{}:{}:{role}{client}", s.id, s.host, s.quorum_port, s.election_port)
            })
            .collect();
        Some(QuorumConf {
            init_limit: self.config.init_limit,
            sync_limit: self.config.sync_limit,
            election_port: own.election_port,
            quorum_port: own.quorum_port,
            peer_type: u8::from(own.observer),
            members,
        })
    }

    pub(super) fn snapshot(&self) -> StatsSnapshot {
        let tree = &self.state.tree;
        let connections = self
            .conns
            .values()
            .map(|c| ConnectionInfo {
                remote: c.remote,
                queued: c.outbox.outstanding.load(std::sync::atomic::Ordering::Relaxed) as u64,
                received: c.stats.received,
                sent: c.stats.sent,
                session_id: c.session,
                last_op: c.stats.last_op.name().to_owned(),
                established_ms: c.stats.established_ms,
                timeout_ms: c.timeout_ms.max(0) as u32,
                last_cxid: c.stats.last_cxid,
                last_zxid: c.stats.last_zxid,
                last_response_ms: c.stats.last_response_ms,
                last_latency_ms: c.stats.last_latency_ms,
                latency: c.stats.latency.view(),
            })
            .collect();
        let mut by_session: Vec<(i64, Vec<String>)> = Vec::new();
        for (conn, paths) in self.watches.data_watches_by_connection() {
            if let Some(s) = self.conns.get(&conn).and_then(|c| c.session) {
                by_session.push((s, paths));
            }
        }
        by_session.sort();
        let by_path = self
            .watches
            .data_watches_by_path()
            .into_iter()
            .map(|(p, conns)| (p, conns.iter().filter_map(|c| self.conns.get(c).and_then(|c| c.session)).collect()))
            .collect();
        let mut ephemerals: Vec<(i64, Vec<String>)> =
            tree.ephemerals().map(|(s, paths)| (s, paths.iter().map(|p| p.to_string()).collect())).collect();
        ephemerals.sort();
        let data_dir = self.config.data_dir.join("version-2");
        let log_dir =
            self.config.data_log_dir.clone().unwrap_or_else(|| self.config.data_dir.clone()).join("version-2");
        let (min, max) = self.config.session_timeout_range_ms();
        let (open_fds, max_fds) = fd_counts();
        StatsSnapshot {
            version: crate::admin::four_letter::full_version(),
            mode: match &self.log {
                Log::Replicated(r) => r.mode(),
                _ => ServerMode::Standalone,
            },
            latency: self.stats.latency.view(),
            packets_received: self.stats.packets_received,
            packets_sent: self.stats.packets_sent,
            connections,
            outstanding_requests: self.outstanding(),
            last_zxid: self.state.last_zxid,
            node_count: tree.node_count() as u64 + 1,
            watch_count: self.watches.watch_count() as u64,
            ephemerals_count: tree.ephemeral_count() as u64,
            approximate_data_size: tree.approximate_data_size(),
            uptime_ms: self.uptime_ms(),
            global_sessions: self.state.sessions.len() as u64,
            local_sessions: 0,
            conf: ConfView {
                client_port: self.config.client_port,
                client_port_address: self.config.client_port_address.to_string(),
                data_dir: data_dir.display().to_string(),
                data_dir_size: dir_size(&data_dir),
                data_log_dir: log_dir.display().to_string(),
                data_log_size: dir_size(&log_dir),
                tick_time_ms: self.config.tick_time_ms,
                max_client_cnxns: self.config.max_client_cnxns,
                min_session_timeout_ms: min,
                max_session_timeout_ms: max,
                server_id: self.config.server_id.filter(|_| matches!(self.log, Log::Replicated(_))).unwrap_or(0),
                quorum: self.quorum_conf(),
            },
            watches_by_session: by_session,
            watches_by_path: by_path,
            sessions: self.state.sessions.iter().map(|(s, t)| (*s, (*t).max(0) as u32)).collect(),
            ephemerals_by_session: ephemerals,
            digests: vec![(self.state.last_zxid, tree.digest())],
            open_file_descriptors: open_fds,
            max_file_descriptors: max_fds,
            serving: self.serving(),
            metrics: match &self.log {
                Log::Replicated(r) => {
                    r.mntr_metrics(u64::from(self.config.sync_limit * crate::ensemble::TICKS_PER_TICK_TIME))
                }
                _ => Vec::new(),
            },
            read_only: false,
        }
    }

    /// Runs a four-letter word: some reset counters, all render text.
    pub(super) fn four_letter(&mut self, cmd: &'static str, _arg: Option<i64>, remote: SocketAddr) -> String {
        let allowed = self.config.four_letter_allowed(cmd);
        if allowed {
            match cmd {
                "srst" => {
                    self.stats = ServerStats::default();
                }
                "crst" => {
                    for c in self.conns.values_mut() {
                        c.stats.reset();
                    }
                }
                _ => {}
            }
        }
        let mut snap = self.snapshot();
        // ZooKeeper lists the connection asking, too: it has sent its four bytes.
        snap.connections.push(ConnectionInfo {
            remote,
            queued: 0,
            received: 1,
            sent: 0,
            session_id: None,
            last_op: "NA".into(),
            established_ms: now_ms(),
            timeout_ms: 0,
            last_cxid: 0,
            last_zxid: 0,
            last_response_ms: 0,
            last_latency_ms: 0,
            latency: Latency::default(),
        });
        crate::admin::four_letter::render(cmd, &snap, allowed)
    }
}
