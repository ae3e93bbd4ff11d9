//! Cross-node fan-out and cluster state.
//!
//! `wire` is the node-to-node message format; `view` merges every node's state and decides
//! cluster-level transitions.

pub mod nats;
pub mod redis;
pub mod transport;
pub mod view;
pub mod wire;
