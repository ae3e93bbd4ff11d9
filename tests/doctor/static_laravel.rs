//! Laravel-side fixtures: syntax, duplicates, the broadcast connection, credentials. Each
//! test asserts the exact diagnosis and fix.

use sockwave_doctor::check::Status::{Fail, Pass, Warn};

use crate::support::{expect, offline, with_status};

const CLEAR: &str = "then run \"php artisan config:clear\" and \"php artisan queue:restart\" so running workers stop using the old value";

#[tokio::test]
async fn a_correct_setup_passes_every_static_check() {
    let report = offline("good.env").await;
    assert_eq!(
        with_status(&report, Pass).len(),
        report.checks.len(),
        "{}",
        report.render()
    );
    assert!(report.passed());
}

#[tokio::test]
async fn a_second_broadcast_driver_line_overrides_the_first() {
    let report = offline("duplicate-driver.env").await;
    expect(
        &report,
        "duplicate BROADCAST_DRIVER",
        Fail,
        "BROADCAST_DRIVER is set on lines 9 (pusher) and 29 (log); Laravel and Vite keep the last one: log (line 29)",
        Some("keep one BROADCAST_DRIVER line with the value you mean and delete the others (lines 9 and 29)"),
    );
    expect(
        &report,
        "broadcast connection",
        Fail,
        "BROADCAST_DRIVER=log (line 29): Laravel writes every broadcast to storage/logs/laravel.log and never sends it to the server",
        Some(&format!("set BROADCAST_DRIVER=pusher (or reverb for the REVERB_* variables), {CLEAR}")),
    );
    assert_eq!(
        with_status(&report, Fail),
        ["duplicate BROADCAST_DRIVER", "broadcast connection"]
    );
}

#[tokio::test]
async fn log_and_null_connections_never_reach_the_server() {
    let fix =
        format!("set BROADCAST_CONNECTION=pusher (or reverb for the REVERB_* variables), {CLEAR}");
    let report = offline("log-connection.env").await;
    expect(&report, "broadcast connection", Fail, "BROADCAST_CONNECTION=log (line 2): Laravel writes every broadcast to storage/logs/laravel.log and never sends it to the server", Some(&fix));
    assert_eq!(with_status(&report, Fail), ["broadcast connection"]);
    let report = offline("null-connection.env").await;
    expect(
        &report,
        "broadcast connection",
        Fail,
        "BROADCAST_CONNECTION=null (line 2): Laravel discards every broadcast",
        Some(&fix),
    );
}

#[tokio::test]
async fn no_broadcast_variable_means_the_null_default() {
    let report = offline("no-connection.env").await;
    expect(
        &report,
        "broadcast connection",
        Fail,
        "neither BROADCAST_CONNECTION (Laravel 11+) nor BROADCAST_DRIVER (Laravel 10 and older) is set: Laravel falls back to its default connection, null (broadcasts discarded)",
        Some("add BROADCAST_CONNECTION=pusher (Laravel 11+) or BROADCAST_DRIVER=pusher (Laravel 10 and older)"),
    );
}

#[tokio::test]
async fn both_broadcast_variables_disagreeing_without_a_known_version() {
    let report = offline("both-broadcast-vars.env").await;
    expect(
        &report,
        "broadcast connection",
        Fail,
        "BROADCAST_CONNECTION=log (line 2) and BROADCAST_DRIVER=pusher (line 3) disagree: Laravel 11+ reads BROADCAST_CONNECTION, Laravel 10 and older read BROADCAST_DRIVER",
        Some(&format!("set both to pusher, or keep only the one your config/broadcasting.php reads in 'default', {CLEAR}")),
    );
}

#[tokio::test]
async fn config_broadcasting_php_decides_which_variable_is_read() {
    let report = offline("laravel11-app/.env").await;
    expect(
        &report,
        "broadcast connection",
        Fail,
        "BROADCAST_CONNECTION=null (line 3), read via config/broadcasting.php; BROADCAST_DRIVER=pusher (line 2) is ignored by this app: Laravel discards every broadcast",
        Some(&format!("set BROADCAST_CONNECTION=pusher (or reverb for the REVERB_* variables), {CLEAR}")),
    );
    expect(
        &report,
        "config cache",
        Warn,
        "bootstrap/cache/config.php exists: Laravel reads the cached configuration and ignores .env until it is rebuilt",
        Some("after every .env change run \"php artisan config:cache\" again (or \"php artisan config:clear\")"),
    );
}

#[tokio::test]
async fn composer_lock_tells_laravel_10_reads_broadcast_driver() {
    let report = offline("laravel10-app/.env").await;
    expect(
        &report,
        "broadcast connection",
        Pass,
        "BROADCAST_DRIVER=pusher (line 2), read via composer.lock (laravel/framework v10.48.4); BROADCAST_CONNECTION=log (line 3) is ignored by this app: Laravel publishes with the Pusher protocol using PUSHER_*",
        None,
    );
    assert!(report.passed(), "{}", report.render());
}

#[tokio::test]
async fn a_line_laravel_cannot_parse() {
    let report = offline("syntax-error.env").await;
    expect(
        &report,
        ".env syntax",
        Fail,
        "line 2: the value of APP_NAME contains a space but is not quoted",
        Some("quote values with spaces, close every quote and use only letters, digits, '_' and '.' in names: Laravel stops with \"Failed to parse dotenv file\" on such a line"),
    );
}

#[tokio::test]
async fn missing_credentials_are_named() {
    let report = offline("missing-secret.env").await;
    expect(
        &report,
        "server credentials",
        Fail,
        "PUSHER_APP_SECRET is not set",
        Some("set PUSHER_APP_SECRET from the app configured on the server: id, key and secret of the same app (\"sockwave config check\" prints sockwave's, secret masked)"),
    );
}

#[tokio::test]
async fn a_reference_to_a_later_line_stays_literal_for_laravel() {
    let report = offline("backend-key-later.env").await;
    expect(
        &report,
        "server credentials",
        Fail,
        "PUSHER_APP_KEY (line 5) refers to ${SOCKWAVE_APP_KEY}, which is not defined above it: Laravel uses the literal text \"${SOCKWAVE_APP_KEY}\"",
        Some("define SOCKWAVE_APP_KEY above line 5, or write the value itself"),
    );
    // Vite resolves the same reference, so the two sides now disagree on the key.
    assert_eq!(report.find("browser key").unwrap().status, Fail);
}
