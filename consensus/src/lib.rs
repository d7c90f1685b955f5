//! Multi-Paxos replica as a pure state machine (sans-IO), and its deterministic simulator.
//!
//! The replica never touches a disk, socket, clock or OS randomness: time is [`Replica::tick`],
//! randomness is a seed in [`Config`], and everything it wants done comes out as [`Actions`].
//! The host (the server's driver task, or the simulator) runs this loop:
//!
//! ```
//! use ferrozk_consensus::{Config, Replica, ServerId};
//! let mut r = Replica::new(Config::new(ServerId(1), vec![ServerId(1)], vec![], 7));
//! for _ in 0..20 {
//!     r.tick();
//!     let a = r.take_actions();
//!     // 1. write a.persist, then r.persisted(token) once durable
//!     if let Some(p) = &a.persist { r.persisted(p.token) }
//!     // 2. send a.send; 3. apply a.committed; 4. answer a.synced
//! }
//! assert!(r.propose(b"batch".to_vec()).is_ok());
//! ```
//!
//! See `README.md` in this crate for the protocol decisions.

#![deny(missing_docs)]

mod acceptor;
pub mod codec;
mod config;
mod leader;
mod message;
mod prevote;
mod replica;
mod rng;
mod types;

#[cfg(feature = "sim")]
pub mod sim;

pub use config::Config;
#[cfg(feature = "mutations")]
pub use config::Mutation;
pub use message::{Envelope, Message};
pub use replica::{
    Actions, Committed, NotLeader, PeerProgress, PersistBatch, Proposed, Recovered, Replica, RoleKind, Status, Synced,
};
pub use rng::Rng;
pub use types::{Ballot, Entry, HardState, LogEntry, ServerId, Slot, Snapshot, SnapshotMeta, Zxid};
