//! What the hashing pool adds to a password check: the same argon2id verification run on the
//! calling thread and through [`HashPool`] (queue, hand-off to a hashing thread, the oneshot
//! back, the caller's wake-up), at the smallest parameters gatehouse accepts (m=1024 KiB, t=1,
//! p=1), so that the pool's share is as large as it can be. The difference between the two is
//! the pool's overhead per login; at the default parameters (m=19456, t=2) a hash costs
//! ≈ 40× more and the overhead's share is that much smaller.
//! Run with `cargo bench -p gatehouse-server --bench hash_pool`, and pinned to one core as
//! `bench/run.sh` runs the server (`taskset -c 0 cargo bench -p gatehouse-server --bench
//! hash_pool`). Pinned, the hand-off is a context switch on the same core; unpinned, the
//! hashing thread is woken on the other, idle core, which in a VM costs tens of microseconds
//! of latency (not of CPU). docs/PERFORMANCE.md, session 11, has both.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_core::{Argon2Params, PasswordHasher};
use gatehouse_server::hashing::{HashPool, PoolOptions};
use secrecy::SecretString;

const PASSWORD: &str = "bench-password-Correct-Horse-7";

fn hash_pool_overhead(c: &mut Criterion) {
    let params = Argon2Params { memory_kib: Argon2Params::MIN_MEMORY_KIB, iterations: 1, parallelism: 1 };
    let direct = PasswordHasher::new(params).unwrap();
    let stored = direct.hash(PASSWORD.as_bytes()).unwrap();
    // As the server runs it on one core: one hashing thread, the default niceness and preempter.
    let pool = HashPool::new(
        PasswordHasher::new(params).unwrap(),
        PoolOptions { workers: 1, queue: 32, nice: 0, preempt_every: Some(std::time::Duration::from_millis(1)) },
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(direct.verify(PASSWORD.as_bytes(), &stored).ok);
    assert!(rt.block_on(pool.verify(SecretString::from(PASSWORD), Some(stored.clone()))).unwrap().ok);

    let mut g = c.benchmark_group("hash_pool");
    g.bench_function("verify_on_calling_thread", |b| {
        b.iter(|| direct.verify(black_box(PASSWORD.as_bytes()), black_box(&stored)));
    });
    g.bench_function("verify_through_pool", |b| {
        b.iter(|| rt.block_on(pool.verify(SecretString::from(black_box(PASSWORD)), Some(stored.clone()))).unwrap());
    });
    g.finish();
}

criterion_group!(benches, hash_pool_overhead);
criterion_main!(benches);
