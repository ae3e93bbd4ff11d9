//! Is anything answering HTTP at an address? One `GET /up` over a fresh connection; any
//! HTTP status counts, since the point is the transport (name, port, TLS), not the route.
//!
//! The request is written by hand rather than with an HTTP client so that "the port speaks
//! TLS" and "the port speaks something else" can be told apart from the first bytes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::transport::{self, TransportError};
use crate::check::Check;
use crate::endpoint::{Endpoint, Scheme};

/// Why an address does not answer HTTP.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReachError {
    /// Name, TCP or TLS failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Plain HTTP was sent to a port that speaks TLS.
    #[error("the port speaks TLS but the scheme is http")]
    TlsPort,
    /// The answer is not HTTP.
    #[error("the port answered, but not with HTTP")]
    NotHttp,
    /// The connection closed without an answer.
    #[error("the connection closed without an HTTP answer")]
    Closed,
    /// Connected, but no answer in time.
    #[error("connected, but no HTTP answer within {0} s")]
    Silent(u64),
}

impl ReachError {
    /// What to change; `vars` names the variables that produced the address.
    pub(crate) fn fix(&self, endpoint: &Endpoint, vars: &str, browser: bool) -> String {
        match self {
            ReachError::Transport(err) => err.fix(vars, browser),
            ReachError::TlsPort => format!("use scheme https for port {} in {vars}", endpoint.port),
            ReachError::Closed if endpoint.scheme == Scheme::Http => format!(
                "if port {} is a TLS port use scheme https in {vars}, otherwise point {vars} at the server's port",
                endpoint.port
            ),
            ReachError::NotHttp | ReachError::Closed | ReachError::Silent(_) => {
                format!("another service listens on port {}: point {vars} at the server's port", endpoint.port)
            }
        }
    }
}

/// Sends `GET /up` and returns the HTTP status.
pub(crate) async fn probe(endpoint: &Endpoint, limit: Duration) -> Result<u16, ReachError> {
    let mut stream = transport::connect(endpoint, limit).await?;
    let request = format!(
        "GET {}/up HTTP/1.1\r\nHost: {}\r\nUser-Agent: sockwave-doctor\r\nConnection: close\r\n\r\n",
        endpoint.path_prefix,
        endpoint.authority()
    );
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 512];
        let mut filled = 0;
        // Enough bytes for a status line, or the end of the stream.
        while filled < 12 {
            let read = stream.read(&mut head[filled..]).await?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        head.truncate(filled);
        Ok::<_, std::io::Error>(head)
    };
    let head = match tokio::time::timeout(limit, exchange).await {
        Err(_) => return Err(ReachError::Silent(limit.as_secs())),
        Ok(Err(_)) => return Err(ReachError::Closed),
        Ok(Ok(head)) => head,
    };
    classify(&head)
}

/// Reads the status from the first bytes of the answer.
fn classify(head: &[u8]) -> Result<u16, ReachError> {
    match head.first() {
        None => return Err(ReachError::Closed),
        // TLS records start with 0x15 (alert) or 0x16 (handshake).
        Some(0x15 | 0x16) => return Err(ReachError::TlsPort),
        Some(_) => {}
    }
    let text = String::from_utf8_lossy(head);
    if text.contains("plain HTTP request was sent to HTTPS port") {
        return Err(ReachError::TlsPort);
    }
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok());
    status.ok_or(ReachError::NotHttp)
}

/// The check for one side (`browser` or the backend); `vars` names the variables behind
/// the address.
pub(crate) async fn check(
    name: &str,
    endpoint: &Endpoint,
    vars: &str,
    browser: bool,
    limit: Duration,
) -> Check {
    match probe(endpoint, limit).await {
        Ok(status) => Check::pass(name, format!("{endpoint} answers HTTP (GET /up: {status})")),
        Err(err) => Check::fail(
            name,
            format!("{endpoint}: {err}"),
            err.fix(endpoint, vars, browser),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_bytes() {
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n").unwrap(), 200);
        assert!(matches!(
            classify(b"\x15\x03\x01\x00\x02"),
            Err(ReachError::TlsPort)
        ));
        assert!(matches!(
            classify(b"SSH-2.0-OpenSSH"),
            Err(ReachError::NotHttp)
        ));
        assert!(matches!(classify(b""), Err(ReachError::Closed)));
    }
}
