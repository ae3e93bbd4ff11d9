//! One way to open a Redis client, for everything that talks to Redis (the cluster adapter,
//! the shared rate limits): the URL (`redis://`, or `rediss://` for TLS, with a Redis 6 ACL
//! user and password) plus, for TLS, an optional CA and client certificate read from files.

use std::path::Path;

use redis::{ClientTlsConfig, TlsCertificates};

/// The client for `url`. `ca` replaces the Mozilla roots for a `rediss://` server; `client`
/// is a certificate chain and key for servers that require one. The files are read now, so
/// a missing one stops the server at startup, naming it.
pub fn open(
    url: &str,
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<redis::Client, String> {
    if ca.is_none() && client.is_none() {
        return redis::Client::open(url).map_err(|err| err.to_string());
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    let root_cert = ca.map(read).transpose()?;
    let client_tls = match client {
        Some((cert, key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        None => None,
    };
    redis::Client::build_with_tls(
        url,
        TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|err| err.to_string())
}
