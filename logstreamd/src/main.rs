use std::process::ExitCode;

use clap::Parser;
use logstreamd::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    match logstreamd::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logstreamd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
