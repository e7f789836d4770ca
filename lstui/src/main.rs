//! `lstui`: LogStream's terminal dashboard.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match lstui::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match lstui::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lstui: {e:#}");
            ExitCode::from(1)
        }
    }
}
