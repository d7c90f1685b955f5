//! The length-prefixed frame: a 4-byte big-endian signed length, then that many bytes.

use bytes::{Buf, BytesMut};

/// A frame length the server refuses; the connection is closed without a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The length prefix as read.
    pub len: i32,
    /// The limit in force (`jute.maxbuffer`).
    pub max: u32,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frame length {} outside 1..={} (jute.maxbuffer)", self.len, self.max)
    }
}

impl std::error::Error for FrameError {}

/// Takes one whole frame's payload off the front of `buf`, if it has arrived.
///
/// Checks the length before waiting for the body (as `NIOServerCnxn.readLength` does), so
/// an oversize or negative length fails at once instead of buffering it.
///
/// # Errors
/// `FrameError` for a length < 1 or > `max`.
pub fn split_frame(buf: &mut BytesMut, max: u32) -> Result<Option<BytesMut>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 1 || len as u32 > max {
        return Err(FrameError { len, max });
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        // Reserve nothing for bytes not sent yet: a 4-byte prefix must not make the server
        // set aside up to `max` bytes (per connection); the reader grows `buf` as data comes.
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len as usize)))
}

/// Wraps a payload in its length prefix.
pub fn frame(payload: &[u8], out: &mut BytesMut) {
    out.reserve(4 + payload.len());
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
}
