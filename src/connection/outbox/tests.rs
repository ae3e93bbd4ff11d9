//! Tests of the outbound side over real loopback TCP pairs (and detached handles).

use super::*;

use std::future::{poll_fn, Future};
use std::sync::atomic::AtomicUsize;
use std::task::Wake;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::timeout;

use crate::registry::SocketIdGenerator;
use sockwave_protocol::websocket::close_payload;

/// The longest any single wait may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

/// Small kernel buffers, so that a client that does not read fills them quickly.
const SMALL_BUFFER: usize = 4096;

fn socket_id() -> SocketId {
    SocketIdGenerator::default().next_id()
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A connected loopback pair: the server side shared as the handle's direct stream, and the
/// client side wrapped in a frame reader. With `small`, both kernel buffers are shrunk.
async fn pair(small: bool) -> (Arc<TcpStream>, Client) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    if small {
        socket.set_recv_buffer_size(SMALL_BUFFER as u32).unwrap();
    }
    let (client, accepted) = within("connect", async {
        tokio::join!(socket.connect(addr), listener.accept())
    })
    .await;
    let client = client.unwrap();
    let (server, _) = accepted.unwrap();
    if small {
        socket2::SockRef::from(&server)
            .set_send_buffer_size(SMALL_BUFFER)
            .unwrap();
    }
    // Let the reactor see the socket writable once: tokio's `try_write_vectored` answers
    // WouldBlock without a syscall while it has no write readiness, so a direct write must
    // not depend on when the reactor first reports it (in the server, hyper's 101 response
    // has done this).
    within("writable", server.writable()).await.unwrap();
    (Arc::new(server), Client::new(client))
}

fn handle_for(server: &Arc<TcpStream>, capacity: usize) -> SocketHandle {
    SocketHandle::new(
        socket_id(),
        capacity,
        Some(server.clone()),
        Arc::new(AppMetrics::default()),
    )
}

/// Flushes until the queue is empty (or the connection breaks), bounded by `WAIT`.
async fn flush(handle: &SocketHandle, io: &mut SocketIo) -> io::Result<()> {
    within("flush", poll_fn(|cx| handle.poll_flush(cx, io))).await
}

/// A text payload that names its sequence number and whose filler depends on it, so a torn
/// or misplaced frame shows.
fn payload(seq: usize, len: usize) -> String {
    let mut text = format!("{seq:08}|");
    let fill = char::from(b'a' + (seq % 26) as u8);
    while text.len() < len {
        text.push(fill);
    }
    text
}

fn frame(seq: usize, len: usize) -> Frame {
    Frame::from(payload(seq, len))
}

/// Sizes that use both the 2-byte and the 4-byte header.
fn size_of(seq: usize) -> usize {
    [20, 300, 3000, 125, 126][seq % 5]
}

fn queued_len(handle: &SocketHandle) -> usize {
    handle.lock().frames.len()
}

fn queued_payloads(handle: &SocketHandle) -> Vec<Vec<u8>> {
    handle
        .lock()
        .frames
        .iter()
        .map(|(_, payload)| payload.to_vec())
        .collect()
}

/// Sends sequence-numbered frames from `next` until one is queued (the kernel buffer is
/// full); returns the outcomes.
fn send_until_queued(handle: &SocketHandle, next: &mut usize) -> Vec<SendOutcome> {
    let mut outcomes = Vec::new();
    for _ in 0..200_000 {
        let outcome = handle.try_send(&frame(*next, size_of(*next)));
        *next += 1;
        outcomes.push(outcome);
        match outcome {
            SendOutcome::Sent => {}
            SendOutcome::Queued => return outcomes,
            other => panic!("unexpected {other:?} while filling the kernel buffer"),
        }
    }
    panic!("the kernel buffer never filled");
}

/// Reads the client side and decodes unmasked server frames.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            self.buf.reserve(64 * 1024);
            let read = self.stream.read_buf(&mut self.buf).await.unwrap();
            assert!(read > 0, "end of stream inside a frame");
        }
    }

    async fn next_frame(&mut self) -> (Opcode, Vec<u8>) {
        self.fill(2).await;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b0 & 0xF0, 0x80, "FIN set, RSV bits clear: {b0:#04x}");
        assert_eq!(b1 & 0x80, 0, "server frames are unmasked");
        let (len, head) = match b1 & 0x7F {
            126 => {
                self.fill(4).await;
                let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                assert!(len >= 126, "4-byte header for a short length {len}");
                (len, 4)
            }
            127 => {
                self.fill(10).await;
                let len = u64::from_be_bytes(self.buf[2..10].try_into().unwrap());
                assert!(len > 65535, "10-byte header for length {len}");
                (usize::try_from(len).unwrap(), 10)
            }
            len => (usize::from(len), 2),
        };
        self.fill(head + len).await;
        let opcode = Opcode::from_bits(b0 & 0x0F).expect("a known opcode");
        let payload = self.buf[head..head + len].to_vec();
        self.buf.drain(..head + len);
        (opcode, payload)
    }

    async fn frame(&mut self) -> (Opcode, Vec<u8>) {
        within("a frame", self.next_frame()).await
    }

    async fn text(&mut self) -> Vec<u8> {
        let (opcode, payload) = self.frame().await;
        assert_eq!(opcode, Opcode::Text);
        payload
    }

    /// Reads `n` frames.
    async fn frames(&mut self, n: usize) -> Vec<(Opcode, Vec<u8>)> {
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            frames.push(self.next_frame().await);
        }
        frames
    }

    /// Nothing more arrives: the server's write side ends after what was read.
    async fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "{} stray bytes", self.buf.len());
        let mut rest = Vec::new();
        within("end of stream", self.stream.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(rest.is_empty(), "{} bytes after the last frame", rest.len());
    }

    /// Nothing arrives within a short while.
    async fn expect_nothing(&mut self) {
        assert!(self.buf.is_empty(), "{} stray bytes", self.buf.len());
        let mut byte = [0u8; 1];
        let read = timeout(Duration::from_millis(100), self.stream.read(&mut byte)).await;
        assert!(read.is_err(), "the client received {read:?}");
    }
}

/// Counts how often the connection task is woken.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Registers a counting waker as the connection task's. Like `AtomicWaker`, a wake uses the
/// registration up: the task registers again each time it is polled.
fn register_counter(handle: &SocketHandle) -> Arc<CountingWaker> {
    let counter = Arc::new(CountingWaker::default());
    register_again(handle, &counter);
    counter
}

fn register_again(handle: &SocketHandle, counter: &Arc<CountingWaker>) {
    let waker = std::task::Waker::from(counter.clone());
    handle.register(&Context::from_waker(&waker));
}

// 1. Direct writes.

#[tokio::test]
async fn try_send_on_an_idle_plain_socket_writes_directly() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 8);
    for (seq, len) in [(0, 0), (1, 9), (2, 125), (3, 126), (4, 1000)] {
        let text = if len == 0 {
            String::new()
        } else {
            payload(seq, len)
        };
        assert_eq!(
            handle.try_send(&Frame::from(text.clone())),
            SendOutcome::Sent
        );
        {
            let queue = handle.lock();
            assert!(queue.frames.is_empty(), "nothing queued");
            assert_eq!(queue.written, 0);
            assert_eq!(queue.stalled_since, 0);
        }
        assert_eq!(stalled_since(&handle), None);
        assert_eq!(client.text().await, text.as_bytes());
    }
    assert_eq!(handle.requested_close(), None);
    client.expect_nothing().await;
}

#[tokio::test]
async fn all_three_header_forms_reach_the_client_intact() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    let sizes = [10, 125, 126, 127, 65535, 65536, 70_000, 300_000, 1, 200];
    for (seq, len) in sizes.iter().enumerate() {
        // Big frames may not fit the kernel buffer; they are queued then.
        assert!(handle.try_send(&frame(seq, *len)).accepted());
    }
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("all frames", client.frames(sizes.len()))
    );
    flushed.unwrap();
    for (seq, (len, (opcode, got))) in sizes.iter().zip(frames).enumerate() {
        assert_eq!(opcode, Opcode::Text);
        assert_eq!(got, payload(seq, *len).as_bytes(), "frame {seq}");
    }
    assert_eq!(queued_len(&handle), 0);
    client.expect_nothing().await;
}

// 2. A full kernel buffer, the bounded queue, and the flush.

#[tokio::test]
async fn a_client_that_does_not_read_is_queued_then_a_slow_consumer_and_flushes_every_frame_once() {
    const CAPACITY: usize = 8;
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, CAPACITY);
    let wakes = register_counter(&handle);

    let mut next = 0;
    let outcomes = send_until_queued(&handle, &mut next);
    let sent = outcomes.len() - 1;
    assert!(
        sent > 0,
        "the first frame on an idle socket goes straight out"
    );
    assert_eq!(queued_len(&handle), 1);
    assert_eq!(wakes.count(), 1, "the first queued frame wakes the task");
    assert_eq!(handle.requested_close(), None);
    register_again(&handle, &wakes);

    // The queue fills up to its capacity; the kernel takes nothing more meanwhile (only the
    // task writes once frames wait).
    for _ in 1..CAPACITY {
        assert_eq!(
            handle.try_send(&frame(next, size_of(next))),
            SendOutcome::Queued
        );
        next += 1;
    }
    assert_eq!(queued_len(&handle), CAPACITY);
    assert_eq!(wakes.count(), 1, "later frames do not wake the task again");
    let accepted = next;

    // One more is refused: the socket is asked to close as a slow consumer.
    assert_eq!(handle.try_send(&frame(next, 10)), SendOutcome::SlowConsumer);
    assert!(!SendOutcome::SlowConsumer.accepted());
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    assert_eq!(wakes.count(), 2, "the close request wakes the task");
    assert_eq!(
        handle.try_send(&frame(next + 1, 10)),
        SendOutcome::SlowConsumer
    );
    assert_eq!(queued_len(&handle), CAPACITY);
    assert!(stalled_since(&handle).is_some());

    // The task flushes while the client reads: every accepted frame arrives once, in order,
    // whole.
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("accepted frames", client.frames(accepted))
    );
    flushed.unwrap();
    for (seq, (opcode, got)) in frames.into_iter().enumerate() {
        assert_eq!(opcode, Opcode::Text, "frame {seq}");
        assert_eq!(
            String::from_utf8_lossy(&got),
            payload(seq, size_of(seq)),
            "frame {seq}"
        );
    }
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(handle.lock().written, 0);
    assert_eq!(stalled_since(&handle), None);
    // Nothing refused slipped through, and nothing came twice: the next frame is a marker.
    assert_eq!(handle.try_send(&Frame::from("end")), SendOutcome::Sent);
    assert_eq!(client.text().await, b"end");
    client.expect_nothing().await;
}

#[tokio::test]
async fn a_frame_cut_by_a_full_kernel_buffer_is_completed_before_the_next() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    // Far more than both kernel buffers: the direct write takes only a part.
    let big = payload(0, 4 << 20);
    assert_eq!(
        handle.try_send(&Frame::from(big.clone())),
        SendOutcome::Queued
    );
    {
        let queue = handle.lock();
        assert_eq!(queue.frames.len(), 1);
        assert!(
            queue.written > 0,
            "the kernel took the first part of the frame"
        );
        assert!(queue.written < 10 + big.len());
    }
    assert!(stalled_since(&handle).is_some());
    for seq in 1..=3 {
        assert_eq!(handle.try_send(&frame(seq, 50)), SendOutcome::Queued);
    }
    let (flushed, frames) =
        tokio::join!(flush(&handle, &mut io), within("frames", client.frames(4)));
    flushed.unwrap();
    assert_eq!(frames[0].1.len(), big.len());
    assert!(
        frames[0].1 == big.as_bytes(),
        "the big frame arrives intact"
    );
    for (seq, (opcode, got)) in frames.iter().enumerate().skip(1) {
        assert_eq!(*opcode, Opcode::Text);
        assert_eq!(got, payload(seq, 50).as_bytes());
    }
    assert_eq!(stalled_since(&handle), None);
}

#[tokio::test]
async fn more_frames_than_one_vectored_write_carries_flush_in_order() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 1000);
    let count = 3 * MAX_FRAMES_PER_WRITE + 5;
    handle.hold();
    for seq in 0..count {
        // Empty frames in between: their payload slices are skipped.
        let text = if seq % 7 == 3 {
            String::new()
        } else {
            payload(seq, 40)
        };
        assert_eq!(handle.try_send(&Frame::from(text)), SendOutcome::Queued);
    }
    handle.release(Vec::new());
    client.expect_nothing().await;
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(count))
    );
    flushed.unwrap();
    for (seq, (opcode, got)) in frames.into_iter().enumerate() {
        assert_eq!(opcode, Opcode::Text);
        let want = if seq % 7 == 3 {
            String::new()
        } else {
            payload(seq, 40)
        };
        assert_eq!(got, want.as_bytes(), "frame {seq}");
    }
    // The slots stay until the watchdog's trim; then an idle socket keeps no queue memory.
    assert!(handle.lock().frames.capacity() > 0);
    handle.tidy();
    assert_eq!(handle.lock().frames.capacity(), 0);
}

#[tokio::test]
async fn poll_flush_of_an_empty_queue_is_ready() {
    let (server, _client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 4);
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(stalled_since(&handle), None);
    assert_eq!(handle.lock().frames.capacity(), 0);
}

// 3. Stall timestamps.

#[tokio::test]
async fn stalled_since_is_set_while_bytes_wait_and_cleared_once_they_are_written() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    assert_eq!(stalled_since(&handle), None);
    assert_eq!(handle.try_send(&frame(0, 20)), SendOutcome::Sent);
    assert_eq!(
        stalled_since(&handle),
        None,
        "a direct write leaves nothing waiting"
    );

    let before = clock::now_ms();
    let mut next = 1;
    send_until_queued(&handle, &mut next);
    let after = clock::now_ms();
    let since = stalled_since(&handle).expect("bytes wait");
    assert!(
        (before..=after).contains(&since),
        "{before} <= {since} <= {after}"
    );

    // The task cannot write either while the client does not read.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let counter = Arc::new(CountingWaker::default());
    let waker = std::task::Waker::from(counter);
    let polled = handle.poll_flush(&mut Context::from_waker(&waker), &mut io);
    assert!(polled.is_pending(), "{polled:?}");
    let still = stalled_since(&handle).expect("bytes still wait");
    assert!(still >= since);
    assert_eq!(handle.try_send(&frame(next, 20)), SendOutcome::Queued);
    next += 1;
    assert!(stalled_since(&handle).is_some());

    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(next))
    );
    flushed.unwrap();
    assert_eq!(frames.len(), next);
    assert_eq!(stalled_since(&handle), None);
}

// 4. hold / release.

#[tokio::test]
async fn hold_queues_on_an_idle_socket_and_release_puts_replies_between_earlier_and_held_frames() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);

    // Frames queued before the hold (a first hold with no replies leaves them queued).
    handle.hold();
    assert_eq!(
        handle.try_send(&Frame::from("before-1")),
        SendOutcome::Queued
    );
    handle.release(Vec::new());
    assert_eq!(
        handle.try_send(&Frame::from("before-2")),
        SendOutcome::Queued
    );

    handle.hold();
    assert_eq!(
        handle.try_send(&Frame::from("during-1")),
        SendOutcome::Queued
    );
    assert_eq!(
        handle.try_send(&Frame::from("during-2")),
        SendOutcome::Queued
    );
    client.expect_nothing().await;
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"reply-1")),
        (Opcode::Pong, Bytes::from_static(b"pong")),
        (Opcode::Text, Bytes::from_static(b"reply-2")),
    ]);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.requested_close(), None);

    let want: [(Opcode, &[u8]); 7] = [
        (Opcode::Text, b"before-1"),
        (Opcode::Text, b"before-2"),
        (Opcode::Text, b"reply-1"),
        (Opcode::Pong, b"pong"),
        (Opcode::Text, b"reply-2"),
        (Opcode::Text, b"during-1"),
        (Opcode::Text, b"during-2"),
    ];
    let (flushed, frames) = tokio::join!(
        flush(&handle, &mut io),
        within("frames", client.frames(want.len()))
    );
    flushed.unwrap();
    let frames: Vec<(Opcode, &[u8])> = frames.iter().map(|(o, p)| (*o, p.as_slice())).collect();
    assert_eq!(frames, want);

    // Released and flushed: direct writes again.
    assert_eq!(handle.try_send(&Frame::from("after")), SendOutcome::Sent);
    assert_eq!(client.text().await, b"after");
}

#[tokio::test]
async fn the_hold_point_follows_frames_written_during_the_hold() {
    let (server, mut client) = pair(false).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    handle.hold();
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    handle.release(Vec::new());
    handle.hold();
    assert_eq!(handle.lock().hold, Some(2));
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(handle.lock().hold, Some(0));
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Queued);
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"r"))]);
    flush(&handle, &mut io).await.unwrap();
    for want in ["a", "b", "r", "c"] {
        assert_eq!(client.text().await, want.as_bytes());
    }
}

#[tokio::test]
async fn detached_hold_and_release_order() {
    let handle = SocketHandle::detached(socket_id(), 16);
    handle.try_send(&Frame::from("q1"));
    handle.hold();
    handle.try_send(&Frame::from("h1"));
    handle.try_send(&Frame::from("h2"));
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"r1")),
        (Opcode::Text, Bytes::from_static(b"r2")),
    ]);
    assert_eq!(handle.take_queued(), ["q1", "r1", "r2", "h1", "h2"]);
}

#[tokio::test]
async fn release_without_a_hold_appends() {
    // How the task queues connection_established.
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("x"));
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"established"))]);
    assert_eq!(handle.take_queued(), ["x", "established"]);
}

#[tokio::test]
async fn hold_with_nothing_sent_then_empty_release_leaves_nothing() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 4);
    handle.hold();
    handle.release(Vec::new());
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(handle.try_send(&Frame::from("x")), SendOutcome::Sent);
    assert_eq!(client.text().await, b"x");
}

#[tokio::test]
async fn a_frame_queued_during_a_hold_on_an_empty_queue_wakes_the_task() {
    let handle = SocketHandle::detached(socket_id(), 4);
    let wakes = register_counter(&handle);
    handle.hold();
    assert_eq!(handle.try_send(&Frame::from("x")), SendOutcome::Queued);
    assert_eq!(wakes.count(), 1);
    register_again(&handle, &wakes);
    assert_eq!(handle.try_send(&Frame::from("y")), SendOutcome::Queued);
    assert_eq!(wakes.count(), 1, "the queue was not empty");
}

#[tokio::test]
async fn frames_held_beyond_capacity_are_refused() {
    let handle = SocketHandle::detached(socket_id(), 2);
    handle.hold();
    assert_eq!(handle.try_send(&Frame::from("1")), SendOutcome::Queued);
    assert_eq!(handle.try_send(&Frame::from("2")), SendOutcome::Queued);
    assert_eq!(
        handle.try_send(&Frame::from("3")),
        SendOutcome::SlowConsumer
    );
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
}

#[tokio::test]
async fn replies_beyond_capacity_request_a_slow_consumer_close() {
    let handle = SocketHandle::detached(socket_id(), 3);
    handle.hold();
    handle.try_send(&Frame::from("h"));
    handle.release(vec![
        (Opcode::Text, Bytes::from_static(b"r1")),
        (Opcode::Text, Bytes::from_static(b"r2")),
    ]);
    assert_eq!(handle.requested_close(), None, "exactly at capacity");
    handle.hold();
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"r3"))]);
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    // Replies are never dropped for capacity: they are the task's own.
    assert_eq!(handle.take_queued(), ["r1", "r2", "h", "r3"]);
}

#[tokio::test]
async fn release_after_seal_drops_the_replies() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.hold();
    handle.seal();
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"late"))]);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.try_send(&Frame::from("b")), SendOutcome::Gone);
    // Sealed means gone: what was queued will never be written, so it is dropped.
    assert!(handle.take_queued().is_empty());
}

// 5. seal_with.

#[tokio::test]
async fn seal_with_keeps_queued_frames_and_refuses_later_ones() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    let close = close_payload(4009, "bye");
    handle.seal_with(
        vec![
            (Opcode::Text, Bytes::from_static(b"error")),
            (Opcode::Close, Bytes::from(close.clone())),
        ],
        false,
    );
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Gone);
    assert!(!SendOutcome::Gone.accepted());
    // A second seal changes nothing.
    handle.seal_with(vec![(Opcode::Text, Bytes::from_static(b"again"))], true);
    let queued = handle.take_queued();
    assert_eq!(queued.len(), 4);
    assert_eq!(queued[..3], ["a", "b", "error"]);
    assert_eq!(queued[3], close);
}

#[tokio::test]
async fn seal_with_drop_unstarted_drops_frames_not_yet_started() {
    let handle = SocketHandle::detached(socket_id(), 4);
    handle.try_send(&Frame::from("a"));
    handle.try_send(&Frame::from("b"));
    handle.hold();
    handle.try_send(&Frame::from("held"));
    handle.seal_with(vec![(Opcode::Text, Bytes::from_static(b"last"))], true);
    assert_eq!(handle.lock().hold, None);
    assert_eq!(handle.try_send(&Frame::from("c")), SendOutcome::Gone);
    assert_eq!(handle.take_queued(), ["last"]);
}

#[tokio::test]
async fn seal_with_drop_unstarted_completes_a_partly_written_frame_then_sends_the_last() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    let big = payload(0, 4 << 20);
    assert_eq!(
        handle.try_send(&Frame::from(big.clone())),
        SendOutcome::Queued
    );
    assert!(
        handle.lock().written > 0,
        "the front frame is partly written"
    );
    for seq in 1..=5 {
        assert_eq!(handle.try_send(&frame(seq, 100)), SendOutcome::Queued);
    }
    handle.request_close(CloseRequest::SlowConsumer);
    let close = close_payload(4100, "slow consumer");
    handle.seal_with(
        vec![
            (Opcode::Text, Bytes::from_static(b"pusher:error")),
            (Opcode::Close, Bytes::from(close.clone())),
        ],
        true,
    );
    assert_eq!(queued_len(&handle), 3);
    assert_eq!(handle.try_send(&frame(6, 10)), SendOutcome::Gone);

    let (flushed, frames) =
        tokio::join!(flush(&handle, &mut io), within("frames", client.frames(3)));
    flushed.unwrap();
    assert_eq!(frames[0].0, Opcode::Text);
    assert!(frames[0].1 == big.as_bytes(), "the started frame completes");
    assert_eq!(frames[1], (Opcode::Text, b"pusher:error".to_vec()));
    assert_eq!(frames[2], (Opcode::Close, close));
    io.shutdown().await;
    client.expect_eof().await;
}

#[tokio::test]
async fn seal_with_drop_unstarted_keeps_nothing_when_no_frame_started() {
    let (server, mut client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 16);
    handle.hold();
    for seq in 0..5 {
        assert_eq!(handle.try_send(&frame(seq, 100)), SendOutcome::Queued);
    }
    handle.release(Vec::new());
    let close = close_payload(4100, "slow");
    handle.seal_with(vec![(Opcode::Close, Bytes::from(close.clone()))], true);
    assert_eq!(queued_len(&handle), 1);
    flush(&handle, &mut io).await.unwrap();
    assert_eq!(client.frame().await, (Opcode::Close, close));
    io.shutdown().await;
    client.expect_eof().await;
}

// 6. Close requests.

#[tokio::test]
async fn the_first_close_request_wins() {
    let handle = SocketHandle::detached(socket_id(), 1);
    let wakes = register_counter(&handle);
    assert_eq!(handle.requested_close(), None);
    handle.request_close(CloseRequest::Terminated);
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    assert_eq!(wakes.count(), 1);
    register_again(&handle, &wakes);
    handle.request_close(CloseRequest::Shutdown);
    handle.request_close(CloseRequest::Terminated);
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    assert_eq!(wakes.count(), 1, "only the first request wakes the task");
    // An overflow after that still refuses the frame but keeps the first reason.
    assert_eq!(handle.try_send(&Frame::from("1")), SendOutcome::Queued);
    assert_eq!(
        handle.try_send(&Frame::from("2")),
        SendOutcome::SlowConsumer
    );
    assert_eq!(handle.requested_close(), Some(CloseRequest::Terminated));
    // Clones share the state.
    assert_eq!(
        handle.clone().requested_close(),
        Some(CloseRequest::Terminated)
    );
}

#[test]
fn close_requests_round_trip_through_the_atomic() {
    use CloseRequest::*;
    for request in [
        SlowConsumer,
        Stalled,
        Terminated,
        Unauthorized,
        PongTimeout,
        Shutdown,
    ] {
        assert_ne!(request as u8, 0, "0 means no request");
        assert_eq!(CloseRequest::from_u8(request as u8), Some(request));
        let handle = SocketHandle::detached(socket_id(), 1);
        handle.request_close(request);
        assert_eq!(handle.requested_close(), Some(request));
    }
    assert_eq!(CloseRequest::from_u8(0), None);
    assert_eq!(CloseRequest::from_u8(200), None);
}

// 7. Detached handles.

#[tokio::test]
async fn a_detached_handle_queues_in_order_up_to_its_capacity() {
    let handle = SocketHandle::detached(socket_id(), 3);
    let id = handle.id();
    assert_eq!(handle.clone().id(), id);
    for text in ["one", "two", "three"] {
        assert_eq!(handle.try_send(&Frame::from(text)), SendOutcome::Queued);
    }
    assert_eq!(
        handle.try_send(&Frame::from("four")),
        SendOutcome::SlowConsumer
    );
    assert_eq!(handle.requested_close(), Some(CloseRequest::SlowConsumer));
    assert_eq!(handle.take_queued(), ["one", "two", "three"]);
    assert!(handle.take_queued().is_empty());
    // Emptied, it takes frames again.
    assert_eq!(handle.try_send(&Frame::from("five")), SendOutcome::Queued);
    assert_eq!(handle.take_queued(), ["five"]);
    assert_eq!(stalled_since(&handle), None);
}

#[test]
fn liveness_fields() {
    let handle = SocketHandle::detached(socket_id(), 1);
    assert!(handle.opened_at() >= 1);
    assert_eq!(handle.last_seen(), handle.opened_at());
    assert_eq!(handle.ping_sent(), None);
    handle.set_ping_sent(0);
    assert_eq!(
        handle.ping_sent(),
        Some(1),
        "0 is stored as 1, never as 'not waiting'"
    );
    handle.set_ping_sent(500);
    assert_eq!(handle.ping_sent(), Some(500));
    handle.touch(700);
    assert_eq!(handle.last_seen(), 700);
    assert_eq!(handle.ping_sent(), None);
    assert!(!handle.is_authorized());
    handle.set_authorized();
    assert!(handle.clone().is_authorized());
}

// 8. A peer that went away.

async fn send_until_gone(handle: &SocketHandle) -> usize {
    for tries in 1..=100 {
        match handle.try_send(&frame(tries, 100)) {
            SendOutcome::Gone => return tries,
            SendOutcome::Sent => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("unexpected {other:?} to a closed peer"),
        }
    }
    panic!("a write to a closed peer never failed");
}

#[tokio::test]
async fn direct_writes_to_a_peer_that_closed_end_gone() {
    let (server, client) = pair(false).await;
    let handle = handle_for(&server, 4);
    let wakes = register_counter(&handle);
    drop(client);
    let tries = send_until_gone(&handle).await;
    assert!(tries <= 100);
    assert_eq!(handle.try_send(&Frame::from("again")), SendOutcome::Gone);
    {
        let queue = handle.lock();
        assert!(queue.sealed);
        assert!(queue.direct.is_none(), "no more direct writes");
        assert!(queue.frames.is_empty());
    }
    assert!(wakes.count() >= 1, "the task is told");
}

#[tokio::test]
async fn direct_writes_to_a_peer_that_reset_end_gone() {
    let (server, client) = pair(false).await;
    let handle = handle_for(&server, 4);
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    send_until_gone(&handle).await;
    assert_eq!(handle.try_send(&Frame::from("again")), SendOutcome::Gone);
}

#[tokio::test]
async fn flushing_to_a_peer_that_reset_fails() {
    let (server, client) = pair(true).await;
    let mut io = SocketIo::Tcp(server.clone());
    let handle = handle_for(&server, 64);
    let mut next = 0;
    send_until_queued(&handle, &mut next);
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    assert!(flush(&handle, &mut io).await.is_err());
    // The task seals the socket when it sees the connection gone.
    handle.seal();
    assert_eq!(handle.try_send(&frame(next, 10)), SendOutcome::Gone);
}

// Concurrency: direct writers and the flushing task never interleave frames.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_and_the_flushing_task_never_tear_or_reorder_frames() {
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 1500;
    let (server, mut client) = pair(true).await;
    let handle = handle_for(&server, 1 << 20);

    let flusher = tokio::spawn({
        let handle = handle.clone();
        let mut io = SocketIo::Tcp(server.clone());
        async move {
            poll_fn(|cx| {
                handle.register(cx);
                match handle.poll_flush(cx, &mut io) {
                    Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(err)) => Poll::Ready(err),
                }
            })
            .await
        }
    });

    let body = |sender: usize, seq: usize| -> String {
        let len = match seq % 250 {
            0 => 70_000,
            n => [0, 40, 120, 126, 500, 2000, 9000][n % 7],
        };
        let mut text = format!("{sender}:{seq:06}|");
        let fill = char::from(b'a' + ((sender * 7 + seq) % 26) as u8);
        while text.len() < len {
            text.push(fill);
        }
        text
    };

    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let handle = handle.clone();
            tokio::task::spawn_blocking(move || {
                let mut outcomes = [0usize; 2];
                for seq in 0..PER_SENDER {
                    match handle.try_send(&Frame::from(body(sender, seq))) {
                        SendOutcome::Sent => outcomes[0] += 1,
                        SendOutcome::Queued => outcomes[1] += 1,
                        other => panic!("sender {sender} frame {seq}: {other:?}"),
                    }
                }
                outcomes
            })
        })
        .collect();

    let reader = async {
        let mut next = [0usize; SENDERS];
        for _ in 0..SENDERS * PER_SENDER {
            let (opcode, got) = client.next_frame().await;
            assert_eq!(opcode, Opcode::Text);
            let text = String::from_utf8(got).expect("whole UTF-8 frames");
            let (sender, rest) = text.split_once(':').expect("a sender prefix");
            let sender: usize = sender.parse().unwrap();
            let seq: usize = rest[..6].parse().unwrap();
            assert_eq!(seq, next[sender], "sender {sender}'s frames in order");
            assert_eq!(
                text,
                body(sender, seq),
                "sender {sender} frame {seq} intact"
            );
            next[sender] += 1;
        }
        next
    };
    let next = within("all frames", reader).await;
    assert_eq!(next, [PER_SENDER; SENDERS]);

    let (mut sent, mut queued) = (0, 0);
    for sender in senders {
        let [s, q] = within("sender", sender).await.unwrap();
        sent += s;
        queued += q;
    }
    assert_eq!(sent + queued, SENDERS * PER_SENDER);
    assert!(queued > 0, "the small buffers made some frames wait");
    assert_eq!(queued_len(&handle), 0);
    assert_eq!(stalled_since(&handle), None);
    assert!(!flusher.is_finished(), "the connection stayed up");
    flusher.abort();
    client.expect_nothing().await;
}

// Queue bookkeeping.

#[test]
fn advance_counts_partial_frames_and_moves_the_hold_point() {
    let mut queue = Queue::default();
    for text in ["abc", "defgh", "ij"] {
        queue.frames.push_back((Opcode::Text, Bytes::from(text)));
    }
    queue.hold = Some(2);
    // Frame sizes on the wire: 5, 7, 4.
    queue.advance(3);
    assert_eq!((queue.frames.len(), queue.written), (3, 3));
    queue.advance(2);
    assert_eq!((queue.frames.len(), queue.written), (2, 0));
    assert_eq!(queue.hold, Some(1));
    queue.advance(7 + 1);
    assert_eq!((queue.frames.len(), queue.written), (1, 1));
    assert_eq!(queue.hold, Some(0));
    queue.advance(3);
    assert!(queue.frames.is_empty());
    assert_eq!(queue.written, 0);
    assert_eq!(queue.hold, Some(0));
}

#[test]
fn queued_payloads_are_shared_not_copied() {
    let handle = SocketHandle::detached(socket_id(), 4);
    let frame = Frame::from(payload(0, 1000));
    handle.try_send(&frame);
    let queued = queued_payloads(&handle);
    assert_eq!(queued, [frame.as_bytes().to_vec()]);
    let taken = handle.take_queued();
    assert_eq!(taken[0].as_ptr(), frame.as_bytes().as_ptr());
}

/// Since when queued bytes wait (the field the watchdog reads through `tidy`).
fn stalled_since(handle: &SocketHandle) -> Option<u64> {
    match handle.lock().stalled_since {
        0 => None,
        at => Some(at),
    }
}

#[tokio::test]
async fn flush_now_during_a_hold_leaves_the_frames_and_the_direct_path_in_place() {
    let (server, mut client) = pair(false).await;
    let handle = handle_for(&server, 4);
    handle.hold();
    assert_eq!(handle.enqueue(&Frame::from("held")), Enqueued::Behind);
    // A fan-out chunk may still try to flush a socket its task is holding.
    assert_eq!(handle.flush_now(), SendOutcome::Queued);
    assert_eq!(queued_len(&handle), 1);
    handle.release(vec![(Opcode::Text, Bytes::from_static(b"reply"))]);
    assert_eq!(
        handle.flush_now(),
        SendOutcome::Sent,
        "still writes directly"
    );
    assert_eq!(client.text().await, b"reply");
    assert_eq!(client.text().await, b"held");
}
