//! The whole request path in one place: every request is a write (stamped and applied),
//! a read of the local tree, or handled by the session layer. Runs on the driver task,
//! so a session's requests are answered in the order they were sent.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use jute::data::perms;
use jute::multi::{MultiOp, MultiResponse, MultiResult};
use jute::proto::*;
use jute::{ClientInfo, ErrorCode, Field, Id, OpCode};
use tracing::{info, warn};

use super::commit::{is_write, AfterWrite, Log, Origin, Queued};
use super::driver::{now_ms, Driver};
use super::request::Request;
use super::ConnId;
use crate::sasl::{DigestMd5Server, SaslStep};
use crate::tree::{acl, Node};
use crate::txn::prepare::is_ttl_flags;
use crate::txn::{CreateKind, CreateOp, TxnOp};
use crate::watch::{Table, PERSISTENT, RECURSIVE, STANDARD};

/// A reply body, written only when the request succeeds.
type Body = Box<dyn FnOnce(&mut BytesMut)>;

/// What the caller of a request is.
struct Caller {
    conn: ConnId,
    session: i64,
    xid: i32,
    ids: Arc<Vec<Id>>,
}

impl Driver {
    /// Takes one request of an established session: writes go to the log at once (their
    /// order is the log's order); anything else runs now, or waits behind the session's
    /// unapplied writes.
    pub(super) fn request(&mut self, conn: ConnId, xid: i32, req: Request, received: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Some(session) = c.session else {
            c.outbox.answered();
            return;
        };
        c.stats.received += 1;
        self.stats.packets_received += 1;
        // Auth changes the identities every later request of this connection runs with,
        // so it takes effect on arrival; its reply still goes out in order.
        let req = match req {
            Request::Auth(p) => Request::AuthDone { scheme: p.scheme.clone(), ok: self.authenticate(conn, &p) },
            Request::Sasl(r) => self.sasl_step(conn, &r.token),
            other => other,
        };
        if let (Request::Sync(r), Log::Replicated(_)) = (&req, &self.log) {
            let path = r.path.clone();
            self.expiry.renew(session, now_ms());
            self.start_sync(conn, xid, path, received);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if is_write(&req) {
            let ids = c.ids.clone();
            let op = opcode_of(&req);
            let (txn_op, after) = to_command(req, self.config.reconfig_enabled);
            if matches!(txn_op, TxnOp::CloseSession) {
                // Closing from now on (ZooKeeper's setSessionClosing): it must not also expire,
                // even if the client hangs up before the close is applied.
                self.expiry.remove(session);
            } else {
                self.expiry.renew(session, now_ms());
            }
            self.submit_for(Origin { conn, session, xid, op, ids, received }, txn_op, after);
        } else if !c.queue.is_empty() {
            let ids = c.ids.clone();
            c.queue.push_back(Queued::Read { xid, req, received, ids });
            self.expiry.renew(session, now_ms());
        } else {
            let ids = c.ids.clone();
            self.expiry.renew(session, now_ms());
            self.execute(conn, xid, req, received, ids);
        }
    }

    /// Runs a request that changes no state through the log, with the identities the
    /// connection had when the request arrived.
    pub(super) fn execute(&mut self, conn: ConnId, xid: i32, req: Request, received: Instant, ids: Arc<Vec<Id>>) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(session) = c.session else {
            c.outbox.answered();
            return;
        };
        let caller = Caller { conn, session, xid, ids };
        let op = opcode_of(&req);
        self.dispatch(&caller, req);
        self.record_latency(conn, op, xid, received);
    }

    /// Counts a reply in the server's and the connection's latency figures.
    pub(super) fn record_latency(&mut self, conn: ConnId, op: OpCode, xid: i32, received: Instant) {
        let latency = received.elapsed().as_millis() as u64;
        self.stats.latency.record(latency);
        let zxid = self.state.last_zxid;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.on_response(op, xid, zxid, now_ms(), latency);
        }
    }

    fn dispatch(&mut self, c: &Caller, req: Request) {
        match req {
            Request::Ping => self.reply_empty(c.conn, -2, self.state.last_zxid, 0),
            Request::Malformed(_) => {
                self.reply_empty(c.conn, c.xid, self.state.last_zxid, ErrorCode::MarshallingError.code())
            }
            Request::Check | Request::Unknown(_) => {
                self.reply_empty(c.conn, c.xid, -1, ErrorCode::Unimplemented.code());
                self.close_conn(c.conn);
            }
            Request::AuthDone { scheme, ok } => self.auth_reply(c, &scheme, ok),
            Request::Auth(_) => unreachable!("auth is applied on arrival"),
            Request::SaslDone { err, token, close } => {
                let resp = SaslResponse { token: token.map(Bytes::from) };
                self.reply_with_error_body(c.conn, c.xid, 0, err, |o| resp.encode(o));
                if close {
                    self.close_conn(c.conn);
                }
            }
            Request::Sasl(_) => unreachable!("SASL is stepped on arrival"),
            Request::SetWatches(w) => self.set_watches(c, w),
            Request::AddWatch(r) => self.add_watch(c, r),
            Request::CheckWatches(r) => self.watch_check_or_remove(c, &r.path, r.r#type, false),
            Request::RemoveWatches(r) => self.watch_check_or_remove(c, &r.path, r.r#type, true),
            Request::WhoAmI => {
                let info: Vec<ClientInfo> = c.ids.iter().map(client_info).collect();
                let resp = WhoAmIResponse { client_info: info };
                self.reply(c.conn, c.xid, self.state.last_zxid, 0, |o| resp.encode(o));
            }
            Request::Sync(r) => {
                let resp = SyncResponse { path: r.path };
                self.reply(c.conn, c.xid, self.state.last_zxid, 0, |o| resp.encode(o));
            }
            Request::GetEphemerals(r) => {
                let prefix = r.prefix_path.trim();
                let all = prefix.is_empty() || prefix == "/";
                let ephemerals: Vec<String> = self
                    .state
                    .tree
                    .ephemerals_of(c.session)
                    .filter(|p| all || p.starts_with(prefix))
                    .map(str::to_owned)
                    .collect();
                let resp = GetEphemeralsResponse { ephemerals };
                self.reply(c.conn, c.xid, self.state.last_zxid, 0, |o| resp.encode(o));
            }
            read => self.read(c, read),
        }
    }

    /// Local reads: look up, check READ, register the watch in the same step, reply.
    fn read(&mut self, c: &Caller, req: Request) {
        let zxid = self.state.last_zxid;
        let result: Result<Body, ErrorCode> = match req {
            Request::Exists(r) => {
                if r.path.contains('\0') {
                    Err(ErrorCode::BadArguments)
                } else {
                    let found = self
                        .state
                        .tree
                        .get(&r.path)
                        .map(|n| (acl::check(&n.acl, &c.ids, perms::READ), n.client_stat()));
                    match found {
                        Some((false, _)) => Err(ErrorCode::NoAuth),
                        other => {
                            if r.watch {
                                self.watches.add(c.conn, &r.path, Table::Data, STANDARD);
                            }
                            match other {
                                Some((_, stat)) => Ok(Box::new(move |o: &mut BytesMut| stat.encode(o))),
                                None => Err(ErrorCode::NoNode),
                            }
                        }
                    }
                }
            }
            Request::GetData(r) => {
                self.readable(&r.path, &c.ids).map(|n| (n.data.clone(), n.client_stat())).map(|(data, stat)| {
                    if r.watch {
                        self.watches.add(c.conn, &r.path, Table::Data, STANDARD);
                    }
                    let resp = GetDataResponse { data, stat };
                    Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body
                })
            }
            Request::GetChildren(r) => self.readable(&r.path, &c.ids).map(children).map(|children| {
                if r.watch {
                    self.watches.add(c.conn, &r.path, Table::Child, STANDARD);
                }
                let resp = GetChildrenResponse { children };
                Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body
            }),
            Request::GetChildren2(r) => {
                self.readable(&r.path, &c.ids).map(|n| (children(n), n.client_stat())).map(|(children, stat)| {
                    if r.watch {
                        self.watches.add(c.conn, &r.path, Table::Child, STANDARD);
                    }
                    let resp = GetChildren2Response { children, stat };
                    Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body
                })
            }
            Request::GetAllChildrenNumber(r) => self.readable(&r.path, &c.ids).map(|_| {
                let resp =
                    GetAllChildrenNumberResponse { total_number: self.state.tree.descendant_count(&r.path) as i32 };
                Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body
            }),
            Request::GetAcl(r) => {
                self.get_acl(&r.path, &c.ids).map(|resp| Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body)
            }
            Request::MultiRead(ops) => {
                let resp = self.multi_read(&ops, &c.ids);
                match resp {
                    Ok(resp) => Ok(Box::new(move |o: &mut BytesMut| resp.encode(o)) as Body),
                    Err(Some(empty)) => {
                        // Only write ops: ZooKeeper answers −5 with an empty result list as a body
                        // (the one error reply seen to carry one).
                        self.reply_with_error_body(c.conn, c.xid, zxid, ErrorCode::MarshallingError.code(), |o| {
                            empty.encode(o)
                        });
                        return;
                    }
                    // Reads and writes mixed: the request does not decode in ZooKeeper, −5, no body.
                    Err(None) => Err(ErrorCode::MarshallingError),
                }
            }
            other => unreachable!("not a read: {other:?}"),
        };
        match result {
            Ok(body) => self.reply(c.conn, c.xid, zxid, 0, body),
            Err(code) => self.reply_empty(c.conn, c.xid, zxid, code.code()),
        }
    }

    /// Finds a node the caller may READ.
    fn readable(&self, path: &str, ids: &[Id]) -> Result<&Node, ErrorCode> {
        let n = self.state.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if acl::check(&n.acl, ids, perms::READ) {
            Ok(n)
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    /// getACL: READ or ADMIN; without ADMIN the digest ids come back masked as `user:x`.
    fn get_acl(&self, path: &str, ids: &[Id]) -> Result<GetAclResponse, ErrorCode> {
        let n = self.state.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&n.acl, ids, perms::READ | perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        let admin = acl::check(&n.acl, ids, perms::ADMIN);
        let list = n
            .acl
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if !admin && a.id.scheme == "digest" {
                    let user = a.id.id.split(':').next().unwrap_or("").to_owned();
                    a.id.id = format!("{user}:x");
                }
                a
            })
            .collect();
        Ok(GetAclResponse { acl: list, stat: n.client_stat() })
    }

    /// multiRead: each op answered on its own; a failed op does not fail the others.
    /// `Err(Some(empty))` when every op is a write, `Err(None)` when reads and writes mix.
    fn multi_read(&self, ops: &[MultiOp], ids: &[Id]) -> Result<MultiResponse, Option<MultiResponse>> {
        if ops.iter().any(|op| !op.is_read()) {
            return Err(ops.iter().all(|op| !op.is_read()).then(MultiResponse::default));
        }
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let r = match op {
                MultiOp::GetData(r) => match self.readable(&r.path, ids) {
                    Ok(n) => MultiResult::GetData { data: n.data.clone(), stat: n.client_stat() },
                    Err(e) => MultiResult::Error { err: e.code() },
                },
                MultiOp::GetChildren(r) => match self.readable(&r.path, ids) {
                    Ok(n) => MultiResult::GetChildren { children: children(n) },
                    Err(e) => MultiResult::Error { err: e.code() },
                },
                _ => unreachable!("checked: only reads"),
            };
            results.push(r);
        }
        Ok(MultiResponse { results })
    }

    /// Adds the identity an AuthPacket proves to the connection; false for a scheme no
    /// provider knows (ZooKeeper has `digest` and `ip` built in).
    fn authenticate(&mut self, conn: ConnId, p: &AuthPacket) -> bool {
        let added: Vec<Id> = match p.scheme.as_str() {
            "digest" => {
                let auth = String::from_utf8_lossy(&p.auth).into_owned();
                let id = acl::digest_id(&auth);
                let mut ids = vec![Id { scheme: "digest".into(), id: id.clone() }];
                if self.config.super_digest.as_deref() == Some(id.as_str()) {
                    ids.push(Id { scheme: "super".into(), id: String::new() });
                }
                ids
            }
            "ip" => Vec::new(),
            _ => return false,
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            let mut ids = (*c.ids).clone();
            for id in added {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            c.ids = Arc::new(ids);
        }
        true
    }

    /// One SASL DIGEST-MD5 step (op 102), taken on arrival like auth so later requests run
    /// with the identity it proves. Without SASL configured ZooKeeper answers OK with a null
    /// token and keeps the connection; a failed exchange is AuthFailed, then close.
    fn sasl_step(&mut self, conn: ConnId, token: &[u8]) -> Request {
        let Some(users) = self.sasl_users.clone() else {
            warn!(conn, "SASL requested but no JAAS Server section is configured");
            return Request::SaslDone { err: 0, token: None, close: false };
        };
        let super_user = self.config.super_user.clone();
        let Some(c) = self.conns.get_mut(&conn) else { return Request::SaslDone { err: 0, token: None, close: true } };
        let server = c.sasl.get_or_insert_with(|| DigestMd5Server::new(users, sasl_nonce()));
        match server.step(token) {
            Ok(SaslStep::Challenge(t)) => Request::SaslDone { err: 0, token: Some(t), close: false },
            Ok(SaslStep::Success { final_token, authorization_id }) => {
                info!(conn, user = %authorization_id, "SASL authenticated");
                let mut ids = (*c.ids).clone();
                let mut add = vec![Id { scheme: "sasl".into(), id: authorization_id.clone() }];
                if super_user.as_deref() == Some(authorization_id.as_str()) {
                    add.push(Id { scheme: "super".into(), id: String::new() });
                }
                for id in add {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                c.ids = Arc::new(ids);
                Request::SaslDone { err: 0, token: Some(final_token), close: false }
            }
            Err(e) => {
                warn!(conn, "SASL authentication failed: {e}");
                Request::SaslDone { err: ErrorCode::AuthFailed.code(), token: None, close: true }
            }
        }
    }

    /// The in-order reply to an AuthPacket: zxid 0; a failure closes the connection.
    fn auth_reply(&mut self, c: &Caller, scheme: &str, ok: bool) {
        if ok {
            self.reply_empty(c.conn, c.xid, 0, 0);
        } else {
            info!(conn = c.conn, scheme, "auth failed: unknown scheme");
            self.reply_empty(c.conn, c.xid, 0, ErrorCode::AuthFailed.code());
            self.close_conn(c.conn);
        }
    }

    /// SetWatches/SetWatches2: events for what changed since `relativeZxid`, sent before
    /// the reply; the rest registered.
    fn set_watches(&mut self, c: &Caller, w: SetWatches2) {
        let rel = w.relative_zxid;
        let mut events: Vec<(i32, String)> = Vec::new();
        for p in w.data_watches {
            match self.state.tree.get(&p) {
                None => events.push((2, p)),
                Some(n) if n.stat.mzxid > rel => events.push((3, p)),
                Some(_) => self.watches.add(c.conn, &p, Table::Data, STANDARD),
            }
        }
        for p in w.exist_watches {
            match self.state.tree.get(&p) {
                Some(_) => events.push((1, p)),
                None => self.watches.add(c.conn, &p, Table::Data, STANDARD),
            }
        }
        for p in w.child_watches {
            match self.state.tree.get(&p) {
                None => events.push((2, p)),
                Some(n) if n.stat.pzxid > rel => events.push((4, p)),
                Some(_) => self.watches.add(c.conn, &p, Table::Child, STANDARD),
            }
        }
        for p in w.persistent_watches {
            self.watches.add(c.conn, &p, Table::Data, PERSISTENT);
            self.watches.add(c.conn, &p, Table::Child, PERSISTENT);
        }
        for p in w.persistent_recursive_watches {
            self.watches.add(c.conn, &p, Table::Data, RECURSIVE);
        }
        if let Some(conn) = self.conns.get(&c.conn) {
            for (ty, path) in events {
                let header = ReplyHeader { xid: -1, zxid: -1, err: 0 };
                let ev = WatcherEvent { r#type: ty, state: 3, path };
                conn.outbox.push_frame(|o| {
                    header.encode(o);
                    ev.encode(o);
                });
            }
        }
        self.reply_empty(c.conn, c.xid, self.state.last_zxid, 0);
    }

    fn add_watch(&mut self, c: &Caller, r: AddWatchRequest) {
        match r.mode {
            0 => {
                self.watches.add(c.conn, &r.path, Table::Data, PERSISTENT);
                self.watches.add(c.conn, &r.path, Table::Child, PERSISTENT);
            }
            1 => self.watches.add(c.conn, &r.path, Table::Data, RECURSIVE),
            _ => return self.reply_empty(c.conn, c.xid, self.state.last_zxid, ErrorCode::MarshallingError.code()),
        }
        let resp = ErrorResponse { err: 0 };
        self.reply(c.conn, c.xid, self.state.last_zxid, 0, |o| resp.encode(o));
    }

    /// checkWatches / removeWatches by `WatcherType`: 1 children, 2 data, 3 any,
    /// 4 persistent, 5 persistent recursive.
    fn watch_check_or_remove(&mut self, c: &Caller, path: &str, ty: i32, remove: bool) {
        const ANY_MODE: u8 = STANDARD | PERSISTENT | RECURSIVE;
        let targets: &[(Table, u8)] = match ty {
            1 => &[(Table::Child, STANDARD)],
            2 => &[(Table::Data, STANDARD)],
            // Any: every mode, persistent ones included (DataTree.removeWatch with mode null).
            3 => &[(Table::Child, ANY_MODE), (Table::Data, ANY_MODE)],
            4 => &[(Table::Child, PERSISTENT), (Table::Data, PERSISTENT)],
            5 => &[(Table::Data, RECURSIVE)],
            // WatcherType.fromInt throws, which FinalRequestProcessor answers as MarshallingError.
            _ => return self.reply_empty(c.conn, c.xid, self.state.last_zxid, ErrorCode::MarshallingError.code()),
        };
        let mut found = false;
        for (table, mode) in targets {
            found |= if remove {
                self.watches.remove(c.conn, path, *table, *mode)
            } else {
                self.watches.has(c.conn, path, *table, *mode)
            };
        }
        let err = if found { 0 } else { ErrorCode::NoWatcher.code() };
        self.reply_empty(c.conn, c.xid, self.state.last_zxid, err);
    }

    /// Queues a reply; the body is written only on success, as ZooKeeper does.
    pub(super) fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, body: impl FnOnce(&mut BytesMut)) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        c.outbox.answered();
        c.outbox.push_frame(|o| {
            ReplyHeader { xid, zxid, err }.encode(o);
            if err == 0 {
                body(o);
            }
        });
        self.stats.packets_sent += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
        }
    }

    fn reply_with_error_body(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, body: impl FnOnce(&mut BytesMut)) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        c.outbox.answered();
        c.outbox.push_frame(|o| {
            ReplyHeader { xid, zxid, err }.encode(o);
            body(o);
        });
        self.stats.packets_sent += 1;
    }

    fn reply_empty(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32) {
        self.reply(conn, xid, zxid, err, |_| {});
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            c.outbox.close();
        }
    }
}

/// A fresh DIGEST-MD5 nonce: 30 random bytes in base64 (40 characters), as Java sends.
fn sasl_nonce() -> String {
    use base64::Engine;
    use std::io::Read;
    let mut bytes = [0u8; 30];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: fall back to the clock; a nonce must only not repeat.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes[..16].copy_from_slice(&t.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn children(n: &Node) -> Vec<String> {
    n.children.iter().map(|c| c.to_string()).collect()
}

fn client_info(id: &Id) -> ClientInfo {
    let user = match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
        _ => id.id.clone(),
    };
    ClientInfo { auth_scheme: id.scheme.clone(), user }
}

/// One op of a multi as ZooKeeper's `MultiOperationRecord` rebuilds it with `Op.create`: a
/// create entry (1, 15, 19) with a TTL flag becomes a createTTL op around a CreateRequest,
/// whose cast in `PrepRequestProcessor` throws, so the whole multi fails with
/// MarshallingError (marked here as an `Error(MarshallingError)` op, see `apply_multi`); a
/// createTTL entry (21) with a non-TTL flag becomes a plain create and its ttl is ignored.
fn multi_op_to_txn(op: &MultiOp) -> Option<TxnOp> {
    Some(match op {
        MultiOp::Create { req, .. } if is_ttl_flags(req.flags) => TxnOp::Error(ErrorCode::MarshallingError),
        MultiOp::CreateTtl(r) if !is_ttl_flags(r.flags) => TxnOp::Create(CreateOp {
            path: r.path.clone(),
            data: r.data.clone(),
            acl: r.acl.clone(),
            flags: r.flags,
            kind: CreateKind::Create,
            ttl: -1,
        }),
        MultiOp::Create { op, req } => TxnOp::Create(CreateOp {
            path: req.path.clone(),
            data: req.data.clone(),
            acl: req.acl.clone(),
            flags: req.flags,
            kind: if *op == 15 { CreateKind::Create2 } else { CreateKind::Create },
            ttl: -1,
        }),
        MultiOp::CreateTtl(r) => TxnOp::Create(CreateOp {
            path: r.path.clone(),
            data: r.data.clone(),
            acl: r.acl.clone(),
            flags: r.flags,
            kind: CreateKind::Ttl,
            ttl: r.ttl,
        }),
        MultiOp::Delete(r) => TxnOp::Delete { path: r.path.clone(), version: r.version },
        MultiOp::SetData(r) => TxnOp::SetData { path: r.path.clone(), data: r.data.clone(), version: r.version },
        MultiOp::Check(r) => TxnOp::Check { path: r.path.clone(), version: r.version },
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => return None,
    })
}

/// The opcode a request came with, for `cons` (`lop`).
fn opcode_of(req: &Request) -> OpCode {
    match req {
        Request::Create { op, .. } => *op,
        Request::CreateTtl(_) => OpCode::CREATE_TTL,
        Request::Delete(_) => OpCode::DELETE,
        Request::Exists(_) => OpCode::EXISTS,
        Request::GetData(_) => OpCode::GET_DATA,
        Request::SetData(_) => OpCode::SET_DATA,
        Request::GetAcl(_) => OpCode::GET_ACL,
        Request::SetAcl(_) => OpCode::SET_ACL,
        Request::GetChildren(_) => OpCode::GET_CHILDREN,
        Request::GetChildren2(_) => OpCode::GET_CHILDREN2,
        Request::Sync(_) => OpCode::SYNC,
        Request::Ping => OpCode::PING,
        Request::Check => OpCode::CHECK,
        Request::Multi(_) => OpCode::MULTI,
        Request::MultiRead(_) => OpCode::MULTI_READ,
        Request::Reconfig(_) => OpCode::RECONFIG,
        Request::CheckWatches(_) => OpCode::CHECK_WATCHES,
        Request::RemoveWatches(_) => OpCode::REMOVE_WATCHES,
        Request::DeleteContainer(_) => OpCode::DELETE_CONTAINER,
        Request::Auth(_) | Request::AuthDone { .. } => OpCode::AUTH,
        Request::SetWatches(_) => OpCode::SET_WATCHES,
        Request::Sasl(_) | Request::SaslDone { .. } => OpCode::SASL,
        Request::GetEphemerals(_) => OpCode::GET_EPHEMERALS,
        Request::GetAllChildrenNumber(_) => OpCode::GET_ALL_CHILDREN_NUMBER,
        Request::AddWatch(_) => OpCode::ADD_WATCH,
        Request::WhoAmI => OpCode::WHO_AM_I,
        Request::CloseSession => OpCode::CLOSE_SESSION,
        Request::Unknown(op) => OpCode(*op),
        Request::Malformed(op) => *op,
    }
}

/// Turns a write request into the command to stamp, and what to send once it is applied.
fn to_command(req: Request, reconfig_enabled: bool) -> (TxnOp, AfterWrite) {
    let op = match req {
        Request::Create { op, req } => {
            let kind = match op {
                OpCode::CREATE2 => CreateKind::Create2,
                OpCode::CREATE_CONTAINER => CreateKind::Container,
                _ => CreateKind::Create,
            };
            TxnOp::Create(CreateOp { path: req.path, data: req.data, acl: req.acl, flags: req.flags, kind, ttl: -1 })
        }
        Request::CreateTtl(r) => TxnOp::Create(CreateOp {
            path: r.path,
            data: r.data,
            acl: r.acl,
            flags: r.flags,
            kind: CreateKind::Ttl,
            ttl: r.ttl,
        }),
        Request::Delete(r) => TxnOp::Delete { path: r.path, version: r.version },
        Request::DeleteContainer(path) => TxnOp::DeleteContainer { path },
        Request::SetData(r) => TxnOp::SetData { path: r.path, data: r.data, version: r.version },
        Request::SetAcl(r) => TxnOp::SetAcl { path: r.path, acl: r.acl, version: r.version },
        Request::Multi(ops) => match ops.iter().map(multi_op_to_txn).collect::<Option<Vec<_>>>() {
            Some(ops) => TxnOp::Multi(ops),
            None => TxnOp::Error(ErrorCode::MarshallingError),
        },
        Request::Reconfig(_) if reconfig_enabled => TxnOp::Error(ErrorCode::Unimplemented),
        Request::Reconfig(_) => TxnOp::Error(ErrorCode::ReconfigDisabled),
        Request::Malformed(_) => TxnOp::Error(ErrorCode::MarshallingError),
        Request::CloseSession => return (TxnOp::CloseSession, AfterWrite::CloseSession),
        other => unreachable!("not a write: {other:?}"),
    };
    (op, AfterWrite::Reply)
}

#[cfg(test)]
mod tests {
    use jute::Acl;

    use super::*;

    fn create_req(flags: i32) -> CreateRequest {
        CreateRequest { path: "/a".into(), data: None, acl: vec![Acl::world(31)], flags }
    }

    /// Differential test (compat-tests/differential), ZooKeeper 3.8.0: a create entry with
    /// a TTL flag fails the whole multi with −5; a createTTL entry with a non-TTL flag is a
    /// plain create (its ttl ignored), not BadArguments.
    #[test]
    fn multi_create_entries_are_rebuilt_as_zookeeper_does() {
        for op in [1, 15, 19] {
            for flags in [5, 6] {
                let entry = MultiOp::Create { op, req: create_req(flags) };
                assert_eq!(multi_op_to_txn(&entry), Some(TxnOp::Error(ErrorCode::MarshallingError)));
            }
        }
        for flags in [0, 1, 2, 3, 4] {
            let entry = MultiOp::CreateTtl(CreateTtlRequest {
                path: "/a".into(),
                data: None,
                acl: vec![Acl::world(31)],
                flags,
                ttl: 1000,
            });
            let Some(TxnOp::Create(c)) = multi_op_to_txn(&entry) else { panic!("flags {flags}: not a create") };
            assert_eq!((c.kind, c.flags, c.ttl), (CreateKind::Create, flags, -1));
        }
        let ttl =
            MultiOp::CreateTtl(CreateTtlRequest { path: "/a".into(), data: None, acl: vec![], flags: 5, ttl: 1000 });
        assert!(matches!(
            multi_op_to_txn(&ttl),
            Some(TxnOp::Create(CreateOp { kind: CreateKind::Ttl, ttl: 1000, .. }))
        ));
    }
}
