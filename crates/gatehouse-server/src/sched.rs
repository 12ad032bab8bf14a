//! The scheduling slice of the threads that serve requests (`GATEHOUSE_REQUEST_SLICE_US`).
//!
//! Each async runtime thread asks the kernel for a short EEVDF slice (`gatehouse-sched`): on
//! a core where a hashing thread is busy with a login, a request thread with the shorter slice
//! takes the core as soon as a request wakes it. The hashing threads keep the kernel's default
//! slice (a hashing thread is started from a runtime thread; it puts its own slice back). Where
//! the kernel has no per-thread slices (before Linux 6.12) the setting does nothing and the
//! first thread to try says so once in the log.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use gatehouse_sched::SliceError;

/// Whether the outcome of asking for a slice has been logged (once per process: every runtime
/// thread would log the same).
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Gives the calling thread `slice` (`None`: nothing to do). Called on the thread that runs
/// the async runtime and in its `on_thread_start` hook. Never fails: a kernel that refuses
/// leaves the thread as it was, and the first refusal is logged.
pub fn apply_request_slice(slice: Option<Duration>) {
    let Some(slice) = slice else { return };
    let outcome = gatehouse_sched::set_current_thread_slice(slice);
    if REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    match outcome {
        Ok(s) => tracing::debug!(slice_us = s.as_micros(), "request threads run with a short scheduling slice"),
        Err(SliceError::Unsupported) => tracing::info!(
            "GATEHOUSE_REQUEST_SLICE_US has no effect: this kernel has no per-thread scheduling slices (Linux 6.12 or later)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not set the request threads' scheduling slice"),
    }
}

/// Puts the calling thread's slice back to the kernel's default, for threads that do long
/// runs of CPU work (hashing) but are started from a runtime thread, whose slice they inherit.
/// Does nothing where the kernel has no per-thread slices.
pub fn use_default_slice() {
    let _ = gatehouse_sched::reset_current_thread_slice();
}
