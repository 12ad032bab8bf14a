//! Application state shared by every handler.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use gatehouse_axum::AuthState;
use gatehouse_core::Clock;
use gatehouse_store::{SqlStore, Storage};

use crate::{
    hashing::HashPool, keys::KeyManager, net::Cidr, revocation::Revocations, roles::RoleGraph, settings::Settings,
};

/// Cheaply clonable handle on everything the server holds.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<AppInner>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct AppInner {
    /// Effective settings.
    pub settings: Settings,
    /// Storage, behind its traits.
    pub store: Arc<dyn Storage>,
    /// The concrete SQL store (readiness ping, shutdown).
    pub sql: SqlStore,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Revocation view.
    pub revocations: Arc<Revocations>,
    /// Password hashing pool.
    pub hasher: HashPool,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// What the auth extractors use.
    pub auth: AuthState,
    /// Parsed trusted proxies.
    pub trusted_proxies: Vec<Cidr>,
    /// Login throttling.
    pub throttle: crate::throttle::Throttle,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// The role graph, cached.
    pub role_cache: Arc<crate::roles::RoleCache>,
    /// Shared counters in Redis, when configured (readiness checks them).
    pub redis: Option<Arc<gatehouse_store::RedisCounters>>,
    /// User records, cached for `GET /users/me`.
    pub users: crate::user_cache::UserCache,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl FromRef<AppState> for AuthState {
    fn from_ref(s: &AppState) -> AuthState {
        s.auth.clone()
    }
}

impl AppInner {
    /// The current role graph (read from storage).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn roles(&self) -> Result<Arc<RoleGraph>, gatehouse_store::StoreError> {
        self.role_cache.get().await
    }

    /// Applies `patch` to user `id` and drops the cached copy.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn update_user(
        &self,
        id: &str,
        patch: &gatehouse_store::UserPatch,
        now: i64,
    ) -> Result<Option<gatehouse_store::UserRecord>, gatehouse_store::StoreError> {
        let updated = self.store.update_user(id, patch, now).await;
        self.users.invalidate(id);
        updated
    }

    /// Deletes user `id` and drops the cached copy.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn delete_user(&self, id: &str) -> Result<bool, gatehouse_store::StoreError> {
        let deleted = self.store.delete_user(id).await;
        self.users.invalidate(id);
        deleted
    }
}
