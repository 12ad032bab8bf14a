//! Scope requirements that accumulate like FastAPI's `SecurityScopes`.

use std::{marker::PhantomData, ops::Deref, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use crate::{AuthRejection, AuthState, Authenticated};

/// A compile-time list of required scopes. Declare one with [`scopes!`](crate::scopes).
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The scopes a handler using [`Scoped<Self>`] needs.
    const SCOPES: &'static [&'static str];
}

/// Declares scope-requirement marker types.
///
/// ```
/// gatehouse_axum::scopes! {
///     /// Read your own profile.
///     pub Me = ["me"];
///     pub ReportsRead = ["reports:read"];
/// }
/// ```
#[macro_export]
macro_rules! scopes {
    ($($(#[$m:meta])* $vis:vis $name:ident = [$($s:literal),* $(,)?];)+) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::ScopeRequirement for $name {
            const SCOPES: &'static [&'static str] = &[$($s),*];
        }
    )+};
}

/// No extra scopes: `Scoped<NoScopes>` only applies the router's requirements.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScopes;
impl ScopeRequirement for NoScopes {
    const SCOPES: &'static [&'static str] = &[];
}

/// Scopes required by enclosing routers (added by [`crate::RequireScopesLayer`]); a handler's
/// own requirement is checked together with these, and a 403 names all of them.
///
/// The list is shared: a router's guard hands its own list to each request without copying.
/// The guard also keeps the caller it admitted here, where the [`Authenticated`] extractor
/// finds it: read the caller with that extractor (or [`Scoped`]), not from the request's
/// extensions. Two values are equal when their scope lists are.
#[derive(Debug, Clone, Default)]
pub struct RequiredScopes {
    scopes: Arc<[&'static str]>,
    admitted: Option<Authenticated>,
}

impl PartialEq for RequiredScopes {
    fn eq(&self, other: &Self) -> bool {
        self.scopes == other.scopes
    }
}

impl Eq for RequiredScopes {}

impl RequiredScopes {
    /// The required scopes, in order.
    pub fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }

    /// The caller a guard admitted with these scopes, if a guard recorded them.
    pub(crate) fn admitted(&self) -> Option<&Authenticated> {
        self.admitted.as_ref()
    }

    /// These scopes, recorded with the caller a guard admitted.
    pub(crate) fn admitting(self, auth: Authenticated) -> Self {
        Self { admitted: Some(auth), ..self }
    }

    /// Adds scopes, keeping order and skipping duplicates. A caller a guard admitted against
    /// the shorter list is forgotten: nobody has checked the new scopes against it.
    pub fn extend(&mut self, scopes: &[&'static str]) {
        if scopes.iter().all(|s| self.scopes.contains(s)) {
            return;
        }
        let mut all = self.scopes.to_vec();
        for s in scopes {
            if !all.contains(s) {
                all.push(s);
            }
        }
        self.scopes = all.into();
        self.admitted = None;
    }

    /// Checks `principal` holds every required scope.
    ///
    /// # Errors
    /// [`AuthRejection::InsufficientScope`] naming every required scope.
    pub fn check(&self, auth: &Authenticated) -> Result<(), AuthRejection> {
        if auth.scopes.missing(self.scopes.iter().copied()).is_empty() {
            Ok(())
        } else {
            Err(AuthRejection::InsufficientScope { required: self.scopes.join(" ") })
        }
    }
}

impl From<Arc<[&'static str]>> for RequiredScopes {
    fn from(scopes: Arc<[&'static str]>) -> Self {
        Self { scopes, admitted: None }
    }
}

impl From<Vec<&'static str>> for RequiredScopes {
    fn from(scopes: Vec<&'static str>) -> Self {
        Self { scopes: scopes.into(), admitted: None }
    }
}

/// A verified caller holding `R`'s scopes plus every scope the enclosing routers require —
/// the `Security(get_current_user, scopes=[...])` analog.
///
/// ```
/// use gatehouse_axum::{scopes, Scoped};
/// scopes! { pub Me = ["me"]; }
/// async fn me(user: Scoped<Me>) -> String { user.subject.to_string() }
/// ```
#[derive(Debug, Clone)]
pub struct Scoped<R: ScopeRequirement> {
    auth: Authenticated,
    _r: PhantomData<R>,
}

impl<R: ScopeRequirement> Scoped<R> {
    /// The verified caller.
    pub fn into_inner(self) -> Authenticated {
        self.auth
    }
}

impl<R: ScopeRequirement> Deref for Scoped<R> {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.auth
    }
}

impl<S, R> FromRequestParts<S> for Scoped<R>
where
    AuthState: FromRef<S>,
    S: Send + Sync,
    R: ScopeRequirement,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let covers_r = |outer: &RequiredScopes| R::SCOPES.iter().all(|s| outer.scopes().contains(s));
        // The usual case (a `SecureRouter::scoped::<R>` route): a guard admitted the caller
        // against a list that already holds R's scopes, so there is nothing left to check.
        // (The admission is recorded only after that check passes, and `extend` drops it.)
        let admitted =
            parts.extensions.get::<RequiredScopes>().filter(|o| covers_r(o)).and_then(RequiredScopes::admitted);
        if let Some(admitted) = admitted {
            return Ok(Self { auth: admitted.clone(), _r: PhantomData });
        }
        let auth = Authenticated::from_request_parts(parts, state).await?;
        match parts.extensions.get::<RequiredScopes>() {
            // A recorded list that holds R's scopes but no admitted caller (raised after the
            // guard admitted, say): check the caller against the list as it is.
            Some(outer) if covers_r(outer) => outer.check(&auth)?,
            outer => {
                let mut required = outer.cloned().unwrap_or_default();
                required.extend(R::SCOPES);
                required.check(&auth)?;
            }
        }
        Ok(Self { auth, _r: PhantomData })
    }
}
