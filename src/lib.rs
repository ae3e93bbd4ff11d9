//! sockwave: a self-hosted real-time server for the Pusher Channels protocol.
//!
//! pusher-js / Laravel Echo clients and Pusher server SDKs connect to it unchanged.
//!
//! # Layout
//!
//! The wire format, signatures and WebSocket framing are the `sockwave-protocol` crate (pure,
//! no runtime); `sockwave doctor` is the `sockwave-doctor` crate. The modules here, from the
//! bottom layer up (`ARCHITECTURE.md` draws the layers; `tests/architecture.rs` enforces them):
//!
//! - `app`: the `App` model, its webhook targets and the `AppStore` lookup.
//! - `redis_client`: opening a Redis client (`redis://`, `rediss://` with its certificates).
//! - `config`: files, environment and flags into a validated `Config`; every feature's
//!   settings type.
//! - `metrics`, `rate_limit`, `tls`: Prometheus metrics, rate limits, native TLS.
//! - `http`: the client's address and bounded request-body reading, for every endpoint.
//! - `tap`: the console's feed of diagnostic events.
//! - `health`: `sockwave health`, the container health check against `/ready`.
//! - `outbox`: a socket's bounded outbound queue, direct writes and fan-out.
//! - `registry`: node-local sockets, channels, presence and users; synchronous.
//! - `adapter`: the cluster's transport, wire format and replicated view.
//! - `webhooks`: batched, signed, retried webhook delivery.
//! - `hints`: warnings for the usual broken pipelines.
//! - `context`: the state every task shares.
//! - `effects`: what cluster-level transitions do on this node (frames, webhooks).
//! - `publish`: validating and publishing an event.
//! - `peers`: applying other nodes' messages.
//! - `connection`: one task per socket — upgrade, read, write, heartbeat, dispatch.
//! - `http_api`: the Pusher HTTP API and health endpoints.
//! - `console`: the live event console (`/console`).
//! - `exporter`: `GET /metrics`.
//! - `server`: the composition root, listeners and graceful shutdown.

pub mod adapter;
pub mod app;
pub mod config;
pub mod connection;
pub(crate) mod console;
pub mod context;
pub(crate) mod effects;
pub(crate) mod exporter;
pub mod health;
pub(crate) mod hints;
pub mod history;
pub(crate) mod http;
pub(crate) mod http_api;
pub(crate) mod metrics;
pub mod outbox;
pub mod peers;
pub mod pressure;
pub mod publish;
pub(crate) mod rate_limit;
pub mod redis_client;
pub mod registry;
pub mod server;
pub mod sql_apps;
pub(crate) mod tap;
pub(crate) mod tls;
pub mod webhooks;
