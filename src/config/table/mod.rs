//! The one table of settings (`rows::SETTINGS`): each setting is declared once — its TOML
//! table and key, its kind, bounds, Soketi names, flag and documentation — and every source,
//! `config check`, validation and the docs' tables are driven by that declaration.
//!
//! Environment variable names are derived from the key: `SOCKWAVE_{KEY}` for `[server]`,
//! `SOCKWAVE_CONSOLE_{KEY}`, `SOCKWAVE_CLUSTER_{KEY}`, and `SOCKWAVE_APP_{KEY}` for the first
//! app.

mod rows;

use std::time::Duration;

use super::cluster::ClusterSetting;
use super::settings::ClusterSettings;
use super::value::{Field, Kind, Unit, Value};
use super::Config;

pub(crate) use rows::SETTINGS;

/// The TOML table a setting lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Server,
    Console,
    Cluster,
    App,
}

impl Scope {
    /// The table's name in TOML, and the first part of origin keys.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Scope::Server => "server",
            Scope::Console => "console",
            Scope::Cluster => "cluster",
            Scope::App => "apps",
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Scope::Server => "SOCKWAVE_",
            Scope::Console => "SOCKWAVE_CONSOLE_",
            Scope::Cluster => "SOCKWAVE_CLUSTER_",
            Scope::App => "SOCKWAVE_APP_",
        }
    }
}

/// How a setting's value reaches the configuration.
pub(crate) enum Access {
    /// A field of `Config`; the index picks the app for `[[apps]]` settings.
    Config(fn(&mut Config, usize) -> &mut dyn Field),
    /// A cluster setting, assembled and checked by `cluster`; `get` reads the result back
    /// (`None` when it does not apply, e.g. the Redis URL of a NATS cluster).
    Cluster {
        set: fn(Value) -> ClusterSetting,
        get: fn(&ClusterSettings) -> Option<Value>,
    },
    /// An app's webhooks: a list of tables, read by `webhooks` in every source.
    Webhooks,
}

/// How `config check` hides a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mask {
    /// Shown as it is.
    None,
    /// At most a quarter shows.
    Secret,
    /// The password (or a lone user, which may be a token) of each URL is masked.
    Urls,
}

/// One setting.
pub(crate) struct Setting {
    pub(crate) scope: Scope,
    pub(crate) key: &'static str,
    pub(crate) kind: Kind,
    pub(crate) access: Access,
    pub(crate) doc: &'static str,
    /// Smallest value, in the stored unit (bytes, seconds, a count); 0 for none.
    pub(crate) min: u64,
    /// Largest value, in the stored unit.
    pub(crate) max: u64,
    /// Soketi's names: options for server-wide settings, fields of an app object for
    /// `[[apps]]` ones.
    pub(crate) soketi: &'static [&'static str],
    /// For an app setting: Soketi's server-wide option that is the default for every app.
    pub(crate) soketi_default: Option<&'static str>,
    /// How Soketi writes the number.
    pub(crate) unit: Unit,
    pub(crate) flag: Option<&'static str>,
    /// Laravel's `.env` name (`PUSHER_APP_*`) for the first app.
    pub(crate) laravel: Option<&'static str>,
    pub(crate) mask: Mask,
    /// The default as the docs show it, where the stored default does not say it.
    pub(crate) default_doc: Option<&'static str>,
}

impl Setting {
    const fn new(scope: Scope, key: &'static str, kind: Kind, access: Access) -> Setting {
        Setting {
            scope,
            key,
            kind,
            access,
            doc: "",
            min: 0,
            max: u64::MAX,
            soketi: &[],
            soketi_default: None,
            unit: Unit::Same,
            flag: None,
            laravel: None,
            mask: Mask::None,
            default_doc: None,
        }
    }

    const fn doc(mut self, doc: &'static str) -> Setting {
        self.doc = doc;
        self
    }

    const fn min(mut self, min: u64) -> Setting {
        self.min = min;
        self
    }

    const fn max(mut self, max: u64) -> Setting {
        self.max = max;
        self
    }

    const fn soketi(mut self, names: &'static [&'static str]) -> Setting {
        self.soketi = names;
        self
    }

    const fn soketi_default(mut self, option: &'static str) -> Setting {
        self.soketi_default = Some(option);
        self
    }

    const fn unit(mut self, unit: Unit) -> Setting {
        self.unit = unit;
        self
    }

    const fn flag(mut self, flag: &'static str) -> Setting {
        self.flag = Some(flag);
        self
    }

    const fn laravel(mut self, var: &'static str) -> Setting {
        self.laravel = Some(var);
        self
    }

    const fn mask(mut self, mask: Mask) -> Setting {
        self.mask = mask;
        self
    }

    const fn default_doc(mut self, text: &'static str) -> Setting {
        self.default_doc = Some(text);
        self
    }

    /// `server.port`, `console.token`, `apps[0].max_connections`: how origins are keyed.
    pub(crate) fn field(&self, index: usize) -> String {
        match self.scope {
            Scope::App => format!("apps[{index}].{}", self.key),
            scope => format!("{}.{}", scope.table(), self.key),
        }
    }

    /// The `SOCKWAVE_*` variable (for app settings, the first app's).
    pub(crate) fn env_var(&self) -> String {
        format!(
            "{}{}",
            self.scope.env_prefix(),
            self.key.to_ascii_uppercase()
        )
    }

    /// The stored value of a `Config` setting.
    pub(crate) fn get(&self, config: &Config, index: usize) -> Option<Value> {
        match &self.access {
            Access::Config(field) => Some(field(&mut config.clone(), index).get()),
            Access::Cluster { get, .. } => get(&config.server.cluster),
            Access::Webhooks => None,
        }
    }

    /// Whether `value` is within the bounds; the reason when it is not.
    pub(crate) fn check_bounds(&self, value: &Value) -> Result<(), String> {
        let stored = match value {
            Value::Whole(n) | Value::Limit(Some(n)) => *n,
            Value::Bytes(n) => *n as u64,
            Value::Time(time) | Value::MaybeTime(Some(time)) => {
                if *time > MAX_DURATION {
                    return Err(format!(
                        "must be at most {} seconds (a year)",
                        MAX_DURATION.as_secs()
                    ));
                }
                // Sub-second values count as below a minimum of whole seconds.
                if time.subsec_nanos() > 0 && time.as_secs() < self.min {
                    0
                } else {
                    time.as_secs()
                }
            }
            _ => return Ok(()),
        };
        if (self.min..=self.max).contains(&stored) {
            return Ok(());
        }
        let unit = match self.kind {
            Kind::Secs | Kind::FracSecs | Kind::SecsOrOff | Kind::OffIfZero => "seconds",
            Kind::Millis => "milliseconds",
            Kind::Kb => "kilobytes",
            _ => "",
        };
        Err(match self.kind {
            Kind::Kb if self.min <= 1 => "must be more than 0 (kilobytes)".to_string(),
            Kind::Kb => format!("must be at least {} (kilobytes)", self.min as f64 / 1024.0),
            Kind::SecsOrOff => format!(
                "must be at least {} (seconds; leave it out, or write \"off\", to turn it off)",
                self.min
            ),
            Kind::Limit => format!(
                "must be at least {} (omit it or use \"unlimited\" / -1 for no limit)",
                self.min
            ),
            _ if self.max != u64::MAX => {
                format!("must be between {} and {} {unit}", self.min, self.max)
            }
            _ if unit.is_empty() => format!("must be at least {}", self.min),
            _ => format!("must be at least {} ({unit})", self.min),
        })
    }
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Setting({})", self.field(0))
    }
}

/// Longest accepted duration of any setting: timers add durations to the clock, and
/// `Instant + Duration` overflows on absurd values.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The setting of `scope` with this TOML key.
pub(crate) fn by_key(scope: Scope, key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.scope == scope && s.key == key)
}

/// The keys of one table, for unknown-key checks and suggestions.
pub(crate) fn keys(scope: Scope) -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .filter(move |s| s.scope == scope)
        .map(|s| s.key)
}

/// The setting a `SOCKWAVE_*` variable names.
pub(crate) fn by_env(var: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env_var() == var)
}
