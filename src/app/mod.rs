//! The `App` model: one tenant of the server with its credentials, switches and limits.
//!
//! Apps are immutable once loaded; the `AppStore` looks them up by id (HTTP API) or by key
//! (WebSocket path). This module does not validate configuration (that is `config`'s job)
//! and holds no connection state (that is `registry`'s).

use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod history;
mod webhook;

pub use history::HistoryPolicy;

pub use sockwave_protocol::{AppId, AppKey};

pub use webhook::{ChannelFilter, EventType, WebhookTarget, WebhookUrl, RESERVED_HEADERS};

/// One application: credentials, feature switches and limits. Its `Debug` output never
/// shows the secret, so a stray `?app` in a log line or a panic message cannot leak it.
#[derive(Clone, PartialEq)]
pub struct App {
    /// Application id, as used in `/apps/{id}/...` HTTP API paths.
    pub id: AppId,
    /// Public key, as used in the WebSocket path `/app/{key}` and in signatures.
    pub key: AppKey,
    /// Secret used to sign and verify every HMAC.
    pub secret: String,
    /// A disabled app refuses connections (4003) and HTTP API calls (403).
    pub enabled: bool,
    /// Whether `client-*` events from sockets are accepted.
    pub enable_client_messages: bool,
    /// Whether `pusher:signin` is accepted.
    pub enable_user_authentication: bool,
    /// Whether subscribers of non-presence channels get `pusher_internal:subscription_count`.
    pub enable_subscription_count: bool,
    /// "Authorized connections": a socket that neither signs in nor subscribes to a private or
    /// presence channel within this time is closed with 4009. `None` turns it off.
    pub authorized_connections_timeout: Option<Duration>,
    /// Maximum concurrent connections; `None` means unlimited.
    pub max_connections: Option<u64>,
    /// Size and count limits.
    pub limits: AppLimits,
    /// Where this app's webhooks go; empty means none are sent.
    pub webhooks: Vec<WebhookTarget>,
    /// Which channels keep recent events for recovery, and how many.
    pub history: HistoryPolicy,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Per-app limits. Defaults follow Soketi's (see `../shared/PROTOCOL.md` §10).
#[derive(Debug, Clone, PartialEq)]
pub struct AppLimits {
    /// Maximum size of one event's `data`, in bytes (HTTP publishes and client events).
    pub max_event_payload_bytes: usize,
    /// Maximum number of channels in one `POST /events`.
    pub max_channels_per_event: usize,
    /// Maximum number of events in one `POST /batch_events`.
    pub max_batch_size: usize,
    /// Maximum length of an event name.
    pub(crate) max_event_name_length: usize,
    /// Maximum length of a channel name.
    pub(crate) max_channel_name_length: usize,
    /// Maximum distinct members in one presence channel.
    pub max_presence_members: usize,
    /// Maximum size of one member's `user_info` JSON, in bytes.
    pub max_presence_member_size_bytes: usize,
    /// Client events per second per connection; `None` means unlimited.
    pub max_client_events_per_second: Option<u32>,
    /// HTTP API publishes per second, counted per channel (one event to three channels costs
    /// three); `None` means unlimited.
    pub max_backend_events_per_second: Option<u32>,
    /// HTTP API read requests (channel and user queries) per second; `None` means unlimited.
    pub max_read_requests_per_second: Option<u32>,
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            max_event_payload_bytes: 100 * 1024,
            max_channels_per_event: 100,
            max_batch_size: 10,
            max_event_name_length: 200,
            max_channel_name_length: 200,
            max_presence_members: 100,
            max_presence_member_size_bytes: 2 * 1024,
            max_client_events_per_second: Some(10),
            max_backend_events_per_second: None,
            max_read_requests_per_second: None,
        }
    }
}

impl App {
    /// The built-in development app (`app-id` / `app-key` / `app-secret`).
    pub fn default_dev() -> App {
        App {
            id: AppId::from("app-id"),
            key: AppKey::from("app-key"),
            secret: "app-secret".to_string(),
            enabled: true,
            enable_client_messages: false,
            enable_user_authentication: true,
            enable_subscription_count: false,
            authorized_connections_timeout: None,
            max_connections: None,
            limits: AppLimits::default(),
            webhooks: Vec::new(),
            history: HistoryPolicy::default(),
        }
    }
}

/// Looks apps up by id or key. Implementations must be cheap: both calls sit on hot paths
/// (every HTTP request, every WebSocket handshake).
pub trait AppStore: Send + Sync {
    /// The app with this id, if any, as this node holds it now (never waits). Used where an
    /// app is already in use: its sockets, its webhooks, the console.
    fn find_by_id(&self, id: &str) -> Option<Arc<App>>;
    /// The app with this key, if any, as this node holds it now (never waits).
    fn find_by_key(&self, key: &str) -> Option<Arc<App>>;
    /// The app with this key, read from where apps are kept when the copy at hand is
    /// missing or older than the store allows. Used when a client connects.
    fn lookup_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Lookup> {
        Box::pin(std::future::ready(Ok(self.find_by_key(key))))
    }
    /// The app with this id, like `lookup_by_key`. Used for HTTP API requests.
    fn lookup_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Lookup> {
        Box::pin(std::future::ready(Ok(self.find_by_id(id))))
    }
    /// Why the place apps are kept cannot be read now, if it cannot (a database that is
    /// down); `/ready` reports it.
    fn unreachable(&self) -> Option<String> {
        None
    }
    /// A number that changes whenever an app held here changed, so open sockets can tell
    /// cheaply whether to take their app again. A static store never changes.
    fn generation(&self) -> u64 {
        0
    }
}

/// An app lookup: the app, no such app, or the store could not be read (with why).
pub type Lookup = Result<Option<Arc<App>>, String>;

/// Apps held in memory, loaded once from configuration.
#[derive(Debug, Default)]
pub struct StaticAppStore {
    by_id: HashMap<AppId, Arc<App>>,
    by_key: HashMap<AppKey, Arc<App>>,
}

impl StaticAppStore {
    /// Builds the store. Ids and keys are unique: `config` validated that already.
    pub fn new(apps: impl IntoIterator<Item = App>) -> StaticAppStore {
        let mut store = StaticAppStore::default();
        for app in apps {
            let app = Arc::new(app);
            store.by_id.insert(app.id.clone(), app.clone());
            store.by_key.insert(app.key.clone(), app);
        }
        store
    }
}

impl AppStore for StaticAppStore {
    fn find_by_id(&self, id: &str) -> Option<Arc<App>> {
        self.by_id.get(id).cloned()
    }

    fn find_by_key(&self, key: &str) -> Option<Arc<App>> {
        self.by_key.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::App;

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", App::default_dev());
        assert!(shown.contains("app-key"), "{shown}");
        assert!(!shown.contains("app-secret"), "{shown}");
    }
}
