//! A minimal Pusher client speaking only the public protocol: open `/app/{key}` as pusher-js
//! 8.4 does, read the handshake, subscribe, and wait for one event. Every wait is bounded.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::transport::{self, Stream, TransportError};
use crate::endpoint::Endpoint;

/// Why the socket could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SocketError {
    /// Name, TCP or TLS failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The HTTP upgrade was answered with a status instead of 101.
    #[error("the WebSocket upgrade was answered with HTTP {status} instead of 101")]
    Upgrade {
        /// The status.
        status: u16,
    },
    /// The server sent `pusher:error` (handshake) or refused a subscription.
    #[error("{}: \"{message}\"", code.map_or("refused".to_string(), |c| format!("pusher:error {c}")))]
    Refused {
        /// The Pusher code, when there is one.
        code: Option<u16>,
        /// The server's message.
        message: String,
    },
    /// The server closed the socket.
    #[error("the server closed the WebSocket{}", code.map_or(String::new(), |c| format!(" with code {c}")))]
    Closed {
        /// The close code.
        code: Option<u16>,
    },
    /// Nothing arrived in time.
    #[error("no {what} within {secs} s")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// The limit.
        secs: u64,
    },
    /// Any other WebSocket failure.
    #[error("WebSocket error: {0}")]
    Protocol(String),
}

/// An established Pusher connection.
pub(crate) struct Socket {
    ws: WebSocketStream<Stream>,
    /// The id from `pusher:connection_established`.
    pub(crate) socket_id: String,
    limit: Duration,
}

impl Socket {
    /// Connects with `key` and waits for `pusher:connection_established`.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        key: &str,
        limit: Duration,
    ) -> Result<Socket, SocketError> {
        let stream = transport::connect(endpoint, limit).await?;
        let upgrade = tokio_tungstenite::client_async(endpoint.socket_url(key), stream);
        let ws = match tokio::time::timeout(limit, upgrade).await {
            Err(_) => {
                return Err(SocketError::Timeout {
                    what: "answer to the WebSocket upgrade",
                    secs: limit.as_secs(),
                })
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                return Err(SocketError::Upgrade {
                    status: response.status().as_u16(),
                })
            }
            Ok(Err(err)) => return Err(SocketError::Protocol(err.to_string())),
            Ok(Ok((ws, _))) => ws,
        };
        let mut socket = Socket {
            ws,
            socket_id: String::new(),
            limit,
        };
        let frame = socket.next_frame("pusher:connection_established").await?;
        match frame["event"].as_str() {
            Some("pusher:connection_established") => {
                let data = json_data(&frame);
                socket.socket_id = data["socket_id"].as_str().unwrap_or_default().to_string();
                Ok(socket)
            }
            Some("pusher:error") => Err(refusal(&frame)),
            _ => Err(SocketError::Protocol(format!(
                "unexpected first frame {frame}"
            ))),
        }
    }

    /// Subscribes to `channel` (with `auth` for private channels, and `channel_data` for
    /// presence ones) and waits for the answer.
    pub(crate) async fn subscribe(
        &mut self,
        channel: &str,
        auth: Option<String>,
    ) -> Result<(), SocketError> {
        self.subscribe_with(channel, auth, None).await
    }

    /// `subscribe` with the presence `channel_data` the auth covers.
    pub(crate) async fn subscribe_with(
        &mut self,
        channel: &str,
        auth: Option<String>,
        channel_data: Option<&str>,
    ) -> Result<(), SocketError> {
        let mut data = json!({ "channel": channel });
        if let Some(auth) = auth {
            data["auth"] = Value::String(auth);
        }
        if let Some(channel_data) = channel_data {
            data["channel_data"] = Value::String(channel_data.to_string());
        }
        self.send(json!({ "event": "pusher:subscribe", "data": data }))
            .await?;
        loop {
            let frame = self.next_frame("subscription answer").await?;
            match frame["event"].as_str() {
                Some("pusher_internal:subscription_succeeded") if frame["channel"] == channel => {
                    return Ok(())
                }
                Some("pusher:subscription_error" | "pusher:error") => return Err(refusal(&frame)),
                _ => {}
            }
        }
    }

    /// Waits for `event` on `channel`.
    pub(crate) async fn expect_event(
        &mut self,
        channel: &str,
        event: &str,
    ) -> Result<Value, SocketError> {
        loop {
            let frame = self.next_frame("event").await?;
            if frame["event"] == event && frame["channel"] == channel {
                return Ok(frame);
            }
        }
    }

    /// Closes politely; errors do not matter any more.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(self.limit, self.ws.close(None)).await;
    }

    async fn send(&mut self, frame: Value) -> Result<(), SocketError> {
        let sent =
            tokio::time::timeout(self.limit, self.ws.send(Message::text(frame.to_string()))).await;
        match sent {
            Err(_) => Err(SocketError::Timeout {
                what: "room to send",
                secs: self.limit.as_secs(),
            }),
            Ok(result) => result.map_err(|err| SocketError::Protocol(err.to_string())),
        }
    }

    /// The next JSON text frame, answering `pusher:ping` on the way.
    async fn next_frame(&mut self, what: &'static str) -> Result<Value, SocketError> {
        let deadline = tokio::time::Instant::now() + self.limit;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => {
                    return Err(SocketError::Timeout {
                        what,
                        secs: self.limit.as_secs(),
                    })
                }
                Ok(None) => return Err(SocketError::Closed { code: None }),
                Ok(Some(Err(err))) => return Err(SocketError::Protocol(err.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if frame["event"] == "pusher:ping" {
                        self.send(json!({ "event": "pusher:pong", "data": {} }))
                            .await?;
                        continue;
                    }
                    return Ok(frame);
                }
                Message::Close(frame) => {
                    return Err(SocketError::Closed {
                        code: frame.map(|f| u16::from(f.code)),
                    })
                }
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}

/// `data` as an object, whether the server sent it as an object or a JSON string.
fn json_data(frame: &Value) -> Value {
    match &frame["data"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => other.clone(),
    }
}

/// A `pusher:error` or `pusher:subscription_error` frame as an error.
fn refusal(frame: &Value) -> SocketError {
    let data = json_data(frame);
    let code = data["code"].as_u64().and_then(|c| u16::try_from(c).ok());
    let message = ["message", "error"]
        .iter()
        .find_map(|field| data[field].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| data.to_string());
    SocketError::Refused { code, message }
}
