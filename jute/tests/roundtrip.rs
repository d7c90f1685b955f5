//! Round trips of arbitrary values for every jute record: encode, then decode, gives the
//! same value and uses every byte; any shorter prefix fails; trailing bytes are ignored.

mod strategies;

use bytes::Bytes;
use jute::data::{Acl, ClientInfo, Id, Stat};
use jute::primitives::{Field, Record};
use jute::proto::*;
use jute::txn::*;
use proptest::collection::vec;
use proptest::prelude::*;
use strategies::*;

/// Every field is required, so only the whole encoding decodes back to `v`.
fn check<T: Record + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let wire = encode(v);
    let (rest, back) = T::decode(&wire).map_err(|e| TestCaseError::fail(format!("decode: {e:?}")))?;
    prop_assert!(rest.is_empty(), "{} bytes left", rest.len());
    prop_assert_eq!(&back, v);
    prop_assert_eq!(encode(&back), wire.clone());
    let mut longer = wire.clone();
    longer.extend_from_slice(&[0xde, 0xad]);
    let decoded = T::from_bytes(&longer);
    prop_assert_eq!(decoded.as_ref(), Ok(v), "trailing bytes are ignored");
    for cut in 0..wire.len() {
        prop_assert!(T::from_bytes(&wire[..cut]).is_err(), "a {cut}-byte prefix of {} decoded", wire.len());
    }
    Ok(())
}

/// One test per record: a strategy built from one strategy per field, in wire order.
macro_rules! roundtrip {
    ($($test:ident: $ty:ident { $($f:ident: $st:expr),* $(,)? })*) => {
        $(
            #[test]
            fn $test() {
                let values = ($($st,)*).prop_map(|($($f,)*)| $ty { $($f),* });
                let mut runner = proptest::test_runner::TestRunner::default();
                if let Err(e) = runner.run(&values, |v| check(&v)) {
                    panic!("{}: {e}", stringify!($ty));
                }
            }
        )*
    };
}

roundtrip! {
    // org.apache.zookeeper.data
    rt_id: Id { scheme: s(), id: s() }
    rt_acl: Acl { perms: any::<i32>(), id: id() }
    rt_client_info: ClientInfo { auth_scheme: s(), user: s() }

    // org.apache.zookeeper.proto
    rt_request_header: RequestHeader { xid: any::<i32>(), r#type: any::<i32>() }
    rt_reply_header: ReplyHeader { xid: any::<i32>(), zxid: any::<i64>(), err: any::<i32>() }
    rt_multi_header: MultiHeader { r#type: any::<i32>(), done: any::<bool>(), err: any::<i32>() }
    rt_auth_packet: AuthPacket { r#type: any::<i32>(), scheme: s(), auth: bytes() }
    rt_set_watches: SetWatches {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
    }
    rt_set_watches2: SetWatches2 {
        relative_zxid: any::<i64>(),
        data_watches: strings(),
        exist_watches: strings(),
        child_watches: strings(),
        persistent_watches: strings(),
        persistent_recursive_watches: strings(),
    }
    rt_get_data_request: GetDataRequest { path: s(), watch: any::<bool>() }
    rt_set_data_request: SetDataRequest { path: s(), data: data(), version: any::<i32>() }
    rt_reconfig_request: ReconfigRequest {
        joining_servers: s(),
        leaving_servers: s(),
        new_members: s(),
        cur_config_id: any::<i64>(),
    }
    rt_set_data_response: SetDataResponse { stat: stat() }
    rt_sasl_request: SaslRequest { token: bytes() }
    rt_sasl_response: SaslResponse { token: data() }
    rt_create_request: CreateRequest { path: s(), data: data(), acl: acls(), flags: any::<i32>() }
    rt_create_ttl_request: CreateTtlRequest {
        path: s(),
        data: data(),
        acl: acls(),
        flags: any::<i32>(),
        ttl: any::<i64>(),
    }
    rt_delete_request: DeleteRequest { path: s(), version: any::<i32>() }
    rt_get_children_request: GetChildrenRequest { path: s(), watch: any::<bool>() }
    rt_get_all_children_number_request: GetAllChildrenNumberRequest { path: s() }
    rt_get_children2_request: GetChildren2Request { path: s(), watch: any::<bool>() }
    rt_check_version_request: CheckVersionRequest { path: s(), version: any::<i32>() }
    rt_sync_request: SyncRequest { path: s() }
    rt_sync_response: SyncResponse { path: s() }
    rt_get_acl_request: GetAclRequest { path: s() }
    rt_set_acl_request: SetAclRequest { path: s(), acl: acls(), version: any::<i32>() }
    rt_set_acl_response: SetAclResponse { stat: stat() }
    rt_add_watch_request: AddWatchRequest { path: s(), mode: any::<i32>() }
    rt_watcher_event: WatcherEvent { r#type: any::<i32>(), state: any::<i32>(), path: s() }
    rt_error_response: ErrorResponse { err: any::<i32>() }
    rt_create_response: CreateResponse { path: s() }
    rt_create2_response: Create2Response { path: s(), stat: stat() }
    rt_exists_request: ExistsRequest { path: s(), watch: any::<bool>() }
    rt_exists_response: ExistsResponse { stat: stat() }
    rt_get_data_response: GetDataResponse { data: data(), stat: stat() }
    rt_get_children_response: GetChildrenResponse { children: strings() }
    rt_get_all_children_number_response: GetAllChildrenNumberResponse { total_number: any::<i32>() }
    rt_get_children2_response: GetChildren2Response { children: strings(), stat: stat() }
    rt_get_acl_response: GetAclResponse { acl: acls(), stat: stat() }
    rt_check_watches_request: CheckWatchesRequest { path: s(), r#type: any::<i32>() }
    rt_remove_watches_request: RemoveWatchesRequest { path: s(), r#type: any::<i32>() }
    rt_get_ephemerals_request: GetEphemeralsRequest { prefix_path: s() }
    rt_get_ephemerals_response: GetEphemeralsResponse { ephemerals: strings() }
    rt_who_am_i_response: WhoAmIResponse { client_info: vec(client_info(), 0..4) }

    // org.apache.zookeeper.txn and server.persistence
    rt_txn_header: TxnHeader {
        client_id: any::<i64>(),
        cxid: any::<i32>(),
        zxid: any::<i64>(),
        time: any::<i64>(),
        r#type: any::<i32>(),
    }
    rt_create_txn: CreateTxn {
        path: s(),
        data: data(),
        acl: acls(),
        ephemeral: any::<bool>(),
        parent_c_version: any::<i32>(),
    }
    rt_create_ttl_txn: CreateTtlTxn {
        path: s(),
        data: data(),
        acl: acls(),
        parent_c_version: any::<i32>(),
        ttl: any::<i64>(),
    }
    rt_create_container_txn: CreateContainerTxn {
        path: s(),
        data: data(),
        acl: acls(),
        parent_c_version: any::<i32>(),
    }
    rt_delete_txn: DeleteTxn { path: s() }
    rt_set_data_txn: SetDataTxn { path: s(), data: data(), version: any::<i32>() }
    rt_check_version_txn: CheckVersionTxn { path: s(), version: any::<i32>() }
    rt_set_acl_txn: SetAclTxn { path: s(), acl: acls(), version: any::<i32>() }
    rt_create_session_txn: CreateSessionTxn { time_out: any::<i32>() }
    rt_close_session_txn: CloseSessionTxn { paths2_delete: strings() }
    rt_error_txn: ErrorTxn { err: any::<i32>() }
    rt_txn: Txn { r#type: any::<i32>(), data: bytes() }
    rt_multi_txn: MultiTxn { txns: vec((any::<i32>(), bytes()).prop_map(|(r#type, data)| Txn { r#type, data }), 0..4) }
    rt_txn_digest: TxnDigest { version: any::<i32>(), tree_digest: any::<i64>() }
    rt_file_header: FileHeader { magic: any::<i32>(), version: any::<i32>(), dbid: any::<i64>() }
}

proptest! {
    #[test]
    fn rt_stat(v in stat()) {
        check(&v)?;
        prop_assert_eq!(encode(&v).len(), 68);
    }

    #[test]
    fn rt_stat_persisted(v in stat_persisted()) {
        check(&v)?;
    }

    #[test]
    fn rt_multi_request(v in multi_request()) {
        check(&v)?;
    }

    #[test]
    fn rt_multi_response(v in multi_response()) {
        check(&v)?;
    }

    /// The readOnly byte is optional: without it the record is 44 bytes and a 44-byte prefix
    /// of the 45-byte form decodes as an old client's request.
    #[test]
    fn rt_connect_request(v in connect_request()) {
        let wire = encode(&v);
        prop_assert_eq!(wire.len(), 4 + 8 + 4 + 8 + 4 + v.passwd.len() + usize::from(v.read_only.is_some()));
        prop_assert_eq!(ConnectRequest::from_bytes(&wire), Ok(v.clone()));
        if v.read_only.is_some() {
            let old = ConnectRequest { read_only: None, ..v.clone() };
            prop_assert_eq!(ConnectRequest::from_bytes(&wire[..wire.len() - 1]), Ok(old));
        }
        let fixed = wire.len() - usize::from(v.read_only.is_some());
        for cut in 0..fixed {
            prop_assert!(ConnectRequest::from_bytes(&wire[..cut]).is_err());
        }
    }

    #[test]
    fn rt_connect_response(v in connect_response()) {
        let wire = encode(&v);
        prop_assert_eq!(wire.len(), 4 + 4 + 8 + 4 + v.passwd.len() + usize::from(v.read_only.is_some()));
        prop_assert_eq!(ConnectResponse::from_bytes(&wire), Ok(v.clone()));
        if v.read_only.is_some() {
            let old = ConnectResponse { read_only: None, ..v.clone() };
            prop_assert_eq!(ConnectResponse::from_bytes(&wire[..wire.len() - 1]), Ok(old));
        }
        let fixed = wire.len() - usize::from(v.read_only.is_some());
        for cut in 0..fixed {
            prop_assert!(ConnectResponse::from_bytes(&wire[..cut]).is_err());
        }
    }
}

/// Null (−1) and empty (0) znode data stay apart on the wire, in both directions.
#[test]
fn null_and_empty_data_differ() {
    let null = GetDataResponse { data: None, stat: Stat::default() };
    let empty = GetDataResponse { data: Some(Bytes::new()), stat: Stat::default() };
    assert_eq!(encode(&null)[..4], [0xff; 4]);
    assert_eq!(encode(&empty)[..4], [0; 4]);
    assert_eq!(GetDataResponse::from_bytes(&encode(&null)), Ok(null));
    assert_eq!(GetDataResponse::from_bytes(&encode(&empty)), Ok(empty));
}

/// The documented losses: a null `ustring`, `vector` or non-data `buffer` reads as empty,
/// and invalid UTF-8 reads as U+FFFD (as Java's decoder does).
#[test]
fn documented_lossy_decodes() {
    let null = [0xff, 0xff, 0xff, 0xff];
    assert_eq!(String::decode(&null), Ok((&[][..], String::new())));
    assert_eq!(Vec::<String>::decode(&null), Ok((&[][..], Vec::new())));
    assert_eq!(Bytes::decode(&null), Ok((&[][..], Bytes::new())));
    assert_eq!(String::decode(&[0, 0, 0, 2, b'a', 0xff]), Ok((&[][..], "a\u{fffd}".to_owned())));
}
