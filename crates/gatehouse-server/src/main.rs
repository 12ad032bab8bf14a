//! The `gatehouse` binary: parse the command line, load settings, run the command.

use clap::Parser as _;
use gatehouse_server::{cli::Cli, commands, settings::Settings, telemetry};

/// mimalloc instead of the system allocator: a request allocates many small, short-lived
/// objects, and glibc malloc was ~15% of the `/users/me` CPU profile (docs/PERFORMANCE.md).
/// Through `gatehouse-alloc`, which calls mimalloc's plain API where its size classes already
/// give the alignment, instead of its aligned API for every allocation.
#[global_allocator]
static GLOBAL: gatehouse_alloc::MiMalloc = gatehouse_alloc::MiMalloc;

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
    let runtime = match runtime(settings.request_slice) {
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
/// count); on a single core, the current-thread scheduler. Both then run every task on one
/// thread, but the current-thread one does it without the work-stealing machinery and
/// without a second thread (the multi-thread runtime's `block_on` thread) competing for the
/// core: ≈ 0.5 µs less CPU per `/users/me` request (docs/PERFORMANCE.md). Argon2 runs on the
/// hashing pool's own threads either way. Built after the settings are read so that nothing
/// runs alongside `set_var` above. Workers hand their buffered log lines over when they park
/// ([`telemetry::on_thread_park`]), and tell the hashing preempters whether any of them is
/// awake ([`gatehouse_server::hashing::runtime_thread_unparked`]). This thread, which runs
/// the current-thread scheduler (or the multi-thread one's `block_on`), and every thread the
/// runtime starts ask for the request slice ([`gatehouse_server::sched`]).
fn runtime(slice: Option<std::time::Duration>) -> std::io::Result<tokio::runtime::Runtime> {
    gatehouse_server::sched::apply_request_slice(slice);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    // Log lines wait in the worker's own buffer until it goes idle (telemetry module docs);
    // the hashing preempters wake often only while some worker is awake (hashing module).
    builder
        .enable_all()
        .on_thread_start(move || gatehouse_server::sched::apply_request_slice(slice))
        .on_thread_park(|| {
            telemetry::on_thread_park();
            gatehouse_server::hashing::runtime_thread_parked();
        })
        .on_thread_unpark(gatehouse_server::hashing::runtime_thread_unparked)
        .build()
}
