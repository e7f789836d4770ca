# syntax=docker/dockerfile:1
#
# The LogStream image: logstreamd (the daemon; docker-compose.yml runs it as
# the api and the worker role) and lsctl (the CLI), on Debian 12 slim.
#
#   docker build -t logstream .
#   docker run -p 3000:3000 -v logstream-data:/var/lib/logstream \
#     -e LOGSTREAM_TOKENS=ingest:…,read:…,admin:… logstream
#
# Needs BuildKit (the default builder of Docker 23+ and of `docker compose`)
# for the cache mounts below, which keep cargo's downloads and target
# directory between builds.
#
# DuckDB, the embedded store, is linked the way scripts/fetch-libduckdb sets it
# up for local builds: against DuckDB's official prebuilt libduckdb.so (70 MB,
# x86_64 only), which the npm registry package of DuckDB's Node bindings
# carries. That takes minutes; compiling DuckDB from C++ takes about 45
# (2 cores) and several GB of memory. On other architectures (arm64: Apple
# silicon, Graviton), or for a binary with DuckDB inside, build with
#   docker build --build-arg DUCKDB=bundled -t logstream .
# (the default, auto, does that by itself on a host that is not x86-64)

ARG RUST_VERSION=1
# auto (the default): prebuilt on x86-64, bundled elsewhere (arm64), where
# no prebuilt library is fetched.
ARG DUCKDB=auto

# --- libduckdb.so, downloaded with npm ---------------------------------------
# The repository's own script does the download, so the DuckDB version is
# written in one place (scripts/fetch-libduckdb). It leaves the library at
# /opt/duckdb/libduckdb-<version>/libduckdb.so. With DUCKDB=bundled the
# directory stays empty.
FROM node:22-bookworm-slim AS duckdb
ARG DUCKDB
ARG TARGETARCH
WORKDIR /src
COPY scripts/fetch-libduckdb scripts/
RUN mkdir -p /opt/duckdb \
 && mode="$DUCKDB" \
 && if [ "$mode" = auto ]; then \
      if [ "${TARGETARCH:-amd64}" = amd64 ]; then mode=prebuilt; else mode=bundled; fi; fi \
 && echo "$mode" >/opt/duckdb/mode \
 && if [ "$mode" = prebuilt ]; then LOGSTREAM_CACHE=/opt/duckdb bash scripts/fetch-libduckdb; \
    elif [ "$mode" != bundled ]; then echo "DUCKDB must be auto, prebuilt or bundled, not '$DUCKDB'" >&2; exit 1; fi

# --- the build ----------------------------------------------------------------
# rust:*-bookworm carries what the native dependencies need: gcc/g++, make
# and pkg-config for librdkafka (rdkafka builds its bundled copy with
# ./configure && make) and zlib1g-dev, which rdkafka's libz feature links
# (libz-sys finds the system zlib, so the binary needs libz.so.1 at run time).
# HTTP goes through rustls: no OpenSSL.
FROM rust:${RUST_VERSION}-bookworm AS builder
ARG DUCKDB
WORKDIR /src
COPY --from=duckdb /opt/duckdb /opt/duckdb
COPY . .
# fetch-libduckdb finds the library already in LOGSTREAM_CACHE and only links
# .duckdb/libduckdb.so to it (.cargo/config.toml points DUCKDB_LIB_DIR there).
# logstreamd/build.rs then records the library's real directory,
# /opt/duckdb/libduckdb-<version>, as the binary's rpath: the runtime stage
# puts the library at that same path.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    set -eux; \
    if [ "$(cat /opt/duckdb/mode)" = bundled ]; then features="--features logstreamd/bundled"; \
    else features=""; LOGSTREAM_CACHE=/opt/duckdb bash scripts/fetch-libduckdb; fi; \
    cargo build --release --locked -p logstreamd -p lsctl $features; \
    mkdir -p /out; \
    cp target/release/logstreamd target/release/lsctl /out/

# --- the runtime image ----------------------------------------------------------
FROM debian:bookworm-slim
# libstdc++6 (libduckdb is C++) and zlib1g are in the base image already and
# are named to document the dependency. No ca-certificates: the binaries'
# TLS (rustls) carries its own root certificates (webpki-roots). curl serves
# the health check: it asks the daemon's /api/health over HTTP (an open port
# is not a healthy daemon), and operators get it for
# `docker compose exec api curl …`; it adds about 10 MB to an image that
# carries a 70 MB libduckdb.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl libstdc++6 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/logstream \
      --shell /usr/sbin/nologin logstream \
 && install -d -o logstream -g logstream -m 0750 /var/lib/logstream

COPY --from=duckdb /opt/duckdb /opt/duckdb
COPY --from=builder /out/logstreamd /out/lsctl /usr/local/bin/
# Fails the build here, not at start-up, if the dynamic loader cannot find a
# library (libduckdb.so through the rpath, libz, libstdc++).
RUN logstreamd --help >/dev/null && lsctl --help >/dev/null

# A container must listen beyond its loopback to be reachable; the embedded
# store (the default when LOGSTREAM_STORE is unset) lives in the data volume.
ENV LOGSTREAM_LISTEN=0.0.0.0:3000 \
    LOGSTREAM_DATA_DIR=/var/lib/logstream
USER logstream
WORKDIR /var/lib/logstream
EXPOSE 3000
# /api/health answers without a token, on whatever port LOGSTREAM_LISTEN names.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${LOGSTREAM_LISTEN##*:}/api/health" || exit 1
ENTRYPOINT ["logstreamd"]
