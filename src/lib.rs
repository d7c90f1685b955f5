//! ferrozk: a ZooKeeper-compatible coordination server.
//!
//! # Layout
//! - `jute` (its own crate): the wire records and frame splitter.
//! - [`config`]: zoo.cfg, myid; errors name file, line and key.
//! - [`tree`]: the data tree, pure: znodes, Stat upkeep, ACL checks, digest.
//! - [`txn`]: the stamped command a log and a replica carry, and its deterministic apply.
//! - [`session`]: session ids, passwords, timeouts and expiry buckets.
//! - [`watch`]: this server's watch registry.
//! - [`server`]: tokio glue: listener, connections, the driver task that owns the state.
//! - [`storage`]: write-ahead log, snapshots, recovery, purge; the disk behind a narrow trait.
//! - [`admin`]: four-letter words rendered from a stats snapshot.
//! - [`ensemble`]: replication: zoo.cfg's server list, peer links, the consensus log on disk.
//!
//! Pure modules (`tree`, `txn`, `session`, `watch`) read no clock and do no IO; time comes in
//! as arguments so the same code runs under the deterministic simulator.

pub mod admin;
pub mod config;
pub mod ensemble;
pub mod sasl;
pub mod server;
pub mod session;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod zk_import;
