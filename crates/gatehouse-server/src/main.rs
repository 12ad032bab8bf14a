//! The `gatehouse` binary: parse the command line, load settings, run the command.

use clap::Parser as _;
use gatehouse_server::{cli::Cli, commands, settings::Settings, telemetry};

/// mimalloc instead of the system allocator: a request allocates many small, short-lived
/// objects, and glibc malloc was ~15% of the `/users/me` CPU profile (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Some(path) = &cli.config {
        // Read by Settings::load; set before any other thread exists (the runtime is built
        // below, after the settings).
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
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gatehouse: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command, settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The multi-thread scheduler, one worker per available core (affinity mask and cgroup limits
/// count). Built after the settings are read so that nothing runs alongside `set_var` above.
/// (A current-thread scheduler on one core measured no different: 26.8–27.9 vs 27.5–27.7 µs of
/// CPU per `/users/me` request.)
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
