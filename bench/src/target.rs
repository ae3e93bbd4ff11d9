//! Where the server under test is, with which credentials, and from which local addresses the
//! bench connects.
//!
//! Only loopback targets are accepted: the bench is a load generator, and load may only go to
//! this machine. Client sockets are bound round-robin to 127.0.0.2–127.0.0.250 before they
//! connect, so each source address has its own ephemeral-port range (about 28k ports each):
//! a churn run that leaves hundreds of thousands of sockets in TIME_WAIT still finds ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context as _};
use hyper::Uri;
use tokio::net::{TcpSocket, TcpStream};

/// First and last host byte of the source addresses (127.0.0.x).
const FIRST_SOURCE: u8 = 2;
const LAST_SOURCE: u8 = 250;

/// The server under test and the app the bench uses.
#[derive(Debug)]
pub(crate) struct Target {
    /// Address of the WebSocket endpoint.
    pub(crate) ws_addr: SocketAddr,
    /// `ws://host:port/prefix/app/{key}?protocol=7…`, the URL a client upgrades on.
    pub(crate) ws_url: String,
    /// Address of the HTTP API.
    pub(crate) http_addr: SocketAddr,
    /// Deployment path prefix of the HTTP API (usually empty).
    pub(crate) http_prefix: String,
    /// `Host` header for HTTP requests.
    pub(crate) http_host: String,
    /// App id, as in `/apps/{id}/events`.
    pub(crate) app_id: String,
    /// App key.
    pub(crate) key: String,
    /// App secret, for HTTP API and channel-auth signatures.
    pub(crate) secret: String,
    /// How subscribers connect.
    pub(crate) transport: Transport,
    /// `Host` header for the WebSocket port's HTTP transports.
    pub(crate) ws_host: String,
    /// `{prefix}/app/{key}`: where the HTTP transports' session URLs start.
    pub(crate) xhr_base: String,
    next_source: AtomicUsize,
}

/// How subscribers reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// WebSocket.
    Ws,
    /// pusher-js's `xhr_streaming` fallback.
    XhrStreaming,
}

impl Target {
    /// Parses the two base URLs (`ws://127.0.0.1:6001`, `http://127.0.0.1:6001`).
    pub(crate) fn new(
        ws_base: &str,
        http_base: &str,
        app_id: &str,
        key: &str,
        secret: &str,
    ) -> anyhow::Result<Target> {
        let (ws_addr, ws_authority, ws_prefix) = parse_base(ws_base, "ws")?;
        let (http_addr, http_host, http_prefix) = parse_base(http_base, "http")?;
        // pusher-js's query string; the version is what Pusher servers check.
        let ws_url =
            format!("ws://{ws_authority}{ws_prefix}/app/{key}?protocol=7&client=js&version=8.4.0");
        Ok(Target {
            transport: Transport::Ws,
            xhr_base: format!("{ws_prefix}/app/{key}"),
            ws_host: ws_authority,
            ws_addr,
            ws_url,
            http_addr,
            http_prefix,
            http_host,
            app_id: app_id.to_string(),
            key: key.to_string(),
            secret: secret.to_string(),
            next_source: AtomicUsize::new(0),
        })
    }

    /// The same target with subscribers on `transport`.
    pub(crate) fn with_transport(mut self, transport: Transport) -> Target {
        self.transport = transport;
        self
    }

    /// A TCP connection to `addr` from the next source address.
    pub(crate) async fn connect_tcp(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let n_sources = usize::from(LAST_SOURCE - FIRST_SOURCE) + 1;
        let index = self.next_source.fetch_add(1, Ordering::Relaxed) % n_sources;
        let host_byte = FIRST_SOURCE + u8::try_from(index).expect("index < 249");
        let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host_byte)), 0);
        let socket = TcpSocket::new_v4()?;
        socket.bind(source)?;
        let stream = socket.connect(addr).await?;
        // Pusher frames are small; Nagle would add up to 40 ms to every one of them.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Splits `scheme://host:port/prefix` into a loopback socket address, the authority as
/// written, and the path prefix without a trailing slash.
fn parse_base(base: &str, scheme: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let uri: Uri = base
        .parse()
        .with_context(|| format!("'{base}' is not a URL"))?;
    if uri.scheme_str() != Some(scheme) {
        bail!("'{base}' must start with {scheme}://");
    }
    let authority = uri
        .authority()
        .with_context(|| format!("'{base}' has no host"))?
        .to_string();
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(6001);
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve '{host}'"))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("'{host}' has no IPv4 address"))?;
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: the bench only drives servers on this machine");
    }
    let prefix = uri.path().trim_end_matches('/').to_string();
    Ok((addr, authority, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_bases_and_refuses_others() {
        let target = Target::new(
            "ws://127.0.0.1:7001/ws",
            "http://localhost:7001",
            "id",
            "k",
            "s",
        )
        .unwrap();
        assert_eq!(target.ws_addr.port(), 7001);
        assert_eq!(
            target.ws_url,
            "ws://127.0.0.1:7001/ws/app/k?protocol=7&client=js&version=8.4.0"
        );
        assert!(target.http_addr.ip().is_loopback());
        assert_eq!(target.http_prefix, "");
        assert!(Target::new("ws://10.0.0.1:6001", "http://127.0.0.1", "i", "k", "s").is_err());
        assert!(Target::new("http://127.0.0.1:6001", "http://127.0.0.1", "i", "k", "s").is_err());
    }
}
