//! Command-line interface of `lsctl`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use logstream_shared::Secret;

const AFTER_HELP: &str = "\
Configuration:
  The server and the access token come from the flags, else LOGSTREAM_URL and
  LOGSTREAM_TOKEN, else the config file $XDG_CONFIG_HOME/logstream/lsctl.toml
  (~/.config/logstream/lsctl.toml; LSCTL_CONFIG names another), for example:
    server = \"http://logs.internal:3000\"
    token = \"3f9c…\"
  A daemon with access control needs a token with the scope \"ingest\" for `send`,
  \"read\" for `query` and `stats`, or \"admin\" for all.

Exit codes:
  0  success
  1  usage error: a bad flag, service name, query or config file
  2  delivery failure: `send` could neither deliver nor spool some lines (the spool
     is full or disabled, or the daemon refused them; they are counted on stderr)
  3  the daemon could not be reached or answered with an error
  4  access denied (401/403): no token, an unknown one, or one without the needed scope";

/// LogStream's command line: ship logs to the daemon and query them.
#[derive(Debug, Parser)]
#[command(name = "lsctl", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// The daemon's base URL [default: `server` in the config file, else
    /// http://127.0.0.1:3000].
    #[arg(long, global = true, env = "LOGSTREAM_URL")]
    pub(crate) server: Option<String>,

    /// Access token, sent as `Authorization: Bearer TOKEN` [default: `token` in the
    /// config file]. Prefer the environment variable or the config file: other users
    /// can see flags in `ps`.
    #[arg(long, global = true, env = "LOGSTREAM_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<Secret>,

    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub(crate) color: ColorWhen,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send log lines from stdin or files, one record per line.
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArgs),
    /// Search stored logs, newest first.
    #[command(after_help = QUERY_EXAMPLES)]
    Query(QueryArgs),
    /// Log rate over time and the top services, levels and hosts.
    #[command(after_help = STATS_EXAMPLES)]
    Stats(StatsArgs),
    /// Follow logs live as they are stored; reconnects on its own without
    /// missing or repeating a record.
    #[command(after_help = TAIL_EXAMPLES)]
    Tail(TailArgs),
    /// List the log layouts `send` recognises, with an example line of each.
    #[command(after_help = "\
Each name (or alias) can be given to `lsctl send --format NAME` to read every line in
that layout; without --format each input's layout is recognised (`send -v` says which).

Examples:
  lsctl formats
  lsctl formats | grep -i java

Exit codes: 0 success, 1 usage error.")]
    Formats,
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  lsctl completions bash > ~/.local/share/bash-completion/completions/lsctl
  lsctl completions zsh > \"${fpath[1]}/_lsctl\"
  lsctl completions fish > ~/.config/fish/completions/lsctl.fish

Exit codes: 0 success, 1 usage error.")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), for man(1): lsctl's, or a subcommand's.
    #[command(after_help = "\
Examples:
  lsctl man | man -l -
  lsctl man query | man -l -
  for c in '' send query stats tail formats completions; do lsctl man $c > lsctl${c:+-$c}.1; done

Exit codes: 0 success, 1 usage error.")]
    Man {
        /// The subcommand whose page to print (its page is lsctl-SUBCOMMAND(1)).
        #[arg(value_parser = ["send", "query", "stats", "tail", "formats", "completions", "man"])]
        subcommand: Option<String>,
    },
}

const TAIL_EXAMPLES: &str = "\
The filters and output formats are those of `lsctl query` (see lsctl query --help);
-o json is refused, as a stream never closes the array: use ndjson.

Examples:
  lsctl tail                                   # everything, from now on
  lsctl tail --service api 'level>=warn'       # the query language, as in lsctl query
  lsctl tail --since 10m '\"connection refused\"' # the last 10 minutes first, then live
  lsctl tail --count 1 id:0190a0b2-7e1d-7c3e-9d4b-3c2a1b0f9e8d   # wait for one record
  lsctl tail --min-level warn --host web-1 --attr region=eu
  lsctl tail -o logfmt --fields time,level,service,message
  lsctl tail --output ndjson | jq .message

Exit codes: 0 success (--count reached, or the pipe was closed), 1 usage error,
3 the daemon answered with an error, 4 access denied. An unreachable daemon is
retried, not an exit.";

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,

    /// Start with the stored records since then (a duration before now such as
    /// 15m, RFC 3339, or a date), then follow [default: only new records].
    #[arg(long)]
    pub(crate) since: Option<String>,

    /// Stop after this many records.
    #[arg(long)]
    pub(crate) count: Option<usize>,

    /// Output: text (coloured on a terminal), ndjson, csv, logfmt or raw (json
    /// is refused: a stream never closes the array).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    /// The columns to print, comma-separated: time, level, service, message,
    /// host, id, trace_id, span_id, attributes, attr.KEY (one attribute).
    #[arg(long, short = 'f', value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) fields: Vec<String>,

    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    pub(crate) utc: bool,
}

/// What to select: the query language plus shortcuts, shared by query and tail.
#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// Query in the query language; several arguments are joined with spaces.
    pub(crate) query: Vec<String>,

    /// Only these services (repeat or comma-separate).
    #[arg(long, short, value_delimiter = ',')]
    pub(crate) service: Vec<String>,

    /// Only this level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL).
    #[arg(long, short)]
    pub(crate) level: Option<String>,

    /// Only this level and more severe ones (--min-level warn: WARN, ERROR, FATAL).
    #[arg(long, value_name = "LEVEL")]
    pub(crate) min_level: Option<String>,

    /// Only these hosts (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub(crate) host: Vec<String>,

    /// Only records whose attribute KEY is VALUE (repeat: all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) attr: Vec<String>,

    /// Only messages containing this text, case-insensitive (repeat: all must appear).
    #[arg(long)]
    pub(crate) text: Vec<String>,
}

const STATS_EXAMPLES: &str = "\
Examples:
  lsctl stats                                  # the last hour, all logs
  lsctl stats --since 24h 'level>=error'       # errors over a day
  lsctl stats --since 15m --step 10s service:api
  lsctl stats --output json | jq '.histogram.buckets[-1]'";

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Query in the query language; several arguments are joined with spaces.
    pub(crate) query: Vec<String>,

    /// Oldest time: a duration before now (15m, 2h, 7d), RFC 3339, or a date [default: 1h].
    #[arg(long)]
    pub(crate) since: Option<String>,

    /// Newest time (excluded), in the same forms as --since [default: now].
    #[arg(long)]
    pub(crate) until: Option<String>,

    /// Width of a histogram bar, like 10s, 1m, 1h [default: about 60 bars].
    #[arg(long)]
    pub(crate) step: Option<String>,

    /// How many services and hosts to list.
    #[arg(long, default_value_t = 5)]
    pub(crate) top: usize,

    /// Output: text (a rate chart and top lists) or json.
    #[arg(long, short, value_enum, default_value_t = StatsFormat::Text)]
    pub(crate) output: StatsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatsFormat {
    Text,
    Json,
}

const SEND_EXAMPLES: &str = "\
Each input's layout is recognised (--format auto): web servers' access and error logs,
log4j/logback, Python, Go, Rust, Node, logcat, syslog, Kubernetes (CRI, klog), Docker
JSON, PostgreSQL, MySQL, Windows CBS and more, with their time and level (`lsctl formats`
lists them with an example line each; -v says which one an input was read as). The
layout of the previous line is tried first; any line may be in another one. Last come
general layouts: any JSON, logfmt, and a time in any usual form among a line's first
fields, then a level word. --format forces one layout by name, or one of these modes:
  json     {\"ts\":\"2026-11-27T12:00:01Z\",\"level\":\"warn\",\"msg\":\"disk full\",\"service\":\"api\"}
           also lvl/severity/log.level, time/timestamp/@timestamp (RFC 3339 or epoch
           s/ms/µs/ns), message/log/@message, app/service.name, host/hostname
  logfmt   time=2026-11-27T12:00:01Z level=warn msg=\"disk full\" user=42
  text     syslog (RFC 3164, RFC 5424) and lines that start with an ISO time, e.g.
           2026-11-27 12:00:01,123 ERROR [main] com.example.App - message   (log4j)
           2026-11-27T12:00:01Z WARN [billing] message      (the [name] is the service)
  raw      each line as it is: no parsing, no joining
Any other line is sent as it is, and a level word near its start (ERROR, WARN, …) sets
the level (default INFO). Other fields become attributes. Times without a zone are in
--timezone (local by default); year-less times (syslog's, logcat's, klog's) are in the
current year (the one before if that would be more than a day ahead).

Multi-line records become one record: indented lines, Java stack traces (\\tat …,
Caused by: …, \\t... 12 more) and Python tracebacks (up to the final ValueError: …)
are joined to the line before them, with newlines. A record is sent when the next one
starts, the input ends, or no line has come for 200ms.

--service and --host, when given, win over what a line names (a different value of the
line's is kept as the attribute service or host); without them a line's own are used,
else the service \"unknown\". --attr adds attributes to every record.

Lines are sent in batches, at least every --flush-interval; failed batches are retried
with backoff until --retry-for has passed, then kept in the spool (--spool-dir, one
NDJSON file per batch named by its Idempotency-Key, written atomically), and so are the
batches after them while the daemon stays away. The spool is sent first, oldest first,
as soon as the daemon is back: in this run (tried every second) or the next one; a
file is deleted only once the daemon stored it, and a replay is not stored twice (the
daemon remembers keys for 24 hours). A first Ctrl-C stops reading and delivers what
was read; a second one spools what is left. When anything was retried or spooled,
lsctl ends with a line on stderr:
  lsctl: sent 120 line(s), retried 3 time(s), spooled 50 line(s); 1 batch(es) (4810 bytes) still spooled in ~/.local/state/logstream/spool, sent on the next run
Exit codes: 0 every line was delivered or spooled; 2 some lines could be neither (the
spool is full, --spool-max 0, or the daemon refused them: they are counted); 1 usage
error; 4 access denied.

--follow (-F) keeps reading the files as they grow, like `tail -F`: after a rotation by
rename the old file is read to its end, then the new one from its start; a file that
shrinks or whose first bytes change (copytruncate) is read again from its start; a file
that does not exist yet is waited for. How far each file was read is kept in
--checkpoint (device, inode, a fingerprint of its first 1024 bytes, offset), saved once
the lines before it were delivered or spooled, so a restarted `lsctl send --follow`
goes on where it stopped, without gaps or duplicates (a file rotated away meanwhile is
found beside it by inode and read to its end first).

Examples:
  tail -f app.log | lsctl send --service api
  lsctl send --service batch-job --host worker-3 --attr env=prod job-1.log job-2.log
  echo 'ERROR payment declined' | lsctl send --service billing
  kubectl logs -f deploy/api | lsctl send --service api --format json
  journalctl -f -o short-iso | lsctl send --attr env=prod       # service: the syslog app
  lsctl send --timezone UTC --service legacy server.log         # log4j times in UTC
  lsctl send --format raw --service audit audit.log              # one record per line
  adb logcat -v threadtime | lsctl send --service phone --format logcat
  lsctl send -v --service web access.log error.log     # says: lsctl: access.log: format access-log
  lsctl send --follow --service api app.log                      # like tail -F, resumable
  lsctl send -F --checkpoint api.checkpoint --spool-dir spool --service api app.log
  lsctl send --spool-max 0 --service x app.log    # no spool: exit 2 if the daemon stays away";

const QUERY_EXAMPLES: &str = "\
The query language (also the API's q=): words and \"quoted phrases\" match the message
(case-insensitive), -word excludes; service:a,b  level:error  level>=warn  host:h
trace:t  span:s  id:i  key=value (attribute); -service:db negates a clause.
OR, AND, NOT and (groups); ~\"regex\" (message), host~\"^web-\", key~\"…\";
key>=500  key!=v  key:*  -key:*  key:/api/* (prefix).
Pipes make tables, computed in the store:
  | where FILTER   | extract \"user=<user> took <ms>ms\"
  | stats count(), avg(x), p95(x), count_distinct(x) … by name, time(5m)
  | top 10 name    | fields time, service, attr.x    | sort by col desc    | limit N
(see the README's query language section for all of it).

Flags and the query combine: every one must match.

Fields for --fields: time, level, service, message, host, id, trace_id, span_id,
attributes (all of them), attr.KEY (one attribute); columns are named as written.

Examples:
  lsctl query --service user-service --level ERROR
  lsctl query --since 15m 'level>=warn \"connection refused\" -healthcheck'
  lsctl query --since 2024-05-01 --until 2024-05-02 user_id=42 --output ndjson
  lsctl query --min-level warn --host web-1 --attr region=eu --text timeout
  lsctl query --limit 50000 --output json > errors.json
  lsctl query --all --since 24h -o csv --fields time,level,service,message,attr.user_id > day.csv
  lsctl query --all --reverse --since 1h -o raw    # the last hour's messages, oldest first
  lsctl query -o logfmt --level ERROR | head -1
  lsctl query --since 1h 'status>=500 | top 10 path'
  lsctl query --since 1d '| stats count(), p95(duration_ms) by service, time(1h)' -o csv

Exit codes: 0 success (also when a pipe such as `| head` closes early), 1 usage
error (a bad flag, query or time), 3 the daemon could not be reached or answered
with an error, 4 access denied.";

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Service of every record [default: the service a line names (JSON `service`/`app`,
    /// the syslog app, a `[name]` after a timestamp), else "unknown"]. When given, it wins,
    /// and a line's own different service is kept as the attribute `service`.
    #[arg(long, short, env = "LOGSTREAM_SERVICE")]
    pub(crate) service: Option<String>,

    /// Host of every record [default: the host a line names (JSON `host`/`hostname`, the
    /// syslog host)]. When given, it wins, and a line's own different host is kept as the
    /// attribute `host`.
    #[arg(long)]
    pub(crate) host: Option<String>,

    /// An attribute for every record, KEY=VALUE (repeat for more); it wins over a
    /// line's own attribute of that name.
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = logstream_parse::attribute_flag)]
    pub(crate) attributes: Vec<(String, String)>,

    /// How to read lines: auto recognises each input's layout (see `lsctl formats`);
    /// a layout's name reads every line in it; json, logfmt and text read only that
    /// format; raw sends each line as it is, one record per line, without joining
    /// multi-line records. Lines not in the chosen format are sent as plain messages.
    #[arg(long, value_enum, default_value_t = logstream_parse::Format::Auto, hide_possible_values = true, value_name = "FORMAT")]
    pub(crate) format: logstream_parse::Format,

    /// Say on stderr which layout each input was recognised as
    /// (`lsctl: app.log: format logcat`).
    #[arg(long, short)]
    pub(crate) verbose: bool,

    /// Time zone of timestamps that name none (log4j's, syslog's): local (the TZ
    /// environment variable, else the system's), UTC, or an offset such as +02:00.
    #[arg(long, default_value = "local", value_name = "ZONE")]
    pub(crate) timezone: logstream_parse::Zone,

    /// Files to read, in order; stdin when none is given (or for "-").
    pub(crate) files: Vec<PathBuf>,

    /// Lines per batch, at most. A batch is one commit in the daemon, which costs
    /// about the same for 1000 lines as for 5000; --flush-interval still sends a
    /// slow stream's lines promptly.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) batch_size: u32,

    /// Send what has been read at least this often, even if the batch is not full.
    #[arg(long, default_value = "500ms", value_parser = positive_duration)]
    pub(crate) flush_interval: Duration,

    /// How long to keep retrying a batch the daemon does not take before spooling it
    /// (or giving up, when the spool is full or disabled).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) retry_for: Duration,

    /// Keep reading the files as they grow, like `tail -F`: survives rotation by rename
    /// and by copytruncate, waits for files that do not exist yet, and resumes after a
    /// restart from --checkpoint. Runs until Ctrl-C or SIGTERM.
    #[arg(long, short = 'F')]
    pub(crate) follow: bool,

    /// Where --follow keeps how far it has read each file (by absolute path)
    /// [default: $XDG_STATE_HOME/logstream/checkpoints.json, i.e.
    /// ~/.local/state/logstream/checkpoints.json].
    #[arg(long, value_name = "FILE", requires = "follow")]
    pub(crate) checkpoint: Option<PathBuf>,

    /// Where batches the daemon does not take are kept until it does (one file per
    /// batch, in a subdirectory per daemon URL; sent first, oldest first, once the daemon
    /// is back, in this run or the next) [default: $XDG_STATE_HOME/logstream/spool, i.e. ~/.local/state/logstream/spool].
    #[arg(long, value_name = "DIR", env = "LSCTL_SPOOL_DIR")]
    pub(crate) spool_dir: Option<PathBuf>,

    /// The most bytes the spool may hold (for one daemon); 0 disables it.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub(crate) spool_max: u64,
}

/// `lsctl query --limit` when not given.
pub(crate) const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,

    /// Oldest time: a duration before now (15m, 2h, 7d), RFC 3339, or a date.
    #[arg(long)]
    pub(crate) since: Option<String>,

    /// Newest time (excluded), in the same forms as --since.
    #[arg(long)]
    pub(crate) until: Option<String>,

    /// Most records to print: the newest ones (for a table: most rows).
    #[arg(long, short = 'n', default_value_t = DEFAULT_LIMIT)]
    pub(crate) limit: usize,

    /// Print every matching record, page by page (memory stays flat).
    #[arg(long, short = 'a', conflicts_with = "limit")]
    pub(crate) all: bool,

    /// Oldest first: the same records (the newest --limit, or --all), in time
    /// order. Memory stays at about one page: with more than one page the
    /// result is read twice, first to find the page boundaries.
    #[arg(long, short = 'r')]
    pub(crate) reverse: bool,

    /// Output: text (aligned, coloured on a terminal), json (one array), ndjson,
    /// csv (with a header row), logfmt, or raw (the message only, as stored).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    /// The columns to print, comma-separated: time, level, service, message,
    /// host, id, trace_id, span_id, attributes, attr.KEY (one attribute).
    #[arg(long, short = 'f', value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) fields: Vec<String>,

    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    pub(crate) utc: bool,

    /// With each match, N records before and after it from the same service
    /// (and host, when it has one), like grep -C. Matches are marked "> " (in
    /// JSON, CSV and logfmt: hit=true); groups that do not touch are
    /// separated by "--".
    #[arg(long, short = 'C', value_name = "N")]
    pub(crate) context: Option<usize>,

    /// N records after each match (as -C, on one side).
    #[arg(long, short = 'A', value_name = "N")]
    pub(crate) after_context: Option<usize>,

    /// N records before each match (as -C, on one side).
    #[arg(long, short = 'B', value_name = "N")]
    pub(crate) before_context: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people, coloured on a terminal.
    Text,
    /// One JSON array.
    Json,
    /// One JSON object a line.
    Ndjson,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// key=value pairs, quoted where needed.
    Logfmt,
    /// The message only, exactly as stored.
    Raw,
}

/// A duration such as `500ms` or `2s`, more than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than zero".into()),
        Err(e) => Err(format!("{e} (for example 500ms or 2s)")),
    }
}
