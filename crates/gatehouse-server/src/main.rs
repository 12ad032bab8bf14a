//! The `gatehouse` binary: parse the command line, load settings, run the command.

use clap::Parser as _;
use gatehouse_server::{cli::Cli, commands, settings::Settings, telemetry};

/// mimalloc instead of the system allocator: a request allocates many small, short-lived
/// objects, and glibc malloc was ~15% of the `/users/me` CPU profile (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Some(path) = &cli.config {
        // Read by Settings::load; set before any other thread exists.
        std::env::set_var("GATEHOUSE_CONFIG", path);
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _log = telemetry::init(settings.log_format);
    match commands::run(cli.command, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
