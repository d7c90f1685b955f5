//! Peer links over TCP. Each server dials every other server and sends on that connection
//! only; it receives on the connections others dialed to it. One direction per connection
//! means no duplicate-connection tie-breaking (ZooKeeper's "higher id wins" dance) and a
//! link that heals by itself: a dialer reconnects with backoff, a listener takes whoever
//! comes. Queues are bounded; when a peer is unreachable its oldest traffic is dropped,
//! which the consensus protocol tolerates (it retransmits what matters).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ferrozk_consensus::ServerId;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tracing::{debug, info, warn};

use super::frame::{PeerFrame, FRAME_BYTES_MAX};
use crate::server::driver::DriverMsg;

/// Frames queued for one peer before new ones are dropped.
const QUEUE_FRAMES_MAX: usize = 16 * 1024;
/// Bytes written to a socket in one go when frames queue up.
const WRITE_BATCH_BYTES: usize = 1 << 20;
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the links tell the driver.
#[derive(Debug)]
pub enum PeerEvent {
    /// A frame arrived from `from`.
    Frame { from: ServerId, frame: PeerFrame },
    /// The link to or from `id` broke, or a dial was refused: if `id` leads, it may be gone.
    Down { id: ServerId },
}

/// Where one peer listens.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    pub id: ServerId,
    pub host: String,
    pub port: u16,
}

/// The sending side of every link; receiving runs in its own tasks.
pub struct PeerNet {
    links: HashMap<ServerId, mpsc::Sender<PeerFrame>>,
}

impl PeerNet {
    /// Binds this server's peer ports and starts a dialer per peer.
    ///
    /// # Errors
    /// When a listen address cannot be bound.
    pub async fn start(
        me: ServerId,
        cluster: u64,
        listen: &[SocketAddr],
        peers: &[PeerAddr],
        driver: mpsc::Sender<DriverMsg>,
    ) -> Result<PeerNet, (SocketAddr, std::io::Error)> {
        for addr in listen {
            let listener = TcpListener::bind(addr).await.map_err(|e| (*addr, e))?;
            info!(%addr, "listening for peers");
            tokio::spawn(accept_loop(listener, cluster, driver.clone()));
        }
        let mut links = HashMap::new();
        for p in peers.iter().filter(|p| p.id != me) {
            let (tx, rx) = mpsc::channel(QUEUE_FRAMES_MAX);
            links.insert(p.id, tx);
            tokio::spawn(dial_loop(me, cluster, p.clone(), rx, driver.clone()));
        }
        Ok(PeerNet { links })
    }

    /// Queues a frame for every peer.
    pub fn broadcast(&self, frame: &PeerFrame) {
        for to in self.links.keys() {
            self.send(*to, frame.clone());
        }
    }

    /// Queues a frame for `to`; drops it when that peer's queue is full.
    pub fn send(&self, to: ServerId, frame: PeerFrame) {
        if let Some(link) = self.links.get(&to) {
            if link.try_send(frame).is_err() {
                debug!(peer = %to, "peer queue full or closed; frame dropped");
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, cluster: u64, driver: mpsc::Sender<DriverMsg>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(receive(stream, remote, cluster, driver.clone()));
            }
            Err(e) => {
                warn!("peer accept failed: {e}");
                tokio::time::sleep(BACKOFF_MIN).await;
            }
        }
    }
}

/// Reads one inbound connection until it breaks; the first frame must be a matching Hello.
async fn receive(stream: TcpStream, remote: SocketAddr, cluster: u64, driver: mpsc::Sender<DriverMsg>) {
    let codec = LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(FRAME_BYTES_MAX).new_codec();
    let mut frames = FramedRead::new(stream, codec);
    let from = match frames.next().await.map(|r| r.map(|b| PeerFrame::decode(b.freeze()))) {
        Some(Ok(Ok(PeerFrame::Hello { id, cluster: theirs }))) if theirs == cluster => id,
        Some(Ok(Ok(PeerFrame::Hello { id, .. }))) => {
            warn!(%remote, peer = %id, "peer has a different server list in its zoo.cfg; refusing its link");
            return;
        }
        other => {
            debug!(%remote, ?other, "peer connection did not start with a hello; closing");
            return;
        }
    };
    debug!(%remote, peer = %from, "peer link up (inbound)");
    while let Some(next) = frames.next().await {
        let frame = match next.map(|b| PeerFrame::decode(b.freeze())) {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                warn!(%remote, peer = %from, "bad peer frame ({e}); closing the link");
                break;
            }
            Err(e) => {
                debug!(%remote, peer = %from, "peer link read failed: {e}");
                break;
            }
        };
        if driver.send(DriverMsg::Peer(PeerEvent::Frame { from, frame })).await.is_err() {
            return;
        }
    }
    debug!(%remote, peer = %from, "peer link down (inbound)");
    let _ = driver.send(DriverMsg::Peer(PeerEvent::Down { id: from })).await;
}

/// Keeps an outbound connection to one peer, sending its queue; reconnects with backoff.
async fn dial_loop(
    me: ServerId,
    cluster: u64,
    peer: PeerAddr,
    mut rx: mpsc::Receiver<PeerFrame>,
    driver: mpsc::Sender<DriverMsg>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut reported_down = false;
    loop {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((peer.host.as_str(), peer.port))).await;
        let mut stream = match connect {
            Ok(Ok(s)) => s,
            failed => {
                if !reported_down {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    debug!(peer = %peer.id, host = %peer.host, port = peer.port, "cannot reach peer: {why}");
                    reported_down = true;
                    if driver.send(DriverMsg::Peer(PeerEvent::Down { id: peer.id })).await.is_err() {
                        return;
                    }
                }
                // Whatever queued meanwhile is stale; the protocol resends what still matters.
                while rx.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        backoff = BACKOFF_MIN;
        reported_down = false;
        info!(peer = %peer.id, host = %peer.host, port = peer.port, "peer link up");
        let mut buf = BytesMut::new();
        PeerFrame::Hello { id: me, cluster }.encode(&mut buf);
        if stream.write_all(&buf).await.is_err() {
            continue;
        }
        loop {
            buf.clear();
            let Some(first) = rx.recv().await else { return };
            first.encode(&mut buf);
            while buf.len() < WRITE_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(f) => f.encode(&mut buf),
                    Err(_) => break,
                }
            }
            if let Err(e) = stream.write_all(&buf).await {
                info!(peer = %peer.id, "peer link down: {e}");
                let _ = driver.send(DriverMsg::Peer(PeerEvent::Down { id: peer.id })).await;
                break;
            }
        }
    }
}
