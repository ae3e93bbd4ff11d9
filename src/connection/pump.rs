//! The connection task's view of its socket: what happened next (a close request, client
//! messages, the end of the stream), with queued frames flushed on the way.
//!
//! Reads go into one scratch buffer per worker thread, borrowed only while the bytes are
//! decoded, never across an `.await`; the socket itself keeps only the decoder's leftover of
//! an incomplete frame. That is how an idle connection owns no read buffer.

use std::cell::RefCell;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio_util::either::Either;

use crate::outbox::stream::SocketIo;
use crate::outbox::{CloseRequest, SocketHandle};
use crate::tls::sealed;
use sockwave_protocol::websocket::{Decoder, Incoming, ProtocolError};

/// Bytes one read takes at most. Client frames are small; a bigger message takes several
/// reads, bounded overall by the decoder's message limit.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

/// What the task acts on.
#[derive(Debug)]
pub(crate) enum Event {
    /// Somebody asked for the socket to close.
    CloseRequested(CloseRequest),
    /// Complete client messages (possibly none, after a partial frame).
    Messages(Vec<Incoming>),
    /// The client broke the framing rules; messages before the error came first.
    Invalid(Vec<Incoming>, ProtocolError),
    /// End of stream or a broken connection.
    Gone,
}

/// The transport and the framing state of one socket.
#[derive(Debug)]
pub(crate) struct Pump {
    /// The transport.
    pub(crate) io: SocketIo,
    decoder: Decoder,
    /// Bytes the client sent right behind its upgrade request.
    early: Option<Vec<u8>>,
}

impl Pump {
    /// A pump over an upgraded stream; `early` holds bytes read along with the request;
    /// `inflate` when the connection negotiated `permessage-deflate`.
    pub(crate) fn new(io: SocketIo, max_message: usize, inflate: bool, early: Vec<u8>) -> Pump {
        let decoder = Decoder::new(max_message);
        Pump {
            io,
            decoder: match inflate {
                true => decoder.inflating(),
                false => decoder,
            },
            early: (!early.is_empty()).then_some(early),
        }
    }

    /// A pump over the stream hyper hands back after the upgrade; `None` if it is neither
    /// plain TCP nor TLS. Not async on purpose: the TLS stream type is large, and a value
    /// alive across an `.await` would make every socket's task that large.
    pub(crate) fn upgraded(
        upgraded: hyper::upgrade::Upgraded,
        max_message: usize,
        inflate: bool,
    ) -> Option<Pump> {
        let parts = upgraded
            .downcast::<TokioIo<crate::tls::accept::Stream>>()
            .ok()?;
        let mut early = parts.read_buf.to_vec();
        let io = match parts.io.into_inner() {
            Either::Left(tcp) => SocketIo::Tcp(Arc::new(tcp)),
            Either::Right(tls) if sealed::can_offload(&tls) => {
                match sealed::offload(tls, &mut early) {
                    Ok(stream) => SocketIo::Sealed(Box::new(stream)),
                    Err(err) => {
                        tracing::warn!(error = %err, "closing a TLS WebSocket");
                        return None;
                    }
                }
            }
            Either::Right(tls) => SocketIo::Tls(Box::new(tls)),
        };
        Some(Pump::new(io, max_message, inflate, early))
    }

    /// Waits for the next event, writing the socket's queued frames meanwhile.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
    ) -> Poll<Event> {
        socket.register(cx);
        if let Some(request) = socket.requested_close() {
            return Poll::Ready(Event::CloseRequested(request));
        }
        if let Poll::Ready(Err(_)) = socket.poll_flush(cx, &mut self.io) {
            return Poll::Ready(Event::Gone);
        }
        self.poll_read(cx)
    }

    /// Reads and decodes what the client sent.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if let Some(mut early) = self.early.take() {
            return Poll::Ready(self.decode(&mut early));
        }
        SCRATCH.with_borrow_mut(|scratch| match self.io.poll_read(cx, scratch) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(Event::Gone),
            Poll::Ready(Ok(n)) => Poll::Ready(self.decode(&mut scratch[..n])),
        })
    }

    fn decode(&mut self, bytes: &mut [u8]) -> Event {
        let mut messages = Vec::new();
        match self
            .decoder
            .feed(bytes, &mut |message| messages.push(message))
        {
            Ok(()) => Event::Messages(messages),
            Err(err) => Event::Invalid(messages, err),
        }
    }
}
