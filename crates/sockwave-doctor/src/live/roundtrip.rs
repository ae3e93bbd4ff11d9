//! End-to-end checks on an established socket: an event published through the HTTP API
//! reaches a public-channel subscriber, and a private channel accepts an auth signed with
//! the backend's secret exactly as Laravel's `/broadcasting/auth` signs it.
//!
//! Channel names carry a random suffix so runs against a shared server never collide.

use tokio::time::Instant;

use super::api::Api;
use super::refusal;
use super::socket::{Socket, SocketError};
use crate::check::Check;
use crate::target::Target;
use sockwave_protocol::auth::signature::sign;

const DELIVERY: &str = "event delivery";
const PRIVATE: &str = "private channel auth";
const EVENT: &str = "doctor-ping";

fn suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Subscribe as the browser, publish as the backend, time the arrival.
pub(super) async fn delivery(
    socket: Option<&mut Socket>,
    api: Option<&Api>,
    target: &Target,
) -> Check {
    let (Some(socket), Some(api)) = (socket, api) else {
        return Check::skip(DELIVERY, "needs the app key and HTTP API checks to pass");
    };
    let channel = format!("doctor-{}", suffix());
    if let Err(err) = socket.subscribe(&channel, None).await {
        return Check::fail(
            DELIVERY,
            format!("subscribing to {channel} failed: {err}"),
            "see the server's log for this subscription",
        );
    }
    let started = Instant::now();
    let data = serde_json::json!({ "sent_by": "sockwave doctor" }).to_string();
    let request = format!("POST {}", api.path("events"));
    match api.publish(&channel, EVENT, &data).await {
        Ok(reply) if (200..300).contains(&reply.status) => {}
        Ok(reply) => {
            let app_id = target.app_id.as_deref().unwrap_or_default();
            let (detail, fix) = refusal::diagnose(&reply, &request, app_id, &target.names);
            return Check::fail(DELIVERY, detail, fix);
        }
        Err(err) => {
            let fix = format!("check {}", target.names.backend_address);
            return Check::fail(DELIVERY, format!("{request} failed: {err}"), fix);
        }
    }
    match socket.expect_event(&channel, EVENT).await {
        Ok(_) => {
            let millis = started.elapsed().as_secs_f64() * 1000.0;
            Check::pass(DELIVERY, format!("an event published as Laravel does reached the browser-side subscriber on {channel} in {millis:.1} ms"))
        }
        Err(SocketError::Timeout { secs, .. }) => {
            let names = &target.names;
            Check::fail(
                DELIVERY,
                format!("the publish was accepted but {channel} received nothing within {secs} s"),
                format!("the backend and the browser reach different servers or apps: make {} and {} lead to the same server (several servers need a shared adapter such as Redis) and the same app", names.backend_address, names.browser_address),
            )
        }
        Err(err) => Check::fail(
            DELIVERY,
            format!("waiting for the event on {channel} failed: {err}"),
            "see the server's log for this connection",
        ),
    }
}

/// Subscribe to a private channel with an auth signed here with the backend's credentials.
pub(super) async fn private_auth(socket: Option<&mut Socket>, target: &Target) -> Check {
    let (Some(socket), Some(key), Some(secret)) = (socket, &target.key, &target.secret) else {
        return Check::skip(PRIVATE, "needs an open socket and the app key and secret");
    };
    let channel = format!("private-doctor-{}", suffix());
    let signature = sign(secret, format!("{}:{channel}", socket.socket_id).as_bytes());
    let names = &target.names;
    match socket.subscribe(&channel, Some(format!("{key}:{signature}"))).await {
        Ok(()) => Check::pass(PRIVATE, format!("{channel} accepted an auth signed here with {} and {}, as Laravel's /broadcasting/auth signs it", names.key, names.secret)),
        Err(err @ SocketError::Refused { .. }) => Check::fail(
            PRIVATE,
            format!("{channel} refused the auth signed with {} ({err})", names.secret),
            format!("{} (with {}) does not match the server's app: copy the secret from the server's configuration; until then every private and presence channel is refused", names.secret, names.key),
        ),
        Err(err) => Check::fail(PRIVATE, format!("subscribing to {channel} failed: {err}"), "see the server's log for this connection"),
    }
}
