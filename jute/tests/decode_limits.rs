//! Hostile input: arbitrary bytes fed to every decoder (every record, `MultiRequest`,
//! `MultiResponse`, `ConnectRequest`, `split_frame`) never panic, never build a value larger
//! than the input, and a huge count or length with little data behind it fails at once.
//!
//! "Never allocates more than the input holds" is checked by running these same tests again
//! in a child process under an address-space cap (`ulimit -v`): a decoder that trusted a
//! count of 2^31−1 would ask for gigabytes there and abort, instead of succeeding quietly on
//! an overcommitting kernel. The workspace forbids `unsafe`, so no counting allocator.

mod strategies;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jute::data::{Acl, ClientInfo, Id, Stat, StatPersisted};
use jute::multi::{MultiRequest, MultiResponse};
use jute::primitives::Record;
use jute::proto::*;
use jute::split_frame;
use jute::txn::*;
use proptest::collection::vec;
use proptest::prelude::*;
use strategies::{any_encoded, encode};

/// Set in the child process that runs under the memory cap.
const CAPPED_ENV: &str = "JUTE_TEST_UNDER_MEMORY_CAP";
/// The child's address-space limit, in KiB (`ulimit -v`): far below what trusting one
/// 2^31−1 count would take, far above what the test binary needs.
const CAP_KIB: u64 = 1 << 20;

/// Decodes with one decoder; `Some(n)`: it succeeded and its value encodes to `n` bytes.
type Probe = fn(&[u8]) -> Option<usize>;

fn probe<T: Record + PartialEq + Debug>(input: &[u8]) -> Option<usize> {
    let v = T::from_bytes(input).ok()?;
    let wire = encode(&v);
    // Invalid UTF-8 grows to U+FFFD (3 bytes); nothing else may grow.
    assert!(wire.len() <= 3 * input.len(), "{} bytes decoded to a {}-byte value", input.len(), wire.len());
    // A character outside the BMP (from 4-byte UTF-8) goes out as Java writes it, two 3-byte
    // surrogates that read back as U+FFFD each: after that one step the value is stable.
    let v2 = T::from_bytes(&wire).expect("an encoded value decodes");
    let wire2 = encode(&v2);
    assert_eq!(T::from_bytes(&wire2).as_ref(), Ok(&v2), "a re-encoded value must survive encode and decode");
    Some(wire.len())
}

/// `split_frame` must take only whole frames and reserve nothing for bytes not yet sent.
fn probe_frames(input: &[u8]) -> Option<usize> {
    let mut taken = 0;
    for max in [0xfffff, u32::MAX] {
        let mut buf = BytesMut::from(input);
        let capacity = buf.capacity();
        while let Ok(Some(frame)) = split_frame(&mut buf, max) {
            taken += 4 + frame.len();
        }
        assert!(buf.capacity() <= capacity, "split_frame grew the buffer from {capacity} to {}", buf.capacity());
    }
    Some(taken)
}

macro_rules! probes {
    ($($t:ty),* $(,)?) => { vec![$((stringify!($t), probe::<$t> as Probe)),*] };
}

fn decoders() -> Vec<(&'static str, Probe)> {
    let mut all = probes![
        Id,
        Acl,
        Stat,
        StatPersisted,
        ClientInfo,
        ConnectRequest,
        ConnectResponse,
        RequestHeader,
        ReplyHeader,
        MultiHeader,
        AuthPacket,
        SetWatches,
        SetWatches2,
        GetDataRequest,
        SetDataRequest,
        ReconfigRequest,
        SetDataResponse,
        SaslRequest,
        SaslResponse,
        CreateRequest,
        CreateTtlRequest,
        DeleteRequest,
        GetChildrenRequest,
        GetAllChildrenNumberRequest,
        GetChildren2Request,
        CheckVersionRequest,
        SyncRequest,
        SyncResponse,
        GetAclRequest,
        SetAclRequest,
        SetAclResponse,
        AddWatchRequest,
        WatcherEvent,
        ErrorResponse,
        CreateResponse,
        Create2Response,
        ExistsRequest,
        ExistsResponse,
        GetDataResponse,
        GetChildrenResponse,
        GetAllChildrenNumberResponse,
        GetChildren2Response,
        GetAclResponse,
        CheckWatchesRequest,
        RemoveWatchesRequest,
        GetEphemeralsRequest,
        GetEphemeralsResponse,
        WhoAmIResponse,
        MultiRequest,
        MultiResponse,
        TxnHeader,
        CreateTxn,
        CreateTtlTxn,
        CreateContainerTxn,
        DeleteTxn,
        SetDataTxn,
        CheckVersionTxn,
        SetAclTxn,
        CreateSessionTxn,
        CloseSessionTxn,
        ErrorTxn,
        Txn,
        MultiTxn,
        TxnDigest,
        FileHeader,
    ];
    all.push(("split_frame", probe_frames));
    all
}

fn feed_all(input: &[u8]) {
    for (_, decode) in decoders() {
        decode(input);
    }
}

/// Values that make lengths and counts interesting: null, negative, huge, just past the end.
fn edgy_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(-1),
        Just(-2),
        Just(0),
        Just(1),
        Just(2),
        Just(4),
        Just(0xfffff),
        Just(0x10_0000),
        Just(i32::MAX),
        Just(i32::MAX - 1),
        Just(i32::MIN),
        0..64i32,
    ]
}

/// Byte strings assembled from big-endian ints, short strings and loose bytes, so that the
/// decoders get past their first field more often than with uniform bytes.
fn structured_bytes() -> impl Strategy<Value = Vec<u8>> {
    let chunk = prop_oneof![
        edgy_i32().prop_map(|n| n.to_be_bytes().to_vec()),
        "[a-z/]{0,6}".prop_map(|s: String| {
            let mut b = (s.len() as i32).to_be_bytes().to_vec();
            b.extend(s.as_bytes());
            b
        }),
        any::<u8>().prop_map(|b| vec![b]),
        Just(vec![0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff]), // multi terminator
    ];
    vec(chunk, 0..24).prop_map(|c| c.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in vec(any::<u8>(), 0..300)) {
        feed_all(&input);
    }

    #[test]
    fn structured_bytes_never_panic(input in structured_bytes()) {
        feed_all(&input);
    }

    /// A valid encoding of some record with one 4-byte window overwritten by an edgy value
    /// and maybe cut short, fed to every decoder.
    #[test]
    fn corrupted_encodings_never_panic(
        (_name, wire) in any_encoded(),
        at in any::<prop::sample::Index>(),
        value in edgy_i32(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = wire;
        if input.len() >= 4 {
            let at = at.index(input.len() - 3);
            input[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        feed_all(&input);
        let cut = cut.index(input.len() + 1);
        feed_all(&input[..cut]);
    }
}

/// Every length or count of 2^31−1 (or other huge values) with a few bytes behind it fails,
/// and fails fast: nothing is reserved or looped over on the strength of the count.
#[test]
fn huge_counts_with_little_data_fail_fast() {
    let huge = [i32::MAX, i32::MAX - 1, 0x7fff_0000, 0x10_0000, i32::MIN, -2];
    let stat = encode(&Stat::default());
    let s = |t: &str| encode(&t.to_owned());
    // Inputs whose next field is a vector or a length-prefixed field.
    let mut cases: Vec<(&str, Vec<u8>, Probe)> = Vec::new();
    for n in huge {
        let count = n.to_be_bytes().to_vec();
        let tail = [count.clone(), vec![0, 0, 0, 1, b'a']].concat();
        cases.push(("GetChildrenResponse", tail.clone(), probe::<GetChildrenResponse>));
        cases.push(("GetEphemeralsResponse", tail.clone(), probe::<GetEphemeralsResponse>));
        cases.push(("WhoAmIResponse", tail.clone(), probe::<WhoAmIResponse>));
        cases.push(("CloseSessionTxn", tail.clone(), probe::<CloseSessionTxn>));
        cases.push(("MultiTxn", tail.clone(), probe::<MultiTxn>));
        cases.push(("GetAclResponse", [tail.clone(), stat.clone()].concat(), probe::<GetAclResponse>));
        cases.push(("GetDataResponse", [tail.clone(), stat.clone()].concat(), probe::<GetDataResponse>));
        cases.push(("SyncRequest", tail.clone(), probe::<SyncRequest>));
        cases.push(("SaslRequest", tail.clone(), probe::<SaslRequest>));
        cases.push(("SetWatches", [vec![0; 8], tail.clone()].concat(), probe::<SetWatches>));
        cases.push(("SetWatches2", [vec![0; 8], vec![0; 16], tail.clone()].concat(), probe::<SetWatches2>));
        let create_head = [s("/a"), vec![0xff; 4]].concat();
        cases.push(("CreateRequest", [create_head.clone(), tail.clone()].concat(), probe::<CreateRequest>));
        cases.push(("SetAclRequest", [s("/a"), tail.clone()].concat(), probe::<SetAclRequest>));
        let connect_head = vec![0; 4 + 8 + 4 + 8];
        cases.push(("ConnectRequest", [connect_head, tail.clone()].concat(), probe::<ConnectRequest>));
        // A multi whose create carries the huge ACL count; a multiRead result with huge children.
        let multi = [vec![0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff], create_head.clone(), tail.clone()].concat();
        cases.push(("MultiRequest", multi, probe::<MultiRequest>));
        let result = [vec![0, 0, 0, 8, 0, 0, 0, 0, 0], tail.clone()].concat();
        cases.push(("MultiResponse", result, probe::<MultiResponse>));
        cases.push(("split_frame", [count.clone(), vec![0; 8]].concat(), probe_frames));
    }
    for (name, input, decode) in cases {
        let started = Instant::now();
        let decoded = decode(&input);
        let took = started.elapsed();
        if name == "split_frame" {
            assert_eq!(decoded, Some(0), "split_frame took a frame from {input:02x?}");
        } else {
            assert_eq!(decoded, None, "{name} decoded {input:02x?}");
        }
        assert!(took < Duration::from_millis(50), "{name} took {took:?} on {} bytes", input.len());
    }
    // And at every position of every record, in case a count hides where the list above
    // does not look: a huge value after k zero bytes.
    for k in 0..80 {
        for n in huge {
            let input = [vec![0; k], n.to_be_bytes().to_vec(), vec![1; 6]].concat();
            let started = Instant::now();
            feed_all(&input);
            assert!(started.elapsed() < Duration::from_millis(200), "offset {k}, value {n}");
        }
    }
}

/// A frame length is checked before the body arrives and reserves no room for it.
#[test]
fn split_frame_checks_before_buffering() {
    let mut buf = BytesMut::from(&[0x00, 0x0f, 0xff, 0xff, 1, 2, 3][..]);
    let capacity = buf.capacity();
    assert_eq!(split_frame(&mut buf, 0xfffff), Ok(None));
    assert!(buf.capacity() <= capacity, "reserved {} bytes for a frame not yet sent", buf.capacity());
    for (len, max) in [(0x0010_0000, 0xfffff), (0, 0xfffff), (-5, 0xfffff), (-1, u32::MAX), (i32::MIN, u32::MAX)] {
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        assert!(split_frame(&mut buf, max).is_err(), "length {len} with max {max}");
    }
    let mut buf = BytesMut::from(&[0, 0, 0, 2, 7, 8, 0, 0, 0, 1][..]);
    assert_eq!(split_frame(&mut buf, 0xfffff).unwrap().as_deref(), Some(&[7, 8][..]));
    assert_eq!(split_frame(&mut buf, 0xfffff), Ok(None));
    assert_eq!(&buf[..], &[0, 0, 0, 1]);
}

/// In the capped child: proves the cap is real, so the other tests there mean something.
#[test]
fn cap_is_active() {
    if std::env::var_os(CAPPED_ENV).is_none() {
        return;
    }
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(4 << 30).is_err(), "the address-space cap is not in force");
}

/// Runs this file's decoder tests again with the address space capped at `CAP_KIB`.
#[cfg(target_os = "linux")]
#[test]
fn decoders_stay_small_under_a_memory_cap() {
    if std::env::var_os(CAPPED_ENV).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args([
            "--exact",
            "--test-threads=1",
            "cap_is_active",
            "arbitrary_bytes_never_panic",
            "structured_bytes_never_panic",
            "corrupted_encodings_never_panic",
            "huge_counts_with_little_data_fail_fast",
            "split_frame_checks_before_buffering",
        ])
        .env(CAPPED_ENV, "1")
        .output()
        .expect("run the capped child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("6 passed"),
        "capped run failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
