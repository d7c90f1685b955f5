//! Building a whole tree from nodes listed parents-first in depth-first order (a snapshot).
//! The parent of each node is then the innermost ancestor still open, so a node costs no
//! lookup: a stack of open ancestors replaces checking the map for the parent and for a
//! duplicate. A node's children are gathered as they come (in name order, as snapshots list
//! them) and bulk-built into its set when its subtree ends; only then does the node go into
//! the map, complete.

use std::sync::Arc;

use super::{path, quota, ChildName, Children, DataTree, Node};

/// Builds a [`DataTree`] from nodes in pre-order (root first; every other node directly
/// after its parent or after a descendant of an earlier sibling).
pub struct PreorderBuilder {
    tree: DataTree,
    /// The chain of open ancestors from the root to the node pushed last.
    open: Vec<Open>,
    rooted: bool,
}

struct Open {
    path: Arc<str>,
    node: Arc<Node>,
    children: Vec<ChildName>,
}

impl PreorderBuilder {
    /// A builder whose map is sized for `nodes_hint` nodes up front (one allocation
    /// instead of a dozen rehashes of a growing map).
    pub fn new(nodes_hint: usize) -> PreorderBuilder {
        let mut tree = DataTree::empty();
        tree.nodes.reserve(nodes_hint);
        PreorderBuilder { tree, open: Vec::new(), rooted: false }
    }

    /// Adds the next node, childless and not shared yet (it is allocated by the caller,
    /// possibly on another thread, as is `hash`, its [`super::digest::node_hash`]). Its
    /// children are linked as they are pushed.
    ///
    /// # Errors
    /// Why a node is out of place, naming it: not the root first, a second root, a parent
    /// that is not an open ancestor, or a sibling of the same name.
    ///
    /// # Panics
    /// If the node has children or is shared.
    pub fn push(&mut self, path: Arc<str>, node: Arc<Node>, hash: u64) -> Result<(), String> {
        assert!(node.children.is_empty() && Arc::strong_count(&node) == 1, "push {path}: not a fresh node");
        if &*path == "/" {
            if self.rooted {
                return Err("a second root".into());
            }
            self.rooted = true;
        } else {
            if !self.rooted {
                return Err(format!("{path:?} comes before the root"));
            }
            let parent = match path::parent_of(&path) {
                Some(p) if !path.ends_with('/') => p,
                _ => return Err(format!("{path:?} is not a node path")),
            };
            while self.open.last().is_some_and(|o| &*o.path != parent) {
                self.close()?;
            }
            let Some(top) = self.open.last_mut() else {
                return Err(format!("the parent of {path:?} is not an open ancestor"));
            };
            top.children.push(ChildName::new(path.clone()));
        }
        if let Some(limited) = quota::limited_path(&path) {
            self.tree.quota_paths.insert(limited.to_owned());
        }
        self.tree.index(&path, &node, hash);
        self.open.push(Open { path, node, children: Vec::new() });
        Ok(())
    }

    /// Ends the innermost open node's subtree: its children become its set and it goes
    /// into the map.
    fn close(&mut self) -> Result<(), String> {
        let Open { path, mut node, children } = self.open.pop().expect("an open node");
        if !children.is_empty() {
            let children = Children::from_vec(children).map_err(|_| format!("{path:?} lists a child twice"))?;
            Arc::get_mut(&mut node).expect("a node not shared yet").children = children;
        }
        if self.tree.nodes.insert(path.clone(), node).is_some() {
            return Err(format!("{path:?} is listed twice"));
        }
        Ok(())
    }

    /// The finished tree.
    ///
    /// # Errors
    /// No root was pushed, or a duplicate showed when the last subtrees closed.
    pub fn finish(mut self) -> Result<DataTree, String> {
        if !self.rooted {
            return Err("no root node".into());
        }
        while !self.open.is_empty() {
            self.close()?;
        }
        Ok(self.tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{acl, digest, NodeStat};

    fn node(czxid: i64) -> Node {
        Node::new(None, Arc::new(acl::open_acl_unsafe()), NodeStat { czxid, ..NodeStat::default() })
    }

    fn build(paths: &[&str]) -> Result<DataTree, String> {
        let mut b = PreorderBuilder::new(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let n = node(i as i64);
            let hash = digest::node_hash(p, &n);
            b.push((*p).into(), Arc::new(n), hash)?;
        }
        b.finish()
    }

    #[test]
    fn builds_the_same_tree_as_inserting() {
        let paths = ["/", "/a", "/a/x", "/a/x/deep", "/a/y", "/b", "/b/z", "/c"];
        let built = build(&paths).unwrap();
        let mut inserted = DataTree::empty();
        for (i, p) in paths.iter().enumerate() {
            inserted.insert_raw(p, node(i as i64));
        }
        assert_eq!(built.node_count(), paths.len());
        assert_eq!(built.digest(), inserted.digest());
        for p in paths {
            assert_eq!(built.get(p).unwrap().children, inserted.get(p).unwrap().children, "{p}");
            assert_eq!(built.get(p).unwrap().stat, inserted.get(p).unwrap().stat, "{p}");
        }
        let names: Vec<String> = built.get("/a").unwrap().children.iter().map(|c| c.to_string()).collect();
        assert_eq!(names, ["x", "y"]);
    }

    #[test]
    fn siblings_out_of_name_order_are_sorted() {
        let t = build(&["/", "/b", "/a", "/a/q"]).unwrap();
        let names: Vec<&str> = t.get("/").unwrap().children.iter().map(|c| &**c).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn refuses_what_is_not_preorder() {
        for (paths, why) in [
            (&["/a", "/"][..], "\"/a\" comes before the root"),
            (&["/", "/a", "/"][..], "a second root"),
            (&["/", "/a/x"][..], "the parent of \"/a/x\" is not an open ancestor"),
            (&["/", "/a", "/b", "/a/x"][..], "the parent of \"/a/x\" is not an open ancestor"),
            (&["/", "/a", "/a/"][..], "\"/a/\" is not a node path"),
            (&["/", "/a", "/b", "/a"][..], "\"/a\" is listed twice"),
            (&["/", "/a", "/a/x", "/a"][..], "\"/a\" is listed twice"),
            (&[][..], "no root node"),
        ] {
            let err = build(paths).err().unwrap_or_else(|| panic!("{paths:?} built"));
            assert!(err.contains(why), "{paths:?}: {err}");
        }
    }
}
