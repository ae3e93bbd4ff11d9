//! Reading a refused API call back into "which of app id, key, secret, clock or path is
//! wrong". Every Pusher-compatible server words its errors differently, so the texts of the
//! servers we know (sockwave, Soketi, Reverb, Pusher, Sockudo) are tried first and the
//! status decides the rest.

use super::api::Reply;
use crate::target::VarNames;

/// How sockwave, Soketi, Reverb and Sockudo say "no such app" in a 404.
const APP_MISSING: [&str; 4] = [
    "does not exist",
    "could not be found",
    "no matching application",
    "app_not_found",
];

/// What a refused API call says about the configuration: (detail, fix).
pub(crate) fn diagnose(
    reply: &Reply,
    request: &str,
    app_id: &str,
    names: &VarNames,
) -> (String, String) {
    let message = message_of(&reply.body);
    let lower = message.to_ascii_lowercase();
    let status = reply.status;
    let said = format!("{request} was refused with HTTP {status}: \"{message}\"");
    let VarNames {
        app_id: id_var,
        key: key_var,
        secret: secret_var,
        ..
    } = names;
    let copy = "copy it from the server's app configuration";
    // Order matters: a signature message may quote the signed string, which names
    // auth_key and auth_timestamp.
    let (what, fix) = if lower.contains("timestamp expired") || lower.contains("not within") {
        ("the clock", "the clock of this machine is more than 10 minutes off the server's: sync both with NTP; Laravel's host needs the same".to_string())
    } else if lower.contains("signature") || lower.contains("secret") {
        (
            "the secret",
            format!("{secret_var} is not the secret the server has for app '{app_id}': {copy}"),
        )
    } else if lower.contains("auth_key")
        || lower.contains("app key")
        || lower.contains("unknown key")
    {
        ("the key", format!("{key_var} is not the key of app '{app_id}' on the server: {copy} (the id and the key must belong to the same app)"))
    } else if status == 404 && APP_MISSING.iter().any(|phrase| lower.contains(phrase)) {
        (
            "the app id",
            format!("{id_var}='{app_id}' is not an app on the server: {copy}"),
        )
    } else if status == 404 {
        ("the path", "the address answers, but not as a Pusher HTTP API (probably the web app or a proxy): point the backend at the server itself, and include its path prefix if it has one (--url http://host:port/prefix)".to_string())
    } else if status == 401 || status == 400 {
        ("the key, the secret or the clock", format!("check that {key_var} and {secret_var} are the key and secret of app '{app_id}' on the server, and that both clocks are right"))
    } else if status == 403 {
        (
            "the app's state",
            format!("app '{app_id}' is disabled or over its quota on the server"),
        )
    } else {
        (
            "the server",
            "see the server's log for this request".to_string(),
        )
    };
    (format!("{said}; the server points at {what}"), fix)
}

/// The `error`/`message` of a JSON body, else the start of the text without HTML tags.
fn message_of(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(text) = ["error", "message"].iter().find_map(|f| json[f].as_str()) {
            return text.to_string();
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> VarNames {
        VarNames {
            app_id: "PUSHER_APP_ID".into(),
            key: "PUSHER_APP_KEY".into(),
            secret: "PUSHER_APP_SECRET".into(),
            browser_key: "VITE_PUSHER_APP_KEY".into(),
            backend_address: String::new(),
            browser_address: String::new(),
        }
    }

    fn check(status: u16, body: &str, blamed: &str) {
        let reply = Reply {
            status,
            body: body.into(),
        };
        let (detail, _) = diagnose(&reply, "GET /apps/1/channels", "1", &names());
        assert!(
            detail.ends_with(&format!("the server points at {blamed}")),
            "{detail}"
        );
    }

    #[test]
    fn blames_the_right_setting_across_servers() {
        check(
            401,
            r#"{"error":"auth_key 'x' is not the key of app '1'","code":401}"#,
            "the key",
        );
        check(
            401,
            r#"{"error":"signature mismatch: check the secret for app '1' (expected HMAC-SHA256 of \"GET\\n/apps/1/channels\\nauth_key=k&auth_timestamp=1\")","code":401}"#,
            "the secret",
        );
        check(401, "Invalid signature: you should have sent HmacSHA256Hex(\"GET\\n/apps/1/channels\\nauth_key=k&auth_timestamp=1&auth_version=1.0\", your_secret_key)", "the secret");
        check(
            401,
            r#"{"error":"The secret authentication failed","code":401}"#,
            "the secret",
        );
        check(401, "Authentication signature invalid.", "the secret");
        check(400, "Unknown auth_key", "the key");
        check(
            401,
            r#"{"error":"timestamp expired: auth_timestamp 1 is not within 600s of server time 9"}"#,
            "the clock",
        );
        check(
            401,
            "Timestamp expired: Given timestamp (1) not within 600s of server time (9)",
            "the clock",
        );
        check(
            404,
            r#"{"error":"app '1' does not exist on this server","code":404}"#,
            "the app id",
        );
        check(
            404,
            r#"{"error":"The app 1 could not be found.","code":404}"#,
            "the app id",
        );
        check(404, "No matching application for ID [1].", "the app id");
        check(
            404,
            "<html><body><h1>Not Found</h1></body></html>",
            "the path",
        );
        check(401, "nope", "the key, the secret or the clock");
    }
}
