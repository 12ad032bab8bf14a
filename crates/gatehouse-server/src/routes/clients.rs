//! `/admin/clients`: confidential OAuth clients. The secret is shown once, at creation.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use gatehouse_axum::Authenticated;
use gatehouse_core::is_valid_scope_token;
use gatehouse_store::ClientRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts::rfc3339, error::ApiError, extract::ApiJson, revocation::client_marker, secrets, state::AppState,
};

/// Grant types a client may be registered for.
pub const GRANT_TYPES: [&str; 3] = ["client_credentials", "password", "refresh_token"];

/// `POST /admin/clients` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Scopes the client may be granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Grant types (`client_credentials`, `password`, `refresh_token`); default `["client_credentials"]`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
}

/// A client as shown (the secret only in the creation response).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// Client id.
    pub client_id: String,
    /// The secret: present only in the response to `POST /admin/clients`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Display name.
    pub name: String,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

fn view(c: &ClientRecord, secret: Option<String>) -> ClientView {
    ClientView {
        client_id: c.id.clone(),
        client_secret: secret,
        name: c.name.clone(),
        scopes: c.scopes.clone(),
        grant_types: c.grant_types.clone(),
        created_at: rfc3339(c.created_at),
    }
}

/// Validates and registers a client; returns it with its one-time secret.
///
/// # Errors
/// 422 naming the bad field.
pub async fn register(st: &dyn gatehouse_store::Storage, now: i64, input: NewClient) -> Result<ClientView, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1-100 characters"));
    }
    if let Some(bad) = input.scopes.iter().find(|s| !is_valid_scope_token(s)) {
        return Err(ApiError::invalid("scopes", format!("{bad:?} is not a valid scope name")));
    }
    let grants = input.grant_types.unwrap_or_else(|| vec!["client_credentials".into()]);
    if grants.is_empty() {
        return Err(ApiError::invalid("grant_types", "must not be empty"));
    }
    if let Some(bad) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(ApiError::invalid("grant_types", format!("{bad:?} is not one of {GRANT_TYPES:?}")));
    }
    let mut scopes = input.scopes;
    scopes.sort();
    scopes.dedup();
    let mut grants = grants;
    grants.sort();
    grants.dedup();
    let secret = secrets::random_secret();
    let record = ClientRecord {
        id: format!("gh-{}", uuid::Uuid::new_v4().simple()),
        name: name.to_owned(),
        secret_hash: secrets::hash_secret(&secret),
        scopes,
        grant_types: grants,
        created_at: now,
    };
    st.create_client(&record).await?;
    Ok(view(&record, Some(secret)))
}

/// `POST /admin/clients` → 201 with `client_id` and `client_secret` (shown once).
#[utoipa::path(post, path = "/admin/clients", tag = "admin", operation_id = "create_client", request_body = NewClient,
    responses((status = 201, description = "Created; the secret is shown only now", body = ClientView),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(input): ApiJson<NewClient>,
) -> Result<impl IntoResponse, ApiError> {
    let v = register(st.store.as_ref(), st.clock.now(), input).await?;
    tracing::info!(actor = %who.subject, client = %v.client_id, "admin created client");
    crate::audit::record(
        &st,
        "client.created",
        Some(format!("client:{}", v.client_id)),
        Some(who.subject.to_string()),
        serde_json::json!({"scopes": v.scopes, "grant_types": v.grant_types}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(v)))
}

/// `GET /admin/clients` → `{"items","next_cursor"}` (never the secrets).
#[utoipa::path(get, path = "/admin/clients", tag = "admin", operation_id = "list_clients",
    responses((status = 200, description = "Clients"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody)))]
pub async fn list(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let items: Vec<ClientView> = st.store.list_clients().await?.iter().map(|c| view(c, None)).collect();
    Ok(Json(serde_json::json!({"items": items, "next_cursor": null})))
}

/// `DELETE /admin/clients/{id}` → 204; its outstanding tokens stop working at once.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin", operation_id = "delete_client", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 404, description = "No such client", body = crate::openapi::ApiErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !st.store.delete_client(&id).await? {
        return Err(ApiError::NotFound("client"));
    }
    let until = st.clock.now() + st.settings.access_token_ttl + st.settings.clock_leeway;
    let marker = client_marker(&id);
    st.store.revoke_jti(&marker, until).await?;
    st.revocations.revoke_jti(&marker, until);
    tracing::info!(actor = %who.subject, client = %id, "admin deleted client");
    crate::audit::record(
        &st,
        "client.deleted",
        Some(format!("client:{id}")),
        Some(who.subject.to_string()),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
