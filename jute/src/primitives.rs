//! Jute primitives (`BinaryInputArchive`/`BinaryOutputArchive`): big-endian ints and longs,
//! one-byte booleans, length-prefixed buffers, strings and vectors where −1 means null.

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_i32, be_i64, be_u8};
use nom::IResult;

/// Why a record could not be decoded. The server answers MarshallingError (or closes the
/// connection for a handshake) and keeps running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Bytes of input left where decoding stopped.
    pub remaining: usize,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed jute record ({} bytes left where decoding stopped)", self.remaining)
    }
}

impl std::error::Error for DecodeError {}

/// One value that can be written to and read from a jute archive.
pub trait Field: Sized {
    /// Appends the wire form of `self`.
    fn encode(&self, out: &mut BytesMut);
    /// Parses one value from the front of `input`.
    fn decode(input: &[u8]) -> IResult<&[u8], Self>;
}

/// A whole jute record: a `Field` with convenience entry points.
pub trait Record: Field {
    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out
    }

    /// Decodes from the front of `input`; trailing bytes are ignored as ZooKeeper does.
    ///
    /// # Errors
    /// `DecodeError` when the input is truncated or a length runs past its end.
    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        match Self::decode(input) {
            Ok((_, v)) => Ok(v),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(DecodeError { remaining: e.input.len() }),
            Err(nom::Err::Incomplete(_)) => Err(DecodeError { remaining: 0 }),
        }
    }
}

fn fail(input: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::LengthValue))
}

/// Reads a length prefix and checks it against what is left, so nothing is reserved for
/// bytes that are not there. −1 (null) becomes `None`.
pub fn length_prefixed(input: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
    let (rest, len) = be_i32(input)?;
    if len == -1 {
        return Ok((rest, None));
    }
    if len < 0 || len as usize > rest.len() {
        return Err(fail(input));
    }
    let (body, rest) = rest.split_at(len as usize);
    Ok((rest, Some(body)))
}

impl Field for i32 {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i32(*self);
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        be_i32(input)
    }
}

impl Field for i64 {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i64(*self);
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        be_i64(input)
    }
}

impl Field for bool {
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(u8::from(*self));
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, b) = be_u8(input)?;
        Ok((rest, b != 0))
    }
}

/// `ustring`: a null string decodes as empty (the server treats both as an invalid path);
/// invalid UTF-8 becomes U+FFFD, as Java's decoder does.
/// `ustring` as ZooKeeper writes it (`BinaryOutputArchive.stringToByteBuffer`): char by
/// Java char, so a character outside the BMP goes out as its two UTF-16 surrogates, three
/// bytes each (CESU-8), where standard UTF-8 would use four. Java clients decode either.
fn put_ustring(s: &str, out: &mut BytesMut) {
    // A 4-byte UTF-8 sequence starts with 0xF0..=0xF4; without one the bytes are the same.
    if !s.as_bytes().iter().any(|b| *b >= 0xF0) {
        out.put_i32(s.len() as i32);
        out.put_slice(s.as_bytes());
        return;
    }
    let len_at = out.len();
    out.put_i32(0);
    let start = out.len();
    let mut buf = [0u16; 2];
    for c in s.chars() {
        for unit in c.encode_utf16(&mut buf) {
            let u = u32::from(*unit);
            if u < 0x80 {
                out.put_u8(u as u8);
            } else if u < 0x800 {
                out.put_u8(0xC0 | (u >> 6) as u8);
                out.put_u8(0x80 | (u & 0x3F) as u8);
            } else {
                out.put_u8(0xE0 | (u >> 12) as u8);
                out.put_u8(0x80 | ((u >> 6) & 0x3F) as u8);
                out.put_u8(0x80 | (u & 0x3F) as u8);
            }
        }
    }
    let len = (out.len() - start) as i32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

impl Field for String {
    fn encode(&self, out: &mut BytesMut) {
        put_ustring(self, out);
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, body) = length_prefixed(input)?;
        let s = match body {
            None => String::new(),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(b).into_owned(),
            },
        };
        Ok((rest, s))
    }
}

/// `buffer` where null is meaningful (znode data): −1 round-trips as `None`.
impl Field for Option<Bytes> {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            None => out.put_i32(-1),
            Some(b) => {
                out.put_i32(b.len() as i32);
                out.put_slice(b);
            }
        }
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, body) = length_prefixed(input)?;
        Ok((rest, body.map(Bytes::copy_from_slice)))
    }
}

/// `buffer` where null and empty mean the same (passwords, auth tokens).
impl Field for Bytes {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.len() as i32);
        out.put_slice(self);
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, body) = length_prefixed(input)?;
        Ok((rest, body.map(Bytes::copy_from_slice).unwrap_or_default()))
    }
}

/// `vector<T>`: a null vector decodes as empty. The count is not trusted for allocation:
/// elements are pushed one by one, and each takes at least one byte of input.
impl<T: Field> Field for Vec<T> {
    fn encode(&self, out: &mut BytesMut) {
        out.put_i32(self.len() as i32);
        for v in self {
            v.encode(out);
        }
    }
    fn decode(input: &[u8]) -> IResult<&[u8], Self> {
        let (mut rest, count) = be_i32(input)?;
        if count == -1 {
            return Ok((rest, Vec::new()));
        }
        if count < 0 || count as usize > rest.len() {
            return Err(fail(input));
        }
        let mut items = Vec::with_capacity((count as usize).min(64));
        for _ in 0..count {
            let (r, v) = T::decode(rest)?;
            rest = r;
            items.push(v);
        }
        Ok((rest, items))
    }
}

/// Defines a record struct whose fields are encoded in declaration order, as jute does.
#[macro_export]
macro_rules! record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }

        impl $crate::primitives::Field for $name {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut bytes::BytesMut) {
                $( $crate::primitives::Field::encode(&self.$field, out); )*
            }
            #[allow(unused_mut)]
            fn decode(input: &[u8]) -> nom::IResult<&[u8], Self> {
                let mut rest = input;
                $( let (r, $field) = <$ty as $crate::primitives::Field>::decode(rest)?; rest = r; )*
                Ok((rest, $name { $($field),* }))
            }
        }
        impl $crate::primitives::Record for $name {}
    };
}

#[cfg(test)]
mod ustring_tests {
    use super::*;

    #[test]
    fn non_bmp_goes_out_as_java_does() {
        let mut out = BytesMut::new();
        "a😀".to_string().encode(&mut out);
        // 'a', then U+D83D and U+DE00 as three bytes each (what Java's jute writes)
        assert_eq!(&out[..], &[0, 0, 0, 7, b'a', 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80][..]);
        let mut out = BytesMut::new();
        "é/x".to_string().encode(&mut out);
        assert_eq!(&out[..], &[0, 0, 0, 4, 0xC3, 0xA9, b'/', b'x'][..]);
    }
}
