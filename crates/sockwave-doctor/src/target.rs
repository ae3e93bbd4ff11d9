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
    /// The `Broadcast::channel` patterns of `routes/channels.php`.
    pub patterns: Vec<String>,
    /// Laravel 11 or later (`bootstrap/app.php` configures the app), for the 404 fix.
    pub laravel_11: bool,
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
}
