//! HTTP plumbing every endpoint shares (the API, the console, the WebSocket upgrade): the
//! client's address as the accept loop saw it, and reading request bodies within a size cap,
//! a deadline, a minimum rate and the server-wide body budget (`body`).
//!
//! Knows nothing of routes, of the Pusher API or of the console.

pub(crate) mod body;

use std::net::SocketAddr;

pub(crate) use body::BodyError;

/// The client's address, put into the request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);
