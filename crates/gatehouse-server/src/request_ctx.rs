//! What the edge middleware knows about the request being handled, available to everything
//! that runs inside it (handlers, the audit trail, the throttle, every log line) through a
//! task-local. Log lines take their request id, method, path and subject from here rather
//! than from a per-request `tracing` span: the span, its formatted fields and its
//! enter/exit on every poll were a large share of a request's CPU time
//! (docs/PERFORMANCE.md).

use std::{cell::OnceCell, net::IpAddr};

use axum::{
    extract::MatchedPath,
    http::{HeaderValue, Method, Uri},
};
use gatehouse_core::Subject;

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
    /// Who the request authenticated as, once the authenticator has accepted a credential.
    pub subject: OnceCell<Subject>,
    /// The route template the request matched (set by [`crate::metrics::MarkRouteLayer`]).
    pub route: OnceCell<MatchedPath>,
}

impl RequestCtx {
    /// The context of a request that has not been routed or authenticated yet.
    pub fn new(request_id: HeaderValue, ip: Option<IpAddr>, method: Method, uri: Uri) -> Self {
        Self { request_id, ip, method, uri, subject: OnceCell::new(), route: OnceCell::new() }
    }
}

tokio::task_local! {
    /// The current request's context (set for the whole handling of each request).
    pub static REQUEST: RequestCtx;
}

/// Records who the current request authenticated as (for its log lines). Outside a
/// request, or once already set, this does nothing.
pub fn set_subject(subject: &Subject) {
    let _ = REQUEST.try_with(|c| {
        if c.subject.get().is_none() {
            let _ = c.subject.set(subject.clone());
        }
    });
}
