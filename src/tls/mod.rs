//! Native TLS for the WebSocket/API port: loading a PEM certificate chain and key into a
//! rustls `ServerConfig`, and reloading them without a restart when the files change (polled)
//! or on SIGHUP. Existing connections keep the certificate they were accepted with; new ones
//! get the new one.
//!
//! `server.rs` decides whether TLS is on and hands each accepted stream to `accept::prepare`,
//! which completes the handshake or explains a protocol mismatch. A reload that fails keeps
//! the previous certificate.

pub(crate) mod accept;
pub(crate) mod record;
pub(crate) mod sealed;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the certificate files are checked for changes.
pub(crate) const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable key.
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1; encrypted keys are not supported)", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the certificate and key were refused")]
    Refused(#[source] rustls::Error),
}

/// What the startup and reload log lines say about the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// DNS names and IP addresses the leaf certificate is for (SANs, else the subject CN).
    pub names: Vec<String>,
    /// The end of its validity, as printed by the parser (`Nov 24 01:02:03 2027 +00:00`).
    pub not_after: String,
    /// Whether it has expired already.
    pub expired: bool,
}

impl fmt::Display for CertSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = if self.names.is_empty() {
            "no names".to_string()
        } else {
            self.names.join(", ")
        };
        write!(f, "certificate for {names}, expires {}", self.not_after)?;
        if self.expired {
            f.write_str(" (EXPIRED)")?;
        }
        Ok(())
    }
}

/// The current certificate, swappable while the server runs.
pub struct Tls {
    cert_path: PathBuf,
    key_path: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
    summary: RwLock<CertSummary>,
    stamp: Mutex<Stamp>,
}

/// Modification time and length of both files, to notice a change.
type Stamp = [(Option<SystemTime>, u64); 2];

impl Tls {
    /// Loads the certificate chain and key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Tls, TlsError> {
        let stamp = stamp(cert_path, key_path);
        let (config, summary) = build(cert_path, key_path)?;
        Ok(Tls {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            config: RwLock::new(config),
            summary: RwLock::new(summary),
            stamp: Mutex::new(stamp),
        })
    }

    /// An acceptor with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        TlsAcceptor::from(config)
    }

    /// The current certificate's names and expiry.
    pub fn summary(&self) -> CertSummary {
        self.summary
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The certificate and key files.
    pub fn files(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }

    /// Loads the files again and swaps the certificate in; on failure keeps the old one.
    pub fn reload(&self) -> Result<CertSummary, TlsError> {
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) =
            stamp(&self.cert_path, &self.key_path);
        let (config, summary) = build(&self.cert_path, &self.key_path)?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        *self.summary.write().unwrap_or_else(|p| p.into_inner()) = summary.clone();
        Ok(summary)
    }

    /// Whether either file changed since the last load.
    pub fn files_changed(&self) -> bool {
        let now = stamp(&self.cert_path, &self.key_path);
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) != now
    }
}

fn stamp(cert_path: &Path, key_path: &Path) -> Stamp {
    let of = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    };
    [of(cert_path), of(key_path)]
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn build(cert_path: &Path, key_path: &Path) -> Result<(Arc<ServerConfig>, CertSummary), TlsError> {
    let cert_pem = read(cert_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    };
    let summary = summarise(leaf);
    let key_pem = read(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: key_path.to_path_buf(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Refused)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // A WebSocket's TLS 1.3 records are sealed by `record` once the upgrade is done, with
    // the keys rustls hands over (see `sealed`).
    config.enable_secret_extraction = true;
    Ok((Arc::new(config), summary))
}

/// Names and expiry of the leaf certificate; a certificate the parser cannot read still
/// works (rustls decides), it is only described less precisely.
fn summarise(leaf: &CertificateDer<'_>) -> CertSummary {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return CertSummary {
            names: Vec::new(),
            not_after: "unknown".to_string(),
            expired: false,
        };
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => names.push(dns.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        let common_name = cert.subject().iter_common_name().next();
        names.extend(
            common_name
                .and_then(|cn| cn.as_str().ok())
                .map(String::from),
        );
    }
    let not_after = cert.validity().not_after;
    CertSummary {
        names,
        not_after: not_after.to_string(),
        expired: not_after < x509_parser::time::ASN1Time::now(),
    }
}

/// Reloads the certificate when its files change (checked every `POLL_INTERVAL`) and on
/// SIGHUP, until `stop`.
pub(crate) async fn watch(tls: Arc<Tls>, stop: CancellationToken) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP: certificates reload on file changes only");
            None
        }
    };
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => return,
            _ = poll.tick() => {
                if !tls.files_changed() {
                    continue;
                }
                "files changed"
            }
            Some(()) = async { match hangup.as_mut() { Some(signal) => signal.recv().await, None => std::future::pending().await } } => "SIGHUP",
        };
        match tls.reload() {
            Ok(summary) => tracing::info!(trigger = why, "TLS reloaded: {summary}"),
            Err(err) => {
                tracing::error!(trigger = why, error = %error_chain(&err), "TLS reload failed; keeping the previous certificate")
            }
        }
    }
}

/// An error and its causes on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
