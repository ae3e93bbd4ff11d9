//! One function per fuzz target. Each takes arbitrary bytes, drives one of sockwave's
//! untrusted-input entry points with them and panics when an invariant breaks: a panic is
//! what libFuzzer (and the smoke test) report as a crash.
//!
//! Signatures cannot be guessed by a fuzzer, so inputs may carry placeholders the harness
//! replaces with correct values before the server sees them: `"auth":"sign"` in a
//! `pusher:subscribe` or `pusher:signin`, and `auth_signature=sign`, `body_md5=sign`,
//! `auth_timestamp=now` in an HTTP API query. That lets the fuzzer reach the code behind the
//! checks (presence membership, sign-in, event validation) as well as the checks themselves.
//!
//! This file is compiled twice: by the `sockwave-fuzz` crate for `cargo fuzz`, and by the
//! server's `tests/fuzz_smoke.rs` (through `#[path]`). It may use only what both have:
//! `sockwave`, `tokio`, `serde_json` and `form_urlencoded`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use sockwave::adapter::Cluster;
use sockwave::app::{App, AppId, AppKey, StaticAppStore};
use sockwave::config::WebhookSettings;
use sockwave::config::{from_text, FileFormat, ServerConfig};
use sockwave::connection::session::Session;
use sockwave::connection::ClientMeta;
use sockwave::context::Context;
use sockwave::outbox::SocketHandle;
use sockwave::publish::{parse_batch, parse_event};
use sockwave::webhooks::Webhooks;
use sockwave_protocol::auth::api_auth::{body_md5, string_to_sign};
use sockwave_protocol::auth::signature::sign;
use sockwave_protocol::auth::{
    channel_string_to_sign, user_string_to_sign, verify_request, ApiCredentials, ApiRequest,
};
use sockwave_protocol::channel::kind_of;
use sockwave_protocol::websocket::{Decoder, Incoming, ProtocolError};
use sockwave_protocol::SocketId;
use sockwave_protocol::{parse_client_message, ChannelName};

const APP_ID: &str = "fuzz-app";
const KEY: &str = "fuzz-key";
/// Distinctive, so an error message that leaks it is easy to spot.
const SECRET: &str = "fuzz-secret-3b9d1e";
/// The HTTP API target's fixed clock.
const NOW: i64 = 1_700_000_000;
/// Frames per `client_message` input; more adds time, not coverage.
const MAX_FRAMES: usize = 64;

/// A server without sockets: the shared state a `Session` needs, built once per process
/// inside a runtime (the webhook sender and throttled counts spawn tasks).
struct World {
    runtime: tokio::runtime::Runtime,
    ctx: Arc<Context>,
    app: Arc<App>,
}

fn build_world() -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut app = App::default_dev();
    app.id = AppId::from(APP_ID);
    app.key = AppKey::from(KEY);
    app.secret = SECRET.to_string();
    app.enable_client_messages = true;
    app.enable_subscription_count = true;
    app.limits.max_presence_members = 8;
    let store = Arc::new(StaticAppStore::new([app.clone()]));
    let ctx = {
        let _entered = runtime.enter();
        let webhooks = Webhooks::spawn(WebhookSettings::default()).expect("webhook sender");
        Arc::new(Context::new(
            ServerConfig::default(),
            store,
            webhooks,
            Cluster::local(),
        ))
    };
    World {
        runtime,
        ctx,
        app: Arc::new(app),
    }
}

/// The `client_message` world; `node_message` has its own so one target's leftovers can
/// never look like the other's leak.
fn session_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build_world)
}

fn node_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build_world)
}

/// Client frames, one per line: each is parsed, then a fresh `Session` handles them in
/// order. Every reply must be a JSON object with an `event`; after the socket leaves, the
/// registry and the cluster view must hold nothing of it.
pub fn client_message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let world = session_world();
    let _entered = world.runtime.enter();
    let ctx = &world.ctx;
    let socket = SocketHandle::detached(ctx.socket_ids.next_id(), 64);
    let registry = ctx.registry.app(&AppId::from(APP_ID));
    assert!(registry.try_add_socket(socket.clone(), None));
    let mut session = Session::new(
        ctx.clone(),
        world.app.clone(),
        registry.clone(),
        socket.clone(),
    );
    for line in text.split('\n').take(MAX_FRAMES) {
        let _ = parse_client_message(line);
        let frame = fill_client_placeholders(line, session.socket_id());
        for reply in session.handle_text(&frame) {
            check_frame(&reply);
        }
        for frame in socket.take_queued() {
            check_frame(std::str::from_utf8(&frame).expect("frames are UTF-8"));
        }
    }
    session.leave_all();
    registry.remove_socket(socket.id());
    assert_eq!(
        registry.channel_count(),
        0,
        "a channel outlived its last socket"
    );
    assert_eq!(
        registry.connection_count(),
        0,
        "a socket outlived its session"
    );
    assert_eq!(registry.users.n_online(), 0, "a user stayed signed in");
    assert_eq!(
        registry.users.n_watched(),
        0,
        "a watchlist outlived its socket"
    );
    let view = ctx.cluster.lock();
    assert!(
        view.channels(&AppId::from(APP_ID), "").is_empty(),
        "the cluster view kept channels of a socket that left"
    );
}

/// Replaces `"auth":"sign"` in subscribe and sign-in frames with a valid token.
fn fill_client_placeholders(line: &str, socket_id: &str) -> String {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let event = frame.get("event").and_then(Value::as_str).unwrap_or("");
    let to_sign = {
        let Some(Value::Object(data)) = frame.get("data") else {
            return line.to_string();
        };
        if data.get("auth").and_then(Value::as_str) != Some("sign") {
            return line.to_string();
        }
        let field = |name: &str| data.get(name).and_then(Value::as_str);
        match event {
            "pusher:subscribe" => {
                let channel = field("channel").unwrap_or("");
                let channel_data = if channel.starts_with("presence-") {
                    field("channel_data")
                } else {
                    None
                };
                channel_string_to_sign(socket_id, channel, channel_data)
            }
            "pusher:signin" => user_string_to_sign(socket_id, field("user_data").unwrap_or("")),
            _ => return line.to_string(),
        }
    };
    let token = format!("{KEY}:{}", sign(SECRET, to_sign.as_bytes()));
    if let Some(Value::Object(data)) = frame.get_mut("data") {
        data.insert("auth".to_string(), Value::String(token));
    }
    Value::Object(frame).to_string()
}

/// A frame the server sends must be a JSON object with a string `event`, and must never
/// carry the app secret.
fn check_frame(frame: &str) {
    let value: Value = serde_json::from_str(frame)
        .unwrap_or_else(|err| panic!("the server built invalid JSON ({err}): {frame}"));
    assert!(
        value["event"].is_string(),
        "frame without an event: {frame}"
    );
    assert!(
        !frame.contains(SECRET),
        "a frame leaked the secret: {frame}"
    );
}

/// Channel names, handshake query strings and socket ids: validation must agree with the
/// rules it states and keep its messages short.
pub fn channel_name(data: &[u8]) {
    let (max_len, rest) = match data.split_first() {
        Some((first, rest)) => (usize::from(*first) + 1, rest),
        None => (200, data),
    };
    let text = String::from_utf8_lossy(rest);
    match ChannelName::parse(&text, max_len) {
        Ok(name) => {
            assert!(name.as_str().chars().count() <= max_len);
            assert!(!name.as_str().starts_with('#'));
            assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '=' | '@' | ',' | '.' | ';')));
            assert_eq!(name.kind(), kind_of(name.as_str()));
            let _ = name.is_cache();
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.len() < 400, "unbounded error message: {message}");
        }
    }
    let meta = ClientMeta::parse(Some(&text), Some(&text));
    assert!(meta.client.iter().all(|c| c.chars().count() <= 64));
    let _ = meta.check_protocol();
    if let Ok(id) = text.parse::<SocketId>() {
        assert_eq!(id.to_string().parse::<SocketId>(), Ok(id));
    }
}

/// An HTTP API request: one byte picks the method, then `path?query`, a newline and the
/// body. Refusals must never show the secret; accepted bodies go through event validation.
pub fn api_request(data: &[u8]) {
    const METHODS: [&str; 4] = ["POST", "GET", "PUT", "DELETE"];
    let (method, rest) = match data.split_first() {
        Some((first, rest)) => (METHODS[usize::from(*first) % METHODS.len()], rest),
        None => ("POST", data),
    };
    let text = String::from_utf8_lossy(rest);
    let (target, body) = text.split_once('\n').unwrap_or((&text, ""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    fill_api_placeholders(method, path, &mut query, body.as_bytes());
    let request = ApiRequest {
        method,
        path,
        received_path: None,
        query: &query,
        body: body.as_bytes(),
    };
    let credentials = ApiCredentials {
        app_id: APP_ID,
        key: KEY,
        secret: SECRET,
        timestamp_window: Duration::from_secs(600),
    };
    match verify_request(&request, &credentials, NOW) {
        Ok(()) => {
            let Ok(value) = serde_json::from_slice::<Value>(body.as_bytes()) else {
                return;
            };
            let limits = App::default_dev().limits;
            if let Ok(event) = parse_event(&value, &limits, false) {
                assert!(!event.name.starts_with("pusher:"));
                assert!(event.data.len() <= limits.max_event_payload_bytes);
                assert!(event.channels.len() <= limits.max_channels_per_event);
            }
            if let Ok(batch) = parse_batch(&value, &limits) {
                assert!(batch.len() <= limits.max_batch_size);
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                !message.contains(SECRET),
                "error leaked the secret: {message}"
            );
        }
    }
}

fn fill_api_placeholders(method: &str, path: &str, query: &mut [(String, String)], body: &[u8]) {
    for (key, value) in query.iter_mut() {
        match (key.as_str(), value.as_str()) {
            ("auth_timestamp", "now") => *value = NOW.to_string(),
            ("body_md5", "sign") => *value = body_md5(body),
            _ => {}
        }
    }
    let wants_signature = query
        .iter()
        .any(|(key, value)| key == "auth_signature" && value == "sign");
    if wants_signature {
        let signature = sign(SECRET, string_to_sign(method, path, query).as_bytes());
        for (key, value) in query.iter_mut() {
            if key == "auth_signature" {
                *value = signature.clone();
            }
        }
    }
}

/// sockwave's TOML configuration file.
pub fn config_toml(data: &[u8]) {
    let _ = from_text(FileFormat::Toml, &String::from_utf8_lossy(data));
}

/// Soketi's JSON configuration file.
pub fn config_soketi_json(data: &[u8]) {
    let _ = from_text(FileFormat::SoketiJson, &String::from_utf8_lossy(data));
}

/// A payload from another cluster node, applied to the view and the local registry as the
/// cluster actor does; afterwards every other node is forgotten again.
pub fn node_message(data: &[u8]) {
    let world = node_world();
    let _entered = world.runtime.enter();
    let ctx = &world.ctx;
    sockwave::peers::handle(ctx, data);
    let mut view = ctx.cluster.lock();
    let self_id = view.self_id().to_string();
    for node in view.node_ids() {
        if node != self_id {
            view.remove_node(&node);
        }
    }
    assert_eq!(view.node_ids(), vec![self_id]);
}

/// The `websocket_decode` message limit: small, so inputs reach it.
const WS_LIMIT: usize = 4096;
/// The longest frame header: 2 bytes, a 64-bit length and the mask key.
const WS_MAX_HEADER: usize = 14;

/// Client WebSocket bytes after a 3-byte prefix: the first two bytes (big-endian, modulo the
/// length) say where the first read ends, the third is the size minus one of every later
/// read. One read and several must give the same messages, the same error or none, and the
/// same state; between reads the decoder holds less than one frame (header and `WS_LIMIT`).
pub fn websocket_decode(data: &[u8]) {
    let [high, low, read_size, stream @ ..] = data else {
        return;
    };
    let first_len = usize::from(u16::from_be_bytes([*high, *low])) % (stream.len() + 1);
    let (first, rest) = stream.split_at(first_len);
    let whole = decode_reads(std::iter::once(stream));
    let reads = std::iter::once(first).chain(rest.chunks(usize::from(*read_size) + 1));
    let split = decode_reads(reads);
    assert_eq!(whole, split, "one read and several disagree");
}

/// What a decoder reported, and its state afterwards unless it failed (the connection ends
/// then, so that state does not matter).
#[derive(Debug, PartialEq)]
struct Decoded {
    messages: Vec<Incoming>,
    outcome: Result<(bool, usize), ProtocolError>,
}

fn decode_reads<'a>(reads: impl Iterator<Item = &'a [u8]>) -> Decoded {
    let mut decoder = Decoder::new(WS_LIMIT);
    let mut messages = Vec::new();
    let mut outcome = Ok(());
    for read in reads {
        // `feed` unmasks in place, as it would in the connection's read buffer.
        let mut bytes = read.to_vec();
        outcome = decoder.feed(&mut bytes, &mut |message| messages.push(message));
        if outcome.is_err() {
            break;
        }
        assert!(
            decoder.buffered_bytes() < WS_MAX_HEADER + WS_LIMIT,
            "holds {} bytes, more than one frame",
            decoder.buffered_bytes()
        );
    }
    for message in &messages {
        let len = match message {
            Incoming::Text(text) => text.len(),
            Incoming::Binary(payload) => payload.len(),
            Incoming::Ping(payload) => payload.len(),
            Incoming::Pong | Incoming::Close(_) => 0,
        };
        assert!(len <= WS_LIMIT, "a {len}-byte message passed the limit");
    }
    Decoded {
        messages,
        outcome: outcome.map(|()| (decoder.is_idle(), decoder.buffered_bytes())),
    }
}
