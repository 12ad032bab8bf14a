//! Throttling of credential endpoints (`/token`, `/session`, `/token/revoke`, and wrong current
//! passwords at `POST /users/me/password`, which share the login budget).
//!
//! - Per username (known or not): after `login_max_failures_per_user` consecutive failures
//!   (default 10) further attempts get 429 with a progressive back-off — 30 s, doubling per
//!   further failure, capped at 15 minutes — so a victim is never locked out for long, and
//!   a success resets the count.
//! - Per client IP: at most `login_max_failures_per_ip` failures (default 100) in a
//!   `login_failure_window` (default 10 minutes); then 429 until the window ends.
//! - Throttled requests are refused before any password hashing, so a flood costs nothing.
//!
//! Counters live in a [`CounterStore`]: in memory for one instance, in Redis when several
//! instances must share them. The client IP honours `X-Forwarded-For` only from
//! `GATEHOUSE_TRUSTED_PROXIES`.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use gatehouse_core::Clock;
use gatehouse_store::CounterStore;

use crate::{net::client_ip, state::AppState};

/// The caller's IP, resolved through trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        // The edge middleware has already resolved it for this request.
        if let Ok(Some(ip)) = crate::request_ctx::REQUEST.try_with(|c| c.ip) {
            return Ok(Self(ip));
        }
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(Self(client_ip(peer, xff, &st.trusted_proxies)))
    }
}

/// Why a request is refused: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub i64);

/// The throttling policy over a counter store.
#[derive(Debug, Clone)]
pub struct Throttle {
    counters: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    max_user: u64,
    max_ip: u64,
    window: i64,
}

/// Longest back-off for one username, seconds.
pub const MAX_BACKOFF: i64 = 15 * 60;

fn backoff(failures: u64, max: u64) -> i64 {
    let over = failures.saturating_sub(max).min(16) as u32;
    (30i64 << over).min(MAX_BACKOFF)
}

/// Errors from the counter store (e.g. Redis down): callers fail closed with 503.
pub type ThrottleResult<T> = Result<T, gatehouse_store::StoreError>;

impl Throttle {
    /// A policy with the given limits.
    pub fn new(
        counters: Arc<dyn CounterStore>,
        clock: Arc<dyn Clock>,
        max_user: u64,
        max_ip: u64,
        window: i64,
    ) -> Self {
        Self { counters, clock, max_user, max_ip, window }
    }

    /// Refuses when the IP or the username is currently locked.
    ///
    /// # Errors
    /// Counter-store failures.
    pub async fn check(&self, ip: IpAddr, user: Option<&str>) -> ThrottleResult<Result<(), Throttled>> {
        let now = self.clock.now();
        if let Some(s) = self.counters.locked_for(&format!("lock:ip:{ip}"), now).await? {
            return Ok(Err(Throttled(s)));
        }
        if let Some(u) = user {
            if let Some(s) = self.counters.locked_for(&format!("lock:user:{u}"), now).await? {
                return Ok(Err(Throttled(s)));
            }
        }
        Ok(Ok(()))
    }

    /// Records a failed attempt.
    ///
    /// # Errors
    /// Counter-store failures.
    pub async fn failure(&self, ip: IpAddr, user: Option<&str>) -> ThrottleResult<()> {
        let now = self.clock.now();
        let ip_key = format!("fail:ip:{ip}");
        let n = self.counters.incr(&ip_key, self.window, false, now).await?;
        if n >= self.max_ip {
            let left = self.counters.ttl(&ip_key, now).await?.max(1);
            self.counters.lock(&format!("lock:ip:{ip}"), left, now).await?;
            tracing::warn!(%ip, failures = n, "client IP throttled");
        }
        if let Some(u) = user {
            let n = self.counters.incr(&format!("fail:user:{u}"), self.window.max(MAX_BACKOFF * 2), true, now).await?;
            if n >= self.max_user {
                let secs = backoff(n, self.max_user);
                self.counters.lock(&format!("lock:user:{u}"), secs, now).await?;
                tracing::warn!(failures = n, backoff_secs = secs, "username throttled");
            }
        }
        Ok(())
    }

    /// A success resets the username's consecutive failures (not the IP's window).
    ///
    /// # Errors
    /// Counter-store failures.
    pub async fn success(&self, user: &str) -> ThrottleResult<()> {
        self.counters.reset(&format!("fail:user:{user}")).await
    }

    /// Counts one request in a per-IP rate bucket; refuses past `limit` per window.
    ///
    /// # Errors
    /// Counter-store failures.
    pub async fn rate(&self, bucket: &str, ip: IpAddr, limit: u64) -> ThrottleResult<Result<(), Throttled>> {
        let now = self.clock.now();
        let key = format!("rate:{bucket}:{ip}");
        let n = self.counters.incr(&key, self.window, false, now).await?;
        if n > limit {
            return Ok(Err(Throttled(self.counters.ttl(&key, now).await?.max(1))));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::ManualClock;
    use gatehouse_store::MemoryCounters;

    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(10, 10), 30);
        assert_eq!(backoff(11, 10), 60);
        assert_eq!(backoff(13, 10), 240);
        assert_eq!(backoff(40, 10), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn username_lock_is_temporary_and_reset_by_success() {
        let clock = Arc::new(ManualClock::new(1000));
        let t = Throttle::new(Arc::new(MemoryCounters::default()), clock.clone(), 3, 1000, 600);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..2 {
            t.failure(ip, Some("bob")).await.unwrap();
        }
        assert_eq!(t.check(ip, Some("bob")).await.unwrap(), Ok(()));
        t.failure(ip, Some("bob")).await.unwrap();
        assert_eq!(t.check(ip, Some("bob")).await.unwrap(), Err(Throttled(30)));
        assert_eq!(t.check(ip, Some("alice")).await.unwrap(), Ok(()), "other users unaffected");
        clock.advance(31);
        assert_eq!(t.check(ip, Some("bob")).await.unwrap(), Ok(()), "the lock expires");
        t.failure(ip, Some("bob")).await.unwrap();
        assert_eq!(t.check(ip, Some("bob")).await.unwrap(), Err(Throttled(60)), "and grows");
        clock.advance(61);
        t.success("bob").await.unwrap();
        t.failure(ip, Some("bob")).await.unwrap();
        assert_eq!(t.check(ip, Some("bob")).await.unwrap(), Ok(()), "success reset the count");
    }

    #[tokio::test]
    async fn ip_window() {
        let clock = Arc::new(ManualClock::new(0));
        let t = Throttle::new(Arc::new(MemoryCounters::default()), clock.clone(), 1000, 5, 600);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..5 {
            t.failure(ip, Some(&format!("user{i}"))).await.unwrap();
        }
        assert!(t.check(ip, None).await.unwrap().is_err());
        assert!(t.check("10.0.0.10".parse().unwrap(), None).await.unwrap().is_ok());
        clock.advance(600);
        assert!(t.check(ip, None).await.unwrap().is_ok());
    }
}
