//! Scheduling hints for the gatehouse server's request threads: a shorter **slice** under
//! Linux's EEVDF scheduler.
//!
//! # Why
//!
//! On a core shared by a request thread and a hashing thread (argon2, ~12 ms of CPU per
//! login), a request that arrives while the hash runs waits until the scheduler gives the
//! core back. Under EEVDF (Linux 6.6 and later) each thread asks for a *slice*, by default
//! the scheduler's base slice (0.7 ms × a factor for the core count). A woken thread whose
//! slice is shorter than the running thread's gets an earlier virtual deadline and, since
//! Linux 6.12, preempts it on wake-up instead of waiting for the running thread's slice to
//! end. The hashing threads keep the default slice, so a request thread with a 100 µs slice
//! takes the core as soon as a request wakes it; its fair share of the CPU is unchanged (the
//! slice sets *when* it runs, its weight *how much*). docs/PERFORMANCE.md, session 11, has
//! the measurements (`/users/me` p99 during a login flood, with and without).
//!
//! # How
//!
//! `sched_setattr(2)` with `sched_runtime` set, on a thread of the fair class
//! (`SCHED_OTHER`, `SCHED_BATCH`, `SCHED_IDLE`), is the interface the kernel gives for it; it
//! needs no privilege. Neither libc, rustix nor nix wraps the call safely, so this crate
//! makes the two system calls itself (`sched_getattr` to keep the thread's policy, niceness
//! and flags as they are, then `sched_setattr` with only the slice changed) in one audited
//! function (`sys::attr`). Kernels older than 6.12 accept the call and ignore the slice;
//! [`set_current_thread_slice`] reads the slice back and reports [`SliceError::Unsupported`]
//! there, as it does on other operating systems.

use std::time::Duration;

/// The shortest slice the kernel accepts (it clamps shorter requests to this).
pub const MIN_SLICE: Duration = Duration::from_micros(100);

/// The longest slice the kernel accepts (it clamps longer requests to this).
pub const MAX_SLICE: Duration = Duration::from_millis(100);

/// Why a slice could not be set or read.
#[derive(Debug, thiserror::Error)]
pub enum SliceError {
    /// The requested slice is outside [`MIN_SLICE`]..=[`MAX_SLICE`].
    #[error("a slice must be between 100 µs and 100 ms, not {0:?}")]
    OutOfRange(Duration),
    /// The kernel has no per-thread slices (Linux before 6.12, or not Linux).
    #[error("this kernel does not support per-thread scheduling slices (Linux 6.12 or later does)")]
    Unsupported,
    /// The thread is not in the fair scheduling class (a real-time or deadline policy), where
    /// a slice means nothing.
    #[error("the thread's scheduling policy ({0}) has no slices; only SCHED_OTHER, SCHED_BATCH and SCHED_IDLE do")]
    NotFairClass(u32),
    /// The system call failed.
    #[error("sched_setattr/sched_getattr failed: {0}")]
    Os(#[from] std::io::Error),
}

/// Asks the kernel to give the calling thread `slice` as its EEVDF slice, keeping its policy,
/// niceness and flags. Returns the slice in effect afterwards, as the kernel reports it.
///
/// # Errors
///
/// [`SliceError::OutOfRange`] outside [`MIN_SLICE`]..=[`MAX_SLICE`] (nothing is changed);
/// [`SliceError::NotFairClass`] for a real-time or deadline thread;
/// [`SliceError::Unsupported`] where the kernel ignores the request; [`SliceError::Os`] if a
/// system call fails.
pub fn set_current_thread_slice(slice: Duration) -> Result<Duration, SliceError> {
    if !(MIN_SLICE..=MAX_SLICE).contains(&slice) {
        return Err(SliceError::OutOfRange(slice));
    }
    let ns = u64::try_from(slice.as_nanos()).map_err(|_| SliceError::OutOfRange(slice))?;
    let now = sys::attr(Some(ns))?;
    if now == ns {
        Ok(slice)
    } else {
        Err(SliceError::Unsupported)
    }
}

/// The calling thread's EEVDF slice as the kernel reports it (its custom slice if one was
/// set, otherwise the scheduler's base slice).
///
/// # Errors
///
/// As [`set_current_thread_slice`], but for the range check; [`SliceError::Unsupported`] where
/// the kernel reports no slice (before Linux 6.12).
pub fn current_thread_slice() -> Result<Duration, SliceError> {
    reported(sys::attr(None)?)
}

/// Puts the calling thread's slice back to the scheduler's base slice (for a thread that
/// inherited a short one but does long runs of CPU work). Returns the slice in effect
/// afterwards.
///
/// # Errors
///
/// As [`current_thread_slice`].
pub fn reset_current_thread_slice() -> Result<Duration, SliceError> {
    // sched_runtime 0 is the kernel's "no custom slice".
    reported(sys::attr(Some(0))?)
}

/// A slice the kernel reported, in nanoseconds: 0 where it has none.
fn reported(ns: u64) -> Result<Duration, SliceError> {
    match ns {
        0 => Err(SliceError::Unsupported),
        ns => Ok(Duration::from_nanos(ns)),
    }
}

#[cfg(target_os = "linux")]
mod sys {
    //! The crate's only unsafe code: `sched_getattr` and `sched_setattr` on the calling thread.

    use super::SliceError;

    /// `sizeof(struct sched_attr)` as libc declares it: the kernel's `SCHED_ATTR_SIZE_VER0`,
    /// 48 bytes (checked when compiling), the size both calls are told.
    const SIZE: u32 = {
        let n = std::mem::size_of::<libc::sched_attr>();
        assert!(n == 48, "libc::sched_attr is not SCHED_ATTR_SIZE_VER0");
        n as u32
    };

    /// The fair-class policies: `SCHED_OTHER`, `SCHED_BATCH`, `SCHED_IDLE`.
    const FAIR_POLICIES: [u32; 3] = [libc::SCHED_OTHER as u32, libc::SCHED_BATCH as u32, libc::SCHED_IDLE as u32];

    /// Reads the calling thread's scheduling attributes and, with `Some(ns)`, writes them back
    /// with `sched_runtime = ns` (the EEVDF slice; 0 for the base slice). Returns the
    /// `sched_runtime` the kernel reports afterwards: the slice in nanoseconds on Linux 6.12
    /// and later, 0 before.
    #[allow(unsafe_code)]
    pub(super) fn attr(slice_ns: Option<u64>) -> Result<u64, SliceError> {
        let mut attr = libc::sched_attr {
            size: SIZE,
            sched_policy: 0,
            sched_flags: 0,
            sched_nice: 0,
            sched_priority: 0,
            sched_runtime: 0,
            sched_deadline: 0,
            sched_period: 0,
        };
        let get = |attr: &mut libc::sched_attr| -> Result<(), SliceError> {
            // SAFETY: `attr` is a valid, writable `sched_attr` of `SIZE` bytes (the kernel's
            // SCHED_ATTR_SIZE_VER0 layout, which libc declares); the kernel writes at most
            // `SIZE` bytes into it. pid 0 is the calling thread; flags must be 0.
            let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, attr as *mut libc::sched_attr, SIZE, 0) };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error().into())
            }
        };
        get(&mut attr)?;
        if !FAIR_POLICIES.contains(&attr.sched_policy) {
            return Err(SliceError::NotFairClass(attr.sched_policy));
        }
        let Some(ns) = slice_ns else {
            return Ok(attr.sched_runtime);
        };
        // Only the slice changes: the policy, niceness and flags (reset-on-fork) are the ones
        // just read; utilisation clamps are left alone (no SCHED_FLAG_UTIL_CLAMP).
        attr.sched_runtime = ns;
        attr.size = SIZE;
        attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
        // SAFETY: `attr` is a valid, initialised `sched_attr` whose `size` field matches its
        // length; the kernel only reads it. pid 0 is the calling thread; flags must be 0.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const libc::sched_attr, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        get(&mut attr)?;
        Ok(attr.sched_runtime)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! No per-thread slices outside Linux.

    use super::SliceError;

    /// Always [`SliceError::Unsupported`].
    pub(super) fn attr(_slice_ns: Option<u64>) -> Result<u64, SliceError> {
        Err(SliceError::Unsupported)
    }
}
