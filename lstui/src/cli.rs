//! Command-line interface of `lstui`.

use clap::Parser;
use logstream_shared::Secret;

use crate::app::keys;

const CONFIGURATION: &str = "\
Configuration:
  The server and the access token come from the flags, else LOGSTREAM_URL and
  LOGSTREAM_TOKEN, else lsctl's config file $XDG_CONFIG_HOME/logstream/lsctl.toml
  (~/.config/logstream/lsctl.toml; LSCTL_CONFIG names another) with the keys
  server and token. The token needs the scope \"read\".

Examples:
  lstui                                   # every new record
  lstui 'level>=warn' --since 15m         # the daemon sends only warnings and worse,
                                          # starting with the last 15 minutes
  lstui --filter 'service:api' --buffer 500000
  LOGSTREAM_URL=http://logs.internal:3000 lstui

Exit codes: 0 quit, 1 bad flags or settings, 3 the terminal failed.";

/// The live tail of a LogStream daemon in the terminal: filter it with the
/// query language, pause and scroll back, search, count by service and level.
#[derive(Debug, Parser)]
#[command(
    name = "lstui",
    version,
    after_help = format!("{}\n{CONFIGURATION}", keys::help_text()),
)]
pub struct Cli {
    /// Only records matching this query are streamed from the daemon (the
    /// query language; several arguments are joined with spaces). The filter
    /// bar narrows further, on what has arrived.
    pub query: Vec<String>,

    /// The daemon's base URL [default: `server` in the config file, else
    /// http://127.0.0.1:3000].
    #[arg(long, env = "LOGSTREAM_URL")]
    pub server: Option<String>,

    /// Access token, sent as `Authorization: Bearer TOKEN` [default: `token` in the
    /// config file]. Prefer the environment variable or the config file: other users
    /// can see flags in `ps`.
    #[arg(long, env = "LOGSTREAM_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,

    /// Start with the records stored since then: a duration before now (15m,
    /// 2h), RFC 3339 or a date [default: only new records].
    #[arg(long)]
    pub since: Option<String>,

    /// The filter bar's text at start (the query language, applied in lstui).
    #[arg(long, short)]
    pub filter: Option<String>,

    /// Records kept in memory for scrolling back; the oldest go first.
    #[arg(long, default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(100..=50_000_000))]
    pub buffer: u64,

    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    pub utc: bool,

    /// Wrap long messages instead of cutting them at the edge (key: w).
    #[arg(long)]
    pub wrap: bool,
}

impl Cli {
    /// The query for the daemon, if one was given.
    pub fn tail_query(&self) -> Option<String> {
        let query = self.query.join(" ");
        (!query.trim().is_empty()).then_some(query)
    }
}
