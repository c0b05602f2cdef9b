# syntax=docker/dockerfile:1
#
# voice-gateway container image.
#
#   docker build -t voice-gateway .
#   docker run -p 8000:8000 -v voicegw-data:/app/data voice-gateway
#
# The working directory is /app, so the relative paths of the shipped config resolve there:
#   /app/config/voice-gateway.toml   read by default (mount your own file or /app/config)
#   /app/data/voice-gateway.db       SQLite database (default DATABASE_URL)
#   /app/data/recordings/            call recordings (gateway.recordings_dir)
#   /app/data/jwt-secret             generated JWT secret, development only
# Environment variables override the file (HOST, PORT, LOG_LEVEL, LOG_FORMAT, ENVIRONMENT,
# DATABASE_URL, JWT_SECRET, VOICE_GATEWAY__<SECTION>__<KEY>); see README.md.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build

WORKDIR /src

# The whole workspace: cargo reads every member's manifest (cdylib and test-plugin crates
# included) even when building one package. .dockerignore keeps target/, .git and data/ out.
COPY . .

# Registry and target directory live in BuildKit cache mounts, so the binary is copied out of
# the mount within the same step.
RUN --mount=type=cache,id=voicegw-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=voicegw-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=voicegw-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p voice-gateway \
    && install -D -m 0755 target/release/voice-gateway /out/voice-gateway

# ---------------------------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

LABEL org.opencontainers.image.title="voice-gateway" \
      org.opencontainers.image.description="One API for outbound AI phone calls across voice vendors" \
      org.opencontainers.image.licenses="Apache-2.0"

# ca-certificates for TLS to the vendors; curl for the health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 voicegw \
    && useradd --system --no-log-init --uid 10001 --gid voicegw \
       --home-dir /app --no-create-home --shell /usr/sbin/nologin voicegw

WORKDIR /app

COPY --from=build /out/voice-gateway /usr/local/bin/voice-gateway
# The default config path is config/voice-gateway.toml relative to the working directory.
# Mount a file over it, or a whole directory on /app/config (plugin paths in the config are
# relative to the config file), or pass --config PATH.
COPY config/voice-gateway.toml /app/config/voice-gateway.toml

# Created and owned by the runtime user before VOLUME, so a new named volume starts out
# writable by uid 10001 (a bind mount must be made writable for uid 10001 on the host).
RUN mkdir -p /app/data/recordings \
    && chown -R 10001:10001 /app/data \
    && chmod 0750 /app/data
# Config and data are volumes: mount your own config directory (or file) on /app/config; keep
# /app/data (SQLite, recordings) on a named volume.
VOLUME ["/app/config", "/app/data"]

ENV HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json

USER 10001:10001

EXPOSE 8000

# Readiness: 200 once the database answers, 503 otherwise. Shell form, so a PORT set at run time
# is used (a port set with VOICE_GATEWAY__SERVER__PORT instead is not seen here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/health/ready" || exit 1

# Other commands run the same way: `docker run ... voice-gateway migrate`, `... user create ...`.
ENTRYPOINT ["voice-gateway"]
CMD ["serve"]
