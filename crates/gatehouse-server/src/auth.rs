//! The server's [`Authenticator`]: verify the JWT with the current keyring (reloading once
//! on an unknown `kid`), then consult the in-memory revocation view.

use std::sync::Arc;

use gatehouse_axum::{AuthError, Authenticator, BoxFuture, Credential};
use gatehouse_core::{Clock, CredentialKind, ErrorKind, Principal, ScopeSet, Subject};
use gatehouse_store::Storage;

use crate::{keys::KeyManager, revocation::Revocations, secrets::hash_secret};

/// Verifies gatehouse access tokens and applies revocation.
#[derive(Debug)]
pub struct ServerAuthenticator {
    /// Keys.
    pub keys: Arc<KeyManager>,
    /// Revocation view.
    pub revocations: Arc<Revocations>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Storage (API keys and browser sessions are looked up there).
    pub store: Arc<dyn Storage>,
    /// The role graph, cached.
    pub roles: Arc<crate::roles::RoleCache>,
    /// Tokens whose signature was already verified.
    pub verified: crate::verified_cache::VerifiedCache,
}

impl ServerAuthenticator {
    /// A bearer token verified before under the current keyring: its times and revocation are
    /// checked again, its signature is not. `None` if it is not in the cache.
    fn bearer_cached(&self, token: &[u8]) -> Option<Result<Arc<Principal>, AuthError>> {
        let ring = self.keys.current();
        let (claims, principal) = self.verified.get(token, ring.generation)?;
        let fresh = ring.verifier.check_times(&claims, self.clock.as_ref()).map_err(|e| AuthError::invalid(e.reason()));
        Some(fresh.and_then(|()| self.revocations.check(&principal).map_err(AuthError::invalid)).map(|()| principal))
    }

    async fn bearer(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        if let Some(cached) = self.bearer_cached(token.as_bytes()) {
            return cached;
        }
        let mut ring = self.keys.current();
        let mut result = ring.verifier.verify(token, self.clock.as_ref());
        if matches!(&result, Err(e) if *e.kind() == ErrorKind::UnknownKey) && self.keys.reload_if_stale().await {
            ring = self.keys.current();
            result = ring.verifier.verify(token, self.clock.as_ref());
        }
        let claims = result.map_err(|e| AuthError::invalid(e.reason()))?;
        let principal = Arc::new(Principal::from_claims(&claims));
        self.revocations.check(&principal).map_err(AuthError::invalid)?;
        self.verified.insert(token, ring.generation, claims, Arc::clone(&principal), self.clock.now());
        Ok(principal)
    }

    /// An API key acts with its own scopes, cut to what its owner may do now.
    async fn api_key(&self, key: &str) -> Result<Principal, AuthError> {
        if key.len() > 256 || !key.starts_with(crate::routes::account::API_KEY_PREFIX) {
            return Err(AuthError::invalid("malformed_api_key"));
        }
        let now = self.clock.now();
        let unavailable = |e: gatehouse_store::StoreError| {
            tracing::warn!(error = %e, "API key lookup failed");
            AuthError::Unavailable
        };
        let record = self.store.api_key_by_hash(&hash_secret(key)).await.map_err(unavailable)?;
        let Some(k) = record.filter(|k| k.revoked_at.is_none()) else {
            return Err(AuthError::invalid("unknown_api_key"));
        };
        if k.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::invalid("expired"));
        }
        let Some(owner) = self.store.user_by_id(&k.user_id).await.map_err(unavailable)?.filter(|u| !u.disabled) else {
            return Err(AuthError::invalid("account_disabled"));
        };
        let roles = self.roles.get().await.map_err(unavailable)?;
        let own: ScopeSet = k.scopes.iter().map(String::as_str).collect();
        let principal = Principal {
            subject: Subject::User(owner.id.clone()),
            scopes: own.intersection(&roles.scopes_for(&owner.roles)),
            client_id: "api-key".into(),
            session_id: None,
            credential_id: Some(format!("apikey:{}", k.id)),
            issued_at: now,
            expires_at: k.expires_at.unwrap_or(i64::MAX),
            kind: CredentialKind::ApiKey,
        };
        self.revocations.check(&principal).map_err(AuthError::invalid)?;
        if k.last_used_at.is_none_or(|t| now - t >= 60) {
            let store = Arc::clone(&self.store);
            tokio::spawn(async move {
                let _ = store.touch_api_key(&k.id, now).await;
            });
        }
        Ok(principal)
    }

    /// A browser session cookie: the session must be live, its user enabled; scopes are the
    /// user's current ones.
    async fn cookie(&self, secret: &str) -> Result<Principal, AuthError> {
        if secret.is_empty() || secret.len() > 128 {
            return Err(AuthError::invalid("malformed_cookie"));
        }
        let now = self.clock.now();
        let unavailable = |e: gatehouse_store::StoreError| {
            tracing::warn!(error = %e, "session lookup failed");
            AuthError::Unavailable
        };
        let session = self.store.session_by_secret(&hash_secret(secret)).await.map_err(unavailable)?;
        let Some(s) = session.filter(|s| s.kind == "cookie" && s.revoked_at.is_none() && s.expires_at > now) else {
            return Err(AuthError::invalid("session_ended"));
        };
        let Some(user) = self.store.user_by_id(&s.user_id).await.map_err(unavailable)?.filter(|u| !u.disabled) else {
            return Err(AuthError::invalid("account_disabled"));
        };
        let roles = self.roles.get().await.map_err(unavailable)?;
        let principal = Principal {
            subject: Subject::User(user.id.clone()),
            scopes: roles.scopes_for(&user.roles),
            client_id: s.client_id.clone(),
            session_id: Some(s.id.clone()),
            credential_id: None,
            issued_at: s.created_at,
            expires_at: s.expires_at,
            kind: CredentialKind::SessionCookie,
        };
        self.revocations.check(&principal).map_err(AuthError::invalid)?;
        Ok(principal)
    }
}

impl Authenticator for ServerAuthenticator {
    fn authenticate<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move { self.authenticate_shared(credential).await.map(Arc::unwrap_or_clone) })
    }

    /// A cached bearer token's principal is handed out as the cache holds it, not copied.
    fn authenticate_shared<'a>(
        &'a self,
        credential: Credential<'a>,
    ) -> BoxFuture<'a, Result<Arc<Principal>, AuthError>> {
        Box::pin(async move {
            let result = match credential {
                Credential::Bearer(t) => self.bearer(t).await,
                Credential::ApiKey(k) => self.api_key(k).await.map(Arc::new),
                Credential::SessionCookie(c) => self.cookie(c).await.map(Arc::new),
            };
            noted(result)
        })
    }

    /// A bearer token in the verified-token cache is answered without a future.
    fn authenticate_cached(&self, credential: &Credential<'_>) -> Option<Result<Arc<Principal>, AuthError>> {
        match credential {
            Credential::Bearer(t) => self.authenticate_cached_bearer(t.as_bytes()),
            _ => None,
        }
    }

    fn authenticate_cached_bearer(&self, token: &[u8]) -> Option<Result<Arc<Principal>, AuthError>> {
        self.bearer_cached(token).map(noted)
    }
}

/// Notes an authentication's outcome: the subject for the request's log lines, or the reason
/// a credential was refused.
fn noted(result: Result<Arc<Principal>, AuthError>) -> Result<Arc<Principal>, AuthError> {
    match &result {
        Ok(p) => crate::request_ctx::set_principal(p),
        Err(e) => tracing::info!(reason = ?e, "credential refused"),
    }
    result
}
