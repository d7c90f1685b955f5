//! A connection's output: the driver appends whole frames, the connection task writes
//! whatever has gathered in one syscall. Replies and events keep the order the driver
//! queued them in, which is what makes "event before reply" hold on the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::{BufMut, BytesMut};
use tokio::sync::Notify;

/// Bytes a connection may leave unread before the server gives up on it. Bounds memory
/// held for a client that sends requests but never reads the answers.
pub const PENDING_BYTES_MAX: usize = 64 << 20;

#[derive(Default)]
struct Inner {
    buf: BytesMut,
    closing: bool,
}

/// Shared between the driver (writer of frames) and the connection task (the socket).
#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    /// Requests sent to the driver and not yet answered; the reader pauses at a limit.
    pub outstanding: AtomicUsize,
}

impl Outbox {
    /// Appends one frame; `body` writes the payload after the length prefix.
    pub fn push_frame(&self, body: impl FnOnce(&mut BytesMut)) {
        let mut inner = self.inner.lock().expect("outbox lock");
        if inner.closing {
            return;
        }
        let start = inner.buf.len();
        inner.buf.put_i32(0);
        body(&mut inner.buf);
        let len = (inner.buf.len() - start - 4) as i32;
        inner.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        if inner.buf.len() > PENDING_BYTES_MAX {
            tracing::warn!(pending = inner.buf.len(), "client is not reading its replies, closing the connection");
            inner.buf.clear();
            inner.closing = true;
        }
        drop(inner);
        self.notify.notify_one();
    }

    /// Asks the connection to close once what is queued has been written.
    pub fn close(&self) {
        self.inner.lock().expect("outbox lock").closing = true;
        self.notify.notify_one();
    }

    /// Whether `close` was called.
    pub fn is_closing(&self) -> bool {
        self.inner.lock().expect("outbox lock").closing
    }

    /// Takes everything queued, and whether the connection should close after writing it.
    pub fn take(&self) -> (BytesMut, bool) {
        let mut inner = self.inner.lock().expect("outbox lock");
        (inner.buf.split(), inner.closing)
    }

    /// Waits until something was queued or close was asked.
    ///
    /// # Cancel safety
    /// Safe: a notification that arrives while not waiting is kept as a permit.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    /// Marks one request answered and wakes the reader if it had paused.
    pub fn answered(&self) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}
