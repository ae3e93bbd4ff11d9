//! A WebSocket's TLS 1.3 stream after the upgrade, with rustls handed its keys back: TCP
//! plus `record::Records`. Ciphertext is read into one scratch buffer per worker thread
//! and decrypted in place, and written from another, so an idle socket holds no buffer; a
//! socket keeps bytes only while the kernel will not take them (`unsent`) or a record has
//! arrived in part (`partial`).
//!
//! rustls stays in charge of the handshake, of TLS 1.2 connections and of plain API
//! requests on the TLS port; `offload` is taken only when nothing is left in rustls's
//! buffers that the keys alone could not carry on.

use std::cell::RefCell;
use std::io::{self, IoSlice, Read};
use std::task::{ready, Context, Poll};

use tokio::net::TcpStream;
use tokio_rustls::rustls::ProtocolVersion;
use tokio_rustls::server::TlsStream;

use super::record::{Opened, Records, MAX_PLAINTEXT, MAX_RECORD};

/// Plaintext one write seals at most (four full records): a bigger write takes several.
const WRITE_BATCH: usize = 4 * MAX_PLAINTEXT;

thread_local! {
    /// Ciphertext read from a socket: a partial record carried over plus one read.
    static CIPHER: RefCell<Vec<u8>> = RefCell::new(vec![0; 2 * MAX_RECORD]);
    /// Records sealed for one write: a batch of plaintext plus each record's header, content
    /// type and tag.
    static SEALED: RefCell<Vec<u8>> =
        RefCell::new(Vec::with_capacity(WRITE_BATCH + 4 * (MAX_RECORD - MAX_PLAINTEXT)));
}

/// A TLS 1.3 connection's socket and record keys.
#[derive(Debug)]
pub(crate) struct SealedStream {
    tcp: TcpStream,
    records: Records,
    /// Ciphertext received but not yet decrypted (an incomplete record, or records the
    /// last read had no room for).
    partial: Vec<u8>,
    /// Sealed records the kernel has not taken yet.
    unsent: Vec<u8>,
    /// The peer sent close_notify.
    closed: bool,
    /// This side sent close_notify.
    shut: bool,
}

/// Whether `tls` can continue on its keys alone: TLS 1.3, handshake done, nothing of rustls
/// left to send.
pub(crate) fn can_offload(tls: &TlsStream<TcpStream>) -> bool {
    let (_, conn) = tls.get_ref();
    conn.protocol_version() == Some(ProtocolVersion::TLSv1_3)
        && !conn.is_handshaking()
        && !conn.wants_write()
}

/// Takes `tls` over (see `can_offload`): plaintext rustls decrypted but nobody read yet is
/// appended to `early`, and a close_notify it already took is kept.
pub(crate) fn offload(tls: TlsStream<TcpStream>, early: &mut Vec<u8>) -> io::Result<SealedStream> {
    let (tcp, mut conn) = tls.into_inner();
    let mut chunk = [0u8; 4096];
    let mut closed = false;
    loop {
        match conn.reader().read(&mut chunk) {
            // rustls reads 0 only after the peer's close_notify.
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => early.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    let secrets = conn
        .dangerous_extract_secrets()
        .map_err(|err| io::Error::other(format!("TLS keys could not be taken over: {err}")))?;
    let records = Records::new(secrets.tx, secrets.rx)
        .ok_or_else(|| io::Error::other("TLS cipher suite not supported after the handshake"))?;
    Ok(SealedStream {
        tcp,
        records,
        partial: Vec::new(),
        unsent: Vec::new(),
        closed,
        shut: false,
    })
}

impl SealedStream {
    /// Reads and decrypts what is available into `buf` (at least `MAX_PLAINTEXT` long);
    /// `Ok(0)` is the end of the stream.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        debug_assert!(buf.len() >= MAX_PLAINTEXT);
        if self.closed {
            return Poll::Ready(Ok(0));
        }
        CIPHER.with_borrow_mut(|cipher| loop {
            let held = self.partial.len();
            cipher[..held].copy_from_slice(&self.partial);
            let mut filled = held;
            if Records::record_len(&cipher[..held])
                .map_err(invalid)?
                .is_none()
            {
                ready!(self.tcp.poll_read_ready(cx))?;
                match self.tcp.try_read(&mut cipher[held..]) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(err) => return Poll::Ready(Err(err)),
                    Ok(0) if held > 0 => {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()))
                    }
                    Ok(0) => return Poll::Ready(Ok(0)),
                    Ok(n) => filled += n,
                }
            }
            let (plaintext, consumed) = self.open_records(&mut cipher[..filled], buf)?;
            self.partial.clear();
            self.partial.extend_from_slice(&cipher[consumed..filled]);
            if self.partial.is_empty() {
                // Give back the memory of a burst.
                self.partial = Vec::new();
            }
            if plaintext > 0 || self.closed {
                return Poll::Ready(Ok(plaintext));
            }
        })
    }

    /// Decrypts the complete records at the start of `cipher` into `buf` while they fit;
    /// the plaintext length and the ciphertext bytes used.
    fn open_records(&mut self, cipher: &mut [u8], buf: &mut [u8]) -> io::Result<(usize, usize)> {
        let (mut plaintext, mut at) = (0, 0);
        while let Some(len) = Records::record_len(&cipher[at..]).map_err(invalid)? {
            // The record's plaintext is shorter than the record: room for that is enough.
            if plaintext + len > buf.len() && plaintext > 0 {
                break;
            }
            let record = &mut cipher[at..at + len];
            match self.records.open(record).map_err(invalid)? {
                Opened::Data(range) => {
                    let data = &record[range];
                    buf[plaintext..plaintext + data.len()].copy_from_slice(data);
                    plaintext += data.len();
                }
                Opened::Closed => {
                    self.closed = true;
                    return Ok((plaintext, at + len));
                }
            }
            at += len;
        }
        Ok((plaintext, at))
    }

    /// Seals and writes as much of `bufs` as one batch takes; the plaintext length taken.
    /// Records the kernel does not take at once are kept and pushed before anything else.
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_flush(cx))?;
        // Take plaintext only when the kernel will take records: otherwise they would wait
        // here, in memory of this socket's own.
        ready!(self.tcp.poll_write_ready(cx))?;
        SEALED.with_borrow_mut(|out| {
            out.clear();
            let mut taken = 0;
            let mut pieces = bufs
                .iter()
                .map(|buf| &buf[..])
                .filter(|buf| !buf.is_empty());
            let mut piece = pieces.next();
            while taken < WRITE_BATCH {
                let Some(mut rest) = piece else { break };
                let start = Records::begin(out);
                let mut room = MAX_PLAINTEXT.min(WRITE_BATCH - taken);
                while room > 0 {
                    let n = rest.len().min(room);
                    out.extend_from_slice(&rest[..n]);
                    (taken, room, rest) = (taken + n, room - n, &rest[n..]);
                    if rest.is_empty() {
                        match pieces.next() {
                            Some(next) => rest = next,
                            None => break,
                        }
                    }
                }
                self.records.finish(out, start);
                piece = (!rest.is_empty()).then_some(rest);
            }
            let written = match self.tcp.try_write(out) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Poll::Ready(Err(err)),
            };
            self.unsent.extend_from_slice(&out[written..]);
            Poll::Ready(Ok(taken))
        })
    }

    /// Pushes sealed records the kernel did not take before.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.unsent.is_empty() {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write(&self.unsent) {
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        self.unsent = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// Sends close_notify and ends the TCP write side.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut {
            self.records.seal_close_notify(&mut self.unsent);
            self.shut = true;
        }
        ready!(self.poll_flush(cx))?;
        Poll::Ready(socket2::SockRef::from(&self.tcp).shutdown(std::net::Shutdown::Write))
    }
}

fn invalid(err: super::record::RecordError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}
