//! Command-line flags that override the file and the environment.
//!
//! The binary flattens [`CliOverrides`] into its own parser, so subcommands accept the same
//! flags. This module only declares the flags; which setting each one sets is the settings
//! table's `flag`.

use std::path::PathBuf;

use clap::Args;

use super::draft::{Draft, Origin};
use super::error::ConfigError;
use super::table::SETTINGS;
use super::value::Source;

/// Flags with the highest precedence. App flags change the first app.
#[derive(Debug, Clone, Default, Args)]
pub struct CliOverrides {
    /// Config file: sockwave TOML, or a Soketi config when the name ends in `.json`
    /// [env: SOCKWAVE_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "ADDRESS", global = true)]
    pub(crate) host: Option<String>,
    /// Port for WebSocket and HTTP API
    #[arg(long, global = true)]
    pub(crate) port: Option<u16>,
    /// Prefix in front of every path, e.g. /ws
    #[arg(long, value_name = "PREFIX", global = true)]
    pub(crate) path_prefix: Option<String>,
    /// Verbose logging
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    /// Log lines as text (for people) or json (one object per line, for collectors)
    #[arg(long, value_name = "text|json", global = true)]
    pub(crate) log_format: Option<String>,
    /// Seconds of silence before the server pings a socket (1-3600)
    #[arg(long, value_name = "SECS", global = true)]
    pub(crate) activity_timeout: Option<u64>,
    /// Seconds to wait for sockets and requests when shutting down
    #[arg(long, value_name = "SECS", global = true)]
    pub(crate) shutdown_grace_period: Option<u64>,
    /// Id of the first app
    #[arg(long, value_name = "ID", global = true)]
    pub(crate) app_id: Option<String>,
    /// Key of the first app
    #[arg(long, value_name = "KEY", global = true)]
    pub(crate) app_key: Option<String>,
    /// Secret of the first app
    #[arg(long, value_name = "SECRET", global = true)]
    pub(crate) app_secret: Option<String>,
    /// Accept client-* events on the first app
    #[arg(long, global = true)]
    pub(crate) enable_client_messages: bool,
    /// PEM certificate chain: serve wss/https on the port (with --tls-key)
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) tls_key: Option<PathBuf>,
}

impl CliOverrides {
    /// Writes every given flag into the draft, through the settings table.
    pub(crate) fn apply(&self, draft: &mut Draft) -> Result<(), ConfigError> {
        let text = |value: &Option<String>| value.clone();
        let path = |value: &Option<PathBuf>| value.as_ref().map(|p| p.display().to_string());
        let given: [(&'static str, Option<String>); 13] = [
            ("host", text(&self.host)),
            ("port", self.port.map(|port| port.to_string())),
            ("path-prefix", text(&self.path_prefix)),
            ("debug", self.debug.then(|| "true".to_string())),
            ("log-format", text(&self.log_format)),
            (
                "activity-timeout",
                self.activity_timeout.map(|s| s.to_string()),
            ),
            (
                "shutdown-grace-period",
                self.shutdown_grace_period.map(|s| s.to_string()),
            ),
            ("app-id", text(&self.app_id)),
            ("app-key", text(&self.app_key)),
            ("app-secret", text(&self.app_secret)),
            (
                "enable-client-messages",
                self.enable_client_messages.then(|| "true".to_string()),
            ),
            ("tls-cert", path(&self.tls_cert)),
            ("tls-key", path(&self.tls_key)),
        ];
        for (flag, value) in given {
            let Some(value) = value else { continue };
            let setting = SETTINGS
                .iter()
                .find(|setting| setting.flag == Some(flag))
                .expect("every flag is in the settings table");
            let raw = serde_json::Value::String(value);
            draft.assign(setting, 0, &raw, Source::Text, Origin::Flag { flag })?;
        }
        Ok(())
    }
}
