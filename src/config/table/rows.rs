//! Every setting, once. Order is the order of `config check` and of the docs' tables.

use super::super::cluster::{ClusterSetting, DriverKind};
use super::super::settings::Driver;
use super::super::value::{Kind, Unit, Value};
use super::{Access, Mask, Scope, Setting};

/// A field of `[server]` (or of a settings struct inside it).
macro_rules! server {
    ($($field:ident).+) => {
        Access::Config(|config, _| &mut config.server.$($field).+)
    };
}

/// A field of one app.
macro_rules! app {
    ($($field:ident).+) => {
        Access::Config(|config, index| &mut config.apps[index].$($field).+)
    };
}

const fn server(key: &'static str, kind: Kind, access: Access) -> Setting {
    Setting::new(Scope::Server, key, kind, access)
}

const fn console(key: &'static str, kind: Kind, access: Access) -> Setting {
    Setting::new(Scope::Console, key, kind, access)
}

const fn cluster(key: &'static str, kind: Kind, access: Access) -> Setting {
    Setting::new(Scope::Cluster, key, kind, access)
}

const fn app(key: &'static str, kind: Kind, access: Access) -> Setting {
    Setting::new(Scope::App, key, kind, access)
}

fn text(value: Value) -> String {
    match value {
        Value::Text(text) => text,
        _ => String::new(),
    }
}

#[rustfmt::skip]
pub(crate) static SETTINGS: &[Setting] = &[
    server("host", Kind::Text, server!(host)).soketi(&["host"]).flag("host")
        .doc("Address to listen on."),
    server("port", Kind::Port, server!(port)).soketi(&["port"]).flag("port")
        .doc("One port for WebSockets and the HTTP API. `0` picks a free port."),
    server("path_prefix", Kind::Text, server!(path_prefix)).soketi(&["pathPrefix"]).flag("path-prefix")
        .doc("Prefix for every path (`/ws` gives `/ws/app/{key}`). A leading slash is added and trailing slashes are removed. Only letters, digits, `-._~` and `/` are allowed."),
    server("debug", Kind::Bool, server!(debug)).soketi(&["debug"]).flag("debug")
        .doc("Verbose logging of sockwave's own modules (`RUST_LOG` overrides it)."),
    server("log_format", Kind::Choice(&["text", "json"]), server!(log_format)).flag("log-format")
        .doc("`\"text\"` for people (colours only when stdout is a terminal and `NO_COLOR` is unset), `\"json\"` for log collectors: one JSON object per line."),
    server("app_manager", Kind::Choice(&["static", "mysql", "postgres"]), server!(app_manager))
        .doc("Where apps come from: `\"static\"` (the `[[apps]]` below), or a `\"mysql\"` (MariaDB too) or `\"postgres\"` table in Soketi's schema, read by key on connect and by id on API calls. Soketi's `appManager.driver` (`array`, `mysql`, `postgres`) sets it. See [apps in a database](#apps-in-a-database)."),
    server("app_manager_url", Kind::Text, server!(app_manager_url)).mask(Mask::Urls).default_doc("none")
        .doc("The database of a `mysql` or `postgres` app manager: `mysql://user:password@host:3306/database` or `postgres://user:password@host:5432/database` (`?ssl-mode=required` / `?sslmode=require` for TLS). Without it, Soketi's `database.mysql.*` / `database.postgres.*` settings (with Soketi's defaults) make the URL."),
    server("app_manager_table", Kind::Text, server!(app_manager_table))
        .doc("The apps table (Soketi's `appManager.mysql.table` / `appManager.postgres.table`). Letters, digits, `_` and one `.` (schema.table)."),
    server("app_manager_cache_ttl", Kind::Secs, server!(app_manager_cache_ttl)).min(1)
        .doc("How long an app read from the database is used before it is read again: a new row, a changed secret or limit, or `enabled = 0` take effect within this time (sockets of an app that became disabled are closed with 4003). Soketi's `appManager.cache.ttl` sets it when positive."),
    server("activity_timeout", Kind::Secs, server!(activity_timeout)).min(1).max(3600).flag("activity-timeout")
        .doc("Sent to clients in `pusher:connection_established`. A socket that stays silent this long is pinged. 1–3600."),
    server("pong_timeout", Kind::Secs, server!(pong_timeout)).min(1)
        .doc("How long to wait for traffic after a server ping before closing with 4201. Also how long a socket may refuse to take any of its outgoing bytes (a client that stopped reading) before it is closed as a slow consumer (4100)."),
    server("shutdown_grace_period", Kind::Secs, server!(shutdown_grace_period))
        .soketi(&["shutdownGracePeriod"]).unit(Unit::Millis).flag("shutdown-grace-period")
        .doc("How long shutdown waits for sockets and requests."),
    server("auth_timestamp_window", Kind::Secs, server!(auth_timestamp_window)).min(1)
        .doc("Largest accepted difference between a signed HTTP API request's `auth_timestamp` and the server clock."),
    server("cors_allowed_origins", Kind::Texts, server!(cors_allowed_origins)).soketi(&["cors.origin"])
        .doc("Origins allowed to call the HTTP API from a browser. Empty means no CORS headers. `\"*\"` allows any origin. Soketi's default is `[\"*\"]`."),
    server("http_transports", Kind::Bool, server!(http_transports))
        .doc("Serve pusher-js's HTTP fallback transports (`xhr_streaming`, `xhr_polling`) on the WebSocket port, for clients whose network blocks WebSockets. See [HTTP fallback](http-fallback.md)."),
    server("http_transport_origins", Kind::Texts, server!(http_transport_origins))
        .doc("Origins whose pages may use the HTTP transports when `httpHost` is not the page's own host (CORS). `\"*\"` allows any, like the WebSocket endpoint, which browsers do not restrict by origin."),
    server("socket_queue_capacity", Kind::Count, server!(socket_queue_capacity)).min(1)
        .doc("Frames queued for one socket. When the queue is full, the socket is closed as a slow consumer (4100)."),
    server("backpressure_fanout_ms", Kind::Count, server!(backpressure_fanout_ms)).max(60_000)
        .doc("Backpressure: when a fan-out on a node takes longer than this many milliseconds while more events wait behind it, or cluster messages pile up waiting for it, every node of the cluster answers HTTP publishes with 429 and `Retry-After` until that node has caught up, then admits them below the rate it managed for 10 s, instead of accepting events it would deliver late or cut healthy subscribers for; a node whose own messages to the others queue up refuses publishes too. `0` turns it off. See [scaling](scaling.md#backpressure)."),
    server("max_ws_message_kb", Kind::Kb, server!(max_ws_message_bytes)).min(1)
        .doc("Largest WebSocket message accepted from a client."),
    server("ws_compression", Kind::Bool, server!(ws_compression))
        .doc("Accept the `permessage-deflate` compression browsers offer: events of at least `ws_compression_min_bytes` reach those clients compressed (a broadcast is compressed once for all of them), and their compressed messages are accepted. `false` declines it and every frame goes out as it is. See [compression](performance.md#compression)."),
    server("ws_compression_min_bytes", Kind::Count, server!(ws_compression_min_bytes))
        .doc("Frames shorter than this many bytes are sent uncompressed even to a client that negotiated compression (a short frame saves little and costs CPU per frame). `0` compresses every frame."),
    server("max_request_body_kb", Kind::Kb, server!(max_request_body_bytes)).min(1)
        .soketi(&["httpApi.requestLimitInMb"]).unit(Unit::Megabytes)
        .doc("Largest HTTP API request body. Soketi's default is 100 MB."),
    server("request_body_timeout", Kind::Secs, server!(request_body_timeout)).min(1)
        .doc("Time a request body may take from its first byte to its last; it must also keep at least 16 KiB/s on average after its first 2 seconds. A slower body gets 408 and the connection is closed."),
    server("request_body_budget_kb", Kind::Kb, server!(request_body_budget_bytes)).min(1)
        .doc("Request body bytes the whole server holds at once (reserved from `Content-Length` before the body is read, kept until the request is handled). Past it a request gets 503 with `Retry-After: 1` before its body is read. At least `max_request_body_kb`."),
    server("handshake_timeout", Kind::Secs, server!(handshake_timeout)).min(1)
        .doc("Time from TCP accept to a complete HTTP request head (the WebSocket upgrade or an API request); also how long a keep-alive HTTP connection may sit idle. A slower client is disconnected."),
    server("max_header_kb", Kind::Kb, server!(max_header_bytes)).min(8 * 1024)
        .doc("Largest HTTP request head (request line and headers). A larger one gets 431 and the connection is closed. At least 8."),
    server("max_ws_messages_per_second", Kind::Count, server!(max_ws_messages_per_second)).min(1)
        .doc("Sustained rate of WebSocket messages of any kind one socket may send."),
    server("ws_message_burst", Kind::Count, server!(ws_message_burst)).min(1)
        .doc("Messages one socket may send at once above that rate (pusher-js sends a subscribe per channel when it reconnects). A socket over the budget gets `pusher:error` 4100 and a 4100 close, so pusher-js waits before it reconnects."),
    server("subscription_error_mode", Kind::Choice(&["soketi", "pusher"]), server!(subscription_error_mode))
        .doc("How a refused subscription is reported. `\"soketi\"` sends `pusher:subscription_error`, which fires Laravel Echo's `.error()`. `\"pusher\"` sends `pusher:error`, as hosted Pusher does."),
    server("cache_ttl", Kind::Secs, server!(cache_ttl)).min(1).soketi(&["channelLimits.cacheTtl"])
        .doc("How long the last event of a cache channel is kept."),
    server("idle_app_warning", Kind::OffIfZero, server!(idle_app_warning))
        .doc("Warn (log and console) when an app has connected clients but no HTTP publish for this long. `0` turns the warning off."),
    server("webhook_batch_window_ms", Kind::Millis, server!(webhooks.batch_window)).soketi(&["webhooks.batching.duration"])
        .doc("How long webhook events for one target are collected before a request goes out. `0` sends as soon as the worker sees them."),
    server("webhook_batch_max_events", Kind::Count, server!(webhooks.batch_max_events)).min(1)
        .doc("Most events in one webhook request."),
    server("webhook_leave_delay_ms", Kind::Millis, server!(webhooks.leave_delay))
        .doc("How long `channel_vacated` and `member_removed` are held; a quick return (a page reload) cancels both. `0` sends them at once."),
    server("webhook_retry_budget", Kind::Secs, server!(webhooks.retry_budget))
        .doc("How long a failing webhook request is retried, counted from when its oldest event happened. `0` means one attempt."),
    server("webhook_request_timeout", Kind::Secs, server!(webhooks.request_timeout)).min(1)
        .doc("Timeout of one webhook attempt, connecting included."),
    server("webhook_queue_capacity", Kind::Count, server!(webhooks.queue_capacity)).min(1)
        .doc("Webhook events the queue holds (and each target's backlog) before new ones are dropped and counted."),
    server("webhook_delivery_log_size", Kind::Count, server!(webhooks.delivery_log_size))
        .doc("Recent webhook requests kept per app for the delivery log."),
    server("metrics_enabled", Kind::Bool, server!(metrics.enabled)).soketi(&["metrics.enabled"])
        .doc("Serve Prometheus metrics on their own listener. See [metrics](metrics.md)."),
    server("metrics_host", Kind::Text, server!(metrics.host)).soketi(&["metrics.host"])
        .doc("Address of the metrics listener. Keep it private: metrics show app ids and traffic."),
    server("metrics_port", Kind::Port, server!(metrics.port)).soketi(&["metrics.port"])
        .doc("Port of `GET /metrics`. Must differ from `port`. `0` picks a free port."),
    server("metrics_prefix", Kind::Text, server!(metrics.prefix)).soketi(&["metrics.prometheus.prefix"])
        .doc("Prefix of every metric name. `\"soketi_\"` makes Soketi dashboards work unchanged."),
    server("tls_cert", Kind::Path, server!(tls_cert)).soketi(&["ssl.certPath"]).flag("tls-cert").default_doc("none")
        .doc("PEM certificate chain (leaf first). With `tls_key`, the port serves only `wss://` and `https://`. See [TLS](tls.md)."),
    server("tls_key", Kind::Path, server!(tls_key)).soketi(&["ssl.keyPath"]).flag("tls-key").default_doc("none")
        .doc("PEM private key (PKCS#8, PKCS#1 or SEC1, not encrypted). Both files are reloaded when they change and on SIGHUP."),
    server("ws_connections_per_ip", Kind::Limit, server!(ws_connections_per_ip)).min(1)
        .doc("Most WebSocket connections open at once from one client address; more get HTTP 429. See [rate limits](rate-limits.md)."),
    server("ws_new_connections_per_ip_per_second", Kind::Limit, server!(ws_new_connections_per_ip_per_second)).min(1)
        .doc("Most new WebSocket connections per second from one client address; more get HTTP 429 with `Retry-After: 1`."),

    console("enabled", Kind::Bool, server!(console.enabled))
        .doc("Whether `/console` is served at all; off, it answers 404."),
    console("token", Kind::Text, server!(console.token)).mask(Mask::Secret).default_doc("none")
        .doc("Admin token that opens the console for every app (sent as `Authorization: Bearer …`). Without it, only an app's own secret opens that app's console. At least 16 characters without spaces: an empty or shorter token stops the server."),

    cluster("driver", Kind::Choice(&["local", "redis", "nats"]), Access::Cluster {
        set: |v| ClusterSetting::Driver(DriverKind::parse(&text(v)).unwrap_or(DriverKind::Local)),
        get: |c| Some(Value::Text(match c.driver {
            Driver::Local => "local".into(),
            Driver::Redis { .. } => "redis".into(),
            Driver::Nats { .. } => "nats".into(),
        })),
    }).soketi(&["adapter.driver"])
        .doc("`\"local\"` (one node, no service), `\"redis\"` or `\"nats\"`. Soketi's `cluster` driver is refused: use `redis` or `nats`."),
    cluster("redis_url", Kind::Text, Access::Cluster {
        set: |v| ClusterSetting::RedisUrl(text(v).trim().to_string()),
        get: |c| match &c.driver {
            Driver::Redis { url } => Some(Value::Text(url.clone())),
            _ => None,
        },
    }).mask(Mask::Urls).default_doc("\"redis://127.0.0.1:6379/0\"")
        .soketi(&["database.redis.host", "database.redis.port", "database.redis.db", "database.redis.username", "database.redis.password", "database.redis.tls"])
        .doc("Used when `driver = \"redis\"` (and by the shared rate limits): `redis://[user:password@]host:port/db`, or `rediss://` for TLS (see `redis_tls_ca`), with the user (Redis 6 ACL) and password percent-encoded. Each Soketi option replaces its part of the URL and encodes it; Soketi's `tls: {}` makes it `rediss://`."),
    cluster("redis_tls_ca", Kind::Path, server!(cluster.redis_tls.ca)).default_doc("none")
        .doc("For a `rediss://` `redis_url`: PEM CA certificate(s) that sign the Redis server's certificate (a private CA, or a managed Redis whose CA the public roots lack). Without it the Mozilla root certificates are trusted."),
    cluster("redis_tls_cert", Kind::Path, server!(cluster.redis_tls.cert)).default_doc("none")
        .doc("For a `rediss://` `redis_url`: PEM client certificate, for a Redis that requires one (`tls-auth-clients yes`). With `redis_tls_key`."),
    cluster("redis_tls_key", Kind::Path, server!(cluster.redis_tls.key)).default_doc("none")
        .doc("The private key of `redis_tls_cert` (PEM, not encrypted)."),
    cluster("redis_sentinels", Kind::Texts, server!(cluster.redis_sentinel.nodes)).default_doc("none")
        .soketi(&["database.redis.sentinels"])
        .doc("Redis Sentinel: `host:port` of each sentinel (Soketi: a JSON array of `{\"host\", \"port\"}`). The master is asked for on every (re)connect, so nodes follow a failover; `redis_url` then gives only the user, password and database (its host is not used)."),
    cluster("redis_sentinel_master", Kind::Text, server!(cluster.redis_sentinel.master))
        .soketi(&["database.redis.name"])
        .doc("The master's name the sentinels monitor."),
    cluster("redis_sentinel_password", Kind::Text, server!(cluster.redis_sentinel.password)).mask(Mask::Secret).default_doc("none")
        .soketi(&["database.redis.sentinelPassword"])
        .doc("The sentinels' own password, if they require one."),
    cluster("redis_cluster_nodes", Kind::Texts, Access::Cluster {
        set: |v| ClusterSetting::RedisClusterNodes(match v { Value::Texts(texts) => texts, _ => Vec::new() }),
        get: |c| (!c.redis_cluster_nodes.is_empty()).then(|| Value::Texts(c.redis_cluster_nodes.clone())),
    }).default_doc("none")
        .soketi(&["adapter.redis.clusterMode", "database.redis.clusterNodes"])
        .doc("Redis Cluster: `host:port` of some of its nodes (Soketi: `clusterMode` true and `clusterNodes`, a JSON array of `{\"host\", \"port\"}`). Each sockwave node subscribes on one of them, the next one after a failure; a Redis Cluster delivers pub/sub messages to every node, and rate-limit keys go to the node that owns their slot. `redis_url` then gives only the user, password, TLS and database 0 (its host is not used)."),
    cluster("nats_servers", Kind::Texts, Access::Cluster {
        set: |v| ClusterSetting::NatsServers(match v { Value::Texts(texts) => texts, _ => Vec::new() }),
        get: |c| match &c.driver {
            Driver::Nats { servers } => Some(Value::Texts(servers.clone())),
            _ => None,
        },
    }).mask(Mask::Urls).default_doc("[\"nats://127.0.0.1:4222\"]")
        .soketi(&["adapter.nats.servers", "adapter.nats.user", "adapter.nats.pass", "adapter.nats.token"])
        .doc("Used when `driver = \"nats\"`: one or more `nats://` URLs; credentials go in the URL (`nats://user:password@host:4222`, or `nats://token@host:4222`). Soketi's `host:port` without a scheme gets `nats://`; Soketi's user and password, or token, are written into every URL that has none. A token, or a user with a password; not both."),
    cluster("prefix", Kind::Text, Access::Cluster {
        set: |v| ClusterSetting::Prefix(text(v)),
        get: |c| Some(Value::Text(c.prefix.clone())),
    }).soketi(&["adapter.redis.prefix", "adapter.nats.prefix"])
        .doc("Keeps deployments that share one Redis or NATS apart: nodes only hear nodes with the same prefix. Non-empty, without whitespace, `*` or `>`. Soketi's per-engine prefix counts when its engine is chosen; an empty one (Soketi's default) keeps sockwave's."),
    cluster("heartbeat_interval", Kind::FracSecs, Access::Cluster {
        set: |v| ClusterSetting::HeartbeatInterval(match v { Value::Time(t) => t, _ => Default::default() }),
        get: |c| Some(Value::Time(c.heartbeat_interval)),
    }).doc("How often a node announces itself (and its connection counts) to the others. Seconds, fractions allowed."),
    cluster("node_timeout", Kind::FracSecs, Access::Cluster {
        set: |v| ClusterSetting::NodeTimeout(match v { Value::Time(t) => t, _ => Default::default() }),
        get: |c| Some(Value::Time(c.node_timeout)),
    }).doc("Silence after which a node counts as dead: its connections, subscriptions and presence members are removed everywhere. More than twice `heartbeat_interval`."),
    cluster("ready_requires_engine", Kind::Bool, Access::Cluster {
        set: |v| ClusterSetting::ReadyRequiresEngine(matches!(v, Value::Bool(true))),
        get: |c| Some(Value::Bool(c.ready_requires_engine)),
    }).doc("Whether `/ready` answers 503 while Redis or NATS is unreachable. The node keeps serving its own sockets either way."),

    app("id", Kind::Text, app!(id)).soketi(&["id"]).flag("app-id").laravel("PUSHER_APP_ID")
        .doc("Id used in `/apps/{id}/...`. Required; letters, digits, `_`, `.` and `-`."),
    app("key", Kind::Text, app!(key)).soketi(&["key"]).flag("app-key").laravel("PUSHER_APP_KEY")
        .doc("Key used in `/app/{key}` and in signatures. Required; letters, digits, `_`, `.` and `-`."),
    app("secret", Kind::Text, app!(secret)).soketi(&["secret"]).flag("app-secret").laravel("PUSHER_APP_SECRET").mask(Mask::Secret)
        .doc("Secret for every HMAC. Required."),
    app("enabled", Kind::Bool, app!(enabled)).soketi(&["enabled"])
        .doc("A disabled app refuses connections (4003) and API calls (403)."),
    app("enable_client_messages", Kind::Bool, app!(enable_client_messages)).soketi(&["enableClientMessages"]).flag("enable-client-messages")
        .doc("Accept `client-*` events."),
    app("enable_user_authentication", Kind::Bool, app!(enable_user_authentication)).soketi(&["enableUserAuthentication"])
        .doc("Accept `pusher:signin`. Soketi's default is `false`."),
    app("enable_subscription_count", Kind::Bool, app!(enable_subscription_count))
        .doc("Send `pusher_internal:subscription_count` to subscribers of non-presence channels, and the `subscription_count` webhook."),
    app("authorized_connections_timeout", Kind::SecsOrOff, app!(authorized_connections_timeout)).min(1).default_doc("off")
        .doc("Pusher's \"authorized connections\": a socket that neither signs in nor subscribes to a private or presence channel within this many seconds is closed with 4009. Leave it out (or `\"off\"`) to turn the check off; `0` is refused."),
    app("webhooks", Kind::Text, Access::Webhooks).soketi(&["webhooks"]).default_doc("none")
        .doc("Where the app's webhooks go: `[[apps.webhooks]]` tables in TOML, a JSON array in variables and in Soketi's names. See [webhooks](webhooks.md#configuration)."),
    app("max_connections", Kind::Limit, app!(max_connections)).min(1).soketi(&["maxConnections"])
        .doc("Concurrent connections, counted across the cluster. Leave it out, or write `\"unlimited\"` (`-1`), for no limit."),
    app("max_client_events_per_second", Kind::Limit, app!(limits.max_client_events_per_second)).min(1).soketi(&["maxClientEventsPerSecond"])
        .doc("Client events per second, per connection. Soketi's default is unlimited and Pusher's is 10."),
    app("max_backend_events_per_second", Kind::Limit, app!(limits.max_backend_events_per_second)).min(1).soketi(&["maxBackendEventsPerSecond"])
        .doc("HTTP API events per second: `POST /events` costs one per channel, `POST /batch_events` one per event. Over it: 429 with `X-RateLimit-*` and `Retry-After`. Shared by every node when the cluster runs on Redis. See [rate limits](rate-limits.md)."),
    app("max_read_requests_per_second", Kind::Limit, app!(limits.max_read_requests_per_second)).min(1).soketi(&["maxReadRequestsPerSecond"])
        .doc("HTTP API queries per second (channels, users, webhook deliveries). Over it: 429."),
    app("max_event_payload_kb", Kind::Kb, app!(limits.max_event_payload_bytes)).min(1)
        .soketi(&["maxEventPayloadInKb"]).soketi_default("eventLimits.maxPayloadInKb")
        .doc("Largest event `data`."),
    app("max_channels_per_event", Kind::Count, app!(limits.max_channels_per_event)).min(1)
        .soketi(&["maxEventChannelsAtOnce"]).soketi_default("eventLimits.maxChannelsAtOnce")
        .doc("Channels in one `POST /events`."),
    app("max_batch_size", Kind::Count, app!(limits.max_batch_size)).min(1)
        .soketi(&["maxEventBatchSize"]).soketi_default("eventLimits.maxBatchSize")
        .doc("Events in one `POST /batch_events`."),
    app("max_event_name_length", Kind::Count, app!(limits.max_event_name_length)).min(1)
        .soketi(&["maxEventNameLength"]).soketi_default("eventLimits.maxNameLength")
        .doc("Longest event name."),
    app("max_channel_name_length", Kind::Count, app!(limits.max_channel_name_length)).min(1)
        .soketi(&["maxChannelNameLength"]).soketi_default("channelLimits.maxNameLength")
        .doc("Longest channel name, prefix included."),
    app("max_presence_members", Kind::Count, app!(limits.max_presence_members)).min(1)
        .soketi(&["maxPresenceMembersPerChannel"]).soketi_default("presence.maxMembersPerChannel")
        .doc("Members in one presence channel."),
    app("max_presence_member_size_kb", Kind::Kb, app!(limits.max_presence_member_size_bytes)).min(1)
        .soketi(&["maxPresenceMemberSizeInKb"]).soketi_default("presence.maxMemberSizeInKb")
        .doc("Largest `user_info` of one member."),
    app("history_channels", Kind::Texts, app!(history.channels)).default_doc("none")
        .doc("Channels that keep their recent events so clients with the recovery add-on get what they missed while disconnected: name patterns where `*` matches anything (`[\"private-dashboard-*\"]`). Their events carry a `\"position\"` field that pusher-js ignores. Empty: no history, frames unchanged. See [recovery](recovery.md)."),
    app("history_max_events", Kind::Count, app!(history.max_events)).min(1).max(100_000)
        .doc("Events kept per history channel."),
    app("history_max_age", Kind::Secs, app!(history.max_age)).min(1).max(86_400)
        .doc("How long a history channel keeps an event. A client away longer is told its history is gone (`sockwave:resume_failed`)."),
    app("history_max_channel_kb", Kind::Kb, app!(history.max_channel_bytes)).min(1)
        .doc("Frame bytes kept per history channel; the oldest events go first."),
    app("history_max_app_kb", Kind::Kb, app!(history.max_app_bytes)).min(1)
        .doc("Frame bytes of history kept for the whole app on one node when history is in memory (no cluster engine); past it, the channels published to least recently lose their history first. With Redis the per-channel bounds apply and idle channels expire."),
];
