//! The scheduling settings reach the threads of the real binary.
//!
//! `GATEHOUSE_HASH_PREEMPT_US`: by default each hashing thread (`gatehouse-hash-N`, shown cut
//! to 15 bytes) has its preempter thread (`hash-preempt-N`), and `0` starts none.
//!
//! `GATEHOUSE_REQUEST_SLICE_US`: by default the threads that serve requests (the main thread,
//! `gatehouse`, and tokio's workers, `tokio-rt-worker` or `tokio-runtime-worker` by version) run with a 100 µs EEVDF slice, as the
//! kernel's own `/proc/PID/task/TID/sched` shows, while the hashing threads keep the kernel's
//! default; `0` leaves every thread at the default.
//!
//! Logins work either way. (`cli.rs` checks that out-of-range values are refused; what these
//! settings do to latency is measured by `bench/run.sh`, not asserted here:
//! docs/PERFORMANCE.md, sessions 7 and 11.)
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

mod common;
use common::BIN;

const ADMIN_PW: &str = "preempt-test admin passphrase";

/// The server, killed when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = common::serve(&mut Command::new(BIN), dir.path(), port, ADMIN_PW)
        .env("GATEHOUSE_HASH_WORKERS", "2")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
    for _ in 0..200 {
        if reqwest::get(format!("{}/healthz", server.base)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

/// Logs the admin in (a hash on the pool) and answers whether that worked.
async fn admin_logs_in(server: &Server) -> bool {
    reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[("grant_type", "password"), ("username", "admin"), ("password", ADMIN_PW)])
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
}

/// The server's threads, each as its name (as the kernel keeps it: at most 15 bytes) and the
/// text of its `sched` file (empty where the kernel has none).
fn all_threads(server: &Server) -> Vec<(String, String)> {
    std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
        .unwrap()
        .flatten()
        .filter_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            Some((comm.trim().to_owned(), std::fs::read_to_string(t.path().join("sched")).unwrap_or_default()))
        })
        .collect()
}

/// The names of the server's threads that start with `prefix`, sorted.
fn threads(server: &Server, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> =
        all_threads(server).into_iter().map(|(name, _)| name).filter(|c| c.starts_with(prefix)).collect();
    names.sort();
    names
}

/// The `se.slice` (ns) of each of the server's threads that start with `prefix`.
fn slices(server: &Server, prefix: &str) -> Vec<u64> {
    all_threads(server)
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, sched)| {
            let line =
                sched.lines().find(|l| l.starts_with("se.slice")).unwrap_or_else(|| panic!("no se.slice for {name}"));
            line.rsplit(':').next().unwrap().trim().parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn each_hashing_thread_has_a_preempter_by_default_and_none_with_zero() {
    let default = start(&[]).await;
    assert!(admin_logs_in(&default).await);
    assert_eq!(threads(&default, "gatehouse-hash").len(), 2);
    assert_eq!(threads(&default, "hash-preempt"), ["hash-preempt-0", "hash-preempt-1"]);

    let off = start(&[("GATEHOUSE_HASH_PREEMPT_US", "0")]).await;
    assert!(admin_logs_in(&off).await);
    assert_eq!(threads(&off, "gatehouse-hash").len(), 2);
    assert!(threads(&off, "hash-preempt").is_empty(), "no preempters with GATEHOUSE_HASH_PREEMPT_US=0");
}

#[tokio::test]
async fn request_threads_run_with_a_short_slice_by_default_and_hashing_threads_do_not() {
    if gatehouse_sched::current_thread_slice().is_err()
        || !std::fs::read_to_string("/proc/thread-self/sched").is_ok_and(|s| s.contains("se.slice"))
    {
        eprintln!(
            "skipped: this kernel has no per-thread scheduling slices (Linux 6.12 or later) or does not show them"
        );
        return;
    }
    let default = start(&[]).await;
    assert!(admin_logs_in(&default).await);
    let main = slices(&default, "gatehouse");
    let workers = slices(&default, "tokio-r");
    let hashing = slices(&default, "gatehouse-hash");
    assert_eq!(hashing.len(), 2);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert!(!workers.is_empty(), "two cores or more: a multi-thread runtime");
    }
    // `gatehouse` also prefixes the hashing threads' names.
    assert!(main.iter().filter(|&&ns| ns == 100_000).count() == 1, "the main thread: {main:?}");
    assert!(workers.iter().all(|&ns| ns == 100_000), "runtime threads: {workers:?}");
    assert!(hashing.iter().all(|&ns| ns > 100_000), "hashing threads keep the default: {hashing:?}");

    let off = start(&[("GATEHOUSE_REQUEST_SLICE_US", "0")]).await;
    assert!(admin_logs_in(&off).await);
    let every: Vec<u64> = slices(&off, "");
    assert!(every.iter().all(|&ns| ns > 100_000), "no thread has a short slice with 0: {every:?}");

    let other = start(&[("GATEHOUSE_REQUEST_SLICE_US", "300")]).await;
    assert!(admin_logs_in(&other).await);
    assert!(slices(&other, "tokio-r").iter().all(|&ns| ns == 300_000));
}
