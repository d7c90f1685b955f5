//! One ZooKeeper session over raw frames: the handshake, requests appended to a write
//! buffer (so a whole window of pipelined requests leaves in one `write`), and replies cut
//! from a read buffer. No background tasks, no locks: the caller's task owns everything.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
use jute::{Field, OpCode, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest reply the generator accepts (ZooKeeper's default `jute.maxbuffer` + slack).
pub const FRAME_BYTES_MAX: u32 = 0xfffff + 1024;

/// The xid ZooKeeper gives watch notifications.
pub const XID_NOTIFICATION: i32 = -1;
/// The xid of pings and their replies.
pub const XID_PING: i32 = -2;

/// Why a session failed. Every one of them ends the run: a benchmark does not retry.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{addr}: {source}")]
    Io { addr: SocketAddr, source: std::io::Error },
    #[error("{addr}: server closed the connection")]
    Closed { addr: SocketAddr },
    #[error("{addr}: no reply within {secs} s ({what})")]
    Timeout { addr: SocketAddr, secs: u64, what: &'static str },
    #[error("{addr}: {what}")]
    Protocol { addr: SocketAddr, what: String },
}

/// One reply or notification. The body is not decoded: the benchmark needs only the
/// result code, and decoding would cost generator CPU on every operation.
#[derive(Debug)]
pub struct Reply {
    pub header: ReplyHeader,
    /// The whole frame, header included.
    pub frame: BytesMut,
}

impl Reply {
    /// The first field of the body as a jute string: the path a create made.
    pub fn first_string(&self) -> Option<String> {
        let body = self.frame.get(16..)?;
        let len = usize::try_from(i32::from_be_bytes(body.get(..4)?.try_into().ok()?)).ok()?;
        Some(String::from_utf8_lossy(body.get(4..4 + len)?).into_owned())
    }
}

/// A connected session.
pub struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    next_xid: i32,
    /// How long any single wait for the server may take before the run fails.
    reply_timeout: Duration,
}

impl Conn {
    /// Connects and opens a new session with the given timeout.
    ///
    /// # Errors
    /// When the TCP connection or the handshake fails or times out.
    pub async fn connect(
        addr: SocketAddr,
        session_timeout_ms: i32,
        reply_timeout: Duration,
    ) -> Result<Conn, ConnError> {
        let io = |source| ConnError::Io { addr, source };
        let stream = tokio::time::timeout(reply_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::Timeout { addr, secs: reply_timeout.as_secs(), what: "connect" })?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let mut conn = Conn {
            addr,
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::new(),
            next_xid: 1,
            reply_timeout,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: session_timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        jute::frame::frame(&req.to_bytes(), &mut conn.wbuf);
        conn.flush().await?;
        let frame = conn.next_frame("handshake").await?;
        let resp = ConnectResponse::from_bytes(&frame)
            .map_err(|e| ConnError::Protocol { addr, what: format!("bad ConnectResponse: {e}") })?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(ConnError::Protocol { addr, what: "server refused the session".into() });
        }
        Ok(conn)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Appends one request to the write buffer and returns its xid. Nothing is sent until
    /// [`Conn::flush`].
    pub fn push(&mut self, op: OpCode, body: &impl Field) -> i32 {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        self.push_with_xid(xid, op, body);
        xid
    }

    fn push_with_xid(&mut self, xid: i32, op: OpCode, body: &impl Field) {
        let start = self.wbuf.len();
        self.wbuf.put_i32(0);
        RequestHeader { xid, r#type: op.0 }.encode(&mut self.wbuf);
        body.encode(&mut self.wbuf);
        let len = (self.wbuf.len() - start - 4) as i32;
        self.wbuf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Sends everything buffered.
    ///
    /// # Errors
    /// On a socket error or when the server does not take the bytes in time.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let addr = self.addr;
        tokio::time::timeout(self.reply_timeout, self.stream.write_all(&self.wbuf))
            .await
            .map_err(|_| ConnError::Timeout { addr, secs: self.reply_timeout.as_secs(), what: "write" })?
            .map_err(|source| ConnError::Io { addr, source })?;
        self.wbuf.clear();
        Ok(())
    }

    /// Cuts one whole reply from what has been read, if there is one.
    ///
    /// # Errors
    /// When a frame is oversize or its header is malformed.
    pub fn try_reply(&mut self) -> Result<Option<Reply>, ConnError> {
        let addr = self.addr;
        let Some(frame) = jute::split_frame(&mut self.rbuf, FRAME_BYTES_MAX)
            .map_err(|e| ConnError::Protocol { addr, what: e.to_string() })?
        else {
            return Ok(None);
        };
        let header = ReplyHeader::from_bytes(&frame)
            .map_err(|e| ConnError::Protocol { addr, what: format!("bad ReplyHeader: {e}") })?;
        Ok(Some(Reply { header, frame }))
    }

    /// Reads more bytes from the socket (at least one), waiting at most the reply timeout.
    ///
    /// # Cancel safety
    /// Safe: bytes read stay in the read buffer for the next call.
    ///
    /// # Errors
    /// On a socket error, end of stream, or timeout.
    pub async fn fill(&mut self) -> Result<(), ConnError> {
        self.fill_within(self.reply_timeout, "reply").await
    }

    /// [`Conn::fill`] with an explicit bound, for waits that may legitimately be long.
    ///
    /// # Errors
    /// On a socket error, end of stream, or timeout.
    pub async fn fill_within(&mut self, limit: Duration, what: &'static str) -> Result<(), ConnError> {
        let addr = self.addr;
        if self.rbuf.capacity() - self.rbuf.len() < 16 * 1024 {
            self.rbuf.reserve(64 * 1024);
        }
        let n = tokio::time::timeout(limit, self.stream.read_buf(&mut self.rbuf))
            .await
            .map_err(|_| ConnError::Timeout { addr, secs: limit.as_secs(), what })?
            .map_err(|source| ConnError::Io { addr, source })?;
        if n == 0 {
            return Err(ConnError::Closed { addr });
        }
        Ok(())
    }

    async fn next_frame(&mut self, what: &'static str) -> Result<BytesMut, ConnError> {
        let addr = self.addr;
        loop {
            if let Some(f) = jute::split_frame(&mut self.rbuf, FRAME_BYTES_MAX)
                .map_err(|e| ConnError::Protocol { addr, what: e.to_string() })?
            {
                return Ok(f);
            }
            self.fill_within(self.reply_timeout, what).await?;
        }
    }

    /// Sends one request and waits for its reply, skipping notifications and pings.
    ///
    /// # Errors
    /// As [`Conn::flush`] and [`Conn::fill`]; a reply with another xid is a protocol error.
    pub async fn call(&mut self, op: OpCode, body: &impl Field) -> Result<Reply, ConnError> {
        let xid = self.push(op, body);
        self.flush().await?;
        loop {
            while let Some(r) = self.try_reply()? {
                if r.header.xid == xid {
                    return Ok(r);
                }
                if r.header.xid != XID_NOTIFICATION && r.header.xid != XID_PING {
                    let what = format!("reply xid {} while waiting for {xid}", r.header.xid);
                    return Err(ConnError::Protocol { addr: self.addr, what });
                }
            }
            self.fill().await?;
        }
    }

    /// Closes the session (closeSession, then waits for its reply within the timeout) so
    /// the server does not carry it until it expires.
    ///
    /// # Errors
    /// When the close cannot be sent or is not answered.
    pub async fn close(mut self) -> Result<(), ConnError> {
        let xid = self.next_xid;
        self.push_with_xid(xid, OpCode::CLOSE_SESSION, &NoBody);
        self.flush().await?;
        loop {
            while let Some(r) = self.try_reply()? {
                if r.header.xid == xid {
                    return Ok(());
                }
            }
            match self.fill().await {
                // ZooKeeper may close the socket right after the reply.
                Err(ConnError::Closed { .. }) => return Ok(()),
                other => other?,
            }
        }
    }
}

/// The empty body of closeSession and ping.
pub struct NoBody;

impl Field for NoBody {
    fn encode(&self, _out: &mut BytesMut) {}
    fn decode(input: &[u8]) -> nom::IResult<&[u8], Self> {
        Ok((input, NoBody))
    }
}
