//! Opening a connection to an endpoint — name lookup, TCP, then TLS for https — with each
//! failure typed, so the report can say *which* step failed and what that usually means.
//!
//! Certificates are checked against Mozilla's root store (webpki-roots), not the system's:
//! a certificate from a local CA is reported as untrusted, and the fix text says so.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::endpoint::{Endpoint, Scheme};

/// A byte stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection.
pub(crate) type Stream = Box<dyn Io>;

/// Why the TLS handshake failed, in the terms a fix needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TlsFailure {
    /// The server answered with something that is not TLS.
    #[error("the port answered without TLS (it speaks plain HTTP)")]
    PlainPort,
    /// The server closed the connection on the TLS hello.
    #[error(
        "the server closed the connection during the TLS handshake (a plain-HTTP port often does)"
    )]
    Closed,
    /// The certificate chain does not lead to a trusted root.
    #[error(
        "the certificate is not signed by a publicly trusted authority (self-signed or a local CA)"
    )]
    Untrusted,
    /// The certificate is for another name.
    #[error("the certificate is not valid for this host name")]
    WrongHost,
    /// The certificate has expired or is not valid yet.
    #[error("the certificate has expired or is not valid yet")]
    Expired,
    /// Anything else rustls reported.
    #[error("{0}")]
    Other(String),
}

/// Why no connection could be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// The host name does not resolve.
    #[error("host name '{host}' does not resolve from this machine")]
    Dns {
        /// The host.
        host: String,
    },
    /// Nothing listens on the port.
    #[error("connection refused: nothing listens on {authority}")]
    Refused {
        /// `host:port`.
        authority: String,
    },
    /// No answer at the TCP level.
    #[error("no TCP connection to {authority} within {secs} s")]
    Timeout {
        /// `host:port`.
        authority: String,
        /// The limit.
        secs: u64,
    },
    /// Another socket error.
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The cause.
        source: io::Error,
    },
    /// TCP worked, TLS did not.
    #[error("TLS handshake with {authority} failed: {failure}")]
    Tls {
        /// `host:port`.
        authority: String,
        /// What went wrong.
        failure: TlsFailure,
    },
}

impl TransportError {
    /// What to change; `vars` names the variables that produced the address, which the
    /// browser uses when `browser` (a service name never works there).
    pub(crate) fn fix(&self, vars: &str, browser: bool) -> String {
        match self {
            TransportError::Refused { .. } if browser => format!("start the server, or point {vars} at the host and port browsers reach it on (localhost with the port published, or the public name; never a docker compose service name)"),
            TransportError::Dns { .. } => format!("check the host in {vars}; a docker compose service name resolves only inside that network (run the doctor there, or pass --url / --browser-url)"),
            TransportError::Refused { .. } => format!("start the server, or point {vars} at the host and port it listens on; inside a container 127.0.0.1 is the container itself, use the server's service name"),
            TransportError::Timeout { .. } => format!("check firewalls and that the port is open or published; {vars} may name the wrong host"),
            TransportError::Connect { .. } => format!("check {vars}"),
            TransportError::Tls { failure, .. } => match failure {
                TlsFailure::PlainPort | TlsFailure::Closed => format!("this port speaks plain HTTP: use scheme http for it in {vars}, or the TLS port of your proxy (usually 443)"),
                TlsFailure::Untrusted => "use a certificate from a public CA (e.g. Let's Encrypt); a local CA (mkcert, Valet, Herd) may be trusted by your browser but not by this check (Mozilla's roots) nor by PHP's cURL unless configured".to_string(),
                TlsFailure::WrongHost => format!("use the host name the certificate was issued for in {vars}, or reissue the certificate for this name"),
                TlsFailure::Expired => "renew the certificate (and check this machine's clock)".to_string(),
                TlsFailure::Other(_) => format!("check the TLS setup of the proxy or server behind {vars}"),
            },
        }
    }
}

/// Opens a connection to `endpoint`, TLS included for https, within `limit` per step.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    limit: Duration,
) -> Result<Stream, TransportError> {
    let authority = endpoint.authority();
    let timeout = || TransportError::Timeout {
        authority: authority.clone(),
        secs: limit.as_secs(),
    };
    let addrs: Vec<_> = match tokio::time::timeout(
        limit,
        tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    {
        Err(_) => return Err(timeout()),
        Ok(Err(_)) => {
            return Err(TransportError::Dns {
                host: endpoint.host.clone(),
            })
        }
        Ok(Ok(addrs)) => addrs.collect(),
    };
    let mut last_error = None;
    let mut tcp = None;
    for addr in addrs {
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Err(_) => return Err(timeout()),
            Ok(Ok(stream)) => {
                tcp = Some(stream);
                break;
            }
            Ok(Err(err)) => last_error = Some(err),
        }
    }
    let tcp = match (tcp, last_error) {
        (Some(tcp), _) => tcp,
        (None, Some(err)) if err.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(TransportError::Refused { authority })
        }
        (None, Some(source)) => return Err(TransportError::Connect { authority, source }),
        (None, None) => {
            return Err(TransportError::Dns {
                host: endpoint.host.clone(),
            })
        }
    };
    if endpoint.scheme == Scheme::Http {
        return Ok(Box::new(tcp));
    }
    let tls_error = |failure| TransportError::Tls {
        authority: authority.clone(),
        failure,
    };
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|err| tls_error(TlsFailure::Other(err.to_string())))?;
    let handshake = TlsConnector::from(tls_config()).connect(name, tcp);
    match tokio::time::timeout(limit, handshake).await {
        Err(_) => Err(timeout()),
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(err)) => Err(tls_error(tls_failure(&err))),
    }
}

/// One client configuration per process: building the root store is not free.
fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // An explicit provider, so the choice never depends on which rustls features other
            // crates in the build happen to enable.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

fn tls_failure(err: &io::Error) -> TlsFailure {
    if err.kind() == io::ErrorKind::UnexpectedEof || err.kind() == io::ErrorKind::ConnectionReset {
        return TlsFailure::Closed;
    }
    let Some(rustls_error) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return TlsFailure::Other(err.to_string());
    };
    match rustls_error {
        rustls::Error::InvalidMessage(_) => TlsFailure::PlainPort,
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailure::Untrusted
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::WrongHost
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
            // A certificate made with `openssl req -x509` is marked as a CA, and webpki
            // reports that before it reports the unknown issuer.
            other if format!("{other:?}").contains("CaUsedAsEndEntity") => TlsFailure::Untrusted,
            other => TlsFailure::Other(format!("invalid certificate: {other:?}")),
        },
        other => TlsFailure::Other(other.to_string()),
    }
}
