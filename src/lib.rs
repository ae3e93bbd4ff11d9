//! sockwave: a self-hosted real-time server for the Pusher Channels protocol.
//!
//! pusher-js / Laravel Echo clients and Pusher server SDKs connect to it unchanged.
//!
//! # Layout
//!
//! The wire format, signatures and WebSocket framing are the `sockwave-protocol` crate (pure,
//! no runtime); `sockwave doctor` is the `sockwave-doctor` crate.
//!
//! - `config`: files, environment and flags into a validated `Config`.
//! - `app`: the `App` model and the `AppStore` lookup.
//! - `registry`: node-local sockets, channels and presence; synchronous.
//! - `connection`: one task per socket — upgrade, read, write, heartbeat, dispatch.
//! - `http_api`: the Pusher HTTP API and health endpoints.
//! - `webhooks`: webhook events, batching, signing and the delivery worker with retries.
//! - `context`: the state every task shares.
//! - `adapter`: the cluster — node-to-node messages, the replicated view, Redis/NATS.
//! - `effects`: what cluster-level transitions do on this node (frames, webhooks).
//! - `webhooks`: batched, signed, retried webhook delivery.
//! - `console`: the live event console (`/console`) and broken-pipeline hints.
//! - `metrics`: Prometheus metric names, recording handles and the exporter endpoint.
//! - `rate_limit`: per-app API rate limits (local or shared through Redis), per-IP limits.
//! - `tls`: certificate loading and reloading for native TLS.
//! - `server`: the composition root, listener and graceful shutdown.

pub mod adapter;
pub mod app;
pub mod config;
pub mod connection;
pub mod console;
pub mod context;
pub mod effects;
pub mod http_api;
pub mod http_body;
pub mod metrics;
pub mod outbox;
pub mod rate_limit;
pub mod registry;
pub mod server;
pub mod tls;
pub mod webhooks;
