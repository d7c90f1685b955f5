//! Request helpers shared by the raw-protocol test files (`tests/raw_*.rs`).

use bytes::Bytes;
use jute::data::perms;
use jute::proto::*;
use jute::{Acl, ErrorCode, OpCode, Stat};

use super::{is_zookeeper, Event, Raw, Reply};

pub const NO_NODE: i32 = ErrorCode::NoNode as i32;
pub const BAD_ARGS: i32 = ErrorCode::BadArguments as i32;

pub fn open_acl() -> Vec<Acl> {
    vec![Acl::world(perms::ALL)]
}

pub fn create_req(path: &str, data: Option<&[u8]>, flags: i32) -> CreateRequest {
    CreateRequest { path: path.into(), data: data.map(Bytes::copy_from_slice), acl: open_acl(), flags }
}

pub fn create(raw: &mut Raw, path: &str, data: Option<&[u8]>, flags: i32) -> Reply {
    raw.call(OpCode::CREATE.0, &create_req(path, data, flags))
}

/// Creates a persistent node and returns the zxid of the create.
pub fn mk(raw: &mut Raw, path: &str) -> i64 {
    let r = create(raw, path, Some(b""), 0);
    assert_eq!(r.err(), 0, "create {path}");
    r.zxid()
}

pub fn exists(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = ExistsRequest { path: path.into(), watch };
    raw.call(OpCode::EXISTS.0, &req)
}

pub fn stat(raw: &mut Raw, path: &str) -> Stat {
    let r = exists(raw, path, false);
    assert_eq!(r.err(), 0, "exists {path}");
    r.decode::<ExistsResponse>().stat
}

pub fn get_data(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = GetDataRequest { path: path.into(), watch };
    raw.call(OpCode::GET_DATA.0, &req)
}

pub fn set_data(raw: &mut Raw, path: &str, data: Option<&[u8]>, version: i32) -> Reply {
    let req = SetDataRequest { path: path.into(), data: data.map(Bytes::copy_from_slice), version };
    raw.call(OpCode::SET_DATA.0, &req)
}

pub fn delete(raw: &mut Raw, path: &str, version: i32) -> Reply {
    let req = DeleteRequest { path: path.into(), version };
    raw.call(OpCode::DELETE.0, &req)
}

pub fn get_children(raw: &mut Raw, path: &str, watch: bool) -> Reply {
    let req = GetChildrenRequest { path: path.into(), watch };
    raw.call(OpCode::GET_CHILDREN.0, &req)
}

/// The server's last processed zxid, as a read's reply carries it.
pub fn last_zxid(raw: &mut Raw) -> i64 {
    exists(raw, "/", false).zxid()
}

/// The zxid a notification carries. [3.9 ≠ 3.8] (§7): 3.9 sends the zxid of the txn that
/// fired it (ZOOKEEPER-4655) and ferrozk follows 3.9; 3.8 sends −1.
pub fn event_zxid(txn_zxid: i64) -> i64 {
    if is_zookeeper() {
        -1
    } else {
        txn_zxid
    }
}

pub fn event(zxid: i64, kind: i32, path: &str) -> Event {
    Event { zxid, kind, path: path.into() }
}

pub fn skip_on_zookeeper(why: &str) -> bool {
    if is_zookeeper() {
        eprintln!("skipped against ZooKeeper 3.8: {why}");
    }
    is_zookeeper()
}
