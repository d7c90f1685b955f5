//! Server configuration: zoo.cfg as Apache ZooKeeper operators write it, plus command-line
//! overrides. (Parser to be completed: see `parse_zoo_cfg`.)

use std::net::IpAddr;
use std::path::PathBuf;

/// One `server.N=host:quorumPort:electionPort[:role][;[clientAddr:]clientPort]` line, kept
/// for the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client_addr: Option<String>,
    pub client_port: Option<u16>,
}

/// Everything the server reads from zoo.cfg, with ZooKeeper's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from (for `conf` and error messages); `None` = embedded default.
    pub source: Option<PathBuf>,
    pub tick_time_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    /// `None` means the log lives in `data_dir`.
    pub data_log_dir: Option<PathBuf>,
    pub client_port: u16,
    pub client_port_address: IpAddr,
    /// Per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    /// `None` = 2 × tickTime.
    pub min_session_timeout_ms: Option<u32>,
    /// `None` = 20 × tickTime.
    pub max_session_timeout_ms: Option<u32>,
    /// Allowed four-letter words; `["*"]` = all. Default: only `srvr`.
    pub four_letter_whitelist: Vec<String>,
    pub extended_types_enabled: bool,
    pub reconfig_enabled: bool,
    pub jute_max_buffer: u32,
    pub snap_count: u64,
    pub autopurge_snap_retain_count: u32,
    /// Hours; 0 disables purging.
    pub autopurge_purge_interval_hours: u32,
    pub servers: Vec<ServerSpec>,
    /// Container/TTL reaper period (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u64,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<hash>`), if any.
    pub super_digest: Option<String>,
    /// Keys we do not know, kept so `conf` and the start-up warning can name them.
    pub unknown_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::from("ferrozk-data"),
            data_log_dir: None,
            client_port: 2181,
            client_port_address: IpAddr::from([127, 0, 0, 1]),
            max_client_cnxns: 60,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            four_letter_whitelist: vec!["srvr".into()],
            extended_types_enabled: false,
            reconfig_enabled: false,
            jute_max_buffer: 0xfffff,
            snap_count: 100_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 1,
            servers: Vec::new(),
            container_check_interval_ms: 60_000,
            super_digest: None,
            unknown_keys: Vec::new(),
        }
    }
}

impl Config {
    /// The negotiable session timeout range in ms.
    pub fn session_timeout_range_ms(&self) -> (u32, u32) {
        let min = self.min_session_timeout_ms.unwrap_or(2 * self.tick_time_ms);
        let max = self.max_session_timeout_ms.unwrap_or(20 * self.tick_time_ms);
        (min, max.max(min))
    }

    /// Whether a four-letter word may run (`srvr` always may).
    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        cmd == "srvr" || self.four_letter_whitelist.iter().any(|w| w == "*" || w == cmd)
    }
}
