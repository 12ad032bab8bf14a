//! Shared by the tests that start the real `gatehouse serve` process.

use std::{path::Path, process::Command};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// Adds `serve` and a clean environment to `cmd` (the binary, or a wrapper such as `taskset`
/// that runs it): 127.0.0.1:`port`, `dir` as the data directory, `admin_pw` for the first
/// admin, and argon2 parameters cheap enough for tests.
pub(crate) fn serve<'c>(cmd: &'c mut Command, dir: &Path, port: u16, admin_pw: &str) -> &'c mut Command {
    cmd.arg("serve")
        .env_clear()
        .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_DATA_DIR", dir)
        .env("GATEHOUSE_ADMIN_PASSWORD", admin_pw)
        .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
        .env("GATEHOUSE_ARGON2_ITERATIONS", "1")
}
