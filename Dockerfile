# sockwave as a container: compile with the official Rust image, ship the binary alone on
# Google's distroless C runtime (glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager), as the `nonroot` user. docs/docker.md shows how this was built and run; the
# container tests (scripts/container-tests) build it from a clean clone.
#
#   docker build -t sockwave .
#   docker run --rm -p 6001:6001 sockwave

FROM rust:1-slim-bookworm AS build
# jemalloc (the binary's allocator) is built from source by its -sys crate, whose build
# script runs `make`: the official slim image has gcc and libc6-dev but not make.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# No debug info in the shipped binary (the release profile keeps line tables for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=true

# Dependencies first, against empty crates: this layer is rebuilt only when a manifest or
# the lock file changes, so a change under src/ recompiles sockwave alone.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates/sockwave-protocol/Cargo.toml crates/sockwave-protocol/
COPY crates/sockwave-doctor/Cargo.toml crates/sockwave-doctor/
COPY bench/Cargo.toml bench/
RUN mkdir -p src crates/sockwave-protocol/src crates/sockwave-doctor/src bench/src \
 && echo 'fn main() {}' > src/main.rs && cp src/main.rs bench/src/main.rs \
 && touch src/lib.rs crates/sockwave-protocol/src/lib.rs crates/sockwave-doctor/src/lib.rs \
 && cargo build --release --locked --bin sockwave \
 && rm -rf src crates/*/src bench/src

# The sources. COPY keeps the files' own modification times, which can be older than the
# placeholder build above; touching each crate root makes cargo rebuild all three.
COPY crates ./crates
COPY src ./src
RUN mkdir -p bench/src && echo 'fn main() {}' > bench/src/main.rs \
 && touch src/main.rs src/lib.rs crates/sockwave-protocol/src/lib.rs crates/sockwave-doctor/src/lib.rs \
 && cargo build --release --locked --bin sockwave \
 && ./target/release/sockwave --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sockwave /usr/local/bin/sockwave
# uid 65532 (`nonroot`): never root, even if the runtime ignores USER of the base image.
USER 65532:65532
# 6001: WebSocket + HTTP API (+ /up, /ready); 9601: Prometheus /metrics when enabled.
EXPOSE 6001 9601
# Configured by environment variables only (SOCKWAVE_*, SOKETI_*, PUSHER_APP_*; see
# docs/configuration.md). The defaults already listen on 0.0.0.0:6001; only the metrics
# listener, which binds loopback outside a container, is opened to the container's
# interfaces here (it is off until SOCKWAVE_METRICS_ENABLED=true; publish 9601 only to the
# network Prometheus scrapes from). Nothing else is set: a SOCKWAVE_* variable outranks
# Soketi's names, and SOKETI_PORT must keep working for a Soketi user's container.
# Logs go to stdout without colour codes (stdout is not a terminal); set
# SOCKWAVE_LOG_FORMAT=json for one JSON object per line.
ENV SOCKWAVE_METRICS_HOST=0.0.0.0
# `sockwave health` reads the same environment and asks GET /ready on the configured port:
# no curl needed, and 503 while draining takes the container out of rotation at once.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/sockwave", "health"]
# The binary is PID 1: SIGTERM and SIGINT close every socket with 4200 and exit 0 within
# shutdown_grace_period (3 s by default; keep Docker's stop timeout, 10 s, above it).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sockwave"]
