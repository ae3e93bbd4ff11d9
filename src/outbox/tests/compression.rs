//! Sockets that negotiated `permessage-deflate`: what goes out compressed, and that a
//! broadcast is compressed once.

use super::*;
use crate::outbox::deflate::Compression;
use sockwave_protocol::websocket::deflate;

fn compression(offer: &str, min_bytes: usize) -> Option<Compression> {
    let agreed = deflate::negotiate([offer]).expect("a valid offer");
    Some(Compression::new(agreed, min_bytes))
}

fn compressing(server: Option<Arc<TcpStream>>, compression: Option<Compression>) -> SocketHandle {
    SocketHandle::compressing(
        socket_id(),
        64,
        server,
        compression,
        Arc::new(AppMetrics::default()),
    )
}

/// A JSON event of about `len` bytes, compressible as real events are.
fn event(seq: usize, len: usize) -> Frame {
    let mut data = format!(
        r#"{{"event":"stats.updated","channel":"private-dashboard-stats","data":"{{\"seq\":{seq}"#
    );
    while data.len() + 40 < len {
        data.push_str(r#",\"router\":\"edge-1\",\"rx\":12345"#);
    }
    data.push_str(r#"}"}"#);
    Frame::from(data)
}

#[tokio::test]
async fn a_broadcast_reaches_each_socket_compressed_from_one_compression() {
    let default = compression("permessage-deflate; client_max_window_bits", 256);
    let narrow = compression("permessage-deflate; server_max_window_bits=9", 256);
    let sockets = [default, default, narrow, None].map(|c| compressing(None, c));
    let frame = event(1, 1000);
    let mut flushes = Flushes::new();
    for socket in &sockets {
        assert!(flushes.send(socket, &frame));
    }
    flushes.flush();
    let fronts: Vec<(bool, Bytes)> = sockets
        .iter()
        .map(|socket| {
            let queue = socket.lock();
            let front = queue.frames.front().expect("queued");
            (front.compressed, front.payload.clone())
        })
        .collect();
    assert!(fronts[0].0 && fronts[1].0 && fronts[2].0 && !fronts[3].0);
    assert_eq!(
        fronts[0].1.as_ptr(),
        fronts[1].1.as_ptr(),
        "compressed once, shared"
    );
    assert_ne!(
        fronts[0].1.as_ptr(),
        fronts[2].1.as_ptr(),
        "another window size"
    );
    assert_eq!(
        fronts[3].1.as_ptr(),
        frame.as_bytes().as_ptr(),
        "the frame itself"
    );
    assert!(
        fronts[0].1.len() * 3 < frame.len(),
        "{} of {}",
        fronts[0].1.len(),
        frame.len()
    );
    for (_, payload) in &fronts[..3] {
        assert_eq!(
            deflate::inflate(payload, 1 << 20).unwrap(),
            frame.as_bytes()
        );
    }
}

#[tokio::test]
async fn a_client_reads_every_frame_whether_compressed_or_not() {
    let (server, mut client) = pair(false).await;
    client.inflate = true;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = compressing(Some(server.clone()), compression("permessage-deflate", 256));
    // Short frames go out as they are, long ones compressed; replies too; in order.
    let sizes = [10, 2000, 255, 400, 70_000, 600];
    for (seq, len) in sizes.iter().enumerate() {
        assert!(handle.try_send(&event(seq, *len)).accepted());
    }
    handle.hold();
    handle.release(vec![
        (Opcode::Text, event(90, 3000).bytes()),
        (
            Opcode::Pong,
            Bytes::from_static(b"ping payload, never compressed"),
        ),
        (Opcode::Text, event(91, 20).bytes()),
    ]);
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("all frames", client.frames(sizes.len() + 3))
    );
    flushed.unwrap();
    let expected: Vec<(Opcode, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(seq, len)| (Opcode::Text, event(seq, *len).as_bytes().to_vec()))
        .chain([
            (Opcode::Text, event(90, 3000).as_bytes().to_vec()),
            (Opcode::Pong, b"ping payload, never compressed".to_vec()),
            (Opcode::Text, event(91, 20).as_bytes().to_vec()),
        ])
        .collect();
    assert_eq!(frames, expected);
    // The frames of 2,000, 400, 70,000 and 600 bytes and the 3,000-byte reply.
    assert_eq!(client.compressed, 5);
    client.expect_nothing().await;
}
