//! Attacks against the real `sockwave` binary, one per finding of the hostile-traffic review
//! (issue 13), each asserting the bound the server must keep: time, memory or status.
//!
//! - `channel_scan`: a publish to channels nobody hears, with tens of thousands of channels
//!   held by anonymous sockets, costs milliseconds and stalls nobody.
//! - `slow_bodies`: request bodies sent slowly, or almost completely and then held, are
//!   refused before they are read when unsigned, and cut off within bounded time and memory
//!   when signed.
//! - `console`: no empty or short token, no credential in a URL, a locked-down page, wrong
//!   tokens throttled, and rows a stranger wrote marked as client-supplied.
//! - `presence`: a signed-in user joining a presence channel is held to the member limits.
//! - `small_holes`: signed parameter names, the metrics listener's timeouts, credentials in
//!   webhook URLs and `.env` values, and the close after a WebSocket protocol error.
//!
//! Sized to run in seconds; `SOCKWAVE_TEST_BIN=/path/to/sockwave` runs them against another
//! build (`docs/security.md` has the figures of the release before the fixes).

#![allow(unreachable_pub, missing_docs)]

mod channel_scan;
mod console;
mod presence;
#[path = "../common/process.rs"]
mod process;
mod slow_bodies;
mod small_holes;
mod ws;
