//! Client requests and replies (`org.apache.zookeeper.proto`), in `zookeeper.jute` order.

use bytes::{BufMut, Bytes, BytesMut};
use nom::IResult;

use crate::data::{Acl, ClientInfo, Stat};
use crate::primitives::{Field, Record};
use crate::record;

/// `org.apache.zookeeper.proto.ConnectRequest`. `read_only` is `None` when an old client
/// left the trailing byte off; the response must then leave it off too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Field for ConnectRequest {
    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.last_zxid_seen.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(ro) = self.read_only {
            ro.encode(out);
        }
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, protocol_version) = i32::decode(input)?;
        let (rest, last_zxid_seen) = i64::decode(rest)?;
        let (rest, time_out) = i32::decode(rest)?;
        let (rest, session_id) = i64::decode(rest)?;
        let (rest, passwd) = Bytes::decode(rest)?;
        let (rest, read_only) = match bool::decode(rest) {
            Ok((r, b)) => (r, Some(b)),
            Err(_) => (rest, None),
        };
        Ok((rest, ConnectRequest { protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only }))
    }
}
impl Record for ConnectRequest {}

/// `org.apache.zookeeper.proto.ConnectResponse`; `read_only` is written only when `Some`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Field for ConnectResponse {
    fn encode(&self, out: &mut BytesMut) {
        self.protocol_version.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(ro) = self.read_only {
            ro.encode(out);
        }
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, protocol_version) = i32::decode(input)?;
        let (rest, time_out) = i32::decode(rest)?;
        let (rest, session_id) = i64::decode(rest)?;
        let (rest, passwd) = Bytes::decode(rest)?;
        let (rest, read_only) = match bool::decode(rest) {
            Ok((r, b)) => (r, Some(b)),
            Err(_) => (rest, None),
        };
        Ok((rest, ConnectResponse { protocol_version, time_out, session_id, passwd, read_only }))
    }
}
impl Record for ConnectResponse {}

record!(
    /// `org.apache.zookeeper.proto.RequestHeader`: xid, then opcode.
    RequestHeader { xid: i32, r#type: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.ReplyHeader`: the body follows only when `err` is 0.
    ReplyHeader { xid: i32, zxid: i64, err: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.MultiHeader`: one op inside multi/multiRead.
    MultiHeader { r#type: i32, done: bool, err: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.AuthPacket` (op 100, xid −4).
    AuthPacket { r#type: i32, scheme: String, auth: Bytes }
);
record!(
    /// `org.apache.zookeeper.proto.SetWatches` (op 101, xid −8).
    SetWatches { relative_zxid: i64, data_watches: Vec<String>, exist_watches: Vec<String>, child_watches: Vec<String> }
);
record!(
    /// `org.apache.zookeeper.proto.SetWatches2` (op 105, xid −8): adds persistent watches.
    SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
);
record!(
    /// `org.apache.zookeeper.proto.GetDataRequest` (op 4).
    GetDataRequest { path: String, watch: bool }
);
record!(
    /// `org.apache.zookeeper.proto.SetDataRequest` (op 5): `version` −1 matches any.
    SetDataRequest { path: String, data: Option<Bytes>, version: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.ReconfigRequest` (op 16).
    ReconfigRequest { joining_servers: String, leaving_servers: String, new_members: String, cur_config_id: i64 }
);
record!(
    /// `org.apache.zookeeper.proto.SetDataResponse`.
    SetDataResponse { stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.GetSASLRequest` / `SetSASLRequest` (op 102): a token.
    SaslRequest { token: Bytes }
);
record!(
    /// `org.apache.zookeeper.proto.SetSASLResponse`: the server's challenge.
    SaslResponse { token: Option<Bytes> }
);
record!(
    /// `org.apache.zookeeper.proto.CreateRequest` (ops 1, 15, 19).
    CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.CreateTTLRequest` (op 21).
    CreateTtlRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32, ttl: i64 }
);
record!(
    /// `org.apache.zookeeper.proto.DeleteRequest` (op 2).
    DeleteRequest { path: String, version: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.GetChildrenRequest` (op 8).
    GetChildrenRequest { path: String, watch: bool }
);
record!(
    /// `org.apache.zookeeper.proto.GetAllChildrenNumberRequest` (op 104).
    GetAllChildrenNumberRequest { path: String }
);
record!(
    /// `org.apache.zookeeper.proto.GetChildren2Request` (op 12).
    GetChildren2Request { path: String, watch: bool }
);
record!(
    /// `org.apache.zookeeper.proto.CheckVersionRequest` (op 13, inside multi).
    CheckVersionRequest { path: String, version: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.SyncRequest` (op 9).
    SyncRequest { path: String }
);
record!(
    /// `org.apache.zookeeper.proto.SyncResponse`: echoes the path.
    SyncResponse { path: String }
);
record!(
    /// `org.apache.zookeeper.proto.GetACLRequest` (op 6).
    GetAclRequest { path: String }
);
record!(
    /// `org.apache.zookeeper.proto.SetACLRequest` (op 7): `version` is compared with aversion.
    SetAclRequest { path: String, acl: Vec<Acl>, version: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.SetACLResponse`.
    SetAclResponse { stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.AddWatchRequest` (op 106): mode 0 persistent, 1 recursive.
    AddWatchRequest { path: String, mode: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.WatcherEvent`: the body of an xid −1 notification.
    WatcherEvent { r#type: i32, state: i32, path: String }
);
record!(
    /// `org.apache.zookeeper.proto.ErrorResponse`: an error inside multi results, and addWatch's body.
    ErrorResponse { err: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.CreateResponse` (op 1).
    CreateResponse { path: String }
);
record!(
    /// `org.apache.zookeeper.proto.Create2Response` (ops 15, 19, 21).
    Create2Response { path: String, stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.ExistsRequest` (op 3).
    ExistsRequest { path: String, watch: bool }
);
record!(
    /// `org.apache.zookeeper.proto.ExistsResponse`.
    ExistsResponse { stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.GetDataResponse` (also reconfig's reply).
    GetDataResponse { data: Option<Bytes>, stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.GetChildrenResponse`.
    GetChildrenResponse { children: Vec<String> }
);
record!(
    /// `org.apache.zookeeper.proto.GetAllChildrenNumberResponse`.
    GetAllChildrenNumberResponse { total_number: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.GetChildren2Response`: names plus the parent's Stat.
    GetChildren2Response { children: Vec<String>, stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.GetACLResponse`.
    GetAclResponse { acl: Vec<Acl>, stat: Stat }
);
record!(
    /// `org.apache.zookeeper.proto.CheckWatchesRequest` (op 17).
    CheckWatchesRequest { path: String, r#type: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.RemoveWatchesRequest` (op 18).
    RemoveWatchesRequest { path: String, r#type: i32 }
);
record!(
    /// `org.apache.zookeeper.proto.GetEphemeralsRequest` (op 103).
    GetEphemeralsRequest { prefix_path: String }
);
record!(
    /// `org.apache.zookeeper.proto.GetEphemeralsResponse`.
    GetEphemeralsResponse { ephemerals: Vec<String> }
);
record!(
    /// `org.apache.zookeeper.proto.WhoAmIResponse` (op 107).
    WhoAmIResponse { client_info: Vec<ClientInfo> }
);

/// Writes a reply header and, on success, the body: the common shape of every reply.
pub fn reply(xid: i32, zxid: i64, err: i32, body: Option<&dyn Fn(&mut BytesMut)>, out: &mut BytesMut) {
    let start = out.len();
    out.put_i32(0);
    ReplyHeader { xid, zxid, err }.encode(out);
    if err == 0 {
        if let Some(b) = body {
            b(out);
        }
    }
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}
