//! A bounded fuzz smoke run that needs neither nightly nor libFuzzer: every fuzz target's
//! function (`fuzz/src/targets.rs`, the same code `cargo fuzz run` drives) runs over its whole
//! seed corpus, every saved crash input in `fuzz/regressions/<target>/`, and then a few
//! thousand inputs from a small mutator, within a time budget per target.
//!
//! `SOCKWAVE_FUZZ_SMOKE_MS` sets the budget per target (default 600 ms); the long runs are
//! `cargo fuzz run` (see `fuzz/README.md`).

#![allow(unreachable_pub, missing_docs)]

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mutated inputs per target at most; the time budget usually ends the run first.
const MAX_MUTATIONS: usize = 20_000;

/// Fragments worth splicing in: JSON syntax, escapes, numbers at the edges of their types,
/// and the placeholders the targets replace with valid signatures.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "\"sign\"",
    "presence-",
    "private-",
    "private-encrypted-",
    "cache-",
    "#server-to-user-",
    "client-",
    "pusher:",
    "\n",
    "=",
    "&",
    "%",
    "%ff",
    "auth_signature=sign",
    "body_md5=sign",
    "auth_timestamp=now",
    "\"channel_data\":",
    "\"user_id\":",
    "\"watchlist\":",
    "ttl_secs",
    "[[apps]]\n",
    "[server]\n",
    "unlimited",
    "\u{1F600}",
    "\u{FFFD}",
];

/// xorshift64*: deterministic, so a failure reproduces from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            2 => input.insert(at, rng.next() as u8),
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                input.splice(at..at, token.iter().copied());
            }
            4 if !input.is_empty() => {
                // Repeat a slice: long names, deep nesting, many frames.
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(32)).min(input.len());
                let chunk = input[start..end].repeat(1 + rng.below(64));
                input.splice(at..at, chunk);
            }
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let digits = (rng.next() % 100_000).to_string();
                input.splice(at..at, digits.bytes());
            }
        }
    }
    input.truncate(64 * 1024);
}

fn read_inputs(folder: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter_map(|path| std::fs::read(&path).ok().map(|data| (path, data)))
        .collect();
    inputs.sort();
    inputs
}

fn budget() -> Duration {
    let ms = std::env::var("SOCKWAVE_FUZZ_SMOKE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(600);
    Duration::from_millis(ms)
}

fn smoke(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = read_inputs(&root.join("corpus").join(name));
    assert!(!seeds.is_empty(), "no seed corpus for {name}");
    let regressions = read_inputs(&root.join("regressions").join(name));
    for (path, data) in seeds.iter().chain(&regressions) {
        eprintln!("{name}: {}", path.display());
        target(data);
    }
    let corpus: Vec<Vec<u8>> = seeds.into_iter().map(|(_, data)| data).collect();
    let seed = 0x5eed_0000
        ^ name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + budget();
    let mut n_run = 0;
    while n_run < MAX_MUTATIONS && Instant::now() < deadline {
        let mut input = corpus[rng.below(corpus.len())].clone();
        mutate(&mut rng, &corpus, &mut input);
        let result = std::panic::catch_unwind(|| target(&input));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let saved = std::env::temp_dir().join(format!("sockwave-fuzz-{name}-{n_run}"));
            let _ = std::fs::write(&saved, &input);
            std::panic::resume_unwind(Box::new(format!(
                "{name} failed on mutated input {n_run} (saved to {}; copy it to fuzz/regressions/{name}/): {message}",
                saved.display()
            )));
        }
        n_run += 1;
    }
    eprintln!("{name}: {n_run} mutated inputs");
}

#[test]
fn client_message() {
    smoke("client_message", targets::client_message);
}

#[test]
fn channel_name() {
    smoke("channel_name", targets::channel_name);
}

#[test]
fn api_request() {
    smoke("api_request", targets::api_request);
}

#[test]
fn config_toml() {
    smoke("config_toml", targets::config_toml);
}

#[test]
fn config_soketi_json() {
    smoke("config_soketi_json", targets::config_soketi_json);
}

#[test]
fn node_message() {
    smoke("node_message", targets::node_message);
}

#[test]
fn websocket_decode() {
    smoke("websocket_decode", targets::websocket_decode);
}
