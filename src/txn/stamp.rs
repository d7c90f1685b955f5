//! The one place a write gets its zxid and time. The stamper also refuses, from
//! configuration alone, what the tree need not be asked about (TTL modes while extended
//! types are off, bad TTL values, reconfig in standalone): such a request still becomes a
//! command with its own zxid, as ZooKeeper logs an error txn.

use std::sync::Arc;

use jute::{ErrorCode, Id};

use super::prepare::is_ttl_flags;
use super::{CreateKind, CreateOp, Txn, TxnOp};
use crate::tree::TTL_MAX_MS;

/// Settings that change what the stamper accepts; equal on every server of an ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampRules {
    pub extended_types_enabled: bool,
}

/// Hands out zxids in order: epoch in the high 32 bits, counter in the low 32.
#[derive(Debug, Clone)]
pub struct Stamper {
    last_zxid: i64,
    rules: StampRules,
}

impl Stamper {
    /// Continues after `last_zxid` (the last applied or logged command).
    pub fn new(last_zxid: i64, rules: StampRules) -> Stamper {
        Stamper { last_zxid, rules }
    }

    /// The last zxid handed out.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Stamps one write. `now_ms` is the leader's wall clock.
    pub fn stamp(&mut self, session: i64, cxid: i32, ids: Arc<Vec<Id>>, op: TxnOp, now_ms: i64) -> Txn {
        self.last_zxid += 1;
        let op = self.screen(op);
        Txn { zxid: self.last_zxid, time_ms: now_ms, session, cxid, ids, op }
    }

    fn screen(&self, op: TxnOp) -> TxnOp {
        match op {
            TxnOp::Create(c) => match self.screen_create(&c) {
                Some(code) => TxnOp::Error(code),
                None => TxnOp::Create(c),
            },
            TxnOp::Multi(ops) => TxnOp::Multi(
                ops.into_iter()
                    .map(|op| match &op {
                        TxnOp::Create(c) => self.screen_create(c).map_or(op, TxnOp::Error),
                        _ => op,
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// `PrepRequestProcessor.validateCreateRequest`: extended types, then TTL values.
    fn screen_create(&self, c: &CreateOp) -> Option<ErrorCode> {
        let ttl_mode = is_ttl_flags(c.flags);
        if ttl_mode && !self.rules.extended_types_enabled {
            return Some(ErrorCode::Unimplemented);
        }
        if ttl_mode {
            if c.ttl <= 0 || c.ttl > TTL_MAX_MS {
                return Some(ErrorCode::BadArguments);
            }
        } else if c.ttl >= 0 || (c.kind == CreateKind::Ttl && (0..=6).contains(&c.flags)) {
            // ZooKeeper 3.8 crashes on createTTL with a non-TTL flag and ttl < 0; we refuse it.
            return Some(ErrorCode::BadArguments);
        }
        None
    }
}
