//! Soketi's horizontal-scaling options as sockwave cluster settings: `adapter.*` (driver,
//! per-engine prefix, NATS servers and credentials) and `database.redis.*` (the Redis
//! connection, which Soketi keeps apart from the adapter).
//!
//! The Redis parts edit the cluster's Redis URL one at a time. Options that only tune
//! Soketi's request/response protocol between nodes change nothing here (sockwave answers
//! queries from replicated state); options that would change behaviour and are not
//! implemented (raw ioredis options, NATS credential files) are refused, but only when
//! their engine is the one chosen. Sentinel is mapped in the parent module.

use serde_json::Value;

use super::given::Given;
use crate::config::cluster::{
    ClusterSetting, DriverKind, EngineOptionState, NatsCredential, RedisPart,
};
use crate::config::error::ConfigError;

/// The options handled here, for suggestions.
pub(super) const OPTIONS: &[&str] = &[
    "adapter.driver",
    "adapter.redis.prefix",
    "adapter.redis.clusterMode",
    "adapter.redis.shardMode",
    "adapter.redis.requestsTimeout",
    "adapter.redis.redisPubOptions",
    "adapter.redis.redisSubOptions",
    "adapter.nats.prefix",
    "adapter.nats.servers",
    "adapter.nats.user",
    "adapter.nats.pass",
    "adapter.nats.token",
    "adapter.nats.credentials",
    "adapter.nats.timeout",
    "adapter.nats.requestsTimeout",
    "adapter.nats.nodesNumber",
    "database.redis.host",
    "database.redis.port",
    "database.redis.db",
    "database.redis.username",
    "database.redis.password",
    "database.redis.keyPrefix",
    "database.redis.sentinels",
    "database.redis.sentinelPassword",
    "database.redis.name",
    "database.redis.clusterNodes",
];

/// What an option means for the cluster.
pub(super) enum Outcome {
    /// Not an adapter or Redis option.
    NotMine,
    /// Accepted; it changes nothing in sockwave.
    Nothing,
    /// A cluster setting.
    Set(ClusterSetting),
}

/// Reads one Soketi option if it concerns the cluster.
pub(super) fn cluster_option(option: &str, given: Given<'_>) -> Result<Outcome, ConfigError> {
    let set = |setting| Ok(Outcome::Set(setting));
    // Soketi's defaults for names, passwords and prefixes are null or "": not a value.
    let blank = given.value.is_null() || given.value.as_str() == Some("");
    let gate = |driver, unsupported: bool, accepted| {
        let state = if unsupported {
            EngineOptionState::Unsupported { accepted }
        } else {
            EngineOptionState::Harmless
        };
        Ok(Outcome::Set(ClusterSetting::EngineOption {
            option: option.to_string(),
            driver,
            state,
        }))
    };
    match option {
        "adapter.driver" => {
            let text = given.text()?;
            match DriverKind::parse(&text) {
                Some(driver) => set(ClusterSetting::Driver(driver)),
                None if text.trim().eq_ignore_ascii_case("cluster") => Err(given.invalid(
                    "Soketi's cluster driver (UDP discovery between processes) is not supported: \
                     use \"redis\" or \"nats\"",
                )),
                None => Err(given.invalid("expected \"local\", \"redis\" or \"nats\"")),
            }
        }
        "adapter.redis.prefix" if blank => Ok(Outcome::Nothing),
        "adapter.redis.prefix" => set(ClusterSetting::EnginePrefix(
            DriverKind::Redis,
            given.text()?,
        )),
        "adapter.nats.prefix" if blank => Ok(Outcome::Nothing),
        "adapter.nats.prefix" => set(ClusterSetting::EnginePrefix(
            DriverKind::Nats,
            given.text()?,
        )),
        "adapter.redis.clusterMode" => set(ClusterSetting::SoketiClusterMode(given.flag()?)),
        "database.redis.clusterNodes" => set(ClusterSetting::SoketiClusterNodes(
            given.host_ports("Redis Cluster node")?,
        )),
        // Sharded pub/sub keeps a channel's messages on one shard of a Redis Cluster; sockwave
        // uses classic pub/sub, which a Redis Cluster delivers to every node, so messages
        // arrive either way (every sockwave node hears the one channel).
        "adapter.redis.shardMode" => given.flag().map(|_| Outcome::Nothing),
        // Timeouts of Soketi's request/response queries between nodes; sockwave answers
        // queries from the replicated state without asking the other nodes.
        "adapter.redis.requestsTimeout"
        | "adapter.nats.requestsTimeout"
        | "adapter.nats.nodesNumber" => Ok(Outcome::Nothing),
        // Soketi's NATS connect timeout; sockwave connects in the background and retries
        // with back-off for as long as it runs, so one attempt's limit has nothing to bound.
        "adapter.nats.timeout" => Ok(Outcome::Nothing),
        "adapter.redis.redisPubOptions" | "adapter.redis.redisSubOptions" => {
            let empty = match given.value {
                Value::Null => true,
                Value::Object(fields) => fields.is_empty(),
                _ => false,
            };
            gate(DriverKind::Redis, !empty, None)
        }
        _ if option.starts_with("adapter.redis.redisPubOptions.")
            || option.starts_with("adapter.redis.redisSubOptions.") =>
        {
            gate(DriverKind::Redis, true, None)
        }
        "adapter.nats.servers" => set(ClusterSetting::NatsServers(nats_servers(given)?)),
        "adapter.nats.user" | "adapter.nats.pass" | "adapter.nats.token" if blank => {
            Ok(Outcome::Nothing)
        }
        "adapter.nats.user" => set(ClusterSetting::NatsCredential(NatsCredential::User(
            given.text()?,
        ))),
        "adapter.nats.pass" => set(ClusterSetting::NatsCredential(NatsCredential::Password(
            given.text()?,
        ))),
        "adapter.nats.token" => set(ClusterSetting::NatsCredential(NatsCredential::Token(
            given.text()?,
        ))),
        "adapter.nats.credentials" => gate(DriverKind::Nats, !blank, Some("\"\"")),
        "database.redis.host" => set(ClusterSetting::RedisPart(RedisPart::Host(given.text()?))),
        "database.redis.port" => set(ClusterSetting::RedisPart(RedisPart::Port(given.port()?))),
        "database.redis.db" => set(ClusterSetting::RedisPart(RedisPart::Db(given.whole()?))),
        "database.redis.username" | "database.redis.password" if blank => Ok(Outcome::Nothing),
        "database.redis.username" => set(ClusterSetting::RedisPart(RedisPart::Username(
            given.text()?,
        ))),
        "database.redis.password" => set(ClusterSetting::RedisPart(RedisPart::Password(
            given.text()?,
        ))),
        // ioredis turns TLS on for any `tls` object; an empty one keeps its defaults (the
        // system's roots, the host's name checked), which is what `rediss://` does. Its
        // fields (PEM texts, rejectUnauthorized) are refused below.
        "database.redis.tls" if given.value.as_object().is_some_and(|tls| tls.is_empty()) => {
            set(ClusterSetting::RedisPart(RedisPart::Tls))
        }
        // ioredis applies keyPrefix to keys, never to pub/sub channels (redis/ioredis#306),
        // so it does not separate Soketi's adapter traffic either; `prefix` does that.
        "database.redis.keyPrefix" => Ok(Outcome::Nothing),
        // Soketi hands the rest of database.redis to ioredis as connection options (TLS,
        // timeouts, ...); none of them is implemented.
        _ if option.starts_with("database.redis.") => gate(DriverKind::Redis, true, None),
        _ => Ok(Outcome::NotMine),
    }
}

/// Soketi's NATS servers: a JSON array or one string (commas allowed); `host:port` without a
/// scheme gets `nats://`, as the NATS clients assume.
fn nats_servers(given: Given<'_>) -> Result<Vec<String>, ConfigError> {
    let texts = match given.value {
        Value::String(text) => text.split(',').map(String::from).collect(),
        _ => given.texts()?,
    };
    Ok(texts
        .iter()
        .map(|server| server.trim())
        .filter(|server| !server.is_empty())
        .map(|server| match server.contains("://") {
            true => server.to_string(),
            false => format!("nats://{server}"),
        })
        .collect())
}
