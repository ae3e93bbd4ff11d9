//! sockwave: a self-hosted real-time server for the Pusher Channels protocol.
//!
//! pusher-js / Laravel Echo clients and Pusher server SDKs connect to it unchanged.
//!
//! # Layout
//!
//! - `protocol`: the wire format — typed client messages, server frames, channel names,
//!   error codes. Pure.
//! - `auth`: HMAC signatures for channel auth, sign-in and the HTTP API. Pure.
//! - `config`: files, environment and flags into a validated `Config`.
//! - `app`: the `App` model and the `AppStore` lookup.
//! - `registry`: node-local sockets, channels and presence; synchronous.
//! - `websocket`: RFC 6455 framing without per-connection buffers. Pure.
//! - `connection`: one task per socket — upgrade, read, write, heartbeat, dispatch.
//! - `http_api`: the Pusher HTTP API and health endpoints.
//! - `webhooks`: webhook events, batching, signing and the delivery worker with retries.
//! - `context`: the state every task shares.
//! - `adapter`: the cluster — node-to-node messages, the replicated view, Redis/NATS.
//! - `effects`: what cluster-level transitions do on this node (frames, webhooks).
//! - `webhooks`: batched, signed, retried webhook delivery.
//! - `console`: the live event console (`/console`) and broken-pipeline hints.
//! - `doctor`: `sockwave doctor`, diagnosing a Laravel + Echo setup.
//! - `metrics`: Prometheus metric names, recording handles and the exporter endpoint.
//! - `rate_limit`: per-app API rate limits (local or shared through Redis), per-IP limits.
//! - `tls`: certificate loading and reloading for native TLS.
//! - `server`: the composition root, listener and graceful shutdown.

pub mod adapter;
pub mod app;
pub mod auth;
pub mod config;
pub mod connection;
pub mod console;
pub mod context;
pub mod doctor;
pub mod effects;
pub mod http_api;
pub mod http_body;
pub mod metrics;
pub mod protocol;
pub mod rate_limit;
pub mod registry;
pub mod server;
pub mod tls;
pub mod webhooks;
pub mod websocket;
