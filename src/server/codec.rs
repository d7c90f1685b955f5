//! The client-port framing as a tokio-util codec: before the handshake the first four
//! bytes may be a four-letter word; after that every message is a length-prefixed frame
//! whose length is checked against `jute.maxbuffer` before its body is buffered.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::admin::four_letter;

/// What the client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A four-letter word, with any bytes that followed it (stmk's mask).
    FourLetter(&'static str, BytesMut),
    /// One frame's payload.
    Frame(BytesMut),
}

/// Decodes frames; four-letter words are recognised only as the first message.
#[derive(Debug)]
pub struct ClientCodec {
    frame_bytes_max: u32,
    first: bool,
}

impl ClientCodec {
    /// A codec for a new connection.
    pub fn new(frame_bytes_max: u32) -> ClientCodec {
        ClientCodec { frame_bytes_max, first: true }
    }
}

impl Decoder for ClientCodec {
    type Item = Inbound;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, std::io::Error> {
        if self.first && src.len() >= 4 {
            self.first = false;
            let word: [u8; 4] = src[..4].try_into().expect("4 bytes");
            if let Some(cmd) = four_letter::is_four_letter_word(&word) {
                let _ = src.split_to(4);
                return Ok(Some(Inbound::FourLetter(cmd, src.split())));
            }
        }
        match jute::split_frame(src, self.frame_bytes_max) {
            Ok(frame) => Ok(frame.map(Inbound::Frame)),
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_letter_word_only_first() {
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert_eq!(c.decode(&mut b).unwrap(), Some(Inbound::FourLetter("ruok", BytesMut::new())));
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0, 0, 0, 2, 7, 7, b'r', b'u'][..]);
        assert_eq!(c.decode(&mut b).unwrap(), Some(Inbound::Frame(BytesMut::from(&[7u8, 7][..]))));
    }

    #[test]
    fn oversize_and_negative_lengths_fail() {
        let mut c = ClientCodec::new(100);
        assert!(c.decode(&mut BytesMut::from(&[0, 0, 0, 101][..])).is_err());
        let mut c = ClientCodec::new(100);
        assert!(c.decode(&mut BytesMut::from(&[0xff, 0xff, 0xff, 0xfb][..])).is_err());
        let mut c = ClientCodec::new(100);
        assert!(c.decode(&mut BytesMut::from(&[0, 0, 0, 0][..])).is_err());
    }
}
