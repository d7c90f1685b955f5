//! Records shared by many messages (`org.apache.zookeeper.data`).

use crate::record;

record!(
    /// `org.apache.zookeeper.data.Id`: an identity, `scheme:id`.
    Id { scheme: String, id: String }
);

record!(
    /// `org.apache.zookeeper.data.ACL`: permission bits granted to an identity.
    Acl { perms: i32, id: Id }
);

record!(
    /// `org.apache.zookeeper.data.Stat`: the 68-byte znode status clients see.
    Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }
);

record!(
    /// `org.apache.zookeeper.data.StatPersisted`: the stat as snapshots store it (cversion is
    /// the raw child-create counter, no dataLength or numChildren).
    StatPersisted {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        pzxid: i64,
    }
);

record!(
    /// `org.apache.zookeeper.data.ClientInfo`: one authenticated identity, for whoAmI.
    ClientInfo { auth_scheme: String, user: String }
);

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 2;
    /// Create children.
    pub const CREATE: i32 = 4;
    /// Delete children.
    pub const DELETE: i32 = 8;
    /// Set ACLs.
    pub const ADMIN: i32 = 16;
    /// Everything.
    pub const ALL: i32 = 31;
}

impl Acl {
    /// `world:anyone` with the given permissions.
    pub fn world(perms: i32) -> Acl {
        Acl { perms, id: Id { scheme: "world".into(), id: "anyone".into() } }
    }
}
