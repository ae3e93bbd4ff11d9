//! NATS transport: publish and subscribe on the subject `{prefix}.sockwave`. The client
//! library reconnects by itself; its connection events are turned into `Up` / `Down`.
//! Credentials come in the server URLs (`nats://user:password@host:4222` or
//! `nats://token@host:4222`, percent-encoded).

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::transport::{Echo, TransportEvent, TransportHandle};

/// Starts the NATS transport task. Connection happens in the background: an unreachable
/// server at startup is reported as `Down` and retried, like any later outage.
pub(crate) fn spawn(
    servers: &[String],
    prefix: &str,
    echo: Echo,
    events: mpsc::Sender<TransportEvent>,
    stop: CancellationToken,
) -> TransportHandle {
    let subject = format!("{prefix}.sockwave");
    let (handle, outgoing) = TransportHandle::channel();
    tokio::spawn(run(servers.to_vec(), subject, outgoing, events, echo, stop));
    handle
}

async fn run(
    servers: Vec<String>,
    subject: String,
    mut outgoing: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<TransportEvent>,
    echo: Echo,
    stop: CancellationToken,
) {
    let (servers, credentials) = take_credentials(&servers);
    let callback_events = events.clone();
    let options = match credentials {
        Some(Credentials::UserPassword(user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        Some(Credentials::Token(token)) => async_nats::ConnectOptions::with_token(token),
        None => async_nats::ConnectOptions::new(),
    };
    let options = options
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let events = callback_events.clone();
            async move {
                let report = match event {
                    async_nats::Event::Connected => Some(TransportEvent::Up),
                    async_nats::Event::Disconnected => {
                        Some(TransportEvent::Down("nats: disconnected".to_string()))
                    }
                    _ => None,
                };
                if let Some(report) = report {
                    let _ = events.send(report).await;
                }
            }
        });
    let client = match options.connect(servers.as_slice()).await {
        Ok(client) => client,
        Err(err) => {
            let _ = events
                .send(TransportEvent::Down(format!("nats: {err}")))
                .await;
            return;
        }
    };
    let mut subscription = match client.subscribe(subject.clone()).await {
        Ok(subscription) => subscription,
        Err(err) => {
            let _ = events
                .send(TransportEvent::Down(format!(
                    "nats: subscribe failed: {err}"
                )))
                .await;
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                while let Ok(payload) = outgoing.try_recv() {
                    let _ = client.publish(subject.clone(), payload).await;
                }
                let _ = client.flush().await;
                return;
            }
            message = subscription.next() => match message {
                Some(message) => {
                    if echo.is_own(&message.payload) {
                        continue;
                    }
                    if events.send(TransportEvent::Message(message.payload)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = events.send(TransportEvent::Down("nats: subscription ended".to_string())).await;
                    return;
                }
            },
            Some(payload) = outgoing.recv() => {
                // While disconnected the client buffers publishes up to its own limit and then
                // errors; either way the snapshot on reconnect repairs the state.
                let _ = client.publish(subject.clone(), payload).await;
            }
        }
    }
}

/// How this node authenticates to NATS.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    UserPassword(String, String),
    /// A user without a password is a token, as in the other NATS clients' URLs.
    Token(String),
}

/// The client library does not read credentials from server URLs, so they are taken out
/// here: the first URL that has some sets them for every server (configuration checks they
/// agree), and every URL is passed on without them.
fn take_credentials(servers: &[String]) -> (Vec<String>, Option<Credentials>) {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut credentials = None;
    let mut bare = Vec::with_capacity(servers.len());
    for server in servers {
        let Ok(address) = server.parse::<async_nats::ServerAddr>() else {
            // Left for the client library to report.
            bare.push(server.clone());
            continue;
        };
        let mut url = address.into_inner();
        if !url.username().is_empty() && credentials.is_none() {
            let user = decode(url.username());
            credentials = Some(match url.password() {
                Some(password) => Credentials::UserPassword(user, decode(password)),
                None => Credentials::Token(user),
            });
        }
        // Cannot fail: a URL with a host (every NATS server URL) accepts credentials.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        bare.push(url.to_string());
    }
    (bare, credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(servers: &[&str], expected_servers: &[&str], expected: Option<Credentials>) {
        let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
        let (bare, credentials) = take_credentials(&servers);
        assert_eq!(bare, expected_servers);
        assert_eq!(credentials, expected);
    }

    #[test]
    fn credentials_come_from_the_urls() {
        check(&["nats://127.0.0.1:4222"], &["nats://127.0.0.1:4222"], None);
        check(
            &["nats://ann:p%40ss@a:4222", "nats://ann:p%40ss@b:4222"],
            &["nats://a:4222", "nats://b:4222"],
            Some(Credentials::UserPassword("ann".into(), "p@ss".into())),
        );
        check(
            &["nats://s3cr%2Ft@a:4222"],
            &["nats://a:4222"],
            Some(Credentials::Token("s3cr/t".into())),
        );
    }
}
