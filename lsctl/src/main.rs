//! `lsctl`: ship logs to LogStream and query them.

mod cli;
mod client;
mod lines;
mod query;
mod send;
mod stats;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{Cli, ColorWhen, Command};

/// How a command failed; each kind has its own exit code (see `--help`).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    Delivery(String),
    Server(anyhow::Error),
    Io(std::io::Error),
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// A request the daemon refused as invalid (400) is the user's to fix.
impl From<client::ApiFailure> for Failure {
    fn from(e: client::ApiFailure) -> Failure {
        match e {
            client::ApiFailure::Rejected { status, .. }
                if status == reqwest::StatusCode::BAD_REQUEST =>
            {
                Failure::Usage(e.to_string())
            }
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
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
    let result = runtime.block_on(run(cli));
    // A reader still blocked on an open stdin must not keep lsctl alive.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `lsctl query | head` closes the pipe early: that is not an error.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::Usage(m) => (1, m),
                Failure::Delivery(m) => (2, m),
                Failure::Server(e) => (3, format!("{e:#}")),
                Failure::Io(e) => (3, e.to_string()),
            };
            eprintln!("lsctl: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let client = client::Client::new(&cli.server).map_err(Failure::Server)?;
    match cli.command {
        Command::Send(args) => {
            let outcome = send::send(&client, args)
                .await
                .map_err(|e| usage(format!("{e:#}")))?;
            if outcome.undelivered > 0 {
                if let Some(e) = &outcome.read_error {
                    eprintln!("lsctl: {e:#}");
                }
                return Err(Failure::Delivery(format!(
                    "{} line(s) were not delivered to {} ({} delivered)",
                    outcome.undelivered,
                    client.server(),
                    outcome.delivered
                )));
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
    }
}
