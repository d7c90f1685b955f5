//! The write path after the pipeline: a write is stamped, handed to the log, and applied
//! only once the log says it is durable; then its watch events are queued, then its reply.
//! Each connection keeps a FIFO of what it is waiting for, so a read sent after a write
//! is answered after that write and before any later one, as ZooKeeper's
//! `CommitProcessor` promises ("each session's requests must be processed in order").

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use jute::data::perms;
use jute::multi::MultiResponse;
use jute::proto::{ConnectResponse, Create2Response, CreateResponse, ReplyHeader, WatcherEvent};
use jute::{Field, Id, OpCode};
use tokio::sync::mpsc;

use super::driver::{now_ms, Driver};
use super::replicated::Replicated;
use super::request::Request;
use super::ConnId;
use crate::ensemble::store::StoreCmd;
use crate::session;
use crate::storage::gate::{self, SnapshotTicket};
use crate::tree::acl;
use crate::txn::{apply, Applied, OpResult, State, Txn, TxnOp};

/// What a connection waits for, in its order.
#[derive(Debug)]
pub(super) enum Queued {
    /// A write handed to the log; answered when it is applied. `zxid` is known in advance
    /// only on a standalone server (an ensemble's replica assigns it when it is chosen).
    Write { zxid: Option<i64>, xid: i32, op: OpCode, after: AfterWrite, received: Instant },
    /// An ensemble `sync`: answered once the leader confirmed a read index (`read_index`)
    /// and this server applied that far.
    Sync { xid: i32, path: String, received: Instant, id: u64, read_index: Option<u64> },
    /// A request that may run only after the writes queued before it.
    Read { xid: i32, req: Request, received: Instant, ids: Arc<Vec<Id>> },
}

/// Who sent a write and when: what its answer needs.
#[derive(Debug)]
pub(super) struct Origin {
    pub conn: ConnId,
    pub session: i64,
    pub xid: i32,
    pub op: OpCode,
    pub ids: Arc<Vec<Id>>,
    pub received: Instant,
}

/// What to send once a write is applied.
#[derive(Debug, Clone, Copy)]
pub(super) enum AfterWrite {
    /// The op's normal reply.
    Reply,
    /// closeSession: reply, then close the connection.
    CloseSession,
    /// createSession: the ConnectResponse (`read_only` echoes whether the client sent the byte).
    Connect { read_only: Option<bool> },
}

/// Commands for the storage thread.
pub enum StorageCmd {
    /// Append one stamped command; the thread answers with `DriverMsg::Durable`.
    Append(Arc<Txn>),
    /// Take a snapshot of this state (a consistent copy) and start a new log segment; the
    /// ticket is dropped once the snapshot is written or given up.
    Snapshot(Box<State>, SnapshotTicket),
}

/// Where stamped commands go before they are applied.
pub enum Log {
    /// In memory only: a command counts as durable at once.
    Memory,
    /// The storage thread: durable after its group-committed fsync.
    Durable(mpsc::UnboundedSender<StorageCmd>),
    /// An ensemble: commands are chosen by the replicas (see `replicated`).
    Replicated(Box<Replicated>),
}

impl Driver {
    /// Stamps a write and hands it to the log. `origin` is the connection that waits for the
    /// answer (with its queue entry already pushed by the caller), if any.
    pub(super) fn submit(
        &mut self,
        origin: Option<ConnId>,
        session: i64,
        cxid: i32,
        ids: Arc<Vec<Id>>,
        op: TxnOp,
    ) -> i64 {
        let txn = Arc::new(self.stamper.stamp(session, cxid, ids, op, now_ms()));
        let zxid = txn.zxid;
        match &self.log {
            Log::Memory => {
                self.unapplied.push_back((txn, origin));
                self.durable(zxid);
            }
            Log::Durable(tx) => {
                if tx.send(StorageCmd::Append(Arc::clone(&txn))).is_err() {
                    crate::server::fatal("the storage thread is gone; refusing to go on without a log");
                }
                self.unapplied.push_back((txn, origin));
            }
            Log::Replicated(_) => self.replicate(&txn),
        }
        zxid
    }

    /// Stamps a write for a connection and queues its answer.
    pub(super) fn submit_for(&mut self, from: Origin, op: TxnOp, after: AfterWrite) {
        let zxid = match self.log {
            Log::Replicated(_) => None,
            _ => Some(self.stamper.last_zxid() + 1),
        };
        if let Some(c) = self.conns.get_mut(&from.conn) {
            c.queue.push_back(Queued::Write { zxid, xid: from.xid, op: from.op, after, received: from.received });
        }
        let stamped = self.submit(Some(from.conn), from.session, from.xid, from.ids, op);
        assert!(zxid.is_none_or(|z| z == stamped), "stamper skipped a zxid");
    }

    /// The log made everything up to `zxid` durable: apply it in order and answer.
    pub(super) fn durable(&mut self, zxid: i64) {
        while self.unapplied.front().is_some_and(|(t, _)| t.zxid <= zxid) {
            let (txn, origin) = self.unapplied.pop_front().expect("checked front");
            let applied = apply(&mut self.state, &txn);
            self.fire(&applied);
            self.since_snapshot += 1;
            if let Some(conn) = origin {
                self.complete_write(conn, applied);
            }
        }
        self.maybe_snapshot();
    }

    /// Queues the watch events of an applied command on their connections.
    pub(super) fn fire(&mut self, applied: &Applied) {
        if applied.triggers.is_empty() {
            return;
        }
        for ev in self.watches.fire(&applied.triggers) {
            if let Some(c) = self.conns.get(&ev.conn) {
                // ZooKeeper 3.9.2+ (CVE-2024-23944): only watchers that may READ the node
                // hear about it; the watch itself is spent either way.
                if !acl::check(&ev.acl, &c.ids, perms::READ) {
                    continue;
                }
                let header = ReplyHeader { xid: -1, zxid: applied.zxid, err: 0 };
                let event = WatcherEvent { r#type: ev.event as i32, state: 3, path: ev.path };
                c.outbox.push_frame(|out| {
                    header.encode(out);
                    event.encode(out);
                });
                self.stats.packets_sent += 1;
            }
        }
    }

    /// Answers an applied write at the front of its connection's queue, then runs the
    /// reads that were waiting behind it.
    pub(super) fn complete_write(&mut self, conn: ConnId, applied: Applied) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Some(Queued::Write { zxid, xid, op, after, received }) = c.queue.pop_front() else {
            panic!("connection {conn}: applied {:#x} but its queue does not start with that write", applied.zxid);
        };
        assert!(zxid.is_none_or(|z| z == applied.zxid), "connection {conn}: writes applied out of order");
        match after {
            AfterWrite::Reply => self.reply_write(conn, xid, applied),
            AfterWrite::CloseSession => {
                self.reply(conn, xid, applied.zxid, 0, |_| {});
                if let Some(s) = self.conns.get(&conn).and_then(|c| c.session) {
                    self.close_session_after_reply(s);
                }
            }
            AfterWrite::Connect { read_only } => self.connect_response(conn, read_only),
        }
        self.record_latency(conn, op, xid, received);
        self.drain(conn);
    }

    /// Runs queued reads (and ensemble syncs whose read point is applied) from the front
    /// until the next request that must wait.
    pub(super) fn drain(&mut self, conn: ConnId) {
        let applied_slot = self.state.slot;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            match c.queue.front() {
                Some(Queued::Read { .. }) => {
                    let Some(Queued::Read { xid, req, received, ids }) = c.queue.pop_front() else { unreachable!() };
                    self.execute(conn, xid, req, received, ids);
                }
                Some(Queued::Sync { read_index: Some(at), .. }) if *at <= applied_slot => {
                    let Some(Queued::Sync { xid, path, received, .. }) = c.queue.pop_front() else { unreachable!() };
                    self.answer_sync(conn, xid, path, received);
                }
                _ => return,
            }
        }
    }

    /// Sends the ConnectResponse of a session whose creation is applied.
    pub(super) fn connect_response(&mut self, conn: ConnId, read_only: Option<bool>) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(session_id) = c.session else { return };
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: c.timeout_ms,
            session_id,
            passwd: session::password(session_id).to_vec().into(),
            read_only: read_only.map(|_| false),
        };
        c.outbox.push_frame(|out| resp.encode(out));
        self.stats.packets_sent += 1;
    }

    fn reply_write(&mut self, conn: ConnId, xid: i32, applied: Applied) {
        let zxid = applied.zxid;
        match applied.result {
            OpResult::Error(code) => self.reply(conn, xid, zxid, code.code(), |_| {}),
            OpResult::Created { path, stat: None } => {
                let resp = CreateResponse { path };
                self.reply(conn, xid, zxid, 0, |o| resp.encode(o));
            }
            OpResult::Created { path, stat: Some(stat) } => {
                let resp = Create2Response { path, stat };
                self.reply(conn, xid, zxid, 0, |o| resp.encode(o));
            }
            OpResult::Deleted => self.reply(conn, xid, zxid, 0, |_| {}),
            OpResult::DataSet(stat) | OpResult::AclSet(stat) => self.reply(conn, xid, zxid, 0, |o| stat.encode(o)),
            OpResult::Multi(results) => {
                let resp = MultiResponse { results };
                self.reply(conn, xid, zxid, 0, |o| resp.encode(o));
            }
            OpResult::SessionCreated | OpResult::SessionClosed => {
                unreachable!("session commands are answered by their AfterWrite")
            }
        }
    }

    /// Hands a copy of the state to the storage thread for a snapshot, now.
    pub(super) fn snapshot_now(&mut self) {
        tracing::info!(zxid = format_args!("{:#x}", self.state.last_zxid), "snapshot requested");
        self.since_snapshot = 0;
        self.send_snapshot_cmd();
    }

    /// Copies the state for a snapshot unless one is still being written: then neither the
    /// copy nor freeing it later is paid for (on a large tree both are tens of ms).
    fn send_snapshot_cmd(&self) {
        if matches!(self.log, Log::Memory) {
            return;
        }
        let Some(ticket) = self.snapshots.try_begin() else {
            tracing::info!(
                zxid = format_args!("{:#x}", self.state.last_zxid),
                "too busy to snapshot (the last one is still being written); skipping"
            );
            return;
        };
        let state = Box::new(self.state.clone());
        match &self.log {
            Log::Durable(tx) => {
                let _ = tx.send(StorageCmd::Snapshot(state, ticket));
            }
            Log::Replicated(r) => {
                let _ = r.store.send(StoreCmd::Snapshot(state, ticket));
            }
            Log::Memory => {}
        }
    }

    /// After a random number of applied commands between half and all of `snapCount`
    /// (ZooKeeper's `randRoll`, so an ensemble's servers do not snapshot together), hand a
    /// copy to the storage thread.
    pub(super) fn maybe_snapshot(&mut self) {
        if self.since_snapshot < self.snapshot_after || matches!(self.log, Log::Memory) {
            return;
        }
        self.since_snapshot = 0;
        self.snapshot_after = gate::next_interval(self.config.snap_count, &self.snapshot_random, self.state.last_zxid);
        self.send_snapshot_cmd();
    }
}

/// Commands stamped but not yet applied, with the connection waiting for each.
pub(super) type Unapplied = VecDeque<(Arc<Txn>, Option<ConnId>)>;

/// True for requests that become stamped commands.
pub(super) fn is_write(req: &Request) -> bool {
    matches!(
        req,
        Request::Create { .. }
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::DeleteContainer(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Multi(_)
            | Request::Reconfig(_)
            | Request::CloseSession
    ) || matches!(req, Request::Malformed(op) if op.is_write())
}
