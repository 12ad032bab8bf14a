//! Times one argon2id hash (the work one gatehouse login does) with the given parameters.
//! Usage: argon2-time [M_KIB T P N]  (default 19456 2 1 15). Prints the median and fastest
//! milliseconds over N hashes after one warm-up.
//!
//! The timed hash reuses its memory (`hash_password_into_with_memory`), as a long-running
//! server's hashing thread effectively does: its allocator keeps the 19 MiB warm between
//! logins. `verify_password` allocates the blocks afresh each call, and with glibc's malloc
//! a block that size goes back to the OS on free, so every call would also pay ≈ 4,900 page
//! faults — a slower "single hash" than the server's, which would lower the login ceiling
//! the benchmark compares against. That figure is printed too, for reference.
//!
//! The memory comes from the server's own allocator (`gatehouse-alloc`, mimalloc) and the
//! binary is built with the server's release profile. mimalloc's arena is eligible for
//! transparent huge pages, so the 19 MiB sit in 2 MiB pages as they do in the server; with
//! glibc's malloc they sit in 4 KiB pages and the hash is ≈ 2.5% slower (session 10, a Xeon VM),
//! which would lower the ceiling. The line ends with the process's `AnonHugePages`.
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use std::time::Instant;

#[global_allocator]
static GLOBAL: gatehouse_alloc::MiMalloc = gatehouse_alloc::MiMalloc;

/// The process's memory in transparent huge pages, as `/proc/self/smaps_rollup` reports it.
fn anon_huge_pages() -> String {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The salt every timed hash uses (16 bytes, as gatehouse's own).
const SALT: &[u8; 16] = b"bench-salt-16byt";

fn median_and_fastest(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
    (ms[ms.len() / 2], ms[0])
}

fn main() {
    let a: Vec<u32> = std::env::args().skip(1).map(|s| s.parse().expect("numeric argument")).collect();
    let (m, t, p, n) =
        (*a.first().unwrap_or(&19456), *a.get(1).unwrap_or(&2), *a.get(2).unwrap_or(&1), *a.get(3).unwrap_or(&15));
    let params = Params::new(m, t, p, None).expect("params");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let password = b"correct horse battery staple";
    let salt = SaltString::encode_b64(SALT).expect("salt");

    // Warm: the same computation as a verification, into memory allocated once.
    let mut blocks = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    argon.hash_password_into_with_memory(password, SALT, &mut out, &mut blocks).expect("warm-up hash");
    let warm: Vec<f64> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            argon.hash_password_into_with_memory(password, SALT, &mut out, &mut blocks).expect("hash");
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();

    // Fresh memory each time (what `verify_password` does).
    let stored = argon.hash_password(password, &salt).expect("hash").to_string();
    let parsed = PasswordHash::new(&stored).expect("parse");
    let fresh: Vec<f64> = (0..n.min(7))
        .map(|_| {
            let t0 = Instant::now();
            argon.verify_password(password, &parsed).expect("verify");
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();

    let huge = anon_huge_pages();
    let (med, fastest) = median_and_fastest(warm);
    let (fresh_med, _) = median_and_fastest(fresh);
    // run.sh reads "median X ms" and "min Y ms": the words appear once each.
    println!("argon2id m={m} t={t} p={p}: median {med:.2} ms min {fastest:.2} ms over {n} (warm memory; verify_password with fresh memory: p50 {fresh_med:.2} ms; AnonHugePages {huge})");
}
