//! Load-shaped robustness tests against the real `sockwave` binary (spawned as a child
//! process, so its memory can be read from `/proc`):
//!
//! - `storm`: many pusher-js-like clients lose their connection at once (server restart)
//!   and reconnect with jitter; all must be resubscribed within a bound.
//! - `slow_readers`: clients that never read while publishes flow are cut off and the
//!   server's memory stays bounded.
//!
//! The default sizes are a smoke run for `cargo test`; environment variables scale them up
//! (see `docs/security.md` for the full-size commands and results).

#![allow(unreachable_pub, missing_docs)]

#[path = "../common/process.rs"]
mod process;
mod slow_readers;
mod storm;
