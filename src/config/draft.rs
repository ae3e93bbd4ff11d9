//! The draft configuration that every source writes into, and where each value came from.
//!
//! Sources (a file, the environment, flags) hand it raw values for the settings of the table;
//! it reads them by the setting's kind and stores them, later writes winning, and remembers
//! the origin of every value so validation errors and `config check` can name it. Range and
//! cross-setting checks are `validate`'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value as Json;

use super::cluster::ClusterDraft;
use super::error::ConfigError;
use super::table::{Access, Setting};
use super::value::{parse, Source, Value};
use super::Config;
use crate::app::{App, WebhookTarget};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A key in a configuration file.
    File {
        /// The file.
        path: PathBuf,
        /// The key, dotted from the top of the file.
        key: String,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag without its leading dashes, e.g. `port`.
        flag: &'static str,
    },
    /// A column of an app's row in a SQL app manager's table.
    Row {
        /// The table.
        table: String,
        /// The row's `id`.
        app: String,
        /// The column.
        column: String,
    },
}

impl Origin {
    pub(crate) fn file(path: &std::path::Path, key: impl Into<String>) -> Origin {
        Origin::File {
            path: path.to_path_buf(),
            key: key.into(),
        }
    }

    pub(crate) fn env(var: &str) -> Origin {
        Origin::Env {
            var: var.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File { path, key } => write!(f, "'{key}' in {}", path.display()),
            Origin::Env { var } => f.write_str(var),
            Origin::Flag { flag } => write!(f, "--{flag}"),
            Origin::Row { table, app, column } => {
                write!(f, "column '{column}' of app '{app}' in table {table}")
            }
        }
    }
}

/// Origins of the values that did not come from the defaults, keyed like `server.port`,
/// `console.token`, `cluster.prefix` or `apps[0].key`.
pub(crate) type Origins = BTreeMap<String, Origin>;

/// A value as an error message shows it: text quoted, anything else as JSON.
pub(crate) fn shown(raw: &Json) -> String {
    match raw {
        Json::String(text) => format!("'{text}'"),
        other => other.to_string(),
    }
}

/// The configuration being assembled, with the origin of each non-default value.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) config: Config,
    pub(crate) origins: Origins,
    /// Soketi's server-wide limits: they apply to every app that does not set its own.
    app_defaults: Vec<(&'static Setting, Value, Origin)>,
    /// What last replaced the app list, to name it if the list ends up empty.
    pub(crate) apps_origin: Origin,
    /// The `[cluster]` settings, turned into `ServerConfig::cluster` by validation.
    pub(crate) cluster: ClusterDraft,
    /// Settings that could not be used, collected so that one run reports all of them.
    pub(crate) problems: Vec<ConfigError>,
    /// Soketi's SQL app manager options, turned into `app_manager_url` and
    /// `app_manager_table` by validation.
    pub(crate) sql: SqlDraft,
}

/// Soketi's connection parts for its MySQL and PostgreSQL app managers, and its per-driver
/// table names; validation picks those of the chosen driver.
#[derive(Debug, Default, Clone)]
pub(crate) struct SqlDraft {
    /// The driver was chosen with Soketi's `appManager.driver`, so Soketi's connection
    /// defaults apply to the parts it leaves out.
    pub(crate) soketi_driver: bool,
    pub(crate) mysql: SqlParts,
    pub(crate) postgres: SqlParts,
}

/// One database's parts as Soketi names them (`database.mysql.host`, ...).
#[derive(Debug, Default, Clone)]
pub(crate) struct SqlParts {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) database: Option<String>,
    pub(crate) table: Option<(String, Origin)>,
    /// Where the first of these came from, to name it in errors.
    pub(crate) origin: Option<Origin>,
}

impl Draft {
    /// Keeps a setting's error for the end of loading instead of stopping at it.
    pub(crate) fn record(&mut self, result: Result<(), ConfigError>) {
        if let Err(problem) = result {
            self.problems.push(problem);
        }
    }

    /// The collected errors as one: the single error itself, or all of them together.
    pub(crate) fn take_problems(&mut self) -> Result<(), ConfigError> {
        let mut problems = std::mem::take(&mut self.problems);
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several { problems }),
        }
    }

    /// The built-in defaults, with the development app.
    pub(crate) fn new() -> Draft {
        Draft {
            config: Config::default(),
            origins: Origins::new(),
            app_defaults: Vec::new(),
            apps_origin: Origin::Default,
            cluster: ClusterDraft::default(),
            problems: Vec::new(),
            sql: SqlDraft::default(),
        }
    }

    /// Reads `raw` as `setting`'s kind; the error names the origin.
    pub(crate) fn read(
        setting: &Setting,
        raw: &Json,
        source: Source,
        origin: &Origin,
    ) -> Result<Value, ConfigError> {
        parse(setting.kind, raw, source).map_err(|reason| ConfigError::Invalid {
            origin: origin.clone(),
            value: shown(raw),
            reason,
        })
    }

    /// Reads and stores one value; `Ok(false)` when an app setting names an app that does not
    /// exist.
    pub(crate) fn assign(
        &mut self,
        setting: &'static Setting,
        index: usize,
        raw: &Json,
        source: Source,
        origin: Origin,
    ) -> Result<bool, ConfigError> {
        let value = Draft::read(setting, raw, source, &origin)?;
        self.store(setting, index, value, origin)
            .map_err(|reason| ConfigError::Invalid {
                origin: reason.0,
                value: shown(raw),
                reason: reason.1,
            })
    }

    /// Stores a value already read; the error carries the origin and why it does not fit.
    pub(crate) fn store(
        &mut self,
        setting: &'static Setting,
        index: usize,
        value: Value,
        origin: Origin,
    ) -> Result<bool, (Origin, String)> {
        match &setting.access {
            Access::Config(field) => {
                let is_app = setting.scope == super::table::Scope::App;
                if is_app && index >= self.config.apps.len() {
                    return Ok(false);
                }
                if let Err(reason) = field(&mut self.config, index).put(value) {
                    return Err((origin, reason));
                }
                self.origins.insert(setting.field(index), origin);
            }
            Access::Cluster { set, .. } => {
                self.cluster.apply(set(value), origin, &mut self.origins);
            }
            Access::Webhooks => unreachable!("webhooks are stored with set_webhooks"),
        }
        Ok(true)
    }

    /// Replaces one app's webhooks; `false` when there is no such app.
    pub(crate) fn set_webhooks(
        &mut self,
        index: usize,
        targets: Vec<WebhookTarget>,
        origin: Origin,
    ) -> bool {
        let Some(app) = self.config.apps.get_mut(index) else {
            return false;
        };
        app.webhooks = targets;
        self.origins
            .insert(format!("apps[{index}].webhooks"), origin);
        true
    }

    /// Replaces every app with `n_apps` development apps, to be filled in by the source (which
    /// checks that credentials are present).
    pub(crate) fn replace_apps(&mut self, n_apps: usize, origin: Origin) {
        self.config.apps = vec![App::default_dev(); n_apps];
        self.origins.retain(|field, _| !field.starts_with("apps["));
        self.apps_origin = origin;
    }

    /// A limit for every app that does not set its own; a later call for the same limit wins.
    pub(crate) fn set_app_default(
        &mut self,
        setting: &'static Setting,
        value: Value,
        origin: Origin,
    ) {
        self.app_defaults
            .retain(|(existing, ..)| existing.key != setting.key);
        self.app_defaults.push((setting, value, origin));
    }

    /// The app a SQL app manager's rows start from: the built-in app defaults with the
    /// server-wide app limits (Soketi's `eventLimits.*`, ...) applied, as Soketi applies
    /// them to the apps it reads from its database.
    pub(crate) fn app_template(&self) -> Result<App, ConfigError> {
        let mut scratch = Draft::new();
        scratch.app_defaults = self.app_defaults.clone();
        scratch.apply_app_defaults()?;
        Ok(scratch.config.apps.remove(0))
    }

    /// Applies the server-wide app limits to the apps that did not set their own.
    pub(crate) fn apply_app_defaults(&mut self) -> Result<(), ConfigError> {
        for (setting, value, origin) in std::mem::take(&mut self.app_defaults) {
            for index in 0..self.config.apps.len() {
                if !self.origins.contains_key(&setting.field(index)) {
                    self.store(setting, index, value.clone(), origin.clone())
                        .map_err(|(origin, reason)| ConfigError::Invalid {
                            origin,
                            value: format!("{value:?}"),
                            reason,
                        })?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn origin(&self, field: &str) -> Origin {
        self.origins.get(field).cloned().unwrap_or(Origin::Default)
    }
}
