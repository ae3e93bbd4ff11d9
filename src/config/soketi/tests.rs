//! Soketi's JSON file and variables, read as Soketi reads them.

use super::*;
use crate::config::load::testing;

const PATH: &str = "/s.json";
const APP: &str = r#"{"id": "a", "key": "k", "secret": "s"}"#;

fn check(json: &str, expected: &str) {
    testing::check("--config /s.json", &[], &[(PATH, json)], expected);
}

fn check_err(json: &str, expected: &str) {
    testing::check_err("--config /s.json", &[], &[(PATH, json)], expected);
}

fn with_apps(apps: &str) -> String {
    format!(r#"{{"appManager.array.apps": [{apps}]}}"#)
}

#[test]
fn nested_and_dotted_keys_are_equivalent() {
    check(
        r#"{"eventLimits": {"maxBatchSize": 5}}"#,
        "max_batch_size = 5 # 'eventLimits.maxBatchSize' in /s.json",
    );
    check(r#"{"eventLimits.maxBatchSize": 5}"#, "max_batch_size = 5");
    check(
        r#"{"appManager": {"array": {"apps": [{"id": "n", "key": "k", "secret": "s"}]}}}"#,
        "id = \"n\"",
    );
    check(
        r#"{"appManager.array.apps.0.key": "dotted"}"#,
        "key = \"dotted\" # 'appManager.array.apps.0.key' in /s.json",
    );
    check(
        r#"{"appManager.array": {"apps.0": {"secret": "x"}}}"#,
        "secret = \"****\"",
    );
}

#[test]
fn server_options() {
    check(
        r#"{"port": 7000, "host": "127.0.0.1", "debug": true}"#,
        "debug = true",
    );
    check(r#"{"port": "7000"}"#, "port = 7000");
    check(
        r#"{"shutdownGracePeriod": 2500}"#,
        "shutdown_grace_period = 2.5 # 'shutdownGracePeriod' in /s.json",
    );
    check(
        r#"{"shutdownGracePeriod": 4000}"#,
        "shutdown_grace_period = 4",
    );
    check(r#"{"pathPrefix": "/socket/"}"#, "path_prefix = \"/socket\"");
    check(
        r#"{"httpApi.requestLimitInMb": 1}"#,
        "max_request_body_kb = 1024",
    );
    check(
        r#"{"cors": {"origin": ["https://a.example"]}}"#,
        "cors_allowed_origins = [\"https://a.example\"]",
    );
}

#[test]
fn apps_and_limits() {
    check(&with_apps(APP), "enable_client_messages = false");
    check(&with_apps(APP), "max_client_events_per_second = 10");
    check(
        &with_apps(r#"{"id": 123, "key": "k", "secret": "s"}"#),
        "id = \"123\"",
    );
    check(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxConnections": -1}"#),
        "max_connections = \"unlimited\"",
    );
    check(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxConnections": "25"}"#),
        "max_connections = 25",
    );
    check(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxClientEventsPerSecond": -1}"#),
        "max_client_events_per_second = \"unlimited\"",
    );
    check(
        &with_apps(
            r#"{"id": "a", "key": "k", "secret": "s", "maxEventPayloadInKb": 0.5, "webhooks": "[]"}"#,
        ),
        "max_event_payload_kb = 0.5",
    );
    check(
        &with_apps(
            r#"{"id": "a", "key": "k", "secret": "s", "maxPresenceMembersPerChannel": null}"#,
        ),
        "max_presence_members = 100",
    );
}

#[test]
fn webhooks_and_cache_ttl() {
    let hooks = r#"[{"url": "http://127.0.0.1:9000/hook", "event_types": ["channel_occupied", "channel_vacated"],
        "filter": {"channel_name_starts_with": "beta-", "channel_name_ends_with": ""},
        "headers": {"Authorization": "Bearer 0123456789"}}]"#;
    let json = with_apps(&format!(
        r#"{{"id": "a", "key": "k", "secret": "s", "webhooks": {hooks}}}"#
    ));
    check(&json, "url = \"http://127.0.0.1:9000/hook\"");
    check(&json, "filter = { channel_name_starts_with = \"beta-\" }");
    check(&json, "headers = { Authorization = \"Bear****\" }");
    check(
        &json,
        "# webhooks from 'appManager.array.apps.0.webhooks' in /s.json",
    );
    let (config, _) = testing::load("--config /s.json", &[], &[(PATH, &json)]).unwrap();
    let target = &config.apps[0].webhooks[0];
    assert_eq!(
        target.headers,
        [("Authorization".to_string(), "Bearer 0123456789".to_string())]
    );
    assert_eq!(target.filter.ends_with, None);
    check(
        r#"{"appManager.array.apps.0.webhooks": "[{\"url\": \"https://h.example\", \"event_types\": [\"cache_miss\"]}]"}"#,
        "event_types = [\"cache_miss\"]",
    );
    check(
        r#"{"channelLimits": {"cacheTtl": 3600}}"#,
        "cache_ttl = 3600 # 'channelLimits.cacheTtl' in /s.json",
    );
    check(
        r#"{"webhooks": {"batching": {"enabled": true, "duration": 100}}}"#,
        "webhook_batch_window_ms = 100 # 'webhooks.batching.duration' in /s.json",
    );
    check_err(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "not a url", "event_types": ["client_event"]}]}"#),
        "invalid value 'not a url' for 'appManager.array.apps.0.webhooks.0.url' in /s.json: expected an absolute http:// or https:// URL",
    );
    check_err(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "http://h"}]}"#),
        "missing 'appManager.array.apps.0.webhooks.0.event_types' in /s.json",
    );
    check_err(
        r#"{"webhooks.batching.enabled": "maybe"}"#,
        "invalid value \"maybe\" for 'webhooks.batching.enabled' in /s.json: expected true or false",
    );
}

#[test]
fn server_wide_limits_are_defaults_for_apps() {
    let apps = r#"[{"id": "a", "key": "k", "secret": "s", "maxPresenceMembersPerChannel": 9},
                   {"id": "b", "key": "l", "secret": "t"}]"#;
    let json =
        format!(r#"{{"presence.maxMembersPerChannel": 7, "appManager.array.apps": {apps}}}"#);
    let (config, _) = testing::load("--config /s.json", &[], &[(PATH, &json)]).unwrap();
    let members: Vec<usize> = config
        .apps
        .iter()
        .map(|app| app.limits.max_presence_members)
        .collect();
    assert_eq!(members, [9, 7]);
}

#[test]
fn matching_values_of_unsupported_features_are_accepted() {
    let json = r#"{"adapter": {"driver": "local", "redis": {"prefix": "x", "redisPubOptions": {"a": 1}}},
        "metrics.enabled": false, "metrics.port": 9700, "mode": "full", "appManager.driver": "array",
        "queue.driver": "sync", "rateLimiter.driver": "local", "cache.driver": "memory",
        "ssl": {"certPath": "", "keyPath": "", "passphrase": "", "caPath": "/ca.pem"},
        "database.redis.host": "redis", "webhooks.batching.enabled": false, "instance.process_id": 1}"#;
    check(json, "port = 6001");
}

#[test]
fn metrics_tls_and_rate_limits() {
    check(
        r#"{"metrics": {"enabled": true, "port": 9700, "prometheus": {"prefix": "soketi_"}}}"#,
        "metrics_prefix = \"soketi_\" # 'metrics.prometheus.prefix' in /s.json",
    );
    check(r#"{"metrics.enabled": true}"#, "metrics_enabled = true");
    check(r#"{"metrics.port": 9700}"#, "metrics_port = 9700");
    check(
        r#"{"ssl": {"certPath": "/c.pem", "keyPath": "/k.pem"}}"#,
        "tls_cert = \"/c.pem\" # 'ssl.certPath' in /s.json",
    );
    check(r#"{"rateLimiter.driver": "redis"}"#, "port = 6001");
    check(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxBackendEventsPerSecond": 100, "maxReadRequestsPerSecond": -1}"#),
        "max_backend_events_per_second = 100 # 'appManager.array.apps.0.maxBackendEventsPerSecond' in /s.json",
    );
    check(
        &with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxReadRequestsPerSecond": 5}"#),
        "max_read_requests_per_second = 5",
    );
}

#[test]
fn unsupported_features_are_refused() {
    check_err(
        r#"{"adapter.driver": "cluster"}"#,
        "invalid value \"cluster\" for 'adapter.driver' in /s.json: Soketi's cluster driver (UDP discovery between processes) is not supported: use \"redis\" or \"nats\"",
    );
    check_err(
        r#"{"metrics": {"driver": "statsd"}}"#,
        "'metrics.driver' in /s.json is not supported yet (sockwave accepts only \"prometheus\")",
    );
    check_err(
        r#"{"ssl.passphrase": "secret"}"#,
        "'ssl.passphrase' in /s.json is not supported yet (sockwave accepts only \"\")",
    );
    check_err(
        r#"{"rateLimiter.driver": "cluster"}"#,
        "'rateLimiter.driver' in /s.json is not supported yet (sockwave accepts only \"local\" or \"redis\")",
    );
    check_err(
        r#"{"userAuthenticationTimeout": 5000}"#,
        "'userAuthenticationTimeout' in /s.json is not supported yet (sockwave accepts only Soketi's default 30000)",
    );
    check_err(
        &with_apps(
            r#"{"id": "a", "key": "k", "secret": "s", "webhooks": [{"event_types": ["client_event"], "lambda_function": "f", "lambda": {"async": true}}]}"#,
        ),
        "'appManager.array.apps.0.webhooks.0.lambda_function' in /s.json is not supported yet",
    );
    check_err(r#"{"httpApi.acceptTraffic.memoryThreshold": 90}"#, "'httpApi.acceptTraffic.memoryThreshold' in /s.json is not supported yet (sockwave accepts only 100 or Soketi's default 85)");
}

#[test]
fn unknown_and_bad_values() {
    check_err(
        r#"{"prot": 1}"#,
        "unknown key 'prot' in /s.json (did you mean 'port'?)",
    );
    check_err(r#"{"eventLimits": {"maxPayloadInKB": 1}}"#, "unknown key 'eventLimits.maxPayloadInKB' in /s.json (did you mean 'eventLimits.maxPayloadInKb'?)");
    check_err(&with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxConection": 1}"#), "unknown key 'appManager.array.apps.0.maxConection' in /s.json (did you mean 'maxConnections'?)");
    check_err(
        &with_apps(r#"{"id": "a", "key": "k"}"#),
        "missing 'appManager.array.apps.0.secret' in /s.json",
    );
    check_err(r#"{"appManager.array.apps.3.id": "x"}"#, "invalid value \"x\" for 'appManager.array.apps.3.id' in /s.json: there is no app number 3 to change (1 defined; set 'appManager.array.apps' to define more)");
    check_err(&with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxConnections": 0}"#), "invalid value 0 for 'appManager.array.apps.0.maxConnections' in /s.json: must be at least 1 (omit it or use \"unlimited\" / -1 for no limit)");
    check_err(&with_apps(r#"{"id": "a", "key": "k", "secret": "s", "maxConnections": -5}"#), "invalid value -5 for 'appManager.array.apps.0.maxConnections' in /s.json: expected a whole number, or \"unlimited\" (-1)");
    check_err(
        r#"{"port": "six"}"#,
        "invalid value 'six' for 'port' in /s.json: expected a port number (0-65535)",
    );
    check_err(
        r#"{"debug": "maybe"}"#,
        "invalid value 'maybe' for 'debug' in /s.json: expected true or false",
    );
    check_err(
        r#"{"appManager.array.apps": []}"#,
        "no apps configured: 'appManager.array.apps' in /s.json is empty",
    );
    check_err("[1]", "invalid Soketi config file /s.json: invalid type: sequence, expected a JSON object of Soketi options at line 1 column 0");
}

#[test]
fn every_soketi_variable_names_a_known_option() {
    let origin = Origin::file(Path::new(PATH), "probe");
    for (var, option) in ENV_OPTIONS {
        let mut draft = Draft::new();
        let result = apply_option(&mut draft, option, &Value::Null, origin.clone());
        assert!(
            !matches!(result, Err(ConfigError::UnknownKey { .. })),
            "{var} -> {option}"
        );
    }
}
