//! One HTTP session's task: the socket behind pusher-js's `xhr_streaming` and `xhr_polling`.
//!
//! The session is a socket like any WebSocket (registered, counted, in the cluster): frames
//! sent to it wait in its `SocketHandle` queue, and this task moves them into whichever
//! receive request the client has open — a stream that stays open, or a long poll that ends
//! after one line. Client messages arrive from send requests. Without a receive request for
//! `DISCONNECT_DELAY` the client is gone; a full queue closes the session as a slow consumer,
//! as it would a WebSocket.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Duration, Instant};
use tokio_util::sync::PollSender;

use super::framing;
use super::path::Kind;
use crate::connection::message_rate::MessageRate;
use crate::connection::session::Session;
use crate::connection::task::{self, Ending};
use crate::context::Context;
use crate::outbox::{clock, CloseRequest, SocketHandle};
use sockwave_protocol::messages;
use sockwave_protocol::websocket::Incoming;

/// How long a session lives without a receive request: pusher-js opens the next one at
/// once (after a poll, or a stream it restarts), so a longer gap means the client left.
pub(super) const DISCONNECT_DELAY: Duration = Duration::from_secs(5);
/// How often an open receive request gets a heartbeat line when nothing else was sent:
/// under pusher-js's activity timeout and proxies' read timeouts (nginx: 60 s).
pub(super) const HEARTBEAT_EVERY: Duration = Duration::from_secs(25);
/// How long a closed session keeps its close line for a client between two requests.
const LINGER: Duration = Duration::from_secs(5);
/// pusher-js replaces a stream once it has read more than this (its `MAX_BUFFER_LENGTH`, in
/// UTF-16 units; lines are ASCII, so bytes): nothing more is written to a stream past it.
const STREAM_LIMIT: usize = 256 * 1024;
/// Largest `a[...]` line (unless one frame is larger): what one response holds at once stays
/// small, and the rest waits in the socket's bounded queue.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// How long each closing line may wait for room in the response.
const CLOSE_LINE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the HTTP handlers hand to the session's task.
pub(super) enum Input {
    /// A receive request: lines go into `lines`; dropping it ends the response.
    Receive {
        kind: Kind,
        lines: mpsc::Sender<Bytes>,
    },
    /// Client messages from a send request; the answer says whether they were taken.
    Send {
        messages: Vec<String>,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// The receive request the client has open.
struct Receiver {
    kind: Kind,
    lines: PollSender<Bytes>,
    /// When the last line went out (for heartbeats).
    last_line: Instant,
    /// Bytes written to this response.
    sent: usize,
}

impl Receiver {
    fn new(kind: Kind, lines: mpsc::Sender<Bytes>) -> Receiver {
        Receiver {
            kind,
            lines: PollSender::new(lines),
            last_line: Instant::now(),
            sent: 0,
        }
    }

    /// Sends one line if the response can take it now. `false` when the response is gone
    /// (the client aborted it) or full.
    fn try_line(&mut self, line: Bytes) -> bool {
        let Some(sender) = self.lines.get_ref() else {
            return false;
        };
        let len = line.len();
        if sender.try_send(line).is_err() {
            return false;
        }
        self.wrote(len);
        true
    }

    /// Sends one line, waiting at most `within` for room.
    async fn send_line(&mut self, line: Bytes, within: Duration) -> bool {
        let Some(sender) = self.lines.get_ref() else {
            return false;
        };
        let len = line.len();
        let sent = matches!(
            tokio::time::timeout(within, sender.send(line)).await,
            Ok(Ok(()))
        );
        if sent {
            self.wrote(len);
        }
        sent
    }

    fn wrote(&mut self, len: usize) {
        self.sent += len;
        self.last_line = Instant::now();
    }

    /// A stream past pusher-js's buffer limit: the client is opening its replacement, and
    /// what is written here now would be lost with it.
    fn retired(&self) -> bool {
        self.kind == Kind::Streaming && self.sent > STREAM_LIMIT
    }
}

/// The admitted session, or why it was refused.
pub(super) type Admitted = Result<(Session, SocketHandle), Ending>;

/// Serves one session until it ends and its closing lines are out (or nobody came for them).
pub(super) async fn run(ctx: Arc<Context>, admitted: Admitted, mut inbox: mpsc::Receiver<Input>) {
    let (ending, lingering, opened, backlog) = match admitted {
        Ok((mut session, socket)) => {
            let mut state = State {
                ctx: &ctx,
                socket: &socket,
                receiver: None,
                watch: None,
                opened: false,
                idle_since: Instant::now(),
                message_rate: MessageRate::new(
                    ctx.config.max_ws_messages_per_second,
                    ctx.config.ws_message_burst,
                    Instant::now(),
                ),
            };
            let ending = state.serve(&mut session, &mut inbox).await;
            task::finish(&ctx, &mut session, &socket, &ending);
            // What was queued before the close goes out ahead of it, as over WebSocket;
            // a slow consumer's backlog is dropped so that its close code gets through.
            let slow = matches!(
                socket.requested_close(),
                Some(CloseRequest::SlowConsumer | CloseRequest::Stalled)
            );
            let backlog = if slow {
                Vec::new()
            } else {
                socket.take_queued()
            };
            socket.seal();
            (ending, state.receiver.take(), state.opened, backlog)
        }
        Err(ending) => (ending, None, false, Vec::new()),
    };
    close(ending, lingering, opened, &backlog, &mut inbox).await;
}

struct State<'a> {
    ctx: &'a Context,
    socket: &'a SocketHandle,
    receiver: Option<Receiver>,
    /// The open receive request's channel, watched for the client going away (hyper drops
    /// the response when its connection closes).
    watch: Option<mpsc::Sender<Bytes>>,
    /// Whether `o` went out (on the first receive request only).
    opened: bool,
    /// Since when no receive request is open.
    idle_since: Instant,
    message_rate: MessageRate,
}

/// What woke the task up.
enum Wake {
    Input(Option<Input>),
    /// Frames to move into the open receive request, or a close request.
    Socket,
    /// The heartbeat or the disconnect delay is due.
    Timer,
    /// The client went away from the open receive request.
    Gone,
}

impl State<'_> {
    async fn serve(&mut self, session: &mut Session, inbox: &mut mpsc::Receiver<Input>) -> Ending {
        loop {
            if let Some(request) = self.socket.requested_close() {
                return task::requested_ending(self.ctx, session, request);
            }
            let due = match &self.receiver {
                Some(receiver) => receiver.last_line + HEARTBEAT_EVERY,
                None => self.idle_since + DISCONNECT_DELAY,
            };
            let watch = self.watch.clone();
            let gone = async {
                match &watch {
                    Some(lines) => lines.closed().await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                input = inbox.recv() => Wake::Input(input),
                () = self.socket_ready() => Wake::Socket,
                () = sleep_until(due) => Wake::Timer,
                () = gone => Wake::Gone,
            };
            match wake {
                Wake::Gone => self.detach(),
                Wake::Input(None) => return Ending::ClientGone,
                Wake::Input(Some(Input::Receive { kind, lines })) => self.attach(kind, lines),
                Wake::Input(Some(Input::Send { messages, done })) => {
                    let (answer, ending) = self.take_messages(session, messages);
                    let _ = done.send(answer);
                    if let Some(ending) = ending {
                        return ending;
                    }
                }
                Wake::Socket => self.deliver(),
                Wake::Timer => match &mut self.receiver {
                    // A retired stream whose replacement did not come within a heartbeat
                    // period is gone.
                    Some(receiver) if receiver.retired() => self.detach(),
                    // A heartbeat ends a long poll; a stream that cannot take it is gone.
                    Some(receiver) => {
                        let sent = receiver.try_line(Bytes::from_static(framing::HEARTBEAT));
                        if !sent || receiver.kind == Kind::Polling {
                            self.detach();
                        }
                    }
                    None => return Ending::ClientGone,
                },
            }
        }
    }

    /// Resolves when there is something for the task: a close request, or queued frames
    /// and an open receive request with room for a line. Registers for the socket's wake-up
    /// first, so nothing queued after the check is missed.
    async fn socket_ready(&mut self) {
        let socket = self.socket;
        let receiver = &mut self.receiver;
        poll_fn(|cx| {
            socket.register(cx);
            if socket.requested_close().is_some() {
                return Poll::Ready(());
            }
            let Some(receiver) = receiver.as_mut().filter(|r| !r.retired()) else {
                return Poll::Pending;
            };
            if !socket.has_queued() {
                return Poll::Pending;
            }
            // Ready once the response can take a line (or is gone, which `deliver` sees);
            // the slot is given back for `deliver` to take.
            receiver.lines.poll_reserve(cx).map(|reserved| {
                if reserved.is_ok() {
                    receiver.lines.abort_send();
                }
            })
        })
        .await;
    }

    /// A new receive request replaces the one before (pusher-js only opens one at a time;
    /// the old one was aborted by the client or ended by a poll).
    fn attach(&mut self, kind: Kind, lines: mpsc::Sender<Bytes>) {
        self.socket.touch(clock::now_ms());
        let mut receiver = Receiver::new(kind, lines);
        if !self.opened {
            self.opened = true;
            // The first request only opens the session when polling: the next poll takes
            // `connection_established`. A stream carries everything from the start.
            if !receiver.try_line(Bytes::from_static(framing::OPEN)) || kind == Kind::Polling {
                self.detach();
                return;
            }
        }
        self.watch = receiver.lines.get_ref().cloned();
        self.receiver = Some(receiver);
        self.deliver();
    }

    fn detach(&mut self) {
        self.receiver = None;
        self.watch = None;
        self.idle_since = Instant::now();
    }

    /// Moves queued frames into the open receive request as one `a[...]` line (up to
    /// `MAX_LINE_BYTES`; the rest follows when the response has room again).
    fn deliver(&mut self) {
        let Some(receiver) = &mut self.receiver else {
            return;
        };
        if receiver.retired() {
            return;
        }
        if receiver.lines.is_closed() {
            return self.detach();
        }
        let Some(sender) = receiver.lines.get_ref() else {
            return self.detach();
        };
        let Ok(permit) = sender.try_reserve() else {
            // Full: the frames wait in the socket's bounded queue; a client that takes
            // none for `pong_timeout` is closed as a slow consumer by the watchdog.
            self.socket.set_waiting(self.socket.has_queued());
            return;
        };
        let frames = self.socket.take_queued_up_to(MAX_LINE_BYTES);
        if frames.is_empty() {
            return;
        }
        self.socket.set_waiting(false);
        let line = framing::messages(&frames);
        let len = line.len();
        permit.send(line);
        receiver.wrote(len);
        if receiver.kind == Kind::Polling {
            self.detach();
        }
    }

    /// Handles the messages of one send request like a WebSocket's, replies first.
    fn take_messages(
        &mut self,
        session: &mut Session,
        texts: Vec<String>,
    ) -> (Result<(), String>, Option<Ending>) {
        self.socket.touch(clock::now_ms());
        if texts.is_empty() {
            // pusher-js's heartbeat (`[]`): the touch is all it asks for.
            return (Ok(()), None);
        }
        let messages: Vec<Incoming> = texts.into_iter().map(Incoming::Text).collect();
        self.socket.hold();
        let mut replies = Vec::new();
        let ending = task::handle(
            self.ctx,
            session,
            &mut self.message_rate,
            messages,
            &mut replies,
        );
        self.socket.release(replies);
        self.deliver();
        (Ok(()), ending)
    }
}

/// Sends the closing lines (after `o` for a session refused at once: the backlog, then
/// `pusher:error` and `c[code,reason]`) to the open receive request, or to the next ones
/// within `LINGER`, resuming where a full or aborted response left off.
async fn close(
    ending: Ending,
    receiver: Option<Receiver>,
    opened: bool,
    backlog: &[Bytes],
    inbox: &mut mpsc::Receiver<Input>,
) {
    let Some((code, message)) = ending.pusher_close() else {
        return;
    };
    let mut lines = Vec::new();
    if !opened {
        lines.push(Bytes::from_static(framing::OPEN));
    }
    if !backlog.is_empty() {
        lines.push(framing::messages(backlog));
    }
    lines.push(framing::messages(&[Bytes::from(messages::error(
        Some(code),
        &message,
        None,
    ))]));
    lines.push(framing::close(code.as_u16(), &message));
    let mut next = 0;
    let mut receiver = receiver.filter(|r| !r.retired());
    let deadline = Instant::now() + LINGER;
    loop {
        if let Some(mut open) = receiver.take() {
            while next < lines.len()
                && open
                    .send_line(lines[next].clone(), CLOSE_LINE_TIMEOUT)
                    .await
            {
                next += 1;
            }
            if next == lines.len() {
                return;
            }
        }
        let input = tokio::select! {
            input = inbox.recv() => input,
            () = sleep_until(deadline) => return,
        };
        match input {
            None => return,
            Some(Input::Receive { kind, lines }) => receiver = Some(Receiver::new(kind, lines)),
            Some(Input::Send { done, .. }) => {
                let reason = format!("the session is closed ({} {message})", code.as_u16());
                let _ = done.send(Err(reason));
            }
        }
    }
}
