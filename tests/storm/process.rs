//! Running the server binary: a config file, a child process on a fixed port, readiness,
//! SIGTERM, memory from `/proc`, and signed HTTP API calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sockwave::auth::api_auth::{body_md5, string_to_sign};
use sockwave::auth::signature::sign;

pub const APP_ID: &str = "storm-app";
pub const KEY: &str = "storm-key";
pub const SECRET: &str = "storm-secret";

/// A spawned `sockwave` with its own config file.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    config: PathBuf,
}

/// A free loopback port (the listener is closed again, so the server can bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

impl Server {
    /// Starts the binary on `port` with `[server]` lines `extra`, and waits for `/up`.
    pub async fn start(port: u16, extra: &str) -> Server {
        let config =
            std::env::temp_dir().join(format!("sockwave-storm-{}-{port}.toml", std::process::id()));
        let text = format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {port}\nshutdown_grace_period = 10\n{extra}\n\n\
             [[apps]]\nid = \"{APP_ID}\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\nmax_presence_members = 1000\n"
        );
        std::fs::write(&config, text).expect("write the config file");
        let child = Command::new(env!("CARGO_BIN_EXE_sockwave"))
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the sockwave binary");
        let server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            config,
        };
        let started = Instant::now();
        while get(server.addr, "/up").await != Some(200) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "server never came up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` and `VmHWM` (the peak) of the server, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let started = Instant::now();
        while self
            .child
            .try_wait()
            .expect("wait for the server")
            .is_none()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// A GET; the status, or `None` when the server does not answer.
pub async fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    request(addr, "GET", path, String::new())
        .await
        .map(|(status, _)| status)
}

/// A GET; the body, or an empty string when the server does not answer.
pub async fn get_body(addr: SocketAddr, path: &str) -> String {
    request(addr, "GET", path, String::new())
        .await
        .map(|(_, body)| body)
        .unwrap_or_default()
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: String,
) -> Option<(u16, String)> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// A signed `POST /apps/{id}/events`; returns the status.
pub async fn publish(addr: SocketAddr, channel: &str, data: &str) -> u16 {
    let body = serde_json::json!({"name": "tick", "channel": channel, "data": data}).to_string();
    let path = format!("/apps/{APP_ID}/events");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut query = vec![
        ("auth_key".to_string(), KEY.to_string()),
        ("auth_timestamp".to_string(), now.to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
        ("body_md5".to_string(), body_md5(body.as_bytes())),
    ];
    let signature = sign(SECRET, string_to_sign("POST", &path, &query).as_bytes());
    query.push(("auth_signature".to_string(), signature));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    request(addr, "POST", &format!("{path}?{query}"), body)
        .await
        .map_or(0, |(status, _)| status)
}

/// An environment variable as a number, or the default.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
