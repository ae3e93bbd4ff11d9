//! Writing one frame to many sockets, in two phases.
//!
//! A broadcast first queues the frame for every subscriber (a lock and a reference count
//! each, no syscall), then flushes the sockets whose queue it found empty. Small fan-outs
//! flush inline; large ones are cut into chunks spawned as tasks, so both worker threads
//! write at once and the last subscriber hears the event about half as late. Under
//! saturation the chunk tasks run behind the publishes: later frames find the queues
//! non-empty, are not flushed again, and go out together with the earlier ones in one
//! vectored write per socket. So a burst costs one syscall per socket, not one per frame,
//! while an isolated event still goes out at once.

use crate::registry::SocketHandle;

/// Up to this many sockets are flushed by the caller itself.
const INLINE: usize = 64;
/// Sockets per spawned flush task.
const CHUNK: usize = 128;

/// Flushes sockets whose queue just went from empty to non-empty.
pub fn flush(sockets: Vec<SocketHandle>) {
    if sockets.len() <= INLINE || tokio::runtime::Handle::try_current().is_err() {
        for socket in &sockets {
            socket.flush_now();
        }
        return;
    }
    let mut sockets = sockets.into_iter();
    loop {
        let chunk: Vec<SocketHandle> = sockets.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for socket in &chunk {
                socket.flush_now();
            }
        });
    }
}
