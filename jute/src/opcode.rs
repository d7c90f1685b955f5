//! Request opcodes (`ZooDefs.OpCode`), exact wire values.

/// A request's `type` field. Kept as a newtype over the raw value so unknown opcodes
/// survive decoding and get ZooKeeper's Unimplemented answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpCode(pub i32);

#[allow(missing_docs)]
impl OpCode {
    pub const NOTIFICATION: OpCode = OpCode(0);
    pub const CREATE: OpCode = OpCode(1);
    pub const DELETE: OpCode = OpCode(2);
    pub const EXISTS: OpCode = OpCode(3);
    pub const GET_DATA: OpCode = OpCode(4);
    pub const SET_DATA: OpCode = OpCode(5);
    pub const GET_ACL: OpCode = OpCode(6);
    pub const SET_ACL: OpCode = OpCode(7);
    pub const GET_CHILDREN: OpCode = OpCode(8);
    pub const SYNC: OpCode = OpCode(9);
    pub const PING: OpCode = OpCode(11);
    pub const GET_CHILDREN2: OpCode = OpCode(12);
    pub const CHECK: OpCode = OpCode(13);
    pub const MULTI: OpCode = OpCode(14);
    pub const CREATE2: OpCode = OpCode(15);
    pub const RECONFIG: OpCode = OpCode(16);
    pub const CHECK_WATCHES: OpCode = OpCode(17);
    pub const REMOVE_WATCHES: OpCode = OpCode(18);
    pub const CREATE_CONTAINER: OpCode = OpCode(19);
    pub const DELETE_CONTAINER: OpCode = OpCode(20);
    pub const CREATE_TTL: OpCode = OpCode(21);
    pub const MULTI_READ: OpCode = OpCode(22);
    pub const AUTH: OpCode = OpCode(100);
    pub const SET_WATCHES: OpCode = OpCode(101);
    pub const SASL: OpCode = OpCode(102);
    pub const GET_EPHEMERALS: OpCode = OpCode(103);
    pub const GET_ALL_CHILDREN_NUMBER: OpCode = OpCode(104);
    pub const SET_WATCHES2: OpCode = OpCode(105);
    pub const ADD_WATCH: OpCode = OpCode(106);
    pub const WHO_AM_I: OpCode = OpCode(107);
    pub const CREATE_SESSION: OpCode = OpCode(-10);
    pub const CLOSE_SESSION: OpCode = OpCode(-11);
    pub const ERROR: OpCode = OpCode(-1);

    /// The `lastOp` code ZooKeeper's `FinalRequestProcessor` records (`cons` prints it as
    /// `lop`): create2/createContainer/createTTL show as CREA, getChildren2 as GETC.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NOTF",
            1 => "CREA",
            2 => "DELE",
            3 => "EXIS",
            4 => "GETD",
            5 => "SETD",
            6 => "GETA",
            7 => "SETA",
            8 => "GETC",
            9 => "SYNC",
            11 => "PING",
            12 => "GETC",
            13 => "CHEC",
            14 => "MULT",
            15 => "CREA",
            16 => "RECO",
            17 => "CHKW",
            18 => "REMW",
            19 => "CREA",
            20 => "DELE",
            21 => "CREA",
            22 => "MLTR",
            100 => "AUTH",
            101 => "SETW",
            102 => "SASL",
            103 => "GETE",
            104 => "GETACN",
            105 => "STW2",
            106 => "ADDW",
            107 => "HOMI",
            -10 => "SESS",
            -11 => "CLOS",
            -1 => "ERR",
            _ => "UNKNOWN",
        }
    }

    /// True for requests that change the tree and so become a stamped, replicated command.
    pub fn is_write(self) -> bool {
        matches!(self.0, 1 | 2 | 5 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 21 | -10 | -11)
    }
}
