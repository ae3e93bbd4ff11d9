#![allow(unreachable_pub)]
//! In-process integration tests: a real server on `127.0.0.1:0`, driven over real TCP with
//! tokio-tungstenite and raw HTTP/1.1, area by area.

mod support;

mod cache;
mod client_events;
mod cluster;
mod connection;
mod http_api;
mod presence;
mod shutdown;
mod subscriptions;
mod users;
mod webhook_receiver;
mod webhooks;
