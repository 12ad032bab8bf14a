use std::sync::Arc;

use tower::Layer;

use super::RequireScopes;
use crate::AuthState;

/// Wraps routes so every request must authenticate and hold `scopes` (plus the handler's own).
#[derive(Debug, Clone)]
pub struct RequireScopesLayer {
    state: AuthState,
    scopes: Arc<[&'static str]>,
}

impl RequireScopesLayer {
    /// Requires `scopes` (may be empty: authentication only).
    pub fn new(state: AuthState, scopes: &'static [&'static str]) -> Self {
        Self { state, scopes: scopes.into() }
    }

    /// Requires every scope in `scopes` (built at run time, e.g. accumulated by
    /// [`SecureRouter`](crate::SecureRouter)).
    pub(crate) fn from_vec(state: AuthState, scopes: Vec<&'static str>) -> Self {
        Self { state, scopes: scopes.into() }
    }

    /// The scopes this layer requires.
    pub fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes { inner, state: self.state.clone(), scopes: Arc::clone(&self.scopes) }
    }
}
