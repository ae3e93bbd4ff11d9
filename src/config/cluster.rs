//! The `[cluster]` settings: which engine connects the nodes, how to reach it, and how the
//! nodes watch each other. Every source writes `ClusterSetting`s into the draft's
//! `ClusterDraft`; [`ClusterDraft::finish`] checks the result and builds `ClusterSettings`.
//!
//! Engine addresses are URLs with their credentials (`redis://user:pass@host:6379/0`,
//! `nats://user:pass@host:4222`, `nats://token@host:4222`). Soketi spreads the same address
//! over several options (host, port, db, password, ...): each edits its part of the current
//! URL, so a later source still wins part by part. Soketi options that only matter for one
//! engine are refused only when that engine is chosen. This module never connects anywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::draft::{Origin, Origins};
use super::error::ConfigError;
use super::settings::{ClusterSettings, Driver};
use super::show::mask_secret;

/// The Redis address when nothing says otherwise (Soketi's default too).
pub(crate) const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The NATS address when nothing says otherwise (Soketi's default too).
pub(crate) const DEFAULT_NATS_SERVER: &str = "nats://127.0.0.1:4222";

/// The engine, before its address is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverKind {
    Local,
    Redis,
    Nats,
}

impl DriverKind {
    /// `local`, `redis` or `nats`, any case.
    pub(crate) fn parse(text: &str) -> Option<DriverKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "local" => Some(DriverKind::Local),
            "redis" => Some(DriverKind::Redis),
            "nats" => Some(DriverKind::Nats),
            _ => None,
        }
    }
}

/// One part of the Redis address, as Soketi's `database.redis.*` options give it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RedisPart {
    Host(String),
    Port(u16),
    Db(u64),
    Username(String),
    Password(String),
}

/// Soketi's NATS credentials, embedded into the server URLs that carry none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NatsCredential {
    User(String),
    Password(String),
    Token(String),
}

/// Whether a Soketi option sockwave does not implement is in effect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EngineOptionState {
    /// Its value changes nothing (a later source may withdraw an earlier refusal this way).
    Harmless,
    /// Refused if its engine is chosen; `accepted` is the value that would be fine.
    Unsupported { accepted: Option<&'static str> },
}

/// One cluster setting, already in the units `ClusterSettings` uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClusterSetting {
    Driver(DriverKind),
    RedisUrl(String),
    RedisPart(RedisPart),
    NatsServers(Vec<String>),
    NatsCredential(NatsCredential),
    Prefix(String),
    /// Soketi's per-engine prefix (`adapter.redis.prefix`, `adapter.nats.prefix`): used only
    /// when that engine is chosen.
    EnginePrefix(DriverKind, String),
    HeartbeatInterval(Duration),
    NodeTimeout(Duration),
    ReadyRequiresEngine(bool),
    /// A Soketi option that matters only with `driver`, named by `option`.
    EngineOption {
        option: String,
        driver: DriverKind,
        state: EngineOptionState,
    },
}

impl ClusterSetting {
    /// The TOML key under `[cluster]` this setting shows up as.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ClusterSetting::Driver(_) => "driver",
            ClusterSetting::RedisUrl(_) | ClusterSetting::RedisPart(_) => "redis_url",
            ClusterSetting::NatsServers(_) | ClusterSetting::NatsCredential(_) => "nats_servers",
            ClusterSetting::Prefix(_) | ClusterSetting::EnginePrefix(..) => "prefix",
            ClusterSetting::HeartbeatInterval(_) => "heartbeat_interval",
            ClusterSetting::NodeTimeout(_) => "node_timeout",
            ClusterSetting::ReadyRequiresEngine(_) => "ready_requires_engine",
            ClusterSetting::EngineOption { .. } => "driver",
        }
    }
}

/// `cluster.{key}`, how origins of cluster settings are keyed.
pub(crate) fn cluster_field(key: &str) -> String {
    format!("cluster.{key}")
}

/// Cluster settings as the sources leave them, checked by [`ClusterDraft::finish`].
#[derive(Debug)]
pub(crate) struct ClusterDraft {
    driver: DriverKind,
    redis_url: String,
    /// A Soketi Redis option that could not be applied to the URL, reported if Redis is chosen.
    redis_part_error: Option<ConfigError>,
    nats_servers: Vec<String>,
    nats_user: Option<(String, Origin)>,
    nats_password: Option<String>,
    nats_token: Option<(String, Origin)>,
    prefix: String,
    engine_prefixes: Vec<(DriverKind, String, Origin)>,
    heartbeat_interval: Duration,
    node_timeout: Duration,
    ready_requires_engine: bool,
    unsupported: BTreeMap<String, (DriverKind, Origin, Option<&'static str>)>,
}

impl Default for ClusterDraft {
    fn default() -> Self {
        let defaults = ClusterSettings::default();
        ClusterDraft {
            driver: DriverKind::Local,
            redis_url: DEFAULT_REDIS_URL.to_string(),
            redis_part_error: None,
            nats_servers: vec![DEFAULT_NATS_SERVER.to_string()],
            nats_user: None,
            nats_password: None,
            nats_token: None,
            prefix: defaults.prefix,
            engine_prefixes: Vec::new(),
            heartbeat_interval: defaults.heartbeat_interval,
            node_timeout: defaults.node_timeout,
            ready_requires_engine: defaults.ready_requires_engine,
            unsupported: BTreeMap::new(),
        }
    }
}

impl ClusterDraft {
    /// Applies one setting; a later call wins. Records the origin of what it changed.
    pub(crate) fn apply(&mut self, setting: ClusterSetting, origin: Origin, origins: &mut Origins) {
        let field = cluster_field(setting.key());
        match setting {
            ClusterSetting::Driver(driver) => self.driver = driver,
            ClusterSetting::RedisUrl(url) => {
                self.redis_url = url;
                self.redis_part_error = None;
            }
            ClusterSetting::RedisPart(part) => match edit_redis_url(&self.redis_url, &part) {
                Ok(url) => self.redis_url = url,
                Err(reason) => {
                    self.redis_part_error = Some(ConfigError::Invalid {
                        origin,
                        value: part.shown(),
                        reason,
                    });
                    return;
                }
            },
            ClusterSetting::NatsServers(servers) => self.nats_servers = servers,
            ClusterSetting::NatsCredential(credential) => {
                match credential {
                    NatsCredential::User(user) => self.nats_user = Some((user, origin)),
                    NatsCredential::Password(password) => self.nats_password = Some(password),
                    NatsCredential::Token(token) => self.nats_token = Some((token, origin)),
                }
                // The servers' origin stays: the credentials only complete their URLs.
                return;
            }
            ClusterSetting::Prefix(prefix) => {
                self.prefix = prefix;
                // A later source's prefix beats an earlier Soketi per-engine one.
                self.engine_prefixes.clear();
            }
            ClusterSetting::EnginePrefix(driver, prefix) => {
                self.engine_prefixes.retain(|(kind, ..)| *kind != driver);
                self.engine_prefixes.push((driver, prefix, origin));
                return;
            }
            ClusterSetting::HeartbeatInterval(interval) => self.heartbeat_interval = interval,
            ClusterSetting::NodeTimeout(timeout) => self.node_timeout = timeout,
            ClusterSetting::ReadyRequiresEngine(on) => self.ready_requires_engine = on,
            ClusterSetting::EngineOption {
                option,
                driver,
                state,
            } => {
                match state {
                    EngineOptionState::Harmless => self.unsupported.remove(&option),
                    EngineOptionState::Unsupported { accepted } => {
                        self.unsupported.insert(option, (driver, origin, accepted))
                    }
                };
                return;
            }
        }
        origins.insert(field, origin);
    }

    /// Checks the settings and builds them; errors name the source of the offending value.
    pub(crate) fn finish(self, origins: &mut Origins) -> Result<ClusterSettings, ConfigError> {
        let origin = |origins: &Origins, key: &str| {
            origins
                .get(&cluster_field(key))
                .cloned()
                .unwrap_or(Origin::Default)
        };
        let invalid =
            |origins: &Origins, key: &str, value: String, reason: &str| ConfigError::Invalid {
                origin: origin(origins, key),
                value,
                reason: reason.to_string(),
            };
        let driver = self.driver;
        if let Some((_, origin, accepted)) = self.unsupported.values().find(|(d, ..)| *d == driver)
        {
            return Err(ConfigError::Unsupported {
                origin: origin.clone(),
                accepted: accepted.map(String::from),
            });
        }

        let mut prefix = self.prefix;
        if let Some((_, engine_prefix, source)) = self
            .engine_prefixes
            .into_iter()
            .find(|(kind, ..)| *kind == driver)
        {
            prefix = engine_prefix;
            origins.insert(cluster_field("prefix"), source);
        }
        if prefix.is_empty() || prefix.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
        {
            let reason = "must be non-empty, without whitespace, '*' or '>'";
            return Err(invalid(origins, "prefix", format!("'{prefix}'"), reason));
        }

        if self.heartbeat_interval.is_zero() {
            let reason = "must be more than 0 seconds";
            return Err(invalid(origins, "heartbeat_interval", "0".into(), reason));
        }
        if self.node_timeout <= self.heartbeat_interval * 2 {
            let reason = format!(
                "must be more than twice heartbeat_interval ({} s), or one lost heartbeat would \
                 count a live node as dead",
                secs(self.heartbeat_interval)
            );
            let value = secs(self.node_timeout);
            return Err(invalid(origins, "node_timeout", value, &reason));
        }

        let driver = match driver {
            DriverKind::Local => Driver::Local,
            DriverKind::Redis => {
                if let Some(err) = self.redis_part_error {
                    return Err(err);
                }
                if let Err(reason) = check_redis_url(&self.redis_url) {
                    let value = format!("'{}'", mask_url(&self.redis_url, false));
                    return Err(invalid(origins, "redis_url", value, &reason));
                }
                Driver::Redis {
                    url: self.redis_url,
                }
            }
            DriverKind::Nats => {
                let credentials =
                    nats_userinfo(self.nats_user, self.nats_password, self.nats_token)?;
                let servers: Vec<String> = self
                    .nats_servers
                    .iter()
                    .map(|server| match &credentials {
                        Some((user, password)) if userinfo_of(server).is_none() => {
                            with_userinfo(server, user, password.as_deref())
                        }
                        _ => server.clone(),
                    })
                    .collect();
                if let Err((server, reason)) = check_nats_servers(&servers) {
                    let value = format!("'{}'", mask_url(&server, true));
                    return Err(invalid(origins, "nats_servers", value, &reason));
                }
                Driver::Nats { servers }
            }
        };
        Ok(ClusterSettings {
            driver,
            prefix,
            heartbeat_interval: self.heartbeat_interval,
            node_timeout: self.node_timeout,
            ready_requires_engine: self.ready_requires_engine,
        })
    }
}

impl RedisPart {
    /// The value for an error message; a password is never shown.
    fn shown(&self) -> String {
        match self {
            RedisPart::Host(host) => format!("'{host}'"),
            RedisPart::Port(port) => port.to_string(),
            RedisPart::Db(db) => db.to_string(),
            RedisPart::Username(user) => format!("'{user}'"),
            RedisPart::Password(_) => "(hidden)".to_string(),
        }
    }
}

fn secs(duration: Duration) -> String {
    format!("{}", duration.as_secs_f64())
}

/// Replaces one part of a Redis URL (values are percent-encoded as needed).
fn edit_redis_url(current: &str, part: &RedisPart) -> Result<String, String> {
    let Some(mut url) = redis::parse_redis_url(current) else {
        return Err(format!(
            "cannot be applied to the Redis URL '{}', which is not valid",
            mask_url(current, false)
        ));
    };
    let edited = match part {
        RedisPart::Host(host) if host.trim().is_empty() => Err(()),
        RedisPart::Host(host) => url.set_host(Some(host.trim())).map_err(|_| ()),
        RedisPart::Port(port) => url.set_port(Some(*port)),
        RedisPart::Db(db) => {
            url.set_path(&format!("/{db}"));
            Ok(())
        }
        RedisPart::Username(user) => url.set_username(user),
        RedisPart::Password(password) => url.set_password(Some(password)),
    };
    match edited {
        Ok(()) => Ok(url.to_string()),
        Err(()) => Err(match part {
            RedisPart::Host(_) => "expected a host name or IP address".to_string(),
            _ => "cannot be set on the Redis URL".to_string(),
        }),
    }
}

/// A Redis URL sockwave can connect with: `redis://` or `rediss://`, a host, a numeric db.
fn check_redis_url(url: &str) -> Result<(), String> {
    const SHAPE: &str = "expected a URL like redis://[user:password@]host:6379/0";
    let parsed = redis::parse_redis_url(url).ok_or(SHAPE)?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(SHAPE.to_string());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("has no host; {SHAPE}"));
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("the path must be a database number; {SHAPE}"));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|_| ())
        .map_err(|err| match parsed.scheme() {
            // The redis client is built without TLS; say so rather than quote its message.
            "rediss" => "rediss:// (TLS) is not supported by this build yet; use redis:// on a \
                         private network, or a local TLS tunnel"
                .to_string(),
            _ => format!("{err}"),
        })
}

/// Every server must be a `nats://` URL, and all must carry the same credentials (the client
/// authenticates the same way with each).
fn check_nats_servers(servers: &[String]) -> Result<(), (String, String)> {
    let Some(first) = servers.first() else {
        return Err((
            String::new(),
            "expected at least one nats:// URL".to_string(),
        ));
    };
    for server in servers {
        let parsed = server
            .strip_prefix("nats://")
            .filter(|rest| !rest.is_empty())
            .and_then(|_| server.parse::<async_nats::ServerAddr>().ok());
        if parsed.is_none() {
            let reason = "expected a URL like nats://[user:password@]host:4222".to_string();
            return Err((server.clone(), reason));
        }
        if userinfo_of(server) != userinfo_of(first) {
            let reason = "every NATS server URL must carry the same credentials".to_string();
            return Err((server.clone(), reason));
        }
    }
    Ok(())
}

/// Soketi's NATS user and password, or token (a user alone), if any.
fn nats_userinfo(
    user: Option<(String, Origin)>,
    password: Option<String>,
    token: Option<(String, Origin)>,
) -> Result<Option<(String, Option<String>)>, ConfigError> {
    match (user, token) {
        (Some((_, origin)), Some(_)) => Err(ConfigError::Invalid {
            origin,
            value: "(user)".to_string(),
            reason: "set either a NATS token or a user and password, not both".to_string(),
        }),
        (Some((user, origin)), None) => match password {
            Some(password) => Ok(Some((user, Some(password)))),
            None => Err(ConfigError::Invalid {
                origin,
                value: format!("'{user}'"),
                reason: "a NATS user needs a password".to_string(),
            }),
        },
        (None, Some((token, _))) => Ok(Some((token, None))),
        (None, None) => Ok(None),
    }
}

/// The user and password a URL carries, decoded; `None` without a user.
fn userinfo_of(url: &str) -> Option<(String, Option<String>)> {
    let parsed = url::Url::parse(url).ok()?;
    let decoded = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    (!parsed.username().is_empty() || parsed.password().is_some())
        .then(|| (decoded(parsed.username()), parsed.password().map(decoded)))
}

/// The URL with this user and password (percent-encoded as needed).
fn with_userinfo(url: &str, user: &str, password: Option<&str>) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    match parsed.set_username(user).and(parsed.set_password(password)) {
        Ok(()) => parsed.to_string(),
        Err(()) => url.to_string(),
    }
}

/// The URL with its password masked (at most a quarter of the decoded secret shows); with
/// `user_is_secret` (NATS, where a user alone is a token) a user without a password is
/// masked too.
pub(crate) fn mask_url(url: &str, user_is_secret: bool) -> String {
    match userinfo_of(url) {
        Some((user, Some(password))) => with_userinfo(url, &user, Some(&mask_secret(&password))),
        Some((user, None)) if user_is_secret => with_userinfo(url, &mask_secret(&user), None),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::testing;

    const TOML: &str = "/c.toml";
    const JSON: &str = "/s.json";

    /// `config check` for a TOML file's text shows `expected`.
    fn check_toml(toml: &str, expected: &str) {
        testing::check("--config /c.toml", &[], &[(TOML, toml)], expected);
    }

    fn check_toml_err(toml: &str, expected: &str) {
        testing::check_err("--config /c.toml", &[], &[(TOML, toml)], expected);
    }

    fn check_env(env: &[(&str, &str)], expected: &str) {
        testing::check("", env, &[], expected);
    }

    fn check_env_err(env: &[(&str, &str)], expected: &str) {
        testing::check_err("", env, &[], expected);
    }

    fn check_json(json: &str, expected: &str) {
        testing::check("--config /s.json", &[], &[(JSON, json)], expected);
    }

    fn check_json_err(json: &str, expected: &str) {
        testing::check_err("--config /s.json", &[], &[(JSON, json)], expected);
    }

    /// The driver the configuration ends up with.
    fn driver(env: &[(&str, &str)]) -> Driver {
        testing::load("", env, &[]).unwrap().0.server.cluster.driver
    }

    fn redis(url: &str) -> Driver {
        Driver::Redis { url: url.into() }
    }

    fn nats(servers: &[&str]) -> Driver {
        Driver::Nats {
            servers: servers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn toml_cluster_table() {
        check_toml("", "driver = \"local\"");
        check_toml(
            "[cluster]\ndriver = 'redis'",
            "driver = \"redis\" # 'cluster.driver' in /c.toml",
        );
        check_toml(
            "[cluster]\ndriver = 'redis'",
            "redis_url = \"redis://127.0.0.1:6379/0\"",
        );
        check_toml(
            "[cluster]\ndriver = 'redis'\nredis_url = 'redis://:s3cret-password@redis:6380/2'",
            "redis_url = \"redis://:s3c****@redis:6380/2\" # 'cluster.redis_url' in /c.toml",
        );
        check_toml(
            "[cluster]\ndriver = 'nats'\nnats_servers = ['nats://a:4222', 'nats://b:4222']",
            "nats_servers = [\"nats://a:4222\", \"nats://b:4222\"]",
        );
        check_toml(
            "[cluster]\nprefix = 'eu-1'",
            "prefix = \"eu-1\" # 'cluster.prefix' in /c.toml",
        );
        check_toml(
            "[cluster]\nheartbeat_interval = 0.2\nnode_timeout = 2",
            "heartbeat_interval = 0.2 # 'cluster.heartbeat_interval' in /c.toml",
        );
        check_toml("[cluster]\nnode_timeout = 4.5", "node_timeout = 4.5");
        check_toml(
            "[cluster]\nready_requires_engine = true",
            "ready_requires_engine = true",
        );
        let (config, _) = testing::load(
            "--config /c.toml",
            &[],
            &[(
                TOML,
                "[cluster]\ndriver = 'nats'\nheartbeat_interval = 0.25",
            )],
        )
        .unwrap();
        let cluster = config.server.cluster;
        assert_eq!(cluster.driver, nats(&[DEFAULT_NATS_SERVER]));
        assert_eq!(cluster.heartbeat_interval, Duration::from_millis(250));
    }

    #[test]
    fn toml_cluster_errors() {
        check_toml_err(
            "[cluster]\ndrivr = 'redis'",
            "unknown key 'cluster.drivr' in /c.toml (did you mean 'driver'?)",
        );
        check_toml_err(
            "[clustr]\ndriver = 'redis'",
            "unknown key 'clustr' in /c.toml (did you mean 'cluster'?)",
        );
        check_toml_err("[cluster]\ndriver = 'redis'\nredis_url = 'http://h:6379'", "invalid value 'http://h:6379' for 'cluster.redis_url' in /c.toml: expected a URL like redis://[user:password@]host:6379/0");
        check_toml_err("[cluster]\ndriver = 'redis'\nredis_url = 'redis://:pw-secret@h/x'", "invalid value 'redis://:pw****@h/x' for 'cluster.redis_url' in /c.toml: the path must be a database number; expected a URL like redis://[user:password@]host:6379/0");
        check_toml_err("[cluster]\ndriver = 'redis'\nredis_url = 'rediss://h:6379'", "invalid value 'rediss://h:6379' for 'cluster.redis_url' in /c.toml: rediss:// (TLS) is not supported by this build yet; use redis:// on a private network, or a local TLS tunnel");
        check_toml_err("[cluster]\ndriver = 'nats'\nnats_servers = []", "invalid value '' for 'cluster.nats_servers' in /c.toml: expected at least one nats:// URL");
        check_toml_err("[cluster]\ndriver = 'nats'\nnats_servers = ['127.0.0.1:4222']", "invalid value '127.0.0.1:4222' for 'cluster.nats_servers' in /c.toml: expected a URL like nats://[user:password@]host:4222");
        check_toml_err("[cluster]\nprefix = 'a b'", "invalid value 'a b' for 'cluster.prefix' in /c.toml: must be non-empty, without whitespace, '*' or '>'");
        check_toml_err("[cluster]\nprefix = ''", "invalid value '' for 'cluster.prefix' in /c.toml: must be non-empty, without whitespace, '*' or '>'");
        check_toml_err("[cluster]\nnode_timeout = 4", "invalid value 4 for 'cluster.node_timeout' in /c.toml: must be more than twice heartbeat_interval (2 s), or one lost heartbeat would count a live node as dead");
        check_toml_err("[cluster]\nheartbeat_interval = 0", "invalid value 0 for 'cluster.heartbeat_interval' in /c.toml: must be more than 0 seconds");
        check_toml_err("[cluster]\nheartbeat_interval = -1", "invalid value -1 for 'cluster.heartbeat_interval' in /c.toml: expected seconds, fractions allowed (e.g. 2 or 0.5)");
        // A bad address is fine while its engine is not chosen.
        check_toml("[cluster]\nredis_url = 'nope'", "driver = \"local\"");
    }

    #[test]
    fn sockwave_variables() {
        check_env(
            &[("SOCKWAVE_CLUSTER_DRIVER", "Redis")],
            "driver = \"redis\" # SOCKWAVE_CLUSTER_DRIVER",
        );
        assert_eq!(
            driver(&[
                ("SOCKWAVE_CLUSTER_DRIVER", "redis"),
                ("SOCKWAVE_CLUSTER_REDIS_URL", "redis://r:6379/1"),
            ]),
            redis("redis://r:6379/1")
        );
        assert_eq!(
            driver(&[
                ("SOCKWAVE_CLUSTER_DRIVER", "nats"),
                (
                    "SOCKWAVE_CLUSTER_NATS_SERVERS",
                    "nats://a:4222, nats://b:4222"
                ),
            ]),
            nats(&["nats://a:4222", "nats://b:4222"])
        );
        check_env(
            &[("SOCKWAVE_CLUSTER_PREFIX", "blue")],
            "prefix = \"blue\" # SOCKWAVE_CLUSTER_PREFIX",
        );
        check_env(
            &[
                ("SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL", "0.5"),
                ("SOCKWAVE_CLUSTER_NODE_TIMEOUT", "3"),
            ],
            "heartbeat_interval = 0.5 # SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL",
        );
        check_env(
            &[("SOCKWAVE_CLUSTER_READY_REQUIRES_ENGINE", "yes")],
            "ready_requires_engine = true",
        );
        check_env_err(
            &[("SOCKWAVE_CLUSTER_DRIVER", "cluster")],
            "invalid value 'cluster' for SOCKWAVE_CLUSTER_DRIVER: expected \"local\", \"redis\" or \"nats\"",
        );
        check_env_err(
            &[("SOCKWAVE_CLUSTER_NODE_TIMEOUT", "soon")],
            "invalid value 'soon' for SOCKWAVE_CLUSTER_NODE_TIMEOUT: expected seconds, fractions allowed (e.g. 2 or 0.5)",
        );
        check_env_err(
            &[("SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL", "6")],
            "invalid value 10 for the default: must be more than twice heartbeat_interval (6 s), or one lost heartbeat would count a live node as dead",
        );
        check_env_err(
            &[("SOCKWAVE_CLUSTR_DRIVER", "redis")],
            "unknown environment variable SOCKWAVE_CLUSTR_DRIVER (did you mean 'SOCKWAVE_CLUSTER_DRIVER'?)",
        );
        // CI's switch for the service-backed tests reaches the server through the protocol
        // tests' environment and must not stop it.
        check_env(
            &[("SOCKWAVE_TEST_REQUIRE_SERVICES", "1")],
            "driver = \"local\"",
        );
    }

    #[test]
    fn soketi_redis_variables() {
        let base = [("SOKETI_ADAPTER_DRIVER", "redis")];
        let with =
            |extra: &[(&'static str, &'static str)]| driver(&[base.as_slice(), extra].concat());
        assert_eq!(with(&[]), redis(DEFAULT_REDIS_URL));
        assert_eq!(
            with(&[
                ("SOKETI_DB_REDIS_HOST", "redis.internal"),
                ("SOKETI_DB_REDIS_PORT", "6380"),
                ("SOKETI_DB_REDIS_DB", "2"),
                ("SOKETI_DB_REDIS_USERNAME", "sock"),
                ("SOKETI_DB_REDIS_PASSWORD", "p@ss:w/rd"),
                ("SOKETI_DB_REDIS_KEY_PREFIX", "app:"),
            ]),
            redis("redis://sock:p%40ss%3Aw%2Frd@redis.internal:6380/2")
        );
        assert_eq!(
            with(&[("SOKETI_DB_REDIS_PASSWORD", "pw")]),
            redis("redis://:pw@127.0.0.1:6379/0")
        );
        check_env(
            &[base[0], ("SOKETI_ADAPTER_REDIS_PREFIX", "soketi-eu")],
            "prefix = \"soketi-eu\" # SOKETI_ADAPTER_REDIS_PREFIX",
        );
        // The NATS prefix does not apply to Redis; sockwave's own prefix beats Soketi's.
        check_env(
            &[base[0], ("SOKETI_ADAPTER_NATS_PREFIX", "n")],
            "prefix = \"sockwave\"",
        );
        check_env(
            &[
                base[0],
                ("SOKETI_ADAPTER_REDIS_PREFIX", "s"),
                ("SOCKWAVE_CLUSTER_PREFIX", "w"),
            ],
            "prefix = \"w\" # SOCKWAVE_CLUSTER_PREFIX",
        );
        // sockwave's URL beats Soketi's parts; Soketi's parts edit a URL from the file.
        assert_eq!(
            with(&[
                ("SOKETI_DB_REDIS_HOST", "ignored"),
                ("SOCKWAVE_CLUSTER_REDIS_URL", "redis://mine:6379/0"),
            ]),
            redis("redis://mine:6379/0")
        );
        let (config, _) = testing::load(
            "--config /c.toml",
            &[("SOKETI_DB_REDIS_PORT", "7000")],
            &[(
                TOML,
                "[cluster]\ndriver = 'redis'\nredis_url = 'redis://r:6379/4'",
            )],
        )
        .unwrap();
        assert_eq!(config.server.cluster.driver, redis("redis://r:7000/4"));
        check_env(
            &[base[0], ("SOKETI_DB_REDIS_PASSWORD", "topsecret")],
            "redis_url = \"redis://:to****@127.0.0.1:6379/0\" # SOKETI_DB_REDIS_PASSWORD",
        );
        check_env_err(
            &[base[0], ("SOKETI_DB_REDIS_HOST", "a b")],
            "invalid value 'a b' for SOKETI_DB_REDIS_HOST: expected a host name or IP address",
        );
        check_env_err(
            &[base[0], ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true")],
            "SOKETI_ADAPTER_REDIS_CLUSTER_MODE is not supported yet (sockwave accepts only false)",
        );
        check_env_err(
            &[
                base[0],
                (
                    "SOKETI_DB_REDIS_SENTINELS",
                    r#"[{"host":"s","port":26379}]"#,
                ),
            ],
            "SOKETI_DB_REDIS_SENTINELS is not supported yet",
        );
        check_env_err(
            &[
                base[0],
                ("SOKETI_ADAPTER_REDIS_PUB_OPTIONS", r#"{"password":"x"}"#),
            ],
            "SOKETI_ADAPTER_REDIS_PUB_OPTIONS is not supported yet",
        );
        // Options of an engine that is not chosen change nothing.
        check_env(
            &[
                ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
                ("SOKETI_DB_REDIS_SENTINELS", r#"[{"host":"s"}]"#),
                ("SOKETI_DB_REDIS_HOST", "a b"),
            ],
            "driver = \"local\"",
        );
        check_env(
            &[
                base[0],
                ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "false"),
                ("SOKETI_ADAPTER_REDIS_SHARD_MODE", "true"),
                ("SOKETI_ADAPTER_REDIS_REQUESTS_TIMEOUT", "5000"),
                ("SOKETI_ADAPTER_REDIS_SUB_OPTIONS", "{}"),
                ("SOKETI_DB_REDIS_INSTANCE_NAME", "mymaster"),
            ],
            "driver = \"redis\"",
        );
    }

    #[test]
    fn soketi_nats_variables() {
        let base = [("SOKETI_ADAPTER_DRIVER", "nats")];
        let with =
            |extra: &[(&'static str, &'static str)]| driver(&[base.as_slice(), extra].concat());
        assert_eq!(with(&[]), nats(&[DEFAULT_NATS_SERVER]));
        assert_eq!(
            with(&[(
                "SOKETI_ADAPTER_NATS_SERVERS",
                r#"["n1:4222", "nats://n2:4223"]"#
            )]),
            nats(&["nats://n1:4222", "nats://n2:4223"])
        );
        assert_eq!(
            with(&[("SOKETI_ADAPTER_NATS_SERVERS", "n1:4222,n2:4222")]),
            nats(&["nats://n1:4222", "nats://n2:4222"])
        );
        assert_eq!(
            with(&[
                ("SOKETI_ADAPTER_NATS_USER", "ann"),
                ("SOKETI_ADAPTER_NATS_PASSWORD", "p@ss"),
                ("SOKETI_ADAPTER_NATS_SERVERS", r#"["a:4222","b:4222"]"#),
            ]),
            nats(&["nats://ann:p%40ss@a:4222", "nats://ann:p%40ss@b:4222"])
        );
        assert_eq!(
            with(&[("SOKETI_ADAPTER_NATS_TOKEN", "t0k/en")]),
            nats(&["nats://t0k%2Fen@127.0.0.1:4222"])
        );
        assert_eq!(
            with(&[
                ("SOKETI_ADAPTER_NATS_TIMEOUT", "10000"),
                ("SOKETI_ADAPTER_NATS_REQUESTS_TIMEOUT", "5000"),
                ("SOKETI_ADAPTER_NATS_NODES_NUMBER", "3"),
            ]),
            nats(&[DEFAULT_NATS_SERVER])
        );
        check_env(
            &[base[0], ("SOKETI_ADAPTER_NATS_PREFIX", "soketi-n")],
            "prefix = \"soketi-n\" # SOKETI_ADAPTER_NATS_PREFIX",
        );
        check_env(
            &[base[0], ("SOKETI_ADAPTER_NATS_TOKEN", "secret-token")],
            "nats_servers = [\"nats://sec****@127.0.0.1:4222\"]",
        );
        check_env_err(
            &[base[0], ("SOKETI_ADAPTER_NATS_USER", "ann")],
            "invalid value 'ann' for SOKETI_ADAPTER_NATS_USER: a NATS user needs a password",
        );
        check_env_err(
            &[
                base[0],
                ("SOKETI_ADAPTER_NATS_USER", "ann"),
                ("SOKETI_ADAPTER_NATS_TOKEN", "t"),
            ],
            "invalid value (user) for SOKETI_ADAPTER_NATS_USER: set either a NATS token or a user and password, not both",
        );
        check_env_err(
            &[
                base[0],
                ("SOKETI_ADAPTER_NATS_CREDENTIALS", "/etc/nats.creds"),
            ],
            "SOKETI_ADAPTER_NATS_CREDENTIALS is not supported yet (sockwave accepts only \"\")",
        );
        check_env_err(
            &[("SOKETI_ADAPTER_DRIVER", "cluster")],
            "invalid value \"cluster\" for SOKETI_ADAPTER_DRIVER: Soketi's cluster driver (UDP discovery between processes) is not supported: use \"redis\" or \"nats\"",
        );
        check_env_err(
            &[("SOKETI_ADAPTER_DRIVER", "rabbitmq")],
            "invalid value \"rabbitmq\" for SOKETI_ADAPTER_DRIVER: expected \"local\", \"redis\" or \"nats\"",
        );
    }

    #[test]
    fn soketi_json_file() {
        let json = r#"{"adapter": {"driver": "redis", "redis": {"prefix": "", "requestsTimeout": 5000}},
            "database": {"redis": {"host": "cache", "port": "6390", "db": 1, "username": null,
            "password": "hunter22", "keyPrefix": "", "sentinels": null}}}"#;
        check_json(json, "driver = \"redis\" # 'adapter.driver' in /s.json");
        check_json(
            json,
            "redis_url = \"redis://:hu****@cache:6390/1\" # 'database.redis.port' in /s.json",
        );
        check_json(json, "prefix = \"sockwave\"");
        check_json(
            r#"{"adapter": {"driver": "nats", "nats": {"servers": ["n:4222"], "token": "tok-12345678"}}}"#,
            "nats_servers = [\"nats://tok****@n:4222\"]",
        );
        check_json_err(
            r#"{"adapter.driver": "redis", "database.redis.tls": {"ca": "x"}}"#,
            "'database.redis.tls.ca' in /s.json is not supported yet",
        );
        check_json_err(
            r#"{"adapter.driver": "redis", "adapter.redis.redisPubOptions": {"db": 2}}"#,
            "'adapter.redis.redisPubOptions.db' in /s.json is not supported yet",
        );
        check_json_err(
            r#"{"adapter": {"driver": "redis", "redis": {"clusterMode": true}}}"#,
            "'adapter.redis.clusterMode' in /s.json is not supported yet (sockwave accepts only false)",
        );
        check_json_err(
            r#"{"adapter.redis.prefx": "x"}"#,
            "unknown key 'adapter.redis.prefx' in /s.json (did you mean 'adapter.redis.prefix'?)",
        );
        check_json_err(
            r#"{"adapter.driver": "cluster"}"#,
            "invalid value \"cluster\" for 'adapter.driver' in /s.json: Soketi's cluster driver (UDP discovery between processes) is not supported: use \"redis\" or \"nats\"",
        );
    }

    #[test]
    fn urls_are_masked() {
        let check = |url: &str, nats: bool, expected: &str| {
            assert_eq!(mask_url(url, nats), expected, "{url}");
        };
        check(
            "redis://127.0.0.1:6379/0",
            false,
            "redis://127.0.0.1:6379/0",
        );
        check(
            "redis://:s3cret-pass@h:6379/0",
            false,
            "redis://:s3****@h:6379/0",
        );
        check("redis://user:pw@h", false, "redis://user:****@h");
        check("redis://user@h", false, "redis://user@h");
        check("nats://my-long-token@h:4222", true, "nats://my-****@h:4222");
        check("nats://u:p%40ss@h:4222", true, "nats://u:p****@h:4222");
        check("nats://h:4222/a@b", true, "nats://h:4222/a@b");
    }

    #[test]
    fn redis_parts_edit_the_url() {
        let check = |part: RedisPart, expected: &str| {
            assert_eq!(edit_redis_url(DEFAULT_REDIS_URL, &part).unwrap(), expected);
        };
        check(RedisPart::Host("redis".into()), "redis://redis:6379/0");
        check(RedisPart::Port(6380), "redis://127.0.0.1:6380/0");
        check(RedisPart::Db(3), "redis://127.0.0.1:6379/3");
        check(
            RedisPart::Password("p@ss:w/rd".into()),
            "redis://:p%40ss%3Aw%2Frd@127.0.0.1:6379/0",
        );
        check(
            RedisPart::Username("ann".into()),
            "redis://ann@127.0.0.1:6379/0",
        );
        assert!(edit_redis_url(DEFAULT_REDIS_URL, &RedisPart::Host("a b".into())).is_err());
        assert!(edit_redis_url("nope", &RedisPart::Port(1)).is_err());
    }

    #[test]
    fn redis_urls_are_checked() {
        let check = |url: &str, ok: bool| assert_eq!(check_redis_url(url).is_ok(), ok, "{url}");
        check("redis://127.0.0.1:6379/0", true);
        check("redis://:pw@redis", true);
        check("redis://u:p%40ss@10.0.0.1:7000/15", true);
        check("redis://h/x", false);
        check("http://h:6379", false);
        check("unix:///tmp/redis.sock", false);
        check("redis://", false);
        check("127.0.0.1:6379", false);
    }

    #[test]
    fn nats_servers_are_checked() {
        let check = |servers: &[&str], ok: bool| {
            let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
            assert_eq!(check_nats_servers(&servers).is_ok(), ok, "{servers:?}");
        };
        check(&["nats://127.0.0.1:4222"], true);
        check(&["nats://a:1", "nats://b:2"], true);
        check(&["nats://t@a:1", "nats://t@b:2"], true);
        check(&[], false);
        check(&["127.0.0.1:4222"], false);
        check(&["tls://a:1"], false);
        check(&["nats://"], false);
        check(&["nats://t@a:1", "nats://b:2"], false);
    }
}
