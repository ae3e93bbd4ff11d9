//! A Soketi user's whole configuration at once: Soketi's own defaults load as they are, and
//! every setting sockwave cannot use is reported in one run.

use crate::config::load::testing;

const PATH: &str = "/s.json";

/// Every option of Soketi 1.x's `src/server.ts` at its default value, nested as Soketi's
/// `--config` file takes them.
const SOKETI_DEFAULTS: &str = include_str!("soketi-defaults.json");

#[test]
fn soketi_defaults_spelled_out_load_unchanged() {
    let (config, _) = testing::load("--config /s.json", &[], &[(PATH, SOKETI_DEFAULTS)])
        .unwrap_or_else(|err| panic!("Soketi's defaults must load: {err}"));
    let server = &config.server;
    assert_eq!(server.port, 6001);
    assert_eq!(server.max_request_body_bytes, 100 * 1024 * 1024);
    // The body budget follows the larger limit, so a request of that size can be read.
    assert!(server.request_body_budget_bytes >= server.max_request_body_bytes);
    assert_eq!(server.cors_allowed_origins, vec!["*".to_string()]);
    assert_eq!(config.apps.len(), 1);
    assert_eq!(config.apps[0].max_connections, None);
}

#[test]
fn soketi_defaults_as_environment_variables_load_too() {
    let env = [
        ("SOKETI_HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD", "85"),
        ("SOKETI_USER_AUTHENTICATION_TIMEOUT", "30000"),
        ("SOKETI_APP_MANAGER_DRIVER", "array"),
        ("SOKETI_METRICS_DRIVER", "prometheus"),
        ("SOKETI_HTTP_MAX_REQUEST_SIZE", "100"),
        ("SOKETI_DB_POOLING_ENABLED", "false"),
    ];
    testing::load("", &env, &[]).unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn every_unusable_setting_is_reported_in_one_run() {
    let file = r#"{
        "port": 6001,
        "metrics": {"driver": "statsd"},
        "prot": 1,
        "userAuthenticationTimeout": 5000
    }"#;
    let env = [("SOKETI_SSL_PASS", "secret"), ("SOCKWAVE_PROT", "7")];
    let err = testing::load("--config /s.json", &env, &[(PATH, file)]).unwrap_err();
    let text = err.to_string();
    let expected = [
        "5 settings cannot be used; fix them all (sockwave reads everything before it stops):",
        "  - 'metrics.driver' in /s.json is not supported yet (sockwave accepts only \"prometheus\")",
        "  - unknown key 'prot' in /s.json (did you mean 'port'?)",
        "  - 'userAuthenticationTimeout' in /s.json is not supported yet (sockwave accepts only Soketi's default 30000)",
        "  - SOKETI_SSL_PASS is not supported yet (sockwave accepts only \"\")",
    ];
    let shown: Vec<&str> = text.lines().collect();
    assert_eq!(shown[..4], expected[..4], "{text}");
    assert!(
        shown.iter().any(|line| line.contains("SOKETI_SSL_PASS")),
        "{text}"
    );
    assert!(
        shown.iter().any(|line| line.contains("SOCKWAVE_PROT")),
        "{text}"
    );
}

#[test]
fn one_unusable_setting_keeps_its_own_message() {
    let err = testing::load("", &[("SOCKWAVE_PROT", "7")], &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown environment variable SOCKWAVE_PROT"),
        "{err}"
    );
}

/// `config migrate` writes a sockwave file that loads to the same configuration as the
/// Soketi file it came from.
#[test]
fn a_migrated_file_loads_to_the_same_configuration() {
    use crate::config::{from_text, load, show, FileFormat};
    let example = include_str!("../../../examples/soketi-config.json");
    for soketi in [SOKETI_DEFAULTS, example] {
        let dir = std::env::temp_dir().join(format!("sockwave-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("soketi.json");
        std::fs::write(&path, soketi).unwrap();
        let toml = load::migrate(Some(&path), &Default::default(), false).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let from_soketi = from_text(FileFormat::SoketiJson, soketi).unwrap();
        let from_toml =
            from_text(FileFormat::Toml, &toml).unwrap_or_else(|err| panic!("{err}\n{toml}"));
        let none = Default::default();
        assert_eq!(
            show::render_config(&from_toml, &none),
            show::render_config(&from_soketi, &none),
            "{toml}"
        );
        // Every translated line names where it came from.
        for line in toml
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with('#'))
        {
            let key = line.split(" = ").next().unwrap();
            let in_app_webhook = ["url", "event_types", "filter", "headers"].contains(&key);
            assert!(
                line.contains("  # ") || in_app_webhook,
                "no origin comment: {line}"
            );
        }
    }
}
