//! Golden frames recorded from a real Apache ZooKeeper 3.8.0 (kazoo, the Java client, zkCli.sh
//! and hand-built frames, through `tests/golden/capture.py`): every frame must split, decode
//! with the record its opcode calls for, consume its payload exactly and re-encode to the
//! same bytes.
//!
//! Format of `tests/golden/*.frames`: `<conn> <C|S> <connect|event|opcode> <name> <hex>`, the
//! hex being the whole frame with its length prefix; on an S line the opcode is the one of the
//! request being answered. Runs without ZooKeeper: it only reads the stored files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use jute::multi::{MultiRequest, MultiResponse};
use jute::primitives::Field;
use jute::proto::*;
use jute::split_frame;

/// `jute.maxbuffer`'s default, as the server enforces it.
const FRAME_BYTES_MAX: u32 = 0xfffff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connect,
    Event,
    Op(i32),
}

#[derive(Debug)]
struct Frame {
    at: String,
    conn: u32,
    from_client: bool,
    kind: Kind,
    name: String,
    bytes: Vec<u8>,
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `tests/golden`, or `JUTE_GOLDEN_DIR` to check a fresh capture before it replaces them.
fn golden_dir() -> PathBuf {
    match std::env::var_os("JUTE_GOLDEN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
    }
}

fn load(path: &Path) -> Vec<Frame> {
    let text = std::fs::read_to_string(path).expect("read golden file");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut frames = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{file}:{}: want 5 fields", i + 1);
        let kind = match f[2] {
            "connect" => Kind::Connect,
            "event" => Kind::Event,
            op => Kind::Op(op.parse().unwrap_or_else(|_| panic!("{file}:{}: bad op {op}", i + 1))),
        };
        frames.push(Frame {
            at: format!("{file}:{}", i + 1),
            conn: f[0].parse().expect("conn number"),
            from_client: match f[1] {
                "C" => true,
                "S" => false,
                d => panic!("{file}:{}: bad direction {d}", i + 1),
            },
            kind,
            name: f[3].to_owned(),
            bytes: hex(f[4]),
        });
    }
    frames
}

fn all_frames() -> Vec<Frame> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "frames"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no golden files");
    paths.iter().flat_map(|p| load(p)).collect()
}

/// Decodes `payload` as a `T` that must use every byte, and returns its encoding.
fn reencode<T: Field + std::fmt::Debug>(payload: &[u8]) -> Result<Vec<u8>, String> {
    let (rest, v) = T::decode(payload).map_err(|e| format!("decode as {}: {e:?}", std::any::type_name::<T>()))?;
    if !rest.is_empty() {
        return Err(format!("{} left {} bytes unread: {v:?}", std::any::type_name::<T>(), rest.len()));
    }
    let mut out = BytesMut::new();
    v.encode(&mut out);
    Ok(out.to_vec())
}

/// The request body record of each opcode, re-encoded. `None`: an opcode with no body.
fn request_body(op: i32, body: &[u8]) -> Result<Vec<u8>, String> {
    match op {
        1 | 15 | 19 => reencode::<CreateRequest>(body),
        2 => reencode::<DeleteRequest>(body),
        3 => reencode::<ExistsRequest>(body),
        4 => reencode::<GetDataRequest>(body),
        5 => reencode::<SetDataRequest>(body),
        6 => reencode::<GetAclRequest>(body),
        7 => reencode::<SetAclRequest>(body),
        8 => reencode::<GetChildrenRequest>(body),
        9 => reencode::<SyncRequest>(body),
        12 => reencode::<GetChildren2Request>(body),
        13 => reencode::<CheckVersionRequest>(body),
        14 | 22 => reencode::<MultiRequest>(body),
        16 => reencode::<ReconfigRequest>(body),
        17 => reencode::<CheckWatchesRequest>(body),
        18 => reencode::<RemoveWatchesRequest>(body),
        21 => reencode::<CreateTtlRequest>(body),
        100 => reencode::<AuthPacket>(body),
        101 => reencode::<SetWatches>(body),
        102 => reencode::<SaslRequest>(body),
        103 => reencode::<GetEphemeralsRequest>(body),
        104 => reencode::<GetAllChildrenNumberRequest>(body),
        105 => reencode::<SetWatches2>(body),
        106 => reencode::<AddWatchRequest>(body),
        // ping, whoAmI, closeSession: a bare header.
        11 | 107 | -11 if body.is_empty() => Ok(Vec::new()),
        11 | 107 | -11 => Err(format!("{} unexpected body bytes", body.len())),
        _ => Err(format!("no request record for opcode {op}")),
    }
}

/// The response body record of each opcode (when the reply's err is 0), re-encoded.
fn response_body(op: i32, body: &[u8]) -> Result<Vec<u8>, String> {
    match op {
        1 => reencode::<CreateResponse>(body),
        15 | 19 | 21 => reencode::<Create2Response>(body),
        3 => reencode::<ExistsResponse>(body),
        4 | 16 => reencode::<GetDataResponse>(body),
        5 => reencode::<SetDataResponse>(body),
        6 => reencode::<GetAclResponse>(body),
        7 => reencode::<SetAclResponse>(body),
        8 => reencode::<GetChildrenResponse>(body),
        9 => reencode::<SyncResponse>(body),
        12 => reencode::<GetChildren2Response>(body),
        14 | 22 => reencode::<MultiResponse>(body),
        102 => reencode::<SaslResponse>(body),
        103 => reencode::<GetEphemeralsResponse>(body),
        104 => reencode::<GetAllChildrenNumberResponse>(body),
        106 => reencode::<ErrorResponse>(body),
        107 => reencode::<WhoAmIResponse>(body),
        // delete, ping, checkWatches, removeWatches, auth, setWatches(2), closeSession.
        2 | 11 | 17 | 18 | 100 | 101 | 105 | -11 if body.is_empty() => Ok(Vec::new()),
        _ => Err(format!("no response record for opcode {op} ({} body bytes)", body.len())),
    }
}

/// Turns the null (−1) length prefix at `at` into 0; returns where the next field starts.
fn null_to_empty(out: &mut [u8], at: usize) -> usize {
    let len = i32::from_be_bytes(out[at..at + 4].try_into().unwrap());
    if len == -1 {
        out[at..at + 4].copy_from_slice(&0i32.to_be_bytes());
        at + 4
    } else {
        at + 4 + len as usize
    }
}

/// Where the length-prefixed field at `at` ends, null or not.
fn skip(out: &[u8], at: usize) -> usize {
    let len = i32::from_be_bytes(out[at..at + 4].try_into().unwrap());
    at + 4 + len.max(0) as usize
}

/// A `vector<ACL>` with nulls for the vector or for any scheme or id, made empty.
fn acl_nulls_to_empty(out: &mut [u8], at: usize) {
    let count = i32::from_be_bytes(out[at..at + 4].try_into().unwrap());
    if count == -1 {
        out[at..at + 4].copy_from_slice(&0i32.to_be_bytes());
        return;
    }
    let mut at = at + 4;
    for _ in 0..count {
        at += 4; // perms
        at = null_to_empty(out, at); // scheme
        at = null_to_empty(out, at); // id
    }
}

/// What a frame re-encodes to where it carries nulls that jute reads as empty on purpose.
///
/// `primitives.rs` decodes a null `ustring`, a null `vector` and a null non-data `buffer`
/// as empty, so such nulls come back as 0-length fields. Only fields of these types, in the
/// records where a real peer (or a hand-built frame) sent one, are normalised; null znode
/// data (`Option<Bytes>`) is never touched and must round-trip exactly.
fn lossy_expectation(frame: &Frame, payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = payload.to_vec();
    match (frame.from_client, frame.kind) {
        // ReconfigRequest: the Java client and kazoo send null joining/leaving/newMembers,
        // and the server tells null from "" (PrepRequestProcessor: incremental or not).
        (true, Kind::Op(16)) => {
            let mut at = 8;
            for _ in 0..3 {
                at = null_to_empty(&mut out, at);
            }
        }
        // SetSASLResponse: 3.8.0 answers a server without SASL with a null token.
        (false, Kind::Op(102)) => {
            null_to_empty(&mut out, 16);
        }
        // CreateRequest/CreateTTLRequest: kazoo writes every empty string as null, such as
        // the id of an `auth` ACL; a hand-built frame sends a null ACL vector.
        (true, Kind::Op(1 | 15 | 19 | 21)) => {
            let at = skip(&out, 8); // path
            let at = skip(&out, at); // data: null is meaningful, left alone
            acl_nulls_to_empty(&mut out, at);
        }
        _ => return None,
    }
    Some(out)
}

fn check_frame(frame: &Frame, reply_err: Option<i32>) -> Result<Option<&'static str>, String> {
    let mut buf = BytesMut::from(&frame.bytes[..]);
    let payload = match split_frame(&mut buf, FRAME_BYTES_MAX) {
        Ok(Some(p)) => p,
        other => return Err(format!("split_frame: {other:?}")),
    };
    if !buf.is_empty() {
        return Err(format!("split_frame left {} bytes", buf.len()));
    }
    let payload = &payload[..];
    let again = match (frame.from_client, frame.kind) {
        (true, Kind::Connect) => {
            let r = ConnectRequest::from_bytes_exact(payload)?;
            // The readOnly byte is there exactly when the body is 45 bytes long.
            if r.read_only.is_some() != (payload.len() == 45) {
                return Err(format!("readOnly {:?} for a {}-byte body", r.read_only, payload.len()));
            }
            reencode::<ConnectRequest>(payload)?
        }
        (false, Kind::Connect) => {
            let r = ConnectResponse::from_bytes_exact(payload)?;
            if r.read_only.is_some() != (payload.len() == 37) {
                return Err(format!("readOnly {:?} for a {}-byte body", r.read_only, payload.len()));
            }
            reencode::<ConnectResponse>(payload)?
        }
        (true, Kind::Op(op)) => {
            let (body, header) = RequestHeader::decode(payload).map_err(|e| format!("header: {e:?}"))?;
            if header.r#type != op {
                return Err(format!("header type {} but file says {op}", header.r#type));
            }
            let mut out = reencode::<RequestHeader>(&payload[..8])?;
            match request_body(op, body) {
                Ok(b) => out.extend(b),
                // Only where ZooKeeper itself found the body undecodable (MarshallingError),
                // or does not know the opcode (Unimplemented), may we fail too.
                Err(e) if matches!(reply_err, Some(-5) | Some(-6)) => {
                    let _ = e;
                    return Ok(Some("undecodable, as the server found"));
                }
                Err(e) => return Err(format!("request body: {e} (server answered {reply_err:?})")),
            }
            out
        }
        (false, Kind::Op(op)) => {
            let (body, header) = ReplyHeader::decode(payload).map_err(|e| format!("header: {e:?}"))?;
            let mut out = reencode::<ReplyHeader>(&payload[..16])?;
            if header.err == 0 || !body.is_empty() {
                // An error reply has no body, except multiRead's −5 (its results so far).
                if header.err != 0 && op != 22 {
                    return Err(format!("err {} reply with {} body bytes", header.err, body.len()));
                }
                out.extend(response_body(op, body)?);
            }
            out
        }
        (false, Kind::Event) => {
            let (body, header) = ReplyHeader::decode(payload).map_err(|e| format!("header: {e:?}"))?;
            if header.xid != -1 {
                return Err(format!("event with xid {}", header.xid));
            }
            let mut out = reencode::<ReplyHeader>(&payload[..16])?;
            out.extend(reencode::<WatcherEvent>(body)?);
            out
        }
        (true, Kind::Event) => return Err("a client does not send events".into()),
    };
    if again == payload {
        return Ok(None);
    }
    if lossy_expectation(frame, payload).as_deref() == Some(&again[..]) {
        return Ok(Some("null ustring/vector/token re-encoded as empty, by design"));
    }
    Err(format!("re-encoded differently:\n  was {}\n  now {}", to_hex(payload), to_hex(&again)))
}

trait ExactDecode: Sized {
    fn from_bytes_exact(input: &[u8]) -> Result<Self, String>;
}

impl<T: Field + std::fmt::Debug> ExactDecode for T {
    fn from_bytes_exact(input: &[u8]) -> Result<Self, String> {
        match T::decode(input) {
            Ok(([], v)) => Ok(v),
            Ok((rest, v)) => Err(format!("{} bytes left after {v:?}", rest.len())),
            Err(e) => Err(format!("{e:?}")),
        }
    }
}

/// For each request frame, the err of the reply that answered it (matched by xid within its
/// connection; a ping's reply always has xid −2).
fn reply_errs(frames: &[Frame]) -> HashMap<usize, i32> {
    // (file, conn) -> requests not yet answered: (xid, opcode, frame index).
    type Pending = Vec<(i32, i32, usize)>;
    let mut pending: HashMap<(String, u32), Pending> = HashMap::new();
    let mut errs = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        let Kind::Op(op) = f.kind else { continue };
        let file = f.at.split(':').next().unwrap().to_owned();
        let list = pending.entry((file, f.conn)).or_default();
        let xid = i32::from_be_bytes(f.bytes[4..8].try_into().unwrap());
        if f.from_client {
            list.push((xid, op, i));
        } else if let Some(pos) = list.iter().position(|&(x, o, _)| x == xid || (xid == -2 && o == 11)) {
            let (_, _, req) = list.remove(pos);
            errs.insert(req, i32::from_be_bytes(f.bytes[16..20].try_into().unwrap()));
        }
    }
    errs
}

#[test]
fn golden_frames_decode_and_reencode_exactly() {
    let frames = all_frames();
    let errs = reply_errs(&frames);
    let mut failures = Vec::new();
    let mut notes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (i, f) in frames.iter().enumerate() {
        match check_frame(f, errs.get(&i).copied()) {
            Ok(None) => {}
            Ok(Some(note)) => notes.entry(note).or_default().push(format!("{} {}", f.at, f.name)),
            Err(e) => failures.push(format!("{} {}: {e}", f.at, f.name)),
        }
    }
    for (note, at) in &notes {
        eprintln!("{note}: {}", at.join(", "));
    }
    assert!(failures.is_empty(), "{} of {} frames failed:\n{}", failures.len(), frames.len(), failures.join("\n"));
    // Only the hand-built malformed bodies and the unknown opcode may be undecodable.
    let undecodable = notes.get("undecodable, as the server found").map_or(0, Vec::len);
    assert!(undecodable <= 3, "too many undecodable requests: {notes:?}");
}

/// Which records the golden files exercise, so a re-capture that loses coverage fails.
#[test]
fn golden_frames_cover_every_client_opcode() {
    let frames = all_frames();
    let errs = reply_errs(&frames);
    let mut ok_requests = std::collections::BTreeSet::new();
    let mut ok_replies = std::collections::BTreeSet::new();
    let mut events = 0;
    let mut connects = [0usize; 4]; // request 44/45 bytes, response 36/37 bytes
    for (i, f) in frames.iter().enumerate() {
        match (f.from_client, f.kind) {
            (true, Kind::Op(op)) if errs.get(&i).is_some_and(|&e| e != -5 && e != -6) => {
                ok_requests.insert(op);
            }
            (false, Kind::Op(op)) if f.bytes[16..20] == [0, 0, 0, 0] => {
                ok_replies.insert(op);
            }
            (false, Kind::Event) => events += 1,
            (true, Kind::Connect) => connects[usize::from(f.bytes.len() == 4 + 45)] += 1,
            (false, Kind::Connect) => connects[2 + usize::from(f.bytes.len() == 4 + 37)] += 1,
            _ => {}
        }
    }
    let want: Vec<i32> = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104, 105, 106, 107, -11,
    ];
    let missing: Vec<i32> = want.iter().copied().filter(|op| !ok_requests.contains(op)).collect();
    assert!(missing.is_empty(), "no answered request for opcodes {missing:?}");
    let missing: Vec<i32> = want.iter().copied().filter(|op| !ok_replies.contains(op)).collect();
    assert!(missing.is_empty(), "no successful reply for opcodes {missing:?}");
    assert!(events >= 10, "only {events} watch events");
    assert!(connects.iter().all(|&n| n > 0), "connect with and without readOnly: {connects:?}");
}
