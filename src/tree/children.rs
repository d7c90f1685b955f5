//! A node's children. Each entry is the child's full path, the same allocation the tree's
//! map uses as its key, shown and looked up by its last component (the name): a child costs
//! its parent one pointer pair, and copying a parent that a snapshot still shares
//! (copy-on-write) copies pointers, never names. A leaf, most nodes, holds no set at all.
//!
//! Entries compare by full path. They are only ever compared with their siblings, which
//! share the parent's path as a prefix, so that is name order, the order lookups by name
//! (`Borrow<str>`) assume, without finding the last `/` twice per comparison.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// One child: its full path, dereferencing (and displaying) as its name.
#[derive(Clone)]
pub struct ChildName(Arc<str>);

impl ChildName {
    /// The entry for the node at `path` (an absolute path other than `/`).
    pub fn new(path: Arc<str>) -> ChildName {
        ChildName(path)
    }

    /// The child's full path.
    pub fn path(&self) -> &Arc<str> {
        &self.0
    }

    /// The child's name: its path after the last `/`.
    pub fn name(&self) -> &str {
        let p = &*self.0;
        &p[p.rfind('/').map_or(0, |i| i + 1)..]
    }
}

impl Deref for ChildName {
    type Target = str;
    fn deref(&self) -> &str {
        self.name()
    }
}

/// Lookups by name: among siblings, names order as the entries do.
impl Borrow<str> for ChildName {
    fn borrow(&self) -> &str {
        self.name()
    }
}

impl PartialEq for ChildName {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for ChildName {}

impl PartialOrd for ChildName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChildName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl fmt::Display for ChildName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for ChildName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
    }
}

/// The set of a node's children, in name order. The box keeps a leaf's field at one
/// pointer instead of a `BTreeSet`'s three words, which every node would carry.
#[derive(Clone, Default, PartialEq, Eq)]
#[allow(clippy::box_collection)]
pub struct Children(Option<Box<BTreeSet<ChildName>>>);

/// Two entries of one parent carry the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateChild;

impl Children {
    /// Builds the set from entries of one parent, in any order (in name order, as a
    /// snapshot lists them, it costs one pass).
    ///
    /// # Errors
    /// If two entries are the same child.
    pub fn from_vec(entries: Vec<ChildName>) -> Result<Children, DuplicateChild> {
        if entries.is_empty() {
            return Ok(Children(None));
        }
        let count = entries.len();
        // Sorting sorted entries costs one pass; duplicates are merged, so they show in the count.
        let set: BTreeSet<ChildName> = entries.into_iter().collect();
        if set.len() != count {
            return Err(DuplicateChild);
        }
        Ok(Children(Some(Box::new(set))))
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The children in name order.
    pub fn iter(&self) -> std::collections::btree_set::Iter<'_, ChildName> {
        static NONE: BTreeSet<ChildName> = BTreeSet::new();
        self.0.as_deref().unwrap_or(&NONE).iter()
    }

    /// Whether a child of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(name))
    }

    /// Adds a child; false if one of that name was there (it stays).
    pub fn insert(&mut self, child: ChildName) -> bool {
        self.0.get_or_insert_with(Box::default).insert(child)
    }

    /// Removes the child of this name; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(set) = &mut self.0 else { return false };
        let removed = set.remove(name);
        if set.is_empty() {
            self.0 = None;
        }
        removed
    }

    /// Removes every child.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl fmt::Debug for Children {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter().flat_map(|s| s.iter())).finish()
    }
}

impl<'a> IntoIterator for &'a Children {
    type Item = &'a ChildName;
    type IntoIter = std::collections::btree_set::Iter<'a, ChildName>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Children {
    type Item = ChildName;
    type IntoIter = std::iter::Flatten<std::option::IntoIter<BTreeSet<ChildName>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.map(|b| *b).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(path: &str) -> ChildName {
        ChildName::new(path.into())
    }

    #[test]
    fn entries_show_and_look_up_by_name() {
        let mut c = Children::default();
        assert!(c.is_empty());
        assert!(c.insert(child("/p/b")));
        assert!(c.insert(child("/p/a")));
        assert!(!c.insert(child("/p/a")), "a name is there once");
        assert_eq!(c.len(), 2);
        assert!(c.contains("a") && !c.contains("/p/a"));
        let names: Vec<String> = c.iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(&**c.iter().next().unwrap().path(), "/p/a");
        assert_eq!(format!("{c:?}"), r#"{"a", "b"}"#);
        assert!(c.remove("a") && !c.remove("a"));
        assert!(c.remove("b"));
        assert!(c.is_empty() && c.0.is_none(), "an emptied set is dropped");
        assert_eq!(child("/x").name(), "x");
    }

    #[test]
    fn from_vec_sorts_and_refuses_duplicates() {
        let c = Children::from_vec(vec![child("/b"), child("/a"), child("/c")]).unwrap();
        assert_eq!(c.iter().map(|n| n.name()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(Children::from_vec(vec![child("/a"), child("/b"), child("/a")]), Err(DuplicateChild));
        assert!(Children::from_vec(Vec::new()).unwrap().is_empty());
    }
}
