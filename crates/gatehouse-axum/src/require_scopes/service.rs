use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::request::Parts,
    response::{IntoResponse, Response},
};
use futures_util::future::{Either, Ready};
use tower::Service;

use crate::{
    authenticated::{authenticate_awaited, authenticate_now, Remember},
    AuthRejection, AuthState, Authenticated, BoxFuture, RequiredScopes,
};

/// The service made by [`super::RequireScopesLayer`].
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    pub(super) inner: S,
    pub(super) state: AuthState,
    pub(super) scopes: Arc<[&'static str]>,
}

/// The future of [`RequireScopes`]: the inner service's (the request passed), a ready
/// refusal, or a boxed one for a credential the authenticator must be awaited for.
type GuardFuture<F, E> = Either<F, Either<Ready<Result<Response, E>>, BoxFuture<'static, Result<Response, E>>>>;

impl<S> Service<Request> for RequireScopes<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        // The usual case: a credential the authenticator answers at once (a cached token).
        if let Some(auth) = authenticate_now(&mut parts, &self.state, Remember::No) {
            return match admit(&mut parts, auth, &self.scopes) {
                Ok(()) => Either::Left(self.inner.call(Request::from_parts(parts, body))),
                Err(refused) => Either::Right(Either::Left(futures_util::future::ready(Ok(refused.into_response())))),
            };
        }
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        let scopes = Arc::clone(&self.scopes);
        Either::Right(Either::Right(Box::pin(async move {
            // `authenticate_now` already found nothing to answer at once; go straight to the wait.
            let auth = authenticate_awaited(&mut parts, &state, Remember::No).await;
            match admit(&mut parts, auth, &scopes) {
                Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                Err(refused) => Ok(refused.into_response()),
            }
        })))
    }
}

/// Lets the request through if it authenticated and holds `scopes` plus those of enclosing
/// guards; records the accumulated requirement, and the caller it admitted, for the
/// handler's extractors ([`crate::Scoped`], [`Authenticated`]) and inner guards.
fn admit(
    parts: &mut Parts,
    auth: Result<Option<Authenticated>, AuthRejection>,
    scopes: &Arc<[&'static str]>,
) -> Result<(), AuthRejection> {
    let auth = auth?.ok_or(AuthRejection::Missing)?;
    let required = match parts.extensions.remove::<RequiredScopes>() {
        None => RequiredScopes::from(Arc::clone(scopes)),
        Some(mut outer) => {
            outer.extend(scopes);
            outer
        }
    };
    required.check(&auth)?;
    parts.extensions.insert(required.admitting(auth));
    Ok(())
}
