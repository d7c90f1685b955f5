//! The tokio glue: the listener, one task per connection, and the driver task that owns
//! all state. Pure logic lives in `tree`, `txn`, `session` and `watch`.

mod codec;
pub mod commit;
mod connection;
pub mod driver;
mod outbox;
mod persist;
mod pipeline;
pub mod replicated;
pub mod request;
mod stats;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::Config;
use crate::storage::RecoveryMode;
pub use stats::VERSION;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// Messages the driver may have queued before connection tasks wait (backpressure).
const DRIVER_QUEUE_MAX: usize = 16 * 1024;

/// Counts connections per client IP for `maxClientCnxns`.
#[derive(Default)]
struct PerIp {
    counts: Mutex<HashMap<IpAddr, u32>>,
}

impl PerIp {
    fn try_add(&self, ip: IpAddr, max: u32) -> bool {
        let mut m = self.counts.lock().expect("per-ip lock");
        let n = m.entry(ip).or_insert(0);
        if max != 0 && *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn remove(&self, ip: IpAddr) {
        let mut m = self.counts.lock().expect("per-ip lock");
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Stops the process after an error that makes going on unsafe (a failed fsync: what was
/// acknowledged might not be on disk). ZooKeeper exits in the same situation.
pub fn fatal(why: &str) -> ! {
    tracing::error!("fatal: {why}");
    std::process::exit(3)
}

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data on disk is damaged or unreadable (the message names file and offset).
    #[error("cannot recover the data directory: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// The JAAS file exists but cannot be read or parsed (ZooKeeper refuses to start too).
    #[error("{file}: {message}")]
    Jaas { file: std::path::PathBuf, message: String },
    /// The client port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The ensemble in zoo.cfg cannot be set up (own address, peer ports).
    #[error("ensemble: {0}")]
    Ensemble(String),
}

/// Recovers the data directory, binds the client port and serves until the process is
/// stopped.
///
/// # Errors
/// When recovery finds damage, or the client port cannot be bound.
pub async fn run(config: Config, mode: RecoveryMode) -> Result<(), ServeError> {
    let (tx, rx) = mpsc::channel(DRIVER_QUEUE_MAX);
    let sasl_users = load_sasl(&config)?;
    let (state, log) = if config.is_distributed() {
        start_replica(&config, mode, tx.clone()).await?
    } else {
        persist::start(&config, mode, tx.clone())?
    };
    let addr = SocketAddr::new(config.client_port_address, config.client_port);
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let how = if config.is_distributed() { "ensemble member" } else { "standalone" };
    info!(%addr, data_dir = %config.data_dir.display(), "ferrozk {VERSION} serving clients ({how})");
    tokio::spawn(driver::Driver::new(config.clone(), state, log).with_sasl(sasl_users).run(rx));
    tokio::spawn(snapshot_on_signal(tx.clone()));
    if config.autopurge_purge_interval_hours > 0 {
        tokio::spawn(purge_every(config.autopurge_purge_interval_hours, persist::options(&config)));
    }
    accept_loop(listener, config, tx).await;
    Ok(())
}

/// Recovers an ensemble member's data, restores its replica and opens its peer links.
async fn start_replica(
    config: &Config,
    mode: RecoveryMode,
    driver: mpsc::Sender<driver::DriverMsg>,
) -> Result<(crate::txn::State, commit::Log), ServeError> {
    use crate::ensemble::{peer::PeerNet, store, Plan};
    if mode == RecoveryMode::TruncateToLastGood {
        warn!("--start-from-last-good does not apply to an ensemble member: wipe its data directory instead and it copies the data from its peers");
    }
    let plan = Plan::from_config(config).map_err(ServeError::Ensemble)?;
    let opts = persist::options(config);
    if !opts.force_sync {
        warn!("forceSync=no: a replica acknowledges before its log is on disk; crashes can lose acknowledged writes (unsafe outside tests and benchmarks)");
    }
    let recovered = store::recover(&opts)?;
    info!(
        slot = recovered.state.slot,
        zxid = format_args!("{:#x}", recovered.state.last_zxid),
        log_entries = recovered.replica.entries.len(),
        nodes = recovered.state.tree.node_count(),
        "recovered replica"
    );
    let (state, restored, store_tx) = store::start(opts.clone(), recovered, driver.clone())?;
    let seed = u64::from(plan.me.0) ^ (std::process::id() as u64).rotate_left(32) ^ driver::now_ms() as u64;
    let replica = ferrozk_consensus::Replica::restore(plan.paxos_config(config, seed), restored);
    let peers = PeerNet::start(plan.me, plan.cluster, &plan.listen, &plan.peers, driver)
        .await
        .map_err(|(addr, source)| ServeError::Bind { addr, source })?;
    info!(id = plan.me.0, voters = ?plan.voters, observers = ?plan.observers, "ensemble member starting");
    let r = replicated::Replicated::new(replica, peers, store_tx, opts);
    Ok((state, commit::Log::Replicated(Box::new(r))))
}

/// Reads the SASL DIGEST-MD5 users from the JAAS file, as ZooKeeper does at start-up: no
/// file or no `Server` section means no SASL; Kerberos-only sections are reported and
/// SASL stays off (a server without Kerberos); a file that does not parse stops start-up.
fn load_sasl(config: &Config) -> Result<Option<Arc<crate::sasl::SaslUsers>>, ServeError> {
    use crate::sasl::{parse_jaas, JaasError, DEFAULT_SECTION};
    let Some(file) = &config.jaas_config else { return Ok(None) };
    let text = std::fs::read_to_string(file)
        .map_err(|e| ServeError::Jaas { file: file.clone(), message: format!("cannot read: {e}") })?;
    let section = config.sasl_section.as_deref().unwrap_or(DEFAULT_SECTION);
    match parse_jaas(&text, section) {
        Ok(mut users) => {
            users.set_super_password(config.sasl_super_password.clone());
            for m in users.ignored_modules() {
                warn!(module = %m, "JAAS login module ignored (ferrozk does SASL DIGEST-MD5 only)");
            }
            info!(users = users.len(), file = %file.display(), "SASL DIGEST-MD5 enabled");
            Ok(Some(Arc::new(users)))
        }
        Err(e @ (JaasError::Syntax { .. } | JaasError::DuplicateSection { .. })) => {
            Err(ServeError::Jaas { file: file.clone(), message: e.to_string() })
        }
        Err(e) => {
            warn!(file = %file.display(), "SASL stays off: {e}");
            Ok(None)
        }
    }
}

/// `autopurge.purgeInterval`: besides the purge after every snapshot, purge every so many
/// hours, as ZooKeeper's PurgeTask does.
async fn purge_every(hours: u32, opts: crate::storage::StorageOptions) {
    let every = std::time::Duration::from_secs(u64::from(hours) * 3600);
    let opts = Arc::new(opts);
    loop {
        tokio::time::sleep(every).await;
        let opts = opts.clone();
        match tokio::task::spawn_blocking(move || crate::storage::purge(&opts)).await {
            Ok(Ok(report)) => info!(?report, "autopurge"),
            Ok(Err(e)) => warn!("autopurge failed: {e}"),
            Err(e) => warn!("autopurge task failed: {e}"),
        }
    }
}

/// SIGUSR1 asks for a snapshot now (`kill -USR1 <pid>`), e.g. before a backup.
async fn snapshot_on_signal(tx: mpsc::Sender<driver::DriverMsg>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else { return };
    while usr1.recv().await.is_some() {
        if tx.send(driver::DriverMsg::SnapshotNow).await.is_err() {
            return;
        }
    }
}

/// Accepts clients until the process stops; each connection gets its own task.
async fn accept_loop(listener: TcpListener, config: Config, tx: mpsc::Sender<driver::DriverMsg>) {
    let limits = connection::ConnLimits { frame_bytes_max: config.jute_max_buffer };
    let max_per_ip = config.max_client_cnxns;
    let per_ip = Arc::new(PerIp::default());
    let next_id = AtomicU64::new(1);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if !per_ip.try_add(remote.ip(), max_per_ip) {
            warn!(%remote, max = max_per_ip, "too many connections from this address (maxClientCnxns), closing");
            drop(stream);
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let tx = tx.clone();
        let per_ip = per_ip.clone();
        tokio::spawn(async move {
            connection::serve(id, stream, remote, tx, limits).await;
            per_ip.remove(remote.ip());
        });
    }
}
