//! A WebSocket echo server built on nothing but this crate's framing, for the
//! Autobahn|Testsuite fuzzingclient (`scripts/autobahn`): it answers the upgrade with
//! `accept_key`, decodes frames with `Decoder`, writes frames with `header`, and echoes every
//! text and binary message. Pings get pongs, a close is answered with the same code, and a
//! protocol error closes with its code and drops the TCP connection at once — what the
//! server does.
//!
//! Plain blocking sockets and a thread per connection: the point is the framing, not the I/O.
//! `permessage-deflate` is negotiated as the server does (`deflate::negotiate`), and then
//! every echoed message is compressed on its own, so the suite's compression cases (12.x,
//! 13.x) check the same code the server runs.
//!
//! `cargo run -p sockwave-protocol --example echo_server -- 127.0.0.1:9001` prints the bound
//! address on its first line.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use sockwave_protocol::websocket::{
    accept_key, close_payload, compressed_header, deflate, header, Decoder, Incoming, Opcode,
    PerMessageDeflate,
};

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

/// What the upgrade request says: the client's key, the compression agreed to, and any
/// bytes read past the head.
struct Head {
    key: String,
    deflate: Option<PerMessageDeflate>,
    early: Vec<u8>,
}

/// Reads the upgrade request.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Head>> {
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
    let values = |wanted: &'static str| {
        head.lines().filter_map(move |line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim())
        })
    };
    let key = values("sec-websocket-key").next().map(str::to_string);
    let deflate = deflate::negotiate(values("sec-websocket-extensions"));
    Ok(key.map(|key| Head {
        key,
        deflate,
        early: received[end..].to_vec(),
    }))
}

fn send(stream: &mut TcpStream, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
    let head = header(opcode, payload.len());
    stream.write_all(&[head.as_bytes(), payload].concat())
}

/// Echoes a data message, compressed when the connection agreed to it.
fn echo(
    stream: &mut TcpStream,
    deflate: Option<PerMessageDeflate>,
    opcode: Opcode,
    payload: &[u8],
) -> io::Result<()> {
    let compressed = deflate.and_then(|d| deflate::compress(payload, d.server_window_bits));
    match compressed {
        Some(compressed) => {
            let head = compressed_header(opcode, compressed.len());
            stream.write_all(&[head.as_bytes(), &compressed].concat())
        }
        None => send(stream, opcode, payload),
    }
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let Some(Head {
        key,
        deflate,
        mut early,
    }) = read_head(&mut stream)?
    else {
        return Ok(());
    };
    let extension = deflate
        .map(|d| format!("Sec-WebSocket-Extensions: {}\r\n", d.response_header()))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extension}\r\n",
        accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes())?;
    let mut decoder = Decoder::new(MAX_MESSAGE);
    if deflate.is_some() {
        decoder = decoder.inflating();
    }
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
                Incoming::Text(text) => echo(&mut stream, deflate, Opcode::Text, text.as_bytes())?,
                Incoming::Binary(bytes) => echo(&mut stream, deflate, Opcode::Binary, &bytes)?,
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
