//! Native TLS: a test CA and certificate made with `openssl` for this run, wss and https
//! through rustls clients that trust only that CA, the hints for the wrong protocol on
//! either port, and a certificate reload that keeps existing sockets.

use sockwave::app::AppId;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use sockwave::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A directory with `ca.pem`, and `cert.pem` + `key.pem` for localhost signed by it.
struct TestPki {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestPki {
    fn new(name: &str) -> TestPki {
        let dir = std::env::temp_dir().join(format!("sockwave-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-days",
            "2",
            "-subj",
            "/CN=sockwave test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&dir, &ca);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let pki = TestPki { dir };
        pki.issue("cert.pem", "key.pem");
        pki
    }

    /// Issues a new localhost certificate into `cert`/`key` (written whole, then renamed).
    fn issue(&self, cert: &str, key: &str) {
        let mut request = vec!["req"];
        request.extend([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ]);
        request.extend([
            "-subj",
            "/CN=localhost",
            "-keyout",
            "new.key",
            "-out",
            "new.csr",
        ]);
        openssl(&self.dir, &request);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                "new.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "new.pem",
            ],
        );
        std::fs::rename(self.dir.join("new.key"), self.dir.join(key)).unwrap();
        std::fs::rename(self.dir.join("new.pem"), self.dir.join(cert)).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn connector(&self) -> TlsConnector {
        self.connector_for(rustls::DEFAULT_VERSIONS)
    }

    fn connector_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(self.path("ca.pem")).unwrap();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_tls(pki: &TestPki) -> Server {
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    start(move |c| {
        c.server.tls_cert = Some(cert);
        c.server.tls_key = Some(key);
    })
    .await
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(pki: &TestPki, addr: SocketAddr) -> (TlsStream, CertificateDer<'static>) {
    tls_connect_with(pki.connector(), addr).await
}

async fn tls_connect_with(
    connector: TlsConnector,
    addr: SocketAddr,
) -> (TlsStream, CertificateDer<'static>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.expect("TLS handshake");
    let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    (stream, leaf)
}

async fn next_event(ws: &mut tokio_tungstenite::WebSocketStream<TlsStream>) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn wss(pki: &TestPki, addr: SocketAddr) -> tokio_tungstenite::WebSocketStream<TlsStream> {
    wss_with(pki.connector(), addr).await
}

async fn wss_with(
    connector: TlsConnector,
    addr: SocketAddr,
) -> tokio_tungstenite::WebSocketStream<TlsStream> {
    let (stream, _) = tls_connect_with(connector, addr).await;
    let url = format!(
        "wss://localhost:{}/app/{KEY}?protocol=7&client=js&version=8.4.0",
        addr.port()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let established = next_event(&mut ws).await;
    assert_eq!(established["event"], "pusher:connection_established");
    ws
}

#[tokio::test]
async fn wss_and_https_with_a_test_ca() {
    let pki = TestPki::new("serve");
    let server = start_tls(&pki).await;
    let addr = server.local_addr();
    let summary = server.context().tls.as_ref().unwrap().summary();
    assert_eq!(summary.names, ["localhost", "127.0.0.1"]);
    assert!(!summary.expired);

    let (mut stream, _) = tls_connect(&pki, addr).await;
    stream
        .write_all(b"GET /up HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap_or_default();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let mut ws = wss(&pki, addr).await;
    use futures_util::SinkExt;
    ws.send(Message::text(
        r#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        next_event(&mut ws).await["event"],
        "pusher_internal:subscription_succeeded"
    );
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_a_hint() {
    let pki = TestPki::new("plain");
    let server = start_tls(&pki).await;
    let (status, body) = http_get(server.local_addr(), "/up").await;
    assert_eq!(status, 400);
    assert!(
        body.contains(
            "plain HTTP request on the TLS port: use https/wss, or terminate TLS at the proxy"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_tls_handshake_on_the_plain_port_is_closed() {
    let pki = TestPki::new("handshake");
    let server = start(|_| {}).await;
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    assert!(pki.connector().connect(name, tcp).await.is_err());
    let (status, _) = http_get(server.local_addr(), "/up").await;
    assert_eq!(status, 200, "the plain port still serves plain HTTP");
}

#[tokio::test]
async fn changed_certificate_files_are_reloaded_without_dropping_sockets() {
    let pki = TestPki::new("reload");
    let server = start_tls(&pki).await;
    let addr = server.local_addr();
    let (_, old_leaf) = tls_connect(&pki, addr).await;
    let mut existing = wss(&pki, addr).await;
    use futures_util::SinkExt;
    existing
        .send(Message::text(
            r#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#,
        ))
        .await
        .unwrap();
    next_event(&mut existing).await;

    pki.issue("cert.pem", "key.pem");
    // The files are polled every 2 s; wait (bounded) until a new handshake shows the new one.
    let mut new_leaf = old_leaf.clone();
    for _ in 0..60 {
        new_leaf = tls_connect(&pki, addr).await.1;
        if new_leaf != old_leaf {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(
        new_leaf, old_leaf,
        "new connections get the new certificate"
    );

    publish_in_process(&server, "news", "after-reload").await;
    let event = next_event(&mut existing).await;
    assert_eq!(
        event["event"], "after-reload",
        "the old socket is still served"
    );
}

/// TLS 1.3 sockets run on their record keys after the upgrade, TLS 1.2 ones stay on rustls:
/// both carry frames larger than one TLS record each way, and a close ends either cleanly.
#[tokio::test]
async fn big_frames_and_closes_cross_tls_13_and_12_alike() {
    use futures_util::SinkExt;
    let pki = TestPki::new("records");
    let server = start_tls(&pki).await;
    let addr = server.local_addr();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut ws = wss_with(pki.connector_for(&[version]), addr).await;
        // In: a 40 KB subscribe spans three records; its channel name is refused by length.
        let name = "x".repeat(40_000);
        let subscribe = format!(r#"{{"event":"pusher:subscribe","data":{{"channel":"{name}"}}}}"#);
        ws.send(Message::text(subscribe)).await.unwrap();
        let refused = next_event(&mut ws).await;
        assert!(
            refused["event"].as_str().unwrap().ends_with("error"),
            "{version:?}: {refused}"
        );
        ws.send(Message::text(
            r#"{"event":"pusher:subscribe","data":{"channel":"news"}}"#,
        ))
        .await
        .unwrap();
        next_event(&mut ws).await;
        // Out: a 100 KB event spans seven records.
        let data = "y".repeat(100_000);
        publish_data(&server, "news", "big", &data).await;
        let event = next_event(&mut ws).await;
        assert_eq!(event["event"], "big", "{version:?}");
        assert_eq!(
            event["data"].as_str().unwrap().len(),
            data.len(),
            "{version:?}"
        );
        // A close handshake, then the server's end of the stream (close_notify, FIN).
        ws.close(None).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "{version:?}: the server ends the stream");
    }
    let registry = server.context().registry.app(&AppId::from(APP_ID));
    for _ in 0..100 {
        if registry.connection_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(registry.connection_count(), 0);
}

/// Publishes through the server's own publish path (the test's HTTP helpers speak plain HTTP;
/// the protocol tests publish over https with the Node SDK).
async fn publish_in_process(server: &Server, channel: &str, event: &str) {
    publish_data(server, channel, event, "x").await;
}

async fn publish_data(server: &Server, channel: &str, event: &str, data: &str) {
    let ctx = server.context();
    let value = serde_json::json!({"name": event, "channel": channel, "data": data});
    let app = ctx.apps.find_by_id(APP_ID).unwrap();
    let event = sockwave::publish::parse_event(&value, &app.limits, false).unwrap();
    let registry = ctx.registry.app(&AppId::from(APP_ID));
    let reached = sockwave::publish::publish(ctx, &app, &registry, &event).await;
    assert_eq!(reached.unwrap(), 1);
}
