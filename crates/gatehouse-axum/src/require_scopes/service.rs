use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use tower::Service;

use crate::{authenticated::authenticate, AuthRejection, AuthState, BoxFuture, RequiredScopes};

/// The service made by [`super::RequireScopesLayer`].
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    pub(super) inner: S,
    pub(super) state: AuthState,
    pub(super) scopes: Arc<[&'static str]>,
}

impl<S> Service<Request> for RequireScopes<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        let scopes = Arc::clone(&self.scopes);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let auth = match authenticate(&mut parts, &state).await {
                Ok(Some(a)) => a,
                Ok(None) => return Ok(AuthRejection::Missing.into_response()),
                Err(e) => return Ok(e.into_response()),
            };
            let mut required = parts.extensions.remove::<RequiredScopes>().unwrap_or_default();
            required.extend(&scopes);
            if let Err(e) = required.check(&auth) {
                return Ok(e.into_response());
            }
            parts.extensions.insert(required);
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
