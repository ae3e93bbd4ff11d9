//! The `sockwave doctor` binary: what it prints and its exit codes.

use std::process::Command;

use crate::support::fixture;

fn doctor(args: &[&str]) -> (i32, String, String) {
    // A clean environment: variables of the shell running the tests must not add warnings.
    let output = Command::new(env!("CARGO_BIN_EXE_sockwave"))
        .env_clear()
        .arg("doctor")
        .args(args)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap(), stdout, stderr)
}

#[test]
fn prints_a_line_per_check_a_fix_under_failures_and_exits_1() {
    let env = fixture("duplicate-driver.env");
    let (code, stdout, _) = doctor(&["--offline", "--env", env.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with("✔ .env syntax — every line parses (23 assignments)\n"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "✘ duplicate BROADCAST_DRIVER — BROADCAST_DRIVER is set on lines 9 (pusher) and 29 (log); Laravel and Vite keep the last one: log (line 29)\n    fix: keep one BROADCAST_DRIVER line"
    ), "{stdout}");
    assert!(
        stdout.ends_with("summary: 9 passed, 2 failed, 0 warnings, 0 not checked\n"),
        "{stdout}"
    );
}

#[test]
fn exits_0_when_nothing_fails() {
    let env = fixture("good.env");
    let (code, stdout, _) = doctor(&["--offline", "--env", env.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn exits_2_when_it_cannot_run() {
    let (code, _, stderr) = doctor(&["--env", "/nonexistent/.env"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: cannot read /nonexistent/.env: "),
        "{stderr}"
    );
    let env = fixture("good.env");
    let (code, _, stderr) = doctor(&["--env", env.to_str().unwrap(), "--url", "127.0.0.1:6001"]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: invalid --url: '127.0.0.1:6001' is not a URL like http://127.0.0.1:6001 or https://ws.example.com\n");
}
