//! Command-line flags and environment variables of `logstreamd`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use logstream_shared::Secret;

const EXAMPLES: &str = "\
Examples:
  logstreamd                                   # 127.0.0.1:3000, DuckDB in ~/.local/share/logstream
  logstreamd --listen 0.0.0.0:3000 --data-dir /var/lib/logstream
  logstreamd --store duckdb:///srv/logs/logs.duckdb
  logstreamd --listen 0.0.0.0:3000 --tokens-file /etc/logstream/tokens
  LOGSTREAM_TOKENS=\"ingest:$APP_TOKEN,read:$OPS_TOKEN\" logstreamd --listen 0.0.0.0:3000
  LOGSTREAM_LOG=debug logstreamd               # log every committed batch";

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

    /// Where records are stored, as a URL [default: duckdb://DATA_DIR/logs.duckdb].
    #[arg(long, env = "LOGSTREAM_STORE")]
    pub store: Option<String>,

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

    /// File of access tokens: one `SCOPE:TOKEN` per line, `#` comments and blank lines
    /// allowed. Scopes: ingest (POST /api/ingest), read (queries and stats), admin
    /// (both). Tokens are at least 16 characters. Once any token is configured, every
    /// endpoint but /api/health needs `Authorization: Bearer TOKEN`; with none the
    /// API is open to anyone who can reach it.
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

    /// Log filter, in tracing's EnvFilter syntax (error, warn, info, debug, or per module).
    #[arg(long, env = "LOGSTREAM_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .map(|d| d.join("logstream"))
                .unwrap_or_else(|| PathBuf::from("logstream-data"))
        })
    }

    pub fn store_url(&self) -> String {
        self.store.clone().unwrap_or_else(|| {
            format!("duckdb://{}", self.data_dir().join("logs.duckdb").display())
        })
    }
}
