//! Soketi's configuration: its JSON `--config` file and its `SOKETI_*` variables.
//!
//! Both speak Soketi's option names (`port`, `eventLimits.maxPayloadInKb`,
//! `appManager.array.apps.0.key`, ...), so both go through [`apply_option`]. A file may nest
//! objects or use dotted keys; the two are equivalent here. Every Soketi option is either
//! mapped to a sockwave setting (the settings table names Soketi's options and app fields),
//! accepted only with the value that matches sockwave's behaviour (`queue.driver = "sync"`),
//! inert because it only tunes something that value turns off (`queue.redis.*`), or unknown.
//! Nothing is ignored silently. The adapter and its Redis connection (`adapter.*`,
//! `database.redis.*`) are mapped in `adapter`.

use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::draft::{Draft, Origin};
use super::error::{closest, ConfigError};
use super::table::{Access, Scope, Setting, SETTINGS};
use super::value::{Kind, Source};
use super::webhooks;

mod adapter;
mod app_manager;
mod given;
mod names;
#[cfg(test)]
mod whole_config_tests;

pub(crate) use app_manager::app_from_row;
use given::Given;
pub(crate) use names::ENV_OPTIONS;
use names::{APPS, FIXED, INERT};

/// Reads a Soketi JSON file's text into the draft, key by key in file order.
pub(crate) fn apply_file(draft: &mut Draft, path: &Path, text: &str) -> Result<(), ConfigError> {
    let json_error = |source| ConfigError::Json {
        path: path.to_path_buf(),
        source,
    };
    let Entries(entries) = serde_json::from_str(text).map_err(json_error)?;
    let mut options = Vec::new();
    for (key, value) in entries {
        flatten(key, value, &mut options);
    }
    // Every option is read even after one fails, so one run reports them all.
    for (option, value) in options {
        let origin = Origin::file(path, option.as_str());
        let result = apply_option(draft, &option, &value, origin);
        draft.record(result);
    }
    Ok(())
}

/// Applies one `SOKETI_*` variable. Like Soketi, an empty variable counts as unset and the
/// value is JSON-decoded when it can be (`"true"`, `"-1"`), else taken as text.
pub(crate) fn apply_env(
    draft: &mut Draft,
    var: &str,
    option: &str,
    raw: &str,
) -> Result<(), ConfigError> {
    if raw.is_empty() {
        return Ok(());
    }
    let value = match serde_json::from_str(raw) {
        Ok(Value::Null) | Err(_) => Value::String(raw.to_string()),
        Ok(value) => value,
    };
    apply_option(draft, option, &value, Origin::env(var))
}

/// The top-level entries of a JSON object in file order: a later key overrides an earlier
/// one, as in Soketi.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object of Soketi options")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// Nested objects become dotted keys; arrays, scalars and empty objects (ioredis' `tls: {}`
/// turns TLS on) are values.
fn flatten(key: String, value: Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (field, value) in fields {
                flatten(format!("{key}.{field}"), value, out);
            }
        }
        value => out.push((key, value)),
    }
}

fn apply_option(
    draft: &mut Draft,
    option: &str,
    value: &Value,
    origin: Origin,
) -> Result<(), ConfigError> {
    let given = Given {
        value,
        origin: &origin,
    };
    if let Some(rest) = option
        .strip_prefix(APPS)
        .and_then(|rest| rest.strip_prefix('.'))
    {
        return apply_app_field(draft, rest, given);
    }
    if option == APPS {
        return apply_apps(draft, given);
    }
    let named = |setting: &&Setting| {
        !matches!(setting.scope, Scope::App | Scope::Cluster) && setting.soketi.contains(&option)
    };
    if let Some(setting) = SETTINGS.iter().find(named) {
        // Soketi's "no TLS" is an empty path.
        if setting.kind == Kind::Path && value.as_str() == Some("") {
            return Ok(());
        }
        draft.assign(setting, 0, value, Source::Soketi(setting.unit), origin)?;
        return Ok(());
    }
    // Soketi's server-wide limits are defaults for apps that do not set their own.
    if let Some(setting) = SETTINGS.iter().find(|s| s.soketi_default == Some(option)) {
        let value = Draft::read(setting, value, Source::Soketi(setting.unit), &origin)?;
        draft.set_app_default(setting, value, origin);
        return Ok(());
    }
    match option {
        // sockwave always batches (per app and target), so both values are accepted; when
        // Soketi's batching is off each request carries one event, which receivers of the
        // Pusher format handle as a batch of one anyway.
        "webhooks.batching.enabled" => given.flag().map(|_| ()),
        // Limits are shared through Redis whenever the adapter runs on Redis, so both values
        // describe something sockwave does; Soketi's `cluster` driver has no equivalent.
        "rateLimiter.driver" => match given.text()?.as_str() {
            "local" | "redis" => Ok(()),
            _ => Err(given.unsupported(Some("\"local\" or \"redis\""))),
        },
        "database.redis.sentinels" => sentinels(draft, given),
        "database.redis.sentinelPassword" | "database.redis.name" => {
            if given.value.is_null() || given.value.as_str() == Some("") {
                return Ok(());
            }
            let key = match option {
                "database.redis.name" => "redis_sentinel_master",
                _ => "redis_sentinel_password",
            };
            assign_cluster(draft, key, &Value::String(given.text()?), given)
        }
        _ if matches!(
            app_manager::option(draft, option, given)?,
            app_manager::Outcome::Done
        ) =>
        {
            Ok(())
        }
        _ => match adapter::cluster_option(option, given)? {
            adapter::Outcome::Set(setting) => {
                draft.cluster.apply(setting, origin, &mut draft.origins);
                Ok(())
            }
            adapter::Outcome::Nothing => Ok(()),
            adapter::Outcome::NotMine => check_unmapped(option, given),
        },
    }
}

/// Soketi's (ioredis') sentinel list; `null` and `[]` (Soketi's default) mean no Sentinel.
fn sentinels(draft: &mut Draft, given: Given<'_>) -> Result<(), ConfigError> {
    let nodes = given.host_ports("sentinel")?;
    if nodes.is_empty() {
        return Ok(());
    }
    let nodes = nodes.into_iter().map(Value::String).collect();
    assign_cluster(draft, "redis_sentinels", &Value::Array(nodes), given)
}

fn assign_cluster(
    draft: &mut Draft,
    key: &str,
    value: &Value,
    given: Given<'_>,
) -> Result<(), ConfigError> {
    let setting = SETTINGS
        .iter()
        .find(|s| s.scope == Scope::Cluster && s.key == key)
        .expect("a cluster setting");
    draft.assign(setting, 0, value, Source::Text, given.origin.clone())?;
    Ok(())
}

/// Options without a sockwave setting: pinned, inert or unknown.
fn check_unmapped(option: &str, given: Given<'_>) -> Result<(), ConfigError> {
    if let Some((_, accepted)) = FIXED.iter().find(|(name, _)| *name == option) {
        return given.expect(accepted);
    }
    let under = |prefix: &str| {
        option == prefix
            || option
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    if INERT.iter().any(|prefix| under(prefix)) {
        return Ok(());
    }
    let mapped = SETTINGS
        .iter()
        .filter(|s| s.scope != Scope::App)
        .flat_map(|s| s.soketi.iter().copied())
        .chain(SETTINGS.iter().filter_map(|s| s.soketi_default));
    let specials = [APPS, "webhooks.batching.enabled", "rateLimiter.driver"];
    let known = mapped
        .chain(specials)
        .chain(FIXED.iter().map(|(name, _)| *name))
        .chain(INERT.iter().copied())
        .chain(adapter::OPTIONS.iter().copied());
    Err(unknown(given.origin, option, known))
}

fn unknown<'a>(
    origin: &Origin,
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> ConfigError {
    match origin {
        Origin::File { path, key } => ConfigError::UnknownKey {
            key: key.clone(),
            file: path.clone(),
            suggestion: closest(name, known),
        },
        // Every variable in `ENV_OPTIONS` names a known option; this guards the table.
        other => ConfigError::Unsupported {
            origin: other.clone(),
            accepted: None,
        },
    }
}

/// The app setting a Soketi app field names.
fn app_setting(field: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.scope == Scope::App && s.soketi.contains(&field))
}

/// Sets one field of app `index`; `Ok(false)` when there is no such app.
fn set_app_field(
    draft: &mut Draft,
    index: usize,
    field: &str,
    given: Given<'_>,
) -> Result<bool, ConfigError> {
    let Some(setting) = app_setting(field) else {
        let known = SETTINGS
            .iter()
            .filter(|s| s.scope == Scope::App)
            .flat_map(|s| s.soketi.iter().copied());
        return Err(unknown(given.origin, field, known));
    };
    // Soketi treats null and "" as "not set" for app fields. Credentials are kept so an
    // empty one is refused by validation instead of falling back to a public default.
    let blank = given.value.is_null() || given.value.as_str() == Some("");
    if blank && !matches!(field, "id" | "key" | "secret") {
        return Ok(index < draft.config.apps.len());
    }
    if matches!(setting.access, Access::Webhooks) {
        let targets = webhooks::from_json(given.value, given.origin)?;
        return Ok(draft.set_webhooks(index, targets, given.origin.clone()));
    }
    let source = Source::Soketi(setting.unit);
    draft.assign(setting, index, given.value, source, given.origin.clone())
}

/// `appManager.array.apps.<index>.<field>`: one field of an existing app.
fn apply_app_field(draft: &mut Draft, rest: &str, given: Given<'_>) -> Result<(), ConfigError> {
    let Some((index, field)) = rest.split_once('.') else {
        return Err(given.invalid("expected an app object"));
    };
    let Ok(index) = index.parse::<usize>() else {
        return Err(given.invalid(&format!("expected '{APPS}.<number>.<field>'")));
    };
    let n_apps = draft.config.apps.len();
    if set_app_field(draft, index, field, given)? {
        Ok(())
    } else {
        Err(given.invalid(&format!(
            "there is no app number {index} to change ({n_apps} defined; set '{APPS}' to define more)"
        )))
    }
}

/// `appManager.array.apps`: replaces every app.
fn apply_apps(draft: &mut Draft, given: Given<'_>) -> Result<(), ConfigError> {
    let Value::Array(items) = given.value else {
        return Err(given.invalid("expected an array of app objects"));
    };
    let field_origin = |index: usize, field: &str| match given.origin {
        Origin::File { path, key } => Origin::file(path, format!("{key}.{index}.{field}")),
        other => other.clone(),
    };
    for (index, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(given.invalid(&format!("app number {index} is not an object")));
        };
        if let Some(required) = ["id", "key", "secret"]
            .into_iter()
            .find(|field| !fields.contains_key(*field))
        {
            return Err(ConfigError::Missing {
                origin: field_origin(index, required),
            });
        }
    }
    draft.replace_apps(items.len(), given.origin.clone());
    for (index, item) in items.iter().enumerate() {
        for (field, value) in item.as_object().into_iter().flatten() {
            let origin = field_origin(index, field);
            set_app_field(
                draft,
                index,
                field,
                Given {
                    value,
                    origin: &origin,
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
