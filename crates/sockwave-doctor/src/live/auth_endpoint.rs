//! The app's private-channel auth endpoint (Laravel: `POST /broadcasting/auth`), called as
//! Echo calls it: a form with `socket_id` and `channel_name`, the user's cookie and headers.
//! When it fails, pusher-js never sends the subscribe, so neither the server's log nor its
//! console sees anything: this check is the only place the cause shows up.
//!
//! Each answer is explained with its usual cause in a Laravel app; a signature is verified
//! against the credentials in `.env` and, with a socket open, by the server itself.

use std::time::Duration;

use super::socket::{Socket, SocketError};
use crate::check::Check;
use crate::target::{AppAuth, Target};

pub(super) const NAME: &str = "auth endpoint";

/// What came back.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

/// Calls the endpoint with the open socket's id (or a made-up one) and explains the answer.
pub(super) async fn check(
    auth: &AppAuth,
    socket: Option<&mut Socket>,
    target: &Target,
    limit: Duration,
) -> Check {
    let Some(channel) = &auth.channel else {
        return Check::skip(
            NAME,
            "no channel to try: pass --channel private-… (one routes/channels.php defines: Laravel refuses the others)",
        );
    };
    let socket_id = socket
        .as_ref()
        .map_or_else(|| "1234.5678".to_string(), |s| s.socket_id.clone());
    let url = format!("{}{}", auth.app_url.trim_end_matches('/'), auth.path);
    let answer = match call(auth, &url, &socket_id, channel, limit).await {
        Ok(answer) => answer,
        Err(err) if auth.app_url_explicit => {
            return Check::fail(
                NAME,
                format!("POST {url}: {err}"),
                "check --app-url: it must be where the Laravel app answers",
            )
        }
        Err(err) => {
            return Check::warn(
                NAME,
                format!("POST {url} (APP_URL): {err}"),
                Some("pass --app-url with the address the Laravel app answers on".into()),
            )
        }
    };
    let request = format!("POST {url} for {channel}");
    let as_guest = auth.cookie.is_none() && auth.headers.is_empty();
    let same_path = answer.location.as_deref().is_some_and(|location| {
        location
            .split('?')
            .next()
            .is_some_and(|path| path.ends_with(auth.path.as_str()))
    });
    match answer.status {
        300..=399 if same_path => Check::fail(
            NAME,
            format!(
                "{request} was redirected to {}: the same path at another address (http→https, another host)",
                answer.location.as_deref().unwrap_or_default()
            ),
            "point --app-url (or APP_URL) at the address the app really answers on",
        ),
        300..=399 | 401 | 403 if as_guest => Check::warn(
            NAME,
            format!(
                "{request} answered {} to a guest: the route works; whether a logged-in user may join is not checked",
                answer.status
            ),
            Some("pass --cookie (from a logged-in browser session) or --header 'Authorization: Bearer …' to check as a user".into()),
        ),
        404 if !auth.channel_named && !auth.app_url_explicit => Check::warn(
            NAME,
            format!("{request} answered 404: the broadcasting routes are not registered, so private and presence channels cannot work (fine if the app uses public channels only)"),
            Some(not_registered_fix(auth)),
        ),
        200 => signed(&request, &answer.body, channel, &socket_id, socket, target).await,
        404 => Check::fail(
            NAME,
            format!("{request} answered 404: the broadcasting routes are not registered"),
            not_registered_fix(auth),
        ),
        419 => Check::fail(
            NAME,
            format!("{request} answered 419: CSRF token mismatch (the route is behind the web group's CSRF check)"),
            "Echo sends X-CSRF-TOKEN when the page has <meta name=\"csrf-token\" content=\"{{ csrf_token() }}\">; or let Broadcast::routes() register the route (it skips the CSRF check) instead of a route of your own in routes/web.php; to check a logged-in session here, pass --cookie and --header 'X-CSRF-TOKEN: …'",
        ),
        300..=399 => Check::fail(
            NAME,
            format!(
                "{request} was redirected to {}: the request is not authenticated (no logged-in session)",
                answer.location.as_deref().unwrap_or("another page")
            ),
            "Echo's auth request must carry the user's session cookie: serve the page from the app's domain, or for an SPA on another domain use Sanctum with withCredentials; to check here, pass --cookie from a logged-in browser session",
        ),
        401 | 403 => {
            let pattern = matching_pattern(&auth.patterns, channel);
            let callback = match &pattern {
                Some(pattern) => format!("the callback of Broadcast::channel('{pattern}') in routes/channels.php"),
                None => "its channel callback in routes/channels.php".to_string(),
            };
            Check::fail(
                NAME,
                format!("{request} answered {}: the route works and the app refused this user ({callback} returned false, or no user is logged in)", answer.status),
                format!("make {callback} return true for this user (and check the guard it runs under); to check here, pass --cookie/--header for a user who may join, or --channel for one they can"),
            )
        }
        500..=599 => Check::fail(
            NAME,
            format!("{request} answered {}: {}", answer.status, exception(&answer.body)),
            "the app threw while authorizing: see storage/logs/laravel.log (APP_DEBUG=true shows the exception in the response)",
        ),
        status => Check::fail(
            NAME,
            format!("{request} answered {status}: {}", excerpt(&answer.body)),
            "Echo expects 200 with {\"auth\": \"key:signature\"}: check what answers on this path",
        ),
    }
}

fn not_registered_fix(auth: &AppAuth) -> String {
    if auth.laravel_11 {
        "add ->withBroadcasting(__DIR__.'/../routes/channels.php') to bootstrap/app.php (php artisan install:broadcasting does it)".to_string()
    } else {
        "uncomment App\\Providers\\BroadcastServiceProvider::class in the providers of config/app.php (Laravel 10 and older)".to_string()
    }
}

/// A 200: there must be an `auth` the server accepts.
async fn signed(
    request: &str,
    body: &str,
    channel: &str,
    socket_id: &str,
    socket: Option<&mut Socket>,
    target: &Target,
) -> Check {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let Some(auth) = json.as_ref().and_then(|j| j["auth"].as_str()) else {
        return Check::fail(
            NAME,
            format!("{request} answered 200 without an auth signature ({}): another route or middleware answered", excerpt(body)),
            "make sure Echo's auth path is Laravel's /broadcasting/auth and nothing else (a catch-all route for the frontend, a proxy) answers it",
        );
    };
    let channel_data = json.as_ref().and_then(|j| j["channel_data"].as_str());
    let names = &target.names;
    if let (Some(key), Some(secret)) = (&target.key, &target.secret) {
        let mut to_sign = format!("{socket_id}:{channel}");
        if let Some(data) = channel_data {
            to_sign.push(':');
            to_sign.push_str(data);
        }
        let expected = format!(
            "{key}:{}",
            sockwave_protocol::auth::signature::sign(secret, to_sign.as_bytes())
        );
        if auth != expected {
            return Check::fail(
                NAME,
                format!("{request}: the app signed '{auth}', which is not what {} and {} sign", names.key, names.secret),
                format!("the running app uses other credentials than this .env: clear a cached config (php artisan config:clear), restart the app, and check {} and {}", names.key, names.secret),
            );
        }
    }
    let Some(socket) = socket else {
        return Check::pass(NAME, format!("{request} returned a valid signature"));
    };
    match socket
        .subscribe_with(channel, Some(auth.to_string()), channel_data)
        .await
    {
        Ok(()) => Check::pass(NAME, format!("{request} signed the subscription and the server accepted it")),
        Err(err @ SocketError::Refused { .. }) => Check::fail(
            NAME,
            format!("{request} signed it, but the server refused the auth ({err})"),
            format!("the app signs with another key or secret than the server's app: compare {} and {} with the server's configuration", names.key, names.secret),
        ),
        Err(err) => Check::fail(NAME, format!("{request}: subscribing with the app's auth failed: {err}"), "see the server's log for this connection"),
    }
}

async fn call(
    auth: &AppAuth,
    url: &str,
    socket_id: &str,
    channel: &str,
    limit: Duration,
) -> Result<Answer, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(limit)
        .build()
        .map_err(|err| err.to_string())?;
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("socket_id", socket_id)
        .append_pair("channel_name", channel)
        .finish();
    let mut request = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    if let Some(cookie) = &auth.cookie {
        request = request.header("cookie", cookie);
    }
    for (name, value) in &auth.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(describe)?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await.unwrap_or_default();
    Ok(Answer {
        status,
        location,
        body,
    })
}

fn describe(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer in time".to_string()
    } else if err.is_connect() {
        "cannot connect".to_string()
    } else {
        err.to_string()
    }
}

/// The exception in an error response: Laravel's JSON (`message`, `exception`), or its debug
/// page (the `<title>` and the first `<abbr title="…">`, the exception class).
fn exception(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(message) = json["message"].as_str() {
            return match json["exception"].as_str() {
                Some(class) => format!("{class}: {message}"),
                None => message.to_string(),
            };
        }
    }
    let between = |start: &str, end: &str| {
        let from = body.find(start)? + start.len();
        let to = body[from..].find(end)? + from;
        Some(body[from..to].trim().to_string())
    };
    let title = between("<title>", "</title>").map(|t| {
        t.rsplit_once(" (")
            .map_or(t.clone(), |(message, _)| message.to_string())
    });
    match (between("<abbr title=\"", "\""), title) {
        (Some(class), Some(message)) => format!("{class}: {message}"),
        (None, Some(message)) => message,
        _ => "an error page without details (set APP_DEBUG=true to see the exception)".to_string(),
    }
}

fn excerpt(body: &str) -> String {
    let text: String = body.trim().chars().take(80).collect();
    if text.is_empty() {
        "an empty body".to_string()
    } else {
        format!("the body starts with '{text}'")
    }
}

/// The `Broadcast::channel` pattern that names `channel` (`orders.{id}` for
/// `private-orders.7`).
fn matching_pattern(patterns: &[String], channel: &str) -> Option<String> {
    let name = ["private-encrypted-", "private-", "presence-"]
        .iter()
        .find_map(|prefix| channel.strip_prefix(prefix))
        .unwrap_or(channel);
    patterns
        .iter()
        .find(|pattern| {
            let parts: Vec<&str> = pattern.split('.').collect();
            let given: Vec<&str> = name.split('.').collect();
            parts.len() == given.len()
                && parts
                    .iter()
                    .zip(&given)
                    .all(|(p, g)| p == g || (p.starts_with('{') && p.ends_with('}')))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_channels() {
        let patterns = vec!["orders.{id}".to_string(), "chat".to_string()];
        assert_eq!(
            matching_pattern(&patterns, "private-orders.7").as_deref(),
            Some("orders.{id}")
        );
        assert_eq!(
            matching_pattern(&patterns, "presence-chat").as_deref(),
            Some("chat")
        );
        assert_eq!(matching_pattern(&patterns, "private-orders"), None);
    }

    #[test]
    fn exceptions_from_laravel_pages() {
        let page = "<html><head><title>database connection lost (500 Internal Server Error)</title></head><body><a><abbr title=\"RuntimeException\">RuntimeException</abbr></a></body></html>";
        assert_eq!(
            exception(page),
            "RuntimeException: database connection lost"
        );
        let json = r#"{"message":"boom","exception":"LogicException"}"#;
        assert_eq!(exception(json), "LogicException: boom");
        assert_eq!(
            exception("<html>Server Error</html>"),
            "an error page without details (set APP_DEBUG=true to see the exception)"
        );
    }
}
