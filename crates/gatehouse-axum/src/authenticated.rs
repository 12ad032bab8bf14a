//! The verified-principal extractor (`get_current_user`'s first half).

use std::{borrow::Cow, ops::Deref, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
};
use gatehouse_core::Principal;

use crate::{
    api_key::find_api_key,
    credential::{all_b64token, cookie_value, parse_bearer, split_bearer},
    AuthError, AuthRejection, AuthState, Credential, RequiredScopes,
};

/// A verified caller. Extracting it verifies the credential once per request: later
/// extractors in the same request (and [`crate::Scoped`]) reuse the cached result.
///
/// Credentials are looked for in order: `Authorization: Bearer`, then the API key (header,
/// query or cookie, per [`AuthState::with_api_key`]), then the session cookie (each only if
/// configured on [`AuthState`]).
///
/// The principal is shared (`Arc`): the extractors, [`crate::Scoped`] and the request's
/// extensions hold one copy between them, and an [`Authenticator`](crate::Authenticator)
/// with a cache can hand out its cached principal without copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Arc<Principal>);

impl From<Principal> for Authenticated {
    fn from(p: Principal) -> Self {
        Self(Arc::new(p))
    }
}

impl Deref for Authenticated {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// A credential found in a request, not yet verified.
enum Found<'a> {
    Bearer(&'a str),
    ApiKey(Cow<'a, str>),
    SessionCookie(&'a str),
}

impl Found<'_> {
    fn credential(&self) -> Credential<'_> {
        match self {
            Self::Bearer(t) => Credential::Bearer(t),
            Self::ApiKey(k) => Credential::ApiKey(k),
            Self::SessionCookie(c) => Credential::SessionCookie(c),
        }
    }
}

/// Which credential a request carries, without verifying it.
fn find_credential<'a>(parts: &'a Parts, state: &AuthState) -> Result<Option<Found<'a>>, AuthRejection> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        return parse_bearer(v.as_bytes()).map(|t| Some(Found::Bearer(t)));
    }
    if let Some((location, name)) = state.api_key {
        let key = find_api_key(parts, location, name).map_err(|reason| AuthRejection::InvalidToken { reason })?;
        if let Some(key) = key {
            return Ok(Some(Found::ApiKey(key)));
        }
    }
    if let Some(name) = state.session_cookie {
        if let Some(v) = cookie_value(parts, name) {
            return Ok(Some(Found::SessionCookie(v)));
        }
    }
    Ok(None)
}

/// Authenticates the request (or returns the principal an earlier extractor stored).
///
/// # Errors
/// The [`AuthRejection`] for a missing or invalid credential.
pub async fn authenticate(parts: &mut Parts, state: &AuthState) -> Result<Option<Authenticated>, AuthRejection> {
    match authenticate_now(parts, state, Remember::Yes) {
        Some(done) => done,
        None => authenticate_awaited(parts, state, Remember::Yes).await,
    }
}

/// Whether a caller verified now is stored in the request's extensions for later extractors.
/// A scope guard says `No`: it stores the caller inside the [`RequiredScopes`] it records
/// anyway, which spares the request's extension map a fourth entry, and with it a regrowth
/// of the map (≈ 1.5% of a `/users/me` request's instructions; docs/PERFORMANCE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remember {
    Yes,
    No,
}

/// The caller an earlier extractor or scope guard of this request verified.
fn remembered(parts: &Parts) -> Option<Authenticated> {
    match parts.extensions.get::<Authenticated>() {
        Some(done) => Some(done.clone()),
        None => parts.extensions.get::<RequiredScopes>().and_then(RequiredScopes::admitted).cloned(),
    }
}

/// The rest of [`authenticate`] once [`authenticate_now`] has returned `None`: awaits
/// [`crate::Authenticator::authenticate_shared`] (the cache is not asked again).
pub(crate) async fn authenticate_awaited(
    parts: &mut Parts,
    state: &AuthState,
    remember: Remember,
) -> Result<Option<Authenticated>, AuthRejection> {
    let Some(cred) = find_credential(parts, state)? else {
        return Ok(None);
    };
    let principal = state.authenticator.authenticate_shared(cred.credential()).await.map_err(rejection)?;
    let auth = Authenticated(principal);
    if remember == Remember::Yes {
        parts.extensions.insert(auth.clone());
    }
    Ok(Some(auth))
}

/// [`authenticate`] when it needs no waiting: the caller an earlier extractor or guard
/// verified, no credential, a malformed one, or one
/// [`crate::Authenticator::authenticate_cached`] answers. `None`: the authenticator must be
/// awaited.
pub(crate) fn authenticate_now(
    parts: &mut Parts,
    state: &AuthState,
    remember: Remember,
) -> Option<Result<Option<Authenticated>, AuthRejection>> {
    if let Some(done) = remembered(parts) {
        return Some(Ok(Some(done)));
    }
    let answer = match parts.headers.get(axum::http::header::AUTHORIZATION) {
        // A bearer token is offered to the cache before its characters are checked: an
        // authenticator only answers `Ok` for a token it verified before, which passed that
        // check then. Any other answer is given only once the token passes it now, so a
        // malformed token is refused as malformed, as before.
        Some(v) => {
            let token = match split_bearer(v.as_bytes()) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            let answer = state.authenticator.authenticate_cached_bearer(token);
            if !matches!(answer, Some(Ok(_))) && !all_b64token(token) {
                return Some(Err(AuthRejection::InvalidToken { reason: "malformed_authorization" }));
            }
            answer?
        }
        None => {
            let cred = match find_credential(parts, state) {
                Ok(Some(cred)) => cred,
                Ok(None) => return Some(Ok(None)),
                Err(e) => return Some(Err(e)),
            };
            state.authenticator.authenticate_cached(&cred.credential())?
        }
    };
    let principal = match answer {
        Ok(p) => p,
        Err(e) => return Some(Err(rejection(e))),
    };
    let auth = Authenticated(principal);
    if remember == Remember::Yes {
        parts.extensions.insert(auth.clone());
    }
    Some(Ok(Some(auth)))
}

fn rejection(e: AuthError) -> AuthRejection {
    match e {
        AuthError::Invalid { reason } => AuthRejection::InvalidToken { reason },
        AuthError::Unsupported => AuthRejection::InvalidToken { reason: "unsupported_credential" },
        AuthError::Unavailable => AuthRejection::Unavailable,
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AuthState::from_ref(state);
        match authenticate(parts, &state).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(AuthRejection::Missing),
            Err(e) => {
                tracing::info!(reason = ?e, "authentication failed");
                Err(e)
            }
        }
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    /// `None` when no credential is present; a present but invalid one still rejects.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        authenticate(parts, &AuthState::from_ref(state)).await
    }
}
