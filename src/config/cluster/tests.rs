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
    check_toml_err("[cluster]\ndriver = 'redis'\nredis_url = 'rediss://h:6379'\nredis_tls_cert = '/c.pem'", "invalid value (a file) for 'cluster.redis_tls_cert' in /c.toml: needs redis_tls_key too: a client certificate is a certificate and its key");
    check_toml_err(
        "[cluster]\ndriver = 'nats'\nnats_servers = []",
        "invalid value '' for 'cluster.nats_servers' in /c.toml: expected at least one nats:// URL",
    );
    check_toml_err("[cluster]\ndriver = 'nats'\nnats_servers = ['127.0.0.1:4222']", "invalid value '127.0.0.1:4222' for 'cluster.nats_servers' in /c.toml: expected a URL like nats://[user:password@]host:4222");
    check_toml_err("[cluster]\nprefix = 'a b'", "invalid value 'a b' for 'cluster.prefix' in /c.toml: must be non-empty, without whitespace, '*' or '>'");
    check_toml_err("[cluster]\nprefix = ''", "invalid value '' for 'cluster.prefix' in /c.toml: must be non-empty, without whitespace, '*' or '>'");
    check_toml_err("[cluster]\nnode_timeout = 4", "invalid value 4 for 'cluster.node_timeout' in /c.toml: must be more than twice heartbeat_interval (2 s), or one lost heartbeat would count a live node as dead");
    check_toml_err(
        "[cluster]\nheartbeat_interval = 0",
        "invalid value 0 for 'cluster.heartbeat_interval' in /c.toml: must be more than 0 seconds",
    );
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
    let with = |extra: &[(&'static str, &'static str)]| driver(&[base.as_slice(), extra].concat());
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
        "invalid value true for SOKETI_ADAPTER_REDIS_CLUSTER_MODE: Redis Cluster needs its nodes: set database.redis.clusterNodes (SOKETI_DB_REDIS_CLUSTER_NODES), e.g. [{\"host\": \"10.0.0.1\", \"port\": 6379}]",
    );
    let nodes = r#"[{"host":"10.0.0.1","port":7000},"10.0.0.2:7001"]"#;
    check_env(
        &[
            base[0],
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_CLUSTER_NODES", nodes),
        ],
        "redis_cluster_nodes = [\"10.0.0.1:7000\", \"10.0.0.2:7001\"] # SOKETI_DB_REDIS_CLUSTER_NODES",
    );
    // Without clusterMode, Soketi does not use clusterNodes, and neither does sockwave.
    let (config, _) = testing::load(
        "",
        &[base[0], ("SOKETI_DB_REDIS_CLUSTER_NODES", nodes)],
        &[],
    )
    .unwrap();
    assert!(config.server.cluster.redis_cluster_nodes.is_empty());
    check_env_err(
        &[
            base[0],
            ("SOKETI_DB_REDIS_CLUSTER_NODES", "[{\"host\":\"a\"}]"),
        ],
        "invalid value [{\"host\":\"a\"}] for SOKETI_DB_REDIS_CLUSTER_NODES: each Redis Cluster node needs a host and a port",
    );
    check_env(
        &[
            base[0],
            (
                "SOKETI_DB_REDIS_SENTINELS",
                r#"[{"host":"s","port":26379},{"host":"t","port":"26380"}]"#,
            ),
        ],
        "redis_sentinels = [\"s:26379\", \"t:26380\"] # SOKETI_DB_REDIS_SENTINELS",
    );
    check_env(
        &[base[0], ("SOKETI_DB_REDIS_INSTANCE_NAME", "cache-master")],
        "redis_sentinel_master = \"cache-master\" # SOKETI_DB_REDIS_INSTANCE_NAME",
    );
    check_env_err(
        &[base[0], ("SOKETI_DB_REDIS_SENTINELS", r#"[{"host":"s"}]"#)],
        "invalid value [{\"host\":\"s\"}] for SOKETI_DB_REDIS_SENTINELS: each sentinel needs a host and a port",
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
    let with = |extra: &[(&'static str, &'static str)]| driver(&[base.as_slice(), extra].concat());
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
    check_json(
        r#"{"adapter.driver": "redis", "database.redis": {"host": "r.example", "tls": {}}}"#,
        "redis_url = \"rediss://r.example:6379/0\" # 'database.redis.tls' in /s.json",
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
        "invalid value true for 'adapter.redis.clusterMode' in /s.json: Redis Cluster needs its nodes: set database.redis.clusterNodes (SOKETI_DB_REDIS_CLUSTER_NODES), e.g. [{\"host\": \"10.0.0.1\", \"port\": 6379}]",
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

#[test]
fn redis_cluster_nodes() {
    check_toml(
        "[cluster]\ndriver = 'redis'\nredis_cluster_nodes = ['a:7000', 'b:7001']",
        "redis_cluster_nodes = [\"a:7000\", \"b:7001\"] # 'cluster.redis_cluster_nodes' in /c.toml",
    );
    check_env(
        &[
            ("SOCKWAVE_CLUSTER_DRIVER", "redis"),
            ("SOCKWAVE_CLUSTER_REDIS_CLUSTER_NODES", "a:7000,b:7001"),
        ],
        "redis_cluster_nodes = [\"a:7000\", \"b:7001\"] # SOCKWAVE_CLUSTER_REDIS_CLUSTER_NODES",
    );
    check_toml_err(
        "[cluster]\ndriver = 'redis'\nredis_cluster_nodes = ['a']",
        "invalid value 'a' for 'cluster.redis_cluster_nodes' in /c.toml: expected host:port for each Redis Cluster node",
    );
    check_toml_err(
        "[cluster]\ndriver = 'redis'\nredis_url = 'redis://r:6379/3'\nredis_cluster_nodes = ['a:7000']",
        "invalid value 'a:7000' for 'cluster.redis_cluster_nodes' in /c.toml: Redis Cluster has only database 0, but redis_url selects database 3",
    );
    check_toml_err(
        "[cluster]\ndriver = 'redis'\nredis_cluster_nodes = ['a:7000']\nredis_sentinels = ['s:26379']",
        "invalid value 's:26379' for 'cluster.redis_sentinels' in /c.toml: Redis Cluster and Redis Sentinel exclude each other: keep redis_cluster_nodes for a Redis Cluster, or redis_sentinels for a master the sentinels name",
    );
    // sockwave's own list wins over Soketi's pair.
    let (config, _) = testing::load(
        "--config /c.toml",
        &[
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_CLUSTER_NODES", "x:1"),
        ],
        &[(
            TOML,
            "[cluster]\ndriver = 'redis'\nredis_cluster_nodes = ['a:7000']",
        )],
    )
    .unwrap();
    assert_eq!(config.server.cluster.redis_cluster_nodes, ["a:7000"]);
    // With another engine the nodes are not used.
    check_toml(
        "[cluster]\ndriver = 'local'\nredis_cluster_nodes = ['a:7000']",
        "driver = \"local\"",
    );
}
