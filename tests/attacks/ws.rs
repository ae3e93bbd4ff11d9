//! A WebSocket client as an attacker writes one: tokio-tungstenite for whole conversations,
//! plus the pusher frames the attacks send.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sockwave_protocol::auth::signature::sign;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{KEY, SECRET};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connected socket and its id.
pub struct Client {
    pub ws: Ws,
    pub socket_id: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let url = format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        let mut client = Client {
            ws,
            socket_id: String::new(),
        };
        let established = client.next_event("pusher:connection_established").await;
        let data: Value = serde_json::from_str(established["data"].as_str().unwrap()).unwrap();
        client.socket_id = data["socket_id"].as_str().unwrap().to_string();
        client
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    /// Queues a frame without flushing (for pipelining many).
    pub async fn feed(&mut self, frame: Value) {
        self.ws
            .feed(Message::text(frame.to_string()))
            .await
            .expect("feed");
    }

    pub async fn flush(&mut self) {
        self.ws.flush().await.expect("flush");
    }

    /// The next frame with this event name (others are skipped).
    pub async fn next_event(&mut self, event: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["event"] == event {
                return frame;
            }
        }
    }

    /// The next text frame, within 10 s.
    pub async fn next_frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("the socket is open")
                .expect("a valid frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).expect("JSON frame");
            }
        }
    }

    /// Signs in as `user_data` with a valid signature.
    pub async fn sign_in(&mut self, user_data: &str) -> Value {
        let signature = sign(
            SECRET,
            format!("{}::user::{user_data}", self.socket_id).as_bytes(),
        );
        let frame = json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:{signature}"), "user_data": user_data}});
        self.send(frame).await;
        self.next_frame().await
    }

    /// Subscribes to a presence channel with a valid signature and no `channel_data`
    /// (the member is the signed-in user); the server's answer.
    pub async fn join_signed_in(&mut self, channel: &str) -> Value {
        let signature = sign(SECRET, format!("{}:{channel}", self.socket_id).as_bytes());
        let frame = json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": format!("{KEY}:{signature}")}});
        self.send(frame).await;
        loop {
            let frame = self.next_frame().await;
            let event = frame["event"].as_str().unwrap_or_default();
            if event.contains("subscription") || event == "pusher:error" {
                return frame;
            }
        }
    }
}
