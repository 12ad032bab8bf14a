//! The handlers. Each states what it needs in its signature: `Scoped<TasksWrite>` is
//! FastAPI's `Security(get_current_user, scopes=["tasks:write"])`.

use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use gatehouse_axum::{scopes, ErrorBody, Scoped};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{not_found, AppState, Task, TaskStore, MAX_TITLE_CHARS};

scopes! {
    /// Read your own tasks.
    pub TasksRead = ["tasks:read"];
    /// Create and delete your own tasks.
    pub TasksWrite = ["tasks:write"];
}

/// Default and largest page size of `GET /tasks`.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;
/// Largest request body accepted (a title is at most 200 characters).
const MAX_BODY_BYTES: usize = 16 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks", get(list).post(create))
        .route("/tasks/{id}", get(fetch).delete(remove))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { not_found("no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn validation(field: &str, detail: impl Into<String>) -> ErrorBody {
    ErrorBody::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", detail).with_field(field)
}

#[derive(Debug, Deserialize)]
struct NewTask {
    title: String,
}

async fn create(
    user: Scoped<TasksWrite>,
    State(store): State<TaskStore>,
    body: Result<Json<NewTask>, JsonRejection>,
) -> Result<(StatusCode, Json<Task>), ErrorBody> {
    let Json(NewTask { title }) = body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::UNPROCESSABLE_ENTITY { "validation_error" } else { "invalid_request" };
        ErrorBody::new(status, code, r.body_text())
    })?;
    let chars = title.chars().count();
    if title.trim().is_empty() || chars > MAX_TITLE_CHARS {
        return Err(validation(
            "title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters and not blank (got {chars})"),
        ));
    }
    let owner = user.subject.to_string();
    let task = store.create(&owner, title).ok_or_else(|| {
        ErrorBody::new(
            StatusCode::CONFLICT,
            "limit_reached",
            format!("at most {} tasks per user", crate::MAX_TASKS_PER_OWNER),
        )
    })?;
    tracing::info!(task = %task.id, owner = %task.owner, "task created");
    Ok((StatusCode::CREATED, Json(task)))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(
    user: Scoped<TasksRead>,
    State(store): State<TaskStore>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ErrorBody> {
    let Query(params) = params.map_err(|r| validation("limit", r.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(validation("limit", format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let cursor = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| validation("cursor", "cursor is not one this API returned"))?),
    };
    let (items, next) = store.list(&user.subject.to_string(), cursor, limit);
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// A task id from the path; an unparseable id names no task, so it is a 404 like any other.
fn task_id(raw: &str) -> Result<Uuid, ErrorBody> {
    Uuid::parse_str(raw).map_err(|_| not_found("no such task"))
}

async fn fetch(
    user: Scoped<TasksRead>,
    State(store): State<TaskStore>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ErrorBody> {
    let id = task_id(&id)?;
    store.get(&user.subject.to_string(), id).map(Json).ok_or_else(|| not_found("no such task"))
}

async fn remove(
    user: Scoped<TasksWrite>,
    State(store): State<TaskStore>,
    Path(id): Path<String>,
) -> Result<StatusCode, ErrorBody> {
    let id = task_id(&id)?;
    if store.delete(&user.subject.to_string(), id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found("no such task"))
    }
}
