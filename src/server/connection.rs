//! One client connection: splits frames, recognises four-letter words, decodes the
//! handshake and requests, and hands them to the driver in arrival order; writes what the
//! driver queues in the outbox. A malformed frame closes this connection only.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::StreamExt;
use jute::proto::{ConnectRequest, RequestHeader};
use jute::{OpCode, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tracing::{debug, warn};

use super::codec::{ClientCodec, Inbound};
use super::driver::DriverMsg;
use super::outbox::Outbox;
use super::request::Request;
use super::ConnId;

/// Requests one connection may have in flight before the server stops reading from it
/// (ZooKeeper's `globalOutstandingLimit` is 1000).
pub const OUTSTANDING_MAX: usize = 1000;
/// A connection that has not finished its handshake by then is closed
/// (`zookeeper.nio.sessionlessCnxnTimeout`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings a connection needs.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub frame_bytes_max: u32,
}

/// Serves one accepted socket until it closes.
pub async fn serve(
    id: ConnId,
    mut stream: TcpStream,
    remote: SocketAddr,
    driver: mpsc::Sender<DriverMsg>,
    limits: ConnLimits,
) {
    let _ = stream.set_nodelay(true);
    let outbox = Arc::new(Outbox::default());
    let result = run(id, &mut stream, remote, &driver, &outbox, limits).await;
    if let Err(e) = result {
        debug!(conn = id, %remote, "connection ended: {e}");
    }
    let _ = driver.send(DriverMsg::Closed { conn: id }).await;
    let _ = stream.shutdown().await;
}

async fn run(
    id: ConnId,
    stream: &mut TcpStream,
    remote: SocketAddr,
    driver: &mpsc::Sender<DriverMsg>,
    outbox: &Arc<Outbox>,
    limits: ConnLimits,
) -> std::io::Result<()> {
    let (read_half, mut write_half) = stream.split();
    let mut frames = FramedRead::new(read_half, ClientCodec::new(limits.frame_bytes_max));
    // The handshake: a four-letter word or a ConnectRequest frame.
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next())
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no handshake within 10 s"))?;
    let frame = match first {
        None => return Ok(()),
        Some(Err(e)) => {
            warn!(conn = id, %remote, "{e}, closing the connection");
            return Ok(());
        }
        Some(Ok(Inbound::FourLetter(cmd, rest))) => {
            let mut rest = rest;
            rest.extend_from_slice(frames.read_buffer());
            return four_letter_word(cmd, remote, &mut write_half, frames.get_mut(), rest, driver).await;
        }
        Some(Ok(Inbound::Frame(frame))) => frame,
    };
    let req = ConnectRequest::from_bytes(&frame).map_err(|e| {
        warn!(conn = id, %remote, "malformed connect request, closing: {e}");
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    })?;
    send(driver, DriverMsg::Connect { conn: id, remote, req, outbox: outbox.clone() }).await?;

    loop {
        let paused = outbox.outstanding.load(Ordering::Relaxed) >= OUTSTANDING_MAX;
        tokio::select! {
            biased;
            _ = outbox.wait() => {
                let (data, closing) = outbox.take();
                if !data.is_empty() {
                    write_half.write_all(&data).await?;
                }
                if closing {
                    let (rest, _) = outbox.take();
                    if !rest.is_empty() {
                        write_half.write_all(&rest).await?;
                    }
                    return Ok(());
                }
            }
            next = frames.next(), if !paused => {
                let frame = match next {
                    None => return Ok(()),
                    Some(Ok(Inbound::Frame(f))) => f,
                    Some(Ok(Inbound::FourLetter(..))) => unreachable!("four-letter words only come first"),
                    Some(Err(e)) => {
                        warn!(conn = id, %remote, "{e}, closing the connection");
                        return Ok(());
                    }
                };
                let Ok(header) = RequestHeader::from_bytes(&frame) else {
                    warn!(conn = id, %remote, "frame too short for a request header, closing");
                    return Ok(());
                };
                let op = OpCode(header.r#type);
                let req = Request::decode(op, &frame[8..]);
                outbox.outstanding.fetch_add(1, Ordering::Relaxed);
                send(driver, DriverMsg::Request { conn: id, xid: header.xid, req, received: Instant::now() }).await?;
            }
        }
    }
}

async fn send(driver: &mpsc::Sender<DriverMsg>, msg: DriverMsg) -> std::io::Result<()> {
    driver.send(msg).await.map_err(|_| std::io::Error::other("server shutting down"))
}

/// Runs a four-letter word: the text, then close.
async fn four_letter_word(
    cmd: &'static str,
    remote: SocketAddr,
    out: &mut WriteHalf<'_>,
    input: &mut ReadHalf<'_>,
    mut rest: BytesMut,
    driver: &mpsc::Sender<DriverMsg>,
) -> std::io::Result<()> {
    let mut arg = None;
    if cmd == "stmk" {
        // stmk carries an 8-byte trace mask after the word.
        while rest.len() < 8 {
            if input.read_buf(&mut rest).await? == 0 {
                break;
            }
        }
        if rest.len() >= 8 {
            arg = Some(i64::from_be_bytes(rest[..8].try_into().expect("8 bytes")));
        }
    }
    let (tx, rx) = oneshot::channel();
    send(driver, DriverMsg::FourLetter { cmd, arg, remote, reply: tx }).await?;
    let text = rx.await.map_err(|_| std::io::Error::other("server shutting down"))?;
    debug!(cmd, "four-letter word");
    out.write_all(text.as_bytes()).await?;
    Ok(())
}
