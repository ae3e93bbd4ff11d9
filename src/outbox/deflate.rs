//! `permessage-deflate` on the outbound side: which frames a socket gets compressed, and a
//! broadcast compressed once however many subscribers share its parameters.
//!
//! A fan-out queues one frame to every subscriber from one thread, so the compressed bytes
//! are kept per thread next to the frame they came from, one entry per window size: the
//! first subscriber that wants the frame compressed at that size pays for it, the others get
//! the same bytes (a reference count). There are only seven sizes zlib compresses with, so
//! clients choosing unusual windows cost at most seven compressions per broadcast. The entry
//! holds the frame itself, so its address cannot be reused while the entry lives and
//! comparing addresses is comparing frames.

use std::cell::RefCell;

use bytes::Bytes;
use sockwave_protocol::websocket::{deflate, PerMessageDeflate};

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// How one socket compresses what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compression {
    window_bits: u8,
    /// Frames shorter than this go out as they are: compressing them saves a few bytes at
    /// most and costs CPU for every one.
    min_bytes: u32,
}

impl Compression {
    /// What the connection agreed to, with frames under `min_bytes` left uncompressed.
    pub(crate) fn new(agreed: PerMessageDeflate, min_bytes: usize) -> Compression {
        Compression {
            window_bits: agreed.server_window_bits,
            min_bytes: u32::try_from(min_bytes).unwrap_or(u32::MAX),
        }
    }

    /// A broadcast frame's bytes for this socket: compressed (`true`) when it is long
    /// enough and compression made it shorter, from the thread's cache when another
    /// subscriber already had it compressed.
    pub(crate) fn shared(self, frame: &Bytes) -> (bool, Bytes) {
        if frame.len() < self.min_bytes as usize {
            return (false, frame.clone());
        }
        let compressed = CACHE.with_borrow_mut(|cache| cache.get(frame, self.window_bits));
        match compressed {
            Some(compressed) => (true, compressed),
            None => (false, frame.clone()),
        }
    }

    /// A frame only this socket gets (a reply), compressed the same way but not cached.
    pub(crate) fn single(self, payload: Bytes) -> (bool, Bytes) {
        if payload.len() < self.min_bytes as usize {
            return (false, payload);
        }
        match smaller(&payload, self.window_bits) {
            Some(compressed) => (true, compressed),
            None => (false, payload),
        }
    }
}

/// `payload` compressed, if that makes it shorter.
fn smaller(payload: &[u8], window_bits: u8) -> Option<Bytes> {
    deflate::compress(payload, window_bits)
        .filter(|compressed| compressed.len() < payload.len())
        .map(Bytes::from)
}

/// The last frame compressed at each window size zlib uses (9–15 bits; 8 compresses as 9).
#[derive(Default)]
struct Cache {
    entries: [Option<Entry>; 7],
}

struct Entry {
    frame: Bytes,
    /// `None`: compressing did not make it shorter; it goes out as it is.
    compressed: Option<Bytes>,
}

impl Cache {
    fn get(&mut self, frame: &Bytes, window_bits: u8) -> Option<Bytes> {
        let bits = window_bits.clamp(9, 15);
        let slot = &mut self.entries[usize::from(bits - 9)];
        if let Some(entry) = slot {
            if entry.frame.as_ptr() == frame.as_ptr() && entry.frame.len() == frame.len() {
                return entry.compressed.clone();
            }
        }
        let compressed = smaller(frame, bits);
        *slot = Some(Entry {
            frame: frame.clone(),
            compressed: compressed.clone(),
        });
        compressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compression(window_bits: u8, min_bytes: usize) -> Compression {
        let agreed = deflate::negotiate([format!(
            "permessage-deflate; server_max_window_bits={window_bits}"
        )
        .as_str()])
        .expect("a valid offer");
        Compression::new(agreed, min_bytes)
    }

    fn json(n: usize) -> Bytes {
        Bytes::from(format!(
            r#"{{"event":"stats.updated","data":"{}"}}"#,
            "{\\\"cpu\\\":0.5}".repeat(n)
        ))
    }

    #[test]
    fn a_broadcast_is_compressed_once_per_window_size() {
        let frame = json(50);
        let (yes, first) = compression(15, 64).shared(&frame);
        let (_, again) = compression(15, 64).shared(&frame.clone());
        assert!(yes && first.len() < frame.len() / 3);
        assert_eq!(first.as_ptr(), again.as_ptr(), "the same compressed bytes");
        let (_, narrow) = compression(9, 64).shared(&frame);
        assert_ne!(
            narrow.as_ptr(),
            first.as_ptr(),
            "another window, another compression"
        );
        let (_, eight) = compression(8, 64).shared(&frame);
        assert_eq!(eight.as_ptr(), narrow.as_ptr(), "8 bits compress as 9");
        // Back to the first size: still cached, every size keeps its own entry.
        let (_, again) = compression(15, 64).shared(&frame);
        assert_eq!(again.as_ptr(), first.as_ptr());
        let decompressed = deflate::inflate(&first, 1 << 20).unwrap();
        assert_eq!(decompressed, frame);
    }

    #[test]
    fn an_equal_frame_elsewhere_is_another_frame() {
        let (a, b) = (json(50), json(50));
        let (_, from_a) = compression(15, 64).shared(&a);
        let (_, from_b) = compression(15, 64).shared(&b);
        assert_ne!(from_a.as_ptr(), from_b.as_ptr());
        assert_eq!(from_a, from_b);
    }

    #[test]
    fn short_or_incompressible_frames_go_out_as_they_are() {
        let short = json(1);
        assert_eq!(compression(15, 256).shared(&short), (false, short.clone()));
        // xorshift32: bytes with nothing for DEFLATE to find.
        let mut state = 2_463_534_242u32;
        let noise: Bytes = (0..600)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        assert_eq!(compression(15, 16).shared(&noise), (false, noise.clone()));
        assert_eq!(compression(15, 16).single(noise.clone()), (false, noise));
        let (yes, reply) = compression(15, 16).single(json(20));
        assert!(yes && reply.len() < json(20).len());
    }
}
