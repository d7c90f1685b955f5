//! The byte form of a stamped command, as the write-ahead log and (later) peer messages
//! carry it. Built from jute primitives, big-endian, versioned by a leading tag per op so a
//! new op can be added without breaking old logs.
//!
//! ```text
//! Txn      = zxid i64 | time_ms i64 | session i64 | cxid i32 | ids vector<Id> | Op
//! Op       = tag i32 | body
//!   1 CreateSession  timeout i32
//!   2 CloseSession
//!   3 Create         path ustring | data buffer | acl vector<ACL> | flags i32 | kind i32 | ttl i64
//!   4 Delete         path ustring | version i32
//!   5 DeleteContainer path ustring
//!   6 SetData        path ustring | data buffer | version i32
//!   7 SetAcl         path ustring | acl vector<ACL> | version i32
//!   8 Check          path ustring | version i32
//!   9 Multi          count i32 | Op × count
//!  10 Error          code i32
//! ```

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use jute::{Acl, ErrorCode, Field, Id};
use nom::IResult;

use super::{CreateKind, CreateOp, Txn, TxnOp};

fn fail(input: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Tag))
}

/// Appends the byte form of `txn`.
pub fn encode(txn: &Txn, out: &mut BytesMut) {
    txn.zxid.encode(out);
    txn.time_ms.encode(out);
    txn.session.encode(out);
    txn.cxid.encode(out);
    put_ids(&txn.ids, out);
    encode_op(&txn.op, out);
}

fn encode_op(op: &TxnOp, out: &mut BytesMut) {
    match op {
        TxnOp::CreateSession { timeout_ms } => {
            out.put_i32(1);
            timeout_ms.encode(out);
        }
        TxnOp::CloseSession => out.put_i32(2),
        TxnOp::Create(c) => {
            out.put_i32(3);
            put_str(&c.path, out);
            c.data.encode(out);
            put_acls(&c.acl, out);
            c.flags.encode(out);
            out.put_i32(match c.kind {
                CreateKind::Create => 1,
                CreateKind::Create2 => 15,
                CreateKind::Container => 19,
                CreateKind::Ttl => 21,
            });
            c.ttl.encode(out);
        }
        TxnOp::Delete { path, version } => {
            out.put_i32(4);
            put_str(path, out);
            version.encode(out);
        }
        TxnOp::DeleteContainer { path } => {
            out.put_i32(5);
            put_str(path, out);
        }
        TxnOp::SetData { path, data, version } => {
            out.put_i32(6);
            put_str(path, out);
            data.encode(out);
            version.encode(out);
        }
        TxnOp::SetAcl { path, acl, version } => {
            out.put_i32(7);
            put_str(path, out);
            put_acls(acl, out);
            version.encode(out);
        }
        TxnOp::Check { path, version } => {
            out.put_i32(8);
            put_str(path, out);
            version.encode(out);
        }
        TxnOp::Multi(ops) => {
            out.put_i32(9);
            out.put_i32(ops.len() as i32);
            for op in ops {
                encode_op(op, out);
            }
        }
        TxnOp::Error(code) => {
            out.put_i32(10);
            out.put_i32(code.code());
        }
    }
}

/// Strings in the log are plain UTF-8, not the wire's Java-compatible form (which writes a
/// character outside the BMP as two 3-byte surrogates that read back as U+FFFD): every
/// character a command carries must survive a restart and reach every replica exactly.
fn put_str(s: &str, out: &mut BytesMut) {
    out.put_i32(s.len() as i32);
    out.put_slice(s.as_bytes());
}

fn put_id(id: &Id, out: &mut BytesMut) {
    put_str(&id.scheme, out);
    put_str(&id.id, out);
}

fn put_ids(ids: &[Id], out: &mut BytesMut) {
    out.put_i32(ids.len() as i32);
    for id in ids {
        put_id(id, out);
    }
}

fn put_acls(acl: &[Acl], out: &mut BytesMut) {
    out.put_i32(acl.len() as i32);
    for a in acl {
        out.put_i32(a.perms);
        put_id(&a.id, out);
    }
}

/// Parses one command.
pub fn decode(input: &[u8]) -> IResult<&[u8], Txn> {
    let (r, zxid) = i64::decode(input)?;
    let (r, time_ms) = i64::decode(r)?;
    let (r, session) = i64::decode(r)?;
    let (r, cxid) = i32::decode(r)?;
    let (r, ids) = Vec::<Id>::decode(r)?;
    let (r, op) = decode_op(r, 0)?;
    Ok((r, Txn { zxid, time_ms, session, cxid, ids: Arc::new(ids), op }))
}

fn decode_op(input: &[u8], depth: u32) -> IResult<&[u8], TxnOp> {
    let (r, tag) = i32::decode(input)?;
    Ok(match tag {
        1 => {
            let (r, timeout_ms) = i32::decode(r)?;
            (r, TxnOp::CreateSession { timeout_ms })
        }
        2 => (r, TxnOp::CloseSession),
        3 => {
            let (r, path) = String::decode(r)?;
            let (r, data) = Option::<Bytes>::decode(r)?;
            let (r, acl) = Vec::<Acl>::decode(r)?;
            let (r, flags) = i32::decode(r)?;
            let (r, kind) = i32::decode(r)?;
            let kind = match kind {
                1 => CreateKind::Create,
                15 => CreateKind::Create2,
                19 => CreateKind::Container,
                21 => CreateKind::Ttl,
                _ => return Err(fail(input)),
            };
            let (r, ttl) = i64::decode(r)?;
            (r, TxnOp::Create(CreateOp { path, data, acl, flags, kind, ttl }))
        }
        4 => {
            let (r, path) = String::decode(r)?;
            let (r, version) = i32::decode(r)?;
            (r, TxnOp::Delete { path, version })
        }
        5 => {
            let (r, path) = String::decode(r)?;
            (r, TxnOp::DeleteContainer { path })
        }
        6 => {
            let (r, path) = String::decode(r)?;
            let (r, data) = Option::<Bytes>::decode(r)?;
            let (r, version) = i32::decode(r)?;
            (r, TxnOp::SetData { path, data, version })
        }
        7 => {
            let (r, path) = String::decode(r)?;
            let (r, acl) = Vec::<Acl>::decode(r)?;
            let (r, version) = i32::decode(r)?;
            (r, TxnOp::SetAcl { path, acl, version })
        }
        8 => {
            let (r, path) = String::decode(r)?;
            let (r, version) = i32::decode(r)?;
            (r, TxnOp::Check { path, version })
        }
        9 if depth == 0 => {
            let (mut r, count) = i32::decode(r)?;
            if count < 0 || count as usize > r.len() {
                return Err(fail(input));
            }
            let mut ops = Vec::with_capacity((count as usize).min(64));
            for _ in 0..count {
                let (rest, op) = decode_op(r, depth + 1)?;
                r = rest;
                ops.push(op);
            }
            (r, TxnOp::Multi(ops))
        }
        10 => {
            let (r, code) = i32::decode(r)?;
            let code = ErrorCode::from_code(code).ok_or_else(|| fail(input))?;
            (r, TxnOp::Error(code))
        }
        _ => return Err(fail(input)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(op: TxnOp) {
        let ids = Arc::new(vec![Id { scheme: "ip".into(), id: "127.0.0.1".into() }]);
        let txn =
            Txn { zxid: 0x1_0000_0005, time_ms: 1_700_000_000_000, session: 0x0100_0000_0000_0001, cxid: 7, ids, op };
        let mut b = BytesMut::new();
        encode(&txn, &mut b);
        let (rest, back) = decode(&b).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(back, txn);
    }

    #[test]
    fn every_op_round_trips() {
        let create = CreateOp {
            path: "/a".into(),
            data: None,
            acl: vec![Acl::world(31)],
            flags: 3,
            kind: CreateKind::Ttl,
            ttl: 1000,
        };
        round_trip(TxnOp::CreateSession { timeout_ms: 4000 });
        round_trip(TxnOp::CloseSession);
        round_trip(TxnOp::Create(create.clone()));
        round_trip(TxnOp::Delete { path: "/a".into(), version: -1 });
        round_trip(TxnOp::DeleteContainer { path: "/c".into() });
        round_trip(TxnOp::SetData { path: "/a".into(), data: Some(Bytes::new()), version: 3 });
        round_trip(TxnOp::SetAcl { path: "/a".into(), acl: vec![], version: 0 });
        round_trip(TxnOp::Multi(vec![
            TxnOp::Create(create),
            TxnOp::Check { path: "/a".into(), version: 1 },
            TxnOp::Error(ErrorCode::NoNode),
        ]));
        round_trip(TxnOp::Error(ErrorCode::BadArguments));
    }

    #[test]
    fn characters_outside_the_bmp_survive() {
        let digest = Acl { perms: 31, id: Id { scheme: "digest".into(), id: "u😀:h".into() } };
        round_trip(TxnOp::SetAcl { path: "/a😀".into(), acl: vec![digest], version: -1 });
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode(&junk);
        }
    }
}
