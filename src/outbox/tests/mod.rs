//! Tests of the outbound side over real loopback TCP pairs (and detached handles).

mod compression;
mod delivery;
mod hold_and_seal;
mod lifecycle;

use super::*;

use std::future::{poll_fn, Future};
use std::sync::atomic::AtomicUsize;
use std::task::Wake;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::timeout;

use sockwave_protocol::websocket::close_payload;

/// The longest any single wait may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(20);

/// Small kernel buffers, so that a client that does not read fills them quickly.
const SMALL_BUFFER: usize = 4096;

fn socket_id() -> SocketId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    SocketId::new(1, NEXT.fetch_add(1, Ordering::Relaxed))
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
        .map(|queued| queued.payload.to_vec())
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
    /// Whether the connection negotiated compression: RSV1 frames are inflated.
    inflate: bool,
    /// How many compressed frames arrived.
    compressed: usize,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
            inflate: false,
            compressed: 0,
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
        let rsv1 = self.inflate && b0 & 0x40 != 0;
        assert_eq!(b0 & 0xB0, 0x80, "FIN set, RSV2/3 clear: {b0:#04x}");
        assert!(
            rsv1 || b0 & 0x40 == 0,
            "RSV1 without compression: {b0:#04x}"
        );
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
        let mut payload = self.buf[head..head + len].to_vec();
        self.buf.drain(..head + len);
        if rsv1 {
            self.compressed += 1;
            payload = sockwave_protocol::websocket::deflate::inflate(&payload, 1 << 24).unwrap();
        }
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

/// Since when queued bytes wait (the field the watchdog reads through `tidy`).
fn stalled_since(handle: &SocketHandle) -> Option<u64> {
    match handle.lock().stalled_since {
        0 => None,
        at => Some(at),
    }
}
