//! `permessage-deflate` (RFC 7692): which offer a server accepts, and the compression of
//! one message.
//!
//! sockwave compresses a broadcast once and sends the same bytes to every subscriber, so the
//! server never carries its compression state from one message to the next
//! (`server_no_context_takeover`); it asks clients for the same (`client_no_context_takeover`,
//! which a server may always ask for), so that decompressing a client's message needs no
//! state between messages either. A connection with compression therefore owns nothing more
//! than the window size it agreed to: the compressors and the decompressor are per thread
//! and reset after every message.

mod codec;
mod offer;

pub use codec::{compress, inflate};
pub use offer::negotiate;

/// What one connection agreed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMessageDeflate {
    /// The largest LZ77 window (log2 of its bytes, 8–15) the server may compress with:
    /// the client's `server_max_window_bits`, or 15.
    pub server_window_bits: u8,
    /// Whether the client's offer named `server_max_window_bits`, so the reply repeats it.
    server_window_bits_offered: bool,
}

impl PerMessageDeflate {
    /// The largest window there is; what a client that names no limit gets.
    pub const MAX_WINDOW_BITS: u8 = 15;

    /// The `Sec-WebSocket-Extensions` value of the server's reply.
    pub fn response_header(&self) -> String {
        let mut value = String::from(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        );
        if self.server_window_bits_offered {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_window_bits
            ));
        }
        value
    }
}

#[cfg(test)]
mod tests;
