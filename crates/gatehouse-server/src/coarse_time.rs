//! Clock reads for checks that need no better than a few milliseconds: the age of a cached
//! record and token times, which are whole seconds. On Linux (and FreeBSD) they read the
//! coarse clocks (`CLOCK_MONOTONIC_COARSE`, `CLOCK_REALTIME_COARSE`): the time of the last
//! scheduler tick (1–4 ms resolution), read from the vDSO without reading the CPU's time
//! counter. Three such reads on a `/users/me` request cost ≈ 0.6% of its CPU time with the
//! precise clocks. Elsewhere they are std's clocks.

use std::time::Duration;

use gatehouse_core::Clock;

/// A reading of the coarse monotonic clock: ages of cached entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoarseInstant(Duration);

impl CoarseInstant {
    /// Now, to within a scheduler tick.
    #[must_use]
    pub fn now() -> Self {
        Self(monotonic())
    }

    /// Time since `self` (zero if `self` is later).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        monotonic().saturating_sub(self.0)
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    #[must_use]
    pub fn duration_since(&self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// The system clock in whole seconds, read coarsely: the server's [`Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    fn now(&self) -> i64 {
        realtime_secs()
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
use coarse::{monotonic, realtime_secs};
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
use precise::{monotonic, realtime_secs};

/// The kernel's coarse clocks.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod coarse {
    use std::time::Duration;

    use rustix::time::{clock_gettime, ClockId};

    pub(super) fn monotonic() -> Duration {
        let t = clock_gettime(ClockId::MonotonicCoarse);
        Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
    }

    pub(super) fn realtime_secs() -> i64 {
        clock_gettime(ClockId::RealtimeCoarse).tv_sec
    }
}

/// std's clocks, where there are no coarse ones.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod precise {
    use std::time::{Duration, Instant};

    use gatehouse_core::Clock as _;

    pub(super) fn monotonic() -> Duration {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }

    pub(super) fn realtime_secs() -> i64 {
        gatehouse_core::SystemClock.now()
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::SystemClock;

    use super::*;

    #[test]
    fn the_coarse_clock_tells_the_same_second_as_the_system_clock_give_or_take_a_tick() {
        let before = SystemClock.now();
        let coarse = CoarseClock.now();
        let after = SystemClock.now();
        // A coarse reading is at most one tick (a few ms) behind: one second less at most,
        // right after a second boundary.
        assert!((before - 1..=after).contains(&coarse), "{before} <= {coarse} <= {after}");
    }

    #[test]
    fn coarse_instants_move_forward_and_measure_sleeps() {
        let a = CoarseInstant::now();
        std::thread::sleep(Duration::from_millis(60));
        let b = CoarseInstant::now();
        assert!(b > a);
        // 60 ms asleep, read to within a tick (≤ 10 ms here) at each end.
        let measured = b.duration_since(a);
        assert!(measured >= Duration::from_millis(45) && measured < Duration::from_secs(5), "{measured:?}");
        assert!(a.elapsed() >= measured);
        assert_eq!(a.duration_since(b), Duration::ZERO);
    }
}
