//! Test harness: start a server, connect raw WebSocket clients, sign HTTP API requests.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use sockwave::config::Config;
use sockwave::server::Server;
use sockwave_protocol::auth::api_auth::{body_md5, string_to_sign};
use sockwave_protocol::auth::signature::sign;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const KEY: &str = "app-key";
pub const SECRET: &str = "app-secret";
pub const APP_ID: &str = "app-id";
const WAIT: Duration = Duration::from_secs(3);

/// Starts a server on an ephemeral loopback port with `Config::default()` changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config::default();
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    tweak(&mut config);
    Server::start(config).await.expect("server starts")
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub socket_id: String,
}

/// Connects to `/app/{key}?{query}` and returns the raw stream (no handshake read).
pub async fn connect_raw(
    addr: SocketAddr,
    path_and_query: &str,
) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
    let url = format!("ws://{addr}{path_and_query}");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    ws
}

/// Connects as pusher-js would and reads `connection_established`.
pub async fn connect(addr: SocketAddr) -> Client {
    let ws = connect_raw(
        addr,
        &format!("/app/{KEY}?protocol=7&client=js&version=8.4.0&flash=false"),
    )
    .await;
    let mut client = Client {
        ws,
        socket_id: String::new(),
    };
    let established = client.expect_event("pusher:connection_established").await;
    let data: Value = serde_json::from_str(established["data"].as_str().unwrap()).unwrap();
    client.socket_id = data["socket_id"].as_str().unwrap().to_string();
    client
}

impl Client {
    /// Wraps a raw stream whose handshake the test reads itself.
    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            socket_id: String::new(),
        }
    }

    /// The payload of the next pong control frame.
    pub async fn next_pong(&mut self) -> Vec<u8> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("pong in time")
            {
                Some(Ok(Message::Pong(payload))) => return payload.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next text frame, parsed.
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("stream open")
                .expect("no websocket error");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Skips frames until one with `event`.
    pub async fn expect_event(&mut self, event: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["event"] == event {
                return frame;
            }
        }
    }

    /// Asserts no text frame arrives within `ms` (used only for "must not arrive" checks).
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            panic!("unexpected frame: {text}");
        }
    }

    /// Waits for the close frame; returns its code.
    pub async fn expect_close(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close arrives in time")
            {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return u16::from(CloseCode::Status),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    pub async fn subscribe(
        &mut self,
        channel: &str,
        auth: Option<String>,
        channel_data: Option<&str>,
    ) -> Value {
        let mut data = serde_json::json!({"channel": channel, "auth": auth.unwrap_or_default()});
        if let Some(channel_data) = channel_data {
            data["channel_data"] = channel_data.into();
        }
        self.send(serde_json::json!({"event": "pusher:subscribe", "data": data}))
            .await;
        loop {
            let frame = self.recv().await;
            let event = frame["event"].as_str().unwrap_or("");
            if event == "pusher_internal:subscription_succeeded"
                || event == "pusher:subscription_error"
                || event == "pusher:error"
            {
                return frame;
            }
        }
    }

    /// Drops the TCP connection without a WebSocket close frame. With `reset`, the kernel
    /// sends RST instead of FIN (SO_LINGER 0), like a crashed client or a cut cable.
    pub fn abort(self, reset: bool) {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            if reset {
                let _ = tcp.set_zero_linger();
            }
        }
        drop(self.ws);
    }

    pub fn auth(&self, channel: &str, channel_data: Option<&str>) -> String {
        let to_sign = match channel_data {
            Some(data) => format!("{}:{channel}:{data}", self.socket_id),
            None => format!("{}:{channel}", self.socket_id),
        };
        format!("{KEY}:{}", sign(SECRET, to_sign.as_bytes()))
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed HTTP API request, as the Pusher SDKs build it.
pub struct ApiCall {
    pub method: &'static str,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub body: Option<String>,
    pub secret: String,
    pub timestamp: u64,
}

impl ApiCall {
    pub fn new(method: &'static str, path: &str, body: Option<Value>) -> ApiCall {
        ApiCall {
            method,
            path: path.to_string(),
            params: Vec::new(),
            body: body.map(|b| b.to_string()),
            secret: SECRET.to_string(),
            timestamp: now(),
        }
    }

    pub fn param(mut self, key: &str, value: &str) -> ApiCall {
        self.params.push((key.into(), value.into()));
        self
    }

    pub async fn send(self, addr: SocketAddr) -> (u16, Value) {
        let (status, _, body) = signed_request_with_headers(addr, self).await;
        (status, body)
    }

    /// The path with the signed query string, as the Pusher SDKs build it.
    fn signed_uri(&self) -> String {
        let mut query = self.params.clone();
        query.push(("auth_key".into(), KEY.into()));
        query.push(("auth_timestamp".into(), self.timestamp.to_string()));
        query.push(("auth_version".into(), "1.0".into()));
        if let Some(body) = &self.body {
            query.push(("body_md5".into(), body_md5(body.as_bytes())));
        }
        let signature = sign(
            &self.secret,
            string_to_sign(self.method, &self.path, &query).as_bytes(),
        );
        query.push(("auth_signature".into(), signature));
        let query_string = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        format!("{}?{query_string}", self.path)
    }
}

/// One HTTP/1.1 request; returns the status and the body parsed as JSON (or as a string).
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let (status, _, body) = request_with_headers(addr, method, path, body).await;
    (status, body)
}

async fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, hyper::HeaderMap, Value) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// Publishes an event through the HTTP API and asserts 200.
pub async fn publish(
    addr: SocketAddr,
    channel: &str,
    event: &str,
    data: &str,
    socket_id: Option<&str>,
) {
    let mut body = serde_json::json!({"name": event, "channel": channel, "data": data});
    if let Some(socket_id) = socket_id {
        body["socket_id"] = socket_id.into();
    }
    let (status, response) = ApiCall::new("POST", &format!("/apps/{APP_ID}/events"), Some(body))
        .send(addr)
        .await;
    assert_eq!(status, 200, "{response}");
}

/// A signed request, answered with status, headers and the body as JSON (or a string).
pub async fn signed_request_with_headers(
    addr: SocketAddr,
    call: ApiCall,
) -> (u16, hyper::HeaderMap, Value) {
    let uri = call.signed_uri();
    request_with_headers(addr, call.method, &uri, call.body).await
}

/// `GET path` on `addr` over plain HTTP; returns status and body text.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = raw_request(addr, "GET", path, None).await;
    let text = match body {
        Value::String(text) => text,
        other => other.to_string(),
    };
    (status, text)
}
