# Multi-stage build: compile with the Rust toolchain, ship only the binary on a slim base.
# The build command is the same one used outside Docker: cargo build --release --locked.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin sockwave

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home sockwave
COPY --from=build /src/target/release/sockwave /usr/local/bin/sockwave
USER 10001
# WebSocket + HTTP API, and (once metrics are enabled) Prometheus.
EXPOSE 6001 9601
# Configured entirely by environment variables (SOCKWAVE_*, SOKETI_*, PUSHER_APP_*).
ENV SOCKWAVE_HOST=0.0.0.0
ENTRYPOINT ["/usr/local/bin/sockwave"]
