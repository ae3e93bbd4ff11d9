//! Finishing the SQL app manager settings: the URL from Soketi's connection parts when none
//! was given, the table of the chosen driver, and the checks that make a bad value stop the
//! server at startup rather than fail on the first connection.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::draft::{Draft, Origin, SqlParts};
use super::error::ConfigError;
use super::AppManager;

/// Characters escaped in the user and password of a URL.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Soketi's connection defaults (its `src/server.ts`): host, port, user, password, database.
const MYSQL_DEFAULTS: (&str, u16, &str, &str, &str) =
    ("127.0.0.1", 3306, "root", "password", "main");
const POSTGRES_DEFAULTS: (&str, u16, &str, &str, &str) =
    ("127.0.0.1", 5432, "postgres", "password", "main");

pub(crate) fn finish(draft: &mut Draft) -> Result<(), ConfigError> {
    let manager = draft.config.server.app_manager;
    let (parts, defaults, schemes) = match manager {
        AppManager::Static => return Ok(()),
        AppManager::Mysql => (
            draft.sql.mysql.clone(),
            MYSQL_DEFAULTS,
            &["mysql", "mariadb"][..],
        ),
        AppManager::Postgres => (
            draft.sql.postgres.clone(),
            POSTGRES_DEFAULTS,
            &["postgres", "postgresql"][..],
        ),
    };
    if let Some((table, origin)) = parts.table.clone() {
        if matches!(draft.origin("server.app_manager_table"), Origin::Default) {
            draft.config.server.app_manager_table = table;
            draft
                .origins
                .insert("server.app_manager_table".into(), origin);
        }
    }
    let url_given = !draft.config.server.app_manager_url.is_empty();
    if !url_given {
        let from_soketi = draft.sql.soketi_driver || parts.origin.is_some();
        if !from_soketi {
            return Err(ConfigError::Invalid {
                origin: draft.origin("server.app_manager"),
                value: format!("{:?}", scheme_word(manager)),
                reason: "needs app_manager_url (SOCKWAVE_APP_MANAGER_URL), e.g. mysql://user:password@127.0.0.1:3306/database".into(),
            });
        }
        let origin = parts
            .origin
            .clone()
            .unwrap_or_else(|| draft.origin("server.app_manager"));
        draft.config.server.app_manager_url = compose(scheme_word(manager), &parts, defaults);
        draft
            .origins
            .insert("server.app_manager_url".into(), origin);
    }
    let url = &draft.config.server.app_manager_url;
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !scheme.is_some_and(|scheme| schemes.contains(&scheme)) {
        return Err(ConfigError::Invalid {
            origin: draft.origin("server.app_manager_url"),
            value: format!("'{}'", super::cluster::mask_url(url, true)),
            reason: format!(
                "expected a {}:// URL for app_manager = {:?}",
                schemes[0],
                scheme_word(manager)
            ),
        });
    }
    let table = &draft.config.server.app_manager_table;
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !part.starts_with(|c: char| c.is_ascii_digit())
    };
    let parts_ok = match table.split_once('.') {
        Some((schema, name)) => part_ok(schema) && part_ok(name),
        None => part_ok(table),
    };
    if !parts_ok {
        return Err(ConfigError::Invalid {
            origin: draft.origin("server.app_manager_table"),
            value: format!("'{table}'"),
            reason: "expected a table name: letters, digits and '_', optionally schema.table"
                .into(),
        });
    }
    Ok(())
}

fn scheme_word(manager: AppManager) -> &'static str {
    match manager {
        AppManager::Static => "static",
        AppManager::Mysql => "mysql",
        AppManager::Postgres => "postgres",
    }
}

fn compose(scheme: &str, parts: &SqlParts, defaults: (&str, u16, &str, &str, &str)) -> String {
    let (host, port, user, password, database) = defaults;
    let encode = |text: &str| utf8_percent_encode(text, USERINFO).to_string();
    let user = encode(parts.user.as_deref().unwrap_or(user));
    let password = encode(parts.password.as_deref().unwrap_or(password));
    let host = parts.host.as_deref().unwrap_or(host);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = parts.port.unwrap_or(port);
    let database = encode(parts.database.as_deref().unwrap_or(database));
    format!("{scheme}://{user}:{password}@{host}:{port}/{database}")
}

#[cfg(test)]
mod tests {
    use crate::config::load::testing;
    use crate::config::AppManager;

    fn url_of(env: &[(&str, &str)], files: &[(&str, &str)]) -> String {
        let args = if files.is_empty() {
            ""
        } else {
            "--config /s.json"
        };
        let (config, _) = testing::load(args, env, files).unwrap_or_else(|err| panic!("{err}"));
        config.server.app_manager_url
    }

    #[test]
    fn soketi_parts_make_the_url_with_soketis_defaults() {
        let env = [("SOKETI_APP_MANAGER_DRIVER", "mysql")];
        assert_eq!(
            url_of(&env, &[]),
            "mysql://root:password@127.0.0.1:3306/main"
        );
        let env = [
            ("SOKETI_APP_MANAGER_DRIVER", "postgres"),
            ("SOKETI_DB_POSTGRES_HOST", "db.internal"),
            ("SOKETI_DB_POSTGRES_PASSWORD", "p@ss:w/rd"),
            // The other driver's parts do not count.
            ("SOKETI_DB_MYSQL_HOST", "elsewhere"),
        ];
        assert_eq!(
            url_of(&env, &[]),
            "postgres://postgres:p%40ss%3Aw%2Frd@db.internal:5432/main"
        );
        // An empty password in the file is a password (MariaDB's root often has none).
        let file = r#"{"appManager": {"driver": "mysql", "mysql": {"table": "soketi_apps"}},
                       "database": {"mysql": {"password": "", "port": 3307, "database": "panel"}}}"#;
        assert_eq!(
            url_of(&[], &[("/s.json", file)]),
            "mysql://root:@127.0.0.1:3307/panel"
        );
        let (config, _) = testing::load("--config /s.json", &[], &[("/s.json", file)]).unwrap();
        assert_eq!(config.server.app_manager, AppManager::Mysql);
        assert_eq!(config.server.app_manager_table, "soketi_apps");
        // With a SQL app manager the configuration's apps are not served.
        assert!(config.apps.is_empty());
    }

    #[test]
    fn sockwave_names_take_a_url() {
        let env = [
            ("SOCKWAVE_APP_MANAGER", "postgres"),
            (
                "SOCKWAVE_APP_MANAGER_URL",
                "postgresql://u:p@h:5432/d?sslmode=require",
            ),
            ("SOCKWAVE_APP_MANAGER_CACHE_TTL", "30"),
        ];
        let (config, _) = testing::load("", &env, &[]).unwrap();
        assert_eq!(
            config.server.app_manager_url,
            "postgresql://u:p@h:5432/d?sslmode=require"
        );
        assert_eq!(config.server.app_manager_cache_ttl.as_secs(), 30);
        testing::check_err(
            "",
            &[("SOCKWAVE_APP_MANAGER", "mysql")],
            &[],
            "invalid value \"mysql\" for SOCKWAVE_APP_MANAGER: needs app_manager_url (SOCKWAVE_APP_MANAGER_URL), e.g. mysql://user:password@127.0.0.1:3306/database",
        );
        testing::check_err(
            "",
            &[("SOCKWAVE_APP_MANAGER", "mysql"), ("SOCKWAVE_APP_MANAGER_URL", "postgres://h/d")],
            &[],
            "invalid value 'postgres://h/d' for SOCKWAVE_APP_MANAGER_URL: expected a mysql:// URL for app_manager = \"mysql\"",
        );
    }

    #[test]
    fn bad_tables_and_dynamodb_are_refused() {
        testing::check_err(
            "",
            &[("SOKETI_APP_MANAGER_DRIVER", "mysql"), ("SOCKWAVE_APP_MANAGER_TABLE", "apps; DROP TABLE x")],
            &[],
            "invalid value 'apps; DROP TABLE x' for SOCKWAVE_APP_MANAGER_TABLE: expected a table name: letters, digits and '_', optionally schema.table",
        );
        testing::check_err(
            "",
            &[("SOKETI_APP_MANAGER_DRIVER", "dynamodb")],
            &[],
            "invalid value \"dynamodb\" for SOKETI_APP_MANAGER_DRIVER: DynamoDB is not supported (there is no DynamoDB to test it against); keep the apps in MySQL, PostgreSQL or the configuration",
        );
        // Soketi's cache TTL of -1 (forever, its default) keeps sockwave's own TTL.
        let env = [("SOKETI_APP_MANAGER_CACHE_TTL", "-1")];
        let (config, _) = testing::load("", &env, &[]).unwrap();
        assert_eq!(config.server.app_manager_cache_ttl.as_secs(), 5);
    }
}
