# Multi-stage build: compile with the Rust toolchain, ship only the binary on a slim base.
# Every step is one that was run outside Docker (no container engine where this was written);
# docs/docker.md lists them: the same build command over the same files, the same binary,
# started the same way with only environment variables.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The workspace manifest names the bench crate, so it is part of the build context.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
COPY bench ./bench
RUN cargo build --release --locked --bin sockwave \
 && strip --strip-debug target/release/sockwave

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 sockwave \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sockwave
COPY --from=build /src/target/release/sockwave /usr/local/bin/sockwave
USER 10001:10001
# 6001: WebSocket + HTTP API (+ /up, /ready); 9601: Prometheus /metrics when enabled.
EXPOSE 6001 9601
# Configured entirely by environment variables (SOCKWAVE_*, SOKETI_*, PUSHER_APP_*; see
# docs/configuration.md). Inside a container both listeners bind every interface; publish
# 9601 only to the network Prometheus scrapes from.
ENV SOCKWAVE_HOST=0.0.0.0 \
    SOCKWAVE_PORT=6001 \
    SOCKWAVE_METRICS_HOST=0.0.0.0 \
    SOCKWAVE_METRICS_PORT=9601
ENTRYPOINT ["/usr/local/bin/sockwave"]
