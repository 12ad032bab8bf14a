//! Ending credentials: `POST /token/revoke` (RFC 7009), `POST /token/introspect` (RFC 7662),
//! `POST /logout`, `POST /logout/all`.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use gatehouse_axum::Authenticated;
use gatehouse_core::{AccessClaims, Principal};
use serde_json::json;

use super::token::{oauth_form, revoke_family};
use crate::{
    client_auth::authenticate_client,
    error::{no_store, ApiError, OAuthError},
    state::AppState,
    throttle::{ClientIp, Throttled},
    tokens::hash_token,
};

/// Verifies an access token's signature and claims, ignoring expiry only if asked to.
fn verified_claims(st: &AppState, token: &str) -> Option<AccessClaims> {
    st.keys.current().verifier.verify(token, st.clock.as_ref()).ok()
}

/// Denylists an access token's `jti` (in the database and this instance's memory).
pub async fn denylist(st: &AppState, jti: &str, exp: i64) -> Result<(), gatehouse_store::StoreError> {
    st.store.revoke_jti(jti, exp).await?;
    st.revocations.revoke_jti(jti, exp);
    Ok(())
}

/// `POST /token/revoke` (RFC 7009). Refresh token → its whole family; access token → its
/// `jti` is denylisted until it expires. Unknown tokens get 200 too.
#[utoipa::path(post, path = "/token/revoke", tag = "oauth2", operation_id = "revoke",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint?"),
    responses((status = 200, description = "Revoked, or unknown"),
        (status = 400, description = "invalid_request / unauthorized_client", body = crate::openapi::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = crate::openapi::OAuthErrorBody)))]
pub async fn revoke(State(st): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<(), OAuthError> = async {
        // Revocation answers 200 for unknown tokens, so it is rate-limited per IP as a whole.
        let limit = st.settings.login_max_failures_per_ip.saturating_mul(10);
        match st.throttle.rate("revoke", ip, limit).await {
            Ok(Ok(())) => {}
            Ok(Err(Throttled(secs))) => {
                st.metrics.throttled("revoke");
                return Err(OAuthError::throttled(secs));
            }
            Err(_) => return Err(OAuthError::busy()),
        }
        let form = oauth_form(&headers, &body)?;
        let client = authenticate_client(&st, &headers, &form).await?;
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if token.len() > 8192 {
            return Ok(());
        }
        if let Some(rt) = st.store.refresh_token(&hash_token(token)).await? {
            if rt.client_id != client.id {
                return Err(OAuthError::unauthorized_client("the token was issued to another client"));
            }
            revoke_family(&st, &rt.session_id, "revoked_by_client").await?;
            return Ok(());
        }
        if let Some(c) = verified_claims(&st, token) {
            if c.client_id != client.id {
                return Err(OAuthError::unauthorized_client("the token was issued to another client"));
            }
            if !c.jti.is_empty() {
                denylist(&st, &c.jti, c.exp).await?;
                tracing::info!(jti = %c.jti, "access token revoked");
                crate::audit::record(
                    &st,
                    "token.revoked",
                    Some(c.sub.clone()),
                    Some(format!("client:{}", client.id)),
                    serde_json::json!({"jti": c.jti, "type": "access_token"}),
                )
                .await;
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            no_store(&mut r);
            r
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /token/introspect` (RFC 7662), for authenticated confidential clients.
#[utoipa::path(post, path = "/token/introspect", tag = "oauth2", operation_id = "introspect",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint?"),
    responses((status = 200, description = "`{\"active\": false}` or the token's claims"),
        (status = 401, description = "invalid_client", body = crate::openapi::OAuthErrorBody)))]
pub async fn introspect(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<serde_json::Value, OAuthError> = async {
        let form = oauth_form(&headers, &body)?;
        let client = authenticate_client(&st, &headers, &form).await?;
        if client.confidential.is_none() {
            return Err(OAuthError::invalid_client());
        }
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        if token.len() > 8192 {
            return Ok(json!({"active": false}));
        }
        let now = st.clock.now();
        if let Some(rt) = st.store.refresh_token(&hash_token(token)).await? {
            let session = st.store.session(&rt.session_id).await?;
            let user = st.store.user_by_id(&rt.user_id).await?;
            let active = rt.used_at.is_none()
                && rt.expires_at > now
                && session.as_ref().is_some_and(|s| s.revoked_at.is_none() && s.expires_at > now)
                && user.as_ref().is_some_and(|u| !u.disabled);
            if !active {
                return Ok(json!({"active": false}));
            }
            return Ok(json!({
                "active": true, "token_type": "refresh_token", "scope": rt.scope, "client_id": rt.client_id,
                "sub": format!("user:{}", rt.user_id), "username": user.map(|u| u.username),
                "exp": rt.expires_at, "iat": rt.created_at, "sid": rt.session_id, "iss": st.settings.issuer,
            }));
        }
        let Some(c) = verified_claims(&st, token) else { return Ok(json!({"active": false})) };
        if st.revocations.check(&Principal::from_claims(&c)).is_err() {
            return Ok(json!({"active": false}));
        }
        let username = match c.sub.strip_prefix("user:") {
            Some(id) => st.store.user_by_id(id).await?.map(|u| u.username),
            None => None,
        };
        Ok(json!({
            "active": true, "token_type": "access_token", "scope": c.scope, "client_id": c.client_id,
            "sub": c.sub, "username": username, "exp": c.exp, "iat": c.iat, "iss": c.iss, "aud": c.aud,
            "jti": c.jti, "sid": c.sid,
        }))
    }
    .await;
    match result {
        Ok(v) => {
            let mut r = Json(v).into_response();
            no_store(&mut r);
            r
        }
        Err(e) => e.into_response(),
    }
}

/// Ends the caller's current session (refresh family or cookie session) and access token.
pub async fn end_current(st: &AppState, who: &Principal) -> Result<(), ApiError> {
    if let Some(sid) = &who.session_id {
        let now = st.clock.now();
        st.store.revoke_session(sid, now).await?;
        let exp = st.store.session(sid).await?.map_or(now + st.settings.session_max_ttl, |s| s.expires_at);
        st.revocations.revoke_session(sid, exp);
    }
    if let (Some(jti), gatehouse_core::CredentialKind::AccessToken) = (&who.credential_id, who.kind) {
        denylist(st, jti, who.expires_at).await?;
    }
    Ok(())
}

/// `POST /logout` → 204: this session and this access token end.
#[utoipa::path(post, path = "/logout", tag = "sessions", operation_id = "logout",
    responses((status = 204, description = "Logged out"), (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody)))]
pub async fn logout(State(st): State<AppState>, who: Authenticated) -> Result<StatusCode, ApiError> {
    end_current(&st, &who).await?;
    crate::audit::record(
        &st,
        "logout",
        Some(who.subject.to_string()),
        None,
        serde_json::json!({"sid": who.session_id}),
    )
    .await;
    tracing::info!(subject = %who.subject, "logout");
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session and access token of a user (DB and memory).
pub async fn end_all(st: &AppState, user_id: &str, keep: Option<&str>) -> Result<(), ApiError> {
    let now = st.clock.now();
    if keep.is_none() {
        let patch = gatehouse_store::UserPatch { tokens_valid_after: Some(now), ..Default::default() };
        st.store.update_user(user_id, &patch, now).await?;
        st.revocations.void_user_before(user_id, now);
    }
    for (sid, exp) in st.store.revoke_user_sessions(user_id, keep, now).await? {
        st.revocations.revoke_session(&sid, exp);
    }
    Ok(())
}

/// `POST /logout/all` → 204: every session and access token of the user ends.
#[utoipa::path(post, path = "/logout/all", tag = "sessions", operation_id = "logout_all",
    responses((status = 204, description = "Every session ended"), (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "Not a user credential", body = crate::openapi::ApiErrorBody)))]
pub async fn logout_all(State(st): State<AppState>, who: Authenticated) -> Result<StatusCode, ApiError> {
    let Some(uid) = who.subject.user_id() else {
        return Err(ApiError::Forbidden("not_a_user", "this credential does not belong to a user".into()));
    };
    end_all(&st, uid, None).await?;
    end_current(&st, &who).await?;
    tracing::info!(subject = %who.subject, "logout from all sessions");
    crate::audit::record(&st, "logout.all", Some(who.subject.to_string()), None, serde_json::json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
