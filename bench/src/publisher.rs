//! Signed `POST /apps/{id}/events` over one HTTP/1.1 keep-alive connection, the way a backend
//! SDK publishes.
//!
//! Requests are signed with the server crate's own functions (`body_md5`, `string_to_sign`,
//! `sign`; PROTOCOL.md §8.2), so a signature mismatch can only mean the server changed its
//! rules. A publisher reconnects once when the server drops the connection (some servers
//! close keep-alive connections after a number of requests).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use sockwave_protocol::auth::api_auth::{body_md5, string_to_sign};
use sockwave_protocol::auth::signature::sign;

use crate::target::Target;

/// One keep-alive connection to the HTTP API (or a new one per request).
pub(crate) struct Publisher {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    keep_alive: bool,
}

impl Publisher {
    /// A publisher that connects on first use.
    pub(crate) fn new(target: Arc<Target>) -> Publisher {
        Publisher {
            target,
            sender: None,
            keep_alive: true,
        }
    }

    /// A publisher that opens a new connection for every request, as backends without a
    /// connection pool (a PHP request, a `curl` per event) do.
    pub(crate) fn without_keep_alive(target: Arc<Target>) -> Publisher {
        Publisher {
            keep_alive: false,
            ..Publisher::new(target)
        }
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = self
            .target
            .connect_tcp(self.target.http_addr)
            .await
            .context("connecting to the HTTP API")?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        // The connection future does the I/O; it ends when the sender is dropped.
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Publishes `data` as event `name` on `channel`; returns the HTTP status. A status other
    /// than 200 comes back as an error carrying the response body.
    pub(crate) async fn publish(
        &mut self,
        channel: &str,
        name: &str,
        data: &str,
    ) -> anyhow::Result<()> {
        let body = json!({ "name": name, "channel": channel, "data": data }).to_string();
        self.send(&body).await
    }

    /// Publishes one event to several channels (at most the app's `max_channels_per_event`).
    pub(crate) async fn publish_to_many(
        &mut self,
        channels: &[String],
        name: &str,
        data: &str,
    ) -> anyhow::Result<()> {
        let body = json!({ "name": name, "channels": channels, "data": data }).to_string();
        self.send(&body).await
    }

    /// Publishes `events` (channel, data) named `name` in one `POST /batch_events`.
    pub(crate) async fn publish_batch(
        &mut self,
        events: &[(String, String)],
        name: &str,
    ) -> anyhow::Result<()> {
        let batch: Vec<_> = events
            .iter()
            .map(|(channel, data)| json!({ "name": name, "channel": channel, "data": data }))
            .collect();
        let body = json!({ "batch": batch }).to_string();
        self.send_to("batch_events", &body).await
    }

    async fn send(&mut self, body: &str) -> anyhow::Result<()> {
        self.send_to("events", body).await
    }

    async fn send_to(&mut self, endpoint: &str, body: &str) -> anyhow::Result<()> {
        for attempt in 0..2 {
            let sender = match &mut self.sender {
                Some(sender) if sender.is_ready() => sender,
                _ => self.sender.insert(self.connect().await?),
            };
            let request = signed_request(&self.target, endpoint, body)?;
            let sent = sender.send_request(request).await;
            if !self.keep_alive {
                self.sender = None;
            }
            match sent {
                Ok(response) => {
                    let status = response.status();
                    let bytes = response.into_body().collect().await?.to_bytes();
                    if status.is_success() {
                        return Ok(());
                    }
                    bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
                }
                // A dropped keep-alive connection: reconnect once, then give up.
                Err(err) if attempt == 0 && (err.is_closed() || err.is_incomplete_message()) => {
                    self.sender = None;
                }
                Err(err) => return Err(err).context("sending the publish request"),
            }
        }
        bail!("the HTTP API closed the connection twice")
    }
}

/// A `POST /apps/{id}/{endpoint}` request signed as the Pusher HTTP API requires.
fn signed_request(
    target: &Target,
    endpoint: &str,
    body: &str,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let path = format!("/apps/{}/{endpoint}", target.app_id);
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs();
    let query = vec![
        ("auth_key".to_string(), target.key.clone()),
        ("auth_timestamp".to_string(), timestamp.to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
        ("body_md5".to_string(), body_md5(body.as_bytes())),
    ];
    let signature = sign(
        &target.secret,
        string_to_sign("POST", &path, &query).as_bytes(),
    );
    let query_string: String = query
        .iter()
        .map(|(key, value)| format!("{key}={value}&"))
        .collect();
    let uri = format!(
        "{}{path}?{query_string}auth_signature={signature}",
        target.http_prefix
    );
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(HOST, &target.http_host)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .context("building the publish request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_a_verifiable_signature() {
        let target = Target::new("ws://127.0.0.1:1", "http://127.0.0.1:1", "7", "k", "s").unwrap();
        let request = signed_request(&target, "events", r#"{"name":"e"}"#).unwrap();
        let uri = request.uri().to_string();
        assert!(uri.starts_with("/apps/7/events?auth_key=k&"), "{uri}");
        let pairs: Vec<(String, String)> = form_pairs(request.uri().query().unwrap());
        let credentials = sockwave_protocol::auth::api_auth::ApiCredentials {
            app_id: "7",
            key: "k",
            secret: "s",
            timestamp_window: std::time::Duration::from_secs(600),
        };
        let api_request = sockwave_protocol::auth::api_auth::ApiRequest {
            method: "POST",
            path: "/apps/7/events",
            received_path: None,
            query: &pairs,
            body: br#"{"name":"e"}"#,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            sockwave_protocol::auth::api_auth::verify_request(&api_request, &credentials, now)
                .is_ok()
        );
    }

    fn form_pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }
}
