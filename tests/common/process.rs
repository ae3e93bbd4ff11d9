//! Running the server binary: a config file, a child process on a fixed port, readiness,
//! SIGTERM, memory from `/proc`, and signed HTTP API calls. Shared by the test binaries that
//! spawn the real `sockwave` (`storm`, `attacks`).
//!
//! `SOCKWAVE_TEST_BIN` runs them against another build (an older release, say, to measure
//! what a fix changed); by default they run the binary cargo built for the tests.

// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sockwave_protocol::auth::api_auth::{body_md5, string_to_sign};
use sockwave_protocol::auth::signature::sign;

pub const APP_ID: &str = "storm-app";
pub const KEY: &str = "storm-key";
pub const SECRET: &str = "storm-secret";

/// A spawned `sockwave` with its own config file.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    config: PathBuf,
    log: Option<PathBuf>,
}

/// What goes into the config file beside the fixed parts (host, port, the one app's
/// credentials).
pub struct Setup {
    /// Lines of the `[server]` table.
    pub server: String,
    /// Whole tables placed before `[[apps]]` (e.g. `[console]`).
    pub tables: String,
    /// Lines of the app's table, and its sub-tables (`[[apps.webhooks]]`) after them.
    pub app: String,
    /// Write the server's output (the log goes to stdout) to a file `Server::log` reads,
    /// instead of dropping stdout and passing stderr through.
    pub capture_log: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            server: String::new(),
            tables: String::new(),
            app: "max_presence_members = 1000".to_string(),
            capture_log: false,
        }
    }
}

/// The binary under test.
pub fn binary() -> PathBuf {
    std::env::var_os("SOCKWAVE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sockwave")))
}

/// A free loopback port (the listener is closed again, so the server can bind it).
///
/// Tests run as concurrent processes, and the kernel may hand the same just-closed port to
/// two of them; one test's metrics listener then answered another's `/up`. So each port
/// handed out is claimed in a file under the temp directory, and a port claimed in the last
/// ten minutes is not handed out again.
pub fn free_port() -> u16 {
    let claims = std::env::temp_dir().join("sockwave-test-ports");
    std::fs::create_dir_all(&claims).expect("create the port claims directory");
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral port")
            .local_addr()
            .expect("local address")
            .port();
        let claim = claims.join(port.to_string());
        let stale = std::fs::metadata(&claim)
            .and_then(|meta| meta.modified())
            .map(|at| at.elapsed().unwrap_or_default() > Duration::from_secs(600))
            .unwrap_or(false);
        if stale {
            let _ = std::fs::remove_file(&claim);
        }
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
            .is_ok()
        {
            return port;
        }
    }
}

impl Server {
    /// Starts the binary on `port` with `[server]` lines `extra`, and waits for `/up`.
    pub async fn start(port: u16, extra: &str) -> Server {
        let setup = Setup {
            server: extra.to_string(),
            ..Setup::default()
        };
        Server::launch(port, setup).await
    }

    /// Starts the binary on `port` with `setup`, and waits for `/up`.
    pub async fn launch(port: u16, setup: Setup) -> Server {
        let stem =
            std::env::temp_dir().join(format!("sockwave-test-{}-{port}", std::process::id()));
        let config = stem.with_extension("toml");
        let text = format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {port}\nshutdown_grace_period = 10\n{}\n\n{}\n\n\
             [[apps]]\nid = \"{APP_ID}\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n{}\n",
            setup.server, setup.tables, setup.app
        );
        std::fs::write(&config, text).expect("write the config file");
        let log = setup.capture_log.then(|| stem.with_extension("log"));
        let (stdout, stderr) = match &log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("create the log file");
                let copy = file.try_clone().expect("share the log file");
                (Stdio::from(file), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::inherit()),
        };
        let child = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn the sockwave binary");
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            config,
            log,
        };
        let started = Instant::now();
        // `/up` alone could be answered by another process's listener on the same port (a
        // metrics port, say); the API path below is answered only by a server's main port.
        while get(server.addr, "/up").await != Some(200)
            || get(server.addr, &format!("/apps/{APP_ID}/channels")).await != Some(401)
        {
            if let Some(status) = server.child.try_wait().expect("poll the server") {
                panic!("the server exited while starting on port {port}: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "server never came up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    /// What the server wrote so far (with `Setup::capture_log`).
    pub fn log(&self) -> String {
        let path = self.log.as_ref().expect("started with capture_log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` and `VmHWM` (the peak) of the server, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid())
    }

    /// Samples `VmRSS` every 20 ms until the returned handle is stopped; the handle's result
    /// is the largest sample, in KiB.
    pub fn watch_rss(&self) -> RssWatch {
        let pid = self.pid();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid).0);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak.max(memory_kib(pid).0)
        });
        RssWatch { stop, sampler }
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
        self.remove_files();
    }

    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.config);
        if let Some(log) = &self.log {
            let _ = std::fs::remove_file(log);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.remove_files();
    }
}

/// `VmRSS` and `VmHWM` (the peak) of a process, in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
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

/// A running `VmRSS` sampler (`Server::watch_rss`).
pub struct RssWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: tokio::task::JoinHandle<u64>,
}

impl RssWatch {
    /// Stops sampling; the largest `VmRSS` seen, in KiB.
    pub async fn peak_kib(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.await.expect("the sampler ran")
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

/// A request with an optional `Authorization: Bearer` token; the status and body, or `None`
/// when the server does not answer.
pub async fn request_with_token(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: String,
    token: Option<&str>,
) -> Option<(u16, hyper::HeaderMap, String)> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Full::new(bytes::Bytes::from(body))).ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
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

/// The signed query string for a request (`params` are extra parameters, signed too).
pub fn signed_query(method: &str, path: &str, params: &[(&str, &str)], body: &[u8]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut query = vec![
        ("auth_key".to_string(), KEY.to_string()),
        ("auth_timestamp".to_string(), now.to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
    ];
    if !body.is_empty() {
        query.push(("body_md5".to_string(), body_md5(body)));
    }
    query.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let signature = sign(SECRET, string_to_sign(method, path, &query).as_bytes());
    query.push(("auth_signature".to_string(), signature));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish()
}

/// A signed API request; the status and body (status 0 when the server does not answer).
pub async fn signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let query = signed_query(method, path, params, body.as_bytes());
    request(addr, method, &format!("{path}?{query}"), body)
        .await
        .unwrap_or((0, String::new()))
}

/// A signed `POST /apps/{id}/events`; returns the status.
pub async fn publish(addr: SocketAddr, channel: &str, data: &str) -> u16 {
    let body = serde_json::json!({"name": "tick", "channel": channel, "data": data}).to_string();
    signed(addr, "POST", &format!("/apps/{APP_ID}/events"), &[], body)
        .await
        .0
}

/// An environment variable as a number, or the default.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
