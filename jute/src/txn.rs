//! Transaction records of Apache ZooKeeper's log and snapshot files
//! (`org.apache.zookeeper.txn`, `server.persistence`), for importing a ZooKeeper data dir.

use bytes::Bytes;

use crate::data::Acl;
use crate::record;

record!(
    /// `org.apache.zookeeper.txn.TxnHeader`: who, which request, which zxid, when, what.
    TxnHeader { client_id: i64, cxid: i32, zxid: i64, time: i64, r#type: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.CreateTxn` (types 1 and 15).
    CreateTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, ephemeral: bool, parent_c_version: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.CreateTTLTxn` (type 21).
    CreateTtlTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, parent_c_version: i32, ttl: i64 }
);
record!(
    /// `org.apache.zookeeper.txn.CreateContainerTxn` (type 19).
    CreateContainerTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, parent_c_version: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.DeleteTxn` (types 2 and 20).
    DeleteTxn { path: String }
);
record!(
    /// `org.apache.zookeeper.txn.SetDataTxn` (types 5 and 16).
    SetDataTxn { path: String, data: Option<Bytes>, version: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.CheckVersionTxn` (type 13, inside multi).
    CheckVersionTxn { path: String, version: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.SetACLTxn` (type 7).
    SetAclTxn { path: String, acl: Vec<Acl>, version: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.CreateSessionTxn` (type −10).
    CreateSessionTxn { time_out: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.CloseSessionTxn` (type −11): the ephemerals it deletes.
    CloseSessionTxn { paths2_delete: Vec<String> }
);
record!(
    /// `org.apache.zookeeper.txn.ErrorTxn` (type −1): a failed write still takes a zxid.
    ErrorTxn { err: i32 }
);
record!(
    /// `org.apache.zookeeper.txn.Txn`: one entry of a MultiTxn, its record as raw bytes.
    Txn { r#type: i32, data: Bytes }
);
record!(
    /// `org.apache.zookeeper.txn.MultiTxn` (type 14).
    MultiTxn { txns: Vec<Txn> }
);
record!(
    /// `org.apache.zookeeper.txn.TxnDigest`: the tree digest after the txn.
    TxnDigest { version: i32, tree_digest: i64 }
);
record!(
    /// `org.apache.zookeeper.server.persistence.FileHeader`: magic, version 2, dbid.
    FileHeader { magic: i32, version: i32, dbid: i64 }
);
