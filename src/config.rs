//! Server configuration: zoo.cfg as Apache ZooKeeper operators write it, plus command-line
//! overrides.
//!
//! zoo.cfg is read the way ZooKeeper 3.8 reads it (`QuorumPeerConfig.parse`): a
//! `java.util.Properties` file whose keys and values are trimmed, with ZooKeeper's defaults
//! applied afterwards. Where ZooKeeper silently accepts nonsense (a boolean `yes`, a negative
//! tick, an unparsable `snapCount` that `Integer.getInteger` turns into the default) we refuse
//! with an error naming file, line and key: a misread config is worse than none.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The zoo.cfg key of the super user's digest. ZooKeeper reads it only as a system property;
/// we also accept it in zoo.cfg so one file holds the whole configuration.
pub const SUPER_DIGEST_KEY: &str = "zookeeper.DigestAuthenticationProvider.superDigest";

/// ZooKeeper's floor for `autopurge.snapRetainCount` (`PurgeTxnLog` never keeps fewer).
const SNAP_RETAIN_COUNT_MIN: u32 = 3;

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

/// `peerType`: whether this server votes. The `server.N` line of this server's own id wins
/// over it, as in ZooKeeper (`setupPeerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerType {
    #[default]
    Participant,
    Observer,
}

/// Everything the server reads from zoo.cfg, with ZooKeeper's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from (for `conf` and error messages); `None` = embedded default.
    pub source: Option<PathBuf>,
    pub tick_time_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// A relative path is relative to the current directory, as in ZooKeeper.
    pub data_dir: PathBuf,
    /// `None` means the log lives in `data_dir`.
    pub data_log_dir: Option<PathBuf>,
    pub client_port: u16,
    /// 127.0.0.1 for the embedded default (safe for a first run); all interfaces (0.0.0.0)
    /// when read from a zoo.cfg, because that is what ZooKeeper does with the same file.
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
    /// `enforceQuota` (`zookeeper.enforceQuota`): hard quota limits answer QuotaExceeded.
    pub enforce_quota: bool,
    /// `java.security.auth.login.config`: the JAAS file with the SASL DIGEST-MD5 users.
    pub jaas_config: Option<PathBuf>,
    /// `zookeeper.sasl.serverconfig`: the JAAS section to read (default `Server`).
    pub sasl_section: Option<String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: overrides `user_super`.
    pub sasl_super_password: Option<String>,
    /// `zookeeper.superUser`: a SASL identity that is also super.
    pub super_user: Option<String>,
    /// `forceSync`: fsync the log before answering (anything but `no` means yes). Off is
    /// for tests and benchmarks only; the server logs it as unsafe.
    pub force_sync: bool,
    /// `preAllocSize` (given in KB): log segments grow in steps of this many bytes.
    pub prealloc_bytes: u64,
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
    /// `standaloneEnabled`: false makes even a one-server list run as an ensemble.
    pub standalone_enabled: bool,
    pub peer_type: PeerType,
    /// This server's id from `<dataDir>/myid`; `None` when there is no such file.
    pub server_id: Option<u64>,
    /// Things ZooKeeper would log a warning about (a clamped value, a relative path); the
    /// server logs each at start-up.
    pub warnings: Vec<String>,
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
            enforce_quota: false,
            jaas_config: None,
            sasl_section: None,
            sasl_super_password: None,
            super_user: None,
            force_sync: true,
            prealloc_bytes: 64 << 20,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 1,
            servers: Vec::new(),
            container_check_interval_ms: 60_000,
            super_digest: None,
            unknown_keys: Vec::new(),
            standalone_enabled: true,
            peer_type: PeerType::Participant,
            server_id: None,
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// The negotiable session timeout range in ms.
    pub fn session_timeout_range_ms(&self) -> (u32, u32) {
        let min = self.min_session_timeout_ms.unwrap_or(self.tick_time_ms.saturating_mul(2));
        let max = self.max_session_timeout_ms.unwrap_or(self.tick_time_ms.saturating_mul(20));
        (min, max.max(min))
    }

    /// Whether a four-letter word may run (`srvr` always may).
    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        cmd == "srvr" || self.four_letter_whitelist.iter().any(|w| w == "*" || w == cmd)
    }

    /// Where the transaction log goes: `dataLogDir`, else `dataDir` (ZooKeeper's default).
    pub fn effective_data_log_dir(&self) -> &Path {
        self.data_log_dir.as_deref().unwrap_or(&self.data_dir)
    }

    /// ZooKeeper's `isDistributed`: an ensemble unless the list has at most one voter and
    /// standalone mode is allowed.
    pub fn is_distributed(&self) -> bool {
        !self.servers.is_empty() && (!self.standalone_enabled || self.voters().len() > 1)
    }
}

/// Why a configuration could not be used. Every variant names the file, and the line and
/// key where there is one, so an operator can go straight to the mistake.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable; the server cannot guess what it said.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The properties syntax itself is broken (a malformed `\uXXXX` escape).
    #[error("{}:{line}: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, message: String },
    /// A value ZooKeeper would reject, or that we refuse rather than misread.
    #[error("{}:{line}: {key}: {message}", file.display())]
    Invalid { file: PathBuf, line: usize, key: String, message: String },
    /// A key ZooKeeper requires (`tickTime`, `dataDir`; limits and myid in an ensemble).
    #[error("{}: {key} is not set", file.display())]
    Missing { file: PathBuf, key: &'static str },
}

/// Reads a zoo.cfg and this server's `myid`, as `ZooKeeperServerMain`/`QuorumPeerMain` do.
///
/// # Errors
/// The file cannot be read, a value is bad (the error names file, line and key), a required
/// key (`tickTime`, `dataDir`) is missing, `myid` is malformed, the server list is no valid
/// ensemble (see [`parse_str`]), or in an ensemble: `myid` is missing or not in the list,
/// or this server has no client port.
pub fn parse_zoo_cfg(path: &Path) -> Result<Config, ConfigError> {
    let bytes = fs::read(path).map_err(|source| ConfigError::Read { file: path.to_path_buf(), source })?;
    // Java reads properties files as ISO-8859-1; UTF-8 is what operators mean today, so take
    // UTF-8 when it is valid and fall back to Latin-1 byte-for-char otherwise.
    let text = String::from_utf8(bytes).unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
    let (mut cfg, seen) = parse_keys(&text, path)?;
    cfg.server_id = read_myid(&cfg.data_dir)?;
    adopt_own_server_line(&mut cfg, &seen, path)?;
    ensemble::check_own_server(&cfg, &seen, path)?;
    Ok(cfg)
}

/// Reads `<data_dir>/myid`: the server id, on the first line. `None` when there is no such
/// file, which is normal for a standalone server.
///
/// # Errors
/// The file exists but cannot be read, or its first line is not a non-negative integer.
pub fn read_myid(data_dir: &Path) -> Result<Option<u64>, ConfigError> {
    let file = data_dir.join("myid");
    if !file.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&file).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
    let first = text.lines().next().unwrap_or("").trim();
    first.parse::<u64>().map(Some).map_err(|_| ConfigError::Invalid {
        file,
        line: 1,
        key: "myid".into(),
        message: format!("expected a server id (a non-negative integer), got {first:?}"),
    })
}

/// Parses zoo.cfg text; `path` only names the file in errors and in `source`. No file is
/// read (myid neither), so tests can feed text directly. Host names in `clientPortAddress`
/// are resolved, as ZooKeeper's `InetAddress.getByName` does.
///
/// # Errors
/// As [`parse_zoo_cfg`], minus the file and myid cases. The server list is checked as
/// ZooKeeper's `parseDynamicConfig` does (observers need a quorum, `standaloneEnabled=false`
/// needs a participant), and no two ports may share a host:port.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    parse_keys(text, path).map(|(cfg, _)| cfg)
}

/// The keys of one file, with what [`finish`] and [`adopt_own_server_line`] need to know.
fn parse_keys(text: &str, path: &Path) -> Result<(Config, Seen), ConfigError> {
    let entries = properties::parse(text).map_err(|(line, message)| ConfigError::Syntax {
        file: path.to_path_buf(),
        line,
        message,
    })?;
    let mut cfg = Config {
        source: Some(path.to_path_buf()),
        client_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        autopurge_purge_interval_hours: 0,
        ..Config::default()
    };
    let mut seen = Seen::default();
    for entry in &entries {
        let ctx = Ctx { file: path, line: entry.line, key: &entry.key };
        apply(&mut cfg, &mut seen, &ctx, &entry.value)?;
    }
    finish(&mut cfg, &seen, path)?;
    Ok((cfg, seen))
}

/// Applies Java system properties given as JVM flags (`-Dzookeeper.enforceQuota=true ...`),
/// as operators pass them to ZooKeeper through `SERVER_JVMFLAGS` or `JVMFLAGS` (and the
/// official docker image does). ZooKeeper reads many settings only as system properties,
/// and maps an unknown zoo.cfg key K to the property `zookeeper.K`; both spellings work.
/// Flags that name nothing ferrozk reads are ignored. `source` names the variable in errors.
///
/// # Errors
/// A known property with a bad value, naming `source` and the property.
pub fn apply_jvm_flags(cfg: &mut Config, flags: &str, source: &str) -> Result<(), ConfigError> {
    let file = PathBuf::from(source);
    let mut seen = Seen::default();
    for flag in flags.split_whitespace() {
        let Some((key, value)) = flag.strip_prefix("-D").and_then(|kv| kv.split_once('=')) else { continue };
        let key = match key {
            SUPER_DIGEST_KEY
            | "jute.maxbuffer"
            | "znode.container.checkIntervalMs"
            | "java.security.auth.login.config"
            | "zookeeper.sasl.serverconfig"
            | "zookeeper.SASLAuthenticationProvider.superPassword"
            | "zookeeper.superUser" => key,
            other => match other.strip_prefix("zookeeper.") {
                Some(
                    k @ ("4lw.commands.whitelist"
                    | "extendedTypesEnabled"
                    | "forceSync"
                    | "enforceQuota"
                    | "preAllocSize"
                    | "snapCount"
                    | "reconfigEnabled"),
                ) => k,
                _ => continue,
            },
        };
        let ctx = Ctx { file: &file, line: 0, key };
        apply(cfg, &mut seen, &ctx, value)?;
    }
    Ok(())
}

/// Lines of the keys whose absence or combination is checked after all keys are read.
#[derive(Default)]
struct Seen {
    tick_time: bool,
    data_dir: bool,
    init_limit: bool,
    sync_limit: bool,
    client_port_line: Option<usize>,
    standalone_line: Option<usize>,
    /// `(id, line)` of each `server.N` line, for errors about the list as a whole.
    server_lines: Vec<(u64, usize)>,
    min_timeout_line: Option<usize>,
    max_timeout_line: Option<usize>,
}

impl Seen {
    /// The line of `server.<id>`; 0 if the server did not come from a file line.
    fn server_line(&self, id: u64) -> usize {
        self.server_lines.iter().find(|(i, _)| *i == id).map_or(0, |(_, line)| *line)
    }
}

/// Where a value came from, to build errors that name it.
struct Ctx<'a> {
    file: &'a Path,
    line: usize,
    key: &'a str,
}

impl Ctx<'_> {
    fn err(&self, message: String) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_path_buf(), line: self.line, key: self.key.to_string(), message }
    }

    /// `Integer.parseInt` range and syntax: optional sign, decimal digits, fits in an i32.
    fn int(&self, v: &str, what: &str) -> Result<i64, ConfigError> {
        let n: Option<i64> = v.parse().ok();
        n.filter(|n| i32::try_from(*n).is_ok()).ok_or_else(|| self.err(format!("expected {what}, got {v:?}")))
    }

    fn positive(&self, v: &str) -> Result<u32, ConfigError> {
        let what = "a positive integer";
        match self.int(v, what)? {
            n if n > 0 => Ok(n as u32),
            _ => Err(self.err(format!("expected {what}, got {v:?}"))),
        }
    }

    fn non_negative(&self, v: &str) -> Result<u32, ConfigError> {
        let what = "a non-negative integer";
        match self.int(v, what)? {
            n if n >= 0 => Ok(n as u32),
            _ => Err(self.err(format!("expected {what}, got {v:?}"))),
        }
    }

    /// Keys ZooKeeper reads with `Integer.getInteger`, which also takes `0x` and `#` hex.
    fn positive_decoded(&self, v: &str) -> Result<u32, ConfigError> {
        let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")).or_else(|| v.strip_prefix('#'));
        let n = match hex {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => v.parse::<i64>().ok(),
        };
        match n {
            Some(n) if n > 0 && n <= i64::from(i32::MAX) => Ok(n as u32),
            _ => Err(self.err(format!("expected a positive integer, got {v:?}"))),
        }
    }

    /// A session timeout bound: -1 keeps ZooKeeper's default (a multiple of tickTime).
    fn timeout(&self, v: &str) -> Result<Option<u32>, ConfigError> {
        let what = "a non-negative integer (or -1 for the default)";
        match self.int(v, what)? {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as u32)),
            _ => Err(self.err(format!("expected {what}, got {v:?}"))),
        }
    }

    /// ZooKeeper's `parseBoolean`: `true`/`false` in any case, nothing else.
    fn boolean(&self, v: &str) -> Result<bool, ConfigError> {
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.err(format!("expected true or false, got {v:?}"))),
        }
    }

    fn port(&self, v: &str) -> Result<u16, ConfigError> {
        v.parse().map_err(|_| self.err(format!("expected a port number (0-65535), got {v:?}")))
    }

    fn path(&self, v: &str, cfg: &mut Config) -> Result<PathBuf, ConfigError> {
        if v.is_empty() {
            return Err(self.err("expected a directory, got an empty value".into()));
        }
        let p = PathBuf::from(v);
        if p.is_relative() {
            cfg.warnings.push(format!("{} is relative ({v}); it is resolved against the current directory", self.key));
        }
        Ok(p)
    }

    /// An IP literal (IPv6 with or without brackets) or a host name, resolved now.
    fn address(&self, v: &str) -> Result<IpAddr, ConfigError> {
        let bare = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(v);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(ip);
        }
        let resolved = (bare, 0).to_socket_addrs().ok().and_then(|mut a| a.next());
        resolved.map(|a| a.ip()).ok_or_else(|| self.err(format!("expected an IP address or a known host, got {v:?}")))
    }
}

/// Applies one key. Keys are matched exactly (ZooKeeper is case-sensitive).
fn apply(cfg: &mut Config, seen: &mut Seen, ctx: &Ctx, v: &str) -> Result<(), ConfigError> {
    match ctx.key {
        "tickTime" => {
            cfg.tick_time_ms = ctx.positive(v)?;
            seen.tick_time = true;
        }
        "initLimit" => {
            cfg.init_limit = ctx.non_negative(v)?;
            seen.init_limit = true;
        }
        "syncLimit" => {
            cfg.sync_limit = ctx.non_negative(v)?;
            seen.sync_limit = true;
        }
        "dataDir" => {
            cfg.data_dir = ctx.path(v, cfg)?;
            seen.data_dir = true;
        }
        "dataLogDir" => cfg.data_log_dir = Some(ctx.path(v, cfg)?),
        "clientPort" => {
            cfg.client_port = ctx.port(v)?;
            seen.client_port_line = Some(ctx.line);
        }
        "clientPortAddress" => cfg.client_port_address = ctx.address(v)?,
        "maxClientCnxns" => cfg.max_client_cnxns = ctx.non_negative(v)?,
        "minSessionTimeout" => {
            cfg.min_session_timeout_ms = ctx.timeout(v)?;
            seen.min_timeout_line = Some(ctx.line);
        }
        "maxSessionTimeout" => {
            cfg.max_session_timeout_ms = ctx.timeout(v)?;
            seen.max_timeout_line = Some(ctx.line);
        }
        "4lw.commands.whitelist" => cfg.four_letter_whitelist = whitelist(v),
        "extendedTypesEnabled" => cfg.extended_types_enabled = ctx.boolean(v)?,
        "reconfigEnabled" => cfg.reconfig_enabled = ctx.boolean(v)?,
        "standaloneEnabled" => {
            cfg.standalone_enabled = ctx.boolean(v)?;
            seen.standalone_line = Some(ctx.line);
        }
        "jute.maxbuffer" => cfg.jute_max_buffer = ctx.positive_decoded(v)?,
        "snapCount" => cfg.snap_count = u64::from(ctx.positive_decoded(v)?),
        "enforceQuota" | "zookeeper.enforceQuota" => cfg.enforce_quota = ctx.boolean(v)?,
        "java.security.auth.login.config" => cfg.jaas_config = Some(ctx.path(v, cfg)?),
        "sasl.serverconfig" | "zookeeper.sasl.serverconfig" => cfg.sasl_section = Some(v.to_owned()),
        "SASLAuthenticationProvider.superPassword" | "zookeeper.SASLAuthenticationProvider.superPassword" => {
            cfg.sasl_super_password = Some(v.to_owned())
        }
        "superUser" | "zookeeper.superUser" => cfg.super_user = Some(v.to_owned()),
        "forceSync" | "zookeeper.forceSync" => cfg.force_sync = v != "no",
        "preAllocSize" | "zookeeper.preAllocSize" => cfg.prealloc_bytes = u64::from(ctx.positive_decoded(v)?) * 1024,
        "znode.container.checkIntervalMs" => cfg.container_check_interval_ms = u64::from(ctx.positive_decoded(v)?),
        "autopurge.snapRetainCount" => {
            let n = ctx.int(v, "an integer")?;
            cfg.autopurge_snap_retain_count = if n < i64::from(SNAP_RETAIN_COUNT_MIN) {
                cfg.warnings.push(format!("invalid autopurge.snapRetainCount: {n}; using {SNAP_RETAIN_COUNT_MIN}"));
                SNAP_RETAIN_COUNT_MIN
            } else {
                n as u32
            };
        }
        // ZooKeeper treats zero and negative intervals alike: no purging.
        "autopurge.purgeInterval" => cfg.autopurge_purge_interval_hours = ctx.int(v, "an integer")?.max(0) as u32,
        "peerType" => {
            cfg.peer_type = match v.to_ascii_lowercase().as_str() {
                "participant" => PeerType::Participant,
                "observer" => PeerType::Observer,
                _ => return Err(ctx.err(format!("expected participant or observer, got {v:?}"))),
            }
        }
        SUPER_DIGEST_KEY | "DigestAuthenticationProvider.superDigest" => {
            let ok = v.split_once(':').is_some_and(|(u, h)| !u.is_empty() && !h.is_empty());
            if !ok {
                return Err(ctx.err(format!("expected user:base64-digest, got {v:?}")));
            }
            cfg.super_digest = Some(v.to_string());
        }
        key if key.starts_with("server.") => {
            let id: u64 =
                key["server.".len()..].parse().map_err(|_| ctx.err("expected server.<id> with a numeric id".into()))?;
            let spec = parse_server(id, v).map_err(|m| ctx.err(m))?;
            cfg.servers.retain(|s| s.id != id);
            cfg.servers.push(spec);
            seen.server_lines.retain(|(i, _)| *i != id);
            seen.server_lines.push((id, ctx.line));
        }
        key => {
            if !cfg.unknown_keys.iter().any(|k| k == key) {
                cfg.unknown_keys.push(key.to_string());
            }
        }
    }
    Ok(())
}

/// `4lw.commands.whitelist`: comma separated, trimmed, empty items skipped; `*` means all.
fn whitelist(v: &str) -> Vec<String> {
    let items: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if items.iter().any(|s| s == "*") {
        vec!["*".into()]
    } else {
        items
    }
}

/// Checks that need every key: required keys, timeout bounds, the server list, ensemble
/// limits.
fn finish(cfg: &mut Config, seen: &Seen, path: &Path) -> Result<(), ConfigError> {
    let missing = |key| ConfigError::Missing { file: path.to_path_buf(), key };
    if !seen.data_dir {
        return Err(missing("dataDir"));
    }
    if !seen.tick_time {
        return Err(missing("tickTime"));
    }
    let (min, max) = (
        cfg.min_session_timeout_ms.unwrap_or(cfg.tick_time_ms.saturating_mul(2)),
        cfg.max_session_timeout_ms.unwrap_or(cfg.tick_time_ms.saturating_mul(20)),
    );
    if min > max {
        let (line, key) = match (seen.min_timeout_line, seen.max_timeout_line) {
            (Some(l), _) => (l, "minSessionTimeout"),
            (None, Some(l)) => (l, "maxSessionTimeout"),
            (None, None) => unreachable!("defaults are 2x and 20x tickTime"),
        };
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            line,
            key: key.into(),
            message: format!("minSessionTimeout ({min}) must not be larger than maxSessionTimeout ({max})"),
        });
    }
    cfg.servers.sort_by_key(|s| s.id);
    // ZooKeeper checks the list (`parseDynamicConfig`) before the limits (`checkValidity`).
    ensemble::check_server_list(cfg, seen, path)?;
    if cfg.is_distributed() {
        if !seen.init_limit || cfg.init_limit == 0 {
            return Err(missing("initLimit"));
        }
        if !seen.sync_limit || cfg.sync_limit == 0 {
            return Err(missing("syncLimit"));
        }
    }
    Ok(())
}

/// What ZooKeeper's `setupClientPort`/`setupPeerType` do once `myid` is known: this
/// server's own `server.N` line decides its client address and its role.
fn adopt_own_server_line(cfg: &mut Config, seen: &Seen, path: &Path) -> Result<(), ConfigError> {
    let Some(own) = cfg.server_id.and_then(|id| cfg.servers.iter().find(|s| s.id == id)) else {
        return Ok(());
    };
    let own = own.clone();
    if let Some(port) = own.client_port {
        if let Some(line) = seen.client_port_line.filter(|_| cfg.client_port != port) {
            return Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                line,
                key: "clientPort".into(),
                message: format!("{} differs from the client port {port} of server.{}", cfg.client_port, own.id),
            });
        }
        cfg.client_port = port;
        if let Some(addr) = own.client_addr.as_deref().and_then(|a| a.parse().ok()) {
            cfg.client_port_address = addr;
        }
    }
    let role = if own.observer { PeerType::Observer } else { PeerType::Participant };
    if role != cfg.peer_type {
        cfg.warnings.push(format!(
            "peerType ({:?}) differs from server.{} ({role:?}); using the server line",
            cfg.peer_type, own.id
        ));
        cfg.peer_type = role;
    }
    Ok(())
}

/// Parses the value of `server.N` (`QuorumServer.initializeWithAddressString`).
fn parse_server(id: u64, v: &str) -> Result<ServerSpec, String> {
    let format = || {
        format!(
            "expected host:quorumPort:electionPort[:participant|:observer]\
             [;[clientAddress:]clientPort], got {v:?}"
        )
    };
    let parts: Vec<&str> = v.split(';').collect();
    if parts.len() > 2 {
        return Err(format());
    }
    if parts[0].contains('|') {
        return Err("multiple addresses per server (a|b) are not supported".into());
    }
    let server = host_and_port(parts[0]).ok_or_else(format)?;
    if !(3..=4).contains(&server.len()) || server[0].is_empty() {
        return Err(format());
    }
    let port = |s: &str| s.parse::<u16>().map_err(|_| format!("bad port {s:?} in {v:?}"));
    let (quorum_port, election_port) = (port(&server[1])?, port(&server[2])?);
    if quorum_port == election_port {
        return Err(format!("quorum and election ports must differ, got {v:?}"));
    }
    let observer = match server.get(3).map(|r| r.trim().to_ascii_lowercase()).as_deref() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(format!("expected participant or observer, got {other:?}")),
    };
    let (client_addr, client_port) = match parts.get(1) {
        None => (None, None),
        Some(client) => match host_and_port(client).ok_or_else(format)?.as_slice() {
            [p] => (None, Some(port(p)?)),
            [h, p] => (Some(h.clone()), Some(port(p)?)),
            _ => return Err(format()),
        },
    };
    Ok(ServerSpec { id, host: server[0].clone(), quorum_port, election_port, observer, client_addr, client_port })
}

/// ZooKeeper's `ConfigUtils.getHostAndPort`: split on `:`, except inside a leading
/// `[IPv6]`. Like Java's `split`, trailing empty parts are dropped.
fn host_and_port(s: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let (host, after) = (&rest[..close], &rest[close + 1..]);
        let mut v = vec![host.to_string()];
        match after.strip_prefix(':') {
            Some("") => return None,
            Some(tail) => v.extend(tail.split(':').map(String::from)),
            None if after.is_empty() => {}
            None => return None,
        }
        v
    } else {
        s.split(':').map(String::from).collect()
    };
    // ZooKeeper would reject `a:1:2 ; 3`; trimming is friendlier and cannot misread.
    parts.iter_mut().for_each(|p| *p = p.trim().to_string());
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    Some(parts)
}

mod ensemble;
mod properties;

#[cfg(test)]
mod tests;
