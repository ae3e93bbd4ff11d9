//! Soketi's option and variable names, and what sockwave does with each.
//!
//! Kept apart from the mapping logic so the tables can be read (and checked against
//! Soketi's `src/cli/cli.ts` and `src/server.ts`) in one place.

/// Soketi's environment variables without their `SOKETI_` prefix, and the option each sets.
/// From Soketi's `src/cli/cli.ts`, plus the names its documentation uses.
#[rustfmt::skip]
pub(crate) const ENV_OPTIONS: &[(&str, &str)] = &[
    ("ADAPTER_DRIVER", "adapter.driver"),
    ("ADAPTER_CLUSTER_REQUESTS_TIMEOUT", "adapter.cluster.requestsTimeout"),
    ("ADAPTER_REDIS_PREFIX", "adapter.redis.prefix"),
    ("ADAPTER_REDIS_CLUSTER_MODE", "adapter.redis.clusterMode"),
    ("ADAPTER_REDIS_REQUESTS_TIMEOUT", "adapter.redis.requestsTimeout"),
    ("ADAPTER_REDIS_SUB_OPTIONS", "adapter.redis.redisSubOptions"),
    ("ADAPTER_REDIS_PUB_OPTIONS", "adapter.redis.redisPubOptions"),
    ("ADAPTER_REDIS_SHARD_MODE", "adapter.redis.shardMode"),
    ("ADAPTER_NATS_PREFIX", "adapter.nats.prefix"),
    ("ADAPTER_NATS_SERVERS", "adapter.nats.servers"),
    ("ADAPTER_NATS_USER", "adapter.nats.user"),
    ("ADAPTER_NATS_PASSWORD", "adapter.nats.pass"),
    ("ADAPTER_NATS_TOKEN", "adapter.nats.token"),
    ("ADAPTER_NATS_CREDENTIALS", "adapter.nats.credentials"),
    ("ADAPTER_NATS_TIMEOUT", "adapter.nats.timeout"),
    ("ADAPTER_NATS_REQUESTS_TIMEOUT", "adapter.nats.requestsTimeout"),
    // Read by Soketi 1.x releases (e.g. 1.6), dropped from cli.ts later.
    ("ADAPTER_NATS_NODES_NUMBER", "adapter.nats.nodesNumber"),
    ("APP_MANAGER_DRIVER", "appManager.driver"),
    ("APP_MANAGER_CACHE_ENABLED", "appManager.cache.enabled"),
    ("APP_MANAGER_CACHE_TTL", "appManager.cache.ttl"),
    ("APP_MANAGER_DYNAMODB_TABLE", "appManager.dynamodb.table"),
    ("APP_MANAGER_DYNAMODB_REGION", "appManager.dynamodb.region"),
    ("APP_MANAGER_DYNAMODB_ENDPOINT", "appManager.dynamodb.endpoint"),
    ("APP_MANAGER_MYSQL_TABLE", "appManager.mysql.table"),
    ("APP_MANAGER_MYSQL_VERSION", "appManager.mysql.version"),
    ("APP_MANAGER_MYSQL_USE_V2", "appManager.mysql.useMysql2"),
    ("APP_MANAGER_POSTGRES_TABLE", "appManager.postgres.table"),
    ("APP_MANAGER_POSTGRES_VERSION", "appManager.postgres.version"),
    ("CACHE_DRIVER", "cache.driver"),
    ("CACHE_REDIS_CLUSTER_MODE", "cache.redis.clusterMode"),
    ("CACHE_REDIS_OPTIONS", "cache.redis.redisOptions"),
    // Soketi's cli.ts reads CHANNEL_CACHE_TTL; the CHANNEL_LIMITS_ form matches its other
    // channelLimits variable, so both are read.
    ("CHANNEL_CACHE_TTL", "channelLimits.cacheTtl"),
    ("CHANNEL_LIMITS_CACHE_TTL", "channelLimits.cacheTtl"),
    ("CHANNEL_LIMITS_MAX_NAME_LENGTH", "channelLimits.maxNameLength"),
    ("CLUSTER_BROADCAST_ADDRESS", "cluster.broadcast"),
    ("CLUSTER_CHECK_INTERVAL", "cluster.checkInterval"),
    ("CLUSTER_HOST", "cluster.hostname"),
    ("CLUSTER_IGNORE_PROCESS", "cluster.ignoreProcess"),
    ("CLUSTER_KEEPALIVE_INTERVAL", "cluster.helloInterval"),
    ("CLUSTER_MASTER_TIMEOUT", "cluster.masterTimeout"),
    ("CLUSTER_MULTICAST_ADDRESS", "cluster.multicast"),
    ("CLUSTER_NODE_TIMEOUT", "cluster.nodeTimeout"),
    ("CLUSTER_PORT", "cluster.port"),
    ("CLUSTER_PREFIX", "cluster.prefix"),
    ("CLUSTER_UNICAST_ADDRESSES", "cluster.unicast"),
    ("DB_MYSQL_DATABASE", "database.mysql.database"),
    ("DB_MYSQL_HOST", "database.mysql.host"),
    ("DB_MYSQL_PASSWORD", "database.mysql.password"),
    ("DB_MYSQL_PORT", "database.mysql.port"),
    ("DB_MYSQL_USERNAME", "database.mysql.user"),
    ("DB_POOLING_ENABLED", "databasePooling.enabled"),
    ("DB_POOLING_MAX", "databasePooling.max"),
    ("DB_POOLING_MIN", "databasePooling.min"),
    ("DB_POSTGRES_DATABASE", "database.postgres.database"),
    ("DB_POSTGRES_HOST", "database.postgres.host"),
    ("DB_POSTGRES_PASSWORD", "database.postgres.password"),
    ("DB_POSTGRES_PORT", "database.postgres.port"),
    ("DB_POSTGRES_USERNAME", "database.postgres.user"),
    ("DB_REDIS_CLUSTER_NODES", "database.redis.clusterNodes"),
    ("DB_REDIS_DB", "database.redis.db"),
    ("DB_REDIS_HOST", "database.redis.host"),
    ("DB_REDIS_INSTANCE_NAME", "database.redis.name"),
    ("DB_REDIS_KEY_PREFIX", "database.redis.keyPrefix"),
    ("DB_REDIS_PASSWORD", "database.redis.password"),
    ("DB_REDIS_PORT", "database.redis.port"),
    ("DB_REDIS_SENTINELS", "database.redis.sentinels"),
    ("DB_REDIS_SENTINEL_PASSWORD", "database.redis.sentinelPassword"),
    ("DB_REDIS_USERNAME", "database.redis.username"),
    ("DEBUG", "debug"),
    ("DEFAULT_APP_ENABLED", "appManager.array.apps.0.enabled"),
    ("DEFAULT_APP_ENABLE_CLIENT_MESSAGES", "appManager.array.apps.0.enableClientMessages"),
    // Soketi's documentation says DEFAULT_APP_USER_AUTHENTICATION; many deployments write
    // the ENABLE_ form, so both are read.
    ("DEFAULT_APP_ENABLE_USER_AUTHENTICATION", "appManager.array.apps.0.enableUserAuthentication"),
    ("DEFAULT_APP_ID", "appManager.array.apps.0.id"),
    ("DEFAULT_APP_KEY", "appManager.array.apps.0.key"),
    ("DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", "appManager.array.apps.0.maxBackendEventsPerSecond"),
    ("DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC", "appManager.array.apps.0.maxClientEventsPerSecond"),
    ("DEFAULT_APP_MAX_CONNS", "appManager.array.apps.0.maxConnections"),
    ("DEFAULT_APP_MAX_READ_REQ_PER_SEC", "appManager.array.apps.0.maxReadRequestsPerSecond"),
    ("DEFAULT_APP_SECRET", "appManager.array.apps.0.secret"),
    ("DEFAULT_APP_USER_AUTHENTICATION", "appManager.array.apps.0.enableUserAuthentication"),
    ("DEFAULT_APP_WEBHOOKS", "appManager.array.apps.0.webhooks"),
    ("EVENT_MAX_BATCH_SIZE", "eventLimits.maxBatchSize"),
    ("EVENT_MAX_CHANNELS_AT_ONCE", "eventLimits.maxChannelsAtOnce"),
    ("EVENT_MAX_NAME_LENGTH", "eventLimits.maxNameLength"),
    ("EVENT_MAX_SIZE_IN_KB", "eventLimits.maxPayloadInKb"),
    ("HOST", "host"),
    ("HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD", "httpApi.acceptTraffic.memoryThreshold"),
    ("HTTP_MAX_REQUEST_SIZE", "httpApi.requestLimitInMb"),
    ("METRICS_DRIVER", "metrics.driver"),
    ("METRICS_ENABLED", "metrics.enabled"),
    ("METRICS_PROMETHEUS_PREFIX", "metrics.prometheus.prefix"),
    ("METRICS_SERVER_PORT", "metrics.port"),
    ("MODE", "mode"),
    ("NODE_ID", "instance.node_id"),
    ("PATH_PREFIX", "pathPrefix"),
    ("POD_ID", "instance.pod_id"),
    ("PORT", "port"),
    ("PRESENCE_MAX_MEMBERS", "presence.maxMembersPerChannel"),
    ("PRESENCE_MAX_MEMBER_SIZE", "presence.maxMemberSizeInKb"),
    ("QUEUE_DRIVER", "queue.driver"),
    ("QUEUE_REDIS_CLUSTER_MODE", "queue.redis.clusterMode"),
    ("QUEUE_REDIS_CONCURRENCY", "queue.redis.concurrency"),
    ("QUEUE_REDIS_OPTIONS", "queue.redis.redisOptions"),
    ("QUEUE_SQS_BATCH_SIZE", "queue.sqs.batchSize"),
    ("QUEUE_SQS_CLIENT_OPTIONS", "queue.sqs.clientOptions"),
    ("QUEUE_SQS_ENDPOINT", "queue.sqs.endpoint"),
    ("QUEUE_SQS_POLLING_WAIT_TIME_MS", "queue.sqs.pollingWaitTimeMs"),
    ("QUEUE_SQS_PROCESS_BATCH", "queue.sqs.processBatch"),
    ("QUEUE_SQS_REGION", "queue.sqs.region"),
    ("QUEUE_SQS_URL", "queue.sqs.queueUrl"),
    ("RATE_LIMITER_DRIVER", "rateLimiter.driver"),
    ("RATE_LIMITER_REDIS_CLUSTER_MODE", "rateLimiter.redis.clusterMode"),
    ("RATE_LIMITER_REDIS_OPTIONS", "rateLimiter.redis.redisOptions"),
    ("SHUTDOWN_GRACE_PERIOD", "shutdownGracePeriod"),
    ("SSL_CA", "ssl.caPath"),
    ("SSL_CERT", "ssl.certPath"),
    ("SSL_KEY", "ssl.keyPath"),
    ("SSL_PASS", "ssl.passphrase"),
    ("USER_AUTHENTICATION_TIMEOUT", "userAuthenticationTimeout"),
    ("WEBHOOKS_BATCHING", "webhooks.batching.enabled"),
    ("WEBHOOKS_BATCHING_DURATION", "webhooks.batching.duration"),
];

/// A value sockwave accepts for an option it has no setting for: one its behaviour matches,
/// or Soketi's own default (so a Soketi config that spells out the defaults loads as it is,
/// even where sockwave behaves differently; docs/configuration.md lists those), or none.
#[derive(Debug, Clone, Copy)]
pub(super) enum Accepted {
    Text(&'static str),
    Number(f64),
    /// Soketi's default, as JSON; arrays match in any order.
    SoketiDefault(&'static str),
}

/// Options that select or switch on something sockwave does not implement; only the value
/// that means "sockwave's behaviour" is accepted.
pub(super) const FIXED: &[(&str, &[Accepted])] = &[
    ("cache.driver", &[Accepted::Text("memory")]),
    // sockwave's CORS answers allow GET, POST and OPTIONS with a fixed header list and no
    // credentials; Soketi's defaults are accepted, other values refused.
    (
        "cors.allowedHeaders",
        &[Accepted::SoketiDefault(
            r#"["Origin","Content-Type","X-Auth-Token","X-Requested-With","Accept","Authorization","X-CSRF-TOKEN","XSRF-TOKEN","X-Socket-Id"]"#,
        )],
    ),
    ("cors.credentials", &[Accepted::SoketiDefault("true")]),
    (
        "cors.methods",
        &[Accepted::SoketiDefault(
            r#"["GET","POST","PUT","DELETE","OPTIONS"]"#,
        )],
    ),
    // Usage can never exceed 100 %, so 100 means "never turn traffic away", like sockwave;
    // 85 is Soketi's default, which sockwave does not apply.
    (
        "httpApi.acceptTraffic.memoryThreshold",
        &[Accepted::Number(100.0), Accepted::SoketiDefault("85")],
    ),
    ("metrics.driver", &[Accepted::Text("prometheus")]),
    ("mode", &[Accepted::Text("full")]),
    ("queue.driver", &[Accepted::Text("sync")]),
    // Encrypted private keys are not supported; decrypt the key file instead.
    ("ssl.passphrase", &[Accepted::Text("")]),
    // Soketi closes sockets of apps with user authentication on that do not sign in within
    // this time. sockwave's `authorized_connections_timeout` is per app, opt-in, and also
    // counts a private or presence subscription as authorized (Pusher's rule), so the two
    // cannot be mapped faithfully; Soketi's default (30 s) is accepted and not applied.
    (
        "userAuthenticationTimeout",
        &[Accepted::SoketiDefault("30000")],
    ),
];

/// Option prefixes that only tune a driver or feature that `FIXED` pins off, so any value
/// leaves sockwave's behaviour unchanged.
pub(super) const INERT: &[&str] = &[
    // Soketi's `cluster` driver is refused, so its settings cannot take effect.
    "adapter.cluster",
    "appManager.dynamodb",
    "cache.redis",
    "cluster",
    // database.redis is read by `adapter`, database.mysql and database.postgres by
    // `app_manager`; pool sizes are sockwave's own (see docs/configuration.md).
    "databasePooling",
    "instance",
    "queue.redis",
    "queue.sqs",
    "rateLimiter.redis",
    "ssl.caPath",
    // sockwave retries by time (webhook_retry_budget), not by count.
    "webhooks.maxRetries",
];

pub(super) const APPS: &str = "appManager.array.apps";
