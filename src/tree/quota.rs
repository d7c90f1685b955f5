//! Quotas as ZooKeeper keeps them: a quota on path P is the node
//! `/zookeeper/quota/P/zookeeper_limits` (text such as `count=10,bytes=-1` or, 3.7+,
//! `count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=10`), and the server keeps
//! `/zookeeper/quota/P/zookeeper_stats` current with the node count and data bytes of P's
//! subtree. Limits only log unless `enforceQuota` is on; then hard limits answer
//! QuotaExceeded (`ZooKeeperServer.checkQuota`).

use std::collections::BTreeMap;

use bytes::Bytes;
use jute::ErrorCode;

use super::{path, DataTree};

/// Where quota subtrees live.
pub const QUOTA_ROOT: &str = "/zookeeper/quota";
/// Name of the node that holds a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// Name of the node the server keeps the current usage in.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `org.apache.zookeeper.StatsTrack`: `key=value` pairs split on `,` or `;`; a missing
/// value reads as −1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Parses the text of a limits or stats node; unparsable pairs are skipped.
    pub fn parse(data: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(data);
        let mut values = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(k), v) = (kv.next(), kv.next()) else { continue };
            let v = match v {
                None | Some("") => -1,
                Some(v) => match v.trim().parse() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            values.insert(k.to_owned(), v);
        }
        StatsTrack { values }
    }

    fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    /// `count` (−1 when absent).
    pub fn count(&self) -> i64 {
        self.get("count")
    }

    /// `bytes` (−1 when absent).
    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }

    /// `countHardLimit` (−1 when absent).
    pub fn count_hard_limit(&self) -> i64 {
        self.get("countHardLimit")
    }

    /// `byteHardLimit` (−1 when absent).
    pub fn byte_hard_limit(&self) -> i64 {
        self.get("byteHardLimit")
    }

    /// Sets `count` and `bytes`.
    pub fn set_usage(&mut self, count: i64, bytes: i64) {
        self.values.insert("count".into(), count);
        self.values.insert("bytes".into(), bytes);
    }

    /// The text ZooKeeper writes: count and bytes first, then `=` and the other keys
    /// sorted, `;`-separated (so 3.4 parsers ignore them).
    pub fn render(&self) -> String {
        let mut out = format!("count={},bytes={}", self.count(), self.bytes());
        let rest: Vec<_> = self.values.iter().filter(|(k, _)| *k != "count" && *k != "bytes").collect();
        if !rest.is_empty() {
            out.push('=');
            for (k, v) in rest {
                out.push_str(&format!(";{k}={v}"));
            }
        }
        out
    }
}

/// The quota'd path a quota node belongs to (`Quotas.trimQuotaPath`).
fn trim_quota_path(p: &str) -> &str {
    p.strip_prefix(QUOTA_ROOT).unwrap_or(p)
}

/// If `path` is a limits node, the path its quota applies to.
pub fn limited_path(p: &str) -> Option<&str> {
    let parent = p.strip_suffix(LIMIT_NODE)?.strip_suffix('/')?;
    parent.starts_with(QUOTA_ROOT).then(|| trim_quota_path(parent))
}

fn data_len(d: &Option<Bytes>) -> i64 {
    d.as_ref().map_or(0, |d| d.len() as i64)
}

impl DataTree {
    /// The deepest path at or above `p` that has a quota, if any (`getMaxPrefixWithQuota`).
    pub fn max_prefix_with_quota(&self, p: &str) -> Option<String> {
        if self.quota_paths.is_empty() {
            return None;
        }
        let mut at = p;
        loop {
            if at != "/" && !at.is_empty() && self.quota_paths.contains(at) {
                return Some(at.to_owned());
            }
            if at == "/" {
                return None;
            }
            at = path::parent_of(at)?;
        }
    }

    /// Turns hard quota limits on (`enforceQuota`). Configuration, equal on every replica.
    pub fn set_enforce_quota(&mut self, on: bool) {
        self.enforce_quota = on;
    }

    /// Keeps quota bookkeeping in step with a node just created under `parent`.
    pub(super) fn quota_on_create(&mut self, p: &str, parent: &str, name: &str, data_bytes: u64) {
        if parent.starts_with(QUOTA_ROOT) {
            if name == LIMIT_NODE {
                self.quota_paths.insert(trim_quota_path(parent).to_owned());
            }
            if name == STAT_NODE {
                self.recount_quota(trim_quota_path(parent).to_owned());
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, data_bytes as i64, 1);
        }
    }

    /// Keeps quota bookkeeping in step with a node just deleted.
    pub(super) fn quota_on_delete(&mut self, p: &str, parent: &str, name: &str, data_bytes: u64) {
        if parent.starts_with("/zookeeper") && name == LIMIT_NODE {
            self.quota_paths.remove(trim_quota_path(parent));
        }
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, -(data_bytes as i64), -1);
        }
    }

    /// Keeps quota bookkeeping in step with a data change.
    pub(super) fn quota_on_set_data(&mut self, p: &str, old_bytes: u64, new_bytes: u64) {
        if let Some(prefix) = self.max_prefix_with_quota(p) {
            self.update_quota_stat(&prefix, new_bytes as i64 - old_bytes as i64, 0);
        }
    }

    /// Adds to the usage recorded in a quota's stats node (`updateQuotaStat`); the stats
    /// node's data changes without a new version, as in ZooKeeper.
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let stat_path = format!("{QUOTA_ROOT}{prefix}/{STAT_NODE}");
        let Some(node) = self.get(&stat_path) else { return };
        let mut st = StatsTrack::parse(node.data.as_deref().unwrap_or_default());
        st.set_usage(st.count() + count_diff, st.bytes() + bytes_diff);
        self.set_data_raw(&stat_path, Some(Bytes::from(st.render())));
    }

    /// Sets a quota's stats node to the real usage of its subtree (`updateQuotaForPath`).
    fn recount_quota(&mut self, prefix: String) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![prefix.clone()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.get(&p) {
                count += 1;
                bytes += data_len(&n.data);
                stack.extend(n.children.iter().map(|c| super::child_path(&p, c)));
            }
        }
        let mut st = StatsTrack::default();
        st.set_usage(count, bytes);
        let stat_path = format!("{QUOTA_ROOT}{prefix}/{STAT_NODE}");
        if self.get(&stat_path).is_some() {
            self.set_data_raw(&stat_path, Some(Bytes::from(st.render())));
        }
    }

    /// With `enforceQuota`: refuses a create (`count_diff` 1) or data change that would pass
    /// a hard limit. Soft limits only warn in ZooKeeper's log.
    ///
    /// # Errors
    /// `QuotaExceeded` when a hard limit would be passed.
    pub fn check_quota(&self, p: &str, bytes_diff: i64, count_diff: i64) -> Result<(), ErrorCode> {
        if !self.enforce_quota {
            return Ok(());
        }
        let Some(prefix) = self.max_prefix_with_quota(p) else { return Ok(()) };
        let Some(limit_node) = self.get(&format!("{QUOTA_ROOT}{prefix}/{LIMIT_NODE}")) else { return Ok(()) };
        let limits = StatsTrack::parse(limit_node.data.as_deref().unwrap_or_default());
        let check_count = count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let check_bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !check_count && !check_bytes {
            return Ok(());
        }
        let Some(stat_node) = self.get(&format!("{QUOTA_ROOT}{prefix}/{STAT_NODE}")) else { return Ok(()) };
        let usage = StatsTrack::parse(stat_node.data.as_deref().unwrap_or_default());
        if check_count && limits.count_hard_limit() > -1 && usage.count() + count_diff > limits.count_hard_limit() {
            return Err(ErrorCode::QuotaExceeded);
        }
        if check_bytes && limits.byte_hard_limit() > -1 && usage.bytes() + bytes_diff > limits.byte_hard_limit() {
            return Err(ErrorCode::QuotaExceeded);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::acl;

    #[test]
    fn stats_track_matches_zookeeper_text() {
        let st = StatsTrack::parse(b"count=4,bytes=5=;countHardLimit=10;byteHardLimit=-1");
        assert_eq!((st.count(), st.bytes(), st.count_hard_limit()), (4, 5, 10));
        assert_eq!(st.render(), "count=4,bytes=5=;byteHardLimit=-1;countHardLimit=10");
        assert_eq!(StatsTrack::parse(b"count=10,bytes=-1").render(), "count=10,bytes=-1");
    }

    fn setquota(t: &mut DataTree, p: &str, limits: &str, zxid: &mut i64) {
        let acl = t.intern_acl(acl::open_acl_unsafe());
        let mut at = String::from(QUOTA_ROOT);
        for part in p.split('/').filter(|s| !s.is_empty()) {
            at.push('/');
            at.push_str(part);
            if t.get(&at).is_none() {
                *zxid += 1;
                t.create(&at, None, acl.clone(), 0, *zxid, 0);
            }
        }
        *zxid += 1;
        t.create(&format!("{at}/{LIMIT_NODE}"), Some(Bytes::from(limits.to_owned())), acl.clone(), 0, *zxid, 0);
        *zxid += 1;
        t.create(&format!("{at}/{STAT_NODE}"), Some(Bytes::from_static(b"count=0,bytes=0")), acl, 0, *zxid, 0);
    }

    fn usage(t: &DataTree, p: &str) -> String {
        let n = t.get(&format!("{QUOTA_ROOT}{p}/{STAT_NODE}")).unwrap();
        String::from_utf8(n.data.clone().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn stats_follow_the_subtree() {
        let mut t = DataTree::new();
        let acl = t.intern_acl(acl::open_acl_unsafe());
        let mut z = 0;
        z += 1;
        t.create("/app", Some(Bytes::from_static(b"abc")), acl.clone(), 0, z, 0);
        t.set_enforce_quota(true);
        setquota(&mut t, "/app", "count=2,bytes=-1=;countHardLimit=2", &mut z);
        assert_eq!(usage(&t, "/app"), "count=1,bytes=3");
        z += 1;
        t.create("/app/x", Some(Bytes::from_static(b"12")), acl.clone(), 0, z, 0);
        assert_eq!(usage(&t, "/app"), "count=2,bytes=5");
        assert_eq!(t.check_quota("/app/y", 0, 1), Err(ErrorCode::QuotaExceeded));
        z += 1;
        t.set_data("/app/x", None, 1, z, 0);
        assert_eq!(usage(&t, "/app"), "count=2,bytes=3");
        z += 1;
        t.delete("/app/x", z);
        assert_eq!(usage(&t, "/app"), "count=1,bytes=3");
        assert_eq!(t.check_quota("/app/y", 0, 1), Ok(()));
        z += 1;
        t.delete(&format!("{QUOTA_ROOT}/app/{LIMIT_NODE}"), z);
        assert_eq!(t.max_prefix_with_quota("/app/y"), None);
    }
}
