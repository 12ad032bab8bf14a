#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod counters;
mod error;
mod records;
mod redis_counters;
mod sql;
mod traits;

pub use counters::{CounterStore, MemoryCounters};
pub use error::{StoreError, StoreResult};
pub use records::{
    ApiKeyRecord, AuditFilter, AuditRecord, ClientRecord, KeyRecord, KeyStatus, RefreshRecord, RoleRecord,
    SessionRecord, UserPatch, UserRecord,
};
pub use redis::{aio::ConnectionManager as RedisConnection, Client as RedisClient};
pub use redis_counters::{redis_client, redis_connection, RedisCounters};
pub use sql::{Dialect, SqlStore};
pub use traits::{
    ApiKeyStore, AuditStore, ClientStore, KeyStore, RevocationStore, RoleStore, SessionStore, Storage, UserStore,
};
