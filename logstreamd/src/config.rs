//! Command-line flags and environment variables of `logstreamd`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use logstream_shared::Secret;

use crate::ingest::KafkaTarget;

const EXAMPLES: &str = "\
Examples:
  logstreamd                                   # 127.0.0.1:3000, DuckDB in ~/.local/share/logstream
  logstreamd --listen 0.0.0.0:3000 --data-dir /var/lib/logstream
  logstreamd --store duckdb:///srv/logs/logs.duckdb
  logstreamd --listen 0.0.0.0:3000 --tokens-file /etc/logstream/tokens
  LOGSTREAM_TOKENS=\"ingest:$APP_TOKEN,read:$OPS_TOKEN\" logstreamd --listen 0.0.0.0:3000
  LOGSTREAM_LOG=debug logstreamd               # log every committed batch
  logstreamd --syslog-listen 127.0.0.1:5514    # also syslog over TCP and UDP (unauthenticated)

The HTTP API is described by the OpenAPI document at GET /api/openapi.json.

Scale-out, with Kafka and ClickHouse from docker-compose.yml (docs/docker.md):
  logstreamd --role api --queue kafka://127.0.0.1:9092/app-logs \\
      --store clickhouse://logstream:logstream@127.0.0.1:8123/logstream
  logstreamd --role worker --listen 127.0.0.1:3001 --queue kafka://127.0.0.1:9092/app-logs \\
      --store clickhouse://logstream:logstream@127.0.0.1:8123/logstream --retention 30d";

/// The LogStream daemon: HTTP ingest and query API over a durable log store.
#[derive(Debug, Parser)]
#[command(name = "logstreamd", version, after_help = EXAMPLES)]
pub struct Config {
    /// Address and port to serve the HTTP API on (port 0 picks a free one).
    #[arg(long, env = "LOGSTREAM_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory of the embedded store's database [default: $XDG_DATA_HOME/logstream,
    /// i.e. ~/.local/share/logstream].
    #[arg(long, env = "LOGSTREAM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where records are stored, as a URL: duckdb://PATH or
    /// clickhouse://USER:PASS@HOST:8123/DB [default: duckdb://DATA_DIR/logs.duckdb].
    #[arg(long, env = "LOGSTREAM_STORE")]
    pub store: Option<String>,

    /// What this process does: `api` serves HTTP and produces to the queue,
    /// `worker` moves records from the queue into the store (and serves only
    /// /api/health and /metrics), `all` does both (without --queue: the
    /// embedded pipeline).
    #[arg(long, env = "LOGSTREAM_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// A Kafka topic to buffer ingest in, kafka://HOST:PORT[,HOST:PORT]/TOPIC
    /// (topic default app-logs). The API answers 202 once Kafka has every record.
    #[arg(long, env = "LOGSTREAM_QUEUE")]
    pub queue: Option<KafkaTarget>,

    /// Partitions of the topics when the daemon creates them (existing topics are
    /// left as they are). Workers share the partitions, so this caps the workers.
    #[arg(long, env = "LOGSTREAM_KAFKA_PARTITIONS", default_value_t = 6)]
    pub kafka_partitions: i32,

    /// A librdkafka setting, KEY=VALUE (repeatable; env: space-separated), e.g.
    /// security.protocol=SASL_SSL. Overrides the daemon's own settings.
    #[arg(long = "kafka-option", env = "LOGSTREAM_KAFKA_OPTIONS", value_delimiter = ' ', value_parser = parse_key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// How long Kafka may take to acknowledge an ingest request's records before
    /// the request is answered 503 with Retry-After.
    #[arg(long, env = "LOGSTREAM_KAFKA_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub kafka_timeout: Duration,

    /// The workers' consumer group.
    #[arg(
        long,
        env = "LOGSTREAM_KAFKA_GROUP",
        default_value = "logstream-workers"
    )]
    pub kafka_group: String,

    /// Where workers send messages that are not valid records [default: TOPIC-dlq].
    #[arg(long, env = "LOGSTREAM_DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,

    /// A worker stores a batch once it holds this many records…
    #[arg(long, env = "LOGSTREAM_BATCH_RECORDS", default_value_t = 100_000)]
    pub batch_records: usize,

    /// …or this many bytes of messages…
    #[arg(long, env = "LOGSTREAM_BATCH_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub batch_bytes: usize,

    /// …or its first record has waited this long (ClickHouse prefers about one
    /// large insert a second).
    #[arg(long, env = "LOGSTREAM_BATCH_WAIT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub batch_wait: Duration,

    /// Memory the embedded store (DuckDB) may use for its cache and its
    /// queries (e.g. 512MiB, 2GiB); past it, large queries spill to disk
    /// beside the database. The daemon's own buffers come on top (see
    /// --max-ingest-memory). Not used with ClickHouse.
    #[arg(long, env = "LOGSTREAM_MEMORY_LIMIT", default_value = "1GiB", value_parser = parse_bytes)]
    pub memory_limit: u64,

    /// The embedded store folds its write-ahead log into the database file
    /// (a checkpoint, during which no commit can start) once the log passes
    /// this size. Answers wait for the ingest journal, not for this; the
    /// task storing the journal into the database does (and queries wait
    /// for that task). DuckDB's own default, 16MiB, checkpoints eight times
    /// as often. A start after a crash replays up to this much. Not used
    /// with ClickHouse.
    #[arg(long, env = "LOGSTREAM_CHECKPOINT_THRESHOLD", default_value = "128MiB", value_parser = parse_bytes)]
    pub checkpoint_threshold: u64,

    /// Keep this much history, in whole UTC days (e.g. 30d); older days are
    /// dropped hourly. Off by default.
    #[arg(long, env = "LOGSTREAM_RETENTION", value_parser = parse_days)]
    pub retention: Option<u32>,

    /// Largest request body in bytes, after gzip decompression.
    #[arg(long, env = "LOGSTREAM_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Memory that ingest request bodies being read and parsed may take at once, in
    /// bytes (each body byte counts 32); past this, ingest answers 429.
    #[arg(long, env = "LOGSTREAM_MAX_INGEST_MEMORY", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_ingest_memory: usize,

    /// Records accepted but not yet committed, at most; past this, ingest answers 429.
    #[arg(long, env = "LOGSTREAM_MAX_PENDING", default_value_t = 200_000)]
    pub max_pending_records: usize,

    /// How long a search may take, or an ingest body may take to arrive, before the
    /// request is answered 408. Records handed to the store are always answered.
    #[arg(long, env = "LOGSTREAM_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// How long a client may take to send a request's headers, counted from when it
    /// connects or from its previous answer: past this the connection is closed,
    /// with 408 if part of a request had arrived. This is also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "LOGSTREAM_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,

    /// Connections served at once; past this, new connections are answered 503 with
    /// Retry-After. Keep it well below the open-file limit (`ulimit -n`).
    #[arg(long, env = "LOGSTREAM_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Live-tail subscribers served at once with --queue kafka://…; past
    /// this, `GET /api/tail` answers 503 with Retry-After.
    #[arg(long, env = "LOGSTREAM_MAX_TAIL_SUBSCRIBERS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_tail_subscribers: u32,

    /// Of those, how many may resume after a cursor or start at a `since`:
    /// each reads the topic with a Kafka consumer of its own (a few
    /// threads), while those that follow from now on share one.
    #[arg(long, env = "LOGSTREAM_MAX_TAIL_CONSUMERS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_tail_consumers: u32,

    /// File of access tokens: one `SCOPE:TOKEN` per line, `#` comments and blank lines
    /// allowed. Scopes: ingest (POST /api/ingest), read (queries and stats), admin
    /// (both). Tokens are at least 16 characters. Once any token is configured, every
    /// endpoint but /api/health and /api/openapi.json needs `Authorization: Bearer
    /// TOKEN`; with none the API is open to anyone who can reach it.
    #[arg(long, env = "LOGSTREAM_TOKENS_FILE", value_name = "PATH")]
    pub tokens_file: Option<PathBuf>,

    /// Access tokens as `SCOPE:TOKEN` entries separated by commas or whitespace, as in
    /// --tokens-file (both may be given). Prefer the environment variable: other users
    /// can see flags in `ps`.
    #[arg(
        long,
        env = "LOGSTREAM_TOKENS",
        hide_env_values = true,
        value_name = "ENTRIES"
    )]
    pub tokens: Option<Secret>,

    /// Also receive syslog (RFC 5424 and RFC 3164) over both TCP and UDP on this
    /// address, e.g. 127.0.0.1:5514. UNAUTHENTICATED: access tokens do not apply,
    /// so a non-loopback address lets anyone who can reach the port write logs
    /// (the daemon warns). Not in --role worker.
    #[arg(long, env = "LOGSTREAM_SYSLOG_LISTEN", value_name = "ADDR")]
    pub syslog_listen: Option<SocketAddr>,

    /// Also receive syslog over TCP only on this address (octet-counted or
    /// LF-delimited frames). Unauthenticated, as --syslog-listen.
    #[arg(long, env = "LOGSTREAM_SYSLOG_TCP", value_name = "ADDR")]
    pub syslog_tcp: Option<SocketAddr>,

    /// Also receive syslog over UDP only on this address (one message per
    /// datagram). Unauthenticated, as --syslog-listen.
    #[arg(long, env = "LOGSTREAM_SYSLOG_UDP", value_name = "ADDR")]
    pub syslog_udp: Option<SocketAddr>,

    /// Give records that arrive without a level or a time of their own (a Loki line,
    /// a syslog message at the default priority notice or info, a JSON record with only
    /// a message) the level, and the time, their message's text carries, recognised
    /// as `lsctl send` does (the layouts `lsctl formats` lists). On by default.
    #[arg(long, overrides_with = "no_detect_layouts")]
    pub detect_layouts: bool,

    /// Turn --detect-layouts off: such records keep INFO and their time of arrival.
    #[arg(
        long,
        env = "LOGSTREAM_NO_DETECT_LAYOUTS",
        overrides_with = "detect_layouts"
    )]
    pub no_detect_layouts: bool,

    /// Log filter, in tracing's EnvFilter syntax (error, warn, info, debug, or per module).
    #[arg(long, env = "LOGSTREAM_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Api,
    Worker,
    All,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("\"{text}\": expected KEY=VALUE")),
    }
}

/// A timeout of more than zero, e.g. `10s` or `500ms`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err(format!("\"{text}\": must be more than zero")),
        Err(e) => Err(format!("\"{text}\": {e}; for example 10s")),
    }
}

/// A retention period in whole days: `30d`, `2w`, or `720h`.
fn parse_days(text: &str) -> Result<u32, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("\"{text}\": {e}; for example 30d"))?;
    let days = duration.as_secs() / 86_400;
    if days == 0 || duration.as_secs() % 86_400 != 0 {
        return Err(format!(
            "\"{text}\": retention is kept in whole days, for example 30d"
        ));
    }
    u32::try_from(days).map_err(|_| format!("\"{text}\" is too long"))
}

impl Config {
    /// Whether records take the level and time their text carries (see
    /// `--detect-layouts`).
    pub fn detects_layouts(&self) -> bool {
        !self.no_detect_layouts
    }

    /// Where to receive syslog, by transport (none unless asked for).
    pub fn syslog_addresses(&self) -> crate::syslog::Addresses {
        let both = self.syslog_listen.into_iter();
        crate::syslog::Addresses {
            tcp: both.clone().chain(self.syslog_tcp).collect(),
            udp: both.chain(self.syslog_udp).collect(),
        }
    }

    pub fn dead_letter_topic(&self, target: &KafkaTarget) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}-dlq", target.topic))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .map(|d| d.join("logstream"))
                .unwrap_or_else(|| PathBuf::from("logstream-data"))
        })
    }

    /// How the store is opened, beyond its URL.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            memory_limit: Some(self.memory_limit),
            checkpoint_threshold: Some(self.checkpoint_threshold),
        }
    }

    pub fn store_url(&self) -> String {
        self.store.clone().unwrap_or_else(|| {
            format!("duckdb://{}", self.data_dir().join("logs.duckdb").display())
        })
    }
}

/// A size such as `512MiB`, `2GB` or `1073741824`, in bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|e| {
        format!("\"{text}\" is not a size ({e}); expected a number of bytes with a unit, like 512MiB or 2GB")
    })?;
    Ok(size.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_read_units() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").unwrap_err().contains("512MiB"));
    }

    #[test]
    fn connection_limits_have_defaults_and_flags() {
        let config = Config::try_parse_from(["logstreamd"]).unwrap();
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert_eq!(config.max_connections, 1024);
        let config = Config::try_parse_from([
            "logstreamd",
            "--header-timeout",
            "500ms",
            "--max-connections",
            "8",
        ])
        .unwrap();
        assert_eq!(config.header_timeout, Duration::from_millis(500));
        assert_eq!(config.max_connections, 8);
        for bad in [
            ["--header-timeout", "0s"],
            ["--header-timeout", "soon"],
            ["--max-connections", "0"],
        ] {
            let args = std::iter::once("logstreamd").chain(bad);
            assert!(Config::try_parse_from(args).is_err(), "{bad:?}");
        }
    }
}
