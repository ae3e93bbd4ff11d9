//! The Pusher Channels protocol as sockwave speaks it, without any I/O: the wire format of
//! protocol 7 (typed client messages, server frames, channel names, the catalogue of error
//! codes), the signatures of channel auth, user sign-in and the HTTP API, and the server side
//! of WebSocket framing (RFC 6455).
//!
//! Pure: this crate does no I/O, reads no clock, spawns nothing, logs nothing and does not
//! depend on an async runtime, so the compiler keeps it that way. The server (`sockwave`),
//! the diagnostics (`sockwave-doctor`), the load generator and the fuzz targets build on it.
//!
//! # Layout
//!
//! - `messages`: `ClientMessage` (parsed client frames) and the builders of server frames.
//! - `channel`: `ChannelName` and `ChannelKind` (validation and prefixes).
//! - `codes`: `ErrorCode`, the one catalogue of 4xxx codes and what they tell clients to do.
//! - `ids`: `SocketId`, `AppId`, `AppKey`.
//! - `frame`: `Frame`, a serialised text frame shared by every recipient.
//! - `auth`: HMAC-SHA256 signing and constant-time verification.
//! - `websocket`: framing (`decode`, `encode`) and the upgrade's accept key.

pub mod auth;
pub mod channel;
pub mod codes;
pub mod frame;
pub mod ids;
pub mod messages;
pub mod websocket;

pub use channel::{ChannelKind, ChannelName, ChannelNameError};
pub use codes::ErrorCode;
pub use frame::Frame;
pub use ids::{AppId, AppKey, SocketId};
pub use messages::{parse_client_message, ClientMessage, ParseError};

/// Protocol versions we accept in the `protocol` query parameter.
pub const SUPPORTED_PROTOCOLS: std::ops::RangeInclusive<u32> = 4..=7;
