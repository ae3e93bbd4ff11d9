//! TLS diagnoses against a local TLS listener with a self-signed `localhost` certificate
//! (fixtures/tls, valid for 100 years): https to it must be reported as an untrusted
//! certificate, and plain http to it as a TLS port.

use std::net::SocketAddr;
use std::sync::Arc;

use sockwave_doctor::check::Status::Fail;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::support::{args, expect, fixture, laravel_env, run, TempEnv};

async fn start_tls_listener() -> SocketAddr {
    let cert = std::fs::read(fixture("tls/self-signed-localhost.cert.der")).unwrap();
    let key = std::fs::read(fixture("tls/self-signed-localhost.key.der")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The handshake is expected to fail; the client side is under test.
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    addr
}

fn env_for(addr: SocketAddr, scheme: &str) -> TempEnv {
    let text = laravel_env(addr, "app-key", "app-secret")
        .replace("PUSHER_HOST=127.0.0.1", "PUSHER_HOST=localhost")
        .replace("PUSHER_SCHEME=http", &format!("PUSHER_SCHEME={scheme}"));
    TempEnv::new(&text)
}

#[tokio::test]
async fn a_self_signed_certificate_is_untrusted() {
    let addr = start_tls_listener().await;
    let env = env_for(addr, "https");
    let report = run(args(env.path.clone())).await;
    let port = addr.port();
    expect(
        &report,
        "backend reachable",
        Fail,
        &format!("https://localhost:{port}: TLS handshake with localhost:{port} failed: the certificate is not signed by a publicly trusted authority (self-signed or a local CA)"),
        Some("use a certificate from a public CA (e.g. Let's Encrypt); a local CA (mkcert, Valet, Herd) may be trusted by your browser but not by this check (Mozilla's roots) nor by PHP's cURL unless configured"),
    );
}

#[tokio::test]
async fn plain_http_to_a_tls_port_is_explained() {
    let addr = start_tls_listener().await;
    let env = env_for(addr, "http");
    let report = run(args(env.path.clone())).await;
    let port = addr.port();
    expect(
        &report,
        "backend reachable",
        Fail,
        &format!("http://localhost:{port}: the port speaks TLS but the scheme is http"),
        Some(&format!(
            "use scheme https for port {port} in PUSHER_SCHEME/HOST/PORT"
        )),
    );
}
