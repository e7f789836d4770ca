//! `lsctl`: ship logs to LogStream and query them.

mod checkpoint;
mod cli;
mod client;
mod context;
mod follow;
mod formats;
mod journal;
mod lines;
mod order;
mod output;
mod query;
mod send;
mod spool;
mod stats;
mod table;
mod tail;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, ColorWhen, Command};
use logstream_client::Settings;

/// Sent with every request, so that the daemon's log names the client.
const USER_AGENT: &str = concat!("lsctl/", env!("CARGO_PKG_VERSION"));

/// How a command failed; each kind has its own exit code (see `--help`).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    Delivery(String),
    Server(anyhow::Error),
    /// 401 or 403: the token is missing, unknown, or lacks the scope.
    Access(String),
    Io(std::io::Error),
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// A request the daemon refused as invalid (400) is the user's to fix, and
/// so is a refused token.
impl From<client::ApiFailure> for Failure {
    fn from(e: client::ApiFailure) -> Failure {
        match e {
            client::ApiFailure::Rejected { status, .. }
                if status == reqwest::StatusCode::BAD_REQUEST =>
            {
                Failure::Usage(e.to_string())
            }
            e if e.is_access_denied() => Failure::Access(format!("access denied: {e}")),
            other => Failure::Server(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    // These need no daemon, settings or config file.
    match &cli.command {
        Command::Formats => return print_quietly(formats::listing().as_bytes()),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "lsctl", &mut script);
            return print_quietly(&script);
        }
        Command::Man { subcommand } => {
            let mut command = Cli::command();
            // Gives subcommands their display names (lsctl-query) and global flags.
            command.build();
            if let Some(name) = subcommand {
                command = match command.find_subcommand(name) {
                    Some(sub) => sub.clone().version(env!("CARGO_PKG_VERSION")),
                    None => return report(usage(format!("no subcommand {name}")), None),
                };
            }
            let mut page = Vec::new();
            return match clap_mangen::Man::new(command).render(&mut page) {
                Ok(()) => print_quietly(&page),
                Err(e) => report(Failure::Io(e), None),
            };
        }
        _ => {}
    }
    let token_source = match matches.value_source("token") {
        Some(ValueSource::EnvVariable) => "LOGSTREAM_TOKEN",
        _ => "--token",
    };
    let settings = match Settings::resolve(cli.server.clone(), cli.token.clone(), token_source) {
        Ok(settings) => settings,
        Err(e) => return report(usage(e.to_string()), None),
    };
    match cli.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(cli, &settings));
    // A reader still blocked on an open stdin must not keep lsctl alive.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `lsctl query | head` closes the pipe early: that is not an error.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => report(failure, Some(&settings)),
    }
}

/// Writes `bytes` to stdout; a closed pipe is not an error.
fn print_quietly(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => report(Failure::Io(e), None),
        _ => ExitCode::SUCCESS,
    }
}

/// Prints what went wrong; the exit code tells the kind (see `--help`).
fn report(failure: Failure, settings: Option<&Settings>) -> ExitCode {
    let (code, message) = match failure {
        Failure::Usage(m) => (1, m),
        Failure::Delivery(m) => (2, m),
        Failure::Server(e) => (3, format!("{e:#}")),
        Failure::Io(e) => (3, e.to_string()),
        Failure::Access(m) => match settings {
            Some(settings) => (4, format!("{m}\nlsctl: {}", settings.token_hint())),
            None => (4, m),
        },
    };
    eprintln!("lsctl: {message}");
    ExitCode::from(code)
}

async fn run(cli: Cli, settings: &Settings) -> Result<(), Failure> {
    let client = client::Client::new(&settings.server, settings.token.as_ref(), USER_AGENT)
        .map_err(|e| Failure::Server(anyhow::anyhow!("{e}")))?;
    match cli.command {
        Command::Send(args) => {
            let outcome = send::send(&client, args)
                .await
                .map_err(|e| usage(format!("{e:#}")))?;
            if outcome.undelivered > 0 {
                if let Some(e) = &outcome.read_error {
                    eprintln!("lsctl: {e:#}");
                }
                let lost = format!(
                    "{} line(s) were not delivered to {} ({} delivered)",
                    outcome.undelivered,
                    client.server(),
                    outcome.delivered
                );
                return Err(match outcome.denied {
                    Some(denied) => {
                        eprintln!("lsctl: {lost}");
                        denied.into()
                    }
                    None => Failure::Delivery(lost),
                });
            }
            match outcome.read_error {
                Some(e) => Err(usage(format!(
                    "{e:#} (the {} line(s) read before were delivered)",
                    outcome.delivered
                ))),
                None => Ok(()),
            }
        }
        Command::Query(args) => query::query(&client, args).await,
        Command::Stats(args) => stats::stats(&client, args).await,
        Command::Tail(args) => tail::tail(&client, args).await,
        Command::Completions { .. } | Command::Man { .. } | Command::Formats => {
            unreachable!("handled before")
        }
    }
}
