//! Finding 3: the console accepted an empty token (open to everyone), took credentials in the
//! URL (kept by proxy logs and browser history), had no framing protection, let anyone guess
//! tokens at full speed, and showed rows a stranger wrote like the server's own.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::process::{binary, free_port, request_with_token, Server, Setup, APP_ID, SECRET};
use crate::ws::Client;

const TOKEN: &str = "a-console-token-of-32-characters";

async fn console_server() -> Server {
    let setup = Setup {
        tables: format!("[console]\nenabled = true\ntoken = \"{TOKEN}\""),
        ..Setup::default()
    };
    Server::launch(free_port(), setup).await
}

fn config_check(token: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!(
        "sockwave-console-token-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        format!("[console]\nenabled = true\ntoken = \"{token}\"\n"),
    )
    .unwrap();
    let output = Command::new(binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .expect("run config check");
    let _ = std::fs::remove_file(&path);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_empty_or_short_token_stops_the_server() {
    for token in ["", "short", "fifteen-chars!!"] {
        let (ok, stderr) = config_check(token);
        assert!(!ok, "token {token:?} was accepted");
        assert!(
            stderr.contains("console.token") && stderr.contains("at least 16 characters"),
            "{stderr}"
        );
    }
    let (ok, stderr) = config_check(TOKEN);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn the_page_forbids_inline_code_and_framing() {
    let server = console_server().await;
    let (status, headers, page) =
        request_with_token(server.addr, "GET", "/console", String::new(), None)
            .await
            .expect("an answer");
    assert_eq!(status, 200);
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        !page.contains("<script>") && !page.contains("<style>"),
        "inline code in the page"
    );
    // The page's own files are served from where the page points.
    for asset in ["/console/console.js", "/console/console.css"] {
        let (status, headers, _) =
            request_with_token(server.addr, "GET", asset, String::new(), None)
                .await
                .expect("an answer");
        assert_eq!(status, 200, "{asset}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    assert!(page.contains("src=\"console/console.js\""), "{page}");
}

#[tokio::test]
async fn a_credential_in_the_url_is_refused_and_the_header_works() {
    let server = console_server().await;
    for token in [TOKEN, SECRET] {
        let path = format!("/console/stream?app_id={APP_ID}&token={token}");
        let (status, _, body) = request_with_token(server.addr, "GET", &path, String::new(), None)
            .await
            .expect("an answer");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("Authorization"), "{body}");
    }
    let url = format!("http://{}/console/stream?app_id={APP_ID}", server.addr);
    for token in [TOKEN, SECRET] {
        // The stream never ends; the status and the first chunk are enough.
        let response = reqwest_stream(&url, token).await;
        assert_eq!(response, 200);
    }
}

/// Opens the stream with the token in the header; the status.
async fn reqwest_stream(url: &str, token: &str) -> u16 {
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        client.get(url).bearer_auth(token).send(),
    )
    .await
    .expect("an answer in time")
    .expect("the request went through");
    response.status().as_u16()
}

#[tokio::test]
async fn wrong_tokens_are_throttled_per_address() {
    let server = console_server().await;
    let path = format!("/console/stream?app_id={APP_ID}");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, _, _) = request_with_token(
            server.addr,
            "GET",
            &path,
            String::new(),
            Some("wrong-token-guess"),
        )
        .await
        .expect("an answer");
        statuses.push(status);
    }
    assert_eq!(statuses, [401; 5]);
    // Past the limit even the right token is refused until the window ends.
    let (status, headers, body) =
        request_with_token(server.addr, "GET", &path, String::new(), Some(TOKEN))
            .await
            .expect("an answer");
    assert_eq!(status, 429, "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn rows_a_stranger_wrote_are_marked_client_supplied() {
    let server = console_server().await;
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!(
            "http://{}/console/stream?app_id={APP_ID}",
            server.addr
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the stream opens");
    // A stranger tries a private channel with a made-up signature, and forges a "row".
    let mut stranger = Client::connect(server.addr).await;
    stranger
        .send(serde_json::json!({"event": "pusher:subscribe", "data": {"channel": "private-ALERT-server-compromised", "auth": "x:y"}}))
        .await;
    let mut buffer = String::new();
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let chunk = stream.chunk().await.expect("stream open").expect("a chunk");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(json) = event.trim().strip_prefix("data: ") else {
                    continue;
                };
                let value: Value = serde_json::from_str(json).unwrap();
                if value["kind"] == "subscription_failed" {
                    return value;
                }
            }
        }
    })
    .await
    .expect("the refusal shows in the console");
    assert_eq!(failed["client_supplied"], true, "{failed}");
}
