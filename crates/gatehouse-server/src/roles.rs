//! Roles → scopes, with includes (admin ⊇ user), resolved transitively.

use std::collections::{BTreeMap, BTreeSet};

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use gatehouse_core::ScopeSet;
use gatehouse_store::{RoleRecord, Storage, StoreError};

use crate::coarse_time::CoarseInstant;

/// A snapshot of the role graph.
#[derive(Debug, Clone, Default)]
pub struct RoleGraph {
    roles: BTreeMap<String, RoleRecord>,
}

impl RoleGraph {
    /// From stored roles.
    pub fn new(roles: Vec<RoleRecord>) -> Self {
        Self { roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect() }
    }

    /// Whether a role exists.
    pub fn has(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    /// A role by name.
    pub fn get(&self, name: &str) -> Option<&RoleRecord> {
        self.roles.get(name)
    }

    /// All roles by name.
    pub fn all(&self) -> impl Iterator<Item = &RoleRecord> {
        self.roles.values()
    }

    /// Every scope the given roles grant, following includes (cycles are cut).
    pub fn scopes_for<'a>(&self, roles: impl IntoIterator<Item = &'a String>) -> ScopeSet {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = roles.into_iter().map(String::as_str).collect();
        let mut out = ScopeSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(r) = self.roles.get(name) {
                for s in &r.scopes {
                    out.insert(s.clone());
                }
                stack.extend(r.includes.iter().map(String::as_str));
            }
        }
        out
    }

    /// Every scope some role grants (the known scopes).
    pub fn known_scopes(&self) -> ScopeSet {
        self.roles.values().flat_map(|r| r.scopes.iter().map(String::as_str)).collect()
    }

    /// Whether giving `name` the includes `includes` would create a cycle.
    pub fn would_cycle(&self, name: &str, includes: &[String]) -> bool {
        let mut stack: Vec<&str> = includes.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        while let Some(r) = stack.pop() {
            if r == name {
                return true;
            }
            if seen.insert(r) {
                if let Some(rec) = self.roles.get(r) {
                    stack.extend(rec.includes.iter().map(String::as_str));
                }
            }
        }
        false
    }
}

/// The role graph, cached: re-read at most once per `ttl`, and at once after a local change
/// ([`RoleCache::invalidate`]). Another instance's role edits show within `ttl`.
#[derive(Debug)]
pub struct RoleCache {
    store: Arc<dyn Storage>,
    ttl: Duration,
    cached: RwLock<Option<(CoarseInstant, Arc<RoleGraph>)>>,
}

impl RoleCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn Storage>, ttl: Duration) -> Self {
        Self { store, ttl, cached: RwLock::new(None) }
    }

    /// The current graph.
    ///
    /// # Errors
    /// Storage failures when the cache needs a refresh.
    pub async fn get(&self) -> Result<Arc<RoleGraph>, StoreError> {
        if let Some((at, g)) = self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(g));
            }
        }
        // While the database is unreachable, the last known graph is better than an error:
        // discovery metadata and the scope checks that use it keep working.
        let g = match self.store.list_roles().await {
            Ok(r) => Arc::new(RoleGraph::new(r)),
            Err(e) if e.is_unavailable() => {
                match self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
                    Some((_, g)) => return Ok(Arc::clone(g)),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        *self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((CoarseInstant::now(), Arc::clone(&g)));
        Ok(g)
    }

    /// Forgets the cached graph (after a role was written here).
    pub fn invalidate(&self) {
        *self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, scopes: &[&str], includes: &[&str]) -> RoleRecord {
        RoleRecord {
            name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            includes: includes.iter().map(|s| (*s).to_owned()).collect(),
            builtin: false,
        }
    }

    #[test]
    fn hierarchy_resolves_transitively() {
        let g = RoleGraph::new(vec![
            role("user", &["me"], &[]),
            role("editor", &["posts:write"], &["user"]),
            role("admin", &["admin"], &["editor"]),
        ]);
        assert_eq!(g.scopes_for(&["admin".to_owned()]).to_string(), "admin me posts:write");
        assert_eq!(g.scopes_for(&["unknown".to_owned()]).to_string(), "");
        assert!(g.would_cycle("user", &["admin".to_owned()]));
        assert!(!g.would_cycle("admin", &["user".to_owned()]));
        assert_eq!(g.known_scopes().to_string(), "admin me posts:write");
    }
}
