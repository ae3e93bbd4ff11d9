#![allow(unreachable_pub)]
//! In-process integration tests: a real server on `127.0.0.1:0`, driven over real TCP with
//! tokio-tungstenite and raw HTTP/1.1, area by area.

mod support;

mod cache;
mod client_events;
mod cluster;
mod connection;
mod console;
mod hostile;
mod http_api;
mod leaks;
mod metrics;
mod presence;
mod rate_limits;
mod shutdown;
mod subscriptions;
mod tls;
mod users;
mod webhook_receiver;
mod webhooks;
