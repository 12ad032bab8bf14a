//! Redis-backed [`CounterStore`] (shared by all instances) and revocation fan-out channel.
//!
//! Counters are Redis hashes `{n, exp}` updated by Lua scripts, atomically. Expiry is decided
//! by the caller's clock (`now` is an argument), so every instance agrees and tests can
//! inject time; a Redis `EXPIRE` cleans keys up afterwards. Keys carry a prefix so several
//! deployments (or test runs) can share one Redis.

use std::time::Duration;

use async_trait::async_trait;
use redis::{aio::ConnectionManager, AsyncCommands, Client, Script};
use tokio::sync::Mutex;

use crate::{CounterStore, StoreError, StoreResult};

const INCR: &str = r"
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp') or '0')
local now, ttl, sliding = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local n
if exp <= now then
  n = 1
  exp = now + ttl
  redis.call('HSET', KEYS[1], 'n', 1, 'exp', exp)
else
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  if sliding then
    exp = now + ttl
    redis.call('HSET', KEYS[1], 'exp', exp)
  end
end
redis.call('EXPIRE', KEYS[1], math.max(exp - now, 1) + 60)
return n
";

const LOCK: &str = r"
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp') or '0')
local now, secs = tonumber(ARGV[1]), tonumber(ARGV[2])
local upto = now + secs
if exp > now and exp > upto then upto = exp end
redis.call('HSET', KEYS[1], 'n', 1, 'exp', upto)
redis.call('EXPIRE', KEYS[1], math.max(upto - now, 1) + 60)
return upto
";

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {}", e.category()))
}

/// Counters in Redis.
pub struct RedisCounters {
    client: Client,
    prefix: String,
    conn: Mutex<Option<ConnectionManager>>,
    incr: Script,
    lock: Script,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Opens a Redis client for `url` (no I/O yet).
///
/// # Errors
/// [`StoreError::Unavailable`] for a malformed URL.
pub fn redis_client(url: &str) -> StoreResult<Client> {
    Client::open(url).map_err(unavailable)
}

/// A connection manager with bounded timeouts: operations fail fast while Redis is down and
/// the manager reconnects by itself when it returns.
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached now.
pub async fn redis_connection(client: &Client) -> StoreResult<ConnectionManager> {
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(1))
        .set_number_of_retries(1);
    client.get_connection_manager_with_config(cfg).await.map_err(unavailable)
}

impl RedisCounters {
    /// Counters under `prefix` (e.g. `gatehouse:`). Connects lazily, on first use.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into(), conn: Mutex::new(None), incr: Script::new(INCR), lock: Script::new(LOCK) }
    }

    async fn conn(&self) -> StoreResult<ConnectionManager> {
        let mut g = self.conn.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        let c = redis_connection(&self.client).await?;
        *g = Some(c.clone());
        Ok(c)
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Round-trips to Redis (readiness).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> StoreResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl CounterStore for RedisCounters {
    async fn incr(&self, key: &str, ttl: i64, sliding: bool, now: i64) -> StoreResult<u64> {
        let mut c = self.conn().await?;
        self.incr
            .key(self.key(key))
            .arg(now)
            .arg(ttl)
            .arg(if sliding { "1" } else { "0" })
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn lock(&self, key: &str, secs: i64, now: i64) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let _: i64 = self.lock.key(self.key(key)).arg(now).arg(secs).invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(())
    }

    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        let mut c = self.conn().await?;
        let exp: Option<i64> = c.hget(self.key(key), "exp").await.map_err(unavailable)?;
        Ok(exp.filter(|e| *e > now).map(|e| e - now))
    }

    async fn ttl(&self, key: &str, now: i64) -> StoreResult<i64> {
        Ok(self.locked_for(key, now).await?.unwrap_or(0))
    }

    async fn reset(&self, key: &str) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let _: i64 = c.del(self.key(key)).await.map_err(unavailable)?;
        Ok(())
    }
}
