//! Windows counted in Redis, so every node of a cluster spends from one budget per app.
//!
//! One key per limit and wall-clock second (`{prefix}:ratelimit:{key}:{unix second}`),
//! checked and spent by one Lua script, so concurrent nodes cannot overspend. Each check is
//! bounded by `CHECK_TIMEOUT`; when Redis fails, checks fall back to this node's local count
//! for `COOLDOWN`, then Redis is tried again. A request is never refused because Redis is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;
use tokio::time::{timeout, Duration, Instant};

use super::local::{LocalLimiter, WINDOW};
use super::{Check, Decision, RateLimiter};

/// Longest a check may wait for Redis.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);
/// How long checks stay local after Redis failed.
const COOLDOWN: Duration = Duration::from_secs(2);

/// Spends `ARGV[1]` points of `KEYS[1]` if the total stays within `ARGV[2]`; returns
/// `{allowed, used}`. The key expires after two windows.
const SPEND: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if used + cost > tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], 2000)
return {1, used}
";

/// How the limiter reaches Redis.
enum Connection {
    /// One server, reconnected by the manager.
    Single(ConnectionManager),
    /// A Redis Cluster: each key goes to the node owning its slot. The connection is made
    /// on the first check (and again after a failed attempt); it then follows the cluster.
    Cluster(Box<ClusterLink>),
}

/// A cluster client and the connection it made.
struct ClusterLink {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

/// Shared limits through Redis, with the local limiter as fallback.
pub(crate) struct RedisLimiter {
    connection: Connection,
    prefix: String,
    fallback: LocalLimiter,
    local_until: Mutex<Option<Instant>>,
    degraded: AtomicBool,
}

impl RedisLimiter {
    /// A limiter on the Redis at `url`; connects lazily, on the first check.
    pub(crate) fn new(
        client: redis::Client,
        prefix: &str,
    ) -> Result<RedisLimiter, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CHECK_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisLimiter::with(Connection::Single(connection), prefix))
    }

    /// A limiter on a Redis Cluster; connects on the first check.
    pub(crate) fn cluster(client: ClusterClient, prefix: &str) -> RedisLimiter {
        let connection = Connection::Cluster(Box::new(ClusterLink {
            client,
            connection: OnceCell::new(),
        }));
        RedisLimiter::with(connection, prefix)
    }

    fn with(connection: Connection, prefix: &str) -> RedisLimiter {
        RedisLimiter {
            connection,
            prefix: prefix.to_string(),
            fallback: LocalLimiter::new(),
            local_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
        }
    }

    fn use_local_now(&self, now: Instant) -> bool {
        let until = self
            .local_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        until.is_some_and(|until| now < until)
    }

    fn fail(&self, reason: &str) {
        *self
            .local_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now() + COOLDOWN);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason,
                "rate limits: Redis unreachable, counting on this node until it is back"
            );
        }
    }

    async fn spend(&self, key: &str, cost: u32, limit: u32) -> Result<Decision, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let redis_key = format!("{}:ratelimit:{key}:{}", self.prefix, now.as_secs());
        let mut command = redis::cmd("EVAL");
        command
            .arg(SPEND)
            .arg(1)
            .arg(&redis_key)
            .arg(cost)
            .arg(limit);
        let (allowed, used) = match timeout(CHECK_TIMEOUT, self.query(&command)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => return Err(err.to_string()),
            Err(_) => return Err("timed out".to_string()),
        };
        let used = u32::try_from(used.max(0)).unwrap_or(u32::MAX);
        Ok(Decision {
            allowed: allowed == 1,
            limit,
            remaining: limit.saturating_sub(used),
            retry_after: WINDOW.saturating_sub(Duration::from_nanos(u64::from(now.subsec_nanos()))),
        })
    }
}

impl RedisLimiter {
    async fn query(&self, command: &redis::Cmd) -> redis::RedisResult<(i64, i64)> {
        match &self.connection {
            Connection::Single(manager) => command.query_async(&mut manager.clone()).await,
            Connection::Cluster(link) => {
                let connection = link
                    .connection
                    .get_or_try_init(|| link.client.get_async_connection())
                    .await?;
                command.query_async(&mut connection.clone()).await
            }
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check<'a>(&'a self, key: &'a str, cost: u32, limit_per_sec: u32) -> Check<'a> {
        Box::pin(async move {
            let now = Instant::now();
            if self.use_local_now(now) {
                return self.fallback.check_at(key, cost, limit_per_sec, now);
            }
            match self.spend(key, cost, limit_per_sec).await {
                Ok(decision) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("rate limits: Redis reachable again, limits are shared");
                    }
                    decision
                }
                Err(reason) => {
                    self.fail(&reason);
                    self.fallback
                        .check_at(key, cost, limit_per_sec, Instant::now())
                }
            }
        })
    }
}
