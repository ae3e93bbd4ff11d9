//! Broadcast jobs stuck in the queue. A `ShouldBroadcast` event is queued; with
//! `QUEUE_CONNECTION=redis` or `database` and no worker running, nothing is published and
//! nothing complains. The doctor counts the broadcast jobs waiting in the queue the `.env`
//! names, twice, a moment apart: jobs still there are jobs nobody consumes.

use std::time::Duration;

use sqlx::Connection as _;

use crate::check::Check;
use crate::target::{QueueSetup, QueueStore};

use crate::env_checks::queue::NAME;

/// How long a running worker gets to take a waiting job before the queue counts as stuck:
/// more than `queue:work`'s default 3 s sleep when it found the queue empty.
const GRACE: Duration = Duration::from_millis(3500);

/// Broadcast jobs waiting, and the oldest one's id (to tell "still there" from "new").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waiting {
    count: u64,
    oldest: Option<String>,
    /// Seconds the oldest has waited, when the store records it.
    age_secs: Option<u64>,
}

/// The check for a queue that is not `sync`.
pub(super) async fn check(setup: &QueueSetup, limit: Duration) -> Check {
    let events = setup.events.join(", ");
    let worker = format!(
        "run a worker: php artisan queue:work {} --queue={} (kept running by supervisor or systemd), or broadcast at once: QUEUE_CONNECTION=sync, or ShouldBroadcastNow for these events",
        setup.connection, setup.queue
    );
    let first = match look(setup, limit).await {
        Ok(waiting) => waiting,
        Err(why) => {
            return Check::warn(
                NAME,
                format!(
                    "{events} are queued (QUEUE_CONNECTION={}), but the queue {why}",
                    setup.connection
                ),
                Some(format!("make sure a worker runs: {worker}")),
            );
        }
    };
    let place = setup.store.describe(&setup.queue);
    if first.count == 0 {
        return Check::pass(
            NAME,
            format!("{events} are queued (QUEUE_CONNECTION={}); no broadcast job waits in {place} (a worker must keep running: php artisan queue:work)", setup.connection),
        );
    }
    tokio::time::sleep(GRACE).await;
    let second = match look(setup, limit).await {
        Ok(waiting) => waiting,
        Err(why) => {
            return Check::warn(
                NAME,
                format!(
                    "{} broadcast jobs wait in {place}, and then the queue {why}",
                    first.count
                ),
                Some(format!("make sure a worker runs: {worker}")),
            )
        }
    };
    if second.count == 0 || second.oldest != first.oldest {
        return Check::pass(
            NAME,
            format!(
                "{events} are queued (QUEUE_CONNECTION={}); a worker is taking them from {place}",
                setup.connection
            ),
        );
    }
    let age = second
        .age_secs
        .map(|secs| format!(", the oldest for {}", human(secs)))
        .unwrap_or_default();
    Check::fail(
        NAME,
        format!(
            "{} broadcast job{} waiting in {place}{age}, and none was taken within {} s: no worker consumes this queue, so these events ({events}) are never published",
            second.count,
            if second.count == 1 { " is" } else { "s are" },
            GRACE.as_secs_f64()
        ),
        worker,
    )
}

/// Counts the waiting broadcast jobs within `limit`; the error says what went wrong.
async fn look(setup: &QueueSetup, limit: Duration) -> Result<Waiting, String> {
    match tokio::time::timeout(limit, count(&setup.store, &setup.queue)).await {
        Ok(Ok(waiting)) => Ok(waiting),
        Ok(Err(err)) => Err(format!("could not be read: {err}")),
        Err(_) => Err("did not answer in time".to_string()),
    }
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

impl QueueStore {
    fn describe(&self, queue: &str) -> String {
        match self {
            QueueStore::Redis { prefix, .. } => format!("the Redis list {prefix}queues:{queue}"),
            QueueStore::Sql { table, .. } => format!("the {table} table (queue '{queue}')"),
        }
    }
}

async fn count(store: &QueueStore, queue: &str) -> Result<Waiting, String> {
    match store {
        QueueStore::Redis { url, prefix } => redis_count(url, prefix, queue).await,
        QueueStore::Sql { url, table } => sql_count(url, table, queue).await,
    }
}

/// Laravel's Redis queue: a list of JSON payloads, newest pushed on the right.
async fn redis_count(url: &str, prefix: &str, queue: &str) -> Result<Waiting, String> {
    let client = redis::Client::open(url).map_err(|err| err.to_string())?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|err| err.to_string())?;
    let key = format!("{prefix}queues:{queue}");
    // The first thousand jobs are enough to tell; a longer queue is stuck anyway.
    let jobs: Vec<String> = redis::cmd("LRANGE")
        .arg(&key)
        .arg(0)
        .arg(999)
        .query_async(&mut connection)
        .await
        .map_err(|err| err.to_string())?;
    let broadcasts: Vec<&String> = jobs.iter().filter(|job| is_broadcast(job)).collect();
    let oldest = broadcasts.first().and_then(|job| {
        serde_json::from_str::<serde_json::Value>(job)
            .ok()
            .and_then(|payload| payload["uuid"].as_str().map(str::to_string))
    });
    Ok(Waiting {
        count: broadcasts.len() as u64,
        oldest,
        age_secs: None,
    })
}

/// Laravel's database queue: a `jobs` table with `queue`, `payload`, `reserved_at` and
/// `created_at` (Unix seconds).
async fn sql_count(url: &str, table: &str, queue: &str) -> Result<Waiting, String> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT), CAST(MIN(id) AS BIGINT), CAST(MIN(created_at) AS BIGINT) FROM {table} WHERE queue = $1 AND reserved_at IS NULL AND available_at <= $3 AND payload LIKE $2"
    );
    let like = "%BroadcastEvent%";
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(i64::MAX);
    let (count, oldest, created): (i64, Option<i64>, Option<i64>) = if url.starts_with("mysql") {
        let mut connection = sqlx::MySqlConnection::connect(url)
            .await
            .map_err(|err| err.to_string())?;
        // MySQL binds in order of appearance: queue, available_at, payload.
        let sql = sql
            .replace("$1", "?")
            .replace("$3", "?")
            .replace("$2", "?")
            .replace("AS BIGINT", "AS SIGNED");
        sqlx::query_as(&sql)
            .bind(queue)
            .bind(now)
            .bind(like)
            .fetch_one(&mut connection)
            .await
            .map_err(|err| err.to_string())?
    } else {
        let mut connection = sqlx::PgConnection::connect(url)
            .await
            .map_err(|err| err.to_string())?;
        sqlx::query_as(&sql)
            .bind(queue)
            .bind(like)
            .bind(now)
            .fetch_one(&mut connection)
            .await
            .map_err(|err| err.to_string())?
    };
    let now = u64::try_from(now).unwrap_or(0);
    Ok(Waiting {
        count: u64::try_from(count).unwrap_or(0),
        oldest: oldest.map(|id| id.to_string()),
        age_secs: created.map(|at| now.saturating_sub(u64::try_from(at).unwrap_or(0))),
    })
}

fn is_broadcast(payload: &str) -> bool {
    payload.contains("Illuminate\\\\Broadcasting\\\\BroadcastEvent")
        || payload.contains("Illuminate\\Broadcasting\\BroadcastEvent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_payloads() {
        let job = r#"{"uuid":"9568","displayName":"App\\Events\\OrderShipped","data":{"commandName":"Illuminate\\Broadcasting\\BroadcastEvent"}}"#;
        assert!(is_broadcast(job));
        assert!(!is_broadcast(
            r#"{"data":{"commandName":"App\\Jobs\\SendMail"}}"#
        ));
        assert_eq!(human(42), "42 s");
        assert_eq!(human(600), "10 min");
        assert_eq!(human(7200), "2 h");
    }
}
