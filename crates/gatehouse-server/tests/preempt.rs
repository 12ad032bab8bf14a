//! `GATEHOUSE_HASH_PREEMPT_US` reaches the hashing pool of the real binary: by default each
//! hashing thread (`gatehouse-hash-N`, shown cut to 15 bytes) has its preempter thread
//! (`hash-preempt-N`), and `0` starts none. Logins work either way. (`cli.rs` checks that an
//! out-of-range value is refused; what the preempters do to latency is measured by
//! `bench/run.sh`, not asserted here: docs/PERFORMANCE.md, session 7.)
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

/// The names of the server's threads that start with `prefix`, sorted (as the kernel keeps
/// them: at most 15 bytes).
fn threads(server: &Server, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| c.starts_with(prefix))
        .collect();
    names.sort();
    names
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
