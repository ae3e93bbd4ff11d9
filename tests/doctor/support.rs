//! Harness: fixture paths, a doctor run with given flags, temporary `.env` files, a server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sockwave::config::Config;
use sockwave::server::Server;
use sockwave_doctor::check::{Report, Status};
use sockwave_doctor::{diagnose, DoctorArgs};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/doctor/fixtures")
        .join(name)
}

pub fn args(env: PathBuf) -> DoctorArgs {
    DoctorArgs {
        env,
        project: None,
        url: None,
        browser_url: None,
        offline: false,
        timeout: 3,
        app_url: None,
        auth_path: "/broadcasting/auth".to_string(),
        cookie: None,
        headers: Vec::new(),
        channel: None,
    }
}

/// Runs the doctor with an empty shell environment.
pub async fn run(args: DoctorArgs) -> Report {
    diagnose(&args, &HashMap::new())
        .await
        .expect("the doctor runs")
}

/// The static checks of a fixture.
pub async fn offline(name: &str) -> Report {
    let mut args = args(fixture(name));
    args.offline = true;
    run(args).await
}

/// Asserts one check's verdict, detail and fix exactly.
pub fn expect(report: &Report, name: &str, status: Status, detail: &str, fix: Option<&str>) {
    let Some(check) = report.find(name) else {
        panic!("no check '{name}' in:\n{}", report.render());
    };
    assert_eq!(
        (check.status, check.detail.as_str(), check.fix.as_deref()),
        (status, detail, fix),
        "{}",
        report.render()
    );
}

/// Names of the checks with `status`, in order.
pub fn with_status(report: &Report, status: Status) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|check| check.status == status)
        .map(|check| check.name.as_str())
        .collect()
}

/// A `.env` file in a fresh temporary directory, removed on drop.
pub struct TempEnv {
    dir: PathBuf,
    pub path: PathBuf,
}

impl TempEnv {
    pub fn new(contents: &str) -> TempEnv {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sockwave-doctor-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, contents).unwrap();
        TempEnv { dir, path }
    }
}

impl Drop for TempEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server with the default app (`app-id` / `app-key` / `app-secret`) on a free port.
pub async fn start_server() -> Server {
    let mut config = Config::default();
    config.server.host = "127.0.0.1".into();
    config.server.port = 0;
    Server::start(config).await.expect("server starts")
}

/// A Laravel 11 `.env` whose backend and browser both point at `addr`.
pub fn laravel_env(addr: SocketAddr, key: &str, secret: &str) -> String {
    format!(
        "APP_URL=http://localhost\n\
         BROADCAST_CONNECTION=pusher\n\
         PUSHER_APP_ID=app-id\n\
         PUSHER_APP_KEY={key}\n\
         PUSHER_APP_SECRET={secret}\n\
         PUSHER_HOST=127.0.0.1\n\
         PUSHER_PORT={port}\n\
         PUSHER_SCHEME=http\n\
         PUSHER_APP_CLUSTER=mt1\n\
         \n\
         VITE_PUSHER_APP_KEY=\"${{PUSHER_APP_KEY}}\"\n\
         VITE_PUSHER_HOST=localhost\n\
         VITE_PUSHER_PORT=\"${{PUSHER_PORT}}\"\n\
         VITE_PUSHER_SCHEME=\"${{PUSHER_SCHEME}}\"\n\
         VITE_PUSHER_APP_CLUSTER=\"${{PUSHER_APP_CLUSTER}}\"\n",
        port = addr.port()
    )
}
