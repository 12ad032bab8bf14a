//! The audit trail: persistent, queryable security events. Each event carries the request id
//! and client IP of the request that caused it (from the request context the request-id
//! middleware sets), its subject and its actor. Details never contain secrets.

use gatehouse_store::AuditRecord;
use serde_json::Value;

use crate::{request_ctx::REQUEST, state::AppInner};

/// Records an event. Failures are logged, never surfaced: auditing must not break logins.
pub async fn record(st: &AppInner, kind: &str, subject: Option<String>, actor: Option<String>, detail: Value) {
    let (ip, request_id) =
        REQUEST.try_with(|c| (c.ip, c.request_id.to_str().ok().map(str::to_owned))).unwrap_or_default();
    let event = AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        at: st.clock.now(),
        kind: kind.to_owned(),
        subject,
        actor,
        ip: ip.map(|ip| ip.to_string()),
        request_id,
        detail: detail.to_string(),
    };
    if let Err(e) = st.store.append_audit(&event).await {
        tracing::warn!(error = %e, kind, "could not record audit event");
    }
}
