//! The byte stream under one WebSocket: plain TCP, shared with the socket's handle for
//! direct writes, or TLS, owned by the connection task alone: TLS 1.3 on its record keys
//! (`tls::sealed`), other TLS through rustls.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::tls::sealed::SealedStream;

/// An upgraded connection's transport.
#[derive(Debug)]
pub(crate) enum SocketIo {
    /// Plain TCP. The handle writes to it directly; reads and waits for writability happen
    /// here, through readiness, so both can use the stream at once.
    Tcp(Arc<TcpStream>),
    /// TLS 1.3 after the handshake: record keys and the socket; only the task reads and
    /// writes, as sealing needs `&mut`.
    Sealed(Box<SealedStream>),
    /// Other TLS (1.2): rustls state needs `&mut`, so only the task reads and writes.
    Tls(Box<TlsStream<TcpStream>>),
}

impl SocketIo {
    /// The stream the handle may write to directly, for plain TCP.
    pub(crate) fn direct(&self) -> Option<Arc<TcpStream>> {
        match self {
            SocketIo::Tcp(tcp) => Some(tcp.clone()),
            SocketIo::Sealed(_) | SocketIo::Tls(_) => None,
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` is the end of the stream.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            SocketIo::Tcp(tcp) => loop {
                ready!(tcp.poll_read_ready(cx))?;
                match tcp.try_read(buf) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    result => return Poll::Ready(result),
                }
            },
            SocketIo::Sealed(sealed) => sealed.poll_read(cx, buf),
            SocketIo::Tls(tls) => {
                let mut read = ReadBuf::new(buf);
                ready!(Pin::new(tls.as_mut()).poll_read(cx, &mut read))?;
                Poll::Ready(Ok(read.filled().len()))
            }
        }
    }

    /// Writes as much of `bufs` as the socket takes now.
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            SocketIo::Tcp(tcp) => loop {
                ready!(tcp.poll_write_ready(cx))?;
                match tcp.try_write_vectored(bufs) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    result => return Poll::Ready(result),
                }
            },
            SocketIo::Sealed(sealed) => sealed.poll_write_vectored(cx, bufs),
            SocketIo::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    /// Pushes buffered TLS records to the socket (plain TCP buffers nothing).
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            SocketIo::Tcp(_) => Poll::Ready(Ok(())),
            SocketIo::Sealed(sealed) => sealed.poll_flush(cx),
            SocketIo::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    /// Ends the write side: TLS close_notify, TCP FIN.
    pub(crate) async fn shutdown(&mut self) {
        let _ = std::future::poll_fn(|cx| match self {
            SocketIo::Tcp(tcp) => {
                // `&TcpStream` cannot shut down through AsyncWrite; the socket2 view can.
                Poll::Ready(
                    socket2::SockRef::from(tcp.as_ref()).shutdown(std::net::Shutdown::Write),
                )
            }
            SocketIo::Sealed(sealed) => sealed.poll_shutdown(cx),
            SocketIo::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        })
        .await;
    }
}
