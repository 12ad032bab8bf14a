//! The caller's own sessions, password and API keys.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use gatehouse_axum::Scoped;
use gatehouse_core::{CredentialKind, ScopeSet};
use gatehouse_store::ApiKeyRecord;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    revocation::{denylist, end_all},
    Me,
};
use crate::{
    accounts::{check_password, rfc3339},
    error::ApiError,
    extract::ApiJson,
    secrets,
    state::AppState,
};

/// The caller's user id; API keys and client tokens are refused where a person must act.
fn person(who: &Scoped<Me>, what: &str) -> Result<String, ApiError> {
    if who.kind == CredentialKind::ApiKey {
        return Err(ApiError::Forbidden("session_required", format!("{what} needs a login session, not an API key")));
    }
    who.subject
        .user_id()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Forbidden("not_a_user", "this credential does not belong to a user".into()))
}

/// A session as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id (equals the `sid` of its access tokens).
    pub id: String,
    /// `token` (refresh family) or `cookie` (browser).
    pub kind: String,
    /// Client it belongs to.
    pub client_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_used_at: String,
    /// RFC 3339: the absolute end.
    pub expires_at: String,
    /// Whether the caller is using it.
    pub current: bool,
}

/// `GET /users/me/sessions`
#[utoipa::path(get, path = "/users/me/sessions", tag = "sessions", operation_id = "list_sessions",
    responses((status = 200, description = "Live sessions: {\"items\",\"next_cursor\"}"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody)))]
pub async fn list_sessions(State(st): State<AppState>, who: Scoped<Me>) -> Result<Json<serde_json::Value>, ApiError> {
    let uid = who.subject.user_id().ok_or(ApiError::NotFound("user"))?;
    let items: Vec<SessionView> = st
        .store
        .live_sessions(uid, st.clock.now())
        .await?
        .into_iter()
        .filter(|s| st.revocations.check_session(&s.id))
        .map(|s| SessionView {
            current: who.session_id.as_deref() == Some(s.id.as_str()),
            id: s.id,
            kind: s.kind,
            client_id: s.client_id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at),
        })
        .collect();
    Ok(Json(serde_json::json!({"items": items, "next_cursor": null})))
}

/// `DELETE /users/me/sessions/{id}` → 204; someone else's or unknown → 404.
#[utoipa::path(delete, path = "/users/me/sessions/{id}", tag = "sessions", operation_id = "delete_session", params(("id" = String, Path)),
    responses((status = 204, description = "Ended"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 404, description = "No such session of yours", body = crate::openapi::ApiErrorBody)))]
pub async fn delete_session(
    State(st): State<AppState>,
    who: Scoped<Me>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = who.subject.user_id().ok_or(ApiError::NotFound("session"))?;
    let now = st.clock.now();
    let session = st.store.session(&id).await?.filter(|s| s.user_id == uid && s.revoked_at.is_none());
    let Some(session) = session else { return Err(ApiError::NotFound("session")) };
    st.store.revoke_session(&id, now).await?;
    st.revocations.revoke_session(&id, session.expires_at);
    tracing::info!(user = %uid, sid = %id, "session ended by its owner");
    crate::audit::record(
        &st,
        "session.revoked",
        Some(format!("user:{uid}")),
        None,
        serde_json::json!({"sid": id, "by": "owner"}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/me/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password (policy applies).
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// `POST /users/me/password` → 204. Every other session of the user and every earlier
/// access token (including the one used here) end; this session's refresh token lives on.
#[utoipa::path(post, path = "/users/me/password", tag = "users", operation_id = "change_password", request_body = PasswordChange,
    responses((status = 204, description = "Changed"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope or not a login session", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Wrong current password or weak new one", body = crate::openapi::ApiErrorBody),
        (status = 429, description = "Too many wrong passwords for this user or IP (shared with logins); see Retry-After", body = crate::openapi::ApiErrorBody)))]
pub async fn change_password(
    State(st): State<AppState>,
    crate::throttle::ClientIp(ip): crate::throttle::ClientIp,
    who: Scoped<Me>,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let uid = person(&who, "changing the password")?;
    let user = st.store.user_by_id(&uid).await?.ok_or(ApiError::NotFound("user"))?;
    // A wrong current password counts against the same per-username and per-IP budget as a
    // failed login: a stolen token must not become an unthrottled password oracle.
    let unavailable = |e: gatehouse_store::StoreError| {
        tracing::warn!(error = %e, "throttle store unavailable; refusing password changes");
        ApiError::Busy
    };
    if let Err(crate::throttle::Throttled(secs)) =
        st.throttle.check(ip, Some(&user.username_key)).await.map_err(unavailable)?
    {
        tracing::info!(user = %uid, reason = "throttled", "password change refused");
        st.metrics.throttled("password");
        return Err(ApiError::Throttled(secs));
    }
    let verified = st.hasher.verify(body.current_password.clone(), Some(user.password_hash.clone())).await?;
    if !verified.ok {
        st.throttle.failure(ip, Some(&user.username_key)).await.map_err(unavailable)?;
        tracing::info!(user = %uid, reason = "wrong_current_password", "password change refused");
        crate::audit::record(
            &st,
            "password.change_failed",
            Some(format!("user:{uid}")),
            None,
            serde_json::json!({"reason": "wrong_current_password"}),
        )
        .await;
        return Err(ApiError::invalid("current_password", "is incorrect"));
    }
    st.throttle.success(&user.username_key).await.map_err(unavailable)?;
    let new = body.new_password.expose_secret();
    check_password("new_password", new, &user.username)?;
    if new == body.current_password.expose_secret() {
        return Err(ApiError::invalid("new_password", "must differ from the current password"));
    }
    let hash = st.hasher.hash(body.new_password.clone()).await?.map_err(|e| ApiError::Internal(e.into()))?;
    let now = st.clock.now();
    st.store.set_password_hash(&uid, &hash, now, Some(now)).await?;
    st.revocations.void_user_before(&uid, now);
    end_all(&st, &uid, who.session_id.as_deref()).await?;
    if let (Some(jti), CredentialKind::AccessToken) = (&who.credential_id, who.kind) {
        denylist(&st, jti, who.expires_at).await?;
    }
    tracing::info!(user = %uid, "password changed; other sessions ended");
    crate::audit::record(&st, "password.changed", Some(format!("user:{uid}")), None, serde_json::json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/me/api-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// Label.
    pub name: String,
    /// Scopes the key acts with (a subset of the owner's).
    pub scopes: Vec<String>,
    /// Lifetime in seconds (60 … 10 years); omitted: no expiry.
    pub expires_in: Option<i64>,
}

/// An API key as listed (never the secret after creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id.
    pub id: String,
    /// The key: only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Label.
    pub name: String,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 or null.
    pub expires_at: Option<String>,
    /// RFC 3339 or null (updated at most once a minute).
    pub last_used_at: Option<String>,
}

fn key_view(k: &ApiKeyRecord, key: Option<String>) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        key,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
    }
}

/// The recognisable start of every API key.
pub const API_KEY_PREFIX: &str = "gh_";

/// Creates an API key for `user_id` (validated against `allowed` scopes).
///
/// # Errors
/// 422 naming the bad field.
pub async fn issue_api_key(
    st: &dyn gatehouse_store::Storage,
    user_id: &str,
    allowed: &ScopeSet,
    now: i64,
    input: NewApiKey,
) -> Result<ApiKeyView, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1-100 characters"));
    }
    let scopes = ScopeSet::try_from_iter(&input.scopes).map_err(|e| ApiError::invalid("scopes", e.to_string()))?;
    if scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "must name at least one scope"));
    }
    if let Some(bad) = scopes.iter().find(|s| !allowed.contains(s)) {
        return Err(ApiError::invalid("scopes", format!("{bad:?} is not one of your scopes")));
    }
    let expires_at = match input.expires_in {
        None => None,
        Some(s) if (60..=10 * 365 * 86_400).contains(&s) => Some(now + s),
        Some(_) => return Err(ApiError::invalid("expires_in", "must be between 60 seconds and 10 years")),
    };
    let key = format!("{API_KEY_PREFIX}{}", secrets::random_secret());
    let record = ApiKeyRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        name: name.to_owned(),
        prefix: key[..10].to_owned(),
        key_hash: secrets::hash_secret(&key),
        scopes: scopes.to_vec(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    st.create_api_key(&record).await?;
    Ok(key_view(&record, Some(key)))
}

/// `POST /users/me/api-keys` → 201 with the key, shown once.
#[utoipa::path(post, path = "/users/me/api-keys", tag = "api-keys", operation_id = "create_api_key", request_body = NewApiKey,
    responses((status = 201, description = "Created; `key` is shown only now", body = ApiKeyView),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope, or called with an API key", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn create_api_key(
    State(st): State<AppState>,
    who: Scoped<Me>,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    let uid = person(&who, "creating API keys")?;
    let user = st.store.user_by_id(&uid).await?.ok_or(ApiError::NotFound("user"))?;
    let allowed = st.roles().await?.scopes_for(&user.roles);
    let v = issue_api_key(st.store.as_ref(), &uid, &allowed, st.clock.now(), input).await?;
    tracing::info!(user = %uid, key = %v.id, "API key created");
    crate::audit::record(
        &st,
        "apikey.created",
        Some(format!("user:{uid}")),
        None,
        serde_json::json!({"key_id": v.id, "prefix": v.prefix, "scopes": v.scopes}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(v)))
}

/// `GET /users/me/api-keys`
#[utoipa::path(get, path = "/users/me/api-keys", tag = "api-keys", operation_id = "list_api_keys",
    responses((status = 200, description = "{\"items\",\"next_cursor\"}"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody)))]
pub async fn list_api_keys(State(st): State<AppState>, who: Scoped<Me>) -> Result<Json<serde_json::Value>, ApiError> {
    let uid = who.subject.user_id().ok_or(ApiError::NotFound("user"))?;
    let items: Vec<ApiKeyView> = st.store.list_api_keys(uid).await?.iter().map(|k| key_view(k, None)).collect();
    Ok(Json(serde_json::json!({"items": items, "next_cursor": null})))
}

/// `DELETE /users/me/api-keys/{id}` → 204; someone else's or unknown → 404.
#[utoipa::path(delete, path = "/users/me/api-keys/{id}", tag = "api-keys", operation_id = "delete_api_key", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 404, description = "No such key of yours", body = crate::openapi::ApiErrorBody)))]
pub async fn delete_api_key(
    State(st): State<AppState>,
    who: Scoped<Me>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = who.subject.user_id().ok_or(ApiError::NotFound("API key"))?;
    if !st.store.revoke_api_key(uid, &id, st.clock.now()).await? {
        return Err(ApiError::NotFound("API key"));
    }
    tracing::info!(user = %uid, key = %id, "API key revoked");
    crate::audit::record(&st, "apikey.revoked", Some(format!("user:{uid}")), None, serde_json::json!({"key_id": id}))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
