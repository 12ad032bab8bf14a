//! `/users`: self-registration and the caller's own account.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use gatehouse_axum::Scoped;
use serde::Deserialize;

use super::Me;
use crate::{
    accounts::{self, check_email, create_user, user_view, NewUser},
    error::ApiError,
    extract::ApiJson,
    state::AppState,
};

/// Loads the caller's user record; a token for a deleted user is a 401, not a 404.
async fn me_record(
    st: &AppState,
    who: &gatehouse_axum::Authenticated,
) -> Result<std::sync::Arc<crate::user_cache::CachedUser>, axum::response::Response> {
    let Some(id) = who.subject.user_id() else {
        return Err(
            ApiError::Forbidden("not_a_user", "this credential does not belong to a user".into()).into_response()
        );
    };
    match st.users.get(id).await {
        Ok(Some(u)) if !u.record.disabled => Ok(u),
        Ok(_) => Err(gatehouse_axum::AuthRejection::InvalidToken { reason: "unknown_user" }.into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// `Content-Type` of a JSON body (a constant: `from_static` outside a `const` checks the
/// bytes on every call).
const JSON: axum::http::HeaderValue = axum::http::HeaderValue::from_static("application/json");

/// `GET /users/me` (scope `me`).
#[utoipa::path(get, path = "/users/me", tag = "users", operation_id = "get_me",
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "The caller", body = crate::accounts::UserView)))]
pub async fn get_me(State(st): State<AppState>, who: Scoped<Me>) -> axum::response::Response {
    let user = match me_record(&st, &who).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // The rendered JSON is cached with the record; most calls only copy a reference to it.
    match st.roles().await {
        Ok(g) => match user.view_json(&g) {
            // Built directly: `Bytes`' own response sets `application/octet-stream` first, and
            // replacing it cost a second header-map insert per request.
            Ok(body) => {
                let mut res = axum::response::Response::new(axum::body::Body::from(body));
                res.headers_mut().insert(axum::http::header::CONTENT_TYPE, JSON);
                res
            }
            Err(_) => Json(user_view(&user.record, &g)).into_response(),
        },
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// What a user may change about themselves.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// New e-mail, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /users/me` (scope `me`): `{"email"}`.
#[utoipa::path(patch, path = "/users/me", tag = "users", operation_id = "patch_me", request_body = MePatch,
    responses(
        (status = 401, description = "No, invalid, expired or revoked credential", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Missing scope", body = crate::openapi::ApiErrorBody),
        (status = 200, description = "Updated", body = crate::accounts::UserView),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn patch_me(
    State(st): State<AppState>,
    who: Scoped<Me>,
    ApiJson(patch): ApiJson<MePatch>,
) -> axum::response::Response {
    let user = match me_record(&st, &who).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result: Result<crate::accounts::UserView, ApiError> = async {
        if let Some(Some(e)) = &patch.email {
            check_email(e)?;
        }
        let p = gatehouse_store::UserPatch { email: patch.email, ..Default::default() };
        let updated = st.update_user(&user.record.id, &p, st.clock.now()).await?.ok_or(ApiError::NotFound("user"))?;
        Ok(user_view(&updated, &*st.roles().await?))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /users`: self-registration, when `GATEHOUSE_OPEN_REGISTRATION=true`. New users get
/// the `user` role; asking for roles is refused.
#[utoipa::path(post, path = "/users", tag = "users", operation_id = "register", request_body = NewUser,
    responses((status = 201, description = "Created", body = crate::accounts::UserView),
        (status = 403, description = "Registration is closed", body = crate::openapi::ApiErrorBody),
        (status = 409, description = "Username taken", body = crate::openapi::ApiErrorBody),
        (status = 422, description = "Invalid field", body = crate::openapi::ApiErrorBody)))]
pub async fn register(
    State(st): State<AppState>,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    if !st.settings.open_registration {
        return Err(ApiError::Forbidden("registration_closed", "self-registration is disabled".into()));
    }
    if input.roles.as_ref().is_some_and(|r| r.iter().any(|r| r != "user")) {
        return Err(ApiError::invalid("roles", "self-registered users get the user role only"));
    }
    let user = create_user(st.store.as_ref(), &st.hasher, st.clock.now(), NewUser { roles: None, ..input }).await?;
    let graph = st.roles().await?;
    tracing::info!(user = %user.id, "user registered");
    crate::audit::record(&st, "user.registered", Some(format!("user:{}", user.id)), None, serde_json::json!({})).await;
    Ok((StatusCode::CREATED, Json(accounts::user_view(&user, &graph))))
}
