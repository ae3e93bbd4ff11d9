//! Soketi's app manager options (`appManager.*`, `database.mysql.*`, `database.postgres.*`)
//! and its apps table's columns.
//!
//! The options become sockwave's `app_manager*` settings; the connection parts are kept in
//! the draft and made into `app_manager_url` by validation, for the chosen driver only, with
//! Soketi's defaults for the parts left out. A row of the apps table becomes an `App` through
//! the same app fields a Soketi config file sets.

use serde_json::Value;

use super::given::Given;
use super::set_app_field;
use crate::app::App;
use crate::config::draft::{Draft, Origin, SqlParts};
use crate::config::error::ConfigError;
use crate::config::table::SETTINGS;
use crate::config::value::Source;

/// What an option was to this module.
pub(super) enum Outcome {
    Done,
    NotMine,
}

/// Applies one option if it belongs to the app managers.
pub(super) fn option(
    draft: &mut Draft,
    option: &str,
    given: Given<'_>,
) -> Result<Outcome, ConfigError> {
    let set = |draft: &mut Draft, key: &str, value: Value| -> Result<Outcome, ConfigError> {
        let setting = SETTINGS
            .iter()
            .find(|s| s.key == key)
            .expect("an app_manager setting");
        draft.assign(setting, 0, &value, Source::Text, given.origin.clone())?;
        Ok(Outcome::Done)
    };
    match option {
        "appManager.driver" => {
            let driver = match given.text()?.as_str() {
                "array" => "static",
                "mysql" => "mysql",
                "postgres" => "postgres",
                "dynamodb" => {
                    return Err(given.invalid(
                        "DynamoDB is not supported (there is no DynamoDB to test it against); keep the apps in MySQL, PostgreSQL or the configuration",
                    ))
                }
                _ => return Err(given.unsupported(Some("\"array\", \"mysql\" or \"postgres\""))),
            };
            draft.sql.soketi_driver = driver != "static";
            set(draft, "app_manager", Value::String(driver.into()))
        }
        // sockwave always keeps the apps it read, for `app_manager_cache_ttl`; Soketi's
        // switch only decides whether its cache is used.
        "appManager.cache.enabled" => given.flag().map(|_| Outcome::Done),
        // Soketi's -1 (its default) means "forever"; sockwave then keeps its own TTL, so
        // that changes in the table still arrive.
        "appManager.cache.ttl" => match given.number()? {
            ttl if ttl > 0.0 => set(draft, "app_manager_cache_ttl", Value::from(ttl)),
            _ => Ok(Outcome::Done),
        },
        "appManager.mysql.table" => table(&mut draft.sql.mysql, given),
        "appManager.postgres.table" => table(&mut draft.sql.postgres, given),
        // Knex's dialect version and driver choice: nothing to set with a native driver.
        "appManager.mysql.version"
        | "appManager.mysql.useMysql2"
        | "appManager.postgres.version" => Ok(Outcome::Done),
        _ => {
            if let Some(part) = option.strip_prefix("database.mysql.") {
                return connection_part(&mut draft.sql.mysql, part, given);
            }
            if let Some(part) = option.strip_prefix("database.postgres.") {
                return connection_part(&mut draft.sql.postgres, part, given);
            }
            Ok(Outcome::NotMine)
        }
    }
}

fn table(parts: &mut SqlParts, given: Given<'_>) -> Result<Outcome, ConfigError> {
    parts.table = Some((given.text()?, given.origin.clone()));
    Ok(Outcome::Done)
}

fn connection_part(
    parts: &mut SqlParts,
    part: &str,
    given: Given<'_>,
) -> Result<Outcome, ConfigError> {
    // An empty variable never gets here (it counts as unset); an empty string in the file
    // is a value, e.g. MariaDB's root without a password.
    let blank = given.value.is_null();
    match part {
        _ if blank => return Ok(Outcome::Done),
        "host" => parts.host = Some(given.text()?),
        "port" => parts.port = Some(given.port()?),
        "user" => parts.user = Some(given.text()?),
        "password" => parts.password = Some(given.text()?),
        "database" => parts.database = Some(given.text()?),
        _ => return Ok(Outcome::NotMine),
    }
    parts.origin.get_or_insert_with(|| given.origin.clone());
    Ok(Outcome::Done)
}

/// The app field (as a Soketi config file names it) each column of Soketi's apps table
/// sets. Columns not listed are ignored, as Soketi ignores them.
const COLUMNS: &[(&str, &str)] = &[
    ("id", "id"),
    ("key", "key"),
    ("secret", "secret"),
    ("enabled", "enabled"),
    ("enable_client_messages", "enableClientMessages"),
    ("enable_user_authentication", "enableUserAuthentication"),
    ("max_connections", "maxConnections"),
    ("max_backend_events_per_sec", "maxBackendEventsPerSecond"),
    ("max_client_events_per_sec", "maxClientEventsPerSecond"),
    ("max_read_req_per_sec", "maxReadRequestsPerSecond"),
    ("webhooks", "webhooks"),
    (
        "max_presence_members_per_channel",
        "maxPresenceMembersPerChannel",
    ),
    (
        "max_presence_member_size_in_kb",
        "maxPresenceMemberSizeInKb",
    ),
    ("max_channel_name_length", "maxChannelNameLength"),
    ("max_event_channels_at_once", "maxEventChannelsAtOnce"),
    ("max_event_name_length", "maxEventNameLength"),
    ("max_event_payload_in_kb", "maxEventPayloadInKb"),
    ("max_event_batch_size", "maxEventBatchSize"),
];

/// An app from one row of the apps table, starting from `template` (the app defaults with
/// the server-wide limits); every column Soketi reads is honoured, `NULL` and `''` mean
/// "not set" as in Soketi, and `webhooks` may be a JSON column or JSON text.
pub(crate) fn app_from_row(
    template: &App,
    table: &str,
    columns: Vec<(String, Value)>,
) -> Result<App, ConfigError> {
    let id = columns
        .iter()
        .find(|(column, _)| column == "id")
        .and_then(|(_, value)| match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let mut draft = Draft::new();
    draft.config.apps = vec![template.clone()];
    for (column, value) in columns {
        let Some((_, field)) = COLUMNS.iter().find(|(name, _)| *name == column) else {
            continue;
        };
        let value = match (*field, value) {
            ("webhooks", Value::String(text)) if !text.trim().is_empty() => {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            // Ids may be numbers in a table; sockwave's ids are text.
            ("id" | "key", Value::Number(number)) => Value::String(number.to_string()),
            (_, value) => value,
        };
        let origin = Origin::Row {
            table: table.to_string(),
            app: id.clone(),
            column: column.clone(),
        };
        let given = Given {
            value: &value,
            origin: &origin,
        };
        set_app_field(&mut draft, 0, field, given)?;
    }
    crate::config::validate::check_row_app(&draft)?;
    Ok(draft.config.apps.remove(0))
}
