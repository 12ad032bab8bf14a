//! The slice a thread asks for is the one the kernel gives it, seen both through
//! `sched_getattr` and through `/proc/thread-self/sched` (the scheduler's own `se.slice`
//! line); nothing else about the thread, and no other thread, changes. Each test works on a
//! fresh thread so that the test harness's threads keep their slices.
//!
//! On a kernel without per-thread slices (before Linux 6.12) the tests check that the crate
//! says so ([`SliceError::Unsupported`]) and print why they checked nothing more.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use gatehouse_sched::{current_thread_slice, set_current_thread_slice, SliceError, MAX_SLICE, MIN_SLICE};

/// Whether the running kernel is Linux 6.12 or later, where `sched_runtime` sets the slice.
fn kernel_has_slices() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 12)
}

/// Runs `f` on a fresh thread and returns its result.
fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

/// The `se.slice` line of `/proc/thread-self/sched`, in nanoseconds, if the kernel shows it.
fn proc_slice_ns() -> Option<u64> {
    let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
    let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

/// `true` if the kernel lacks slices and the caller should stop (after printing why).
fn skip_without_slices(test: &str) -> bool {
    if kernel_has_slices() {
        return false;
    }
    let got = on_fresh_thread(|| set_current_thread_slice(MIN_SLICE));
    assert!(matches!(got, Err(SliceError::Unsupported)), "{got:?}");
    eprintln!(
        "{test}: skipped: this kernel has no per-thread slices (Linux 6.12 or later has them); the crate said so"
    );
    true
}

#[test]
fn a_thread_gets_the_slice_it_asks_for_and_other_threads_keep_theirs() {
    if skip_without_slices("a_thread_gets_the_slice_it_asks_for") {
        return;
    }
    let default = on_fresh_thread(|| current_thread_slice().unwrap());
    assert_ne!(default, MIN_SLICE, "the base slice is not already 100 µs");

    let (set, read, proc) = on_fresh_thread(|| {
        (set_current_thread_slice(MIN_SLICE).unwrap(), current_thread_slice().unwrap(), proc_slice_ns())
    });
    assert_eq!(set, MIN_SLICE);
    assert_eq!(read, MIN_SLICE);
    if let Some(ns) = proc {
        assert_eq!(ns, 100_000, "the scheduler's own se.slice");
    }
    // Between the bounds, the slice is exactly what was asked for.
    for asked in [Duration::from_micros(250), Duration::from_millis(3), MAX_SLICE] {
        let read = on_fresh_thread(move || {
            set_current_thread_slice(asked).unwrap();
            current_thread_slice().unwrap()
        });
        assert_eq!(read, asked);
    }
    // Another thread, and this one, still have the base slice.
    assert_eq!(on_fresh_thread(|| current_thread_slice().unwrap()), default);
    assert_eq!(current_thread_slice().unwrap(), default);
}

#[test]
fn the_slice_can_be_changed_again_and_the_niceness_is_kept() {
    if skip_without_slices("the_slice_can_be_changed_again") {
        return;
    }
    let (nice_before, nice_after, first, second) = on_fresh_thread(|| {
        let me = Some(rustix::thread::gettid());
        let ours = rustix::process::getpriority_process(me).unwrap();
        // Raising niceness needs no privilege.
        let wanted = (ours + 5).min(19);
        rustix::process::setpriority_process(me, wanted).unwrap();
        let first = set_current_thread_slice(Duration::from_micros(500)).unwrap();
        let second = set_current_thread_slice(MIN_SLICE).unwrap();
        (wanted, rustix::process::getpriority_process(me).unwrap(), first, second)
    });
    assert_eq!(nice_after, nice_before, "setting the slice must not reset the thread's niceness");
    assert_eq!(first, Duration::from_micros(500));
    assert_eq!(second, MIN_SLICE);
}

#[test]
fn slices_out_of_range_are_refused_and_change_nothing() {
    let outcomes = on_fresh_thread(|| {
        let before = current_thread_slice().ok();
        let refused: Vec<_> =
            [Duration::ZERO, Duration::from_micros(99), MAX_SLICE + Duration::from_nanos(1), Duration::MAX]
                .into_iter()
                .map(set_current_thread_slice)
                .collect();
        (before, refused, current_thread_slice().ok())
    });
    let (before, refused, after) = outcomes;
    for r in refused {
        assert!(matches!(r, Err(SliceError::OutOfRange(_))), "{r:?}");
    }
    assert_eq!(before, after);
}

#[test]
fn a_thread_started_by_one_with_a_short_slice_inherits_it_until_reset() {
    if skip_without_slices("a_thread_started_by_one_with_a_short_slice") {
        return;
    }
    let default = on_fresh_thread(|| current_thread_slice().unwrap());
    let (child, reset, proc) = on_fresh_thread(|| {
        set_current_thread_slice(MIN_SLICE).unwrap();
        on_fresh_thread(|| {
            let child = current_thread_slice().unwrap();
            (child, gatehouse_sched::reset_current_thread_slice().unwrap(), proc_slice_ns())
        })
    });
    assert_eq!(child, MIN_SLICE, "the kernel copies a custom slice to new threads");
    assert_eq!(reset, default);
    if let Some(ns) = proc {
        assert_eq!(u128::from(ns), default.as_nanos());
    }
}
