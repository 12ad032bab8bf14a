//! The server's [`Authenticator`]: verify the JWT with the current keyring (reloading once
//! on an unknown `kid`), then consult the in-memory revocation view.

use std::sync::Arc;

use gatehouse_axum::{AuthError, Authenticator, BoxFuture, Credential};
use gatehouse_core::{Clock, ErrorKind, Principal};

use crate::{keys::KeyManager, revocation::Revocations};

/// Verifies gatehouse access tokens and applies revocation.
#[derive(Debug)]
pub struct ServerAuthenticator {
    /// Keys.
    pub keys: Arc<KeyManager>,
    /// Revocation view.
    pub revocations: Arc<Revocations>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
}

impl ServerAuthenticator {
    async fn bearer(&self, token: &str) -> Result<Principal, AuthError> {
        let mut result = self
            .keys
            .current()
            .verifier
            .verify(token, self.clock.as_ref());
        if matches!(&result, Err(e) if *e.kind() == ErrorKind::UnknownKey)
            && self.keys.reload_if_stale().await
        {
            result = self
                .keys
                .current()
                .verifier
                .verify(token, self.clock.as_ref());
        }
        let claims = result.map_err(|e| AuthError::invalid(e.reason()))?;
        let principal = Principal::from_claims(&claims);
        self.revocations
            .check(&principal)
            .map_err(AuthError::invalid)?;
        Ok(principal)
    }
}

impl Authenticator for ServerAuthenticator {
    fn authenticate<'a>(
        &'a self,
        credential: Credential<'a>,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            match credential {
                Credential::Bearer(t) => self.bearer(t).await,
                _ => Err(AuthError::Unsupported),
            }
        })
    }
}
