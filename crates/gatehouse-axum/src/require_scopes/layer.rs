use tower::Layer;

use super::RequireScopes;
use crate::AuthState;

/// Wraps routes so every request must authenticate and hold `scopes` (plus the handler's own).
#[derive(Debug, Clone)]
pub struct RequireScopesLayer {
    state: AuthState,
    scopes: &'static [&'static str],
}

impl RequireScopesLayer {
    /// Requires `scopes` (may be empty: authentication only).
    pub fn new(state: AuthState, scopes: &'static [&'static str]) -> Self {
        Self { state, scopes }
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes { inner, state: self.state.clone(), scopes: self.scopes }
    }
}
