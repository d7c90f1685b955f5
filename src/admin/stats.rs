//! The plain-data snapshot of server state that four-letter words (and later the
//! AdminServer and metrics) render. The driver fills it; renderers only read it.

use std::net::SocketAddr;

/// How this server serves, as `srvr` prints it in `Mode:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerMode {
    #[default]
    Standalone,
    Leader,
    Follower,
    Observer,
    ReadOnly,
}

impl ServerMode {
    /// The word ZooKeeper prints (`Mode: standalone`, `zk_server_state standalone`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Standalone => "standalone",
            ServerMode::Leader => "leader",
            ServerMode::Follower => "follower",
            ServerMode::Observer => "observer",
            ServerMode::ReadOnly => "read-only",
        }
    }
}

/// Request latency summary in ms, as `ServerStats` keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub min_ms: u64,
    pub avg_ms: f64,
    pub max_ms: u64,
    pub count: u64,
}

/// One client connection, for `stat` and `cons`.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub remote: SocketAddr,
    pub queued: u64,
    pub received: u64,
    pub sent: u64,
    /// `None` before the handshake completes.
    pub session_id: Option<i64>,
    /// Short name of the last op (`OpCode::name`), e.g. `GETD`.
    pub last_op: String,
    /// When the connection was established, ms since the Unix epoch.
    pub established_ms: i64,
    pub timeout_ms: u32,
    pub last_cxid: i32,
    pub last_zxid: i64,
    /// When the last response was sent, ms since the Unix epoch.
    pub last_response_ms: i64,
    pub last_latency_ms: u64,
    pub latency: Latency,
}

/// Values `conf` prints.
#[derive(Debug, Clone, Default)]
pub struct ConfView {
    pub client_port: u16,
    pub client_port_address: String,
    pub data_dir: String,
    pub data_dir_size: u64,
    pub data_log_dir: String,
    pub data_log_size: u64,
    pub tick_time_ms: u32,
    pub max_client_cnxns: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub server_id: u64,
    /// An ensemble member's extra lines (`QuorumZooKeeperServer.dumpConf`).
    pub quorum: Option<QuorumConf>,
}

/// What `conf` adds on an ensemble member.
#[derive(Debug, Clone, Default)]
pub struct QuorumConf {
    pub init_limit: u32,
    pub sync_limit: u32,
    pub election_port: u16,
    pub quorum_port: u16,
    /// 0 participant, 1 observer (ZooKeeper's `LearnerType` ordinal).
    pub peer_type: u8,
    /// `server.N=host:quorum:election:role;clientAddr:port` lines, in id order.
    pub members: Vec<String>,
}

/// Everything a four-letter word may print, captured at one instant by the driver.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    pub version: String,
    pub mode: ServerMode,
    pub latency: Latency,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub connections: Vec<ConnectionInfo>,
    pub outstanding_requests: u64,
    pub last_zxid: i64,
    /// ZooKeeper's count, which includes the root twice (5 on a fresh server).
    pub node_count: u64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub uptime_ms: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    pub conf: ConfView,
    /// (session id, watched paths) for `wchc`.
    pub watches_by_session: Vec<(i64, Vec<String>)>,
    /// (path, sessions) for `wchp`.
    pub watches_by_path: Vec<(String, Vec<i64>)>,
    /// (session id, timeout ms) of every live session, for `dump`.
    pub sessions: Vec<(i64, u32)>,
    /// (session id, its ephemeral paths) for `dump`.
    pub ephemerals_by_session: Vec<(i64, Vec<String>)>,
    /// Recent (zxid, tree digest) pairs for `hash`.
    pub digests: Vec<(i64, u64)>,
    pub open_file_descriptors: u64,
    pub max_file_descriptors: u64,
    /// True when the server is up and serving (most words refuse otherwise).
    pub serving: bool,
    /// Extra `mntr` gauges (an ensemble leader's `zk_followers`, `zk_synced_followers`, ...).
    pub metrics: Vec<(String, MetricValue)>,
    pub read_only: bool,
}

/// `last/min/max` sizes in bytes, as ZooKeeper's `BufferStats` keeps them; -1 until the
/// first sample, which is what a fresh ZooKeeper prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl Default for BufferSizes {
    fn default() -> Self {
        BufferSizes { last: -1, min: -1, max: -1 }
    }
}

/// One group of `dump`: ZooKeeper's `ExpiryQueue` files sessions (and connections) under the
/// tick they expire at, and prints empty groups too until they are swept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryBucket<T> {
    /// Ms since the Unix epoch.
    pub expire_at_ms: i64,
    pub members: Vec<T>,
}

/// The value of an extra `mntr` line: ZooKeeper prints integers as they are and every other
/// number as a Java double.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// What some words print beyond [`StatsSnapshot`]: values read when the word runs (clock,
/// environment) and ones the driver may not track yet. Kept apart from the snapshot so the
/// snapshot's producers need not change when a word learns to print more.
#[derive(Debug, Clone)]
pub struct Extras {
    /// Ms since the Unix epoch when the word runs; `dump` estimates expiry times from it
    /// when the buckets below are absent.
    pub now_ms: i64,
    /// `envi` lines after `zookeeper.version`, in ZooKeeper's order (see `admin::env`).
    pub env: Vec<(String, String)>,
    /// `gtmk` prints it; `stmk` echoes it, so set it to the new mask first.
    pub trace_mask: i64,
    /// `dump`'s session groups; `None`: estimated from `sessions` and `now_ms`.
    pub session_buckets: Option<Vec<ExpiryBucket<i64>>>,
    /// `dump`'s connection groups as (remote, session id or 0); `None`: estimated.
    pub connection_buckets: Option<Vec<ExpiryBucket<(SocketAddr, i64)>>>,
    pub client_response_sizes: BufferSizes,
    /// Printed by `srvr`/`stat` on a leader only.
    pub proposal_sizes: BufferSizes,
    pub auth_failed_count: u64,
    /// Appended to `mntr` after the gauges ZooKeeper always prints (leader gauges, counters).
    pub metrics: Vec<(String, MetricValue)>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            now_ms: 0,
            env: Vec::new(),
            // ZooTrace's default text trace mask, what `gtmk` shows on a fresh ZooKeeper.
            trace_mask: 306,
            session_buckets: None,
            connection_buckets: None,
            client_response_sizes: BufferSizes::default(),
            proposal_sizes: BufferSizes::default(),
            auth_failed_count: 0,
            metrics: Vec::new(),
        }
    }
}
