//! Command-line flags that override the file and the environment.
//!
//! The binary flattens [`CliOverrides`] into its own parser, so subcommands accept the same
//! flags. This module only declares the flags and turns them into settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::draft::{AppSetting, Draft, Origin, Override, ServerSetting};

/// Flags with the highest precedence. App flags change the first app.
#[derive(Debug, Clone, Default, Args)]
pub struct CliOverrides {
    /// Config file: sockwave TOML, or a Soketi config when the name ends in `.json`
    /// [env: SOCKWAVE_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "ADDRESS", global = true)]
    pub host: Option<String>,
    /// Port for WebSocket and HTTP API
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// Prefix in front of every path, e.g. /ws
    #[arg(long, value_name = "PREFIX", global = true)]
    pub path_prefix: Option<String>,
    /// Verbose logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Seconds of silence before the server pings a socket (1-3600)
    #[arg(long, value_name = "SECS", global = true)]
    pub activity_timeout: Option<u64>,
    /// Seconds to wait for sockets and requests when shutting down
    #[arg(long, value_name = "SECS", global = true)]
    pub shutdown_grace_period: Option<u64>,
    /// Id of the first app
    #[arg(long, value_name = "ID", global = true)]
    pub app_id: Option<String>,
    /// Key of the first app
    #[arg(long, value_name = "KEY", global = true)]
    pub app_key: Option<String>,
    /// Secret of the first app
    #[arg(long, value_name = "SECRET", global = true)]
    pub app_secret: Option<String>,
    /// Accept client-* events on the first app
    #[arg(long, global = true)]
    pub enable_client_messages: bool,
    /// PEM certificate chain: serve wss/https on the port (with --tls-key)
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_key: Option<PathBuf>,
}

impl CliOverrides {
    /// Writes every given flag into the draft.
    pub(crate) fn apply(&self, draft: &mut Draft) {
        use AppSetting as App;
        use Override::{FirstApp, Server};
        use ServerSetting as Srv;

        let secs = Duration::from_secs;
        let mut set = |flag: &'static str, setting: Option<Override>| {
            if let Some(setting) = setting {
                draft.apply(setting, Origin::Flag { flag });
            }
        };
        set(
            "host",
            self.host.clone().map(|host| Server(Srv::Host(host))),
        );
        set("port", self.port.map(|port| Server(Srv::Port(port))));
        let path_prefix = self.path_prefix.clone();
        set(
            "path-prefix",
            path_prefix.map(|prefix| Server(Srv::PathPrefix(prefix))),
        );
        set("debug", self.debug.then_some(Server(Srv::Debug(true))));
        let activity_timeout = self.activity_timeout.map(secs);
        set(
            "activity-timeout",
            activity_timeout.map(|t| Server(Srv::ActivityTimeout(t))),
        );
        let grace_period = self.shutdown_grace_period.map(secs);
        set(
            "shutdown-grace-period",
            grace_period.map(|t| Server(Srv::ShutdownGracePeriod(t))),
        );
        set(
            "app-id",
            self.app_id.clone().map(|id| FirstApp(App::Id(id))),
        );
        set(
            "app-key",
            self.app_key.clone().map(|key| FirstApp(App::Key(key))),
        );
        set(
            "app-secret",
            self.app_secret
                .clone()
                .map(|secret| FirstApp(App::Secret(secret))),
        );
        set(
            "tls-cert",
            self.tls_cert.clone().map(|path| Server(Srv::TlsCert(path))),
        );
        set(
            "tls-key",
            self.tls_key.clone().map(|path| Server(Srv::TlsKey(path))),
        );
        let client_messages = FirstApp(App::EnableClientMessages(true));
        set(
            "enable-client-messages",
            self.enable_client_messages.then_some(client_messages),
        );
    }
}
