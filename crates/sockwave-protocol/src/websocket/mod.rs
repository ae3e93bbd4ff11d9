//! WebSocket framing (RFC 6455) for the server side, without buffers of its own.
//!
//! A general WebSocket library keeps a read buffer and a write buffer per connection; at tens
//! of thousands of idle sockets those buffers were most of the server's memory
//! (docs/performance.md). This module is the smallest framing sockwave needs:
//!
//! - `decode`: parses the client's masked frames out of bytes the caller read into a scratch
//!   buffer, and keeps only what is left of an incomplete frame (usually nothing).
//! - `encode`: the 2–10 header bytes of an unmasked server frame; the payload is written
//!   from the shared frame itself (vectored write), so fan-out never copies it.
//!
//! - `accept`: the upgrade handshake's `Sec-WebSocket-Accept` value.
//! - `deflate`: `permessage-deflate` (RFC 7692): the offer a server accepts, and one
//!   message compressed or decompressed with per-thread state, so a connection that
//!   negotiated compression still owns no buffers.
//!
//! Pure: no I/O, no clock, no tokio.

pub mod accept;
pub mod decode;
pub mod deflate;
pub mod encode;

pub use accept::accept_key;
pub use decode::{Decoder, Incoming, ProtocolError};
pub use deflate::PerMessageDeflate;
pub use encode::{close_payload, compressed_header, header, Header, Opcode};
