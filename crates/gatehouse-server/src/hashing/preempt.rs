//! Sub-tick preemption points for the hashing threads (`GATEHOUSE_HASH_PREEMPT_US`).
//!
//! A hash is 10–15 ms of uninterrupted CPU. When it shares a core with the threads that
//! serve requests, the kernel's fair scheduler gives each its turn, but it only takes the
//! core back from a thread that has used its turn at a scheduling event. On a busy core the
//! only such event is the timer tick, every 4 ms at the common `HZ=250`. So a request that
//! arrives while a hash runs can wait a whole tick or more, whatever the hash thread's
//! slice, and a login flood multiplies token checks' p99 latency.
//!
//! A [`Preempter`] is a companion thread that sleeps in short intervals on the hashing
//! thread's CPU while that thread hashes. Each wake-up is a scheduling event there: the
//! kernel charges the hashing thread's run time and, once its turn is used, switches to
//! whoever waits. The CPU shares are unchanged (no priorities move, so logins are not
//! starved); the hash just gives the core back in smaller pieces. While no hash runs the
//! thread is parked and costs nothing.
//!
//! The wake-ups themselves cost the hash a little (timer interrupts and context switches,
//! dearer in a VM): at 1 ms, ≈ 5% fewer logins when logins are all the core does. They
//! are only needed while request threads have work that waits for the core, so the async
//! runtime tells this module when its threads park and unpark ([`runtime_thread_parked`],
//! [`runtime_thread_unparked`]), and each wake-up notes whether one of them was awake. The
//! preempter sleeps its interval after a wake-up that found one awake, and keeps it while its
//! estimate of how often they are awake ([`Busy`]) stays at a quarter or more; otherwise it
//! wakes [`IDLE_FACTOR`] times less often. (A request thread that used little CPU lately
//! takes the core at once when a request wakes it; one that used its share, as under a flood
//! of token checks, waits for a scheduling event.)
//!
//! The estimate rises fast and falls slowly, because the signal is imperfect: a runtime
//! thread that the kernel has woken but that still waits for the core has not yet run its
//! unpark hook, so a wake-up often finds the thread it is there for "parked". Measured in
//! session 10 on a 2-core Xeon VM: during a login flood with token checks beside it, ≈ 60% of
//! wake-ups found a runtime thread awake, in runs of misses long enough that a hold of eight
//! wake-ups let `/users/me` p99 rise from ≈ 2.3 to ≈ 3.3 ms. During logins alone ≈ 6% did;
//! the 50 ms hold this module had until then kept the interval for good there (one awake
//! wake-up in fifty restarted it), for ≈ 4% of logins/s and no token check that waited.
//!
//! `docs/PERFORMANCE.md` has the measurements: session 7's (`/users/me` p99 during a login
//! flood fell from ≈ 4.9 ms to 2.1–2.6 ms) and session 10's (the estimate; logins alone no
//! longer pay for the wake-ups).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    thread::{self, Thread},
    time::Duration,
};

/// How many times longer the preempter sleeps while no runtime thread is busy.
pub(super) const IDLE_FACTOR: u32 = 10;

/// A wake-up that finds a runtime thread awake raises the preempter's estimate of how often
/// one is by 1/`BUSY_RISE` of the way to full: two such wake-ups cross the threshold.
const BUSY_RISE: u32 = 4;

/// A wake-up that finds none awake lowers the estimate by 1/`BUSY_FALL` of its value: from
/// full it takes ≈ 22 such wake-ups to fall below the threshold.
const BUSY_FALL: u32 = 16;

/// The estimate's scale: `BUSY_FULL` means every recent wake-up found a runtime thread awake.
const BUSY_FULL: u32 = 1 << 10;

/// How often recent wake-ups found a runtime thread awake, as a moving average in
/// `0..=BUSY_FULL` that rises fast and falls slowly (see the module's documentation).
#[derive(Debug, Default, Clone, Copy)]
struct Busy(u32);

impl Busy {
    /// Adds one wake-up's finding.
    fn note(&mut self, awake: bool) {
        // Quick to notice token checks, slow to forget them.
        self.0 = if awake { self.0 + (BUSY_FULL - self.0) / BUSY_RISE } else { self.0 - self.0 / BUSY_FALL };
    }

    /// How long to sleep after a wake-up that found a runtime thread `awake` (or not): the
    /// interval if it did or if recent ones [`often`](Self::often) did, else
    /// [`IDLE_FACTOR`] times that.
    fn next_sleep(&mut self, awake: bool, every: Duration) -> Duration {
        self.note(awake);
        if awake || self.often() {
            every
        } else {
            every * IDLE_FACTOR
        }
    }

    /// The estimate is at a quarter or more: runtime threads are often awake. (Well below
    /// a flood's ≈ 60%: the estimate counts wake-ups, not time, and a slow wake-up stands for
    /// ten times as long as a fast one.)
    fn often(self) -> bool {
        self.0 >= BUSY_FULL / 4
    }
}

/// Async runtime threads that are awake (not parked waiting for work).
static SERVING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread is counted in [`SERVING`].
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes that the calling runtime thread woke up with work (tokio's `on_thread_unpark`).
pub fn runtime_thread_unparked() {
    let _ = COUNTED.try_with(|counted| {
        if !counted.replace(true) {
            SERVING.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Notes that the calling runtime thread is about to park (tokio's `on_thread_park`).
pub fn runtime_thread_parked() {
    let _ = COUNTED.try_with(|counted| {
        if counted.replace(false) {
            SERVING.fetch_sub(1, Ordering::Relaxed);
        }
    });
}

/// Whether some runtime thread is awake: then request threads may be waiting for the core.
fn serving() -> bool {
    SERVING.load(Ordering::Relaxed) > 0
}

/// What a hashing thread and its preempter share.
#[derive(Debug, Default)]
struct Shared {
    /// A hash is running on the hashing thread.
    hashing: AtomicBool,
    /// The CPU the hashing thread last started a hash on.
    cpu: AtomicUsize,
    /// The hashing thread has exited: the preempter exits too.
    stop: AtomicBool,
    /// Wake-ups so far (for tests and diagnosis).
    wakeups: AtomicU64,
}

/// The hashing thread's handle on its preempter thread. Dropping it stops the thread.
#[derive(Debug)]
pub(super) struct Preempter {
    shared: Arc<Shared>,
    thread: Thread,
}

impl Preempter {
    /// Starts a preempter that wakes every `every` while a hash runs. `None` if the thread
    /// could not be started (hashing then runs without one).
    pub(super) fn start(name: String, every: Duration) -> Option<Self> {
        let shared = Arc::new(Shared::default());
        let handle = thread::Builder::new()
            .name(name)
            .stack_size(64 * 1024)
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared, every)
            })
            .map_err(|e| tracing::warn!(error = %e, "could not start a hashing preempter thread"))
            .ok()?;
        Some(Self { shared, thread: handle.thread().clone() })
    }

    /// Runs `f` (a hash) with the preempter waking on the calling thread's CPU.
    pub(super) fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        self.shared.cpu.store(current_cpu(), Ordering::Relaxed);
        self.shared.hashing.store(true, Ordering::Release);
        self.thread.unpark();
        let out = f();
        self.shared.hashing.store(false, Ordering::Release);
        out
    }

    /// Wake-ups so far.
    #[cfg(test)]
    pub(super) fn wakeups(&self) -> u64 {
        self.shared.wakeups.load(Ordering::Relaxed)
    }
}

impl Drop for Preempter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The preempter thread: parked while nothing is hashed, else a sleep loop on the hashing
/// thread's CPU.
fn run(shared: &Shared, every: Duration) {
    let mut pinned = None;
    let mut busy = Busy::default();
    while !shared.stop.load(Ordering::Acquire) {
        if !shared.hashing.load(Ordering::Acquire) {
            thread::park();
            continue;
        }
        let cpu = shared.cpu.load(Ordering::Relaxed);
        if pinned != Some(cpu) {
            pin_to(cpu);
            pinned = Some(cpu);
        }
        thread::sleep(busy.next_sleep(serving(), every));
        shared.wakeups.fetch_add(1, Ordering::Relaxed);
    }
}

/// The CPU the calling thread runs on (0 where the platform cannot tell).
fn current_cpu() -> usize {
    #[cfg(target_os = "linux")]
    return rustix::thread::sched_getcpu();
    #[cfg(not(target_os = "linux"))]
    0
}

/// Restricts the calling thread to `cpu`, where its wake-ups count. Best effort: if the
/// kernel refuses (a cpuset that changed, say), the wake-ups land wherever the scheduler
/// puts them and only help when that is the hashing thread's CPU.
fn pin_to(cpu: usize) {
    #[cfg(target_os = "linux")]
    if cpu < rustix::thread::CpuSet::MAX_CPU {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Waits up to 5 s for `cond`.
    fn eventually(cond: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if cond() {
                return true;
            }
            thread::sleep(Duration::from_millis(2));
        }
        cond()
    }

    /// Tests that move [`SERVING`] run one at a time (it is process-wide).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Holds [`SERVING`] up as a busy runtime thread would (a thread of its own, so the
    /// test's own thread-local stays clear).
    fn busy_runtime_thread() -> impl Drop {
        struct Busy(Option<std::sync::mpsc::Sender<()>>, Option<thread::JoinHandle<()>>);
        impl Drop for Busy {
            fn drop(&mut self) {
                drop(self.0.take());
                let _ = self.1.take().map(thread::JoinHandle::join);
            }
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (up_tx, up_rx) = std::sync::mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            runtime_thread_unparked();
            runtime_thread_unparked();
            up_tx.send(()).unwrap();
            let _ = rx.recv();
            runtime_thread_parked();
        });
        up_rx.recv().unwrap();
        Busy(Some(tx), Some(handle))
    }

    #[test]
    fn wakes_only_while_a_hash_runs() {
        let _serial = serial();
        let _busy = busy_runtime_thread();
        let p = Preempter::start("test-preempt".into(), Duration::from_micros(500)).unwrap();
        thread::sleep(Duration::from_millis(30));
        assert_eq!(p.wakeups(), 0, "no hash has run: the thread stays parked");

        let during = p.around(|| {
            let start = p.wakeups();
            thread::sleep(Duration::from_millis(40));
            p.wakeups() - start
        });
        assert!(during >= 5, "{during} wake-ups in 40 ms of hashing at 500 µs intervals");

        // After the hash it parks again: at most the sleep under way completes.
        thread::sleep(Duration::from_millis(5));
        let after = p.wakeups();
        thread::sleep(Duration::from_millis(40));
        assert_eq!(p.wakeups(), after, "no wake-ups once the hash is done");
    }

    #[test]
    fn stops_with_its_hashing_thread() {
        let p = Preempter::start("test-preempt".into(), Duration::from_millis(1)).unwrap();
        let shared = Arc::downgrade(&p.shared);
        p.around(|| thread::sleep(Duration::from_millis(5)));
        drop(p);
        assert!(eventually(|| shared.strong_count() == 0), "the preempter thread exited and let go of its state");
    }

    #[test]
    fn wakes_less_often_while_no_runtime_thread_is_busy() {
        let _serial = serial();
        assert!(!serving(), "no runtime thread in this test process");
        let p = Preempter::start("test-slow".into(), Duration::from_millis(2)).unwrap();
        let idle = p.around(|| {
            let start = p.wakeups();
            thread::sleep(Duration::from_millis(100));
            p.wakeups() - start
        });
        let _busy = busy_runtime_thread();
        let busy = p.around(|| {
            // The first wake-up that finds it awake shortens the interval.
            thread::sleep(Duration::from_millis(30));
            let start = p.wakeups();
            thread::sleep(Duration::from_millis(100));
            p.wakeups() - start
        });
        assert!(busy >= 20, "{busy} wake-ups in 100 ms at 2 ms intervals with a busy runtime thread");
        assert!(idle <= 10, "{idle} wake-ups in 100 ms at 2 ms × {IDLE_FACTOR} with the runtime idle");
    }

    /// Wake-ups in one simulated second of hashing at a 1 ms interval, starting from `busy`,
    /// with a runtime thread awake whenever `awake(ms since the start)` says so.
    fn wakeups_in_a_second(busy: &mut Busy, awake: impl Fn(u64) -> bool) -> u32 {
        let (every, mut t, mut n) = (Duration::from_millis(1), Duration::ZERO, 0);
        while t < Duration::from_secs(1) {
            let ms = u64::try_from(t.as_millis()).unwrap();
            t += busy.next_sleep(awake(ms), every);
            n += 1;
        }
        n
    }

    #[test]
    fn the_interval_follows_how_often_a_runtime_thread_was_awake() {
        let second = |awake: fn(u64) -> bool| wakeups_in_a_second(&mut Busy::default(), awake);
        assert_eq!(second(|_| false), 100, "nothing to serve: every 10 ms");
        assert!(second(|_| true) >= 990, "a flood of token checks: every 1 ms");
        // Token checks beside a login flood: awake at about 60% of the wake-ups (a fixed
        // pseudo-random pattern).
        let flood = |ms: u64| (ms * 2_654_435_761 % 1000) < 600;
        assert!(second(flood) >= 950, "{} wake-ups", second(flood));
        // Even at 30%, it keeps the interval nearly throughout.
        assert!(second(|ms| (ms * 2_654_435_761 % 1000) < 300) >= 900);
        // Logins alone: the request thread is awake for ≈ 1 ms around each 14 ms login. (The
        // 50 ms hold this module had until session 10 woke ≈ 1,000 times here.)
        let logins = second(|ms| ms % 14 == 0);
        assert!((100..=300).contains(&logins), "{logins} wake-ups with logins alone");
    }

    #[test]
    fn token_checks_are_noticed_at_once_and_forgotten_slowly() {
        let mut busy = Busy::default();
        wakeups_in_a_second(&mut busy, |ms| ms % 14 == 0); // logins alone first
        let every = Duration::from_millis(1);
        assert_eq!(busy.next_sleep(true, every), every, "a wake-up that finds one awake");
        assert_eq!(busy.next_sleep(true, every), every);
        assert!(busy.often(), "two in a row cross the threshold");
        (0..8).for_each(|_| busy.note(true));
        assert!(busy.0 <= BUSY_FULL, "the estimate stays in scale: {}", busy.0);
        let misses = (1..).find(|_| busy.next_sleep(false, every) > every).unwrap();
        assert!((15..=40).contains(&misses), "back to slow after {misses} wake-ups without one awake");
    }

    #[test]
    fn parking_and_unparking_count_each_thread_once() {
        let _serial = serial();
        let busy = busy_runtime_thread(); // unparked twice, counted once
        assert_eq!(SERVING.load(Ordering::Relaxed), 1);
        thread::spawn(|| {
            runtime_thread_parked(); // never unparked: not counted, nothing to take away
            assert_eq!(SERVING.load(Ordering::Relaxed), 1);
            runtime_thread_unparked();
            assert_eq!(SERVING.load(Ordering::Relaxed), 2);
            runtime_thread_parked();
            runtime_thread_parked();
        })
        .join()
        .unwrap();
        assert_eq!(SERVING.load(Ordering::Relaxed), 1);
        drop(busy);
        assert!(!serving());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn wakes_on_the_hashing_threads_cpu() {
        let _serial = serial();
        let _busy = busy_runtime_thread();
        let p = Preempter::start("test-pin".into(), Duration::from_micros(500)).unwrap();
        let cpu = p.around(|| {
            let cpu = current_cpu();
            assert!(eventually(|| p.wakeups() > 2));
            cpu
        });
        assert_eq!(p.shared.cpu.load(Ordering::Relaxed), cpu);
        // The preempter reports its own affinity through /proc: one CPU, the hashing thread's.
        let pinned = eventually(|| {
            std::fs::read_dir("/proc/self/task").unwrap().flatten().any(|t| {
                let dir = t.path();
                std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "test-pin")
                    && std::fs::read_to_string(dir.join("status")).is_ok_and(|s| {
                        s.lines().any(|l| {
                            l.starts_with("Cpus_allowed_list:")
                                && l.split_whitespace().nth(1) == Some(cpu.to_string().as_str())
                        })
                    })
            })
        });
        assert!(pinned, "a thread named test-pin is restricted to CPU {cpu}");
    }
}
