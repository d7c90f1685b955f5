//! The server list as an ensemble: who votes, who observes, which line is this server's,
//! and the checks ZooKeeper makes on the list (`QuorumPeerConfig.parseDynamicConfig`,
//! `setupClientPort`, `checkValidity`, and `QuorumPeer.start`'s "My id N not in the peer
//! list"). ZooKeeper finds some of these mistakes only when it starts the peer or binds a
//! port; we find them all while reading zoo.cfg, so a wrong file fails before anything is
//! bound or written, with an error naming file, line and key.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::{Config, ConfigError, Seen, ServerSpec};

impl Config {
    /// The servers that vote (participants), in id order. Elections and commits count
    /// majorities of this list only, so the ensemble code must never count observers.
    pub fn voters(&self) -> Vec<&ServerSpec> {
        self.servers.iter().filter(|s| !s.observer).collect()
    }

    /// The servers that follow the leader without voting, in id order. They get every
    /// commit but add no weight to a quorum, which is how ZooKeeper scales reads without
    /// slowing writes.
    pub fn observers(&self) -> Vec<&ServerSpec> {
        self.servers.iter().filter(|s| s.observer).collect()
    }

    /// This server's own `server.N` line (N = `myid`): the addresses it listens on for
    /// peers and its role. `None` for a standalone server without `myid`, or whose id is
    /// not listed; [`parse_zoo_cfg`](super::parse_zoo_cfg) refuses the latter in an
    /// ensemble, so an ensemble always has its own line.
    pub fn own_server(&self) -> Option<&ServerSpec> {
        let id = self.server_id?;
        self.servers.iter().find(|s| s.id == id)
    }
}

/// What ZooKeeper's `parseDynamicConfig` checks on the list alone (no `myid` needed), plus
/// addresses that two servers (or two ports of one server) would both have to bind.
pub(super) fn check_server_list(cfg: &mut Config, seen: &Seen, path: &Path) -> Result<(), ConfigError> {
    let (voters, observers) = (cfg.voters().len(), cfg.observers().len());
    let invalid =
        |line, key: String, message: String| ConfigError::Invalid { file: path.to_path_buf(), line, key, message };
    let first_observer = || {
        let first = cfg.observers().into_iter().min_by_key(|s| seen.server_line(s.id));
        first.map_or((0, String::new()), |s| (seen.server_line(s.id), format!("server.{}", s.id)))
    };
    if voters == 0 {
        if !cfg.standalone_enabled {
            return Err(invalid(
                seen.standalone_line.unwrap_or(0),
                "standaloneEnabled".into(),
                "false needs at least one participant (a server.N line that is not an observer)".into(),
            ));
        }
        if observers > 0 {
            let (line, key) = first_observer();
            return Err(invalid(line, key, "observers without participants is an invalid configuration".into()));
        }
    } else if voters == 1 && cfg.standalone_enabled {
        let only = cfg.voters()[0].id;
        if observers > 0 {
            // A single voter with standalone allowed runs standalone; nobody would feed
            // the observers.
            let (line, key) = first_observer();
            let message = format!(
                "observers without a quorum is an invalid configuration: server.{only} is the only \
                 participant and standaloneEnabled is true (add participants, or set standaloneEnabled=false)"
            );
            return Err(invalid(line, key, message));
        }
        cfg.warnings.push(format!(
            "only one server specified (server.{only}): running standalone, as ZooKeeper does \
             (set standaloneEnabled=false for a one-server ensemble)"
        ));
    } else if let Some(w) = quorum_size_warning(voters) {
        cfg.warnings.push(w);
    }
    check_addresses(cfg, seen, path)
}

/// Why an ensemble of `voters` is a poor choice, if it is. A write needs a majority
/// (`voters / 2 + 1`), so `voters` tolerate `(voters - 1) / 2` failures: 4 tolerate 1, like
/// 3, and pay for one more server in every write quorum.
fn quorum_size_warning(voters: usize) -> Option<String> {
    if voters <= 2 {
        // ZooKeeper: "No server failure will be tolerated. You need at least 3 servers."
        let noun = if voters == 1 { "voter" } else { "voters" };
        Some(format!("{voters} {noun}: no server failure will be tolerated; you need at least 3 servers"))
    } else if voters % 2 == 0 {
        let tolerated = (voters - 1) / 2;
        let failures = if tolerated == 1 { "failure" } else { "failures" };
        Some(format!(
            "{voters} voters: non-optimal configuration, consider an odd number of servers: \
             {voters} tolerate {tolerated} {failures}, no more than {} do",
            voters - 1
        ))
    } else {
        None
    }
}

/// What ZooKeeper checks once `myid` is known: an ensemble member must find itself in the
/// list (`QuorumPeer.start`) and know where to serve clients (`setupClientPort`).
pub(super) fn check_own_server(cfg: &Config, seen: &Seen, path: &Path) -> Result<(), ConfigError> {
    if !cfg.is_distributed() {
        return Ok(());
    }
    let myid_file = cfg.data_dir.join("myid");
    let Some(id) = cfg.server_id else {
        return Err(ConfigError::Missing { file: myid_file, key: "myid" });
    };
    let Some(own) = cfg.own_server() else {
        let listed: Vec<String> = cfg.servers.iter().map(|s| format!("server.{}", s.id)).collect();
        return Err(ConfigError::Invalid {
            file: myid_file,
            line: 1,
            key: "myid".into(),
            message: format!("my id {id} is not in the peer list of {} ({})", path.display(), listed.join(", ")),
        });
    };
    if own.client_port.is_none() && seen.client_port_line.is_none() {
        // ZooKeeper logs "clientPort is not set" and runs this peer with no client
        // listener. ferrozk always listens, and guessing 2181 would collide when several
        // servers share a host, so it refuses instead.
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            line: seen.server_line(id),
            key: format!("server.{id}"),
            message: "clientPort is not set: end this server's line with ;port or ;host:port, or set clientPort".into(),
        });
    }
    Ok(())
}

/// Which of a server's ports an address is, for error messages.
#[derive(Clone, Copy)]
enum PortKind {
    Quorum,
    Election,
    Client,
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortKind::Quorum => "quorum",
            PortKind::Election => "election",
            PortKind::Client => "client",
        })
    }
}

/// One address a server will bind.
struct Endpoint {
    id: u64,
    line: usize,
    kind: PortKind,
    host: String,
    port: u16,
}

/// Refuses two ports that would be bound at the same host:port. ZooKeeper checks this only
/// for servers added by `reconfig` (`QuorumServer.checkAddressDuplicate`, which skips
/// loopback), and otherwise fails at bind time on one server only; a local test ensemble
/// on 127.0.0.1 is exactly where such collisions happen, so loopback counts here. Hosts
/// are compared as written (IP literals in canonical form, names ignoring case), without
/// DNS: reading a config must not depend on the network.
fn check_addresses(cfg: &Config, seen: &Seen, path: &Path) -> Result<(), ConfigError> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for s in &cfg.servers {
        let line = seen.server_line(s.id);
        let host = host_key(&s.host);
        let mut add =
            |kind, host: &str, port| endpoints.push(Endpoint { id: s.id, line, kind, host: host.into(), port });
        add(PortKind::Quorum, &host, s.quorum_port);
        add(PortKind::Election, &host, s.election_port);
        if let Some(port) = s.client_port {
            // No client address (or a wildcard) binds every interface of that server's
            // machine, which includes the host its line names.
            let client_host = s.client_addr.as_deref().map(host_key).filter(|h| !is_wildcard(h));
            add(PortKind::Client, client_host.as_deref().unwrap_or(&host), port);
        }
    }
    // File order, so the error points at the later of the two lines.
    endpoints.sort_by_key(|e| e.line);
    for (j, later) in endpoints.iter().enumerate() {
        let clash = endpoints[..j].iter().find(|e| e.host == later.host && e.port == later.port);
        if let Some(earlier) = clash {
            let host = if later.host.contains(':') { format!("[{}]", later.host) } else { later.host.clone() };
            return Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                line: later.line,
                key: format!("server.{}", later.id),
                message: format!(
                    "{host}:{} is the {} port of server.{} and already the {} port of server.{} (line {})",
                    later.port, later.kind, later.id, earlier.kind, earlier.id, earlier.line
                ),
            });
        }
    }
    Ok(())
}

/// A host as compared for collisions: an IP literal in canonical form, a name in lower case.
fn host_key(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

fn is_wildcard(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}
