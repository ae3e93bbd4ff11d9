//! `sockwave-bench`: a load generator for Pusher Channels servers (sockwave, Sockudo, Soketi)
//! over loopback.
//!
//! Each scenario subcommand drives a running server and prints exactly one JSON line of
//! results on stdout; diagnostics go to stderr. Every loop is bounded in count and in time.
//! With `--server-pid`, the server's RSS, CPU time and descriptors are read from /proc before
//! and after. `smoke` starts a server binary itself and runs every scenario at tiny sizes, so
//! the test suite keeps the bench from rotting.
//!
//! # Layout
//!
//! - `target`: server address, credentials, source-address rotation; loopback only.
//! - `client`: a raw-frame Pusher client (WebSocket, or `xhr_streaming` through `xhr`) and
//!   the tally of what clients receive.
//! - `publisher`: signed HTTP API publishes over a keep-alive connection.
//! - `probe`: a process's RSS, CPU time and open descriptors from /proc.
//! - `histogram`: a lock-free latency histogram.
//! - `scenario`: `idle`, `fanout`, `http`, `churn`, `presence`, `soak`, `unheard`, `resume`.
//! - `smoke`: every scenario, tiny, against a server it starts.

mod client;
mod histogram;
mod probe;
mod publisher;
mod scenario;
mod smoke;
mod target;
mod xhr;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use probe::Probe;
use scenario::{churn, crowd, fanout, http, idle, presence, resume, soak, unheard, Env};
use target::Target;

/// Load generator for Pusher-compatible servers; prints one JSON line per run.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server is and which app to use; shared by every scenario.
#[derive(Debug, Clone, Args)]
struct Common {
    /// WebSocket base URL (loopback only)
    #[arg(long, default_value = "ws://127.0.0.1:6001")]
    url: String,
    /// HTTP API base URL (loopback only)
    #[arg(long, default_value = "http://127.0.0.1:6001")]
    http: String,
    /// App id
    #[arg(long, default_value = "app-id")]
    app_id: String,
    /// App key
    #[arg(long, default_value = "app-key")]
    key: String,
    /// App secret
    #[arg(long, default_value = "app-secret")]
    secret: String,
    /// PID of the server, to read its RSS, CPU time and descriptors from /proc
    #[arg(long)]
    server_pid: Option<u32>,
    /// Name of the server in the results line
    #[arg(long, default_value = "sockwave")]
    server_name: String,
    /// How subscribers connect: WebSocket, or pusher-js's xhr_streaming fallback
    #[arg(long, value_enum, default_value = "ws")]
    transport: target::Transport,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Idle subscribed connections: server memory per connection, and after they leave
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: idle::Args,
    },
    /// Subscribers plus signed publishes: deliveries/s, per server CPU-second, latency, losses
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: fanout::Args,
    },
    /// HTTP API publish throughput with keep-alive clients
    Http {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: http::Args,
    },
    /// Connect, subscribe, close in a loop: connect+subscribe per second
    Churn {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: churn::Args,
    },
    /// Presence join storm: joins per second and member_added accounting
    Presence {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: presence::Args,
    },
    /// Long mixed run: churn, presence, publishes; RSS and descriptors over time
    Soak {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: soak::Args,
    },
    /// Publishes to channels nobody hears while anonymous sockets hold many channels
    Unheard {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: unheard::Args,
    },
    /// Clients resume a history channel after missing events: resume latency, exactness
    Resume {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: resume::Args,
    },
    /// Subscribers only, in one of several processes sharing a crowd (`bench/crowd.sh`)
    Listen {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: crowd::ListenArgs,
    },
    /// Timed publishes for the `listen` processes (`bench/crowd.sh`)
    Publish {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: crowd::PublishArgs,
    },
    /// Start a sockwave binary and run every scenario briefly (for the test suite)
    Smoke(smoke::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Thousands of sockets: lift the soft descriptor limit to the hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, nofile)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, nofile: u64) -> anyhow::Result<()> {
    let (name, common, result) = match command {
        Command::Smoke(args) => return smoke::run(&args).await,
        Command::Idle { common, args } => ("idle", common.clone(), {
            idle::run(&env(&common)?, &args).await
        }),
        Command::Fanout { common, args } => ("fanout", common.clone(), {
            fanout::run(&env(&common)?, &args).await
        }),
        Command::Http { common, args } => ("http", common.clone(), {
            http::run(&env(&common)?, &args).await
        }),
        Command::Churn { common, args } => ("churn", common.clone(), {
            churn::run(&env(&common)?, &args).await
        }),
        Command::Presence { common, args } => ("presence", common.clone(), {
            presence::run(&env(&common)?, &args).await
        }),
        Command::Soak { common, args } => ("soak", common.clone(), {
            soak::run(&env(&common)?, &args).await
        }),
        Command::Unheard { common, args } => ("unheard", common.clone(), {
            unheard::run(&env(&common)?, &args).await
        }),
        Command::Resume { common, args } => ("resume", common.clone(), {
            resume::run(&env(&common)?, &args).await
        }),
        Command::Listen { common, args } => ("listen", common.clone(), {
            crowd::listen(&env(&common)?, &args).await
        }),
        Command::Publish { common, args } => ("publish", common.clone(), {
            crowd::publish(&env(&common)?, &args).await
        }),
    };
    let mut line = result?;
    line["scenario"] = json!(name);
    line["server_name"] = json!(common.server_name);
    line["server_pid"] = json!(common.server_pid);
    line["transport"] = json!(format!("{:?}", common.transport));
    line["generator_nofile_limit"] = json!(nofile);
    line["unix_time"] = json!(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()));
    println!("{line}");
    Ok(())
}

fn env(common: &Common) -> anyhow::Result<Env> {
    let target = Target::new(
        &common.url,
        &common.http,
        &common.app_id,
        &common.key,
        &common.secret,
    )?
    .with_transport(common.transport);
    Ok(Env {
        target: Arc::new(target),
        probe: Probe::new(common.server_pid),
    })
}
