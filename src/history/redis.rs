//! History in the cluster's Redis: per channel a stream of positioned frames
//! (`{prefix}:history:{app/channel}:events`, trimmed to `history_max_events` and
//! `history_max_age`, expiring with its last event) and a small hash with the epoch and the
//! last seq (`…:meta`, kept a day, so a client that was up to date when the channel fell
//! silent still resumes without a false gap). The `{app/channel}` hash tag keeps both keys
//! on one Redis Cluster slot.
//!
//! One script assigns a position, appends, and publishes the frame on the cluster channel:
//! Redis runs it atomically, so every node receives a channel's frames in the order of their
//! positions, whichever nodes published them.

use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::Value;
use tokio::sync::{Mutex, OnceCell};
use tokio::time::{timeout, Duration};

use super::{HistoryError, Position, Read, Retained, Since};
use crate::app::App;
use crate::outbox::Frame;
use crate::redis_client::Source;

/// Longest one history command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a channel's epoch and last seq outlive its events.
const META_LIFE: Duration = Duration::from_secs(24 * 3600);

/// What both scripts share: the channel's epoch (a new history — its stale stream dropped —
/// when the meta hash is gone), and dropping events older than the channel's age bound.
macro_rules! prelude {
    () => {
        r"
local function current_epoch(candidate)
  local epoch = redis.call('HGET', KEYS[2], 'epoch')
  if epoch then return epoch, false end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', candidate, 'seq', 0)
  return candidate, true
end
local function trim_older_than(max_age_ms)
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(max_age_ms)
  if cutoff > 0 then redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', cutoff)) end
end
"
    };
}

const APPEND: &str = concat!(
    prelude!(),
    r"
local epoch = current_epoch(ARGV[9])
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local pos = epoch .. ':' .. string.format('%d', seq)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[6], '*', 's', seq, 'f', ARGV[4] .. pos .. ARGV[5])
trim_older_than(ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2] .. pos .. ARGV[3]) end
return pos
"
);

const READ: &str = concat!(
    prelude!(),
    r"
local epoch, created = current_epoch(ARGV[1])
if created then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq'))
trim_older_than(ARGV[2])
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first = seq + 1
if #oldest > 0 then
  for i = 1, #oldest[1][2], 2 do
    if oldest[1][2][i] == 's' then first = tonumber(oldest[1][2][i + 1]) end
  end
end
local wanted = 0
if ARGV[3] == '*' then wanted = tonumber(ARGV[5])
elseif ARGV[3] == epoch then wanted = math.min(seq - tonumber(ARGV[4]), tonumber(ARGV[5])) end
local entries = {}
if wanted > 0 then entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', wanted) end
return {epoch, string.format('%d', seq), string.format('%d', first), entries}
"
);

/// How the store reaches Redis.
enum Link {
    /// One server (or Sentinel's current master): reconnected on the next command after an
    /// error, asking the source again, so a failover is followed.
    Server {
        source: Source,
        connection: Mutex<Option<MultiplexedConnection>>,
    },
    /// A Redis Cluster: commands go to the slot's node.
    Cluster {
        client: ClusterClient,
        connection: OnceCell<ClusterConnection>,
    },
}

/// History kept in Redis.
pub(crate) struct RedisStore {
    link: Link,
    prefix: String,
    /// The cluster's pub/sub channel, where the script publishes positioned frames.
    bus_channel: String,
}

impl RedisStore {
    /// A store on `source`; `bus_channel` is the cluster transport's channel.
    pub(crate) fn new(source: Source, prefix: &str, bus_channel: String) -> RedisStore {
        let link = match source {
            Source::Cluster(nodes) => Link::Cluster {
                client: nodes.routed(),
                connection: OnceCell::new(),
            },
            source => Link::Server {
                source,
                connection: Mutex::new(None),
            },
        };
        RedisStore {
            link,
            prefix: prefix.to_string(),
            bus_channel,
        }
    }

    fn keys(&self, app: &App, channel: &str) -> (String, String) {
        let base = format!("{}:history:{{{}/{channel}}}", self.prefix, app.id);
        (format!("{base}:events"), format!("{base}:meta"))
    }

    /// Assigns the next position, keeps the frame and publishes
    /// `envelope.0 + position + envelope.1` to every node (this one included).
    pub(crate) async fn append(
        &self,
        app: &App,
        channel: &str,
        frame: &str,
        envelope: (&str, &str),
    ) -> Result<Position, HistoryError> {
        let (events, meta) = self.keys(app, channel);
        let (frame_head, frame_tail) = sockwave_protocol::messages::position_parts(frame);
        let policy = &app.history;
        let mut command = redis::cmd("EVAL");
        command
            .arg(APPEND)
            .arg(2)
            .arg(&events)
            .arg(&meta)
            .arg(&self.bus_channel)
            .arg(envelope.0)
            .arg(envelope.1)
            .arg(&frame_head)
            .arg(frame_tail)
            .arg(policy.max_events)
            .arg(millis(policy.max_age))
            .arg(millis(META_LIFE.max(policy.max_age)))
            .arg(Position::new_epoch());
        let text: String = self.run(&command).await?;
        Position::parse(&text)
            .ok_or_else(|| HistoryError(format!("Redis returned the position '{text}'")))
    }

    /// The channel's history `since`.
    pub(crate) async fn read(
        &self,
        app: &App,
        channel: &str,
        since: Since<'_>,
        limit: usize,
    ) -> Result<Read, HistoryError> {
        let (events, meta) = self.keys(app, channel);
        // Seqs are contiguous, so the events after a position are the newest `last - after`
        // entries: the script reads only those (XREVRANGE … COUNT), none when up to date.
        let (mode, after_seq) = match since {
            Since::Now => ("", 0),
            Since::Start => ("*", 0),
            Since::After(after) => (after.epoch.as_str(), after.seq),
        };
        let mut command = redis::cmd("EVAL");
        command
            .arg(READ)
            .arg(2)
            .arg(&events)
            .arg(&meta)
            .arg(Position::new_epoch())
            .arg(millis(app.history.max_age))
            .arg(mode)
            .arg(after_seq)
            .arg(match since {
                // After a position: all of them, oldest first, cut to `limit` below.
                Since::After(_) => app.history.max_events,
                Since::Now | Since::Start => limit.min(app.history.max_events),
            });
        let reply: Value = self.run(&command).await?;
        let stream = parse_read(reply)
            .ok_or_else(|| HistoryError("Redis returned an unexpected history reply".into()))?;
        let retained = Retained {
            epoch: &stream.epoch,
            last: stream.last,
            first: stream.first,
            events: stream.events,
        };
        Ok(retained.read(since, limit))
    }

    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, HistoryError> {
        let attempt = async {
            match &self.link {
                Link::Server { source, connection } => {
                    let mut slot = connection.lock().await;
                    if slot.is_none() {
                        let client = source.client().await?;
                        *slot = Some(client.get_multiplexed_async_connection().await?);
                    }
                    let mut current = slot.clone().expect("set above");
                    drop(slot);
                    let result = command.query_async(&mut current).await;
                    if result.is_err() {
                        // The next command reconnects (asking Sentinel for the master).
                        *connection.lock().await = None;
                    }
                    result
                }
                Link::Cluster { client, connection } => {
                    let connection = connection
                        .get_or_try_init(|| client.get_async_connection())
                        .await?;
                    command.query_async(&mut connection.clone()).await
                }
            }
        };
        match timeout(COMMAND_TIMEOUT, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(HistoryError(format!("redis: {err}"))),
            Err(_) => {
                if let Link::Server { connection, .. } = &self.link {
                    *connection.lock().await = None;
                }
                Err(HistoryError(format!(
                    "redis: no answer within {} s",
                    COMMAND_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A channel's history as the read script returned it.
struct Stream {
    epoch: String,
    last: u64,
    first: u64,
    events: Vec<(u64, Frame)>,
}

/// `{epoch, seq, first, [[id, [field, value, …]], …] newest first}` → the epoch, the last and
/// the oldest kept seq, and the entries oldest first.
fn parse_read(reply: Value) -> Option<Stream> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let [epoch, seq, first, entries] = <[Value; 4]>::try_from(parts).ok()?;
    let epoch: String = redis::from_redis_value(epoch).ok()?;
    let last: u64 = redis::from_redis_value(seq).ok()?;
    let first: u64 = redis::from_redis_value(first).ok()?;
    let Value::Array(entries) = entries else {
        return None;
    };
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        let (_id, fields): (String, Vec<(String, Value)>) = redis::from_redis_value(entry).ok()?;
        let mut seq = None;
        let mut frame = None;
        for (name, value) in fields {
            match name.as_str() {
                "s" => seq = redis::from_redis_value::<u64>(value.clone()).ok(),
                "f" => frame = redis::from_redis_value::<String>(value).ok(),
                _ => {}
            }
        }
        events.push((seq?, Frame::from(frame?)));
    }
    events.reverse();
    Some(Stream {
        epoch,
        last,
        first,
        events,
    })
}
