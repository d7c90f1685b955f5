//! `MultiOperationRecord` and `MultiResponse` (ops 14 and 22): a run of
//! `MultiHeader` + record pairs ended by the header `{-1, true, -1}`.

use bytes::{BufMut, BytesMut};
use nom::IResult;

use crate::data::Stat;
use crate::primitives::{Field, Record};
use crate::proto::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetChildrenRequest, GetDataRequest,
    MultiHeader, SetDataRequest,
};

/// One operation of a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1), create2 (15) or createContainer (19); the opcode is kept.
    Create { op: i32, req: CreateRequest },
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getData (4): only valid in multiRead.
    GetData(GetDataRequest),
    /// getChildren (8): only valid in multiRead.
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The opcode this op carries on the wire.
    pub fn opcode(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => 21,
            MultiOp::Delete(_) => 2,
            MultiOp::SetData(_) => 5,
            MultiOp::Check(_) => 13,
            MultiOp::GetData(_) => 4,
            MultiOp::GetChildren(_) => 8,
        }
    }

    /// True for the two read ops allowed only in multiRead.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }
}

/// `org.apache.zookeeper.MultiOperationRecord`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

fn fail(input: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Switch))
}

impl Field for MultiRequest {
    fn encode(&self, out: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader { r#type: op.opcode(), done: false, err: -1 }.encode(out);
            match op {
                MultiOp::Create { req, .. } => req.encode(out),
                MultiOp::CreateTtl(r) => r.encode(out),
                MultiOp::Delete(r) => r.encode(out),
                MultiOp::SetData(r) => r.encode(out),
                MultiOp::Check(r) => r.encode(out),
                MultiOp::GetData(r) => r.encode(out),
                MultiOp::GetChildren(r) => r.encode(out),
            }
        }
        MultiHeader { r#type: -1, done: true, err: -1 }.encode(out);
    }

    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let mut rest = input;
        let mut ops = Vec::new();
        loop {
            let (r, h) = MultiHeader::decode(rest)?;
            if h.done {
                return Ok((r, MultiRequest { ops }));
            }
            let (r, op) = match h.r#type {
                1 | 15 | 19 => {
                    let (r, req) = CreateRequest::decode(r)?;
                    (r, MultiOp::Create { op: h.r#type, req })
                }
                21 => {
                    let (r, req) = CreateTtlRequest::decode(r)?;
                    (r, MultiOp::CreateTtl(req))
                }
                2 => {
                    let (r, req) = DeleteRequest::decode(r)?;
                    (r, MultiOp::Delete(req))
                }
                5 => {
                    let (r, req) = SetDataRequest::decode(r)?;
                    (r, MultiOp::SetData(req))
                }
                13 => {
                    let (r, req) = CheckVersionRequest::decode(r)?;
                    (r, MultiOp::Check(req))
                }
                4 => {
                    let (r, req) = GetDataRequest::decode(r)?;
                    (r, MultiOp::GetData(req))
                }
                8 => {
                    let (r, req) = GetChildrenRequest::decode(r)?;
                    (r, MultiOp::GetChildren(req))
                }
                _ => return Err(fail(rest)),
            };
            rest = r;
            ops.push(op);
        }
    }
}
impl Record for MultiRequest {}

/// One result of a multi or multiRead (`OpResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// type 1: the created path.
    Create { path: String },
    /// type 15: path and Stat (create2, createContainer, createTTL).
    Create2 { path: String, stat: Stat },
    /// type 2.
    Delete,
    /// type 5.
    SetData { stat: Stat },
    /// type 13.
    Check,
    /// type 4 (multiRead).
    GetData { data: Option<bytes::Bytes>, stat: Stat },
    /// type 8 (multiRead).
    GetChildren { children: Vec<String> },
    /// type −1 with the code twice (header and body).
    Error { err: i32 },
}

/// `org.apache.zookeeper.MultiResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl Field for MultiResponse {
    fn encode(&self, out: &mut BytesMut) {
        for r in &self.results {
            let (ty, err) = match r {
                MultiResult::Create { .. } => (1, 0),
                MultiResult::Create2 { .. } => (15, 0),
                MultiResult::Delete => (2, 0),
                MultiResult::SetData { .. } => (5, 0),
                MultiResult::Check => (13, 0),
                MultiResult::GetData { .. } => (4, 0),
                MultiResult::GetChildren { .. } => (8, 0),
                MultiResult::Error { err } => (-1, *err),
            };
            MultiHeader { r#type: ty, done: false, err }.encode(out);
            match r {
                MultiResult::Create { path } => path.encode(out),
                MultiResult::Create2 { path, stat } => {
                    path.encode(out);
                    stat.encode(out);
                }
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData { stat } => stat.encode(out),
                MultiResult::GetData { data, stat } => {
                    data.encode(out);
                    stat.encode(out);
                }
                MultiResult::GetChildren { children } => children.encode(out),
                MultiResult::Error { err } => out.put_i32(*err),
            }
        }
        MultiHeader { r#type: -1, done: true, err: -1 }.encode(out);
    }

    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let mut rest = input;
        let mut results = Vec::new();
        loop {
            let (r, h) = MultiHeader::decode(rest)?;
            if h.done {
                return Ok((r, MultiResponse { results }));
            }
            let (r, res) = match h.r#type {
                1 => {
                    let (r, path) = String::decode(r)?;
                    (r, MultiResult::Create { path })
                }
                15 => {
                    let (r, path) = String::decode(r)?;
                    let (r, stat) = Stat::decode(r)?;
                    (r, MultiResult::Create2 { path, stat })
                }
                2 => (r, MultiResult::Delete),
                13 => (r, MultiResult::Check),
                5 => {
                    let (r, stat) = Stat::decode(r)?;
                    (r, MultiResult::SetData { stat })
                }
                4 => {
                    let (r, data) = Option::<bytes::Bytes>::decode(r)?;
                    let (r, stat) = Stat::decode(r)?;
                    (r, MultiResult::GetData { data, stat })
                }
                8 => {
                    let (r, children) = Vec::<String>::decode(r)?;
                    (r, MultiResult::GetChildren { children })
                }
                -1 => {
                    let (r, err) = i32::decode(r)?;
                    (r, MultiResult::Error { err })
                }
                _ => return Err(fail(rest)),
            };
            rest = r;
            results.push(res);
        }
    }
}
impl Record for MultiResponse {}
