#![allow(unreachable_pub)]
//! Tests of `sockwave doctor`: static diagnoses of fixture `.env` files, live diagnoses
//! against an in-process server on `127.0.0.1:0`, and the binary's output and exit codes.

mod support;

mod cli;
mod live;
mod static_addresses;
mod static_laravel;
mod tls;
