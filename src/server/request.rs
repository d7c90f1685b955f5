//! A client request decoded from its opcode and body. Decoding happens on the connection
//! task; the driver only sees typed requests (or `Malformed`, answered in order with
//! MarshallingError as ZooKeeper does).

use jute::multi::{MultiOp, MultiRequest};
use jute::proto::*;
use jute::{OpCode, Record};

/// One request after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create {
        op: OpCode,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    Sync(SyncRequest),
    Ping,
    /// check (13) outside multi: answered as an unknown opcode.
    Check,
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    /// deleteContainer (20) sent by a client: ZooKeeper treats it as a plain write.
    DeleteContainer(String),
    Auth(AuthPacket),
    /// An AuthPacket whose identity was already added on arrival; only its reply is left.
    AuthDone {
        scheme: String,
        ok: bool,
    },
    /// A SASL step already taken on arrival: its reply token and error, and whether the
    /// connection closes after it.
    SaslDone {
        err: i32,
        token: Option<Vec<u8>>,
        close: bool,
    },
    SetWatches(SetWatches2),
    Sasl(SaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
    /// An opcode ZooKeeper does not know: Unimplemented, then close.
    Unknown(i32),
    /// A body that did not decode: MarshallingError, connection stays.
    Malformed(OpCode),
}

impl Request {
    /// Decodes the body of a request of type `op`.
    pub fn decode(op: OpCode, body: &[u8]) -> Request {
        fn rec<T: Record>(body: &[u8], op: OpCode, f: impl FnOnce(T) -> Request) -> Request {
            match T::from_bytes(body) {
                Ok(v) => f(v),
                Err(_) => Request::Malformed(op),
            }
        }
        match op {
            OpCode::CREATE | OpCode::CREATE2 | OpCode::CREATE_CONTAINER => {
                rec(body, op, |req| Request::Create { op, req })
            }
            OpCode::CREATE_TTL => rec(body, op, Request::CreateTtl),
            OpCode::DELETE => rec(body, op, Request::Delete),
            OpCode::EXISTS => rec(body, op, Request::Exists),
            OpCode::GET_DATA => rec(body, op, Request::GetData),
            OpCode::SET_DATA => rec(body, op, Request::SetData),
            OpCode::GET_ACL => rec(body, op, Request::GetAcl),
            OpCode::SET_ACL => rec(body, op, Request::SetAcl),
            OpCode::GET_CHILDREN => rec(body, op, Request::GetChildren),
            OpCode::GET_CHILDREN2 => rec(body, op, Request::GetChildren2),
            OpCode::SYNC => rec(body, op, Request::Sync),
            OpCode::PING => Request::Ping,
            OpCode::CHECK => Request::Check,
            OpCode::MULTI => rec(body, op, |m: MultiRequest| Request::Multi(m.ops)),
            OpCode::MULTI_READ => rec(body, op, |m: MultiRequest| Request::MultiRead(m.ops)),
            OpCode::RECONFIG => rec(body, op, Request::Reconfig),
            OpCode::CHECK_WATCHES => rec(body, op, Request::CheckWatches),
            OpCode::REMOVE_WATCHES => rec(body, op, Request::RemoveWatches),
            OpCode::DELETE_CONTAINER => Request::DeleteContainer(String::from_utf8_lossy(body).into_owned()),
            OpCode::AUTH => rec(body, op, Request::Auth),
            OpCode::SET_WATCHES => rec(body, op, |w: SetWatches| {
                Request::SetWatches(SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                })
            }),
            OpCode::SET_WATCHES2 => rec(body, op, Request::SetWatches),
            OpCode::SASL => rec(body, op, Request::Sasl),
            OpCode::GET_EPHEMERALS => rec(body, op, Request::GetEphemerals),
            OpCode::GET_ALL_CHILDREN_NUMBER => rec(body, op, Request::GetAllChildrenNumber),
            OpCode::ADD_WATCH => rec(body, op, Request::AddWatch),
            OpCode::WHO_AM_I => Request::WhoAmI,
            OpCode::CLOSE_SESSION => Request::CloseSession,
            other => Request::Unknown(other.0),
        }
    }
}
