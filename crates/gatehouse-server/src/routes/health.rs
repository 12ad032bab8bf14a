//! `/healthz` (process up) and `/readyz` (dependencies reachable).

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::state::AppState;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", responses((status = 200, description = "Process is up")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses((status = 200, description = "Dependencies reachable"), (status = 503, description = "A dependency is down")))]
pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    match st.sql.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "checks": {"database": "ok"}}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "checks": {"database": "down"}})))
        }
    }
}
