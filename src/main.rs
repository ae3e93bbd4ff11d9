//! The `sockwave` binary: parse flags, load configuration, set up logging, run the server.
//!
//! Everything else lives in the library. Exit codes: 0 after a clean shutdown or a valid
//! `config check`, 1 when the server fails, 2 when the configuration is invalid.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sockwave::config::{self, CliOverrides, Config, ConfigError, LogFormat};
use sockwave_doctor::DoctorArgs;
use tracing_subscriber::EnvFilter;

/// jemalloc instead of the system allocator: glibc keeps the memory of departed sockets, so
/// RSS stayed at its peak after a disconnect storm; jemalloc's background thread returns it
/// (configured in `.cargo/config.toml`; measured in docs/performance.md).
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A self-hosted real-time server for the Pusher Channels protocol.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: CliOverrides,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Diagnose a Laravel + Echo setup: its .env file, then the server it points at
    Doctor(DoctorArgs),
    /// Ask the server this configuration describes whether it is ready (GET /ready); exit 0
    /// when it is, 1 when it is not. For container health checks: the image needs no curl.
    Health,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets masked
    Check,
    /// Translate a Soketi configuration (its JSON config file, its SOKETI_* variables, or
    /// both) into a sockwave TOML file on stdout, one comment per translated setting
    Migrate {
        /// Soketi's JSON config file (what `soketi start --config=FILE` read)
        file: Option<std::path::PathBuf>,
        /// Also translate the SOKETI_* variables of this environment (they win over FILE)
        #[arg(long)]
        env: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = environment();
    match cli.command {
        Some(Command::Config(ConfigCommand::Check)) => match config::check(&cli.overrides, &env) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => config_failure(&err),
        },
        Some(Command::Config(ConfigCommand::Migrate { file, env: use_env })) => {
            if file.is_none() && !use_env {
                eprintln!("error: name Soketi's config file (sockwave config migrate soketi.json), or pass --env to translate the SOKETI_* variables");
                return ExitCode::from(2);
            }
            match config::migrate(file.as_deref(), &env, use_env) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => config_failure(&err),
            }
        }
        Some(Command::Doctor(args)) => sockwave_doctor::run(&args),
        Some(Command::Health) => health(&cli.overrides, &env),
        None => match config::load(&cli.overrides, &env) {
            Ok(config) => serve(config),
            Err(err) => config_failure(&err),
        },
    }
}

/// The process environment; a value that is not UTF-8 is kept lossily so that a bad
/// value is reported by the config loader instead of disappearing.
fn environment() -> HashMap<String, String> {
    std::env::vars_os()
        .map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Exit 1 on every failure, a bad configuration included: Docker reserves exit code 2 of a
/// health check.
fn health(overrides: &CliOverrides, env: &HashMap<String, String>) -> ExitCode {
    let config = match config::load(overrides, env) {
        Ok(config) => config,
        Err(err) => {
            config_failure(&err);
            return ExitCode::FAILURE;
        }
    };
    let url = sockwave::health::ready_url(&config);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
        .and_then(|runtime| runtime.block_on(sockwave::health::check(&url)));
    match result {
        Ok(reply) => {
            println!("ready: {reply}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("not ready: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(err: &ConfigError) -> ExitCode {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The `SOKETI_*` names a `.env` file in the working directory sets, when it sets any.
/// Soketi 1.x loaded that file on start (dotenv); a user moving over may rely on it without
/// knowing, so its being ignored is said at startup rather than discovered later.
fn soketi_dotenv_variables() -> Option<String> {
    let text = std::fs::read_to_string(".env").ok()?;
    let mut names: Vec<&str> = text
        .lines()
        .map(|line| line.trim_start().trim_start_matches("export "))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| name.starts_with("SOKETI_"))
        .collect();
    names.dedup();
    (!names.is_empty()).then(|| names.join(","))
}

/// Colour codes only for a person at a terminal: `docker logs`, journald and collectors
/// read a pipe and would store the escape bytes. `NO_COLOR` (any non-empty value, see
/// no-color.org) turns them off even on a terminal.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

fn serve(config: Config) -> ExitCode {
    // RUST_LOG wins when set; otherwise `debug` only makes sockwave's own logs verbose.
    let default_filter = if config.server.debug {
        "info,sockwave=debug"
    } else {
        "info"
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.server.log_format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.with_ansi(colours_wanted()).init(),
    }

    if let Some(names) = soketi_dotenv_variables() {
        tracing::warn!(
            variables = %names,
            "./.env sets SOKETI_* variables: Soketi loaded that file, sockwave does not read it; export them, or pass the file with `docker run --env-file .env`, for them to take effect"
        );
    }

    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(sockwave::server::run(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
