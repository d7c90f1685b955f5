//! `ferrozk-bench`: a pipelined load generator that speaks ZooKeeper's wire protocol with
//! the workspace's `jute` crate, for putting ferrozk and Apache ZooKeeper side by side.
//!
//! # Layout
//! - `conn.rs`: one session over raw frames (handshake, buffered requests, replies)
//! - `workload.rs`: what each workload sends and the znodes it needs first
//! - `run.rs`: the pipelined driver (connections × outstanding, warm-up, window)
//! - `fanout.rs`: the watch fan-out workload
//! - `procfs.rs`: CPU and memory of the server processes and of the generator
//! - `stats.rs`, `report.rs`: histograms, JSON lines, tables, ratios
//!
//! See `bench/README.md` for how to run it and `scripts/bench.sh` for the comparison.

mod conn;
mod fanout;
mod procfs;
mod report;
mod run;
mod stats;
mod workload;

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use jute::proto::{CreateRequest, ExistsRequest};
use jute::OpCode;

use crate::conn::Conn;
use crate::report::Record;
use crate::run::Drive;
use crate::workload::{Shape, Workload};

#[derive(Parser)]
#[command(name = "ferrozk-bench", version, about = "ZooKeeper-protocol load generator (ferrozk vs Apache ZooKeeper)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one workload against one server and print its figures.
    Run(RunArgs),
    /// Wait until a server serves a session; print the milliseconds waited.
    Wait {
        /// Server address, host:port; a comma-separated list tries each in turn.
        #[arg(long, default_value = "127.0.0.1:2181")]
        server: String,
        /// Wait until a write succeeds (an ephemeral create), not just a read: after a
        /// leader is killed, the time until the ensemble takes writes again.
        #[arg(long)]
        write: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
    },
    /// Print every record of JSON lines files as a table.
    Table {
        /// JSON lines written by `run --json`.
        files: Vec<PathBuf>,
    },
    /// Print subject/baseline ratios (median, min–max over rounds) from JSON lines files.
    Compare {
        /// The label in the numerator.
        #[arg(long, default_value = "ferrozk")]
        subject: String,
        /// The label in the denominator.
        #[arg(long, default_value = "zookeeper")]
        baseline: String,
        /// JSON lines written by `run --json` (and scale records from bench.sh).
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Server address, host:port; a comma-separated list spreads the connections over an
    /// ensemble round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    server: String,
    #[arg(long, value_enum)]
    workload: Workload,
    /// Connections (sessions); for `watch`, the number of watchers.
    #[arg(short = 'c', long, default_value_t = 8)]
    connections: usize,
    /// Requests in flight per connection (ignored by `watch`).
    #[arg(short = 'o', long, default_value_t = 32)]
    outstanding: usize,
    /// Bytes of data per znode written (create, set, the keys, load).
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Key space of set/get/exists/mixed (`/bench/kv/k0` … ).
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Children under each of the 16 getChildren parents.
    #[arg(long, default_value_t = 10)]
    children: usize,
    /// Parents for `load`.
    #[arg(long, default_value_t = 10)]
    parents: usize,
    /// Percent of reads (getData) in `mixed`; the rest are setData.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=100))]
    read_pct: u32,
    /// `create` makes sequential znodes (`/bench/sq/...-0000000042`).
    #[arg(long)]
    sequential: bool,
    /// Keep the nodes `create` made; by default they are deleted, untimed, after the run so
    /// the next workload sees the same tree on every server.
    #[arg(long)]
    keep_created: bool,
    /// Nodes `delete` makes untimed and then deletes, and `load` creates.
    #[arg(long, default_value_t = 20_000)]
    nodes: u64,
    /// Measured seconds (the run also ends when the sources run dry or at --ops).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many operations issued in the window (rounds for `watch`).
    #[arg(long)]
    ops: Option<u64>,
    /// Server process to read CPU time and memory from (repeat for several).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Name of the server in the output (pairs records in `compare`).
    #[arg(long, default_value = "server")]
    label: String,
    /// Round number, for `compare`.
    #[arg(long, default_value_t = 1)]
    round: u32,
    /// Append the JSON record to this file (`-`: stdout, and the table goes to stderr).
    #[arg(long)]
    json: Option<PathBuf>,
    /// No table.
    #[arg(long)]
    quiet: bool,
    /// Generator threads (tokio workers); 1 keeps it lean on a small machine.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seed of the key choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 30_000)]
    session_timeout_ms: i32,
    /// A reply later than this fails the run.
    #[arg(long, default_value_t = 60)]
    reply_timeout_s: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(args) => run_cmd(args),
        Cmd::Wait { server, write, timeout_s } => wait_cmd(&server, write, Duration::from_secs(timeout_s)),
        Cmd::Table { files } => read_records(&files).map(|rs| {
            for (i, r) in rs.iter().enumerate() {
                print!("{}", report::table_row(r, i == 0));
            }
        }),
        Cmd::Compare { subject, baseline, files } => {
            read_records(&files).map(|rs| print!("{}", report::compare(&rs, &subject, &baseline)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrozk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

fn resolve(server: &str) -> Result<SocketAddr, BoxError> {
    server.to_socket_addrs()?.next().ok_or_else(|| format!("{server}: no address").into())
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, BoxError> {
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    Ok(rt)
}

fn case_name(a: &RunArgs) -> String {
    let w = match a.workload {
        Workload::Create if a.sequential => "create-seq".to_string(),
        Workload::Mixed => format!("mixed-{}r", a.read_pct),
        w => w.name().to_string(),
    };
    match a.workload {
        Workload::Watch => format!("watch {}w v{}", a.connections, a.value_bytes),
        Workload::Load => format!("load {}n v{}", a.nodes, a.value_bytes),
        _ => format!("{w} {}x{} v{}", a.connections, a.outstanding, a.value_bytes),
    }
}

fn run_cmd(a: RunArgs) -> Result<(), BoxError> {
    if a.connections == 0 || a.outstanding == 0 || a.keys == 0 || a.parents == 0 {
        return Err("--connections, --outstanding, --keys and --parents must be at least 1".into());
    }
    if !(a.duration > 0.0 && a.warmup >= 0.0) {
        return Err("--duration must be > 0 and --warmup >= 0".into());
    }
    let run_id = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros());
    let shape = Arc::new(Shape {
        workload: a.workload,
        connections: a.connections,
        value_bytes: a.value_bytes,
        keys: a.keys,
        children: a.children,
        parents: a.parents,
        read_pct: a.read_pct,
        sequential: a.sequential,
        nodes: a.nodes,
        run_id,
        seed: a.seed,
    });
    let d = Drive {
        addrs: a.server.split(',').map(resolve).collect::<Result<_, _>>()?,
        outstanding: a.outstanding,
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.duration),
        ops_max: a.ops,
        server_pids: a.server_pids.clone(),
        session_timeout_ms: a.session_timeout_ms,
        reply_timeout: Duration::from_secs(a.reply_timeout_s),
        keep_created: a.keep_created,
    };
    let rt = runtime(a.threads)?;
    let m = rt.block_on(async {
        match a.workload {
            Workload::Watch => fanout::run(&d, shape).await,
            _ => run::run(&d, shape).await,
        }
    })?;
    let meta = (a.workload.name(), a.connections, a.outstanding, a.value_bytes);
    let rec = Record::new(&a.label, a.round, case_name(&a), &m, meta);
    let line = serde_json::to_string(&rec)?;
    let table = report::table_row(&rec, true);
    match a.json.as_deref() {
        Some(p) if p.as_os_str() == "-" => {
            println!("{line}");
            if !a.quiet {
                eprint!("{table}");
            }
        }
        Some(p) => {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p)?;
            writeln!(f, "{line}")?;
            if !a.quiet {
                print!("{table}");
            }
        }
        None if a.quiet => {}
        None => print!("{table}"),
    }
    Ok(())
}

/// Polls until a new session can read `/` (or, with `write`, create an ephemeral node),
/// each attempt bounded, trying the servers in turn; prints the wait in ms.
fn wait_cmd(servers: &str, write: bool, limit: Duration) -> Result<(), BoxError> {
    let addrs: Vec<SocketAddr> = servers.split(',').map(resolve).collect::<Result<_, _>>()?;
    let start = Instant::now();
    let rt = runtime(1)?;
    rt.block_on(async {
        for attempt_no in 0usize.. {
            let addr = addrs[attempt_no % addrs.len()];
            let attempt = async {
                let mut c = Conn::connect(addr, 30_000, Duration::from_secs(2)).await?;
                let r = if write {
                    let path = format!("/ferrozk-bench-wait-{}-{attempt_no}", std::process::id());
                    let req = CreateRequest { path, data: Some(Vec::new().into()), acl: open_acl(), flags: 1 };
                    c.call(OpCode::CREATE, &req).await?
                } else {
                    c.call(OpCode::EXISTS, &ExistsRequest { path: "/".into(), watch: false }).await?
                };
                let ok = r.header.err == 0;
                c.close().await?;
                Ok::<bool, conn::ConnError>(ok)
            };
            if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(3), attempt).await {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!("{servers}: not serving after {} s", limit.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        unreachable!("the loop returns")
    })?;
    println!("{}", start.elapsed().as_millis());
    Ok(())
}

/// world:anyone with every permission.
fn open_acl() -> Vec<jute::Acl> {
    vec![jute::Acl { perms: 31, id: jute::Id { scheme: "world".into(), id: "anyone".into() } }]
}

fn read_records(files: &[PathBuf]) -> Result<Vec<Record>, BoxError> {
    let mut records = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let r: Record = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", f.display(), i + 1))?;
            records.push(r);
        }
    }
    Ok(records)
}
