//! The password-hashing pool: a fixed set of OS threads, off the async runtime, fed through
//! a bounded queue. At most `workers` hashes run at once, so memory stays bounded by
//! `workers × argon2 memory` whatever the login rate; when the queue is full callers get
//! [`PoolBusy`] at once (the API answers 503 + `Retry-After`).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::Duration,
};

use gatehouse_core::{PasswordHasher, Verified};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

mod preempt;

use preempt::Preempter;
pub use preempt::{runtime_thread_parked, runtime_thread_unparked};

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// The queue is full (or the pool stopped): try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password hashing pool is saturated")]
pub struct PoolBusy;

/// Lowers the calling thread's scheduling priority to `nice` (Linux, where niceness is per
/// thread; `GATEHOUSE_HASH_NICE`, default 0: unchanged). Above 0, hashing threads run below
/// the threads that serve requests: a login flood's argon2 work fills the time they leave
/// instead of taking turns with them, so token checks wait less behind hashes, but on a
/// saturated core logins get little CPU (docs/PERFORMANCE.md has the measured trade-off). On
/// an idle core hashing still gets all of it. Raising niceness needs no privilege; if it fails
/// anyway, hashing runs at normal priority and a warning says so.
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
            tracing::warn!(error = %e, nice, "could not lower the hashing thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// A hashing thread: runs jobs until the pool is dropped, each with its preempter (if any)
/// waking on its CPU.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>, hasher: &PasswordHasher, preempter: Option<&Preempter>) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match (job, preempter) {
            (Ok(job), Some(p)) => p.around(|| job(hasher)),
            (Ok(job), None) => job(hasher),
            (Err(_), _) => return,
        }
    }
}

/// How a [`HashPool`] runs its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Hashing threads (`GATEHOUSE_HASH_WORKERS`); at least one is started.
    pub workers: usize,
    /// Jobs that may wait for a thread (`GATEHOUSE_HASH_QUEUE`).
    pub queue: usize,
    /// The threads' niceness (`GATEHOUSE_HASH_NICE`).
    pub nice: i32,
    /// How often each thread's preempter wakes while it hashes (`GATEHOUSE_HASH_PREEMPT_US`;
    /// `None`: no preempters). See the `preempt` module.
    pub preempt_every: Option<Duration>,
}

/// A bounded pool of hashing threads.
#[derive(Debug, Clone)]
pub struct HashPool {
    tx: mpsc::SyncSender<Job>,
    hasher: Arc<PasswordHasher>,
    depth: Arc<AtomicUsize>,
    /// Jobs the pool holds at most: one running per worker plus the queue.
    capacity: usize,
}

impl HashPool {
    /// Starts the threads `options` asks for, with room for `options.queue` waiting jobs.
    pub fn new(hasher: PasswordHasher, options: PoolOptions) -> Self {
        let PoolOptions { workers, queue, nice, preempt_every } = options;
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let hasher = Arc::new(hasher);
        for i in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            let hasher = Arc::clone(&hasher);
            let preempter = preempt_every.and_then(|every| Preempter::start(format!("hash-preempt-{i}"), every));
            thread::Builder::new()
                .name(format!("gatehouse-hash-{i}"))
                .spawn(move || {
                    // The request slice would let every runtime wake-up find this thread past
                    // its (short) turn; a hash keeps the kernel's default one.
                    crate::sched::use_default_slice();
                    lower_priority(nice);
                    worker(&rx, &hasher, preempter.as_ref());
                })
                .ok();
        }
        Self { tx, hasher, depth: Arc::new(AtomicUsize::new(0)), capacity: workers.max(1) + queue }
    }

    /// Whether a job submitted now would be refused: every worker busy and the queue full.
    /// Login handlers check it before looking the user up, so that under a login flood a refusal
    /// costs no database query and leaves more CPU to the hashing that is under way. (The
    /// submission itself still decides; this is only the cheap early answer.)
    pub fn is_full(&self) -> bool {
        self.depth() >= self.capacity
    }

    /// [`Self::is_full`] as an error, for `?` in the login handlers.
    ///
    /// # Errors
    /// [`PoolBusy`] when the pool is full.
    pub fn ensure_room(&self) -> Result<(), PoolBusy> {
        if self.is_full() {
            Err(PoolBusy)
        } else {
            Ok(())
        }
    }

    /// Jobs queued or running now.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// The hasher (for its parameters).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PoolBusy> {
        let (done, result) = oneshot::channel();
        let depth = Arc::clone(&self.depth);
        let job: Job = Box::new(move |h| {
            let out = f(h);
            depth.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(out);
        });
        self.depth.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(job).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return Err(PoolBusy);
        }
        result.await.map_err(|_| PoolBusy)
    }

    /// Verifies `password` against `stored`, or against the dummy hash when `stored` is None
    /// (unknown user), so both take the same time.
    ///
    /// # Errors
    /// [`PoolBusy`] when the queue is full.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<Verified, PoolBusy> {
        self.run(move |h| match stored {
            Some(s) => h.verify(password.expose_secret().as_bytes(), &s),
            None => {
                h.verify_dummy(password.expose_secret().as_bytes());
                Verified { ok: false, needs_rehash: false }
            }
        })
        .await
    }

    /// Hashes `password` at the current parameters.
    ///
    /// # Errors
    /// [`PoolBusy`] when the queue is full; the inner error if hashing fails.
    pub async fn hash(&self, password: SecretString) -> Result<Result<String, gatehouse_core::Error>, PoolBusy> {
        self.run(move |h| h.hash(password.expose_secret().as_bytes())).await
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::Argon2Params;

    use super::*;

    fn pool(workers: usize, queue: usize) -> HashPool {
        let h = PasswordHasher::new(Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }).unwrap();
        HashPool::new(h, PoolOptions { workers, queue, nice: 19, preempt_every: Some(Duration::from_millis(1)) })
    }

    #[tokio::test]
    async fn hashes_and_verifies() {
        let p = pool(1, 4);
        let phc = p.hash(SecretString::from("pw-one-two")).await.unwrap().unwrap();
        assert!(p.verify(SecretString::from("pw-one-two"), Some(phc.clone())).await.unwrap().ok);
        assert!(!p.verify(SecretString::from("nope"), Some(phc)).await.unwrap().ok);
        assert!(!p.verify(SecretString::from("nope"), None).await.unwrap().ok);
        assert_eq!(p.depth(), 0);
    }

    /// The niceness a job sees on its hashing thread.
    #[cfg(target_os = "linux")]
    async fn job_niceness(p: &HashPool) -> i32 {
        p.run(|_| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()).await.unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_configured_niceness() {
        let ours = rustix::process::getpriority_process(None).unwrap();
        assert_eq!(job_niceness(&pool(1, 4)).await, 19);
        let h = PasswordHasher::new(Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }).unwrap();
        let opts = |nice| PoolOptions { workers: 1, queue: 4, nice, preempt_every: None };
        let at_seven = HashPool::new(h.clone(), opts(7));
        // Niceness only goes up without privilege: a process already above 7 may stay put.
        let got = job_niceness(&at_seven).await;
        assert!(got == 7 || (got == ours && ours > 7), "niceness {got}, process at {ours}");
        // 0: the pool's threads keep the process's niceness; the caller's own thread is untouched.
        assert_eq!(job_niceness(&HashPool::new(h, opts(0))).await, ours);
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), ours);
    }

    #[tokio::test]
    async fn full_queue_is_refused_not_buffered() {
        let p = pool(1, 1);
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        // Occupy the only worker, then fill the one queue slot.
        let busy = tokio::spawn({
            let p = p.clone();
            async move {
                p.run(move |_| {
                    let _ = block_rx.recv();
                })
                .await
            }
        });
        while p.depth() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!p.is_full(), "the queue slot is still free");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = tokio::spawn({
            let p = p.clone();
            async move { p.run(|_| 1).await }
        });
        while p.depth() < 2 {
            tokio::task::yield_now().await;
        }
        assert!(p.is_full(), "one running and one queued fill a pool of one worker and one slot");
        assert_eq!(p.run(|_| 2).await, Err(PoolBusy));
        block_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap(), Ok(1));
        assert!(!p.is_full());
    }
}
