//! `POST /token` (RFC 6749): password and refresh_token grants.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    Json,
};
use gatehouse_core::{username_key, ScopeSet};
use gatehouse_store::UserRecord;
use secrecy::SecretString;
use serde_json::json;

use std::net::IpAddr;

use crate::{
    client_auth::{authenticate_client, ClientAuth},
    error::{no_store, OAuthError},
    form::parse_form,
    state::AppState,
    throttle::{ClientIp, Throttled},
    tokens::{access_token, hash_token, new_session, next_refresh},
};

type Form = HashMap<String, String>;

/// The token endpoint.
#[utoipa::path(post, path = "/token", tag = "oauth2", operation_id = "token",
    request_body(content = crate::openapi::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Tokens (Cache-Control: no-store)", body = crate::openapi::TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type, unauthorized_client", body = crate::openapi::OAuthErrorBody),
        (status = 401, description = "invalid_client", body = crate::openapi::OAuthErrorBody),
        (status = 503, description = "Hashing pool saturated, or the database or Redis unavailable (Retry-After)", body = crate::openapi::OAuthErrorBody)))]
pub async fn token(State(st): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&st, ip, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Throttling around the grant: refused before any hashing while the IP or username is
/// locked; failures counted; a password success resets the username's count.
async fn handle(st: &AppState, ip: IpAddr, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let form = oauth_form(headers, body)?;
    let user = match (form.get("grant_type").map(String::as_str), form.get("username")) {
        (Some("password"), Some(u)) if !u.is_empty() && u.len() <= 256 => Some(username_key(u)),
        _ => None,
    };
    let unavailable = |e: gatehouse_store::StoreError| {
        tracing::warn!(error = %e, "throttle store unavailable; refusing logins");
        OAuthError::busy()
    };
    if let Err(Throttled(secs)) = st.throttle.check(ip, user.as_deref()).await.map_err(unavailable)? {
        tracing::info!(%ip, reason = "throttled", "token request refused");
        crate::audit::record(
            st,
            "login.throttled",
            None,
            None,
            serde_json::json!({"endpoint": "token", "retry_after": secs}),
        )
        .await;
        st.metrics.throttled("token");
        if user.is_some() {
            st.metrics.login("throttled");
        }
        return Err(OAuthError::throttled(secs));
    }
    let result = grant(st, headers, &form).await;
    if user.is_some() {
        st.metrics.login(match &result {
            Ok(_) => "ok",
            Err(e) if e.error == "temporarily_unavailable" => "busy",
            Err(_) => "failed",
        });
    }
    match &result {
        Err(e) if matches!(e.error, "invalid_grant" | "invalid_client") => {
            st.throttle.failure(ip, user.as_deref()).await.map_err(unavailable)?;
        }
        Ok(_) => {
            if let Some(u) = &user {
                st.throttle.success(u).await.map_err(unavailable)?;
            }
        }
        Err(_) => {}
    }
    result
}

/// Checks the content type and parses the form of an OAuth endpoint request.
///
/// # Errors
/// `invalid_request` for another content type or a malformed form.
pub fn oauth_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("Content-Type must be application/x-www-form-urlencoded"));
    }
    parse_form(body).map_err(OAuthError::invalid_request)
}

async fn grant(st: &AppState, headers: &HeaderMap, form: &Form) -> Result<Response, OAuthError> {
    let client = authenticate_client(st, headers, form).await?;
    let grant = match form.get("grant_type").map(String::as_str) {
        None | Some("") => return Err(OAuthError::invalid_request("grant_type is required")),
        Some(g @ ("password" | "refresh_token" | "client_credentials")) => g,
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {:?} is not supported",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    if !client.allows_grant(grant) {
        if grant == "client_credentials" && client.confidential.is_none() {
            return Err(OAuthError::invalid_client());
        }
        return Err(OAuthError::unauthorized_client(format!("this client may not use the {grant} grant")));
    }
    match grant {
        "password" => password_grant(st, form, &client).await,
        "refresh_token" => refresh_grant(st, form, &client).await,
        _ => client_credentials_grant(st, form, &client).await,
    }
}

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

/// Parses the `scope` parameter; unknown names are `invalid_scope`.
fn requested_scope(form: &Form, known: &ScopeSet) -> Result<Option<ScopeSet>, OAuthError> {
    // An empty `scope` (Swagger UI with no box ticked) means the same as none: all allowed.
    let Some(raw) = form.get("scope").filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let req = ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    if let Some(bad) = req.iter().find(|s| !known.contains(s)) {
        return Err(OAuthError::invalid_scope(format!("unknown scope {bad:?}")));
    }
    Ok(Some(req))
}

fn success(access: String, expires_in: i64, refresh: Option<String>, scope: &ScopeSet) -> Response {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope.to_string(),
    });
    if let Some(r) = refresh {
        body["refresh_token"] = r.into();
    }
    let mut res = Json(body).into_response();
    no_store(&mut res);
    res
}

/// Scopes a confidential client caps grants to (None: no cap).
fn client_cap(client: &ClientAuth) -> Option<ScopeSet> {
    client.confidential.as_ref().map(|c| c.scopes.iter().map(String::as_str).collect())
}

/// Known scope names: those some role grants, plus the calling client's own.
fn known_scopes(graph: &crate::roles::RoleGraph, client: &ClientAuth) -> ScopeSet {
    let mut known = graph.known_scopes();
    if let Some(cap) = client_cap(client) {
        known.extend(&cap);
    }
    known
}

async fn password_grant(st: &AppState, form: &Form, client: &ClientAuth) -> Result<Response, OAuthError> {
    let client_id = client.id.as_str();
    let username = required(form, "username")?;
    let password = required(form, "password")?;
    if username.len() > 256 || password.len() > 1024 {
        return Err(OAuthError::invalid_grant());
    }
    let graph = st.roles().await?;
    let requested = requested_scope(form, &known_scopes(&graph, client))?;
    // Refused before the user lookup: under a flood, a refusal should cost next to nothing.
    st.hasher.ensure_room()?;
    let user = st.store.user_by_key(&username_key(username)).await?;
    let verified = st
        .hasher
        .verify(SecretString::from(password.to_owned()), user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let subject = user.as_ref().map(|u| format!("user:{}", u.id));
    let Some(user) = user.filter(|u| verified.ok && !u.disabled) else {
        tracing::info!(reason = "bad_credentials", "login failed");
        crate::audit::record(
            st,
            "login.failed",
            subject,
            None,
            serde_json::json!({"method": "password", "client_id": client_id}),
        )
        .await;
        return Err(OAuthError::invalid_grant());
    };
    if verified.needs_rehash {
        rehash(st, &user, password).await;
    }
    let mut allowed = graph.scopes_for(&user.roles);
    if let Some(cap) = client_cap(client) {
        allowed = allowed.intersection(&cap);
    }
    let granted = requested.map_or_else(|| allowed.clone(), |r| r.intersection(&allowed));
    let (session, first, refresh) = new_session(st, &user.id, client_id, &granted);
    st.store.create_session(&session, Some(&first)).await?;
    let (access, ttl) = access_token(st, format!("user:{}", user.id), &granted, client_id, Some(&session.id))
        .map_err(OAuthError::server_error)?;
    tracing::info!(user = %user.id, sid = %session.id, "login succeeded");
    crate::audit::record(
        st,
        "login.succeeded",
        Some(format!("user:{}", user.id)),
        None,
        serde_json::json!({"method": "password", "client_id": client_id, "sid": session.id}),
    )
    .await;
    Ok(success(access, ttl, Some(refresh), &granted))
}

/// Upgrades a stored hash to the current parameters after a successful login (best effort).
pub async fn rehash(st: &AppState, user: &UserRecord, password: &str) {
    match st.hasher.hash(SecretString::from(password.to_owned())).await {
        Ok(Ok(h)) => {
            if let Err(e) = st.store.set_password_hash(&user.id, &h, st.clock.now(), None).await {
                tracing::warn!(error = %e, "could not store upgraded password hash");
            } else {
                tracing::info!(user = %user.id, "password hash upgraded to current parameters");
            }
        }
        _ => tracing::warn!("could not upgrade password hash now; will retry at next login"),
    }
}

async fn refresh_grant(st: &AppState, form: &Form, client: &ClientAuth) -> Result<Response, OAuthError> {
    let client_id = client.id.as_str();
    let presented = required(form, "refresh_token")?;
    if presented.len() > 512 {
        return Err(OAuthError::invalid_grant());
    }
    let now = st.clock.now();
    let hash = hash_token(presented);
    let Some(old) = st.store.refresh_token(&hash).await? else {
        return Err(OAuthError::invalid_grant());
    };
    if old.used_at.is_some() {
        revoke_family(st, &old.session_id, "refresh_token_reuse").await?;
        return Err(OAuthError::invalid_grant());
    }
    let session = st.store.session(&old.session_id).await?;
    let Some(session) = session.filter(|s| s.revoked_at.is_none() && s.expires_at > now && old.expires_at > now) else {
        return Err(OAuthError::invalid_grant());
    };
    if old.client_id != client_id {
        return Err(OAuthError::invalid_grant());
    }
    let Some(user) = st.store.user_by_id(&old.user_id).await?.filter(|u| !u.disabled) else {
        return Err(OAuthError::invalid_grant());
    };
    let graph = st.roles().await?;
    let original = ScopeSet::parse(&old.scope).unwrap_or_default();
    let granted_before = match requested_scope(form, &known_scopes(&graph, client))? {
        Some(r) if !original.is_superset(&r) => {
            return Err(OAuthError::invalid_scope("a refresh may only narrow the original scope"))
        }
        Some(r) => r,
        None => original,
    };
    // Roles are re-read: scopes the user lost are gone from the new tokens.
    let granted = granted_before.intersection(&graph.scopes_for(&user.roles));
    let (next, refresh) = next_refresh(st, &session.id, session.expires_at, &user.id, client_id, &granted);
    if !st.store.rotate_refresh(&hash, &next, now).await? {
        // Someone rotated it between our read and our write: that is reuse too.
        revoke_family(st, &session.id, "refresh_token_race").await?;
        return Err(OAuthError::invalid_grant());
    }
    let (access, ttl) = access_token(st, format!("user:{}", user.id), &granted, client_id, Some(&session.id))
        .map_err(OAuthError::server_error)?;
    Ok(success(access, ttl, Some(refresh), &granted))
}

/// `client_credentials`: the client acts as itself (`sub = client:<id>`), with at most its
/// registered scopes; no refresh token (RFC 6749 §4.4.3).
async fn client_credentials_grant(st: &AppState, form: &Form, client: &ClientAuth) -> Result<Response, OAuthError> {
    let cap = client_cap(client).unwrap_or_default();
    let graph = st.roles().await?;
    let granted = match requested_scope(form, &known_scopes(&graph, client))? {
        Some(r) => r.intersection(&cap),
        None => cap,
    };
    let (access, ttl) = access_token(st, format!("client:{}", client.id), &granted, &client.id, None)
        .map_err(OAuthError::server_error)?;
    tracing::info!(client = %client.id, "client_credentials token issued");
    crate::audit::record(
        st,
        "token.issued",
        Some(format!("client:{}", client.id)),
        None,
        serde_json::json!({"grant_type": "client_credentials", "scope": granted.to_string()}),
    )
    .await;
    Ok(success(access, ttl, None, &granted))
}

/// Revokes a whole refresh family (and its access tokens, through `sid`).
pub async fn revoke_family(st: &AppState, session_id: &str, reason: &'static str) -> Result<(), OAuthError> {
    let now = st.clock.now();
    st.store.revoke_session(session_id, now).await?;
    let exp = st.store.session(session_id).await?.map_or(now + st.settings.session_max_ttl, |s| s.expires_at);
    st.revocations.revoke_session(session_id, exp);
    tracing::warn!(sid = %session_id, reason, "refresh token family revoked");
    crate::audit::record(
        st,
        if reason == "refresh_token_reuse" { "refresh.reuse_detected" } else { "session.revoked" },
        None,
        None,
        serde_json::json!({"sid": session_id, "reason": reason}),
    )
    .await;
    Ok(())
}
