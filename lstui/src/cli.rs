//! Command-line interface of `lstui`.

use clap::Parser;
use logstream_shared::Secret;

use crate::app::history::Range;
use crate::app::keys;
use logstream_shared::time::parse_time_bound;

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
  lstui --from 2d 'service:api'           # history mode: the last two days, paged
                                          # from the daemon as you scroll
  LOGSTREAM_URL=http://logs.internal:3000 lstui

Exit codes: 0 quit, 1 bad flags or settings, 3 the terminal failed.";

/// The live tail of a LogStream daemon in the terminal: filter it with the
/// query language, pause and scroll back, search, count by service and level;
/// and (key h, or --from) page through everything the daemon has stored.
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

    /// Open in history mode on the records stored since then (same forms
    /// as --since; key h switches between history and the live tail).
    #[arg(long)]
    pub from: Option<String>,

    /// History's end (exclusive) [default: now, and records stored later
    /// are paged in as you reach the newest].
    #[arg(long)]
    pub to: Option<String>,

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
    /// History's range: --from (else --since) to --to, fixed now.
    pub fn history_range(&self) -> anyhow::Result<Range> {
        let now = chrono::Utc::now();
        let bound = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_time_bound(t, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
                .transpose()
        };
        let since = match &self.from {
            Some(_) => bound("from", &self.from)?,
            None => bound("since", &self.since)?,
        };
        let range = Range {
            since,
            until: bound("to", &self.to)?,
        };
        if let (Some(since), Some(until)) = (range.since, range.until)
            && since >= until
        {
            anyhow::bail!("--from must be before --to");
        }
        Ok(range)
    }

    /// The query for the daemon, if one was given.
    pub fn tail_query(&self) -> Option<String> {
        let query = self.query.join(" ");
        (!query.trim().is_empty()).then_some(query)
    }
}
