//! Writing one frame to many sockets, in two phases, and never under a lock.
//!
//! A sender first queues the frame for every recipient (a lock and a reference count each,
//! no syscall) into a `Flushes` batch, which remembers the sockets whose queue it found empty;
//! once the sender holds no lock it calls `Flushes::flush`. Small batches flush inline; large
//! ones are cut into chunks spawned as tasks, so both worker threads write at once and the
//! last subscriber hears the event about half as late. Under saturation the chunk tasks run
//! behind the publishes: later frames find the queues non-empty, are not flushed again, and
//! go out together with the earlier ones in one vectored write per socket. So a burst costs
//! one syscall per socket, not one per frame, while an isolated event still goes out at once.
//!
//! Subscribes, sign-ins and queries all wait on the cluster view lock, so nothing may write
//! to a socket while holding it: `ban_writes` marks the thread for as long as the lock is
//! held, and in debug builds a write during a ban panics (`assert_writes_allowed`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Enqueued, Frame, SocketHandle};

/// Up to this many sockets are flushed by the caller itself.
const INLINE: usize = 64;
/// Sockets per spawned flush task.
const CHUNK: usize = 128;

/// Frames queued for sockets that still have to be flushed. Call `flush` once no lock is
/// held; dropping a batch that still holds sockets is a bug (debug builds panic), since their
/// frames would wait for the next write.
#[derive(Debug, Default)]
#[must_use = "call flush() once no lock is held"]
pub struct Flushes {
    sockets: Vec<SocketHandle>,
    /// Frames taken since the last count, all for the app of `counted_by`: one metrics update
    /// per app and batch instead of one per delivery (per-delivery atomics on counters every
    /// thread shares cost the fan-out several per cent).
    counted_by: Option<SocketHandle>,
    uncounted: (usize, usize),
}

impl Flushes {
    /// An empty batch.
    pub fn new() -> Flushes {
        Flushes::default()
    }

    /// Queues `frame` for `socket`; `true` when the socket took it (it will be written unless
    /// the connection breaks), `false` when the socket is gone or was just found too slow.
    pub(crate) fn send(&mut self, socket: &SocketHandle, frame: &Frame) -> bool {
        let taken = match socket.enqueue(frame) {
            Enqueued::First => {
                self.sockets.push(socket.clone());
                true
            }
            Enqueued::Behind => true,
            Enqueued::Refused(_) => false,
        };
        if taken {
            if !self
                .counted_by
                .as_ref()
                .is_some_and(|by| by.same_metrics(socket))
            {
                self.count();
                self.counted_by = Some(socket.clone());
            }
            self.uncounted.0 += 1;
            self.uncounted.1 += frame.len();
        }
        taken
    }

    /// Takes over another batch's sockets.
    pub(crate) fn append(&mut self, mut other: Flushes) {
        other.count();
        self.sockets.append(&mut other.sockets);
    }

    /// Whether no socket waits to be flushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Writes what was queued, from this thread or spawned chunks.
    pub fn flush(mut self) {
        self.count();
        flush(std::mem::take(&mut self.sockets), None);
    }

    /// `flush`, then `done` once the last socket was written (or left queued for its task),
    /// on whichever thread finishes last: how long a fan-out really takes.
    pub(crate) fn flush_then(mut self, done: impl FnOnce() + Send + 'static) {
        self.count();
        flush(std::mem::take(&mut self.sockets), Some(Box::new(done)));
    }

    /// Adds the frames taken so far to their app's metrics.
    fn count(&mut self) {
        if let Some(by) = self.counted_by.take() {
            let (messages, bytes) = std::mem::take(&mut self.uncounted);
            by.count_sent(messages, bytes);
        }
    }
}

impl Drop for Flushes {
    fn drop(&mut self) {
        self.count();
        debug_assert!(
            self.sockets.is_empty() || std::thread::panicking(),
            "frames were queued for {} socket(s) and never flushed",
            self.sockets.len()
        );
    }
}

/// Called once a fan-out's last chunk is written.
type Done = Box<dyn FnOnce() + Send>;

/// Flushes sockets whose queue just went from empty to non-empty; then calls `done`, if any,
/// from the thread that finished last.
pub(crate) fn flush(sockets: Vec<SocketHandle>, done: Option<Done>) {
    if sockets.len() <= INLINE || tokio::runtime::Handle::try_current().is_err() {
        for socket in &sockets {
            socket.flush_now();
        }
        if let Some(done) = done {
            done();
        }
        return;
    }
    let chunks = sockets.len().div_ceil(CHUNK);
    // The chunk that finishes last runs `done`.
    let last = done.map(|done| Arc::new((AtomicUsize::new(chunks), Mutex::new(Some(done)))));
    let mut sockets = sockets.into_iter();
    loop {
        let chunk: Vec<SocketHandle> = sockets.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return;
        }
        let last = last.clone();
        tokio::spawn(async move {
            for socket in &chunk {
                socket.flush_now();
            }
            if let Some(last) = last {
                if last.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let done = last.1.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(done) = done {
                        done();
                    }
                }
            }
        });
    }
}

#[cfg(debug_assertions)]
thread_local! {
    static BANS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// While alive, this thread must not write to a socket (checked in debug builds). Held
/// together with the cluster view lock; not `Send`, like the lock's guard.
#[derive(Debug)]
pub struct WriteBan {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Bans socket writes on this thread until the returned guard is dropped.
pub fn ban_writes() -> WriteBan {
    #[cfg(debug_assertions)]
    BANS.with(|bans| bans.set(bans.get() + 1));
    WriteBan {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for WriteBan {
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        BANS.with(|bans| bans.set(bans.get() - 1));
    }
}

/// Panics in debug builds when this thread holds a `WriteBan`: every socket write checks it.
pub(crate) fn assert_writes_allowed() {
    #[cfg(debug_assertions)]
    BANS.with(|bans| {
        assert!(
            bans.get() == 0,
            "a socket write while the cluster view lock is held: queue into a Flushes batch under the lock and flush it after"
        );
    });
}
