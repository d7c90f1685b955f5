//! Opcodes, error codes and `lop` names against Apache ZooKeeper 3.8.0 itself: the values
//! below were read from Debian's zookeeper-3.8.0.jar with `javap -constants`
//! (`ZooDefs$OpCode`, `KeeperException$Code`) and from the `lastOp = "..."` strings of
//! `FinalRequestProcessor`.

use jute::{ErrorCode, OpCode};

#[test]
fn opcodes_match_zoodefs() {
    let zoodefs = [
        (OpCode::NOTIFICATION, 0),
        (OpCode::CREATE, 1),
        (OpCode::DELETE, 2),
        (OpCode::EXISTS, 3),
        (OpCode::GET_DATA, 4),
        (OpCode::SET_DATA, 5),
        (OpCode::GET_ACL, 6),
        (OpCode::SET_ACL, 7),
        (OpCode::GET_CHILDREN, 8),
        (OpCode::SYNC, 9),
        (OpCode::PING, 11),
        (OpCode::GET_CHILDREN2, 12),
        (OpCode::CHECK, 13),
        (OpCode::MULTI, 14),
        (OpCode::CREATE2, 15),
        (OpCode::RECONFIG, 16),
        (OpCode::CHECK_WATCHES, 17),
        (OpCode::REMOVE_WATCHES, 18),
        (OpCode::CREATE_CONTAINER, 19),
        (OpCode::DELETE_CONTAINER, 20),
        (OpCode::CREATE_TTL, 21),
        (OpCode::MULTI_READ, 22),
        (OpCode::AUTH, 100),
        (OpCode::SET_WATCHES, 101),
        (OpCode::SASL, 102),
        (OpCode::GET_EPHEMERALS, 103),
        (OpCode::GET_ALL_CHILDREN_NUMBER, 104),
        (OpCode::SET_WATCHES2, 105),
        (OpCode::ADD_WATCH, 106),
        (OpCode::WHO_AM_I, 107),
        (OpCode::CREATE_SESSION, -10),
        (OpCode::CLOSE_SESSION, -11),
        (OpCode::ERROR, -1),
    ];
    for (op, code) in zoodefs {
        assert_eq!(op.0, code);
    }
}

#[test]
fn error_codes_match_keeper_exception() {
    let codes = [
        (ErrorCode::Ok, 0),
        (ErrorCode::SystemError, -1),
        (ErrorCode::RuntimeInconsistency, -2),
        (ErrorCode::DataInconsistency, -3),
        (ErrorCode::ConnectionLoss, -4),
        (ErrorCode::MarshallingError, -5),
        (ErrorCode::Unimplemented, -6),
        (ErrorCode::OperationTimeout, -7),
        (ErrorCode::BadArguments, -8),
        (ErrorCode::NewConfigNoQuorum, -13),
        (ErrorCode::ReconfigInProgress, -14),
        (ErrorCode::UnknownSession, -12),
        (ErrorCode::ApiError, -100),
        (ErrorCode::NoNode, -101),
        (ErrorCode::NoAuth, -102),
        (ErrorCode::BadVersion, -103),
        (ErrorCode::NoChildrenForEphemerals, -108),
        (ErrorCode::NodeExists, -110),
        (ErrorCode::NotEmpty, -111),
        (ErrorCode::SessionExpired, -112),
        (ErrorCode::InvalidCallback, -113),
        (ErrorCode::InvalidAcl, -114),
        (ErrorCode::AuthFailed, -115),
        (ErrorCode::SessionMoved, -118),
        (ErrorCode::NotReadOnly, -119),
        (ErrorCode::EphemeralOnLocalSession, -120),
        (ErrorCode::NoWatcher, -121),
        (ErrorCode::RequestTimeout, -122),
        (ErrorCode::ReconfigDisabled, -123),
        (ErrorCode::SessionClosedRequireSaslAuth, -124),
        (ErrorCode::QuotaExceeded, -125),
        (ErrorCode::ThrottledOp, -127),
    ];
    for (e, code) in codes {
        assert_eq!(e.code(), code, "{e:?}");
        assert_eq!(ErrorCode::from_code(code), Some(e));
    }
    // Every other value in range is unknown, as in KeeperException.Code.get.
    let known: Vec<i32> = codes.iter().map(|&(_, c)| c).collect();
    for code in -200..=10 {
        assert_eq!(ErrorCode::from_code(code).is_some(), known.contains(&code), "code {code}");
    }
}

/// `cons` shows `lop`, the code FinalRequestProcessor stores for the last request.
#[test]
fn lop_names_match_final_request_processor() {
    let lop = [
        (1, "CREA"),
        (15, "CREA"),
        (19, "CREA"),
        (21, "CREA"),
        (2, "DELE"),
        (20, "DELE"),
        (3, "EXIS"),
        (4, "GETD"),
        (5, "SETD"),
        (6, "GETA"),
        (7, "SETA"),
        (8, "GETC"),
        (12, "GETC"),
        (9, "SYNC"),
        (11, "PING"),
        (13, "CHEC"),
        (14, "MULT"),
        (16, "RECO"),
        (17, "CHKW"),
        (18, "REMW"),
        (22, "MLTR"),
        (101, "SETW"),
        (103, "GETE"),
        (104, "GETACN"),
        (105, "STW2"),
        (106, "ADDW"),
        (107, "HOMI"),
        (-10, "SESS"),
        (-11, "CLOS"),
    ];
    for (op, name) in lop {
        assert_eq!(OpCode(op).name(), name, "opcode {op}");
    }
}
