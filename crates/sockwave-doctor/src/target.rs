//! What the live checks aim at, as the `.env` checks worked it out: the two addresses, the
//! credentials, and the variable names to blame in messages.

use super::endpoint::Endpoint;

/// The variables a live failure points at, e.g. `PUSHER_APP_SECRET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarNames {
    /// e.g. `PUSHER_APP_ID`.
    pub app_id: String,
    /// e.g. `PUSHER_APP_KEY`.
    pub key: String,
    /// e.g. `PUSHER_APP_SECRET`.
    pub secret: String,
    /// e.g. `VITE_PUSHER_APP_KEY`, or the backend key's name when the browser's is unknown.
    pub browser_key: String,
    /// What set the backend address, e.g. `PUSHER_SCHEME/HOST/PORT` or `--url`.
    pub backend_address: String,
    /// What set the browser address, e.g. `VITE_PUSHER_SCHEME/HOST/PORT` or `--browser-url`.
    pub browser_address: String,
}

/// How to call the Laravel app's private-channel auth endpoint, as Echo does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAuth {
    /// The app's base URL (`--app-url`, else `APP_URL`).
    pub app_url: String,
    /// Whether `--app-url` gave it (an unreachable app then fails instead of warning).
    pub app_url_explicit: bool,
    /// Echo's auth path, `/broadcasting/auth` by default.
    pub path: String,
    /// `Cookie` header for a logged-in session.
    pub cookie: Option<String>,
    /// Extra headers (`X-CSRF-TOKEN`, `Authorization`, …).
    pub headers: Vec<(String, String)>,
    /// The private channel to ask for.
    pub channel: Option<String>,
    /// Whether `--channel` named it (rather than the doctor guessing one).
    pub channel_named: bool,
    /// The `Broadcast::channel` patterns of `routes/channels.php`.
    pub patterns: Vec<String>,
    /// Laravel 11 or later (`bootstrap/app.php` configures the app), for the 404 fix.
    pub laravel_11: bool,
}

/// Where a Laravel queue keeps its jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueStore {
    /// Laravel's Redis queue: the list `{prefix}queues:{queue}`.
    Redis {
        /// `redis://…` built from `REDIS_URL` or `REDIS_HOST/PORT/PASSWORD/DB`.
        url: String,
        /// Laravel's Redis key prefix (`REDIS_PREFIX`, else `{app name}_database_`).
        prefix: String,
    },
    /// Laravel's database queue: the `jobs` table.
    Sql {
        /// `mysql://…` or `postgres://…` built from `DB_*`.
        url: String,
        /// The jobs table.
        table: String,
    },
}

/// A queue that broadcast events wait in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSetup {
    /// `QUEUE_CONNECTION`, e.g. `redis`.
    pub connection: String,
    /// The queue name, e.g. `default`.
    pub queue: String,
    /// Where to count.
    pub store: QueueStore,
    /// The `ShouldBroadcast` event classes that go through it.
    pub events: Vec<String>,
}

/// Everything the live checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where Laravel publishes (PUSHER_SCHEME/HOST/PORT or `--url`).
    pub backend: Option<Endpoint>,
    /// Where the browser connects (VITE_/MIX_ values or `--browser-url`).
    pub browser: Option<Endpoint>,
    /// The app id Laravel uses.
    pub app_id: Option<String>,
    /// The app key Laravel signs with.
    pub key: Option<String>,
    /// The app secret Laravel signs with.
    pub secret: Option<String>,
    /// The app key the browser connects with.
    pub browser_key: Option<String>,
    /// Names for messages.
    pub names: VarNames,
    /// The app's auth endpoint, when there is an app to ask.
    pub app_auth: Option<AppAuth>,
    /// The queue queued broadcast events wait in, when it can be read.
    pub queue: Option<QueueSetup>,
}
