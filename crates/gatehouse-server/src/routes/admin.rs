//! The admin API. Every route sits behind one router-level guard requiring scope `admin`
//! (see `startup.rs`), so a handler here cannot forget it.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use gatehouse_axum::Authenticated;
use gatehouse_core::is_valid_scope_token;
use gatehouse_store::{RoleRecord, UserPatch};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Page;
use crate::{
    accounts::{check_email, check_roles, create_user, user_view, NewUser, UserView},
    error::ApiError,
    extract::ApiJson,
    state::AppState,
};

fn is_self(who: &Authenticated, id: &str) -> bool {
    who.subject.user_id() == Some(id)
}

/// `GET /admin/users?limit=&cursor=`
#[utoipa::path(get, path = "/admin/users", tag = "admin", operation_id = "list_users",
    params(("limit" = Option<u32>, Query, description = "1-200, default 50"), ("cursor" = Option<String>, Query, description = "from next_cursor")),
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "A page of users", body = crate::openapi::UserPage)))]
pub async fn list_users(State(st): State<AppState>, Query(page): Query<Page>) -> Result<Json<Value>, ApiError> {
    let limit = page.limit()?;
    let users = st.store.list_users(page.cursor()?.as_deref(), limit + 1).await?;
    let graph = st.roles().await?;
    let more = users.len() > limit as usize;
    let items: Vec<UserView> = users.iter().take(limit as usize).map(|u| user_view(u, &graph)).collect();
    let next = more.then(|| users.get(limit as usize - 1).map(|u| Page::encode(&u.id))).flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// `POST /admin/users` → 201.
#[utoipa::path(post, path = "/admin/users", tag = "admin", operation_id = "create_user", request_body = NewUser,
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "Username taken", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    let user = create_user(st.store.as_ref(), &st.hasher, st.clock.now(), input).await?;
    tracing::info!(actor = %who.subject, user = %user.id, "admin created user");
    crate::audit::record(
        &st,
        "user.created",
        Some(format!("user:{}", user.id)),
        Some(who.subject.to_string()),
        serde_json::json!({"roles": user.roles}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user_view(&user, &*st.roles().await?))))
}

/// `GET /admin/users/{id}`
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", operation_id = "get_user", params(("id" = String, Path)),
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "No such user", body = crate::openapi::ApiErrorBody)))]
pub async fn get_user(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<UserView>, ApiError> {
    let user = st.store.user_by_id(&id).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(Json(user_view(&user, &*st.roles().await?)))
}

/// `PATCH /admin/users/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPatch {
    /// Replace the roles.
    pub roles: Option<Vec<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Set or clear the e-mail.
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /admin/users/{id}`: roles, disabled, email. Disabling, or removing a role, voids
/// the user's outstanding access tokens at once; disabling also ends their sessions.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", operation_id = "patch_user", params(("id" = String, Path)), request_body = AdminPatch,
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "Updated", body = UserView),
        (status = 404, description = "No such user", body = crate::openapi::ApiErrorBody),
        (status = 409, description = "Would lock the caller out", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn patch_user(
    State(st): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<AdminPatch>,
) -> Result<Json<UserView>, ApiError> {
    let graph = st.roles().await?;
    if let Some(roles) = &p.roles {
        check_roles(roles, &graph)?;
    }
    if let Some(Some(e)) = &p.email {
        check_email(e)?;
    }
    let before = st.store.user_by_id(&id).await?.ok_or(ApiError::NotFound("user"))?;
    if is_self(&who, &id) {
        let loses_admin = p.roles.as_ref().is_some_and(|r| !graph.scopes_for(r).contains("admin"));
        if p.disabled == Some(true) || loses_admin {
            return Err(ApiError::Conflict("you cannot disable yourself or remove your own admin scope".into()));
        }
    }
    let now = st.clock.now();
    let lost_role = p.roles.as_ref().is_some_and(|new| before.roles.iter().any(|r| !new.contains(r)));
    let disabling = p.disabled == Some(true) && !before.disabled;
    let void = (lost_role || disabling).then_some(now);
    let patch =
        UserPatch { roles: p.roles.clone(), disabled: p.disabled, email: p.email.clone(), tokens_valid_after: void };
    let user = st.update_user(&id, &patch, now).await?.ok_or(ApiError::NotFound("user"))?;
    if let Some(t) = void {
        st.revocations.void_user_before(&id, t);
    }
    if let Some(d) = p.disabled {
        st.revocations.set_disabled(&id, d);
    }
    if disabling {
        for (sid, exp) in st.store.revoke_user_sessions(&id, None, now).await? {
            st.revocations.revoke_session(&sid, exp);
        }
    }
    tracing::info!(actor = %who.subject, user = %id, roles_changed = p.roles.is_some(), disabled = ?p.disabled, "admin updated user");
    crate::audit::record(
        &st,
        "user.updated",
        Some(format!("user:{id}")),
        Some(who.subject.to_string()),
        serde_json::json!({"roles": p.roles, "disabled": p.disabled, "email_changed": p.email.is_some()}),
    )
    .await;
    Ok(Json(user_view(&user, &graph)))
}

/// `DELETE /admin/users/{id}` → 204.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", operation_id = "delete_user", params(("id" = String, Path)),
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = crate::openapi::ApiErrorBody)))]
pub async fn delete_user(
    State(st): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if is_self(&who, &id) {
        return Err(ApiError::Conflict("you cannot delete yourself".into()));
    }
    if !st.delete_user(&id).await? {
        return Err(ApiError::NotFound("user"));
    }
    st.revocations.set_disabled(&id, true);
    tracing::info!(actor = %who.subject, user = %id, "admin deleted user");
    crate::audit::record(
        &st,
        "user.deleted",
        Some(format!("user:{id}")),
        Some(who.subject.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/users/{id}/revoke-sessions` → 204: every session and access token ends.
#[utoipa::path(post, path = "/admin/users/{id}/revoke-sessions", tag = "admin", operation_id = "revoke_user_sessions", params(("id" = String, Path)),
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 204, description = "Every session and access token of the user ended"),
        (status = 404, description = "No such user", body = crate::openapi::ApiErrorBody)))]
pub async fn revoke_sessions(
    State(st): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = st.clock.now();
    let patch = UserPatch { tokens_valid_after: Some(now), ..Default::default() };
    st.update_user(&id, &patch, now).await?.ok_or(ApiError::NotFound("user"))?;
    st.revocations.void_user_before(&id, now);
    for (sid, exp) in st.store.revoke_user_sessions(&id, None, now).await? {
        st.revocations.revoke_session(&sid, exp);
    }
    tracing::info!(actor = %who.subject, user = %id, "admin revoked sessions");
    crate::audit::record(
        &st,
        "sessions.revoked",
        Some(format!("user:{id}")),
        Some(who.subject.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

fn role_view(r: &RoleRecord) -> Value {
    json!({"name": r.name, "scopes": r.scopes, "includes": r.includes, "builtin": r.builtin})
}

/// `GET /admin/roles`
#[utoipa::path(get, path = "/admin/roles", tag = "admin", operation_id = "list_roles",
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "All roles", body = crate::openapi::RolePage)))]
pub async fn list_roles(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let graph = st.roles().await?;
    let items: Vec<Value> = graph.all().map(role_view).collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// `PUT /admin/roles/{name}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Scopes the role grants.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles it includes.
    #[serde(default)]
    pub includes: Vec<String>,
}

/// `PUT /admin/roles/{name}`: create or replace a role.
#[utoipa::path(put, path = "/admin/roles/{name}", tag = "admin", operation_id = "put_role", params(("name" = String, Path)), request_body = RoleBody,
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "The role", body = crate::openapi::RoleView),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn put_role(
    State(st): State<AppState>,
    who: Authenticated,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    if !is_valid_scope_token(&name) || name.len() > 64 {
        return Err(ApiError::invalid(
            "name",
            "must be 1-64 printable ASCII characters without spaces, quotes or backslashes",
        ));
    }
    if let Some(bad) = body.scopes.iter().find(|s| !is_valid_scope_token(s)) {
        return Err(ApiError::invalid("scopes", format!("{bad:?} is not a valid scope name")));
    }
    let graph = st.roles().await?;
    if let Some(bad) = body.includes.iter().find(|r| !graph.has(r)) {
        return Err(ApiError::invalid("includes", format!("unknown role {bad:?}")));
    }
    if graph.would_cycle(&name, &body.includes) {
        return Err(ApiError::invalid("includes", "would create a cycle"));
    }
    if name == "admin" && !body.scopes.iter().any(|s| s == "admin") {
        return Err(ApiError::invalid("scopes", "the admin role must keep the admin scope"));
    }
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    let mut includes = body.includes;
    includes.sort();
    includes.dedup();
    let builtin = graph.get(&name).is_some_and(|r| r.builtin);
    let role = RoleRecord { name, scopes, includes, builtin };
    st.store.put_role(&role, st.clock.now()).await?;
    st.role_cache.invalidate();
    tracing::info!(actor = %who.subject, role = %role.name, "admin put role");
    crate::audit::record(
        &st,
        "role.put",
        None,
        Some(who.subject.to_string()),
        serde_json::json!({"role": role.name, "scopes": role.scopes, "includes": role.includes}),
    )
    .await;
    Ok(Json(role_view(&role)))
}

/// `DELETE /admin/roles/{name}` → 204 (built-in roles cannot be deleted).
#[utoipa::path(delete, path = "/admin/roles/{name}", tag = "admin", operation_id = "delete_role", params(("name" = String, Path)),
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role", body = crate::openapi::ApiErrorBody),
        (status = 409, description = "Built-in or included by another role", body = crate::openapi::ApiErrorBody)))]
pub async fn delete_role(
    State(st): State<AppState>,
    who: Authenticated,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let graph = st.roles().await?;
    match graph.get(&name) {
        None => return Err(ApiError::NotFound("role")),
        Some(r) if r.builtin => return Err(ApiError::Conflict("built-in roles cannot be deleted".into())),
        Some(_) => {}
    }
    if let Some(r) = graph.all().find(|r| r.includes.contains(&name)) {
        return Err(ApiError::Conflict(format!("role {:?} includes it", r.name)));
    }
    st.store.delete_role(&name).await?;
    st.role_cache.invalidate();
    tracing::info!(actor = %who.subject, role = %name, "admin deleted role");
    crate::audit::record(&st, "role.deleted", None, Some(who.subject.to_string()), serde_json::json!({"role": name}))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/audit` query.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Event type, e.g. `login.failed`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Subject, e.g. `user:<id>`.
    pub subject: Option<String>,
    /// RFC 3339 time or Unix seconds.
    pub since: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<String>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// `GET /admin/audit?type=&subject=&since=&limit=&cursor=`: events oldest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", operation_id = "audit",
    params(("type" = Option<String>, Query, description = "event type, e.g. login.failed"),
           ("subject" = Option<String>, Query, description = "user:<id> or client:<id>"),
           ("since" = Option<String>, Query, description = "RFC 3339 or Unix seconds"),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "{\"items\",\"next_cursor\"}"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid filter", body = crate::openapi::ApiErrorBody)))]
pub async fn audit(State(st): State<AppState>, Query(q): Query<AuditQuery>) -> Result<Json<Value>, ApiError> {
    let page = Page { limit: q.limit.clone(), cursor: q.cursor.clone() };
    let limit = page.limit()?;
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => humantime::parse_rfc3339_weak(s)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .ok_or_else(|| ApiError::invalid("since", "must be an RFC 3339 time or Unix seconds"))?,
        }),
    };
    let filter = gatehouse_store::AuditFilter {
        kind: q.kind.filter(|s| !s.is_empty()),
        subject: q.subject.filter(|s| !s.is_empty()),
        since,
        after: page.cursor()?,
        limit: limit + 1,
    };
    let events = st.store.query_audit(&filter).await?;
    let more = events.len() > limit as usize;
    let items: Vec<Value> = events
        .iter()
        .take(limit as usize)
        .map(|e| {
            json!({
                "id": e.id, "at": crate::accounts::rfc3339(e.at), "type": e.kind, "subject": e.subject,
                "actor": e.actor, "ip": e.ip, "request_id": e.request_id,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    let next = if more { events.get(limit as usize - 1).map(|e| Page::encode(&e.id)) } else { None };
    Ok(Json(json!({"items": items, "next_cursor": next})))
}
