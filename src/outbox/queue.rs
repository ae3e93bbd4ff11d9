//! One socket's queue of outbound frames: what is waiting, how far the front frame got, and
//! how the front is offered to one vectored write (headers built on the stack, payloads
//! shared). `SocketHandle` (the module above) holds it under its lock.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::fanout;
use sockwave_protocol::websocket::{compressed_header, header, Header, Opcode};

/// Most frames one vectored write carries.
pub(super) const MAX_FRAMES_PER_WRITE: usize = 32;

/// One frame waiting in a queue.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) opcode: Opcode,
    /// A `permessage-deflate` compressed message (RSV1 set).
    pub(super) compressed: bool,
    pub(super) payload: Bytes,
}

impl Queued {
    pub(super) fn plain(opcode: Opcode, payload: Bytes) -> Queued {
        Queued {
            opcode,
            compressed: false,
            payload,
        }
    }

    fn header(&self) -> Header {
        match self.compressed {
            true => compressed_header(self.opcode, self.payload.len()),
            false => header(self.opcode, self.payload.len()),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) frames: VecDeque<Queued>,
    /// Bytes of the front frame (header included) already written.
    pub(super) written: usize,
    /// The socket for direct writes; `None` for TLS, and once sealed.
    pub(super) direct: Option<Arc<TcpStream>>,
    /// No more frames are accepted: the close frame is queued, or the socket is gone.
    pub(super) sealed: bool,
    /// While the task handles client messages, new frames wait here and its replies are
    /// inserted at this index, so a reply goes out before what its handling triggered.
    pub(super) hold: Option<usize>,
    /// Since when (`clock` ms) queued bytes wait for the socket; 0 when nothing waits.
    pub(super) stalled_since: u64,
}

impl Queue {
    /// Offers the front of the queue (at most `MAX_FRAMES_PER_WRITE` frames, headers built
    /// on the stack, payloads shared) to one vectored `write`.
    pub(super) fn write_some(
        &self,
        write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        fanout::assert_writes_allowed();
        let mut headers = [None::<Header>; MAX_FRAMES_PER_WRITE];
        for (slot, queued) in headers.iter_mut().zip(&self.frames) {
            *slot = Some(queued.header());
        }
        let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES_PER_WRITE];
        let mut n_slices = 0;
        let mut skip = self.written;
        for (head, queued) in headers.iter().map_while(Option::as_ref).zip(&self.frames) {
            for part in [head.as_bytes(), &queued.payload] {
                if skip >= part.len() {
                    skip -= part.len();
                } else {
                    slices[n_slices] = IoSlice::new(&part[skip..]);
                    n_slices += 1;
                    skip = 0;
                }
            }
        }
        write(&slices[..n_slices])
    }

    /// The socket is gone: nothing queued will be written, nothing more is accepted.
    pub(super) fn seal(&mut self) {
        self.sealed = true;
        self.direct = None;
        self.frames = VecDeque::new();
        self.written = 0;
    }

    /// Drops the frames the last `n` written bytes completed.
    pub(super) fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.frames.front() {
            let total = front.header().as_bytes().len() + front.payload.len();
            let left = total - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.frames.pop_front();
            if let Some(at) = &mut self.hold {
                *at = at.saturating_sub(1);
            }
        }
    }
}
