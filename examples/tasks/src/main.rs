//! Run with
//!
//! ```sh
//! # gatehouse, in one terminal (tokens will carry `aud: tasks`):
//! GATEHOUSE_AUDIENCE=tasks cargo run -p gatehouse-server -- serve
//! # tasks, in another: it only needs gatehouse's URL and its own audience.
//! TASKS_ISSUER=http://127.0.0.1:8000 TASKS_AUDIENCE=tasks cargo run -p tasks
//! ```
//!
//! Then give a role the `tasks:read`/`tasks:write` scopes in gatehouse
//! (`PUT /admin/roles/tasker {"scopes":["tasks:read","tasks:write"],"includes":["user"]}`),
//! log in at gatehouse's `POST /token`, and call `http://127.0.0.1:8001/tasks` with the
//! access token. Settings: `TASKS_BIND` (default `127.0.0.1:8001`), `TASKS_ISSUER`,
//! `TASKS_AUDIENCE`, optional `TASKS_ALGORITHMS` and `TASKS_ALLOW_INSECURE_HTTP`;
//! `RUST_LOG` for log levels.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use tasks::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tasks: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match tasks::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tasks: {e:#}");
            ExitCode::FAILURE
        }
    }
}
