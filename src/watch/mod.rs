//! This server's watch registry: which connection watches which path, in which modes.
//! Watches belong to connections, not sessions; they go when the connection closes and
//! the client sends them again (SetWatches) after it reconnects.
//!
//! Two tables as in ZooKeeper's `WatchManager`: data (getData, exists, persistent,
//! persistent-recursive) and child (getChildren, persistent). One path may hold several
//! modes for one connection (3.9's rule); one change sends a connection at most one event.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jute::Acl;

use crate::tree::path;
use crate::txn::apply::EventType;
use crate::txn::Trigger;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// A one-shot watch, removed when it fires.
pub const STANDARD: u8 = 1;
/// A persistent watch (addWatch mode 0).
pub const PERSISTENT: u8 = 2;
/// A persistent recursive watch (addWatch mode 1): the path and all below it.
pub const RECURSIVE: u8 = 4;

/// Which table a watch lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Data,
    Child,
}

/// An event for one connection. It is delivered only if the connection may READ `acl`
/// (ZooKeeper 3.9.2+): the registry does not know identities, so the caller checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub conn: ConnId,
    pub event: EventType,
    pub path: String,
    /// The triggering node's ACL (the parent's for NodeChildrenChanged).
    pub acl: Arc<Vec<Acl>>,
}

type PathTable = HashMap<String, HashMap<ConnId, u8>>;

/// All watches of this server.
#[derive(Debug, Default)]
pub struct Registry {
    data: PathTable,
    child: PathTable,
    by_conn: HashMap<ConnId, BTreeSet<String>>,
    recursive: usize,
}

impl Registry {
    fn table(&mut self, t: Table) -> &mut PathTable {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Registers a watch mode on a path for a connection.
    pub fn add(&mut self, conn: ConnId, path: &str, table: Table, mode: u8) {
        let modes = self.table(table).entry(path.to_owned()).or_default().entry(conn).or_insert(0);
        let new_recursive = mode & RECURSIVE != 0 && *modes & RECURSIVE == 0;
        *modes |= mode;
        if new_recursive {
            self.recursive += 1;
        }
        self.by_conn.entry(conn).or_default().insert(path.to_owned());
    }

    /// Whether a connection holds any of `mode` on a path in a table.
    pub fn has(&self, conn: ConnId, path: &str, table: Table, mode: u8) -> bool {
        let t = match table {
            Table::Data => &self.data,
            Table::Child => &self.child,
        };
        t.get(path).and_then(|m| m.get(&conn)).is_some_and(|m| m & mode != 0)
    }

    /// Removes `mode` bits; returns whether any were there.
    pub fn remove(&mut self, conn: ConnId, path: &str, table: Table, mode: u8) -> bool {
        let t = self.table(table);
        let Some(conns) = t.get_mut(path) else {
            return false;
        };
        let Some(modes) = conns.get_mut(&conn) else {
            return false;
        };
        let had = *modes & mode;
        *modes &= !mode;
        let empty = *modes == 0;
        if empty {
            conns.remove(&conn);
            if conns.is_empty() {
                t.remove(path);
            }
        }
        if had & RECURSIVE != 0 {
            self.recursive -= 1;
        }
        if empty && !self.has_any(conn, path) {
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        had != 0
    }

    fn has_any(&self, conn: ConnId, path: &str) -> bool {
        self.has(conn, path, Table::Data, 0xff) || self.has(conn, path, Table::Child, 0xff)
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(paths) = self.by_conn.remove(&conn) else {
            return;
        };
        for p in paths {
            for table in [Table::Data, Table::Child] {
                let t = self.table(table);
                if let Some(conns) = t.get_mut(&p) {
                    if let Some(modes) = conns.remove(&conn) {
                        if modes & RECURSIVE != 0 {
                            self.recursive -= 1;
                        }
                    }
                    let t = self.table(table);
                    if t.get(&p).is_some_and(|c| c.is_empty()) {
                        t.remove(&p);
                    }
                }
            }
        }
    }

    /// Turns applied triggers into events, removing the one-shot watches that fired.
    pub fn fire(&mut self, triggers: &[Trigger]) -> Vec<Event> {
        let mut out = Vec::new();
        for t in triggers {
            let mut seen = HashSet::new();
            match t.event {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    self.trigger(Table::Data, t, &mut seen, &mut out);
                }
                EventType::NodeDeleted => {
                    self.trigger(Table::Data, t, &mut seen, &mut out);
                    self.trigger(Table::Child, t, &mut seen, &mut out);
                }
                EventType::NodeChildrenChanged => {
                    self.trigger(Table::Child, t, &mut seen, &mut out);
                }
            }
        }
        out
    }

    fn trigger(&mut self, table: Table, t: &Trigger, seen: &mut HashSet<ConnId>, out: &mut Vec<Event>) {
        let (p, event) = (t.path.as_str(), t.event);
        let event_for = |conn| Event { conn, event, path: p.to_owned(), acl: t.acl.clone() };
        let mut fired_standard = Vec::new();
        if let Some(conns) = self.table(table).get(p) {
            let mut conns: Vec<(ConnId, u8)> = conns.iter().map(|(c, m)| (*c, *m)).collect();
            conns.sort_unstable();
            for (conn, modes) in conns {
                if seen.insert(conn) {
                    out.push(event_for(conn));
                }
                if modes & STANDARD != 0 {
                    fired_standard.push(conn);
                }
            }
        }
        for conn in fired_standard {
            self.remove(conn, p, table, STANDARD);
        }
        if self.recursive > 0 && table == Table::Data && event != EventType::NodeChildrenChanged {
            let mut anc = p;
            while anc != "/" {
                anc = path::parent_of(anc).unwrap_or("/");
                if let Some(conns) = self.data.get(anc) {
                    let mut hits: Vec<ConnId> =
                        conns.iter().filter(|(_, m)| *m & RECURSIVE != 0).map(|(c, _)| *c).collect();
                    hits.sort_unstable();
                    for conn in hits {
                        if seen.insert(conn) {
                            out.push(event_for(conn));
                        }
                    }
                }
            }
        }
    }

    /// Number of (path, connection) watch entries in both tables (`wchs`, `zk_watch_count`).
    pub fn watch_count(&self) -> usize {
        self.data.values().map(HashMap::len).sum::<usize>() + self.child.values().map(HashMap::len).sum::<usize>()
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = self.data.keys().collect();
        paths.extend(self.child.keys());
        paths.len()
    }

    /// Connections holding at least one watch, with their paths (`wchc`).
    pub fn by_connection(&self) -> impl Iterator<Item = (ConnId, &BTreeSet<String>)> {
        self.by_conn.iter().map(|(c, p)| (*c, p))
    }

    /// Data and exist watches by connection, paths sorted (`wchc`, `wchs`: ZooKeeper's
    /// watch dumps list the data table only).
    pub fn data_watches_by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut m: HashMap<ConnId, Vec<String>> = HashMap::new();
        for (p, conns) in &self.data {
            for c in conns.keys() {
                m.entry(*c).or_default().push(p.clone());
            }
        }
        let mut v: Vec<(ConnId, Vec<String>)> = m.into_iter().collect();
        for (_, paths) in &mut v {
            paths.sort();
        }
        v.sort();
        v
    }

    /// Data and exist watches by path, with their connections (`wchp`).
    pub fn data_watches_by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut v: Vec<(String, Vec<ConnId>)> = self
            .data
            .iter()
            .map(|(p, conns)| {
                let mut c: Vec<ConnId> = conns.keys().copied().collect();
                c.sort();
                (p.clone(), c)
            })
            .collect();
        v.sort();
        v
    }

    /// Watched paths with their connections (`wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut m: HashMap<&String, BTreeSet<ConnId>> = HashMap::new();
        for (p, conns) in self.data.iter().chain(self.child.iter()) {
            m.entry(p).or_default().extend(conns.keys());
        }
        let mut v: Vec<(String, Vec<ConnId>)> =
            m.into_iter().map(|(p, c)| (p.clone(), c.into_iter().collect())).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trig(path: &str, event: EventType) -> Trigger {
        Trigger { path: path.into(), event, acl: Arc::new(Vec::new()) }
    }

    #[test]
    fn standard_fires_once() {
        let mut r = Registry::default();
        r.add(1, "/a", Table::Data, STANDARD);
        assert_eq!(r.fire(&[trig("/a", EventType::NodeDataChanged)]).len(), 1);
        assert!(r.fire(&[trig("/a", EventType::NodeDataChanged)]).is_empty());
        assert_eq!(r.watch_count(), 0);
    }

    #[test]
    fn delete_sends_one_event_per_connection() {
        let mut r = Registry::default();
        r.add(1, "/a", Table::Data, STANDARD);
        r.add(1, "/a", Table::Child, STANDARD);
        let ev = r.fire(&[trig("/a", EventType::NodeDeleted)]);
        assert_eq!(ev.len(), 1);
        assert_eq!(r.watch_count(), 0);
    }

    #[test]
    fn recursive_sees_descendants_but_not_child_events() {
        let mut r = Registry::default();
        r.add(7, "/a", Table::Data, RECURSIVE);
        assert_eq!(r.fire(&[trig("/a/b/c", EventType::NodeCreated)]).len(), 1);
        assert!(r.fire(&[trig("/a", EventType::NodeChildrenChanged)]).is_empty());
        assert_eq!(r.fire(&[trig("/a/b", EventType::NodeDataChanged)]).len(), 1);
        r.remove_connection(7);
        assert!(r.fire(&[trig("/a/b", EventType::NodeDataChanged)]).is_empty());
    }

    #[test]
    fn persistent_stays() {
        let mut r = Registry::default();
        r.add(1, "/a", Table::Data, PERSISTENT);
        r.add(1, "/a", Table::Child, PERSISTENT);
        for _ in 0..3 {
            assert_eq!(r.fire(&[trig("/a", EventType::NodeDataChanged)]).len(), 1);
        }
        assert_eq!(r.fire(&[trig("/a", EventType::NodeDeleted)]).len(), 1);
        assert_eq!(r.watch_count(), 2);
    }
}
