//! ZooKeeper's wire protocol ("jute"): every record of the 3.9 client protocol, the opcodes
//! and error codes, and the length-prefixed frame splitter.
//!
//! Pure: no sockets, no clock. Records mirror `zookeeper.jute` field for field; each type's
//! doc line names the Java class it matches. Encoding appends to a `BytesMut`; decoding is
//! a `nom` parser over a byte slice that never allocates more than the input holds, so a
//! hostile frame cannot make the server reserve memory it did not send.

pub mod data;
pub mod error_code;
pub mod frame;
pub mod multi;
pub mod opcode;
pub mod primitives;
pub mod proto;
pub mod txn;

pub use data::{Acl, ClientInfo, Id, Stat, StatPersisted};
pub use error_code::ErrorCode;
pub use frame::{split_frame, FrameError};
pub use opcode::OpCode;
pub use primitives::{DecodeError, Field, Record};
