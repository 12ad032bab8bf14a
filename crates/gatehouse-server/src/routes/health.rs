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
    let database = match st.sql.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "down"
        }
    };
    let mut checks = json!({"database": database});
    let mut ready = database == "ok";
    if let Some(redis) = &st.redis {
        let ok = redis.ping().await.is_ok();
        checks["redis"] = if ok { "ok" } else { "down" }.into();
        ready &= ok;
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"status": if ready { "ready" } else { "unavailable" }, "checks": checks})))
}
