//! `sockwave doctor`: diagnoses a Laravel + Echo broadcasting setup end to end against any
//! Pusher-compatible server, printing one line per check and a fix for each failure.
//!
//! Layout: pure parts first — `dotenv` parses the file as phpdotenv does, `resolve` gives
//! the values Laravel and Vite each see, `project` reads hints from the Laravel project
//! (`bundle`: what its built frontend connects with),
//! `env_checks` turns all that into `Check`s and a `Target`. Then `live` (private) talks to
//! the server: reachability, app key, signed API call, event round trip, private auth.
//! `check` holds the verdict types and the rendering. See `docs/doctor.md`.
//!
//! This module never starts a server and never changes a file.

pub mod bundle;
pub mod check;
pub mod dotenv;
pub mod endpoint;
pub mod env_checks;
pub mod project;
pub mod resolve;
pub mod target;

mod live;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use self::check::Report;
use self::endpoint::{Endpoint, UrlError};
use self::env_checks::{Env, Overrides};

/// Flags of `sockwave doctor`.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// The Laravel project's .env file
    #[arg(long, value_name = "PATH")]
    pub env: PathBuf,
    /// The Laravel project's root (default: the .env file's directory)
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Where the backend reaches the server, instead of PUSHER_SCHEME/HOST/PORT
    /// (e.g. http://127.0.0.1:6001)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Where the browser reaches the server, instead of the VITE_/MIX_ values
    #[arg(long, value_name = "URL")]
    pub browser_url: Option<String>,
    /// Check the .env file only; do not contact the server
    #[arg(long)]
    pub offline: bool,
    /// Seconds each live step may take
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub timeout: u64,
    /// Where the Laravel app answers, for its auth endpoint (default: APP_URL)
    #[arg(long, value_name = "URL")]
    pub app_url: Option<String>,
    /// Echo's auth endpoint path
    #[arg(long, value_name = "PATH", default_value = "/broadcasting/auth")]
    pub auth_path: String,
    /// Cookie header for the auth request, curl style ("laravel_session=…; XSRF-TOKEN=…")
    #[arg(long, value_name = "COOKIES")]
    pub cookie: Option<String>,
    /// Extra header for the auth request ("Name: value"); repeatable
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// The private channel to ask the auth endpoint for (default: from routes/channels.php)
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
}

/// Why the doctor could not run at all (as opposed to a failed check).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The `.env` file cannot be read.
    #[error("cannot read {path}")]
    ReadEnv {
        /// The path given.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A `--header` without `Name: value` (its value is not shown: it may be a token).
    #[error("invalid --header: expected 'Name: value'")]
    Header,
    /// `--url` or `--browser-url` is not a URL.
    #[error("invalid {flag}")]
    Url {
        /// The flag.
        flag: &'static str,
        /// The cause.
        source: UrlError,
    },
}

/// Runs the doctor and prints the report. Exit code 0 when no check failed, 1 when one did,
/// 2 when the doctor could not run.
pub fn run(args: &DoctorArgs) -> ExitCode {
    let shell: HashMap<String, String> = std::env::vars().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(diagnose(args, &shell)),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(report) => {
            print!("{}", report.render());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            let cause = std::error::Error::source(&err)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            eprintln!("error: {err}{cause}");
            ExitCode::from(2)
        }
    }
}

/// The auth endpoint to call: with `--app-url`, or with `APP_URL` when the project has
/// `routes/channels.php` or `--channel` names a channel.
fn app_auth(
    args: &DoctorArgs,
    env: &Env,
    hints: &project::ProjectHints,
) -> Result<Option<target::AppAuth>, DoctorError> {
    let headers = args
        .headers
        .iter()
        .map(|header| {
            let (name, value) = header
                .split_once(':')
                .filter(|(name, _)| !name.trim().is_empty())
                .ok_or(DoctorError::Header)?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, DoctorError>>()?;
    let wanted =
        args.app_url.is_some() || args.channel.is_some() || hints.channel_patterns.is_some();
    let app_url = args
        .app_url
        .clone()
        .or_else(|| env.laravel.non_empty("APP_URL").map(str::to_string));
    let (true, Some(app_url)) = (wanted, app_url) else {
        return Ok(None);
    };
    let patterns = hints.channel_patterns.clone().unwrap_or_default();
    // Laravel refuses channels routes/channels.php does not define: try the first it does.
    let channel = args.channel.clone().or_else(|| {
        let pattern = patterns.first()?;
        let name: Vec<String> = pattern
            .split('.')
            .map(|part| match part.starts_with('{') {
                true => "1".to_string(),
                false => part.to_string(),
            })
            .collect();
        Some(format!("private-{}", name.join(".")))
    });
    Ok(Some(target::AppAuth {
        app_url,
        app_url_explicit: args.app_url.is_some(),
        path: args.auth_path.clone(),
        cookie: args.cookie.clone(),
        headers,
        channel,
        channel_named: args.channel.is_some(),
        patterns,
        laravel_11: hints.laravel_11,
    }))
}

/// Runs every check. `shell` is the environment the doctor runs in (variables set there
/// override `.env` for Laravel and Vite started from the same shell).
pub async fn diagnose(
    args: &DoctorArgs,
    shell: &HashMap<String, String>,
) -> Result<Report, DoctorError> {
    let path = args.env.display().to_string();
    let text = std::fs::read_to_string(&args.env)
        .map_err(|source| DoctorError::ReadEnv { path, source })?;
    let parse = |flag: &'static str, url: &Option<String>| {
        url.as_deref()
            .map(Endpoint::parse_url)
            .transpose()
            .map_err(|source| DoctorError::Url { flag, source })
    };
    let overrides = Overrides {
        backend: parse("--url", &args.url)?,
        browser: parse("--browser-url", &args.browser_url)?,
    };
    let dir = match &args.project {
        Some(project) => project.as_path(),
        None => args
            .env
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    };
    let hints = project::read(dir);
    let env = Env::parse(&text);
    let (mut checks, mut target) = env_checks::run(&env, &hints, shell, &overrides);
    target.app_auth = app_auth(args, &env, &hints)?;
    let (queue_check, queue) = env_checks::queue::setup(&env, &hints);
    checks.extend(queue_check);
    match (args.offline, queue) {
        (true, Some(queue)) => checks.push(env_checks::queue::offline(&queue)),
        (false, queue) => target.queue = queue,
        (true, None) => {}
    }
    if !args.offline {
        checks.extend(live::run(&target, Duration::from_secs(args.timeout.max(1))).await);
    }
    Ok(Report { checks })
}
