//! HTTP plumbing every endpoint shares (the API, the console, the WebSocket upgrade): the
//! client's address as the accept loop saw it, and reading request bodies within a size cap,
//! a deadline, a minimum rate and the server-wide body budget (`body`).
//!
//! Knows nothing of routes, of the Pusher API or of the console.

pub mod body;

use std::net::SocketAddr;

pub use body::{BodyBudget, BodyError, BodyLimits};

/// The client's address, put into the request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);
