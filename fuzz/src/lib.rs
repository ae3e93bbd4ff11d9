//! The fuzz targets' bodies, kept apart from libFuzzer so the same functions run in two
//! places: under `cargo fuzz run` (the binaries in `fuzz_targets/`) and in the server's
//! `cargo test` smoke run (`tests/fuzz_smoke.rs` includes `targets.rs` by path), which needs
//! neither nightly nor libFuzzer.

pub mod targets;
