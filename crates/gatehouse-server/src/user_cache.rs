//! User records, cached for `GET /users/me`. The profile is read far more often than it
//! changes; a record is re-read at most once per `ttl`, and at once after a change made on
//! this instance (the [`AppInner`](crate::state::AppInner) write helpers invalidate it).
//!
//! While the database is unreachable, the last known record is served, whatever its age, so
//! `/users/me` keeps answering for users seen before the outage.
//!
//! Nothing security-relevant depends on this cache: whether a user's credentials still work
//! (disabled, deleted, logged out everywhere) is decided by the revocation view, which every
//! instance updates at once through the fan-out. What another instance (or the CLI) changes
//! in a profile (e-mail, roles) shows here within `ttl`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::body::Bytes;
use gatehouse_store::{Storage, StoreError, UserRecord};

use crate::{coarse_time::CoarseInstant, roles::RoleGraph};

/// A cached user record, with its `/users/me` JSON rendered once per role graph.
#[derive(Debug)]
pub struct CachedUser {
    /// The record as read from storage.
    pub record: UserRecord,
    view: std::sync::Mutex<Option<(Arc<RoleGraph>, Bytes)>>,
}

impl CachedUser {
    fn new(record: UserRecord) -> Self {
        Self { record, view: std::sync::Mutex::new(None) }
    }

    /// The user's public view as JSON, under `graph` (re-rendered when the graph changed).
    ///
    /// # Errors
    /// Serialization failure (not expected for this type).
    pub fn view_json(&self, graph: &Arc<RoleGraph>) -> Result<Bytes, serde_json::Error> {
        let mut view = self.view.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((g, body)) = view.as_ref() {
            if Arc::ptr_eq(g, graph) {
                return Ok(body.clone());
            }
        }
        let body = Bytes::from(serde_json::to_vec(&crate::accounts::user_view(&self.record, graph))?);
        *view = Some((Arc::clone(graph), body.clone()));
        Ok(body)
    }
}

/// A bounded, short-lived cache of user records by id.
#[derive(Debug)]
pub struct UserCache {
    store: Arc<dyn Storage>,
    ttl: Duration,
    max_entries: usize,
    /// Keyed by user id, hashed with foldhash (randomly seeded): only ids of users that
    /// exist are inserted, so the keys are not an attacker's choice.
    map: RwLock<HashMap<String, (CoarseInstant, Arc<CachedUser>), foldhash::fast::RandomState>>,
}

impl UserCache {
    /// A cache over `store` keeping records for `ttl`, at most `max_entries` of them.
    pub fn new(store: Arc<dyn Storage>, ttl: Duration, max_entries: usize) -> Self {
        Self { store, ttl, max_entries: max_entries.max(1), map: RwLock::new(HashMap::default()) }
    }

    /// The user `id`, from the cache when fresh, else from storage. Unknown users are not
    /// cached.
    ///
    /// # Errors
    /// Storage failures when the record has to be read.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<CachedUser>>, StoreError> {
        let stale = match self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id) {
            Some((at, u)) if at.elapsed() < self.ttl => return Ok(Some(Arc::clone(u))),
            Some((_, u)) => Some(Arc::clone(u)),
            None => None,
        };
        let found = match self.store.user_by_id(id).await {
            Ok(found) => found,
            // While the database is unreachable, the last known record is served (the
            // revocation view still decides whether the credential is valid).
            Err(e) if e.is_unavailable() => return stale.map(Some).ok_or(e),
            Err(e) => return Err(e),
        };
        let Some(user) = found.map(|u| Arc::new(CachedUser::new(u))) else {
            self.invalidate(id);
            return Ok(None);
        };
        let now = CoarseInstant::now();
        let mut map = self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(id) {
            crate::bounded::make_room(&mut map, self.max_entries, |_, (at, _)| now.duration_since(*at) < self.ttl);
        }
        map.insert(id.to_owned(), (now, Arc::clone(&user)));
        Ok(Some(user))
    }

    /// Forgets user `id` (after a change made here).
    pub fn invalidate(&self, id: &str) {
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }

    /// Number of cached records.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_store::{SqlStore, UserPatch, UserStore as _};

    use super::*;

    async fn store_with(ids: &[&str]) -> Arc<dyn Storage> {
        let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        for id in ids {
            let user = UserRecord {
                id: (*id).to_owned(),
                username: (*id).to_owned(),
                username_key: (*id).to_owned(),
                email: None,
                password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
                roles: vec!["user".into()],
                disabled: false,
                created_at: 0,
                updated_at: 0,
                tokens_valid_after: 0,
            };
            store.create_user(&user).await.unwrap();
        }
        Arc::new(store)
    }

    fn email(addr: &str) -> UserPatch {
        UserPatch { email: Some(Some(addr.to_owned())), ..Default::default() }
    }

    #[tokio::test]
    async fn serves_cached_records_until_invalidated_or_stale() {
        let store = store_with(&["u1"]).await;
        let cache = UserCache::new(Arc::clone(&store), Duration::from_secs(3600), 10);
        assert_eq!(cache.get("u1").await.unwrap().unwrap().record.email, None);
        // A change behind the cache's back (another instance) is not seen within the TTL …
        store.update_user("u1", &email("a@example.com"), 1).await.unwrap();
        assert_eq!(cache.get("u1").await.unwrap().unwrap().record.email, None);
        // … a local change invalidates at once.
        cache.invalidate("u1");
        assert_eq!(cache.get("u1").await.unwrap().unwrap().record.email.as_deref(), Some("a@example.com"));
        assert!(cache.get("nobody").await.unwrap().is_none(), "unknown users are not invented");

        let fresh = UserCache::new(Arc::clone(&store), Duration::ZERO, 10);
        assert!(fresh.get("u1").await.is_ok());
        store.update_user("u1", &email("b@example.com"), 2).await.unwrap();
        assert_eq!(
            fresh.get("u1").await.unwrap().unwrap().record.email.as_deref(),
            Some("b@example.com"),
            "TTL elapsed"
        );
    }

    #[tokio::test]
    async fn deleted_users_disappear_and_size_is_bounded() {
        let store = store_with(&["a", "b", "c", "d"]).await;
        let cache = UserCache::new(Arc::clone(&store), Duration::from_secs(3600), 2);
        for id in ["a", "b", "c", "d"] {
            assert!(cache.get(id).await.unwrap().is_some());
            assert!(cache.len() <= 2, "bounded: {}", cache.len());
        }
        store.delete_user("d").await.unwrap();
        cache.invalidate("d");
        assert!(cache.get("d").await.unwrap().is_none());
    }
}
