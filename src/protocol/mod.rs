//! The Pusher wire format (protocol 7): typed client messages, server frames, channel names
//! and the catalogue of error codes.
//!
//! Pure: this module does no I/O, reads no clock, spawns nothing and logs nothing.

pub mod channel;
pub mod codes;
pub mod messages;

pub use channel::{ChannelKind, ChannelName, ChannelNameError};
pub use codes::ErrorCode;
pub use messages::{parse_client_message, ClientMessage, ParseError};

/// Protocol versions we accept in the `protocol` query parameter.
pub const SUPPORTED_PROTOCOLS: std::ops::RangeInclusive<u32> = 4..=7;
