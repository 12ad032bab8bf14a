//! What the edge middleware knows about the request being handled, available to everything
//! that runs inside it (handlers, the audit trail, the throttle, every log line) through a
//! task-local. Log lines take their request id, method, path and subject from here rather
//! than from a per-request `tracing` span: the span, its formatted fields and its
//! enter/exit on every poll were a large share of a request's CPU time
//! (docs/PERFORMANCE.md).

use std::{cell::OnceCell, net::IpAddr, sync::Arc};

use axum::{
    extract::MatchedPath,
    http::{HeaderValue, Method, Uri},
};
use gatehouse_core::{Principal, Subject};

/// The current request, as the edge middleware saw it.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `X-Request-Id` (a header value: cloning it per request copies no bytes).
    pub request_id: HeaderValue,
    /// Client IP, resolved through trusted proxies.
    pub ip: Option<IpAddr>,
    /// Request method.
    pub method: Method,
    /// Request URI (its path is logged; the query never is: it may carry an API key).
    pub uri: Uri,
    /// Who the request authenticated as, once the authenticator has accepted a credential
    /// (shared with the authenticator's answer: noting it copies nothing).
    pub principal: OnceCell<Arc<Principal>>,
    /// The route template the request matched (set by [`crate::metrics::MarkRouteLayer`]).
    pub route: OnceCell<MatchedPath>,
}

impl RequestCtx {
    /// The context of a request that has not been routed or authenticated yet.
    pub fn new(request_id: HeaderValue, ip: Option<IpAddr>, method: Method, uri: Uri) -> Self {
        Self { request_id, ip, method, uri, principal: OnceCell::new(), route: OnceCell::new() }
    }

    /// Who the request authenticated as, if anyone yet.
    pub fn subject(&self) -> Option<&Subject> {
        self.principal.get().map(|p| &p.subject)
    }
}

tokio::task_local! {
    /// The current request's context (set for the whole handling of each request).
    pub static REQUEST: RequestCtx;
}

/// Records who the current request authenticated as (for its log lines). Outside a
/// request, or once already set, this does nothing.
pub fn set_principal(principal: &Arc<Principal>) {
    let _ = REQUEST.try_with(|c| {
        if c.principal.get().is_none() {
            let _ = c.principal.set(Arc::clone(principal));
        }
    });
}

/// [`set_principal`] for a bare subject (tests of the log formats).
#[cfg(test)]
pub fn set_subject(subject: &Subject) {
    set_principal(&Arc::new(Principal {
        subject: subject.clone(),
        scopes: gatehouse_core::ScopeSet::default(),
        client_id: "test".into(),
        session_id: None,
        credential_id: None,
        issued_at: 0,
        expires_at: i64::MAX,
        kind: gatehouse_core::CredentialKind::AccessToken,
    }));
}
