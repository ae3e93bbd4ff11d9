//! `smoke`: starts a server binary on a free loopback port, runs every scenario for about a
//! second at tiny sizes, prints each scenario's JSON line, and stops the server. It fails only
//! when a scenario errors or the server does not start: there are no timing assertions, the
//! point is that the bench keeps compiling and keeps speaking the protocol.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args as ClapArgs;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::probe::Probe;
use crate::scenario::{churn, crowd, fanout, http, idle, presence, resume, soak, unheard, Env};
use crate::target::{Target, Transport};

/// Flags of `smoke`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// The sockwave binary to start
    #[arg(long, default_value = "target/debug/sockwave")]
    pub(crate) bin: String,
    /// Seconds to wait for the server to start listening
    #[arg(long, default_value_t = 30.0)]
    pub(crate) startup_timeout: f64,
}

const APP_ID: &str = "smoke-app";
const APP_KEY: &str = "smoke-key";
const APP_SECRET: &str = "smoke-secret";

/// Starts the server, runs each scenario, prints one JSON line per scenario.
pub(crate) async fn run(args: &Args) -> anyhow::Result<()> {
    let (mut server, port) = start_server(args).await?;
    let pid = server.id();
    let target = Target::new(
        &format!("ws://127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{port}"),
        APP_ID,
        APP_KEY,
        APP_SECRET,
    )?;
    let xhr_target = Target::new(
        &format!("ws://127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{port}"),
        APP_ID,
        APP_KEY,
        APP_SECRET,
    )?
    .with_transport(Transport::XhrStreaming);
    let env = Env {
        target: Arc::new(target),
        probe: Probe::new(pid),
    };
    let xhr_env = Env {
        target: Arc::new(xhr_target),
        probe: Probe::new(pid),
    };
    let outcome = run_all(&env, &xhr_env).await;
    // The server is our child: stop it by its handle, whatever happened.
    let _ = server.kill().await;
    outcome
}

async fn run_all(env: &Env, xhr_env: &Env) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    let mut record = |name: &str, result: anyhow::Result<serde_json::Value>| match result {
        Ok(mut value) => {
            value["scenario"] = json!(name);
            value["server_name"] = json!("sockwave");
            println!("{value}");
        }
        Err(err) => {
            eprintln!("smoke: {name} failed: {err:#}");
            failures.push(name.to_string());
        }
    };
    let idle_args = idle::Args {
        connections: 20,
        channels: 2,
        concurrency: 8,
        settle: 0.2,
        duration: 10.0,
    };
    record("idle", idle::run(env, &idle_args).await);
    let fanout_args = fanout::Args {
        subscribers: 20,
        channels: 2,
        events: 20,
        rate: 40.0,
        payload: 100,
        publishers: 2,
        concurrency: 8,
        drain: 3.0,
        duration: 10.0,
        connection_per_publish: false,
        batch: 1,
    };
    record("fanout", fanout::run(env, &fanout_args).await);
    // Through `POST /batch_events`; every event of every batch must arrive.
    let batched = fanout::Args {
        batch: 5,
        ..fanout_args.clone()
    };
    let batch_fanout = fanout::run(env, &batched).await.and_then(|value| {
        match (
            value["published"].as_u64(),
            value["deliveries_lost"].as_u64(),
        ) {
            (Some(20), Some(0)) => Ok(value),
            other => bail!("batch fanout: published, lost = {other:?}"),
        }
    });
    record("fanout_batch", batch_fanout);
    let fresh_connections = fanout::Args {
        connection_per_publish: true,
        ..fanout_args.clone()
    };
    record(
        "fanout_connection_per_publish",
        fanout::run(env, &fresh_connections).await,
    );
    // The same over pusher-js's HTTP fallback; every delivery must arrive.
    let xhr_fanout = fanout::run(xhr_env, &fanout_args).await.and_then(|value| {
        match value["deliveries_lost"].as_u64() {
            Some(0) => Ok(value),
            lost => bail!("xhr_streaming fanout lost deliveries: {lost:?}"),
        }
    });
    record("fanout_xhr_streaming", xhr_fanout);
    let http_args = http::Args {
        clients: 2,
        duration: 1.0,
        requests: 200,
        payload: 100,
        channels: 1,
    };
    record("http", http::run(env, &http_args).await);
    let churn_args = churn::Args {
        workers: 2,
        duration: 1.0,
        cycles: 50,
    };
    record("churn", churn::run(env, &churn_args).await);
    let presence_args = presence::Args {
        members: 12,
        per_channel: 5,
        concurrency: 4,
        drain: 3.0,
        duration: 10.0,
    };
    record("presence", presence::run(env, &presence_args).await);
    let soak_args = soak::Args {
        duration: 2.0,
        warmup: 0.5,
        base: 10,
        base_channels: 2,
        churn_rate: 10.0,
        presence_rate: 5.0,
        presence_hold: 0.2,
        presence_channels: 2,
        publish_rate: 5.0,
        sample_every: 0.5,
    };
    record("soak", soak::run(env, &soak_args).await);
    let unheard_args = unheard::Args {
        channels: 400,
        targets: 100,
        publishes: 5,
        concurrency: 2,
        duration: 20.0,
    };
    record("unheard", unheard::run(env, &unheard_args).await);
    // Resumes must replay exactly the missed events (the scenario checks every client).
    let resume_args = resume::Args {
        clients: 20,
        missed: 10,
        channel: "history-smoke".into(),
        payload: 50,
        concurrency: 8,
        timeout: 20.0,
    };
    let resumed = resume::run(env, &resume_args).await.and_then(|value| {
        match value["resumes_failed"].as_u64() {
            Some(0) => Ok(value),
            failed => bail!("resumes failed: {failed:?}: {}", value["first_error"]),
        }
    });
    record("resume", resumed);
    record("listen_publish", crowd_smoke(env).await);
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("scenarios failed: {}", failures.join(", "))
    }
}

/// `listen` and `publish` together, as `bench/crowd.sh` runs them (in one process here):
/// every published event must reach every listener.
async fn crowd_smoke(env: &Env) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("sockwave-smoke-crowd-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (ready, stop) = (dir.join("ready"), dir.join("stop"));
    let listen_args = crowd::ListenArgs {
        subscribers: 10,
        channel: "crowd-smoke".into(),
        concurrency: 4,
        ready_file: Some(ready.clone()),
        stop_file: Some(stop.clone()),
        max_seconds: 30.0,
    };
    let publish_args = crowd::PublishArgs {
        channel: "crowd-smoke".into(),
        events: 3,
        interval: 0.1,
        payload: 50,
    };
    let publish_then_stop = async {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let published = crowd::publish(env, &publish_args).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        std::fs::write(&stop, b"")?;
        published
    };
    let (listened, published) = tokio::join!(crowd::listen(env, &listen_args), publish_then_stop);
    let _ = std::fs::remove_dir_all(&dir);
    let (listened, published) = (listened?, published?);
    if listened["deliveries_received"].as_u64() != Some(30) {
        bail!(
            "listen received {} of 30 deliveries",
            listened["deliveries_received"]
        );
    }
    Ok(json!({ "listen": listened, "publish": published }))
}

/// Starts `bin` on 127.0.0.1 port 0 and reads the chosen port from its startup log line.
async fn start_server(args: &Args) -> anyhow::Result<(Child, u16)> {
    let mut child = Command::new(&args.bin)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args([
            "--app-id",
            APP_ID,
            "--app-key",
            APP_KEY,
            "--app-secret",
            APP_SECRET,
        ])
        .env("SOCKWAVE_APP_HISTORY_CHANNELS", "history-*")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.bin))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let wait = Duration::from_secs_f64(args.startup_timeout);
    let port = tokio::time::timeout(wait, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(port) = listening_port(&line) {
                return Ok(port);
            }
        }
        bail!("the server exited before listening")
    })
    .await
    .context("the server did not start listening in time")??;
    // Keep reading the log so a full pipe never blocks the server.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, port))
}

/// The port in the server's "listening" log line (`… addr=127.0.0.1:PORT …`).
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("listening") {
        return None;
    }
    let at = line.find("127.0.0.1:")? + "127.0.0.1:".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_in_the_startup_line() {
        let line = "2026-01-01T00:00:00Z  INFO sockwave::server: sockwave listening (WebSocket /app/{key}, HTTP API /apps/{id}) addr=127.0.0.1:40123 apps=1";
        assert_eq!(listening_port(line), Some(40123));
        assert_eq!(listening_port("connection opened addr=127.0.0.1:5"), None);
    }
}
