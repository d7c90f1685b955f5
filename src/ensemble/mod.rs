//! The replicated server: the same driver as standalone, with its log replaced by a
//! Multi-Paxos replica (`ferrozk-consensus`) whose messages travel over [`peer`] links and
//! whose accepted entries and snapshots live in [`store`]. This module turns zoo.cfg's
//! server list into the replica's configuration and the links' addresses.

pub mod frame;
pub mod peer;
pub mod store;

use std::net::{SocketAddr, ToSocketAddrs};

use ferrozk_consensus::{Config as PaxosConfig, ServerId};

use crate::config::Config;
use peer::PeerAddr;

/// The replica ticks this many times per ZooKeeper tick, so heartbeats go out several
/// times per `tickTime` while `initLimit`/`syncLimit` keep their meaning in `tickTime`s.
pub const TICKS_PER_TICK_TIME: u32 = 4;

/// Who is in the ensemble and where, from zoo.cfg and myid.
#[derive(Debug, Clone)]
pub struct Plan {
    pub me: ServerId,
    pub voters: Vec<ServerId>,
    pub observers: Vec<ServerId>,
    /// Every server's peer address (the quorum port of its `server.N` line).
    pub peers: Vec<PeerAddr>,
    /// Where this server listens for peers: its quorum and election ports.
    pub listen: Vec<SocketAddr>,
    /// Hash of the server list, so differently configured servers refuse each other.
    pub cluster: u64,
}

impl Plan {
    /// Reads the ensemble from a parsed config (which already checked myid, ports and
    /// roles).
    ///
    /// # Errors
    /// This server's own address does not resolve.
    pub fn from_config(config: &Config) -> Result<Plan, String> {
        let me = config.server_id.ok_or("myid is not set")?;
        let own = config.servers.iter().find(|s| s.id == me).ok_or(format!("myid {me} is not in the server list"))?;
        let mut listen = Vec::new();
        for port in [own.quorum_port, own.election_port] {
            let addrs = (own.host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| format!("server.{me}: cannot resolve {}:{port}: {e}", own.host))?;
            listen.extend(addrs.take(1));
        }
        listen.dedup();
        let id = |n: u64| ServerId(n as u32);
        let mut cluster: u64 = 0xcbf2_9ce4_8422_2325;
        for s in &config.servers {
            for b in format!("{}:{}:{}:{}", s.id, s.host, s.quorum_port, s.observer).bytes() {
                cluster = (cluster ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Ok(Plan {
            me: id(me),
            voters: config.servers.iter().filter(|s| !s.observer).map(|s| id(s.id)).collect(),
            observers: config.servers.iter().filter(|s| s.observer).map(|s| id(s.id)).collect(),
            peers: config
                .servers
                .iter()
                .map(|s| PeerAddr { id: id(s.id), host: s.host.clone(), port: s.quorum_port })
                .collect(),
            listen,
            cluster,
        })
    }

    /// The replica's configuration: ZooKeeper's limits, in replica ticks.
    pub fn paxos_config(&self, config: &Config, seed: u64) -> PaxosConfig {
        let mut c = PaxosConfig::new(self.me, self.voters.clone(), self.observers.clone(), seed);
        c.sync_limit_ticks = config.sync_limit.max(1) * TICKS_PER_TICK_TIME;
        c.init_limit_ticks = config.init_limit.max(1) * TICKS_PER_TICK_TIME;
        c
    }
}
