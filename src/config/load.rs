//! Loading: file, then environment, then flags, then validation.
//!
//! This is the only place that touches the file system, and only to read the one file named
//! by `--config` or `SOCKWAVE_CONFIG`; the reader is a parameter so tests need no files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::cli::CliOverrides;
use super::draft::{Draft, Origin, Origins};
use super::error::ConfigError;
use super::{env, show, soketi, toml_file, validate, Config};

/// Builds the validated configuration from the config file (if any), the environment and
/// the flags, in increasing precedence.
pub fn load(cli: &CliOverrides, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
    load_with(cli, env, read_file).map(|(config, _)| config)
}

/// Like [`load`], but returns the effective configuration as TOML for people to read:
/// secrets masked, and each value that is not a default annotated with where it came from.
pub fn check(cli: &CliOverrides, env: &HashMap<String, String>) -> Result<String, ConfigError> {
    let (config, origins) = load_with(cli, env, read_file)?;
    Ok(show::render_config(&config, &origins))
}

/// The format of a configuration file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// sockwave's TOML file.
    Toml,
    /// Soketi's JSON file.
    SoketiJson,
}

/// Reads and validates a configuration file's text alone (no environment, no flags), as
/// `--config` would once the file is read. The fuzz targets call it.
pub fn from_text(format: FileFormat, text: &str) -> Result<Config, ConfigError> {
    let mut draft = Draft::new();
    match format {
        FileFormat::Toml => toml_file::apply_file(&mut draft, Path::new("sockwave.toml"), text)?,
        FileFormat::SoketiJson => soketi::apply_file(&mut draft, Path::new("soketi.json"), text)?,
    }
    finish(draft).map(|(config, _)| config)
}

/// `sockwave config migrate`: a Soketi JSON config file, the `SOKETI_*` variables of `env`
/// (when `use_env`), or both (the variables win, as in Soketi), as a sockwave TOML file
/// with a comment per translated setting. Settings sockwave cannot use are all reported.
pub fn migrate(
    file: Option<&Path>,
    env: &HashMap<String, String>,
    use_env: bool,
) -> Result<String, ConfigError> {
    let mut draft = Draft::new();
    let mut sources = Vec::new();
    if let Some(path) = file {
        let text = read_file(path)?;
        soketi::apply_file(&mut draft, path, &text)?;
        sources.push(path.display().to_string());
    }
    if use_env {
        let soketi_vars: HashMap<String, String> = env
            .iter()
            .filter(|(name, _)| name.starts_with("SOKETI_"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        env::apply(&mut draft, &soketi_vars)?;
        sources.push("the SOKETI_* environment variables".to_string());
    }
    let (config, origins) = finish(draft)?;
    Ok(show::render_migration(
        &config,
        &origins,
        &sources.join(" and "),
    ))
}

/// Validates the draft; every problem found while reading is reported with the first one
/// validation finds, in one error.
fn finish(mut draft: Draft) -> Result<(Config, Origins), ConfigError> {
    let read = draft.take_problems();
    let validated = validate::finish(draft);
    match (read, validated) {
        (Ok(()), validated) => validated,
        (Err(problem), Ok(_)) => Err(problem),
        (Err(ConfigError::Several { mut problems }), Err(invalid)) => {
            problems.push(invalid);
            Err(ConfigError::Several { problems })
        }
        (Err(problem), Err(invalid)) => Err(ConfigError::Several {
            problems: vec![problem, invalid],
        }),
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn load_with(
    cli: &CliOverrides,
    env: &HashMap<String, String>,
    read: impl Fn(&Path) -> Result<String, ConfigError>,
) -> Result<(Config, Origins), ConfigError> {
    let mut draft = Draft::new();
    if let Some(path) = config_path(cli, env)? {
        let text = read(&path)?;
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            soketi::apply_file(&mut draft, &path, &text)?;
        } else {
            toml_file::apply_file(&mut draft, &path, &text)?;
        }
    }
    env::apply(&mut draft, env)?;
    cli.apply(&mut draft)?;
    finish(draft)
}

fn config_path(
    cli: &CliOverrides,
    env: &HashMap<String, String>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &cli.config {
        return Ok(Some(path.clone()));
    }
    match env.get(env::CONFIG_VAR) {
        Some(path) if path.is_empty() => Err(ConfigError::Invalid {
            origin: Origin::env(env::CONFIG_VAR),
            value: "''".to_string(),
            reason: "expected the path of a config file".to_string(),
        }),
        Some(path) => Ok(Some(PathBuf::from(path))),
        None => Ok(None),
    }
}

/// Test harness shared by the config modules: flags as one string, the environment as
/// pairs, and an in-memory file system.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    use clap::Parser;

    use super::{load_with, CliOverrides, Config, ConfigError, Origins};

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        overrides: CliOverrides,
    }

    /// Loads with these flags, variables and files.
    pub(crate) fn load(
        args: &str,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<(Config, Origins), ConfigError> {
        let argv = std::iter::once("sockwave").chain(args.split_whitespace());
        let cli = TestCli::try_parse_from(argv)
            .expect("test flags parse")
            .overrides;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let files: HashMap<&str, &str> = files.iter().copied().collect();
        load_with(&cli, &env, |path| {
            match files.get(path.to_str().expect("UTF-8 test path")) {
                Some(text) => Ok(text.to_string()),
                None => Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: std::io::ErrorKind::NotFound.into(),
                }),
            }
        })
    }

    /// The `config check` text, or the error with its causes.
    pub(crate) fn render(
        args: &str,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<String, String> {
        match load(args, env, files) {
            Ok((config, origins)) => Ok(super::show::render_config(&config, &origins)),
            Err(err) => {
                let mut message = err.to_string();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                Err(message)
            }
        }
    }

    /// Asserts that `config check` shows `expected`, a line such as `port = 7000`, or
    /// `port = 7000 # SOCKWAVE_PORT` to check the origin too.
    #[track_caller]
    pub(crate) fn check(args: &str, env: &[(&str, &str)], files: &[(&str, &str)], expected: &str) {
        let text = render(args, env, files).unwrap_or_else(|err| panic!("load failed: {err}"));
        let squash = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
        let found = text.lines().any(|line| {
            let without_origin = line.split("  # ").next().unwrap_or(line);
            squash(line) == squash(expected) || squash(without_origin) == squash(expected)
        });
        assert!(found, "expected line {expected:?} in:\n{text}");
    }

    /// Asserts that loading fails with exactly this message (causes included).
    #[track_caller]
    pub(crate) fn check_err(
        args: &str,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
        expected: &str,
    ) {
        match render(args, env, files) {
            Ok(text) => panic!("expected error {expected:?}, loaded:\n{text}"),
            Err(message) => assert_eq!(message, expected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{check, check_err, load};

    const TOML: &str = "/etc/sockwave.toml";
    const JSON: &str = "/etc/soketi.json";

    #[test]
    fn example_files_load() {
        let toml = include_str!("../../examples/sockwave.toml");
        let json = include_str!("../../examples/soketi-config.json");
        let (config, _) = load(
            "--config /x/sockwave.toml",
            &[],
            &[("/x/sockwave.toml", toml)],
        )
        .unwrap();
        assert_eq!(config.apps.len(), 2);
        assert!(!config.uses_default_credentials);
        assert_eq!(config.apps[0].webhooks.len(), 1);
        assert_eq!(
            config.server,
            crate::config::ServerConfig::default(),
            "the example shows the defaults"
        );
        let (config, _) =
            load("--config /x/soketi.json", &[], &[("/x/soketi.json", json)]).unwrap();
        assert_eq!(config.apps.len(), 2);
        assert_eq!(config.apps[1].max_connections, Some(500));
        assert_eq!(
            config.apps[0].webhooks[0].filter.starts_with.as_deref(),
            Some("private-")
        );
        assert_eq!(
            config.server.cache_ttl,
            std::time::Duration::from_secs(3600)
        );
    }

    #[test]
    fn defaults_without_any_source() {
        let (config, origins) = load("", &[], &[]).unwrap();
        assert_eq!(config, crate::config::Config::default());
        assert!(origins.is_empty());
    }

    #[test]
    fn precedence_file_then_env_then_flags() {
        let file = [(TOML, "[server]\nport = 7000")];
        let port_env = [("SOCKWAVE_PORT", "7001")];
        check(
            "--config /etc/sockwave.toml",
            &[],
            &file,
            "port = 7000 # 'server.port' in /etc/sockwave.toml",
        );
        check(
            "--config /etc/sockwave.toml",
            &port_env,
            &file,
            "port = 7001 # SOCKWAVE_PORT",
        );
        check(
            "--config /etc/sockwave.toml --port 7002",
            &port_env,
            &file,
            "port = 7002 # --port",
        );
        check("", &[("SOCKWAVE_CONFIG", TOML)], &file, "port = 7000");
        check(
            "--config /etc/sockwave.toml",
            &[("SOCKWAVE_CONFIG", "/nope.toml")],
            &file,
            "port = 7000",
        );
    }

    #[test]
    fn precedence_between_env_names() {
        let all = [
            ("SOCKWAVE_APP_KEY", "a"),
            ("SOKETI_DEFAULT_APP_KEY", "b"),
            ("PUSHER_APP_KEY", "c"),
        ];
        check("", &all, &[], "key = \"a\" # SOCKWAVE_APP_KEY");
        check("", &all[1..], &[], "key = \"b\" # SOKETI_DEFAULT_APP_KEY");
        check("", &all[2..], &[], "key = \"c\" # PUSHER_APP_KEY");
        check("--app-key d", &all, &[], "key = \"d\" # --app-key");
        check(
            "",
            &[("SOCKWAVE_PORT", "1"), ("SOKETI_PORT", "2")],
            &[],
            "port = 1",
        );
    }

    #[test]
    fn default_app_overrides_apply_to_the_first_app() {
        let file = [(TOML, "[[apps]]\nid = 'a'\nkey = 'ka'\nsecret = 's'\n[[apps]]\nid = 'b'\nkey = 'kb'\nsecret = 't'")];
        let (config, _) = load("--config /etc/sockwave.toml --app-key new", &[], &file).unwrap();
        assert_eq!(
            (config.apps[0].key.as_str(), config.apps[1].key.as_str()),
            ("new", "kb")
        );
        let (config, _) = load("--enable-client-messages --app-id x", &[], &[]).unwrap();
        assert_eq!(
            (config.apps[0].id.as_str(), config.apps[0].key.as_str()),
            ("x", "app-key")
        );
        assert!(config.apps[0].enable_client_messages);
    }

    #[test]
    fn default_credentials_are_flagged() {
        let two_apps = "[[apps]]\nid = 'a'\nkey = 'k'\nsecret = 's'\n[[apps]]\nid = 'b'\nkey = 'app-key'\nsecret = 'app-secret'";
        let flagged = |args: &str, files: &[(&str, &str)]| {
            load(args, &[], files).unwrap().0.uses_default_credentials
        };
        assert!(flagged("", &[]));
        assert!(flagged("--app-id mine", &[]));
        assert!(!flagged("--app-secret mine", &[]));
        assert!(flagged("--config /etc/sockwave.toml", &[(TOML, two_apps)]));
    }

    #[test]
    fn file_errors() {
        check_err(
            "--config /nope.toml",
            &[],
            &[],
            "cannot read config file /nope.toml: entity not found",
        );
        check_err(
            "",
            &[("SOCKWAVE_CONFIG", "")],
            &[],
            "invalid value '' for SOCKWAVE_CONFIG: expected the path of a config file",
        );
        check(
            "--config /etc/soketi.json",
            &[],
            &[(JSON, r#"{"port": 7003}"#)],
            "port = 7003 # 'port' in /etc/soketi.json",
        );
    }

    #[test]
    fn validation_names_the_source() {
        check_err(
            "--activity-timeout 0",
            &[],
            &[],
            "invalid value 0 for --activity-timeout: must be between 1 and 3600 seconds",
        );
        check_err(
            "",
            &[("SOCKWAVE_ACTIVITY_TIMEOUT", "3601")],
            &[],
            "invalid value 3601 for SOCKWAVE_ACTIVITY_TIMEOUT: must be between 1 and 3600 seconds",
        );
        check_err(
            "",
            &[("SOCKWAVE_APP_SECRET", "")],
            &[],
            "invalid value '' for SOCKWAVE_APP_SECRET: must not be empty",
        );
        check_err("--app-id a/b", &[], &[], "invalid value 'a/b' for --app-id: must be non-empty and use only letters, digits, '_', '.' and '-'");
        check_err(
            "",
            &[("SOCKWAVE_APP_MAX_BATCH_SIZE", "0")],
            &[],
            "invalid value 0 for SOCKWAVE_APP_MAX_BATCH_SIZE: must be at least 1",
        );
        check_err(
            "",
            &[("SOCKWAVE_SOCKET_QUEUE_CAPACITY", "0")],
            &[],
            "invalid value 0 for SOCKWAVE_SOCKET_QUEUE_CAPACITY: must be at least 1",
        );
        check_err(
            "",
            &[("SOCKWAVE_HOST", "")],
            &[],
            "invalid value '' for SOCKWAVE_HOST: expected an IP address or host name",
        );
    }
}
