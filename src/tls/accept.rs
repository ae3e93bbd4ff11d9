//! The first bytes of an accepted connection: TLS handshake on the TLS port, and a precise
//! hint when a client speaks the wrong protocol for the port.
//!
//! A TLS client opens with a handshake record (first byte 0x16); an HTTP request opens with
//! a method name. Peeking at that byte lets the server say exactly what is wrong instead of
//! logging a bare handshake or parse error.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, Duration};
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

use super::Tls;

/// The TLS record type of a handshake, the first byte a TLS client sends.
const TLS_HANDSHAKE: u8 = 0x16;
/// How long the first byte and the TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The hint for plain HTTP on the TLS port (logged, and sent back as a 400).
pub(crate) const PLAIN_ON_TLS_PORT: &str =
    "plain HTTP request on the TLS port: use https/wss, or terminate TLS at the proxy";
/// The hint for a TLS handshake on the plain port (logged).
pub(crate) const TLS_ON_PLAIN_PORT: &str =
    "TLS handshake on a plain port: enable TLS (--tls-cert/--tls-key) or point the client at http/ws";

/// A connection ready for HTTP: plain TCP, or TLS over TCP.
pub(crate) type Stream = Either<TcpStream, TlsStream<TcpStream>>;

/// Checks the first byte and, on the TLS port, completes the handshake. `None` means the
/// connection was answered (or is gone) and must not be served.
pub(crate) async fn prepare(
    tls: Option<&Tls>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<Stream> {
    let mut first = [0u8; 1];
    match timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        // Closed, failed or silent: nothing to serve.
        _ => return None,
    }
    let is_tls = first[0] == TLS_HANDSHAKE;
    match (tls, is_tls) {
        (None, false) => Some(Either::Left(stream)),
        (Some(tls), true) => {
            match timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                Ok(Ok(stream)) => Some(Either::Right(stream)),
                Ok(Err(err)) => {
                    tracing::info!(%peer, error = %err, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    None
                }
            }
        }
        (Some(_), false) => {
            tracing::warn!(%peer, "{PLAIN_ON_TLS_PORT}");
            answer_plain(stream).await;
            None
        }
        (None, true) => {
            tracing::warn!(%peer, "{TLS_ON_PLAIN_PORT}");
            None
        }
    }
}

/// Answers plain HTTP on the TLS port with a 400 naming the problem, then closes.
async fn answer_plain(mut stream: TcpStream) {
    let body = format!("{PLAIN_ON_TLS_PORT}\n");
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = timeout(HANDSHAKE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
