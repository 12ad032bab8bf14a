//! The audit trail: persistent, queryable security events. Each event carries the request id
//! and client IP of the request that caused it (from the request context the request-id
//! middleware sets), its subject and its actor. Details never contain secrets.

use std::net::IpAddr;

use gatehouse_store::AuditRecord;
use serde_json::Value;

use crate::state::AppInner;

/// What the request-id middleware knows about the current request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `X-Request-Id` (a header value: cloning it per request copies no bytes).
    pub request_id: axum::http::HeaderValue,
    /// Client IP, resolved through trusted proxies.
    pub ip: Option<IpAddr>,
}

tokio::task_local! {
    /// The current request's context (set for the whole handling of each request).
    pub static REQUEST: RequestCtx;
}

/// Records an event. Failures are logged, never surfaced: auditing must not break logins.
pub async fn record(st: &AppInner, kind: &str, subject: Option<String>, actor: Option<String>, detail: Value) {
    let ctx = REQUEST.try_with(Clone::clone).ok();
    let event = AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        at: st.clock.now(),
        kind: kind.to_owned(),
        subject,
        actor,
        ip: ctx.as_ref().and_then(|c| c.ip).map(|ip| ip.to_string()),
        request_id: ctx.and_then(|c| c.request_id.to_str().ok().map(str::to_owned)),
        detail: detail.to_string(),
    };
    if let Err(e) = st.store.append_audit(&event).await {
        tracing::warn!(error = %e, kind, "could not record audit event");
    }
}
