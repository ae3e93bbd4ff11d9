//! Cross-node fan-out and cluster state.
//!
//! Guarantees, for `redis` and `nats` alike:
//! - **Ordering**: messages from one node arrive at every other node in the order they were
//!   sent (both engines keep per-publisher order), so events on a channel from one publisher
//!   keep their order.
//! - **Delivery**: at most once per socket. A publish is delivered locally by the node that
//!   received it and by every other node from one broadcast message; nothing is retried, and
//!   while the engine is unreachable only local sockets get events.
//! - **State**: presence members, occupied channels, subscriber counts and signed-in users
//!   are replicated as per-node deltas and snapshots (`view`), so queries are answered locally
//!   and never wait on another node. While a node is unreachable its last known state is
//!   used; after `node_timeout` without a heartbeat it is dropped (its members leave).
//!
//! `wire` is the message format, `view` the merged state, `transport`/`redis`/`nats` move
//! bytes, and `node` holds the `Cluster` handle and the actor applying remote messages.

pub(crate) mod nats;
pub(crate) mod node;
pub(crate) mod redis;
pub(crate) mod transport;
pub(crate) mod view;
pub(crate) mod wire;

pub use node::Cluster;
