//! The record layer against a real rustls client: a handshake in memory with a throw-away
//! certificate (made with `openssl`), then records both ways once the server's keys are
//! taken over.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, ServerConnection};

use super::*;

/// A directory with `cert.pem` and `key.pem`, a self-signed localhost certificate made
/// once per test process.
fn certificate() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sockwave-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&dir)
            .output()
            .expect("openssl is installed");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// A client and the server's `Records`, after a handshake with `versions` offered.
fn connected(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (ClientConnection, Records) {
    let dir = certificate();
    let tls = crate::tls::Tls::load(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
    let mut server = ServerConnection::new(tls.acceptor().config().clone()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(dir.join("cert.pem")).unwrap();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(Arc::new(config), name).unwrap();
    while client.is_handshaking() || server.is_handshaking() || server.wants_write() {
        shuttle(&mut client, &mut server);
    }
    shuttle(&mut client, &mut server);
    assert!(!server.wants_write());
    let secrets = server.dangerous_extract_secrets().unwrap();
    (client, Records::new(secrets.tx, secrets.rx).unwrap())
}

/// Moves whatever each side has to send to the other.
fn shuttle(client: &mut ClientConnection, server: &mut ServerConnection) {
    let mut bytes = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut bytes).unwrap();
    }
    if !bytes.is_empty() {
        server.read_tls(&mut &bytes[..]).unwrap();
        server.process_new_packets().unwrap();
    }
    let mut bytes = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut bytes).unwrap();
    }
    if !bytes.is_empty() {
        client.read_tls(&mut &bytes[..]).unwrap();
        client.process_new_packets().unwrap();
    }
}

/// What the client sent, as ciphertext.
fn from_client(client: &mut ClientConnection) -> Vec<u8> {
    let mut bytes = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut bytes).unwrap();
    }
    bytes
}

/// Opens every record in `bytes`.
fn open_all(records: &mut Records, mut bytes: &mut [u8]) -> Result<(Vec<u8>, bool), RecordError> {
    let mut plaintext = Vec::new();
    while let Some(len) = Records::record_len(bytes)? {
        let (record, rest) = bytes.split_at_mut(len);
        match records.open(record)? {
            Opened::Data(range) => plaintext.extend_from_slice(&record[range]),
            Opened::Closed => return Ok((plaintext, true)),
        }
        bytes = rest;
    }
    assert!(bytes.is_empty(), "a partial record was left");
    Ok((plaintext, false))
}

/// The client reads what the server sealed.
fn to_client(client: &mut ClientConnection, sealed: &[u8]) -> Vec<u8> {
    let mut reader = sealed;
    let mut plaintext = Vec::new();
    while !reader.is_empty() {
        client.read_tls(&mut reader).unwrap();
        client.process_new_packets().unwrap();
        let _ = client.reader().read_to_end(&mut plaintext);
    }
    plaintext
}

#[test]
fn records_cross_both_ways_in_every_size() {
    let (mut client, mut records) = connected(&[&rustls::version::TLS13]);
    for size in [
        0usize,
        1,
        100,
        MAX_PLAINTEXT - 1,
        MAX_PLAINTEXT,
        3 * MAX_PLAINTEXT + 7,
    ] {
        let message: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        client.writer().write_all(&message).unwrap();
        let mut ciphertext = from_client(&mut client);
        let (received, closed) = open_all(&mut records, &mut ciphertext).unwrap();
        assert_eq!(received, message, "client to server, {size} bytes");
        assert!(!closed);

        let mut sealed = Vec::new();
        for chunk in message.chunks(MAX_PLAINTEXT) {
            let start = Records::begin(&mut sealed);
            sealed.extend_from_slice(chunk);
            records.finish(&mut sealed, start);
        }
        assert_eq!(
            to_client(&mut client, &sealed),
            message,
            "server to client, {size} bytes"
        );
    }
}

#[test]
fn close_notify_ends_the_stream_both_ways() {
    let (mut client, mut records) = connected(&[&rustls::version::TLS13]);
    client.send_close_notify();
    let mut ciphertext = from_client(&mut client);
    assert_eq!(
        open_all(&mut records, &mut ciphertext),
        Ok((Vec::new(), true))
    );

    let (mut client, mut records) = connected(&[&rustls::version::TLS13]);
    let mut sealed = Vec::new();
    records.seal_close_notify(&mut sealed);
    client.read_tls(&mut &sealed[..]).unwrap();
    let state = client.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
}

#[test]
fn a_key_update_or_a_tampered_record_ends_the_connection() {
    let (mut client, mut records) = connected(&[&rustls::version::TLS13]);
    client.refresh_traffic_keys().unwrap();
    let mut ciphertext = from_client(&mut client);
    assert_eq!(
        open_all(&mut records, &mut ciphertext),
        Err(RecordError::Unsupported)
    );

    let (mut client, mut records) = connected(&[&rustls::version::TLS13]);
    client.writer().write_all(b"hello").unwrap();
    let mut ciphertext = from_client(&mut client);
    let last = ciphertext.len() - 1;
    ciphertext[last] ^= 1;
    assert_eq!(
        open_all(&mut records, &mut ciphertext),
        Err(RecordError::Decrypt)
    );
}

#[test]
fn headers_that_break_the_rules_are_refused_before_decrypting() {
    // A handshake record, an oversize length, and a length shorter than a tag.
    for header in [[22, 3, 3, 0, 40], [23, 3, 3, 0x41, 0x20], [23, 3, 3, 0, 16]] {
        assert_eq!(Records::record_len(&header), Err(RecordError::Malformed));
    }
    assert_eq!(Records::record_len(&[23, 3, 3, 0, 40]), Ok(None));
    assert_eq!(Records::record_len(&[23, 3]), Ok(None));
}
