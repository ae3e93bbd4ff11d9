//! A WebSocket echo server built on nothing but this crate's framing, for the
//! Autobahn|Testsuite fuzzingclient (`scripts/autobahn`): it answers the upgrade with
//! `accept_key`, decodes frames with `Decoder`, writes frames with `header`, and echoes every
//! text and binary message. Pings get pongs, a close is answered with the same code, and a
//! protocol error closes with its code and drops the TCP connection at once — what the
//! server does.
//!
//! Plain blocking sockets and a thread per connection: the point is the framing, not the I/O.
//! No extension is negotiated, so the suite reports its compression cases as unimplemented.
//!
//! `cargo run -p sockwave-protocol --example echo_server -- 127.0.0.1:9001` prints the bound
//! address on its first line.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use sockwave_protocol::websocket::{accept_key, close_payload, header, Decoder, Incoming, Opcode};

/// Largest message accepted: above the suite's largest (16 MiB in case 9.1.6).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Largest upgrade request head.
const MAX_HEAD: usize = 16 * 1024;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            // A connection that breaks is the peer's business; the server goes on.
            let _ = serve(stream);
        });
    }
    Ok(())
}

/// Reads the upgrade request; returns the client's key and any bytes read past the head.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if received.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&received[..end]).into_owned();
    let key = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    });
    Ok(key.map(|key| (key, received[end..].to_vec())))
}

fn send(stream: &mut TcpStream, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
    let head = header(opcode, payload.len());
    stream.write_all(&[head.as_bytes(), payload].concat())
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let Some((key, mut early)) = read_head(&mut stream)? else {
        return Ok(());
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes())?;
    let mut decoder = Decoder::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut messages = Vec::new();
        let fed = if early.is_empty() {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            decoder.feed(&mut buf[..n], &mut |message| messages.push(message))
        } else {
            let mut bytes = std::mem::take(&mut early);
            decoder.feed(&mut bytes, &mut |message| messages.push(message))
        };
        // Messages before an error were valid: answer them, then fail the connection.
        for message in messages {
            match message {
                Incoming::Text(text) => send(&mut stream, Opcode::Text, text.as_bytes())?,
                Incoming::Binary(bytes) => send(&mut stream, Opcode::Binary, &bytes)?,
                Incoming::Ping(payload) => send(&mut stream, Opcode::Pong, &payload)?,
                Incoming::Pong => {}
                Incoming::Close(code) => {
                    let payload = code.map(|code| close_payload(code, "")).unwrap_or_default();
                    send(&mut stream, Opcode::Close, &payload)?;
                    return stream.shutdown(Shutdown::Both);
                }
            }
        }
        if let Err(err) = fed {
            let payload = close_payload(err.close_code(), &err.to_string());
            send(&mut stream, Opcode::Close, &payload)?;
            return stream.shutdown(Shutdown::Both);
        }
    }
}
