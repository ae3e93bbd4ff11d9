//! Where queued broadcast events wait: `QUEUE_CONNECTION` and the Redis or database settings
//! Laravel's default `config/queue.php` and `config/database.php` read. `sync` sends at once;
//! a Redis or database queue needs a worker, which the live check looks for.

use super::Env;
use crate::check::Check;
use crate::project::ProjectHints;
use crate::target::{QueueSetup, QueueStore};

/// The check's name (shared with the live check).
pub(crate) const NAME: &str = "broadcast queue";

/// A verdict that needs no server, or the queue for the live check to count. Nothing when
/// the project has no queued broadcast event.
pub fn setup(env: &Env, hints: &ProjectHints) -> (Option<Check>, Option<QueueSetup>) {
    if hints.queued_broadcasts.is_empty() {
        return (None, None);
    }
    let events = hints.queued_broadcasts.join(", ");
    let value = |key: &str| env.laravel.non_empty(key).map(str::to_string);
    let (var, connection) = match (value("QUEUE_CONNECTION"), value("QUEUE_DRIVER")) {
        (Some(connection), _) => ("QUEUE_CONNECTION", connection),
        (None, Some(driver)) => ("QUEUE_DRIVER", driver),
        (None, None) => ("QUEUE_CONNECTION", "sync".to_string()),
    };
    let store = match connection.as_str() {
        "sync" => {
            let detail = format!("{var}={connection}: {events} (ShouldBroadcast) are sent at once, within the request");
            return (Some(Check::pass(NAME, detail)), None);
        }
        "null" => {
            let detail =
                format!("{var}=null discards every queued job: {events} are never broadcast");
            let fix = format!("set {var}=sync, or a queue with a worker (redis, database)");
            return (Some(Check::fail(NAME, detail, fix)), None);
        }
        "redis" => Some(redis(env)),
        "database" => sql(env),
        _ => None,
    };
    let Some(store) = store else {
        let detail =
            format!("{events} are queued on {var}={connection}, which the doctor cannot read");
        let fix = format!("make sure a worker runs: php artisan queue:work {connection}");
        return (Some(Check::warn(NAME, detail, Some(fix))), None);
    };
    let queue = match &store {
        QueueStore::Redis { .. } => value("REDIS_QUEUE"),
        QueueStore::Sql { .. } => value("DB_QUEUE"),
    }
    .unwrap_or_else(|| "default".to_string());
    let setup = QueueSetup {
        connection,
        queue,
        store,
        events: hints.queued_broadcasts.clone(),
    };
    (None, Some(setup))
}

/// The check when the server is not contacted (`--offline`).
pub fn offline(setup: &QueueSetup) -> Check {
    Check::warn(
        NAME,
        format!(
            "{} are queued (QUEUE_CONNECTION={}): they are published only while a worker runs",
            setup.events.join(", "),
            setup.connection
        ),
        Some(format!(
            "keep php artisan queue:work {} running; run the doctor without --offline to count waiting jobs",
            setup.connection
        )),
    )
}

fn redis(env: &Env) -> QueueStore {
    let value = |key: &str| env.laravel.non_empty(key).map(str::to_string);
    let url = value("REDIS_URL").unwrap_or_else(|| {
        let auth = value("REDIS_PASSWORD")
            .filter(|password| password != "null")
            .map(|password| format!(":{}@", encode(&password)))
            .unwrap_or_default();
        format!(
            "redis://{auth}{}:{}/{}",
            value("REDIS_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            value("REDIS_PORT").unwrap_or_else(|| "6379".into()),
            value("REDIS_DB").unwrap_or_else(|| "0".into())
        )
    });
    // Laravel's default prefix: Str::slug(APP_NAME, '_') . '_database_'.
    let prefix = value("REDIS_PREFIX").unwrap_or_else(|| {
        let name = value("APP_NAME").unwrap_or_else(|| "laravel".into());
        format!("{}_database_", slug(&name))
    });
    QueueStore::Redis { url, prefix }
}

fn sql(env: &Env) -> Option<QueueStore> {
    let value = |key: &str| env.laravel.non_empty(key).map(str::to_string);
    let connection = value("DB_CONNECTION").unwrap_or_else(|| "mysql".into());
    let (scheme, port) = match connection.as_str() {
        "mysql" | "mariadb" => ("mysql", "3306"),
        "pgsql" => ("postgres", "5432"),
        _ => return None,
    };
    let url = value("DB_URL")
        .or_else(|| value("DATABASE_URL"))
        .unwrap_or_else(|| {
            let user = value("DB_USERNAME").unwrap_or_else(|| "root".into());
            let password = value("DB_PASSWORD")
                .map(|password| format!(":{}", encode(&password)))
                .unwrap_or_default();
            format!(
                "{scheme}://{}{password}@{}:{}/{}",
                encode(&user),
                value("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()),
                value("DB_PORT").unwrap_or_else(|| port.into()),
                value("DB_DATABASE").unwrap_or_else(|| "laravel".into())
            )
        });
    Some(QueueStore::Sql {
        url,
        table: "jobs".to_string(),
    })
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Laravel's `Str::slug($name, '_')` for ASCII app names: `@` becomes `at`, other
/// punctuation is dropped, and runs of spaces, `-` and `_` become one `_` (none at the ends).
fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars() {
        let word = match c {
            '@' => "at".to_string(),
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase().to_string(),
            c if c == '-' || c == '_' || c.is_whitespace() => {
                gap = true;
                continue;
            }
            _ => continue,
        };
        if gap && !out.is_empty() {
            out.push('_');
        }
        gap = false;
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laravel_prefixes() {
        assert_eq!(slug("Laravel"), "laravel");
        assert_eq!(slug("My Shop - Admin"), "my_shop_admin");
        assert_eq!(slug("Acme.io"), "acmeio");
        assert_eq!(slug("Bob's @ Shop"), "bobs_at_shop");
    }
}
