//! `/healthz` (process up) and `/readyz` (dependencies reachable).

use std::{future::Future, time::Duration};

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    Json,
};
use serde_json::json;

use crate::state::AppState;

/// How long one readiness probe of a dependency may take before it counts as down; load
/// balancers' health checks time out after a few seconds, so this answers before they do.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", responses((status = 200, description = "Process is up")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `"ok"`, or `"down"` when `probe` fails or takes longer than [`PROBE_TIMEOUT`].
async fn probe<E: std::fmt::Display>(what: &'static str, probe: impl Future<Output = Result<(), E>>) -> &'static str {
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, dependency = what, "readiness: dependency unreachable");
            "down"
        }
        Err(_) => {
            tracing::warn!(
                dependency = what,
                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                "readiness: probe timed out"
            );
            "down"
        }
    }
}

/// Readiness: the database (and Redis, when configured) answer within [`PROBE_TIMEOUT`].
/// 503 names the dependency that is down: `{"status":"unavailable","checks":{"database":"down",…}}`.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses((status = 200, description = "Dependencies reachable"), (status = 503, description = "A dependency is down (`checks` names it)")))]
pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let database = probe("database", st.sql.ping());
    let redis = async {
        match &st.redis {
            Some(r) => Some(probe("redis", r.ping()).await),
            None => None,
        }
    };
    let (database, redis) = tokio::join!(database, redis);
    let mut checks = json!({"database": database});
    let mut ready = database == "ok";
    if let Some(r) = redis {
        checks["redis"] = r.into();
        ready &= r == "ok";
    }
    let body = Json(json!({"status": if ready { "ready" } else { "unavailable" }, "checks": checks}));
    let mut res = body.into_response();
    if !ready {
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(crate::error::DEPENDENCY_RETRY_AFTER));
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
