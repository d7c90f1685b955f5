//! The `ferrozk` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferrozk::config::{self, Config};
use ferrozk::storage::RecoveryMode;
use tracing::{error, warn};

/// mimalloc instead of glibc malloc: requests are decoded (paths, ACLs) on connection
/// threads and freed on the driver's, a producer/consumer pattern where glibc's per-thread
/// caches miss and most of malloc's time went to `_int_malloc` and arena locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A ZooKeeper-compatible coordination server. Existing ZooKeeper clients (Java, Curator,
/// kazoo, C, Go, Node, zkCli.sh) connect to it unchanged.
#[derive(Parser)]
#[command(name = "ferrozk", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    ///
    /// Without --config it runs standalone on 127.0.0.1:2181 with data under
    /// ./ferrozk-data. With --config it reads a ZooKeeper zoo.cfg (tickTime, dataDir,
    /// clientPort, clientPortAddress, maxClientCnxns, min/maxSessionTimeout,
    /// 4lw.commands.whitelist, extendedTypesEnabled, jute.maxbuffer, ...). --port and
    /// --data-dir override what the file says. Logs go to stderr; RUST_LOG sets the level
    /// (e.g. RUST_LOG=debug).
    Serve {
        /// A ZooKeeper zoo.cfg file.
        #[arg(long, short = 'c', value_name = "ZOO_CFG")]
        config: Option<PathBuf>,
        /// Client port (overrides clientPort).
        #[arg(long, short = 'p')]
        port: Option<u16>,
        /// Data directory (overrides dataDir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// If the log or a snapshot is damaged, start from the last good point instead of
        /// refusing to start. Everything after it is discarded, and each discarded file or
        /// byte range is logged. Only for an operator who has no better copy.
        #[arg(long)]
        start_from_last_good: bool,
    },
    /// Summarise a data directory: snapshots and log segments, their zxid ranges, record
    /// counts and sizes, and any damage found. Reads only; changes nothing.
    Inspect {
        /// A dataDir (its ferrozk/ subdirectory is read) or the ferrozk/ directory itself.
        dir: PathBuf,
        /// The dataLogDir, when the log lives apart from the snapshots.
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
    },
    /// Print every record of a log segment (like ZooKeeper's LogFormatter).
    DumpLog {
        /// A log.<zxid> segment file.
        file: PathBuf,
    },
    /// Print every znode of a snapshot (like ZooKeeper's SnapshotFormatter).
    DumpSnapshot {
        /// A snapshot.<zxid> file.
        file: PathBuf,
        /// Also print each znode's data.
        #[arg(long)]
        data: bool,
    },
    /// Import an Apache ZooKeeper (3.4-3.9) data directory into a new ferrozk one.
    ///
    /// Reads the newest valid snapshot.* (plain, .gz, .snappy) in FROM/version-2 (or FROM)
    /// and replays the log.* files after it, as ZooKeeper does at start-up; writes the
    /// tree, ACLs, Stats, live sessions and last zxid to TO/ferrozk/. TO must not hold
    /// ferrozk data yet. Then: ferrozk serve --data-dir TO.
    ImportZk {
        /// The ZooKeeper dataDir (the one holding version-2/).
        #[arg(long, value_name = "ZK_DATA_DIR")]
        from: PathBuf,
        /// The ferrozk data directory to create.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, port, data_dir, start_from_last_good } => {
            let mode = if start_from_last_good { RecoveryMode::TruncateToLastGood } else { RecoveryMode::Strict };
            serve(config, port, data_dir, mode)
        }
        Command::ImportZk { from, to } => import_zk(&from, &to),
        Command::Inspect { dir, log_dir } => print_tool(match log_dir {
            None => ferrozk::storage::tools::inspect(&dir),
            Some(log_dir) => ferrozk::storage::tools::inspect_dirs(&dir, &log_dir),
        }),
        Command::DumpLog { file } => print_tool(ferrozk::storage::tools::dump_log(&file)),
        Command::DumpSnapshot { file, data } => print_tool(ferrozk::storage::tools::dump_snapshot(&file, data)),
    }
}

/// Prints a tool's text, or its error with exit status 1.
fn print_tool(result: Result<String, ferrozk::storage::StorageError>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrozk: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import_zk(from: &std::path::Path, to: &std::path::Path) -> ExitCode {
    let mut progress = |line: &str| eprintln!("import-zk: {line}");
    match ferrozk::zk_import::import(from, to, &mut progress) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrozk import-zk: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: Option<PathBuf>, port: Option<u16>, data_dir: Option<PathBuf>, mode: RecoveryMode) -> ExitCode {
    let mut cfg = match &path {
        None => Config::default(),
        Some(p) => match config::parse_zoo_cfg(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ferrozk: {e}");
                return ExitCode::from(2);
            }
        },
    };
    for var in ["JVMFLAGS", "SERVER_JVMFLAGS"] {
        if let Ok(flags) = std::env::var(var) {
            if let Err(e) = config::apply_jvm_flags(&mut cfg, &flags, var) {
                eprintln!("ferrozk: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for w in &cfg.warnings {
        warn!("{w}");
    }
    if !cfg.unknown_keys.is_empty() {
        warn!(keys = ?cfg.unknown_keys, "zoo.cfg keys ferrozk does not use (ignored)");
    }
    if let Some(p) = port {
        cfg.client_port = p;
    }
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    if let Err(e) = std::fs::create_dir_all(&cfg.data_dir) {
        eprintln!("ferrozk: cannot create data directory {}: {e}", cfg.data_dir.display());
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrozk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = ferrozk::server::run(cfg, mode) => r,
            _ = shutdown_signal() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("ferrozk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
